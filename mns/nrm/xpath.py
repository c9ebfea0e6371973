"""The syntax of the ProvMnS ``filter`` parameter: a tokenizer and parser for a subset of XPath 1.0.

:func:`parse` turns an expression into a syntax tree of str and float literals,
:class:`LocationPath`, :class:`Binary` and :class:`Call`; :mod:`mns.nrm.filter` gives the tree its
meaning. Anything outside the grammar raises ``BadRequest`` naming the construct and its 1-based
position (whitespace allowed between tokens)::

    Filter        ::= ObjectPath ( '|' ObjectPath )*
    ObjectPath    ::= ( '/' | '//' )? ObjectStep ( '/' 'attributes' Predicate* )?
    ObjectStep    ::= ( ClassName | '*' ) Predicate*
    Predicate     ::= '[' OrExpr ']'
    OrExpr        ::= AndExpr ( 'or' AndExpr )*
    AndExpr       ::= EqualityExpr ( 'and' EqualityExpr )*
    EqualityExpr  ::= RelationalExpr ( ( '=' | '!=' ) RelationalExpr )*
    RelationalExpr::= UnaryExpr ( ( '<' | '<=' | '>' | '>=' ) UnaryExpr )*
    UnaryExpr     ::= Literal | '-'? Number | FunctionCall | RelativePath | '(' OrExpr ')'
    FunctionCall  ::= 'not' '(' OrExpr ')'
                    | ( 'contains' | 'starts-with' ) '(' OrExpr ',' OrExpr ')'
    RelativePath  ::= Step ( '/' Step )*      -- from an object: first step id | objectClass
    Step          ::= ( NCName | '*' | '.' ) Predicate*          -- | attributes
    Literal       ::= '"' [^"]* '"' | "'" [^']* "'"
    Number        ::= ( Digits ( '.' Digits? )? | '.' Digits ) ( [eE] [+-]? Digits )?

The parser accepts the general path and step forms; which of them a filter may use (one object
step, ``id``/``objectClass``/``attributes`` from an object) is checked when the tree is compiled.
The leading minus and the exponent of a number literal come from the Jex number syntax
(TS 32.161 clause 7.2.2.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from mns.errors import BadRequest

__all__ = ["Binary", "Call", "LocationPath", "Step", "Token", "error_at", "operands", "parse", "tokenize"]

_MAX_DEPTH: Final = 32
_LEVELS: Final = (("or",), ("and",), ("=", "!="), ("<", "<=", ">", ">="))
_FUNCTIONS: Final = {"not": 1, "contains": 2, "starts-with": 2}
_NODE_TYPES: Final = frozenset({"node", "text", "comment", "processing-instruction"})
_ARITHMETIC: Final = frozenset({"+", "-", "*", "div", "mod"})


def error_at(what: str, pos: int) -> BadRequest:
    """The ``BadRequest`` for a filter that cannot be honoured, pointing at 1-based ``pos``."""
    return BadRequest(f"filter: {what} (at position {pos})")


# --- tokens --------------------------------------------------------------------------------------

_TOKEN_RE: Final = re.compile(
    r"""(?P<ws>[ \t\r\n]+)
      | (?P<str>"[^"]*"|'[^']*')
      | (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<name>[^\W\d][\w.\-]*)
      | (?P<sym>//|::|\.\.|!=|<=|>=|[/\[\]()@,|=<>*+\-.$:])""",
    re.VERBOSE,
)
_AFTER_NAME: Final = re.compile(r"[ \t\r\n]*(::|:|\()?")
_OPERATORS: Final = frozenset({"/", "//", "|", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*"})


@dataclass(frozen=True, slots=True)
class Token:
    """A token: its kind, its text (a string literal without quotes) and 1-based position."""

    kind: str  # str num name func op sym end
    value: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token; raises ``BadRequest`` on a bad character."""
    toks: list[Token] = []
    i = 0
    while i < len(text):
        m = _TOKEN_RE.match(text, i)
        if m is None:
            if text[i] in "\"'":
                raise error_at(f"unterminated string literal {text[i : i + 20]!r}", i + 1)
            raise error_at(f"unexpected character {text[i]!r}", i + 1)
        kind, value, pos = m.lastgroup or "", m.group(), i + 1
        i = m.end()
        # After an operand, '*' multiplies and and/or/div/mod are operators (XPath 1.0 3.7).
        last = toks[-1] if toks else None
        after_operand = last is not None and (
            last.kind in ("name", "str", "num") or (last.kind == "sym" and last.value in (")", "]", ".", ".."))
        )
        if kind == "ws":
            continue
        if kind == "str":
            value = value[1:-1]
        elif kind == "name":
            follow = _AFTER_NAME.match(text, i).group(1)  # type: ignore[union-attr]
            if follow == "::":
                raise error_at(f"the axis '{value}::' is not supported", pos)
            if follow == ":":
                raise error_at(f"the namespace prefix '{value}:' is not supported", pos)
            if after_operand and value in ("and", "or", "div", "mod"):
                kind = "op"
            elif follow == "(":
                kind = "func"
        elif value == "*" and not after_operand:
            kind = "name"
        elif value == "::":
            raise error_at("the axis separator '::' is not supported", pos)
        elif value in _OPERATORS:
            kind = "op"
        toks.append(Token(kind, value, pos))
    toks.append(Token("end", "", len(text) + 1))
    return toks


# --- syntax tree and parser ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """A location step: its node test and predicates."""

    test: str  # a name, '*' or '.'
    preds: tuple[Any, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class LocationPath:
    """A location path: relative, from the root (``/``) or from anywhere below it (``//``)."""

    absolute: str  # '', '/' or '//'
    steps: tuple[Step, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary operator (``or and = != < <= > >= |``) and its operands."""

    op: str
    left: Any
    right: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Call:
    """A function call: ``not``, ``contains`` or ``starts-with``."""

    name: str
    args: tuple[Any, ...]
    pos: int


class _Parser:
    """Recursive descent; the tree holds str and float literals, LocationPath, Binary and Call."""

    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0
        self.open: list[Token] = []  # the '(' and '[' not closed yet
        self.in_predicate = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        self.i += 1
        return self.toks[self.i - 1]

    def is_op(self, *values: str) -> bool:
        tok = self.toks[self.i]
        return tok.kind == "op" and tok.value in values

    def is_sym(self, value: str) -> bool:
        tok = self.toks[self.i]
        return tok.kind == "sym" and tok.value == value

    def unexpected(self, tok: Token, expected: str) -> BadRequest:
        if tok.kind == "end" and self.open:
            return error_at(f"unclosed '{self.open[-1].value}'", self.open[-1].pos)
        found = "the end of the filter" if tok.kind == "end" else repr(tok.value)
        return error_at(f"expected {expected}, found {found}", tok.pos)

    def enter(self) -> Token:
        tok = self.take()
        self.open.append(tok)
        if len(self.open) > _MAX_DEPTH:
            raise error_at(f"nesting deeper than {_MAX_DEPTH} levels", tok.pos)
        return tok

    def leave(self, close: str) -> None:
        tok = self.take()
        if tok.kind != "sym" or tok.value != close:
            raise self.unexpected(tok, f"'{close}'")
        self.open.pop()

    def parse(self) -> Any:
        if self.peek().kind == "end":
            raise BadRequest("filter: empty filter expression")
        tree = self.binary(0)
        tok = self.peek()
        if tok.kind != "end":
            raise error_at(f"unexpected {tok.value!r}", tok.pos)
        return tree

    def binary(self, level: int) -> Any:
        if level == len(_LEVELS):
            return self.unary()
        left, chained = self.binary(level + 1), 0
        while self.is_op(*_LEVELS[level]):
            tok = self.take()
            chained += 1
            if level >= 2 and chained > _MAX_DEPTH:  # 'or'/'and' chains are compiled flat
                raise error_at(f"more than {_MAX_DEPTH} chained comparisons", tok.pos)
            left = Binary(tok.value, left, self.binary(level + 1), tok.pos)
        return left

    def unary(self) -> Any:
        tok = self.peek()
        if self.is_op("-"):
            self.take()
            if self.peek().kind != "num":
                raise error_at("the arithmetic operator '-' (negation) is not supported", tok.pos)
            value: Any = -float(self.take().value)
        else:
            value = self.primary()
            while self.is_op("|"):
                bar = self.take()
                if self.in_predicate:
                    raise error_at("the union operator '|' inside a predicate is not supported", bar.pos)
                value = Binary("|", value, self.primary(), bar.pos)
        nxt = self.peek()
        if nxt.kind == "op" and nxt.value in _ARITHMETIC:
            raise error_at(f"the arithmetic operator '{nxt.value}' is not supported", nxt.pos)
        return value

    def primary(self) -> Any:
        tok = self.peek()
        if tok.kind == "str":
            return self.take().value
        if tok.kind == "num":
            return float(self.take().value)
        if tok.kind == "func":
            return self.call()
        if self.is_sym("("):
            self.enter()
            inner = self.binary(0)
            self.leave(")")
            nxt = self.peek()
            if nxt.value in ("[", "/", "//"):
                raise error_at(f"a path or predicate after ')' ('{nxt.value}') is not supported", nxt.pos)
            return inner
        if tok.value == "$":
            raise error_at("variable references ('$') are not supported", tok.pos)
        return self.path()

    def call(self) -> Call:
        tok = self.take()
        name = tok.value
        if name in _NODE_TYPES:
            raise error_at(f"the node test '{name}()' is not supported", tok.pos)
        if name not in _FUNCTIONS:
            raise error_at(f"the function '{name}()' is not supported", tok.pos)
        self.enter()
        args: list[Any] = []
        if not self.is_sym(")"):
            args.append(self.binary(0))
            while self.is_sym(","):
                self.take()
                args.append(self.binary(0))
        self.leave(")")
        if len(args) != _FUNCTIONS[name]:
            raise error_at(f"'{name}()' takes {_FUNCTIONS[name]} argument(s), not {len(args)}", tok.pos)
        return Call(name, tuple(args), tok.pos)

    def path(self) -> LocationPath:
        start = self.peek()
        absolute = self.take().value if self.is_op("/", "//") else ""
        steps = [self.step()]
        while self.is_op("/", "//"):
            sep = self.take()
            if sep.value == "//":
                where = "inside a predicate " if self.in_predicate else "between steps "
                raise error_at(f"the descendant step '//' {where}is not supported", sep.pos)
            steps.append(self.step())
            if len(steps) > _MAX_DEPTH:
                raise error_at(f"a path of more than {_MAX_DEPTH} steps", sep.pos)
        return LocationPath(absolute, tuple(steps), start.pos)

    def step(self) -> Step:
        tok = self.take()
        if tok.kind == "name" or tok.value == ".":
            preds: list[Any] = []
            while self.is_sym("[") and tok.value != ".":
                bracket = self.enter()
                self.in_predicate += 1
                pred = self.binary(0)
                self.in_predicate -= 1
                if isinstance(pred, float):
                    raise error_at("positional predicates ('[number]') are not supported", bracket.pos + 1)
                preds.append(pred)
                self.leave("]")
            return Step(tok.value, tuple(preds), tok.pos)
        if tok.value == "..":
            raise error_at("the parent step '..' is not supported", tok.pos)
        if tok.value == "@":
            raise error_at("the attribute axis '@' is not supported (write attributes/name)", tok.pos)
        if tok.kind == "func":
            what = "node test" if tok.value in _NODE_TYPES else "function"
            raise error_at(f"the {what} '{tok.value}()' is not supported", tok.pos)
        raise self.unexpected(tok, "a location step")


def parse(text: str) -> Any:
    """The syntax tree of a filter expression; raises ``BadRequest`` for what the grammar lacks."""
    return _Parser(text).parse()


def operands(node: Any, op: str) -> list[Any]:
    """The operands of a chain ``a op b op c`` (a left-deep tree), without recursion."""
    out = []
    while isinstance(node, Binary) and node.op == op:
        out.append(node.right)
        node = node.left
    out.append(node)
    return out[::-1]

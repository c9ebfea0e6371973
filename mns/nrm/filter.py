"""The ProvMnS ``filter`` query parameter: a subset of XPath 1.0 over TS 32.158 objects.

TS 28.532 (``TS28623_ComDefs.yaml`` ``Filter``) and TS 32.158 clause 6.1.3 say the filter is an
XPath 1.0 expression over the scoped objects, each mapped to the XPath data model the way
TS 32.161 (Jex) maps JSON: an object is an element whose children are ``id``, ``objectClass``,
``attributes`` and its contained objects; a JSON member is an element named after its key, and
an array gives one element per item. :func:`parse_filter` compiles an expression once into
nested closures; :meth:`Filter.matches` then tests one object (class, id, attributes) cheaply.

Supported grammar (whitespace allowed between tokens; anything else raises ``BadRequest`` naming
the construct and its 1-based position)::

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

Semantics are XPath 1.0 (clause 3.4): a path is a node-set, so ``attributes/list/x = "a"`` holds
when any item matches and ``!=`` when any item differs (use ``not(... = ...)`` for "none");
a node-set compared with a number converts each node to a number (``"001" = 1`` holds);
``< <= > >=`` always compare numbers, so a relational test against a non-numeric string literal
(always false in XPath 1.0) is rejected; a node-set is true when not empty (existence test);
``contains``/``starts-with`` use the string value of the first node. The leading minus and the
exponent of a number literal come from the Jex number syntax (TS 32.161 clause 7.2.2.2).

Choices a strict XPath reading would make differently, made because ``matches`` sees one object
(not its ancestors, children or depth below the scope base):

- One object step per path: ``NRCellDU``, ``/NRCellDU`` and ``//NRCellDU`` all select objects of
  that class anywhere in the scoped set (strictly, ``/NRCellDU`` is the base object only).
  Multi-step paths (``/SubNetwork[id="1"]/ManagedElement``, ``/*/*/attributes[...]``,
  ``/nrmRoot/...``) and tests on child objects are rejected.
- A trailing ``/attributes`` step selects the object owning the attributes (TS 32.158 A.2.3
  uses it to return an object without its children): ``//X/attributes[p]`` = ``//X[attributes[p]]``.
- Class names match in either naming dialect: compared after dropping ``-``/``_`` and case
  (``NRCellDU`` = ``NrCellDu``); attribute names match exactly. ``Filter.classes`` gives the
  stage-2 name of classes the registry knows (others as written), for a store to narrow a read.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from mns.errors import BadRequest

MAX_LENGTH: Final = 16384
_MAX_DEPTH: Final = 32
_MISSING: Final = object()

Ctx = Any  # (cls, id, attrs) for an object, or a JSON value inside ``attributes``
Nodes = list[Any]
NodesFn = Callable[[Ctx], Nodes]
BoolFn = Callable[[Ctx], bool]
Test = Callable[[Any], bool]
Match = Callable[[str, str, Mapping[str, Any]], bool]

_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLIP: Final = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_LEVELS: Final = (("or",), ("and",), ("=", "!="), ("<", "<=", ">", ">="))
_FUNCTIONS: Final = {"not": 1, "contains": 2, "starts-with": 2}
_NODE_TYPES: Final = frozenset({"node", "text", "comment", "processing-instruction"})
_ARITHMETIC: Final = frozenset({"+", "-", "*", "div", "mod"})
_OBJECT_FIELDS: Final = {"objectClass": 0, "id": 1, "attributes": 2}  # index in the context


def class_key(name: str) -> str:
    """The dialect-free key of a class name: ``NRCellDU`` and ``NrCellDu`` give ``nrcelldu``."""
    return name.replace("-", "").replace("_", "").lower()


@functools.cache
def _known_classes() -> dict[str, str]:
    from mns.nrm.registry import default_registry

    return {class_key(spec.name): spec.name for spec in default_registry()}


def _bad(what: str, pos: int) -> BadRequest:
    return BadRequest(f"filter: {what} (at position {pos})")


# --- XPath string, number and boolean values of JSON values --------------------------------------

_NUM_RE: Final = re.compile(r"[ \t\r\n]*(-?(?:\d+(?:\.\d*)?|\.\d+))[ \t\r\n]*\Z")


def _to_number(text: str) -> float:
    m = _NUM_RE.match(text)
    return float(m.group(1)) if m else math.nan


def _number_str(x: float) -> str:
    if isinstance(x, int) or (math.isfinite(x) and x.is_integer()):
        return str(int(x))
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    text = repr(x)
    return format(Decimal(text), "f") if "e" in text else text


def _sv(node: Any) -> str:
    """The XPath string value of a JSON value seen as an element."""
    if isinstance(node, str):
        return node
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int | float):
        return _number_str(node)
    if node is None:
        return ""
    if isinstance(node, Mapping):
        return "".join(_sv(v) for v in node.values())
    if isinstance(node, list):
        return "".join(_sv(v) for v in node)
    return str(node)


def _num(node: Any) -> float:
    t = type(node)
    if t is int or t is float:
        return float(node)
    return _to_number(_sv(node))


def _extend(out: Nodes, value: Any) -> None:
    if type(value) is list:
        for item in value:
            _extend(out, item)
    else:
        out.append(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, list | str):
        return len(value) > 0
    if isinstance(value, bool):
        return value
    return not (value == 0 or math.isnan(value))


def _string(value: Any) -> str:
    if isinstance(value, list):
        return _sv(value[0]) if value else ""
    return _sv(value)


def _as_number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return _to_number(_string(value))


def _compare(op: str, a: Any, b: Any) -> bool:
    """XPath 1.0 clause 3.4 comparison of two runtime values (node-set, string, number, bool)."""
    f, eq = _OPS[op], op in ("=", "!=")
    if isinstance(a, list) and isinstance(b, list):
        if eq:
            return any(f(_sv(x), _sv(y)) for x in a for y in b)
        return any(f(_num(x), _num(y)) for x in a for y in b)
    if isinstance(a, list) or isinstance(b, list):  # and a boolean: _node_test does constants
        x, y = bool(a) if isinstance(a, list) else a, bool(b) if isinstance(b, list) else b
        return f(x, y) if eq else f(float(x), float(y))
    if eq and (isinstance(a, bool) or isinstance(b, bool)):
        return f(_boolean(a), _boolean(b))
    if eq and not (isinstance(a, int | float) or isinstance(b, int | float)):
        return f(_string(a), _string(b))
    return f(_as_number(a), _as_number(b))


# --- tokens and parser ---------------------------------------------------------------------------

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
class _Tok:
    kind: str  # str num name func op sym end
    value: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(text):
        m = _TOKEN_RE.match(text, i)
        if m is None:
            if text[i] in "\"'":
                raise _bad(f"unterminated string literal {text[i : i + 20]!r}", i + 1)
            raise _bad(f"unexpected character {text[i]!r}", i + 1)
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
                raise _bad(f"the axis '{value}::' is not supported", pos)
            if follow == ":":
                raise _bad(f"the namespace prefix '{value}:' is not supported", pos)
            if after_operand and value in ("and", "or", "div", "mod"):
                kind = "op"
            elif follow == "(":
                kind = "func"
        elif value == "*" and not after_operand:
            kind = "name"
        elif value == "::":
            raise _bad("the axis separator '::' is not supported", pos)
        elif value in _OPERATORS:
            kind = "op"
        toks.append(_Tok(kind, value, pos))
    toks.append(_Tok("end", "", len(text) + 1))
    return toks


@dataclass(frozen=True, slots=True)
class _Step:
    test: str  # a name, '*' or '.'
    preds: tuple[Any, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class _Path:
    absolute: str  # '', '/' or '//'
    steps: tuple[_Step, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str
    left: Any
    right: Any
    pos: int


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: tuple[Any, ...]
    pos: int


class _Parser:
    """Recursive descent; the tree holds str and float literals, _Path, _Binary and _Call."""

    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0
        self.open: list[_Tok] = []  # the '(' and '[' not closed yet
        self.in_predicate = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        self.i += 1
        return self.toks[self.i - 1]

    def is_op(self, *values: str) -> bool:
        tok = self.toks[self.i]
        return tok.kind == "op" and tok.value in values

    def is_sym(self, value: str) -> bool:
        tok = self.toks[self.i]
        return tok.kind == "sym" and tok.value == value

    def unexpected(self, tok: _Tok, expected: str) -> BadRequest:
        if tok.kind == "end" and self.open:
            return _bad(f"unclosed '{self.open[-1].value}'", self.open[-1].pos)
        found = "the end of the filter" if tok.kind == "end" else repr(tok.value)
        return _bad(f"expected {expected}, found {found}", tok.pos)

    def enter(self) -> _Tok:
        tok = self.take()
        self.open.append(tok)
        if len(self.open) > _MAX_DEPTH:
            raise _bad(f"nesting deeper than {_MAX_DEPTH} levels", tok.pos)
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
            raise _bad(f"unexpected {tok.value!r}", tok.pos)
        return tree

    def binary(self, level: int) -> Any:
        if level == len(_LEVELS):
            return self.unary()
        left, chained = self.binary(level + 1), 0
        while self.is_op(*_LEVELS[level]):
            tok = self.take()
            chained += 1
            if level >= 2 and chained > _MAX_DEPTH:  # 'or'/'and' chains are compiled flat
                raise _bad(f"more than {_MAX_DEPTH} chained comparisons", tok.pos)
            left = _Binary(tok.value, left, self.binary(level + 1), tok.pos)
        return left

    def unary(self) -> Any:
        tok = self.peek()
        if self.is_op("-"):
            self.take()
            if self.peek().kind != "num":
                raise _bad("the arithmetic operator '-' (negation) is not supported", tok.pos)
            value: Any = -float(self.take().value)
        else:
            value = self.primary()
            while self.is_op("|"):
                bar = self.take()
                if self.in_predicate:
                    raise _bad("the union operator '|' inside a predicate is not supported", bar.pos)
                value = _Binary("|", value, self.primary(), bar.pos)
        nxt = self.peek()
        if nxt.kind == "op" and nxt.value in _ARITHMETIC:
            raise _bad(f"the arithmetic operator '{nxt.value}' is not supported", nxt.pos)
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
                raise _bad(f"a path or predicate after ')' ('{nxt.value}') is not supported", nxt.pos)
            return inner
        if tok.value == "$":
            raise _bad("variable references ('$') are not supported", tok.pos)
        return self.path()

    def call(self) -> _Call:
        tok = self.take()
        name = tok.value
        if name in _NODE_TYPES:
            raise _bad(f"the node test '{name}()' is not supported", tok.pos)
        if name not in _FUNCTIONS:
            raise _bad(f"the function '{name}()' is not supported", tok.pos)
        self.enter()
        args: list[Any] = []
        if not self.is_sym(")"):
            args.append(self.binary(0))
            while self.is_sym(","):
                self.take()
                args.append(self.binary(0))
        self.leave(")")
        if len(args) != _FUNCTIONS[name]:
            raise _bad(f"'{name}()' takes {_FUNCTIONS[name]} argument(s), not {len(args)}", tok.pos)
        return _Call(name, tuple(args), tok.pos)

    def path(self) -> _Path:
        start = self.peek()
        absolute = self.take().value if self.is_op("/", "//") else ""
        steps = [self.step()]
        while self.is_op("/", "//"):
            sep = self.take()
            if sep.value == "//":
                where = "inside a predicate " if self.in_predicate else "between steps "
                raise _bad(f"the descendant step '//' {where}is not supported", sep.pos)
            steps.append(self.step())
            if len(steps) > _MAX_DEPTH:
                raise _bad(f"a path of more than {_MAX_DEPTH} steps", sep.pos)
        return _Path(absolute, tuple(steps), start.pos)

    def step(self) -> _Step:
        tok = self.take()
        if tok.kind == "name" or tok.value == ".":
            preds: list[Any] = []
            while self.is_sym("[") and tok.value != ".":
                bracket = self.enter()
                self.in_predicate += 1
                pred = self.binary(0)
                self.in_predicate -= 1
                if isinstance(pred, float):
                    raise _bad("positional predicates ('[number]') are not supported", bracket.pos + 1)
                preds.append(pred)
                self.leave("]")
            return _Step(tok.value, tuple(preds), tok.pos)
        if tok.value == "..":
            raise _bad("the parent step '..' is not supported", tok.pos)
        if tok.value == "@":
            raise _bad("the attribute axis '@' is not supported (write attributes/name)", tok.pos)
        if tok.kind == "func":
            what = "node test" if tok.value in _NODE_TYPES else "function"
            raise _bad(f"the {what} '{tok.value}()' is not supported", tok.pos)
        raise self.unexpected(tok, "a location step")


# --- compiler: syntax tree -> closures -----------------------------------------------------------
# A compiled expression is (kind, payload): ("nodes", NodesFn), ("bool", BoolFn),
# ("str", str) or ("num", float); constants stay constants so comparisons can specialise.

Compiled = tuple[str, Any]


def _child(name: str) -> Callable[[Nodes], Nodes]:
    """The child step ``name`` (``*``: every member) over JSON values; arrays give their items."""

    def step(nodes: Nodes) -> Nodes:
        out: Nodes = []
        for node in nodes:
            if type(node) is dict or isinstance(node, Mapping):
                if name == "*":
                    for value in node.values():
                        _extend(out, value)
                elif (value := node.get(name, _MISSING)) is not _MISSING:
                    _extend(out, value)
        return out

    return step


def _value_step(step: _Step) -> Callable[[Nodes], Nodes]:
    if step.test == ".":
        return lambda nodes: nodes
    move = _child(step.test)
    if not step.preds:
        return move
    pred = _predicate(step.preds, "value")
    return lambda nodes: [n for n in move(nodes) if pred(n)]


def _object_start(step: _Step) -> NodesFn:
    """The nodes of an object's ``id``, ``objectClass`` or ``attributes`` child."""
    index = _OBJECT_FIELDS.get(step.test)
    if index is None:
        what = {".": "'.' (the object itself)", "*": "the step '*' on an object"}.get(
            step.test, f"the step {step.test!r} (a child object or an unknown object field)"
        )
        raise _bad(f"{what} is not supported; test id, objectClass or attributes/...", step.pos)
    if not step.preds:
        return lambda ctx: [ctx[index]]
    pred = _predicate(step.preds, "value")
    return lambda ctx: [ctx[index]] if pred(ctx[index]) else []


def _as_nodes(ctx: Ctx) -> Nodes:
    return [ctx]


def _compile_path(path: _Path, where: str) -> NodesFn:
    if path.absolute:
        raise _bad(f"an absolute path ('{path.absolute}...') inside a predicate is not supported", path.pos)
    steps = list(path.steps)
    begin: NodesFn = _as_nodes
    if where == "object":
        while len(steps) > 1 and steps[0].test == ".":
            steps.pop(0)
        begin = _object_start(steps.pop(0))
    moves = [_value_step(s) for s in steps]

    def run(ctx: Ctx) -> Nodes:
        nodes = begin(ctx)
        for move in moves:
            if not nodes:
                break
            nodes = move(nodes)
        return nodes

    return run if moves else begin


def _to_bool(c: Compiled) -> BoolFn:
    kind, payload = c
    if kind == "bool":
        return payload  # type: ignore[no-any-return]
    if kind == "nodes":
        nodes_fn: NodesFn = payload
        return lambda ctx: bool(nodes_fn(ctx))
    constant = _boolean(payload)
    return lambda ctx: constant


def _runtime(c: Compiled) -> Callable[[Ctx], Any]:
    kind, payload = c
    if kind in ("nodes", "bool"):
        return payload  # type: ignore[no-any-return]
    return lambda ctx: payload


def _node_test(op: str, kind: str, const: Any) -> Test:
    """A test of one node against a constant, for ``path op constant``."""
    f = _OPS[op]
    if kind == "str" and op in ("=", "!="):
        return lambda node: f(node if type(node) is str else _sv(node), const)
    number = const if kind == "num" else _to_number(const)

    def test_number(node: Any) -> bool:
        t = type(node)
        return f(node if t is int or t is float else _num(node), number)

    return test_number


def _walk(value: Any, names: tuple[str, ...], i: int, test: Test) -> bool:
    """Whether a node reached from ``value`` through fields ``names[i:]`` passes ``test``.

    The same as ``any(map(test, nodes))`` over the node-set of the path, without building it:
    an array stands for its items at every level.
    """
    if value is _MISSING:
        return False
    if type(value) is list:
        for item in value:  # noqa: SIM110 (a loop: cheaper than any() over a generator)
            if _walk(item, names, i, test):
                return True
        return False
    if i == len(names):
        return test(value)
    if type(value) is dict or isinstance(value, Mapping):
        return _walk(value.get(names[i], _MISSING), names, i + 1, test)
    return False


def _exists(value: Any) -> bool:
    return True


def _field_test(path: Any, where: str, test: Test) -> BoolFn | None:
    """A fast test for plain field paths (``attributes/a/b`` on an object, ``a/b`` in a value)."""
    if not isinstance(path, _Path) or path.absolute:
        return None
    steps = path.steps
    if any(s.preds or s.test in ("*", ".") for s in steps):
        return None
    names = tuple(s.test for s in steps)
    if where == "object" and (names[0] != "attributes" or len(names) < 2):
        return None
    on_object = where == "object"  # then names[0] is "attributes", read from ctx[2]
    first, rest = names[on_object], names[on_object + 1 :]
    if rest:
        if not on_object:
            return lambda ctx: _walk(ctx, names, 0, test)
        return lambda ctx: _walk(ctx[2].get(first, _MISSING), rest, 0, test)

    def one_field(ctx: Ctx) -> bool:  # the common case, kept to one dict lookup and one call
        src = ctx[2] if on_object else ctx
        if type(src) is not dict and not isinstance(src, Mapping):
            return False
        value = src.get(first, _MISSING)
        if type(value) is list or value is _MISSING:
            return _walk(value, rest, 0, test)
        return test(value)

    return one_field


def _compile_bool(node: Any, where: str) -> BoolFn:
    """Compile an expression used as a boolean (a path: whether it selects something)."""
    return _field_test(node, where, _exists) or _to_bool(_compile(node, where))


def _compile_compare(node: _Binary, where: str) -> Compiled:
    op, left = node.op, node.left
    lc, rc = _compile(node.left, where), _compile(node.right, where)
    if lc[0] in ("str", "num") and rc[0] == "nodes":
        lc, rc, left, op = rc, lc, node.right, _FLIP[op]
    if op not in ("=", "!="):
        for kind, const in (lc, rc):
            if kind == "str" and math.isnan(_to_number(const)):
                raise _bad(
                    f"'{op}' compares numbers in XPath 1.0, so comparing with the string {const!r} is always false",
                    node.pos,
                )
    if lc[0] == "nodes" and rc[0] in ("str", "num"):
        test = _node_test(op, rc[0], rc[1])
        fast = _field_test(left, where, test)
        if fast is not None:
            return ("bool", fast)
        nodes_fn: NodesFn = lc[1]
        return ("bool", lambda ctx: any(map(test, nodes_fn(ctx))))
    a, b = _runtime(lc), _runtime(rc)
    if lc[0] in ("str", "num") and rc[0] in ("str", "num"):
        constant = _compare(op, lc[1], rc[1])
        return ("bool", lambda ctx: constant)
    return ("bool", lambda ctx: _compare(op, a(ctx), b(ctx)))


def _compile(node: Any, where: str) -> Compiled:
    """Compile a predicate expression; ``where`` is ``object`` or ``value`` (inside attributes)."""
    if isinstance(node, str):
        return ("str", node)
    if isinstance(node, float):
        return ("num", node)
    if isinstance(node, _Path):
        return ("nodes", _compile_path(node, where))
    if isinstance(node, _Call):
        if node.name == "not":
            inner = _compile_bool(node.args[0], where)
            return ("bool", lambda ctx: not inner(ctx))
        args = [_compile(a, where) for a in node.args]
        hay, needle = _runtime(args[0]), _runtime(args[1])
        test = str.__contains__ if node.name == "contains" else str.startswith
        return ("bool", lambda ctx: test(_string(hay(ctx)), _string(needle(ctx))))
    assert isinstance(node, _Binary)
    if node.op in ("and", "or"):
        fns = [_compile_bool(n, where) for n in _operands(node, node.op)]
        if len(fns) == 2:
            a, b = fns
            if node.op == "and":
                return ("bool", lambda ctx: a(ctx) and b(ctx))
            return ("bool", lambda ctx: a(ctx) or b(ctx))
        return ("bool", _all(fns) if node.op == "and" else _any(fns))
    return _compile_compare(node, where)


def _operands(node: Any, op: str) -> list[Any]:
    """The operands of a chain ``a op b op c`` (a left-deep tree), without recursion."""
    out = []
    while isinstance(node, _Binary) and node.op == op:
        out.append(node.right)
        node = node.left
    out.append(node)
    return out[::-1]


# Loops, not all()/any() over a generator: these run per object and the loop is ~2x cheaper.
def _all(fns: Sequence[BoolFn]) -> BoolFn:
    def all_of(ctx: Ctx) -> bool:
        for f in fns:  # noqa: SIM110
            if not f(ctx):
                return False
        return True

    return all_of


def _any(fns: Sequence[BoolFn]) -> BoolFn:
    def any_of(ctx: Ctx) -> bool:
        for f in fns:  # noqa: SIM110
            if f(ctx):
                return True
        return False

    return any_of


def _predicate(preds: Sequence[Any], where: str) -> BoolFn:
    fns = [_compile_bool(p, where) for p in preds]
    return fns[0] if len(fns) == 1 else _all(fns)


# --- the public face -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """A compiled ProvMnS filter; ``classes`` names the only classes it can match (None: any)."""

    text: str
    classes: frozenset[str] | None
    _match: Match = field(repr=False, compare=False)

    def matches(self, cls: str, id_: str, attrs: Mapping[str, Any]) -> bool:
        """Whether the object of class ``cls`` with ``id_`` and ``attrs`` passes the filter."""
        return self._match(cls, id_, attrs)


Branch = tuple[frozenset[str] | None, BoolFn | None]


def _branch(path: _Path) -> Branch:
    head, *rest = path.steps
    if head.test == ".":
        raise _bad("'.' cannot be a filter; select a class, e.g. //NRCellDU", head.pos)
    if len(rest) > 1 or (rest and rest[0].test != "attributes"):
        raise _bad(
            "a location path with more than one object step is not supported "
            "(a filter tests an object's own class, id and attributes)",
            rest[0].pos,
        )
    keys = None if head.test == "*" else frozenset({class_key(head.test)})
    preds: list[BoolFn] = []
    if head.preds:
        preds.append(_predicate(head.preds, "object"))
    if rest and rest[0].preds:
        on_attrs = _predicate(rest[0].preds, "value")
        preds.append(lambda ctx: on_attrs(ctx[2]))
    if len(preds) == 2:
        first, second = preds
        return keys, lambda ctx: first(ctx) and second(ctx)
    return keys, preds[0] if preds else None


def _paths(tree: Any, text: str) -> list[_Path]:
    """The paths of a union; anything else at the top is refused."""
    paths = _operands(tree, "|")
    for path in paths:
        if isinstance(path, _Path):
            continue
        if isinstance(path, str | float):  # literals keep no position: point at the first one
            what = "a string" if isinstance(path, str) else "a number"
            pos = next(t.pos for t in _tokenize(text) if t.kind in ("str", "num"))
        else:
            what = f"'{path.op}'" if isinstance(path, _Binary) else f"'{path.name}()'"
            pos = path.pos
        raise _bad(f"a filter must be a path selecting objects (e.g. //NRCellDU[...]), not {what}", pos)
    return paths


def _matcher(branches: list[Branch]) -> Match:
    if len(branches) > 1:
        keys_of: dict[str, str] = {}  # class name -> class_key; a store holds few classes

        def match_any(cls: str, id_: str, attrs: Mapping[str, Any]) -> bool:
            key = keys_of.get(cls)
            if key is None:
                key = keys_of[cls] = class_key(cls)
            ctx = (cls, id_, attrs)
            return any((k is None or key in k) and (p is None or p(ctx)) for k, p in branches)

        return match_any
    keys, pred = branches[0]
    test: BoolFn = pred if pred is not None else (lambda ctx: True)
    if keys is None:
        return lambda cls, id_, attrs: test((cls, id_, attrs))
    key_set, memo = keys, dict[str, bool]()  # class name -> passes

    def match_one(cls: str, id_: str, attrs: Mapping[str, Any]) -> bool:
        ok = memo.get(cls)
        if ok is None:
            ok = memo[cls] = class_key(cls) in key_set
        return ok and test((cls, id_, attrs))

    return match_one


@functools.lru_cache(maxsize=256)
def parse_filter(text: str) -> Filter:
    """Compile a ProvMnS ``filter`` expression; raises ``BadRequest`` for what it cannot honour."""
    if len(text) > MAX_LENGTH:
        raise BadRequest(f"filter: longer than {MAX_LENGTH} characters")
    paths = _paths(_Parser(text).parse(), text)
    branches = [_branch(p) for p in paths]
    classes: frozenset[str] | None = None
    if all(keys is not None for keys, _ in branches):
        known = _known_classes()
        classes = frozenset(known.get(class_key(p.steps[0].test), p.steps[0].test) for p in paths)
    return Filter(text, classes, _matcher(branches))

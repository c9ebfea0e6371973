"""The ProvMnS ``filter`` query parameter: a subset of XPath 1.0 over TS 32.158 objects.

TS 28.532 (``TS28623_ComDefs.yaml`` ``Filter``) and TS 32.158 clause 6.1.3 say the filter is an
XPath 1.0 expression over the scoped objects, each mapped to the XPath data model the way
TS 32.161 (Jex) maps JSON: an object is an element whose children are ``id``, ``objectClass``,
``attributes`` and its contained objects; a JSON member is an element named after its key, and
an array gives one element per item. :func:`parse_filter` compiles an expression once into
nested closures; :meth:`Filter.matches` then tests one object (class, id, attributes) cheaply.

The grammar, and the errors for what lies outside it, are in :mod:`mns.nrm.xpath`; this module
gives the syntax tree its meaning and compiles it.

Semantics are XPath 1.0 (clause 3.4): a path is a node-set, so ``attributes/list/x = "a"`` holds
when any item matches and ``!=`` when any item differs (use ``not(... = ...)`` for "none");
a node-set compared with a number converts each node to a number (``"001" = 1`` holds);
``< <= > >=`` always compare numbers, so a relational test against a non-numeric string literal
(always false in XPath 1.0) is rejected; a node-set is true when not empty (existence test);
``contains``/``starts-with`` use the string value of the first node.

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
from mns.nrm.xpath import Binary, Call, LocationPath, Step, error_at, operands, parse, tokenize

MAX_LENGTH: Final = 16384
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
_OBJECT_FIELDS: Final = {"objectClass": 0, "id": 1, "attributes": 2}  # index in the context


def class_key(name: str) -> str:
    """The dialect-free key of a class name: ``NRCellDU`` and ``NrCellDu`` give ``nrcelldu``."""
    return name.replace("-", "").replace("_", "").lower()


@functools.cache
def _known_classes() -> dict[str, str]:
    from mns.nrm.registry import default_registry

    return {class_key(spec.name): spec.name for spec in default_registry()}


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


def _value_step(step: Step) -> Callable[[Nodes], Nodes]:
    if step.test == ".":
        return lambda nodes: nodes
    move = _child(step.test)
    if not step.preds:
        return move
    pred = _predicate(step.preds, "value")
    return lambda nodes: [n for n in move(nodes) if pred(n)]


def _object_start(step: Step) -> NodesFn:
    """The nodes of an object's ``id``, ``objectClass`` or ``attributes`` child."""
    index = _OBJECT_FIELDS.get(step.test)
    if index is None:
        what = {".": "'.' (the object itself)", "*": "the step '*' on an object"}.get(
            step.test, f"the step {step.test!r} (a child object or an unknown object field)"
        )
        raise error_at(f"{what} is not supported; test id, objectClass or attributes/...", step.pos)
    if not step.preds:
        return lambda ctx: [ctx[index]]
    pred = _predicate(step.preds, "value")
    return lambda ctx: [ctx[index]] if pred(ctx[index]) else []


def _as_nodes(ctx: Ctx) -> Nodes:
    return [ctx]


def _compile_path(path: LocationPath, where: str) -> NodesFn:
    if path.absolute:
        raise error_at(f"an absolute path ('{path.absolute}...') inside a predicate is not supported", path.pos)
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
    if not isinstance(path, LocationPath) or path.absolute:
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


def _compile_compare(node: Binary, where: str) -> Compiled:
    op, left = node.op, node.left
    lc, rc = _compile(node.left, where), _compile(node.right, where)
    if lc[0] in ("str", "num") and rc[0] == "nodes":
        lc, rc, left, op = rc, lc, node.right, _FLIP[op]
    if op not in ("=", "!="):
        for kind, const in (lc, rc):
            if kind == "str" and math.isnan(_to_number(const)):
                raise error_at(
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
    if isinstance(node, LocationPath):
        return ("nodes", _compile_path(node, where))
    if isinstance(node, Call):
        if node.name == "not":
            inner = _compile_bool(node.args[0], where)
            return ("bool", lambda ctx: not inner(ctx))
        args = [_compile(a, where) for a in node.args]
        hay, needle = _runtime(args[0]), _runtime(args[1])
        test = str.__contains__ if node.name == "contains" else str.startswith
        return ("bool", lambda ctx: test(_string(hay(ctx)), _string(needle(ctx))))
    assert isinstance(node, Binary)
    if node.op in ("and", "or"):
        fns = [_compile_bool(n, where) for n in operands(node, node.op)]
        if len(fns) == 2:
            a, b = fns
            if node.op == "and":
                return ("bool", lambda ctx: a(ctx) and b(ctx))
            return ("bool", lambda ctx: a(ctx) or b(ctx))
        return ("bool", _all(fns) if node.op == "and" else _any(fns))
    return _compile_compare(node, where)


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


def _branch(path: LocationPath) -> Branch:
    head, *rest = path.steps
    if head.test == ".":
        raise error_at("'.' cannot be a filter; select a class, e.g. //NRCellDU", head.pos)
    if len(rest) > 1 or (rest and rest[0].test != "attributes"):
        raise error_at(
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


def _paths(tree: Any, text: str) -> list[LocationPath]:
    """The paths of a union; anything else at the top is refused."""
    paths = operands(tree, "|")
    for path in paths:
        if isinstance(path, LocationPath):
            continue
        if isinstance(path, str | float):  # literals keep no position: point at the first one
            what = "a string" if isinstance(path, str) else "a number"
            pos = next(t.pos for t in tokenize(text) if t.kind in ("str", "num"))
        else:
            what = f"'{path.op}'" if isinstance(path, Binary) else f"'{path.name}()'"
            pos = path.pos
        raise error_at(f"a filter must be a path selecting objects (e.g. //NRCellDU[...]), not {what}", pos)
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
    paths = _paths(parse(text), text)
    branches = [_branch(p) for p in paths]
    classes: frozenset[str] | None = None
    if all(keys is not None for keys, _ in branches):
        known = _known_classes()
        classes = frozenset(known.get(class_key(p.steps[0].test), p.steps[0].test) for p in paths)
    return Filter(text, classes, _matcher(branches))

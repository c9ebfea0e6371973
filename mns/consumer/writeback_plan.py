"""The order of a write-back: a change set as steps that a producer can apply one by one.

Each :class:`Action` takes one object from a state ``before`` to a state ``after`` (either None
for "absent") and names the attributes it sets (``keys``), so the forward step, its inverse
(``Action.inverse``) and its confirmation by a read-back are all derived from the same data.

:func:`plan` orders the changes of a change set as a dependency graph, applied in topological
order; where several steps are ready, creates go first (parents before children), then
modifications, then deletions (children before parents): make before break. The edges:

- a create goes after the create of its parent (when the parent is created too);
- a delete goes after the deletes of its children (when they are deleted too);
- a create or modification whose new attribute values hold the DN of an object created in the
  same change set (any string, at any depth of a value) goes after that object's create;
- the delete of an object goes after every change that stops referring to it (a modification
  whose old values held its DN and whose new values do not, or the delete of the referrer).

Reference cycles are broken, not refused: among creates that refer to each other, the first
one (in the order above) is created without the attributes that hold the references still
missing, and a follow-up modification sets them once their targets exist. Two deleted objects
that refer to each other are deleted in the order above (the references go with them).

Read-only attributes (``operationalState``...) belong to the network: the producer refuses
them in a management write, so they are neither written nor compared.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from mns.errors import MnsError
from mns.nrm.dn import DN, key_depth, to_key
from mns.nrm.registry import Registry, default_registry
from mns.store.api import Change, ChangeKind

CREATE: Final = "create"
MODIFY: Final = "modify"
DELETE: Final = "delete"
_PHASE: Final = {CREATE: 0, MODIFY: 1, DELETE: 2}


@dataclass(frozen=True, slots=True)
class Action:
    """One write: object ``dn`` from ``before`` to ``after`` (None: absent), setting ``keys``."""

    dn: str
    cls: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    keys: tuple[str, ...]

    @property
    def kind(self) -> str:
        """create, modify or delete."""
        if self.before is None:
            return CREATE
        return DELETE if self.after is None else MODIFY

    def inverse(self) -> Action:
        """The action that undoes this one."""
        return Action(self.dn, self.cls, self.after, self.before, self.keys)

    def holds(self, state: Mapping[str, Any] | None) -> bool:
        """Whether an object read back in ``state`` (None: absent) shows this action in effect."""
        if self.after is None or state is None:
            return self.after is None and state is None
        return all(same(state.get(k), self.after.get(k)) for k in self.keys)

    def mismatches(self, state: Mapping[str, Any] | None) -> str:
        """What a read-back shows instead of this action's effect (for an error text)."""
        if self.after is None:
            return "the object still exists"
        if state is None:
            return "the object does not exist"
        wrong = [k for k in self.keys if not same(state.get(k), self.after.get(k))]
        shown = ", ".join(f"{k}={_short(state.get(k))} (expected {_short(self.after.get(k))})" for k in wrong[:5])
        return f"{len(wrong)} attribute(s) differ: {shown}"


@dataclass(slots=True)
class Step:
    """One action of a deployment, its place in the order and what happened to it."""

    index: int
    action: Action
    requires: tuple[int, ...] = ()
    """Indexes of the steps that must be applied before this one."""
    note: str = ""
    status: str = "pending"
    attempts: int = 0
    error: str | None = None
    uncertain: bool = False
    """The step failed without a clear answer: the producer may have applied it."""
    rollback_error: str | None = None

    @property
    def dn(self) -> str:
        """The object's DN."""
        return self.action.dn

    @property
    def kind(self) -> str:
        """create, modify or delete."""
        return self.action.kind

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        out: dict[str, Any] = {
            "index": self.index,
            "dn": self.dn,
            "objectClass": self.action.cls,
            "kind": self.kind,
            "attributes": list(self.action.keys),
            "status": self.status,
            "attempts": self.attempts,
        }
        for name, value in (("note", self.note), ("error", self.error), ("rollbackError", self.rollback_error)):
            if value:
                out[name] = value
        if self.uncertain:
            out["stateUnknown"] = True
        return out


def same(a: Any, b: Any) -> bool:
    """Equal as attribute values (an absent attribute equals null)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = {k for k, v in a.items() if v is not None} | {k for k, v in b.items() if v is not None}
        return all(same(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def merge_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7396 merge patch that turns ``old`` into ``new`` (null removes a member)."""
    out: dict[str, Any] = {}
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        if b is None:
            if a is not None:
                out[key] = None
        elif isinstance(a, Mapping) and isinstance(b, Mapping):
            inner = merge_diff(a, b)
            if inner:
                out[key] = inner
        elif not same(a, b):
            out[key] = b
    return out


class Writable:
    """Strips the read-only attributes of a class (as the registry knows them)."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or default_registry()
        self._cache: dict[str, frozenset[str]] = {}

    def readonly(self, cls: str) -> frozenset[str]:
        """The read-only attribute names of ``cls`` (none for an unknown class)."""
        found = self._cache.get(cls)
        if found is None:
            spec = self.registry.get(cls)
            found = frozenset(n for n, a in spec.attributes.items() if a.readonly) if spec else frozenset()
            self._cache[cls] = found
        return found

    def __call__(self, cls: str, attrs: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """``attrs`` without the read-only ones (None stays None)."""
        if attrs is None:
            return None
        ro = self.readonly(cls)
        return {k: v for k, v in attrs.items() if k not in ro}


# -- references -------------------------------------------------------------------------------


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)


def _dn_of(text: str) -> str | None:
    if "=" not in text:
        return None
    try:
        return str(DN.parse(text))
    except MnsError:
        return None


def references(attrs: Mapping[str, Any] | None, among: set[str]) -> dict[str, set[str]]:
    """Attribute -> the DNs of ``among`` that its value holds."""
    out: dict[str, set[str]] = {}
    for name, value in (attrs or {}).items():
        for text in _strings(value):
            dn = _dn_of(text)
            if dn is not None and dn in among:
                out.setdefault(name, set()).add(dn)
    return out


# -- the graph --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    action: Action
    deps: dict[int, bool] = field(default_factory=dict)
    """Node id -> whether the edge is a reference (True) or containment (False)."""
    refs: dict[str, set[str]] = field(default_factory=dict)
    note: str = ""

    def priority(self) -> tuple[int, int, str]:
        depth = key_depth(to_key(self.action.dn))
        kind = self.action.kind
        return (_PHASE[kind], -depth if kind == DELETE else depth, to_key(self.action.dn))


def _action(change: Change, writable: Writable) -> Action:
    before = writable(change.cls, change.before)
    after = writable(change.cls, change.after)
    if change.kind is ChangeKind.CREATED:
        keys = tuple(sorted(after or {}))
    elif change.kind is ChangeKind.DELETED:
        keys = ()
    else:
        keys = tuple(
            k
            for k in sorted((before or {}).keys() | (after or {}).keys())
            if not same((before or {}).get(k), (after or {}).get(k))
        )
    return Action(change.dn, change.cls, before, after, keys)


def _graph(changes: Sequence[Change], writable: Writable) -> list[_Node]:
    nodes = [_Node(_action(c, writable)) for c in changes]
    at = {n.action.dn: i for i, n in enumerate(nodes)}
    created = {n.action.dn for n in nodes if n.action.kind == CREATE}
    deleted = {n.action.dn for n in nodes if n.action.kind == DELETE}
    for i, node in enumerate(nodes):
        a = node.action
        parent = DN.parse(a.dn).parent
        if a.kind == CREATE and parent is not None and str(parent) in created:
            node.deps[at[str(parent)]] = False
        if a.kind == DELETE and parent is not None and str(parent) in deleted:
            nodes[at[str(parent)]].deps[i] = False
        if a.after is not None:
            node.refs = references(a.after, created - {a.dn})
            for targets in node.refs.values():
                for t in targets:
                    node.deps.setdefault(at[t], True)
        old = {t for ts in references(a.before, deleted - {a.dn}).values() for t in ts}
        new = {t for ts in references(a.after, deleted).values() for t in ts}
        for t in old - new:
            nodes[at[t]].deps.setdefault(i, True)
    return nodes


def plan(changes: Sequence[Change], *, registry: Registry | None = None) -> list[Step]:
    """The steps of a change set in dependency order (see the module docstring)."""
    writable = Writable(registry)
    nodes = _graph(changes, writable)
    order: list[int] = []
    placed: set[int] = set()
    extra: list[_Node] = []
    ready = [(n.priority(), i) for i, n in enumerate(nodes) if not n.deps]
    heapq.heapify(ready)
    while len(placed) < len(nodes) + len(extra):
        if not ready:
            _break_cycle(nodes, extra, placed, ready)
            continue
        _, i = heapq.heappop(ready)
        order.append(i)
        placed.add(i)
        for j, node in enumerate(nodes + extra):
            if j not in placed and i in node.deps and all(d in placed for d in node.deps):
                heapq.heappush(ready, (node.priority(), j))
    everything = nodes + extra
    position = {node_id: pos + 1 for pos, node_id in enumerate(order)}
    return [
        Step(
            index=position[i],
            action=everything[i].action,
            requires=tuple(sorted(position[d] for d in everything[i].deps)),
            note=everything[i].note,
        )
        for i in order
    ]


def _break_cycle(nodes: list[_Node], extra: list[_Node], placed: set[int], ready: list[Any]) -> None:
    """Make one step of a reference cycle ready (see the module docstring)."""
    everything = nodes + extra
    waiting = [(n.priority(), i) for i, n in enumerate(everything) if i not in placed]
    candidates = [
        (p, i)
        for p, i in waiting
        if all(ref or d in placed for d, ref in everything[i].deps.items())
        and everything[i].action.kind in (CREATE, DELETE)
    ]
    if not candidates:  # cannot happen: containment edges alone form no cycle
        names = ", ".join(everything[i].action.dn for _, i in sorted(waiting)[:10])
        raise ValueError(f"the change set has a dependency cycle that cannot be broken: {names}")
    _, i = min(candidates)
    node = everything[i]
    pending = {d for d, ref in node.deps.items() if ref and d not in placed}
    node.deps = {d: ref for d, ref in node.deps.items() if d not in pending}
    if node.action.kind == CREATE:
        _split(i, pending, everything, extra)
    heapq.heappush(ready, (node.priority(), i))


def _split(me: int, pending: set[int], everything: list[_Node], extra: list[_Node]) -> None:
    """Create node ``me`` without its references to ``pending`` creates; a follow-up sets them."""
    node = everything[me]
    targets = {everything[d].action.dn for d in pending}
    held = sorted(name for name, dns in node.refs.items() if dns & targets)
    a = node.action
    after = a.after or {}
    first = {k: v for k, v in after.items() if k not in held}
    node.action = Action(a.dn, a.cls, None, first, tuple(sorted(first)))
    node.note = f"created without {', '.join(held)} (a reference cycle); a follow-up step sets them"
    follow = _Node(Action(a.dn, a.cls, first, dict(after), tuple(held)))
    follow.note = f"sets {', '.join(held)} after the reference cycle"
    follow.deps = {me: False, **dict.fromkeys(pending, True)}
    follow.refs = {}
    extra.append(follow)  # its id follows every other node's, so no id changes

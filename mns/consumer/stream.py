"""Incremental parsing of ProvMnS answers into objects, chunk by chunk, with flat memory.

``TreeParser`` is a push parser: ``feed(chunk)`` returns the objects completed by that chunk,
``close()`` the last ones. It reads all three answer forms of TS 28.532 GET:

- a resource (``application/json``) or a tree (``...object-tree-hierarchical+json``):
  ``{"id", "objectClass", "objectInstance", "attributes", <child key>: [resources...]}``;
- the flat form (``...object-tree-flat+json``): an array of resources, each with its DN.

It holds only the stack of open objects (the tree's depth) and the attributes of the object
being read, never the whole answer: a 300,000-object subtree streams in constant memory. An
object is produced as soon as its first child list begins (its children need its DN) or when
it ends, so parents come before their children. A child without ``objectInstance`` gets its
DN from its parent's and its own class and id; a child without ``objectClass`` takes its class
from the key of its list (``NRCellDU``, or OpenAPI's ``Bwp-Multiple`` -> ``Bwp``). Keys are
passed through as the producer spells them. The JSON events come from ``ijson`` (its C
backend when installed), numbers as ``int``/``float``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mns.consumer.models import Moi
from mns.nrm.dn import escape_id

_OWN_KEYS = frozenset({"id", "objectClass", "objectInstance", "attributes"})
_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})


class ParseError(ValueError):
    """The answer is not JSON, ends early, or is not a resource tree or list."""


@dataclass(slots=True)
class _Resource:
    """An open resource object."""

    parent_dn: str | None
    key_cls: str | None
    root: bool = False
    """The answer's top object (a single resource or the tree's base)."""
    id: str | None = None
    cls: str | None = None
    dn: str | None = None
    attributes: Any = None
    has_attributes: bool = False
    emitted: bool = False
    pending: str | None = None
    """The key whose value comes next."""


@dataclass(slots=True)
class _List:
    """An open array of resources (a child list, or the flat form's top-level array)."""

    parent_dn: str | None
    key_cls: str | None


@dataclass(slots=True)
class _Value:
    """A value being built (the attributes of ``target``; anything else is built and dropped).

    ``containers`` holds the open maps and arrays of the value, ``keys`` the pending key of each.
    """

    target: _Resource | None
    containers: list[Any] = field(default_factory=list)
    keys: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    stack: list[_Resource | _List | _Value] = field(default_factory=list)
    started: bool = False
    done: bool = False


def _first_line(exc: Exception) -> str:
    """The first line of a parser error (yajl adds a picture of where it failed)."""
    return str(exc).strip().split("\n", 1)[0]


def _class_of_key(key: str) -> str:
    """The class a child list key names (OpenAPI writes ``Bwp-Multiple`` for a list of Bwp)."""
    return key[: -len("-Multiple")] if key.endswith("-Multiple") else key


class TreeParser:
    """Feeds the bytes of a ProvMnS GET answer and yields ``Moi`` objects as they complete."""

    def __init__(self, base_dn: str | None = None, *, etag: str | None = None, revision: int | None = None) -> None:
        import ijson

        self._base_dn = base_dn
        self._etag = etag
        self._revision = revision
        self._events: list[tuple[str, Any]] = ijson.sendable_list()
        self._coro = ijson.basic_parse_coro(self._events, use_float=True)
        self._errors: tuple[type[Exception], ...] = (ijson.JSONError, ijson.IncompleteJSONError)
        self._state = _State()
        self._out: list[Moi] = []

    def feed(self, chunk: bytes) -> list[Moi]:
        """The objects completed by this chunk of the answer."""
        if chunk:
            try:
                self._coro.send(chunk)
            except self._errors as exc:
                raise ParseError(f"the answer is not valid JSON: {_first_line(exc)}") from None
            self._drain()
        return self._take()

    def close(self) -> list[Moi]:
        """The last objects; ParseError when the answer ended early."""
        try:
            self._coro.close()
        except self._errors as exc:
            raise ParseError(f"the answer ended before its JSON was complete ({_first_line(exc)})") from None
        self._drain()
        if not self._state.done:
            raise ParseError("the answer ended before its JSON was complete" if self._state.started else "empty answer")
        return self._take()

    def _take(self) -> list[Moi]:
        out, self._out = self._out, []
        return out

    def _drain(self) -> None:
        events = self._events
        stack = self._state.stack
        i, n = 0, len(events)
        while i < n:
            top = stack[-1] if stack else None
            if isinstance(top, _Value):
                i = self._build(top, events, i, n)
            else:
                self._event(*events[i])
                i += 1
        del events[:]

    def _build(self, top: _Value, events: list[tuple[str, Any]], i: int, n: int) -> int:
        """Build a value from ``events[i:]``, the hot loop; the index after what it took."""
        containers, keys = top.containers, top.keys
        while i < n:
            event, value = events[i]
            i += 1
            if event == "map_key":
                keys[-1] = value
                continue
            if event in _CLOSE:
                done = containers.pop()
                keys.pop()
                if not containers:
                    self._built(top, done)
                    return i
                continue
            new: Any = {} if event == "start_map" else [] if event == "start_array" else value
            if containers:
                parent = containers[-1]
                if type(parent) is dict:
                    parent[keys[-1]] = new
                else:
                    parent.append(new)
            if event in _OPEN:
                containers.append(new)
                keys.append(None)
            elif not containers:
                self._built(top, new)
                return i
        return i

    def _built(self, top: _Value, value: Any) -> None:
        """A value is complete: give it to its resource (attributes) or drop it."""
        self._state.stack.pop()
        target = top.target
        if target is not None:
            target.attributes = value
            target.has_attributes = value is not None
            if target.emitted:  # attributes after the children: send the object again, complete
                self._emit(target)

    def _event(self, event: str, value: Any) -> None:
        state = self._state
        if not state.stack:
            self._top(event)
            return
        top = state.stack[-1]
        if isinstance(top, _Resource):
            self._in_resource(top, event, value)
        elif isinstance(top, _List):
            self._in_list(top, event)

    def _top(self, event: str) -> None:
        state = self._state
        if state.done or state.started:
            raise ParseError("the answer holds more than one JSON value")
        state.started = True
        if event == "start_map":
            state.stack.append(_Resource(parent_dn=None, key_cls=None, root=True))
        elif event == "start_array":
            state.stack.append(_List(parent_dn=None, key_cls=None))
        else:
            raise ParseError(f"the answer is a JSON {event}, not a resource or a list of resources")

    def _in_resource(self, res: _Resource, event: str, value: Any) -> None:
        if event == "map_key":
            res.pending = value
            if value == "attributes":
                self._state.stack.append(_Value(res))
            return
        key, res.pending = res.pending, None
        if event == "end_map":
            self._state.stack.pop()
            if not res.emitted:
                self._emit(res)
            self._finish_if_root()
            return
        if key in ("id", "objectClass", "objectInstance"):
            if event in _OPEN:  # not a name: skip it
                self._state.stack.append(_Value(None, [{} if event == "start_map" else []], [None]))
                return
            text = None if value is None else str(value)
            if key == "id":
                res.id = text
            elif key == "objectClass":
                res.cls = text
            else:
                res.dn = text
            return
        if key is None or key in _OWN_KEYS:
            return
        # Any other key holds children: a list of resources, or one resource.
        if event in _OPEN and not res.emitted:
            self._emit(res)
        if event == "start_array":
            self._state.stack.append(_List(parent_dn=self._dn(res), key_cls=_class_of_key(key)))
        elif event == "start_map":
            self._state.stack.append(_Resource(parent_dn=self._dn(res), key_cls=_class_of_key(key)))

    def _in_list(self, lst: _List, event: str) -> None:
        if event == "end_array":
            self._state.stack.pop()
            self._finish_if_root()
        elif event == "start_map":
            self._state.stack.append(_Resource(parent_dn=lst.parent_dn, key_cls=lst.key_cls))
        elif event == "start_array":
            self._state.stack.append(_Value(None, [[]], [None]))

    def _finish_if_root(self) -> None:
        if not self._state.stack:
            self._state.done = True

    def _dn(self, res: _Resource) -> str:
        """The resource's DN: as given, else from its parent's, else the requested base."""
        if res.dn:
            return res.dn
        cls = self._cls(res)
        if res.parent_dn is not None and res.id is not None:
            res.dn = f"{res.parent_dn},{cls}={escape_id(res.id)}"
        elif res.root and self._base_dn is not None:
            res.dn = self._base_dn
        elif res.id is not None:
            res.dn = f"{cls}={escape_id(res.id)}"
        else:
            raise ParseError(f"an object of class {cls} has neither objectInstance nor id")
        return res.dn

    def _cls(self, res: _Resource) -> str:
        if res.cls:
            return res.cls
        if res.key_cls:
            return res.key_cls
        dn = res.dn or (self._base_dn if res.root else None)
        return dn.rsplit(",", 1)[-1].split("=", 1)[0] if dn else ""

    def _emit(self, res: _Resource) -> None:
        dn = self._dn(res)
        cls = self._cls(res)
        id_ = res.id if res.id is not None else dn.rsplit(",", 1)[-1].split("=", 1)[-1]
        attrs = res.attributes if isinstance(res.attributes, dict) else {}
        etag = self._etag if res.root else None
        self._out.append(Moi(dn, cls, id_, attrs, res.has_attributes, etag, self._revision))
        res.emitted = True

"""TS 32.158 resource representations of stored objects, built straight from store rows.

A resource is ``{"id", "objectClass", "objectInstance", "attributes", <ChildClass>: [...]}``.
Objects come from the store in depth-first key order (parents first, children of one class
together), so the hierarchical tree is written as a stream with a stack of open objects and
the flat form as a stream of array items: memory stays flat whatever the subtree size. When
no attribute selection applies, the stored attribute JSON is spliced in without parsing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mns.errors import BadRequest
from mns.nrm.dn import DN
from mns.store.api import Moi

JSON = "application/json"
HIERARCHICAL = "application/vnd.3gpp.object-tree-hierarchical+json"
FLAT = "application/vnd.3gpp.object-tree-flat+json"
MEDIA_TYPES = (JSON, HIERARCHICAL, FLAT)

_dumps = orjson.dumps


def split_list(value: str | None) -> list[str] | None:
    """A comma-separated query parameter (form style, not exploded) as a list."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise BadRequest("an empty attribute list selects nothing")
    return items


@dataclass(frozen=True, slots=True)
class Selection:
    """Which attributes, or attribute fields, to return (``attributes`` / ``fields``)."""

    attributes: frozenset[str] | None = None
    fields: tuple[tuple[str, ...], ...] | None = None

    @classmethod
    def parse(cls, attributes: str | None, fields: str | None) -> Selection:
        """From the two query parameters; ``fields`` items read ``attributes/a/b`` or ``a/b``."""
        attrs = split_list(attributes)
        flds = split_list(fields)
        paths: list[tuple[str, ...]] | None = None
        if flds is not None:
            paths = []
            for f in flds:
                parts = [p for p in f.strip("/").split("/") if p]
                if parts and parts[0] == "attributes":
                    parts = parts[1:]
                if not parts:
                    raise BadRequest(f"field {f!r} names no attribute")
                paths.append(tuple(parts))
        return cls(
            frozenset(attrs) if attrs is not None else None,
            tuple(paths) if paths is not None else None,
        )

    @property
    def everything(self) -> bool:
        """True when nothing is deselected."""
        return self.attributes is None and self.fields is None

    def apply(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """The selected part of an object's attributes."""
        out: dict[str, Any] = {}
        if self.attributes is not None:
            out.update((k, v) for k, v in attrs.items() if k in self.attributes)
        if self.fields is not None:
            for path in self.fields:
                _copy_path(attrs, out, path)
        return out


def _copy_path(src: Any, dst: dict[str, Any], path: Sequence[str]) -> None:
    head, rest = path[0], path[1:]
    if not isinstance(src, Mapping) or head not in src:
        return
    value = src[head]
    if not rest:
        dst[head] = value
    elif isinstance(value, Mapping):
        _copy_path(value, dst.setdefault(head, {}), rest)
    elif isinstance(value, list):
        # A field of a list of structures selects that field of every item.
        items = dst.setdefault(head, [{} for _ in value])
        for item_src, item_dst in zip(value, items, strict=False):
            _copy_path(item_src, item_dst, rest)


AttrsOut = Callable[[Moi], str]
"""Renders an object's attributes as JSON text (selection and dialect applied)."""

ClassOut = Callable[[str], str]
"""Renders a class name (dialect applied)."""


def attrs_renderer(selection: Selection, translate: Callable[[str, dict[str, Any]], dict[str, Any]] | None) -> AttrsOut:
    """The cheapest attribute renderer for a selection and an optional dialect translation."""
    if selection.everything and translate is None:

        def raw(moi: Moi) -> str:
            j = moi.attrs_json
            return j if isinstance(j, str) else j.decode()

        return raw

    def render(moi: Moi) -> str:
        attrs = moi.attrs if selection.everything else selection.apply(moi.attrs)
        if translate is not None:
            attrs = translate(moi.cls, attrs)
        return _dumps(attrs).decode()

    return render


def _q(text: str) -> str:
    """A JSON string literal; ids, classes and DNs rarely need escaping, so check first."""
    if '"' in text or "\\" in text or not text.isprintable():
        return _dumps(text).decode()
    return f'"{text}"'


def _head(moi: Moi, cls_out: ClassOut) -> str:
    dn = moi.dn
    leaf = DN.parse(dn).id if "\\" in dn else dn[dn.rindex("=") + 1 :]
    return f'{{"id":{_q(leaf)},"objectClass":{_q(cls_out(moi.cls))},"objectInstance":{_q(dn)}'


def single(moi: Moi, attrs_out: AttrsOut, cls_out: ClassOut) -> bytes:
    """One object as a resource (the hot path of a single-object GET)."""
    return f'{_head(moi, cls_out)},"attributes":{attrs_out(moi)}}}'.encode()


CHUNK = 1024
"""Objects per chunk of a streamed response."""


def flat(objects: Iterable[tuple[Moi, bool]], attrs_out: AttrsOut, cls_out: ClassOut) -> Iterator[bytes]:
    """A JSON array of the matching objects, each with its DN, streamed in chunks."""
    buf: list[str] = ["["]
    sep = ""
    for moi, matched in objects:
        if not matched:
            continue
        buf.append(f'{sep}{_head(moi, cls_out)},"attributes":{attrs_out(moi)}}}')
        sep = ","
        if len(buf) >= CHUNK:
            yield "".join(buf).encode()
            buf = []
    buf.append("]")
    yield "".join(buf).encode()


def hierarchical(objects: Iterable[tuple[Moi, bool]], attrs_out: AttrsOut, cls_out: ClassOut) -> Iterator[bytes]:
    """The base object with its descendants nested by class, streamed.

    ``objects`` yields (object, matched) in depth-first key order, the base first. An object
    that did not match the filter but lies between the base and a match appears with its id,
    class and DN only, so that the tree stays connected; the base always appears.
    """
    # The stack holds, per open object: [dn + ",", moi, emitted, class of its open child list].
    stack: list[list[Any]] = []
    buf: list[str] = []
    append = buf.append

    def emit(i: int, with_attrs: bool) -> None:
        entry = stack[i]
        moi = entry[1]
        if i > 0:
            parent = stack[i - 1]
            cls = cls_out(moi.cls)
            if parent[3] != cls:
                append(f'],"{cls}":[' if parent[3] is not None else f',"{cls}":[')
                parent[3] = cls
            else:
                append(",")
        append(_head(moi, cls_out))
        if with_attrs:
            append(',"attributes":')
            append(attrs_out(moi))
        entry[2] = True

    for moi, matched in objects:
        dn = moi.dn
        while stack and not dn.startswith(stack[-1][0]):
            top = stack.pop()
            if top[2]:
                append("]}" if top[3] is not None else "}")
        stack.append([dn + ",", moi, False, None])
        if matched:
            for i in range(len(stack) - 1):
                if not stack[i][2]:
                    emit(i, False)
            emit(len(stack) - 1, True)
        elif len(stack) == 1:
            emit(0, False)
        if len(buf) >= CHUNK:
            yield "".join(buf).encode()
            buf.clear()
    while stack:
        top = stack.pop()
        if top[2]:
            append("]}" if top[3] is not None else "}")
    yield "".join(buf).encode()


def hierarchical_all(rows: Iterable[tuple[str, str, str, int]]) -> Iterator[bytes]:
    """``hierarchical`` for the common case: every object selected, attributes as stored.

    The hot loop of a subtree GET, over the store's plain rows (``Store.scan``): one formatted
    string per object, no parsing.
    """
    prefixes: list[str] = []
    child_cls: list[str | None] = []
    buf: list[str] = []
    append = buf.append
    for dn, cls, attrs, _rev in rows:
        while prefixes and not dn.startswith(prefixes[-1]):
            prefixes.pop()
            append("]}" if child_cls.pop() is not None else "}")
        if prefixes:
            open_cls = child_cls[-1]
            if open_cls != cls:
                append(f'],"{cls}":[' if open_cls is not None else f',"{cls}":[')
                child_cls[-1] = cls
            else:
                append(",")
        if '"' in dn or "\\" in dn:
            append(f'{_head(Moi(dn, cls, _rev, attrs), str)},"attributes":{attrs}')
        else:
            leaf = dn[dn.rindex("=") + 1 :]
            append(f'{{"id":"{leaf}","objectClass":"{cls}","objectInstance":"{dn}","attributes":{attrs}')
        prefixes.append(dn + ",")
        child_cls.append(None)
        if len(buf) >= CHUNK:
            yield "".join(buf).encode()
            buf.clear()
    while prefixes:
        prefixes.pop()
        append("]}" if child_cls.pop() is not None else "}")
    yield "".join(buf).encode()


def parse_resource(body: Any, *, cls: str, id_: str, dn: str) -> dict[str, Any]:
    """The attributes of a PUT body (one resource), checking its id and class against the URI."""
    if not isinstance(body, dict):
        raise BadRequest(f"{dn}: the request body must be a JSON object (a Resource)", dn=dn)
    unknown = [k for k in body if k not in ("id", "objectClass", "objectInstance", "attributes")]
    if unknown:
        raise BadRequest(
            f"{dn}: PUT takes one resource; {', '.join(sorted(unknown))} cannot be set this way "
            "(create descendants with their own PUT or a 3GPP merge patch)",
            dn=dn,
        )
    if "id" in body and str(body["id"]) != id_:
        raise BadRequest(f"{dn}: body id {body['id']!r} differs from the URI's id {id_!r}", dn=dn)
    if "objectClass" in body and body["objectClass"] not in (cls, None):
        raise BadRequest(
            f"{dn}: body objectClass {body['objectClass']!r} differs from the URI's class {cls}",
            dn=dn,
        )
    attrs = body.get("attributes", {})
    if attrs is None:
        attrs = {}
    if not isinstance(attrs, dict):
        raise BadRequest(f"{dn}: attributes must be a JSON object", dn=dn)
    return attrs

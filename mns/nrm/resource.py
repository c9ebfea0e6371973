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
        return cls(frozenset(attrs) if attrs is not None else None, tuple(paths) if paths is not None else None)

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


AttrsOut = Callable[[Moi], bytes]
"""Renders an object's attributes as JSON bytes (selection and dialect applied)."""

ClassOut = Callable[[str], str]
"""Renders a class name (dialect applied)."""


def attrs_renderer(selection: Selection, translate: Callable[[str, dict[str, Any]], dict[str, Any]] | None) -> AttrsOut:
    """The cheapest attribute renderer for a selection and an optional dialect translation."""
    if selection.everything and translate is None:

        def raw(moi: Moi) -> bytes:
            j = moi.attrs_json
            return j.encode() if isinstance(j, str) else j

        return raw

    def render(moi: Moi) -> bytes:
        attrs = moi.attrs if selection.everything else selection.apply(moi.attrs)
        if translate is not None:
            attrs = translate(moi.cls, attrs)
        return _dumps(attrs)

    return render


def _head(moi: Moi, cls_out: ClassOut) -> bytes:
    return b'{"id":%s,"objectClass":%s,"objectInstance":%s' % (
        _dumps(_leaf_id(moi.dn)),
        _dumps(cls_out(moi.cls)),
        _dumps(moi.dn),
    )


def _leaf_id(dn: str) -> str:
    from mns.nrm.dn import DN

    if "\\" in dn:
        return DN.parse(dn).id
    return dn[dn.rindex("=") + 1 :]


def single(moi: Moi, attrs_out: AttrsOut, cls_out: ClassOut) -> bytes:
    """One object as a resource (the hot path of a single-object GET)."""
    return _head(moi, cls_out) + b',"attributes":' + attrs_out(moi) + b"}"


def flat(
    objects: Iterable[tuple[Moi, bool]], attrs_out: AttrsOut, cls_out: ClassOut
) -> Iterator[bytes]:
    """A JSON array of the matching objects, each with its DN, streamed in chunks."""
    buf: list[bytes] = [b"["]
    first = True
    for moi, matched in objects:
        if not matched:
            continue
        if not first:
            buf.append(b",")
        first = False
        buf.append(single(moi, attrs_out, cls_out))
        if len(buf) >= 512:
            yield b"".join(buf)
            buf = []
    buf.append(b"]")
    yield b"".join(buf)


@dataclass(slots=True)
class _Open:
    dn: str
    moi: Moi
    emitted: bool
    child_cls: str | None = None


def hierarchical(
    objects: Iterable[tuple[Moi, bool]], attrs_out: AttrsOut, cls_out: ClassOut
) -> Iterator[bytes]:
    """The base object with its descendants nested by class, streamed.

    ``objects`` yields (object, matched) in depth-first key order, the base first. An object
    that did not match the filter but lies between the base and a match appears with its id,
    class and DN only, so that the tree stays connected; the base always appears.
    """
    stack: list[_Open] = []
    buf: list[bytes] = []

    def close(entry: _Open) -> None:
        if entry.emitted:
            if entry.child_cls is not None:
                buf.append(b"]")
            buf.append(b"}")

    def emit(i: int, with_attrs: bool) -> None:
        entry = stack[i]
        if i > 0:
            parent = stack[i - 1]
            cls = cls_out(entry.moi.cls)
            if parent.child_cls != cls:
                if parent.child_cls is not None:
                    buf.append(b"]")
                buf.append(b",%s:[" % _dumps(cls))
                parent.child_cls = cls
            else:
                buf.append(b",")
        buf.append(_head(entry.moi, cls_out))
        if with_attrs:
            buf.append(b',"attributes":' + attrs_out(entry.moi))
        entry.emitted = True

    for moi, matched in objects:
        while stack and not _is_below(moi.dn, stack[-1].dn):
            close(stack.pop())
        stack.append(_Open(moi.dn, moi, False))
        if matched or len(stack) == 1:
            for i in range(len(stack) - 1):
                if not stack[i].emitted:
                    emit(i, False)
            emit(len(stack) - 1, matched)
        if len(buf) >= 512:
            yield b"".join(buf)
            buf = []
    while stack:
        close(stack.pop())
    yield b"".join(buf)


def _is_below(dn: str, ancestor: str) -> bool:
    return dn.startswith(ancestor) and dn[len(ancestor) : len(ancestor) + 1] == ","


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
        raise BadRequest(f"{dn}: body objectClass {body['objectClass']!r} differs from the URI's class {cls}", dn=dn)
    attrs = body.get("attributes", {})
    if attrs is None:
        attrs = {}
    if not isinstance(attrs, dict):
        raise BadRequest(f"{dn}: attributes must be a JSON object", dn=dn)
    return attrs

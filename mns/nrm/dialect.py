"""Translation between the canonical stage-2 form and the Rel-18 OpenAPI JSON spelling.

Inside, the twin uses the stage-2 / YANG names and value forms (``NRCellDU``, ``nRPCI``,
``nRTAC`` as an integer, flat PLMN info entries). The Rel-18 OpenAPI spells classes and
attributes differently (``NrCellDu``, ``nrPci``) and differs in values too; the registry
records each difference and this module applies it in both directions:

- names of classes, attributes and struct members, and OpenAPI child keys (``Bwp-Multiple``);
- nesting: ``{mcc, mnc, sd, sst}`` <-> ``{plmnId: {mcc, mnc}, snssai: {sst, sd}}``;
- list vs single value: a YANG list that the OpenAPI holds as one value, and back;
- values: TAC integer <-> hex digits (``hex``), a YANG integer in units of 0.1 <-> an OpenAPI
  number (``scale``), boolean <-> ``"TRUE"``/``"FALSE"`` (``bool-text``), an IP address string
  <-> ``{ipv4Address | ipv6Address}`` (``ip``), a one-member YANG list entry <-> a bare value
  (``unwrap``).

Anything unknown (a class, an attribute, a member, a value of an unexpected shape) passes
through unchanged, so a translation never loses data. For values valid in the form they are
given in, ``from_openapi(*to_openapi(cls, attrs)) == (cls, attrs)``; an OpenAPI TAC comes back
as six upper-case hex digits (the same 24-bit value).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mns.nrm.registry import AttrSpec, ClassSpec, Registry, default_registry

Convert = Callable[[Any], Any]


def _listwise(elem: Convert | None) -> Convert | None:
    if elem is None:
        return None
    return lambda v: [elem(x) for x in v] if type(v) is list else elem(v)


def _cardinality(spec: AttrSpec, elem: Convert | None, to_oa: bool) -> Convert | None:
    """Wrap an element conversion with the list/single difference between the dialects."""
    if spec.multi == spec.openapi_multi:
        return _listwise(elem) if spec.multi else elem
    each: Convert = elem if elem is not None else (lambda x: x)
    # Towards the side that holds one value, a one-item list is unwrapped; towards the side
    # that holds a list, a single value is wrapped. Anything else keeps its shape.
    to_one = to_oa == spec.multi

    def convert(v: Any) -> Any:
        if type(v) is not list:
            return each(v) if to_one else [each(v)]
        if to_one and len(v) == 1:
            return each(v[0])
        return [each(x) for x in v]

    return convert


def _hex(spec: AttrSpec, to_oa: bool) -> Convert:
    digits = max(spec.openapi.get("hex_digits") or [6])

    def to_hex(v: Any) -> Any:
        if type(v) is int and v >= 0:
            return f"{v:0{digits}X}"
        return v

    def from_hex(v: Any) -> Any:
        if type(v) is str and v and all(c in "0123456789abcdefABCDEF" for c in v):
            return int(v, 16)
        return v

    return to_hex if to_oa else from_hex


def _scale(spec: AttrSpec, to_oa: bool) -> Convert:
    factor = float(spec.openapi.get("scale", 1.0))
    text = repr(factor)
    places = len(text.split(".")[1]) if "." in text else 0

    def to_number(v: Any) -> Any:
        return round(v * factor, places) if type(v) is int else v

    def from_number(v: Any) -> Any:
        if type(v) in (int, float):
            q = v / factor
            if abs(q - round(q)) < 1e-9:
                return round(q)
        return v

    return to_number if to_oa else from_number


def _bool_text(to_oa: bool) -> Convert:
    def to_text(v: Any) -> Any:
        return ("TRUE" if v else "FALSE") if type(v) is bool else v

    def from_text(v: Any) -> Any:
        return {"TRUE": True, "FALSE": False}.get(v, v) if type(v) is str else v

    return to_text if to_oa else from_text


def _ip(to_oa: bool) -> Convert:
    def to_struct(v: Any) -> Any:
        if type(v) is str:
            return {"ipv6Address" if ":" in v else "ipv4Address": v}
        return v

    def from_struct(v: Any) -> Any:
        if type(v) is dict and len(v) == 1:
            key, value = next(iter(v.items()))
            ipv6 = key == "ipv6Address"
            if key in ("ipv4Address", "ipv6Address") and type(value) is str and ipv6 == (":" in value):
                return value
        return v

    return to_struct if to_oa else from_struct


def _unwrap(spec: AttrSpec, to_oa: bool) -> Convert:
    name = spec.openapi.get("field") or next(iter(spec.fields))
    inner = value_converter(spec.fields[name], to_oa) if name in spec.fields else None

    def to_bare(v: Any) -> Any:
        if type(v) is dict and len(v) == 1 and name in v:
            return inner(v[name]) if inner else v[name]
        return v

    def from_bare(v: Any) -> Any:
        if type(v) is dict:
            return v
        return {name: inner(v) if inner else v}

    return to_bare if to_oa else from_bare


def _element(spec: AttrSpec, to_oa: bool) -> Convert | None:
    """Conversion of one element of ``spec`` (ignoring list/single), or None if the same."""
    conv = spec.conv
    if conv == "hex":
        return _hex(spec, to_oa)
    if conv == "scale":
        return _scale(spec, to_oa)
    if conv == "bool-text":
        return _bool_text(to_oa)
    if conv == "ip":
        return _ip(to_oa)
    if conv == "unwrap":
        return _unwrap(spec, to_oa)
    if spec.kind == "struct" and spec.fields:
        return _struct(spec.fields, to_oa)
    return None


def value_converter(spec: AttrSpec, to_oa: bool) -> Convert | None:
    """The conversion of a value of ``spec`` to (or from) OpenAPI, or None if it is the same."""
    return _cardinality(spec, _element(spec, to_oa), to_oa)


def _struct(fields: Mapping[str, AttrSpec], to_oa: bool) -> Convert | None:
    """Conversion of an object whose members are ``fields`` (None when nothing changes)."""
    paths: dict[str, tuple[tuple[str, ...], Convert | None]] = {}
    for name, f in fields.items():
        path = f.openapi_path or (f.openapi_name,)
        paths[name] = (path, value_converter(f, to_oa))
    if all(path == (name,) and conv is None for name, (path, conv) in paths.items()):
        return None
    return _to_nested(paths) if to_oa else _from_nested(paths)


def _put(out: dict[str, Any], path: tuple[str, ...], value: Any) -> bool:
    """Store ``value`` at ``path`` in ``out``, creating nested objects; False on a clash."""
    node = out
    for step in path[:-1]:
        nxt = node.get(step)
        if nxt is None:
            nxt = node[step] = {}
        elif type(nxt) is not dict:
            return False
        node = nxt
    last = path[-1]
    if last in node:
        if type(node[last]) is dict and type(value) is dict:
            node[last] = {**value, **node[last]}
            return True
        return False
    node[last] = value
    return True


def _to_nested(paths: dict[str, tuple[tuple[str, ...], Convert | None]]) -> Convert:
    def convert(v: Any) -> Any:
        if type(v) is not dict:
            return v
        out: dict[str, Any] = {}
        unknown = [k for k in v if k not in paths]
        blocked = {k for k in unknown if type(v[k]) is not dict}
        for key, value in v.items():
            target = paths.get(key)
            if target is None:
                continue
            path, conv = target
            new = conv(value) if conv is not None and value is not None else value
            # A member whose place is taken by an unknown value keeps its own name.
            if path[0] in blocked or not _put(out, path, new):
                out[key] = new
        for key in unknown:  # unknown members pass through (merged into nested objects)
            if not _put(out, (key,), v[key]):
                out.setdefault(key, v[key])
        return out

    return convert


def _from_nested(paths: dict[str, tuple[tuple[str, ...], Convert | None]]) -> Convert:
    # A tree keyed by OpenAPI path steps whose leaves are (canonical name, conversion).
    # A member mapped onto a whole nested object (EP localAddress's ipAddress) sits under "".
    tree: dict[str, Any] = {}
    for name, (path, conv) in paths.items():
        node = tree
        for step in path[:-1]:
            nxt = node.setdefault(step, {})
            if type(nxt) is tuple:
                nxt = node[step] = {"": nxt}
            node = nxt
        last = path[-1]
        if type(node.get(last)) is dict:
            node[last][""] = (name, conv)
        else:
            node[last] = (name, conv)

    def flatten(node: dict[str, Any], value: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
        rest: dict[str, Any] = {}
        for key, item in value.items():
            target = node.get(key)
            if type(target) is tuple:
                name, conv = target
                out[name] = conv(item) if conv is not None and item is not None else item
            elif type(target) is dict and type(item) is dict:
                left = flatten(target, item, out)
                whole = target.get("")
                if whole is not None and left:
                    name, conv = whole
                    converted = conv(left) if conv is not None else left
                    if converted is not left:
                        out[name] = converted
                        left = {}
                if left:
                    rest[key] = left
            else:
                rest[key] = item
        return rest

    def convert(v: Any) -> Any:
        if type(v) is not dict:
            return v
        out: dict[str, Any] = {}
        rest = flatten(tree, v, out)
        for key, item in rest.items():
            out.setdefault(key, item)
        return out

    return convert


@dataclass(frozen=True, slots=True)
class _ClassConv:
    spec: ClassSpec
    to_oa: Convert | None
    from_oa: Convert | None


class Dialect:
    """Translates classes and attributes between stage-2 and Rel-18 OpenAPI spellings."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry if registry is not None else default_registry()
        self._convs: dict[str, _ClassConv | None] = {}

    def _conv(self, cls: str) -> _ClassConv | None:
        try:
            return self._convs[cls]
        except KeyError:
            pass
        spec = self.registry.get(cls)
        conv = None
        if spec is not None:
            conv = _ClassConv(spec, _struct(spec.attributes, True), _struct(spec.attributes, False))
        self._convs[cls] = conv
        return conv

    def class_to_openapi(self, cls: str) -> str:
        """The OpenAPI name of a class (unknown names are returned as given)."""
        spec = self.registry.get(cls)
        return spec.openapi_name if spec else cls

    def class_from_openapi(self, name: str) -> str:
        """The stage-2 name of a class given in either spelling (unknown names as given)."""
        spec = self.registry.get(name)
        return spec.name if spec else name

    def child_key(self, parent_cls: str, child_cls: str) -> str:
        """The key under which an OpenAPI ``parent_cls`` object holds its ``child_cls`` children."""
        parent = self.registry.get(parent_cls)
        child = self.registry.get(child_cls)
        if parent is None or child is None:
            return child.openapi_name if child else child_cls
        for key, name in parent.children.items():
            if name == child.name:
                return key
        return child.openapi_name

    def child_class(self, parent_cls: str, key: str) -> str:
        """The stage-2 class of what an OpenAPI ``parent_cls`` object holds under ``key``."""
        parent = self.registry.get(parent_cls)
        if parent is not None and key in parent.children:
            return parent.children[key]
        for suffix in ("-Multiple", "-Single"):
            if key.endswith(suffix):
                key = key[: -len(suffix)]
        return self.class_from_openapi(key)

    def to_openapi(self, cls: str, attrs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """(OpenAPI class name, attributes in OpenAPI spelling) of a canonical object."""
        conv = self._conv(cls)
        if conv is None:
            return cls, dict(attrs)
        out = conv.to_oa(dict(attrs)) if conv.to_oa else dict(attrs)
        return conv.spec.openapi_name, out

    def from_openapi(self, cls: str, attrs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """(stage-2 class name, canonical attributes) of an object in OpenAPI spelling."""
        conv = self._conv(cls)
        if conv is None:
            return cls, dict(attrs)
        out = conv.from_oa(dict(attrs)) if conv.from_oa else dict(attrs)
        return conv.spec.name, out


_default: Dialect | None = None


def default_dialect() -> Dialect:
    """A Dialect over the shipped registry, made once."""
    global _default  # noqa: PLW0603 - a lazily built module singleton
    if _default is None:
        _default = Dialect()
    return _default


def to_openapi(cls: str, attrs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(OpenAPI class name, OpenAPI attributes) of a canonical object."""
    return default_dialect().to_openapi(cls, attrs)


def from_openapi(cls: str, attrs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(stage-2 class name, canonical attributes) of an object in OpenAPI spelling."""
    return default_dialect().from_openapi(cls, attrs)


def class_to_openapi(cls: str) -> str:
    """The OpenAPI spelling of a class name."""
    return default_dialect().class_to_openapi(cls)


def class_from_openapi(name: str) -> str:
    """The stage-2 spelling of a class name."""
    return default_dialect().class_from_openapi(name)


def child_key(parent_cls: str, child_cls: str) -> str:
    """The OpenAPI key holding ``child_cls`` children inside a ``parent_cls`` object."""
    return default_dialect().child_key(parent_cls, child_cls)


def child_class(parent_cls: str, key: str) -> str:
    """The stage-2 class held under an OpenAPI child ``key`` of a ``parent_cls`` object."""
    return default_dialect().child_class(parent_cls, key)

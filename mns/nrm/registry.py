"""The NRM class registry: classes, containment, attributes and their types.

The facts come from ``registry.json``, generated from the 3GPP YANG and OpenAPI files by
``tools/gen_registry.py`` (the runtime never reads the spec files). Names, value forms and ranges
are the canonical stage-2 / YANG ones; where the Rel-18 OpenAPI differs, the OpenAPI facts are
kept beside them (``AttrSpec.openapi``) for :mod:`mns.nrm.dialect`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

Range = tuple[float | None, float | None]


@dataclass(frozen=True, slots=True)
class AttrSpec:
    """One attribute (or struct member, or union member type) of a class.

    ``kind`` is one of ``string``, ``integer``, ``number``, ``boolean``, ``enum``, ``bits``,
    ``dn`` (a DN reference), ``struct`` (members in ``fields``), ``union`` (alternatives in
    ``members``), ``empty`` or ``any``; ``multi`` says it holds a list of such values.
    A ``dn`` points to an object of one of ``ref_classes`` (any class when empty), unless
    ``external``: then it names something outside the managed object tree (a DN prefix).
    """

    name: str
    openapi_name: str
    kind: str
    multi: bool = False
    mandatory: bool = False
    readonly: bool = False
    source: str = "both"
    ranges: tuple[Range, ...] = ()
    lengths: tuple[Range, ...] = ()
    patterns: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    fields: dict[str, AttrSpec] = field(default_factory=dict)
    members: tuple[AttrSpec, ...] = ()
    min_items: int | None = None
    max_items: int | None = None
    ref_classes: frozenset[str] = frozenset()
    external: bool = False
    default: Any = None
    units: str | None = None
    typedef: str | None = None
    conv: str | None = None
    openapi: dict[str, Any] = field(default_factory=dict)
    openapi_path: tuple[str, ...] = ()

    @property
    def openapi_multi(self) -> bool:
        """Whether the OpenAPI spelling holds a list."""
        return bool(self.openapi.get("list", self.multi))


@dataclass(frozen=True, slots=True)
class ClassSpec:
    """One IOC: its two spellings, where it may be contained and its attributes."""

    name: str
    openapi_name: str
    parents: frozenset[str]
    can_be_root: bool
    attributes: dict[str, AttrSpec]
    any_parent: bool = False
    source: str = "both"
    parent_sources: dict[str, str] = field(default_factory=dict)
    children: dict[str, str] = field(default_factory=dict)
    yang_module: str | None = None
    openapi_file: str | None = None
    openapi_flat_attributes: frozenset[str] = frozenset()

    def attribute(self, name: str) -> AttrSpec | None:
        """The attribute called ``name`` in either spelling, or None."""
        spec = self.attributes.get(name)
        if spec is not None:
            return spec
        for attr in self.attributes.values():
            if attr.openapi_name == name:
                return attr
        return None

    @property
    def mandatory(self) -> tuple[str, ...]:
        """Names of the attributes the class requires."""
        return tuple(n for n, a in self.attributes.items() if a.mandatory)


def _ranges(raw: Any) -> tuple[Range, ...]:
    # Intervals are [lo, hi] (None: unbounded); a single allowed value is written bare.
    return tuple((r[0], r[1]) if isinstance(r, list) else (r, r) for r in raw or ())


def _attr(name: str, raw: Mapping[str, Any]) -> AttrSpec:
    return AttrSpec(
        name=name,
        openapi_name=raw.get("oa", name),
        kind=raw.get("kind", "any"),
        multi=bool(raw.get("list")),
        mandatory=bool(raw.get("mandatory")),
        readonly=bool(raw.get("readonly")),
        source=raw.get("src", "both"),
        ranges=_ranges(raw.get("range")),
        lengths=_ranges(raw.get("length")),
        patterns=tuple(raw.get("pattern", ())),
        values=tuple(raw.get("values", ())),
        fields={n: _attr(n, f) for n, f in raw.get("fields", {}).items()},
        members=tuple(_attr("", t) for t in raw.get("types", ())),
        min_items=raw.get("min_items"),
        max_items=raw.get("max_items"),
        ref_classes=frozenset(raw.get("refs", ())),
        external=bool(raw.get("external")),
        default=raw.get("default"),
        units=raw.get("units"),
        typedef=raw.get("typedef"),
        conv=raw.get("conv"),
        openapi=dict(raw.get("openapi", {})),
        openapi_path=tuple(raw.get("oa_path", ())),
    )


def _class(name: str, raw: Mapping[str, Any]) -> ClassSpec:
    parents = dict(raw.get("parents", {}))
    return ClassSpec(
        name=name,
        openapi_name=raw.get("oa", name),
        parents=frozenset(parents),
        can_be_root=bool(raw.get("root")),
        attributes={n: _attr(n, a) for n, a in raw.get("attrs", {}).items()},
        any_parent=bool(raw.get("any_parent")),
        source=raw.get("src", "both"),
        parent_sources=parents,
        children=dict(raw.get("children", {})),
        yang_module=raw.get("yang_module"),
        openapi_file=raw.get("oa_file"),
        openapi_flat_attributes=frozenset(raw.get("oa_flat_attrs", ())),
    )


class Registry:
    """All known classes, looked up by their stage-2 or their OpenAPI name."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.sources: dict[str, Any] = dict(data.get("sources", {}))
        self._classes = {n: _class(n, raw) for n, raw in sorted(data["classes"].items())}
        self._by_name: dict[str, ClassSpec] = {}
        for spec in self._classes.values():
            self._by_name.setdefault(spec.openapi_name, spec)
        self._by_name.update(self._classes)  # a stage-2 name wins over an OpenAPI one

    @classmethod
    def from_json(cls, text: str | bytes) -> Registry:
        """A registry from the text of a generated registry file."""
        return cls(json.loads(text))

    def get(self, name: str) -> ClassSpec | None:
        """The class called ``name`` (``NRCellDU`` or ``NrCellDu``), or None."""
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[ClassSpec]:
        return iter(self._classes.values())

    def __len__(self) -> int:
        return len(self._classes)

    def classes(self) -> list[ClassSpec]:
        """Every class, sorted by stage-2 name."""
        return list(self._classes.values())

    def canonical_name(self, name: str) -> str | None:
        """The stage-2 name of a class given in either spelling, or None when unknown."""
        spec = self._by_name.get(name)
        return spec.name if spec else None

    def allowed_parent(self, cls: str, parent_cls: str | None) -> bool:
        """Whether a ``cls`` object may sit under a ``parent_cls`` one (None: at the root)."""
        # An unknown class is not judged; a known class under an unknown parent is refused.
        spec = self._by_name.get(cls)
        if spec is None:
            return True
        if parent_cls is None:
            return spec.can_be_root
        if spec.any_parent:
            return True
        parent = self._by_name.get(parent_cls)
        return parent is not None and parent.name in spec.parents


def load_registry() -> Registry:
    """Read the shipped ``registry.json`` (a new Registry on every call)."""
    text = resources.files("mns.nrm").joinpath("registry.json").read_bytes()
    return Registry.from_json(text)


@functools.cache
def default_registry() -> Registry:
    """The shipped registry, loaded once."""
    return load_registry()

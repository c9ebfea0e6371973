"""The two naming dialects a producer may speak, seen from the suite.

The suite plans and compares in the canonical stage-2 form (``NRCellDU``, ``nRPCI``, ``nRTAC``
as an integer) and speaks the producer's dialect on the wire:

- ``stage2``: the stage-2 / YANG names and value forms everywhere (what TS 28.541 stage 2, the
  YANG modules and most producers use);
- ``openapi``: the Rel-18 OpenAPI spelling (``NrCellDu``, ``nrPci``, TAC as hex digits, nested
  PLMN info), translated by :mod:`mns.nrm.dialect`. The class names in DNs (URIs,
  ``objectInstance`` and DN-valued attributes) follow the same spelling, so that the URI class
  of a resource equals its ``objectClass``, as TS 32.158 builds URIs.

Whatever the producer speaks, objects are validated in the OpenAPI spelling, the only one the
official JSON schemas know.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from mns.errors import MnsError
from mns.nrm.dialect import Dialect
from mns.nrm.dn import DN
from mns.nrm.registry import Registry

STAGE2: Final = "stage2"
OPENAPI: Final = "openapi"
AUTO: Final = "auto"
DIALECTS: Final = (AUTO, STAGE2, OPENAPI)


class Spelling:
    """Canonical (stage-2) <-> wire names and values for one dialect."""

    def __init__(self, dialect: str, registry: Registry) -> None:
        if dialect not in (STAGE2, OPENAPI):
            raise ValueError(f"dialect {dialect!r} is not one of {STAGE2}, {OPENAPI}")
        self.dialect = dialect
        self.registry = registry
        self.translator = Dialect(registry)

    @property
    def openapi(self) -> bool:
        """Whether the wire speaks the OpenAPI spelling."""
        return self.dialect == OPENAPI

    # -- classes and DNs ----------------------------------------------------------------------

    def cls(self, canonical: str) -> str:
        """The wire name of a class."""
        return self.translator.class_to_openapi(canonical) if self.openapi else canonical

    def canonical_cls(self, wire: str) -> str:
        """The stage-2 name of a class as the wire spells it (unknown names as given)."""
        return self.translator.class_from_openapi(wire)

    def dn(self, canonical: DN) -> DN:
        """A DN with its classes spelled for the wire."""
        if not self.openapi:
            return canonical
        return DN(tuple((self.cls(c), i) for c, i in canonical.rdns))

    def canonical_dn(self, wire: DN) -> DN:
        """A wire DN with stage-2 class names."""
        return DN(tuple((self.canonical_cls(c), i) for c, i in wire.rdns))

    def child_key(self, parent: str, child: str) -> str:
        """The key a parent resource holds its ``child`` class children under (canonical names)."""
        return self.translator.child_key(parent, child) if self.openapi else child

    def child_class(self, parent: str, key: str) -> str:
        """The stage-2 class of a child key as the wire spells it under a (canonical) parent."""
        return self.translator.child_class(parent, key)

    # -- attributes ---------------------------------------------------------------------------

    def attr(self, cls: str, name: str) -> str:
        """The wire name of an attribute of a (canonical) class."""
        if not self.openapi:
            return name
        spec = self.registry.get(cls)
        found = spec.attributes.get(name) if spec else None
        return found.openapi_name if found else name

    def attrs(self, cls: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical attributes of a (canonical) class in the wire spelling."""
        if not self.openapi:
            return dict(attrs)
        _, out = self.translator.to_openapi(cls, self._map_dns(cls, attrs, self.dn))
        return out

    def canonical_attrs(self, cls: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Wire attributes of a (canonical) class in the canonical form."""
        if not self.openapi:
            return dict(attrs)
        _, out = self.translator.from_openapi(cls, attrs)
        return self._map_dns(cls, out, self.canonical_dn)

    def to_openapi(self, cls: str, attrs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """(OpenAPI class, OpenAPI attributes) of wire attributes of a (canonical) class."""
        if self.openapi:
            return self.translator.class_to_openapi(cls), dict(attrs)
        return self.translator.to_openapi(cls, attrs)

    def _map_dns(self, cls: str, attrs: Mapping[str, Any], convert: Any) -> dict[str, Any]:
        """Respell the classes inside the DN-valued attributes (top level) of an object."""
        spec = self.registry.get(cls)
        out = dict(attrs)
        if spec is None:
            return out
        for name, value in attrs.items():
            a = spec.attributes.get(name)
            if a is None or a.kind != "dn":
                continue
            if isinstance(value, str):
                out[name] = _respell(value, convert)
            elif isinstance(value, list):
                out[name] = [_respell(v, convert) if isinstance(v, str) else v for v in value]
        return out


def _respell(text: str, convert: Any) -> str:
    try:
        return str(convert(DN.parse(text)))
    except MnsError:
        return text

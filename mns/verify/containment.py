"""Containment family: every object sits under a parent class its class allows (TS 28.541 name containment).

The parent's class is the class of the DN's parent RDN, so the check needs no read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mns.nrm.registry import default_registry
from mns.verify.model import Finding, Rule, Severity, View, each_object
from mns.verify.views import class_of, parent_of


def check_object(dn: str, cls: str, attrs: Mapping[str, Any], view: View) -> Iterator[Finding]:
    """An error when the registry does not allow ``cls`` under its parent's class (or at the root)."""
    registry = default_registry()
    parent = parent_of(dn)
    parent_cls = class_of(parent) if parent else None
    if registry.allowed_parent(cls, parent_cls):
        return
    spec = registry.get(cls)
    allowed = sorted(spec.parents) if spec else []
    where = f"under {parent_cls}" if parent_cls else "as a root object"
    yield Finding(
        "containment",
        Severity.ERROR,
        dn,
        f"{cls} cannot be contained {where}; allowed parents: {', '.join(allowed) or 'none'}",
        {"class": cls, "parentClass": parent_cls, "allowedParents": allowed},
    )


RULES: list[Rule] = [
    Rule(
        name="containment",
        family="containment",
        description="Each object's parent is of a class its class may be contained in",
        severity=Severity.ERROR,
        looks_at=(),
        check=each_object(check_object),
        each=check_object,
    )
]

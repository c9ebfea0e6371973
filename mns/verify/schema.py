"""Schema family: each object against its class in the registry (``mns.nrm.validate``), as findings.

The store refuses objects with errors when they are written, so in a twin these findings are
mostly the warnings it keeps (missing mandatory attributes, unknown attributes), and the errors
of objects written before a registry change or under a laxer validator. Containment is left to
its own family (``mns.verify.containment``); read-only checks concern writes, not states.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Final

from mns.nrm import validate
from mns.nrm.registry import default_registry
from mns.verify.model import Finding, Rule, Severity, View, each_object
from mns.verify.views import class_of, parent_of

_SKIPPED: Final = frozenset({validate.CONTAINMENT, validate.UNMODELLED, validate.READ_ONLY})


@cache
def _validator() -> validate.Validator:
    return validate.Validator(default_registry())


def check_object(dn: str, cls: str, attrs: Mapping[str, Any], view: View) -> Iterator[Finding]:
    """The registry's findings on one object, but containment, unmodelled classes and read-only."""
    parent = parent_of(dn)
    found = _validator().validate(dn, cls, attrs, parent_cls=class_of(parent) if parent else None)
    for f in found:
        if f.rule in _SKIPPED:
            continue
        top = f.attribute.split(".", 1)[0].split("[", 1)[0] if f.attribute else None
        evidence: dict[str, Any] = {"check": f.rule, "class": cls}
        if top is not None:
            evidence["value"] = attrs.get(top)
        yield Finding("schema", Severity(f.severity), dn, f.message, evidence, attribute=f.attribute)


RULES: list[Rule] = [
    Rule(
        name="schema",
        family="schema",
        description="Attributes have the registry's types, ranges and enumerations; mandatory ones are "
        "present (warning) and unknown ones reported (warning)",
        severity=Severity.ERROR,
        looks_at=(),
        check=each_object(check_object),
        each=check_object,
    )
]

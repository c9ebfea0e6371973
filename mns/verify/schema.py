"""Schema family: each object against its class in the registry (``mns.nrm.validate``), as findings.

The store refuses objects with errors when they are written, so in a twin these findings are
mostly the warnings it keeps (missing mandatory attributes, unknown attributes), and the errors
of objects written before a registry change or under a laxer validator. Containment is left to
its own family (``mns.verify.containment``); read-only checks concern writes, not states.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Any, Final

from mns.nrm import validate
from mns.nrm.registry import default_registry
from mns.verify.model import Finding, Rule, Severity, View, each_object

_SKIPPED: Final = frozenset({validate.CONTAINMENT, validate.UNMODELLED, validate.READ_ONLY})


@cache
def _validator() -> validate.Validator:
    return validate.Validator(default_registry())


_SEVERITY: Final = {s.value: s for s in Severity}
_passers: dict[str, Callable[[Mapping[str, Any]], bool]] = {}
"""Class -> whether an object of it has nothing for this rule (the validator's fast path)."""


@lru_cache(maxsize=4096)
def _missing(cls: str, found: validate.Finding) -> tuple[Severity, Mapping[str, Any]]:
    """Severity and evidence of a missing-attribute finding: the same for every object of a class.

    Objects of one class usually miss the same attributes (a twin of real networks holds many),
    so these findings share one read-only evidence mapping.
    """
    evidence = {"check": found.rule, "class": cls, "value": None}
    return _SEVERITY[found.severity], MappingProxyType(evidence)


def _top(path: str) -> bool:
    return "." not in path and "[" not in path


def check_object(dn: str, cls: str, attrs: Mapping[str, Any], view: View) -> list[Finding]:
    """The registry's findings on one object, but containment, unmodelled classes and read-only."""
    return _findings(dn, cls, attrs)


def _findings(dn: str, cls: str, attrs: Mapping[str, Any]) -> list[Finding]:
    passes = _passers.get(cls)
    if passes is None:
        passes = _passers[cls] = _validator().passer(cls)
    if passes(attrs):
        return []
    found = _validator().validate(dn, cls, attrs, parent_cls=None, containment=False)  # its own family
    if not found:
        return []
    out: list[Finding] = []
    for f in found:
        if f.rule in _SKIPPED:
            continue
        if f.rule == validate.MANDATORY and f.attribute and _top(f.attribute) and attrs.get(f.attribute) is None:
            severity, shared = _missing(cls, f)
            out.append(Finding("schema", severity, dn, f.message, shared, attribute=f.attribute))
            continue
        top = f.attribute.split(".", 1)[0].split("[", 1)[0] if f.attribute else None
        evidence: dict[str, Any] = {"check": f.rule, "class": cls}
        if top is not None:
            evidence["value"] = attrs.get(top)
        out.append(Finding("schema", _SEVERITY[f.severity], dn, f.message, evidence, attribute=f.attribute))
    return out


Template = tuple[tuple[Severity, str, Mapping[str, Any], str | None], ...]
_templates: dict[tuple[str, frozenset[str]], Template] = {}
"""(class, mandatory attributes absent) -> the findings of an object otherwise sound, but its DN."""


def check_run(cls: str, dns: Sequence[str], objs: Sequence[dict[str, Any]]) -> list[Finding]:
    """``check_object`` of a run of objects of one class (parsed JSON).

    Objects whose present attributes all pass differ only by the mandatory ones they lack: their
    findings are made from one template per class and absent set.
    """
    validator = _validator()
    passes = _passers.get(cls)
    if passes is None:
        passes = _passers[cls] = validator.passer(cls)
    absent_of = validator.missing_only(cls)
    out: list[Finding] = []
    for dn, attrs in zip(dns, objs, strict=True):
        if passes(attrs):
            continue
        absent = absent_of(attrs)
        made = _templates.get((cls, absent)) if absent is not None else None
        if made is None:
            found = _findings(dn, cls, attrs)
            out += found
            if absent is not None and len(_templates) < 4096:
                _templates[(cls, absent)] = tuple((f.severity, f.message, f.evidence, f.attribute) for f in found)
            continue
        out += [Finding("schema", sev, dn, msg, ev, attribute=attr) for sev, msg, ev, attr in made]
    return out


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

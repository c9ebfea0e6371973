"""Containment family: every object sits under a parent class its class allows (TS 28.541 name containment).

The parent's class is the class of the DN's parent RDN, so the check needs no read, and its verdict
is the same for every object of one class under one parent class (memoised).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import repeat
from operator import contains, itemgetter
from typing import Any

from mns.nrm.registry import default_registry
from mns.verify.model import Finding, Rule, Severity, View, each_object
from mns.verify.views import class_of, parent_class


@lru_cache(maxsize=4096)
def _verdict(cls: str, parent_cls: str | None) -> tuple[str, dict[str, Any]] | None:
    """(message, evidence) when the registry does not allow ``cls`` under ``parent_cls``, else None."""
    registry = default_registry()
    if registry.allowed_parent(cls, parent_cls):
        return None
    spec = registry.get(cls)
    allowed = sorted(spec.parents) if spec else []
    where = f"under {parent_cls}" if parent_cls else "as a root object"
    message = f"{cls} cannot be contained {where}; allowed parents: {', '.join(allowed) or 'none'}"
    return message, {"class": cls, "parentClass": parent_cls, "allowedParents": allowed}


Verdict = tuple[str, dict[str, Any]] | None

_last: list[tuple[str, str, Verdict]] = [("", "", None)]
"""(parent DN, class, verdict) of the last object checked: siblings of one class come in a row."""


def check_object(dn: str, cls: str, attrs: Mapping[str, Any], view: View) -> list[Finding]:
    """An error when the registry does not allow ``cls`` under its parent's class (or at the root)."""
    parent, last_cls, verdict = _last[0]  # one read: another thread may replace it meanwhile
    i = dn.rfind(",")
    if i <= 0 or "\\" in dn:
        verdict = _verdict(cls, parent_class(dn))
    elif cls != last_cls or len(parent) != i or not dn.startswith(parent):
        verdict = _verdict(cls, parent_class(dn))
        _last[0] = (dn[:i], cls, verdict)
    if verdict is None:
        return []
    message, evidence = verdict
    return [Finding("containment", Severity.ERROR, dn, message, dict(evidence))]


def check_run(cls: str, dns: Sequence[str]) -> list[Finding]:
    """``check_object`` of a run of objects of one class (an audit's scan): the verdict once per parent.

    The usual run (no escapes, every parent allowed) is told a run at a time.
    """
    size = len(dns)
    if size and not any(map(contains, dns, repeat("\\", size))):
        parents = set(map(itemgetter(0), map(str.rpartition, dns, repeat(",", size))))
        if all(_verdict(cls, class_of(p) if p else None) is None for p in parents):
            return []
    out: list[Finding] = []
    for dn in dns:
        found = _verdict(cls, parent_class(dn))
        if found is not None:
            message, evidence = found
            out.append(Finding("containment", Severity.ERROR, dn, message, dict(evidence)))
    return out


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

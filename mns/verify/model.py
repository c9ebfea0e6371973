"""What verification speaks in: rules as data, findings, and reports that compare base and sandbox.

A :class:`Rule` is data: its name, family, description, severity, and the classes it looks
at. Its ``check`` is a function of a :class:`Scope` (the network state it reads and the
objects it must look at) that yields :class:`Finding` s. The engine (``mns.verify.engine``) picks
the rules whose classes a change set touches, gives them the touched objects and their
neighbourhoods, and runs them on the base and on the sandbox, so a report can tell the findings
a change introduced from those it fixed and those that were there already.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class Severity(enum.StrEnum):
    """How much a finding weighs: errors block deployment, warnings need an acknowledgement."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken rule at one object: what, where, why, and the facts that show it."""

    rule: str
    severity: Severity
    dn: str
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    related: tuple[str, ...] = ()
    """Other objects the finding is about (the other cell of a PCI collision...), sorted."""
    attribute: str | None = None
    """The attribute it is about, where one rule can find several problems in one object."""

    @property
    def key(self) -> tuple[str, str, tuple[str, ...], str | None]:
        """What identifies the same finding in the base and in the sandbox."""
        return (self.rule, self.dn, self.related, self.attribute)

    def as_json(self) -> dict[str, Any]:
        """The JSON form of reports."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity.value,
            "dn": self.dn,
            "message": self.message,
            "evidence": dict(self.evidence),
        }
        if self.related:
            out["related"] = list(self.related)
        if self.attribute is not None:
            out["attribute"] = self.attribute
        return out


class View(Protocol):
    """One state of the network (the live twin or a sandbox, at a revision), read-only."""

    def get(self, dn: str) -> tuple[str, dict[str, Any]] | None:
        """(class, attributes) of an object, or None."""
        ...

    def children(self, dn: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(DN, class, attributes) of the objects right below ``dn``."""
        ...

    def of_class(self, cls: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(DN, attributes) of every object of a class."""
        ...


@dataclass(slots=True)
class Scope:
    """What one rule run sees: the state, and the objects it must look at (None: all of them)."""

    view: View
    dns: frozenset[str] | None
    context: Mapping[str, Any] = field(default_factory=dict)
    """Shared, lazily built helpers of the run (indexes of cells, neighbours, PM...)."""

    def looks_at(self, dn: str) -> bool:
        """Whether ``dn`` is among the objects to look at."""
        return self.dns is None or dn in self.dns


Check = Callable[[Scope], Iterable[Finding]]

ObjectCheck = Callable[[str, str, Mapping[str, Any], View], Iterable[Finding]]
"""A check of one object on its own: (dn, class, attributes, view) -> findings."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A verification rule as data; ``check`` does the looking."""

    name: str
    family: str
    description: str
    severity: Severity
    looks_at: tuple[str, ...]
    """The classes whose objects it examines (a change of one of them brings the rule in)."""
    check: Check = field(compare=False, repr=False)
    each: ObjectCheck | None = field(default=None, compare=False, repr=False)
    """Set for rules that judge each object alone (schema, containment, references): the audit
    runs it on the objects as it streams them, and the engine only on the objects changed."""

    def as_json(self) -> dict[str, Any]:
        """The JSON form (rule listings)."""
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "severity": self.severity.value,
            "looksAt": list(self.looks_at),
        }


@dataclass(slots=True)
class Report:
    """The findings on a sandbox against its base: introduced, fixed, unchanged."""

    findings: list[Finding]
    """Everything found on the sandbox, in the scope verified."""
    introduced: list[Finding]
    fixed: list[Finding]
    unchanged: list[Finding]
    rules: list[str]
    objects: int
    """Objects looked at."""
    seconds: float = 0.0
    base_rev: int | None = None
    """The live revision the change set was verified against."""
    revision: int | None = None
    """The sandbox head revision verified (None for a change set outside a sandbox)."""

    @property
    def errors(self) -> list[Finding]:
        """The findings that block deployment."""
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """The findings a deployment needs acknowledged."""
        return [f for f in self.findings if f.severity is Severity.WARNING]

    def as_json(self) -> dict[str, Any]:
        """The JSON form stored with the sandbox and answered by the API."""
        return {
            "baseRevision": self.base_rev,
            "revision": self.revision,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "objects": self.objects,
            "rules": self.rules,
            "seconds": round(self.seconds, 4),
            "findings": [f.as_json() for f in self.findings],
            "introduced": [f.as_json() for f in self.introduced],
            "fixed": [f.as_json() for f in self.fixed],
            "unchanged": [f.as_json() for f in self.unchanged],
        }


def compare(base: Iterable[Finding], sandbox: Iterable[Finding]) -> tuple[list[Finding], list[Finding], list[Finding]]:
    """(introduced, fixed, unchanged) between the findings on the base and on the sandbox."""
    before = {f.key: f for f in base}
    after = {f.key: f for f in sandbox}
    introduced = [f for k, f in after.items() if k not in before]
    fixed = [f for k, f in before.items() if k not in after]
    unchanged = [f for k, f in after.items() if k in before]
    return introduced, fixed, unchanged


def each_object(each: ObjectCheck, classes: tuple[str, ...] = ()) -> Check:
    """The ``check`` of a per-object rule: ``each`` over the objects changed (the engine puts them in
    ``context["objects"]``), else over the scope's objects, else over every object of ``classes``."""

    def check(scope: Scope) -> Iterator[Finding]:
        dns = scope.context.get("objects", scope.dns)
        if dns is None:
            for cls in classes:
                for dn, attrs in scope.view.of_class(cls):
                    yield from each(dn, cls, attrs, scope.view)
            return
        for dn in sorted(dns):
            found = scope.view.get(dn)
            if found is not None:
                yield from each(dn, found[0], found[1], scope.view)

    return check

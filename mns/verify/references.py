"""References family: every DN-valued attribute resolves to an object of a class it may point to.

The registry marks DN attributes (``kind == "dn"``) with the classes they may point to; those that
name something outside the tree (``external``: ``dnPrefix``, ``managedBy``) are not followed.
Members of structured attributes are followed one level down. Two rules: ``dangling-reference``
(nothing there) and ``reference-class`` (an object of another class).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import Any, Final

from mns.nrm.registry import AttrSpec, default_registry
from mns.verify.model import Finding, ObjectCheck, Rule, Severity, View, each_object

DANGLING: Final = "dangling-reference"
WRONG_CLASS: Final = "reference-class"

Refs = tuple[tuple[str, str | None, AttrSpec], ...]


_REFS: dict[str, Refs] = {}


def _refs(cls: str) -> Refs:
    """(attribute, struct member or None, spec) of the class's followed DN attributes (memoised)."""
    found = _REFS.get(cls)
    if found is None:
        found = _REFS[cls] = _refs_of(cls)
    return found


def _refs_of(cls: str) -> Refs:
    spec = default_registry().get(cls)
    if spec is None:
        return ()
    out: list[tuple[str, str | None, AttrSpec]] = []
    for name, attr in spec.attributes.items():
        if attr.kind == "dn" and not attr.external:
            out.append((name, None, attr))
        elif attr.kind == "struct":
            out += [(name, m, f) for m, f in attr.fields.items() if f.kind == "dn" and not f.external]
    return tuple(out)


def follows(cls: str) -> bool:
    """Whether objects of ``cls`` have DN attributes these rules follow."""
    return bool(_refs(cls))


def _targets(attrs: Mapping[str, Any], refs: Refs) -> list[tuple[str, AttrSpec, str]]:
    out: list[tuple[str, AttrSpec, str]] = []
    for name, member, spec in refs:
        value = attrs.get(name)
        if value is None:
            continue
        if member is None:
            for target in value if isinstance(value, list) else [value]:
                if isinstance(target, str):
                    out.append((name, spec, target))
            continue
        for i, entry in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(entry, dict) and entry.get(member) is not None:
                inner = entry[member]
                for target in inner if isinstance(inner, list) else [inner]:
                    if isinstance(target, str):
                        out.append((f"{name}[{i}].{member}", spec, target))
    return out


def check_object(dn: str, cls: str, attrs: Mapping[str, Any], view: View) -> list[Finding]:
    """A finding per DN attribute value of the object that does not resolve as the registry says."""
    refs = _refs(cls)
    if not refs:
        return []
    # The usual object: every reference a single DN that resolves, checked without building anything.
    get = view.get
    for name, member, spec in refs:
        value = attrs.get(name)
        if value is None:
            continue
        if member is not None or type(value) is not str:
            break
        found = get(value)
        if found is None or (spec.ref_classes and found[0] not in spec.ref_classes):
            break
    else:
        return []
    out: list[Finding] = []
    for path, spec, target in _targets(attrs, refs):
        found = view.get(target)
        if found is None:
            out.append(
                Finding(
                    DANGLING,
                    Severity.ERROR,
                    dn,
                    f"{path} points to {target}, which does not exist",
                    {"attribute": path, "target": target, "allowedClasses": sorted(spec.ref_classes)},
                    related=(target,),
                    attribute=path,
                )
            )
        elif spec.ref_classes and found[0] not in spec.ref_classes:
            allowed = sorted(spec.ref_classes)
            out.append(
                Finding(
                    WRONG_CLASS,
                    Severity.ERROR,
                    dn,
                    f"{path} points to {target}, a {found[0]}; it may point to {', '.join(allowed)}",
                    {"attribute": path, "target": target, "targetClass": found[0], "allowedClasses": allowed},
                    related=(target,),
                    attribute=path,
                )
            )
    return out


class Deferred:
    """The references of a scan of the whole state, resolved once the scan is over (the audit).

    While the scan runs, only the distinct targets of each class's DN attributes are collected,
    an attribute at a time across a run of objects. At the end each distinct target is resolved
    once (``unresolved``); only objects pointing at a target that did not resolve as its
    attribute needs are checked one by one (``check_object``), to say which and why.
    """

    def __init__(self) -> None:
        self.targets: dict[str, list[set[Any]]] = {}
        """Class -> per followed attribute (as ``_refs`` lists them), the values seen."""

    def add(self, cls: str, objs: Sequence[dict[str, Any]]) -> None:
        """Collect the targets of a run of objects of ``cls`` (parsed JSON)."""
        refs = _refs(cls)
        if not refs:
            return
        sets = self.targets.get(cls)
        if sets is None:
            sets = self.targets[cls] = [set() for _ in refs]
        size = len(objs)
        for (name, member, spec), into in zip(refs, sets, strict=True):
            if member is not None:
                into.update(t for attrs in objs for _, _, t in _targets(attrs, ((name, member, spec),)))
                continue
            values = map(dict.get, objs, repeat(name, size))
            if not spec.multi:
                try:
                    into.update(values)  # one DN or none (what is not a DN is left out at the end)
                    continue
                except TypeError:  # a value of no DN type, unhashable: the long way
                    values = map(dict.get, objs, repeat(name, size))
            for v in values:
                if isinstance(v, str):
                    into.add(v)
                elif isinstance(v, list):
                    into.update(t for t in v if isinstance(t, str))

    def unresolved(self, get: Callable[[str], tuple[str, Any] | None]) -> dict[str, set[str]]:
        """Class -> the targets that do not exist, or are of a class their attribute does not allow."""
        out: dict[str, set[str]] = {}
        for cls, sets in self.targets.items():
            for (_, _, spec), targets in zip(_refs(cls), sets, strict=True):
                allowed = spec.ref_classes
                for target in targets:
                    if not isinstance(target, str):
                        continue
                    found = get(target)
                    if found is None or (allowed and found[0] not in allowed):
                        out.setdefault(cls, set()).add(target)
        return out


def points_at(cls: str, attrs: Mapping[str, Any], targets: set[str]) -> bool:
    """Whether an object of ``cls`` has a reference to one of ``targets``."""
    return any(t in targets for _, _, t in _targets(attrs, _refs(cls)))


class _Shared(threading.local):
    """The two rules of the family share one resolution of an object's references.

    The audit and the engine call each rule's check on one object right after the other; the
    second call reuses the first's findings when it is about the same object (the same
    attributes, not a copy) in the same view. Per thread; the view is held weakly, so an
    audit's memory goes with it.
    """

    def __init__(self) -> None:
        self.dn = ""
        self.attrs: Mapping[str, Any] | None = None
        self.view: weakref.ref[View] | None = None
        self.found: list[Finding] = []

    def findings(self, dn: str, cls: str, attrs: Mapping[str, Any], view: View) -> list[Finding]:
        held = self.view() if self.view is not None else None
        if attrs is not self.attrs or held is not view or dn != self.dn:
            self.found = check_object(dn, cls, attrs, view)
            self.dn, self.attrs, self.view = dn, attrs, weakref.ref(view)
        return self.found


_shared = _Shared()


def _only(rule: str) -> ObjectCheck:
    def each(dn: str, cls: str, attrs: Mapping[str, Any], view: View) -> list[Finding]:
        if not _refs(cls):
            return []
        found = _shared.findings(dn, cls, attrs, view)
        return [f for f in found if f.rule == rule] if found else []

    return each


RULES: list[Rule] = [
    Rule(
        name=DANGLING,
        family="references",
        description="Every DN-valued attribute points to an object that exists",
        severity=Severity.ERROR,
        looks_at=(),
        check=each_object(_only(DANGLING)),
        each=_only(DANGLING),
    ),
    Rule(
        name=WRONG_CLASS,
        family="references",
        description="Every DN-valued attribute points to an object of a class the attribute allows",
        severity=Severity.ERROR,
        looks_at=(),
        check=each_object(_only(WRONG_CLASS)),
        each=_only(WRONG_CLASS),
    ),
]

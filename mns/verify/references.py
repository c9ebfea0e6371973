"""References family: every DN-valued attribute resolves to an object of a class it may point to.

The registry marks DN attributes (``kind == "dn"``) with the classes they may point to; those that
name something outside the tree (``external``: ``dnPrefix``, ``managedBy``) are not followed.
Members of structured attributes are followed one level down. Two rules: ``dangling-reference``
(nothing there) and ``reference-class`` (an object of another class).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Final

from mns.nrm.registry import AttrSpec, default_registry
from mns.verify.model import Finding, ObjectCheck, Rule, Severity, View, each_object

DANGLING: Final = "dangling-reference"
WRONG_CLASS: Final = "reference-class"

Refs = tuple[tuple[str, str | None, AttrSpec], ...]


@cache
def _refs(cls: str) -> Refs:
    """(attribute, struct member or None, spec) of the class's followed DN attributes."""
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


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, str)]


def _targets(attrs: Mapping[str, Any], refs: Refs) -> Iterator[tuple[str, AttrSpec, str]]:
    for name, member, spec in refs:
        value = attrs.get(name)
        if value is None:
            continue
        if member is None:
            for target in _values(value):
                yield name, spec, target
            continue
        for i, entry in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(entry, dict) and entry.get(member) is not None:
                for target in _values(entry[member]):
                    yield f"{name}[{i}].{member}", spec, target


def check_object(dn: str, cls: str, attrs: Mapping[str, Any], view: View) -> Iterator[Finding]:
    """A finding per DN attribute value of the object that does not resolve as the registry says."""
    refs = _refs(cls)
    if not refs:
        return
    for path, spec, target in _targets(attrs, refs):
        found = view.get(target)
        allowed = sorted(spec.ref_classes)
        if found is None:
            yield Finding(
                DANGLING,
                Severity.ERROR,
                dn,
                f"{path} points to {target}, which does not exist",
                {"attribute": path, "target": target, "allowedClasses": allowed},
                related=(target,),
                attribute=path,
            )
        elif allowed and found[0] not in spec.ref_classes:
            yield Finding(
                WRONG_CLASS,
                Severity.ERROR,
                dn,
                f"{path} points to {target}, a {found[0]}; it may point to {', '.join(allowed)}",
                {"attribute": path, "target": target, "targetClass": found[0], "allowedClasses": allowed},
                related=(target,),
                attribute=path,
            )


def _only(rule: str) -> ObjectCheck:
    def each(dn: str, cls: str, attrs: Mapping[str, Any], view: View) -> Iterator[Finding]:
        return (f for f in check_object(dn, cls, attrs, view) if f.rule == rule)

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

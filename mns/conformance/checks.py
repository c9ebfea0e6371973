"""The judging parts of the suite: what a response holds, and whether it may hold it.

- :func:`objects_of` takes the resources out of a response body (one resource, a hierarchical
  tree, or a flat list), each with its canonical DN, class and the object without its children;
- :class:`ObjectCheck` validates every object the producer returns against its own class schema
  from the official files (in the OpenAPI spelling), records unknown attributes and child keys
  as findings, and the TS 32.158 representation rules (an ``id`` per object, ``objectInstance``
  equal to the object's place in the tree);
- :class:`ContractCheck` holds each response against what TS28532_ProvMnS.yaml allows the
  operation (status codes and Content-Types);
- :func:`error_body_problems` checks an error body against the ComDefs ``ErrorResponse``;
- :func:`attr_problems` compares attributes read back with what was written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mns.conformance.client import FLAT, Exchange
from mns.conformance.report import ERROR, WARNING, Report
from mns.conformance.schemas import OpenApiSpecs
from mns.conformance.spelling import Spelling
from mns.errors import MnsError
from mns.nrm.dn import DN

RESOURCE_KEYS: Final = frozenset({"id", "objectClass", "objectInstance", "attributes"})
_MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class Found:
    """One resource in a response: canonical DN and class, the object as sent (no children)."""

    dn: str
    cls: str
    obj: dict[str, Any]
    child_keys: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def has_attributes(self) -> bool:
        """Whether it carries ``attributes`` (a returned object, not a connecting frame)."""
        return "attributes" in self.obj

    @property
    def attributes(self) -> dict[str, Any]:
        """Its attributes (empty when none)."""
        attrs = self.obj.get("attributes")
        return attrs if isinstance(attrs, dict) else {}


def _dn_of(text: Any, spelling: Spelling) -> DN | None:
    if not isinstance(text, str):
        return None
    try:
        return spelling.canonical_dn(DN.parse(text))
    except MnsError:
        return None


def _split(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the object's own members, its child containers): children are lists of objects."""
    own: dict[str, Any] = {}
    children: dict[str, Any] = {}
    for key, value in obj.items():
        if key not in RESOURCE_KEYS and isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            children[key] = value
        else:
            own[key] = value
    return own, children


def _walk(obj: dict[str, Any], where: DN, spelling: Spelling, out: list[Found]) -> None:
    own, children = _split(obj)
    problems: list[str] = []
    declared = _dn_of(own.get("objectInstance"), spelling)
    if "objectInstance" in own and declared is None:
        problems.append(f"objectInstance {own['objectInstance']!r} is not a DN")
    if declared is not None and declared != where:
        problems.append(f"objectInstance {declared} is not where the object sits in the tree ({where})")
    if "id" not in own:
        problems.append("no id")
    elif str(own["id"]) != where.id:
        problems.append(f"id {own['id']!r} differs from the id in its DN ({where.id!r})")
    if "objectClass" in own and spelling.canonical_cls(str(own["objectClass"])) != where.cls:
        problems.append(f"objectClass {own['objectClass']!r} differs from its class {where.cls}")
    out.append(Found(str(where), where.cls, own, tuple(children), tuple(problems)))
    for key, items in children.items():
        cls = spelling.child_class(where.cls, key)
        for item in items:
            child_id = item.get("id")
            if child_id is None:
                out.append(Found(f"{where},{cls}=?", cls, item, (), (f"a {key} item has no id",)))
                continue
            _walk(item, where.child(cls, str(child_id)), spelling, out)


def objects_of(ex: Exchange, base: DN, spelling: Spelling) -> tuple[list[Found], list[str]]:
    """The resources of a response body and the problems of its shape.

    ``base`` is the canonical DN the request addressed. A flat body is a list of resources,
    each placed by its ``objectInstance``; any other body is one resource (with its subtree
    nested under child keys) placed at ``base``, or at its ``objectInstance`` when it has one.
    """
    body = ex.body
    found: list[Found] = []
    problems: list[str] = []
    if body is None:
        return found, problems
    if isinstance(body, list):
        if ex.media_type != FLAT:
            problems.append(f"a JSON array answered {ex.accept or 'application/json'}")
        for i, item in enumerate(body):
            if not isinstance(item, dict):
                problems.append(f"item {i} is not a resource object")
                continue
            where = _dn_of(item.get("objectInstance"), spelling)
            if where is None:
                problems.append(f"item {i} has no valid objectInstance (a flat list must name each DN)")
                continue
            _walk(item, where, spelling, found)
        return found, problems
    if not isinstance(body, dict):
        problems.append("the body is not a resource object")
        return found, problems
    if ex.media_type == FLAT:
        problems.append("the flat media type answered with an object, not an array")
    where = _dn_of(body.get("objectInstance"), spelling) or base
    _walk(body, where, spelling, found)
    return found, problems


# -- objects against their class schemas -----------------------------------------------------------


@dataclass
class _ClassTally:
    schema: str | None
    objects: int = 0
    responses: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    unknown_attrs: dict[str, str] = field(default_factory=dict)
    unknown_children: dict[str, str] = field(default_factory=dict)


@dataclass
class ObjectCheck:
    """Every object seen, validated against its own class schema; rows come out at the end."""

    specs: OpenApiSpecs
    spelling: Spelling
    tallies: dict[str, _ClassTally] = field(default_factory=dict)
    shape: list[str] = field(default_factory=list)
    shape_objects: int = 0

    def _schema(self, cls: str) -> tuple[str, str] | None:
        spec = self.spelling.registry.get(cls)
        if spec is None or spec.openapi_file is None:
            return None
        name = f"{spec.openapi_name}-Single"
        return (spec.openapi_file, name) if self.specs.has_schema(spec.openapi_file, name) else None

    def observe(self, ex: Exchange, found: Iterable[Found], problems: Iterable[str] = ()) -> None:
        """Validate the objects of one response."""
        for p in problems:
            self.shape.append(f"{ex.line}: {p}")
        for f in found:
            self.shape_objects += 1
            for p in f.problems:
                self.shape.append(f"{ex.line}: {f.dn}: {p}")
            self._validate(ex, f)

    def _validate(self, ex: Exchange, f: Found) -> None:
        where = self._schema(f.cls)
        tally = self.tallies.get(f.cls)
        if tally is None:
            tally = self.tallies[f.cls] = _ClassTally(f"{where[0]}#/components/schemas/{where[1]}" if where else None)
        tally.objects += 1
        tally.responses.add(ex.line)
        if where is None:
            return
        file, schema = where
        instance = dict(f.obj)
        oa_cls, oa_attrs = self.spelling.to_openapi(f.cls, f.attributes)
        if "attributes" in instance:
            instance["attributes"] = oa_attrs if isinstance(f.obj.get("attributes"), dict) else f.obj["attributes"]
        if "objectClass" in instance and isinstance(instance["objectClass"], str):
            instance["objectClass"] = oa_cls
        problems = self.specs.validate(file, schema, instance)
        if problems:
            tally.error_count += 1
            if len(tally.errors) < 3:
                tally.errors.append(f"{f.dn} in {ex.line}: " + "; ".join(str(p) for p in problems))
        known_attrs, known_top = self.specs.known_keys(file, schema)
        for name in oa_attrs:
            if name not in known_attrs:
                tally.unknown_attrs.setdefault(name, f.dn)
        for key in f.child_keys:
            child = self.spelling.child_class(f.cls, key)
            oa_key = self.spelling.translator.child_key(f.cls, child)
            if oa_key not in known_top:
                tally.unknown_children.setdefault(key, f.dn)
        for key in instance:
            if key not in known_top and key not in RESOURCE_KEYS:
                tally.unknown_attrs.setdefault(f"(member) {key}", f.dn)

    def rows(self, report: Report) -> None:
        """One row per class seen, plus findings for unknown attributes and child keys."""
        if not self.shape_objects and not self.shape:
            return
        report.add(
            "representation: TS 32.158 resources",
            not self.shape,
            "; ".join(self.shape[:4]) + (f" (+{len(self.shape) - 4} more)" if len(self.shape) > 4 else "")
            if self.shape
            else f"{self.shape_objects} objects: each has an id, and objectInstance, objectClass and nesting agree",
        )
        for cls in sorted(self.tallies):
            t = self.tallies[cls]
            seen = f"{t.objects} objects in {len(t.responses)} responses"
            if t.schema is None:
                report.add(
                    f"schema: {cls}",
                    False,
                    f"{seen}; the official files define no schema for class {cls!r}",
                    severity=WARNING,
                )
                continue
            if t.error_count:
                report.add(
                    f"schema: {cls}", False, f"{t.error_count} of {seen} violate {t.schema}: " + " | ".join(t.errors)
                )
            else:
                report.add(f"schema: {cls}", True, f"{seen} valid against {t.schema}")
            if t.unknown_attrs:
                names = ", ".join(f"{n} (e.g. {dn})" for n, dn in sorted(t.unknown_attrs.items())[:6])
                report.add(f"schema: {cls} unknown attributes", False, f"not in {t.schema}: {names}", severity=WARNING)
            if t.unknown_children:
                names = ", ".join(f"{n} (e.g. under {dn})" for n, dn in sorted(t.unknown_children.items()))
                report.add(f"schema: {cls} unknown child keys", False, f"not in {t.schema}: {names}", severity=WARNING)


# -- the ProvMnS contract ----------------------------------------------------------------------


@dataclass
class ContractCheck:
    """Status codes and Content-Types of every response against TS28532_ProvMnS.yaml."""

    specs: OpenApiSpecs

    def problems(self, ex: Exchange) -> tuple[list[str], list[str]]:
        """(violations, findings) of one exchange."""
        if ex.status == 0:
            return [f"{ex.line}: {ex.error}"], []
        op = self.specs.operations.get(ex.method)
        if op is None:
            return [f"{ex.line}: TS28532_ProvMnS.yaml defines no {ex.method}"], []
        if ex.status in op.responses:
            allowed = op.responses[ex.status]
            if not allowed:
                if ex.has_body:
                    return [f"{ex.line}: {ex.status} has no body in TS28532_ProvMnS.yaml, got {ex.excerpt(80)!r}"], []
                return [], []
            if ex.media_type not in allowed:
                return [f"{ex.line}: Content-Type must be one of {', '.join(sorted(allowed))}"], []
            if ex.json_error:
                return [f"{ex.line}: {ex.json_error}"], []
            if ex.method == "GET" and ex.accept and ex.media_type != ex.accept:
                return [f"{ex.line}: answered {ex.media_type} to Accept: {ex.accept}"], []
            return [], []
        if ex.method == "DELETE" and ex.status == 204 and not ex.has_body:
            return [], [f"{ex.line}: TS28532_ProvMnS.yaml lists only 200 for DELETE (204 is tolerated)"]
        if ex.status >= 400 and op.default is not None:
            if ex.media_type not in op.default:
                return [f"{ex.line}: an error body must be {', '.join(sorted(op.default))}"], []
            return [], []
        codes = ", ".join(str(c) for c in sorted(op.responses))
        return [f"{ex.line}: {ex.method} may answer {codes} or an error (4xx/5xx), not {ex.status}"], []

    def rows(self, report: Report, exchanges: Iterable[Exchange]) -> None:
        """One row per method: every response of that method allowed by the contract."""
        by_method: dict[str, list[Exchange]] = defaultdict(list)
        for ex in exchanges:
            by_method[ex.method].append(ex)
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            done = by_method.get(method, [])
            if not done:
                continue
            bad: list[str] = []
            notes: list[str] = []
            for ex in done:
                b, n = self.problems(ex)
                bad += b
                notes += n
            if bad:
                report.add(
                    f"contract: {method} status and Content-Type",
                    False,
                    f"{len(bad)} of {len(done)} responses: " + " | ".join(bad[:4]),
                )
            else:
                codes = sorted({ex.status for ex in done})
                report.add(
                    f"contract: {method} status and Content-Type",
                    True,
                    f"{len(done)} responses ({', '.join(map(str, codes))}) as TS28532_ProvMnS.yaml allows",
                )
            if notes:
                report.add(f"contract: {method} tolerated deviations", False, " | ".join(notes[:4]), severity=WARNING)


# -- error bodies and attribute comparisons -------------------------------------------------------


def error_body_problems(ex: Exchange, specs: OpenApiSpecs) -> list[str]:
    """Why an error response is not a TS 28.623 ErrorResponse (empty when it is one)."""
    if ex.status == 0:
        return [ex.error or "no response"]
    problems: list[str] = []
    if ex.media_type != "application/json":
        problems.append(f"Content-Type {ex.media_type or '(none)'} is not application/json")
    if ex.json_error or not ex.has_body:
        problems.append(ex.json_error or "no body")
        return problems
    file, schema = specs.error_response_ref
    problems += [str(p) for p in specs.validate(file, schema, ex.body)]
    # The official schema requires nothing, so ``{}`` or any object passes it; a body without
    # the ``error`` object says nothing about the error, and is not counted as one.
    if not problems and not (isinstance(ex.body, dict) and isinstance(ex.body.get("error"), dict)):
        problems.append("no 'error' object (TS28623_ComDefs.yaml ErrorResponse: {error: {errorInfo}})")
    return problems


def attr_problems(expected: Mapping[str, Any], got: Mapping[str, Any], removed: Iterable[str] = ()) -> list[str]:
    """What differs between the attributes written (a subset) and those read back."""
    out: list[str] = []
    for name, value in expected.items():
        have = got.get(name, _MISSING)
        if have is _MISSING:
            out.append(f"{name} is missing (expected {value!r})")
        elif have != value:
            out.append(f"{name} is {have!r}, expected {value!r}")
    for name in removed:
        if got.get(name) is not None:
            out.append(f"{name} is {got[name]!r}, expected it removed")
    return out


def select_field(attrs: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """What ``fields=attributes/<path>`` selects from ``attrs`` (lists select in every item)."""

    def pick(value: Any, rest: tuple[str, ...]) -> Any:
        if not rest:
            return value
        if isinstance(value, list):
            return [pick(v, rest) for v in value]
        if isinstance(value, dict) and rest[0] in value:
            return {rest[0]: pick(value[rest[0]], rest[1:])}
        return {}

    out: dict[str, Any] = {}
    if path and path[0] in attrs:
        out[path[0]] = pick(attrs[path[0]], path[1:])
    return out


__all__ = [
    "ERROR",
    "WARNING",
    "ContractCheck",
    "Found",
    "ObjectCheck",
    "attr_problems",
    "error_body_problems",
    "objects_of",
    "select_field",
]

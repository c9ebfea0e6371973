"""The conformance scenario: create a test subtree, read it every way, change it every way,
provoke errors, and delete it again, recording a row for every check.

Steps run in order and later steps build on earlier ones (the patches change what the reads
saw). The subtree is deleted at the end whatever happened before, including a suite error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from mns.conformance.checks import (
    ContractCheck,
    Found,
    ObjectCheck,
    attr_problems,
    error_body_problems,
    objects_of,
    select_field,
)
from mns.conformance.client import FLAT, HIERARCHICAL, JSON, Exchange, ProvClient
from mns.conformance.patches import MERGE_PATCH, patches
from mns.conformance.report import ERROR, WARNING, Report
from mns.conformance.schemas import OpenApiSpecs
from mns.conformance.spelling import AUTO, OPENAPI, STAGE2, Spelling
from mns.conformance.subtree import Subtree, TestMoi, plan_subtree
from mns.nrm.dn import DN
from mns.nrm.registry import Registry

DELETE_OK: Final = frozenset({200, 204})


def _ok(status: int) -> bool:
    return 200 <= status < 300


def _join(problems: Iterable[str]) -> str:
    return "; ".join(problems)


class Scenario:
    """One run of the suite against one producer, writing rows into ``report``."""

    def __init__(
        self,
        client: ProvClient,
        specs: OpenApiSpecs,
        registry: Registry,
        report: Report,
        *,
        dialect: str,
        root_id: str,
    ) -> None:
        self.client = client
        self.specs = specs
        self.registry = registry
        self.report = report
        self.auto = dialect == AUTO
        self.spelling = Spelling(STAGE2 if self.auto else dialect, registry)
        self.objects = ObjectCheck(specs, self.spelling)
        self.contract = ContractCheck(specs)
        self.tree: Subtree = plan_subtree(root_id, registry, self._schema_breakers)
        self.state: dict[str, dict[str, Any]] = {}
        """Canonical DN -> the attributes the producer should hold (what the suite wrote)."""

    # -- helpers --------------------------------------------------------------------------------

    def _schema_breakers(self, cls: str, attrs: dict[str, Any]) -> list[str]:
        """Canonical names of planned attributes the official schema rejects."""
        spec = self.registry.get(cls)
        if spec is None or spec.openapi_file is None:
            return []
        schema = f"{spec.openapi_name}-Single"
        if not self.specs.has_schema(spec.openapi_file, schema):
            return []
        _, oa_attrs = self.spelling.translator.to_openapi(cls, attrs)
        names = []
        for p in self.specs.validate(spec.openapi_file, schema, {"id": "x", "attributes": oa_attrs}, limit=50):
            parts = p.path.split("/")
            if len(parts) >= 2 and parts[0] == "attributes":
                a = spec.attribute(parts[1])
                names.append(a.name if a else parts[1])
        return names

    def rel(self, dn: DN | str) -> str:
        """A DN below the root, for short evidence."""
        text = str(dn)
        root = str(self.tree.root.dn)
        return text[len(root) + 1 :] if text.startswith(root + ",") else text

    def wire(self, dn: DN) -> DN:
        """A canonical DN as the producer spells it."""
        return self.spelling.dn(dn)

    def resource(self, moi: TestMoi, attrs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The PUT body of a planned object (or of other attributes for it), in the wire spelling."""
        return {
            "id": moi.dn.id,
            "objectClass": self.spelling.cls(moi.cls),
            "attributes": self.spelling.attrs(moi.cls, moi.attrs if attrs is None else attrs),
        }

    def observe(self, ex: Exchange, base: DN) -> list[Found]:
        """The objects of a response, validated against their class schemas."""
        if not _ok(ex.status):
            return []
        found, problems = objects_of(ex, base, self.spelling)
        self.objects.observe(ex, found, problems)
        return found

    def canonical(self, f: Found) -> dict[str, Any]:
        """The canonical attributes of a found object."""
        return self.spelling.canonical_attrs(f.cls, f.attributes)

    def add(
        self, check: str, problems: list[str], ex: Exchange | None, ok_text: str = "", *, severity: str = ERROR
    ) -> bool:
        """A row that passes when ``problems`` is empty, with the exchange as evidence."""
        where = ex.line if ex is not None else ""
        if problems:
            detail = _join(problems)
            body = ex.excerpt(160) if ex is not None and ex.status and not _ok(ex.status) else ""
            evidence = (f"{where}: {detail}" if where else detail) + (f" | body: {body}" if body else "")
            return self.report.add(check, False, evidence, severity=severity)
        return self.report.add(check, True, f"{where}{': ' if where and ok_text else ''}{ok_text}", severity=severity)

    def guarded(self, phase: str, step: Callable[[], None]) -> None:
        """Run a phase; a suite error becomes a failed row instead of ending the run."""
        try:
            step()
        except Exception as exc:
            self.report.add(f"{phase}: suite error", False, f"{type(exc).__name__}: {exc}")

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> None:
        """Every phase, and the cleanup whatever happens."""
        try:
            created = False
            try:
                created = self.setup()
            except Exception as exc:
                self.report.add("setup: suite error", False, f"{type(exc).__name__}: {exc}")
            if created:
                self.guarded("read", self.reads)
                self.guarded("patch", self.patches)
                self.guarded("replace", self.replace)
                self.guarded("delete", self.delete_leaf)
                self.guarded("error", self.errors)
        finally:
            self.guarded("cleanup", self.cleanup)
        self.report.dialect = self.spelling.dialect
        self.objects.rows(self.report)
        self.contract.rows(self.report, self.client.exchanges)

    # -- setup ----------------------------------------------------------------------------------

    def setup(self) -> bool:
        """Create the test subtree with PUT; False when not even the root could be created."""
        tree = self.tree
        count = sum(len(o.attrs) for o in tree.objects)
        notes = "; left out: " + _join(tree.notes) if tree.notes else ""
        self.report.add(
            "setup: test data from the class registry",
            True,
            f"{len(tree.objects)} objects under {tree.root.dn} with {count} attribute values "
            f"valid in both dialects{notes}",
            severity=WARNING,
        )
        for moi in tree.objects:
            if moi is tree.du and self.auto:
                self.detect_dialect(moi)
                continue
            ex = self.client.put(self.wire(moi.dn), self.resource(moi))
            self.check_created(moi, ex)
            if moi is tree.root and not _ok(ex.status):
                return False
        return True

    def detect_dialect(self, moi: TestMoi) -> None:
        """Create the first object whose class the dialects spell differently, in each spelling."""
        tried: list[str] = []
        for dialect in (STAGE2, OPENAPI):
            self.spelling = Spelling(dialect, self.registry)
            self.objects.spelling = self.spelling
            ex = self.client.put(self.wire(moi.dn), self.resource(moi))
            tried.append(ex.line)
            if _ok(ex.status):
                if dialect == STAGE2 and self._answers_openapi(moi, ex):
                    self.spelling = Spelling(OPENAPI, self.registry)
                    self.objects.spelling = self.spelling
                self.report.add(
                    "setup: dialect", True, f"the producer speaks {self.spelling.dialect} (auto-detected: {ex.line})"
                )
                self.check_created(moi, ex)
                return
        self.spelling = Spelling(STAGE2, self.registry)
        self.objects.spelling = self.spelling
        self.report.add("setup: dialect", False, f"neither spelling of {moi.cls} was accepted: {' | '.join(tried)}")

    def _answers_openapi(self, moi: TestMoi, ex: Exchange) -> bool:
        """Whether a producer that took the stage-2 form answered in the OpenAPI spelling."""
        spec = self.registry.get(moi.cls)
        body = ex.body if isinstance(ex.body, dict) else {}
        attrs = body.get("attributes")
        if spec is None or not isinstance(attrs, dict):
            return False
        renamed = {a.openapi_name for a in spec.attributes.values() if a.openapi_name != a.name}
        return body.get("objectClass") == spec.openapi_name != spec.name or bool(renamed & set(attrs))

    def check_created(self, moi: TestMoi, ex: Exchange) -> None:
        """A create: 201 with the created resource, holding what was sent."""
        problems: list[str] = []
        if ex.status != 201:
            problems.append(f"expected 201 Created, got {ex.status or ex.error}")
        if _ok(ex.status):
            self.state[str(moi.dn)] = dict(moi.attrs)
        found = [f for f in self.observe(ex, moi.dn) if f.dn == str(moi.dn)]
        if ex.status == 201:
            if not found:
                problems.append("the created resource is not returned in the body")
            else:
                problems += attr_problems(moi.attrs, self.canonical(found[0]))
        name = f"{moi.dn.cls}={moi.dn.id}" + (" (root)" if moi is self.tree.root else "")
        self.add(f"create: {name}", problems, ex, f"created, {len(moi.attrs)} attributes returned as sent")

    # -- reads ----------------------------------------------------------------------------------

    def expect_set(self, check: str, ex: Exchange, base: DN, expected: Iterable[DN | str]) -> list[Found]:
        """A read that must return exactly ``expected`` (frames only on the way to them)."""
        want = {str(d) for d in expected}
        found = self.observe(ex, base)
        problems: list[str] = []
        if ex.status != 200:
            problems.append(f"expected 200, got {ex.status or ex.error}")
            self.add(check, problems, ex)
            return found
        flat = isinstance(ex.body, list)
        got = {f.dn for f in found if flat or f.has_attributes}
        frames = {f.dn for f in found if not flat and not f.has_attributes}
        allowed_frames = {str(base)}
        for dn in got | want:
            parsed: DN | None = DN.parse(dn)
            while parsed is not None and parsed.depth > base.depth:
                allowed_frames.add(str(parsed))
                parsed = parsed.parent
        if missing := want - got:
            problems.append("missing " + ", ".join(sorted(self.rel(d) for d in missing)))
        if extra := got - want:
            problems.append("unexpected " + ", ".join(sorted(self.rel(d) for d in extra)))
        if odd := frames - allowed_frames:
            problems.append("objects without attributes off the path: " + ", ".join(sorted(self.rel(d) for d in odd)))
        if problems:
            misplaced = [p for f in found for p in f.problems]
            if misplaced:
                problems.append(f"the tree disagrees with itself: {misplaced[0]}")
        self.add(check, problems, ex, f"exactly the {len(want)} expected objects")
        return found

    def reads(self) -> None:
        """Every scope, each media type, attribute and field selection, and filters."""
        tree = self.tree
        root = tree.root.dn
        by_level: dict[int, list[DN]] = {}
        for moi in tree.objects:
            by_level.setdefault(tree.level(moi.dn), []).append(moi.dn)
        everything = [m.dn for m in tree.objects]

        def get(base: DN, params: Mapping[str, str] | None = None, accept: str | None = None) -> Exchange:
            return self.client.get(self.wire(base), params=params, accept=accept)

        cell = tree.cells[0]
        found = self.expect_set("read: one object (no scope)", get(cell.dn), cell.dn, [cell.dn])
        mine = [f for f in found if f.dn == str(cell.dn)]
        if mine:
            self.add(
                "read: one object holds what was written",
                attr_problems(cell.attrs, self.canonical(mine[0])),
                None,
                f"{self.rel(cell.dn)}: {len(cell.attrs)} attributes as written",
            )
        self.expect_set("read: scope BASE_ONLY", get(root, {"scopeType": "BASE_ONLY"}, JSON), root, by_level[0])
        for level in (1, 2):
            self.expect_set(
                f"read: scope BASE_NTH_LEVEL {level}",
                get(root, {"scopeType": "BASE_NTH_LEVEL", "scopeLevel": str(level)}, HIERARCHICAL),
                root,
                by_level[level],
            )
        self.expect_set(
            "read: scope BASE_NTH_LEVEL 2 as a flat list",
            get(root, {"scopeType": "BASE_NTH_LEVEL", "scopeLevel": "2"}, FLAT),
            root,
            by_level[2],
        )
        self.expect_set(
            "read: scope BASE_SUBTREE level 2",
            get(root, {"scopeType": "BASE_SUBTREE", "scopeLevel": "2"}, JSON),
            root,
            [d for lvl in (0, 1, 2) for d in by_level[lvl]],
        )
        for media in (JSON, HIERARCHICAL, FLAT):
            self.expect_set(
                f"read: scope BASE_ALL as {media}", get(root, {"scopeType": "BASE_ALL"}, media), root, everything
            )
        self.selections()
        self.filters(get)

    def selections(self) -> None:
        """``attributes`` and ``fields``."""
        tree = self.tree
        cell = tree.cells[1]
        names = ("nRPCI", "administrativeState")
        wire_names = [self.spelling.attr(cell.cls, n) for n in names]
        ex = self.client.get(self.wire(cell.dn), params={"attributes": ",".join(wire_names)})
        found = [f for f in self.observe(ex, cell.dn) if f.dn == str(cell.dn)]
        problems = [] if ex.status == 200 else [f"expected 200, got {ex.status or ex.error}"]
        if ex.status == 200 and not found:
            problems.append("the object is not in the body")
        if found:
            got = found[0].attributes
            if extra := set(got) - set(wire_names):
                problems.append(f"unselected attributes returned: {', '.join(sorted(extra))}")
            problems += attr_problems({n: cell.attrs[n] for n in names}, self.canonical(found[0]))
        self.add("read: attributes selection", problems, ex, f"only {', '.join(wire_names)}")

        du = tree.du
        label = self.spelling.attr(du.cls, "userLabel")
        ex = self.client.get(
            self.wire(du.dn), params={"scopeType": "BASE_NTH_LEVEL", "scopeLevel": "1", "attributes": label}
        )
        found = self.observe(ex, du.dn)
        problems = [] if ex.status == 200 else [f"expected 200, got {ex.status or ex.error}"]
        children = [f for f in found if f.has_attributes]
        want = {str(m.dn) for m in (tree.sector, tree.bwp, *tree.cells)}
        if ex.status == 200 and {f.dn for f in children} != want:
            problems.append(
                f"returned {sorted(self.rel(f.dn) for f in children)}, expected the "
                f"{len(want)} children of {self.rel(du.dn)}"
            )
        for f in children:
            if set(f.attributes) != {label}:
                problems.append(f"{self.rel(f.dn)} has {sorted(f.attributes)}")
        self.add("read: attributes selection with a scope", problems, ex, f"{len(children)} children with only {label}")

        attr = "pLMNInfoList"
        spec = self.registry.get(cell.cls)
        member = spec.attributes[attr].fields["mcc"] if spec else None
        oa_path = (member.openapi_path or (member.openapi_name,)) if member else ("mcc",)
        path = (self.spelling.attr(cell.cls, attr), *(oa_path if self.spelling.openapi else ("mcc",)))
        ex = self.client.get(self.wire(cell.dn), params={"fields": "attributes/" + "/".join(path)})
        found = [f for f in self.observe(ex, cell.dn) if f.dn == str(cell.dn)]
        expected = select_field(self.spelling.attrs(cell.cls, cell.attrs), path)
        problems = [] if ex.status == 200 else [f"expected 200, got {ex.status or ex.error}"]
        if ex.status == 200 and not found:
            problems.append("the object is not in the body")
        if found and found[0].attributes != expected:
            problems.append(f"attributes {found[0].attributes} instead of {expected}")
        self.add("read: fields selection", problems, ex, f"attributes {expected}")

    def filters(self, get: Callable[..., Exchange]) -> None:
        """``filter``: a class selection, an attribute comparison, any class."""
        tree = self.tree
        root = tree.root.dn
        cls = self.spelling.cls("NRCellDU")
        pci = self.spelling.attr("NRCellDU", "nRPCI")
        all_scope = {"scopeType": "BASE_ALL"}
        self.expect_set(
            "read: filter selecting a class",
            get(root, {**all_scope, "filter": f"//{cls}"}, HIERARCHICAL),
            root,
            [c.dn for c in tree.cells],
        )
        target = tree.cells[1]
        self.expect_set(
            "read: filter comparing an attribute",
            get(root, {**all_scope, "filter": f"//{cls}[attributes/{pci}={target.attrs['nRPCI']}]"}, FLAT),
            root,
            [target.dn],
        )
        label = tree.cells[0].attrs["userLabel"]
        self.expect_set(
            "read: filter on any class",
            get(root, {**all_scope, "filter": f"//*[attributes/userLabel='{label}']"}, FLAT),
            root,
            [m.dn for m in tree.objects if m.attrs.get("userLabel") == label],
        )

    # -- writes ---------------------------------------------------------------------------------

    def read_back(self, dn: DN, removed: Iterable[str] = ()) -> tuple[list[str], Exchange]:
        """Problems of one object read back against the state the suite expects."""
        ex = self.client.get(self.wire(dn))
        if ex.status != 200:
            return [f"{self.rel(dn)}: read back {ex.status or ex.error}, expected 200"], ex
        found = [f for f in self.observe(ex, dn) if f.dn == str(dn)]
        if not found:
            return [f"{self.rel(dn)}: not in the body of its GET"], ex
        problems = attr_problems(self.state.get(str(dn), {}), self.canonical(found[0]), removed)
        return [f"{self.rel(dn)}: {p}" for p in problems], ex

    def absent(self, dn: DN) -> list[str]:
        """Problems when the object still exists."""
        ex = self.client.get(self.wire(dn))
        return [] if ex.status == 404 else [f"{self.rel(dn)}: GET answered {ex.status or ex.error}, not 404"]

    def write(self, check: str, ex: Exchange, ok: frozenset[int], ok_text: str = "", base: DN | None = None) -> bool:
        """A write's status row; a representation that comes back is validated too."""
        want = " or ".join(map(str, sorted(ok)))
        problems = [] if ex.status in ok else [f"expected {want}, got {ex.status or ex.error}"]
        if base is not None:
            self.observe(ex, base)
        return self.add(check, problems, ex, ok_text)

    def patches(self) -> None:
        """The four PATCH media types, each read back (``mns.conformance.patches``)."""
        patches(self)

    def replace(self) -> None:
        """PUT over an existing object: a complete replacement, then an identical one."""
        cell = self.tree.cells[0]
        attrs = {k: v for k, v in cell.attrs.items() if k != "bWPRef"}
        attrs["userLabel"] = "replaced by PUT"
        ex = self.client.put(self.wire(cell.dn), self.resource(cell, attrs))
        problems = [] if ex.status == 200 else [f"expected 200 (replaced, not identical), got {ex.status or ex.error}"]
        found = [f for f in self.observe(ex, cell.dn) if f.dn == str(cell.dn)]
        if ex.status == 200:
            if not found:
                problems.append("the replaced resource is not returned in the body")
            else:
                problems += attr_problems(attrs, self.canonical(found[0]), ["bWPRef"])
        if _ok(ex.status):
            self.state[str(cell.dn)] = dict(attrs)
        self.add("replace: PUT of an existing object", problems, ex, "200 with the new representation")
        ex = self.client.put(self.wire(cell.dn), self.resource(cell, attrs))
        problems = [] if ex.status in (200, 204) else [f"expected 200 or 204, got {ex.status or ex.error}"]
        if ex.status == 204 and ex.has_body:
            problems.append("204 with a body")
        self.observe(ex, cell.dn)
        self.add("replace: PUT of an identical representation", problems, ex, f"{ex.status}, both allowed")
        problems, back = self.read_back(cell.dn, removed=["bWPRef"])
        self.add("replace: effect (attributes left out are gone)", problems, back, "the new attributes, without bWPRef")

    def delete_leaf(self) -> None:
        """DELETE of a leaf object, then reading it gives 404."""
        relation = self.tree.relation
        ex = self.client.delete(self.wire(relation.dn))
        self.write("delete: a leaf object", ex, DELETE_OK)
        if _ok(ex.status):
            self.state.pop(str(relation.dn), None)
        self.add("delete: effect", self.absent(relation.dn), None, f"{self.rel(relation.dn)} is gone (404)")

    # -- errors ---------------------------------------------------------------------------------

    def error_case(self, name: str, ex: Exchange, statuses: frozenset[int]) -> None:
        """Two rows: a sensible 4xx status, and an ErrorResponse body."""
        want = " or ".join(map(str, sorted(statuses)))
        status_problems = [] if ex.status in statuses else [f"expected {want}, got {ex.status or ex.error}"]
        self.add(f"error: {name}: status", status_problems, ex, f"expected {want}")
        body_problems = error_body_problems(ex, self.specs) if ex.status >= 400 else ["not an error response"]
        self.add(
            f"error: {name}: ErrorResponse", body_problems, ex, f"TS28623_ComDefs.yaml ErrorResponse: {ex.excerpt(120)}"
        )

    def errors(self) -> None:
        """Requests a producer must refuse, each with an ErrorResponse."""
        tree = self.tree
        root = tree.root.dn
        missing = tree.du.dn.child("NRCellDU", "99")
        self.error_case("GET of a missing object", self.client.get(self.wire(missing)), frozenset({404}))

        ex = self.client.send("GET", self.client.path_of(self.wire(root)) + "/ManagedElement=")
        self.error_case("malformed DN (empty id)", ex, frozenset({400, 404}))

        wrong = root.child("ManagedElement", "conformance-a")
        ex = self.client.put(self.wire(wrong), {**self.resource(tree.me), "id": "conformance-b"})
        self.error_case("PUT with an id differing from the URI", ex, frozenset({400, 409, 422}))
        self.add(
            "error: PUT with an id differing from the URI: nothing created",
            self.absent(wrong) + self.absent(root.child("ManagedElement", "conformance-b")),
            None,
            "neither id exists",
        )

        cell = tree.cells[1]
        ex = self.client.patch(
            self.wire(cell.dn), b"<attributes><userLabel>x</userLabel></attributes>", "application/xml"
        )
        self.error_case("PATCH with an unsupported media type", ex, frozenset({415}))

        body = {"attributes": {self.spelling.attr(cell.cls, "nRPCI"): "x"}}
        ex = self.client.patch(self.wire(cell.dn), body, MERGE_PATCH)
        self.error_case("invalid attribute value (nRPCI 'x')", ex, frozenset({400, 422}))
        problems, back = self.read_back(cell.dn)
        self.add(
            "error: invalid attribute value (nRPCI 'x'): nothing changed", problems, back, "the object is as before"
        )

        ex = self.client.get(self.wire(root), params={"scopeType": "BASE_EVERYTHING"})
        self.error_case("unknown scopeType", ex, frozenset({400}))

        ex = self.client.delete(self.wire(missing))
        self.error_case("DELETE of a missing object", ex, frozenset({404}))

        orphan = root.child("ManagedElement", "conformance-missing").child("GNBDUFunction", "1")
        ex = self.client.put(self.wire(orphan), self.resource(tree.du))
        self.error_case("PUT under a missing parent", ex, frozenset({400, 404, 409, 422}))

    # -- cleanup --------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """DELETE the root (and so the subtree); falls back to leaves first if refused."""
        tree = self.tree
        root = tree.root.dn
        ex = self.client.delete(self.wire(root))
        if not self.state:
            return  # nothing was created: the DELETE above was only in case; nothing to judge
        if ex.status == 409:
            for dn in sorted(self.state, key=lambda d: -DN.parse(d).depth):
                if dn != str(root):
                    self.client.delete(self.wire(DN.parse(dn)))
            retry = self.client.delete(self.wire(root))
            self.report.add(
                "cleanup: DELETE of the root deletes its subtree",
                False,
                f"{ex.evidence(160)}; deleted leaves first, then {retry.line}",
                severity=WARNING,
            )
        else:
            self.write("cleanup: DELETE of the root deletes its subtree", ex, DELETE_OK, f"{root} and its subtree")
        left = [p for d in (root, tree.me.dn, tree.cells[0].dn) for p in self.absent(d)]
        self.add("cleanup: the test subtree is gone", left, None, f"{root} and its descendants answer 404")

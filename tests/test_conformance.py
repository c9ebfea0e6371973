"""The ProvMnS conformance suite: it passes our producer, and it catches a broken one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from mns.conformance import ERROR, WARNING, Report, SpecsNotFound, run
from mns.conformance.checks import ContractCheck, ObjectCheck, error_body_problems, objects_of
from mns.conformance.client import FLAT, HIERARCHICAL, Exchange
from mns.conformance.scenario import Scenario
from mns.conformance.schemas import SPECS_ENV, load_specs, locate_specs
from mns.conformance.spelling import OPENAPI, STAGE2, Spelling
from mns.nrm.dn import DN
from mns.nrm.registry import default_registry

P = "/ProvMnS/v1800"

KNOWN_PRODUCER_DEFECTS = {
    # BASE_NTH_LEVEL >= 2 in a tree: the producer nests the level-2 objects directly under the
    # base (GNBDUFunction inside SubNetwork), skipping the ManagedElement between them.
    "read: scope BASE_NTH_LEVEL 2",
    "representation: TS 32.158 resources",
}
"""Checks our producer fails because of a producer defect reported to the lead (not the suite)."""


def _names(report: Report) -> set[str]:
    return {r.check for r in report}


def _roots(url: str) -> list[str]:
    roots: list[str] = httpx.get(url + "/").json()["roots"]
    return roots


# -- against our producer ---------------------------------------------------------------------------


def test_our_producer_passes(twin_url: str, specs: Path) -> None:
    report = run(twin_url, specs=specs, root_id="mns-conformance-ours")
    failures = {r.check: r.evidence for r in report.failures}
    assert set(failures) <= KNOWN_PRODUCER_DEFECTS, failures
    assert len(report) > 40
    assert report.dialect == STAGE2
    assert report.seconds < 10
    names = _names(report)
    assert len(names) == len(report), "check names are unique"
    for expected in (
        "create: NRCellRelation=1",
        "read: scope BASE_ALL as application/vnd.3gpp.object-tree-flat+json",
        "read: filter comparing an attribute",
        "read: fields selection",
        "patch: application/3gpp-merge-patch+json effect",
        "patch: application/3gpp-json-patch+json effect",
        "replace: PUT of an identical representation",
        "error: PATCH with an unsupported media type: ErrorResponse",
        "schema: NRCellDU",
        "schema: SubNetwork",
        "contract: PATCH status and Content-Type",
        "cleanup: the test subtree is gone",
    ):
        assert report.get(expected).passed, report.get(expected)
    # every class of the subtree was validated against its own schema
    schemas = {r.check for r in report if r.check.startswith("schema: ") and r.severity == ERROR}
    assert schemas == {
        f"schema: {c}"
        for c in (
            "SubNetwork",
            "ManagedElement",
            "GNBDUFunction",
            "NRSectorCarrier",
            "BWP",
            "NRCellDU",
            "GNBCUCPFunction",
            "NRCellCU",
            "NRCellRelation",
        )
    }
    assert "NrCellDu-Single" in report.get("schema: NRCellDU").evidence
    assert "SubNetwork=mns-conformance-ours" not in _roots(twin_url)


def test_our_producer_has_no_failures(twin_url: str, specs: Path) -> None:
    report = run(twin_url, specs=specs)
    assert report.failed == 0, [(r.check, r.evidence) for r in report.failures]


def test_cli_exit_status(twin_url: str, specs: Path) -> None:
    from mns.cli import app

    result = CliRunner().invoke(app, ["conformance", "--url", twin_url, "--specs", str(specs)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "NOT CONFORMANT" not in result.output
    assert "ProvMnS conformance" in result.output
    assert "checks" in result.output

    unreachable = CliRunner().invoke(app, ["conformance", "--url", "http://127.0.0.1:9", "--specs", str(specs)])
    assert unreachable.exit_code == 1
    assert "NOT CONFORMANT" in unreachable.output


def test_specs_folder_is_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mns.cli import app

    monkeypatch.delenv(SPECS_ENV, raising=False)
    with pytest.raises(SpecsNotFound, match="--specs") as info:
        locate_specs(None)
    assert SPECS_ENV in str(info.value)
    with pytest.raises(SpecsNotFound, match=r"TS28532_ProvMnS\.yaml"):
        locate_specs(tmp_path)
    result = CliRunner().invoke(app, ["conformance", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert SPECS_ENV in result.output


def test_specs_from_the_environment(monkeypatch: pytest.MonkeyPatch, specs: Path) -> None:
    monkeypatch.setenv(SPECS_ENV, str(specs))
    assert locate_specs(None) == specs / "openapi"
    assert locate_specs(specs / "openapi") == specs / "openapi"


# -- against a broken producer ---------------------------------------------------------------------


def _sabotaged(upstream_url: str, break_response: Callable[[httpx.Request, int, Any], tuple[int, Any]]) -> Any:
    """A transport forwarding to our real producer, with its answers broken by ``break_response``."""
    upstream = httpx.Client(base_url=upstream_url)

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items() if k in ("accept", "content-type")}
        real = upstream.request(
            request.method, request.url.raw_path.decode("ascii"), content=request.content, headers=headers
        )
        body = orjson.loads(real.content) if real.content else None
        status, body = break_response(request, real.status_code, body)
        out_headers = {"content-type": real.headers["content-type"]} if "content-type" in real.headers else {}
        return httpx.Response(status, content=orjson.dumps(body) if body is not None else b"", headers=out_headers)

    return httpx.MockTransport(handler), upstream


def _walk(body: Any) -> Iterator[dict[str, Any]]:
    if isinstance(body, list):
        for item in body:
            yield from _walk(item)
    elif isinstance(body, dict):
        yield body
        for value in body.values():
            if isinstance(value, list):
                yield from _walk(value)


def _break(request: httpx.Request, status: int, body: Any) -> tuple[int, Any]:
    if request.method == "PUT" and status == 201:
        status = 200  # a create must answer 201
    if request.method == "DELETE" and status == 200:
        status = 202  # not an answer TS28532_ProvMnS.yaml allows DELETE
    if request.method == "GET" and status == 404:
        status = 400  # a missing object must be 404
    if status >= 400:
        return status, {"error": "something went wrong"}  # error must be an object
    for obj in _walk(body):
        if obj.get("objectClass") == "NRCellDU" and isinstance(obj.get("attributes"), dict):
            obj["attributes"]["nRPCI"] = "x"
            obj["attributes"]["vendorFlavour"] = "vanilla"
    return status, body


def test_broken_producer_fails_the_exact_checks(twin_url: str, specs: Path) -> None:
    transport, upstream = _sabotaged(twin_url, _break)
    try:
        report = run("http://broken.invalid", specs=specs, transport=transport, root_id="mns-conformance-broken")
    finally:
        upstream.close()
    failed = {r.check: r for r in report.failures}
    assert report.failed >= 10

    # wrong status codes
    assert "expected 201 Created, got 200" in failed["create: NRCellDU=1"].evidence
    assert "create: SubNetwork=mns-conformance-broken (root)" in failed
    contract = failed["contract: DELETE status and Content-Type"].evidence
    assert "DELETE may answer 200 or an error (4xx/5xx), not 202" in contract
    assert "expected 404, got 400" in failed["error: GET of a missing object: status"].evidence
    # error bodies that are not ErrorResponses (the status itself is right for these)
    assert report.get("error: PATCH with an unsupported media type: status").passed
    for case in ("GET of a missing object", "PATCH with an unsupported media type", "unknown scopeType"):
        assert "'something went wrong' is not of type 'object'" in failed[f"error: {case}: ErrorResponse"].evidence
    # an object violating its own class schema, found through the OpenAPI spelling
    schema = failed["schema: NRCellDU"].evidence
    assert "attributes/nrPci: 'x' is not of type 'integer'" in schema
    assert "TS28541_NrNrm.yaml#/components/schemas/NrCellDu-Single" in schema
    assert report.get("schema: GNBDUFunction").passed
    unknown = report.get("schema: NRCellDU unknown attributes")
    assert (unknown.passed, unknown.severity) == (False, WARNING)
    assert "vendorFlavour" in unknown.evidence
    assert "schema: NRCellDU unknown attributes" not in failed  # a finding, not a failure
    # the subtree was removed all the same
    assert "SubNetwork=mns-conformance-broken" not in _roots(twin_url)


def test_cleanup_after_a_suite_error(twin_url: str, specs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(self: Scenario) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Scenario, "patches", explode)
    report = run(twin_url, specs=specs, root_id="mns-conformance-boom")
    row = report.get("patch: suite error")
    assert not row.passed
    assert "RuntimeError: boom" in row.evidence
    assert report.get("replace: PUT of an existing object").passed  # later phases still ran
    assert report.get("cleanup: the test subtree is gone").passed
    assert "SubNetwork=mns-conformance-boom" not in _roots(twin_url)


# -- the judging parts, directly ----------------------------------------------------------------


def _exchange(body: Any, media: str = "application/json", status: int = 200, method: str = "GET") -> Exchange:
    return Exchange(method, P + "/X=1", None, media, status, media, orjson.dumps(body).decode(), body)


def _object_check(specs: Path, dialect: str) -> ObjectCheck:
    return ObjectCheck(load_specs(locate_specs(specs)), Spelling(dialect, default_registry()))


CELL_DN = "SubNetwork=1,ManagedElement=1,GNBDUFunction=1,NRCellDU=1"


def test_objects_are_validated_in_either_dialect(specs: Path) -> None:
    report = Report("x")
    stage2 = _object_check(specs, STAGE2)
    body = {
        "id": "1",
        "objectClass": "NRCellDU",
        "objectInstance": CELL_DN,
        "attributes": {"nRPCI": 7, "nRTAC": 1000, "pLMNInfoList": [{"mcc": "001", "mnc": "01", "sst": 1}]},
    }
    ex = _exchange(body)
    found, problems = objects_of(ex, DN.parse(CELL_DN), stage2.spelling)
    assert problems == []
    stage2.observe(ex, found)
    # the same object in the OpenAPI spelling
    openapi = _object_check(specs, OPENAPI)
    oa_dn = "SubNetwork=1,ManagedElement=1,GnbDuFunction=1,NrCellDu=1"
    oa_body = {
        "id": "1",
        "objectClass": "NrCellDu",
        "objectInstance": oa_dn,
        "attributes": {
            "nrPci": 7,
            "nrTac": "0003E8",
            "plmnInfoList": [{"plmnId": {"mcc": "001", "mnc": "01"}, "snssai": {"sst": 1}}],
        },
    }
    found, problems = objects_of(_exchange(oa_body), DN.parse(oa_dn), openapi.spelling)
    assert problems == []
    assert found[0].dn == CELL_DN  # placed by its canonical DN
    openapi.observe(_exchange(oa_body), found)
    # stage-2 names in an OpenAPI producer: unknown attributes; a hex TAC that is not: invalid
    bad = {**oa_body, "attributes": {"nRPCI": 7, "nrTac": "xyz"}}
    openapi.observe(_exchange(bad), objects_of(_exchange(bad), DN.parse(oa_dn), openapi.spelling)[0])
    stage2.rows(report)
    assert report.get("schema: NRCellDU").passed
    report = Report("x")
    openapi.rows(report)
    row = report.get("schema: NRCellDU")
    assert not row.passed
    assert "1 of 2 objects" in row.evidence
    assert "attributes/nrTac" in row.evidence
    assert "nRPCI" in report.get("schema: NRCellDU unknown attributes").evidence


def test_tree_shapes_and_openapi_child_keys(specs: Path) -> None:
    openapi = _object_check(specs, OPENAPI)
    du = "SubNetwork=1,ManagedElement=1,GnbDuFunction=1"
    body = {
        "id": "1",
        "objectClass": "GnbDuFunction",
        "objectInstance": du,
        "attributes": {"gnbId": 1},
        "Bwp-Multiple": [{"id": "b", "objectClass": "Bwp", "attributes": {"numberOfRBs": 273}}],
        "NrCellDu": [{"id": "c", "objectClass": "NrCellDu", "objectInstance": du + ",NrCellDu=WRONG"}],
    }
    found, problems = objects_of(_exchange(body, HIERARCHICAL), DN.parse(du), openapi.spelling)
    assert problems == []
    by_dn = {f.dn: f for f in found}
    assert set(by_dn) == {
        "SubNetwork=1,ManagedElement=1,GNBDUFunction=1",
        "SubNetwork=1,ManagedElement=1,GNBDUFunction=1,BWP=b",
        "SubNetwork=1,ManagedElement=1,GNBDUFunction=1,NRCellDU=c",
    }
    assert by_dn["SubNetwork=1,ManagedElement=1,GNBDUFunction=1,BWP=b"].cls == "BWP"
    cell = by_dn["SubNetwork=1,ManagedElement=1,GNBDUFunction=1,NRCellDU=c"]
    assert "is not where the object sits" in cell.problems[0]
    assert not cell.has_attributes
    # a flat list must name every object's DN
    _, problems = objects_of(_exchange([{"id": "1", "attributes": {}}], FLAT), DN.parse(du), openapi.spelling)
    assert "no valid objectInstance" in problems[0]
    _, problems = objects_of(_exchange({"id": "1"}, FLAT), DN.parse(du), openapi.spelling)
    assert "not an array" in problems[0]


def test_contract_and_error_bodies(specs: Path) -> None:
    oas = load_specs(locate_specs(specs))
    contract = ContractCheck(oas)
    assert contract.problems(_exchange({"id": "1"})) == ([], [])
    bad, _ = contract.problems(_exchange({"id": "1"}, status=201))
    assert "GET may answer 200" in bad[0]
    bad, _ = contract.problems(_exchange({"id": "1"}, media="text/html"))
    assert "Content-Type must be one of" in bad[0]
    deleted = Exchange("DELETE", P + "/X=1", None, None, 204, None, "")
    assert contract.problems(deleted)[0] == []
    assert "only 200 for DELETE" in contract.problems(deleted)[1][0]
    with_body = Exchange("DELETE", P + "/X=1", None, None, 200, "application/json", '{"id": "1"}', {"id": "1"})
    assert "has no body" in contract.problems(with_body)[0][0]

    good = _exchange({"error": {"errorInfo": "no such object"}}, status=404)
    assert error_body_problems(good, oas) == []
    # the official schema requires nothing, so {} passes it; the suite asks for the error object
    assert "no 'error' object" in error_body_problems(_exchange({}, status=404), oas)[0]
    text = Exchange("GET", P + "/X=1", None, None, 404, "text/plain", "not found", None, "the body is not JSON")
    assert len(error_body_problems(text, oas)) == 2


# -- a producer speaking the Rel-18 OpenAPI spelling ------------------------------------------------


class _OpenApiFacade:
    """Our producer behind a proxy that speaks the OpenAPI spelling (and refuses stage-2 names)."""

    def __init__(self, upstream_url: str) -> None:
        from mns.nrm.dialect import Dialect

        self.upstream = httpx.Client(base_url=upstream_url)
        self.registry = default_registry()
        self.dialect = Dialect(self.registry)
        self.attr_names = {a.openapi_name: a.name for c in self.registry for a in c.attributes.values()}

    def _dn(self, text: str, to_oa: bool) -> str:
        dn = DN.parse(text)
        cls = self.dialect.class_to_openapi if to_oa else self.dialect.class_from_openapi
        out = DN(tuple((cls(c), i) for c, i in dn.rdns))
        return out.uri if "/" in text and "," not in text else str(out)

    def _attrs(self, cls: str, attrs: dict[str, Any], to_oa: bool) -> dict[str, Any]:
        spec = self.registry.get(cls)
        if not to_oa:
            attrs = self.dialect.from_openapi(cls, attrs)[1]
        for name, value in list(attrs.items()):
            a = spec.attribute(name) if spec else None
            if a is not None and a.kind == "dn" and value is not None:
                attrs[name] = [self._dn(v, to_oa) for v in value] if isinstance(value, list) else self._dn(value, to_oa)
        return self.dialect.to_openapi(cls, attrs)[1] if to_oa else attrs

    def _resource(self, obj: dict[str, Any], cls: str, to_oa: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if key == "attributes" and isinstance(value, dict):
                out[key] = self._attrs(cls, dict(value), to_oa)
            elif key == "objectClass":
                out[key] = self.dialect.class_to_openapi(cls) if to_oa else cls
            elif key == "objectInstance":
                out[key] = self._dn(value, to_oa)
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                child = key if to_oa else self.dialect.child_class(cls, key)
                new_key = self.dialect.child_key(cls, child) if to_oa else child
                out[new_key] = [self._resource(v, child, to_oa) for v in value]
            else:
                out[key] = value
        return out

    def _pointer(self, cls: str, pointer: str) -> str:
        parts = pointer.split("/")
        if len(parts) >= 3 and parts[1] == "attributes":
            parts[2] = self.attr_names.get(parts[2], parts[2])
        return "/".join(parts)

    def _request_body(self, media: str, cls: str, body: Any) -> Any:
        if media in ("application/json", "application/merge-patch+json", "application/3gpp-merge-patch+json"):
            return self._resource(body, cls, to_oa=False)
        if media == "application/json-patch+json":
            return [{**op, "path": self._pointer(cls, op["path"])} for op in body]
        if media == "application/3gpp-json-patch+json":
            ops = []
            for op in body:
                rel, _, pointer = op["path"].partition("#")
                target = self._dn(rel.strip("/"), to_oa=False)
                target_cls = DN.parse(target).cls
                new = {**op, "path": f"/{target}" + (f"#{self._pointer(target_cls, pointer)}" if pointer else "")}
                if "value" in new and not pointer:
                    new["value"] = self._resource(new["value"], target_cls, to_oa=False)
                ops.append(new)
            return ops
        return body

    def _params(self, cls: str, params: dict[str, str]) -> dict[str, str]:
        import re

        if "attributes" in params:
            params["attributes"] = ",".join(self.attr_names.get(n, n) for n in params["attributes"].split(","))
        if "filter" in params:
            params["filter"] = re.sub(
                r"attributes/(\w+)",
                lambda m: "attributes/" + self.attr_names.get(m.group(1), m.group(1)),
                params["filter"],
            )
        if "fields" in params:
            spec = self.registry.get(cls)
            _, first, *rest = params["fields"].split("/")
            a = spec.attribute(first) if spec else None
            member = next((f.name for f in (a.fields.values() if a else ()) if f.openapi_path == tuple(rest)), None)
            params["fields"] = "/".join(["attributes", a.name if a else first, *([member] if member else rest)])
        return params

    def handler(self, request: httpx.Request) -> httpx.Response:
        rel = request.url.path[len(P) + 1 :]
        try:
            rdns = DN.parse(rel).rdns
        except Exception:  # a malformed DN: let the producer answer it
            rdns = ()
        if any(self.dialect.class_to_openapi(c) != c for c, _ in rdns):
            body = orjson.dumps({"error": {"errorInfo": f"unknown class in {rel}"}})
            return httpx.Response(400, content=body, headers={"content-type": "application/json"})
        path, cls = request.url.path, "SubNetwork"
        if rdns:
            canonical = self._dn(rel, to_oa=False)
            path, cls = f"{P}/{canonical}", DN.parse(canonical).cls
        media = request.headers.get("content-type", "")
        content = request.content
        if content and media.endswith("json"):
            content = orjson.dumps(self._request_body(media, cls, orjson.loads(content)))
        headers = {k: v for k, v in request.headers.items() if k in ("accept", "content-type")}
        real = self.upstream.request(
            request.method, path, params=self._params(cls, dict(request.url.params)), content=content, headers=headers
        )
        body = orjson.loads(real.content) if real.content else None
        if real.status_code < 300 and body is not None:
            body = (
                [self._resource(o, DN.parse(o["objectInstance"]).cls, True) for o in body]
                if isinstance(body, list)
                else self._resource(body, DN.parse(body["objectInstance"]).cls, True)
            )
        out = {"content-type": real.headers["content-type"]} if "content-type" in real.headers else {}
        return httpx.Response(real.status_code, content=orjson.dumps(body) if body is not None else b"", headers=out)


def test_a_producer_speaking_the_openapi_spelling(twin_url: str, specs: Path) -> None:
    facade = _OpenApiFacade(twin_url)
    try:
        report = run(
            "http://openapi.invalid",
            specs=specs,
            transport=httpx.MockTransport(facade.handler),
            root_id="mns-conformance-oa",
        )
    finally:
        facade.upstream.close()
    assert report.dialect == OPENAPI
    assert "speaks openapi" in report.get("setup: dialect").evidence
    failures = {r.check: r.evidence for r in report.failures}
    assert set(failures) <= KNOWN_PRODUCER_DEFECTS, failures
    assert report.get("read: fields selection").passed
    assert "plmnInfoList" in report.get("read: fields selection").evidence
    assert report.get("schema: NRCellDU").passed
    assert "SubNetwork=mns-conformance-oa" not in _roots(twin_url)


def test_conformance_is_a_typer_command(specs: Path) -> None:
    import typer

    from mns.conformance import conformance

    app = typer.Typer()
    app.command()(conformance)
    result = CliRunner().invoke(app, ["http://127.0.0.1:9", "--specs", str(specs), "--dialect", "stage2"])
    assert result.exit_code == 1
    assert "NOT CONFORMANT" in result.output
    result = CliRunner().invoke(app, ["http://127.0.0.1:9", "--specs", str(specs), "--dialect", "klingon"])
    assert result.exit_code == 2
    assert "klingon" in result.output

"""The OpenAPI documents in ``openapi/`` are equal to what the app serves.

- every route of ``create_app`` (method and full path) is an operation of the documents and
  every operation is a route, with the same operationId;
- every (status, media type) a document declares for an operation is produced by a request
  below (``PROBES``), with the declared headers and a body that validates against the
  declared schema; and every probe gets a status the document declares;
- the documents are valid OpenAPI 3.0, and every ``$ref`` into the official 3GPP files
  (resolved against ``$MNS_3GPP_SPECS/openapi``) names a schema that exists there.

The helpers at the top (loading the documents, resolving their references in memory) are
shared with ``test_fuzz.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
import yaml
from conftest import ROOT
from fastapi.testclient import TestClient

from mns.fault import demo_alarms
from mns.pm.files import write_pm_file
from mns.pm.model import Measurement
from mns.pm.store import PmStore
from mns.producers.app import Settings, create_app
from mns.sim.generate import generate_network
from mns.store import Create, SqlStore, open_store

OPENAPI_DIR = ROOT / "openapi"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
DN_TOKEN = "{DN}"
"""Where a DN of several path segments stands in a normalised route."""

# -- the documents --------------------------------------------------------------------------


@cache
def _documents() -> tuple[tuple[str, dict[str, Any]], ...]:
    return tuple((p.name, yaml.safe_load(p.read_text())) for p in sorted(OPENAPI_DIR.glob("*.yaml")))


def documents() -> dict[str, dict[str, Any]]:
    """The project's OpenAPI documents by file name (parsed once; do not modify)."""
    return dict(_documents())


def pointer_get(doc: Any, pointer: str) -> Any:
    """The node a JSON pointer (RFC 6901) names; KeyError/IndexError when absent."""
    node = doc
    for raw in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def escape(token: str) -> str:
    """A JSON pointer token."""
    return token.replace("~", "~0").replace("/", "~1")


def refs(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every ``$ref`` below ``node`` with the pointer of the object holding it."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield where, ref
        for k, v in node.items():
            yield from refs(v, f"{where}/{escape(str(k))}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from refs(v, f"{where}/{i}")


def official_refs(docs: dict[str, dict[str, Any]]) -> set[str]:
    """The references of the documents into files that are not theirs (the 3GPP ones)."""
    return {ref for doc in docs.values() for _, ref in refs(doc) if ref.split("#")[0] not in ("", *docs)}


def resolved(name: str, official: Path | None) -> dict[str, Any]:
    """Document ``name`` made self-standing, in memory.

    References into the project's other documents are inlined; references into the official
    files become absolute ``file:`` URIs under ``official`` (or, when it is None, permissive
    placeholders, for structural checks without the 3GPP files); internal ones stay.
    """
    docs = documents()

    def walk(node: Any, doc: str, seen: frozenset[tuple[str, str]]) -> Any:
        if isinstance(node, list):
            return [walk(v, doc, seen) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            target, _, pointer = ref.partition("#")
            if target in docs or (not target and doc != name):
                source = target or doc
                if (source, pointer) in seen:
                    raise ValueError(f"{name}: a reference cycle through {source}#{pointer} cannot be inlined")
                return walk(pointer_get(docs[source], pointer), source, seen | {(source, pointer)})
            if target:
                if official is None:
                    return {"description": f"(official schema {ref}, not resolved here)"}
                return {**node, "$ref": f"{(official / target).as_uri()}#{pointer}"}
            return node
        return {k: walk(v, doc, seen) for k, v in node.items()}

    out: dict[str, Any] = walk(docs[name], name, frozenset())
    return out


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of a document, with the servers that apply to it."""

    doc: str
    path: str
    method: str
    spec: dict[str, Any]
    servers: tuple[dict[str, Any], ...]

    @property
    def id(self) -> str:
        """The operationId."""
        return str(self.spec["operationId"])

    def server_path(self, variables: dict[str, str]) -> str:
        """The URL of the first server, its variables set from ``variables`` or their defaults."""
        server = self.servers[0]
        url = str(server["url"])
        for var, decl in server.get("variables", {}).items():
            url = url.replace("{" + var + "}", variables.get(var, str(decl["default"])))
        return url


def operations() -> list[Operation]:
    """Every operation of every document."""
    out = []
    for name, doc in documents().items():
        for path, item in doc.get("paths", {}).items():
            servers = tuple(item.get("servers") or doc.get("servers") or [{"url": ""}])
            out.extend(Operation(name, path, m, item[m], servers) for m in METHODS if m in item)
    return out


def deref(node: dict[str, Any], doc: str) -> tuple[dict[str, Any], str, str]:
    """A response, header or parameter object behind its ``$ref`` chain: (object, doc, pointer)."""
    pointer = ""
    while "$ref" in node:
        target, _, pointer = str(node["$ref"]).partition("#")
        doc = target or doc
        node = pointer_get(documents()[doc], pointer)
    return node, doc, pointer


def declared(op: Operation) -> dict[int, dict[str, Any]]:
    """Status -> response object of an operation (dereferenced)."""
    out = {}
    for status, response in op.spec["responses"].items():
        assert str(status).isdigit(), f"{op.doc} {op.id}: list the status codes instead of {status!r}"
        out[int(status)] = deref(response, op.doc)[0]
    return out


def declared_pairs(op: Operation) -> set[tuple[int, str | None]]:
    """The (status, media type) pairs an operation declares; None for a response without body."""
    pairs: set[tuple[int, str | None]] = set()
    for status, response in declared(op).items():
        media = list(response.get("content", {})) or [None]
        pairs.update((status, m) for m in media)
    return pairs


# -- routes ---------------------------------------------------------------------------------


def _unname(path: str) -> str:
    """A path with its one-segment parameters unnamed (``{alarmId}`` and ``{alarm_id}`` alike)."""
    return re.sub(r"\{(?!DN\})[^{}/]+\}", "{}", path)


def normalise_doc_path(path: str) -> str:
    """A documented full path with its DN parts collapsed to ``{DN}``, other parameters unnamed."""
    path = path.replace("{URI-LDN-first-part}/{className}={id}", "/" + DN_TOKEN)
    return _unname(path.replace("{dn}", DN_TOKEN))


def normalise_app_path(path: str) -> str:
    """A route path with its ``{name:path}`` parameters collapsed to ``{DN}``, others unnamed."""
    return _unname(re.sub(r"\{\w+:path\}", DN_TOKEN, path))


def app_routes(app: Any) -> dict[tuple[str, str], str | None]:
    """(METHOD, normalised path) -> operation id of every HTTP route of the app."""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = walk(app.routes) if walk else app.routes
    out: dict[tuple[str, str], str | None] = {}
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path is None or not methods:
            continue
        for method in methods:
            out[(method, normalise_app_path(path))] = getattr(route, "operation_id", None)
    return out


def doc_routes(settings: Settings) -> dict[tuple[str, str], str]:
    """(METHOD, normalised path) -> operationId of every documented operation, for ``settings``."""
    # The leading RDNs stay a placeholder: with the last RDN they make the DN of the route.
    variables = {
        "MnSRoot": settings.root,
        "MnSVersion": settings.prov_version,
        "FaultMnSVersion": settings.fault_version,
        "URI-LDN-first-part": "{URI-LDN-first-part}",
    }
    out: dict[tuple[str, str], str] = {}
    for op in operations():
        key = (op.method.upper(), normalise_doc_path(op.server_path(variables) + op.path))
        assert key not in out, f"{key} is documented twice"
        out[key] = op.id
    return out


@pytest.mark.parametrize(
    "settings",
    [Settings(), Settings(root="/3GPPManagement", prov_version="v1900", fault_version="v1900")],
    ids=["default", "configured-root"],
)
def test_routes_are_the_documented_operations(settings: Settings, tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "routes.db"))
    try:
        served = app_routes(create_app(store, settings))
    finally:
        store.close()
    documented = doc_routes(settings)
    assert sorted(set(served) - set(documented)) == [], "routes the app serves that openapi/ does not document"
    assert sorted(set(documented) - set(served)) == [], "operations openapi/ documents that the app does not serve"
    for key, op_id in served.items():
        if op_id is not None:
            assert documented[key] == op_id, f"{key}: operationId {documented[key]} in openapi/, {op_id} in the app"


def test_operation_ids_are_unique() -> None:
    ids = [op.id for op in operations()]
    assert len(ids) == len(set(ids))


# -- the documents are valid and resolve ----------------------------------------------------


def test_documents_are_openapi_30() -> None:
    from openapi_spec_validator import OpenAPIV30SpecValidator, validate

    assert documents(), f"no OpenAPI documents in {OPENAPI_DIR}"
    for name, doc in documents().items():
        assert str(doc["openapi"]).startswith("3.0."), name
        validate(resolved(name, None), base_uri=(OPENAPI_DIR / name).as_uri(), cls=OpenAPIV30SpecValidator)


def test_documents_are_openapi_30_with_official_schemas(specs: Path) -> None:
    from openapi_spec_validator import OpenAPIV30SpecValidator, validate

    for name in documents():
        validate(resolved(name, specs / "openapi"), base_uri=(OPENAPI_DIR / name).as_uri(), cls=OpenAPIV30SpecValidator)


def test_internal_refs_resolve() -> None:
    docs = documents()
    for name, doc in docs.items():
        for where, ref in refs(doc):
            target, _, pointer = ref.partition("#")
            if target and target not in docs:
                continue
            assert pointer.startswith("/components/"), f"{name}{where}: {ref} is not a component"
            try:
                pointer_get(docs[target or name], pointer)
            except (KeyError, IndexError):
                pytest.fail(f"{name}{where}: {ref} does not resolve")


@cache
def _official(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_official_refs_name_existing_schemas(specs: Path) -> None:
    folder = specs / "openapi"
    found = official_refs(documents())
    assert found, "the documents reference no official schema"
    todo = sorted(found)
    seen: set[str] = set()
    while todo:  # the closure: the official files' own references must resolve too
        ref = todo.pop()
        file, _, pointer = ref.partition("#")
        if ref in seen:
            continue
        seen.add(ref)
        if ref in found:
            assert re.fullmatch(r"/components/schemas/[\w.\-]+", pointer), f"{ref} does not name a schema"
        path = folder / file
        assert path.is_file(), f"{ref}: no file {file} in {folder}"
        try:
            node = pointer_get(_official(path), pointer)
        except (KeyError, IndexError):
            pytest.fail(f"{ref}: {file} has nothing at {pointer}")
        assert isinstance(node, dict), f"{ref} is not a schema"
        todo.extend(f"{t or file}#{p}" for t, _, p in (r.partition("#") for _, r in refs(node)))


# -- declared responses against the app -----------------------------------------------------

P = "/ProvMnS/v1800"
T = "/TwinMnS/v1"
ME = "SubNetwork=RAN/SubNetwork=Central/ManagedElement=gNB-00001"
DU = f"{ME}/GNBDUFunction=1"
CELL = f"{DU}/NRCellDU=1"
HIER = "application/vnd.3gpp.object-tree-hierarchical+json"
FLAT = "application/vnd.3gpp.object-tree-flat+json"
JSON = "application/json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
F = "/FaultSupervisionMnS/v1800"
ACK = {"ackUserId": "op", "ackState": "ACKNOWLEDGED"}
UNACK = {"ackUserId": "op", "ackState": "UNACKNOWLEDGED"}
CLEAR = {"clearUserId": "op", "perceivedSeverity": "CLEARED"}
"""The demo alarms (``demo_alarms``): 1 CRITICAL, 2 MAJOR, 3 MINOR (unacknowledged), 4 WARNING
(acknowledged), 5 cleared and unacknowledged."""
FD = "/FileDataReportingMnS/v1800"
J = "/PerfMeasJobCtrlMnS/v1800"
ME_DN = ME.replace("/", ",")
CELL_DN = CELL.replace("/", ",")
PM_START = datetime(2026, 11, 1, tzinfo=UTC)
PM_ROWS = [
    Measurement(CELL_DN, mtype, 900, PM_START + timedelta(minutes=15 * q), value * q)
    for q in range(1, 5)
    for mtype, value in (("RRU.PrbUsedDl", 10.0), ("DRB.UEThpDl", 100.0))
]
"""The measurements the twin holds: one hour of a cell's PRB use and throughput."""


def _replace_label(c: TestClient, label: str) -> httpx.Response:
    body = c.get(f"{P}/{ME}").json()
    body["attributes"]["userLabel"] = label
    return c.put(f"{P}/{ME}", json=body)


def _put_unchanged(c: TestClient) -> httpx.Response:
    return c.put(f"{P}/{ME}", json=c.get(f"{P}/{ME}").json())


def _patch(c: TestClient, dn: str, body: bytes, media: str = MERGE, **headers: str) -> httpx.Response:
    return c.patch(f"{P}/{dn}", content=body, headers={"content-type": media, **headers})


def _patch_alarms(c: TestClient, path: str, body: Any, media: str = MERGE) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return c.patch(f"{F}/alarms{path}", content=content, headers={"content-type": media, "x-twin-author": "probe"})


def _report(c: TestClient, **more: str) -> httpx.Response:
    body = {"dn": ME_DN, "beginTime": "2026-11-01T00:00:00Z", "endTime": "2026-11-01T01:00:00Z"}
    return c.post(f"{T}/pm/files", json={**body, "granularityPeriod": 900, **more})


def _reported(c: TestClient, compression: str) -> httpx.Response:
    """The content of a file just reported."""
    return c.get(_report(c, compression=compression).json()["fileLocation"])


def _pm_file(**more: Any) -> bytes:
    return write_pm_file(PM_ROWS, begin=PM_START, end=PM_START + timedelta(hours=1), **more)


def _create_job(c: TestClient, *types: str, **more: Any) -> httpx.Response:
    body = {"iOCName": "NRCellDU", "iOCInstanceList": [CELL_DN], "measurementCategoryList": list(types)}
    return c.post(f"{J}/measJobs", json={**body, "granularityPeriod": 900, **more})


def _job(c: TestClient) -> str:
    """The id of a job just created."""
    return _create_job(c, "RRU.PrbUsedDl").headers["location"].rsplit("/", 1)[1]


PROBES: dict[tuple[str, int, str | None], Callable[[TestClient], httpx.Response]] = {
    ("getMoi", 200, JSON): lambda c: c.get(f"{P}/{ME}"),
    ("getMoi", 200, HIER): lambda c: c.get(f"{P}/{ME}", params={"scopeType": "BASE_ALL"}, headers={"accept": HIER}),
    ("getMoi", 200, FLAT): lambda c: c.get(f"{P}/{DU}", params={"scopeType": "BASE_ALL"}, headers={"accept": FLAT}),
    ("getMoi", 400, JSON): lambda c: c.get(f"{P}/{ME}", params={"scopeType": "BASE_EVERYTHING"}),
    ("getMoi", 404, JSON): lambda c: c.get(f"{P}/{DU}/NRCellDU=99"),
    ("getMoi", 406, JSON): lambda c: c.get(f"{P}/{ME}", headers={"accept": "text/html"}),
    ("putMoi", 200, JSON): lambda c: _replace_label(c, "replaced"),
    ("putMoi", 201, JSON): lambda c: c.put(
        f"{P}/{ME}/GNBDUFunction=9", json={"attributes": {"gNBId": 9, "gNBIdLength": 24}}
    ),
    ("putMoi", 204, None): _put_unchanged,
    ("putMoi", 400, JSON): lambda c: c.put(f"{P}/{ME}", json={"id": "gNB-00001", "GNBDUFunction": []}),
    ("putMoi", 404, JSON): lambda c: c.put(f"{P}/SubNetwork=Nowhere/ManagedElement=1", json={"attributes": {}}),
    ("putMoi", 412, JSON): lambda c: c.put(f"{P}/{ME}", json={"attributes": {}}, headers={"if-match": '"999"'}),
    ("putMoi", 415, JSON): lambda c: c.put(f"{P}/{ME}", content=b"{}", headers={"content-type": "text/plain"}),
    ("patchMoi", 204, None): lambda c: _patch(c, ME, b'{"attributes": {"userLabel": "patched"}}'),
    ("patchMoi", 400, JSON): lambda c: _patch(c, ME, b"[1]"),
    ("patchMoi", 404, JSON): lambda c: _patch(c, f"{DU}/NRCellDU=99", b'{"attributes": {}}'),
    ("patchMoi", 409, JSON): lambda c: _patch(
        c, ME, b'[{"op": "test", "path": "/attributes/userLabel", "value": "not it"}]', JSON_PATCH
    ),
    ("patchMoi", 412, JSON): lambda c: _patch(c, ME, b'{"attributes": {}}', **{"if-match": '"999"'}),
    ("patchMoi", 415, JSON): lambda c: _patch(c, ME, b"{}", "text/plain"),
    ("deleteMoi", 200, None): lambda c: c.delete(f"{P}/{CELL}"),
    ("deleteMoi", 400, JSON): lambda c: c.delete(f"{P}/SubNetwork=RAN/ManagedElement="),
    ("deleteMoi", 404, JSON): lambda c: c.delete(f"{P}/{DU}/NRCellDU=99"),
    ("deleteMoi", 412, JSON): lambda c: c.delete(f"{P}/{CELL}", headers={"if-match": '"999"'}),
    ("getHistory", 200, JSON): lambda c: c.get(f"{T}/history/{ME}"),
    ("getHistory", 400, JSON): lambda c: c.get(f"{T}/history/SubNetwork="),
    ("getHistory", 404, JSON): lambda c: c.get(f"{T}/history/SubNetwork=Nowhere"),
    ("getDiff", 200, JSON): lambda c: c.get(f"{T}/diff", params={"from": "0"}),
    ("getDiff", 400, JSON): lambda c: c.get(f"{T}/diff"),
    ("getDiff", 404, JSON): lambda c: c.get(f"{T}/diff", params={"from": "0", "to": "99"}),
    ("getRevisions", 200, JSON): lambda c: c.get(f"{T}/revisions", params={"limit": "5"}),
    ("getRevisions", 400, JSON): lambda c: c.get(f"{T}/revisions", params={"limit": "0"}),
    ("getServiceIndex", 200, JSON): lambda c: c.get("/"),
    ("getAlarms", 200, JSON): lambda c: c.get(f"{F}/alarms"),
    ("getAlarms", 400, JSON): lambda c: c.get(f"{F}/alarms", params={"alarmAckState": "SOME_ALARMS"}),
    ("getAlarms", 404, JSON): lambda c: c.get(f"{F}/alarms", params={"asOf": "999"}),
    ("getAlarmCount", 200, JSON): lambda c: c.get(f"{F}/alarms/alarmCount"),
    ("getAlarmCount", 400, JSON): lambda c: c.get(f"{F}/alarms/alarmCount", params={"filter": "(("}),
    ("getAlarmCount", 404, JSON): lambda c: c.get(f"{F}/alarms/alarmCount", params={"asOf": "999"}),
    ("patchAlarms", 204, None): lambda c: _patch_alarms(c, "", {"1": ACK, "2": CLEAR}),
    ("patchAlarms", 400, JSON): lambda c: _patch_alarms(c, "", {"1": ACK, "99": ACK, "2": {"ackState": "?"}}),
    ("patchAlarms", 415, JSON): lambda c: _patch_alarms(c, "", {"1": ACK}, JSON),
    ("patchAlarm", 204, None): lambda c: _patch_alarms(c, "/1", ACK),
    ("patchAlarm", 400, JSON): lambda c: _patch_alarms(c, "/1", {**ACK, **CLEAR}),
    ("patchAlarm", 404, JSON): lambda c: _patch_alarms(c, "/99", ACK),
    ("patchAlarm", 409, JSON): lambda c: _patch_alarms(c, "/1", UNACK),
    ("patchAlarm", 415, JSON): lambda c: _patch_alarms(c, "/1", ACK, JSON),
    ("postAlarmComment", 201, JSON): lambda c: c.post(f"{F}/alarms/1/comments", json={"commentText": "seen"}),
    ("postAlarmComment", 400, JSON): lambda c: c.post(f"{F}/alarms/1/comments", json={"commentText": ""}),
    ("postAlarmComment", 404, JSON): lambda c: c.post(f"{F}/alarms/99/comments", json={"commentText": "seen"}),
    ("postAlarmComment", 415, JSON): lambda c: c.post(
        f"{F}/alarms/1/comments", content=b'{"commentText": "seen"}', headers={"content-type": "text/plain"}
    ),
    ("getMeasurements", 200, JSON): lambda c: c.get(f"{T}/pm", params={"dn": CELL_DN}),
    ("getMeasurements", 400, JSON): lambda c: c.get(f"{T}/pm", params={"dn": ME_DN, "scope": "BASE_EVERYTHING"}),
    ("postMeasurements", 200, JSON): lambda c: c.post(
        f"{T}/pm", content=_pm_file(), headers={"content-type": "application/xml"}
    ),
    ("postMeasurements", 400, JSON): lambda c: c.post(f"{T}/pm", content=b"<html/>"),
    ("postPmFile", 201, JSON): _report,
    ("postPmFile", 400, JSON): lambda c: _report(c, endTime="2026-11-01T00:00:00Z"),
    ("postPmFile", 409, JSON): lambda c: (_report(c), _report(c))[1],
    ("getFiles", 200, JSON): lambda c: (_report(c), c.get(f"{FD}/files", params={"fileDataType": "Performance"}))[1],
    ("getFiles", 400, JSON): lambda c: c.get(f"{FD}/files"),
    ("getFileContent", 200, "application/gzip"): lambda c: _reported(c, "gzip"),
    ("getFileContent", 200, "application/xml"): lambda c: _reported(c, "none"),
    ("getFileContent", 404, JSON): lambda c: c.get(f"{FD}/files/A20261101.0000+0000-0100+0000_x_900s.xml/content"),
    ("createMeasJob", 201, JSON): lambda c: _create_job(c, "RRU.PrbUsedDl"),
    ("createMeasJob", 202, JSON): lambda c: _create_job(c, "RRU.PrbUsedDl", "PEE.Energy"),
    ("createMeasJob", 400, JSON): lambda c: _create_job(c, "No.Such.Type"),
    ("createMeasJob", 415, JSON): lambda c: c.post(
        f"{J}/measJobs", content=b"{}", headers={"content-type": "text/plain"}
    ),
    ("getMeasJobs", 200, JSON): lambda c: c.get(f"{J}/measJobs", params={"jobIdList": _job(c)}),
    ("getMeasJobs", 404, JSON): lambda c: c.get(f"{J}/measJobs", params={"jobIdList": "nope"}),
    ("getMeasJob", 200, JSON): lambda c: c.get(f"{J}/measJobs/{_job(c)}"),
    ("getMeasJob", 404, JSON): lambda c: c.get(f"{J}/measJobs/nope"),
    ("deleteMeasJob", 204, None): lambda c: c.delete(f"{J}/measJobs/{_job(c)}"),
    ("deleteMeasJob", 404, JSON): lambda c: c.delete(f"{J}/measJobs/nope"),
}
"""A request producing each declared (operationId, status, media type); None: no body."""

EXTRA_PROBES: dict[str, tuple[str, Callable[[TestClient], httpx.Response]]] = {
    "get-flat-single": ("getMoi", lambda c: c.get(f"{P}/{CELL}", headers={"accept": FLAT})),
    "get-filter": ("getMoi", lambda c: c.get(f"{P}/{ME}", params={"scopeType": "BASE_ALL", "filter": "//NRCellDU"})),
    "get-frame": ("getMoi", lambda c: c.get(f"{P}/{ME}", params={"scopeType": "BASE_NTH_LEVEL", "scopeLevel": "2"})),
    "get-fields": (
        "getMoi",
        lambda c: c.get(f"{P}/{ME}", params={"attributes": "userLabel", "fields": "attributes/x"}),
    ),
    "get-as-of-time": ("getMoi", lambda c: c.get(f"{P}/{ME}", params={"asOf": "2000-01-01T00:00:00Z"})),
    "get-empty-dn": ("getMoi", lambda c: c.get(f"{P}/")),
    "put-root": ("putMoi", lambda c: c.put(f"{P}/SubNetwork=Other", json={"attributes": {}})),
    "put-wrong-id": ("putMoi", lambda c: c.put(f"{P}/{ME}", json={"id": "other"})),
    "put-not-json": ("putMoi", lambda c: c.put(f"{P}/{ME}", content=b"{", headers={"content-type": JSON})),
    "patch-3gpp-merge-create": (
        "patchMoi",
        lambda c: _patch(
            c, ME, b'{"GNBCUUPFunction": [{"id": "7", "attributes": {}}]}', "application/3gpp-merge-patch+json"
        ),
    ),
    "patch-3gpp-json-remove": (
        "patchMoi",
        lambda c: _patch(c, DU, b'[{"op": "remove", "path": "/NRCellDU=2"}]', "application/3gpp-json-patch+json"),
    ),
    "patch-json-no-target": ("patchMoi", lambda c: _patch(c, f"{DU}/NRCellDU=99", b"[]", JSON_PATCH)),
    "delete-subtree": ("deleteMoi", lambda c: c.delete(f"{P}/{DU}")),
    "diff-times": ("getDiff", lambda c: c.get(f"{T}/diff", params={"from": "2000-01-01T00:00:00Z", "to": "1"})),
    "history-comma-form": ("getHistory", lambda c: c.get(f"{T}/history/SubNetwork%3DRAN%2CSubNetwork%3DCentral")),
    "alarms-selected": (
        "getAlarms",
        lambda c: c.get(
            f"{F}/alarms",
            params={
                "alarmAckState": "ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS",
                "baseObjectInstance": ME.replace("/", ","),
                "filter": 'perceivedSeverity="CRITICAL" or thresholdinfo/observedValue > 50',
            },
        ),
    ),
    "alarms-commented": ("getAlarms", lambda c: c.get(f"{F}/alarms", params={"filter": "comments"})),
    "alarms-as-of-time": ("getAlarms", lambda c: c.get(f"{F}/alarms", params={"asOf": "2000-01-01T00:00:00Z"})),
    "alarms-bad-base": ("getAlarms", lambda c: c.get(f"{F}/alarms", params={"baseObjectInstance": "x"})),
    "alarms-as-of-no-zone": ("getAlarms", lambda c: c.get(f"{F}/alarms", params={"asOf": "2000-01-01T00:00:00"})),
    "alarm-count-as-of": ("getAlarmCount", lambda c: c.get(f"{F}/alarms/alarmCount", params={"asOf": "2"})),
    "alarm-count-selected": (
        "getAlarmCount",
        lambda c: c.get(f"{F}/alarms/alarmCount", params={"alarmAckState": "ALL_UNACKNOWLEDGED_ALARMS"}),
    ),
    "patch-alarms-empty": ("patchAlarms", lambda c: _patch_alarms(c, "", {})),
    "patch-alarms-not-json": ("patchAlarms", lambda c: _patch_alarms(c, "", b"{")),
    "patch-alarms-all-fail": ("patchAlarms", lambda c: _patch_alarms(c, "", {"1": UNACK, "5": CLEAR})),
    "patch-alarms-mixed": ("patchAlarms", lambda c: _patch_alarms(c, "", {"4": CLEAR, "5": ACK, "1": UNACK})),
    "clear-acknowledged": ("patchAlarm", lambda c: _patch_alarms(c, "/4", CLEAR)),
    "clear-cleared": ("patchAlarm", lambda c: _patch_alarms(c, "/5", CLEAR)),
    "ack-null-system": ("patchAlarm", lambda c: _patch_alarms(c, "/2", {**ACK, "ackSystemId": None})),
    "ack-empty-user": ("patchAlarm", lambda c: _patch_alarms(c, "/2", {**ACK, "ackUserId": ""})),
    "patch-alarm-no-body": ("patchAlarm", lambda c: _patch_alarms(c, "/2", b"")),
    "comment-cleared": (
        "postAlarmComment",
        lambda c: c.post(
            f"{F}/alarms/5/comments",
            json={"commentText": "why", "commentUserId": "op", "commentTime": "2030-01-01T00:00:00+02:00"},
        ),
    ),
    "comment-unknown-member": ("postAlarmComment", lambda c: c.post(f"{F}/alarms/1/comments", json={"x": 1})),
    "comment-not-object": ("postAlarmComment", lambda c: c.post(f"{F}/alarms/1/comments", json=["seen"])),
    "pm-scoped": (
        "getMeasurements",
        lambda c: c.get(
            f"{T}/pm",
            params={
                "dn": ME,
                "scopeType": "BASE_NTH_LEVEL",
                "scopeLevel": "2",
                "measurementTypes": "RRU.PrbUsedDl,DRB.UEThpDl",
                "from": "2026-11-01T00:30:00Z",
                "to": "2026-11-01T01:00:00+00:00",
                "granularityPeriod": "900",
            },
        ),
    ),
    "pm-everything": ("getMeasurements", lambda c: c.get(f"{T}/pm")),
    "pm-bad-type": ("getMeasurements", lambda c: c.get(f"{T}/pm", params={"measurementTypes": "RRU PrbUsedDl"})),
    "pm-reversed": (
        "getMeasurements",
        lambda c: c.get(f"{T}/pm", params={"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}),
    ),
    "pm-bad-level": ("getMeasurements", lambda c: c.get(f"{T}/pm", params={"scopeLevel": "-1"})),
    "pm-post-gzip-measCollec": (
        "postMeasurements",
        lambda c: c.post(f"{T}/pm", content=_pm_file(fmt="measCollec", compress=True)),
    ),
    "pm-post-ves-empty": ("postMeasurements", lambda c: c.post(f"{T}/pm", json={"eventList": []})),
    "pm-post-empty": ("postMeasurements", lambda c: c.post(f"{T}/pm", content=b"")),
    "pm-post-bad-gzip": ("postMeasurements", lambda c: c.post(f"{T}/pm", content=b"\x1f\x8b junk")),
    "pm-file-measCollec": ("postPmFile", lambda c: _report(c, fileFormat="measCollec", compression="none")),
    "pm-file-bad-format": ("postPmFile", lambda c: _report(c, fileFormat="csv")),
    "pm-file-not-json": ("postPmFile", lambda c: c.post(f"{T}/pm/files", content=b"{")),
    "files-window": (
        "getFiles",
        lambda c: c.get(f"{FD}/files", params={"fileDataType": "Trace", "beginTime": "2026-01-01T00:00:00Z"}),
    ),
    "files-reversed": (
        "getFiles",
        lambda c: c.get(
            f"{FD}/files",
            params={
                "fileDataType": "Performance",
                "beginTime": "2026-01-02T00:00:00Z",
                "endTime": "2026-01-01T00:00:00Z",
            },
        ),
    ),
    "jobs-all": ("getMeasJobs", lambda c: (_job(c), _job(c), c.get(f"{J}/measJobs"))[2]),
    "jobs-comma-list": ("getMeasJobs", lambda c: c.get(f"{J}/measJobs", params={"jobIdList": f"{_job(c)},{_job(c)}"})),
    "job-streaming": (
        "createMeasJob",
        lambda c: _create_job(c, "RRU", reportingMethod="streaming", streamTarget="ws://collector", priority="high"),
    ),
    "job-no-stream-target": ("createMeasJob", lambda c: _create_job(c, "RRU.PrbUsedDl", reportingMethod="streaming")),
    "job-unknown-object": (
        "createMeasJob",
        lambda c: c.post(
            f"{J}/measJobs",
            json={
                "iOCName": "NRCellDU",
                "iOCInstanceList": [f"{ME_DN},GNBDUFunction=1,NRCellDU=99"],
                "measurementCategoryList": ["RRU.PrbUsedDl"],
                "granularityPeriod": 900,
            },
        ),
    ),
    "job-not-json": (
        "createMeasJob",
        lambda c: c.post(f"{J}/measJobs", content=b"{", headers={"content-type": JSON}),
    ),
    "patch-alarm-nul-id": ("patchAlarm", lambda c: _patch_alarms(c, "/a%00b", ACK)),
    "patch-alarms-nul-id": ("patchAlarms", lambda c: _patch_alarms(c, "", {"a\x00b": ACK})),
    "comment-nul-id": ("postAlarmComment", lambda c: c.post(f"{F}/alarms/a%00b/comments", json={"commentText": "a"})),
    "comment-time-out-of-range": (
        "postAlarmComment",
        lambda c: c.post(
            f"{F}/alarms/1/comments", json={"commentText": "a", "commentTime": "0001-01-01T00:00:00+14:00"}
        ),
    ),
    "comment-bad-time": (
        "postAlarmComment",
        lambda c: c.post(f"{F}/alarms/1/comments", json={"commentText": "a", "commentTime": "noon"}),
    ),
}
"""More requests, each of whose outcomes must be declared by its operation."""


def _plugged_probes() -> None:
    """Probes of newer routes live beside their tests in ``probes_*.py`` (a ``PROBES`` dict each, same form)."""
    import importlib

    for path in sorted(Path(__file__).parent.glob("probes_*.py")):
        module = importlib.import_module(path.stem)
        clash = set(module.PROBES) & set(PROBES)
        assert not clash, f"{path.name} repeats probes {sorted(clash, key=str)}"
        PROBES.update(module.PROBES)


_plugged_probes()


@pytest.fixture
def client(store: SqlStore) -> Iterator[TestClient]:
    """The app over one generated gNB (revision 1) with the demo alarms and an hour of PM."""
    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(1, seed=3)), source="real")
    assert [a.alarm_id for a in demo_alarms(store, 1)] == ["1", "2", "3", "4", "5"]
    PmStore(store).add(PM_ROWS)
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        yield c


def _operations_by_id() -> dict[str, Operation]:
    return {op.id: op for op in operations()}


def test_every_declared_response_has_a_probe() -> None:
    documented = {(op.id, s, m) for op in operations() for s, m in declared_pairs(op)}
    assert sorted(documented - set(PROBES), key=str) == [], "declared responses no request below produces"
    assert sorted(set(PROBES) - documented, key=str) == [], "probes of responses the documents do not declare"


def check_headers(op: Operation, status: int, response: httpx.Response) -> None:
    """The declared response headers: the required ones present, every present one valid."""
    import jsonschema

    for name, declaration in declared(op)[status].get("headers", {}).items():
        header, doc, _ = deref(declaration, op.doc)
        value = response.headers.get(name)
        if value is None:
            assert not header.get("required"), f"{op.id} {status}: required header {name} is missing"
            continue
        schema = resolved_schema(header["schema"], doc)
        typed: Any = int(value) if schema.get("type") == "integer" and value.isdigit() else value
        jsonschema.validate(typed, schema)


def resolved_schema(schema: dict[str, Any], doc: str) -> dict[str, Any]:
    """A header schema of ``doc`` with its local references followed (no official ones)."""
    while "$ref" in schema:
        target, _, pointer = str(schema["$ref"]).partition("#")
        doc = target or doc
        schema = pointer_get(documents()[doc], pointer)
    return schema


def check_response(op: Operation, response: httpx.Response) -> None:
    """Status, media type and headers as ``op`` declares them."""
    responses = declared(op)
    request = f"{response.request.method} {response.request.url}"
    assert response.status_code in responses, (
        f"{request}: {response.status_code} is not declared for {op.id}: {response.text[:300]}"
    )
    content = responses[response.status_code].get("content", {})
    media = (response.headers.get("content-type") or "").split(";")[0].strip() or None
    if content:
        assert media in content, f"{request}: {response.status_code} with {media}; declared {sorted(content)}"
    else:
        assert response.content == b"", f"{request}: {response.status_code} declares no body but has one"
    check_headers(op, response.status_code, response)


@pytest.mark.parametrize("key", list(PROBES), ids=[f"{o}-{s}-{m or 'empty'}" for o, s, m in PROBES])
def test_declared_response_is_produced(key: tuple[str, int, str | None], client: TestClient) -> None:
    op_id, status, media = key
    response = PROBES[key](client)
    assert response.status_code == status, response.text[:500]
    assert (response.headers.get("content-type") or "").split(";")[0] == (media or ""), response.headers
    check_response(_operations_by_id()[op_id], response)


@pytest.mark.parametrize("name", list(EXTRA_PROBES))
def test_other_outcomes_are_declared(name: str, client: TestClient) -> None:
    op_id, send = EXTRA_PROBES[name]
    check_response(_operations_by_id()[op_id], send(client))


# -- bodies against the declared schemas (needs the official files) -------------------------


@cache
def _registry(official: Path) -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    def retrieve(uri: str) -> Resource[Any]:
        path = Path(httpx.URL(uri).path)
        if path.parent == OPENAPI_DIR:
            return Resource.from_contents(resolved(path.name, official), default_specification=DRAFT4)
        return Resource.from_contents(_official(path), default_specification=DRAFT4)

    return Registry(retrieve=retrieve)


def body_validator(op: Operation, status: int, media: str, official: Path) -> Any:
    """An OpenAPI 3.0 schema validator for the body of one declared response."""
    from openapi_schema_validator import OAS30Validator, oas30_format_checker

    response = op.spec["responses"][str(status)]
    doc, pointer = op.doc, f"/paths/{escape(op.path)}/{op.method}/responses/{status}"
    if "$ref" in response:
        _, doc, pointer = deref(response, op.doc)
    ref = f"{(OPENAPI_DIR / doc).as_uri()}#{pointer}/content/{escape(media)}/schema"
    return OAS30Validator({"$ref": ref}, registry=_registry(official), format_checker=oas30_format_checker)


@pytest.mark.parametrize(
    "key", [k for k in PROBES if k[2] is not None], ids=[f"{o}-{s}-{m}" for o, s, m in PROBES if m is not None]
)
def test_declared_response_body_validates(key: tuple[str, int, str], client: TestClient, specs: Path) -> None:
    op_id, status, media = key
    response = PROBES[key](client)
    assert response.status_code == status
    if not media.endswith("json"):  # a PM file: gzip, or XML
        assert response.content.startswith(b"\x1f\x8b" if media == "application/gzip" else b"<?xml"), media
        return
    errors = list(
        body_validator(_operations_by_id()[op_id], status, media, specs / "openapi").iter_errors(response.json())
    )
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])


@pytest.mark.parametrize("name", list(EXTRA_PROBES))
def test_other_outcome_bodies_validate(name: str, client: TestClient, specs: Path) -> None:
    op_id, send = EXTRA_PROBES[name]
    response = send(client)
    media = (response.headers.get("content-type") or "").split(";")[0].strip()
    if not response.content or not media.endswith("json"):
        return
    op = _operations_by_id()[op_id]
    errors = list(body_validator(op, response.status_code, media, specs / "openapi").iter_errors(response.json()))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])

"""The PM store, PM services and their HTTP face (FileDataReportingMnS, TwinMnS /pm), on every backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from mns.conformance.schemas import BASE_URI, load_specs, locate_specs
from mns.errors import AlreadyExists, BadRequest, MalformedDN, NotFound
from mns.pm import service
from mns.pm.files import MEAS_COLLEC, parse_pm_file
from mns.pm.model import Measurement
from mns.pm.store import PmFile, PmStore
from mns.producers.app import create_app
from mns.sim.generate import generate_network
from mns.store import Create, Scope, SqlStore

ROOT = Path(__file__).resolve().parent.parent
FILES = "/FileDataReportingMnS/v1800"
FDR_FILE = "TS28532_FileDataReportingMnS.yaml"
KEYSIGHT = "D20241211.0934+0000-0936+0000_-0_DC=Keysight.com,SubNetwork=Morrisville,ManagedElement=GNB-1_-_1.xml"

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
ME1 = "SubNetwork=RAN,ManagedElement=gNB-1"
ME2 = "SubNetwork=RAN,ManagedElement=gNB-2"
CELL11 = f"{ME1},GNBDUFunction=1,NRCellDU=1"
CELL12 = f"{ME1},GNBDUFunction=1,NRCellDU=2"
CELL21 = f"{ME2},GNBDUFunction=1,NRCellDU=1"


def at(quarter: int) -> datetime:
    return T0 + timedelta(minutes=15 * quarter)


def series_rows() -> list[Measurement]:
    """Four quarters of PRB use, throughput (with 5QI sub-counters) and RRC connections."""
    rows: list[Measurement] = []
    for q in range(1, 5):
        for i, cell in enumerate((CELL11, CELL12, CELL21)):
            rows.append(Measurement(cell, "RRU.PrbUsedDl", 900, at(q), 10.0 * q + i))
            rows.append(Measurement(cell, "RRU.PrbTotDl", 900, at(q), 273.0))
            rows.append(Measurement(cell, "DRB.UEThpDl", 900, at(q), 100.0 + q))
            rows.append(Measurement(cell, "DRB.UEThpDl.1", 900, at(q), 50.0 + q))
            rows.append(Measurement(cell, "DRB.UEThpDlX", 900, at(q), 1.0))
        rows.append(Measurement(ME1, "PEE.Energy", 900, at(q), 1000.0 * q))
    return rows


@pytest.fixture
def pm(store: SqlStore) -> PmStore:
    p = PmStore(store)
    p.add(series_rows())
    return p


def test_tables_are_created_idempotently(store: SqlStore) -> None:
    first = PmStore(store)
    first.add([Measurement(CELL11, "RRU.PrbUsedDl", 900, at(1), 1.0)])
    second = PmStore(store)
    assert [m.value for m in second.read(dn=CELL11)] == [1.0]


def test_read_object_scope_type_and_time(pm: PmStore) -> None:
    rows = pm.read(dn=CELL11, types=["RRU.PrbUsedDl"])
    assert [(m.end, m.value) for m in rows] == [(at(q), 10.0 * q) for q in range(1, 5)]
    assert all(m.dn == CELL11 and m.period == 900 and m.end.tzinfo is not None for m in rows)

    window = pm.read(dn=CELL11, types=["RRU.PrbUsedDl"], start=at(2), end=at(3))
    assert [m.end for m in window] == [at(2), at(3)]  # both ends inclusive

    subtree = pm.read(dn=ME1, scope=Scope.BASE_SUBTREE, types=["RRU.PrbUsedDl", "PEE.Energy"], start=at(4))
    assert [(m.dn, m.mtype, m.value) for m in subtree] == [
        (ME1, "PEE.Energy", 4000.0),
        (CELL11, "RRU.PrbUsedDl", 40.0),
        (CELL12, "RRU.PrbUsedDl", 41.0),
    ]
    children = pm.read(dn=ME1, scope=Scope.BASE_NTH_LEVEL, level=2, types=["PEE.Energy", "RRU.PrbTotDl"], end=at(1))
    assert {m.dn for m in children} == {CELL11, CELL12}
    assert pm.read(dn=ME1, scope=Scope.BASE_NTH_LEVEL, level=1) == []
    everything = pm.read(start=at(1), end=at(1))
    assert len(everything) == 16
    assert pm.read(dn="SubNetwork=RAN,ManagedElement=gNB-10", scope=Scope.BASE_ALL) == []

    exact = {m.mtype for m in pm.read(dn=CELL11, types=["DRB.UEThpDl"])}
    assert exact == {"DRB.UEThpDl"}
    with_sub = {m.mtype for m in pm.read(dn=CELL11, types=["DRB.UEThpDl"], subcounters=True)}
    assert with_sub == {"DRB.UEThpDl", "DRB.UEThpDl.1"}  # not DRB.UEThpDlX
    assert pm.read(dn=CELL11, period=60) == []


def test_upsert_arrays_nulls_and_retention(pm: PmStore) -> None:
    pm.add(
        [
            Measurement(CELL11, "RRU.PrbUsedDl", 900, at(1), 99.0, suspect=True),
            Measurement(CELL11, "RRU.PrbUsedDl", 900, at(5), None, (1.0, 2.0)),
            Measurement(CELL11, "RRU.PrbUsedDl", 60, at(5), None),
        ]
    )
    rows = pm.read(dn=CELL11, types=["RRU.PrbUsedDl"])
    assert [(m.period, m.end, m.value, m.values, m.suspect) for m in rows] == [
        (60, at(5), None, None, False),
        (900, at(1), 99.0, None, True),
        (900, at(2), 20.0, None, False),
        (900, at(3), 30.0, None, False),
        (900, at(4), 40.0, None, False),
        (900, at(5), None, (1.0, 2.0), False),
    ]
    assert pm.add([]) == 0
    assert pm.periods(start=at(4)) == [(900, at(4)), (60, at(5)), (900, at(5))]
    assert pm.delete_before(at(3)) == 2 * 16
    assert {m.end for m in pm.read()} == {at(3), at(4), at(5)}


def test_malformed_dn_changes_nothing(pm: PmStore) -> None:
    before = pm.read()
    with pytest.raises(MalformedDN):
        pm.add([Measurement(CELL11, "RRU.PrbUsedDl", 900, at(9), 1.0), Measurement("nonsense", "X", 900, at(9), 1.0)])
    assert pm.read() == before


def test_pm_writes_serialise_with_nrm_commits(store: SqlStore) -> None:
    pm = PmStore(store)
    errors: list[BaseException] = []

    def nrm() -> None:
        try:
            store.commit([Create("SubNetwork=RAN", {})], source="oss")
            for i in range(30):
                store.commit([Create(f"SubNetwork=RAN,ManagedElement=m{i}", {})], source="oss")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def measurements() -> None:
        try:
            for q in range(30):
                pm.add(Measurement(f"SubNetwork=RAN,ManagedElement=m{i}", "X.Y", 900, at(q), 1.0) for i in range(50))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=nrm), threading.Thread(target=measurements)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.head() == 31
    assert len(pm.read(dn="SubNetwork=RAN", scope=Scope.BASE_ALL)) == 30 * 50


def test_files_table(pm: PmStore) -> None:
    meta = service.report_file(pm=pm, dn=ME1, begin=at(0), end=at(2), period=900, now=at(3))
    assert meta.id == "A20261101.0000+0000-0030+0000_SubNetwork=RAN,ManagedElement=gNB-1_900s.xml.gz"
    got, content = pm.file_content(meta.id)
    assert got == meta
    assert pm.file(meta.id) == meta
    assert len(content) == meta.size
    rows = parse_pm_file(content).measurements
    assert {m.end for m in rows} == {at(1), at(2)}
    assert {m.dn for m in rows} == {ME1, CELL11, CELL12}
    assert len(rows) == 2 * (1 + 2 * 5)
    with pytest.raises(AlreadyExists):
        service.report_file(pm=pm, dn=ME1, begin=at(0), end=at(2), period=900, now=at(3))
    with pytest.raises(NotFound):
        pm.file_content("nope")
    with pytest.raises(BadRequest, match="size"):
        pm.add_file(PmFile("x", "Performance", at(0), None, at(0), at(1), 900, "f", None, 5), b"abc")
    with pytest.raises(BadRequest, match="not after"):
        service.report_file(pm=pm, dn=ME1, begin=at(2), end=at(2), period=900)
    plain = service.report_file(pm=pm, dn=CELL21, begin=at(0), end=at(4), period=900, fmt=MEAS_COLLEC, compress=False)
    assert plain.compression is None
    assert plain.file_format == "org.3GPP.32.435#measCollec"
    assert pm.file_content(plain.id)[1].startswith(b"<?xml")
    assert [f.id for f in service.list_files(pm=pm, data_type="Performance", now=at(4))] == [meta.id, plain.id]
    assert [f.id for f in service.list_files(pm=pm, data_type="Performance", end=at(4), now=at(4))] == [meta.id]
    assert service.list_files(pm=pm, data_type="Trace") == []
    with pytest.raises(BadRequest, match="fileDataType"):
        service.list_files(pm=pm, data_type="performance")


def test_query_rejects_bad_input(pm: PmStore) -> None:
    with pytest.raises(BadRequest, match="measurement type"):
        service.query(pm=pm, dn=CELL11, types=["RRU PrbUsedDl"])
    with pytest.raises(BadRequest, match="before"):
        service.query(pm=pm, dn=CELL11, start=at(2), end=at(1))
    with pytest.raises(MalformedDN):
        service.query(pm=pm, dn="nonsense")
    assert len(service.query(pm=pm, dn=ME1, scope=Scope.BASE_ALL, types=["PEE.Energy"], max_rows=4)) == 4
    with pytest.raises(BadRequest, match="more than 3 measurements"):
        service.query(pm=pm, dn=ME1, scope=Scope.BASE_ALL, types=["PEE.Energy"], max_rows=3)
    assert len(pm.read(dn=ME1, scope=Scope.BASE_NTH_LEVEL, level=2, limit=5)) == 5
    uri_form = service.query(pm=pm, dn=CELL11.replace(",", "/"), types=["PEE.Energy", "RRU.PrbTotDl"], end=at(1))
    assert [(m.dn, m.mtype) for m in uri_form] == [(CELL11, "RRU.PrbTotDl")]


# -- HTTP ---------------------------------------------------------------------------------------


@pytest.fixture
def client(store: SqlStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as c:
        yield c


@pytest.fixture(scope="module")
def interop_pm() -> Path:
    path = (ROOT.parent / "shared" / "interop" / "pm").resolve()
    if not (path / KEYSIGHT).is_file():
        pytest.skip(f"interop PM samples not found at {path}")
    return path


def spec_validator(specs: Path, pointer: str, file: str = FDR_FILE) -> Any:
    """A draft 4 validator of a node of an official file (cross-file refs resolve)."""
    oas = load_specs(locate_specs(specs))
    return jsonschema.Draft4Validator({"$ref": f"{BASE_URI}{file}#{pointer}"}, registry=oas.registry)


def assert_error(resp: Any, status: int, specs: Path, fragment: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    spec_validator(specs, "/paths/~1files/get/responses/default/content/application~1json/schema").validate(body)
    assert fragment in body["error"]["errorInfo"]


def test_files_listing_and_download(client: TestClient, store: SqlStore, specs: Path) -> None:
    pm = PmStore(store)
    pm.add(series_rows())
    now = datetime.now(UTC).replace(microsecond=0)
    old = service.report_file(pm=pm, dn=ME1, begin=at(0), end=at(2), period=900, now=now - timedelta(hours=2))
    new = service.report_file(pm=pm, dn=ME2, begin=at(0), end=at(4), period=900, now=now - timedelta(hours=1))
    service.report_file(pm=pm, dn=CELL11, begin=at(0), end=at(4), period=900, now=now - timedelta(days=8))

    resp = client.get(f"{FILES}/files", params={"fileDataType": "Performance"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    spec_validator(specs, "/paths/~1files/get/responses/200/content/application~1json/schema").validate(body)
    file_info_keys = set(load_specs(locate_specs(specs)).known_keys(FDR_FILE, "FileInfo")[1])
    assert all(set(item) <= file_info_keys for item in body)
    assert [item["fileLocation"].rsplit("/", 2)[-2] for item in body] == [old.id, new.id]  # the expired one is gone
    first = body[0]
    assert first["fileLocation"] == f"http://testserver{FILES}/files/{old.id}/content"
    assert first["fileDataType"] == "Performance"
    assert first["fileCompression"] == "gzip"
    assert first["fileFormat"] == "org.3GPP.28.532#measData"
    assert first["fileReadyTime"] == (now - timedelta(hours=2)).isoformat().replace("+00:00", "Z")

    download = client.get(first["fileLocation"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/gzip"
    assert len(download.content) == first["fileSize"]
    rows = parse_pm_file(download.content).measurements
    assert {m.dn for m in rows} == {ME1, CELL11, CELL12}

    window = {"fileDataType": "Performance", "beginTime": (now - timedelta(minutes=90)).isoformat()}
    assert [i["fileSize"] for i in client.get(f"{FILES}/files", params=window).json()] == [new.size]
    window = {"fileDataType": "Performance", "endTime": (now - timedelta(minutes=90)).isoformat()}
    assert [i["fileSize"] for i in client.get(f"{FILES}/files", params=window).json()] == [old.size]
    assert client.get(f"{FILES}/files", params={"fileDataType": "Trace"}).json() == []

    assert_error(client.get(f"{FILES}/files"), 400, specs, "fileDataType is required")
    assert_error(client.get(f"{FILES}/files", params={"fileDataType": "PM"}), 400, specs, "fileDataType 'PM'")
    bad_time = {"fileDataType": "Performance", "beginTime": "yesterday"}
    assert_error(client.get(f"{FILES}/files", params=bad_time), 400, specs, "beginTime 'yesterday'")
    assert_error(client.get(f"{FILES}/files/nope/content"), 404, specs, "no PM file 'nope'")


def test_report_file_over_http(client: TestClient, store: SqlStore, specs: Path) -> None:
    PmStore(store).add(series_rows())
    req = {"dn": CELL21, "beginTime": at(0).isoformat(), "endTime": at(4).isoformat(), "granularityPeriod": 900}
    resp = client.post("/TwinMnS/v1/pm/files", json={**req, "fileFormat": "measCollec", "compression": "none"})
    assert resp.status_code == 201, resp.text
    info = resp.json()
    spec_validator(specs, "/components/schemas/FileInfo").validate(info)
    content = client.get(info["fileLocation"])
    assert content.headers["content-type"] == "application/xml"
    assert len(parse_pm_file(content.content).measurements) == 4 * 5
    assert client.post("/TwinMnS/v1/pm/files", json=req | {"granularityPeriod": 0}).status_code == 400
    assert client.post("/TwinMnS/v1/pm/files", json={"dn": CELL21}).status_code == 400
    assert client.post("/TwinMnS/v1/pm/files", content=b"{").status_code == 400
    assert client.post("/TwinMnS/v1/pm/files", json=req | {"fileFormat": "csv"}).status_code == 400
    assert client.post("/TwinMnS/v1/pm/files", json=req | {"compression": "zip"}).status_code == 400
    assert client.post("/TwinMnS/v1/pm/files", json={**req, "fileFormat": "measCollec"}).status_code == 201
    again = client.post("/TwinMnS/v1/pm/files", json={**req, "fileFormat": "measCollec"})
    assert again.status_code == 409
    assert "exists" in again.json()["error"]["errorInfo"]


def test_twin_pm_query(client: TestClient, store: SqlStore) -> None:
    PmStore(store).add(series_rows())
    params = {
        "dn": ME1,
        "scope": "BASE_SUBTREE",
        "measurementTypes": "RRU.PrbUsedDl,DRB.UEThpDl",
        "from": at(3).isoformat(),
        "to": at(4).isoformat().replace("+00:00", "Z"),
    }
    resp = client.get("/TwinMnS/v1/pm", params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["dn"] == ME1
    assert body["scope"] == "BASE_SUBTREE"
    assert body["from"] == "2026-11-01T00:45:00Z"
    assert body["to"] == "2026-11-01T01:00:00Z"
    got = [(s["dn"], s["measurementType"], s["granularityPeriod"], len(s["points"])) for s in body["series"]]
    assert got == [
        (CELL11, "DRB.UEThpDl", 900, 2),
        (CELL11, "DRB.UEThpDl.1", 900, 2),
        (CELL11, "RRU.PrbUsedDl", 900, 2),
        (CELL12, "DRB.UEThpDl", 900, 2),
        (CELL12, "DRB.UEThpDl.1", 900, 2),
        (CELL12, "RRU.PrbUsedDl", 900, 2),
    ]
    assert body["series"][2]["points"] == [
        {"endTime": "2026-11-01T00:45:00Z", "value": 30.0},
        {"endTime": "2026-11-01T01:00:00Z", "value": 40.0},
    ]
    only = client.get("/TwinMnS/v1/pm", params={"dn": ME1.replace(",", "/"), "granularityPeriod": "900"}).json()
    assert [s["measurementType"] for s in only["series"]] == ["PEE.Energy"]
    level = client.get("/TwinMnS/v1/pm", params={"dn": ME1, "scope": "BASE_NTH_LEVEL", "scopeLevel": "2"}).json()
    assert {s["dn"] for s in level["series"]} == {CELL11, CELL12}

    for bad, fragment in [
        ({"dn": ME1, "scope": "SUBTREE"}, "scope 'SUBTREE'"),
        ({"dn": ME1, "measurementTypes": "RRU.PrbUsedDl,a b"}, "'a b' is not a measurement type"),
        ({"dn": ME1, "from": "noon"}, "from 'noon'"),
        ({"dn": ME1, "from": "2026-11-01T00:00:00"}, "no time zone"),
        ({"dn": ME1, "from": at(2).isoformat(), "to": at(1).isoformat()}, "before"),
        ({"dn": ME1, "scopeLevel": "-1"}, "scopeLevel"),
        ({"dn": "x"}, "malformed DN"),
    ]:
        resp = client.get("/TwinMnS/v1/pm", params=bad)
        assert resp.status_code == 400, bad
        assert fragment in resp.json()["error"]["errorInfo"]


def test_ingest_over_http(client: TestClient, interop_pm: Path) -> None:
    resp = client.post("/TwinMnS/v1/pm", content=(interop_pm / KEYSIGHT).read_bytes())
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "fileFormat": "measData",
        "stored": 284,
        "notes": ["removed an XML declaration that followed other content (a processing instruction)"],
    }
    me = "SubNetwork=Morrisville,ManagedElement=GNB-1"
    body = client.get("/TwinMnS/v1/pm", params={"dn": me, "measurementTypes": "PEE.Energy"}).json()
    assert body["series"][0]["points"] == [
        {"endTime": "2024-12-11T09:34:23Z", "value": 21780.0},
        {"endTime": "2024-12-11T09:35:23Z", "value": 20856.0},
    ]
    ves = client.post("/TwinMnS/v1/pm", content=(interop_pm / "pm_report.json").read_bytes())
    assert ves.json()["stored"] == 28
    prefixed = client.post(
        "/TwinMnS/v1/pm", params={"dnPrefix": "SubNetwork=RAN"}, content=(interop_pm / KEYSIGHT).read_bytes()
    )
    assert prefixed.json()["stored"] == 284
    assert client.get("/TwinMnS/v1/pm", params={"dn": "SubNetwork=RAN", "scope": "BASE_ALL"}).json()["series"]
    assert client.post("/TwinMnS/v1/pm", content=b"").status_code == 400
    assert client.post("/TwinMnS/v1/pm", content=b"<html/>").status_code == 400


# -- PerfMeasJobCtrlMnS (TS 28.550) -------------------------------------------------------------

JOBS = "/PerfMeasJobCtrlMnS/v1800/measJobs"
JOB_FILE = "TS28550_PerfMeasJobCtrlMnS.yaml"


@pytest.fixture
def network(store: SqlStore) -> dict[str, list[str]]:
    """A generated network; DNs by class."""
    objects = list(generate_network(1, seed=7))
    store.commit((Create(o.dn, o.attrs, o.cls) for o in objects), source="real")
    by_class: dict[str, list[str]] = {}
    for o in objects:
        by_class.setdefault(o.cls, []).append(o.dn)
    return by_class


def test_meas_jobs(client: TestClient, store: SqlStore, network: dict[str, list[str]], specs: Path) -> None:
    cells = network["NRCellDU"][:2]
    job = {
        "iOCName": "NRCellDU",
        "iOCInstanceList": [c.replace(",", "/") for c in cells],
        "measurementCategoryList": ["RRU.PrbUsedDl", "DRB.UEThpDl.1", "RRU", "VS.Vendor.Counter"],
        "granularityPeriod": 900,
        "reportingPeriod": 1800,
        "startTime": "2026-11-29T00:00:00Z",
        "priority": "high",
    }
    created = client.post(JOBS, json=job)
    assert created.status_code == 201, created.text
    spec_validator(specs, "/components/schemas/measJobCreation-ResponseType", JOB_FILE).validate(created.json())
    assert created.json() == {"unsupportedList": []}
    href = created.headers["location"]
    assert href.startswith(f"http://testserver{JOBS}/")

    partial = client.post(JOBS, json=job | {"measurementCategoryList": ["RRU.PrbTotDl", "RRC.ConnMean"]})
    assert partial.status_code == 202, partial.text
    assert partial.json()["unsupportedList"] == [
        {"iOCInstance": c, "measurementTypeName": "RRC.ConnMean", "reason": "not measured on NRCellDU"} for c in cells
    ]

    one = client.get(href)
    assert one.status_code == 200
    retrieval = spec_validator(specs, "/components/schemas/measJobsRetrieval-ResponseType", JOB_FILE)
    retrieval.validate(one.json())
    info = one.json()["jobInfoList"][0]
    assert info["href"] == href
    assert info["iOCInstanceList"] == cells
    assert info["reportingMethod"] == "file"
    listed = client.get(JOBS).json()["jobInfoList"]
    assert [i["href"] for i in listed] == [href, partial.headers["location"]]
    assert listed[1]["measurementCategoryList"] == ["RRU.PrbTotDl"]
    job_id = href.rsplit("/", 1)[1]
    chosen = client.get(JOBS, params={"jobIdList": [job_id]}).json()
    retrieval.validate(chosen)
    assert [i["href"] for i in chosen["jobInfoList"]] == [href]
    assert client.get(JOBS, params={"jobIdList": [job_id, "nope"]}).status_code == 404

    assert client.delete(href).status_code == 204
    assert client.get(href).status_code == 404
    assert client.delete(href).status_code == 404
    assert len(client.get(JOBS).json()["jobInfoList"]) == 1


def test_bad_meas_jobs_change_nothing(client: TestClient, network: dict[str, list[str]], specs: Path) -> None:
    cell = network["NRCellDU"][0]
    good = {
        "iOCName": "NRCellDU",
        "iOCInstanceList": [cell],
        "measurementCategoryList": ["RRU"],
        "granularityPeriod": 900,
    }
    cases: list[tuple[Any, str]] = [
        (good | {"measurementCategoryList": ["RRU.PrbUsedDl", "RRU.NoSuchThing"]}, "unknown measurement type"),
        (good | {"measurementCategoryList": ["Foo"]}, "unknown measurement type or family: Foo"),
        (good | {"iOCInstanceList": [cell + "9"]}, "unknown object"),
        (good | {"iOCInstanceList": [network["NRCellCU"][0]]}, "is a NRCellCU, not a NRCellDU"),
        (good | {"iOCInstanceList": ["no dn"]}, "malformed DN"),
        (good | {"iOCInstanceList": []}, "non-empty array"),
        (good | {"measurementCategoryList": ["RRC.ConnMean"]}, "none of RRC.ConnMean is measured on NRCellDU"),
        (good | {"granularityPeriod": 0}, "granularityPeriod"),
        (good | {"reportingPeriod": 1000}, "not a multiple"),
        (good | {"reportingMethod": "ftp"}, "reportingMethod"),
        (good | {"reportingMethod": "streaming"}, "streamTarget"),
        (good | {"startTime": "2026-11-29T01:00:00Z", "stopTime": "2026-11-29T00:00:00Z"}, "stopTime"),
        (good | {"priority": "urgent"}, "priority"),
        (good | {"jobId": "x"}, "unknown members"),
        ({k: v for k, v in good.items() if k != "iOCName"}, "iOCName"),
        ([good], "JSON object"),
    ]
    for body, fragment in cases:
        resp = client.post(JOBS, json=body)
        assert resp.status_code == 400, (body, resp.text)
        spec_validator(specs, "/components/schemas/error-ResponseType", JOB_FILE).validate(resp.json())
        assert fragment in resp.json()["error"]["errorInfo"], (fragment, resp.text)
    assert client.post(JOBS, content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert client.post(JOBS, content=b"{}", headers={"content-type": "text/plain"}).status_code == 415
    assert client.get(JOBS).json() == {"jobInfoList": []}


def test_malformed_ves_and_ids_are_client_errors(store: SqlStore) -> None:
    from fastapi.testclient import TestClient

    from mns.producers.app import create_app

    with TestClient(create_app(store), raise_server_exceptions=False) as client:
        for body in ([{"event": 1}], {"eventList": [{"commonEventHeader": 5}]}):
            r = client.post("/TwinMnS/v1/pm", json=body)
            assert r.status_code < 500, r.text
        huge = {
            "event": {
                "commonEventHeader": {"domain": "perf3gpp", "lastEpochMicrosec": 1e300, "startEpochMicrosec": 1e300},
                "perf3gppFields": {"measDataCollection": {"granularityPeriod": 900}},
            }
        }
        r = client.post("/TwinMnS/v1/pm", json=huge)
        assert r.status_code < 500, r.text
        assert client.get("/FileDataReportingMnS/v1800/files/a%00b/content").status_code == 404
        assert client.delete("/PerfMeasJobCtrlMnS/v1800/measJobs/a%00b").status_code == 404

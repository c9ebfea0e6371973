"""PM streaming (TS 28.532 Streaming Data Reporting MnS): the twin as target and as producer.

Two twins on loopback: A holds a PerfMetricJob whose streamTarget is B's Streaming Data
Reporting MnS; A's reporter opens a connection to B, switches it to a WebSocket and sends the
measurements A receives as GPB units; B stores them and serves them through its PM read. The
target's refusals (unknown connection, malformed meta-data, text, undecodable units, units of
unregistered streams, metrics beyond the stream's) are checked to store nothing, and a target
restarted mid-stream gets the data committed while it was away once A has reconnected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from probes_streaming import PRODUCER, open_connection, stream
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect
from test_openapi import OPENAPI_DIR, _operations_by_id, _registry, body_validator
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from mns.pm import stream_pdsu
from mns.pm.model import Measurement
from mns.pm.stream_pdsu import Result, Unit
from mns.pm.stream_reporter import JobSender, StreamReporter, StreamSettings, job_spec
from mns.producers.app import create_app
from mns.sim.generate import generate_network
from mns.store import Create, Scope, SqlStore, open_store

S = "/StreamingDataReportingMnS/v1800"
P = "/ProvMnS/v1800"
ME = "SubNetwork=RAN/SubNetwork=Central/ManagedElement=gNB-00001"
DU_DN = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001,GNBDUFunction=1"
CELL_DN = f"{DU_DN},NRCellDU=1"
CELL2_DN = f"{DU_DN},NRCellDU=2"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
FAST = StreamSettings(poll=0.05, backoff_min=0.05, backoff_max=0.4, timeout=5)
WAIT = 20.0
"""Seconds a test waits at most for something to arrive over loopback."""


def _network(store: SqlStore) -> SqlStore:
    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(1, seed=3)), source="real")
    return store


@contextmanager
def _serve(app: Any, port: int = 0) -> Iterator[str]:
    """The app under uvicorn on loopback (``port``, or a free one); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="uvicorn-stream-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        assert thread.is_alive(), "the test server stopped"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def _until(check: Callable[[], Any], what: str) -> Any:
    """Poll ``check`` until it returns something truthy (at most ``WAIT`` seconds)."""
    deadline = time.monotonic() + WAIT
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextmanager
def _reporting(app: Any) -> Iterator[StreamReporter]:
    reporter: StreamReporter = app.state.stream_reporter
    reporter.settings = FAST
    reporter.start()
    try:
        yield reporter
    finally:
        reporter.stop()


def _job(target: str, **attrs: Any) -> dict[str, Any]:
    body = {"performanceMetrics": ["RRU.PrbUsedDl", "DRB.UEThpDl"], "granularityPeriod": 900, "jobId": "job-7"}
    return {"attributes": {**body, "streamTarget": target, **attrs}}


def _series(url: str, dn: str, scope: str = "BASE_ONLY") -> dict[tuple[str, str], list[tuple[str, Any]]]:
    params = {"dn": dn, "scope": scope, "granularityPeriod": "900"}  # the jobs' period
    body = httpx.get(f"{url}/TwinMnS/v1/pm", params=params, timeout=10).json()
    return {(s["dn"], s["measurementType"]): [(p["endTime"], p["value"]) for p in s["points"]] for s in body["series"]}


def _series_of(url: str, dn: str, count: int) -> dict[tuple[str, str], list[tuple[str, Any]]] | None:
    """The series of ``dn``'s subtree once there are ``count`` of them."""
    got = _series(url, dn, "BASE_ALL")
    return got if len(got) == count else None


def _connected(reporter: StreamReporter) -> bool:
    return bool(reporter.senders) and all(s.connected.is_set() for s in reporter.senders.values())


# -- the unit codec --------------------------------------------------------------------------


def test_unit_round_trip_and_refusals() -> None:
    unit = Unit("S1", T0, 900, (Result(0, 3.5), Result(1, None), Result(1, None, (1.0, 2.0), "2", suspect=True)))
    assert stream_pdsu.decode(stream_pdsu.encode(unit)) == unit
    bad = {
        b"\xff\xff\xff": "not a GPB",
        stream_pdsu.encode(Unit("", T0, 900, ())): "no streamId",
        stream_pdsu.encode(Unit("S1", T0, 0, ())): "granularityPeriod",
        stream_pdsu.encode(Unit("S1", T0, 900, (Result(0, float("nan")),))): "finite",
    }
    for frame, reason in bad.items():
        with pytest.raises(Exception, match=reason):
            stream_pdsu.decode(frame)


def test_job_spec_reads_stage2_and_openapi_forms() -> None:
    job = "SubNetwork=RAN,ManagedElement=1,PerfMetricJob=1"
    flat = job_spec(job, {"performanceMetrics": ["RRU"], "streamTarget": "ws://h:1/S/", "objectInstances": [CELL_DN]})
    nested = job_spec(
        job, {"performanceMetrics": ["RRU"], "reportingCtrl": {"streamTarget": "ws://h:1/S"}, "jobId": "j"}
    )
    assert flat is not None
    assert nested is not None
    assert (flat.target, nested.target) == ("http://h:1/S", "http://h:1/S")
    assert flat.covers(CELL_DN.replace(",", "\x01"))
    assert not flat.covers(CELL2_DN.replace(",", "\x01"))
    assert nested.roots == ("SubNetwork=RAN\x01ManagedElement=1",)  # no objects: the job's parent subtree
    assert flat.metric_of("RRU.PrbUsedDl") == (0, "PrbUsedDl")
    assert flat.metric_of("DRB.X") is None
    locked = {"performanceMetrics": ["RRU"], "streamTarget": "http://h", "administrativeState": "LOCKED"}
    assert job_spec(job, locked) is None
    assert job_spec(job, {"performanceMetrics": ["RRU"], "fileReportingPeriod": 5}) is None
    assert job_spec(job, {"performanceMetrics": ["RRU"], "streamTarget": "ftp://h"}) is None


def test_sender_after_a_close_by_the_target() -> None:
    """Data the target refused is dropped (it would be refused again); a stream it lost is registered again."""
    spec = job_spec("SubNetwork=RAN,PerfMetricJob=1", {"performanceMetrics": ["RRU"], "streamTarget": "http://h"})
    assert spec is not None
    sender = JobSender(spec, FAST)
    batch = [Measurement(CELL_DN, "RRU.PrbUsedDl", 900, T0, 1.0)]
    sender._pending, sender._registered = batch, {"k"}
    sender._closed_by_target(ConnectionClosed(Close(1012, "service restart"), None))
    assert (sender._pending, sender._registered, sender.dropped_batches) == (batch, {"k"}, 0)
    sender._closed_by_target(ConnectionClosed(Close(1008, "stream 'S' is not registered"), None))
    assert (sender._pending, sender._registered, sender.dropped_batches) == (batch, set(), 0)
    sender._closed_by_target(ConnectionClosed(Close(1007, "measId 9 is beyond"), None))
    assert (sender._pending, sender.dropped_batches) == (None, 1)


# -- twin A streams to twin B ----------------------------------------------------------------


def test_perf_metric_job_streams_to_another_twin(store: SqlStore, tmp_path: Path, specs: Path) -> None:
    a_app = create_app(_network(store))
    b_store = _network(open_store(str(tmp_path / "target.db")))
    try:
        b_app = create_app(b_store)
        with _serve(b_app) as b_url, _serve(a_app) as a_url, _reporting(a_app) as reporter:
            target = f"{b_url}{S}"
            job = _job(target, objectInstances=[CELL_DN], rootObjectInstances=[f"{DU_DN},NRSectorCarrier=1"])
            assert httpx.put(f"{a_url}{P}/{ME}/PerfMetricJob=7", json=job).status_code == 201
            _until(lambda: _connected(reporter), "A to connect to B")
            rows = [
                Measurement(CELL_DN, "RRU.PrbUsedDl", 900, T0, 41.5),
                Measurement(CELL_DN, "DRB.UEThpDl.1", 900, T0, 7.0, suspect=True),
                Measurement(CELL_DN, "DRB.UEThpDl", 900, T0 + timedelta(minutes=15), None, (1.0, 2.5)),
                Measurement(CELL_DN, "PEE.Energy", 900, T0, 9.0),  # not a metric of the job
                Measurement(CELL_DN, "RRU.PrbUsedDl", 60, T0, 9.0),  # not the job's granularity period
                Measurement(CELL2_DN, "RRU.PrbUsedDl", 900, T0, 5.0),  # not an object of the job
                Measurement(f"{DU_DN},NRSectorCarrier=1", "RRU.PrbUsedDl", 900, T0, 3.0),  # under a root
            ]
            a_app.state.pm_store.add(rows)
            expected = {
                (CELL_DN, "RRU.PrbUsedDl"): [("2026-11-01T00:00:00Z", 41.5)],
                (CELL_DN, "DRB.UEThpDl.1"): [("2026-11-01T00:00:00Z", 7.0)],
                (CELL_DN, "DRB.UEThpDl"): [("2026-11-01T00:15:00Z", None)],
                (f"{DU_DN},NRSectorCarrier=1", "RRU.PrbUsedDl"): [("2026-11-01T00:00:00Z", 3.0)],
            }
            received = _until(lambda: _series_of(b_url, DU_DN, len(expected)), "B's PM")
            assert received == expected
            a_view = {k: v for k, v in _series(a_url, DU_DN, "BASE_ALL").items() if k in expected}
            assert received == a_view  # B shows the values A received
            assert b_app.state.pm_store.read(dn=DU_DN, scope=Scope.BASE_ALL, period=60) == []
            thr = httpx.get(f"{b_url}/TwinMnS/v1/pm", params={"dn": CELL_DN, "measurementTypes": "DRB.UEThpDl"})
            assert thr.json()["series"][0]["points"][0] == {
                "endTime": "2026-11-01T00:15:00Z",
                "value": None,
                "values": [1.0, 2.5],
            }
            assert b_app.state.pm_store.read(dn=CELL_DN, types=["DRB.UEThpDl.1"])[0].suspect
            _check_target_bodies(b_url, specs)
            # What a target would refuse (a name that is no measurement type, NaN) is not sent as it is.
            (sender,) = reporter.senders.values()
            a_app.state.pm_store.add([Measurement(CELL_DN, "RRU.PrbUsedDl.a b", 900, T0, 1.0)])
            a_app.state.pm_store.add([Measurement(CELL_DN, "RRU.PrbUsedDl", 900, T0, float("nan"))])
            _until(lambda: _series(b_url, CELL_DN)[(CELL_DN, "RRU.PrbUsedDl")][0][1] is None, "the NaN as no value")
            assert sender.dropped_batches == 0
            assert sender.connected.is_set()
            # Deleting the job stops its stream.
            assert httpx.delete(f"{a_url}{P}/{ME}/PerfMetricJob=7").status_code == 200
            _until(lambda: not reporter.senders, "the job's sender to stop")
            _until(lambda: httpx.get(f"{b_url}{S}/connections").json()[0]["streams"] == [], "A to remove its streams")
    finally:
        b_store.close()


def _check_target_bodies(b_url: str, specs: Path) -> None:
    """What A registered at B, as B answers it, against the schemas; A's request against ConnectionRequest."""
    from openapi_schema_validator import OAS30Validator, oas30_format_checker

    connections = httpx.get(f"{b_url}{S}/connections").json()
    assert [c["producer"] for c in connections] == ["SubNetwork=RAN"]
    assert _errors("getConnections", connections, specs) == []
    cid = connections[0]["connection"].rsplit("/", 1)[1]
    streams = httpx.get(f"{b_url}{S}/connections/{cid}/streams", params={"streamIds": connections[0]["streams"]})
    assert streams.status_code == 200  # the cell's stream, and the carrier's (added when its data came)
    assert _errors("getStreams", streams.json(), specs) == []
    infos = {s["streamInfo"]["additionalInfo"]["measObjDn"]: s["streamInfo"] for s in streams.json()}
    assert sorted(infos) == [CELL_DN, f"{DU_DN},NRSectorCarrier=1"]
    assert infos[CELL_DN]["additionalInfo"]["performanceMetrics"] == ["RRU.PrbUsedDl", "DRB.UEThpDl"]
    assert infos[CELL_DN]["additionalInfo"]["jobId"] == "job-7"
    request = {"producer": connections[0]["producer"], "streams": [infos[CELL_DN]]}
    ref = f"{(OPENAPI_DIR / 'TwinMnS_StreamingDataMnS.yaml').as_uri()}#/components/schemas/ConnectionRequest"
    check = OAS30Validator({"$ref": ref}, registry=_registry(specs / "openapi"), format_checker=oas30_format_checker)
    assert [e.message for e in check.iter_errors(request)] == []


def _errors(op_id: str, body: Any, specs: Path) -> list[str]:
    validator = body_validator(_operations_by_id()[op_id], 200, "application/json", specs / "openapi")
    return [e.message for e in validator.iter_errors(body)]


def test_restarted_target_gets_the_data_after_reconnection(store: SqlStore, tmp_path: Path) -> None:
    """B (on the fixture's backend) goes away mid-stream; what A commits meanwhile reaches B once it is back."""
    b_store = _network(store)
    a_store = _network(open_store(str(tmp_path / "producer.db")))
    try:
        a_app = create_app(a_store)
        with _serve(a_app) as a_url, _reporting(a_app) as reporter:
            with _serve(create_app(b_store)) as b_url:
                port = int(b_url.rsplit(":", 1)[1])
                job = _job(f"{b_url}{S}", objectInstances=[CELL_DN])
                assert httpx.put(f"{a_url}{P}/{ME}/PerfMetricJob=1", json=job).status_code == 201
                _until(lambda: _connected(reporter), "A to connect to B")
                a_app.state.pm_store.add([Measurement(CELL_DN, "RRU.PrbUsedDl", 900, T0, 1.0)])
                _until(lambda: _series(b_url, CELL_DN), "the first value at B")
            _until(lambda: not _connected(reporter), "A to notice that B went away")
            a_app.state.pm_store.add([Measurement(CELL_DN, "RRU.PrbUsedDl", 900, T0 + timedelta(minutes=15), 2.0)])
            (sender,) = reporter.senders.values()
            location = sender._location
            with _serve(create_app(b_store), port=port) as b_url:
                got = _until(
                    lambda: (s := _series(b_url, CELL_DN)) and len(s[(CELL_DN, "RRU.PrbUsedDl")]) == 2 and s,
                    "the value committed while B was down",
                )
                connections = httpx.get(f"{b_url}{S}/connections").json()
        assert got[(CELL_DN, "RRU.PrbUsedDl")] == [("2026-11-01T00:00:00Z", 1.0), ("2026-11-01T00:15:00Z", 2.0)]
        # B kept the connection and its stream: A reopened the same connection.
        assert [c["connection"] for c in connections] == [location]
    finally:
        a_store.close()


# -- the target's refusals -------------------------------------------------------------------


def _unit(stream_id: str, *results: Result) -> bytes:
    return stream_pdsu.encode(Unit(stream_id, T0, 900, results))


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        ("a text frame", 1003, "text frame"),
        (b"\xff\xff\xff", 1007, "not a GPB PerformanceDataStreamUnit"),
        (_unit("S9", Result(0, 1.0)), 1008, "'S9' is not registered on connection"),
        (_unit("S1", Result(0, 1.0), Result(2, 2.0)), 1007, "measId 2 is beyond its 2 performanceMetrics"),
        (_unit("S1", Result(0, float("inf"))), 1007, "not a finite number"),
    ],
    ids=["text", "not-gpb", "unregistered-stream", "measId-beyond", "infinite"],
)
def test_target_closes_on_a_bad_frame_and_stores_nothing(
    store: SqlStore, frame: str | bytes, code: int, reason: str
) -> None:
    app = create_app(_network(store))
    with TestClient(app) as c:
        cid = open_connection(c, stream("S1", "RRU.PrbUsedDl", "DRB.UEThpDl"))
        with c.websocket_connect(f"{S}/connections/{cid}") as ws:
            ws.send_bytes(_unit("S1", Result(1, 5.0)))  # a good unit first: stored
            if isinstance(frame, str):
                ws.send_text(frame)
            else:
                ws.send_bytes(frame)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_bytes()
        assert closed.value.code == code
        assert reason in closed.value.reason
        stored = app.state.pm_store.read(dn=CELL_DN)
        assert [(m.mtype, m.value) for m in stored] == [("DRB.UEThpDl", 5.0)]


def test_target_refuses_unknown_connections_and_bad_meta_data(store: SqlStore) -> None:
    with TestClient(create_app(_network(store))) as c:
        with pytest.raises(WebSocketDenialResponse) as denied, c.websocket_connect(f"{S}/connections/nope"):
            pass
        assert denied.value.status_code == 404
        assert "no streaming connection 'nope'" in denied.value.json()["error"]["errorInfo"]
        bad_streams = {
            "no metrics": {**stream("S1"), "additionalInfo": {"measObjDn": CELL_DN, "performanceMetrics": []}},
            "ASN1": {**stream("S1"), "serializationFormat": "ASN1"},
            "malformed DN": stream("S1", dn="SubNetwork=A,=x"),
            "no additionalInfo": {k: v for k, v in stream("S1").items() if k != "additionalInfo"},
        }
        for what, bad in bad_streams.items():
            r = c.post(f"{S}/connections", json={"producer": PRODUCER, "streams": [stream("S0"), bad]})
            assert r.status_code == 400, what
            assert r.json()["error"][0]["streamId"] == "S1", what
            assert "stream 'S1'" in r.json()["error"][0]["errorReason"], what
        twice = c.post(f"{S}/connections", json={"producer": PRODUCER, "streams": [stream("S1"), stream("S1")]})
        assert "more than once" in twice.json()["error"][0]["errorReason"]
        no_producer = c.post(f"{S}/connections", json={"streams": []})
        assert "producer" in no_producer.json()["error"][0]["errorReason"]
        assert c.get(f"{S}/connections").json() == []  # nothing was recorded
        cid = open_connection(c, stream("S1"))
        conflict = c.post(f"{S}/connections/{cid}/streams", json=[stream("S2"), stream("S1", "DRB.UEThpDl")])
        assert conflict.status_code == 409
        assert c.get(f"{S}/connections/{cid}").json()["streams"] == ["S1"]  # S2 was not added either
        again = c.post(f"{S}/connections/{cid}/streams", json=[stream("S1")])
        assert again.status_code == 201  # the same meta-data again: a producer's retry
        gone = c.delete(f"{S}/connections/{cid}/streams", params={"streamIds": ["S1", "S7"]})
        assert gone.status_code == 404
        assert c.get(f"{S}/connections/{cid}").json()["streams"] == ["S1"]

"""Threshold monitoring: ThresholdMonitor objects, crossings with hysteresis, notifyThresholdCrossing and alarms.

Monitors are made through the HTTP ProvMnS where the write matters (class-rule refusals, the
app's wiring); measurements are loaded with ``PmStore.add`` (the app's hook hands them to the
service). Every notification body is checked against the official ``NotifyThresholdCrossing``
and every alarm against ``AlarmRecord``. Runs on every store backend.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mns.conformance.schemas import OpenApiSpecs, load_specs, locate_specs
from mns.fault import service as fault
from mns.fault.model import AlarmRecord
from mns.notify.feeds import Event
from mns.nrm.dn import to_key
from mns.pm.files import write_pm_file
from mns.pm.model import Measurement
from mns.pm.store import PmStore
from mns.pm.threshold import FEED, NOTIFY_THRESHOLD_CROSSING, ThresholdFeed, ThresholdMonitoring, install
from mns.pm.threshold_model import Direction, Threshold, parse_monitor, step
from mns.pm.threshold_store import ThresholdStore
from mns.producers.app import create_app
from mns.store import Create, Delete, SqlStore, Update

P = "/ProvMnS/v1800"
FM = "/FaultSupervisionMnS/v1800"
ROOT = "SubNetwork=RAN"
ME = f"{ROOT},ManagedElement=1"
DU = f"{ME},GNBDUFunction=1"
CELL1 = f"{DU},NRCellDU=1"
CELL2 = f"{DU},NRCellDU=2"
OTHER = f"{ROOT},ManagedElement=2,GNBDUFunction=1,NRCellDU=1"
TM = f"{ME},ThresholdMonitor=1"
PRB = "RRU.PrbUsedDl"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
PERF_FILE = "TS28532_PerfMnS.yaml"
FAULT_FILE = "TS28532_FaultMnS.yaml"


def uri(dn: str) -> str:
    return f"{P}/" + dn.replace(",", "/")


def at(quarter: int) -> datetime:
    return T0 + timedelta(minutes=15 * quarter)


def threshold(direction: str = "UP_AND_DOWN", value: float = 80, hysteresis: float | None = 5, **kw: Any) -> Any:
    item: dict[str, Any] = {
        "idx": 1,
        "measurementTypes": [PRB],
        "thresholdDirection": direction,
        "thresholdValue": value,
    }
    if hysteresis is not None:
        item["hysteresis"] = hysteresis
    return item | kw


def monitor(*thresholds: dict[str, Any], **attrs: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "thresholdInfoList": list(thresholds) or [threshold()],
        "monitorGranularityPeriod": 900,
        "objectInstances": [CELL1],
    }
    return body | attrs


def series(values: list[float], dn: str = CELL1, start: int = 1, mtype: str = PRB) -> list[Measurement]:
    return [Measurement(dn, mtype, 900, at(start + i), float(v)) for i, v in enumerate(values)]


@pytest.fixture(scope="module")
def oas(specs: Path) -> OpenApiSpecs:
    return load_specs(locate_specs(specs))


@pytest.fixture
def net(store: SqlStore) -> SqlStore:
    """Two cells under one DU, and a cell of another ManagedElement."""
    dns = [ROOT, ME, DU, CELL1, CELL2, f"{ROOT},ManagedElement=2", f"{ROOT},ManagedElement=2,GNBDUFunction=1", OTHER]
    store.commit([Create(dn, {}) for dn in dns], source="real")
    return store


@pytest.fixture
def mon(net: SqlStore) -> ThresholdMonitoring:
    """The service over ``net``, not started: tests hand it batches."""
    return ThresholdMonitoring(store=net, pm_store=PmStore(net))


def active(store: SqlStore) -> list[AlarmRecord]:
    return [a for a in fault.list_alarms(store=store).alarms.values() if a.active]


def crossings(store: SqlStore) -> list[Event]:
    return list(ThresholdFeed(store).read(0, 1000))


def directions(store: SqlStore) -> list[str]:
    return [e.body["observedPerfMetricDirection"] for e in crossings(store)]


def check_bodies(oas: OpenApiSpecs, store: SqlStore) -> None:
    for event in crossings(store):
        assert oas.validate(PERF_FILE, "NotifyThresholdCrossing", event.body) == [], event.body
    for alarm_id, record in fault.list_alarms(store=store).alarms.items():
        assert oas.validate(FAULT_FILE, "AlarmRecord", record.to_json()) == [], (alarm_id, record)


# -- the crossing rule ----------------------------------------------------------------------------


def test_hysteresis_follows_the_yang_descriptions() -> None:
    band = Threshold(1, (PRB,), Direction.UP_AND_DOWN, 80.0, 5.0)
    assert step(band, False, 84.9).direction is None
    up = step(band, False, 85.0)  # reaching the high value triggers
    assert (up.crossed, up.direction, up.notify) == (True, "UP", True)
    assert step(band, True, 75.1).direction is None
    down = step(band, True, 75.0)  # reaching the low value triggers going down
    assert (down.crossed, down.direction, down.notify) == (False, "DOWN", True)

    up_only = Threshold(1, (PRB,), Direction.UP, 80.0, None)
    assert step(up_only, False, 80.0).direction == "UP"
    assert step(up_only, True, 80.0).direction is None  # staying at the threshold does not flap
    back = step(up_only, True, 79.0)
    assert (back.crossed, back.direction, back.notify) == (False, "DOWN", False)

    down_only = Threshold(1, (PRB,), Direction.DOWN, 30.0, None)
    assert step(down_only, False, 31.0).direction is None
    assert step(down_only, False, 30.0) == step(down_only, False, 10.0)
    assert step(down_only, False, 30.0).notify
    rearm = step(down_only, True, 30.5)
    assert (rearm.crossed, rearm.direction, rearm.notify) == (False, "UP", False)


# -- the class rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "attribute", "words"),
    [
        (monitor(thresholdInfoList=[]), "thresholdInfoList", "at least one threshold"),
        (monitor(threshold(measurementTypes=[])), "thresholdInfoList[0]", "names no metric"),
        (monitor(threshold(direction="UP", hysteresis=2)), "thresholdInfoList[0]", "UP_AND_DOWN"),
        (monitor(threshold(hysteresis=-1)), "thresholdInfoList[0]", ">= 0"),
        (monitor(threshold(), threshold()), "thresholdInfoList[1]", "used twice"),
        (monitor(objectInstances=[f"{DU},NRCellDU=9"]), "objectInstances", "does not exist"),
        (monitor(rootObjectInstances=[f"{ROOT},ManagedElement=9"]), "rootObjectInstances", "does not exist"),
    ],
)
def test_bad_monitors_are_refused_at_the_write_and_change_nothing(
    net: SqlStore, attrs: dict[str, Any], attribute: str, words: str
) -> None:
    head = net.head()
    with TestClient(create_app(net)) as client:
        r = client.put(uri(TM), json={"id": "1", "attributes": attrs})
        assert r.status_code == 400, r.text
        info = r.json()["error"]["errorInfo"]
        for part in (TM, attribute, words):
            assert part in info, info
        assert "threshold-monitor" in info
    assert net.head() == head
    assert net.get(TM) is None


def test_good_monitor_parses_both_dialects() -> None:
    openapi = monitor({"performanceMetrics": [PRB], "thresholdDirection": "DOWN", "thresholdValue": 3})
    found, problems = parse_monitor(TM, openapi)
    assert problems == []
    assert found is not None
    assert found.thresholds[0].metrics == (PRB,)
    assert found.thresholds[0].idx == 0
    assert found.covers(to_key(CELL1))
    assert not found.covers(to_key(CELL2))
    bare, problems = parse_monitor(TM, monitor(objectInstances=None))
    assert problems == []
    assert bare is not None
    assert bare.roots == (to_key(ME),)  # neither list: the subtree of the monitor's parent
    assert bare.covers(to_key(CELL2))
    assert not bare.covers(to_key(OTHER))


# -- crossings, notifications and alarms --------------------------------------------------------------


def test_up_crossing_band_and_return_through_the_app(net: SqlStore, oas: OpenApiSpecs) -> None:
    app = create_app(net)
    pm: PmStore = app.state.pm_store
    service: ThresholdMonitoring = app.state.thresholds
    with TestClient(app) as client:
        r = client.put(uri(TM), json={"id": "1", "attributes": monitor()})
        assert r.status_code == 201, r.text
        pm.add(series([50, 84.9, 85]))
        assert service.wait_idle()
        assert directions(net) == ["UP"]
        alarms = client.get(f"{FM}/alarms").json()
        assert len(alarms) == 1
        ((alarm_id, record),) = alarms.items()
        assert oas.validate(FAULT_FILE, "AlarmRecord", record) == []
        assert record["objectInstance"] == CELL1
        assert record["alarmType"] == "QUALITY_OF_SERVICE_ALARM"
        assert record["probableCause"] == "thresholdCrossed"
        assert record["thresholdinfo"] == {"observedMeasurement": PRB, "observedValue": 85.0}
        body = crossings(net)[0].body
        assert body["notificationType"] == NOTIFY_THRESHOLD_CROSSING
        assert (body["observedPerfMetricName"], body["observedPerfMetricValue"]) == (PRB, 85.0)
        assert (body["thresholdValue"], body["hysteresis"], body["monitorGranularityPeriod"]) == (80.0, 5.0, 900)
        assert body["eventTime"].startswith("2026-11-01T00:45:00")
        assert body["href"].endswith("/NRCellDU=1")
        assert body["systemDN"] == ROOT

        seq = fault.alarm_head(store=net)
        pm.add(series([90, 80, 75.5], start=4))  # inside the band or above it: nothing changes
        assert service.wait_idle()
        assert directions(net) == ["UP"]
        assert fault.alarm_head(store=net) == seq

        posted = write_pm_file(series([75], start=7), begin=at(6), end=at(7))  # a PM file through TwinMnS
        assert client.post("/TwinMnS/v1/pm", content=posted).status_code == 200
        assert service.wait_idle()
        assert directions(net) == ["UP", "DOWN"]
        cleared = client.get(f"{FM}/alarms/{alarm_id}")
        record = fault.get_alarm(store=net, alarm_id=alarm_id)
        assert cleared.status_code in {200, 404, 405}  # however the Fault MnS answers a single alarm
        assert record is not None
        assert not record.active
        assert active(net) == []
        check_bodies(oas, net)


def wait_for(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_lock_and_delete_through_the_app(net: SqlStore) -> None:
    app = create_app(net)
    pm: PmStore = app.state.pm_store
    service: ThresholdMonitoring = app.state.thresholds
    merge = {"content-type": "application/merge-patch+json"}
    with TestClient(app) as client:
        attrs = monitor(administrativeState="LOCKED", objectInstances=[CELL1, CELL2])
        assert client.put(uri(TM), json={"id": "1", "attributes": attrs}).status_code == 201
        pm.add(series([99]) + series([99], dn=CELL2))
        assert service.wait_idle()
        assert crossings(net) == []
        assert active(net) == []
        unlock = client.patch(uri(TM), json={"attributes": {"administrativeState": "UNLOCKED"}}, headers=merge)
        assert unlock.status_code == 204, unlock.text
        pm.add(series([99], start=2) + series([99], dn=CELL2, start=2))
        assert service.wait_idle()
        assert len(active(net)) == 2
        assert client.delete(uri(TM)).status_code == 200
        wait_for(lambda: active(net) == [], "the deleted monitor's alarms to clear")
        assert directions(net) == ["UP", "UP"]


def test_down_and_up_only_thresholds(mon: ThresholdMonitoring, oas: OpenApiSpecs) -> None:
    store = mon.store
    mon.process(series([50, 30, 30, 31]) + series([70, 80, 80, 79], dn=CELL2))
    assert active(store) == []  # neither watches CELL2 yet; the monitor does not exist
    store.commit(
        [
            Create(
                TM,
                monitor(
                    threshold("DOWN", 30, None),
                    threshold("UP", 80, None, idx=2),
                    objectInstances=[CELL1, CELL2],
                ),
            )
        ],
        source="oss",
    )
    mon.process(series([50, 30, 30], start=10))
    assert [(a.object_instance, a.threshold_info) for a in active(store)] == [
        (CELL1, {"observedMeasurement": PRB, "observedValue": 30.0})
    ]
    mon.process(series([70, 80], dn=CELL2, start=10))
    assert len(active(store)) == 2
    assert directions(store) == ["DOWN", "UP"]
    mon.process(series([31], start=13) + series([79], dn=CELL2, start=12))
    assert active(store) == []
    assert directions(store) == ["DOWN", "UP"]  # going back is no crossing of a one-way threshold
    check_bodies(oas, store)


def test_a_batch_crossing_up_and_back_raises_and_clears(mon: ThresholdMonitoring, oas: OpenApiSpecs) -> None:
    mon.store.commit([Create(TM, monitor())], source="oss")
    logged = mon.process(list(reversed(series([90, 60, 95]))))  # out of order: compared oldest first
    assert [e.body["observedPerfMetricDirection"] for e in logged] == ["UP", "DOWN", "UP"]
    assert [e.pos for e in logged] == [1, 2, 3]
    history = fault.list_alarms(store=mon.store).alarms
    assert sorted(a.active for a in history.values()) == [False, True]
    (again,) = active(mon.store)
    assert again.threshold_info == {  # raised again: armed when the value went back at(2)
        "observedMeasurement": PRB,
        "observedValue": 95.0,
        "armTime": "2026-11-01T00:30:00Z",
    }
    check_bodies(oas, mon.store)


def test_what_the_official_schemas_cannot_hold(oas: OpenApiSpecs) -> None:
    """Why values are sent as floats and ``thresholdLevel`` is left out: the ``oneOf`` s overlap."""
    info = {"observedMeasurement": PRB, "observedValue": 85.0}
    level = {"up": {"high": 85.5, "low": 75.5}}
    assert oas.validate(FAULT_FILE, "ThresholdInfo", info) == []
    problems = oas.validate(FAULT_FILE, "ThresholdInfo", info | {"thresholdLevel": level})
    assert "valid under each of" in problems[0].message
    body = {"href": "/p", "notificationId": 1, "notificationType": NOTIFY_THRESHOLD_CROSSING}
    body |= {"systemDN": ROOT, "eventTime": "2026-11-01T00:00:00Z"}
    assert oas.validate(PERF_FILE, "NotifyThresholdCrossing", body | {"observedPerfMetricValue": 85.0}) == []
    assert oas.validate(PERF_FILE, "NotifyThresholdCrossing", body | {"observedPerfMetricValue": 85}) != []


def test_root_object_instances_cover_the_subtree(mon: ThresholdMonitoring) -> None:
    mon.store.commit([Create(TM, monitor(objectInstances=None, rootObjectInstances=[DU]))], source="oss")
    mon.process(series([99]) + series([99], dn=CELL2) + series([99], dn=OTHER) + series([99], dn=DU))
    assert sorted(a.object_instance for a in active(mon.store)) == sorted([CELL1, CELL2, DU])
    other_period = [Measurement(CELL1, PRB, 60, at(9), 99.0), Measurement(CELL1, "RRU.PrbTotDl", 900, at(9), 1.0)]
    assert mon.process(other_period) == []


def test_a_locked_monitor_is_silent_until_unlocked(mon: ThresholdMonitoring) -> None:
    mon.store.commit([Create(TM, monitor(administrativeState="LOCKED"))], source="oss")
    assert mon.process(series([99, 10, 99])) == []
    assert active(mon.store) == []
    mon.store.commit([Update(TM, {"administrativeState": "UNLOCKED"})], source="oss")
    assert [e.body["observedPerfMetricDirection"] for e in mon.process(series([99], start=5))] == ["UP"]
    assert len(active(mon.store)) == 1


def test_a_deleted_monitor_clears_its_alarms(mon: ThresholdMonitoring) -> None:
    store = mon.store
    store.commit([Create(TM, monitor(objectInstances=[CELL1, CELL2]))], source="oss")
    mon.process(series([99]) + series([99], dn=CELL2))
    assert len(active(store)) == 2
    store.commit([Update(TM, {"objectInstances": [CELL2]})], source="oss")
    mon.sync()
    assert [a.object_instance for a in active(store)] == [CELL2]  # CELL1 is no longer watched
    store.commit([Delete(TM)], source="oss")
    mon.sync()
    assert active(store) == []
    assert directions(store) == ["UP", "UP"]  # a clear for a deleted monitor is no crossing
    assert ThresholdStore(store).states() == {}


def test_a_restart_neither_repeats_nor_forgets(net: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    pm = PmStore(net)
    net.commit([Create(TM, monitor(objectInstances=[CELL1, CELL2]))], source="oss")
    first = ThresholdMonitoring(store=net, pm_store=pm)
    first.process(series([99]))
    (alarm,) = active(net)

    again = ThresholdMonitoring(store=net, pm_store=pm)  # a new process over the same database
    assert again.process(series([99, 99])) == []  # the same measurement again, then one still above
    assert active(net) == [alarm]
    assert len(crossings(net)) == 1

    # A crash after the crossing was committed and before its alarm was raised...
    def crash(**_: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(fault, "raise_alarm", crash)
    with pytest.raises(RuntimeError):
        again.process(series([99], dn=CELL2))
    monkeypatch.undo()
    assert len(active(net)) == 1
    assert len(crossings(net)) == 2
    # ... and measurements stored while the service was down:
    pm.add(series([10], start=3))
    restarted = ThresholdMonitoring(store=net, pm_store=pm)
    restarted.recover()
    assert [a.object_instance for a in active(net)] == [CELL2]  # CELL2's raised, CELL1's cleared
    assert directions(net) == ["UP", "UP", "DOWN"]
    restarted.recover()
    assert len(crossings(net)) == 3
    assert [a.object_instance for a in active(net)] == [CELL2]


# -- the feed and the event notifier -----------------------------------------------------------------


class FakeEvents:
    """Stands in for the event notifier's interface (``add_feed``, ``wake``)."""

    def __init__(self) -> None:
        self.feeds: list[Any] = []
        self.wakes = 0

    def add_feed(self, feed: Any) -> None:
        self.feeds.append(feed)

    def wake(self) -> None:
        self.wakes += 1


def test_the_feed_is_read_in_order(mon: ThresholdMonitoring) -> None:
    mon.store.commit([Create(TM, monitor())], source="oss")
    feed = ThresholdFeed(mon.store)
    assert feed.name == FEED
    assert feed.types == frozenset({NOTIFY_THRESHOLD_CROSSING})
    assert feed.head() == 0
    mon.process(series([99, 10, 99, 10]))
    assert feed.head() == 4
    events = feed.read(0, 10)
    assert [e.pos for e in events] == [1, 2, 3, 4]
    assert [e.pos for e in feed.read(2, 1)] == [3]
    assert feed.read(4, 10) == []
    assert all(e.dn == CELL1 and e.type == NOTIFY_THRESHOLD_CROSSING for e in events)
    assert len({e.body["notificationId"] for e in events}) == 4
    assert events[0].attributes == {
        "observedPerfMetricName": PRB,
        "observedPerfMetricValue": 99.0,
        "observedPerfMetricDirection": "UP",
        "thresholdValue": 80.0,
    }


def test_install_registers_the_feed_and_wakes_the_notifier(net: SqlStore) -> None:
    net.commit([Create(TM, monitor())], source="oss")
    early = FakeEvents()
    app = SimpleNamespace(state=SimpleNamespace(store=net, pm_store=PmStore(net), events=early))
    services: list[Any] = []
    monitoring = install(app, services, prov_root=P)
    assert services == [monitoring]
    assert [f.name for f in early.feeds] == [FEED]
    monitoring.process(series([99]))
    assert early.wakes == 1
    monitoring.process(series([90], start=2))  # no crossing: no wake
    assert early.wakes == 1

    # A notifier made after ``install`` gets the feed when the service starts.
    late = FakeEvents()
    app = SimpleNamespace(state=SimpleNamespace(store=net, pm_store=PmStore(net)))
    monitoring = install(app, [], prov_root=P)
    app.state.events = late
    monitoring.start()
    try:
        assert [f.name for f in late.feeds] == [FEED]
    finally:
        monitoring.stop()

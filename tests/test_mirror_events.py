"""Alarms and PM mirrored from a producer (``mns.mirror.events``): the sim on loopback, a twin store beside it.

The sim (``mns.sim.server.Sim``) is served by uvicorn on 127.0.0.1 with its lifespan (its
notifiers and PM ticker) and reached with the sync ``MnsClient``; the twin is a separate SQLite
store in ``tmp_path``. Notifications are the sim's real ones, caught by a small recipient that
subscribed through the Fault MnS / File Data Reporting MnS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import serve
from test_sim import FAST, Recipient, running, wait_for

from mns.consumer import MnsClient
from mns.fault import add_listener, get_alarm, list_alarms, service
from mns.fault.events import AlarmEvent
from mns.mirror.events import AlarmMirror, Outcome
from mns.mirror.pm import PmMirror
from mns.pm.scheduler import FILE_READY
from mns.pm.service import report_file
from mns.pm.store import PmReport, PmStore
from mns.sim.dialect_edge import Edge
from mns.sim.server import Sim, SimConfig
from mns.store import SqlStore, open_store
from mns.store.api import Scope

ROOT = "SubNetwork=RAN"
ME = f"{ROOT},SubNetwork=Central,ManagedElement=gNB-00001"
CELL = f"{ME},GNBDUFunction=1,NRCellDU=1"


@contextmanager
def sim_on(tmp_path: Path, **config: Any) -> Iterator[tuple[MnsClient, Sim]]:
    """A sim of two gNBs over its own store, served, and a client for it."""
    store = open_store(str(tmp_path / "sim.db"))
    sim = Sim(store, SimConfig(gnbs=2, seed=1, notify=FAST, **config))
    try:
        with running(sim.asgi) as url, MnsClient(url, timeout=10) as client:
            yield client, sim
    finally:
        store.close()


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(str(tmp_path / "twin.db"))
    try:
        yield s
    finally:
        s.close()


@contextmanager
def recipient() -> Iterator[tuple[Recipient, str]]:
    r = Recipient()
    with serve(r.app) as url:
        yield r, f"{url}/ntf"


def alarm_map(store: SqlStore) -> dict[str, dict[str, Any]]:
    """The listed alarms as JSON records (every member, comments included)."""
    return {k: v.to_json() for k, v in list_alarms(store=store).alarms.items()}


# -- full sync ----------------------------------------------------------------------------------


def test_a_full_sync_makes_the_twin_alarm_list_the_producers_and_a_second_changes_nothing(
    tmp_path: Path, twin: SqlStore
) -> None:
    with sim_on(tmp_path) as (client, sim):
        produced = client.alarms()
        assert len(produced) >= 3
        assert {a.ack_state for a in produced.values()} == {"ACKNOWLEDGED", "UNACKNOWLEDGED"}
        events: list[AlarmEvent] = []
        stop = add_listener(events.append, store=twin)
        try:
            mirror = AlarmMirror(twin)
            report = mirror.full_sync(produced)
            assert set(report.added) == set(produced)
            assert not report.changed
            assert not report.removed
            assert alarm_map(twin) == alarm_map(sim.store)  # ids, severities, ack states, comments...
            assert {e.source for e in events} == {"real"}
            assert len(events) == len(produced)
            head = service.alarm_head(store=twin)
            again = mirror.full_sync(client.alarms())
            assert again.unchanged
            assert again.counts == {"added": 0, "changed": 0, "removed": 0, "skipped": 0}
            assert service.alarm_head(store=twin) == head  # no new alarm versions
        finally:
            stop()


def test_a_full_sync_changes_what_differs_and_takes_off_what_the_producer_no_longer_lists(
    tmp_path: Path, twin: SqlStore
) -> None:
    with sim_on(tmp_path) as (client, sim):
        mirror = AlarmMirror(twin)
        mirror.full_sync(client.alarms())
        active = list(client.alarms(ack_state="ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS"))
        assert active
        gone = service.raise_alarm(
            store=twin, object_instance=ME, alarm_type="EQUIPMENT_ALARM", probable_cause="x", perceived_severity="MINOR"
        )
        own = service.raise_alarm(
            store=twin,
            object_instance=CELL,
            alarm_type="QUALITY_OF_SERVICE_ALARM",
            probable_cause="thresholdCrossed",
            perceived_severity="WARNING",
            source="threshold",
        )
        client.acknowledge(active[0], "noc")
        client.comment(active[0], "looking at it", user="noc")
        events: list[AlarmEvent] = []
        stop = add_listener(events.append, store=twin)
        try:
            report = mirror.full_sync(client.alarms())
        finally:
            stop()
        assert report.changed == (active[0],)
        assert report.removed == (gone.alarm_id,)
        expected = alarm_map(sim.store)
        mirrored = alarm_map(twin)
        assert mirrored.pop(own.alarm_id)["perceivedSeverity"] == "WARNING"  # the twin's own alarm is kept
        assert mirrored == expected
        removed = get_alarm(store=twin, alarm_id=gone.alarm_id)
        assert removed is not None
        assert not removed.listed
        kinds = [(e.alarm_id, e.kind.value) for e in events]
        assert (active[0], "comments") in kinds
        assert (active[0], "ackStateChanged") in kinds
        assert (gone.alarm_id, "cleared") in kinds
        assert mirror.full_sync(client.alarms()).unchanged


# -- notifications -------------------------------------------------------------------------------


def test_the_sims_alarm_notifications_keep_the_twin_equal(tmp_path: Path, twin: SqlStore) -> None:
    with recipient() as (rec, address), sim_on(tmp_path) as (client, sim):
        mirror = AlarmMirror(twin)
        mirror.full_sync(client.alarms())
        client.subscribe(address)
        listed = client.alarms(ack_state="ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS")
        first, second = sorted(listed)[:2]
        client.acknowledge(first, "noc", system="oss-1")
        client.comment(first, "dispatching", user="noc")
        service.change_alarm(store=sim.store, alarm_id=second, perceived_severity="CRITICAL")
        service.change_alarm(
            store=sim.store, alarm_id=second, additional_text="spreading", additional_information={"k": 1}
        )
        raised = service.raise_alarm(
            store=sim.store,
            object_instance=CELL,
            alarm_type="COMMUNICATIONS_ALARM",
            probable_cause="lossOfSignal",
            specific_problem="fronthaul",
            perceived_severity="MAJOR",
            additional_text="link down",
        )
        service.change_alarm(store=sim.store, alarm_id=raised.alarm_id, correlated_notifications=[])
        service.change_alarm(
            store=sim.store,
            alarm_id=raised.alarm_id,
            correlated_notifications=[{"sourceObjectInstance": ME, "notificationIds": [1]}],
        )
        client.clear(first, "noc")
        client.clear(raised.alarm_id, "noc")
        sim.wake()
        wait_for(lambda: len(rec.of("notifyClearedAlarm")) >= 2, "the alarm notifications")
        with rec.lock:
            bodies = sorted(rec.received, key=lambda b: b["notificationId"])
        types = {b["notificationType"] for b in bodies}
        assert {"notifyAckStateChanged", "notifyComments", "notifyChangedAlarm", "notifyChangedAlarmGeneral"} <= types
        assert {"notifyNewAlarm", "notifyCorrelatedNotificationChanged", "notifyClearedAlarm"} <= types
        outcomes = [mirror.apply(b) for b in bodies]
        assert [o.outcome for o in outcomes] == [Outcome.APPLIED] * len(bodies), outcomes
        assert alarm_map(twin) == alarm_map(sim.store)
        twin_record = get_alarm(store=twin, alarm_id=raised.alarm_id)
        assert twin_record == get_alarm(store=sim.store, alarm_id=raised.alarm_id)
        assert twin_record is not None
        assert twin_record.object_instance == CELL
        history = service.alarm_history(store=twin, alarm_id=raised.alarm_id)
        assert {v.source for v in history} == {"real"}
        assert {v.author for v in history} == {"mirror"}
        again = [mirror.apply(b) for b in bodies]
        assert [a.outcome for a in again] == [Outcome.IGNORED] * len(bodies), again  # repeated
        assert mirror.full_sync(client.alarms()).unchanged


def test_what_the_twin_cannot_follow_asks_for_a_resync(twin: SqlStore) -> None:
    mirror = AlarmMirror(twin)
    header = {"href": f"/ProvMnS/v1800/{CELL.replace(',', '/')}", "eventTime": "2025-01-01T00:00:00Z"}
    new = {
        **header,
        "notificationId": 7,
        "notificationType": "notifyNewAlarm",
        "systemDN": ROOT,
        "alarmId": "a-1",
        "alarmType": "EQUIPMENT_ALARM",
        "probableCause": "fanFailure",
        "perceivedSeverity": "Major",
    }
    applied = mirror.apply(new)
    assert applied.outcome is Outcome.APPLIED
    record = get_alarm(store=twin, alarm_id="a-1")
    assert record is not None
    assert record.object_instance == CELL
    assert record.perceived_severity == "MAJOR"
    assert record.alarm_raised_time == datetime(2025, 1, 1, tzinfo=UTC)
    assert record.notification_id == 7
    unknown = {**header, "notificationType": "notifyClearedAlarm", "alarmId": "nope", "alarmType": "EQUIPMENT_ALARM"}
    assert mirror.apply(unknown).outcome is Outcome.RESYNC
    changed = {**unknown, "notificationType": "notifyChangedAlarm", "perceivedSeverity": "MINOR"}
    assert mirror.apply(changed).resync
    twin_of_a1 = {**new, "alarmId": "a-2"}  # the identity of the active a-1 under another id
    assert mirror.apply(twin_of_a1).resync
    other = {**new, "perceivedSeverity": "MINOR", "probableCause": "other"}  # a-1 again, another alarm
    assert mirror.apply(other).resync
    rebuilt = {**header, "notificationType": "notifyAlarmListRebuilt", "reason": "restart"}
    assert mirror.apply(rebuilt).resync
    bad = {**header, "notificationType": "notifyAckStateChanged", "alarmId": "a-1", "ackState": "MAYBE"}
    assert mirror.apply(bad).resync
    assert mirror.apply({**header, "notificationType": "notifyMOICreation"}).outcome is Outcome.IGNORED
    assert get_alarm(store=twin, alarm_id="a-1") == record  # nothing of the above changed it


def test_an_openapi_dialect_producer_is_mirrored_with_stage2_dns(tmp_path: Path, twin: SqlStore) -> None:
    edge = Edge()
    with recipient() as (rec, address), sim_on(tmp_path, dialect="openapi") as (client, sim):
        produced = client.alarms()
        wire = {a.object_instance for a in produced.values()}
        assert any("NrCellDu=" in (dn or "") or "GnbCuCpFunction=" in (dn or "") for dn in wire)
        mirror = AlarmMirror(twin, lambda dn: edge.dn_text(dn, out=False))
        mirror.full_sync(produced)
        assert alarm_map(twin) == alarm_map(sim.store)
        client.subscribe(address)
        raised = service.raise_alarm(
            store=sim.store,
            object_instance=CELL,
            alarm_type="EQUIPMENT_ALARM",
            probable_cause="transmitterFailure",
            perceived_severity="CRITICAL",
            back_up_object=ME,
        )
        sim.wake()
        wait_for(lambda: bool(rec.of("notifyNewAlarm")), "the new alarm's notification")
        body = rec.of("notifyNewAlarm")[0]
        assert "NrCellDu=1" in body["href"]
        assert mirror.apply(body).outcome is Outcome.APPLIED
        mirrored = get_alarm(store=twin, alarm_id=raised.alarm_id)
        assert mirrored is not None
        assert mirrored.object_instance == CELL
        assert mirrored == get_alarm(store=sim.store, alarm_id=raised.alarm_id)


# -- PM -----------------------------------------------------------------------------------------


def _report(sim: Sim, end: datetime, period: int = 900) -> str:
    """Have the sim report the PM file of its network for the hour before ``end``; its id."""
    meta = report_file(pm=sim.app.state.pm_store, dn=ROOT, begin=end - timedelta(hours=1), end=end, period=period)
    return meta.id


def _aligned_now(period: int = 900) -> datetime:
    now = time.time()
    return datetime.fromtimestamp(now - now % period, UTC)


def test_pm_files_are_fetched_once_and_their_measurements_land_in_the_twin(tmp_path: Path, twin: SqlStore) -> None:
    with sim_on(tmp_path, pm_backfill_s=3 * 3600) as (client, sim):
        wait_for(lambda: bool(sim.app.state.pm_store.read(dn=CELL)), "the sim's backfilled PM")
        end = _aligned_now()
        first = _report(sim, end - timedelta(hours=1))
        mirror = PmMirror(twin)
        fetched = mirror.sync_files(client, None)
        assert [f.file_id for f in fetched] == [first]
        assert fetched[0].error is None
        assert fetched[0].stored > 0
        pm = PmStore(twin)
        rows = pm.read(dn=CELL, scope=Scope.BASE_ONLY)
        expected = sim.app.state.pm_store.read(
            dn=CELL, start=end - timedelta(hours=2) + timedelta(seconds=1), end=end - timedelta(hours=1)
        )
        assert rows
        assert {(m.mtype, m.end, m.value) for m in rows} == {(m.mtype, m.end, m.value) for m in expected}
        meta, content = pm.file_content(first)
        assert content == sim.app.state.pm_store.file_content(first)[1]
        assert meta.period == 900
        assert mirror.sync_files(client, None) == []  # once
        since = mirror.since()
        assert since is not None
        assert since == fetched[0].ready_time
        second = _report(sim, end)
        assert [f.file_id for f in PmMirror(twin).sync_files(client, since)] == [second]  # after a restart too
        assert PmMirror(twin).sync_files(client, None) == []


def test_a_file_ready_notification_fetches_its_file_once(tmp_path: Path, twin: SqlStore) -> None:
    with recipient() as (rec, address), sim_on(tmp_path, pm_backfill_s=2 * 3600) as (client, sim):
        wait_for(lambda: bool(sim.app.state.pm_store.read(dn=CELL)), "the sim's backfilled PM")
        client.subscribe_files(address)
        pm: PmStore = sim.app.state.pm_store
        end = _aligned_now()
        file_id = _report(sim, end)  # listed, and (below) reported by a job as its scheduler would
        meta, content = pm.file_content(file_id)
        moved = replace(meta, id=file_id + ".job")
        report = PmReport(
            "measJob:m1", end - timedelta(hours=1), end, FILE_READY, ROOT, "measJob", end, "PM", "m1", moved
        )
        assert pm.add_report(report, content) is not None
        sim.wake()
        wait_for(lambda: bool(rec.of(FILE_READY)), "notifyFileReady")
        body = rec.of(FILE_READY)[0]
        mirror = PmMirror(twin)
        fetched = mirror.apply(body, client)
        assert [f.file_id for f in fetched] == [file_id + ".job"]
        assert fetched[0].stored > 0
        assert mirror.apply(body, client) == []
        assert PmStore(twin).read(dn=CELL)
        error = {**body, "notificationType": "notifyFilePreparationError", "reason": "too big"}
        assert mirror.apply(error, client) == []

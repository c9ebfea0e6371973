"""Alarm notifications end to end: the twin app, its event notifier and a real recipient, on loopback.

Subscriptions are made with the Fault MnS ``POST /subscriptions`` (and, for scoped alarm
notifications, as NtfSubscriptionControl objects through the ProvMnS); the alarms change as a
network raises them (the fault service) and as an operator handles them (the Fault MnS HTTP
API). Every notification the recipient accepts is checked against its official schema and for
its order. The recipient can be down, the twin app can be restarted over the same store.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import serve
from test_notify_e2e import Recipient, closed_port, wait_for

from mns.conformance.schemas import load_specs, locate_specs
from mns.fault import service
from mns.notify.delivery import NotifySettings
from mns.notify.events import EventNotifier
from mns.producers.app import Settings, create_app
from mns.store import Create, SqlStore

P = "/ProvMnS/v1800"
F = "/FaultSupervisionMnS/v1800"
ROOT = "SubNetwork=RAN"
ME1 = f"{ROOT},ManagedElement=1"
ME2 = f"{ROOT},ManagedElement=2"
FAULT_FILE = "TS28532_FaultMnS.yaml"
SCHEMA_OF = {
    "notifyNewAlarm": "NotifyNewAlarm",
    "notifyChangedAlarm": "NotifyChangedAlarm",
    "notifyChangedAlarmGeneral": "NotifyChangedAlarmGeneral",
    "notifyCorrelatedNotificationChanged": "NotifyCorrelatedNotificationChanged",
    "notifyAckStateChanged": "NotifyAckStateChanged",
    "notifyComments": "NotifyComments",
    "notifyClearedAlarm": "NotifyClearedAlarm",
}
MERGE = {"content-type": "application/merge-patch+json"}
SETTINGS = Settings(
    notify=NotifySettings(prov_root=P, backoff_initial_s=0.05, backoff_max_s=0.3, poll_s=0.05, cursor_flush_s=0.1)
)


@pytest.fixture
def twin_store(store: SqlStore) -> SqlStore:
    """The store (each backend) with a root and two ManagedElements."""
    store.commit([Create(ROOT, {}), Create(ME1, {}), Create(ME2, {})], source="real")
    return store


@contextmanager
def twin(store: SqlStore) -> Iterator[tuple[httpx.Client, EventNotifier]]:
    """The twin app on loopback with its event notifier (the shared ``serve`` runs no lifespan)."""
    app = create_app(store, SETTINGS)
    events: EventNotifier = app.state.events
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        events.start()
        try:
            yield client, events
        finally:
            events.stop()


def subscribe(client: httpx.Client, address: str, **more: Any) -> str:
    body = {"consumerReference": address, **more}
    r = client.post(f"{F}/subscriptions", json=body)
    assert r.status_code == 201, r.text
    assert r.json() == body
    location = r.headers["location"]
    assert location.startswith(f"{F}/subscriptions/")
    return location


def raise_on(store: SqlStore, dn: str, severity: str = "MAJOR", problem: str = "p") -> str:
    """Raise an alarm as the network does; its id."""
    record = service.raise_alarm(
        store=store,
        object_instance=dn,
        alarm_type="EQUIPMENT_ALARM",
        probable_cause="transmitterFailure",
        specific_problem=problem,
        perceived_severity=severity,
    )
    return record.alarm_id


def failures(events: EventNotifier) -> int:
    return sum(c.failures for chans in events.status().values() for c in chans.values())


def test_every_alarm_notification_arrives_in_order_and_validates(twin_store: SqlStore, specs: Path) -> None:
    oas = load_specs(locate_specs(specs))
    rec = Recipient()
    service.raise_alarm(  # before the subscription: not sent
        store=twin_store,
        object_instance=ME2,
        alarm_type="EQUIPMENT_ALARM",
        probable_cause="fanFailure",
        perceived_severity="MINOR",
    )
    with serve(rec.app) as rurl, twin(twin_store) as (c, _):
        subscribe(c, f"{rurl}/ntf", timeTick=30)
        cell = f"{ME1},GNBDUFunction=1,NRCellDU=1"
        alarm = raise_on(twin_store, cell, "MAJOR")
        service.change_alarm(store=twin_store, alarm_id=alarm, perceived_severity="CRITICAL")
        service.change_alarm(store=twin_store, alarm_id=alarm, additional_text="the radio unit is down")
        service.change_alarm(
            store=twin_store,
            alarm_id=alarm,
            correlated_notifications=[{"sourceObjectInstance": ME1, "notificationIds": [1]}],
        )
        ack = {"ackUserId": "operator", "ackState": "ACKNOWLEDGED"}
        assert c.patch(f"{F}/alarms/{alarm}", json=ack, headers=MERGE).status_code == 204
        r = c.post(f"{F}/alarms/{alarm}/comments", json={"commentText": "on site at 10:00", "commentUserId": "op"})
        assert r.status_code == 201, r.text
        clear = {"clearUserId": "operator", "perceivedSeverity": "CLEARED"}
        assert c.patch(f"{F}/alarms/{alarm}", json=clear, headers=MERGE).status_code == 204
        wait_for(lambda: len(rec.received) >= 7, "seven notifications")
        time.sleep(0.2)  # nothing more may come

    assert [b["notificationType"] for b in rec.received] == [
        "notifyNewAlarm",
        "notifyChangedAlarm",
        "notifyChangedAlarmGeneral",
        "notifyCorrelatedNotificationChanged",
        "notifyAckStateChanged",
        "notifyComments",
        "notifyClearedAlarm",
    ]
    for body in rec.received:
        assert oas.validate(FAULT_FILE, SCHEMA_OF[body["notificationType"]], body) == [], body
        assert body["href"] == f"{P}/SubNetwork=RAN/ManagedElement=1/GNBDUFunction=1/NRCellDU=1"
        assert body["systemDN"] == ROOT
        assert body["alarmId"] == alarm
    ids = [b["notificationId"] for b in rec.received]
    assert ids == sorted(ids)
    assert len(set(ids)) == 7
    new, changed, general, _, acked, commented, cleared = rec.received
    assert new["perceivedSeverity"] == "MAJOR"
    assert new["specificProblem"] == "p"
    assert changed["perceivedSeverity"] == "CRITICAL"
    assert general["changedAlarmAttributes"]["additionalText"] == "the radio unit is down"
    assert (acked["ackState"], acked["ackUserId"]) == ("ACKNOWLEDGED", "operator")
    assert [c["commentText"] for c in commented["comments"].values()] == ["on site at 10:00"]
    assert (cleared["perceivedSeverity"], cleared["clearUserId"]) == ("CLEARED", "operator")
    assert rec.media_types == {"application/json"}


def test_a_filter_selects_notifications(twin_store: SqlStore) -> None:
    rec = Recipient()
    with serve(rec.app) as rurl, twin(twin_store) as (c, _):
        subscribe(c, f"{rurl}/ntf", filter='notificationType="notifyNewAlarm" and perceivedSeverity="CRITICAL"')
        minor = raise_on(twin_store, ME1, "MINOR", "a")
        critical = raise_on(twin_store, ME2, "CRITICAL", "b")
        service.change_alarm(store=twin_store, alarm_id=minor, perceived_severity="CRITICAL")
        last = raise_on(twin_store, ME1, "CRITICAL", "c")
        wait_for(lambda: len(rec.received) >= 2, "the critical new alarms")
        time.sleep(0.3)
    assert [b["alarmId"] for b in rec.received] == [critical, last]


def test_a_recipient_that_is_down_gets_everything_in_order_once_back(twin_store: SqlStore) -> None:
    rec = Recipient()
    rec.down = True
    with serve(rec.app) as rurl, twin(twin_store) as (c, events):
        subscribe(c, f"{rurl}/ntf")
        alarms = [raise_on(twin_store, ME1, problem=f"p{i}") for i in range(6)]
        wait_for(lambda: failures(events) >= 3, "the twin to retry")
        assert rec.refused >= 3
        assert rec.received == []
        rec.down = False
        wait_for(lambda: len(rec.received) == 6, "everything once the recipient is back")
        time.sleep(0.2)
    assert [b["alarmId"] for b in rec.received] == alarms
    assert len({b["notificationId"] for b in rec.received}) == 6


def test_a_restarted_twin_resumes_from_the_cursor(twin_store: SqlStore) -> None:
    rec = Recipient()
    with serve(rec.app) as rurl:
        with twin(twin_store) as (c, _):
            subscribe(c, f"{rurl}/ntf")
            first = [raise_on(twin_store, ME1, problem="first"), raise_on(twin_store, ME1, problem="second")]
            wait_for(lambda: len(rec.received) == 2, "two notifications")
        # The twin is down; the network goes on raising alarms.
        later = [raise_on(twin_store, ME2, problem="third"), raise_on(twin_store, ME2, problem="fourth")]
        with twin(twin_store) as (c, _):
            wait_for(lambda: len(rec.received) == 4, "what was missed")
            last = raise_on(twin_store, ME1, problem="fifth")
            wait_for(lambda: len(rec.received) == 5, "the new one")
            time.sleep(0.2)
    assert [b["alarmId"] for b in rec.received] == [*first, *later, last]
    assert len({b["notificationId"] for b in rec.received}) == 5


def test_an_ntf_subscription_control_gets_the_alarms_in_its_scope(twin_store: SqlStore, specs: Path) -> None:
    oas = load_specs(locate_specs(specs))
    rec = Recipient()
    sub = f"{ME1},NtfSubscriptionControl=alarms"
    with serve(rec.app) as rurl, twin(twin_store) as (c, events):
        attrs = {
            "notificationRecipientAddress": f"{rurl}/ntf",
            "notificationTypes": ["notifyNewAlarm"],
            "scope": [{"scopeType": "BASE_ALL"}],
        }
        r = c.put(f"{P}/{sub.replace(',', '/')}", json={"id": "alarms", "attributes": attrs})
        assert r.status_code == 201, r.text
        wait_for(lambda: any(k.startswith("ntf ") and k.endswith(sub) for k in events.status()), "the subscription")
        inside = raise_on(twin_store, f"{ME1},GNBDUFunction=1", problem="in")
        raise_on(twin_store, ME2, problem="out")
        service.clear_alarm(store=twin_store, alarm_id=inside)  # not a type it asked for
        last = raise_on(twin_store, ME1, problem="in too")
        wait_for(lambda: len(rec.received) >= 2, "the alarms in scope")
        time.sleep(0.3)
        assert c.delete(f"{P}/{sub.replace(',', '/')}").status_code == 200
        wait_for(lambda: not events.status(), "the subscription to go")
        raise_on(twin_store, ME1, problem="after")
        time.sleep(0.3)
    assert [b["alarmId"] for b in rec.received] == [inside, last]
    for body in rec.received:
        assert oas.validate(FAULT_FILE, "NotifyNewAlarm", body) == [], body


def test_unsubscribe_stops_delivery(twin_store: SqlStore) -> None:
    rec = Recipient()
    with serve(rec.app) as rurl, twin(twin_store) as (c, events):
        location = subscribe(c, f"{rurl}/ntf")
        first = raise_on(twin_store, ME1, problem="before")
        wait_for(lambda: len(rec.received) == 1, "the first notification")
        r = c.delete(location)
        assert r.status_code == 204
        assert r.content == b""
        assert events.status() == {}
        raise_on(twin_store, ME1, problem="after")
        time.sleep(0.3)
        again = c.delete(location)
        assert again.status_code == 404
        assert "does not exist" in again.json()["error"]["errorInfo"]
        assert events.targets.subscriptions() == []
    assert [b["alarmId"] for b in rec.received] == [first]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"consumerReference": "ftp://example.invalid/x"}, "not an absolute http"),
        ({"consumerReference": "not a url"}, "not an absolute http"),
        ({"consumerReference": 42}, "not a URI string"),
        ({}, "consumerReference is required"),
        ([], "must be a Subscription"),
        ({"consumerReference": "http://127.0.0.1:1/x", "timeTick": "soon"}, "timeTick"),
        ({"consumerReference": "http://127.0.0.1:1/x", "timeTick": -1}, "timeTick"),
        ({"consumerReference": "http://127.0.0.1:1/x", "filter": "perceivedSeverity["}, "filter"),
        ({"consumerReference": "http://127.0.0.1:1/x", "filters": "x"}, "'filters' not a member"),
    ],
)
def test_bad_subscriptions_are_refused_and_change_nothing(twin_store: SqlStore, body: Any, fragment: str) -> None:
    with twin(twin_store) as (c, events):
        r = c.post(f"{F}/subscriptions", json=body)
        assert r.status_code == 400, r.text
        assert fragment in r.json()["error"]["errorInfo"]
        assert events.targets.subscriptions() == []
        assert events.status() == {}


def test_an_unreachable_or_unknown_subscription_is_an_error(twin_store: SqlStore) -> None:
    with twin(twin_store) as (c, events):
        port = closed_port()
        r = c.post(f"{F}/subscriptions", json={"consumerReference": f"http://127.0.0.1:{port}/ntf"})
        assert r.status_code == 400
        message = r.json()["error"]["errorInfo"]
        assert f"http://127.0.0.1:{port}/ntf" in message
        assert "not reachable" in message
        r = c.post(
            f"{F}/subscriptions", content=b'{"consumerReference": ', headers={"content-type": "application/json"}
        )
        assert r.status_code == 400
        assert "not valid JSON" in r.json()["error"]["errorInfo"]
        r = c.post(f"{F}/subscriptions", content=b"{}", headers={"content-type": "text/plain"})
        assert r.status_code == 415
        assert c.delete(f"{F}/subscriptions/nope").status_code == 404
        assert events.targets.subscriptions() == []
        assert events.status() == {}


def test_file_data_reporting_subscriptions_are_separate(twin_store: SqlStore) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        address = f"http://127.0.0.1:{listener.getsockname()[1]}/ntf"
        with twin(twin_store) as (c, events):
            r = c.post("/FileDataReportingMnS/v1800/subscriptions", json={"consumerReference": address})
            assert r.status_code == 201, r.text
            sub_id = r.headers["location"].rsplit("/", 1)[1]
            assert c.delete(f"{F}/subscriptions/{sub_id}").status_code == 404  # not a Fault MnS one
            [stored] = events.targets.subscriptions()
            assert (stored.id, stored.service) == (sub_id, "FileDataReportingMnS")
            key = f"FileDataReportingMnS {sub_id}"
            assert key in events.status()
            assert "alarms" not in events.status()[key]  # file types only
            assert c.delete(r.headers["location"]).status_code == 204

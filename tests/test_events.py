"""The event notifier's parts: the alarms feed, the subscription targets and their store, reachability, delivery.

End to end (the app, HTTP, a real recipient) is ``test_fault_notify_e2e.py``; here each part
is tested on its own, on both backends where it stores anything. Recipients are
``httpx.MockTransport`` handlers (a third party's HTTP server, not our code).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from test_notify_e2e import closed_port, wait_for

from mns.conformance.schemas import load_specs, locate_specs
from mns.errors import BadRequest
from mns.fault import service
from mns.fault.feed import AlarmFeed
from mns.notify.build import ALARM_TYPES, CREATION, object_notifications
from mns.notify.events import EventNotifier, EventSettings
from mns.notify.feeds import Event
from mns.notify.reach import ensure_reachable
from mns.notify.rules import parse_definition
from mns.notify.subscriptions import Subscription
from mns.notify.targets import FAULT, FILES, TargetStore, check_subscription, control_target, mns_target
from mns.store import SqlStore
from mns.store.api import Change, ChangeKind

ME = "SubNetwork=RAN,ManagedElement=1"
CELL = f"{ME},GNBDUFunction=1,NRCellDU=1"
FAST = EventSettings(poll_s=0.02, backoff_initial_s=0.02, backoff_max_s=0.1, cursor_flush_s=0.05, reload_s=0.1)


def alarm_history(store: SqlStore) -> str:
    """Raise, change (three kinds), acknowledge, comment and clear one alarm; its id."""
    alarm = service.raise_alarm(
        store=store,
        object_instance=CELL,
        alarm_type="EQUIPMENT_ALARM",
        probable_cause="transmitterFailure",
        perceived_severity="MAJOR",
        threshold_info={"observedMeasurement": "RRU.PrbUsedDl", "observedValue": 97},
    ).alarm_id
    service.change_alarm(store=store, alarm_id=alarm, perceived_severity="CRITICAL")
    service.change_alarm(store=store, alarm_id=alarm, proposed_repair_actions="replace the unit")
    service.change_alarm(store=store, alarm_id=alarm, root_cause_indicator=True)
    service.acknowledge(store=store, alarm_id=alarm, ack_user_id="op")
    service.comment(store=store, alarm_id=alarm, comment_text="first")
    service.comment(store=store, alarm_id=alarm, comment_text="second")
    service.clear_alarm(store=store, alarm_id=alarm, clear_user_id="op")
    return alarm


# -- the alarms feed ----------------------------------------------------------------------------


def test_the_alarms_feed_is_the_change_log_as_valid_notifications(store: SqlStore, specs: Path) -> None:
    oas = load_specs(locate_specs(specs))
    feed = AlarmFeed(store, prov_root="/ProvMnS/v1800")
    assert feed.head() == 0
    assert feed.read(0, 10) == []
    alarm = alarm_history(store)
    events = feed.read(0, 100)
    assert feed.head() == len(events) == 8
    assert [e.pos for e in events] == list(range(1, 9))
    assert [e.type for e in events] == [
        "notifyNewAlarm",
        "notifyChangedAlarm",
        "notifyChangedAlarmGeneral",
        "notifyCorrelatedNotificationChanged",
        "notifyAckStateChanged",
        "notifyComments",
        "notifyComments",
        "notifyClearedAlarm",
    ]
    schema = {t: t[0].upper() + t[1:] for t in ALARM_TYPES}
    for event in events:
        assert oas.validate("TS28532_FaultMnS.yaml", schema[event.type], dict(event.body)) == [], event.body
        assert event.body["notificationId"] == event.pos
        assert event.body["href"] == "/ProvMnS/v1800/SubNetwork=RAN/ManagedElement=1/GNBDUFunction=1/NRCellDU=1"
        assert event.dn == CELL
        assert event.attributes is not None
        assert event.attributes["alarmId"] == alarm
    new, changed, general, correlated, acked, first, second, cleared = (dict(e.body) for e in events)
    assert new["thresholdInfo"] == {"observedMeasurement": "RRU.PrbUsedDl", "observedValue": 97}
    assert set(changed) - {"href", "notificationId", "notificationType", "eventTime", "systemDN"} == {
        "alarmId",
        "alarmType",
        "probableCause",
        "perceivedSeverity",
    }
    assert general["changedAlarmAttributes"] == {"proposedRepairActions": "replace the unit"}
    assert correlated["rootCauseIndicator"] is True
    assert correlated["correlatedNotifications"] == []
    assert acked["ackState"] == "ACKNOWLEDGED"
    assert [c["commentText"] for c in first["comments"].values()] == ["first"]
    assert [c["commentText"] for c in second["comments"].values()] == ["second"]
    assert cleared["perceivedSeverity"] == "CLEARED"
    assert "ackState" not in cleared
    # Read again, in pieces: the same events.
    assert [*feed.read(0, 3), *feed.read(3, 100)] == events


def test_the_alarms_feed_watch_wakes_after_commits(store: SqlStore) -> None:
    feed = AlarmFeed(store)
    woken: list[int] = []
    stop = feed.watch(lambda: woken.append(feed.head()))
    try:
        alarm_history(store)
    finally:
        stop()
    assert woken == list(range(1, 9))  # after each commit, which is then visible
    service.raise_alarm(
        store=store, object_instance=ME, alarm_type="EQUIPMENT_ALARM", probable_cause="x", perceived_severity="MINOR"
    )
    assert len(woken) == 8


# -- targets ------------------------------------------------------------------------------------


def event(ntype: str, dn: str = CELL, **attributes: Any) -> Event:
    body = {"notificationType": ntype, "alarmId": "1", **attributes}
    return Event(1, ntype, dn, body, {"objectInstance": dn, **attributes})


def test_an_ntf_subscription_control_selects_by_type_scope_and_filter() -> None:
    attrs = {
        "notificationRecipientAddress": "http://127.0.0.1:9/ntf",
        "notificationTypes": ["notifyNewAlarm", "notifyMOICreation"],
        "scope": [{"scopeType": "BASE_SUBTREE", "scopeLevel": 2}],
        "notificationFilter": '//NRCellDU[attributes/perceivedSeverity="MAJOR"]',
    }
    definition, problems = parse_definition(attrs)
    assert problems == []
    assert definition is not None
    target = control_target(Subscription.of(f"{ME},NtfSubscriptionControl=1", definition), 7)
    assert target is not None
    assert target.types == {"notifyNewAlarm"}
    assert target.key == f"ntf 7 {ME},NtfSubscriptionControl=1"
    assert target.selects(event("notifyNewAlarm", perceivedSeverity="MAJOR"))
    assert not target.selects(event("notifyNewAlarm", perceivedSeverity="MINOR"))
    assert not target.selects(event("notifyClearedAlarm", perceivedSeverity="MAJOR"))
    assert not target.selects(event("notifyNewAlarm", f"{CELL},X=1", perceivedSeverity="MAJOR"))  # level 3
    assert not target.selects(event("notifyNewAlarm", "SubNetwork=RAN,ManagedElement=2", perceivedSeverity="MAJOR"))
    # CM types only: no event target, and the CM worker ignores the alarm types.
    cm_only, _ = parse_definition({**attrs, "notificationTypes": ["notifyMOICreation"]})
    assert cm_only is not None
    assert control_target(Subscription.of(f"{ME},NtfSubscriptionControl=1", cm_only), 7) is None
    created = Change(ME, "ManagedElement", ChangeKind.CREATED, None, {"userLabel": "a"})
    assert object_notifications(created, ctx=None, types=frozenset({"notifyNewAlarm"})) == []  # type: ignore[arg-type]
    assert CREATION not in definition.types - {"notifyMOICreation"}


def test_an_mns_subscription_selects_by_its_service_and_filter() -> None:
    body = check_subscription({"consumerReference": "http://127.0.0.1:9/", "filter": 'perceivedSeverity="CRITICAL"'})
    fault = mns_target(FAULT, "a", body)
    assert fault.selects(event("notifyNewAlarm", perceivedSeverity="CRITICAL"))
    assert not fault.selects(event("notifyNewAlarm", perceivedSeverity="MAJOR"))
    assert not fault.selects(event("notifyFileReady", perceivedSeverity="CRITICAL"))
    by_object = mns_target(FAULT, "b", {"consumerReference": "http://x/", "filter": f'objectInstance="{CELL}"'})
    assert by_object.selects(event("notifyComments"))
    assert not by_object.selects(event("notifyComments", ME))
    files = mns_target(FILES, "c", {"consumerReference": "http://x/"})
    assert files.selects(event("notifyFileReady"))
    assert not files.selects(event("notifyNewAlarm"))


def test_subscriptions_and_cursors_are_stored_atomically(store: SqlStore) -> None:
    targets = TargetStore(store.engine)
    targets.create()
    targets.create()  # idempotent
    body = {"consumerReference": "http://127.0.0.1:9/", "timeTick": 5}
    one = targets.add(FAULT, body, {"alarms": 4, "thresholds": 0})
    two = targets.add(FILES, {"consumerReference": "http://127.0.0.1:9/"}, {})
    assert [(s.id, s.service, s.body) for s in targets.subscriptions()] == [
        (one, FAULT, body),
        (two, FILES, {"consumerReference": "http://127.0.0.1:9/"}),
    ]
    assert targets.cursors() == {(f"{FAULT} {one}", "alarms"): 4, (f"{FAULT} {one}", "thresholds"): 0}
    targets.save({(f"{FAULT} {one}", "alarms"): 9, ("ntf 3 X=1", "alarms"): 2})
    assert targets.cursors()[(f"{FAULT} {one}", "alarms")] == 9
    assert not targets.remove(FILES, one)  # the id of another MnS's subscription
    assert targets.remove(FAULT, one)
    assert not targets.remove(FAULT, one)
    assert targets.cursors() == {("ntf 3 X=1", "alarms"): 2}
    targets.forget(["ntf 3 X=1"])
    assert targets.cursors() == {}
    assert [s.id for s in targets.subscriptions()] == [two]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"consumerReference": "http://127.0.0.1:9/", "timeTick": True}, "timeTick"),
        ({"consumerReference": "http://127.0.0.1:9/", "filter": 5}, "not an XPath"),
        ({"consumerReference": "http://127.0.0.1:9/", "filter": "count(x)"}, "filter"),
        ({"consumerReference": "mailto:a@b"}, "not an absolute http"),
        ("x", "must be a Subscription"),
    ],
)
def test_malformed_subscriptions_are_named(body: Any, fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        check_subscription(body)


# -- reachability -------------------------------------------------------------------------------


def test_reachability() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        asyncio.run(ensure_reachable(f"http://127.0.0.1:{listener.getsockname()[1]}/ntf"))
    port = closed_port()
    with pytest.raises(BadRequest, match=rf"'http://127.0.0.1:{port}/x' is not reachable: 127.0.0.1 port {port}"):
        asyncio.run(ensure_reachable(f"http://127.0.0.1:{port}/x"))
    for bad in ("", "127.0.0.1:80", "http://", "ftp://127.0.0.1/", "http://exa mple/"):
        with pytest.raises(BadRequest, match="notification address"):
            asyncio.run(ensure_reachable(bad))


# -- delivery -----------------------------------------------------------------------------------


class ListFeed:
    """A feed over a list (a stand-in for a persisted source: the list outlives the notifiers)."""

    name = "test"
    types = frozenset({"notifyNewAlarm"})

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            for _ in range(n):
                pos = len(self.events) + 1
                body = {"notificationType": "notifyNewAlarm", "notificationId": pos}
                self.events.append(Event(pos, "notifyNewAlarm", ME, body, {}))

    def head(self) -> int:
        with self.lock:
            return len(self.events)

    def read(self, after: int, limit: int) -> Sequence[Event]:
        with self.lock:
            return self.events[after : after + limit]


class Recipients:
    """Two recipients behind one transport: ``good`` takes everything, ``dead`` never answers well."""

    def __init__(self) -> None:
        self.got: dict[str, list[int]] = {"good": [], "dead": []}

    async def handle(self, request: httpx.Request) -> httpx.Response:
        who = request.url.path.strip("/")
        if who == "dead":
            self.got["dead"].append(-1)
            await asyncio.sleep(0.05)
            return httpx.Response(503)
        self.got[who].append(orjson.loads(request.content)["notificationId"])
        return httpx.Response(204)


def test_a_dead_recipient_delays_no_other_and_cursors_survive_a_restart(store: SqlStore) -> None:
    feed, rec = ListFeed(), Recipients()
    transport = httpx.MockTransport(rec.handle)

    def notifier() -> EventNotifier:
        n = EventNotifier(store=store, settings=FAST, transport=transport)
        n.add_feed(feed)
        return n

    n = notifier()
    feed.add(2)  # before any subscription: not sent
    n.targets.create()
    heads = n.heads()
    assert heads == {"test": 2}
    good = n.targets.add(FAULT, {"consumerReference": "http://good.example/good"}, heads)
    n.targets.add(FAULT, {"consumerReference": "http://dead.example/dead"}, heads)
    n.start()
    try:
        feed.add(50)
        n.wake()
        wait_for(lambda: len(rec.got["good"]) == 50, "the good recipient's notifications")
        assert rec.got["good"] == list(range(3, 53))
        wait_for(lambda: len(rec.got["dead"]) >= 2, "the dead recipient to be tried again")
        dead_key = next(k for k in n.status() if not k.endswith(good))
        assert n.status()[dead_key]["test"].delivered == 2
        wait_for(lambda: n.targets.cursors().get((f"{FAULT} {good}", "test")) == 52, "the cursor to be saved")
    finally:
        n.stop()
    n.start(wait=False)
    try:
        other = ListFeed()
        other.name = "other"
        with pytest.raises(RuntimeError, match="before start"):
            n.add_feed(other)
    finally:
        n.stop()
    feed.add(3)  # while the notifier is down
    again = notifier()
    again.start()
    try:
        wait_for(lambda: len(rec.got["good"]) == 53, "what was missed")
        time.sleep(0.1)
    finally:
        again.stop()
    assert rec.got["good"] == list(range(3, 56))

"""The alarm list (mns.fault): operations, deduplication, history and as-of reads, counts, events, errors.

Every test runs on both store backends (the ``store`` fixture). Error cases compare the whole
alarm list, its sequence and the events before and after: a failed operation changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mns.errors import AlreadyExists, BadRequest, Conflict, MalformedDN, MnsError, NotFound
from mns.fault import (
    AckState,
    AlarmAckState,
    AlarmCount,
    AlarmEvent,
    AlarmEventKind,
    AlarmRecord,
    PerceivedSeverity,
    TrendIndication,
    acknowledge,
    add_listener,
    alarm_count,
    alarm_head,
    alarm_history,
    alarm_list_json,
    change_alarm,
    clear_alarm,
    comment,
    demo_alarms,
    get_alarm,
    list_alarms,
    patch_alarm,
    patch_alarms,
    raise_alarm,
    remove_listener,
    unacknowledge,
)
from mns.fault.model import coerce, exact
from mns.store import Create, SqlStore, open_store

ME = "SubNetwork=RAN,ManagedElement=gNB-1"
CELL = f"{ME},GNBDUFunction=1,NRCellDU=1"
CUCP = f"{ME},GNBCUCPFunction=1"
OTHER_ME = "SubNetwork=RAN,ManagedElement=gNB-10"  # a key prefix of ME's siblings, not a child


def outage(store: SqlStore, **kw: Any) -> AlarmRecord:
    """A cell outage on CELL (the same identity every time unless overridden)."""
    args: dict[str, Any] = {
        "object_instance": CELL,
        "alarm_type": "EQUIPMENT_ALARM",
        "probable_cause": "transmitterFailure",
        "specific_problem": "NR cell out of service",
        "perceived_severity": "CRITICAL",
    }
    return raise_alarm(store=store, **{**args, **kw})


def link_down(store: SqlStore, **kw: Any) -> AlarmRecord:
    """An NG link failure on CUCP."""
    args: dict[str, Any] = {
        "object_instance": CUCP,
        "alarm_type": "COMMUNICATIONS_ALARM",
        "probable_cause": "communicationsSubsystemFailure",
        "perceived_severity": "MAJOR",
    }
    return raise_alarm(store=store, **{**args, **kw})


def ids(store: SqlStore, **kw: Any) -> list[str]:
    """Alarm ids of the alarm list, oldest first."""
    return list(list_alarms(store=store, **kw).alarms)


@pytest.fixture
def events(store: SqlStore) -> Iterator[list[AlarmEvent]]:
    """The events of ``store``, collected by a listener."""
    got: list[AlarmEvent] = []
    stop = add_listener(got.append, store=store)
    yield got
    stop()


# -- raise, dedup, change ---------------------------------------------------------------------------


def test_raise_adds_an_unacknowledged_alarm(store: SqlStore, events: list[AlarmEvent]) -> None:
    before = time.time()
    alarm = outage(store, additional_information={"operationalState": "DISABLED"})
    assert alarm.alarm_id == "1"
    assert alarm.notification_id == 1
    assert alarm.object_instance == CELL
    assert alarm.perceived_severity is PerceivedSeverity.CRITICAL
    assert alarm.ack_state is AckState.UNACKNOWLEDGED
    assert alarm.active
    assert alarm.listed
    assert before <= alarm.alarm_raised_time.timestamp() <= time.time()
    assert list_alarms(store=store).alarms == {"1": alarm}
    assert get_alarm(store=store, alarm_id="1") == alarm
    assert [(e.kind, e.alarm_id, e.before, e.after, e.seq) for e in events] == [
        (AlarmEventKind.NEW, "1", None, alarm, 1)
    ]
    assert events[0].kind.notification_type == "notifyNewAlarm"


def test_raising_an_active_alarm_again_changes_it(store: SqlStore, events: list[AlarmEvent]) -> None:
    first = outage(store, perceived_severity="MINOR")
    same = outage(store, perceived_severity="MINOR")
    assert same == first
    assert alarm_head(store=store) == 1, "raising it unchanged writes nothing"
    worse = outage(store, perceived_severity="MAJOR")
    assert worse.alarm_id == first.alarm_id
    assert worse.perceived_severity is PerceivedSeverity.MAJOR
    assert worse.trend_indication is TrendIndication.MORE_SEVERE
    assert worse.alarm_changed_time is not None
    assert worse.alarm_raised_time == first.alarm_raised_time
    assert ids(store) == ["1"]
    assert [e.kind for e in events] == [AlarmEventKind.NEW, AlarmEventKind.CHANGED]
    assert events[1].before == first
    assert events[1].after == worse
    assert outage(store, perceived_severity="WARNING").trend_indication is TrendIndication.LESS_SEVERE


def test_alarms_differing_in_identity_are_separate(store: SqlStore) -> None:
    outage(store)
    outage(store, specific_problem="another problem")
    outage(store, specific_problem=None)
    outage(store, probable_cause=5)
    outage(store, probable_cause="5")
    outage(store, object_instance=ME)
    outage(store, alarm_type="COMMUNICATIONS_ALARM")
    assert ids(store) == [str(i) for i in range(1, 8)]


def test_raising_a_cleared_alarm_again_is_a_new_alarm(store: SqlStore) -> None:
    first = outage(store)
    clear_alarm(store=store, alarm_id=first.alarm_id)
    again = outage(store)
    assert again.alarm_id != first.alarm_id
    assert ids(store) == [first.alarm_id, again.alarm_id]


def test_change_alarm_kinds(store: SqlStore, events: list[AlarmEvent]) -> None:
    alarm = link_down(store)
    text = change_alarm(store=store, alarm_id=alarm.alarm_id, additional_text="AMF unreachable")
    assert text.additional_text == "AMF unreachable"
    assert text.perceived_severity is PerceivedSeverity.MAJOR
    correlated = [{"sourceObjectInstance": CELL, "notificationIds": [7]}]
    linked = change_alarm(store=store, alarm_id=alarm.alarm_id, correlated_notifications=correlated)
    assert linked.correlated_notifications == correlated
    assert change_alarm(store=store, alarm_id=alarm.alarm_id, correlated_notifications=correlated) == linked
    worse = change_alarm(store=store, alarm_id=alarm.alarm_id, perceived_severity="Critical")
    assert worse.perceived_severity is PerceivedSeverity.CRITICAL
    assert [e.kind for e in events] == [
        AlarmEventKind.NEW,
        AlarmEventKind.CHANGED_GENERAL,
        AlarmEventKind.CORRELATED_NOTIFICATION_CHANGED,
        AlarmEventKind.CHANGED,
    ]
    assert [e.kind.notification_type for e in events[1:]] == [
        "notifyChangedAlarmGeneral",
        "notifyCorrelatedNotificationChanged",
        "notifyChangedAlarm",
    ]


def test_threshold_info_spellings(store: SqlStore) -> None:
    info = {"observedMeasurement": "cabinetTemperature", "observedValue": 71.5}
    alarm = raise_alarm(
        store=store,
        object_instance=ME,
        alarm_type="ENVIRONMENTAL_ALARM",
        probable_cause="temperatureUnacceptable",
        perceived_severity="MINOR",
        threshold_info=info,
    )
    body = alarm.to_json()
    assert body["thresholdinfo"] == info
    assert "thresholdInfo" not in body
    assert alarm.to_json(threshold_key="thresholdInfo")["thresholdInfo"] == info
    renamed = {("thresholdInfo" if k == "thresholdinfo" else k): v for k, v in body.items()}
    assert AlarmRecord.from_json(alarm.alarm_id, renamed) == alarm
    assert AlarmRecord.from_json(alarm.alarm_id, body) == alarm


def test_lenient_and_exact_enumerations() -> None:
    assert coerce(PerceivedSeverity, "Major", field="perceivedSeverity") == (
        PerceivedSeverity.MAJOR,
        "perceivedSeverity 'Major' read as MAJOR",
    )
    assert coerce(PerceivedSeverity, "NORMAL", field="s")[0] is PerceivedSeverity.CLEARED
    assert coerce(PerceivedSeverity, "MINOR", field="s") == (PerceivedSeverity.MINOR, None)
    with pytest.raises(BadRequest, match="perceivedSeverity 'Major' is not one of"):
        exact(PerceivedSeverity, "Major", field="perceivedSeverity")


# -- clear, acknowledge, comment ----------------------------------------------------------------------


def test_clear_keeps_an_unacknowledged_alarm_listed_until_acknowledged(
    store: SqlStore, events: list[AlarmEvent]
) -> None:
    alarm = outage(store)
    cleared = clear_alarm(store=store, alarm_id=alarm.alarm_id, clear_user_id="ops", clear_system_id="oss-1")
    assert cleared.perceived_severity is PerceivedSeverity.CLEARED
    assert (cleared.clear_user_id, cleared.clear_system_id) == ("ops", "oss-1")
    assert cleared.alarm_cleared_time is not None
    assert cleared.listed
    assert ids(store, ack_state="ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS") == [alarm.alarm_id]
    gone = acknowledge(store=store, alarm_id=alarm.alarm_id, ack_user_id="ops")
    assert gone.ack_state is AckState.ACKNOWLEDGED
    assert not gone.listed
    assert ids(store) == []
    assert get_alarm(store=store, alarm_id=alarm.alarm_id) == gone
    assert [e.kind for e in events] == [AlarmEventKind.NEW, AlarmEventKind.CLEARED, AlarmEventKind.ACK_STATE_CHANGED]
    assert not events[-1].after.listed
    assert [v.kind for v in alarm_history(store=store, alarm_id=alarm.alarm_id)] == [e.kind for e in events]


def test_clearing_an_acknowledged_alarm_takes_it_off_the_list(store: SqlStore) -> None:
    alarm = outage(store)
    acked = acknowledge(store=store, alarm_id=alarm.alarm_id, ack_user_id="ops", ack_system_id="oss-1")
    assert (acked.ack_user_id, acked.ack_system_id, acked.listed) == ("ops", "oss-1", True)
    assert acked.ack_time is not None
    assert ids(store, ack_state="ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS") == [alarm.alarm_id]
    assert not clear_alarm(store=store, alarm_id=alarm.alarm_id).listed
    assert ids(store) == []


def test_clear_by_identity(store: SqlStore) -> None:
    alarm = outage(store)
    other = outage(store, specific_problem="another problem")
    cleared = clear_alarm(
        store=store,
        object_instance=CELL.replace(",", "/"),  # either DN form
        alarm_type="EQUIPMENT_ALARM",
        probable_cause="transmitterFailure",
        specific_problem="NR cell out of service",
    )
    assert cleared.alarm_id == alarm.alarm_id
    assert get_alarm(store=store, alarm_id=other.alarm_id) == other


def test_unacknowledge(store: SqlStore, events: list[AlarmEvent]) -> None:
    alarm = outage(store)
    acknowledge(store=store, alarm_id=alarm.alarm_id, ack_user_id="ops")
    back = unacknowledge(store=store, alarm_id=alarm.alarm_id, ack_user_id="lead", ack_system_id="noc")
    assert back.ack_state is AckState.UNACKNOWLEDGED
    assert (back.ack_user_id, back.ack_system_id) == ("lead", "noc")
    assert ids(store, ack_state="ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS") == [alarm.alarm_id]
    assert [e.kind for e in events][1:] == [AlarmEventKind.ACK_STATE_CHANGED] * 2


def test_comments(store: SqlStore, events: list[AlarmEvent]) -> None:
    alarm = outage(store)
    one = comment(store=store, alarm_id=alarm.alarm_id, comment_text="dispatched", comment_user_id="ops")
    two = comment(store=store, alarm_id=alarm.alarm_id, comment_text="on site", comment_system_id="field-app")
    assert [(c.comment_id, c.comment_text) for c in two.comments] == [("1", "dispatched"), ("2", "on site")]
    assert two.comments[0] == one.comments[0]
    assert two.to_json()["comments"]["2"] == {
        "commentTime": two.comments[1].to_json()["commentTime"],
        "commentSystemId": "field-app",
        "commentText": "on site",
    }
    assert [e.kind for e in events][1:] == [AlarmEventKind.COMMENTS] * 2
    assert events[-1].kind.notification_type == "notifyComments"


# -- reads --------------------------------------------------------------------------------------------


@pytest.fixture
def states(store: SqlStore) -> dict[str, str]:
    """One alarm in each state of the alarm list (and one that left it); name -> alarm id."""
    active = outage(store)
    acked = link_down(store)
    acknowledge(store=store, alarm_id=acked.alarm_id, ack_user_id="ops")
    cleared = outage(store, object_instance=ME, perceived_severity="MINOR")
    clear_alarm(store=store, alarm_id=cleared.alarm_id)
    gone = outage(store, object_instance=OTHER_ME, perceived_severity="WARNING")
    clear_alarm(store=store, alarm_id=gone.alarm_id)
    acknowledge(store=store, alarm_id=gone.alarm_id, ack_user_id="ops")
    return {"active": active.alarm_id, "acked": acked.alarm_id, "cleared": cleared.alarm_id, "gone": gone.alarm_id}


@pytest.mark.parametrize(
    ("ack_state", "expected"),
    [
        (None, ["active", "acked", "cleared"]),
        ("ALL_ALARMS", ["active", "acked", "cleared"]),
        ("ALL_ACTIVE_ALARMS", ["active", "acked"]),
        ("ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS", ["acked"]),
        ("ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS", ["active"]),
        ("ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS", ["cleared"]),
        ("ALL_UNACKNOWLEDGED_ALARMS", ["active", "cleared"]),
    ],
)
def test_alarm_ack_state_selects(
    store: SqlStore, states: dict[str, str], ack_state: str | None, expected: list[str]
) -> None:
    assert ids(store, ack_state=ack_state) == [states[name] for name in expected]


def test_base_object_instance_selects_a_subtree(store: SqlStore, states: dict[str, str]) -> None:
    assert ids(store, base_object_instance=ME) == [states["active"], states["acked"], states["cleared"]]
    assert ids(store, base_object_instance=CELL) == [states["active"]]
    assert ids(store, base_object_instance=f"{ME},GNBDUFunction=1") == [states["active"]]
    assert ids(store, base_object_instance="SubNetwork=Elsewhere") == []
    with pytest.raises(MalformedDN):
        ids(store, base_object_instance="not a dn")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('perceivedSeverity="CRITICAL"', ["active"]),
        ('ackState="ACKNOWLEDGED" or perceivedSeverity="CLEARED"', ["acked", "cleared"]),
        (f'starts-with(objectInstance, "{CELL}")', ["active"]),
        ('alarmType="EQUIPMENT_ALARM" and not(ackUserId)', ["active", "cleared"]),
        ('contains(probableCause, "Subsystem")', ["acked"]),
        ("notificationId >= 3", ["cleared"]),
        ('alarmId="1"', ["active"]),
    ],
)
def test_filter(store: SqlStore, states: dict[str, str], text: str, expected: list[str]) -> None:
    assert ids(store, filter=text) == [states[name] for name in expected]
    counted = alarm_count(store=store, filter=text)[1]
    assert counted.total == len(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ('perceivedSeverity="CRITICAL"] | *[a', "']' without its '['"),
        ('alarmRaisedTime > "2024-01-01"', "compares numbers"),
        ("perceivedSeverity=", "(at position 19)"),
    ],
)
def test_bad_filter_is_refused(store: SqlStore, text: str, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        list_alarms(store=store, filter=text)
    assert message in info.value.message


def test_alarm_count(store: SqlStore, states: dict[str, str]) -> None:
    seq, count = alarm_count(store=store)
    assert seq == alarm_head(store=store)
    assert count == AlarmCount(critical=1, major=1, minor=0, warning=0, indeterminate=0, cleared=1)
    assert count.to_json() == {
        "criticalCount": 1,
        "majorCount": 1,
        "minorCount": 0,
        "warningCount": 0,
        "indeterminateCount": 0,
        "clearedCount": 1,
    }
    assert alarm_count(store=store, ack_state=AlarmAckState.ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS)[1] == AlarmCount(
        major=1
    )
    assert alarm_count(store=store, base_object_instance=CELL)[1] == AlarmCount(critical=1)
    assert alarm_count(store=store, as_of=1)[1] == AlarmCount(critical=1)


def test_history_and_as_of_reads(store: SqlStore) -> None:
    assert list_alarms(store=store).seq == 0
    first = outage(store, perceived_severity="MINOR")
    time.sleep(0.01)
    worse = outage(store, perceived_severity="CRITICAL")
    time.sleep(0.01)
    clear_alarm(store=store, alarm_id=first.alarm_id)
    time.sleep(0.01)
    acknowledge(store=store, alarm_id=first.alarm_id, ack_user_id="ops")
    versions = alarm_history(store=store, alarm_id=first.alarm_id)
    assert [(v.seq, v.until) for v in versions] == [(1, 2), (2, 3), (3, 4), (4, None)]
    assert [v.record.perceived_severity for v in versions] == ["MINOR", "CRITICAL", "CLEARED", "CLEARED"]
    assert versions[1].record == worse
    assert ids(store) == []
    assert list_alarms(store=store, as_of=0).alarms == {}
    assert list_alarms(store=store, as_of=1).alarms == {first.alarm_id: first}
    assert list_alarms(store=store, as_of=2).alarms == {first.alarm_id: worse}
    assert list_alarms(store=store, as_of=3).alarms[first.alarm_id].perceived_severity is PerceivedSeverity.CLEARED
    assert list_alarms(store=store, as_of=4).alarms == {}
    for v in versions:
        assert list_alarms(store=store, as_of=v.time).seq == v.seq
    assert list_alarms(store=store, as_of=replace_time(versions[0].time, -60)).alarms == {}
    assert list_alarms(store=store, as_of=replace_time(versions[-1].time, 3600)).seq == 4
    assert alarm_list_json(store=store, as_of=2)[1].startswith(b'{"1":{"objectInstance":')
    with pytest.raises(NotFound, match="alarm sequence 5 does not exist"):
        list_alarms(store=store, as_of=5)
    with pytest.raises(NotFound):
        alarm_history(store=store, alarm_id="99")


def replace_time(when: Any, seconds: float) -> Any:
    """``when`` moved by ``seconds``."""
    from datetime import timedelta

    return when + timedelta(seconds=seconds)


# -- errors change nothing ------------------------------------------------------------------------------

ErrorCase = tuple[Callable[[SqlStore, dict[str, str]], Any], type[MnsError], str]

ERRORS: dict[str, ErrorCase] = {
    "ack unknown": (lambda s, a: acknowledge(store=s, alarm_id="404", ack_user_id="ops"), NotFound, "404"),
    "ack acked": (lambda s, a: acknowledge(store=s, alarm_id=a["acked"], ack_user_id="x"), Conflict, "already"),
    "ack gone": (lambda s, a: acknowledge(store=s, alarm_id=a["gone"], ack_user_id="x"), NotFound, "cleared and"),
    "ack no user": (lambda s, a: acknowledge(store=s, alarm_id=a["active"], ack_user_id=""), BadRequest, "ackUserId"),
    "unack unacked": (lambda s, a: unacknowledge(store=s, alarm_id=a["active"], ack_user_id="x"), Conflict, "alre"),
    "clear cleared": (lambda s, a: clear_alarm(store=s, alarm_id=a["cleared"]), Conflict, "already cleared"),
    "clear unknown": (lambda s, a: clear_alarm(store=s, alarm_id="404"), NotFound, "does not exist"),
    "clear no active": (
        lambda s, a: clear_alarm(store=s, object_instance=ME, alarm_type="EQUIPMENT_ALARM", probable_cause="x"),
        NotFound,
        "no active alarm",
    ),
    "clear half identity": (lambda s, a: clear_alarm(store=s, object_instance=ME), BadRequest, "probableCause"),
    "change cleared": (
        lambda s, a: change_alarm(store=s, alarm_id=a["cleared"], additional_text="x"),
        Conflict,
        "cleared",
    ),
    "change nothing": (lambda s, a: change_alarm(store=s, alarm_id=a["active"]), BadRequest, "needs a field"),
    "change to cleared": (
        lambda s, a: change_alarm(store=s, alarm_id=a["active"], perceived_severity="CLEARED"),
        BadRequest,
        "clear the alarm",
    ),
    "raise cleared": (lambda s, a: outage(s, perceived_severity="CLEARED"), BadRequest, "CLEARED"),
    "raise bad severity": (lambda s, a: outage(s, perceived_severity="SEVERE"), BadRequest, "perceivedSeverity"),
    "raise bad type": (lambda s, a: outage(s, alarm_type="FIRE"), BadRequest, "alarmType"),
    "raise bad dn": (lambda s, a: outage(s, object_instance="cell one"), MalformedDN, "cell one"),
    "raise bad cause": (lambda s, a: outage(s, probable_cause=True), BadRequest, "probableCause"),
    "raise bad threshold": (
        lambda s, a: outage(s, threshold_info={"observedValue": 3}),
        BadRequest,
        "observedMeasurement",
    ),
    "raise bad correlation": (
        lambda s, a: outage(s, correlated_notifications=[{"sourceObjectInstance": ME}]),
        BadRequest,
        "notificationIds",
    ),
    "raise taken id": (lambda s, a: outage(s, alarm_id=a["gone"]), AlreadyExists, "exists"),
    "comment empty": (lambda s, a: comment(store=s, alarm_id=a["active"], comment_text=" "), BadRequest, "comment"),
    "comment gone": (lambda s, a: comment(store=s, alarm_id=a["gone"], comment_text="x"), NotFound, "not in"),
    "patch other field": (
        lambda s, a: patch_alarm(store=s, alarm_id=a["active"], patch={"perceivedSeverity": "CLEARED", "x": 1}),
        BadRequest,
        "'x'",
    ),
    "patch severity": (
        lambda s, a: patch_alarm(
            store=s, alarm_id=a["active"], patch={"clearUserId": "o", "perceivedSeverity": "MAJOR"}
        ),
        BadRequest,
        "perceivedSeverity 'MAJOR'",
    ),
    "patch mixed": (
        lambda s, a: patch_alarm(
            store=s, alarm_id=a["active"], patch={"ackState": "ACKNOWLEDGED", "ackUserId": "o", "clearUserId": "o"}
        ),
        BadRequest,
        "mixes",
    ),
    "patch ack state": (
        lambda s, a: patch_alarm(store=s, alarm_id=a["active"], patch={"ackState": "DONE", "ackUserId": "o"}),
        BadRequest,
        "ackState 'DONE'",
    ),
    "patch no user": (
        lambda s, a: patch_alarm(store=s, alarm_id=a["active"], patch={"ackState": "ACKNOWLEDGED"}),
        BadRequest,
        "ackUserId is required",
    ),
    "patch empty": (lambda s, a: patch_alarm(store=s, alarm_id=a["active"], patch={}), BadRequest, "empty"),
    "patch not object": (lambda s, a: patch_alarm(store=s, alarm_id=a["active"], patch=[]), BadRequest, "object"),
    "patch many empty": (lambda s, a: patch_alarms(store=s, patches={}), BadRequest, "non-empty"),
    "bad ack state": (lambda s, a: list_alarms(store=s, ack_state="ACTIVE"), BadRequest, "alarmAckState"),
}


@pytest.mark.parametrize("case", list(ERRORS), ids=list(ERRORS))
def test_errors_change_nothing(store: SqlStore, states: dict[str, str], events: list[AlarmEvent], case: str) -> None:
    operation, error, message = ERRORS[case]

    def snapshot() -> tuple[int, bytes, dict[str, AlarmRecord | None]]:
        every = {k: get_alarm(store=store, alarm_id=v) for k, v in states.items()}
        return alarm_head(store=store), alarm_list_json(store=store)[1], every

    before, seen = snapshot(), len(events)
    with pytest.raises(error) as info:
        operation(store, states)
    assert message in str(info.value)
    assert snapshot() == before
    assert len(events) == seen


def test_patch_many_applies_what_it_can(store: SqlStore, states: dict[str, str], events: list[AlarmEvent]) -> None:
    seen = len(events)
    ack = {"ackState": "ACKNOWLEDGED", "ackUserId": "ops"}
    done, failed = patch_alarms(
        store=store,
        patches={
            "404": ack,
            states["active"]: ack,
            states["acked"]: {"clearUserId": "ops", "perceivedSeverity": "CLEARED"},
            states["cleared"]: {"clearUserId": "ops", "perceivedSeverity": "CLEARED"},
            "bad": {"ackState": "MAYBE", "ackUserId": "ops"},
        },
    )
    assert sorted(done) == sorted([states["active"], states["acked"]])
    assert [f.alarm_id for f in failed] == ["404", states["cleared"], "bad"]
    assert "does not exist (rule: not-found)" in failed[0].failure_reason
    assert "already cleared (at " in failed[1].failure_reason
    assert "ackState 'MAYBE'" in failed[2].failure_reason
    assert failed[0].to_json() == {"alarmId": "404", "failureReason": failed[0].failure_reason}
    assert [e.kind for e in events[seen:]] == [AlarmEventKind.ACK_STATE_CHANGED, AlarmEventKind.CLEARED]
    assert ids(store) == [states["active"], states["cleared"]]


# -- events, concurrency, demo ------------------------------------------------------------------------


def test_listeners_per_store_and_failures_are_logged(
    store: SqlStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = open_store(str(tmp_path / "other.db"))
    mine: list[AlarmEvent] = []
    everything: list[AlarmEvent] = []

    def broken(event: AlarmEvent) -> None:
        raise RuntimeError("listener bug")

    stops = [add_listener(mine.append, store=store), add_listener(everything.append), add_listener(broken)]
    try:
        with caplog.at_level(logging.ERROR, logger="mns.fault"):
            alarm = outage(store)
            outage(other)
        assert [e.after for e in mine] == [alarm]
        assert len(everything) == 2
        assert "listener" in caplog.text
        assert "failed on the new event of alarm 1" in caplog.text
        remove_listener(mine.append)
        for stop in stops:
            stop()
        outage(store, specific_problem="more")
        assert len(mine) == 1
        assert len(everything) == 2
    finally:
        for stop in stops:
            stop()
        other.close()


def test_concurrent_writers_get_dense_sequences(store: SqlStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(8):
                outage(store, specific_problem=f"worker {n} problem {i}")
                outage(store, perceived_severity="MAJOR" if i % 2 else "MINOR")  # one shared alarm
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    alarms = list_alarms(store=store).alarms
    assert len(alarms) == 33, "32 distinct alarms and one shared one"
    shared = [a for a in alarms.values() if a.specific_problem == "NR cell out of service"]
    assert len(shared) == 1
    head = alarm_head(store=store)
    history = [v.seq for a in alarms for v in alarm_history(store=store, alarm_id=a)]
    assert sorted(history) == list(range(1, head + 1))


def test_demo_alarms_are_deterministic(tmp_path: Path, store: SqlStore) -> None:
    from mns.sim.generate import generate_network

    twins = [store, open_store(str(tmp_path / "twin2.db"))]
    try:
        made = []
        for twin in twins:
            twin.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(3, seed=5)), source="real")
            made.append(demo_alarms(twin, 7))
        first, second = made
        assert [(a.object_instance, a.alarm_type, a.perceived_severity) for a in first] == [
            (a.object_instance, a.alarm_type, a.perceived_severity) for a in second
        ]
        classes = {a.object_instance.rsplit(",", 1)[-1].split("=")[0] for a in first}
        assert {"NRCellDU", "GNBCUCPFunction", "ManagedElement"} <= classes
        for alarm in first:
            assert store.get(alarm.object_instance) is not None, "alarms are on objects of the network"
        head = alarm_head(store=store)
        assert demo_alarms(store, 7) == list(list_alarms(store=store).alarms.values())
        assert alarm_head(store=store) == head, "a second run changes nothing"
        states = {(a.active, a.ack_state) for a in first}
        assert (False, AckState.UNACKNOWLEDGED) in states
        assert (True, AckState.ACKNOWLEDGED) in states
        assert any(a.comments for a in first)
        empty = open_store(str(tmp_path / "empty.db"))
        try:
            assert demo_alarms(empty, 1) == []
        finally:
            empty.close()
    finally:
        twins[1].close()


def test_records_compare_by_value(store: SqlStore) -> None:
    alarm = outage(store)
    assert replace(alarm, additional_text="x") != alarm
    assert AlarmRecord.from_json(alarm.alarm_id, alarm.to_json()) == alarm

"""Fault MnS service: the alarm list's operations (TS 28.532 fault supervision), without HTTP.

Writers are the mirror and threshold monitoring (``raise_alarm``, ``change_alarm``,
``clear_alarm``) and operators (``acknowledge``, ``unacknowledge``, ``clear_alarm``, ``comment``,
and the merge-patch documents of ``patch_alarm``/``patch_alarms``). Each write is one atomic
transaction that returns the record it wrote and, once committed, hands an ``AlarmEvent`` per
changed alarm to the listeners of ``mns.fault.events``. A request that fails raises a domain
error (``mns.errors``) and changes nothing.

The alarm list follows TS 32.111-1: an alarm stays in it while it is active or unacknowledged;
clearing an acknowledged alarm, or acknowledging a cleared one, takes it off the list (its
history stays). Raising an alarm whose objectInstance, alarmType, probableCause and
specificProblem match an active alarm changes that alarm instead of adding another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import orjson

from mns.errors import AlreadyExists, BadRequest, Conflict, MnsError, NotFound
from mns.fault.events import AlarmEventKind, emit
from mns.fault.model import (
    FIELDS,
    RANK,
    AckState,
    AlarmAckState,
    AlarmCount,
    AlarmRecord,
    Comment,
    FailedAlarm,
    PerceivedSeverity,
    TrendIndication,
    check,
    exact,
    parse_time,
)
from mns.fault.patch import AlarmAction, parse_patch
from mns.fault.query import AlarmFilter, parse_alarm_filter
from mns.fault.store import AlarmStore, AlarmTxn, AlarmVersion
from mns.store.api import AsOf, utc
from mns.store.sql import SqlStore

T = TypeVar("T")

_CORRELATION = frozenset({"correlated_notifications", "root_cause_indicator"})


@dataclass(frozen=True, slots=True)
class AlarmList:
    """The alarm list as of alarm sequence ``seq``: alarm id -> record, oldest first."""

    seq: int
    alarms: dict[str, AlarmRecord]


def _commit(store: SqlStore, plan: Callable[[AlarmTxn], T]) -> T:
    """Run ``plan`` in one write transaction, then hand its events to the listeners."""
    with AlarmStore.of(store).write() as txn:
        result = plan(txn)
    emit(txn.events, store=store)
    return result


def _when(txn: AlarmTxn, event_time: datetime | None) -> datetime:
    return event_time if event_time is not None else utc(txn.now)


def _details(**given: Any) -> dict[str, Any]:
    """The optional record fields given (None: not given), checked."""
    return {name: check(name, value) for name, value in given.items() if value is not None}


def _listed(txn: AlarmTxn, alarm_id: str) -> AlarmRecord:
    current = None if "\x00" in alarm_id else txn.get(alarm_id)  # PostgreSQL text holds no NUL
    if current is None or not current.listed:
        why = "was cleared and acknowledged" if current is not None else "does not exist"
        raise NotFound(f"alarm {alarm_id} is not in the alarm list: it {why}")
    return current


def _time_or_none(event_time: datetime | str | None, field: str = "eventTime") -> datetime | None:
    return parse_time(event_time, field=field) if event_time is not None else None


# -- writes from the network ------------------------------------------------------------------


def raise_alarm(
    *,
    store: SqlStore,
    object_instance: str,
    alarm_type: str,
    probable_cause: str | int,
    perceived_severity: str,
    specific_problem: str | int | None = None,
    additional_text: str | None = None,
    additional_information: Mapping[str, Any] | None = None,
    threshold_info: Mapping[str, Any] | None = None,
    trend_indication: str | None = None,
    backed_up_status: bool | None = None,
    back_up_object: str | None = None,
    correlated_notifications: list[Any] | None = None,
    state_change_definition: list[Any] | None = None,
    monitored_attributes: Mapping[str, Any] | None = None,
    proposed_repair_actions: str | None = None,
    root_cause_indicator: bool | None = None,
    service_user: str | None = None,
    service_provider: str | None = None,
    security_alarm_detector: str | None = None,
    alarm_id: str | None = None,
    notification_id: int | None = None,
    event_time: datetime | str | None = None,
    source: str = "real",
    author: str = "",
) -> AlarmRecord:
    """Raise an alarm; the same alarm already active is changed instead (see the module doc).

    ``alarm_id`` and ``notification_id`` keep those of a mirrored network (by default the
    twin allocates both); ``event_time`` is when the network raised it (default: now).
    """
    severity = check("perceived_severity", perceived_severity)
    if severity is PerceivedSeverity.CLEARED:
        raise BadRequest("perceivedSeverity CLEARED does not raise an alarm: clear the alarm instead")
    details = _details(
        additional_text=additional_text,
        additional_information=additional_information,
        threshold_info=threshold_info,
        trend_indication=trend_indication,
        backed_up_status=backed_up_status,
        back_up_object=back_up_object,
        correlated_notifications=correlated_notifications,
        state_change_definition=state_change_definition,
        monitored_attributes=monitored_attributes,
        proposed_repair_actions=proposed_repair_actions,
        root_cause_indicator=root_cause_indicator,
        service_user=service_user,
        service_provider=service_provider,
        security_alarm_detector=security_alarm_detector,
    )
    candidate = AlarmRecord(
        alarm_id=alarm_id or "",
        object_instance=check("object_instance", object_instance),
        alarm_type=check("alarm_type", alarm_type),
        probable_cause=check("probable_cause", probable_cause),
        specific_problem=check("specific_problem", specific_problem),
        perceived_severity=severity,
        **details,
    )
    if alarm_id is not None and (not isinstance(alarm_id, str) or not alarm_id):
        raise BadRequest(f"alarmId {alarm_id!r} is not a non-empty string")
    given_nid = check("notification_id", notification_id)
    when = _time_or_none(event_time)

    def plan(txn: AlarmTxn) -> AlarmRecord:
        current = txn.find_active(candidate)
        if alarm_id is not None and (current is None or current.alarm_id != alarm_id) and txn.get(alarm_id):
            raise AlreadyExists(f"alarm {alarm_id} exists and is not an active alarm with the same identity")
        if current is not None:
            return _change(txn, current, {"perceived_severity": severity, **details}, when, source, author)
        new_id = alarm_id or txn.new_id()
        record = replace(
            candidate,
            alarm_id=new_id,
            notification_id=given_nid if given_nid is not None else txn.seq + 1,
            alarm_raised_time=_when(txn, when),
        )
        txn.put(AlarmEventKind.NEW, None, record, source=source, author=author)
        return record

    return _commit(store, plan)


def change_alarm(
    *,
    store: SqlStore,
    alarm_id: str,
    perceived_severity: str | None = None,
    additional_text: str | None = None,
    additional_information: Mapping[str, Any] | None = None,
    threshold_info: Mapping[str, Any] | None = None,
    trend_indication: str | None = None,
    backed_up_status: bool | None = None,
    back_up_object: str | None = None,
    correlated_notifications: list[Any] | None = None,
    state_change_definition: list[Any] | None = None,
    monitored_attributes: Mapping[str, Any] | None = None,
    proposed_repair_actions: str | None = None,
    root_cause_indicator: bool | None = None,
    event_time: datetime | str | None = None,
    source: str = "real",
    author: str = "",
) -> AlarmRecord:
    """Change an active alarm's severity or details (None leaves a field as it is).

    A change of severity sets trendIndication (unless given) and is a ``changed`` event; other
    changes are ``changedGeneral``, or ``correlatedNotificationChanged`` when only the
    correlation changed. A change that changes nothing writes nothing and returns the record.
    """
    changes = _details(
        perceived_severity=perceived_severity,
        additional_text=additional_text,
        additional_information=additional_information,
        threshold_info=threshold_info,
        trend_indication=trend_indication,
        backed_up_status=backed_up_status,
        back_up_object=back_up_object,
        correlated_notifications=correlated_notifications,
        state_change_definition=state_change_definition,
        monitored_attributes=monitored_attributes,
        proposed_repair_actions=proposed_repair_actions,
        root_cause_indicator=root_cause_indicator,
    )
    if changes.get("perceived_severity") is PerceivedSeverity.CLEARED:
        raise BadRequest("perceivedSeverity CLEARED is not a change: clear the alarm instead")
    if not changes:
        raise BadRequest(f"a change of alarm {alarm_id} needs a field to change")
    when = _time_or_none(event_time)
    return _commit(store, lambda txn: _change(txn, _listed(txn, alarm_id), changes, when, source, author))


def _change(
    txn: AlarmTxn,
    current: AlarmRecord,
    changes: Mapping[str, Any],
    when: datetime | None,
    source: str,
    author: str,
) -> AlarmRecord:
    if not current.active:
        raise Conflict(f"alarm {current.alarm_id} is cleared: a cleared alarm does not change")
    updated = replace(current, **changes)
    old, new = current.perceived_severity, updated.perceived_severity
    if old != new and "trend_indication" not in changes:
        more = RANK[new] > RANK[old]
        updated = replace(
            updated, trend_indication=TrendIndication.MORE_SEVERE if more else TrendIndication.LESS_SEVERE
        )
    changed = {f.name for f in FIELDS if getattr(current, f.name) != getattr(updated, f.name)}
    if not changed:
        return current
    if old != new:
        kind = AlarmEventKind.CHANGED
    elif changed <= _CORRELATION:
        kind = AlarmEventKind.CORRELATED_NOTIFICATION_CHANGED
    else:
        kind = AlarmEventKind.CHANGED_GENERAL
    updated = replace(updated, alarm_changed_time=_when(txn, when))
    txn.put(kind, current, updated, source=source, author=author)
    return updated


def clear_alarm(
    *,
    store: SqlStore,
    alarm_id: str | None = None,
    object_instance: str | None = None,
    alarm_type: str | None = None,
    probable_cause: str | int | None = None,
    specific_problem: str | int | None = None,
    clear_user_id: str | None = None,
    clear_system_id: str | None = None,
    event_time: datetime | str | None = None,
    source: str = "real",
    author: str = "",
) -> AlarmRecord:
    """Clear an alarm, named by ``alarm_id`` or by its identity (objectInstance, alarmType, ...)."""
    by_identity = (object_instance, alarm_type, probable_cause)
    if (alarm_id is None) == all(v is None for v in by_identity):
        raise BadRequest("name the alarm to clear by alarmId or by objectInstance, alarmType and probableCause")
    probe: AlarmRecord | None = None
    if alarm_id is None:
        if any(v is None for v in by_identity):
            raise BadRequest("clearing by identity needs objectInstance, alarmType and probableCause")
        probe = AlarmRecord(
            alarm_id="",
            object_instance=check("object_instance", object_instance),
            alarm_type=check("alarm_type", alarm_type),
            probable_cause=check("probable_cause", probable_cause),
            specific_problem=check("specific_problem", specific_problem),
        )
    user, system = check("clear_user_id", clear_user_id), check("clear_system_id", clear_system_id)
    when = _time_or_none(event_time)

    def plan(txn: AlarmTxn) -> AlarmRecord:
        if probe is not None:
            found = txn.find_active(probe)
            if found is None:
                raise NotFound(
                    f"no active alarm {probe.alarm_type} {probe.probable_cause!r} on {probe.object_instance}"
                )
            return _clear(txn, found, user, system, when, source, author)
        assert alarm_id is not None
        return _clear(txn, _listed(txn, alarm_id), user, system, when, source, author)

    return _commit(store, plan)


def _clear(
    txn: AlarmTxn,
    current: AlarmRecord,
    user: str | None,
    system: str | None,
    when: datetime | None,
    source: str,
    author: str,
) -> AlarmRecord:
    if not current.active:
        cleared = current.alarm_cleared_time.isoformat() if current.alarm_cleared_time else "before"
        raise Conflict(f"alarm {current.alarm_id} is already cleared (at {cleared})")
    updated = replace(
        current,
        perceived_severity=PerceivedSeverity.CLEARED,
        alarm_cleared_time=_when(txn, when),
        clear_user_id=user,
        clear_system_id=system,
    )
    txn.put(AlarmEventKind.CLEARED, current, updated, source=source, author=author)
    return updated


# -- writes by operators ------------------------------------------------------------------------


def acknowledge(
    *,
    store: SqlStore,
    alarm_id: str,
    ack_user_id: str,
    ack_system_id: str | None = None,
    event_time: datetime | str | None = None,
    source: str = "oss",
    author: str = "",
) -> AlarmRecord:
    """Acknowledge an alarm (a cleared one then leaves the alarm list)."""
    action = AlarmAction.ack(AckState.ACKNOWLEDGED, ack_user_id, ack_system_id)
    when = _time_or_none(event_time)
    return _commit(store, lambda txn: _act(txn, alarm_id, action, when, source, author))


def unacknowledge(
    *,
    store: SqlStore,
    alarm_id: str,
    ack_user_id: str,
    ack_system_id: str | None = None,
    event_time: datetime | str | None = None,
    source: str = "oss",
    author: str = "",
) -> AlarmRecord:
    """Take back the acknowledgement of an alarm."""
    action = AlarmAction.ack(AckState.UNACKNOWLEDGED, ack_user_id, ack_system_id)
    when = _time_or_none(event_time)
    return _commit(store, lambda txn: _act(txn, alarm_id, action, when, source, author))


def comment(
    *,
    store: SqlStore,
    alarm_id: str,
    comment_text: str,
    comment_user_id: str | None = None,
    comment_system_id: str | None = None,
    event_time: datetime | str | None = None,
    source: str = "oss",
    author: str = "",
) -> AlarmRecord:
    """Add a comment to an alarm; the new comment is the last of the returned record's."""
    for name, value in (("commentUserId", comment_user_id), ("commentSystemId", comment_system_id)):
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{name} must be a string, not {value!r}")
    if not isinstance(comment_text, str) or not comment_text.strip():
        raise BadRequest("commentText must be a non-empty string")
    when = _time_or_none(event_time, "commentTime")

    def plan(txn: AlarmTxn) -> AlarmRecord:
        current = _listed(txn, alarm_id)
        note = Comment(
            str(len(current.comments) + 1), _when(txn, when), comment_text, comment_user_id, comment_system_id
        )
        updated = replace(current, comments=(*current.comments, note))
        txn.put(AlarmEventKind.COMMENTS, current, updated, source=source, author=author)
        return updated

    return _commit(store, plan)


def _act(
    txn: AlarmTxn, alarm_id: str, action: AlarmAction, when: datetime | None, source: str, author: str
) -> AlarmRecord:
    """Apply one acknowledge, unacknowledge or clear action to a listed alarm."""
    current = _listed(txn, alarm_id)
    if action.clear:
        return _clear(txn, current, action.user, action.system, when, source, author)
    assert action.ack_state is not None
    if current.ack_state is action.ack_state:
        by = f" by {current.ack_user_id}" if current.ack_user_id else ""
        raise Conflict(f"alarm {alarm_id} is already {action.ack_state.value.lower()}{by}")
    updated = replace(
        current,
        ack_state=action.ack_state,
        ack_user_id=action.user,
        ack_system_id=action.system,
        ack_time=_when(txn, when),
    )
    txn.put(AlarmEventKind.ACK_STATE_CHANGED, current, updated, source=source, author=author)
    return updated


def patch_alarm(*, store: SqlStore, alarm_id: str, patch: Any, source: str = "oss", author: str = "") -> AlarmRecord:
    """Apply a TS 28.532 merge-patch document (acknowledge, unacknowledge or clear) to one alarm."""
    action = parse_patch(patch, alarm_id=alarm_id)
    return _commit(store, lambda txn: _act(txn, alarm_id, action, None, source, author))


def patch_alarms(
    *, store: SqlStore, patches: Any, source: str = "oss", author: str = ""
) -> tuple[dict[str, AlarmRecord], list[FailedAlarm]]:
    """Apply a map of alarm id -> merge-patch document in one transaction.

    Every alarm that can be patched is (TS 32.111's partial success); the others come back as
    ``FailedAlarm`` entries, in the order of the request, with the reason.
    """
    if not isinstance(patches, Mapping) or not patches:
        raise BadRequest("the body must be a non-empty JSON object of alarm ids to patch documents")
    actions: dict[str, AlarmAction] = {}
    reasons: dict[str, str] = {}
    for alarm_id, doc in patches.items():
        try:
            actions[alarm_id] = parse_patch(doc, alarm_id=alarm_id)
        except MnsError as exc:
            reasons[alarm_id] = f"{exc.message} (rule: {exc.rule})"

    def plan(txn: AlarmTxn) -> dict[str, AlarmRecord]:
        done: dict[str, AlarmRecord] = {}
        for alarm_id, action in actions.items():
            try:
                done[alarm_id] = _act(txn, alarm_id, action, None, source, author)
            except MnsError as exc:
                reasons[alarm_id] = f"{exc.message} (rule: {exc.rule})"
        return done

    done = _commit(store, plan) if actions else {}
    return done, [FailedAlarm(a, reasons[a]) for a in patches if a in reasons]


# -- reads --------------------------------------------------------------------------------------


def _ack_state(value: AlarmAckState | str | None) -> AlarmAckState:
    return AlarmAckState.ALL_ALARMS if value is None else exact(AlarmAckState, value, field="alarmAckState")


def _filter(value: AlarmFilter | str | None) -> AlarmFilter | None:
    return parse_alarm_filter(value) if isinstance(value, str) else value


def _base(value: str | None) -> str | None:
    return None if value is None else check("object_instance", value)


def alarm_list_json(
    *,
    store: SqlStore,
    ack_state: AlarmAckState | str | None = None,
    base_object_instance: str | None = None,
    filter: AlarmFilter | str | None = None,
    as_of: AsOf = None,
) -> tuple[int, bytes]:
    """The alarm list as the spec's JSON map (alarm id -> record), straight from the stored JSON."""
    matcher = _filter(filter)
    keep = None if matcher is None else (lambda alarm_id, text: matcher.matches(alarm_id, orjson.loads(text)))
    return AlarmStore.of(store).list_json(
        as_of=as_of, ack_state=_ack_state(ack_state), base=_base(base_object_instance), keep=keep
    )


def list_alarms(
    *,
    store: SqlStore,
    ack_state: AlarmAckState | str | None = None,
    base_object_instance: str | None = None,
    filter: AlarmFilter | str | None = None,
    as_of: AsOf = None,
) -> AlarmList:
    """The alarm list (as of an alarm sequence number or a time), narrowed as TS 28.532 getAlarmList."""
    seq, body = alarm_list_json(
        store=store, ack_state=ack_state, base_object_instance=base_object_instance, filter=filter, as_of=as_of
    )
    return AlarmList(seq, {k: AlarmRecord.from_json(k, v) for k, v in orjson.loads(body).items()})


def alarm_count(
    *,
    store: SqlStore,
    ack_state: AlarmAckState | str | None = None,
    filter: AlarmFilter | str | None = None,
    base_object_instance: str | None = None,
    as_of: AsOf = None,
) -> tuple[int, AlarmCount]:
    """(alarm sequence read, alarms per severity) of the alarm list narrowed like ``list_alarms``."""
    matcher = _filter(filter)
    alarms = AlarmStore.of(store)
    state, base = _ack_state(ack_state), _base(base_object_instance)
    if matcher is None:
        seq, counts = alarms.counts(as_of=as_of, ack_state=state, base=base)
        return seq, AlarmCount.of(counts)
    seq, rows = alarms.rows(as_of=as_of, ack_state=state, base=base)
    tally: dict[PerceivedSeverity, int] = {}
    for alarm_id, severity, text in rows:
        if matcher.matches(alarm_id, orjson.loads(text)):
            tally[PerceivedSeverity(severity)] = tally.get(PerceivedSeverity(severity), 0) + 1
    return seq, AlarmCount.of(tally)


def alarm_head(*, store: SqlStore) -> int:
    """The newest alarm sequence number (0 before the first alarm)."""
    return AlarmStore.of(store).head()


def get_alarm(*, store: SqlStore, alarm_id: str) -> AlarmRecord | None:
    """The current version of one alarm (also one that left the alarm list), or None."""
    return AlarmStore.of(store).get(alarm_id)


def alarm_history(*, store: SqlStore, alarm_id: str) -> list[AlarmVersion]:
    """Every version of one alarm, oldest first."""
    return AlarmStore.of(store).history(alarm_id)

"""Alarms of a TS 28.532 producer mirrored into the twin (PM files: ``mns.mirror.pm``).

:class:`AlarmMirror` keeps the twin's alarm list equal to the producer's. ``full_sync`` takes
the producer's alarm list (``GET /alarms``) and, in one transaction, raises the alarms the twin
lacks (keeping the producer's alarm ids), changes those that differ and takes off the list the
alarms the producer no longer lists (cleared, then acknowledged, by the mirror). A changed alarm
gets one version per kind of change (a change, comments, an acknowledgement, a clear), so the
twin's own Fault MnS subscribers hear the notifications the producer's would have sent; an
alarm that is already equal gets none, which makes a second sync of the same list a no-op.
Alarms the twin raised itself (whose first version has another source than ``real``, such as
threshold monitoring) are not the network's and are left alone.

``apply`` takes one Fault MnS notification as the producer POSTed it. The notifications carry
the members of ``TS28532_FaultMnS.yaml`` (the alarmed object only in ``href``, the time in
``eventTime``), which is what ``mns.fault.feed`` builds, so a twin mirroring a twin converges
exactly. A notification that cannot be applied without guessing (about an alarm the twin does
not know, a new alarm whose identity another active alarm holds, notifyAlarmListRebuilt,
notifyPotentialFaultyAlarmList, a malformed body) answers :attr:`Outcome.RESYNC`: the caller
then runs a full sync. A repeated notification changes nothing (:attr:`Outcome.IGNORED`).

Writes go the way of ``mns.fault.service``: one ``AlarmStore.write`` transaction, then its
events to the listeners of ``mns.fault.events`` (the feeds of the twin's own Fault MnS).
Every change has source ``real`` and the mirror's author. DNs (``objectInstance``,
``backUpObject``, correlated notification sources, the object in ``href``) go through
``canonical_dn``, for producers that speak the OpenAPI dialect.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import orjson

from mns.consumer.models import Alarm
from mns.errors import BadRequest, MnsError
from mns.fault.events import AlarmEventKind, emit
from mns.fault.feed import MEMBERS
from mns.fault.model import (
    FIELDS,
    RANK,
    AckState,
    AlarmRecord,
    Comment,
    PerceivedSeverity,
    TrendIndication,
    check,
    parse_time,
    rfc3339,
)
from mns.fault.store import AlarmStore, AlarmTxn
from mns.nrm.dn import DN
from mns.store.api import utc
from mns.store.sql import SqlStore

log = logging.getLogger("mns.mirror")

SOURCE: Final = "real"
AUTHOR: Final = "mirror"

NEW_ALARM: Final = "notifyNewAlarm"
ALARM_LIST_REBUILT: Final = "notifyAlarmListRebuilt"
POTENTIAL_FAULTY_ALARM_LIST: Final = "notifyPotentialFaultyAlarmList"

_KINDS: Final = {kind.notification_type: kind for kind in AlarmEventKind}
_JSON_TO_FIELD: Final = {f.metadata["json"]: f.name for f in FIELDS} | {"thresholdInfo": "threshold_info"}
_CLEAR: Final = frozenset({"alarm_cleared_time", "clear_user_id", "clear_system_id"})
_ACK: Final = frozenset({"ack_state", "ack_user_id", "ack_system_id", "ack_time"})
_CORRELATION: Final = frozenset({"correlated_notifications", "root_cause_indicator", "alarm_changed_time"})
_CORE_MEMBERS: Final = ("alarmType", "probableCause", "perceivedSeverity")
_GENERAL: Final = (
    *(m for m in MEMBERS[AlarmEventKind.CHANGED_GENERAL] if m not in _CORE_MEMBERS),
    "serviceUser",
    "serviceProvider",
    "securityAlarmDetector",
)
"""The members of notifyNewAlarm and notifyChangedAlarmGeneral (and their security variants)
besides the header, alarmId, alarmType, probableCause and perceivedSeverity."""


def _identity(dn: str) -> str:
    return dn


# -- alarms -----------------------------------------------------------------------------------


class Outcome(enum.StrEnum):
    """What applying one notification did."""

    APPLIED = "applied"
    """The twin changed."""
    IGNORED = "ignored"
    """Nothing to do: a repeated notification, or one the mirror does not follow."""
    RESYNC = "resync"
    """The twin cannot follow without a full sync (the reason says why)."""


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of one notification, the alarm it was about, and why when not APPLIED."""

    outcome: Outcome
    notification_type: str
    alarm_id: str | None = None
    reason: str = ""

    @property
    def resync(self) -> bool:
        """Whether the caller must run a full sync."""
        return self.outcome is Outcome.RESYNC


@dataclass(frozen=True, slots=True)
class AlarmSyncReport:
    """What a full alarm sync did: ids added, changed and taken off the list; records it could not read."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)
    """Producer alarm id -> why its record was not usable (left as the twin has it)."""
    seq: int = 0
    """The twin's alarm sequence number after the sync."""

    @property
    def counts(self) -> dict[str, int]:
        """How many were added, changed, removed and skipped."""
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "removed": len(self.removed),
            "skipped": len(self.skipped),
        }

    @property
    def unchanged(self) -> bool:
        """Whether the sync changed nothing."""
        return not (self.added or self.changed or self.removed)


class AlarmMirror:
    """The producer's alarm list mirrored into the alarm list of ``store`` (see the module doc)."""

    def __init__(
        self,
        store: SqlStore,
        canonical_dn: Callable[[str], str] = _identity,
        *,
        author: str = AUTHOR,
    ) -> None:
        self.store = store
        self.alarms = AlarmStore.of(store)
        self.canonical_dn = canonical_dn
        self.author = author

    # -- full sync ------------------------------------------------------------------------------

    def full_sync(self, alarms: Mapping[str, Alarm] | Mapping[str, Mapping[str, Any]]) -> AlarmSyncReport:
        """Make the twin's alarm list the producer's (``GET /alarms``: Alarms or raw AlarmRecords)."""
        target: dict[str, AlarmRecord] = {}
        skipped: dict[str, str] = {}
        for alarm_id, alarm in alarms.items():
            raw = alarm.raw if isinstance(alarm, Alarm) else alarm
            try:
                target[str(alarm_id)] = AlarmRecord.from_json(str(alarm_id), self._canonical(raw))
            except MnsError as exc:
                skipped[str(alarm_id)] = exc.message
        added: list[str] = []
        changed: list[str] = []
        removed: list[str] = []

        def plan(txn: AlarmTxn) -> None:
            now = utc(txn.now)
            for alarm_id, listed in self._mirrored_listed(txn).items():
                if alarm_id not in target and alarm_id not in skipped:
                    self._put_all(txn, _removal(listed, now, self.author))
                    removed.append(alarm_id)
            # Clears first: an alarm raised again under a new id takes the identity a clear frees.
            ordered = sorted(target.items(), key=lambda item: item[1].active)
            for alarm_id, record in ordered:
                current = txn.get(alarm_id)
                if current is None:
                    added.append(alarm_id)
                    txn.put(AlarmEventKind.NEW, None, record, source=SOURCE, author=self.author)
                elif current != record:
                    changed.append(alarm_id)
                    self._put_all(txn, _transition(current, record))

        seq = self._commit(plan)
        return AlarmSyncReport(tuple(added), tuple(changed), tuple(removed), skipped, seq)

    def _mirrored_listed(self, txn: AlarmTxn) -> dict[str, AlarmRecord]:
        """The listed alarms whose first version came from the network (not the twin's own)."""
        rows = txn.db.exec_driver_sql(
            self.alarms.q(
                "SELECT v.alarm_id, v.record FROM alarm_version v JOIN alarm_change c ON c.seq = v.first_seq"
                " WHERE v.seq_to IS NULL AND v.listed = 1 AND c.source = ?"
            ),
            (SOURCE,),
        ).all()
        return {r[0]: AlarmRecord.from_json(r[0], orjson.loads(r[1])) for r in rows}

    def _put_all(self, txn: AlarmTxn, steps: Iterable[tuple[AlarmEventKind, AlarmRecord]]) -> None:
        for kind, record in steps:
            txn.put(kind, txn.get(record.alarm_id), record, source=SOURCE, author=self.author)

    def _commit(self, plan: Callable[[AlarmTxn], Any]) -> int:
        """Run ``plan`` in one alarm write transaction, then hand its events to the listeners."""
        with self.alarms.write() as txn:
            plan(txn)
        emit(txn.events, store=self.store)
        return txn.seq

    # -- notifications --------------------------------------------------------------------------

    def apply(self, notification: Mapping[str, Any]) -> Applied:
        """Apply one Fault MnS notification (see the module doc for what each outcome means)."""
        ntype = str(notification.get("notificationType", ""))
        if ntype in (ALARM_LIST_REBUILT, POTENTIAL_FAULTY_ALARM_LIST):
            reason = str(notification.get("reason", "")) or ntype
            return Applied(Outcome.RESYNC, ntype, None, f"the producer says: {reason}")
        kind = _KINDS.get(ntype)
        if kind is None:
            return Applied(Outcome.IGNORED, ntype, None, "not an alarm notification")
        alarm_id = notification.get("alarmId")
        if not isinstance(alarm_id, str | int) or isinstance(alarm_id, bool) or str(alarm_id) == "":
            return Applied(Outcome.RESYNC, ntype, None, "the notification names no alarmId")
        alarm_id = str(alarm_id)
        fresh: AlarmRecord | None = None
        try:
            when = parse_time(notification["eventTime"], field="eventTime") if "eventTime" in notification else None
            body = self._canonical(notification)
            if kind is AlarmEventKind.NEW:
                fresh = self._new_record(alarm_id, body, when)
        except MnsError as exc:
            return Applied(Outcome.RESYNC, ntype, alarm_id, f"malformed notification: {exc.message}")
        result: list[Applied] = []

        def plan(txn: AlarmTxn) -> None:
            current = txn.get(alarm_id)
            at = when or utc(txn.now)
            if fresh is not None:
                result.append(self._apply_new(txn, ntype, current, fresh))
                return
            if current is None:
                result.append(Applied(Outcome.RESYNC, ntype, alarm_id, "the twin does not know this alarm"))
                return
            if _before_clear(kind, current, when):
                result.append(Applied(Outcome.IGNORED, ntype, alarm_id, "the twin has the alarm cleared since"))
                return
            try:
                updated = _updated(kind, current, body, at)
            except MnsError as exc:
                result.append(Applied(Outcome.RESYNC, ntype, alarm_id, exc.message))
                return
            if updated == current:
                result.append(Applied(Outcome.IGNORED, ntype, alarm_id, "the twin already has this"))
                return
            txn.put(kind, current, updated, source=SOURCE, author=self.author)
            result.append(Applied(Outcome.APPLIED, ntype, alarm_id))

        self._commit(plan)
        return result[0]

    def _new_record(self, alarm_id: str, body: Mapping[str, Any], when: datetime | None) -> AlarmRecord:
        dn = body.get("objectInstance") or self._href_dn(body.get("href"))
        doc = {k: body[k] for k in ("alarmType", "probableCause", "perceivedSeverity", *_GENERAL) if k in body}
        doc["objectInstance"] = dn
        if isinstance(body.get("notificationId"), int):
            doc["notificationId"] = body["notificationId"]
        if when is not None:
            doc["alarmRaisedTime"] = rfc3339(when)
        return AlarmRecord.from_json(alarm_id, doc)

    def _apply_new(self, txn: AlarmTxn, ntype: str, current: AlarmRecord | None, fresh: AlarmRecord) -> Applied:
        alarm_id = fresh.alarm_id
        if fresh.alarm_raised_time == AlarmRecord(alarm_id="").alarm_raised_time:
            fresh = replace(fresh, alarm_raised_time=utc(txn.now))
        if current is not None:
            if current == fresh or _same_alarm(current, fresh):
                return Applied(Outcome.IGNORED, ntype, alarm_id, "the twin already has this alarm")
            return Applied(Outcome.RESYNC, ntype, alarm_id, "the twin holds another alarm under this id")
        if not fresh.active:
            return Applied(Outcome.RESYNC, ntype, alarm_id, "a new alarm cannot be cleared")
        holder = txn.find_active(fresh)
        if holder is not None:
            return Applied(Outcome.RESYNC, ntype, alarm_id, f"alarm {holder.alarm_id} is active with this identity")
        txn.put(AlarmEventKind.NEW, None, fresh, source=SOURCE, author=self.author)
        return Applied(Outcome.APPLIED, ntype, alarm_id)

    # -- DNs ------------------------------------------------------------------------------------

    def _dn(self, value: Any) -> Any:
        return self.canonical_dn(value) if isinstance(value, str) and value else value

    def _canonical(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """A record or notification body with its DNs in canonical form."""
        body = dict(raw)
        for name in ("objectInstance", "backUpObject"):
            if name in body:
                body[name] = self._dn(body[name])
        for name in ("correlatedNotifications",):
            items = body.get(name)
            if isinstance(items, list):
                body[name] = [
                    {**i, "sourceObjectInstance": self._dn(i.get("sourceObjectInstance"))} if isinstance(i, dict) else i
                    for i in items
                ]
        changes = body.get("changedAlarmAttributes")
        if isinstance(changes, Mapping):
            body["changedAlarmAttributes"] = self._canonical(changes)
        return body

    def _href_dn(self, href: Any) -> str:
        """The DN of the object a notification's ``href`` names (the part after the MnS root)."""
        if not isinstance(href, str) or not href:
            raise _bad("the notification has no href naming the alarmed object")
        segments = urlsplit(href).path.split("/")
        start = next((i for i, s in enumerate(segments) if "=" in s), None)
        if start is None:
            raise _bad(f"href {href!r} names no object")
        return self.canonical_dn(str(DN.parse(unquote("/".join(segments[start:])))))


def _bad(message: str) -> MnsError:
    return BadRequest(message)


def _before_clear(kind: AlarmEventKind, current: AlarmRecord, when: datetime | None) -> bool:
    """Whether a change of an alarm is from before the clear the twin already has (a late repeat)."""
    cleared = current.alarm_cleared_time
    changes = (AlarmEventKind.CHANGED, AlarmEventKind.CHANGED_GENERAL, AlarmEventKind.CORRELATED_NOTIFICATION_CHANGED)
    return kind in changes and not current.active and when is not None and cleared is not None and when <= cleared


def _same_alarm(a: AlarmRecord, b: AlarmRecord) -> bool:
    """Whether ``b`` is the raise of ``a`` (a repeated notifyNewAlarm, the alarm changed since)."""
    raised = a.alarm_raised_time == b.alarm_raised_time or a.notification_id == b.notification_id
    return a.identity == b.identity and raised


def _fields(body: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Record fields (checked) of the body members ``names`` that it has."""
    out: dict[str, Any] = {}
    for name in names:
        if name in body and name in _JSON_TO_FIELD:
            out[_JSON_TO_FIELD[name]] = check(_JSON_TO_FIELD[name], body[name])
    return out


def _updated(kind: AlarmEventKind, current: AlarmRecord, body: Mapping[str, Any], when: datetime) -> AlarmRecord:
    """The record after one notification of ``kind`` (other than a new alarm)."""
    if kind is AlarmEventKind.CLEARED or (
        kind is AlarmEventKind.CHANGED and body.get("perceivedSeverity") == PerceivedSeverity.CLEARED.value
    ):
        if not current.active:
            return replace(current, **_fields(body, ("clearUserId", "clearSystemId", "correlatedNotifications")))
        return replace(
            current,
            perceived_severity=PerceivedSeverity.CLEARED,
            alarm_cleared_time=when,
            clear_user_id=check("clear_user_id", body.get("clearUserId")),
            clear_system_id=check("clear_system_id", body.get("clearSystemId")),
            **_fields(body, ("correlatedNotifications",)),
        )
    if kind is AlarmEventKind.ACK_STATE_CHANGED:
        state = check("ack_state", body.get("ackState"))
        if state is None:
            raise _bad("notifyAckStateChanged has no ackState")
        return replace(
            current,
            ack_state=state,
            ack_user_id=check("ack_user_id", body.get("ackUserId") or None),
            ack_system_id=check("ack_system_id", body.get("ackSystemId") or None),
            ack_time=when,
        )
    if kind is AlarmEventKind.COMMENTS:
        notes = body.get("comments")
        if not isinstance(notes, Mapping):
            raise _bad("notifyComments has no comments map")
        merged = {c.comment_id: c for c in current.comments}
        merged.update({str(k): Comment.from_json(str(k), v) for k, v in notes.items() if isinstance(v, Mapping)})
        return replace(current, comments=tuple(merged.values()))
    if not current.active:
        raise _bad(f"the twin has alarm {current.alarm_id} cleared, the producer changes it")
    if kind is AlarmEventKind.CHANGED:
        severity = check("perceived_severity", body.get("perceivedSeverity"))
        if severity is None:
            raise _bad("notifyChangedAlarm has no perceivedSeverity")
        updated = replace(current, perceived_severity=severity, **_fields(body, ("trendIndication",)))
        if severity != current.perceived_severity and "trendIndication" not in body:
            more = RANK[severity] > RANK[current.perceived_severity]
            updated = replace(
                updated, trend_indication=TrendIndication.MORE_SEVERE if more else TrendIndication.LESS_SEVERE
            )
    elif kind is AlarmEventKind.CORRELATED_NOTIFICATION_CHANGED:
        names = ("correlatedNotifications", "rootCauseIndicator")
        updated = replace(current, **_fields(body, names))
        if "correlatedNotifications" in body and not body["correlatedNotifications"]:
            updated = replace(updated, correlated_notifications=None)
    else:  # changedGeneral: the members given, and those changedAlarmAttributes removes (null)
        changes = body.get("changedAlarmAttributes")
        removed = [k for k, v in changes.items() if v is None] if isinstance(changes, Mapping) else []
        values = _fields(body, ("perceivedSeverity", *_GENERAL))
        if isinstance(changes, Mapping):
            given = [k for k in changes if k in _JSON_TO_FIELD and changes[k] is not None and k not in _ACK_JSON]
            values.update(_fields(changes, given))
        values.update({_JSON_TO_FIELD[k]: None for k in removed if k in _JSON_TO_FIELD})
        updated = replace(current, **values)
    if updated == current:
        return current
    return replace(updated, alarm_changed_time=when)


_ACK_JSON: Final = frozenset({"ackState", "ackUserId", "ackSystemId", "ackTime", "objectInstance", "notificationId"})
"""Members a general change does not take from changedAlarmAttributes (other notifications carry them)."""


def _transition(current: AlarmRecord, target: AlarmRecord) -> list[tuple[AlarmEventKind, AlarmRecord]]:
    """The versions that take ``current`` to ``target``, one per kind of change, each a notification."""
    diff = {f.name for f in FIELDS if getattr(current, f.name) != getattr(target, f.name)}
    steps: list[tuple[AlarmEventKind, AlarmRecord]] = []
    record = current

    def step(kind: AlarmEventKind, names: Iterable[str]) -> None:
        nonlocal record
        record = replace(record, **{n: getattr(target, n) for n in names})
        steps.append((kind, record))

    change = diff - _CLEAR - _ACK
    if not target.active:
        change.discard("perceived_severity")
    if change:
        if "perceived_severity" in change:
            kind = AlarmEventKind.CHANGED
        elif change <= _CORRELATION:
            kind = AlarmEventKind.CORRELATED_NOTIFICATION_CHANGED
        else:
            kind = AlarmEventKind.CHANGED_GENERAL
        step(kind, change)
    if current.comments != target.comments:
        step(AlarmEventKind.COMMENTS, ("comments",))
    cleared = diff & (_CLEAR | {"perceived_severity"})
    if not target.active and cleared:
        step(AlarmEventKind.CLEARED, cleared)
    if diff & _ACK:
        step(AlarmEventKind.ACK_STATE_CHANGED, diff & _ACK)
    return steps


def _removal(current: AlarmRecord, now: datetime, author: str) -> list[tuple[AlarmEventKind, AlarmRecord]]:
    """The versions that take an alarm the producer no longer lists off the twin's list."""
    steps: list[tuple[AlarmEventKind, AlarmRecord]] = []
    record = current
    if record.active:
        record = replace(
            record, perceived_severity=PerceivedSeverity.CLEARED, alarm_cleared_time=now, clear_system_id=author
        )
        steps.append((AlarmEventKind.CLEARED, record))
    if record.ack_state is AckState.UNACKNOWLEDGED:
        record = replace(record, ack_state=AckState.ACKNOWLEDGED, ack_user_id=author, ack_time=now)
        steps.append((AlarmEventKind.ACK_STATE_CHANGED, record))
    return steps


# -- PM files -----------------------------------------------------------------------------------

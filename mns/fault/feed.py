"""The alarms feed: the alarm change log as TS 28.532 alarm notifications, for the event notifier.

Every change of the alarm list has its alarm sequence number in ``alarm_change`` (dense and
increasing, written in the change's own transaction), so the log is its own outbox: the feed's
position is that sequence number, and an event is rebuilt from the change and the alarm's
versions before and after it, the same however often it is read. Each kind of change is one
notification (``AlarmEventKind.notification_type``) whose body is that of its schema in
``TS28532_FaultMnS.yaml``: the TS 28.623 header (``href`` the alarmed object under the ProvMnS
root, ``notificationId`` the alarm sequence number, ``notificationType``, ``eventTime`` when the
network or the operator did it, ``systemDN``) and the members the schema lists, no others.

``watch`` wakes the event notifier after each alarm commit (the post-commit hook of
``mns.fault.events``); the notifier also polls, so a change committed by a process that died
before its hook ran is delivered all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import orjson

from mns.fault.events import AlarmEventKind, add_listener
from mns.fault.model import FIELDS, AlarmRecord, rfc3339
from mns.fault.store import AlarmStore
from mns.notify.build import ALARM_TYPES, href
from mns.notify.feeds import Event
from mns.nrm.dn import DN
from mns.store.api import utc
from mns.store.sql import SqlStore

NAME: Final = "alarms"

# The members each notification carries besides the header and alarmId, in the schemas' order
# (TS28532_FaultMnS.yaml, NotifyNewAlarm ... NotifyComments).
_CORE: Final = ("alarmType", "probableCause", "perceivedSeverity")
_GENERAL: Final = (
    "alarmType",
    "probableCause",
    "specificProblem",
    "perceivedSeverity",
    "correlatedNotifications",
    "backedUpStatus",
    "backUpObject",
    "trendIndication",
    "thresholdInfo",
    "stateChangeDefinition",
    "monitoredAttributes",
    "proposedRepairActions",
    "additionalText",
    "additionalInformation",
    "rootCauseIndicator",
)
MEMBERS: Final[dict[AlarmEventKind, tuple[str, ...]]] = {
    AlarmEventKind.NEW: (*_GENERAL,),
    AlarmEventKind.CHANGED: _CORE,
    AlarmEventKind.CHANGED_GENERAL: _GENERAL,
    AlarmEventKind.CORRELATED_NOTIFICATION_CHANGED: ("correlatedNotifications", "rootCauseIndicator"),
    AlarmEventKind.CLEARED: (*_CORE, "correlatedNotifications", "clearUserId", "clearSystemId"),
    AlarmEventKind.ACK_STATE_CHANGED: (*_CORE, "ackState", "ackUserId", "ackSystemId"),
    AlarmEventKind.COMMENTS: _CORE,
}

_READ: Final = (
    "SELECT c.seq, c.time, c.alarm_id, c.kind, v.record, p.record"
    " FROM alarm_change c"
    " JOIN alarm_version v ON v.alarm_id = c.alarm_id AND v.seq_from = c.seq"
    " LEFT JOIN alarm_version p ON p.alarm_id = c.alarm_id AND p.seq_to = c.seq"
    " WHERE c.seq > ? ORDER BY c.seq LIMIT ?"
)


def _event_time(kind: AlarmEventKind, record: AlarmRecord, changed: datetime) -> datetime:
    """When it happened in the network (or at the operator's hand); the change's time otherwise."""
    when = {
        AlarmEventKind.NEW: record.alarm_raised_time,
        AlarmEventKind.CLEARED: record.alarm_cleared_time,
        AlarmEventKind.ACK_STATE_CHANGED: record.ack_time,
        AlarmEventKind.COMMENTS: record.comments[-1].comment_time if record.comments else None,
    }.get(kind, record.alarm_changed_time)
    return when or changed


def _changed_attributes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The AlarmRecord members a change set, removed (null) or altered, with their new values.

    ``alarmChangedTime`` changes with every change, and is the notification's ``eventTime``.
    """
    names = [f.metadata["json"] for f in FIELDS if f.name != "alarm_changed_time"]
    return {n: after.get(n) for n in names if before.get(n) != after.get(n)}


def alarm_notification(
    *,
    kind: AlarmEventKind,
    seq: int,
    changed: datetime,
    record: AlarmRecord,
    before: AlarmRecord | None,
    prov_root: str,
    system_dn: str | None = None,
) -> dict[str, Any]:
    """The notification of one alarm change (the schema of ``kind.notification_type``)."""
    dn = record.object_instance
    body: dict[str, Any] = {
        "href": href(prov_root, dn),
        "notificationId": seq,
        "notificationType": kind.notification_type,
        "eventTime": rfc3339(_event_time(kind, record, changed)),
        "systemDN": system_dn if system_dn is not None else str(DN(DN.parse(dn).rdns[:1])),
        "alarmId": record.alarm_id,
    }
    values = record.to_json(threshold_key="thresholdInfo", comments=False)
    for name in MEMBERS[kind]:
        if values.get(name) is not None:
            body[name] = values[name]
    if kind is AlarmEventKind.CORRELATED_NOTIFICATION_CHANGED:
        body.setdefault("correlatedNotifications", [])
    if kind is AlarmEventKind.ACK_STATE_CHANGED:
        body.setdefault("ackUserId", "")
    if kind is AlarmEventKind.CHANGED_GENERAL and before is not None:
        old = before.to_json(threshold_key="thresholdInfo", comments=False)
        changes = _changed_attributes(old, values)
        if changes:
            body["changedAlarmAttributes"] = changes
    if kind is AlarmEventKind.COMMENTS:
        known = {c.comment_id for c in before.comments} if before is not None else set()
        body["comments"] = {c.comment_id: c.to_json() for c in record.comments if c.comment_id not in known}
    return body


class AlarmFeed:
    """The alarm change log of one store as a ``Feed`` (``mns.notify.feeds``)."""

    name = NAME
    types = ALARM_TYPES

    def __init__(self, store: SqlStore, *, prov_root: str = "/ProvMnS/v1800", system_dn: str | None = None) -> None:
        self.store = store
        self.alarms = AlarmStore.of(store)
        self.prov_root = prov_root
        self.system_dn = system_dn

    def head(self) -> int:
        """The newest alarm sequence number."""
        return self.alarms.head()

    def read(self, after: int, limit: int) -> Sequence[Event]:
        """The notifications of the alarm changes after sequence ``after``, oldest first."""
        with self.store._read() as db:
            rows = db.exec_driver_sql(self.store._q(_READ), (after, limit)).all()
        return [self._event(*row) for row in rows]

    def _event(self, seq: int, time: float, alarm_id: str, kind: str, record: str, before: str | None) -> Event:
        after = AlarmRecord.from_json(alarm_id, orjson.loads(record))
        prior = AlarmRecord.from_json(alarm_id, orjson.loads(before)) if before is not None else None
        what = AlarmEventKind(kind)
        body = alarm_notification(
            kind=what,
            seq=int(seq),
            changed=utc(time),
            record=after,
            before=prior,
            prov_root=self.prov_root,
            system_dn=self.system_dn,
        )
        attributes = {**after.to_json(threshold_key="thresholdInfo"), "alarmId": alarm_id}
        return Event(int(seq), what.notification_type, after.object_instance, body, attributes)

    def watch(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` after every alarm commit of the store; returns the remover."""
        return add_listener(lambda _: wake(), store=self.store)

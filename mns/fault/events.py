"""Alarm events: what each alarm operation changed, handed to listeners after it commits.

The notification service turns events into TS 28.532 notifications (``kind.notification_type``
names the one to send); anything else that follows the alarm list (a UI, a correlator) can listen
too. Listeners run in the thread of the operation, after its transaction has committed and in
commit order; they should be quick (queue the work) and an exception in one is logged, never
raised into the operation, which has already happened::

    stop = add_listener(lambda event: queue.put(event), store=store)
    ...
    stop()
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mns.fault.model import AlarmRecord

log = logging.getLogger("mns.fault")


class AlarmEventKind(enum.StrEnum):
    """What happened to an alarm; each kind is one TS 28.532 alarm notification."""

    NEW = "new"
    CHANGED = "changed"
    CHANGED_GENERAL = "changedGeneral"
    CORRELATED_NOTIFICATION_CHANGED = "correlatedNotificationChanged"
    CLEARED = "cleared"
    ACK_STATE_CHANGED = "ackStateChanged"
    COMMENTS = "comments"

    @property
    def notification_type(self) -> str:
        """The notification that reports this kind of event (TS 28.532 ``AlarmNotificationTypes``)."""
        return _NOTIFICATIONS[self]


_NOTIFICATIONS = {
    AlarmEventKind.NEW: "notifyNewAlarm",
    AlarmEventKind.CHANGED: "notifyChangedAlarm",
    AlarmEventKind.CHANGED_GENERAL: "notifyChangedAlarmGeneral",
    AlarmEventKind.CORRELATED_NOTIFICATION_CHANGED: "notifyCorrelatedNotificationChanged",
    AlarmEventKind.CLEARED: "notifyClearedAlarm",
    AlarmEventKind.ACK_STATE_CHANGED: "notifyAckStateChanged",
    AlarmEventKind.COMMENTS: "notifyComments",
}


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One committed change of one alarm: the record before (None for a new alarm) and after.

    ``seq`` is the alarm-list sequence number the change got (unique and increasing per twin,
    usable as a notification id); ``after.listed`` is False when the change took the alarm off
    the alarm list (cleared and acknowledged).
    """

    kind: AlarmEventKind
    alarm_id: str
    before: AlarmRecord | None
    after: AlarmRecord
    time: datetime
    seq: int
    source: str
    author: str


AlarmListener = Callable[[AlarmEvent], None]

_lock = threading.Lock()
_listeners: list[tuple[AlarmListener, Any]] = []


def add_listener(listener: AlarmListener, *, store: Any = None) -> Callable[[], None]:
    """Call ``listener`` with every event of ``store`` (of every store when None); returns its remover."""
    entry = (listener, store)
    with _lock:
        _listeners.append(entry)

    def remove() -> None:
        with _lock:
            if entry in _listeners:
                _listeners.remove(entry)

    return remove


def remove_listener(listener: AlarmListener) -> None:
    """Stop calling ``listener`` (for every store it was added for)."""
    with _lock:
        _listeners[:] = [e for e in _listeners if e[0] != listener]  # ==: bound methods are made anew


def emit(events: Iterable[AlarmEvent], *, store: Any) -> None:
    """Hand committed events of ``store`` to the listeners, in order."""
    with _lock:
        targets = [fn for fn, only in _listeners if only is None or only is store]
    if not targets:
        return
    for event in events:
        for fn in targets:
            try:
                fn(event)
            except Exception:
                log.exception("alarm listener %r failed on the %s event of alarm %s", fn, event.kind, event.alarm_id)

"""Fault supervision (TS 28.532 Fault MnS): the twin's alarm list, its history and its operations.

``model`` the AlarmRecord types and value checks; ``store`` the alarm tables (versions, as-of
reads); ``service`` the operations; ``patch`` the merge-patch documents; ``query`` the alarm-list
filter; ``events`` the hook that hands every committed change to listeners; ``demo`` alarms for
a generated network. Importing this package registers the alarm tables with the store's schema.
"""

from __future__ import annotations

from mns.fault.demo import demo_alarms
from mns.fault.events import AlarmEvent, AlarmEventKind, AlarmListener, add_listener, remove_listener
from mns.fault.model import (
    AckState,
    AlarmAckState,
    AlarmCount,
    AlarmRecord,
    AlarmType,
    Comment,
    FailedAlarm,
    PerceivedSeverity,
    TrendIndication,
)
from mns.fault.service import (
    AlarmList,
    acknowledge,
    alarm_count,
    alarm_head,
    alarm_history,
    alarm_list_json,
    change_alarm,
    clear_alarm,
    comment,
    get_alarm,
    list_alarms,
    patch_alarm,
    patch_alarms,
    raise_alarm,
    unacknowledge,
)
from mns.fault.store import AlarmStore, AlarmVersion

__all__ = [
    "AckState",
    "AlarmAckState",
    "AlarmCount",
    "AlarmEvent",
    "AlarmEventKind",
    "AlarmList",
    "AlarmListener",
    "AlarmRecord",
    "AlarmStore",
    "AlarmType",
    "AlarmVersion",
    "Comment",
    "FailedAlarm",
    "PerceivedSeverity",
    "TrendIndication",
    "acknowledge",
    "add_listener",
    "alarm_count",
    "alarm_head",
    "alarm_history",
    "alarm_list_json",
    "change_alarm",
    "clear_alarm",
    "comment",
    "demo_alarms",
    "get_alarm",
    "list_alarms",
    "patch_alarm",
    "patch_alarms",
    "raise_alarm",
    "remove_listener",
    "unacknowledge",
]

"""Alarm records of the Fault MnS (TS 28.532 ``AlarmRecord``): types, JSON form and value checks.

An :class:`AlarmRecord` is immutable; every change makes a new one (``dataclasses.replace``) and
the store keeps each as a version. Field names are the spec's in snake case; ``to_json`` gives
the spec's JSON (``thresholdinfo`` in lower case as the AlarmRecord schema spells it, or
``thresholdInfo`` as the notifications do) and ``from_json`` reads either spelling.

Value checks raise ``BadRequest`` naming the field. Enumerations are read leniently by
:func:`coerce` (``"Major"`` is MAJOR, VES ``NORMAL`` is CLEARED) and strictly by :func:`exact`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import orjson

from mns.errors import BadRequest
from mns.nrm.dn import DN


class AlarmType(enum.StrEnum):
    """TS 28.532 ``AlarmType`` (the ITU-T X.733 event types)."""

    COMMUNICATIONS_ALARM = "COMMUNICATIONS_ALARM"
    QUALITY_OF_SERVICE_ALARM = "QUALITY_OF_SERVICE_ALARM"
    PROCESSING_ERROR_ALARM = "PROCESSING_ERROR_ALARM"
    EQUIPMENT_ALARM = "EQUIPMENT_ALARM"
    ENVIRONMENTAL_ALARM = "ENVIRONMENTAL_ALARM"
    INTEGRITY_VIOLATION = "INTEGRITY_VIOLATION"
    OPERATIONAL_VIOLATION = "OPERATIONAL_VIOLATION"
    PHYSICAL_VIOLATION = "PHYSICAL_VIOLATION"
    SECURITY_SERVICE_OR_MECHANISM_VIOLATION = "SECURITY_SERVICE_OR_MECHANISM_VIOLATION"
    TIME_DOMAIN_VIOLATION = "TIME_DOMAIN_VIOLATION"


class PerceivedSeverity(enum.StrEnum):
    """TS 28.532 ``PerceivedSeverity``."""

    INDETERMINATE = "INDETERMINATE"
    CRITICAL = "CRITICAL"
    MAJOR = "MAJOR"
    MINOR = "MINOR"
    WARNING = "WARNING"
    CLEARED = "CLEARED"


class AckState(enum.StrEnum):
    """TS 28.532 ``AckState``."""

    ACKNOWLEDGED = "ACKNOWLEDGED"
    UNACKNOWLEDGED = "UNACKNOWLEDGED"


class TrendIndication(enum.StrEnum):
    """TS 28.532 ``TrendIndication``."""

    MORE_SEVERE = "MORE_SEVERE"
    NO_CHANGE = "NO_CHANGE"
    LESS_SEVERE = "LESS_SEVERE"


class AlarmAckState(enum.StrEnum):
    """TS 28.532 ``AlarmAckState``: which alarms of the alarm list a read selects."""

    ALL_ALARMS = "ALL_ALARMS"
    ALL_ACTIVE_ALARMS = "ALL_ACTIVE_ALARMS"
    ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS = "ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS"
    ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS = "ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS"
    ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS = "ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS"
    ALL_UNACKNOWLEDGED_ALARMS = "ALL_UNACKNOWLEDGED_ALARMS"


E = TypeVar("E", bound=enum.StrEnum)

_ALIASES: Final[dict[type[enum.StrEnum], dict[str, str]]] = {
    PerceivedSeverity: {"NORMAL": "CLEARED", "CLEAR": "CLEARED"},  # VES eventSeverity NORMAL is a clear
}

RANK: Final = {
    PerceivedSeverity.CRITICAL: 5,
    PerceivedSeverity.MAJOR: 4,
    PerceivedSeverity.MINOR: 3,
    PerceivedSeverity.WARNING: 2,
    PerceivedSeverity.INDETERMINATE: 1,
    PerceivedSeverity.CLEARED: 0,
}
"""Severity order, for the trend of a changed alarm."""


def exact(cls: type[E], value: Any, *, field: str) -> E:
    """The member of ``cls`` spelt exactly ``value``; BadRequest naming ``field`` otherwise."""
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            pass
    allowed = ", ".join(m.value for m in cls)
    raise BadRequest(f"{field} {value!r} is not one of {allowed}")


def coerce(cls: type[E], value: Any, *, field: str) -> tuple[E, str | None]:
    """The member ``value`` means, read leniently, and a note when it was not spelt exactly."""
    if isinstance(value, cls):
        return value, None
    if isinstance(value, str):
        key = value.strip().upper().replace("-", "_").replace(" ", "_")
        key = _ALIASES.get(cls, {}).get(key, key)
        if key in cls.__members__:
            member = cls[key]
            return member, None if value == member.value else f"{field} {value!r} read as {member.value}"
    return exact(cls, value, field=field), None


# -- times ----------------------------------------------------------------------------------------


def rfc3339(when: datetime) -> str:
    """An aware datetime as RFC 3339 in UTC (``...Z``)."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: Any, *, field: str) -> datetime:
    """An aware datetime from a datetime or an RFC 3339 string."""
    when = value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise BadRequest(f"{field} {value!r} is not an RFC 3339 time") from None
    if not isinstance(when, datetime):
        raise BadRequest(f"{field} {value!r} is not a time")
    if when.tzinfo is None:
        raise BadRequest(f"{field} {value!r} has no time zone")
    try:
        return when.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00, before the first representable UTC time
        raise BadRequest(f"{field} {value!r} is out of range in UTC") from None


# -- value checks, one per kind of field -------------------------------------------------------------


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string, not {type(value).__name__}")
    return value


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{field} must be true or false, not {value!r}")
    return value


def _integer(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{field} must be an integer, not {value!r}")
    return value


def _cause(value: Any, field: str) -> str | int:
    """ProbableCause and SpecificProblem: a non-empty string or an integer."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadRequest(f"{field} must be a non-empty string or an integer, not {value!r}")


def _dn(value: Any, field: str) -> str:
    return str(DN.parse(_text(value, field)))


def _json(value: Any, field: str) -> Any:
    """A JSON value, copied (so a caller's later edits do not reach the record)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        raise BadRequest(f"{field} is not a JSON value") from None


def _pairs(value: Any, field: str) -> dict[str, Any] | None:
    """AttributeNameValuePairSet: a map of names to values; empty is the same as absent."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise BadRequest(f"{field} must be a JSON object of attribute names to values")
    return _json(dict(value), field) or None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _threshold(value: Any, field: str) -> dict[str, Any]:
    """ThresholdInfo: observedMeasurement and observedValue are required."""
    info = _pairs(value, field) or {}
    if not isinstance(info.get("observedMeasurement"), str) or not _number(info.get("observedValue")):
        raise BadRequest(f"{field} needs observedMeasurement (a string) and observedValue (a number)")
    return info


def _correlated(value: Any, field: str) -> list[Any] | None:
    """CorrelatedNotifications: [{sourceObjectInstance, notificationIds: [integer...]}...]."""
    if not isinstance(value, list):
        raise BadRequest(f"{field} must be a list")
    for item in value:
        ids = item.get("notificationIds") if isinstance(item, Mapping) else None
        if (
            not isinstance(item, Mapping)
            or not isinstance(item.get("sourceObjectInstance"), str)
            or not isinstance(ids, list)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        ):
            raise BadRequest(f"{field}: each item needs sourceObjectInstance (a DN) and notificationIds (integers)")
    return _json(value, field) or None


def _change_set(value: Any, field: str) -> list[Any]:
    """AttributeValueChangeSet: [new values] or [new values, old values], each a non-empty map."""
    if not isinstance(value, list) or not 1 <= len(value) <= 2:
        raise BadRequest(f"{field} must be a list of one or two attribute maps (new, then old values)")
    return [_pairs(v, field) or _fail(f"{field}: an attribute map is empty") for v in value]


def _fail(message: str) -> Any:
    raise BadRequest(message)


def _enum(cls: type[enum.StrEnum]) -> Callable[[Any, str], Any]:
    return lambda value, field: coerce(cls, value, field=field)[0]


def _time(value: Any, field: str) -> datetime:
    return parse_time(value, field=field)


# -- records ----------------------------------------------------------------------------------------


def _m(json: str, check: Callable[[Any, str], Any]) -> dict[str, Any]:
    """Field metadata: the spec's name and the value check."""
    return {"json": json, "check": check}


EPOCH: Final = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True, slots=True)
class Comment:
    """One comment of an alarm (TS 28.532 ``Comment``); its id is the key in the record's map."""

    comment_id: str
    comment_time: datetime
    comment_text: str
    comment_user_id: str | None = None
    comment_system_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The spec's JSON form (without the id, which is the map key)."""
        out: dict[str, Any] = {"commentTime": rfc3339(self.comment_time)}
        if self.comment_user_id is not None:
            out["commentUserId"] = self.comment_user_id
        if self.comment_system_id is not None:
            out["commentSystemId"] = self.comment_system_id
        out["commentText"] = self.comment_text
        return out

    @classmethod
    def from_json(cls, comment_id: str, body: Mapping[str, Any]) -> Comment:
        """A comment from its JSON form."""
        return cls(
            comment_id=comment_id,
            comment_time=parse_time(body.get("commentTime"), field="commentTime"),
            comment_text=_text(body.get("commentText", ""), "commentText"),
            comment_user_id=body.get("commentUserId"),
            comment_system_id=body.get("commentSystemId"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmRecord:
    """One alarm as the alarm list holds it; ``alarm_id`` is the key of the alarm map."""

    alarm_id: str
    object_instance: str = field(default="", metadata=_m("objectInstance", _dn))
    notification_id: int = field(default=0, metadata=_m("notificationId", _integer))
    alarm_raised_time: datetime = field(default=EPOCH, metadata=_m("alarmRaisedTime", _time))
    alarm_changed_time: datetime | None = field(default=None, metadata=_m("alarmChangedTime", _time))
    alarm_cleared_time: datetime | None = field(default=None, metadata=_m("alarmClearedTime", _time))
    alarm_type: AlarmType = field(default=AlarmType.COMMUNICATIONS_ALARM, metadata=_m("alarmType", _enum(AlarmType)))
    probable_cause: str | int = field(default="", metadata=_m("probableCause", _cause))
    specific_problem: str | int | None = field(default=None, metadata=_m("specificProblem", _cause))
    perceived_severity: PerceivedSeverity = field(
        default=PerceivedSeverity.INDETERMINATE, metadata=_m("perceivedSeverity", _enum(PerceivedSeverity))
    )
    backed_up_status: bool | None = field(default=None, metadata=_m("backedUpStatus", _flag))
    back_up_object: str | None = field(default=None, metadata=_m("backUpObject", _dn))
    trend_indication: TrendIndication | None = field(
        default=None, metadata=_m("trendIndication", _enum(TrendIndication))
    )
    threshold_info: dict[str, Any] | None = field(default=None, metadata=_m("thresholdinfo", _threshold))
    correlated_notifications: list[Any] | None = field(
        default=None, metadata=_m("correlatedNotifications", _correlated)
    )
    state_change_definition: list[Any] | None = field(default=None, metadata=_m("stateChangeDefinition", _change_set))
    monitored_attributes: dict[str, Any] | None = field(default=None, metadata=_m("monitoredAttributes", _pairs))
    proposed_repair_actions: str | None = field(default=None, metadata=_m("proposedRepairActions", _text))
    additional_text: str | None = field(default=None, metadata=_m("additionalText", _text))
    additional_information: dict[str, Any] | None = field(default=None, metadata=_m("additionalInformation", _pairs))
    root_cause_indicator: bool | None = field(default=None, metadata=_m("rootCauseIndicator", _flag))
    ack_time: datetime | None = field(default=None, metadata=_m("ackTime", _time))
    ack_user_id: str | None = field(default=None, metadata=_m("ackUserId", _text))
    ack_system_id: str | None = field(default=None, metadata=_m("ackSystemId", _text))
    ack_state: AckState = field(default=AckState.UNACKNOWLEDGED, metadata=_m("ackState", _enum(AckState)))
    clear_user_id: str | None = field(default=None, metadata=_m("clearUserId", _text))
    clear_system_id: str | None = field(default=None, metadata=_m("clearSystemId", _text))
    service_user: str | None = field(default=None, metadata=_m("serviceUser", _text))
    service_provider: str | None = field(default=None, metadata=_m("serviceProvider", _text))
    security_alarm_detector: str | None = field(default=None, metadata=_m("securityAlarmDetector", _text))
    comments: tuple[Comment, ...] = ()

    @property
    def active(self) -> bool:
        """Not cleared."""
        return self.perceived_severity is not PerceivedSeverity.CLEARED

    @property
    def listed(self) -> bool:
        """In the alarm list: an alarm leaves it once it is both cleared and acknowledged."""
        return self.active or self.ack_state is AckState.UNACKNOWLEDGED

    @property
    def identity(self) -> tuple[str, str, str | int, str | int | None]:
        """What makes two raised alarms the same alarm while it is active."""
        return self.object_instance, self.alarm_type.value, self.probable_cause, self.specific_problem

    def to_json(self, *, threshold_key: str = "thresholdinfo", comments: bool = True) -> dict[str, Any]:
        """The spec's JSON form: absent fields left out, times in RFC 3339."""
        out: dict[str, Any] = {}
        for f in FIELDS:
            value = getattr(self, f.name)
            if value is None:
                continue
            key = threshold_key if f.name == "threshold_info" else f.metadata["json"]
            out[key] = rfc3339(value) if isinstance(value, datetime) else value
        if comments and self.comments:
            out["comments"] = {c.comment_id: c.to_json() for c in self.comments}
        return out

    @classmethod
    def from_json(cls, alarm_id: str, body: Mapping[str, Any]) -> AlarmRecord:
        """A record from its JSON form (``thresholdinfo`` or ``thresholdInfo``); checks every value."""
        body = dict(body)
        if "thresholdInfo" in body and "thresholdinfo" not in body:
            body["thresholdinfo"] = body.pop("thresholdInfo")
        values: dict[str, Any] = {}
        for f in FIELDS:
            raw = body.get(f.metadata["json"])
            if raw is not None:
                values[f.name] = f.metadata["check"](raw, f.metadata["json"])
        comments = body.get("comments") or {}
        if not isinstance(comments, Mapping):
            raise BadRequest("comments must be a map of comment ids to comments")
        found = tuple(Comment.from_json(str(k), v) for k, v in comments.items())
        return cls(alarm_id=alarm_id, comments=found, **values)


FIELDS: Final = tuple(f for f in dataclasses.fields(AlarmRecord) if "json" in f.metadata)
"""The fields of AlarmRecord that are AlarmRecord properties of the spec, in its order."""

_BY_NAME: Final = {f.name: f for f in FIELDS}


def check(name: str, value: Any) -> Any:
    """``value`` checked and normalised for the record field ``name`` (None stays None)."""
    if value is None:
        return None
    f = _BY_NAME[name]
    return f.metadata["check"](value, f.metadata["json"])


def json_name(name: str) -> str:
    """The spec's name of a record field."""
    return str(_BY_NAME[name].metadata["json"])


@dataclass(frozen=True, slots=True)
class AlarmCount:
    """TS 28.532 ``AlarmCount``: alarms per perceived severity."""

    critical: int = 0
    major: int = 0
    minor: int = 0
    warning: int = 0
    indeterminate: int = 0
    cleared: int = 0

    @classmethod
    def of(cls, counts: Mapping[PerceivedSeverity, int]) -> AlarmCount:
        """From counts by severity."""
        return cls(**{s.value.lower(): counts.get(s, 0) for s in PerceivedSeverity})

    @property
    def total(self) -> int:
        """All alarms counted."""
        return self.critical + self.major + self.minor + self.warning + self.indeterminate + self.cleared

    def to_json(self) -> dict[str, int]:
        """The spec's JSON form."""
        return {f"{s.value.lower()}Count": getattr(self, s.value.lower()) for s in PerceivedSeverity}


@dataclass(frozen=True, slots=True)
class FailedAlarm:
    """TS 28.532 ``FailedAlarm``: an alarm of a multi-alarm PATCH that could not be changed."""

    alarm_id: str
    failure_reason: str

    def to_json(self) -> dict[str, str]:
        """The spec's JSON form."""
        return {"alarmId": self.alarm_id, "failureReason": self.failure_reason}

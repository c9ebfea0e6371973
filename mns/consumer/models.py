"""Typed results of the MnS consumer client; each keeps the producer's raw JSON where it has one.

Names and values are passed through as the producer spells them (stage-2 ``NRCellDU`` or the
Rel-18 OpenAPI ``NrCellDu``); ``Moi.canonical`` translates an OpenAPI-spelled object to the
stage-2 form with ``mns.nrm.dialect``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Moi:
    """One managed object instance as the producer answered it."""

    dn: str
    cls: str
    id: str
    attributes: dict[str, Any]
    has_attributes: bool = True
    """False for an object that only connects filter matches to the base (sent without attributes)."""
    etag: str | None = None
    """The answer's ETag (single-object reads and writes)."""
    revision: int | None = None
    """The twin's ``X-Twin-Revision`` of the answer, when the producer is a twin."""

    def canonical(self) -> Moi:
        """This object with its class and attributes in the stage-2 spelling (from either dialect)."""
        from mns.nrm.dialect import from_openapi

        cls, attrs = from_openapi(self.cls, self.attributes)
        return Moi(self.dn, cls, self.id, attrs, self.has_attributes, self.etag, self.revision)


@dataclass(frozen=True, slots=True)
class ReadResult:
    """The objects of a ProvMnS GET, the base first (depth first for a hierarchical answer)."""

    objects: list[Moi]
    revision: int | None = None
    etag: str | None = None
    media_type: str = "application/json"

    def __iter__(self) -> Iterator[Moi]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)

    def by_dn(self) -> dict[str, Moi]:
        """The objects keyed by DN."""
        return {m.dn: m for m in self.objects}


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The answer of a PUT, PATCH or DELETE."""

    status: int
    revision: int | None = None
    etag: str | None = None
    moi: Moi | None = None
    """The object a PUT answered with (200/201), else None."""

    @property
    def created(self) -> bool:
        """True when a PUT created the object (201)."""
        return self.status == 201


@dataclass(frozen=True, slots=True)
class Comment:
    """A TS 28.532 alarm ``Comment``."""

    comment_id: str | None
    comment_time: str | None
    comment_user_id: str | None
    comment_system_id: str | None
    comment_text: str | None
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], comment_id: str | None = None) -> Comment:
        """From the JSON form."""
        return cls(
            comment_id if comment_id is not None else _opt_str(raw.get("commentId")),
            _opt_str(raw.get("commentTime")),
            _opt_str(raw.get("commentUserId")),
            _opt_str(raw.get("commentSystemId")),
            _opt_str(raw.get("commentText")),
            dict(raw),
        )


@dataclass(frozen=True, slots=True)
class Alarm:
    """A TS 28.532 ``AlarmRecord`` (the most used members typed; all of it in ``raw``)."""

    alarm_id: str
    object_instance: str | None
    perceived_severity: str | None
    ack_state: str | None
    event_type: str | None
    probable_cause: Any
    specific_problem: Any
    alarm_raised_time: str | None
    alarm_changed_time: str | None
    alarm_cleared_time: str | None
    ack_user_id: str | None
    threshold_info: Any
    comments: list[Comment]
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, alarm_id: str, raw: Mapping[str, Any]) -> Alarm:
        """From an AlarmRecord (``thresholdinfo`` as the record spells it, or ``thresholdInfo``)."""
        notes = raw.get("comments") or {}
        if isinstance(notes, Mapping):
            comments = [Comment.from_json(v, str(k)) for k, v in notes.items() if isinstance(v, Mapping)]
        else:
            comments = [Comment.from_json(v) for v in notes if isinstance(v, Mapping)]
        return cls(
            alarm_id=str(raw.get("alarmId", alarm_id)),
            object_instance=_opt_str(raw.get("objectInstance")),
            perceived_severity=_opt_str(raw.get("perceivedSeverity")),
            ack_state=_opt_str(raw.get("ackState")),
            event_type=_opt_str(raw.get("eventType")),
            probable_cause=raw.get("probableCause"),
            specific_problem=raw.get("specificProblem"),
            alarm_raised_time=_opt_str(raw.get("alarmRaisedTime")),
            alarm_changed_time=_opt_str(raw.get("alarmChangedTime")),
            alarm_cleared_time=_opt_str(raw.get("alarmClearedTime")),
            ack_user_id=_opt_str(raw.get("ackUserId")),
            threshold_info=raw.get("thresholdinfo", raw.get("thresholdInfo")),
            comments=comments,
            raw=dict(raw),
        )


@dataclass(frozen=True, slots=True)
class AlarmCount:
    """A TS 28.532 ``AlarmCount``: alarms per perceived severity."""

    critical: int
    major: int
    minor: int
    warning: int
    indeterminate: int
    cleared: int
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AlarmCount:
        """From the JSON form (missing counts are 0)."""

        def n(name: str) -> int:
            value = raw.get(name, 0)
            return int(value) if isinstance(value, int | float | str) and str(value).strip() else 0

        return cls(
            n("criticalCount"),
            n("majorCount"),
            n("minorCount"),
            n("warningCount"),
            n("indeterminateCount"),
            n("clearedCount"),
            dict(raw),
        )

    @property
    def total(self) -> int:
        """All alarms counted."""
        return self.critical + self.major + self.minor + self.warning + self.indeterminate + self.cleared


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A TS 28.532 ``FileInfo`` of the File Data Reporting MnS."""

    file_location: str
    file_size: int | None
    file_ready_time: str | None
    file_expiration_time: str | None
    file_compression: str | None
    file_format: str | None
    file_data_type: str | None
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FileInfo:
        """From the JSON form."""
        size = raw.get("fileSize")
        return cls(
            str(raw.get("fileLocation", "")),
            size if isinstance(size, int) else None,
            _opt_str(raw.get("fileReadyTime")),
            _opt_str(raw.get("fileExpirationTime")),
            _opt_str(raw.get("fileCompression")),
            _opt_str(raw.get("fileFormat")),
            _opt_str(raw.get("fileDataType")),
            dict(raw),
        )


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription the producer created: its id, where it lives, and the body it answered."""

    id: str
    location: str | None
    consumer_reference: str | None
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MeasJob:
    """A TS 28.550 measurement job (``measJobInfo``); its definition is in ``raw``."""

    job_id: str
    href: str | None
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MeasJobCreated:
    """The answer of a measurement job creation: 201, or 202 with what the producer does not support."""

    job_id: str
    location: str | None
    unsupported: list[Any]
    status: int
    raw: dict[str, Any]


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)

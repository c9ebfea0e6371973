"""Notifications as real SMOs send them, unwrapped into plain TS 28.532 bodies for the mirror.

The mirror's receiver takes four forms of one JSON document; :func:`unwrap` turns each into
the TS 28.532 notification bodies it carries, in order:

- a plain body: a JSON object with a string ``notificationType`` (what a TS 28.532 producer
  POSTs), taken as it is;
- a VES 7.x event ``{"event": {"commonEventHeader": {"domain": "stndDefined", ...},
  "stndDefinedFields": {"schemaReference": ..., "data": {...}}}}`` (ONAP, O-RAN SC): the body
  is ``data``. A ``data`` without ``notificationType`` takes it from the schema that
  ``schemaReference`` names (``...#/components/schemas/NotifyNewAlarm``); header members
  ``data`` lacks are filled from the VES header as for FileReady below;
- a VES batch ``{"eventList": [event, ...]}``: one body per event (the items are the events
  themselves; an item still wrapped in ``{"event": ...}`` is read too);
- a legacy VES ``notification``-domain FileReady event (``notificationFields.changeType
  FileReady``, one ``arrayOfNamedHashMap`` item per file, its ``hashMap`` holding
  ``location``, ``compression``, ``fileFormatType``, ``fileFormatVersion``): it becomes a
  notifyFileReady with one ``FileInfo`` per file (``fileLocation``, ``fileCompression``,
  ``fileFormat`` = ``fileFormatType``, which are the names the twin's own files use,
  ``fileReadyTime`` = the event time, ``fileDataType`` Performance when ``changeIdentifier`` is
  PM_MEAS_FILES; ``fileFormatVersion`` has no FileInfo member and is dropped) under a TS 28.623
  header made from the VES header: ``href`` the ``sourceName``, ``notificationId`` the
  ``sequence`` (0 without one), ``eventTime`` from ``lastEpochMicrosec`` (else
  ``startEpochMicrosec``; milliseconds and seconds are recognised), ``systemDN`` the
  ``reportingEntityName`` (else the ``sourceName``).

Anything else (a JSON array, a string, an object that is neither, a VES event of another
domain such as ``fault`` or ``perf3gpp``, a ``notification`` event that is no FileReady, a
stndDefined event without ``stndDefinedFields.data``) raises :class:`~mns.errors.BadRequest`
naming what is wrong and where (``eventList[1]: ...``).

Every body is then made to fit the types of the specs where that needs no guess, and each
change is a line of :attr:`Unwrapped.corrections` naming the notification
(``notifyNewAlarm 12: perceivedSeverity 'Major' read as MAJOR``; in a batch the line starts
with ``eventList[i]``):

- enumerated values in another case or with spaces for underscores (``perceivedSeverity``,
  ``alarmType``, ``trendIndication``, ``ackState``, ``probableCause`` for its
  ``PROBABLE_CAUSE_00n`` members, ``alarmListAlignmentRequirement``, ``sourceIndicator``,
  ``fileDataType``, ``notificationType``) become the spec's member; the members are in the
  small tables below, taken from TS28532_FaultMnS.yaml, TS28532_ProvMnS.yaml,
  TS28532_FileDataReportingMnS.yaml and TS28623_ComDefs.yaml (no spec file is read here);
- ``notificationId`` (an integer in TS 28.623) given as a string of digits becomes the integer,
  as do the ``notificationIds`` of ``correlatedNotifications`` and ``fileSize``; ``alarmId``,
  ``href``, ``systemDN`` and ``objectInstance`` (strings) given as numbers become strings;
- a ``stateChangeDefinition`` given as one object, not a list of them, becomes a one-item
  list; empty name-value sets (``{}``, which the spec forbids: ``minProperties: 1``) are
  dropped.

Two things are reported but left as they are, since any value would be a guess: template
placeholders (``@severity@``: the O-RAN SC VES templates are sent unfilled by test tools) and
an ``eventTime`` that is no RFC 3339 time. A body holding either still reaches the mirror,
which refuses what it cannot apply (an alarm notification with a placeholder for its severity
answers a resync), so the report says why. A VES event whose ``domain`` is itself a placeholder
but which has ``stndDefinedFields`` is read as stndDefined, and that is reported too.

The functions are pure: no I/O, and the document given is not changed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from mns.errors import BadRequest
from mns.fault.model import rfc3339
from mns.pm.ves import _epoch

STND_DEFINED: Final = "stndDefined"
NOTIFICATION: Final = "notification"
FILE_READY: Final = "notifyFileReady"
PM_MEAS_FILES: Final = "PM_MEAS_FILES"
PERFORMANCE: Final = "Performance"
HEADER: Final = ("href", "notificationId", "notificationType", "eventTime", "systemDN")
"""The members of a TS 28.623 NotificationHeader, all mandatory."""

_ENUMS: Final[Mapping[str, tuple[str, ...]]] = {
    "perceivedSeverity": ("INDETERMINATE", "CRITICAL", "MAJOR", "MINOR", "WARNING", "CLEARED"),
    "alarmType": (
        "COMMUNICATIONS_ALARM",
        "QUALITY_OF_SERVICE_ALARM",
        "PROCESSING_ERROR_ALARM",
        "EQUIPMENT_ALARM",
        "ENVIRONMENTAL_ALARM",
        "INTEGRITY_VIOLATION",
        "OPERATIONAL_VIOLATION",
        "PHYSICAL_VIOLATION",
        "SECURITY_SERVICE_OR_MECHANISM_VIOLATION",
        "TIME_DOMAIN_VIOLATION",
    ),
    "trendIndication": ("MORE_SEVERE", "NO_CHANGE", "LESS_SEVERE"),
    "ackState": ("ACKNOWLEDGED", "UNACKNOWLEDGED"),
    # any other string (and any integer) is a valid probable cause: only these are case-fixed
    "probableCause": tuple(f"PROBABLE_CAUSE_00{n}" for n in range(1, 6)),
    "alarmListAlignmentRequirement": ("ALIGNMENT_REQUIRED", "ALIGNMENT_NOT_REQUIRED"),
    "sourceIndicator": ("RESOURCE_OPERATION", "MANAGEMENT_OPERATION", "SON_OPERATION", "UNKNOWN"),
    "notificationType": (
        "notifyNewAlarm",
        "notifyChangedAlarm",
        "notifyChangedAlarmGeneral",
        "notifyAckStateChanged",
        "notifyCorrelatedNotificationChanged",
        "notifyComments",
        "notifyClearedAlarm",
        "notifyAlarmListRebuilt",
        "notifyPotentialFaultyAlarmList",
        "notifyMOICreation",
        "notifyMOIDeletion",
        "notifyMOIAttributeValueChanges",
        "notifyMOIChanges",
        "notifyThresholdCrossing",
        "notifyHeartbeat",
        "notifyFileReady",
        "notifyFilePreparationError",
    ),
}
_FILE_DATA_TYPES: Final = ("Performance", "Trace", "Analytics", "Proprietary")
_STRINGS: Final = ("href", "systemDN", "alarmId", "objectInstance")
_NAME_VALUE_SETS: Final = ("monitoredAttributes", "additionalInformation", "changedAlarmAttributes")

_SEPARATORS: Final = re.compile(r"[\s_\-]+")
_PLACEHOLDER: Final = re.compile(r"@[A-Za-z][A-Za-z0-9_]*@")
_SCHEMA_REFERENCE: Final = re.compile(r"#/?components/schemas/(Notify\w+)$")


def _key(value: str) -> str:
    return _SEPARATORS.sub("", value).casefold()


_MEMBERS: Final = {name: {_key(m): m for m in members} for name, members in _ENUMS.items()}
_FILE_DATA_TYPE_MEMBERS: Final = {_key(m): m for m in _FILE_DATA_TYPES}


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """The TS 28.532 notification bodies found in a document, in order, and what was corrected."""

    bodies: list[dict[str, Any]]
    corrections: list[str]


def unwrap(doc: Any) -> Unwrapped:
    """The plain TS 28.532 bodies of ``doc`` (plain, VES event, VES batch, legacy FileReady)."""
    if not isinstance(doc, dict):
        raise BadRequest(f"a notification is a JSON object, not {_kind(doc)}")
    corrections: list[str] = []
    if "notificationType" in doc:
        notes: list[str] = []
        body = _tidy(copy.deepcopy(doc), notes)
        corrections.extend(f"{_label(body)}: {n}" for n in notes)
        return Unwrapped([body], corrections)
    if "eventList" in doc:
        events = doc["eventList"]
        if not isinstance(events, list) or not events:
            raise BadRequest(f"eventList is {_kind(events)}: a VES batch is a non-empty array of events")
        bodies = [_event(e, f"eventList[{i}]", corrections) for i, e in enumerate(events)]
        return Unwrapped(bodies, corrections)
    if "event" in doc:
        return Unwrapped([_event(doc["event"], "event", corrections)], corrections)
    if "commonEventHeader" in doc:
        corrections.append('event: a VES event without its {"event": ...} wrapper, read as one')
        return Unwrapped([_event(doc, "event", corrections)], corrections)
    raise BadRequest(_not_a_notification(doc))


# -- the forms ---------------------------------------------------------------------------------


def _event(event: Any, where: str, corrections: list[str]) -> dict[str, Any]:
    """The body of one VES event; ``where`` names it in messages (``event``, ``eventList[1]``)."""
    if isinstance(event, dict) and "event" in event and "commonEventHeader" not in event:
        corrections.append(f'{where}: wrapped once more in {{"event": ...}}, read as the event inside')
        event = event["event"]
    if not isinstance(event, dict):
        raise BadRequest(f"{where}: a VES event is a JSON object, not {_kind(event)}")
    header = event.get("commonEventHeader")
    if not isinstance(header, dict):
        raise BadRequest(f"{where}: a VES event without commonEventHeader")
    domain = header.get("domain")
    notes: list[str] = []
    if domain != STND_DEFINED and "stndDefinedFields" in event and (domain is None or _is_placeholder(domain)):
        notes.append(f"domain {domain!r} read as stndDefined (the event has stndDefinedFields)")
        domain = STND_DEFINED
    if domain == STND_DEFINED:
        body = _stnd_defined(event, header, where, notes)
    elif domain == NOTIFICATION:
        body = _file_ready(event, header, where, notes)
    else:
        raise BadRequest(
            f"{where}: a VES event of domain {domain!r} carries no 3GPP notification (the receiver takes"
            " stndDefined events and notification-domain FileReady events)"
        )
    body = _tidy(body, notes, where)
    prefix = f"{where} " if where.startswith("eventList") else ""
    corrections.extend(f"{prefix}{_label(body)}: {n}" for n in notes)
    return body


def _stnd_defined(event: dict[str, Any], header: Mapping[str, Any], where: str, notes: list[str]) -> dict[str, Any]:
    """The TS 28.532 body in ``stndDefinedFields.data``, its header completed from the VES header."""
    fields = event.get("stndDefinedFields")
    if not isinstance(fields, dict) or not isinstance(fields.get("data"), dict):
        raise BadRequest(f"{where}: a stndDefined event without stndDefinedFields.data")
    body: dict[str, Any] = copy.deepcopy(fields["data"])
    named = _schema_type(fields.get("schemaReference"))
    if "notificationType" not in body:
        if named is None:
            raise BadRequest(
                f"{where}: stndDefinedFields.data has no notificationType and schemaReference names no"
                " TS 28.532 notification"
            )
        body["notificationType"] = named
        notes.append(f"notificationType {named} taken from schemaReference")
    elif named is not None and isinstance(body["notificationType"], str):
        given = _MEMBERS["notificationType"].get(_key(body["notificationType"]), body["notificationType"])
        if given != named:
            notes.append(f"schemaReference names {named[0].upper()}{named[1:]}, not {given}: notificationType kept")
    for name, (value, how) in _from_ves_header(header).items():
        if name not in body:
            body[name] = value
            notes.append(f"{name} {value!r} taken from {how} (data lacks it)")
    return body


def _file_ready(event: dict[str, Any], header: Mapping[str, Any], where: str, notes: list[str]) -> dict[str, Any]:
    """A notifyFileReady made from a legacy notification-domain FileReady event."""
    fields = event.get("notificationFields")
    if not isinstance(fields, dict):
        raise BadRequest(f"{where}: a notification-domain event without notificationFields")
    change = fields.get("changeType")
    if not isinstance(change, str) or _key(change) != "fileready":
        raise BadRequest(
            f"{where}: a notification-domain event of changeType {change!r}: only FileReady is read as a"
            " 3GPP notification"
        )
    items = fields.get("arrayOfNamedHashMap")
    if not isinstance(items, list) or not items:
        raise BadRequest(f"{where}: a FileReady event without arrayOfNamedHashMap items")
    notes.append("built from a legacy VES notification-domain FileReady event")
    body: dict[str, Any] = {}
    made = _from_ves_header(header)
    for name in HEADER:
        if name == "notificationType":
            body[name] = FILE_READY
        elif name in made:
            value, how = made[name]
            body[name] = value
            notes.append(f"{name} {value!r} taken from {how}")
        elif name == "notificationId":
            body[name] = 0
            notes.append("notificationId 0 made up (the event has no sequence)")
        else:
            notes.append(f"no {name}: the VES header has nothing to make it from")
    change_id = fields.get("changeIdentifier")
    body["fileInfoList"] = [
        _file_info(item, i, where, change_id, body.get("eventTime"), notes) for i, item in enumerate(items)
    ]
    return body


def _file_info(item: Any, i: int, where: str, change_id: Any, ready: Any, notes: list[str]) -> dict[str, Any]:
    """One TS 28.532 FileInfo from an ``arrayOfNamedHashMap`` item."""
    hash_map = item.get("hashMap") if isinstance(item, dict) else None
    location = hash_map.get("location") if isinstance(hash_map, dict) else None
    if not isinstance(hash_map, dict) or not isinstance(location, str) or not location:
        raise BadRequest(f"{where}: arrayOfNamedHashMap[{i}] has no hashMap.location")
    at = f"fileInfoList[{i}]"
    info: dict[str, Any] = {"fileLocation": location}
    if ready is not None:
        info["fileReadyTime"] = ready
        notes.append(f"{at}: fileReadyTime is the event time")
    mapped = {"compression": "fileCompression", "fileFormatType": "fileFormat"}
    for source, target in mapped.items():
        if source in hash_map:
            info[target] = hash_map[source]
    if change_id == PM_MEAS_FILES:
        info["fileDataType"] = PERFORMANCE
        notes.append(f"{at}: fileDataType {PERFORMANCE} from changeIdentifier {PM_MEAS_FILES}")
    else:
        notes.append(f"{at}: no fileDataType (changeIdentifier {change_id!r} names none)")
    dropped = sorted(k for k in hash_map if k != "location" and k not in mapped)
    for name in dropped:
        notes.append(f"{at}: {name} {hash_map[name]!r} dropped (FileInfo has no such member)")
    return info


def _from_ves_header(header: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    """TS 28.623 header members the VES header gives, each with where it came from."""
    out: dict[str, tuple[Any, str]] = {}
    source = _name(header.get("sourceName"))
    reporter = _name(header.get("reportingEntityName"))
    if source or reporter:
        out["href"] = (source, "sourceName") if source else (reporter, "reportingEntityName")
        out["systemDN"] = (reporter, "reportingEntityName") if reporter else (source, "sourceName")
    sequence = header.get("sequence")
    if isinstance(sequence, int) and not isinstance(sequence, bool):
        out["notificationId"] = (sequence, "sequence")
    for name in ("lastEpochMicrosec", "startEpochMicrosec"):
        epoch_notes: list[str] = []
        when = _epoch(header.get(name), name, epoch_notes)
        if when is not None:
            how = f"{name} {header[name]}"
            if epoch_notes:  # "<name> <value> is in milliseconds, not microseconds: read as such"
                how += f" ({epoch_notes[0].split(' is ', 1)[-1].split(':', 1)[0]})"
            out["eventTime"] = (rfc3339(when), how)
            break
    return out


# -- tolerance ---------------------------------------------------------------------------------


def _tidy(body: dict[str, Any], notes: list[str], where: str = "") -> dict[str, Any]:
    """``body`` (a copy, changed in place) with the sloppy values the specs' types allow fixed."""
    ntype = body.get("notificationType")
    if not isinstance(ntype, str):
        at = f"{where}: " if where else ""
        raise BadRequest(f"{at}notificationType {ntype!r} is not a string: not a TS 28.532 notification")
    _fix_enums(body, notes, "")
    _fix_integer(body, "notificationId", notes, "")
    for name in _STRINGS:
        value = body.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            body[name] = str(value)
            notes.append(f"{name} {value!r} (a number) read as the string {body[name]!r}")
    correlated = body.get("correlatedNotifications")
    if isinstance(correlated, list):
        for i, item in enumerate(correlated):
            ids = item.get("notificationIds") if isinstance(item, dict) else None
            if isinstance(ids, list):
                for j in range(len(ids)):
                    _fix_integer(ids, j, notes, f"correlatedNotifications[{i}].notificationIds")
    change = body.get("stateChangeDefinition")
    if isinstance(change, dict):
        if change:
            body["stateChangeDefinition"] = [change]
            notes.append("stateChangeDefinition (one object, not a list) read as a one-item list")
        else:
            del body["stateChangeDefinition"]
            notes.append("stateChangeDefinition {} (empty, and not a list) dropped")
    for name in _NAME_VALUE_SETS:
        if body.get(name) == {}:
            del body[name]
            notes.append(f"{name} {{}} dropped (a name-value set has at least one member)")
    files = body.get("fileInfoList")
    if isinstance(files, list):
        for i, info in enumerate(files):
            if isinstance(info, dict):
                _fix_file_info(info, notes, f"fileInfoList[{i}]")
    when = body.get("eventTime")
    if isinstance(when, str) and not _is_placeholder(when) and not _is_time(when):
        notes.append(f"eventTime {when!r} is no RFC 3339 time: left as it is")
    held = [path for path, _ in _placeholders(body, "")]
    if held:
        notes.append(f"template placeholders left as they are in {', '.join(held)}")
    return body


def _fix_enums(body: dict[str, Any], notes: list[str], at: str) -> None:
    for name, members in _MEMBERS.items():
        value = body.get(name)
        if isinstance(value, str):
            member = members.get(_key(value))
            if member is not None and member != value:
                body[name] = member
                notes.append(f"{at}{name} {value!r} read as {member}")


def _fix_file_info(info: dict[str, Any], notes: list[str], at: str) -> None:
    value = info.get("fileDataType")
    if isinstance(value, str):
        member = _FILE_DATA_TYPE_MEMBERS.get(_key(value))
        if member is not None and member != value:
            info["fileDataType"] = member
            notes.append(f"{at}.fileDataType {value!r} read as {member}")
    if "fileSize" in info:
        _fix_integer(info, "fileSize", notes, at)


def _fix_integer(holder: Any, key: Any, notes: list[str], at: str) -> None:
    """``holder[key]`` as an integer when it is a string of digits or a whole float."""
    if isinstance(holder, dict) and key not in holder:
        return
    value = holder[key]
    name = f"{at}[{key}]" if isinstance(key, int) else f"{at}.{key}" if at else str(key)
    fixed: int | None = None
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        fixed = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        fixed = int(value)
    if fixed is not None:
        holder[key] = fixed
        notes.append(f"{name} {value!r} read as the integer {fixed}")
    elif not isinstance(value, int) and not _placeholders_in(value):
        notes.append(f"{name} {value!r} is no integer: left as it is")


# -- helpers -----------------------------------------------------------------------------------


def _schema_type(reference: Any) -> str | None:
    """The notificationType a schemaReference names (``...#components/schemas/NotifyNewAlarm``)."""
    if not isinstance(reference, str):
        return None
    match = _SCHEMA_REFERENCE.search(reference)
    if match is None:
        return None
    return _MEMBERS["notificationType"].get(_key(match.group(1)))


def _placeholders(node: Any, path: str) -> Iterable[tuple[str, str]]:
    """(path, value) of every string under ``node`` holding a template placeholder."""
    if isinstance(node, str):
        if _PLACEHOLDER.search(node):
            yield path or "(the body)", node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _placeholders(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _placeholders(v, f"{path}[{i}]")


def _placeholders_in(value: Any) -> bool:
    return next(iter(_placeholders(value, "")), None) is not None


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and _PLACEHOLDER.fullmatch(value) is not None


def _is_time(value: str) -> bool:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value.upper() and when.tzinfo is not None


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() and not _is_placeholder(value) else None


def _label(body: Mapping[str, Any]) -> str:
    """How a correction names a notification: its type and id."""
    nid = body.get("notificationId")
    return f"{body.get('notificationType')} {nid}" if nid is not None else str(body.get("notificationType"))


def _kind(value: Any) -> str:
    """What a JSON value is, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    return "a string" if isinstance(value, str) else type(value).__name__


def _not_a_notification(doc: Mapping[str, Any]) -> str:
    keys = ", ".join(sorted(str(k) for k in doc)[:6]) or "none"
    hint = ""
    data = doc.get("data")
    if isinstance(data, dict) and any(str(k).endswith("push-change-update") for k in data):
        hint = " It is a YANG push-change-update (an ONAP CPS/NCMP change event), not a 3GPP notification."
    return (
        f"not a notification: a JSON object with keys {keys}, where a TS 28.532 notification (with a"
        ' notificationType) or a VES event ({"event": ...} or {"eventList": [...]}) was expected.' + hint
    )

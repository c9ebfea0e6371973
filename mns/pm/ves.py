"""VES ``perf3gpp`` events (ONAP / O-RAN SC JSON PM reports) read into measurement rows.

An event (or a batch ``{"eventList": [...]}``) carries ``perf3gppFields.measDataCollection``:
the granularity period in seconds, the measured entity DN and ``measInfoList`` with
``measTypes.sMeasTypesList`` and ``measValuesList`` of ``{measObjInstId, suspectFlag,
measResults: [{p, sValue | iValue | rValue | isNull}]}``. The period ends at
``lastEpochMicrosec``. Real events are sloppy: epoch times in milliseconds, bare cell ids as
object ids, an entity that is a name rather than a DN. The reader corrects what it can, the
same way the XML reader does, and says so in ``ParsedPm.notes``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from mns.errors import BadRequest
from mns.pm.files import ParsedPm, _entity, object_dn
from mns.pm.model import Measurement, is_measurement_type, parse_value

VES_PERF3GPP = "perf3gpp"


def _epoch(value: Any, what: str, notes: list[str]) -> datetime | None:
    """An epoch time that should be in microseconds; milliseconds and seconds are recognised."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    try:
        if value >= 1e14:
            return datetime.fromtimestamp(value / 1e6, UTC)
        if value >= 1e11:
            notes.append(f"{what} {value} is in milliseconds, not microseconds: read as such")
            return datetime.fromtimestamp(value / 1e3, UTC)
        notes.append(f"{what} {value} is in seconds, not microseconds: read as such")
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):
        notes.append(f"{what} {value} is no time the twin can store: ignored")
        return None


def _events(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, dict) and isinstance(doc.get("eventList"), list):
        return [e for e in doc["eventList"] if isinstance(e, dict)]
    if isinstance(doc, dict) and isinstance(doc.get("event"), dict):
        return [doc["event"]]
    if isinstance(doc, list):
        events = (e.get("event", e) for e in doc if isinstance(e, dict))
        return [e for e in events if isinstance(e, dict)]
    raise BadRequest("not a VES event: expected {'event': ...} or {'eventList': [...]}")


def parse_ves_perf3gpp(data: bytes | dict[str, Any], *, bare_class: str = "ManagedFunction") -> ParsedPm:
    """The measurements of VES perf3gpp event(s); other event domains are noted and skipped."""
    try:
        doc = orjson.loads(data) if isinstance(data, bytes) else data
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the VES event is not JSON: {exc}") from None
    out = ParsedPm("ves-perf3gpp")
    for event in _events(doc):
        header = event.get("commonEventHeader")
        if not isinstance(header, dict):
            header = {}
        domain = header.get("domain")
        if domain != VES_PERF3GPP:
            out.notes.append(f"event of domain {domain!r} is not perf3gpp: skipped")
            continue
        fields = event.get("perf3gppFields")
        collection = fields.get("measDataCollection") if isinstance(fields, dict) else None
        if not isinstance(collection, dict):
            out.notes.append("perf3gpp event without a measDataCollection object: skipped")
            continue
        _read_collection(collection, header, out, bare_class)
    return out


def _read_collection(collection: dict[str, Any], header: dict[str, Any], out: ParsedPm, bare_class: str) -> None:
    notes = out.notes
    period = collection.get("granularityPeriod")
    if isinstance(period, str) and period.isdigit():
        period = int(period)
    if not isinstance(period, int) or period <= 0:
        notes.append(f"granularityPeriod {period!r} is not a number of seconds: event skipped")
        return
    start = _epoch(header.get("startEpochMicrosec"), "startEpochMicrosec", notes)
    last = _epoch(header.get("lastEpochMicrosec"), "lastEpochMicrosec", notes)
    if last is None or (start is not None and last <= start):
        if start is None:
            notes.append("the event has no usable epoch times: skipped")
            return
        last = start + timedelta(seconds=period)
        notes.append("lastEpochMicrosec is not after startEpochMicrosec: the period is taken to end a period later")
    out.begin = min(out.begin or start or last, start or last)
    out.end = max(out.end or last, last)
    entity_text = collection.get("measuredEntityDn") or header.get("sourceName")
    entity = _entity(entity_text if isinstance(entity_text, str) else None, notes)
    for info in collection.get("measInfoList") or []:
        types = ((info.get("measTypes") or {}).get("sMeasTypesList")) or []
        label = ((info.get("measInfoId") or {}).get("sMeasInfoId")) or "(no measInfoId)"
        for values in info.get("measValuesList") or []:
            name = str(values.get("measObjInstId", ""))
            dn = object_dn(name, prefix=None, entity=entity, bare_class=bare_class, notes=notes)
            if dn is None:
                continue
            suspect = str(values.get("suspectFlag", "false")).lower() == "true"
            for result in values.get("measResults") or []:
                p = result.get("p")
                if not isinstance(p, int) or not 0 < p <= len(types):
                    notes.append(f"measInfo {label}: {dn}: result p={p!r} has no measType: skipped")
                    continue
                mtype = str(types[p - 1])
                if not is_measurement_type(mtype):
                    notes.append(f"measInfo {label}: {mtype[:60]!r} is not a measurement type name: skipped")
                    continue
                _add(out, dn=str(dn), mtype=mtype, period=period, end=last, result=result, suspect=suspect)


def _add(out: ParsedPm, *, dn: str, mtype: str, period: int, end: datetime, result: Any, suspect: bool) -> None:
    if str(result.get("isNull", "false")).lower() == "true":
        value, values, note = None, None, None
    elif "iValue" in result or "rValue" in result:
        raw = result.get("iValue", result.get("rValue"))
        value, values, note = parse_value(str(raw))
    else:
        value, values, note = parse_value(str(result.get("sValue", "")))
    if note:
        out.notes.append(f"{dn} {mtype}: {note}: read as no value")
    out.measurements.append(Measurement(dn, mtype, period, end, value, values, suspect))

"""The measurement row shared by the PM store, the file formats and the services.

A measurement is one value of one measurement type (TS 28.552 name such as ``RRU.PrbUsedDl``,
or a sub-counter such as ``DRB.UEThpDl.1``) of one object for one granularity period, which
ends at ``end``. A value is a float, an array of floats (the comma-separated multi-value form of
TS 32.435 ``<r>``) or absent (``NULL`` / ``NIL`` in a file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from mns.errors import BadRequest

_DURATION: Final = re.compile(
    r"P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?\Z", re.IGNORECASE
)
_MTYPE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
"""What a measurement type may look like: an XML ``Name`` without ':' (files list types as Names)."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One value of one measurement type of one object for one granularity period."""

    dn: str
    mtype: str
    period: int
    end: datetime
    value: float | None
    values: tuple[float, ...] | None = None
    suspect: bool = False

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the TwinMnS ``pm`` row)."""
        out: dict[str, Any] = {
            "dn": self.dn,
            "measurementType": self.mtype,
            "granularityPeriod": self.period,
            "endTime": rfc3339(self.end),
            "value": self.value,
        }
        if self.values is not None:
            out["values"] = list(self.values)
        if self.suspect:
            out["suspect"] = True
        return out


def is_measurement_type(name: str) -> bool:
    """Whether ``name`` can be a measurement type (TS 28.552 or vendor, with sub-counters)."""
    return bool(_MTYPE.match(name)) and len(name) <= 256


def parse_duration(text: str) -> int:
    """Seconds of an xs:duration of days, hours, minutes and seconds (``PT900S``, ``PT15M``)."""
    m = _DURATION.match(text.strip())
    if not m or not any(m.groupdict().values()):
        raise ValueError(f"{text!r} is not a duration such as PT900S")
    d, h, mi, s = (m.group(k) for k in ("d", "h", "m", "s"))
    return int(int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0))


def duration(seconds: int) -> str:
    """The xs:duration of a granularity period."""
    return f"PT{seconds}S"


def parse_time(text: str, *, what: str = "time") -> datetime:
    """An RFC 3339 / xs:dateTime with a zone; raises BadRequest."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{what} {text!r} is not an RFC 3339 time") from None
    if when.tzinfo is None:
        raise BadRequest(f"{what} {text!r} has no time zone (RFC 3339 needs one, e.g. Z)")
    return when


def rfc3339(when: datetime) -> str:
    """UTC RFC 3339 with 'Z', whole seconds unless there is a fraction."""
    text = when.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def utc_of(timestamp: float) -> datetime:
    """A stored epoch time as an aware datetime."""
    return datetime.fromtimestamp(timestamp, UTC)


NULL_VALUES: Final = frozenset({"", "NULL", "NIL", "-", "N/A"})


def parse_value(text: str) -> tuple[float | None, tuple[float, ...] | None, str | None]:
    """(value, array values, note) of a file's result text; the note says what was not a number."""
    raw = text.strip()
    if raw.upper() in NULL_VALUES:
        return None, None, None
    if "," in raw:
        try:
            return None, tuple(float(v) for v in raw.split(",")), None
        except ValueError:
            return None, None, f"array {raw[:40]!r} holds a value that is not a number"
    try:
        return float(raw), None, None
    except ValueError:
        return None, None, f"{raw[:40]!r} is not a number"


def format_value(m: Measurement, *, null: str) -> str:
    """The result text of a measurement in a file (``null`` where it has no value)."""
    if m.values is not None:
        return ",".join(_num(v) for v in m.values)
    return null if m.value is None else _num(m.value)


def _num(v: float) -> str:
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)

"""PM services: ingest PM files, report PM files, list them as TS 28.532 FileInfo, query series.

Keyword-only functions over a ``PmStore``; routers call these and never the store directly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from mns.errors import BadRequest
from mns.nrm.dn import DN
from mns.pm.files import FILE_FORMAT_NAMES, FORMATS, MEAS_DATA, ParsedPm, parse_pm_file, write_pm_file
from mns.pm.model import Measurement, is_measurement_type, rfc3339
from mns.pm.store import PmFile, PmStore
from mns.pm.ves import parse_ves_perf3gpp
from mns.store.api import Scope

FILE_DATA_TYPES: Final = ("Performance", "Trace", "Analytics", "Proprietary")
"""TS 28.532 ``FileDataType``; the twin reports Performance files only."""
PERFORMANCE: Final = "Performance"
RETENTION: Final = timedelta(days=7)
"""How long a reported file stays listed (``fileExpirationTime``)."""
MAX_ROWS: Final = 100_000
"""Most measurements one query returns; larger reads must narrow the time range or scope."""
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9.=+,\-]")


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What an ingest stored: the format read, how many rows, and the notes of what was corrected."""

    file_format: str
    stored: int
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"fileFormat": self.file_format, "stored": self.stored, "notes": self.notes}


def parse_any(data: bytes, *, dn_prefix: str | None = None) -> ParsedPm:
    """A PM file in XML (either format, gzipped or not) or a VES perf3gpp JSON event."""
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        return parse_ves_perf3gpp(data)
    return parse_pm_file(data, dn_prefix=dn_prefix)


def ingest(*, pm: PmStore, data: bytes, dn_prefix: str | None = None) -> IngestResult:
    """Parse a PM file or VES event and store its measurements (overwriting equal keys)."""
    parsed = parse_any(data, dn_prefix=dn_prefix)
    return IngestResult(parsed.file_format, pm.add(parsed.measurements), parsed.notes)


def _stamp(when: datetime) -> str:
    """TS 32.432 file name time: ``20241211.0934+0000``."""
    return when.astimezone(UTC).strftime("%Y%m%d.%H%M+0000")


def file_id(*, dn: str, begin: datetime, end: datetime, period: int, fmt: str, compress: bool) -> str:
    """A TS 32.432-like file name: ``A<begin>-<end>_<object>_<period>s.xml[.gz]``, URL-safe."""
    sender = _UNSAFE.sub("_", DN.parse(dn).uri.replace("/", ","))
    kind = "" if fmt == MEAS_DATA else "_32435"
    return f"A{_stamp(begin)}-{_stamp(end)[9:]}_{sender}_{period}s{kind}.xml" + (".gz" if compress else "")


def report_file(
    *,
    pm: PmStore,
    dn: str,
    begin: datetime,
    end: datetime,
    period: int,
    fmt: str = MEAS_DATA,
    compress: bool = True,
    now: datetime | None = None,
    retention: timedelta = RETENTION,
) -> PmFile:
    """Write the PM file of ``dn``'s subtree for the periods ending in (begin, end] and list it."""
    if fmt not in FORMATS:
        raise BadRequest(f"unknown PM file format {fmt!r}: use {' or '.join(FORMATS)}")
    if end <= begin:
        raise BadRequest(f"the file's end {rfc3339(end)} is not after its begin {rfc3339(begin)}")
    rows = [m for m in pm.read(dn=dn, scope=Scope.BASE_SUBTREE, period=period, start=begin, end=end) if m.end > begin]
    content = write_pm_file(rows, begin=begin, end=end, fmt=fmt, sender=dn, compress=compress)
    ready = now or datetime.now(UTC)
    meta = PmFile(
        id=file_id(dn=dn, begin=begin, end=end, period=period, fmt=fmt, compress=compress),
        data_type=PERFORMANCE,
        ready_time=ready,
        expiration_time=ready + retention,
        begin_time=begin,
        end_time=end,
        period=period,
        file_format=FILE_FORMAT_NAMES[fmt],
        compression="gzip" if compress else None,
        size=len(content),
    )
    return pm.add_file(meta, content)


def list_files(
    *,
    pm: PmStore,
    data_type: str,
    begin: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> list[PmFile]:
    """Files of a ``FileDataType`` that became available in [begin, end] and have not expired."""
    if data_type not in FILE_DATA_TYPES:
        raise BadRequest(f"fileDataType {data_type!r} is not one of {', '.join(FILE_DATA_TYPES)}")
    if begin is not None and end is not None and end < begin:
        raise BadRequest("endTime is before beginTime")
    return pm.files(data_type=data_type, ready_from=begin, ready_to=end, now=now or datetime.now(UTC))


def file_info(f: PmFile, *, location: str) -> dict[str, Any]:
    """The TS 28.532 ``FileInfo`` of a file served at ``location``."""
    info: dict[str, Any] = {
        "fileLocation": location,
        "fileSize": f.size,
        "fileReadyTime": rfc3339(f.ready_time),
        "fileCompression": f.compression or "none",
        "fileFormat": f.file_format,
        "fileDataType": f.data_type,
    }
    if f.expiration_time is not None:
        info["fileExpirationTime"] = rfc3339(f.expiration_time)
    return info


def query(
    *,
    pm: PmStore,
    dn: str | None,
    types: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    scope: Scope = Scope.BASE_ONLY,
    level: int = 0,
    period: int | None = None,
    subcounters: bool = True,
    max_rows: int = MAX_ROWS,
) -> list[Measurement]:
    """Measurements of an object (or its scope) in a time range; 400 on a malformed type or range."""
    for t in types or ():
        if not is_measurement_type(t):
            raise BadRequest(f"{t!r} is not a measurement type name (such as RRU.PrbUsedDl)")
    if start is not None and end is not None and end < start:
        raise BadRequest("to is before from")
    if dn is not None:
        dn = str(DN.parse(dn))
    rows = pm.read(
        dn=dn,
        scope=scope,
        level=level,
        types=types,
        subcounters=subcounters,
        period=period,
        start=start,
        end=end,
        limit=max_rows + 1,
    )
    if len(rows) > max_rows:
        raise BadRequest(f"the query selects more than {max_rows} measurements: narrow the time range or scope")
    return rows

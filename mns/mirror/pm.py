"""PM of a TS 28.532 producer mirrored into the twin (the files half of the mirror).

:class:`PmMirror` fetches the producer's PM files (``GET /files``, or those a notifyFileReady
names), stores their measurements in the twin's PM store with canonical DNs and keeps each file
in ``pm_file``, so the twin's File Data Reporting serves it too. ``pm_mirror_file`` records every
file location fetched (with the twin's file id, or why the file was not usable), in the same
transaction as the file, so a file is fetched once, also across restarts.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from mns.consumer.client import MnsClient
from mns.consumer.errors import NotFoundError
from mns.consumer.models import FileInfo
from mns.errors import MnsError
from mns.fault.model import parse_time, rfc3339
from mns.pm.files import FILE_FORMAT_NAMES
from mns.pm.model import Measurement
from mns.pm.service import PERFORMANCE, parse_any
from mns.pm.store import PmStore
from mns.store.api import utc
from mns.store.db import create_tables
from mns.store.schema import metadata
from mns.store.sql import SqlStore

log = logging.getLogger("mns.mirror")

SOURCE: Final = "real"
AUTHOR: Final = "mirror"

FILE_READY: Final = "notifyFileReady"
FILE_PREPARATION_ERROR: Final = "notifyFilePreparationError"


def _identity(dn: str) -> str:
    return dn


pm_mirror_file = sa.Table(
    "pm_mirror_file",
    metadata,
    sa.Column("location", sa.Text, primary_key=True),
    sa.Column("file_id", sa.Text, nullable=True),
    sa.Column("ready_time", sa.Float, nullable=True),
    sa.Column("fetched", sa.Float, nullable=False),
    sa.Column("stored", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
)

_FILE_INSERT: Final = (
    "INSERT INTO pm_file (id, data_type, ready_time, expiration_time, begin_time, end_time, period,"
    " file_format, compression, size, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9.=+,_\-]")


@dataclass(frozen=True, slots=True)
class MirroredFile:
    """One producer file the mirror fetched: the twin's file id, measurements stored, notes, or an error."""

    location: str
    file_id: str | None
    ready_time: datetime | None
    stored: int
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class PmMirror:
    """The producer's PM files mirrored into the PM store of ``store`` (see the module doc)."""

    def __init__(
        self,
        store: SqlStore,
        canonical_dn: Callable[[str], str] = _identity,
        *,
        pm: PmStore | None = None,
        data_type: str = PERFORMANCE,
    ) -> None:
        self.store = store
        self.pm = pm or PmStore(store)
        self.canonical_dn = canonical_dn
        self.data_type = data_type
        create_tables(store.engine, [pm_mirror_file])

    def since(self) -> datetime | None:
        """The ready time of the newest file fetched (the ``since`` of the next sync), or None."""
        with self.store._read() as db:
            row = db.exec_driver_sql(self.store._q("SELECT MAX(ready_time) FROM pm_mirror_file")).first()
        return utc(row[0]) if row and row[0] is not None else None

    def fetched(self, location: str) -> bool:
        """Whether the file at ``location`` (absolute) was fetched before."""
        with self.store._read() as db:
            sql = self.store._q("SELECT 1 FROM pm_mirror_file WHERE location = ?")
            return db.exec_driver_sql(sql, (location,)).first() is not None

    def sync_files(self, client: MnsClient, since: datetime | None = None) -> list[MirroredFile]:
        """Fetch the producer's PM files ready since ``since`` that the twin does not have yet.

        A file that is gone (404) or not a PM file is recorded with the reason and not fetched
        again; any other client error propagates, and the next call fetches what is left.
        """
        begin = rfc3339(since) if since is not None else None
        return self._fetch_all(client, client.files(self.data_type, begin=begin))

    def apply(self, notification: Mapping[str, Any], client: MnsClient) -> list[MirroredFile]:
        """Fetch the files a notifyFileReady names; a notifyFilePreparationError is only logged."""
        ntype = notification.get("notificationType")
        if ntype == FILE_PREPARATION_ERROR:
            log.info("the producer could not prepare a file: %s", notification.get("reason", ""))
            return []
        if ntype != FILE_READY:
            return []
        items = notification.get("fileInfoList")
        infos = [FileInfo.from_json(i) for i in items or [] if isinstance(i, Mapping) and i.get("fileLocation")]
        return self._fetch_all(client, infos)

    def _fetch_all(self, client: MnsClient, infos: Sequence[FileInfo]) -> list[MirroredFile]:
        out = []
        for info in infos:
            if info.file_data_type not in (None, self.data_type):
                continue
            location = _absolute(client.settings.base_url, info.file_location)
            if not self.fetched(location):
                out.append(self._fetch(client, location, info))
        return out

    def _fetch(self, client: MnsClient, location: str, info: FileInfo) -> MirroredFile:
        ready = _time_or_none(info.file_ready_time)
        try:
            data = client.download(location)
        except NotFoundError as exc:  # expired or withdrawn: it will not come back
            return self._record(location, ready, 0, None, f"download failed: {exc}")
        try:
            parsed = parse_any(data)
        except MnsError as exc:
            return self._record(location, ready, 0, None, f"not a PM file the twin reads: {exc.message}")
        rows = [replace(m, dn=self.canonical_dn(m.dn)) for m in parsed.measurements]
        stored = self.pm.add(rows)
        meta = _file_row(info, data, parsed.file_format, parsed.begin, parsed.end, rows, ready)
        result = self._record(location, ready, stored, (meta, data), None)
        return replace(result, notes=list(parsed.notes))

    def _record(
        self,
        location: str,
        ready: datetime | None,
        stored: int,
        file: tuple[tuple[Any, ...], bytes] | None,
        error: str | None,
    ) -> MirroredFile:
        """Keep the file (if any) and the record that it was fetched, in one transaction."""
        file_id = None
        with self.store._transaction() as db:
            q = self.store._q
            if file is not None:
                meta, content = file
                file_id = _free_id(db, q, _name_of(location), location)
                db.exec_driver_sql(q(_FILE_INSERT), (file_id, *meta, content))
            db.exec_driver_sql(
                q(
                    "INSERT INTO pm_mirror_file (location, file_id, ready_time, fetched, stored, error)"
                    " VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (location, file_id, ready.timestamp() if ready else None, time.time(), stored, error),
            )
        if error is not None:
            log.warning("PM file %s: %s", location, error)
        return MirroredFile(location, file_id, ready, stored, error=error)


def _absolute(base_url: str, location: str) -> str:
    """A file location as the client fetches it (a relative one lies under the base URL)."""
    if urlsplit(location).scheme:
        return location
    return base_url.rstrip("/") + "/" + location.lstrip("/")


def _name_of(location: str) -> str:
    """The file's name in a location (``.../files/<name>/content`` or ``.../<name>``), URL-safe."""
    parts = [unquote(p) for p in urlsplit(location).path.split("/") if p]
    if len(parts) >= 2 and parts[-1] == "content":
        parts.pop()
    return _UNSAFE.sub("_", parts[-1]) if parts else "file"


def _free_id(db: Any, q: Callable[[str], str], name: str, location: str) -> str:
    """``name``, or ``name`` suffixed with a hash of the location when another file holds it."""
    if db.exec_driver_sql(q("SELECT 1 FROM pm_file WHERE id = ?"), (name,)).first() is None:
        return name
    return f"{name}.{hashlib.blake2b(location.encode(), digest_size=4).hexdigest()}"


def _time_or_none(text: str | None) -> datetime | None:
    try:
        return parse_time(text, field="fileReadyTime") if text else None
    except MnsError:
        return None


def _file_row(
    info: FileInfo,
    data: bytes,
    fmt: str,
    begin: datetime | None,
    end: datetime | None,
    rows: Sequence[Measurement],
    ready: datetime | None,
) -> tuple[Any, ...]:
    """The ``pm_file`` columns after the id (without the content) of a fetched file."""
    ready = ready or datetime.now(UTC)
    ends = [m.end for m in rows]
    end = end or (max(ends) if ends else ready)
    period = rows[0].period if rows else 0
    if begin is None:  # the file's header said nothing: the first period's start
        begin = utc(min(ends).timestamp() - period) if ends else end
    expires = _time_or_none(info.file_expiration_time)
    compression = info.file_compression if info.file_compression not in (None, "", "none") else None
    if compression is None and data[:2] == b"\x1f\x8b":
        compression = "gzip"
    return (
        info.file_data_type or PERFORMANCE,
        ready.timestamp(),
        expires.timestamp() if expires else None,
        begin.timestamp(),
        end.timestamp(),
        period,
        info.file_format or FILE_FORMAT_NAMES.get(fmt, fmt),
        compression,
        len(data),
    )

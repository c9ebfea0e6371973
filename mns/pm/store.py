"""The PM tables beside the NRM: measurement series and reported PM files.

``pm_measurement`` holds one row per (object, measurement type, granularity period, end time)
with a float value (or an array, kept as JSON, for multi-valued results). Its primary key
starts with the object's store key (``mns.nrm.dn.to_key``), so the measurements of a subtree
are one key range, as for the NRM. ``pm_file`` holds the PM files the twin reported, with their
bytes, for ``FileDataReportingMnS``. ``pm_report`` records each reporting period a PM job
reported (its file, or a preparation error) under a sequence number that only grows
(``pm_report_head``): the positions of the ``files`` notification feed, and what keeps a period
from being reported twice. Writes on SQLite go through the NRM store's writer (one writer
connection and its lock), so they serialise with NRM commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from mns.errors import AlreadyExists, BadRequest, NotFound
from mns.nrm.dn import SEP, SEP_NEXT, key_depth, key_to_dn, to_key
from mns.pm import events
from mns.pm.model import Measurement, utc_of
from mns.store.api import Scope
from mns.store.db import create_tables
from mns.store.schema import metadata
from mns.store.sql import SqlStore

_Key = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

pm_measurement = sa.Table(
    "pm_measurement",
    metadata,
    sa.Column("path", _Key, primary_key=True),
    sa.Column("mtype", _Key, primary_key=True),
    sa.Column("period", sa.Integer, primary_key=True),
    sa.Column("end_time", sa.Float, primary_key=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("vals", sa.Text, nullable=True),
    sa.Column("suspect", sa.SmallInteger, nullable=False, default=0),
    sa.Index("ix_pm_measurement_end", "end_time", "period"),
    sqlite_with_rowid=False,
)

pm_file = sa.Table(
    "pm_file",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("data_type", sa.Text, nullable=False),
    sa.Column("ready_time", sa.Float, nullable=False),
    sa.Column("expiration_time", sa.Float, nullable=True),
    sa.Column("begin_time", sa.Float, nullable=False),
    sa.Column("end_time", sa.Float, nullable=False),
    sa.Column("period", sa.Integer, nullable=False),
    sa.Column("file_format", sa.Text, nullable=False),
    sa.Column("compression", sa.Text, nullable=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Index("ix_pm_file_ready", "data_type", "ready_time"),
)

pm_job = sa.Table(
    "pm_job",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

pm_report = sa.Table(
    "pm_report",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("job", sa.Text, nullable=False),
    sa.Column("begin_time", sa.Float, nullable=False),
    sa.Column("end_time", sa.Float, nullable=False),
    sa.Column("ntype", sa.Text, nullable=False),
    sa.Column("dn", sa.Text, nullable=False),
    sa.Column("cls", sa.Text, nullable=False),
    sa.Column("ready_time", sa.Float, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("job_id", sa.Text, nullable=True),
    sa.Column("file_id", sa.Text, nullable=True),
    sa.Index("ux_pm_report_period", "job", "end_time", unique=True),
)

pm_report_head = sa.Table(
    "pm_report_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
)

_UPSERT: Final = (
    "INSERT INTO pm_measurement (path, mtype, period, end_time, value, vals, suspect) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (path, mtype, period, end_time) DO UPDATE SET"
    " value = excluded.value, vals = excluded.vals, suspect = excluded.suspect"
)
_FILE_COLUMNS: Final = (
    "id, data_type, ready_time, expiration_time, begin_time, end_time, period, file_format, compression, size"
)
_REPORT_COLUMNS: Final = "seq, job, begin_time, end_time, ntype, dn, cls, ready_time, text, job_id, file_id"
_CHUNK: Final = 5000


@dataclass(frozen=True, slots=True)
class PmFile:
    """A reported PM file's metadata (its bytes are read with ``PmStore.file_content``)."""

    id: str
    data_type: str
    ready_time: datetime
    expiration_time: datetime | None
    begin_time: datetime
    end_time: datetime
    period: int
    file_format: str
    compression: str | None
    size: int


@dataclass(frozen=True, slots=True)
class PmReport:
    """One reporting period of a job: its file (notifyFileReady) or why there is none (an error).

    ``job`` is the job's key (a PerfMetricJob's DN, ``measJob:<id>``); ``dn`` and ``cls`` the
    object the notification is about; ``seq`` its position in the files feed (0 before stored).
    """

    job: str
    begin: datetime
    end: datetime
    ntype: str
    dn: str
    cls: str
    ready_time: datetime
    text: str
    job_id: str | None = None
    file: PmFile | None = None
    seq: int = 0


class PmStore:
    """Measurements and PM files in the twin store's database (SQLite or PostgreSQL)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        create_tables(store.engine, [pm_measurement, pm_file, pm_job, pm_report, pm_report_head])
        with store._transaction() as db:
            if db.exec_driver_sql(self._q("SELECT seq FROM pm_report_head WHERE id = 0")).first() is None:
                db.exec_driver_sql(self._q("INSERT INTO pm_report_head (id, seq) VALUES (0, 0)"))

    def _q(self, sql: str) -> str:
        return self.store._q(sql)

    # -- measurements -------------------------------------------------------------------------

    def add(self, measurements: Iterable[Measurement]) -> int:
        """Insert (or overwrite) measurements in one transaction; returns how many."""
        batch = measurements if isinstance(measurements, list | tuple) else list(measurements)
        rows = [_row(m) for m in batch]
        if not rows:
            return 0
        sql = self._q(_UPSERT)
        with self.store._transaction() as db:
            cur = db.connection.dbapi_connection.cursor()
            try:
                for i in range(0, len(rows), _CHUNK):
                    cur.executemany(sql, rows[i : i + _CHUNK])
            finally:
                cur.close()
        events.emit(batch, store=self)
        return len(rows)

    def read(
        self,
        *,
        dn: str | None = None,
        scope: Scope = Scope.BASE_ONLY,
        level: int = 0,
        types: Sequence[str] | None = None,
        subcounters: bool = False,
        period: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Measurement]:
        """Measurements of an object (or its scope; every object when ``dn`` is None).

        Rows have ``start <= end time <= end``; ``types`` selects measurement types (with their
        sub-counters ``type.x`` when ``subcounters``). Ordered by object, type, period, time;
        at most ``limit`` rows (rows outside a level-limited scope are not counted).
        """
        where: list[str] = []
        params: list[Any] = []
        base_depth = 0
        if dn is not None:
            key = to_key(dn)
            base_depth = key_depth(key)
            if scope is Scope.BASE_ONLY or (scope is Scope.BASE_NTH_LEVEL and level == 0):
                where.append("path = ?")
                params.append(key)
            elif scope is Scope.BASE_NTH_LEVEL:
                where.append("path >= ? AND path < ?")
                params += [key + SEP, key + SEP_NEXT]
            else:
                where.append("(path = ? OR (path >= ? AND path < ?))")
                params += [key, key + SEP, key + SEP_NEXT]
        if types:
            alternatives = []
            for t in types:
                alternatives.append("mtype = ?")
                params.append(t)
                if subcounters:
                    alternatives.append("(mtype >= ? AND mtype < ?)")
                    params += [t + ".", t + "/"]
            where.append("(" + " OR ".join(alternatives) + ")")
        if period is not None:
            where.append("period = ?")
            params.append(period)
        if start is not None:
            where.append("end_time >= ?")
            params.append(start.timestamp())
        if end is not None:
            where.append("end_time <= ?")
            params.append(end.timestamp())
        sql = "SELECT path, mtype, period, end_time, value, vals, suspect FROM pm_measurement"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY path, mtype, period, end_time"
        lo, hi = _levels(scope, level)
        out: list[Measurement] = []
        with self.store._read() as db:
            rows = self.store._stream(db, sql, tuple(params))
            try:
                for path, mtype, per, end_time, value, vals, suspect in rows:
                    if dn is not None:
                        depth = key_depth(path) - base_depth
                        if depth < lo or (hi is not None and depth > hi):
                            continue
                    values = tuple(json.loads(vals)) if vals is not None else None
                    out.append(Measurement(key_to_dn(path), mtype, per, utc_of(end_time), value, values, bool(suspect)))
                    if limit is not None and len(out) >= limit:
                        break
            finally:
                getattr(rows, "close", lambda: None)()  # the cursor, before the transaction ends
        return out

    def periods(self, *, start: datetime | None = None, end: datetime | None = None) -> list[tuple[int, datetime]]:
        """The distinct (granularity period, end time) pairs held, oldest first."""
        sql = "SELECT DISTINCT period, end_time FROM pm_measurement"
        where, params = [], []
        if start is not None:
            where.append("end_time >= ?")
            params.append(start.timestamp())
        if end is not None:
            where.append("end_time <= ?")
            params.append(end.timestamp())
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY end_time, period"
        with self.store._read() as db:
            return [(p, utc_of(t)) for p, t in db.exec_driver_sql(self._q(sql), tuple(params)).all()]

    def delete_before(self, when: datetime) -> int:
        """Drop measurements that ended before ``when`` (retention); returns how many."""
        with self.store._transaction() as db:
            result = db.exec_driver_sql(self._q("DELETE FROM pm_measurement WHERE end_time < ?"), (when.timestamp(),))
            cursor = getattr(result, "cur", result)  # the SQLite fast path wraps the driver's cursor
            return int(cursor.rowcount)

    # -- files --------------------------------------------------------------------------------

    def add_file(self, meta: PmFile, content: bytes) -> PmFile:
        """Record a reported file and its bytes; a file with that id is an error."""
        if meta.size != len(content):
            raise BadRequest(f"file {meta.id}: size {meta.size} is not the content's {len(content)} bytes")
        with self.store._transaction() as db:
            self._insert_file(db, meta, content)
        return meta

    def _insert_file(self, db: Any, meta: PmFile, content: bytes) -> None:
        sql = self._q(f"INSERT INTO pm_file ({_FILE_COLUMNS}, content) VALUES ({', '.join(['?'] * 11)})")
        row = (
            meta.id,
            meta.data_type,
            meta.ready_time.timestamp(),
            meta.expiration_time.timestamp() if meta.expiration_time else None,
            meta.begin_time.timestamp(),
            meta.end_time.timestamp(),
            meta.period,
            meta.file_format,
            meta.compression,
            meta.size,
            content,
        )
        if db.exec_driver_sql(self._q("SELECT 1 FROM pm_file WHERE id = ?"), (meta.id,)).first() is not None:
            raise AlreadyExists(f"PM file {meta.id} exists")
        db.exec_driver_sql(sql, row)

    def files(
        self,
        *,
        data_type: str,
        ready_from: datetime | None = None,
        ready_to: datetime | None = None,
        now: datetime | None = None,
    ) -> list[PmFile]:
        """Files of a data type that became ready in [from, to] and have not expired at ``now``."""
        sql = f"SELECT {_FILE_COLUMNS} FROM pm_file WHERE data_type = ?"
        params: list[Any] = [data_type]
        if ready_from is not None:
            sql += " AND ready_time >= ?"
            params.append(ready_from.timestamp())
        if ready_to is not None:
            sql += " AND ready_time <= ?"
            params.append(ready_to.timestamp())
        if now is not None:
            sql += " AND (expiration_time IS NULL OR expiration_time > ?)"
            params.append(now.timestamp())
        sql += " ORDER BY ready_time, id"
        with self.store._read() as db:
            return [_file(r) for r in db.exec_driver_sql(self._q(sql), tuple(params)).all()]

    def file(self, file_id: str) -> PmFile:
        """One file's metadata; raises NotFound."""
        _check_id(file_id, "PM file")
        sql = self._q(f"SELECT {_FILE_COLUMNS} FROM pm_file WHERE id = ?")
        with self.store._read() as db:
            row = db.exec_driver_sql(sql, (file_id,)).first()
        if row is None:
            raise NotFound(f"no PM file {file_id!r}")
        return _file(row)

    def file_content(self, file_id: str) -> tuple[PmFile, bytes]:
        """One file's metadata and bytes; raises NotFound."""
        _check_id(file_id, "PM file")
        sql = self._q(f"SELECT {_FILE_COLUMNS}, content FROM pm_file WHERE id = ?")
        with self.store._read() as db:
            row = db.exec_driver_sql(sql, (file_id,)).first()
        if row is None:
            raise NotFound(f"no PM file {file_id!r}")
        return _file(row[:10]), bytes(row[10])

    # -- job reports (the files feed) ---------------------------------------------------------

    def add_report(self, report: PmReport, content: bytes | None = None) -> PmReport | None:
        """Record a job's report of a period (and its file) under the next sequence number.

        One transaction: the file, the report and the new head, or nothing. A period the job
        already reported is not reported again: the answer is then None.
        """
        meta = report.file
        if (meta is None) != (content is None):
            raise BadRequest("a report has both a file and its content, or neither")
        if meta is not None and content is not None and meta.size != len(content):
            raise BadRequest(f"file {meta.id}: size {meta.size} is not the content's {len(content)} bytes")
        lock = " FOR UPDATE" if self.store.postgres else ""
        with self.store._transaction() as db:
            # The head row serialises reporters (several processes may share a PostgreSQL store), so
            # sequence numbers become visible in their order and a period is recorded once.
            seq = (
                int(db.exec_driver_sql(self._q("SELECT seq FROM pm_report_head WHERE id = 0" + lock)).scalar_one()) + 1
            )
            done = db.exec_driver_sql(
                self._q("SELECT 1 FROM pm_report WHERE job = ? AND end_time = ?"), (report.job, report.end.timestamp())
            ).first()
            if done is not None:
                return None
            if meta is not None and content is not None:
                self._insert_file(db, meta, content)
            db.exec_driver_sql(
                self._q(f"INSERT INTO pm_report ({_REPORT_COLUMNS}) VALUES ({', '.join(['?'] * 11)})"),
                (
                    seq,
                    report.job,
                    report.begin.timestamp(),
                    report.end.timestamp(),
                    report.ntype,
                    report.dn,
                    report.cls,
                    report.ready_time.timestamp(),
                    report.text,
                    report.job_id,
                    meta.id if meta is not None else None,
                ),
            )
            db.exec_driver_sql(self._q("UPDATE pm_report_head SET seq = ? WHERE id = 0"), (seq,))
        return replace(report, seq=seq)

    def report_head(self) -> int:
        """The sequence number of the newest report (0 before the first)."""
        with self.store._read() as db:
            return int(db.exec_driver_sql(self._q("SELECT seq FROM pm_report_head WHERE id = 0")).scalar_one())

    def reports(self, *, after: int = 0, limit: int = 100) -> list[PmReport]:
        """Up to ``limit`` reports after sequence number ``after``, oldest first, with their files."""
        files = ", ".join(f"f.{c.strip()}" for c in _FILE_COLUMNS.split(","))
        sql = self._q(
            f"SELECT {', '.join('r.' + c.strip() for c in _REPORT_COLUMNS.split(','))}, {files}"
            " FROM pm_report r LEFT JOIN pm_file f ON f.id = r.file_id WHERE r.seq > ? ORDER BY r.seq LIMIT ?"
        )
        with self.store._read() as db:
            rows = db.exec_driver_sql(sql, (after, limit)).all()
        out = []
        for row in rows:
            seq, job, begin, end, ntype, dn, cls, ready, text, job_id, _ = row[:11]
            meta = _file(row[11:]) if row[11] is not None else None
            out.append(
                PmReport(job, utc_of(begin), utc_of(end), ntype, dn, cls, utc_of(ready), text, job_id, meta, seq)
            )
        return out

    def last_reported(self) -> dict[str, datetime]:
        """The end of the newest period each job reported, by job key."""
        sql = "SELECT job, MAX(end_time) FROM pm_report GROUP BY job"
        with self.store._read() as db:
            return {job: utc_of(end) for job, end in db.exec_driver_sql(self._q(sql)).all()}

    # -- measurement jobs (TS 28.550) ----------------------------------------------------------

    def add_job(self, job_id: str, body: dict[str, Any], *, created: float) -> None:
        """Record a measurement job; an existing id is an error."""
        with self.store._transaction() as db:
            if db.exec_driver_sql(self._q("SELECT 1 FROM pm_job WHERE id = ?"), (job_id,)).first() is not None:
                raise AlreadyExists(f"measurement job {job_id} exists")
            sql = self._q("INSERT INTO pm_job (id, created, body) VALUES (?, ?, ?)")
            db.exec_driver_sql(sql, (job_id, created, json.dumps(body)))

    def jobs(self, job_ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Jobs by id (all when ``job_ids`` is None), oldest first."""
        with self.store._read() as db:
            rows = db.exec_driver_sql(self._q("SELECT id, body FROM pm_job ORDER BY created, id")).all()
        wanted = None if job_ids is None else set(job_ids)
        return {i: json.loads(b) for i, b in rows if wanted is None or i in wanted}

    def job_records(self) -> dict[str, tuple[float, dict[str, Any]]]:
        """Every job's (creation time, body) by id, oldest first."""
        with self.store._read() as db:
            rows = db.exec_driver_sql(self._q("SELECT id, created, body FROM pm_job ORDER BY created, id")).all()
        return {i: (float(c), json.loads(b)) for i, c, b in rows}

    def delete_job(self, job_id: str) -> None:
        """Delete a job; raises NotFound."""
        _check_id(job_id, "measurement job")
        with self.store._transaction() as db:
            if db.exec_driver_sql(self._q("SELECT 1 FROM pm_job WHERE id = ?"), (job_id,)).first() is None:
                raise NotFound(f"no measurement job {job_id!r}")
            db.exec_driver_sql(self._q("DELETE FROM pm_job WHERE id = ?"), (job_id,))


def _check_id(value: str, what: str) -> None:
    # No id the twin hands out holds a NUL, and PostgreSQL text cannot hold one at all.
    if "\x00" in value:
        raise NotFound(f"no {what} {value!r}")


def _levels(scope: Scope, level: int) -> tuple[int, int | None]:
    if scope is Scope.BASE_SUBTREE and level == 0:
        return 0, None  # BASE_SUBTREE without a level: the whole subtree
    return scope.levels(level)


def _row(m: Measurement) -> tuple[Any, ...]:
    vals = json.dumps(list(m.values)) if m.values is not None else None
    return (to_key(m.dn), m.mtype, m.period, m.end.timestamp(), m.value, vals, 1 if m.suspect else 0)


def _file(row: Sequence[Any]) -> PmFile:
    fid, dtype, ready, expires, begin, end, period, fmt, compression, size = row
    return PmFile(
        fid,
        dtype,
        utc_of(ready),
        utc_of(expires) if expires is not None else None,
        utc_of(begin),
        utc_of(end),
        period,
        fmt,
        compression,
        size,
    )

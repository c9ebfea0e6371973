"""The alarm list in the twin's database: every version of every alarm, readable as of any past point.

Every change of the alarm list (a raise, change, clear, acknowledgement, comment...) gets the
next number of one sequence, its *alarm sequence*, recorded with its time in ``alarm_change``.
``alarm_version`` holds one row per version of an alarm, valid from the sequence that wrote it
until the one that replaced it (``seq_to`` NULL: current), like the NRM's ``moi`` table, so an
as-of read is ``seq_from <= S and (seq_to is null or seq_to > S)`` and the version history of
an alarm is a primary-key range. Objects are keyed by their DN in store-key form (see
``mns.nrm.dn``), so the alarms of a subtree (``baseObjectInstance``) are one key range.

Writes go through the NRM store's write transaction (on SQLite its single writer and lock) and
lock the ``alarm_head`` row first (on PostgreSQL ``FOR UPDATE``), so alarm writes are serialised
and sequence numbers are dense. Change times never go backwards, so "as of time T" is the
newest sequence at or before T.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
import sqlalchemy as sa

from mns.errors import BadRequest, NotFound
from mns.fault.events import AlarmEvent, AlarmEventKind
from mns.fault.model import AlarmAckState, AlarmRecord, PerceivedSeverity
from mns.nrm.dn import SEP_NEXT, to_key
from mns.store.api import AsOf, utc
from mns.store.db import Db, create_tables
from mns.store.schema import metadata
from mns.store.sql import SqlStore

_Path = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

alarm_head = sa.Table(
    "alarm_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("time", sa.Float, nullable=False),
)

alarm_change = sa.Table(
    "alarm_change",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("alarm_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Index("ix_alarm_change_time", "time", "seq"),
)

alarm_version = sa.Table(
    "alarm_version",
    metadata,
    sa.Column("alarm_id", sa.Text, primary_key=True),
    sa.Column("seq_from", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq_to", sa.Integer, nullable=True),
    sa.Column("first_seq", sa.Integer, nullable=False),
    sa.Column("path", _Path, nullable=False),
    sa.Column("identity", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False),
    sa.Column("ack_state", sa.Text, nullable=False),
    sa.Column("listed", sa.SmallInteger, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    # At most one active alarm per identity: raising it again changes it.
    sa.Index(
        "ux_alarm_active",
        "path",
        "identity",
        unique=True,
        sqlite_where=sa.text("seq_to IS NULL AND severity <> 'CLEARED'"),
        postgresql_where=sa.text("seq_to IS NULL AND severity <> 'CLEARED'"),
    ),
    sa.Index(
        "ix_alarm_listed",
        "path",
        sqlite_where=sa.text("seq_to IS NULL AND listed = 1"),
        postgresql_where=sa.text("seq_to IS NULL AND listed = 1"),
    ),
    sa.Index("ix_alarm_version_path", "path", "seq_from"),
    sa.Index(
        "ix_alarm_version_seq_to",
        "seq_to",
        sqlite_where=sa.text("seq_to IS NOT NULL"),
        postgresql_where=sa.text("seq_to IS NOT NULL"),
    ),
)

TABLES: Final = (alarm_head, alarm_change, alarm_version)

_ACK_SQL: Final = {
    AlarmAckState.ALL_ALARMS: "",
    AlarmAckState.ALL_ACTIVE_ALARMS: " AND severity <> 'CLEARED'",
    AlarmAckState.ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS: " AND severity <> 'CLEARED' AND ack_state = 'ACKNOWLEDGED'",
    AlarmAckState.ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS: " AND severity <> 'CLEARED' AND ack_state = 'UNACKNOWLEDGED'",
    AlarmAckState.ALL_CLEARED_AND_UNACKNOWLEDGED_ALARMS: " AND severity = 'CLEARED' AND ack_state = 'UNACKNOWLEDGED'",
    AlarmAckState.ALL_UNACKNOWLEDGED_ALARMS: " AND ack_state = 'UNACKNOWLEDGED'",
}
_COLUMNS: Final = "alarm_id, seq_from, seq_to, first_seq, path, identity, severity, ack_state, listed, record"


def identity_key(record: AlarmRecord) -> str:
    """The alarm's identity besides its object, as stored: JSON keeps ``5`` and ``"5"`` apart."""
    _, alarm_type, cause, problem = record.identity
    return orjson.dumps([alarm_type, cause, problem]).decode()


@dataclass(frozen=True, slots=True)
class AlarmVersion:
    """One version of an alarm: valid from sequence ``seq`` until ``until`` (None: current)."""

    seq: int
    until: int | None
    time: datetime
    kind: AlarmEventKind
    source: str
    author: str
    record: AlarmRecord


@dataclass
class AlarmTxn:
    """The alarm list inside one write transaction; ``put`` records a change."""

    alarms: AlarmStore
    db: Db
    seq: int
    now: float
    events: list[AlarmEvent] = field(default_factory=list)

    def get(self, alarm_id: str) -> AlarmRecord | None:
        """The current version of an alarm (also one no longer listed), or None."""
        return self.alarms._current(self.db, alarm_id)

    def find_active(self, record: AlarmRecord) -> AlarmRecord | None:
        """The active alarm with the identity of ``record``, or None."""
        row = self.db.exec_driver_sql(
            self.alarms.q(
                "SELECT alarm_id, record FROM alarm_version WHERE path = ? AND identity = ?"
                " AND seq_to IS NULL AND severity <> 'CLEARED'"
            ),
            (to_key(record.object_instance), identity_key(record)),
        ).first()
        return AlarmRecord.from_json(row[0], orjson.loads(row[1])) if row else None

    def new_id(self) -> str:
        """An alarm id not used before: the next sequence number, suffixed if a mirror took it."""
        candidate, n = str(self.seq + 1), 0
        while self.get(candidate) is not None:
            n += 1
            candidate = f"{self.seq + 1}.{n}"
        return candidate

    def put(
        self,
        kind: AlarmEventKind,
        before: AlarmRecord | None,
        after: AlarmRecord,
        *,
        source: str,
        author: str,
    ) -> AlarmEvent:
        """Record ``after`` as the alarm's new version under the next sequence number."""
        self.seq += 1
        seq, q, db = self.seq, self.alarms.q, self.db
        first = seq
        if before is not None:
            row = db.exec_driver_sql(
                q("SELECT first_seq FROM alarm_version WHERE alarm_id = ? AND seq_to IS NULL"), (after.alarm_id,)
            ).first()
            first = int(row[0])
            db.exec_driver_sql(
                q("UPDATE alarm_version SET seq_to = ? WHERE alarm_id = ? AND seq_to IS NULL"), (seq, after.alarm_id)
            )
        db.exec_driver_sql(
            q(f"INSERT INTO alarm_version ({_COLUMNS}) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)"),
            (
                after.alarm_id,
                seq,
                first,
                to_key(after.object_instance),
                identity_key(after),
                after.perceived_severity.value,
                after.ack_state.value,
                1 if after.listed else 0,
                orjson.dumps(after.to_json()).decode(),
            ),
        )
        db.exec_driver_sql(
            q("INSERT INTO alarm_change (seq, time, alarm_id, kind, source, author) VALUES (?, ?, ?, ?, ?, ?)"),
            (seq, self.now, after.alarm_id, kind.value, source, author),
        )
        event = AlarmEvent(kind, after.alarm_id, before, after, utc(self.now), seq, source, author)
        self.events.append(event)
        return event


_stores: weakref.WeakKeyDictionary[SqlStore, AlarmStore] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


class AlarmStore:
    """The alarm tables of one twin store (created if missing)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        create_tables(store.engine, TABLES)
        with store._transaction() as db:
            if db.exec_driver_sql(store._q("SELECT seq FROM alarm_head WHERE id = 0")).first() is None:
                db.exec_driver_sql(store._q("INSERT INTO alarm_head (id, seq, time) VALUES (0, 0, 0)"))

    @classmethod
    def of(cls, store: SqlStore) -> AlarmStore:
        """The alarm store of ``store``, made once per store object."""
        with _stores_lock:
            alarms = _stores.get(store)
            if alarms is None:
                alarms = _stores[store] = cls(store)
            return alarms

    def q(self, sql: str) -> str:
        """Driver SQL from '?' placeholders."""
        return self.store._q(sql)

    # -- reads ------------------------------------------------------------------------------

    def head(self) -> int:
        """The newest alarm sequence number (0 before the first change)."""
        with self.store._read() as db:
            return self._head(db)

    def _head(self, db: Db) -> int:
        return int(db.exec_driver_sql(self.q("SELECT seq FROM alarm_head WHERE id = 0")).first()[0])

    def resolve(self, as_of: AsOf) -> int:
        """The sequence number an as-of value denotes (a sequence number, or the newest at a time)."""
        with self.store._read() as db:
            return self._resolve(db, as_of)

    def _resolve(self, db: Db, as_of: AsOf) -> int:
        head = self._head(db)
        if as_of is None:
            return head
        if isinstance(as_of, datetime):
            if as_of.tzinfo is None:
                raise BadRequest(f"time {as_of.isoformat()} has no time zone")
            # One index seek: times never go backwards, so the latest time is the latest change.
            row = db.exec_driver_sql(
                self.q("SELECT seq FROM alarm_change WHERE time <= ? ORDER BY time DESC, seq DESC LIMIT 1"),
                (as_of.timestamp(),),
            ).first()
            return min(int(row[0]), head) if row else 0
        if isinstance(as_of, bool) or not isinstance(as_of, int) or as_of < 0:
            raise BadRequest(f"alarm sequence {as_of!r} is not a non-negative integer")
        if as_of > head:
            raise NotFound(f"alarm sequence {as_of} does not exist (the newest is {head})")
        return as_of

    def _current(self, db: Db, alarm_id: str) -> AlarmRecord | None:
        row = db.exec_driver_sql(
            self.q("SELECT record FROM alarm_version WHERE alarm_id = ? AND seq_to IS NULL"), (alarm_id,)
        ).first()
        return AlarmRecord.from_json(alarm_id, orjson.loads(row[0])) if row else None

    def get(self, alarm_id: str) -> AlarmRecord | None:
        """The current version of an alarm (also one no longer listed), or None."""
        with self.store._read() as db:
            return self._current(db, alarm_id)

    def rows(
        self,
        *,
        as_of: AsOf = None,
        ack_state: AlarmAckState = AlarmAckState.ALL_ALARMS,
        base: str | None = None,
    ) -> tuple[int, list[tuple[str, str, str]]]:
        """(sequence read, [(alarm id, severity, record JSON)...]) of the listed alarms, oldest first."""
        with self.store._read() as db:
            seq = self._resolve(db, as_of)
            sql, params = _listed("alarm_id, severity, record, first_seq", seq, ack_state, base)
            found = db.exec_driver_sql(self.q(sql + " ORDER BY first_seq"), params).all()
        return seq, [(r[0], r[1], r[2]) for r in found]

    def list_json(
        self,
        *,
        as_of: AsOf = None,
        ack_state: AlarmAckState = AlarmAckState.ALL_ALARMS,
        base: str | None = None,
        keep: Callable[[str, str], bool] | None = None,
    ) -> tuple[int, bytes]:
        """(sequence read, the JSON map alarm id -> record) of the listed alarms ``keep(id, record JSON)`` accepts.

        Written from the cursor into one buffer: a big alarm list is held about twice (the
        buffer and the answer), never as rows, parts and answer at once.
        """
        buf = bytearray(b"{")
        with self.store._read() as db:
            seq = self._resolve(db, as_of)
            sql, params = _listed("alarm_id, record, first_seq", seq, ack_state, base)
            for alarm_id, text, _ in db.exec_driver_sql(self.q(sql + " ORDER BY first_seq"), params):
                if keep is not None and not keep(alarm_id, text):
                    continue
                if len(buf) > 1:
                    buf += b","
                buf += orjson.dumps(alarm_id)
                buf += b":"
                buf += text.encode()
        buf += b"}"
        return seq, bytes(buf)

    def counts(
        self,
        *,
        as_of: AsOf = None,
        ack_state: AlarmAckState = AlarmAckState.ALL_ALARMS,
        base: str | None = None,
    ) -> tuple[int, dict[PerceivedSeverity, int]]:
        """(sequence read, listed alarms per severity)."""
        with self.store._read() as db:
            seq = self._resolve(db, as_of)
            sql, params = _listed("severity", seq, ack_state, base)
            found = db.exec_driver_sql(
                self.q(f"SELECT severity, COUNT(*) FROM ({sql}) AS listed GROUP BY severity"), params
            ).all()
        return seq, {PerceivedSeverity(r[0]): int(r[1]) for r in found}

    def history(self, alarm_id: str) -> list[AlarmVersion]:
        """Every version of an alarm, oldest first; NotFound for an alarm that never existed."""
        with self.store._read() as db:
            found = db.exec_driver_sql(
                self.q(
                    "SELECT v.seq_from, v.seq_to, c.time, c.kind, c.source, c.author, v.record"
                    " FROM alarm_version v JOIN alarm_change c ON c.seq = v.seq_from"
                    " WHERE v.alarm_id = ? ORDER BY v.seq_from"
                ),
                (alarm_id,),
            ).all()
        if not found:
            raise NotFound(f"alarm {alarm_id} does not exist")
        return [
            AlarmVersion(r[0], r[1], utc(r[2]), AlarmEventKind(r[3]), r[4], r[5], _record(alarm_id, r[6]))
            for r in found
        ]

    # -- writes -----------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[AlarmTxn]:
        """A write transaction on the alarm list; rolled back on any exception."""
        store = self.store
        lock = " FOR UPDATE" if store.postgres else ""
        with store._transaction() as db:
            row = db.exec_driver_sql(store._q(f"SELECT seq, time FROM alarm_head WHERE id = 0{lock}")).first()
            head, last = int(row[0]), float(row[1])
            # Microseconds: a change's time read back as a datetime finds that very change.
            txn = AlarmTxn(self, db, head, round(max(time.time(), last), 6))
            yield txn
            if txn.seq != head:
                db.exec_driver_sql(store._q("UPDATE alarm_head SET seq = ?, time = ? WHERE id = 0"), (txn.seq, txn.now))


def _listed(columns: str, seq: int, ack_state: AlarmAckState, base: str | None) -> tuple[str, tuple[Any, ...]]:
    """SQL of the alarms listed as of ``seq``: the current rows, and the rows replaced after ``seq``.

    Two index scans (the listed current rows; the rows closed since ``seq``) instead of one
    test over every version ever written. Both are bounded by ``seq``: on PostgreSQL (read
    committed) each statement has its own snapshot, and the bound makes head and rows agree.
    """
    where, extra = _ACK_SQL[ack_state], tuple[str, ...]()
    if base is not None:
        key = to_key(base)
        where += " AND path >= ? AND path < ?"
        extra = (key, key + SEP_NEXT)
    sql = (
        f"SELECT {columns} FROM alarm_version WHERE seq_to IS NULL AND listed = 1 AND seq_from <= ?{where}"
        f" UNION ALL SELECT {columns} FROM alarm_version"
        f" WHERE seq_to > ? AND seq_to IS NOT NULL AND listed = 1 AND seq_from <= ?{where}"
    )
    return sql, (seq, *extra, seq, seq, *extra)


def _record(alarm_id: str, text: str) -> AlarmRecord:
    return AlarmRecord.from_json(alarm_id, orjson.loads(text))

"""Connections of the store: SQLAlchemy on PostgreSQL, the driver itself on SQLite's hot paths.

Measured here, a pooled SQLAlchemy connection costs about 75 microseconds to check out,
begin and reset, and each statement through it about 15; the same single-object read
through the sqlite3 module costs about 9 in all. A ProvMnS GET or PATCH is a few
statements, so on SQLite the store talks to the driver directly: one writer connection (all
writes are serialised anyway) and a pool of reader connections, each transaction begun
explicitly (``BEGIN`` gives a read its WAL snapshot, ``BEGIN IMMEDIATE`` takes the write
lock up front). The schema, PostgreSQL and the rare operations stay on SQLAlchemy Core.

``Db`` is the small part of SQLAlchemy's ``Connection`` interface the store uses; ``SqliteDb``
offers the same over a ``sqlite3.Connection``.
"""

from __future__ import annotations

import itertools
import queue
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

CACHE_KIB = -65536
"""SQLite page cache of the writer: 64 MiB (a negative cache_size counts KiB)."""

READER_CACHE_KIB = -16384
"""SQLite page cache of each pooled reader: 16 MiB; there is one reader per concurrent read."""


class Db(Protocol):
    """The statements interface of a connection inside a transaction."""

    def exec_driver_sql(self, statement: str, parameters: Any = ..., execution_options: Any = ...) -> Any:
        """Run one statement in the driver's parameter style; the result has first()/all()."""
        ...

    def begin_nested(self) -> Any:
        """A savepoint with rollback() and commit()."""
        ...

    @property
    def connection(self) -> Any:
        """The pool's wrapper; ``.dbapi_connection`` is the driver connection."""
        ...


class _Result:
    __slots__ = ("cur",)

    def __init__(self, cur: sqlite3.Cursor) -> None:
        self.cur = cur

    def first(self) -> Any:
        return self.cur.fetchone()

    def all(self) -> list[Any]:
        return self.cur.fetchall()

    def scalar_one(self) -> Any:
        row = self.cur.fetchone()
        if row is None:
            raise LookupError("the query returned no row")
        return row[0]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.cur)


class _Savepoint:
    _names = itertools.count()

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self.name = f"mns_sp_{next(self._names)}"
        raw.execute(f"SAVEPOINT {self.name}")

    def rollback(self) -> None:
        self.raw.execute(f"ROLLBACK TO {self.name}")
        self.raw.execute(f"RELEASE {self.name}")

    def commit(self) -> None:
        self.raw.execute(f"RELEASE {self.name}")


class SqliteDb:
    """``Db`` over a sqlite3 connection in autocommit mode, inside an explicit transaction."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self._connection = SimpleNamespace(dbapi_connection=raw)

    def exec_driver_sql(self, statement: str, parameters: Any = (), execution_options: Any = None) -> _Result:
        """Run one statement with '?' parameters."""
        return _Result(self.raw.execute(statement, parameters))

    def begin_nested(self) -> _Savepoint:
        """A savepoint."""
        return _Savepoint(self.raw)

    @property
    def connection(self) -> Any:
        """Mimics SQLAlchemy's ``Connection.connection``."""
        return self._connection


SYNC_MODES = ("full", "normal")
"""SQLite durability: ``full`` syncs the log at every commit, so nothing acknowledged is lost
even on power loss; ``normal`` leaves that to checkpoints, so a crash of the machine (not of
the twin) may lose the newest commits, and small writes are faster."""


def connect_sqlite(path: str, *, readonly: bool, sync: str = "full") -> sqlite3.Connection:
    """A driver connection with the store's settings, transactions left to the caller."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {'NORMAL' if sync == 'normal' else 'FULL'}")
    conn.execute(f"PRAGMA cache_size = {READER_CACHE_KIB if readonly else CACHE_KIB}")
    conn.execute("PRAGMA temp_store = MEMORY")
    if readonly:
        conn.execute("PRAGMA query_only = 1")
    return conn


CHECKPOINT_COMMITS = 256
"""Commits after which the background checkpointer is woken (it also runs every second)."""


class SqlitePool:
    """One writer connection, a pool of readers, and a background checkpointer for a SQLite file.

    SQLite's automatic checkpoint runs inside the commit that crosses its threshold, copying
    the WAL into the database file (and syncing it) while the writer waits: a tenth of the
    write path's time here. The writer turns it off and a thread of its own checkpoints
    instead (PASSIVE: it never blocks readers or the writer).
    """

    def __init__(self, path: str, *, sync: str = "full") -> None:
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {', '.join(SYNC_MODES)}, not {sync!r}")
        self.path = path
        self.sync = sync
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self.write_lock = threading.Lock()
        self._commits = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None

    def _checkpoint_loop(self) -> None:
        conn = connect_sqlite(self.path, readonly=False, sync=self.sync)
        try:
            while not self._stop.is_set():
                self._wake.wait(1.0)
                self._wake.clear()
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def _reader(self) -> sqlite3.Connection:
        try:
            return self._readers.get_nowait()
        except queue.Empty:
            conn = connect_sqlite(self.path, readonly=True)
            with self._lock:
                self._all.append(conn)
            return conn

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A reader connection in autocommit mode: each statement is one snapshot."""
        conn = self._reader()
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._readers.put(conn)

    @contextmanager
    def read(self) -> Iterator[SqliteDb]:
        """A read transaction: every statement in it sees one snapshot."""
        with self.reader() as conn:
            conn.execute("BEGIN")
            try:
                yield SqliteDb(conn)
            finally:
                conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[SqliteDb]:
        """The write transaction: the process's write lock, then SQLite's (BEGIN IMMEDIATE)."""
        with self.write_lock:
            if self._writer is None:
                self._writer = connect_sqlite(self.path, readonly=False, sync=self.sync)
                self._writer.execute("PRAGMA wal_autocheckpoint = 0")
                with self._lock:
                    self._all.append(self._writer)
                self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="mns-checkpoint", daemon=True)
                self._checkpointer.start()
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteDb(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self._commits += 1
            if self._commits % CHECKPOINT_COMMITS == 0:
                self._wake.set()

    def close(self) -> None:
        """Stop the checkpointer, checkpoint what is left, close every connection."""
        if self._checkpointer is not None:
            self._stop.set()
            self._wake.set()
            self._checkpointer.join(10)
            self._checkpointer = None
        if self._writer is not None:
            with self.write_lock:
                self._writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._writer = None


def make_engine(url: str, *, echo: bool) -> Engine:
    """The SQLAlchemy engine for a SQLite file path or a postgresql:// URL."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return sa.create_engine(url, echo=echo, pool_size=8, max_overflow=16, pool_pre_ping=True)
    sqlite_url = url if url.startswith("sqlite://") else f"sqlite:///{url}"
    engine = sa.create_engine(
        sqlite_url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": 60},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin() emit BEGIN itself (the driver's implicit BEGIN is off),
        # so that reads are snapshot transactions and writes take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.execute(f"PRAGMA cache_size={CACHE_KIB}")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_tables(engine: Engine, tables: Iterable[sa.Table]) -> None:
    """Create those of ``tables`` that do not exist yet.

    The modules beside the store (alarms, PM, notifications, the mirror...) make their tables on
    first use. On SQLite the check-then-create must hold the write lock from its start: a check
    (a read) that turns into a CREATE fails at once when another writer committed in between.
    """
    wanted = list(tables)
    inspector = sa.inspect(engine)
    if all(inspector.has_table(t.name) for t in wanted):
        return
    with engine.connect().execution_options(immediate=True) as conn, conn.begin():
        for table in wanted:
            table.create(conn, checkfirst=True)

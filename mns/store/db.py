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
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Protocol

CACHE_KIB = -65536
"""SQLite page cache per connection: 64 MiB (a negative cache_size counts KiB)."""

MMAP_BYTES = 1 << 30
"""SQLite reads through a memory map of up to 1 GiB: page reads without a system call."""


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


def connect_sqlite(path: str, *, readonly: bool) -> sqlite3.Connection:
    """A driver connection with the store's settings, transactions left to the caller."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = {CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    conn.execute("PRAGMA temp_store = MEMORY")
    if readonly:
        conn.execute("PRAGMA query_only = 1")
    return conn


class SqlitePool:
    """One writer connection and a pool of readers for a SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self.write_lock = threading.Lock()

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
                self._writer = connect_sqlite(self.path, readonly=False)
                with self._lock:
                    self._all.append(self._writer)
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteDb(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._writer = None

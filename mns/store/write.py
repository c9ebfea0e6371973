"""The write path of the SQL store: one commit's operations inside its transaction.

Creates on the live twin go in batches (validation in Python, then one executemany or COPY
whose driver work overlaps the validation of the next batch); every other operation reads
the object's current version, checks If-Match, validates, closes the old version and adds
the new one. Domain errors name the object and the rule; the caller rolls back.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from mns.errors import (
    AlreadyExists,
    BadRequest,
    HasChildren,
    InvalidObject,
    MnsError,
    NotFound,
    ParentMissing,
    PreconditionFailed,
)
from mns.gcpause import cyclic_gc_paused
from mns.nrm import class_rules
from mns.nrm.dn import SEP_NEXT, key_class, key_depth, key_to_dn, parent_key, to_key
from mns.store.api import (
    LIVE,
    PRODUCER_SOURCES,
    SOURCES,
    CommitJob,
    CommitResult,
    Create,
    Delete,
    Moi,
    Op,
    Put,
    Revision,
    Update,
    utc,
)
from mns.store.db import CACHE_KIB, Db

if TYPE_CHECKING:
    from mns.store.sql import SqlStore

MAX_FINDINGS_KEPT = 1000
"""DNs whose non-blocking findings a commit result keeps (the count is always exact)."""

BULK_CACHE_KIB = -16384
"""SQLite page cache of the writer during a bulk load: 16 MiB (its inserts come in key order)."""

BATCH = 2000
"""Rows per executemany/COPY batch of a bulk create."""


class ObjectValidator(Protocol):
    """What the store needs of a validator (``mns.nrm.validate.Validator`` fits)."""

    def validate(
        self,
        dn: str,
        cls: str,
        attrs: Mapping[str, Any],
        *,
        parent_cls: str | None,
        strict: bool = False,
        writer: str = "real",
        previous: Mapping[str, Any] | None = None,
    ) -> Sequence[Any]:
        """Findings for one object; each has ``severity`` error, warning or info."""
        ...


def _dumps(dn: str, attrs: Mapping[str, Any]) -> str:
    try:
        return orjson.dumps(attrs).decode()
    except TypeError as exc:
        raise BadRequest(f"{dn}: attribute values are not JSON: {exc}", dn=dn) from exc


@dataclass(slots=True)
class _Row:
    """A version row as the write path sees it."""

    rev_from: int
    cls: str
    attrs_json: str | None
    in_branch: bool

    @property
    def exists(self) -> bool:
        return self.attrs_json is not None

    @property
    def attrs(self) -> dict[str, Any]:
        return orjson.loads(self.attrs_json) if self.attrs_json is not None else {}


class _Writer:
    """Applies one commit's operations inside its transaction."""

    def __init__(
        self,
        store: SqlStore,
        conn: Db,
        branch: int,
        rev: int,
        base_rev: int,
        writer: str,
        result: CommitResult,
    ) -> None:
        self.s = store
        self.conn = conn
        self.branch = branch
        self.rev = rev
        self.base_rev = base_rev
        self.writer = writer
        self.result = result
        self.findings_total = 0
        self.parent_cls: dict[str, str] = {}
        self.seen: dict[str, _Row | None] = {}
        self.pending: tuple[Future[None], Any, list[tuple[Any, ...]]] | None = None
        self.keep_created = True
        validator = store.validator
        # Class rules concern management writes only: a producer's objects skip their wrapper.
        if writer == "real" and isinstance(validator, class_rules.ClassRules):
            validator = validator.inner
        self.validate = validator.validate

    def q(self, sql: str) -> str:
        return self.s._q(sql)

    def apply(self, ops: Iterable[Op]) -> None:
        batch: list[Create] = []
        for op in ops:
            if isinstance(op, Create) and self.branch == LIVE:
                batch.append(op)
                if len(batch) >= BATCH:
                    self.create_batch(batch)
                    batch = []
                continue
            if batch:
                self.create_batch(batch)
                batch = []
            self.flush()
            if isinstance(op, Create):
                self.create_one(op)
            elif isinstance(op, Put):
                self.put(op)
            elif isinstance(op, Update):
                self.update(op)
            elif isinstance(op, Delete):
                self.delete(op)
            else:
                raise BadRequest(f"unknown store operation {op!r}")
        if batch:
            self.create_batch(batch)
        self.flush()

    # validation -------------------------------------------------------------------------

    def check(
        self,
        key: str,
        cls: str,
        attrs: Mapping[str, Any],
        previous: Mapping[str, Any] | None,
        pkey: str | None = None,
        dn: str | None = None,
        *,
        batch: bool = False,
    ) -> None:
        if type(attrs) is not dict and not isinstance(attrs, Mapping):
            raise BadRequest(
                f"{key_to_dn(key)}: attributes must be an object, not {type(attrs).__name__}",
                dn=key_to_dn(key),
            )
        if pkey is None:
            pkey = parent_key(key)
        pcls = None
        if pkey is not None:
            pcls = self.parent_cls.get(pkey)
            if pcls is None:
                pcls = self.parent_cls[pkey] = key_class(pkey)
        if batch:  # create_batch has set the class rules' lookup for the whole batch
            findings = self.validate(
                dn or key_to_dn(key), cls, attrs, parent_cls=pcls, strict=self.s.strict, writer=self.writer
            )
        else:
            token = class_rules.lookup.set(self.exists_dn)
            try:
                findings = self.s.validator.validate(
                    dn or key_to_dn(key),
                    cls,
                    attrs,
                    parent_cls=pcls,
                    strict=self.s.strict,
                    writer=self.writer,
                    previous=previous,
                )
            finally:
                class_rules.lookup.reset(token)
        if not findings:
            return
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            raise InvalidObject(key_to_dn(key), errors)
        self.findings_total += 1
        if len(self.result.findings) < MAX_FINDINGS_KEPT:
            self.result.findings[key_to_dn(key)] = list(findings)

    # row access ---------------------------------------------------------------------------

    def current(self, key: str) -> _Row | None:
        """The object's current version in this branch's view (tombstones included).

        Remembered until the next write: a PATCH reads the object to plan, then writes it.
        """
        if key in self.seen:
            return self.seen[key]
        found = self._current(key)
        self.seen[key] = found
        return found

    def _current(self, key: str) -> _Row | None:
        row = self.conn.exec_driver_sql(
            self.q("SELECT rev_from, cls, attrs FROM moi WHERE branch = ? AND path = ? AND rev_to IS NULL"),
            (self.branch, key),
        ).first()
        if row is not None:
            return _Row(row[0], row[1], row[2], True)
        if self.branch == LIVE:
            return None
        base = self.s._version_at(self.conn, LIVE, key, self.base_rev)
        return _Row(base[2], base[0], base[1], False) if base else None

    def exists(self, key: str) -> bool:
        row = self.current(key)
        return row is not None and row.exists

    def exists_dn(self, dn: str) -> bool:
        """Whether the object ``dn`` exists in this transaction's view (for class rules)."""
        try:
            return self.exists(to_key(dn))
        except MnsError:
            return False

    def write_version(self, key: str, cls: str, attrs_json: str | None, old: _Row | None) -> None:
        self.seen.clear()
        if old is not None and old.in_branch and old.rev_from == self.rev:
            # Written earlier in this same commit: that version is replaced, not closed.
            keep_tombstone = self.branch != LIVE and self.base_has(key)
            if attrs_json is None and not keep_tombstone:
                sql = "DELETE FROM moi WHERE branch = ? AND path = ? AND rev_from = ?"
                self.conn.exec_driver_sql(self.q(sql), (self.branch, key, self.rev))
            else:
                sql = "UPDATE moi SET cls = ?, attrs = ? WHERE branch = ? AND path = ? AND rev_from = ?"
                self.conn.exec_driver_sql(self.q(sql), (cls, attrs_json, self.branch, key, self.rev))
            return
        if old is not None and old.in_branch:
            self.conn.exec_driver_sql(
                self.q("UPDATE moi SET rev_to = ? WHERE branch = ? AND path = ? AND rev_to IS NULL"),
                (self.rev, self.branch, key),
            )
        if attrs_json is None and (
            self.branch == LIVE or (old is not None and old.in_branch and not self.base_has(key))
        ):
            return  # a deletion: on the live twin closing the row is enough
        insert_rows(self.s, self.conn, [(self.branch, key, self.rev, None, key_depth(key), cls, attrs_json)])

    def base_has(self, key: str) -> bool:
        return self.s._version_at(self.conn, LIVE, key, self.base_rev) is not None

    def check_if_match(self, key: str, if_match: str | None, row: _Row | None) -> None:
        if if_match is None:
            return
        tags = {t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")}
        if "*" in tags and row is not None and row.exists:
            return
        current = str(row.rev_from) if row is not None and row.exists else None
        if current not in tags:
            raise PreconditionFailed(
                f"{key_to_dn(key)}: If-Match {if_match} does not match the current ETag {current or '(none: absent)'}",
                dn=key_to_dn(key),
                current=current,
            )

    def check_parent(self, key: str) -> None:
        pkey = parent_key(key)
        if pkey is not None and not self.exists(pkey):
            raise ParentMissing(f"{key_to_dn(key)}: parent {key_to_dn(pkey)} does not exist", dn=key_to_dn(key))

    # operations ---------------------------------------------------------------------------

    def create_batch(self, ops: list[Create]) -> None:
        """Bulk create on the live twin: validation in Python, one executemany or COPY."""
        rows: list[tuple[Any, ...]] = []
        keys: set[str] = set()
        parents: set[str] = set()
        rev = self.rev
        token = class_rules.lookup.set(None)  # the rules of a bulk create do not look into the store
        try:
            for op in ops:
                key = to_key(op.dn)
                cls = key_class(key)
                if op.cls is not None and op.cls != cls:
                    raise BadRequest(
                        f"{key_to_dn(key)}: class {op.cls} does not match the DN's class {cls}",
                        dn=key_to_dn(key),
                    )
                pkey = parent_key(key)
                self.check(key, cls, op.attrs, None, pkey, op.dn, batch=True)
                if key in keys:
                    raise AlreadyExists(f"{key_to_dn(key)} is created twice in this change set", dn=key_to_dn(key))
                keys.add(key)
                if pkey is not None and pkey not in keys:
                    parents.add(pkey)
                rows.append((LIVE, key, rev, None, key_depth(key), cls, _dumps(key, op.attrs)))
        finally:
            class_rules.lookup.reset(token)
        # Python work on this batch overlapped the insert of the previous one; from here on
        # the connection is needed, so that insert must be done.
        self.flush()
        if parents:
            missing = parents - exists_live(self.s, self.conn, sorted(parents))
            if missing:
                orphan = next(k for k in (r[1] for r in rows) if parent_key(k) in missing)
                raise ParentMissing(
                    f"{key_to_dn(orphan)}: parent {key_to_dn(parent_key(orphan) or '')} does not exist",
                    dn=key_to_dn(orphan),
                )
        # Duplicates of existing objects surface as a unique-index violation; a savepoint lets
        # us find and name the object without a lookup per row on the fast path.
        self.seen.clear()
        savepoint = self.conn.begin_nested()
        if len(rows) < BATCH:
            self.pending = (_done(insert_rows, self.s, self.conn, rows), savepoint, rows)
        else:
            # The driver releases the GIL while it inserts, so a full batch goes to the
            # inserter thread and the next batch is prepared meanwhile.
            future = self.s._inserter.submit(insert_rows, self.s, self.conn, rows)
            self.pending = (future, savepoint, rows)

    def settle(self) -> None:
        """On the way out, never leave an insert running on a connection being rolled back."""
        if self.pending is not None:
            try:
                self.pending[0].result()
            except Exception:  # the error that got us here is the one to report
                self.pending = None

    def flush(self) -> None:
        """Wait for the batch being inserted; name the object if it was a duplicate."""
        if self.pending is None:
            return
        future, savepoint, rows = self.pending
        self.pending = None
        try:
            future.result()
        except Exception as exc:
            savepoint.rollback()
            if _is_unique_violation(exc):
                self.name_duplicate(rows)
            raise
        savepoint.commit()
        self.result.created_count += len(rows)
        if self.keep_created:
            self.result.created.extend(key_to_dn(r[1]) for r in rows)

    def name_duplicate(self, rows: Sequence[tuple[Any, ...]]) -> None:
        for row in rows:
            cur = self.current(row[1])
            if cur is not None and cur.exists:
                where = "in this change set" if cur.rev_from == self.rev else "already"
                raise AlreadyExists(f"{key_to_dn(row[1])} exists {where}", dn=key_to_dn(row[1]))

    def create_one(self, op: Create) -> None:
        key = to_key(op.dn)
        cls = key_class(key)
        if op.cls is not None and op.cls != cls:
            raise BadRequest(
                f"{key_to_dn(key)}: class {op.cls} does not match the DN's class {cls}",
                dn=key_to_dn(key),
            )
        old = self.current(key)
        if old is not None and old.exists:
            raise AlreadyExists(f"{key_to_dn(key)} already exists", dn=key_to_dn(key))
        self.check_parent(key)
        self.check(key, cls, op.attrs, None)
        self.write_version(key, cls, _dumps(key, op.attrs), old)
        self.result.created_count += 1
        if self.keep_created:
            self.result.created.append(key_to_dn(key))

    def put(self, op: Put) -> None:
        key = to_key(op.dn)
        old = self.current(key)
        self.check_if_match(key, op.if_match, old)
        if old is None or not old.exists:
            self.create_one(Create(key_to_dn(key), op.attrs))
            return
        attrs = dict(op.attrs)
        self.replace(key, old, attrs)

    def update(self, op: Update) -> None:
        key = to_key(op.dn)
        old = self.current(key)
        self.check_if_match(key, op.if_match, old)
        if old is None or not old.exists:
            raise NotFound(f"{key_to_dn(key)} does not exist", dn=key_to_dn(key))
        if not isinstance(op.attrs, Mapping):
            raise BadRequest(f"{key_to_dn(key)}: attributes must be an object", dn=key_to_dn(key))
        merged = old.attrs
        for name, value in op.attrs.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        self.replace(key, old, merged)

    def replace(self, key: str, old: _Row, attrs: dict[str, Any]) -> None:
        previous = old.attrs
        if attrs == previous:
            self.result.unchanged.append(key_to_dn(key))
            return
        self.check(key, old.cls, attrs, previous)
        self.write_version(key, old.cls, _dumps(key, attrs), old)
        self.result.replaced.append(key_to_dn(key))

    def delete(self, op: Delete) -> None:
        key = to_key(op.dn)
        old = self.current(key)
        self.check_if_match(key, op.if_match, old)
        if old is None or not old.exists:
            raise NotFound(f"{key_to_dn(key)} does not exist", dn=key_to_dn(key))
        below = list(self.s._range(self.conn, key, 1, None, self.branch, None))
        if below and not op.subtree:
            raise HasChildren(
                f"{key_to_dn(key)} has {len(below)} descendant(s), e.g. {below[0].dn}; delete the subtree explicitly",
                dn=key_to_dn(key),
            )
        self.seen.clear()
        if self.branch == LIVE:
            self.conn.exec_driver_sql(
                self.q("UPDATE moi SET rev_to = ? WHERE branch = 0 AND rev_to IS NULL AND path >= ? AND path < ?"),
                (self.rev, key, key + SEP_NEXT),
            )
        else:
            for moi in reversed(below):
                below_key = to_key(moi.dn)
                self.write_version(below_key, moi.cls, None, self.current(below_key))
            self.write_version(key, old.cls, None, old)
        self.result.deleted.extend([key_to_dn(key), *(m.dn for m in below)])


def _done(fn: Callable[..., None], *args: Any) -> Future[None]:
    """Run ``fn`` now and wrap its outcome as a finished future."""
    future: Future[None] = Future()
    try:
        fn(*args)
    except Exception as exc:
        future.set_exception(exc)
    else:
        future.set_result(None)
    return future


def _is_unique_violation(exc: Exception) -> bool:
    return type(exc).__name__ in (
        "UniqueViolation",
        "IntegrityError",
    ) or "UNIQUE constraint" in str(exc)


def commit_batch(store: SqlStore, jobs: Sequence[CommitJob]) -> list[CommitResult | MnsError]:
    """Commit several change sets in one transaction, each its own revision (group commit).

    A job that fails with a domain error is rolled back to its savepoint and its error is
    returned in its place; the others commit. The transaction's commit, the costly part
    of a small write, is paid once for the group.
    """
    for job in jobs:
        if job.source not in SOURCES and not re.fullmatch(r"sandbox:\d+", job.source):
            raise BadRequest(f"revision source {job.source!r} is not one of {', '.join(SOURCES)} or sandbox:<id>")
    outcomes: list[CommitResult | MnsError] = []
    with store._transaction() as conn:
        if len(jobs) == 1:
            # Alone, a failing job rolls back the whole transaction: no savepoint needed.
            outcomes.append(apply_job(store, conn, jobs[0]))
            return outcomes
        heads: dict[int, tuple[int, int | None, float]] = {}
        for job in jobs:
            savepoint = conn.begin_nested()
            try:
                outcomes.append(apply_job(store, conn, job, heads))
            except MnsError as exc:
                savepoint.rollback()
                outcomes.append(exc)
            else:
                savepoint.commit()
    return outcomes


def apply_job(
    store: SqlStore, conn: Db, job: CommitJob, heads: dict[int, tuple[int, int | None, float]] | None = None
) -> CommitResult:
    """One revision inside an open write transaction; raises a domain error on bad input.

    ``heads`` carries, between the jobs of one batch, each branch's head, base and newest
    revision time, which the batch's own commits keep up to date.
    """
    result = CommitResult(None)
    writer = "real" if job.source in PRODUCER_SOURCES else "oss"
    known = heads.get(job.branch) if heads is not None else None
    if known is not None:
        head, base_rev, last_time = known
    else:
        head, base_rev = store._lock_branch(conn, job.branch)
        last = conn.exec_driver_sql(
            store._q("SELECT time FROM revision WHERE branch = ? AND rev = ?"), (job.branch, head)
        ).first()
        last_time = last[0] if last else 0.0
    if job.expect_head is not None and head != job.expect_head:
        raise PreconditionFailed(f"branch {job.branch} is at revision {head}, not {job.expect_head}", current=str(head))
    if job.precheck:
        job.precheck(conn)
    w = _Writer(store, conn, job.branch, head + 1, base_rev or 0, writer, result)
    w.keep_created = not job.bulk
    ops = job.ops(View(store, conn, w)) if callable(job.ops) else job.ops
    small_cache = job.bulk and not store.postgres
    if small_cache:
        conn.exec_driver_sql(f"PRAGMA cache_size = {BULK_CACHE_KIB}")
    try:
        if job.bulk:
            with cyclic_gc_paused():
                w.apply(ops)
        else:
            w.apply(ops)
    finally:
        w.settle()
        if small_cache:
            conn.exec_driver_sql(f"PRAGMA cache_size = {CACHE_KIB}")
    if not (result.created_count or result.replaced or result.deleted):
        return result  # nothing changed: no revision
    # Revision times never go backwards (the clock may), so time -> revision is a binary
    # search over revision numbers.
    now = max(time.time(), last_time)
    conn.exec_driver_sql(
        store._q("INSERT INTO revision (branch, rev, time, source, author, message) VALUES (?, ?, ?, ?, ?, ?)"),
        (job.branch, head + 1, now, job.source, job.author, job.message),
    )
    result.revision = Revision(job.branch, head + 1, utc(now), job.source, job.author, job.message)
    if heads is not None:
        heads[job.branch] = (head + 1, base_rev, now)
    return result


def exists_live(store: SqlStore, conn: Db, keys: Sequence[str]) -> set[str]:
    """The keys among ``keys`` that are current objects of the live twin."""
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        marks = ",".join("?" * len(part))
        rows = conn.exec_driver_sql(
            store._q(f"SELECT path FROM moi WHERE branch = 0 AND rev_to IS NULL AND path IN ({marks})"),
            tuple(part),
        )
        found.update(r[0] for r in rows)
    return found


def insert_rows(store: SqlStore, conn: Db, rows: Sequence[tuple[Any, ...]]) -> None:
    raw = store._raw(conn)
    if store.postgres:
        with (
            raw.cursor() as cur,
            cur.copy("COPY moi (branch, path, rev_from, rev_to, depth, cls, attrs) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        # Multi-row VALUES statements, the parameters bound in C: SQLite then inserts with the
        # GIL released, so the insert overlaps the validation of the next batch. (executemany
        # takes the GIL back for every row; one JSON parameter read with json_each costs SQLite
        # half as much again, parsing every row's text once per column.) As few statements as
        # SQLite's bound on parameters allows: each takes the GIL back once, and a thread
        # waiting for it may wait a whole switch interval.
        per = max(1, raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 7)
        for i in range(0, len(rows), per):
            part = rows[i : i + per]
            raw.execute(_values_insert(len(part)), [x for row in part for x in row])


@lru_cache(maxsize=8)
def _values_insert(rows: int) -> str:
    marks = ",".join(["(?,?,?,?,?,?,?)"] * rows)
    return f"INSERT INTO moi (branch, path, rev_from, rev_to, depth, cls, attrs) VALUES {marks}"


class View:
    """``TxnView`` over an open write transaction."""

    def __init__(self, store: SqlStore, conn: Db, writer: _Writer) -> None:
        self.store = store
        self.conn = conn
        self.writer = writer

    def get(self, dn: str) -> Moi | None:
        """One object as the transaction sees it, or None."""
        key = to_key(dn)
        row = self.writer.current(key)
        if row is None or row.attrs_json is None:
            return None
        return Moi(key_to_dn(key), row.cls, row.rev_from, row.attrs_json)

    def subtree(self, dn: str) -> Iterator[Moi]:
        """The object and its descendants as the transaction sees them."""
        return self.store._range(self.conn, to_key(dn), 0, None, self.writer.branch, None)

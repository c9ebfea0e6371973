"""The SQL twin store: one implementation over SQLAlchemy Core for SQLite and PostgreSQL.

The schema is in ``mns.store.schema``. Statements on hot paths are plain driver SQL sent
through the SQLAlchemy connection (no ORM, no per-call compilation); bulk creates go through
the driver's ``executemany`` (SQLite) or ``COPY`` (PostgreSQL). Writes of a branch are
serialised: SQLite by ``BEGIN IMMEDIATE``, PostgreSQL by locking the branch row, so revision
numbers of a branch are dense and ordered.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from mns.errors import (
    BadRequest,
    MnsError,
    NotFound,
)
from mns.nrm.dn import SEP, SEP_NEXT, key_depth, key_to_dn, to_key
from mns.store import branches, schema
from mns.store.api import (
    LIVE,
    AsOf,
    Branch,
    Change,
    ChangeKind,
    CommitJob,
    CommitResult,
    Moi,
    Op,
    Revision,
    Scope,
    Version,
    utc,
)
from mns.store.db import Db, SqlitePool, make_engine
from mns.store.history import diff_branch, diff_live, reverse, versions
from mns.store.write import ObjectValidator, commit_batch

# A branch's head is the newest revision in the revision table (a seek on its primary key):
# keeping a counter in the branch row would cost every commit one more page write.
_HEAD = "(SELECT COALESCE(MAX(rev), 0) FROM revision WHERE branch = b.id)"
_ONE_CURRENT = (
    f"SELECT {_HEAD}, m.cls, m.attrs, m.rev_from FROM branch b"
    " LEFT JOIN moi m ON m.branch = b.id AND m.path = ? AND m.rev_to IS NULL WHERE b.id = 0"
)
_ONE_AT = (
    "SELECT cls, attrs, rev_from FROM moi WHERE branch = 0 AND path = ?"
    " AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?)"
)


class SqlStore:
    """The twin store on SQLite (default) or PostgreSQL; see ``mns.store.api.Store``."""

    def __init__(
        self,
        url: str,
        *,
        validator: ObjectValidator | None = None,
        strict: bool = False,
        echo: bool = False,
        sync: str = "full",
    ) -> None:
        self.url = url
        self.strict = strict
        self.sync = sync
        """SQLite's durability (``mns.store.db.SYNC_MODES``); PostgreSQL keeps its own."""
        if validator is None:
            from mns.nrm import class_rules
            from mns.nrm.registry import default_registry
            from mns.nrm.validate import Validator

            # Class rules beyond the registry's: a subscription's address, a PM job's metrics...
            class_rules.load()
            validator = class_rules.ClassRules(Validator(default_registry()))
        self.validator = validator
        self.engine = make_engine(url, echo=echo)
        self.postgres = self.engine.dialect.name == "postgresql"
        self._inserter = ThreadPoolExecutor(1, thread_name_prefix="mns-insert")
        self._cursors = 0
        database = self.engine.url.database
        if not self.postgres and database in (None, "", ":memory:"):
            raise BadRequest("the SQLite store needs a file (an in-memory database cannot be shared)")
        self._pool = SqlitePool(database, sync=sync) if not self.postgres and database else None
        schema.metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            if conn.exec_driver_sql(self._q("SELECT id FROM branch WHERE id = 0")).first() is None:
                conn.execute(
                    schema.branch.insert().values(
                        id=LIVE,
                        name="live",
                        base_rev=None,
                        created=time.time(),
                        author="",
                    )
                )
                conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))

    # -- plumbing ---------------------------------------------------------------------------

    def _q(self, sql: str) -> str:
        """Driver SQL from '?' placeholders."""
        return sql.replace("?", "%s") if self.postgres else sql

    def close(self) -> None:
        """Release connections."""
        self._inserter.shutdown()
        if self._pool is not None:
            self._pool.close()
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Db]:
        """A read transaction (one snapshot)."""
        if self._pool is not None:
            with self._pool.read() as db:
                yield db
            return
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[Db]:
        """A write transaction (SQLite: the process's writer and its lock, taken up front)."""
        if self._pool is not None:
            with self._pool.write() as db:
                yield db
            return
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self, branch: int) -> Iterator[tuple[Db, int, int | None]]:
        """A write transaction holding the branch's write lock: yields (db, head, base_rev)."""
        with self._transaction() as db:
            yield (db, *self._lock_branch(db, branch))

    def _lock_branch(self, db: Db, branch: int) -> tuple[int, int | None]:
        # SQLite's write lock is already held; PostgreSQL serialises a branch's writers here.
        sql = "SELECT base_rev FROM branch WHERE id = ?" + (" FOR UPDATE" if self.postgres else "")
        row = db.exec_driver_sql(self._q(sql), (branch,)).first()
        if row is None:
            raise NotFound(f"sandbox {branch} does not exist")
        return self._head(db, branch), row[0]

    def _raw(self, conn: Db) -> Any:
        return conn.connection.dbapi_connection

    # -- revisions --------------------------------------------------------------------------

    def head(self, branch: int = LIVE) -> int:
        """The newest revision number of the branch (0 before the first commit)."""
        if self._pool is not None:
            with self._pool.reader() as fast:
                row = fast.execute(f"SELECT {_HEAD} FROM branch b WHERE b.id = ?", (branch,)).fetchone()
            if row is None:
                raise NotFound(f"sandbox {branch} does not exist")
            return int(row[0])
        with self._read() as conn:
            return self._head(conn, branch)

    def _head(self, conn: Db, branch: int) -> int:
        row = conn.exec_driver_sql(self._q(f"SELECT {_HEAD} FROM branch b WHERE b.id = ?"), (branch,)).first()
        if row is None:
            raise NotFound(f"sandbox {branch} does not exist")
        return int(row[0])

    def resolve(self, as_of: AsOf, *, branch: int = LIVE) -> int:
        """The revision number an as-of value denotes."""
        with self._read() as conn:
            return self._resolve(conn, as_of, branch)

    def _resolve(self, conn: Db, as_of: AsOf, branch: int) -> int:
        head = self._head(conn, branch)
        if as_of is None:
            return head
        if isinstance(as_of, datetime):
            if as_of.tzinfo is None:
                raise BadRequest(f"time {as_of.isoformat()} has no time zone")
            return self._rev_at_time(conn, branch, as_of.timestamp(), head)
        if isinstance(as_of, bool) or not isinstance(as_of, int) or as_of < 0:
            raise BadRequest(f"revision {as_of!r} is not a revision number")
        if as_of > head:
            raise NotFound(f"revision {as_of} does not exist (the newest is {head})")
        return as_of

    def _rev_at_time(self, conn: Db, branch: int, when: float, head: int) -> int:
        """The newest revision at or before ``when``: a binary search (revision times only grow)."""
        sql = self._q("SELECT time FROM revision WHERE branch = ? AND rev = ?")
        lo, hi = 0, head
        while lo < hi:
            mid = (lo + hi + 1) // 2
            row = conn.exec_driver_sql(sql, (branch, mid)).first()
            if row is not None and row[0] <= when:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def revision(self, rev: int, *, branch: int = LIVE) -> Revision:
        """One revision's metadata."""
        with self._read() as conn:
            revs = self._revisions(conn, branch, [rev])
        if rev not in revs:
            raise NotFound(f"revision {rev} of branch {branch} does not exist")
        return revs[rev]

    def revisions(self, *, branch: int = LIVE, limit: int = 100) -> list[Revision]:
        """The newest revisions, newest first."""
        with self._read() as conn:
            rows = conn.exec_driver_sql(
                self._q(
                    "SELECT branch, rev, time, source, author, message FROM revision"
                    " WHERE branch = ? ORDER BY rev DESC LIMIT ?"
                ),
                (branch, limit),
            ).all()
        return [Revision(r[0], r[1], utc(r[2]), r[3], r[4], r[5]) for r in rows]

    def revisions_touching(self, classes: Sequence[str], *, after: int, upto: int, branch: int = LIVE) -> list[int]:
        """The revisions in (after, upto] that created, changed or deleted objects of ``classes``."""
        marks = ",".join("?" * len(classes))
        sql = self._q(
            f"SELECT rev_from FROM moi WHERE branch = ? AND rev_from > ? AND rev_from <= ? AND cls IN ({marks})"
            f" UNION SELECT rev_to FROM moi WHERE branch = ? AND rev_to > ? AND rev_to <= ? AND cls IN ({marks})"
        )
        params = (branch, after, upto, *classes, branch, after, upto, *classes)
        with self._read() as conn:
            return sorted({int(r[0]) for r in conn.exec_driver_sql(sql, params)})

    def _revisions(self, conn: Db, branch: int, revs: Iterable[int]) -> dict[int, Revision]:
        wanted = sorted(set(revs))
        out: dict[int, Revision] = {}
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = conn.exec_driver_sql(
                self._q(
                    "SELECT branch, rev, time, source, author, message FROM revision"
                    f" WHERE branch = ? AND rev IN ({marks})"
                ),
                (branch, *part),
            ).all()
            for r in rows:
                out[r[1]] = Revision(r[0], r[1], utc(r[2]), r[3], r[4], r[5])
        return out

    # -- reads ------------------------------------------------------------------------------

    def get(self, dn: str, *, branch: int = LIVE, as_of: AsOf = None) -> Moi | None:
        """One object, or None."""
        return self.read_one(dn, branch=branch, as_of=as_of)[1]

    def read_one(self, dn: str, *, branch: int = LIVE, as_of: AsOf = None) -> tuple[int, Moi | None]:
        """One object (or None) with the revision the read reflects: a ProvMnS GET's whole read."""
        key = to_key(dn)
        if self._pool is not None and branch == LIVE and (as_of is None or type(as_of) is int):
            with self._pool.reader() as fast:
                if as_of is None:
                    # One statement is one snapshot: the head and the row agree.
                    row = fast.execute(_ONE_CURRENT, (key,)).fetchone()
                    return row[0], Moi(key_to_dn(key), row[1], row[3], row[2]) if row[1] is not None else None
                head = fast.execute(f"SELECT {_HEAD} FROM branch b WHERE b.id = 0").fetchone()[0]
                if not 0 <= as_of <= head:
                    raise NotFound(f"revision {as_of} does not exist (the newest is {head})")
                # Revisions never change once committed: a second statement reads the same past.
                row = fast.execute(_ONE_AT, (key, as_of, as_of)).fetchone()
                return as_of, Moi(key_to_dn(key), row[0], row[2], row[1]) if row else None
        with self._read() as conn:
            rev = self._resolve(conn, as_of, branch)
            return rev, self._get_at(conn, key, branch, rev)

    def _get_at(self, conn: Db, key: str, branch: int, rev: int) -> Moi | None:
        if branch != LIVE:
            row = self._version_at(conn, branch, key, rev)
            if row is not None:
                return Moi(key_to_dn(key), row[0], row[2], row[1]) if row[1] is not None else None
            rev = self._base_rev(conn, branch)
        row = self._version_at(conn, LIVE, key, rev)
        return Moi(key_to_dn(key), row[0], row[2], row[1]) if row else None

    def _version_at(self, conn: Db, branch: int, key: str, rev: int) -> Any:
        return conn.exec_driver_sql(
            self._q(
                "SELECT cls, attrs, rev_from FROM moi WHERE branch = ? AND path = ?"
                " AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?)"
            ),
            (branch, key, rev, rev),
        ).first()

    def _base_rev(self, conn: Db, branch: int) -> int:
        row = conn.exec_driver_sql(self._q("SELECT base_rev FROM branch WHERE id = ?"), (branch,)).first()
        if row is None:
            raise NotFound(f"sandbox {branch} does not exist")
        return int(row[0] or 0)

    def read(
        self,
        dn: str,
        *,
        scope: Scope = Scope.BASE_ONLY,
        level: int = 0,
        branch: int = LIVE,
        as_of: AsOf = None,
    ) -> Iterator[Moi]:
        """Stream the scoped objects in key order; NotFound (on first use) if the base is absent."""
        return (Moi(d, c, r, a) for d, c, a, r in self.scan(dn, scope=scope, level=level, branch=branch, as_of=as_of))

    def scan(
        self,
        dn: str,
        *,
        scope: Scope = Scope.BASE_ONLY,
        level: int = 0,
        branch: int = LIVE,
        as_of: AsOf = None,
    ) -> Iterator[tuple[str, str, str, int]]:
        """``read`` as plain (dn, class, attributes JSON, revision) tuples: the lean path of big answers."""
        key = to_key(dn)
        if level < 0:
            raise BadRequest(f"scopeLevel {level} is negative")
        lo, hi = scope.levels(level)
        return self._scan_iter(key, lo, hi, branch, as_of)

    def _scan_iter(
        self, key: str, lo: int, hi: int | None, branch: int, as_of: AsOf
    ) -> Iterator[tuple[str, str, str, int]]:
        dn = key_to_dn(key)
        with self._read() as conn:
            rev = self._resolve(conn, as_of, branch)
            if lo > 0 and self._get_at(conn, key, branch, rev) is None:
                raise NotFound(f"{dn} does not exist", dn=dn)
            rows: Iterator[tuple[str, str, str, int]]
            if branch == LIVE:
                # Live rows are never tombstones: attrs is always set.
                live = self._range_rows(conn, LIVE, key, lo, hi, rev)
                rows = ((key_to_dn(p), c, a or "{}", r) for p, c, a, r in live)
            else:
                rows = ((m.dn, m.cls, str(m.attrs_json), m.rev) for m in self._range(conn, key, lo, hi, branch, rev))
            first = next(rows, None)
            if first is None:
                if lo == 0:
                    raise NotFound(f"{dn} does not exist", dn=dn)
                return
            if lo == 0 and first[0] != dn:
                raise NotFound(f"{dn} does not exist", dn=dn)
            yield first
            yield from rows

    def _range(self, conn: Db, key: str, lo: int, hi: int | None, branch: int, rev: int | None) -> Iterator[Moi]:
        """Objects in ``key``'s subtree at depths base+lo..base+hi, as of ``rev``, key order.

        ``rev`` None reads the current rows, including those a write transaction added.
        """
        if branch == LIVE:
            for path, cls, attrs, rev_from in self._range_rows(conn, LIVE, key, lo, hi, rev):
                yield Moi(key_to_dn(path), cls, rev_from, attrs or "{}")  # live rows are never tombstones
            return
        base_rev = self._base_rev(conn, branch)
        mine = self._range_rows(conn, branch, key, lo, hi, rev)
        base = self._range_rows(conn, LIVE, key, lo, hi, base_rev)
        yield from _overlay(mine, base)

    def _range_rows(
        self,
        conn: Db,
        branch: int,
        key: str,
        lo: int,
        hi: int | None,
        rev: int | None,
    ) -> Iterator[tuple[str, str, str | None, int]]:
        depth = key_depth(key)
        sql = "SELECT path, cls, attrs, rev_from FROM moi WHERE branch = ?"
        params: list[Any] = [branch]
        if lo == 0 and hi == 0:
            sql += " AND path = ?"
            params.append(key)
        else:
            # [key, key + SEP_NEXT) is exactly the object and its subtree.
            sql += " AND path >= ? AND path < ?"
            params += [key, key + SEP_NEXT]
            if lo > 0:
                sql += " AND depth >= ?"
                params.append(depth + lo)
            if hi is not None:
                sql += " AND depth <= ?"
                params.append(depth + hi)
        if rev is None:
            sql += " AND rev_to IS NULL"
        else:
            sql += " AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?)"
            params += [rev, rev]
        sql += " ORDER BY path"
        yield from self._stream(conn, sql, tuple(params))

    def _stream(self, conn: Db, sql: str, params: tuple[Any, ...]) -> Iterator[Any]:
        """Rows of a query straight from the driver, streamed (a server-side cursor on PostgreSQL).

        Range reads are the hot path of every subtree read; the driver's own cursor costs a
        third of SQLAlchemy's per-row processing.
        """
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if self.postgres:
            self._cursors += 1
            cur = raw.cursor(name=f"mns_range_{self._cursors}")
            cur.itersize = 2000
        else:
            cur = raw.cursor()
        try:
            cur.execute(self._q(sql), params)
            yield from cur
        finally:
            cur.close()

    def state(
        self, *, branch: int = LIVE, as_of: AsOf = None, classes: Collection[str] | None = None
    ) -> Iterator[tuple[str, str, str]]:
        """(dn, class, attributes JSON) of every object (of ``classes``) of ``branch`` as of a revision, in key order.

        A whole-state read (audits): on the live twin one range query, without a read per root.
        """
        if branch != LIVE:
            for root in self.roots(branch=branch, as_of=as_of):
                for dn, cls, attrs, _ in self.scan(root.dn, scope=Scope.BASE_ALL, branch=branch, as_of=as_of):
                    if classes is None or cls in classes:
                        yield dn, cls, attrs
            return
        with self._read() as conn:
            rev = self._resolve(conn, as_of, branch)
            sql = (
                "SELECT path, cls, attrs FROM moi WHERE branch = 0 AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?)"
            )
            params: tuple[Any, ...] = (rev, rev)
            if classes is not None:
                sql += f" AND cls IN ({', '.join('?' * len(classes))})"
                params += tuple(sorted(classes))
            # Live rows are never tombstones: attrs is always set.
            rows = self._stream(conn, sql + " ORDER BY path", params)
            yield from ((p.replace(SEP, ","), c, a) for p, c, a in rows)

    def roots(self, *, branch: int = LIVE, as_of: AsOf = None) -> list[Moi]:
        """The root objects (depth 1), found by skipping from one root's subtree to the next."""
        with self._read() as conn:
            rev = self._resolve(conn, as_of, branch)
            keys = self._root_keys(conn, LIVE, rev if branch == LIVE else self._base_rev(conn, branch))
            if branch != LIVE:
                keys |= self._root_keys(conn, branch, rev)
            found = [self._get_at(conn, k, branch, rev) for k in sorted(keys)]
        return [m for m in found if m is not None]

    def _root_keys(self, conn: Db, branch: int, rev: int) -> set[str]:
        # A loose index scan: one seek per root instead of a scan of the whole table.
        sql = self._q(
            "SELECT path FROM moi WHERE branch = ? AND path >= ? AND rev_from <= ?"
            " AND (rev_to IS NULL OR rev_to > ?) ORDER BY path LIMIT 1"
        )
        keys: set[str] = set()
        start = ""
        while (row := conn.exec_driver_sql(sql, (branch, start, rev, rev)).first()) is not None:
            root = row[0].split(SEP, 1)[0]
            keys.add(root)
            start = root + SEP_NEXT
        return keys

    def count(self, *, branch: int = LIVE) -> int:
        """Number of current objects of the branch (sandbox: base plus its own changes)."""
        with self._read() as conn:
            if branch == LIVE:
                row = conn.exec_driver_sql(
                    self._q("SELECT COUNT(*) FROM moi WHERE branch = 0 AND rev_to IS NULL")
                ).first()
                return int(row[0]) if row else 0
            base_rev = self._base_rev(conn, branch)
            n = conn.exec_driver_sql(
                self._q(
                    "SELECT COUNT(*) FROM moi WHERE branch = 0 AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?)"
                ),
                (base_rev, base_rev),
            ).scalar_one()
            for change in diff_branch(self, conn, branch, 0, self._head(conn, branch), base_rev):
                n += {ChangeKind.CREATED: 1, ChangeKind.DELETED: -1}.get(change.kind, 0)
            return int(n)

    def holds_at_least(self, n: int, *, branch: int = LIVE) -> bool:
        """Whether the branch has ``n`` current objects or more, counting no further than ``n`` on the live twin."""
        if branch != LIVE:
            return self.count(branch=branch) >= n
        with self._read() as conn:
            sql = "SELECT COUNT(*) FROM (SELECT 1 FROM moi WHERE branch = 0 AND rev_to IS NULL LIMIT ?) AS head"
            return int(conn.exec_driver_sql(self._q(sql), (n,)).scalar_one()) >= n

    # -- history and diff -------------------------------------------------------------------

    def history(self, dn: str, *, branch: int = LIVE) -> list[Version]:
        """Every version of the object, oldest first; a deletion is a version without attrs."""
        key = to_key(dn)
        with self._read() as conn:
            if branch == LIVE:
                out = versions(self, conn, LIVE, key, None)
            else:
                base_rev = self._base_rev(conn, branch)
                out = versions(self, conn, LIVE, key, base_rev) + versions(self, conn, branch, key, None)
        if not out:
            raise NotFound(f"{key_to_dn(key)} has no history", dn=key_to_dn(key))
        return out

    def diff(
        self, from_rev: AsOf, to_rev: AsOf = None, *, branch: int = LIVE, classes: Sequence[str] | None = None
    ) -> Iterator[Change]:
        """Objects (of ``classes`` only, if given) that differ between two revisions, in key order."""
        wanted = list(classes) if classes is not None else None
        with self._read() as conn:
            f = self._resolve(conn, from_rev, branch)
            t = self._resolve(conn, to_rev, branch)
            lo, hi = min(f, t), max(f, t)
            if branch == LIVE:
                changes: Iterable[Change] = diff_live(self, conn, lo, hi, wanted)
            else:
                every = diff_branch(self, conn, branch, lo, hi, self._base_rev(conn, branch))
                changes = every if wanted is None else (c for c in every if c.cls in wanted)
            for c in changes:
                yield c if f <= t else reverse(c)

    # -- branches (mns.store.branches) -----------------------------------------------------

    def create_branch(self, *, name: str = "", base: AsOf = None, author: str = "") -> Branch:
        """A new sandbox on the live twin at ``base`` (now by default): one row, constant time."""
        return branches.create(self, name=name, base=base, author=author)

    def branch(self, branch_id: int) -> Branch:
        """A sandbox by id."""
        return branches.get(self, branch_id)

    def branches(self) -> list[Branch]:
        """Every sandbox."""
        return branches.every(self)

    def drop_branch(self, branch_id: int) -> None:
        """Delete a sandbox, its rows and its revisions."""
        branches.drop(self, branch_id)

    def change_set(self, branch_id: int) -> list[Change]:
        """What the sandbox changed against its base, in key order (parents first)."""
        return branches.change_set(self, branch_id)

    def _rebase_branch(self, branch_id: int, new_base: int, ops: list[Op], *, author: str = "") -> None:
        """The sandbox becomes ``ops`` on the live twin at ``new_base`` (``mns.store.rebase``)."""
        branches.replace_base(self, branch_id, new_base, ops, author=author)

    def merge_branch(self, branch_id: int, *, author: str = "", message: str = "") -> CommitResult:
        """Apply the sandbox's change set to the live twin as one revision (source sandbox:<id>).

        Raises MergeConflict, naming the objects, when the live twin changed any of them since
        the sandbox's base; nothing is applied then.
        """
        return branches.merge(self, branch_id, author=author, message=message)

    # -- writes -----------------------------------------------------------------------------

    def commit(
        self,
        ops: Iterable[Op],
        *,
        source: str,
        author: str = "",
        message: str = "",
        branch: int = LIVE,
        expect_head: int | None = None,
    ) -> CommitResult:
        """Apply the operations as one atomic revision; on any error nothing changes."""
        job = CommitJob(ops, source=source, author=author, message=message, branch=branch, expect_head=expect_head)
        return self.commit_job(job)

    def commit_job(self, job: CommitJob) -> CommitResult:
        """Commit one job as a revision; raises its domain error."""
        outcome = self.commit_batch([job])[0]
        if isinstance(outcome, MnsError):
            raise outcome
        return outcome

    def commit_batch(self, jobs: Sequence[CommitJob]) -> list[CommitResult | MnsError]:
        """Commit several change sets in one transaction, each its own revision (group commit).

        A job that fails with a domain error is rolled back to its savepoint and its error is
        returned in its place; the others commit (see ``mns.store.write.commit_batch``).
        """
        return commit_batch(self, jobs)


def _overlay(
    mine: Iterator[tuple[str, str, str | None, int]],
    base: Iterator[tuple[str, str, str | None, int]],
) -> Iterator[Moi]:
    """Merge a sandbox's rows over its base's, both in key order; tombstones hide."""
    a = next(mine, None)
    b = next(base, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] <= b[0]):
            assert a is not None
            if b is not None and a[0] == b[0]:
                b = next(base, None)
            if a[2] is not None:
                yield Moi(key_to_dn(a[0]), a[1], a[3], a[2])
            a = next(mine, None)
        else:
            yield Moi(key_to_dn(b[0]), b[1], b[3], b[2] or "{}")  # base rows are never tombstones
            b = next(base, None)

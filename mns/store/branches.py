"""Sandboxes (branches) of the SQL store: create, read, drop, their change set, and merging into the live twin.

A sandbox is one ``branch`` row; its rows in ``moi`` (tombstones for deletions) overlay the live
twin as of its base revision. These functions are the implementation behind the ``SqlStore``
methods of the same purpose.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mns.errors import MergeConflict, MnsError, NotFound
from mns.nrm.dn import to_key
from mns.store.api import LIVE, AsOf, Branch, Change, CommitJob, CommitResult, Op, ops_for_changes, utc
from mns.store.db import Db
from mns.store.history import diff_branch

if TYPE_CHECKING:
    from mns.store.sql import SqlStore

_HEAD = "(SELECT COALESCE(MAX(rev), 0) FROM revision WHERE branch = b.id)"
_COLUMNS = f"b.id, b.name, b.base_rev, {_HEAD}, b.created, b.author"


def create(store: SqlStore, *, name: str, base: AsOf, author: str) -> Branch:
    """A new sandbox on the live twin at ``base``: one row, constant time."""
    # The store's write transaction (its lock taken up front): a read that turns into a write
    # would fail at once on SQLite if another writer committed in between.
    with store._transaction() as conn:
        base_rev = store._resolve(conn, base, LIVE)
        now = time.time()
        row = conn.exec_driver_sql(
            store._q("INSERT INTO branch (name, base_rev, created, author) VALUES (?, ?, ?, ?) RETURNING id"),
            (name, base_rev, now, author),
        ).first()
        branch_id = int(row[0])
    return Branch(branch_id, name, base_rev, 0, utc(now), author)


def get(store: SqlStore, branch_id: int) -> Branch:
    """A sandbox by id; NotFound for the live twin or an unknown id."""
    if branch_id == LIVE:
        raise NotFound("branch 0 is the live twin, not a sandbox")
    with store._read() as conn:
        row = conn.exec_driver_sql(store._q(f"SELECT {_COLUMNS} FROM branch b WHERE b.id = ?"), (branch_id,)).first()
    if row is None:
        raise NotFound(f"sandbox {branch_id} does not exist")
    return Branch(row[0], row[1], row[2], row[3], utc(row[4]), row[5])


def every(store: SqlStore) -> list[Branch]:
    """Every sandbox, by id."""
    with store._read() as conn:
        rows = conn.exec_driver_sql(store._q(f"SELECT {_COLUMNS} FROM branch b WHERE b.id <> 0 ORDER BY b.id")).all()
    return [Branch(r[0], r[1], r[2], r[3], utc(r[4]), r[5]) for r in rows]


def drop(store: SqlStore, branch_id: int) -> None:
    """Delete a sandbox, its rows and its revisions."""
    get(store, branch_id)
    with store._write(branch_id) as (conn, _, _):
        for table in ("moi", "revision"):
            conn.exec_driver_sql(store._q(f"DELETE FROM {table} WHERE branch = ?"), (branch_id,))
        conn.exec_driver_sql(store._q("DELETE FROM branch WHERE id = ?"), (branch_id,))


def change_set(store: SqlStore, branch_id: int) -> list[Change]:
    """What the sandbox changed against its base, in key order (parents first)."""
    get(store, branch_id)
    with store._read() as conn:
        head = store._head(conn, branch_id)
        return list(diff_branch(store, conn, branch_id, 0, head, store._base_rev(conn, branch_id)))


def merge(store: SqlStore, branch_id: int, *, author: str, message: str) -> CommitResult:
    """Apply the sandbox's change set to the live twin as one revision (source ``sandbox:<id>``).

    Raises MergeConflict, naming the objects, when the live twin changed any of them since the
    sandbox's base; nothing is applied then.
    """
    sandbox = get(store, branch_id)
    changes: list[Change] = []

    def check(conn: Db) -> None:
        head = store._head(conn, branch_id)
        changes.extend(diff_branch(store, conn, branch_id, 0, head, sandbox.base_rev))
        live_head = store._head(conn, LIVE)
        moved = []
        for c in changes:
            now = store._get_at(conn, to_key(c.dn), LIVE, live_head)
            then = store._get_at(conn, to_key(c.dn), LIVE, sandbox.base_rev)
            if (now is None) != (then is None) or (now and then and now.rev != then.rev):
                moved.append(c.dn)
        if moved:
            raise MergeConflict(
                f"the live twin changed {len(moved)} object(s) of sandbox {branch_id} since its base "
                f"revision {sandbox.base_rev}: {', '.join(moved[:10])}",
                dns=moved,
            )

    def ops() -> Iterator[Op]:
        yield from ops_for_changes(changes)

    job = CommitJob(
        ops(),
        source=f"sandbox:{branch_id}",
        author=author,
        message=message or f"merge of sandbox {branch_id}",
        branch=LIVE,
        precheck=check,
    )
    outcome = store.commit_batch([job])[0]
    if isinstance(outcome, MnsError):
        raise outcome
    return outcome


def replace_base(store: SqlStore, branch_id: int, new_base: int, ops: list[Op], *, author: str) -> None:
    """Make the sandbox the result of ``ops`` on the live twin at ``new_base``, atomically.

    The operations are first committed on a scratch sandbox at ``new_base`` (a bad one raises
    there and the sandbox is untouched); then one transaction gives the scratch sandbox's rows
    and revision to ``branch_id`` and moves its base.
    """
    sandbox = get(store, branch_id)
    scratch = create(store, name=f"rebase of {branch_id}", base=new_base, author=author)
    try:
        if ops:
            message = f"rebase of sandbox {branch_id} onto revision {new_base}"
            store.commit(ops, source="oss", author=author, message=message, branch=scratch.id)
    except BaseException:
        drop(store, scratch.id)
        raise
    with store._write(branch_id) as (conn, _, _):
        for table in ("moi", "revision"):
            conn.exec_driver_sql(store._q(f"DELETE FROM {table} WHERE branch = ?"), (branch_id,))
            conn.exec_driver_sql(store._q(f"UPDATE {table} SET branch = ? WHERE branch = ?"), (sandbox.id, scratch.id))
        conn.exec_driver_sql(store._q("UPDATE branch SET base_rev = ? WHERE id = ?"), (new_base, branch_id))
        conn.exec_driver_sql(store._q("DELETE FROM branch WHERE id = ?"), (scratch.id,))

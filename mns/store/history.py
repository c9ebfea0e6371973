"""History and diffs of the SQL store: range scans over the version rows.

A version row is visible at revision R when ``rev_from <= R < rev_to`` (or ``rev_to`` is NULL).
The history of an object is its rows in ``rev_from`` order, a deletion showing where a row
was closed without a successor. The objects changed between two revisions are exactly the
rows opened or closed in between, found through the ``rev_from`` and ``rev_to`` indexes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from mns.nrm.dn import key_to_dn
from mns.store.api import Change, ChangeKind, Moi, Version
from mns.store.db import Db

if TYPE_CHECKING:
    from mns.store.sql import SqlStore


def versions(store: SqlStore, conn: Db, branch: int, key: str, upto: int | None) -> list[Version]:
    sql = "SELECT cls, attrs, rev_from, rev_to FROM moi WHERE branch = ? AND path = ?"
    params: list[Any] = [branch, key]
    if upto is not None:
        sql += " AND rev_from <= ?"
        params.append(upto)
    rows = conn.exec_driver_sql(store._q(sql + " ORDER BY rev_from"), tuple(params)).all()
    revs = {r[2] for r in rows} | {r[3] for r in rows if r[3] is not None}
    meta = store._revisions(conn, branch, revs)
    out: list[Version] = []
    for i, (cls, attrs, rev_from, closed) in enumerate(rows):
        rev_to = None if upto is not None and closed is not None and closed > upto else closed
        parsed = orjson.loads(attrs) if attrs is not None else None
        out.append(Version(key_to_dn(key), cls, parsed, meta[rev_from], rev_to))
        successor = rows[i + 1][2] if i + 1 < len(rows) else None
        if rev_to is not None and successor != rev_to:
            out.append(Version(key_to_dn(key), cls, None, meta[rev_to], successor))
    return out


def diff_live(store: SqlStore, conn: Db, lo: int, hi: int, classes: Sequence[str] | None = None) -> Iterator[Change]:
    """Changes of the live twin between two revisions, optionally of some classes only.

    The rows opened in (lo, hi] and the rows opened before and closed in it, as two index range
    searches: one query with an OR of both ranges makes SQLite scan the whole table.
    """
    cls_sql = f" AND cls IN ({','.join('?' * len(classes))})" if classes is not None else ""
    cls_params: tuple[Any, ...] = tuple(classes) if classes is not None else ()
    opened = _INDEXED.get(store.postgres, ("", ""))
    sql = (
        f"SELECT path, cls, attrs, rev_from, rev_to FROM moi{opened[0]} WHERE branch = 0"
        f" AND rev_from > ? AND rev_from <= ?{cls_sql}"
        " UNION ALL"
        f" SELECT path, cls, attrs, rev_from, rev_to FROM moi{opened[1]} WHERE branch = 0"
        f" AND rev_to > ? AND rev_to <= ? AND rev_from <= ?{cls_sql}"
        " ORDER BY 1, 4"
    )
    params = (lo, hi, *cls_params, lo, hi, lo, *cls_params)
    group: list[Any] = []
    for row in store._stream(conn, sql, params):
        if group and group[0][0] != row[0]:
            change = _change_of(group, lo, hi)
            if change:
                yield change
            group = []
        group.append(row)
    if group:
        change = _change_of(group, lo, hi)
        if change:
            yield change


_INDEXED = {False: (" INDEXED BY ix_moi_rev_from", " INDEXED BY ix_moi_rev_to"), True: ("", "")}
"""SQLite is told which index serves each range (its planner, without statistics, may scan)."""


def diff_branch(store: SqlStore, conn: Db, branch: int, lo: int, hi: int, base_rev: int) -> Iterator[Change]:
    """Changes of a sandbox between two of its revisions; revision 0 is its base."""
    paths = [
        r[0]
        for r in conn.exec_driver_sql(
            store._q(
                "SELECT DISTINCT path FROM moi WHERE branch = ?"
                " AND ((rev_from > ? AND rev_from <= ?) OR (rev_to > ? AND rev_to <= ?)) ORDER BY path"
            ),
            (branch, lo, hi, lo, hi),
        )
    ]
    for path in paths:
        before = store._get_at(conn, path, branch, lo)
        after = store._get_at(conn, path, branch, hi)
        change = change_between(path, before, after)
        if change:
            yield change


def _visible(row: Any, rev: int) -> bool:
    return bool(row[3] <= rev and (row[4] is None or row[4] > rev))


def _change_of(group: Sequence[Any], lo: int, hi: int) -> Change | None:
    before = next((r for r in group if _visible(r, lo)), None)
    after = next((r for r in group if _visible(r, hi)), None)
    b = Moi(before[0], before[1], before[3], before[2]) if before else None
    a = Moi(after[0], after[1], after[3], after[2]) if after else None
    return change_between(group[0][0], b, a)


def change_between(key: str, before: Moi | None, after: Moi | None) -> Change | None:
    if before is None and after is None:
        return None
    if before is None:
        assert after is not None
        return Change(key_to_dn(key), ChangeKind.CREATED, after.cls, None, after.attrs)
    if after is None:
        return Change(key_to_dn(key), ChangeKind.DELETED, before.cls, before.attrs, None)
    if before.attrs == after.attrs:
        return None
    return Change(key_to_dn(key), ChangeKind.MODIFIED, after.cls, before.attrs, after.attrs)


def reverse(c: Change) -> Change:
    kind = {ChangeKind.CREATED: ChangeKind.DELETED, ChangeKind.DELETED: ChangeKind.CREATED}.get(c.kind, c.kind)
    return Change(c.dn, kind, c.cls, c.after, c.before)

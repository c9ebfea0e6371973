"""Verification reports stored with their sandbox.

``verify_report`` keeps one report per (sandbox, sandbox head revision verified), so a later
edit of the sandbox (a new head) makes the latest report stale without touching it. The table
lives in the store's ``metadata`` and is created on first use (``checkfirst``), like the
mirror's tables; a dropped sandbox's reports go with ``drop_reports``.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from mns.store.api import utc
from mns.store.db import create_tables
from mns.store.schema import metadata
from mns.verify.model import Report

if TYPE_CHECKING:
    from mns.store.sql import SqlStore

verify_report = sa.Table(
    "verify_report",
    metadata,
    sa.Column("branch", sa.Integer, primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column("base_rev", sa.Integer, nullable=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),
    sa.Column("warnings", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

_created: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()


def _ensure(store: SqlStore) -> None:
    if store in _created:
        return
    with _lock:
        create_tables(store.engine, [verify_report])
        _created.add(store)


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A stored report: which sandbox head it verified, when, and whether the sandbox moved on since."""

    branch: int
    revision: int
    base_rev: int | None
    created: datetime
    errors: int
    warnings: int
    body: dict[str, Any]
    stale: bool

    def as_json(self) -> dict[str, Any]:
        """The report's JSON with when and what it verified."""
        return {**self.body, "sandbox": self.branch, "verified": self.created.isoformat(), "stale": self.stale}


def store_report(store: SqlStore, branch_id: int, report: Report) -> None:
    """Keep ``report`` as the sandbox's report for the head revision it verified (replacing one)."""
    if report.revision is None:
        raise ValueError("the report names no sandbox revision; verify it with verify_sandbox")
    _ensure(store)
    key = (verify_report.c.branch == branch_id) & (verify_report.c.revision == report.revision)
    row = {
        "branch": branch_id,
        "revision": report.revision,
        "base_rev": report.base_rev,
        "created": time.time(),
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "body": orjson.dumps(report.as_json()).decode(),
    }
    with store.engine.begin() as conn:
        conn.execute(verify_report.delete().where(key))
        conn.execute(verify_report.insert().values(**row))


def latest_report(store: SqlStore, branch_id: int) -> StoredReport | None:
    """The newest report of a sandbox, or None; ``stale`` when the sandbox changed after it."""
    _ensure(store)
    query = (
        sa.select(verify_report)
        .where(verify_report.c.branch == branch_id)
        .order_by(verify_report.c.revision.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    head = store.head(branch_id)
    return StoredReport(
        branch=row.branch,
        revision=row.revision,
        base_rev=row.base_rev,
        created=utc(row.created),
        errors=row.errors,
        warnings=row.warnings,
        body=orjson.loads(row.body),
        stale=row.revision != head,
    )


def drop_reports(store: SqlStore, branch_id: int) -> None:
    """Forget a sandbox's reports (when it is dropped)."""
    _ensure(store)
    with store.engine.begin() as conn:
        conn.execute(verify_report.delete().where(verify_report.c.branch == branch_id))

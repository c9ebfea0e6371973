"""The record of deployments in the twin's database: what each write-back did, readable later.

A deployment (``mns.consumer.writeback``) is recorded when it starts (status ``running``) and
again when it ends (``applied``, ``rolled-back`` or ``failed``), as one JSON document per
deployment in the table ``deployment`` beside its id, status and times. Each write replaces
the row in one transaction (through the store's write transaction, on SQLite its single
writer), so a reader sees either the old document or the new one. A deployment left
``running`` by a process that died says exactly that: its steps show how far it got.

The store knows nothing of the write-back's classes: it keeps the document the write-back
gives it (``id``, ``status``, ``started`` and ``finished`` as RFC 3339 times, and the rest).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from mns.store.db import create_tables
from mns.store.schema import metadata
from mns.store.sql import SqlStore

deployment = sa.Table(
    "deployment",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("finished", sa.Float, nullable=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Index("ix_deployment_started", "started", "id"),
)

MAX_LIMIT = 1000
"""The most deployments one list returns."""

_stores: weakref.WeakKeyDictionary[SqlStore, Deployments] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def _time(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


class Deployments:
    """The deployment records of one twin store (the table is made if missing)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        create_tables(store.engine, [deployment])

    @classmethod
    def of(cls, store: SqlStore) -> Deployments:
        """The records of ``store``, made once per store object."""
        with _stores_lock:
            found = _stores.get(store)
            if found is None:
                found = _stores[store] = cls(store)
            return found

    def record(self, document: Mapping[str, Any]) -> None:
        """Write (or replace) the record of one deployment, atomically."""
        key = str(document["id"])
        started = _time(document.get("started"))
        row = (
            key,
            started if started is not None else 0.0,
            _time(document.get("finished")),
            str(document["status"]),
            orjson.dumps(dict(document)).decode(),
        )
        q = self.store._q
        with self.store._transaction() as db:
            db.exec_driver_sql(q("DELETE FROM deployment WHERE id = ?"), (key,))
            db.exec_driver_sql(
                q("INSERT INTO deployment (id, started, finished, status, document) VALUES (?, ?, ?, ?, ?)"), row
            )

    def get(self, deployment_id: str) -> dict[str, Any] | None:
        """One deployment's record, or None."""
        with self.store._read() as db:
            row = db.exec_driver_sql(
                self.store._q("SELECT document FROM deployment WHERE id = ?"), (deployment_id,)
            ).first()
        return orjson.loads(row[0]) if row is not None else None

    def newest(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The newest deployments, newest first."""
        limit = max(1, min(limit, MAX_LIMIT))
        sql = "SELECT document FROM deployment ORDER BY started DESC, id DESC LIMIT ?"
        with self.store._read() as db:
            rows = db.exec_driver_sql(self.store._q(sql), (limit,)).all()
        return [orjson.loads(r[0]) for r in rows]

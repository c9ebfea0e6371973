"""Per-subscription delivery cursors: the last revision whose notifications a recipient has all received.

One row per subscription, keyed by its DN, with the revision that created it (a subscription
deleted and made again under the same DN starts afresh) and the cursor. The worker writes the
cursors of all subscribers together, a few times a second, on connections of its own: never
inside a ProvMnS write.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from mns.store import schema
from mns.store.db import create_tables

cursor_table = sa.Table(
    "notify_cursor",
    schema.metadata,
    sa.Column("subscription", sa.Text, primary_key=True),
    sa.Column("created_rev", sa.Integer, nullable=False),
    sa.Column("rev", sa.Integer, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a subscription's delivery stands."""

    created_rev: int
    rev: int


class CursorStore:
    """The cursor table over the store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self) -> None:
        """Create the table if it is missing."""
        create_tables(self.engine, [cursor_table])

    def load(self) -> dict[str, Cursor]:
        """Every saved cursor by subscription DN."""
        t = cursor_table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.subscription, t.c.created_rev, t.c.rev)).all()
        return {r[0]: Cursor(r[1], r[2]) for r in rows}

    def save(self, cursors: Mapping[str, Cursor]) -> None:
        """Insert or move the cursors, in one transaction."""
        if not cursors:
            return
        t = cursor_table
        now = time.time()
        rows = [
            {"subscription": dn, "created_rev": c.created_rev, "rev": c.rev, "updated": now}
            for dn, c in cursors.items()
        ]
        insert = postgresql.insert(t) if self.engine.dialect.name == "postgresql" else sqlite.insert(t)
        statement = insert.on_conflict_do_update(
            index_elements=[t.c.subscription],
            set_={
                "created_rev": insert.excluded.created_rev,
                "rev": insert.excluded.rev,
                "updated": insert.excluded.updated,
            },
        )
        with self.engine.connect().execution_options(immediate=True) as conn, conn.begin():
            conn.execute(statement, rows)

    def delete(self, dns: Iterable[str]) -> None:
        """Forget the cursors of subscriptions that are gone."""
        wanted = list(dns)
        if not wanted:
            return
        with self.engine.connect().execution_options(immediate=True) as conn, conn.begin():
            conn.execute(sa.delete(cursor_table).where(cursor_table.c.subscription.in_(wanted)))

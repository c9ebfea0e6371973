"""The NDT runner's cursor: the newest live revision whose NDT jobs it has dealt with.

One row per runner name in ``ndt_cursor``. The runner saves it after each pass, so a restart
starts from where the last pass ended: it neither looks at old revisions again nor skips new
ones. The table is created on first use (``checkfirst``), on the store's own engine.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from mns.store import schema
from mns.store.db import create_tables

cursor_table = sa.Table(
    "ndt_cursor",
    schema.metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("rev", sa.Integer, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)


class CursorStore:
    """The cursor rows over the store's engine."""

    def __init__(self, engine: Engine, name: str = "live") -> None:
        self.engine = engine
        self.name = name
        create_tables(engine, [cursor_table])

    def load(self) -> int:
        """The saved revision (0 before the first pass)."""
        t = cursor_table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.rev).where(t.c.name == self.name)).first()
        return int(row[0]) if row is not None else 0

    def save(self, rev: int) -> None:
        """Move the cursor to ``rev``."""
        t = cursor_table
        insert = postgresql.insert(t) if self.engine.dialect.name == "postgresql" else sqlite.insert(t)
        statement = insert.values(name=self.name, rev=rev, updated=time.time()).on_conflict_do_update(
            index_elements=[t.c.name], set_={"rev": insert.excluded.rev, "updated": insert.excluded.updated}
        )
        with self.engine.connect().execution_options(immediate=True) as conn, conn.begin():
            conn.execute(statement)

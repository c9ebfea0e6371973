"""A lease in the database: which one of several twin processes on one store runs a worker.

Two ``mns serve`` over one PostgreSQL database (or one SQLite file) must not both deliver the
notifications: each recipient would get everything twice and heartbeats would double. Each
worker therefore holds a lease, a row ``(name, owner, expires)``, before it delivers, renews it
well before it expires, and stops when it loses it. A process that dies without releasing its
lease is replaced once the lease expires (``ttl_s``). Taking and renewing are one conditional
UPDATE (or the first INSERT), so two processes cannot both succeed.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from mns.store import schema
from mns.store.db import create_tables

lease_table = sa.Table(
    "worker_lease",
    schema.metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
)


def new_owner() -> str:
    """An owner name that says which process holds a lease (host, pid) and is unique."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """The lease ``name`` in the store's database, held (or wanted) by ``owner``."""

    def __init__(self, engine: Engine, name: str, *, owner: str | None = None, ttl_s: float = 10.0) -> None:
        self.engine = engine
        self.name = name
        self.owner = owner or new_owner()
        self.ttl_s = ttl_s
        self._table_made = False

    def acquire(self) -> bool:
        """Take the lease, or renew it if held; False when another live owner holds it.

        Raises the database's error when it cannot be asked (e.g. SQLite busy for longer than its
        timeout); the caller keeps what it had and asks again.
        """
        if not self._table_made:
            create_tables(self.engine, [lease_table])  # the store makes it; older stores lack it
            self._table_made = True
        now = time.time()
        table = lease_table
        with self.engine.begin() as conn:
            taken = conn.execute(
                table.update()
                .where(table.c.name == self.name)
                .where(sa.or_(table.c.owner == self.owner, table.c.expires < now))
                .values(owner=self.owner, expires=now + self.ttl_s)
            ).rowcount
            if taken:
                return True
            exists = conn.execute(sa.select(table.c.owner).where(table.c.name == self.name)).first()
            if exists is not None:
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(table.insert().values(name=self.name, owner=self.owner, expires=now + self.ttl_s))
        except IntegrityError:
            return False  # another process inserted it first
        return True

    def holder(self) -> str | None:
        """Who holds the lease now (None when nobody does or it expired)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(lease_table.c.owner, lease_table.c.expires).where(lease_table.c.name == self.name)
            ).first()
        return row[0] if row is not None and row[1] >= time.time() else None

    def release(self) -> None:
        """Give the lease up (only if this owner holds it), so another process takes it at once."""
        with self.engine.begin() as conn:
            conn.execute(
                lease_table.delete().where(lease_table.c.name == self.name).where(lease_table.c.owner == self.owner)
            )

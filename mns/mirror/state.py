"""What the mirror keeps in the twin's database, so that it survives a restart of either side.

- ``mirror_inbox``: notifications as they arrived, in order. The receiving endpoint answers the
  producer only once a notification is stored here, so nothing acknowledged is lost; the mirror
  applies them in order and removes them once applied (applying one again is harmless).
- ``mirror_state``: one JSON document per mirror (the producer, its dialect, the subscriptions
  made on it, the last sync and reconciliation, counters), read back at start to resume.
- ``mirror_drift``: each object a reconciliation repaired: what differed and why.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mns.store.db import create_tables

mirror_metadata = sa.MetaData()

inbox = sa.Table(
    "mirror_inbox",
    mirror_metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received", sa.Float, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

state = sa.Table(
    "mirror_state",
    mirror_metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
)

drift = sa.Table(
    "mirror_drift",
    mirror_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("reconcile", sa.Integer, nullable=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("dn", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Drift:
    """One object a reconciliation repaired in the twin."""

    dn: str
    kind: str
    """``created`` (the network had it, the twin did not), ``modified`` or ``deleted``."""
    cause: str
    """``missed-notification``, ``producer-restart``, ``twin-changed`` (the twin's copy was
    changed by another source), ``unapplied-notification`` or ``twin-restart``."""
    attributes: tuple[str, ...] = ()
    """The attributes that differed (``modified``)."""

    def as_json(self) -> dict[str, Any]:
        """The JSON form of the status endpoint."""
        out: dict[str, Any] = {"dn": self.dn, "kind": self.kind, "cause": self.cause}
        if self.attributes:
            out["attributes"] = list(self.attributes)
        return out


class MirrorState:
    """The mirror's tables in the twin's database (made on first use)."""

    def __init__(self, engine: Engine, name: str = "default") -> None:
        self.engine = engine
        self.name = name
        create_tables(engine, mirror_metadata.sorted_tables)

    # inbox ----------------------------------------------------------------------------------

    def receive(self, bodies: Sequence[bytes]) -> None:
        """Store notifications (one transaction) before they are acknowledged."""
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(inbox.insert(), [{"received": now, "body": b.decode()} for b in bodies])

    def pending(self, limit: int = 200) -> list[tuple[int, float, dict[str, Any]]]:
        """The oldest stored notifications: (seq, received, body)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(inbox).order_by(inbox.c.seq).limit(limit)).all()
        return [(int(r.seq), float(r.received), orjson.loads(r.body)) for r in rows]

    def pending_count(self) -> int:
        """How many notifications wait."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(inbox)).scalar_one())

    def done(self, upto: int) -> None:
        """Forget the notifications up to ``upto`` (applied)."""
        with self.engine.begin() as conn:
            conn.execute(inbox.delete().where(inbox.c.seq <= upto))

    # state ----------------------------------------------------------------------------------

    def load(self) -> dict[str, Any] | None:
        """The saved state document, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(state.c.body).where(state.c.name == self.name)).first()
        return orjson.loads(row[0]) if row is not None else None

    def save(self, doc: dict[str, Any]) -> None:
        """Replace the saved state document."""
        body = orjson.dumps(doc).decode()
        with self.engine.begin() as conn:
            if conn.execute(state.update().where(state.c.name == self.name).values(body=body)).rowcount == 0:
                conn.execute(state.insert().values(name=self.name, body=body))

    # drift ----------------------------------------------------------------------------------

    def record_drift(self, reconcile: int, items: Iterable[Drift]) -> int:
        """Record what one reconciliation repaired; how many."""
        now = time.time()
        rows = [
            {
                "reconcile": reconcile,
                "time": now,
                "dn": d.dn,
                "kind": d.kind,
                "cause": d.cause,
                "detail": orjson.dumps(list(d.attributes)).decode(),
            }
            for d in items
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(drift.insert(), rows)
        return len(rows)

    def recent_drift(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest repaired objects, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(drift).order_by(drift.c.id.desc()).limit(limit)).all()
        return [
            {
                **Drift(r.dn, r.kind, r.cause, tuple(orjson.loads(r.detail))).as_json(),
                "reconcile": int(r.reconcile),
                "time": float(r.time),
            }
            for r in rows
        ]

    def drift_total(self) -> int:
        """How many objects reconciliations repaired, ever."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(drift)).scalar_one())

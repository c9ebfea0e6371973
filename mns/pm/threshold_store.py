"""Threshold monitoring's tables: the state of each watched threshold, and the ordered log of crossings.

``threshold_state`` holds one row per (monitor, threshold ``idx``, metric, object): whether the
value is on the threshold's alarm side (``crossed``), the end time of the last measurement
compared (older or repeated ones are not compared again) and its value, the id of the threshold alarm
raised for it, and when the threshold was last re-armed. The alarm column doubles as the
to-do list of alarm work: ``crossed`` without an alarm id is an alarm still to raise, an alarm
id without ``crossed`` one still to clear; the service finishes both after a restart.

``threshold_crossing`` is the log of crossings, each with its notifyThresholdCrossing body:
its ``pos`` increases in commit order (writers lock ``threshold_head`` first), so it is the
``thresholds`` feed of ``mns.notify.feeds``. A batch's state changes and crossings are written
in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson
import sqlalchemy as sa

from mns.notify.feeds import Event
from mns.nrm.dn import key_to_dn
from mns.store.db import create_tables
from mns.store.schema import metadata
from mns.store.sql import SqlStore

_Key = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

threshold_state = sa.Table(
    "threshold_state",
    metadata,
    sa.Column("monitor", _Key, primary_key=True),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("metric", _Key, primary_key=True),
    sa.Column("path", _Key, primary_key=True),
    sa.Column("crossed", sa.SmallInteger, nullable=False),
    sa.Column("last_end", sa.Float, nullable=False),
    sa.Column("last_value", sa.Float, nullable=True),
    sa.Column("alarm_id", sa.Text, nullable=True),
    sa.Column("arm_time", sa.Float, nullable=True),
)

threshold_head = sa.Table(
    "threshold_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("pos", sa.BigInteger, nullable=False),
)

threshold_crossing = sa.Table(
    "threshold_crossing",
    metadata,
    sa.Column("pos", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("monitor", sa.Text, nullable=False),
    sa.Column("dn", sa.Text, nullable=False),
    sa.Column("ntype", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

TABLES: Final = (threshold_state, threshold_head, threshold_crossing)
_STATE_COLUMNS: Final = "monitor, idx, metric, path, crossed, last_end, last_value, alarm_id, arm_time"


@dataclass(frozen=True, slots=True)
class StateKey:
    """One watched threshold: monitor DN, threshold idx, metric, and the object's store key."""

    monitor: str
    idx: int
    metric: str
    path: str

    @property
    def dn(self) -> str:
        """The watched object's DN."""
        return key_to_dn(self.path)


@dataclass(frozen=True, slots=True)
class State:
    """What the twin remembers of one watched threshold."""

    key: StateKey
    crossed: bool = False
    last_end: float = float("-inf")
    last_value: float | None = None
    alarm_id: str | None = None
    arm_time: float | None = None

    @property
    def alarm_columns(self) -> tuple[str | None, float | None]:
        """The alarm columns (alarm id, arm time)."""
        return self.alarm_id, self.arm_time

    @property
    def pending(self) -> bool:
        """Whether its alarm is still to be raised (crossed, no alarm) or cleared (alarm, not crossed)."""
        return self.crossed != (self.alarm_id is not None)


@dataclass(frozen=True, slots=True)
class Crossing:
    """A crossing to log; ``build(pos)`` makes its notification body once its position is known."""

    monitor: str
    dn: str
    ntype: str
    time: float
    build: Callable[[int], dict[str, Any]]
    attributes: dict[str, Any]


class ThresholdStore:
    """The threshold tables of one twin store (created if missing)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        create_tables(store.engine, TABLES)
        with store._transaction() as db:
            if db.exec_driver_sql(store._q("SELECT pos FROM threshold_head WHERE id = 0")).first() is None:
                db.exec_driver_sql(store._q("INSERT INTO threshold_head (id, pos) VALUES (0, 0)"))

    def _q(self, sql: str) -> str:
        return self.store._q(sql)

    # -- states -----------------------------------------------------------------------------

    def states(self, monitors: Iterable[str] | None = None) -> dict[StateKey, State]:
        """The states of the given monitors (all when None)."""
        sql = f"SELECT {_STATE_COLUMNS} FROM threshold_state"
        params: tuple[str, ...] = ()
        if monitors is not None:
            params = tuple(sorted(set(monitors)))
            if not params:
                return {}
            sql += f" WHERE monitor IN ({', '.join('?' * len(params))})"
        with self.store._read() as db:
            rows = db.exec_driver_sql(self._q(sql), params).all()
        out: dict[StateKey, State] = {}
        for monitor, idx, metric, path, crossed, last_end, last_value, alarm_id, arm_time in rows:
            key = StateKey(monitor, int(idx), metric, path)
            out[key] = State(key, bool(crossed), float(last_end), last_value, alarm_id, arm_time)
        return out

    def set_alarm(self, state: State, alarm_id: str | None) -> State:
        """Record the alarm raised (or, None, cleared) for ``state``; returns the updated state."""
        k = state.key
        sql = "UPDATE threshold_state SET alarm_id = ? WHERE monitor = ? AND idx = ? AND metric = ? AND path = ?"
        with self.store._transaction() as db:
            db.exec_driver_sql(self._q(sql), (alarm_id, k.monitor, k.idx, k.metric, k.path))
        return replace(state, alarm_id=alarm_id)

    def forget(self, keys: Sequence[StateKey]) -> None:
        """Drop the states of thresholds no longer watched (their alarms already cleared)."""
        sql = "DELETE FROM threshold_state WHERE monitor = ? AND idx = ? AND metric = ? AND path = ?"
        with self.store._transaction() as db:
            for k in keys:
                db.exec_driver_sql(self._q(sql), (k.monitor, k.idx, k.metric, k.path))

    def commit(self, states: Sequence[State], crossings: Sequence[Crossing]) -> list[Event]:
        """Write new states and log crossings in one transaction; returns the logged events."""
        if not states and not crossings:
            return []
        lock = " FOR UPDATE" if self.store.postgres else ""
        upsert = self._q(
            f"INSERT INTO threshold_state ({_STATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (monitor, idx, metric, path) DO UPDATE SET crossed = excluded.crossed,"
            " last_end = excluded.last_end, last_value = excluded.last_value,"
            " alarm_id = excluded.alarm_id, arm_time = excluded.arm_time"
        )
        insert = self._q(
            "INSERT INTO threshold_crossing (pos, time, monitor, dn, ntype, body) VALUES (?, ?, ?, ?, ?, ?)"
        )
        events: list[Event] = []
        with self.store._transaction() as db:
            for s in states:
                k = s.key
                row = (k.monitor, k.idx, k.metric, k.path, int(s.crossed), s.last_end, s.last_value, *s.alarm_columns)
                db.exec_driver_sql(upsert, row)
            if crossings:
                pos = int(
                    db.exec_driver_sql(self._q(f"SELECT pos FROM threshold_head WHERE id = 0{lock}")).scalar_one()
                )
                for c in crossings:
                    pos += 1
                    body = c.build(pos)
                    db.exec_driver_sql(insert, (pos, c.time, c.monitor, c.dn, c.ntype, orjson.dumps(body).decode()))
                    events.append(Event(pos, c.ntype, c.dn, body, c.attributes))
                db.exec_driver_sql(self._q("UPDATE threshold_head SET pos = ? WHERE id = 0"), (pos,))
        return events

    # -- the log ------------------------------------------------------------------------------

    def head(self) -> int:
        """The position of the newest crossing (0 before the first)."""
        with self.store._read() as db:
            return int(db.exec_driver_sql(self._q("SELECT pos FROM threshold_head WHERE id = 0")).scalar_one())

    def read(self, after: int, limit: int) -> list[Event]:
        """Up to ``limit`` logged crossings after position ``after``, in order."""
        sql = self._q("SELECT pos, ntype, dn, body FROM threshold_crossing WHERE pos > ? ORDER BY pos LIMIT ?")
        with self.store._read() as db:
            rows = db.exec_driver_sql(sql, (after, max(0, limit))).all()
        out = []
        for pos, ntype, dn, text in rows:
            body = orjson.loads(text)
            out.append(Event(int(pos), ntype, dn, body, attributes_of(body)))
        return out


def attributes_of(body: dict[str, Any]) -> dict[str, Any]:
    """What a subscription's filter may test in a notifyThresholdCrossing."""
    names = ("observedPerfMetricName", "observedPerfMetricValue", "observedPerfMetricDirection", "thresholdValue")
    return {n: body[n] for n in names if n in body}

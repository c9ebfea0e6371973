"""PM of the emulated network: the counters of every cell, one granularity period at a time.

At the end of every granularity period (``period`` seconds, 900 by default) the counters that
:mod:`mns.sim.traffic` gives each cell for that period (a daily curve, TS 28.552 names) are added
to the sim's :class:`PmStore`, so its PM reads, PM jobs and file reporting see them as a real
network's. The sim's clock can run faster than the wall's (``time_scale``; 900 makes a
15-minute period pass in a second), starting from now: the periods then end in the future, as
they would for a network that is ahead. ``backfill_s`` of past periods are added at start.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson

from mns.pm.store import PmStore
from mns.sim.traffic import TrafficCell, cell_measurements, traffic, traffic_cells
from mns.store.api import Scope
from mns.store.sql import SqlStore

log = logging.getLogger("mns.sim")


def network_cells(store: SqlStore) -> list[TrafficCell]:
    """The cells of the live network to make traffic for."""
    objects = (
        (dn, cls, orjson.loads(attrs))
        for root in store.roots()
        for dn, cls, attrs, _ in store.scan(root.dn, scope=Scope.BASE_ALL)
        if cls in ("NRCellDU", "NRCellCU")
    )
    return traffic_cells(objects)


class PmTicker:
    """Adds each cell's counters at every period end of the sim's clock; ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        store: SqlStore,
        pm_store: PmStore,
        seed: int,
        period: int = 900,
        time_scale: float = 1.0,
        backfill_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if period <= 0 or time_scale <= 0:
            raise ValueError(f"PM period {period} s and time scale {time_scale} must be positive")
        self.store = store
        self.pm_store = pm_store
        self.seed = seed
        self.period = period
        self.time_scale = time_scale
        self.backfill_s = backfill_s
        self.clock = clock
        self.periods = 0
        self.last_end: datetime | None = None
        self._anchor = (clock(), clock())  # (wall, sim) at start
        self._cells: list[TrafficCell] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> float:
        """The sim's clock (seconds since the epoch)."""
        wall, sim = self._anchor
        return sim + (self.clock() - wall) * self.time_scale

    def start(self) -> None:
        """Read the cells, add the backfill and start the period thread."""
        if self._thread is not None:
            return
        self._cells = network_cells(self.store)
        now = self.clock()
        self._anchor = (now, now)
        if self.backfill_s > 0 and self._cells:
            end = datetime.fromtimestamp(now, UTC)
            start = end - timedelta(seconds=self.backfill_s)
            added = self.pm_store.add(list(traffic(self._cells, start, end, period=self.period, seed=self.seed)))
            log.info("PM backfill: %d values", added)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mns-sim-pm", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop adding periods."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while True:
            sim = self.now()
            end = math.floor(sim / self.period) * self.period + self.period
            if self._stop.wait((end - sim) / self.time_scale):
                return
            try:
                self.tick(datetime.fromtimestamp(end, UTC))
            except Exception:  # a store hiccup: the next period comes anyway
                log.exception("adding the PM of the period ending at %s failed", end)

    def tick(self, end: datetime) -> int:
        """Add every cell's counters for the period ending at ``end``; how many values."""
        rows = [m for cell in self._cells for m in cell_measurements(cell, end, period=self.period, seed=self.seed)]
        added = self.pm_store.add(rows)
        self.periods += 1
        self.last_end = end
        return added

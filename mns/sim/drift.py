"""Drift: the emulated network changing by itself, as a real one does between two reads.

A background thread takes a step every ``60 / per_min`` seconds; each step is one of:

- **PCI change**: a SON function (PCI conflict resolution) gives a cell a new ``nRPCI``;
- **cell outage**: a cell goes ``operationalState`` DISABLED (``cellState`` INACTIVE) and a
  CRITICAL cell-outage alarm is raised on it through :mod:`mns.fault.service`;
- **recovery**: a few steps after its outage the cell is ENABLED (ACTIVE) again and its alarm
  is cleared.

Every change is committed with source ``real`` (a change of the network itself, so its CM
notifications carry ``sourceIndicator`` RESOURCE_OPERATION) and the notifiers are woken. Which
cell and which change follow from the seed alone (a ``random.Random(seed)`` over the cells in
DN order), so equal networks and seeds drift the same way; only the timing is the clock's.
:meth:`Drift.step` takes one step at once (the admin endpoint and tests use it).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from mns.errors import MnsError
from mns.fault.service import clear_alarm, raise_alarm
from mns.store.api import Scope, Update
from mns.store.sql import SqlStore

log = logging.getLogger("mns.sim")

AUTHOR: Final = "sim drift"
PCI_COUNT: Final = 1008
"""NR physical cell ids 0..1007 (TS 38.211)."""
OUTAGE_STEPS: Final = 3
"""Steps a cell stays out of service before it recovers."""
PCI_SHARE: Final = 0.6
"""The share of steps (without a recovery due) that change a PCI; the others are outages."""


@dataclass(frozen=True, slots=True)
class DriftEvent:
    """One change the network made to itself."""

    kind: str
    """``pci``, ``outage`` or ``recovery``."""
    dn: str
    rev: int | None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The event as the admin endpoint shows it."""
        return {"kind": self.kind, "dn": self.dn, "revision": self.rev, **self.detail}


def cell_dns(store: SqlStore) -> list[str]:
    """The NRCellDU DNs of the live network, in DN order."""
    out = []
    for root in store.roots():
        out += [dn for dn, cls, _, _ in store.scan(root.dn, scope=Scope.BASE_ALL) if cls == "NRCellDU"]
    return sorted(out)


class Drift:
    """The drift process over the sim's store; ``start()``/``stop()`` from any thread."""

    def __init__(
        self, *, store: SqlStore, per_min: float, seed: int, on_commit: Callable[[], None] = lambda: None
    ) -> None:
        if per_min < 0:
            raise ValueError(f"drift rate {per_min} per minute is negative")
        self.store = store
        self.per_min = per_min
        self.on_commit = on_commit
        self.events: list[DriftEvent] = []
        self._rng = random.Random(seed)
        self._cells: list[str] | None = None
        self._outages: list[tuple[int, str, str]] = []  # (step due, cell DN, alarm id)
        self._steps = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # the service ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start drifting (nothing when the rate is 0)."""
        if self.per_min <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mns-sim-drift", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop drifting (an outage in progress stays, as in a network)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        interval = 60.0 / self.per_min
        while not self._stop.wait(interval):
            try:
                self.step()
            except Exception:  # a store hiccup: the next step tries again
                log.exception("a drift step failed")

    # steps ----------------------------------------------------------------------------------

    def step(self) -> DriftEvent | None:
        """Take one step now; the change made, or None when there is no cell to change."""
        with self._lock:
            if self._cells is None:
                self._cells = cell_dns(self.store)
            self._steps += 1
            if self._outages and self._outages[0][0] <= self._steps:
                _, dn, alarm_id = self._outages.pop(0)
                event = self._recover(dn, alarm_id)
            elif not self._cells:
                return None
            else:
                dn = self._rng.choice(self._cells)
                pci = self._rng.random() < PCI_SHARE or any(dn == o[1] for o in self._outages)
                new_pci = self._rng.randrange(PCI_COUNT)
                event = self._pci(dn, new_pci) if pci else self._outage(dn)
            if event is not None:
                self.events.append(event)
                self.on_commit()
            return event

    def _commit(self, dn: str, attrs: dict[str, Any], message: str) -> int | None:
        try:
            result = self.store.commit([Update(dn, attrs)], source="real", author=AUTHOR, message=message)
        except MnsError as exc:  # the cell was deleted or changed under us: no drift this step
            log.info("drift skipped %s: %s", dn, exc)
            return None
        return result.rev

    def _pci(self, dn: str, new_pci: int) -> DriftEvent | None:
        moi = self.store.get(dn)
        if moi is None:
            return None
        old = moi.attrs.get("nRPCI")
        if new_pci == old:
            new_pci = (new_pci + 1) % PCI_COUNT
        rev = self._commit(dn, {"nRPCI": new_pci}, f"SON PCI conflict resolution: nRPCI {old} -> {new_pci}")
        return DriftEvent("pci", dn, rev, {"old": old, "new": new_pci}) if rev is not None else None

    def _outage(self, dn: str) -> DriftEvent | None:
        rev = self._commit(dn, {"operationalState": "DISABLED", "cellState": "INACTIVE"}, "cell out of service")
        if rev is None:
            return None
        alarm = raise_alarm(
            store=self.store,
            object_instance=dn,
            alarm_type="EQUIPMENT_ALARM",
            probable_cause="transmitterFailure",
            specific_problem="NR cell out of service",
            perceived_severity="CRITICAL",
            additional_text="Cell outage: the radio unit serving the cell stopped transmitting",
            additional_information={"operationalState": "DISABLED"},
            source="real",
            author=AUTHOR,
        )
        self._outages.append((self._steps + OUTAGE_STEPS, dn, alarm.alarm_id))
        return DriftEvent("outage", dn, rev, {"alarmId": alarm.alarm_id})

    def _recover(self, dn: str, alarm_id: str) -> DriftEvent | None:
        rev = self._commit(dn, {"operationalState": "ENABLED", "cellState": "ACTIVE"}, "cell back in service")
        try:
            clear_alarm(store=self.store, alarm_id=alarm_id, source="real", author=AUTHOR)
        except MnsError as exc:  # cleared by an operator meanwhile
            log.info("drift could not clear alarm %s: %s", alarm_id, exc)
        return DriftEvent("recovery", dn, rev, {"alarmId": alarm_id})

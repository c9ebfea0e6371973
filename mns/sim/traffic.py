"""Cell traffic that follows a day: deterministic PM counters (TS 28.552 names) for generated cells.

Each cell gets a busy-ness of its own (from the seed and its DN) and follows one daily curve: a
night trough around 04:00, a morning rise, a working-day plateau and an evening peak around
20:00, with a little noise per period. From the load of a period (0..1, the share of the cell's
PRBs in use) come the counters an operator looks at: PRB use (``RRU.*``), user throughput,
which falls as the cell fills (``DRB.UEThp*``), active users (``DRB.MeanActiveUe*``) and RRC
connections on the CU side (``RRC.Conn*``). The same cell, period and seed always give the same
values, so the twin's demo, the emulated network and the tests agree.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from mns.pm.model import Measurement

PRBS: Final[dict[tuple[int, int], int]] = {
    (15, 5): 25, (15, 10): 52, (15, 15): 79, (15, 20): 106, (15, 25): 133, (15, 30): 160, (15, 40): 216,
    (15, 50): 270, (30, 10): 24, (30, 15): 38, (30, 20): 51, (30, 25): 65, (30, 30): 78, (30, 40): 106,
    (30, 50): 133, (30, 60): 162, (30, 70): 189, (30, 80): 217, (30, 90): 245, (30, 100): 273,
}  # fmt: skip
"""Transmission bandwidth in PRBs by (subcarrier spacing kHz, channel bandwidth MHz), TS 38.104 FR1."""

DU_TYPES: Final = (
    "RRU.PrbTotDl", "RRU.PrbTotUl", "RRU.PrbUsedDl", "RRU.PrbUsedUl", "RRU.PrbAvailDl", "RRU.PrbAvailUl",
    "DRB.UEThpDl", "DRB.UEThpUl", "DRB.MeanActiveUeDl", "DRB.MeanActiveUeUl",
)  # fmt: skip
CU_TYPES: Final = ("RRC.ConnMean", "RRC.ConnMax")


@dataclass(frozen=True, slots=True)
class TrafficCell:
    """A cell to make traffic for: its NRCellDU, its NRCellCU (if any) and its PRBs."""

    du_dn: str
    cu_dn: str | None = None
    prbs: int = 273


def prbs_of(bandwidth_mhz: object, scs_khz: object) -> int:
    """The PRBs of a carrier (273 when the pair is not an FR1 one)."""
    if isinstance(bandwidth_mhz, int) and isinstance(scs_khz, int):
        return PRBS.get((scs_khz, bandwidth_mhz), 273)
    return 273


def _unit(*parts: object) -> float:
    """A uniform value in [0, 1) fixed by ``parts``."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def daily_curve(hour: float) -> float:
    """The shape of a day's traffic, 0..1, by hour of the day (UTC for the demo)."""
    base = 0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4.0) / 24.0)  # trough at 04:00
    evening = math.exp(-(((hour - 20.0) / 2.5) ** 2))
    morning = math.exp(-(((hour - 9.5) / 2.0) ** 2))
    return min(1.0, 0.08 + 0.62 * float(base**1.3) + 0.22 * evening + 0.1 * morning)


def cell_load(dn: str, end: datetime, *, seed: int) -> float:
    """The share of the cell's PRBs in use in the period ending at ``end``."""
    busy = 0.35 + 0.6 * _unit(seed, dn)  # this cell's busy-ness, 0.35..0.95
    hour = end.astimezone(UTC).hour + end.minute / 60.0
    noise = 0.85 + 0.3 * _unit(seed, dn, end.timestamp())
    return max(0.0, min(1.0, busy * daily_curve(hour) * noise))


def cell_measurements(cell: TrafficCell, end: datetime, *, period: int, seed: int) -> list[Measurement]:
    """The counters of one cell for the period ending at ``end``."""
    load = cell_load(cell.du_dn, end, seed=seed)
    ul = load * 0.55
    used_dl, used_ul = round(cell.prbs * load), round(cell.prbs * ul)
    users = load * 40.0
    values = {
        "RRU.PrbTotDl": round(100.0 * load, 1),
        "RRU.PrbTotUl": round(100.0 * ul, 1),
        "RRU.PrbUsedDl": float(used_dl),
        "RRU.PrbUsedUl": float(used_ul),
        "RRU.PrbAvailDl": float(cell.prbs),
        "RRU.PrbAvailUl": float(cell.prbs),
        "DRB.UEThpDl": round(180_000.0 * (1.0 - 0.8 * load), 0),  # kbit/s per user
        "DRB.UEThpUl": round(45_000.0 * (1.0 - 0.8 * ul), 0),
        "DRB.MeanActiveUeDl": round(users, 1),
        "DRB.MeanActiveUeUl": round(users * 0.7, 1),
    }
    out = [Measurement(cell.du_dn, mtype, period, end, value) for mtype, value in values.items()]
    if cell.cu_dn:
        connected = load * 220.0
        out.append(Measurement(cell.cu_dn, "RRC.ConnMean", period, end, round(connected, 1)))
        out.append(Measurement(cell.cu_dn, "RRC.ConnMax", period, end, float(math.ceil(connected * 1.3))))
    return out


def period_ends(start: datetime, end: datetime, period: int) -> Iterator[datetime]:
    """The ends of the granularity periods that fall in (start, end], aligned to the period."""
    step = timedelta(seconds=period)
    epoch = int(start.timestamp()) // period * period + period
    when = datetime.fromtimestamp(epoch, UTC)
    while when <= end:
        yield when
        when += step


def traffic(
    cells: Iterable[TrafficCell], start: datetime, end: datetime, *, period: int = 900, seed: int = 1
) -> Iterator[Measurement]:
    """The counters of every cell for every period ending in (start, end], period by period."""
    cells = list(cells)
    for when in period_ends(start, end, period):
        for cell in cells:
            yield from cell_measurements(cell, when, period=period, seed=seed)


def traffic_cells(objects: Iterable[tuple[str, str, dict[str, object]]]) -> list[TrafficCell]:
    """The cells of a network given as (dn, class, attributes): each NRCellDU with the NRCellCU of
    the same ManagedElement and ``cellLocalId``, and its PRBs from bandwidth and subcarrier spacing."""
    du: list[tuple[str, str, object, dict[str, object]]] = []
    cu: dict[tuple[str, object], str] = {}
    for dn, cls, attrs in objects:
        if cls not in ("NRCellDU", "NRCellCU"):
            continue
        me = dn.split(",GNBDUFunction=")[0] if cls == "NRCellDU" else dn.split(",GNBCUCPFunction=")[0]
        if cls == "NRCellDU":
            du.append((dn, me, attrs.get("cellLocalId"), attrs))
        else:
            cu[(me, attrs.get("cellLocalId"))] = dn
    return [
        TrafficCell(dn, cu.get((me, lid)), prbs_of(attrs.get("bSChannelBwDL"), attrs.get("ssbSubCarrierSpacing")))
        for dn, me, lid, attrs in du
    ]

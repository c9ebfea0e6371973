"""The generated cell traffic: deterministic, daily-shaped, and consistent between counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mns.pm.catalog import MEASUREMENTS
from mns.sim.generate import generate_network
from mns.sim.traffic import PRBS, TrafficCell, daily_curve, period_ends, prbs_of, traffic, traffic_cells

DAY = datetime(2026, 11, 2, tzinfo=UTC)
CELL = TrafficCell("SubNetwork=1,ManagedElement=1,GNBDUFunction=1,NRCellDU=1", "SubNetwork=1,X=1", 273)


def _by_type(rows: list) -> dict[str, float]:  # type: ignore[type-arg]
    return {m.mtype: m.value for m in rows}


def test_same_seed_same_values_other_seed_other_values() -> None:
    a = list(traffic([CELL], DAY, DAY + timedelta(hours=2), seed=7))
    b = list(traffic([CELL], DAY, DAY + timedelta(hours=2), seed=7))
    c = list(traffic([CELL], DAY, DAY + timedelta(hours=2), seed=8))
    assert a == b
    assert [m.value for m in a] != [m.value for m in c]


def test_periods_are_aligned_and_end_inside_the_window() -> None:
    ends = list(period_ends(DAY + timedelta(minutes=7), DAY + timedelta(hours=1), 900))
    assert ends == [DAY + timedelta(minutes=m) for m in (15, 30, 45, 60)]


def test_the_evening_is_busier_than_the_night() -> None:
    assert daily_curve(20.0) > 3 * daily_curve(4.0)
    assert all(0.0 <= daily_curve(h / 4) <= 1.0 for h in range(96))
    night = _by_type(list(traffic([CELL], DAY + timedelta(hours=3, minutes=45), DAY + timedelta(hours=4), seed=1)))
    evening = _by_type(list(traffic([CELL], DAY + timedelta(hours=19, minutes=45), DAY + timedelta(hours=20), seed=1)))
    assert evening["RRU.PrbUsedDl"] > night["RRU.PrbUsedDl"]
    assert evening["DRB.UEThpDl"] < night["DRB.UEThpDl"]  # a fuller cell gives each user less


@pytest.mark.parametrize("hour", [0, 6, 12, 18, 21])
def test_counters_agree_with_each_other(hour: int) -> None:
    end = DAY + timedelta(hours=hour)
    v = _by_type(list(traffic([CELL], end - timedelta(minutes=15), end, seed=3)))
    assert v["RRU.PrbAvailDl"] == 273
    assert 0 <= v["RRU.PrbUsedDl"] <= v["RRU.PrbAvailDl"]
    assert v["RRU.PrbTotDl"] == pytest.approx(100 * v["RRU.PrbUsedDl"] / 273, abs=0.6)
    assert v["RRU.PrbUsedUl"] <= v["RRU.PrbUsedDl"]
    assert v["RRC.ConnMax"] >= v["RRC.ConnMean"]


def test_counters_are_known_measurement_types() -> None:
    rows = list(traffic([CELL], DAY, DAY + timedelta(minutes=15), seed=1))
    du = {m.mtype for m in rows if m.dn == CELL.du_dn}
    cu = {m.mtype for m in rows if m.dn == CELL.cu_dn}
    assert du <= MEASUREMENTS["NRCellDU"]
    assert cu <= MEASUREMENTS["NRCellCU"]


def test_cells_of_a_generated_network_pair_du_and_cu() -> None:
    objects = [(o.dn, o.cls, o.attrs) for o in generate_network(3, seed=5)]
    cells = traffic_cells(objects)
    dus = [dn for dn, cls, _ in objects if cls == "NRCellDU"]
    assert sorted(c.du_dn for c in cells) == sorted(dus)
    assert all(c.cu_dn is not None and ",NRCellCU=" in c.cu_dn for c in cells)
    assert all(c.cu_dn.split(",GNBCUCPFunction=")[0] == c.du_dn.split(",GNBDUFunction=")[0] for c in cells)  # type: ignore[union-attr]
    assert {c.prbs for c in cells} <= set(PRBS.values())


def test_prbs_follow_bandwidth_and_spacing() -> None:
    assert prbs_of(100, 30) == 273
    assert prbs_of(20, 15) == 106
    assert prbs_of("wide", None) == 273

"""Impact prediction: a lock that overloads a neighbour is found, and only there.

Each test generates a small network, stores a night of PM for its cells (light natural traffic)
and plants, by seed, a loaded cell and a busy neighbour; a sandbox then changes the network and
the rules run on a scope over the base and the sandbox, read through a minimal View over the store.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mns.errors import NotFound
from mns.nrm.dn import DN
from mns.pm.model import Measurement
from mns.pm.store import PmStore
from mns.sim.generate import generate_network
from mns.sim.traffic import period_ends, traffic, traffic_cells
from mns.store import Create, SqlStore
from mns.store.api import Delete, Op, Update
from mns.store.api import Scope as StoreScope
from mns.verify.impact import RULES, ImpactParams, predict, utilisation
from mns.verify.model import Finding, Scope, Severity

ROOT = "SubNetwork=RAN"
AT = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # the night trough: natural load stays low
WINDOW = timedelta(hours=4)
SEEDS = [1, 2, 3, 5]


class StoreView:
    """A read-only View of one branch of a SqlStore (the engine has its own; this one is the test's)."""

    def __init__(self, store: SqlStore, branch: int) -> None:
        self.store, self.branch = store, branch

    def get(self, dn: str) -> tuple[str, dict[str, Any]] | None:
        moi = self.store.get(dn, branch=self.branch)
        return (moi.cls, moi.attrs) if moi else None

    def children(self, dn: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        try:
            rows = list(self.store.read(dn, scope=StoreScope.BASE_NTH_LEVEL, level=1, branch=self.branch))
        except NotFound:
            return iter(())
        return ((m.dn, m.cls, m.attrs) for m in rows)

    def of_class(self, cls: str) -> Iterator[tuple[str, dict[str, Any]]]:
        rows = self.store.read(ROOT, scope=StoreScope.BASE_ALL, branch=self.branch)
        return ((m.dn, m.attrs) for m in rows if m.cls == cls)


@dataclass
class Twin:
    store: SqlStore
    pm: PmStore
    seed: int
    cells: dict[str, dict[str, Any]]
    """NRCellDU DN -> attributes."""

    def site_of(self, dn: str) -> str:
        parent = DN.parse(dn).parent
        assert parent is not None
        return str(parent)

    def pick(self, *, mid_band: bool = True) -> str:
        """A cell chosen by the seed (on the 100 MHz carrier unless told otherwise)."""
        wide = sorted(dn for dn, a in self.cells.items() if (a["bSChannelBwDL"] == 100) == mid_band)
        return random.Random(self.seed).choice(wide)

    def co_sited(self, dn: str, *, width: int | None = None) -> str:
        """Another cell of the same site (of that bandwidth, if given), chosen by the seed."""
        others = sorted(
            c
            for c, a in self.cells.items()
            if c != dn and self.site_of(c) == self.site_of(dn) and width in (None, a["bSChannelBwDL"])
        )
        return random.Random(self.seed * 7919).choice(others)

    def plant(self, dn: str, load: float | list[float]) -> None:
        """Overwrite a cell's DL PRB counters over the window with ``load`` (per period if a list)."""
        ends = list(period_ends(AT - WINDOW, AT, 900))
        loads = load if isinstance(load, list) else [load] * len(ends)
        rows = []
        for end, u in zip(ends, loads, strict=True):
            rows += [
                Measurement(dn, "RRU.PrbTotDl", 900, end, round(100 * u, 1)),
                Measurement(dn, "RRU.PrbUsedDl", 900, end, float(round(273 * u))),
                Measurement(dn, "RRU.PrbAvailDl", 900, end, 273.0),
            ]
        self.pm.add(rows)

    def sandbox(self, *ops: Op) -> StoreView:
        branch = self.store.create_branch(name="impact")
        if ops:
            self.store.commit(list(ops), source=f"sandbox:{branch.id}", branch=branch.id)
        return StoreView(self.store, branch.id)

    def scope(self, view: StoreView, dns: set[str] | None, **context: Any) -> Scope:
        ctx: dict[str, Any] = {"base": StoreView(self.store, 0), "store": self.store, "pm": self.pm, "impact_at": AT}
        ctx.update(context)
        return Scope(view=view, dns=frozenset(dns) if dns is not None else None, context=ctx)


def make_twin(store: SqlStore, seed: int, *, regions: int | None = None) -> Twin:
    objects = list(generate_network(4, seed=seed, root=ROOT, regions=regions))
    store.commit((Create(o.dn, o.attrs, o.cls) for o in objects), source="real", message="generated")
    pm = PmStore(store)
    cells = traffic_cells((o.dn, o.cls, o.attrs) for o in objects)
    pm.add(list(traffic(cells, AT - WINDOW - timedelta(hours=1), AT, seed=seed)))
    return Twin(store, pm, seed, {o.dn: o.attrs for o in objects if o.cls == "NRCellDU"})


def run(scope: Scope) -> list[Finding]:
    return [f for rule in RULES for f in rule.check(scope)]


def overloads(findings: list[Finding]) -> dict[str, Finding]:
    return {f.dn: f for f in findings if f.rule == "impact-overload"}


@pytest.fixture(params=SEEDS)
def twin(request: pytest.FixtureRequest, store: SqlStore) -> Twin:
    return make_twin(store, int(request.param))


def test_a_lock_that_overloads_a_neighbour_is_found_there(twin: Twin) -> None:
    source = twin.pick()
    hot = twin.co_sited(source)
    twin.plant(source, 0.95)
    twin.plant(hot, 0.7)
    sandbox = twin.sandbox(Update(source, {"administrativeState": "LOCKED"}))
    findings = run(twin.scope(sandbox, {source}))
    found = overloads(findings)
    assert list(found) == [hot]  # the busy neighbour, and none of the lightly loaded ones
    f = found[hot]
    assert f.severity is Severity.WARNING
    assert f.related == (source,)
    assert f.evidence["sources"] == {source: "locked"}
    assert f.evidence["own"] == pytest.approx(0.7)
    assert f.evidence["periods"] == 16  # four hours of 15-minute periods
    assert f.message.startswith("locking ManagedElement=")
    assert f.evidence["predicted"] > 0.8 == f.evidence["threshold"]
    assert f.evidence["predicted"] == pytest.approx(f.evidence["own"] + f.evidence["moved"], abs=1e-3)
    assert [x for x in findings if x.rule == "impact-no-pm"] == []
    # The base itself has nothing to predict.
    base = StoreView(twin.store, 0)
    assert run(twin.scope(base, {source}, base=base)) == []
    # Every receiving neighbour got the same utilisation (capacity-proportional shares); the six
    # nearest take it (the cell lists more neighbours than that).
    cu = source.replace("GNBDUFunction=1,NRCellDU=", "GNBCUCPFunction=1,NRCellCU=")
    assert sum(1 for _, cls, _ in StoreView(twin.store, 0).children(cu) if cls == "NRCellRelation") > 6
    cells = predict(twin.scope(sandbox, {source})).cells
    assert len(cells) == 6
    assert len({round(c.moved, 6) for c in cells}) == 1
    assert all(c.sources == (source,) for c in cells)


def test_locking_a_lightly_loaded_cell_overloads_nothing(twin: Twin) -> None:
    source = twin.pick()
    hot = twin.co_sited(source)
    twin.plant(source, 0.1)
    twin.plant(hot, 0.7)
    sandbox = twin.sandbox(Update(source, {"administrativeState": "LOCKED"}))
    scope = twin.scope(sandbox, {source})
    assert run(scope) == []
    moved = {c.dn: c for c in predict(scope).cells}
    assert hot in moved
    assert 0 < moved[hot].moved < 0.1  # load did move, too little to matter


def test_a_change_that_keeps_the_cell_in_service_predicts_nothing(twin: Twin) -> None:
    source = twin.pick()
    twin.plant(source, 0.95)
    twin.plant(twin.co_sited(source), 0.79)
    sandbox = twin.sandbox(Update(source, {"userLabel": "renamed"}))
    scope = twin.scope(sandbox, None)  # every cell
    assert run(scope) == []
    assert predict(scope).outages == {}


@pytest.mark.parametrize("seed", [2])
def test_deleting_the_cell_or_its_site_moves_the_load_too(store: SqlStore, seed: int) -> None:
    twin = make_twin(store, seed)
    source = twin.pick()
    hot = twin.co_sited(source)
    twin.plant(source, 0.95)
    twin.plant(hot, 0.7)
    gone = run(twin.scope(twin.sandbox(Delete(source)), {source}))
    assert list(overloads(gone)) == [hot]
    assert overloads(gone)[hot].evidence["sources"] == {source: "deleted"}
    me = str(DN.parse(twin.site_of(source)).parent)
    site_gone = twin.sandbox(Delete(me, subtree=True))
    impact = predict(twin.scope(site_gone, {me}))
    assert impact.outages == {dn: "deleted" for dn in twin.cells if dn.startswith(me + ",")}
    assert all(not c.dn.startswith(me + ",") for c in impact.cells)  # no cell of the site takes load


@pytest.mark.parametrize("seed", [1, 4])
def test_a_neighbour_in_another_region_is_reached_through_its_external_cell(store: SqlStore, seed: int) -> None:
    twin = make_twin(store, seed, regions=2)
    source = twin.pick()
    region = str(DN.parse(source).rdns[:2])
    far = sorted(dn for dn in twin.cells if str(DN.parse(dn).rdns[:2]) != region)
    hot = random.Random(seed).choice(far)
    twin.plant(source, 0.95)
    twin.plant(hot, 0.79)
    sandbox = twin.sandbox(Update(source, {"administrativeState": "LOCKED"}))
    found = overloads(run(twin.scope(sandbox, {source}, impact_neighbours=100)))
    assert list(found) == [hot]
    assert found[hot].related == (source,)


def test_the_threshold_is_configurable(store: SqlStore) -> None:
    twin = make_twin(store, 3)
    source = twin.pick()
    hot = twin.co_sited(source)
    twin.plant(source, 0.95)
    twin.plant(hot, 0.7)
    sandbox = twin.sandbox(Update(source, {"administrativeState": "LOCKED"}))
    assert overloads(run(twin.scope(sandbox, {source}, impact_threshold=0.99))) == {}
    low = overloads(run(twin.scope(sandbox, {source}, impact_threshold=0.3)))
    assert hot in low
    assert len(low) > 1


def test_p95_catches_a_busy_period_that_the_mean_hides(store: SqlStore) -> None:
    twin = make_twin(store, 1)
    source = twin.pick()
    hot = twin.co_sited(source)
    twin.plant(source, 0.95)
    twin.plant(hot, [0.3] * 15 + [0.75])
    sandbox = twin.sandbox(Update(source, {"administrativeState": "LOCKED"}))
    peak = overloads(run(twin.scope(sandbox, {source})))
    assert list(peak) == [hot]
    assert peak[hot].evidence["at"] == "2026-03-02T04:00:00Z"
    assert peak[hot].evidence["own"] == pytest.approx(0.75)
    assert overloads(run(twin.scope(sandbox, {source}, impact_statistic="mean"))) == {}


def test_a_neighbour_locked_in_the_same_change_takes_no_load(store: SqlStore) -> None:
    twin = make_twin(store, 2)
    source = twin.pick()
    hot = twin.co_sited(source)
    twin.plant(source, 0.95)
    twin.plant(hot, 0.7)
    lock = {"administrativeState": "LOCKED"}
    sandbox = twin.sandbox(Update(source, lock), Update(hot, lock))
    impact = predict(twin.scope(sandbox, {source, hot}))
    assert set(impact.outages) == {source, hot}
    assert hot not in {c.dn for c in impact.cells}
    assert impact.cells  # the others took both cells' load


def test_narrowing_a_busy_cell_overloads_it(store: SqlStore) -> None:
    twin = make_twin(store, 5)
    cell = twin.pick()
    twin.plant(cell, 0.5)
    sandbox = twin.sandbox(Update(cell, {"bSChannelBwDL": 40}))
    found = overloads(run(twin.scope(sandbox, {cell})))
    assert list(found) == [cell]
    assert found[cell].related == ()
    assert found[cell].evidence["capacityRatio"] == pytest.approx(2.5)
    assert found[cell].evidence["predicted"] == pytest.approx(1.25)
    wider = twin.sandbox(Update(cell, {"bSChannelBwDL": 100, "userLabel": "same width"}))
    assert run(twin.scope(wider, {cell})) == []


def test_a_narrowed_neighbour_takes_the_moved_load_on_fewer_prbs(store: SqlStore) -> None:
    twin = make_twin(store, 3)
    source = twin.pick()
    hot = twin.co_sited(source, width=100)
    twin.plant(source, 0.95)
    twin.plant(hot, 0.35)  # 0.35 of 100 MHz is 0.7 of 50 MHz
    lock = Update(source, {"administrativeState": "LOCKED"})
    assert overloads(run(twin.scope(twin.sandbox(lock), {source}))) == {}
    narrowed = twin.sandbox(lock, Update(hot, {"bSChannelBwDL": 50}))
    found = overloads(run(twin.scope(narrowed, {source, hot})))
    assert list(found) == [hot]
    # Its narrowing counts even when only the locked cell is in the scope.
    assert overloads(run(twin.scope(narrowed, {source}))) == found
    assert found[hot].related == (source,)
    assert found[hot].evidence["capacityRatio"] == pytest.approx(2.0)
    assert found[hot].evidence["own"] == pytest.approx(0.7)


def test_without_pm_the_rule_says_so_instead_of_guessing(store: SqlStore) -> None:
    twin = make_twin(store, 1)
    source = twin.pick()
    twin.plant(source, 0.95)
    sandbox = twin.sandbox(Update(source, {"administrativeState": "LOCKED"}))
    no_store = run(twin.scope(sandbox, {source}, pm=None))
    assert [(f.rule, f.severity, f.dn) for f in no_store] == [("impact-no-pm", Severity.INFO, source)]
    later = run(twin.scope(sandbox, {source}, impact_at=AT + timedelta(days=30)))
    assert [(f.rule, f.dn) for f in later] == [("impact-no-pm", source)]
    assert "no PM in the window" in later[0].message


def test_utilisation_reads_the_percentage_or_the_prb_counts() -> None:
    end = AT
    percent = [Measurement("C=1", "RRU.PrbTotDl", 900, end, 62.5), Measurement("C=1", "RRU.PrbUsedDl", 900, end, 1.0)]
    assert utilisation(percent) == {end: 0.625}
    counts = [
        Measurement("C=1", "RRU.PrbUsedDl", 900, end, 68.0),
        Measurement("C=1", "RRU.PrbAvailDl", 900, end, 272.0),
        Measurement("C=1", "RRU.PrbUsedDl", 900, end + WINDOW, 5.0),  # no available PRBs: no value
    ]
    assert utilisation(counts) == {end: 0.25}


def test_rules_are_data_and_bad_settings_are_refused() -> None:
    assert [(r.name, r.family, r.severity) for r in RULES] == [
        ("impact-overload", "impact", Severity.WARNING),
        ("impact-no-pm", "impact", Severity.INFO),
    ]
    assert all("NRCellDU" in r.looks_at for r in RULES)
    assert ImpactParams.of({}).threshold == 0.8
    with pytest.raises(ValueError, match="impact_statistic"):
        ImpactParams.of({"impact_statistic": "median"})
    with pytest.raises(ValueError, match="time zone"):
        ImpactParams.of({"impact_at": datetime(2026, 1, 1)})  # naive: the point of the test

"""Each rule family on a small generated network: the change that breaks a rule and the finding it gives."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import verify_plant

from mns.sim.layout import NetworkPlan
from mns.store import Create, Delete, Op, Scope, SqlStore, Update, open_store
from mns.verify import Finding, Severity, audit, verify_sandbox
from mns.verify.model import Report

SEED = 6


class _Lax:
    """A validator that accepts anything: a twin filled before a registry change, or by a laxer tool."""

    def validate(self, dn: str, cls: str, attrs: Mapping[str, Any], **_: Any) -> Sequence[Any]:
        return []


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[tuple[SqlStore, NetworkPlan]]:
    """A twin holding the seed's network, and its plan."""
    s = open_store(str(tmp_path / "twin.db"))
    verify_plant.load(s, SEED)
    try:
        yield s, verify_plant.network(SEED)
    finally:
        s.close()


def _verify(store: SqlStore, ops: Sequence[Op]) -> Report:
    branch = store.create_branch().id
    store.commit(ops, source="oss", branch=branch)
    return verify_sandbox(store, branch)


def _of(report: Report, rule: str) -> list[Finding]:
    return [f for f in report.introduced if f.rule == rule]


def _same_carrier_neighbour(plan: NetworkPlan, c: int) -> int:
    return next(n for n in plan.cells[c].neighbours if plan.cells[n].carrier == plan.cells[c].carrier)


def test_schema_and_containment_in_a_lax_twin(tmp_path: Path) -> None:
    store = SqlStore(str(tmp_path / "lax.db"), validator=_Lax())
    try:
        verify_plant.load(store, SEED)
        plan = verify_plant.network(SEED)
        cell = plan.cell_dn(0)
        cu_function = f"{plan.site_dn(0)},GNBCUCPFunction=1"
        report = _verify(
            store,
            [Update(cell, {"nRPCI": "twelve"}), Create(f"{cu_function},NRCellDU=77", {"cellLocalId": 77}, "NRCellDU")],
        )
        schema = _of(report, "schema")
        assert [(f.dn, f.attribute, f.severity) for f in schema if f.evidence["check"] == "type"] == [
            (cell, "nRPCI", Severity.ERROR)
        ]
        [contained] = _of(report, "containment")
        assert contained.dn == f"{cu_function},NRCellDU=77"
        assert contained.evidence["parentClass"] == "GNBCUCPFunction"
        assert contained.evidence["allowedParents"] == ["GNBDUFunction"]
        audited = audit(store, branch=store.branches()[-1].id)
        assert {f.key for f in report.introduced if f.rule in ("schema", "containment")} <= {f.key for f in audited}
    finally:
        store.close()


def test_reference_to_an_object_of_the_wrong_class(twin: tuple[SqlStore, NetworkPlan]) -> None:
    store, plan = twin
    target = plan.cells[plan.cells[0].neighbours[0]]
    relation = f"{plan.cell_dn(0, 'NRCellCU')},NRCellRelation={plan.sites[target.site].name}-{target.local_id}"
    report = _verify(store, [Update(relation, {"nRFreqRelationRef": plan.cell_dn(0, "NRCellCU")})])
    [wrong] = _of(report, "reference-class")
    assert wrong.dn == relation
    assert wrong.attribute == "nRFreqRelationRef"
    assert wrong.evidence["targetClass"] == "NRCellCU"
    assert wrong.evidence["allowedClasses"] == ["NRFreqRelation"]


def test_deleting_a_cell_leaves_the_relations_to_it_dangling(twin: tuple[SqlStore, NetworkPlan]) -> None:
    store, plan = twin
    region = plan.sites[plan.cells[0].site].region
    listing = [c.index for c in plan.cells if 0 in c.neighbours and plan.sites[c.site].region == region]
    assert listing
    cu = plan.cell_dn(0, "NRCellCU")
    report = _verify(store, [Delete(cu, subtree=True)])
    dangling = {f.dn for f in _of(report, "dangling-reference") if f.related == (cu,)}
    name = f"{plan.sites[plan.cells[0].site].name}-{plan.cells[0].local_id}"
    assert dangling == {f"{plan.cell_dn(c, 'NRCellCU')},NRCellRelation={name}" for c in listing}


def test_collision_with_a_cell_of_another_region(twin: tuple[SqlStore, NetworkPlan]) -> None:
    store, plan = twin
    region_of = [plan.sites[c.site].region for c in plan.cells]
    c, n = next(
        (c.index, n)
        for c in plan.cells
        for n in c.neighbours
        if region_of[n] != region_of[c.index] and plan.cells[n].carrier == c.carrier
    )
    report = _verify(store, [Update(plan.cell_dn(c), {"nRPCI": plan.cells[n].pci})])
    pair = tuple(sorted((plan.cell_dn(c), plan.cell_dn(n))))
    [collision] = [f for f in _of(report, "pci-collision") if (f.dn, *f.related) == pair]
    assert collision.evidence["nRPCI"] == plan.cells[n].pci
    assert collision.evidence["ssbFrequency"] == plan.carriers[plan.cells[n].carrier].ssb_arfcn


def test_pci_change_on_another_carrier_collides_with_nothing(twin: tuple[SqlStore, NetworkPlan]) -> None:
    store, plan = twin
    c = next(c.index for c in plan.cells if any(plan.cells[n].carrier != c.carrier for n in c.neighbours))
    n = next(n for n in plan.cells[c].neighbours if plan.cells[n].carrier != plan.cells[c].carrier)
    report = _verify(store, [Update(plan.cell_dn(c), {"nRPCI": plan.cells[n].pci, "administrativeState": "LOCKED"})])
    assert not any(plan.cell_dn(n) in (f.dn, *f.related) for f in _of(report, "pci-collision"))


def test_co_sited_cells_with_equal_pci_mod_3(twin: tuple[SqlStore, NetworkPlan]) -> None:
    store, plan = twin
    site = next(s for s in plan.sites if len(s.cells) >= 2)
    a, b = site.cells[:2]
    assert plan.cells[a].carrier == plan.cells[b].carrier
    pci = (plan.cells[a].pci + 300) % 1008  # the same residue, most likely free around
    report = _verify(store, [Update(plan.cell_dn(b), {"nRPCI": pci, "administrativeState": "LOCKED"})])
    [mod3] = _of(report, "pci-mod3")
    assert mod3.severity is Severity.WARNING
    assert (mod3.dn, *mod3.related) == tuple(sorted((plan.cell_dn(a), plan.cell_dn(b))))
    assert mod3.evidence["mod3"] == pci % 3


def test_cell_local_id_beyond_its_bits(twin: tuple[SqlStore, NetworkPlan]) -> None:
    store, plan = twin
    report = _verify(store, [Update(plan.cell_dn(0, "NRCellCU"), {"cellLocalId": 5000})])
    [bits] = _of(report, "cell-local-id-bits")
    assert bits.dn == plan.cell_dn(0, "NRCellCU")
    assert bits.evidence == {"cellLocalId": 5000, "gNBIdLength": 24, "maxCellLocalId": 4095}


def test_stale_nrtci_of_a_relation(twin: tuple[SqlStore, NetworkPlan]) -> None:
    store, plan = twin
    target = plan.cells[plan.cells[0].neighbours[0]]
    relation = f"{plan.cell_dn(0, 'NRCellCU')},NRCellRelation={plan.sites[target.site].name}-{target.local_id}"
    stale = (target.nci << 10) | ((target.pci + 1) % 1008)
    report = _verify(store, [Update(relation, {"nRTCI": stale})])
    [found] = _of(report, "relation-nrtci-stale")
    assert found.dn == relation
    assert found.severity is Severity.WARNING
    assert found.evidence["expected"] == (target.nci << 10) | target.pci


def test_changing_a_real_cell_makes_its_stand_ins_stale(twin: tuple[SqlStore, NetworkPlan]) -> None:
    store, plan = twin
    region, t = next((r, t) for r, ext in enumerate(plan.externals) for t in ext)
    fresh = (plan.cells[t].pci + 501) % 1008
    report = _verify(store, [Update(plan.cell_dn(t), {"nRPCI": fresh, "administrativeState": "LOCKED"})])
    stale = {f.dn for f in _of(report, "external-cell-stale")}
    assert plan.external_dn(region, t) in stale
    assert all(f.related == (plan.cell_dn(t),) for f in _of(report, "external-cell-stale"))


def test_changes_that_need_a_locked_cell(twin: tuple[SqlStore, NetworkPlan]) -> None:
    store, plan = twin
    cell = plan.cell_dn(0)
    report = _verify(store, [Update(cell, {"nRTAC": 4242, "userLabel": "x"})])
    [locked] = _of(report, "needs-locked")
    assert locked.dn == cell
    assert locked.evidence["changes"] == {"nRTAC": {"old": plan.sites[0].tac, "new": 4242}}
    assert _of(_verify(store, [Update(cell, {"nRTAC": 4242, "administrativeState": "LOCKED"})]), "needs-locked") == []
    assert _of(_verify(store, [Update(cell, {"userLabel": "only a label"})]), "needs-locked") == []
    carrier = f"{plan.site_dn(0)},GNBDUFunction=1,NRSectorCarrier={plan.cells[0].local_id}"
    [sector] = _of(_verify(store, [Update(carrier, {"bSChannelBwDL": 80})]), "needs-locked")
    assert sector.dn == carrier
    assert sector.related == (cell,)


def test_renaming_a_cell_finds_nothing(twin: tuple[SqlStore, NetworkPlan]) -> None:
    store, plan = twin
    report = _verify(store, [Update(plan.cell_dn(3), {"userLabel": "renamed"})])
    assert report.errors == []
    assert report.introduced == []
    assert report.fixed == []
    assert report.objects > 30  # the neighbourhood was looked at all the same


def test_the_audit_resolves_references_behind_and_ahead_of_its_scan(twin: tuple[SqlStore, NetworkPlan]) -> None:
    # The audit scans in key order: a reference may name an object already scanned, or one the
    # scan reaches later (taken on trust, then confirmed or run again). Both must come out as
    # incremental verification says.
    store, plan = twin
    cu = plan.cell_dn(0, "NRCellCU")
    function = cu.rsplit(",", 1)[0]
    relations = [m.dn for m in store.read(cu, scope=Scope.BASE_NTH_LEVEL, level=1) if m.cls == "NRCellRelation"]
    behind, ahead, wrong, kept = relations[:4]
    later = max((plan.cell_dn(c.index, "NRCellCU") for c in plan.cells), key=lambda d: d.replace(",", "\x01"))
    assert later.replace(",", "\x01") > wrong.replace(",", "\x01")
    report = _verify(
        store,
        [
            Update(behind, {"adjacentNRCellRef": f"{function},NRCellCU=0"}),
            Update(ahead, {"adjacentNRCellRef": f"{function},NRCellCU=99"}),
            Update(wrong, {"nRFreqRelationRef": later}),
        ],
    )
    expected = {
        ("dangling-reference", behind, f"{function},NRCellCU=0"),
        ("dangling-reference", ahead, f"{function},NRCellCU=99"),
        ("reference-class", wrong, later),
    }
    rules = ("dangling-reference", "reference-class")
    assert {(f.rule, f.dn, f.related[0]) for f in report.introduced if f.rule in rules} == expected
    audited = audit(store, branch=store.branches()[-1].id)
    assert {(f.rule, f.dn, f.related[0]) for f in audited if f.rule in rules} == expected
    assert not [f for f in audited if f.dn == kept and f.rule in rules]

"""Verification on generated networks: planted problems found by the right rule, clean networks clean.

Each seed gives another network and other plants (``tests/verify_plant.py``). Incremental
verification of each plant's sandbox finds it; after merging every plant into the live twin the
full audit's errors are exactly the union of the incremental runs' errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import verify_plant
from test_verify_rules import _Lax
from verify_plant import Plant

from mns.store import Create, SqlStore, Update, open_store
from mns.store.api import LIVE
from mns.store.api import Scope as ScanScope
from mns.verify import Severity, audit, latest_report, load_rules, verify_changes, verify_sandbox
from mns.verify.engine import RULE_MODULES, run_rules, scope_of, sort_findings
from mns.verify.model import Finding, Scope
from mns.verify.views import MemoryView, Net, StoreView

SEEDS = [1, 2, 3, 4, 5]
TRIMMED = ("adjacentNRCellRef", "nRTCI")


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[SqlStore]:
    """An empty SQLite twin."""
    s = open_store(str(tmp_path / "twin.db"))
    try:
        yield s
    finally:
        s.close()


def _found(plant: Plant, findings: list[Finding]) -> bool:
    return any(plant.matches(f.rule, f.dn, f.related) for f in findings)


def _sandbox(store: SqlStore, ops: tuple[Update, ...] | list[Update], name: str = "") -> int:
    branch = store.create_branch(name=name).id
    store.commit(ops, source="oss", branch=branch)
    return branch


@pytest.mark.parametrize("seed", SEEDS)
def test_clean_network_gives_no_errors(twin: SqlStore, seed: int) -> None:
    verify_plant.load(twin, seed)
    findings = audit(twin)
    assert [f for f in findings if f.severity is Severity.ERROR] == []
    # The generator omits YANG-mandatory leaves real networks omit too: warnings, of schema only.
    assert {f.rule for f in findings} <= {"schema"}
    assert {f.evidence["check"] for f in findings} <= {"mandatory"}


@pytest.mark.parametrize("seed", SEEDS)
def test_planted_problems_are_found_by_their_rule(twin: SqlStore, seed: int) -> None:
    verify_plant.load(twin, seed)
    planted = verify_plant.plants(seed)
    assert len({p.rule for p in planted}) == 6
    union: set[tuple[object, ...]] = set()
    for plant in planted:
        branch = _sandbox(twin, plant.ops, plant.rule)
        report = verify_sandbox(twin, branch)
        assert _found(plant, report.introduced), (plant, [f.as_json() for f in report.introduced])
        assert report.fixed == []
        assert plant.rule in report.rules
        # needs-locked judges a change, not a state: an audit has no change to judge.
        union.update(f.key for f in report.findings if f.severity is Severity.ERROR and f.rule != "needs-locked")
    for plant in planted:
        branch = next(b.id for b in twin.branches() if b.name == plant.rule)
        twin.merge_branch(branch)
    found = audit(twin)
    for plant in planted:
        assert _found(plant, found), plant
    assert {f.key for f in found if f.severity is Severity.ERROR} == union


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_the_audit_agrees_with_the_rules_run_over_the_store(twin: SqlStore, seed: int) -> None:
    """The audit's memory (relations kept lean, reverse lookups built in bulk) answers as the store does.

    With every plant merged, the network rules run once through the audit's ``MemoryView`` and
    once over a ``StoreView`` of the same revision (SQL lookups, nothing kept); the findings,
    messages and evidence included, are the same.
    """
    verify_plant.load(twin, seed)
    for plant in verify_plant.plants(seed):
        twin.merge_branch(_sandbox(twin, plant.ops, plant.rule))
    rev = twin.head()
    rules = [r for r in load_rules() if r.each is None]
    context = {"store": twin, "as_of": rev, "branch": LIVE}
    over_store = run_rules(rules, Scope(StoreView(twin, rev=rev), None, context))
    audited = audit(twin, rules=rules)
    assert {f.rule for f in audited} >= {"pci-collision", "pci-confusion", "nci-unique", "relation-nrtci-stale"}
    assert [f.as_json() for f in audited] == [f.as_json() for f in over_store]
    kept = MemoryView()
    for root in twin.roots():
        for dn, cls, attrs, _ in twin.scan(root.dn, scope=ScanScope.BASE_ALL):
            kept.add(dn, cls, orjson.loads(attrs))
    kept.fallback = StoreView(twin, rev=rev)
    memory, store = Net(kept), Net(StoreView(twin, rev=rev))
    cells = [dn for dn, _ in kept.of_class("NRCellDU")]
    assert len(cells) > 50
    for cell in cells:
        nci = store.nci(cell)
        if nci is not None:
            for cls in ("NRCellDU", "NRCellCU", "ExternalNRCellCU"):
                assert memory.with_nci(nci, cls) == store.with_nci(nci, cls)
        assert memory.targets(cell) == store.targets(cell)
        assert memory.sources(cell) == store.sources(cell)
        assert memory.incoming(cell) == store.incoming(cell)
        assert memory.neighbours(cell) == store.neighbours(cell)
    relations = [dn for dn, _ in StoreView(twin, rev=rev).of_class("NRCellRelation")]
    assert [dn for dn, _ in kept.of_class("NRCellRelation")] == relations
    for dn in relations[::50]:
        assert kept.get(dn) == ("NRCellRelation", {k: v for k, v in twin.get(dn).attrs.items() if k in TRIMMED})


def test_the_audit_in_two_processes_finds_the_same(store: SqlStore) -> None:
    """Network rules in a second process (what a big twin gets) give the findings of one process.

    On either backend: the second process opens the store by its URL.
    """
    twin = store
    verify_plant.load(twin, 3)
    for plant in verify_plant.plants(3):
        twin.merge_branch(_sandbox(twin, plant.ops, plant.rule))
    # And an object under a parent its class may not have, written past validation.
    lax = SqlStore(twin.url, validator=_Lax())
    try:
        plan = verify_plant.network(3)
        lax.commit([Create(f"{plan.site_dn(0)},GNBCUCPFunction=1,NRCellDU=77", {"cellLocalId": 77})], source="real")
    finally:
        lax.close()
    one = audit(twin, processes=1)
    two = audit(twin, processes=2)
    assert {f.rule for f in one} >= {"schema", "containment", "pci-collision", "nci-unique", "dangling-reference"}
    assert [f.as_json() for f in two] == [f.as_json() for f in one]


def test_the_audit_per_object_rules_agree_with_their_checks_object_by_object(store: SqlStore) -> None:
    """The audit checks runs of one class at a time and resolves references once the scan is over.

    On odd values written past validation (a list, a mapping or a number where one DN goes, a
    reference to a relation, dangling DNs in a list attribute, an object under the wrong parent,
    mandatory attributes missing, a malformed DN), in one process and in two, it finds what each per-object
    rule's own check finds object by object over the store.
    """
    twin = store
    verify_plant.load(twin, 5)
    plan = verify_plant.network(5)
    cu, du = plan.cell_dn(0, "NRCellCU"), plan.cell_dn(0)
    relations = [m.dn for m in twin.read(cu, scope=ScanScope.BASE_NTH_LEVEL, level=1) if m.cls == "NRCellRelation"]
    lax = SqlStore(twin.url, validator=_Lax())
    try:
        lax.commit(
            [
                Update(relations[0], {"adjacentNRCellRef": [plan.cell_dn(1, "NRCellCU"), "SubNetwork=Nowhere"]}),
                Update(relations[1], {"adjacentNRCellRef": {"not": "a DN"}}),
                Update(relations[2], {"nRTCI": "x", "adjacentNRCellRef": relations[3]}),
                Update(relations[4], {"adjacentNRCellRef": 42, "isHOAllowed": None}),
                Update(relations[5], {"adjacentNRCellRef": "not a DN"}),
                Update(du, {"nRSectorCarrierRef": [f"{du},NRSectorCarrier=9", 7], "bWPRef": "SubNetwork=X"}),
                Create(f"{plan.site_dn(0)},GNBCUCPFunction=1,NRCellDU=77", {"cellLocalId": 77}),
            ],
            source="real",
        )
    finally:
        lax.close()
    per_object = [r for r in load_rules() if r.each is not None]
    names = {r.name for r in per_object}
    view = StoreView(twin, rev=twin.head())
    expected = sort_findings(
        f
        for dn, cls, text in twin.state()
        for rule in per_object
        if rule.each is not None
        for f in rule.each(dn, cls, orjson.loads(text), view)
    )
    assert {f.rule for f in expected} == names
    assert {f.dn for f in expected if f.rule == "reference-class"} >= {relations[2]}
    for processes in (1, 2):
        audited = [f for f in audit(twin, processes=processes) if f.rule in names]
        assert [f.as_json() for f in audited] == [f.as_json() for f in expected]
    # The network rules' memory, built in bulk, passes over those targets as the store does.
    kept = MemoryView(fallback=view)
    for dn, cls, text in twin.state():
        kept.add(dn, cls, orjson.loads(text))
    memory, over_store = Net(kept), Net(view)
    for cell in [dn for dn, _ in kept.of_class("NRCellDU")]:
        assert memory.sources(cell) == over_store.sources(cell)
        assert memory.targets(cell) == over_store.targets(cell)


def test_incremental_sorts_introduced_fixed_unchanged(twin: SqlStore) -> None:
    verify_plant.load(twin, 7)
    collision, _, _, _, too_long, _ = verify_plant.plants(7)
    twin.merge_branch(_sandbox(twin, collision.ops))
    cell = collision.ops[0].dn
    old_pci = twin.get(cell, as_of=1)
    assert old_pci is not None

    # Touch the colliding cell without fixing it, and plant another problem: the collision stays.
    report = verify_sandbox(twin, _sandbox(twin, [Update(cell, {"userLabel": "renamed"}), *too_long.ops]))
    assert _found(collision, report.unchanged)
    assert _found(too_long, report.introduced)
    assert not _found(collision, report.introduced)
    assert report.fixed == []

    # Give the cell its old PCI back (locking it, as a PCI change needs): the collision is fixed.
    fix = Update(cell, {"nRPCI": old_pci.attrs["nRPCI"], "administrativeState": "LOCKED"})
    report = verify_sandbox(twin, _sandbox(twin, [fix]))
    assert _found(collision, report.fixed)
    assert report.errors == []


def test_report_is_stored_with_the_sandbox_and_goes_stale(twin: SqlStore) -> None:
    verify_plant.load(twin, 2)
    plant = verify_plant.plants(2)[0]
    branch = _sandbox(twin, plant.ops)
    assert latest_report(twin, branch) is None
    report = verify_sandbox(twin, branch)
    stored = latest_report(twin, branch)
    assert stored is not None
    assert stored.revision == twin.head(branch) == report.revision
    assert not stored.stale
    assert stored.errors == len(report.errors) > 0
    assert stored.body["findings"] == [f.as_json() for f in report.findings]
    twin.commit([Update(plant.ops[0].dn, {"userLabel": "later edit"})], source="oss", branch=branch)
    stale = latest_report(twin, branch)
    assert stale is not None
    assert stale.stale
    assert stale.revision == report.revision


def test_verify_changes_without_a_sandbox(twin: SqlStore) -> None:
    rev = verify_plant.load(twin, 3)
    plant = verify_plant.plants(3)[0]
    branch = _sandbox(twin, plant.ops)
    changes = twin.change_set(branch)
    report = verify_changes(twin, changes, rev)
    assert _found(plant, report.introduced)
    assert report.revision is None
    assert report.base_rev == rev


def test_scope_is_the_neighbourhood_not_the_network(twin: SqlStore) -> None:
    rev = verify_plant.load(twin, 4)
    plan = verify_plant.network(4)
    cell = plan.cells[0]
    branch = _sandbox(twin, [Update(plan.cell_dn(0), {"nRPCI": (cell.pci + 3) % 1008})])
    scope = set(scope_of(twin, twin.change_set(branch), rev))
    assert plan.cell_dn(0) in scope
    assert plan.cell_dn(0, "NRCellCU") in scope
    for n in cell.neighbours:  # the cells it lists
        assert plan.cell_dn(n) in scope
    listing = [c.index for c in plan.cells if 0 in c.neighbours]
    assert listing
    assert all(plan.cell_dn(c) in scope for c in listing)
    far = [c.index for c in plan.cells if c.index not in {0, *cell.neighbours, *listing}]
    assert not any(plan.cell_dn(c) in scope for c in far if plan.cells[c].site != cell.site)
    assert len(scope) < twin.count() / 5


def test_rules_are_data() -> None:
    rules = load_rules()
    names = [r.name for r in rules]
    assert len(names) == len(set(names))
    families = {r.family for r in rules}
    assert {"schema", "containment", "references", "pci", "identity", "neighbours", "state"} <= families
    for rule in rules:
        shown = rule.as_json()
        assert shown["name"] == rule.name
        assert shown["description"]
        assert shown["severity"] in ("error", "warning", "info")
    assert "mns.verify.impact" in RULE_MODULES


def test_only_the_impact_module_may_be_missing() -> None:
    with pytest.raises(ModuleNotFoundError):
        load_rules(("mns.verify.no_such_family",))
    assert [r.name for r in load_rules(("mns.verify.pci",))] == ["pci-collision", "pci-confusion", "pci-mod3"]

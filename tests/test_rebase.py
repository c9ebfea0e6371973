"""Rebasing a sandbox onto the live head: edits replayed attribute by attribute, conflicts reported."""

from __future__ import annotations

import pytest

from mns.errors import NotFound, ParentMissing
from mns.sim.generate import generate_network
from mns.store.api import Create, Delete, Update
from mns.store.rebase import RebaseConflict, rebase
from mns.store.sql import SqlStore

ME = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001"
CELL = f"{ME},GNBDUFunction=1,NRCellDU=1"
CELL2 = f"{ME},GNBDUFunction=1,NRCellDU=2"


@pytest.fixture
def twin(store: SqlStore) -> SqlStore:
    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(1, seed=5)), source="real")
    return store


def test_edits_of_other_attributes_and_objects_are_kept(twin: SqlStore) -> None:
    sandbox = twin.create_branch(name="plan")
    twin.commit([Update(CELL, {"userLabel": "planned"})], source="oss", branch=sandbox.id)
    twin.commit([Update(CELL, {"administrativeState": "LOCKED"}), Update(CELL2, {"userLabel": "x"})], source="real")
    head = rebase(twin, sandbox.id)
    assert head == twin.head()
    assert twin.branch(sandbox.id).base_rev == head
    cell = twin.get(CELL, branch=sandbox.id)
    assert cell is not None
    assert cell.attrs["userLabel"] == "planned"
    assert cell.attrs["administrativeState"] == "LOCKED"  # the live change is kept
    assert [(c.dn, sorted(c.changed)) for c in twin.change_set(sandbox.id)] == [(CELL, ["userLabel"])]
    twin.merge_branch(sandbox.id)  # now on the live head: merges without a conflict
    assert twin.get(CELL).attrs["userLabel"] == "planned"  # type: ignore[union-attr]


def test_the_same_attribute_changed_differently_is_a_conflict_and_nothing_changes(twin: SqlStore) -> None:
    sandbox = twin.create_branch(name="plan")
    twin.commit([Update(CELL, {"nRPCI": 500}), Delete(CELL2)], source="oss", branch=sandbox.id)
    twin.commit([Update(CELL, {"nRPCI": 501}), Update(CELL2, {"userLabel": "live"})], source="real")
    before = twin.change_set(sandbox.id)
    with pytest.raises(RebaseConflict) as err:
        rebase(twin, sandbox.id)
    found = {(c.dn, c.attribute): (c.live, c.sandbox) for c in err.value.conflicts}
    assert found[(CELL, "nRPCI")] == (501, 500)
    assert (CELL2, None) in found  # deleted in the sandbox, changed live
    assert err.value.status == 409
    assert twin.change_set(sandbox.id) == before
    assert len(twin.branches()) == 1  # no scratch sandbox left behind


def test_an_edit_that_no_longer_applies_fails_and_leaves_the_sandbox(twin: SqlStore) -> None:
    sandbox = twin.create_branch(name="plan")
    du = f"{ME},GNBDUFunction=1"
    twin.commit([Create(f"{du},NRCellDU=9", {"cellLocalId": 9, "nRPCI": 9})], source="oss", branch=sandbox.id)
    twin.commit([Delete(du, subtree=True)], source="real")
    with pytest.raises((ParentMissing, NotFound)):
        rebase(twin, sandbox.id)
    assert [c.dn for c in twin.change_set(sandbox.id)] == [f"{du},NRCellDU=9"]
    assert len(twin.branches()) == 1

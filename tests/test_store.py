"""The twin store on every backend: writes, revisions, as-of reads, history, diff, sandboxes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mns.errors import (
    AlreadyExists,
    BadRequest,
    HasChildren,
    InvalidObject,
    MalformedDN,
    MergeConflict,
    NotFound,
    ParentMissing,
    PreconditionFailed,
)
from mns.store import ChangeKind, Create, Delete, Put, Scope, SqlStore, Update

SN = "SubNetwork=T"
ME = f"{SN},ManagedElement=me1"
DU = f"{ME},GNBDUFunction=1"


def cell(i: int, pci: int = 1) -> Create:
    return Create(f"{DU},NRCellDU={i}", {"cellLocalId": i, "nRPCI": pci, "administrativeState": "UNLOCKED"})


def seed(store: SqlStore, cells: int = 3) -> int:
    """A small network: one SubNetwork, ManagedElement, GNBDUFunction and some cells."""
    ops = [
        Create(SN, {"userLabel": "test"}),
        Create(ME, {"userLabel": "site 1"}),
        Create(DU, {"gNBId": 10, "gNBIdLength": 24, "gNBDUId": 1}),
        *(cell(i, pci=i) for i in range(1, cells + 1)),
    ]
    result = store.commit(ops, source="oss", author="test", message="seed")
    assert result.rev is not None
    return result.rev


def snapshot(store: SqlStore, branch: int = 0) -> tuple[int, list[tuple[str, int, dict[str, Any]]]]:
    """Everything a test can observe of a branch: its head and every object with its ETag."""
    objs = [(m.dn, m.rev, m.attrs) for m in store.read(SN, scope=Scope.BASE_ALL, branch=branch)]
    return store.head(branch), objs


def test_create_and_read_scopes(store: SqlStore) -> None:
    rev = seed(store)
    assert rev == 1
    assert store.head() == 1
    base = store.get(DU)
    assert base is not None
    assert base.cls == "GNBDUFunction"
    assert base.attrs["gNBId"] == 10
    assert base.etag == "1"
    # The URI form names the same object.
    assert store.get(DU.replace(",", "/")) is not None

    def dns(scope: Scope, level: int = 0, dn: str = ME) -> list[str]:
        return [m.dn for m in store.read(dn, scope=scope, level=level)]

    assert dns(Scope.BASE_ONLY) == [ME]
    assert dns(Scope.BASE_NTH_LEVEL, 1) == [DU]
    assert dns(Scope.BASE_NTH_LEVEL, 2) == [f"{DU},NRCellDU={i}" for i in (1, 2, 3)]
    assert dns(Scope.BASE_SUBTREE, 1) == [ME, DU]
    assert dns(Scope.BASE_ALL) == [ME, DU, *(f"{DU},NRCellDU={i}" for i in (1, 2, 3))]
    assert [m.dn for m in store.roots()] == [SN]
    assert store.count() == 6


def test_subtree_range_excludes_siblings_with_longer_ids(store: SqlStore) -> None:
    seed(store, cells=0)
    store.commit(
        [Create(f"{SN},ManagedElement=me10", {}), Create(f"{SN},ManagedElement=me1 b", {})],
        source="oss",
    )
    assert [m.dn for m in store.read(ME, scope=Scope.BASE_ALL)] == [ME, DU]


def test_escaped_ids_round_trip(store: SqlStore) -> None:
    seed(store, cells=0)
    odd = f"{SN},ManagedElement=a\\,b\\=c"
    store.commit([Create(odd, {"userLabel": "odd"})], source="oss")
    got = store.get(odd)
    assert got is not None
    assert got.attrs == {"userLabel": "odd"}
    assert [m.dn for m in store.read(odd, scope=Scope.BASE_ALL)] == [odd]


def test_each_commit_is_a_revision_with_metadata(store: SqlStore) -> None:
    seed(store)
    r2 = store.commit([Update(f"{DU},NRCellDU=1", {"nRPCI": 7})], source="real", author="mirror", message="pci")
    assert r2.rev == 2
    assert r2.replaced == [f"{DU},NRCellDU=1"]
    info = store.revision(2)
    assert (info.source, info.author, info.message) == ("real", "mirror", "pci")
    assert [r.rev for r in store.revisions()] == [2, 1]
    # A commit that changes nothing makes no revision.
    same = store.commit([Update(f"{DU},NRCellDU=1", {"nRPCI": 7})], source="oss")
    assert same.revision is None
    assert same.unchanged == [f"{DU},NRCellDU=1"]
    assert store.head() == 2


def test_as_of_revision_and_time(store: SqlStore) -> None:
    seed(store)
    t1 = datetime.now(UTC)
    time.sleep(0.01)
    store.commit([Update(f"{DU},NRCellDU=1", {"nRPCI": 99})], source="oss")
    store.commit([Delete(f"{DU},NRCellDU=3")], source="oss")
    old = store.get(f"{DU},NRCellDU=1", as_of=1)
    assert old is not None
    assert old.attrs["nRPCI"] == 1
    cur = store.get(f"{DU},NRCellDU=1")
    assert cur is not None
    assert cur.attrs["nRPCI"] == 99
    assert cur.etag == "2"
    assert store.get(f"{DU},NRCellDU=3") is None
    assert store.get(f"{DU},NRCellDU=3", as_of=2) is not None
    by_time = store.get(f"{DU},NRCellDU=1", as_of=t1)
    assert by_time is not None
    assert by_time.attrs["nRPCI"] == 1
    assert store.resolve(t1 - timedelta(days=1)) == 0
    at1 = [m.dn for m in store.read(DU, scope=Scope.BASE_NTH_LEVEL, level=1, as_of=1)]
    assert at1 == [f"{DU},NRCellDU={i}" for i in (1, 2, 3)]
    with pytest.raises(NotFound):
        store.get(DU, as_of=99)
    with pytest.raises(NotFound):
        list(store.read(f"{DU},NRCellDU=3", scope=Scope.BASE_ALL))


def test_history_and_diff(store: SqlStore) -> None:
    seed(store)
    c1 = f"{DU},NRCellDU=1"
    store.commit([Update(c1, {"nRPCI": 5})], source="oss")
    store.commit([Delete(c1)], source="oss")
    store.commit([cell(1, pci=6)], source="real")
    versions = store.history(c1)
    assert [(v.revision.rev, v.attrs["nRPCI"] if v.attrs else None) for v in versions] == [
        (1, 1),
        (2, 5),
        (3, None),
        (4, 6),
    ]
    assert versions[-1].revision.source == "real"
    changes = {c.dn: c for c in store.diff(1, 4)}
    assert changes[c1].kind is ChangeKind.MODIFIED
    assert changes[c1].changed == {"nRPCI": (1, 6)}
    assert list(changes) == [c1]
    gone = {c.dn: c.kind for c in store.diff(2, 3)}
    assert gone == {c1: ChangeKind.DELETED}
    back = {c.dn: c.kind for c in store.diff(3, 2)}
    assert back == {c1: ChangeKind.CREATED}
    created = {c.dn: c.kind for c in store.diff(0, 1)}
    assert len(created) == 6
    assert set(created.values()) == {ChangeKind.CREATED}
    with pytest.raises(NotFound):
        store.history(f"{DU},NRCellDU=77")


def test_put_replaces_or_creates(store: SqlStore) -> None:
    seed(store)
    c1 = f"{DU},NRCellDU=1"
    r = store.commit([Put(c1, {"cellLocalId": 1, "nRPCI": 3})], source="oss")
    assert r.replaced == [c1]
    got = store.get(c1)
    assert got is not None
    assert got.attrs == {"cellLocalId": 1, "nRPCI": 3}
    r = store.commit([Put(f"{DU},NRCellDU=9", {"cellLocalId": 9, "nRPCI": 9})], source="oss")
    assert r.created == [f"{DU},NRCellDU=9"]
    # Update with None removes an attribute.
    store.commit([Update(c1, {"nRPCI": None})], source="oss")
    got = store.get(c1)
    assert got is not None
    assert got.attrs == {"cellLocalId": 1}


def test_subtree_delete(store: SqlStore) -> None:
    seed(store)
    r = store.commit([Delete(ME, subtree=True)], source="oss")
    assert set(r.deleted) == {ME, DU, *(f"{DU},NRCellDU={i}" for i in (1, 2, 3))}
    assert store.get(ME) is None
    assert [m.dn for m in store.read(SN, scope=Scope.BASE_ALL)] == [SN]
    assert len(list(store.read(SN, scope=Scope.BASE_ALL, as_of=1))) == 6


@pytest.mark.parametrize(
    ("ops", "error", "names"),
    [
        (
            [Create("SubNetwork=T,,ManagedElement=x", {})],
            MalformedDN,
            "SubNetwork=T,,ManagedElement=x",
        ),
        ([Create("SubNetwork=T,ManagedElement=", {})], MalformedDN, "ManagedElement="),
        (
            [Create(f"{SN},ManagedElement=me9,GNBDUFunction=1", {})],
            ParentMissing,
            "ManagedElement=me9",
        ),
        ([Create(DU, {})], AlreadyExists, DU),
        ([cell(8), cell(8)], AlreadyExists, "NRCellDU=8"),
        ([Delete(DU)], HasChildren, DU),
        ([Delete(f"{DU},NRCellDU=42")], NotFound, "NRCellDU=42"),
        ([Update(f"{DU},NRCellDU=42", {"nRPCI": 1})], NotFound, "NRCellDU=42"),
        ([Update(f"{DU},NRCellDU=1", {"nRPCI": 5000})], InvalidObject, "nRPCI"),
        ([Create(f"{DU},NRCellDU=9", {"nRPCI": "five"})], InvalidObject, "nRPCI"),
        ([Put(f"{DU},NRCellDU=1", {"nRPCI": 2}, if_match='"7"')], PreconditionFailed, "NRCellDU=1"),
        ([Update(DU, {"gNBIdLength": 99})], InvalidObject, "gNBIdLength"),
        ([Create(f"{DU},NRCellDU=9", {"x": {1, 2}})], BadRequest, "NRCellDU=9"),
    ],
)
def test_bad_input_changes_nothing(store: SqlStore, ops: list[Any], error: type[Exception], names: str) -> None:
    seed(store)
    before = snapshot(store)
    # A good operation first: it must be rolled back with the bad one.
    good = Update(f"{DU},NRCellDU=2", {"nRPCI": 77})
    with pytest.raises(error) as info:
        store.commit([good, *ops], source="oss")
    assert names in str(info.value)
    assert snapshot(store) == before


def test_duplicate_across_bulk_batches_is_named(store: SqlStore) -> None:
    from mns.store import write as sql

    seed(store, cells=0)
    before = snapshot(store)
    n = sql.BATCH + 10
    ops = [cell(i) for i in range(n)] + [cell(5)]
    with pytest.raises(AlreadyExists, match="NRCellDU=5 exists in this change set"):
        store.commit(ops, source="oss")
    existing = [cell(i) for i in range(100, 100 + sql.BATCH)]
    store.commit(existing, source="oss")
    with pytest.raises(AlreadyExists, match="NRCellDU=140 exists already"):
        store.commit([cell(9999), *existing[40:60]], source="oss")
    assert store.get(f"{DU},NRCellDU=9999") is None
    assert store.count() == len(before[1]) + sql.BATCH


def test_expect_head_guards_against_stale_writes(store: SqlStore) -> None:
    seed(store)
    store.commit([Update(f"{DU},NRCellDU=1", {"nRPCI": 4})], source="oss", expect_head=1)
    with pytest.raises(PreconditionFailed):
        store.commit([Update(f"{DU},NRCellDU=1", {"nRPCI": 8})], source="oss", expect_head=1)
    got = store.get(f"{DU},NRCellDU=1")
    assert got is not None
    assert got.attrs["nRPCI"] == 4
    good = store.commit([Put(f"{DU},NRCellDU=1", {"nRPCI": 8}, if_match='"2"')], source="oss")
    assert good.rev == 3


def test_unknown_source_is_rejected(store: SqlStore) -> None:
    with pytest.raises(BadRequest, match="source"):
        store.commit([Create(SN, {})], source="somebody")
    assert store.head() == 0


def test_unmodelled_class_is_kept_with_a_finding(store: SqlStore) -> None:
    seed(store, cells=0)
    r = store.commit([Create(f"{ME},VendorThing=1", {"anything": [1, 2]})], source="real")
    assert r.rev == 2
    assert [f.rule for f in r.findings[f"{ME},VendorThing=1"]] == ["unmodelled"]
    got = store.get(f"{ME},VendorThing=1")
    assert got is not None
    assert got.attrs == {"anything": [1, 2]}


def test_sandbox_overlays_live_and_merges(store: SqlStore) -> None:
    seed(store)
    sb = store.create_branch(name="what-if", author="eng")
    assert sb.base_rev == 1
    c1, c2, c3 = (f"{DU},NRCellDU={i}" for i in (1, 2, 3))
    store.commit([Update(c1, {"nRPCI": 11})], source=f"sandbox:{sb.id}", branch=sb.id)
    store.commit([Delete(c3), cell(4, pci=4)], source=f"sandbox:{sb.id}", branch=sb.id)
    store.commit([Update(c2, {"nRPCI": 500})], source="real")  # the live twin moves on elsewhere
    # The sandbox sees its own writes over the base as of its base revision.
    view = {m.dn: m.attrs.get("nRPCI") for m in store.read(DU, scope=Scope.BASE_ALL, branch=sb.id)}
    assert view == {DU: None, c1: 11, c2: 2, f"{DU},NRCellDU=4": 4}
    assert store.count(branch=sb.id) == 6
    # The live twin does not see them.
    live = {m.dn: m.attrs.get("nRPCI") for m in store.read(DU, scope=Scope.BASE_ALL)}
    assert live == {DU: None, c1: 1, c2: 500, c3: 3}
    # An as-of read of the sandbox's first revision.
    first = {m.dn for m in store.read(DU, scope=Scope.BASE_ALL, branch=sb.id, as_of=1)}
    assert c3 in first
    changes = {c.dn: c.kind for c in store.change_set(sb.id)}
    assert changes == {
        c1: ChangeKind.MODIFIED,
        c3: ChangeKind.DELETED,
        f"{DU},NRCellDU=4": ChangeKind.CREATED,
    }
    merged = store.merge_branch(sb.id, author="eng")
    assert merged.revision is not None
    assert merged.revision.source == f"sandbox:{sb.id}"
    live = {m.dn: m.attrs.get("nRPCI") for m in store.read(DU, scope=Scope.BASE_ALL)}
    assert live == {DU: None, c1: 11, c2: 500, f"{DU},NRCellDU=4": 4}
    assert store.history(c1)[-1].revision.source == f"sandbox:{sb.id}"


def test_sandbox_conflict_blocks_merge(store: SqlStore) -> None:
    seed(store)
    sb = store.create_branch()
    c1 = f"{DU},NRCellDU=1"
    store.commit([Update(c1, {"nRPCI": 11})], source=f"sandbox:{sb.id}", branch=sb.id)
    store.commit([Update(c1, {"nRPCI": 12})], source="real")
    before = snapshot(store)
    with pytest.raises(MergeConflict, match="NRCellDU=1"):
        store.merge_branch(sb.id)
    assert snapshot(store) == before


def test_sandbox_subtree_delete_and_recreate(store: SqlStore) -> None:
    seed(store)
    sb = store.create_branch()
    src = f"sandbox:{sb.id}"
    store.commit([Delete(DU, subtree=True)], source=src, branch=sb.id)
    assert [m.dn for m in store.read(ME, scope=Scope.BASE_ALL, branch=sb.id)] == [ME]
    store.commit([Create(DU, {"gNBId": 11, "gNBIdLength": 24, "gNBDUId": 1})], source=src, branch=sb.id)
    got = store.get(DU, branch=sb.id)
    assert got is not None
    assert got.attrs["gNBId"] == 11
    kinds = {c.dn: c.kind for c in store.change_set(sb.id)}
    assert kinds[DU] is ChangeKind.MODIFIED
    assert kinds[f"{DU},NRCellDU=1"] is ChangeKind.DELETED
    with pytest.raises(AlreadyExists):
        store.commit([Create(ME, {})], source=src, branch=sb.id)
    with pytest.raises(ParentMissing):
        store.commit([Create(f"{DU},NRCellDU=1,BWP=1", {})], source=src, branch=sb.id)


def test_sandbox_creation_is_constant_and_branches_drop(store: SqlStore) -> None:
    seed(store)
    sb = store.create_branch(base=1)
    assert [b.id for b in store.branches()] == [sb.id]
    store.commit([cell(7)], source=f"sandbox:{sb.id}", branch=sb.id)
    store.drop_branch(sb.id)
    assert store.branches() == []
    with pytest.raises(NotFound):
        store.get(DU, branch=sb.id)
    with pytest.raises(NotFound):
        store.commit([cell(8)], source="oss", branch=sb.id)


def test_holds_at_least_counts_current_objects_up_to_the_bound(store: SqlStore) -> None:
    seed(store)  # 6 objects
    store.commit([Delete(f"{DU},NRCellDU=3")], source="oss")  # 5 current, one ended version
    assert store.count() == 5
    assert [store.holds_at_least(n) for n in (1, 5, 6)] == [True, True, False]
    sb = store.create_branch()
    store.commit([cell(7), cell(8)], source=f"sandbox:{sb.id}", branch=sb.id)
    assert [store.holds_at_least(n, branch=sb.id) for n in (7, 8)] == [True, False]


def test_streaming_read_is_lazy(store: SqlStore) -> None:
    seed(store, cells=0)
    store.commit([cell(i) for i in range(3000)], source="oss")
    it = store.read(SN, scope=Scope.BASE_ALL)
    first = [next(it) for _ in range(3)]
    assert [m.dn for m in first] == [SN, ME, DU]
    assert sum(1 for _ in it) == 3000


def test_commit_batch_isolates_failures(store: SqlStore) -> None:
    from mns.store import CommitJob

    seed(store)
    c1, c2 = f"{DU},NRCellDU=1", f"{DU},NRCellDU=2"
    outcomes = store.commit_batch(
        [
            CommitJob([Update(c1, {"nRPCI": 101})], source="oss", message="first"),
            CommitJob([Update(c2, {"nRPCI": 5000})], source="oss", message="invalid"),
            CommitJob([Create(DU, {})], source="oss", message="duplicate"),
            CommitJob([Update(c2, {"nRPCI": 102})], source="real", message="last"),
        ]
    )
    assert isinstance(outcomes[1], InvalidObject)
    assert isinstance(outcomes[2], AlreadyExists)
    first, last = outcomes[0], outcomes[3]
    assert not isinstance(first, Exception)
    assert not isinstance(last, Exception)
    assert (first.rev, last.rev) == (2, 3)
    assert [r.message for r in store.revisions()] == ["last", "first", "seed"]
    got1, got2 = store.get(c1), store.get(c2)
    assert got1 is not None
    assert got2 is not None
    assert (got1.attrs["nRPCI"], got2.attrs["nRPCI"]) == (101, 102)


def test_an_object_written_twice_in_one_commit_keeps_the_last_write(store: SqlStore) -> None:
    from mns.store.api import Create, Delete, Update

    store.commit([Create("SubNetwork=T", {"userLabel": "a"})], source="oss")
    result = store.commit(
        [
            Update("SubNetwork=T", {"userLabel": "b"}),
            Update("SubNetwork=T", {"userLabel": "c"}),
            Create("SubNetwork=T,ManagedElement=1", {"userLabel": "x"}),
            Delete("SubNetwork=T,ManagedElement=1"),
        ],
        source="oss",
    )
    assert result.rev == 2
    assert store.get("SubNetwork=T").attrs == {"userLabel": "c"}  # type: ignore[union-attr]
    assert store.get("SubNetwork=T,ManagedElement=1") is None
    assert [v.attrs for v in store.history("SubNetwork=T")] == [{"userLabel": "a"}, {"userLabel": "c"}]
    sandbox = store.create_branch()
    store.commit([Update("SubNetwork=T", {"userLabel": "d"}), Delete("SubNetwork=T")], source="oss", branch=sandbox.id)
    assert store.get("SubNetwork=T", branch=sandbox.id) is None
    assert store.get("SubNetwork=T") is not None

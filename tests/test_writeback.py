"""Write-back (``mns.consumer.writeback``): a sandbox's change set deployed to ``mns sim``.

The order of steps is tested on hand-made change sets. Deployments run against the sim
served by uvicorn on loopback (both naming dialects), with the sim's fault injection making
the 7th write fail, and a hook making a rollback write fail too; the sim's own store is the
oracle of what the network holds. The twin is a second store holding the same generated
network, where the change set is made in a sandbox and where outcomes are recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from mns.consumer.writeback import Outcome, Policy, Step, changes_for_ops, deploy, writeback_client
from mns.consumer.writeback_plan import CREATE, DELETE, MODIFY, Writable, merge_diff, plan
from mns.producers.app import create_app
from mns.producers.deployments import build_router
from mns.sim.generate import generate_network
from mns.sim.server import Sim, SimConfig
from mns.store import Change, ChangeKind, Create, Delete, Op, Scope, SqlStore, Update, open_store
from mns.store.deployments import Deployments

ROOT = "SubNetwork=RAN"
ME = f"{ROOT},SubNetwork=Central,ManagedElement=gNB-00001"
ME9 = f"{ROOT},SubNetwork=Central,ManagedElement=gNB-00009"
DU, CU = f"{ME},GNBDUFunction=1", f"{ME},GNBCUCPFunction=1"
DU9, CU9 = f"{ME9},GNBDUFunction=1", f"{ME9},GNBCUCPFunction=1"
FAST = Policy(attempts=4, backoff=0.01, backoff_max=0.05)
NETWORK = {o.dn: (o.cls, o.attrs) for o in generate_network(1, seed=1, root=ROOT)}


# -- order ------------------------------------------------------------------------------------


def created(dn: str, cls: str, **attrs: Any) -> Change:
    return Change(dn, ChangeKind.CREATED, cls, None, attrs)


def deleted(dn: str, cls: str, **attrs: Any) -> Change:
    return Change(dn, ChangeKind.DELETED, cls, attrs, None)


def order(changes: list[Change]) -> list[tuple[str, str]]:
    return [(s.kind, s.dn) for s in plan(changes)]


def test_creates_go_parents_first_and_deletes_children_first() -> None:
    a, b, c = "SubNetwork=A", "SubNetwork=A,ManagedElement=1", "SubNetwork=A,ManagedElement=1,GNBDUFunction=1"
    x, y = "SubNetwork=X", "SubNetwork=X,ManagedElement=2"
    changes = [
        created(c, "GNBDUFunction"),
        deleted(x, "SubNetwork"),
        created(b, "ManagedElement"),
        deleted(y, "ManagedElement"),
        created(a, "SubNetwork"),
    ]
    assert order(changes) == [(CREATE, a), (CREATE, b), (CREATE, c), (DELETE, y), (DELETE, x)]
    steps = plan(changes)
    assert steps[2].requires == (2,)
    assert steps[4].requires == (4,)


def test_references_go_after_their_targets() -> None:
    target = "SubNetwork=A,NRFrequency=z"
    referrer = "SubNetwork=A,ManagedElement=1,GNBCUCPFunction=1,NRCellCU=1"
    old = "SubNetwork=A,NRFrequency=a-old"
    mod = "SubNetwork=A,ManagedElement=1,GNBCUCPFunction=1,NRCellCU=2"
    changes = [
        # by depth and key alone the referrer would come first, and the old target's delete before the modify
        created(referrer, "NRCellCU", nRFrequencyRef=target),
        deleted(old, "NRFrequency"),
        Change(mod, ChangeKind.MODIFIED, "NRCellCU", {"nRFrequencyRef": [old]}, {"nRFrequencyRef": [target]}),
        created(target, "NRFrequency"),
        created("SubNetwork=A,ManagedElement=1,GNBCUCPFunction=1", "GNBCUCPFunction"),
        created("SubNetwork=A,ManagedElement=1", "ManagedElement"),
    ]
    got = order(changes)
    assert got.index((CREATE, target)) < got.index((CREATE, referrer))
    assert got.index((CREATE, target)) < got.index((MODIFY, mod)) < got.index((DELETE, old))
    assert got[-1] == (DELETE, old)


def test_a_reference_cycle_is_broken_by_a_follow_up_modification() -> None:
    a, b = "SubNetwork=A,NRFrequency=b", "SubNetwork=A,NRFrequency=a"
    changes = [created(a, "NRFrequency", userLabel="a", peer=b), created(b, "NRFrequency", userLabel="b", peer=a)]
    steps = plan(changes)
    assert [(s.kind, s.dn) for s in steps] == [(CREATE, b), (CREATE, a), (MODIFY, b)]
    assert steps[0].action.after == {"userLabel": "b"}
    assert steps[2].action.keys == ("peer",)
    assert steps[2].action.after == {"userLabel": "b", "peer": a}
    assert set(steps[2].requires) == {1, 2}
    assert "reference cycle" in steps[0].note


def test_read_only_attributes_are_not_written_and_merge_patches_null_removed_members() -> None:
    cell = f"{DU},NRCellDU=1"
    change = Change(
        cell,
        ChangeKind.MODIFIED,
        "NRCellDU",
        {"operationalState": "ENABLED", "userLabel": "a", "x": {"p": 1, "q": 2}},
        {"operationalState": "DISABLED", "x": {"p": 1, "r": 3}},
    )
    (step,) = plan([change])
    assert step.action.keys == ("userLabel", "x")
    assert "operationalState" not in (step.action.after or {})
    assert merge_diff(step.action.before or {}, step.action.after or {}) == {
        "userLabel": None,
        "x": {"q": None, "r": 3},
    }


# -- the sim and the twin ---------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve an ASGI app with its lifespan on a free loopback port."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-writeback", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), "the sim to start")
    assert server.started, "the sim did not start"
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[SqlStore]:
    """The twin: the same generated network as the sim's."""
    store = open_store(str(tmp_path / "twin.db"))
    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(1, seed=1, root=ROOT)), source="real")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def sim_served(tmp_path: Path, dialect: str) -> Iterator[tuple[Sim, str]]:
    store = open_store(str(tmp_path / f"sim-{dialect}.db"))
    try:
        sim = Sim(store, SimConfig(gnbs=1, seed=1, root=ROOT, dialect=dialect))
        with running(sim.asgi) as url:
            yield sim, url
    finally:
        store.close()


def network(sim: Sim) -> dict[str, dict[str, Any]]:
    """Every object the sim holds (its own store: the oracle)."""
    return {m.dn: m.attrs for m in sim.store.read(ROOT, scope=Scope.BASE_ALL)}


def copy(dn: str, **changes: Any) -> dict[str, Any]:
    """The writable attributes of a generated object, respelled for gNB-00009, with changes."""
    cls, attrs = NETWORK[dn]
    out: dict[str, Any] = orjson.loads(orjson.dumps(Writable()(cls, attrs)).replace(b"gNB-00001", b"gNB-00009"))
    out.update(changes)
    return out


def twenty_ops() -> list[Op]:
    """A new gNB subtree, two new cells and two relations to the new gNB, five modifications, one cell removed."""
    cell1 = f"{DU},NRCellDU=1"
    ops: list[Op] = [
        Create(ME9, {"userLabel": "gNB-00009", "priorityLabel": 1}, "ManagedElement"),
        Create(DU9, copy(DU, gNBId=7457459, gNBDUId=7457459), "GNBDUFunction"),
        Create(f"{DU9},NRSectorCarrier=1", copy(f"{DU},NRSectorCarrier=1"), "NRSectorCarrier"),
        Create(f"{DU9},NRCellDU=1", copy(cell1, bWPRef=[], nRPCI=12), "NRCellDU"),
        Create(CU9, copy(CU, gNBId=7457459), "GNBCUCPFunction"),
        Create(f"{CU9},NRCellCU=1", copy(f"{CU},NRCellCU=1"), "NRCellCU"),
        Create(f"{DU},NRCellDU=4", copy(cell1, cellLocalId=4, nRPCI=700, userLabel="new 4"), "NRCellDU"),
        Create(f"{DU},NRCellDU=5", copy(cell1, cellLocalId=5, nRPCI=701, userLabel="new 5"), "NRCellDU"),
    ]
    for cu in (1, 2):
        relation = {"adjacentNRCellRef": f"{CU9},NRCellCU=1", "isHOAllowed": True, "nRTCI": 9}
        ops.append(Create(f"{CU},NRCellCU={cu},NRCellRelation=gNB-00009-1", relation, "NRCellRelation"))
    ops += [
        Update(cell1, {"nRPCI": 100}),
        Update(f"{DU},NRCellDU=2", {"userLabel": "renamed"}),
        Update(f"{DU},NRCellDU=3", {"administrativeState": "LOCKED"}),
        Update(ME, {"userLabel": "gNB one"}),
        Update(f"{DU},NRSectorCarrier=1", {"configuredMaxTxPower": 150000}),
        Delete(f"{CU},NRCellCU=3", subtree=True),
    ]
    return ops


def sandbox_of(twin: SqlStore, ops: list[Op]) -> tuple[int, list[Change]]:
    branch = twin.create_branch(name="plan")
    twin.commit(ops, source="oss", branch=branch.id)
    return branch.id, twin.change_set(branch.id)


def routed(twin: SqlStore) -> TestClient:
    app = create_app(twin)
    app.include_router(build_router())
    return TestClient(app)


DIALECTS = ["stage2", "openapi"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_change_set_of_twenty_is_applied_and_the_network_ends_as_the_sandbox(
    twin: SqlStore, tmp_path: Path, dialect: str
) -> None:
    branch, changes = sandbox_of(twin, twenty_ops())
    assert len(changes) == 20
    seen: list[tuple[int, str]] = []
    counted = Flaky(lambda _: False)
    with sim_served(tmp_path, dialect) as (sim, url), writeback_client(url, transport=counted) as client:
        outcome = deploy(
            changes,
            client=client,
            dialect=dialect,
            store=twin,
            policy=FAST,
            update_twin=True,
            on_step=lambda s, _: seen.append((s.index, s.status)),
        )
        assert outcome.status == "applied", outcome.as_json()
        assert [s.status for s in outcome.steps] == ["confirmed"] * 20
        assert seen == [(i, "confirmed") for i in range(1, 21)]
        intended = {m.dn: m.attrs for m in twin.read(ROOT, scope=Scope.BASE_ALL, branch=branch)}
        assert network(sim) == intended
    writes = [p for m, p in counted.sent if m != "GET"]
    assert len(writes) == 20  # one write per step, nothing sent twice
    spelled, other = ("GnbDuFunction", "GNBDUFunction") if dialect == "openapi" else ("GNBDUFunction", "GnbDuFunction")
    assert sum(spelled in p for p in writes) == 9  # new DU, its carrier and cell, cells 4 and 5, 4 modifications
    assert not any(other in p for p in writes)
    assert outcome.revision is not None
    assert twin.revision(outcome.revision).source == "real"
    live = {m.dn: m.attrs for m in twin.read(ROOT, scope=Scope.BASE_ALL)}
    assert live == intended
    assert Deployments.of(twin).get(outcome.id) == outcome.as_json()


def fail_seventh_write(sim: Sim) -> None:
    sim.faults.update({"failWriteIn": 7})


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_failed_seventh_write_is_rolled_back_and_recorded(twin: SqlStore, tmp_path: Path, dialect: str) -> None:
    _, changes = sandbox_of(twin, twenty_ops())
    with sim_served(tmp_path, dialect) as (sim, url), writeback_client(url) as client:
        before = network(sim)
        fail_seventh_write(sim)
        outcome = deploy(changes, client=client, dialect=dialect, store=twin, policy=FAST, author="planner")
        assert network(sim) == before
    assert outcome.status == "rolled-back", outcome.as_json()
    assert outcome.failed_step == 7
    statuses = [s.status for s in outcome.steps]
    assert statuses == ["rolled-back"] * 6 + ["failed"] + ["pending"] * 13
    failed = outcome.steps[6]
    assert failed.error is not None
    assert failed.dn in failed.error
    assert "producer-refused" in failed.error
    assert "500" in failed.error
    assert failed.attempts == 1
    assert outcome.differences == []
    with routed(twin) as http:
        one = http.get(f"/TwinMnS/v1/deployments/{outcome.id}")
        assert one.status_code == 200, one.text
        assert one.json()["status"] == "rolled-back"
        assert one.json()["failedStep"] == 7
        assert one.json()["steps"][6]["error"] == failed.error
        listed = http.get("/TwinMnS/v1/deployments", params={"limit": 5}).json()["deployments"]
        assert [d["id"] for d in listed] == [outcome.id]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_failed_rollback_reports_exactly_the_objects_that_differ(
    twin: SqlStore, tmp_path: Path, dialect: str
) -> None:
    _, changes = sandbox_of(twin, twenty_ops())
    with sim_served(tmp_path, dialect) as (sim, url), writeback_client(url) as client:
        before = network(sim)
        fail_seventh_write(sim)

        def break_rollback(step: Step, _: Outcome) -> None:
            if step.status == "failed":  # the 2nd write of the rollback fails too
                sim.faults.update({"failWriteIn": 2})

        outcome = deploy(changes, client=client, dialect=dialect, store=twin, policy=FAST, on_step=break_rollback)
        after = network(sim)
    assert outcome.status == "failed", outcome.as_json()
    differing = {dn for dn in before.keys() | after.keys() if before.get(dn) != after.get(dn)}
    assert differing, "the broken rollback should have left objects behind"
    assert {d.dn for d in outcome.differences} == differing
    for d in outcome.differences:
        assert d.expected == "absent"  # only creates were applied
        assert d.actual == after[d.dn]
    statuses = [s.status for s in outcome.steps[:6]]
    assert statuses[5] == "rolled-back"
    assert statuses[4] == "rollback-failed"
    assert "500" in (outcome.steps[4].rollback_error or "")
    recorded = Deployments.of(twin).get(outcome.id)
    assert recorded is not None
    assert recorded["status"] == "failed"
    assert {d["dn"] for d in recorded["differences"]} == differing


# -- retries ----------------------------------------------------------------------------------


class Flaky(httpx.HTTPTransport):
    """Loopback transport that counts requests and can lose the answer of the first matching one."""

    def __init__(self, lose: Callable[[httpx.Request], bool], after_loss: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.lose = lose
        self.after_loss = after_loss
        self.lost = 0
        self.sent: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        if self.lost == 0 and self.lose(request):
            self.lost += 1
            try:
                response = super().handle_request(request)
                response.read()
                response.close()
            except httpx.TimeoutException:
                pass  # the producer held it: the write did not take effect
            if self.after_loss is not None:
                self.after_loss()
            raise httpx.ReadTimeout("the answer was lost (injected)", request=request)
        return super().handle_request(request)


NEW_CELL = f"{DU},NRCellDU=4"


def _put_of_new_cell(request: httpx.Request) -> bool:
    return request.method == "PUT" and request.url.path.endswith("=4")


def test_a_write_whose_answer_is_lost_is_confirmed_by_read_back_not_sent_again(twin: SqlStore, tmp_path: Path) -> None:
    changes = changes_for_ops(twin, [Create(NEW_CELL, copy(f"{DU},NRCellDU=1", cellLocalId=4, nRPCI=9), "NRCellDU")])
    transport = Flaky(_put_of_new_cell)
    with sim_served(tmp_path, "stage2") as (sim, url), writeback_client(url, transport=transport) as client:
        outcome = deploy(changes, client=client, policy=FAST)
        assert outcome.status == "applied", outcome.as_json()
        assert outcome.steps[0].attempts == 2
        puts = [p for m, p in transport.sent if m == "PUT"]
        assert len(puts) == 1
        assert len(sim.store.history(NEW_CELL)) == 1


def test_a_timed_out_write_is_read_back_then_sent_again_once(twin: SqlStore, tmp_path: Path) -> None:
    changes = changes_for_ops(twin, [Create(NEW_CELL, copy(f"{DU},NRCellDU=1", cellLocalId=4, nRPCI=9), "NRCellDU")])
    with sim_served(tmp_path, "stage2") as (sim, url):
        sim.faults.update({"timeoutRate": 1.0, "timeoutHoldS": 1.0})
        transport = Flaky(_put_of_new_cell, after_loss=lambda: sim.faults.update({"timeoutRate": 0.0}))
        with writeback_client(url, transport=transport, timeout=0.3) as client:
            outcome = deploy(changes, client=client, policy=FAST)
        assert outcome.status == "applied", outcome.as_json()
        assert sim.faults.counters.timeouts == 1
        puts = [p for m, p in transport.sent if m == "PUT"]
        gets = [p for m, p in transport.sent if m == "GET"]
        assert len(puts) == 2
        assert len(gets) == 2
        assert len(sim.store.history(NEW_CELL)) == 1


def test_a_client_that_retries_by_itself_is_refused(twin: SqlStore) -> None:
    from mns.consumer.client import MnsClient

    with MnsClient("http://127.0.0.1:9") as client, pytest.raises(ValueError, match="retries by itself"):
        deploy([], client=client)


def test_a_delete_that_would_take_unknown_children_fails_and_changes_nothing(twin: SqlStore, tmp_path: Path) -> None:
    cell = f"{CU},NRCellCU=3"
    relation = f"{cell},NRCellRelation=gNB-00001-1"
    changes = [c for c in changes_for_ops(twin, [Delete(cell, subtree=True)]) if c.dn != relation]
    with sim_served(tmp_path, "stage2") as (sim, url), writeback_client(url) as client:
        before = network(sim)
        outcome = deploy(changes, client=client, policy=FAST)
        assert outcome.status == "rolled-back", outcome.as_json()
        failed = next(s for s in outcome.steps if s.index == outcome.failed_step)
        assert failed.dn == cell
        assert "unknown-children" in (failed.error or "")
        assert relation in (failed.error or "")
        assert network(sim) == before


# -- the record and its routes ----------------------------------------------------------------


def test_deployments_are_listed_newest_first_and_an_unknown_one_is_404(twin: SqlStore) -> None:
    records = Deployments.of(twin)
    for i, status in enumerate(("applied", "rolled-back", "failed")):
        records.record({"id": f"d{i}", "status": status, "started": f"2030-01-0{i + 1}T00:00:00+00:00", "steps": []})
    records.record({"id": "d0", "status": "applied", "started": "2030-01-01T00:00:00+00:00", "steps": [1]})
    with routed(twin) as http:
        body = http.get("/TwinMnS/v1/deployments").json()
        assert [d["id"] for d in body["deployments"]] == ["d2", "d1", "d0"]
        assert body["deployments"][2]["steps"] == [1]
        assert [d["id"] for d in http.get("/TwinMnS/v1/deployments?limit=1").json()["deployments"]] == ["d2"]
        missing = http.get("/TwinMnS/v1/deployments/nope")
        assert missing.status_code == 404
        assert "nope" in missing.json()["error"]["errorInfo"]
        assert http.get("/TwinMnS/v1/deployments?limit=0").status_code == 400

"""The mirror and the write-back end to end: ``mns sim`` and a mirroring twin as two servers.

Each test serves the sim (its own SQLite store, 3 gNBs, fast notifications) and a twin whose
mirror follows it, both under uvicorn on loopback with their lifespans, so subscriptions,
notifications, reconciliations and deployments cross real sockets. The twin's socket is bound
before its app is made, because the mirror tells the sim where to send (``recipient``).

The oracle is the sim's own store (always stage 2, whatever the dialect the sim speaks): the
twin must hold the same objects (DN, class, attributes), leaving out each side's own
NtfSubscriptionControl and HeartbeatControl subtrees, and the same alarms. Faults come from the
sim's admin endpoint: dropped notifications (seeded, so which are lost is fixed), a restart
that forgets the mirror's subscription, and the k-th write failing.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from test_sim import FAST, wait_for

from mns.consumer.writeback import Policy, deploy, writeback_client
from mns.consumer.writeback_plan import Writable
from mns.fault.store import AlarmStore
from mns.mirror.service import MirrorConfig
from mns.nrm.dn import DN
from mns.producers.app import Settings, create_app
from mns.sim.dialect_edge import Edge
from mns.sim.server import Sim, SimConfig
from mns.store import Change, Create, Delete, Op, Scope, SqlStore, Update, open_store

P = "/ProvMnS/v1800"
MIRROR = "/TwinMnS/v1/mirror"
ROOT = "SubNetwork=RAN"
ME = f"{ROOT},SubNetwork=Central,ManagedElement=gNB-00001"
ME9 = f"{ROOT},SubNetwork=Central,ManagedElement=gNB-00009"
DU, CU = f"{ME},GNBDUFunction=1", f"{ME},GNBCUCPFunction=1"
DU9, CU9 = f"{ME9},GNBDUFunction=1", f"{ME9},GNBCUCPFunction=1"
CELL = f"{DU},NRCellDU=1"
SUB = f"{ROOT},NtfSubscriptionControl=twin-mns-mirror"
"""The mirror's subscription on the sim (``MirrorConfig.subscription_id``)."""
LOCAL = frozenset({"NtfSubscriptionControl", "HeartbeatControl"})
MERGE = {"content-type": "application/merge-patch+json"}
DIALECTS = ["stage2", "openapi"]
DROP_SEED = 7
"""With this seed the sim's fault dice lose the 4th, 7th, 9th, 11th and 12th of the first 20 notifications."""
RETRY = Policy(attempts=4, backoff=0.01, backoff_max=0.05)

Objects = dict[str, tuple[str, dict[str, Any]]]


# -- two servers on loopback ------------------------------------------------------------------


def bound_socket(port: int = 0) -> socket.socket:
    """A loopback socket bound (not yet listening); the same port can be bound again after a stop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class Server:
    """An ASGI app with its lifespan under uvicorn on a bound socket, in a thread."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self.sock = sock
        self.port = int(sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="uvicorn-e2e", daemon=True
        )
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), "a server to start", 30)
        assert self.server.started, "the server did not start"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        assert not self.thread.is_alive(), "the server did not stop"
        self.sock.close()


# -- the setup --------------------------------------------------------------------------------


def local(dn: str) -> bool:
    """Whether a DN is, or lies under, a subscription or heartbeat object (each system's own)."""
    return any(cls in LOCAL for cls, _ in DN.parse(dn).rdns)


def objects(store: SqlStore) -> Objects:
    """DN -> (class, attributes) of every network object of a store, in stage-2 form."""
    out: Objects = {}
    for root in store.roots():
        for moi in store.read(root.dn, scope=Scope.BASE_ALL):
            if not local(moi.dn):
                out[moi.dn] = (moi.cls, moi.attrs)
    return out


def alarms(store: SqlStore) -> dict[str, tuple[str, str, str]]:
    """Alarm id -> (severity, ack state, alarmed object) of the listed alarms of a store."""
    _, rows = AlarmStore.of(store).rows()
    out = {}
    for alarm_id, severity, text in rows:
        record = orjson.loads(text)
        out[alarm_id] = (severity, record.get("ackState", ""), record.get("objectInstance", ""))
    return out


def differing(a: Objects, b: Objects) -> set[str]:
    """The DNs held differently (or by one side only)."""
    return {dn for dn in a.keys() | b.keys() if a.get(dn) != b.get(dn)}


@dataclass
class E2E:
    """The sim and the mirroring twin, served, with clients and the twin's store."""

    sim: Sim
    sim_server: Server
    twin_location: str
    twin: SqlStore
    twin_server: Server | None = None
    edge: Edge | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15))

    # the twin ----------------------------------------------------------------------------

    def start_twin(self, port: int = 0) -> None:
        """Serve a twin app that mirrors the sim (on ``port``: a twin restarted where it was)."""
        sock = bound_socket(port)
        recipient = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = MirrorConfig(producer=self.sim_server.url, recipient=recipient, watch_s=0.3, reconcile_s=0)
        app = create_app(self.twin, Settings(notify=FAST, mirror=config))
        self.twin_server = Server(app, sock)
        wait_for(lambda: self.status()["state"] == "mirroring", "the mirror to be mirroring", 20)

    def stop_twin(self) -> int:
        """Stop the twin's server and close its store, as a process that ends (then opens it afresh); its port."""
        assert self.twin_server is not None
        port = self.twin_server.port
        self.twin_server.stop()
        self.twin.close()
        self.twin = open_store(self.twin_location)
        return port

    @property
    def twin_url(self) -> str:
        assert self.twin_server is not None
        return self.twin_server.url

    def status(self) -> dict[str, Any]:
        r = self.http.get(self.twin_url + MIRROR)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def reconcile(self) -> dict[str, Any]:
        r = self.http.post(self.twin_url + MIRROR + "/reconcile")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def settled(self) -> bool:
        """Every CM change of the sim passed on to the mirror (sent or lost) and applied in the twin."""
        status = self.sim.app.state.notifier.status().get(SUB)
        if status is None or status.delivered < self.sim.store.head():
            return False
        return int(self.status()["notifications"]["pending"]) == 0

    def settle(self) -> None:
        wait_for(self.settled, "the sim's notifications to be passed on and applied", 20)

    # the sim, through its ProvMnS in its dialect ------------------------------------------

    def uri(self, dn: str) -> str:
        wire = self.edge.dn_text(dn, out=True) if self.edge else dn
        return f"{self.sim_server.url}{P}/" + wire.replace(",", "/")

    def spelled(self, dn: str, attrs: dict[str, Any]) -> dict[str, Any]:
        return self.edge.spelling.attrs(DN.parse(dn).cls, attrs) if self.edge else attrs

    def patch(self, dn: str, attrs: dict[str, Any]) -> None:
        r = self.http.patch(self.uri(dn), json={"attributes": self.spelled(dn, attrs)}, headers=MERGE)
        assert r.status_code == 204, r.text

    def put(self, dn: str, attrs: dict[str, Any]) -> None:
        body = {"id": DN.parse(dn).rdns[-1][1], "attributes": self.spelled(dn, attrs)}
        r = self.http.put(self.uri(dn), json=body)
        assert r.status_code == 201, r.text

    def delete(self, dn: str) -> None:
        r = self.http.delete(self.uri(dn))
        assert r.status_code in (200, 204), r.text

    def drift(self) -> dict[str, Any] | None:
        r = self.http.post(self.sim_server.url + "/sim/admin/drift")
        assert r.status_code == 200, r.text
        event: dict[str, Any] | None = r.json()
        return event

    def faults(self, **settings: Any) -> None:
        r = self.http.put(self.sim_server.url + "/sim/admin/faults", json=settings)
        assert r.status_code == 200, r.text

    # equality ----------------------------------------------------------------------------

    def network(self) -> Objects:
        return objects(self.sim.store)

    def twin_objects(self) -> Objects:
        return objects(self.twin)

    def equal(self) -> bool:
        return self.network() == self.twin_objects()

    def assert_equal(self) -> None:
        network, twin = self.network(), self.twin_objects()
        assert not differing(network, twin), sorted(differing(network, twin))[:10]
        assert len(twin) == len(network) > 200


@contextmanager
def mirrored(tmp_path: Path, dialect: str, *, twin_location: str | None = None, seed: int = 1) -> Iterator[E2E]:
    """The sim of 3 gNBs in ``dialect`` and a twin that mirrors it, synced."""
    location = twin_location or str(tmp_path / "twin.db")
    sim = Sim(open_store(str(tmp_path / "sim.db")), SimConfig(gnbs=3, seed=seed, notify=FAST, dialect=dialect))
    e2e = E2E(
        sim=sim,
        sim_server=Server(sim.asgi, bound_socket()),
        twin_location=location,
        twin=open_store(location),
        edge=Edge() if dialect == "openapi" else None,
    )
    try:
        e2e.start_twin()
        yield e2e
    finally:
        if e2e.twin_server is not None and e2e.twin_server.thread.is_alive():
            e2e.twin_server.stop()
        e2e.sim_server.stop()
        e2e.http.close()
        e2e.twin.close()
        sim.store.close()


# -- 1. the first sync, then notifications ----------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_after_the_sync_the_twin_equals_the_sim_and_changes_follow(
    tmp_path: Path, store_url: str, dialect: str
) -> None:
    with mirrored(tmp_path, dialect, twin_location=store_url) as e2e:
        status = e2e.status()
        assert status["dialect"] == dialect
        assert status["lastFullSync"]["kind"] == "full"
        e2e.assert_equal()
        assert alarms(e2e.twin) == alarms(e2e.sim.store)
        assert alarms(e2e.twin), "the sim raises a few alarms at start"
        synced = e2e.twin.head()
        assert {r.source for r in e2e.twin.revisions(limit=1000)} == {"real"}

        relation = f"{CU},NRCellCU=1,NRCellRelation=e2e-1"
        gone = next(dn for dn in e2e.network() if DN.parse(dn).cls == "NRCellRelation" and dn.startswith(CU))
        target = f"{ROOT},SubNetwork=Central,ManagedElement=gNB-00002,GNBCUCPFunction=1,NRCellCU=1"
        e2e.patch(CELL, {"userLabel": "patched through the sim"})
        e2e.put(relation, {"adjacentNRCellRef": target, "isHOAllowed": False, "nRTCI": 4242})
        e2e.delete(gone)

        def followed() -> bool:
            cell, made = e2e.twin.get(CELL), e2e.twin.get(relation)
            return (
                cell is not None
                and cell.attrs.get("userLabel") == "patched through the sim"
                and made is not None
                and e2e.twin.get(gone) is None
            )

        wait_for(followed, "the three changes to reach the twin")
        e2e.settle()
        e2e.assert_equal()
        made = e2e.twin.get(relation)
        assert made is not None
        assert (made.cls, made.attrs["nRTCI"], made.attrs["adjacentNRCellRef"]) == ("NRCellRelation", 4242, target)
        new = [r for r in e2e.twin.revisions(limit=1000) if r.rev > synced]
        assert len(new) >= 3
        assert all(r.source == "real" and r.message.startswith("mirror: notify") for r in new), new
        assert e2e.status()["reconciliations"] == 0  # they came by notification, not by a repair


# -- 2. lost notifications, repaired by a reconciliation --------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_reconciliation_repairs_what_lost_notifications_left_and_reports_it(tmp_path: Path, dialect: str) -> None:
    with mirrored(tmp_path, dialect, seed=DROP_SEED) as e2e:
        cells = sorted(dn for dn, (cls, _) in e2e.network().items() if cls in ("NRCellDU", "NRCellCU"))[:20]
        assert len(cells) == 20
        e2e.faults(dropNotifications=0.1)
        for i, dn in enumerate(cells):  # one notification each, in this order: the seed decides which are lost
            e2e.patch(dn, {"userLabel": f"relabelled {i}"})
        steps = [e2e.drift() for _ in range(20)]
        assert all(s is not None for s in steps)
        e2e.settle()
        assert e2e.sim.faults.counters.dropped_notifications >= 1
        network, twin = e2e.network(), e2e.twin_objects()
        drifted = differing(network, twin)
        relabelled = {dn for dn in cells if network[dn][1]["userLabel"] != twin[dn][1]["userLabel"]}
        assert relabelled, "with this seed some of the PATCHes' notifications are lost, so the twin must differ"
        assert relabelled <= drifted <= set(cells) | {s["dn"] for s in steps if s is not None}

        before = e2e.status()["driftRepaired"]
        answer = e2e.reconcile()
        e2e.assert_equal()
        assert answer["cause"] == "on-demand"
        assert answer["revision"] is not None
        assert answer["repaired"] == {"created": 0, "modified": len(drifted), "deleted": 0}
        assert {d["dn"] for d in answer["drift"]} == drifted
        assert {d["cause"] for d in answer["drift"]} == {"missed-notification"}
        changed = {d["dn"]: set(d["attributes"]) for d in answer["drift"]}
        assert all("userLabel" in changed[dn] for dn in relabelled)
        assert set().union(*changed.values()) <= {"userLabel", "nRPCI", "operationalState", "cellState"}
        status = e2e.status()
        assert status["driftRepaired"] == before + len(drifted) > 0
        reported = {d["dn"]: d["cause"] for d in status["drift"]}
        assert {dn: reported.get(dn) for dn in drifted} == dict.fromkeys(drifted, "missed-notification")
        wait_for(lambda: alarms(e2e.twin) == alarms(e2e.sim.store), "the alarm lists to be equal")


# -- 3. restarts ------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_mirror_recovers_from_a_sim_that_restarted(tmp_path: Path, dialect: str) -> None:
    with mirrored(tmp_path, dialect) as e2e:
        # A change the mirror cannot hear of: lost on the way, then the sim forgets the subscription.
        e2e.faults(dropNotifications=1.0)
        e2e.patch(CELL, {"userLabel": "changed around the restart"})
        e2e.settle()
        assert differing(e2e.network(), e2e.twin_objects()) == {CELL}
        r = e2e.http.post(e2e.sim_server.url + "/sim/admin/restart")
        assert r.status_code == 200, r.text
        assert r.json()["subscriptionsForgotten"] == [SUB]
        e2e.faults(dropNotifications=0.0)

        def recovered() -> bool:
            last = e2e.status()["lastReconcile"]
            return last is not None and last["cause"] == "producer-restart"

        wait_for(recovered, "the watcher to notice the restart and the mirror to reconcile")
        status = e2e.status()
        assert status["producerRestarts"] == 1
        assert e2e.http.get(e2e.uri(SUB)).status_code == 200  # subscribed again
        e2e.assert_equal()
        assert {d["dn"]: d["cause"] for d in status["drift"]} == {CELL: "producer-restart"}

        e2e.patch(CELL, {"userLabel": "after the restart"})
        wait_for(lambda: e2e.twin.get(CELL).attrs["userLabel"] == "after the restart", "the next change")  # type: ignore[union-attr]
        assert e2e.status()["reconciliations"] == status["reconciliations"]  # by notification again
        assert e2e.twin.revision(e2e.twin.head()).message.startswith("mirror: notify")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_restarted_twin_resumes_without_copying_the_network_again(tmp_path: Path, dialect: str) -> None:
    with mirrored(tmp_path, dialect) as e2e:
        full_syncs = [r.rev for r in e2e.twin.revisions(limit=1000) if "full sync" in r.message]
        assert len(full_syncs) == 1
        port = e2e.stop_twin()
        e2e.patch(CELL, {"userLabel": "changed while the twin was down"})
        e2e.start_twin(port)
        wait_for(e2e.equal, "the redelivered change to reach the restarted twin")
        e2e.settle()
        e2e.assert_equal()
        status = e2e.status()
        assert status["lastFullSync"] is None  # this process did not copy the network
        assert status["reconciliations"] == 0
        assert status["notifications"]["applied"] >= 1
        assert [r.rev for r in e2e.twin.revisions(limit=1000) if "full sync" in r.message] == full_syncs
        assert e2e.twin.revision(e2e.twin.head()).message.startswith("mirror: notify")


# -- 4. write-back while the mirror runs ------------------------------------------------------


def twenty_ops(twin: SqlStore) -> list[Op]:
    """A new gNB with a cell, two new cells, relations to the new gNB, six modifications, four removals."""
    writable = Writable()

    def like(dn: str, *, respell: bool = True, **changes: Any) -> dict[str, Any]:
        moi = twin.get(dn)
        assert moi is not None, dn
        attrs = writable(moi.cls, moi.attrs) or {}
        text = orjson.dumps(attrs)
        if respell:
            text = text.replace(b"gNB-00001", b"gNB-00009")
        out: dict[str, Any] = orjson.loads(text)
        out.update(changes)
        return out

    relations = sorted(dn for dn in objects(twin) if dn.startswith(f"{CU},NRCellCU=3,NRCellRelation="))[:4]
    assert len(relations) == 4
    new_cell = f"{CU9},NRCellCU=1"
    ops: list[Op] = [
        Create(ME9, {"userLabel": "gNB-00009", "priorityLabel": 1}, "ManagedElement"),
        Create(DU9, like(DU, gNBId=7457459, gNBDUId=7457459), "GNBDUFunction"),
        Create(f"{DU9},NRSectorCarrier=1", like(f"{DU},NRSectorCarrier=1"), "NRSectorCarrier"),
        Create(f"{DU9},NRCellDU=1", like(CELL, bWPRef=[], nRPCI=12), "NRCellDU"),
        Create(CU9, like(CU, gNBId=7457459), "GNBCUCPFunction"),
        Create(new_cell, like(f"{CU},NRCellCU=1"), "NRCellCU"),
        Create(f"{DU},NRCellDU=7", like(CELL, respell=False, cellLocalId=7, nRPCI=700), "NRCellDU"),
        Create(f"{DU},NRCellDU=8", like(CELL, respell=False, cellLocalId=8, nRPCI=701), "NRCellDU"),
    ]
    for cu in (1, 2):
        relation = {"adjacentNRCellRef": new_cell, "isHOAllowed": True, "nRTCI": 9}
        ops.append(Create(f"{CU},NRCellCU={cu},NRCellRelation=gNB-00009-1", relation, "NRCellRelation"))
    ops += [
        Update(CELL, {"nRPCI": 100}),
        Update(f"{DU},NRCellDU=2", {"userLabel": "renamed"}),
        Update(f"{DU},NRCellDU=3", {"administrativeState": "LOCKED"}),
        Update(ME, {"userLabel": "gNB one"}),
        Update(f"{DU},NRSectorCarrier=1", {"configuredMaxTxPower": 150000}),
        Update(f"{CU},NRCellCU=1", {"userLabel": "CU cell one"}),
    ]
    ops += [Delete(dn) for dn in relations]
    return ops


def sandbox(twin: SqlStore) -> tuple[int, list[Change]]:
    """A sandbox of the twin with the twenty operations; (its id, its change set)."""
    branch = twin.create_branch(name="e2e plan")
    twin.commit(twenty_ops(twin), source="oss", branch=branch.id)
    return branch.id, twin.change_set(branch.id)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_failed_seventh_write_leaves_sim_and_twin_as_before(tmp_path: Path, dialect: str) -> None:
    with mirrored(tmp_path, dialect) as e2e:
        _, changes = sandbox(e2e.twin)
        assert len(changes) == 20
        before = e2e.network()
        e2e.faults(failWriteIn=7)
        with writeback_client(e2e.sim_server.url) as client:
            outcome = deploy(changes, client=client, dialect=dialect, store=e2e.twin, policy=RETRY)
        assert outcome.status in ("rolled-back", "failed"), outcome.as_json()
        assert outcome.failed_step == 7
        e2e.settle()
        after = e2e.network()
        if outcome.status == "rolled-back":
            assert after == before
            assert outcome.differences == []
        else:  # an exact report of what is left
            assert {d.dn for d in outcome.differences} == differing(before, after)
        e2e.assert_equal()
        # The mirror saw the applied writes and their undoing, as revisions of its own.
        history = e2e.twin.history(ME9)
        assert [v.attrs is not None for v in history] == [True, False]
        assert {v.revision.source for v in history} == {"real"}
        assert all(v.revision.author == "mirror" for v in history)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_deployed_change_set_reaches_the_twin_through_the_mirror(tmp_path: Path, dialect: str) -> None:
    with mirrored(tmp_path, dialect) as e2e:
        branch, changes = sandbox(e2e.twin)
        intended = {
            m.dn: (m.cls, m.attrs) for m in e2e.twin.read(ROOT, scope=Scope.BASE_ALL, branch=branch) if not local(m.dn)
        }
        with writeback_client(e2e.sim_server.url) as client:
            outcome = deploy(changes, client=client, dialect=dialect, store=e2e.twin, policy=RETRY)
        assert outcome.status == "applied", outcome.as_json()
        e2e.settle()
        assert not differing(e2e.network(), intended)
        e2e.assert_equal()
        assert e2e.status()["reconciliations"] == 0  # all of it by notification

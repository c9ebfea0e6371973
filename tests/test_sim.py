"""``mns sim``: the emulated network served on loopback, its drift, PM, faults and dialect.

Each test runs the sim (its app, lifespan and background services) under uvicorn on
127.0.0.1 over the ``store`` fixture (SQLite and PostgreSQL), and, where notifications
matter, a small recipient server beside it.
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
from conftest import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mns.notify.delivery import NotifySettings
from mns.sim.drift import OUTAGE_STEPS, Drift
from mns.sim.faults import FaultSettings
from mns.sim.generate import generate_network
from mns.sim.server import Sim, SimConfig
from mns.sim.traffic import DU_TYPES
from mns.store import SqlStore, open_store

P = "/ProvMnS/v1800"
ROOT = "SubNetwork=RAN"
ME = f"{ROOT},SubNetwork=Central,ManagedElement=gNB-00001"
CELL = f"{ME},GNBDUFunction=1,NRCellDU=1"
SUB = f"{ROOT},NtfSubscriptionControl=sim-test"
MERGE = {"content-type": "application/merge-patch+json"}
FAST = NotifySettings(poll_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.3, cursor_flush_s=0.1)


def uri(dn: str) -> str:
    return f"{P}/" + dn.replace(",", "/")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Recipient:
    """A notification recipient on loopback that records what it receives."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/ntf", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        with self.lock:
            self.received.append(body)
        return Response(status_code=204)

    def of(self, *types: str) -> list[dict[str, Any]]:
        with self.lock:
            return [b for b in self.received if b.get("notificationType") in types]


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve an ASGI app with its lifespan (the sim's services) on a free loopback port."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-sim", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), "the sim to start", 30)
    assert server.started, "the sim did not start"
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)


@contextmanager
def sim_on(store: SqlStore, **config: Any) -> Iterator[tuple[httpx.Client, Sim]]:
    """The sim of one gNB over ``store``, served, and a client for it."""
    emulated = Sim(store, SimConfig(gnbs=1, seed=1, notify=FAST, **config))
    with running(emulated.asgi) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client, emulated


@contextmanager
def recipient() -> Iterator[tuple[Recipient, str]]:
    r = Recipient()
    with serve(r.app) as url:
        yield r, f"{url}/ntf"


def subscribe(client: httpx.Client, address: str, dn: str = SUB) -> None:
    attrs = {"notificationRecipientAddress": address, "scope": [{"scopeType": "BASE_ALL"}]}
    r = client.put(uri(dn), json={"id": dn.rsplit("=", 1)[1], "attributes": attrs})
    assert r.status_code == 201, r.text


def changes_of(received: list[dict[str, Any]], name: str) -> list[tuple[dict[str, Any], Any]]:
    """(notification, new value) of every notifyMOIAttributeValueChanges that changed ``name``."""
    out = []
    for body in received:
        if body["notificationType"] == "notifyMOIAttributeValueChanges":
            new = body["attributeListValueChanges"][0]
            if name in new:
                out.append((body, new[name]))
    return out


# -- the network ------------------------------------------------------------------------------


def test_the_sim_serves_the_generated_network_and_its_alarms(store: SqlStore) -> None:
    generated = {o.dn: o for o in generate_network(1, seed=1)}
    with sim_on(store) as (client, _):
        r = client.get(uri(CELL))
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["objectClass"], body["attributes"]) == ("NRCellDU", generated[CELL].attrs)
        flat = client.get(uri(ROOT), params={"scopeType": "BASE_ALL"}, headers={"accept": FLAT})
        assert {o["objectInstance"] for o in flat.json()} == set(generated)
        alarms = client.get("/FaultSupervisionMnS/v1800/alarms")
        assert alarms.status_code == 200, alarms.text
        assert alarms.json()


FLAT = "application/vnd.3gpp.object-tree-flat+json"


def test_a_patch_is_notified_as_a_management_operation(store: SqlStore) -> None:
    with recipient() as (rec, address), sim_on(store) as (client, _):
        subscribe(client, address)
        r = client.patch(uri(CELL), json={"attributes": {"userLabel": "patched"}}, headers=MERGE)
        assert r.status_code == 204, r.text
        wait_for(lambda: changes_of(rec.received, "userLabel"), "the notification of the PATCH")
        body, value = changes_of(rec.received, "userLabel")[0]
        assert value == "patched"
        assert body["sourceIndicator"] == "MANAGEMENT_OPERATION"
        assert body["href"].endswith(uri(CELL))


# -- drift ------------------------------------------------------------------------------------


def test_drift_changes_pcis_by_itself_and_notifies_resource_operations(store: SqlStore) -> None:
    with recipient() as (rec, address), sim_on(store, drift_per_min=1200) as (client, sim):
        subscribe(client, address)
        wait_for(lambda: changes_of(rec.received, "nRPCI"), "a drifted PCI to be notified")
        body, value = changes_of(rec.received, "nRPCI")[0]
        assert body["sourceIndicator"] == "RESOURCE_OPERATION"
        dn = next(e.dn for e in sim.drift.events if e.kind == "pci" and e.detail["new"] == value)
        history = store.history(dn)
        assert any(v.attrs is not None and v.attrs.get("nRPCI") == value for v in history)
        assert all(v.revision.source == "real" for v in history)


def test_an_outage_disables_the_cell_with_an_alarm_until_it_recovers(store: SqlStore) -> None:
    with sim_on(store) as (client, _):
        steps = [client.post("/sim/admin/drift").json() for _ in range(12)]
        outage = next(s for s in steps if s["kind"] == "outage")
        recovery = next(s for s in steps if s["kind"] == "recovery")
        assert recovery["dn"] == outage["dn"]
        assert recovery["alarmId"] == outage["alarmId"]
        assert steps.index(recovery) - steps.index(outage) == OUTAGE_STEPS
        state = {v.revision.rev: v.attrs["operationalState"] for v in store.history(outage["dn"]) if v.attrs}
        assert (state[outage["revision"]], state[recovery["revision"]]) == ("DISABLED", "ENABLED")
        alarms = client.get("/FaultSupervisionMnS/v1800/alarms", params={"baseObjectInstance": outage["dn"]}).json()
        assert alarms[outage["alarmId"]]["perceivedSeverity"] == "CLEARED"  # listed until acknowledged
        assert alarms[outage["alarmId"]]["specificProblem"] == "NR cell out of service"


def test_drift_is_deterministic_by_seed(tmp_path: Path) -> None:
    def events(name: str) -> list[tuple[str, str]]:
        s = open_store(str(tmp_path / name))
        try:
            Sim(s, SimConfig(gnbs=2, seed=7))
            drift = Drift(store=s, per_min=0, seed=7)
            return [(e.kind, e.dn) for e in (drift.step() for _ in range(8)) if e is not None]
        finally:
            s.close()

    first = events("a.db")
    assert first == events("b.db")
    assert {k for k, _ in first} >= {"pci", "outage"}


# -- faults -----------------------------------------------------------------------------------


def test_latency_is_added_and_reported(store: SqlStore) -> None:
    with sim_on(store) as (client, _):
        plain = client.get(uri(CELL))
        assert client.put("/sim/admin/faults", json={"latencyMs": 300}).json()["latencyMs"] == 300
        began = time.monotonic()
        slow = client.get(uri(CELL))
        slow_s = time.monotonic() - began
        assert slow.status_code == 200
        assert slow.json() == plain.json()
        assert slow.headers["x-sim-injected-delay-ms"] == "300"
        assert "x-sim-injected-delay-ms" not in plain.headers
        assert slow_s >= 0.3  # a lower bound the injected sleep guarantees, whatever the load


def test_an_error_rate_of_one_answers_every_request_with_a_5xx(store: SqlStore) -> None:
    with sim_on(store, faults=FaultSettings(error_rate=1.0)) as (client, _):
        answers = [client.get(uri(CELL)) for _ in range(5)]
        answers.append(client.patch(uri(CELL), json={"attributes": {"userLabel": "x"}}, headers=MERGE))
        assert all(r.status_code == 503 and "injected" in r.json()["error"]["errorInfo"] for r in answers)
        assert store.get(CELL).attrs["userLabel"] != "x"  # type: ignore[union-attr]
        client.put("/sim/admin/faults", json={"errorRate": 0})
        assert client.get(uri(CELL)).status_code == 200


def test_the_kth_write_fails_and_changes_nothing(store: SqlStore) -> None:
    with sim_on(store) as (client, _):
        assert client.put("/sim/admin/faults", json={"failWriteIn": 2}).status_code == 200

        def label(value: str) -> httpx.Response:
            return client.patch(uri(CELL), json={"attributes": {"userLabel": value}}, headers=MERGE)

        assert label("one").status_code == 204
        head = store.head()
        failed = label("two")
        assert failed.status_code == 500
        assert failed.headers["x-sim-injected-fault"] == "write"
        assert store.head() == head
        assert client.get(uri(CELL)).json()["attributes"]["userLabel"] == "one"
        assert label("three").status_code == 204
        assert client.get("/sim/admin/faults").json()["counters"]["failedWrites"] == 1


def test_a_timed_out_request_is_held_past_the_client_timeout(store: SqlStore) -> None:
    with sim_on(store, faults=FaultSettings(timeout_rate=1.0, timeout_hold_s=1.5)) as (client, _):
        with pytest.raises(httpx.ReadTimeout):
            client.get(uri(CELL), timeout=0.3)
        assert client.put("/sim/admin/faults", json={"timeoutRate": 0}).status_code == 200
        assert client.get(uri(CELL)).status_code == 200


def test_bad_fault_settings_are_refused_and_change_nothing(store: SqlStore) -> None:
    with sim_on(store) as (client, _):
        before = client.get("/sim/admin/faults").json()
        for bad in ({"errorRate": 2}, {"failWriteIn": 0}, {"latencyMs": "x"}, {"nope": 1}, [1]):
            r = client.put("/sim/admin/faults", json={"latencyMs": 5, **bad} if isinstance(bad, dict) else bad)
            assert r.status_code == 400, r.text
            assert r.json()["error"]["errorInfo"]
        assert client.get("/sim/admin/faults").json() == before


def test_dropped_notifications_never_arrive_while_the_change_is_committed(store: SqlStore) -> None:
    with recipient() as (rec, address), sim_on(store) as (client, sim):
        subscribe(client, address)
        client.put("/sim/admin/faults", json={"dropNotifications": 1.0})
        r = client.patch(uri(CELL), json={"attributes": {"userLabel": "lost"}}, headers=MERGE)
        assert r.status_code == 204
        rev = int(r.headers["x-twin-revision"])
        notifier = sim.app.state.notifier

        def passed_on() -> bool:
            status = notifier.status().get(SUB)  # the subscriber appears once the worker has read its creation
            return status is not None and status.delivered >= rev

        wait_for(passed_on, "the PATCH's notification to be passed on")
        assert sim.faults.counters.dropped_notifications >= 1
        assert store.get(CELL).attrs["userLabel"] == "lost"  # type: ignore[union-attr]
        assert changes_of(rec.received, "userLabel") == []


def test_a_restart_forgets_subscriptions_without_notifying(store: SqlStore) -> None:
    with recipient() as (rec, address), sim_on(store) as (client, sim):
        subscribe(client, address)
        wait_for(lambda: SUB in sim.app.state.notifier.status(), "the subscriber")
        fault_sub = {"consumerReference": address}
        assert client.post("/FaultSupervisionMnS/v1800/subscriptions", json=fault_sub).status_code == 201
        r = client.post("/sim/admin/restart")
        assert r.status_code == 200, r.text
        assert r.json()["subscriptionsForgotten"] == [SUB]
        assert r.json()["mnsSubscriptionsForgotten"] == 1
        assert client.get(uri(SUB)).status_code == 404
        assert SUB not in sim.app.state.notifier.status()
        assert sim.app.state.events.targets.subscriptions() == []
        assert client.get(uri(CELL)).status_code == 200  # still serving after its restart
        assert rec.of("notifyMOIDeletion") == []


# -- dialect and PM ---------------------------------------------------------------------------

OA_CELL = "SubNetwork=RAN/SubNetwork=Central/ManagedElement=gNB-00001/GnbDuFunction=1/NrCellDu=1"


def test_the_openapi_dialect_speaks_openapi_both_ways(store: SqlStore) -> None:
    with recipient() as (rec, address), sim_on(store, dialect="openapi") as (client, _):
        r = client.get(f"{P}/{OA_CELL}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["objectClass"] == "NrCellDu"
        assert "nrPci" in body["attributes"]
        assert body["objectInstance"].endswith("GnbDuFunction=1,NrCellDu=1")
        subscribe(client, address)
        patch = client.patch(f"{P}/{OA_CELL}", json={"attributes": {"nrPci": 77}}, headers=MERGE)
        assert patch.status_code == 204, patch.text
        assert store.get(CELL).attrs["nRPCI"] == 77  # type: ignore[union-attr]
        gpp = [{"op": "replace", "path": "/GnbDuFunction=1/NrCellDu=1#/attributes/nrPci", "value": 78}]
        me = "SubNetwork=RAN/SubNetwork=Central/ManagedElement=gNB-00001"
        r = client.patch(f"{P}/{me}", json=gpp, headers={"content-type": "application/3gpp-json-patch+json"})
        assert r.status_code == 204, r.text
        assert store.get(CELL).attrs["nRPCI"] == 78  # type: ignore[union-attr]
        found = client.get(
            f"{P}/{me}",
            params={"scopeType": "BASE_ALL", "filter": "//NrCellDu[attributes/nrPci=78]"},
            headers={"accept": FLAT},
        )
        assert [o["objectClass"] for o in found.json()] == ["NrCellDu"]
        wait_for(lambda: len(changes_of(rec.received, "nrPci")) >= 2, "notifications in OpenAPI spelling")
        note, value = changes_of(rec.received, "nrPci")[0]
        assert value == 77
        assert "NrCellDu=1" in note["href"]
        assert not changes_of(rec.received, "nRPCI")


def test_pm_periods_pass_and_the_sim_holds_measurements_for_its_cells(store: SqlStore) -> None:
    with sim_on(store, pm_period=60, time_scale=600) as (client, sim):
        wait_for(lambda: sim.pm.periods >= 2, "two accelerated PM periods")
        rows = sim.app.state.pm_store.read(dn=CELL)
        assert set(DU_TYPES) <= {m.mtype for m in rows}
        assert {m.period for m in rows} == {60}
        r = client.get("/TwinMnS/v1/pm", params={"dn": CELL, "measurementTypes": "RRU.PrbUsedDl"})
        assert r.status_code == 200, r.text
        assert r.json()["series"]


def test_the_cli_refuses_a_bad_fault_flag_before_serving(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mns.cli import app

    state = tmp_path / "sim.db"
    result = CliRunner().invoke(app, ["sim", "--state", str(state), "--error-rate", "2"])
    assert result.exit_code == 2
    assert "errorRate" in result.output
    s = open_store(str(state))
    try:
        assert s.head() == 0  # nothing was loaded
    finally:
        s.close()

"""The NDT NRM (TS 28.561): the project's YANG module, the registry, and jobs run through ProvMnS.

Jobs are created with ProvMnS on the real app; the runner (``mns.ndt.runner``) is driven pass by
pass with ``run_once`` on the same store, as its background thread would, and its outcome is
read back through ProvMnS.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from test_notify import FAST, Inbox, subscribe, wait_for

from mns.ndt import NdtRunner, RunnerSettings, install
from mns.ndt.runner import engine_verify
from mns.notify.delivery import Notifier
from mns.nrm.registry import Registry
from mns.producers.app import create_app
from mns.sim.generate import generate_network
from mns.store import Create, SqlStore, open_store
from mns.store.api import Update
from mns.verify.model import Report, Rule

ROOT = Path(__file__).resolve().parent.parent
P = "/ProvMnS/v1800"
FUNCTION = "SubNetwork=RAN,NDTFunction=1"
DU = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001,GNBDUFunction=1"
CELL1 = f"{DU},NRCellDU=1"
CELL2 = f"{DU},NRCellDU=2"
NCV = "NETWORK_CONFIGURATIONS_VERIFICATION"
RAP = "RISKY_ACTIONS_PREDICTION"


def uri(dn: str) -> str:
    return f"{P}/" + dn.replace(",", "/")


def patch_path(dn: str, pointer: str = "") -> str:
    """An absolute 3GPP JSON patch path: ``/<DN with slashes>[#<pointer>]``."""
    return "/" + dn.replace(",", "/") + (f"#{pointer}" if pointer else "")


@pytest.fixture
def client(store: SqlStore) -> Iterator[TestClient]:
    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(2, seed=3)), source="real")
    with TestClient(create_app(store)) as c:
        resp = c.put(uri(FUNCTION), json={"id": "1", "attributes": {"ndtScope": ["RAN"], "userLabel": "twin"}})
        assert resp.status_code == 201, resp.text
        yield c


def create_job(client: TestClient, job_id: str, capability: str, change_set: Any = None, **extra: Any) -> str:
    """PUT an NDTJob under the NDT function; its DN."""
    attrs: dict[str, Any] = {"ndtCapability": capability, **extra}
    if change_set is not None:
        attrs["scenario"] = {"changeSet": orjson.dumps(change_set).decode()}
    dn = f"{FUNCTION},NDTJob={job_id}"
    resp = client.put(uri(dn), json={"id": job_id, "attributes": attrs})
    assert resp.status_code == 201, resp.text
    return dn


def read(client: TestClient, dn: str) -> dict[str, Any]:
    resp = client.get(uri(dn))
    assert resp.status_code == 200, resp.text
    attrs: dict[str, Any] = resp.json()["attributes"]
    return attrs


def collision() -> list[dict[str, Any]]:
    """Cell 1 takes the PCI of cell 2, its neighbour on the same SSB frequency (a PCI collision)."""
    return [{"op": "replace", "path": patch_path(CELL1, "/attributes/nRPCI"), "value": 415}]


# -- the module and the registry -----------------------------------------------------------------


def test_the_module_passes_pyang(specs: Path) -> None:
    yang = specs / "yang"
    path = f"{yang}:{yang / 'external-yams'}"
    # The pyang command, run by this interpreter (whatever its scripts folder is).
    pyang = [sys.executable, "-c", "import sys; from pyang.scripts.pyang_tool import run; sys.exit(run())"]
    modules = sorted(str(p) for p in (ROOT / "yang_models").glob("*.yang"))
    assert modules, "no modules in yang_models/"
    done = subprocess.run(
        [*pyang, "--strict", "-p", path, *modules], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # not even a warning


def test_the_registry_knows_the_ndt_classes(registry: Registry) -> None:
    for name in ("NDTFunction", "NDTJob", "NDTReport"):
        spec = registry.get(name)
        assert spec is not None, name
        assert spec.yang_module == "twin-mns-ndt"
    assert registry.allowed_parent("NDTFunction", "SubNetwork")
    assert registry.allowed_parent("NDTFunction", "ManagedElement")
    assert registry.allowed_parent("NDTJob", "NDTFunction")
    assert registry.allowed_parent("NDTReport", "NDTJob")
    assert not registry.allowed_parent("NDTJob", "SubNetwork")
    assert not registry.allowed_parent("NDTReport", "NDTFunction")
    job = registry.get("NDTJob")
    assert job is not None
    capability = job.attributes["ndtCapability"]
    assert capability.kind == "enum"
    assert capability.mandatory
    assert {NCV, RAP, "ML_TRAINING_DATA_GENERATION"} <= set(capability.values)
    assert job.attributes["processMonitor"].readonly
    assert not job.attributes["scenario"].readonly
    report = registry.get("NDTReport")
    assert report is not None
    assert all(a.readonly for n, a in report.attributes.items() if n != "id")


# -- jobs through ProvMnS ----------------------------------------------------------------------


def test_a_pci_collision_fails_verification(client: TestClient, store: SqlStore) -> None:
    dn = create_job(client, "collide", NCV, collision())
    runs = NdtRunner(store=store).run_once()
    assert [r.dn for r in runs] == [dn]
    job = read(client, dn)
    assert job["processMonitor"]["status"] == "FINISHED"
    assert job["processMonitor"]["progressPercentage"] == 100
    report = read(client, f"{dn},NDTReport=1")
    assert report["verdict"] == "FAILED"
    assert report["errorCount"] >= 1
    hits = [o for o in report["observations"] if o["rule"] == "pci-collision"]
    assert hits, report["observations"]
    assert all(o["severity"] == "ERROR" for o in hits)
    cells = {o["objectInstance"] for o in hits} | {r for o in hits for r in o.get("relatedObjects", [])}
    assert {CELL1, CELL2} <= cells
    assert any(o["introduced"] for o in hits)
    sandbox = report["networkState"]["sandboxId"]
    on_sandbox, live = store.get(CELL1, branch=sandbox), store.get(CELL1)
    assert on_sandbox is not None
    assert live is not None
    assert on_sandbox.attrs["nRPCI"] == 415  # the scenario, on the sandbox
    assert live.attrs["nRPCI"] != 415  # never on the live twin
    changes = orjson.loads(report["configuration"])["changes"]
    assert [c["dn"] for c in changes] == [CELL1]


def test_a_clean_change_set_passes(client: TestClient, store: SqlStore) -> None:
    change = [{"method": "PATCH", "path": "/" + CELL1.replace(",", "/"), "body": {"attributes": {"userLabel": "x"}}}]
    dn = create_job(client, "clean", NCV, change)
    NdtRunner(store=store).run_once()
    assert read(client, dn)["processMonitor"]["status"] == "FINISHED"
    report = read(client, f"{dn},NDTReport=1")
    assert report["errorCount"] == 0
    assert report["verdict"] in ("PASSED", "PASSED_WITH_WARNINGS")
    assert report["verdict"] == ("PASSED_WITH_WARNINGS" if report["warningCount"] else "PASSED")
    assert report["rules"]


def test_a_change_set_the_twin_refuses_is_a_failed_verdict(client: TestClient, store: SqlStore) -> None:
    bad = [{"op": "replace", "path": patch_path(CELL1, "/attributes/nRPCI"), "value": 5000}]
    dn = create_job(client, "range", NCV, bad)
    NdtRunner(store=store).run_once()
    assert read(client, dn)["processMonitor"]["status"] == "FINISHED"
    report = read(client, f"{dn},NDTReport=1")
    assert report["verdict"] == "FAILED"
    assert report["errorCount"] == 1
    assert "nRPCI" in report["observations"][0]["message"]


def test_an_unsupported_capability_fails_the_job(client: TestClient, store: SqlStore) -> None:
    dn = create_job(client, "ml", "ML_TRAINING_DATA_GENERATION", collision())
    NdtRunner(store=store).run_once()
    monitor = read(client, dn)["processMonitor"]
    assert monitor["status"] == "FAILED"
    assert "not supported by this twin" in monitor["resultStateInfo"]
    report = read(client, f"{dn},NDTReport=1")
    assert report["verdict"] == "NOT_VERIFIED"
    assert report["observations"][0]["rule"] == "ndt-capability"
    assert "not supported by this twin" in report["observations"][0]["message"]


def test_a_scenario_without_a_change_set_fails_the_job(client: TestClient, store: SqlStore) -> None:
    dn = create_job(client, "empty", NCV)
    NdtRunner(store=store).run_once()
    assert read(client, dn)["processMonitor"]["status"] == "FAILED"
    assert read(client, f"{dn},NDTReport=1")["observations"][0]["rule"] == "ndt-scenario"


def test_risky_action_prediction_runs_the_impact_rules_only(client: TestClient, store: SqlStore) -> None:
    from mns.verify.impact import RULES

    seen: list[Sequence[Rule] | None] = []

    def verify(s: SqlStore, branch: int, rules: Sequence[Rule] | None) -> Report:
        seen.append(rules)
        return engine_verify(s, branch, rules)

    lock = [{"op": "replace", "path": patch_path(CELL1, "/attributes/administrativeState"), "value": "LOCKED"}]
    dn = create_job(client, "lock", RAP, lock)
    NdtRunner(store=store, verify=verify).run_once()
    impact = {r.name for r in RULES}
    assert len(seen) == 1
    assert seen[0] is not None
    assert {r.name for r in seen[0]} == impact
    report = read(client, f"{dn},NDTReport=1")
    assert report["ndtCapability"] == RAP
    assert set(report["rules"]) <= impact
    assert {o["rule"] for o in report["observations"]} <= impact
    assert read(client, dn)["processMonitor"]["status"] == "FINISHED"


def test_a_job_longer_than_max_runtime_fails(client: TestClient, store: SqlStore) -> None:
    ticks = iter(range(100))
    start = datetime(2025, 1, 1, tzinfo=UTC)

    def clock() -> datetime:  # ten seconds pass between two readings
        return start + timedelta(seconds=10 * next(ticks))

    change = [{"method": "PATCH", "path": "/" + CELL1.replace(",", "/"), "body": {"attributes": {"userLabel": "y"}}}]
    dn = create_job(client, "slow", NCV, change, maxRuntime=5)
    NdtRunner(store=store, clock=clock).run_once()
    monitor = read(client, dn)["processMonitor"]
    assert monitor["status"] == "FAILED"
    assert "maxRuntime" in monitor["resultStateInfo"]
    assert monitor["startTime"] == "2025-01-01T00:00:00Z"
    report = read(client, f"{dn},NDTReport=1")
    assert report["durationSeconds"] == 10
    assert report["verdict"] != "NOT_VERIFIED"  # the verification ran; the job overran


def test_a_consumer_cannot_set_the_job_status(client: TestClient) -> None:
    body = {"id": "fake", "attributes": {"ndtCapability": NCV, "processMonitor": {"id": "fake", "status": "FINISHED"}}}
    resp = client.put(uri(f"{FUNCTION},NDTJob=fake"), json=body)
    assert resp.status_code == 400
    assert "read-only" in resp.json()["error"]["errorInfo"]
    report = {"id": "1", "attributes": {"verdict": "PASSED"}}
    assert client.put(uri(f"{FUNCTION},NDTJob=fake,NDTReport=1"), json=report).status_code in (400, 404)


def test_the_function_states_what_the_twin_supports(client: TestClient, store: SqlStore) -> None:
    NdtRunner(store=store).run_once()
    assert read(client, FUNCTION)["supportedNDTCapabilities"] == [NCV, RAP]


# -- restarts ------------------------------------------------------------------------------


def counting(calls: list[int]) -> Callable[[SqlStore, int, Sequence[Rule] | None], Report]:
    def verify(s: SqlStore, branch: int, rules: Sequence[Rule] | None) -> Report:
        calls.append(branch)
        return engine_verify(s, branch, rules)

    return verify


def test_a_restart_does_not_rerun_a_finished_job(client: TestClient, store: SqlStore) -> None:
    calls: list[int] = []
    dn = create_job(client, "once", NCV, collision())
    assert len(NdtRunner(store=store, verify=counting(calls)).run_once()) == 1
    head = store.head()
    again = open_store(store.url)  # a new process on the same database
    try:
        runner = NdtRunner(store=again, verify=counting(calls))
        assert runner.run_once() == []
        assert len(calls) == 1
        assert store.head() == head  # nothing written either
        later = create_job(client, "later", NCV, collision())
        assert [r.dn for r in runner.run_once()] == [later]
        assert len(calls) == 2
    finally:
        again.close()
    assert read(client, dn)["processMonitor"]["status"] == "FINISHED"


def test_a_job_left_running_by_a_stopped_runner_is_run_again(client: TestClient, store: SqlStore) -> None:
    dn = create_job(client, "crashed", NCV, collision())
    # A runner that stopped after marking the job RUNNING, before writing its outcome (and
    # before saving its cursor).
    running = {"id": "crashed", "status": "RUNNING", "progressPercentage": 0, "startTime": "2025-01-01T00:00:00Z"}
    store.commit([Update(dn, {"processMonitor": running})], source="ndt", author="ndt-runner")
    runs = NdtRunner(store=store).run_once()
    assert [r.dn for r in runs] == [dn]
    assert read(client, dn)["processMonitor"]["status"] == "FINISHED"
    assert read(client, f"{dn},NDTReport=1")["verdict"] == "FAILED"


def test_the_outcome_is_one_ndt_revision(client: TestClient, store: SqlStore) -> None:
    dn = create_job(client, "rev", NCV, collision())
    before = store.head()
    NdtRunner(store=store).run_once()
    revisions = [store.revision(r) for r in range(before + 1, store.head() + 1)]
    assert {r.source for r in revisions} == {"ndt"}
    final = revisions[-1]
    changed = {c.dn: c.kind.value for c in store.diff(final.rev - 1, final.rev)}
    assert changed == {dn: "modified", f"{dn},NDTReport=1": "created"}


def test_a_subscriber_is_told_of_the_report(client: TestClient, store: SqlStore) -> None:
    url = "http://recipient.invalid/ntf"  # a stand-in recipient (the notify tests' Inbox)
    subscribe(store, "SubNetwork=RAN,NtfSubscriptionControl=ndt", url)
    inbox = Inbox()
    notifier = Notifier(store=store, settings=FAST, transport=httpx.MockTransport(inbox.handler))
    notifier.start()
    try:
        dn = create_job(client, "told", NCV, collision())
        NdtRunner(store=store, on_commit=notifier.wake).run_once()
        report = f"{dn},NDTReport=1"
        wait_for(lambda: any(b.get("href", "").endswith(report.replace(",", "/")) for b in inbox.of(url)), "the report")
    finally:
        notifier.stop()
    created = [b for b in inbox.of(url, "notifyMOICreation") if b["href"].endswith(report.replace(",", "/"))]
    assert len(created) == 1
    assert created[0]["attributeList"]["verdict"] == "FAILED"
    changed = [b for b in inbox.of(url, "notifyMOIAttributeValueChanges") if b["href"].endswith(dn.replace(",", "/"))]
    statuses = [b["attributeListValueChanges"][0]["processMonitor"]["status"] for b in changed]
    assert statuses == ["RUNNING", "FINISHED"]


def test_install_adds_the_runner_to_the_services(store: SqlStore) -> None:
    app = create_app(store)
    services: list[Any] = []
    runner = install(app, services, settings=RunnerSettings(poll_s=0.1))
    assert runner is not None
    assert services == [runner]
    assert app.state.ndt is runner

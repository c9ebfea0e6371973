"""Issue 6 end to end: a sandbox's PCI plan is verified, blocked, fixed, deployed to the network, mirrored back.

The sim and the twin run as separate servers on loopback (``test_mirror_e2e.mirrored``); every
step goes through the twin's HTTP API: a sandbox locks three cells and gives them new PCIs, one
of them its neighbour's (a collision); verification finds it and the gate refuses the deployment;
with that PCI fixed the change set verifies, deploys to the sim, the mirror reflects it, and the
live twin holds it as one revision from source ``sandbox:<id>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from test_mirror_e2e import DIALECTS, E2E, mirrored

from mns.store.api import Scope

MERGE = {"content-type": "application/merge-patch+json"}
ME = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001"
CELLS = [f"{ME},GNBDUFunction=1,NRCellDU={i}" for i in (1, 2, 3)]


def _path(dn: str) -> str:
    return dn.replace(",", "/")


def _neighbour_pci(e2e: E2E, cell: str) -> int:
    """The PCI of a same-frequency neighbour of ``cell`` that is not one of the three (a collision)."""
    du = e2e.twin.get(cell)
    assert du is not None
    cu = cell.replace("GNBDUFunction=1,NRCellDU=", "GNBCUCPFunction=1,NRCellCU=")
    for _, cls, attrs_json, _ in e2e.twin.scan(cu, scope=Scope.BASE_NTH_LEVEL, level=1):
        target = orjson.loads(attrs_json).get("adjacentNRCellRef") if cls == "NRCellRelation" else None
        if not isinstance(target, str) or "ExternalNRCellCU" in target:
            continue
        other = target.replace("GNBCUCPFunction=1,NRCellCU=", "GNBDUFunction=1,NRCellDU=")
        found = e2e.twin.get(other)
        if other not in CELLS and found is not None and found.attrs["ssbFrequency"] == du.attrs["ssbFrequency"]:
            return int(found.attrs["nRPCI"])
    raise AssertionError(f"{cell} has no same-frequency neighbour outside the three")


def _free_pcis(e2e: E2E, n: int) -> list[int]:
    """PCIs no cell of the twin uses."""
    used = {m.attrs.get("nRPCI") for m in e2e.twin.read("SubNetwork=RAN", scope=Scope.BASE_ALL) if m.cls == "NRCellDU"}
    return [p for p in range(1007, 0, -1) if p not in used][:n]


def _sandbox(e2e: E2E, plan: dict[str, int]) -> str:
    http, twin = e2e.http, e2e.twin_url
    made = http.post(f"{twin}/TwinMnS/v1/sandboxes", json={"name": "pci plan"})
    assert made.status_code == 201, made.text
    path = twin + made.headers["location"]
    for dn, pci in plan.items():
        body: dict[str, Any] = {"attributes": {"administrativeState": "LOCKED", "nRPCI": pci}}
        r = http.patch(f"{path}/ProvMnS/v1800/{_path(dn)}", json=body, headers=MERGE)
        assert r.status_code == 204, r.text
    return path


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_pci_plan_is_blocked_then_fixed_deployed_and_mirrored(tmp_path: Path, dialect: str) -> None:
    with mirrored(tmp_path, dialect, seed=3) as e2e:
        http = e2e.http
        collide = _neighbour_pci(e2e, CELLS[0])
        free = _free_pcis(e2e, 3)

        # 1. a plan whose first cell takes its neighbour's PCI: verification finds it, the gate refuses
        bad = _sandbox(e2e, {CELLS[0]: collide, CELLS[1]: free[1], CELLS[2]: free[2]})
        report = http.post(f"{bad}/verify").json()
        collisions = [f for f in report["findings"] if f["rule"] == "pci-collision" and f["severity"] == "error"]
        assert collisions, report["findings"]
        assert CELLS[0] in {f["dn"] for f in collisions} | {d for f in collisions for d in f.get("related", [])}
        refused = http.post(f"{bad}/deploy", json={"acknowledge": True})
        assert refused.status_code == 422, refused.text
        assert "pci-collision" in refused.json()["error"]["errorInfo"]
        network_before = e2e.sim.store.get(CELLS[0])
        assert network_before is not None
        assert network_before.attrs["nRPCI"] != collide  # nothing was sent

        # 2. the fixed plan verifies without errors and deploys
        good = _sandbox(e2e, {CELLS[0]: free[0], CELLS[1]: free[1], CELLS[2]: free[2]})
        sandbox_id = int(good.rsplit("/", 1)[1])
        verified = http.post(f"{good}/verify").json()
        assert verified["errors"] == 0, [f for f in verified["findings"] if f["severity"] == "error"]
        unacknowledged = http.post(f"{good}/deploy")
        if verified["warnings"]:
            assert unacknowledged.status_code == 422  # its warnings need acknowledging first
            deployed = http.post(f"{good}/deploy", json={"acknowledge": True})
        else:
            deployed = unacknowledged
        assert deployed.status_code == 200, deployed.text
        record = deployed.json()
        assert record["status"] == "applied"
        assert record["sandbox"] == sandbox_id
        merged = record["mergedRevision"]

        # 3. the network has the plan, the mirror reflects it, and the live twin holds it as one
        #    revision from the sandbox (the network's notifications of it change nothing more)
        for dn, pci in zip(CELLS, free, strict=True):
            real = e2e.sim.store.get(dn)
            assert real is not None
            assert (real.attrs["nRPCI"], real.attrs["administrativeState"]) == (pci, "LOCKED")
        e2e.settle()
        assert e2e.status()["notifications"]["unapplied"] == 0
        e2e.assert_equal()
        for dn in CELLS:
            newest = e2e.twin.history(dn)[-1]
            assert newest.revision.source == f"sandbox:{sandbox_id}"
            assert newest.revision.rev == merged
        from_sandbox = [r for r in e2e.twin.revisions(limit=1000) if r.source == f"sandbox:{sandbox_id}"]
        assert [r.rev for r in from_sandbox] == [merged]
        assert record["prediction"]["differences"] == []
        listed = http.get(f"{e2e.twin_url}/TwinMnS/v1/deployments/{record['id']}").json()
        assert listed["mergedRevision"] == merged


def test_the_cli_verifies_and_deploys_a_sandbox(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mns.cli import app

    with mirrored(tmp_path, "stage2", seed=3) as e2e:
        free = _free_pcis(e2e, 1)
        path = _sandbox(e2e, {CELLS[2]: free[0]})
        sandbox_id = path.rsplit("/", 1)[1]
        # the CLI opens the twin's store itself, as another process would
        checked = CliRunner().invoke(app, ["sandbox", "verify", sandbox_id, "--db", e2e.twin_location])
        assert checked.exit_code == 0, checked.output
        assert "0 error(s)" in checked.output
        refused = CliRunner().invoke(app, ["sandbox", "deploy", sandbox_id, "--twin", e2e.twin_url])
        if "warning(s) to acknowledge" in refused.output:
            assert refused.exit_code == 2
        deployed = CliRunner().invoke(
            app, ["sandbox", "deploy", sandbox_id, "--twin", e2e.twin_url, "--acknowledge-all"]
        )
        assert deployed.exit_code == 0, deployed.output
        assert "applied" in deployed.output
        real = e2e.sim.store.get(CELLS[2])
        assert real is not None
        assert real.attrs["nRPCI"] == free[0]

"""Probes of the deployment records under ``/TwinMnS/v1/deployments`` (see ``test_openapi``).

The record a probe reads is made as the write-back makes it (an ``Outcome`` of planned steps,
one failed and one whose rollback failed, with a difference), straight into the app's store.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient

from mns.consumer.writeback import Difference, Outcome
from mns.consumer.writeback_plan import plan
from mns.store import Change, ChangeKind
from mns.store.deployments import Deployments

JSON = "application/json"
D = "/TwinMnS/v1/deployments"
ME = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00009"


def _recorded(c: TestClient) -> str:
    changes = [
        Change(ME, ChangeKind.CREATED, "ManagedElement", None, {"userLabel": "new"}),
        Change(f"{ME},GNBDUFunction=1", ChangeKind.CREATED, "GNBDUFunction", None, {"gNBId": 1}),
    ]
    steps = plan(changes)
    steps[0].status, steps[0].attempts, steps[0].rollback_error = "rollback-failed", 1, "rollback-failed: 500"
    steps[1].status, steps[1].attempts, steps[1].error = "failed", 1, f"create {steps[1].dn}: producer-refused: 500"
    outcome = Outcome(id="probe", steps=steps, producer="http://127.0.0.1:9", dialect="stage2", status="failed")
    outcome.failed_step, outcome.finished = 2, time.time()
    outcome.differences = [Difference(ME, "absent", {"userLabel": "new"})]
    Deployments.of(c.app.state.store).record(outcome.as_json())  # type: ignore[attr-defined]
    return outcome.id


def _one(c: TestClient) -> httpx.Response:
    return c.get(f"{D}/{_recorded(c)}")


def _list(c: TestClient) -> httpx.Response:
    _recorded(c)
    return c.get(D, params={"limit": 10})


PROBES: dict[tuple[str, int, str | None], Callable[[TestClient], httpx.Response]] = {
    ("getDeployments", 200, JSON): _list,
    ("getDeployments", 400, JSON): lambda c: c.get(D, params={"limit": "many"}),
    ("getDeployment", 200, JSON): _one,
    ("getDeployment", 404, JSON): lambda c: c.get(f"{D}/no-such-deployment"),
}

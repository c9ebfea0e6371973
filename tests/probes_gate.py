"""Probes of verification and the deployment gate (see ``test_openapi``).

The probed app mirrors nothing, so a deployment there is 409. A deployment that is made (200)
or refused by verification (422) needs a network: a second twin mirrors a sim on loopback
(``probes_mirror.mirroring``) and deploys to it.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient
from probes_mirror import mirroring

JSON = "application/json"
MERGE = "application/merge-patch+json"
S = "/TwinMnS/v1/sandboxes"
CELL = "SubNetwork=RAN/SubNetwork=Central/ManagedElement=gNB-00001/GNBDUFunction=1/NRCellDU=1"
UNKNOWN = f"{S}/2147483647"

Probe = Callable[[TestClient], httpx.Response]


def _sandbox(c: TestClient, attributes: dict[str, object] | None = None) -> str:
    """A new sandbox (its path), with ``attributes`` merged into the cell when given."""
    made = c.post(S, json={"name": "probe"})
    assert made.status_code == 201, made.text
    path = str(made.headers["location"])
    if attributes is not None:
        body = {"attributes": attributes}
        patched = c.patch(f"{path}/ProvMnS/v1800/{CELL}", json=body, headers={"content-type": MERGE})
        assert patched.status_code == 204, patched.text
    return path


def _verified(c: TestClient) -> httpx.Response:
    path = _sandbox(c, {"userLabel": "probe"})
    assert c.post(f"{path}/verify").status_code == 200
    return c.get(f"{path}/verify")


def _deployed(twin: TestClient) -> httpx.Response:
    return twin.post(f"{_sandbox(twin, {'userLabel': 'deployed'})}/deploy", json={"acknowledge": True})


def _refused(twin: TestClient) -> httpx.Response:
    return twin.post(f"{_sandbox(twin, {'nRPCI': 1007})}/deploy", json={"acknowledge": True})


def _on_a_mirror(send: Probe) -> Probe:
    def run(_: TestClient) -> httpx.Response:
        with mirroring() as twin:
            return send(twin)

    return run


PROBES: dict[tuple[str, int, str | None], Probe] = {
    ("verifySandbox", 200, JSON): lambda c: c.post(f"{_sandbox(c, {'userLabel': 'probe'})}/verify"),
    ("verifySandbox", 404, JSON): lambda c: c.post(f"{UNKNOWN}/verify"),
    ("getSandboxReport", 200, JSON): _verified,
    ("getSandboxReport", 404, JSON): lambda c: c.get(f"{_sandbox(c)}/verify"),
    ("deploySandbox", 200, JSON): _on_a_mirror(_deployed),
    ("deploySandbox", 400, JSON): lambda c: c.post(f"{_sandbox(c)}/deploy", json={"acknowledge": "yes"}),
    ("deploySandbox", 404, JSON): lambda c: c.post(f"{UNKNOWN}/deploy"),
    ("deploySandbox", 409, JSON): lambda c: c.post(f"{_sandbox(c, {'userLabel': 'x'})}/deploy"),
    ("deploySandbox", 422, JSON): _on_a_mirror(_refused),
}

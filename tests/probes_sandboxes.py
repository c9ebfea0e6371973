"""Probes of the sandbox operations of the TwinMnS (see ``test_openapi``).

Each probe that needs a sandbox creates its own (``_sandbox``), on the one generated gNB of
the probes' twin, so the probes do not depend on one another.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient

JSON = "application/json"
HIER = "application/vnd.3gpp.object-tree-hierarchical+json"
FLAT = "application/vnd.3gpp.object-tree-flat+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
GPP_JSON_PATCH = "application/3gpp-json-patch+json"
S = "/TwinMnS/v1/sandboxes"
ME = "SubNetwork=RAN/SubNetwork=Central/ManagedElement=gNB-00001"
DU = f"{ME}/GNBDUFunction=1"
CELL = f"{DU}/NRCellDU=1"
UNKNOWN = f"{S}/2147483647"
"""A sandbox that does not exist."""

Probe = Callable[[TestClient], httpx.Response]


def _sandbox(c: TestClient, **body: object) -> str:
    """The path of a new sandbox."""
    made = c.post(S, json=body)
    assert made.status_code == 201, made.text
    return str(made.headers["location"])


def _prov(c: TestClient) -> str:
    """The ProvMnS root of a new sandbox."""
    return _sandbox(c) + "/ProvMnS/v1800"


def _label(c: TestClient, label: str) -> httpx.Response:
    root = _prov(c)
    body = c.get(f"{root}/{ME}").json()
    body["attributes"]["userLabel"] = label
    return c.put(f"{root}/{ME}", json=body)


def _unchanged(c: TestClient) -> httpx.Response:
    root = _prov(c)
    return c.put(f"{root}/{ME}", json=c.get(f"{root}/{ME}").json())


def _patch(c: TestClient, dn: str, body: bytes, media: str = MERGE, **headers: str) -> httpx.Response:
    return c.patch(f"{_prov(c)}/{dn}", content=body, headers={"content-type": media, **headers})


def _upload(c: TestClient, body: bytes, media: str = JSON, **params: str) -> httpx.Response:
    return c.post(f"{_sandbox(c)}/changeset", content=body, headers={"content-type": media}, params=params)


def _edited(c: TestClient) -> str:
    """A sandbox with a change set: the ME relabelled, a cell deleted."""
    path = _sandbox(c, name="edited")
    root = path + "/ProvMnS/v1800"
    assert c.patch(f"{root}/{ME}", json={"attributes": {"userLabel": "x"}}, headers={"content-type": MERGE}).is_success
    assert c.delete(f"{root}/{CELL}").status_code == 200
    return path


def _dropped(c: TestClient) -> httpx.Response:
    return c.delete(_sandbox(c))


PROBES: dict[tuple[str, int, str | None], Probe] = {
    ("createSandbox", 201, JSON): lambda c: c.post(S, json={"name": "probe", "base": 1, "author": "probe"}),
    ("createSandbox", 400, JSON): lambda c: c.post(S, json={"name": 7}),
    ("createSandbox", 404, JSON): lambda c: c.post(S, json={"base": 99}),
    ("createSandbox", 415, JSON): lambda c: c.post(S, content=b"{}", headers={"content-type": "text/plain"}),
    ("getSandboxes", 200, JSON): lambda c: (_edited(c), c.get(S))[1],
    ("getSandbox", 200, JSON): lambda c: c.get(_edited(c)),
    ("getSandbox", 404, JSON): lambda c: c.get(UNKNOWN),
    ("deleteSandbox", 204, None): _dropped,
    ("deleteSandbox", 404, JSON): lambda c: c.delete(f"{S}/0"),
    ("getChangeSet", 200, JSON): lambda c: c.get(f"{_edited(c)}/changeset"),
    ("getChangeSet", 400, JSON): lambda c: c.get(f"{_edited(c)}/changeset", params={"form": "xml"}),
    ("getChangeSet", 404, JSON): lambda c: c.get(f"{UNKNOWN}/changeset"),
    ("applyChangeSet", 200, JSON): lambda c: _upload(
        c, b'[{"op": "replace", "path": "#/attributes/userLabel", "value": "up"}]', base=ME.replace("/", ",")
    ),
    ("applyChangeSet", 400, JSON): lambda c: _upload(c, b'[{"method": "DELETE", "path": "/SubNetwork=Nowhere"}]'),
    ("applyChangeSet", 404, JSON): lambda c: c.post(f"{UNKNOWN}/changeset", json=[]),
    ("applyChangeSet", 415, JSON): lambda c: _upload(c, b"[]", "text/plain"),
    ("getSandboxMoi", 200, JSON): lambda c: c.get(f"{_prov(c)}/{ME}"),
    ("getSandboxMoi", 200, HIER): lambda c: c.get(
        f"{_prov(c)}/{ME}", params={"scopeType": "BASE_ALL"}, headers={"accept": HIER}
    ),
    ("getSandboxMoi", 200, FLAT): lambda c: c.get(
        f"{_prov(c)}/{DU}", params={"scopeType": "BASE_ALL"}, headers={"accept": FLAT}
    ),
    ("getSandboxMoi", 400, JSON): lambda c: c.get(f"{_prov(c)}/{ME}", params={"scopeType": "BASE_EVERYTHING"}),
    ("getSandboxMoi", 404, JSON): lambda c: c.get(f"{UNKNOWN}/ProvMnS/v1800/{ME}"),
    ("getSandboxMoi", 406, JSON): lambda c: c.get(f"{_prov(c)}/{ME}", headers={"accept": "text/html"}),
    ("putSandboxMoi", 200, JSON): lambda c: _label(c, "replaced"),
    ("putSandboxMoi", 201, JSON): lambda c: c.put(
        f"{_prov(c)}/{ME}/GNBDUFunction=9", json={"attributes": {"gNBId": 9, "gNBIdLength": 24}}
    ),
    ("putSandboxMoi", 204, None): _unchanged,
    ("putSandboxMoi", 400, JSON): lambda c: c.put(f"{_prov(c)}/{ME}", json={"id": "gNB-00001", "GNBDUFunction": []}),
    ("putSandboxMoi", 404, JSON): lambda c: c.put(
        f"{_prov(c)}/SubNetwork=Nowhere/ManagedElement=1", json={"attributes": {}}
    ),
    ("putSandboxMoi", 412, JSON): lambda c: c.put(
        f"{_prov(c)}/{ME}", json={"attributes": {}}, headers={"if-match": '"999"'}
    ),
    ("putSandboxMoi", 415, JSON): lambda c: c.put(
        f"{_prov(c)}/{ME}", content=b"{}", headers={"content-type": "text/plain"}
    ),
    ("patchSandboxMoi", 204, None): lambda c: _patch(c, ME, b'{"attributes": {"userLabel": "patched"}}'),
    ("patchSandboxMoi", 400, JSON): lambda c: _patch(c, ME, b"[1]"),
    ("patchSandboxMoi", 404, JSON): lambda c: _patch(c, f"{DU}/NRCellDU=99", b'{"attributes": {}}'),
    ("patchSandboxMoi", 409, JSON): lambda c: _patch(
        c, ME, b'[{"op": "test", "path": "/attributes/userLabel", "value": "not it"}]', JSON_PATCH
    ),
    ("patchSandboxMoi", 412, JSON): lambda c: _patch(c, ME, b'{"attributes": {}}', **{"if-match": '"999"'}),
    ("patchSandboxMoi", 415, JSON): lambda c: _patch(c, ME, b"{}", "text/plain"),
    ("deleteSandboxMoi", 200, None): lambda c: c.delete(f"{_prov(c)}/{CELL}"),
    ("deleteSandboxMoi", 400, JSON): lambda c: c.delete(f"{_prov(c)}/SubNetwork=RAN/ManagedElement="),
    ("deleteSandboxMoi", 404, JSON): lambda c: c.delete(f"{_prov(c)}/{DU}/NRCellDU=99"),
    ("deleteSandboxMoi", 412, JSON): lambda c: c.delete(f"{_prov(c)}/{CELL}", headers={"if-match": '"999"'}),
}
"""One request per declared (operation, status, media type) of ``openapi/TwinMnS_Sandboxes.yaml``."""

"""ProvMnS (TS 28.532) over the twin, through the real app, on every store backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mns.producers.app import create_app
from mns.sim.generate import generate_network
from mns.store import Create, Scope, SqlStore

P = "/ProvMnS/v1800"
ROOT = "SubNetwork=RAN"
ME = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001"
DU = f"{ME},GNBDUFunction=1"
CELL = f"{DU},NRCellDU=1"


def uri(dn: str) -> str:
    return f"{P}/" + dn.replace(",", "/")


@pytest.fixture
def client(store: SqlStore) -> Iterator[TestClient]:
    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(3, seed=7)), source="real")
    with TestClient(create_app(store)) as c:
        yield c


def snapshot(store: SqlStore) -> Any:
    return store.head(), [(m.dn, m.rev, m.attrs) for m in store.read(ROOT, scope=Scope.BASE_ALL)]


def error_info(resp: Any) -> str:
    body = resp.json()
    assert set(body) == {"error"}
    info = body["error"]["errorInfo"]
    assert isinstance(info, str)
    return info


def test_get_single_object(client: TestClient) -> None:
    r = client.get(uri(CELL))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-twin-revision"] == "1"
    assert r.headers["etag"] == '"1"'
    body = r.json()
    assert body["id"] == "1"
    assert body["objectClass"] == "NRCellDU"
    assert body["objectInstance"] == CELL
    assert 0 <= body["attributes"]["nRPCI"] <= 1007


def test_get_errors(client: TestClient, store: SqlStore) -> None:
    r = client.get(uri(f"{DU},NRCellDU=99"))
    assert r.status_code == 404
    assert "NRCellDU=99" in error_info(r)
    assert r.headers["x-twin-revision"] == "1"
    r = client.get(f"{P}/SubNetwork=RAN/ManagedElement=")
    assert r.status_code == 400
    assert "empty id" in error_info(r)
    r = client.get(uri(ME), params={"scopeType": "BASE_EVERYTHING"})
    assert r.status_code == 400
    assert "scopeType" in error_info(r)
    r = client.get(uri(ME), params={"scopeType": "BASE_NTH_LEVEL", "scopeLevel": "-1"})
    assert r.status_code == 400
    r = client.get(uri(ME), headers={"accept": "text/html"})
    assert r.status_code == 406
    assert error_info(r)
    r = client.get(uri(ME), params={"asOf": "yesterday"})
    assert r.status_code == 400
    r = client.get(uri(ME), params={"asOf": "99"})
    assert r.status_code == 404


def test_scopes_and_tree(client: TestClient) -> None:
    r = client.get(uri(ME), params={"scopeType": "BASE_NTH_LEVEL", "scopeLevel": "1"})
    assert r.status_code == 200
    tree = r.json()
    assert tree["id"] == "gNB-00001"
    assert "attributes" not in tree  # the base is only the frame of the tree here
    assert {k for k in tree if k[0].isupper()} == {
        "GNBDUFunction",
        "GNBCUCPFunction",
        "GNBCUUPFunction",
    }
    assert all("attributes" in f for f in tree["GNBDUFunction"])
    assert all(k not in tree["GNBDUFunction"][0] for k in ("NRCellDU", "BWP"))

    # The nth level comes framed by the objects between it and the base, without attributes.
    second = client.get(uri(ROOT), params={"scopeType": "BASE_NTH_LEVEL", "scopeLevel": "2"}).json()
    region = second["SubNetwork"][0]
    assert "attributes" not in region
    assert {m["objectInstance"] for m in region["ManagedElement"]} >= {ME}
    assert all("attributes" in m for m in region["ManagedElement"])
    assert all("GNBDUFunction" not in m for m in region["ManagedElement"])

    full = client.get(uri(ME), params={"scopeType": "BASE_ALL"}).json()
    cells = full["GNBDUFunction"][0]["NRCellDU"]
    assert [c["id"] for c in cells] == sorted(c["id"] for c in cells)
    relations = full["GNBCUCPFunction"][0]["NRCellCU"][0]["NRCellRelation"]
    assert relations
    assert all(r["objectClass"] == "NRCellRelation" for r in relations)

    sub = client.get(uri(ME), params={"scopeType": "BASE_SUBTREE", "scopeLevel": "1"}).json()
    assert "attributes" in sub
    assert "NRCellDU" not in sub["GNBDUFunction"][0]

    flat = client.get(
        uri(DU),
        params={"scopeType": "BASE_ALL"},
        headers={"accept": "application/vnd.3gpp.object-tree-flat+json"},
    )
    assert flat.headers["content-type"].startswith("application/vnd.3gpp.object-tree-flat+json")
    dns = [o["objectInstance"] for o in flat.json()]
    assert dns[0] == DU
    assert all(dn.startswith(DU) for dn in dns)
    assert len(dns) == len(set(dns))
    hier = client.get(
        uri(DU),
        params={"scopeType": "BASE_ALL"},
        headers={"accept": "application/vnd.3gpp.object-tree-hierarchical+json"},
    )
    assert hier.json()["objectInstance"] == DU


def test_filter_and_selection(client: TestClient) -> None:
    cell = client.get(uri(CELL)).json()
    pci = cell["attributes"]["nRPCI"]
    r = client.get(
        uri(ROOT),
        params={"scopeType": "BASE_ALL", "filter": f"//NRCellDU[attributes/nRPCI={pci}]"},
        headers={"accept": "application/vnd.3gpp.object-tree-flat+json"},
    )
    assert r.status_code == 200
    found = r.json()
    assert CELL in [o["objectInstance"] for o in found]
    assert all(o["attributes"]["nRPCI"] == pci and o["objectClass"] == "NRCellDU" for o in found)
    # In the tree, the ancestors of matches frame them without attributes.
    tree = client.get(
        uri(ROOT), params={"scopeType": "BASE_ALL", "filter": f"//NRCellDU[attributes/nRPCI={pci}]"}
    ).json()
    me = next(m for m in tree["SubNetwork"][0]["ManagedElement"] if m["id"] == "gNB-00001")
    assert "attributes" not in me
    assert me["GNBDUFunction"][0]["NRCellDU"][0]["attributes"]["nRPCI"] == pci
    bad = client.get(uri(ROOT), params={"scopeType": "BASE_ALL", "filter": "//NRCellDU/following-sibling::*"})
    assert bad.status_code == 400
    assert error_info(bad)

    sel = client.get(uri(CELL), params={"attributes": "nRPCI,administrativeState"}).json()
    assert set(sel["attributes"]) == {"nRPCI", "administrativeState"}
    fields = client.get(uri(CELL), params={"fields": "attributes/pLMNInfoList/mcc"}).json()
    assert fields["attributes"] == {"pLMNInfoList": [{"mcc": e["mcc"]} for e in cell["attributes"]["pLMNInfoList"]]}


def test_put_create_replace_identical(client: TestClient, store: SqlStore) -> None:
    new = f"{DU},NRCellDU=42"
    body = {
        "id": "42",
        "attributes": {"cellLocalId": 42, "nRPCI": 17, "administrativeState": "LOCKED"},
    }
    r = client.put(uri(new), json=body)
    assert r.status_code == 201
    assert r.json()["attributes"]["nRPCI"] == 17
    assert r.headers["x-twin-revision"] == "2"
    assert r.headers["etag"] == '"2"'
    body["attributes"]["nRPCI"] = 18
    r = client.put(uri(new), json=body, headers={"if-match": '"2"'})
    assert r.status_code == 200
    assert r.json()["attributes"]["nRPCI"] == 18
    r = client.put(uri(new), json=body)
    assert r.status_code == 204
    assert r.headers["x-twin-revision"] == "3"
    assert r.content == b""
    # The past is still there.
    old = client.get(uri(new), params={"asOf": "2"}).json()
    assert old["attributes"]["nRPCI"] == 17


@pytest.mark.parametrize(
    ("dn", "kwargs", "status", "words"),
    [
        (f"{DU},NRCellDU=42", {"json": {"id": "43", "attributes": {}}}, 400, "differs"),
        (
            f"{DU},NRCellDU=42",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "JSON",
        ),
        (
            f"{DU},NRCellDU=42",
            {"content": b"<x/>", "headers": {"content-type": "application/xml"}},
            415,
            "application/json",
        ),
        (f"{DU},NRCellDU=42", {"json": {"id": "42", "attributes": {"nRPCI": 5000}}}, 400, "nRPCI"),
        (
            f"{DU},NRCellDU=42",
            {"json": {"id": "42", "attributes": {"operationalState": "ENABLED"}}},
            400,
            "operationalState",
        ),
        (
            f"{ME},GNBDUFunction=7,NRCellDU=1",
            {"json": {"id": "1", "attributes": {}}},
            404,
            "parent",
        ),
        (
            CELL,
            {"json": {"id": "1", "attributes": {"nRPCI": 3}}, "headers": {"if-match": '"7"'}},
            412,
            "If-Match",
        ),
        (f"{DU},NRCellDU=42", {"json": {"id": "42", "NRCellDU": []}}, 400, "NRCellDU"),
    ],
)
def test_put_errors_change_nothing(
    client: TestClient, store: SqlStore, dn: str, kwargs: dict[str, Any], status: int, words: str
) -> None:
    before = snapshot(store)
    r = client.put(uri(dn), **kwargs)
    assert r.status_code == status, r.text
    assert words in error_info(r)
    if status == 412:
        assert r.headers["etag"] == '"1"'
    assert snapshot(store) == before


def test_patch_variants(client: TestClient, store: SqlStore) -> None:
    r = client.patch(
        uri(CELL),
        json={"attributes": {"userLabel": "merged"}},
        headers={"content-type": "application/merge-patch+json"},
    )
    assert r.status_code == 204
    assert r.headers["x-twin-revision"] == "2"
    assert client.get(uri(CELL)).json()["attributes"]["userLabel"] == "merged"

    r = client.patch(
        uri(CELL),
        json=[{"op": "replace", "path": "/attributes/userLabel", "value": "json-patched"}],
        headers={"content-type": "application/json-patch+json"},
    )
    assert r.status_code == 204
    assert client.get(uri(CELL)).json()["attributes"]["userLabel"] == "json-patched"

    # 3GPP merge patch: change a child, create one, delete another, in one revision.
    r = client.patch(
        uri(DU),
        json={
            "id": "1",
            "NRCellDU": [
                {"id": "1", "attributes": {"userLabel": "tree"}},
                {"id": "50", "attributes": {"cellLocalId": 50, "nRPCI": 50}},
                {"id": "2", "attributes": None},
            ],
        },
        headers={"content-type": "application/3gpp-merge-patch+json"},
    )
    assert r.status_code == 204, r.text
    assert r.headers["x-twin-revision"] == "4"
    assert client.get(uri(CELL)).json()["attributes"]["userLabel"] == "tree"
    assert client.get(uri(f"{DU},NRCellDU=50")).status_code == 200
    assert client.get(uri(f"{DU},NRCellDU=2")).status_code == 404
    assert store.revision(4).message.startswith("PATCH")

    # 3GPP JSON patch: DN-relative paths, attribute and object operations.
    r = client.patch(
        uri(ME),
        json=[
            {
                "op": "replace",
                "path": "/GNBDUFunction=1/NRCellDU=1#/attributes/userLabel",
                "value": "3gpp-json",
            },
            {
                "op": "add",
                "path": "/GNBDUFunction=1/NRCellDU=51",
                "value": {"id": "51", "attributes": {"cellLocalId": 51}},
            },
            {"op": "remove", "path": "/GNBDUFunction=1/NRCellDU=50"},
        ],
        headers={"content-type": "application/3gpp-json-patch+json"},
    )
    assert r.status_code == 204, r.text
    assert client.get(uri(CELL)).json()["attributes"]["userLabel"] == "3gpp-json"
    assert client.get(uri(f"{DU},NRCellDU=51")).status_code == 200
    assert client.get(uri(f"{DU},NRCellDU=50")).status_code == 404
    assert store.head() == 5


@pytest.mark.parametrize(
    ("media", "body", "status"),
    [
        ("application/merge-patch+json", {"attributes": {"nRPCI": 4000}}, 400),
        ("application/merge-patch+json", {"NRCellDU": []}, 400),
        ("text/plain", {"attributes": {}}, 415),
        (
            "application/json-patch+json",
            [{"op": "test", "path": "/attributes/nRPCI", "value": -1}],
            409,
        ),
        ("application/json-patch+json", [{"op": "jump", "path": "/attributes/nRPCI"}], 400),
        ("application/json-patch+json", {"op": "add"}, 400),
        (
            "application/3gpp-json-patch+json",
            [
                {"op": "add", "path": "/BWP=1", "value": {"id": "1", "attributes": {}}},
                {"op": "replace", "path": "#/attributes/nRPCI", "value": 4000},
            ],
            400,
        ),
        ("application/3gpp-merge-patch+json", {"id": "1", "BWP": [{"attributes": {}}]}, 400),
        ("application/3gpp-merge-patch+json", {"id": "2"}, 400),
    ],
)
def test_patch_errors_change_nothing(client: TestClient, store: SqlStore, media: str, body: Any, status: int) -> None:
    before = snapshot(store)
    r = client.patch(uri(CELL), json=body, headers={"content-type": media})
    assert r.status_code == status, r.text
    assert error_info(r)
    assert snapshot(store) == before


def test_delete_subtree_and_history(client: TestClient, store: SqlStore) -> None:
    r = client.delete(uri(DU))
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["x-twin-revision"] == "2"
    assert client.get(uri(CELL)).status_code == 404
    assert client.get(uri(CELL), params={"asOf": "1"}).status_code == 200
    r = client.delete(uri(DU))
    assert r.status_code == 404
    hist = client.get("/TwinMnS/v1/history/" + CELL.replace(",", "/")).json()
    assert [v["revision"] for v in hist["versions"]] == [1, 2]
    assert hist["versions"][1]["deleted"] is True
    diff = client.get("/TwinMnS/v1/diff", params={"from": "1", "to": "2"}).json()
    kinds = {c["dn"]: c["kind"] for c in diff["changes"]}
    assert kinds[DU] == "deleted"
    assert kinds[CELL] == "deleted"
    assert client.get("/TwinMnS/v1/diff").status_code == 400
    revs = client.get("/TwinMnS/v1/revisions").json()["revisions"]
    assert [r["source"] for r in revs] == ["oss", "real"]


def test_concurrent_writes_share_commits_but_not_revisions(store: SqlStore) -> None:
    import asyncio

    import httpx

    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(3, seed=7)), source="real")
    app = create_app(store)
    cells = [f"{DU},NRCellDU={i}" for i in (1, 2, 3)]

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://twin") as c:
            writes = [
                c.patch(
                    uri(cells[i % 3]),
                    json={"attributes": {"userLabel": f"w{i}"}},
                    headers={"content-type": "application/merge-patch+json"},
                )
                for i in range(30)
            ]
            bad = c.patch(
                uri(CELL), json={"attributes": {"nRPCI": -1}}, headers={"content-type": "application/merge-patch+json"}
            )
            return list(await asyncio.gather(*writes, bad))

    responses = asyncio.run(go())
    assert [r.status_code for r in responses[:-1]] == [204] * 30
    assert responses[-1].status_code == 400
    revisions = sorted(int(r.headers["x-twin-revision"]) for r in responses[:-1])
    assert revisions == list(range(2, 32))  # one revision each, none lost, none shared
    assert store.head() == 31

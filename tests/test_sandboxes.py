"""Sandboxes over HTTP (``/TwinMnS/v1/sandboxes``) and the ``mns sandbox`` command.

The HTTP tests go through the real app with the sandbox router included, over one generated
gNB committed as live revision 1, on every store backend. The last part checks the router
against ``openapi/TwinMnS_Sandboxes.yaml`` with the probes of ``probes_sandboxes.py``, as
``test_openapi`` does for the whole app.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import specs_dir
from fastapi import FastAPI
from fastapi.testclient import TestClient
from probes_sandboxes import PROBES
from typer.testing import CliRunner

from mns.cli_sandbox import app as sandbox_cli
from mns.producers.app import create_app
from mns.producers.sandboxes import build_router
from mns.sim.generate import generate_network
from mns.store import Create, SqlStore, Update, open_store

S = "/TwinMnS/v1/sandboxes"
P = "/ProvMnS/v1800"
SUB = "SubNetwork=RAN/SubNetwork=Central"
ME = f"{SUB}/ManagedElement=gNB-00001"
DU = f"{ME}/GNBDUFunction=1"
CELL = f"{DU}/NRCellDU=1"
ME_DN = ME.replace("/", ",")
DU_DN = DU.replace("/", ",")
CELL_DN = CELL.replace("/", ",")
MERGE = "application/merge-patch+json"
GPP_MERGE = "application/3gpp-merge-patch+json"
GPP_JSON_PATCH = "application/3gpp-json-patch+json"
DOC = "TwinMnS_Sandboxes.yaml"


def with_sandboxes(app: FastAPI) -> FastAPI:
    """The app with the sandbox router, unless it already serves it."""
    if not any(getattr(r, "operation_id", None) == "createSandbox" for r in _routes(app)):
        app.include_router(build_router())
    return app


def _routes(app: FastAPI) -> list[Any]:
    import fastapi.routing

    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(walk(app.routes)) if walk else list(app.routes)


@pytest.fixture
def client(store: SqlStore) -> Iterator[TestClient]:
    """The twin over one generated gNB (live revision 1), sandboxes included."""
    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(1, seed=3)), source="real")
    with TestClient(with_sandboxes(create_app(store)), raise_server_exceptions=False) as c:
        yield c


def new_sandbox(c: TestClient, **body: Any) -> tuple[int, str]:
    """(id, ProvMnS root) of a new sandbox."""
    made = c.post(S, json=body)
    assert made.status_code == 201, made.text
    return made.json()["id"], f"{made.headers['location']}/ProvMnS/v1800"


def label(c: TestClient, root: str, dn: str = ME) -> str | None:
    r = c.get(f"{root}/{dn}")
    assert r.status_code == 200, r.text
    value: str | None = r.json()["attributes"].get("userLabel")
    return value


def merge(c: TestClient, root: str, dn: str, attrs: dict[str, Any]) -> httpx.Response:
    return c.patch(f"{root}/{dn}", json={"attributes": attrs}, headers={"content-type": MERGE})


def change_set(c: TestClient, sandbox: int, **params: str) -> dict[str, Any]:
    r = c.get(f"{S}/{sandbox}/changeset", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def upload(
    c: TestClient, sandbox: int, body: Any, media: str = "application/json", author: str = "", **params: str
) -> httpx.Response:
    headers = {"content-type": media, "x-twin-author": author}
    return c.post(f"{S}/{sandbox}/changeset", content=json.dumps(body).encode(), headers=headers, params=params)


def error(r: httpx.Response) -> str:
    info: str = r.json()["error"]["errorInfo"]
    return info


# -- the sandbox resource -------------------------------------------------------------------


def test_create_list_show_delete(client: TestClient) -> None:
    made = client.post(S, json={"name": "retune", "author": "alice"})
    assert made.status_code == 201
    body = made.json()
    assert made.headers["location"] == f"{S}/{body['id']}"
    assert body["name"] == "retune"
    assert body["author"] == "alice"
    assert (body["baseRevision"], body["headRevision"], body["changes"]) == (1, 0, 0)
    other = client.post(S, headers={"x-twin-author": "bob"})  # no body: unnamed, now, author from the header
    assert other.status_code == 201
    assert other.json()["author"] == "bob"
    listed = client.get(S).json()["sandboxes"]
    assert [s["id"] for s in listed] == [body["id"], other.json()["id"]]
    shown = client.get(made.headers["location"])
    assert shown.status_code == 200
    assert shown.json() == body
    assert client.delete(made.headers["location"]).status_code == 204
    assert client.get(made.headers["location"]).status_code == 404
    gone = client.delete(made.headers["location"])
    assert gone.status_code == 404
    assert "does not exist" in error(gone)
    assert [s["id"] for s in client.get(S).json()["sandboxes"]] == [other.json()["id"]]
    assert client.post(S, params={"nmae": "x"}).status_code == 400, "a misspelt parameter is not ignored"


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"name": 7}, 400, "name must be a string"),
        ({"nam": "x"}, 400, "nam: not a member"),
        ({"base": "5"}, 400, "JSON number"),
        ({"base": -1}, 400, "not a revision number"),
        ({"base": True}, 400, "neither a revision number"),
        ({"base": "2026-01-01T00:00:00"}, 400, "no time zone"),
        ({"base": 2}, 404, "revision 2 does not exist"),
        ([], 400, "JSON object"),
    ],
)
def test_create_rejects_what_it_cannot_take(client: TestClient, body: Any, status: int, text: str) -> None:
    r = client.post(S, json=body)
    assert r.status_code == status
    assert text in error(r)
    assert client.get(S).json()["sandboxes"] == []


def test_unknown_sandboxes_are_404_everywhere(client: TestClient) -> None:
    for path in ("0", "99", "-1", "x", str(2**40)):
        for method, url in (
            ("GET", f"{S}/{path}"),
            ("GET", f"{S}/{path}/changeset"),
            ("POST", f"{S}/{path}/changeset"),
            ("GET", f"{S}/{path}{P}/{ME}"),
            ("DELETE", f"{S}/{path}{P}/{CELL}"),
        ):
            r = client.request(method, url, json=[] if method == "POST" else None)
            assert r.status_code == 404, (method, url, r.text)
    # Sandbox 0 is not a door into the live twin.
    assert client.get(f"/ProvMnS/v1800/{CELL}").status_code == 200


# -- the ProvMnS on a sandbox ---------------------------------------------------------------


def test_sandboxes_side_by_side_do_not_see_each_other(client: TestClient) -> None:
    a, root_a = new_sandbox(client, name="a")
    b, root_b = new_sandbox(client, name="b")
    assert merge(client, root_a, ME, {"userLabel": "in a"}).status_code == 204
    assert merge(client, root_b, ME, {"userLabel": "in b"}).status_code == 204
    assert client.delete(f"{root_b}/{CELL}").status_code == 200
    assert label(client, root_a) == "in a"
    assert label(client, root_b) == "in b"
    assert label(client, P) == "gNB-00001"
    assert client.get(f"{root_a}/{CELL}").status_code == 200
    assert client.get(f"{root_b}/{CELL}").status_code == 404
    assert client.get(f"{P}/{CELL}").status_code == 200
    assert [c["dn"] for c in change_set(client, a, form="diff")["changes"]] == [ME_DN]
    assert [(c["dn"], c["kind"]) for c in change_set(client, b, form="diff")["changes"]] == [
        (ME_DN, "modified"),
        (CELL_DN, "deleted"),
    ]
    assert client.get(f"{S}/{b}").json()["changes"] == 2
    # The live twin made no revision for any of it.
    assert client.get(f"{P}/{ME}").headers["x-twin-revision"] == "1"


def test_sandbox_from_a_past_revision(client: TestClient, store: SqlStore) -> None:
    store.commit([Update(ME_DN, {"userLabel": "live 2"})], source="oss")
    first, second = store.revision(1).time, store.revision(2).time
    then = (first + (second - first) / 2).isoformat()  # between the two: revision 1
    by_number, root_number = new_sandbox(client, base=1)
    by_time, root_time = new_sandbox(client, base=then)
    now, root_now = new_sandbox(client)
    assert client.get(f"{S}/{by_number}").json()["baseRevision"] == 1
    assert client.get(f"{S}/{by_time}").json()["baseRevision"] == 1
    assert client.get(f"{S}/{now}").json()["baseRevision"] == 2
    assert label(client, root_number) == "gNB-00001"
    assert label(client, root_time) == "gNB-00001"
    assert label(client, root_now) == "live 2"
    # Later changes of the live twin do not reach a sandbox.
    store.commit([Update(ME_DN, {"userLabel": "live 3"})], source="oss")
    assert label(client, root_now) == "live 2"
    assert change_set(client, now)["operations"] == []


def test_every_provmns_operation_works_on_a_sandbox(client: TestClient) -> None:
    sandbox, root = new_sandbox(client)
    put = client.put(f"{root}/{ME}/GNBDUFunction=9", json={"attributes": {"gNBId": 9, "gNBIdLength": 24}})
    assert put.status_code == 201
    assert put.headers["x-twin-revision"] == "1"
    assert put.headers["etag"] == '"1"'
    gpp_merge = {"attributes": {"userLabel": "merged"}, "GNBDUFunction": [{"id": "9", "attributes": {"gNBId": 10}}]}
    r = client.patch(f"{root}/{ME}", json=gpp_merge, headers={"content-type": GPP_MERGE})
    assert r.status_code == 204
    patch = [{"op": "replace", "path": "/GNBDUFunction=1/NRCellDU=1#/attributes/nRPCI", "value": 7}]
    assert client.patch(f"{root}/{ME}", json=patch, headers={"content-type": GPP_JSON_PATCH}).status_code == 204
    json_patch = [{"op": "add", "path": "/attributes/userLabel", "value": "json"}]
    r = client.patch(f"{root}/{DU}", json=json_patch, headers={"content-type": "application/json-patch+json"})
    assert r.status_code == 204
    assert client.delete(f"{root}/{DU}/NRCellDU=2").status_code == 200
    assert client.get(f"{S}/{sandbox}").json()["headRevision"] == 5
    # Reads: scope, filter, asOf (the sandbox's own revisions; 0 is its base), ETag.
    cell = client.get(f"{root}/{CELL}")
    assert cell.json()["attributes"]["nRPCI"] == 7
    assert cell.headers["etag"] == '"3"'
    assert cell.headers["x-twin-revision"] == "5"
    assert client.get(f"{root}/{CELL}", params={"asOf": "2"}).json()["attributes"]["nRPCI"] != 7
    assert client.get(f"{root}/{ME}/GNBDUFunction=9", params={"asOf": "0"}).status_code == 404
    assert client.get(f"{root}/{ME}/GNBDUFunction=9", params={"asOf": "1"}).json()["attributes"]["gNBId"] == 9
    found = client.get(f"{root}/{ME}", params={"scopeType": "BASE_ALL", "filter": "//NRCellDU[attributes/nRPCI=7]"})
    assert found.status_code == 200
    cells = found.json()["GNBDUFunction"][0]["NRCellDU"]
    assert [c["id"] for c in cells] == ["1"]
    tree = client.get(f"{root}/{DU}", params={"scopeType": "BASE_NTH_LEVEL", "scopeLevel": "1"}).json()
    assert "2" not in [c["id"] for c in tree["NRCellDU"]]
    assert "2" in [c["id"] for c in client.get(f"{P}/{DU}", params={"scopeType": "BASE_ALL"}).json()["NRCellDU"]]
    # If-Match on the sandbox's ETags; source oss: read-only attributes cannot be written.
    stale = client.patch(f"{root}/{CELL}", json={"attributes": {"nRPCI": 8}}, headers={"if-match": '"1"', **_m()})
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"3"'
    ro = merge(client, root, CELL, {"operationalState": "DISABLED"})
    assert ro.status_code == 400
    # The live twin saw none of it.
    assert label(client, P) == "gNB-00001"
    assert client.get(f"{P}/{ME}/GNBDUFunction=9").status_code == 404


def _m() -> dict[str, str]:
    return {"content-type": MERGE}


def test_writes_into_a_sandbox_are_oss_revisions_of_the_sandbox(client: TestClient, store: SqlStore) -> None:
    sandbox, root = new_sandbox(client)
    r = client.patch(
        f"{root}/{ME}", json={"attributes": {"userLabel": "x"}}, headers={"x-twin-author": "carol", **_m()}
    )
    assert r.status_code == 204
    revision = store.revision(1, branch=sandbox)
    assert (revision.source, revision.author) == ("oss", "carol")
    assert store.head() == 1


# -- change sets ----------------------------------------------------------------------------


def _busy_sandbox(c: TestClient) -> tuple[int, str]:
    """A sandbox that creates a function with a cell, relabels the ME, and deletes a DU subtree."""
    sandbox, root = new_sandbox(c, name="busy")
    du9 = f"{ME}/GNBDUFunction=9"
    assert c.put(f"{root}/{du9}", json={"attributes": {"gNBId": 9, "gNBIdLength": 24}}).status_code == 201
    cell = {"attributes": {"cellLocalId": 5, "nRPCI": 5, "administrativeState": "LOCKED"}}
    assert c.put(f"{root}/{du9}/NRCellDU=5", json=cell).status_code == 201
    assert merge(c, root, ME, {"userLabel": "busy", "vendorName": None}).status_code == 204
    assert c.delete(f"{root}/{DU}").status_code == 200
    return sandbox, root


def test_change_set_as_requests_is_in_dependency_order(client: TestClient) -> None:
    sandbox, _ = _busy_sandbox(client)
    body = change_set(client, sandbox)
    assert (body["sandbox"], body["form"], body["baseRevision"], body["headRevision"]) == (sandbox, "requests", 1, 4)
    ops = body["operations"]
    methods = [o["method"] for o in ops]
    assert methods == sorted(methods, key=["PUT", "PATCH", "DELETE"].index)
    puts = [o["path"] for o in ops if o["method"] == "PUT"]
    assert puts == [f"/{ME}/GNBDUFunction=9", f"/{ME}/GNBDUFunction=9/NRCellDU=5"]
    deletes = [o["path"] for o in ops if o["method"] == "DELETE"]
    assert deletes[-1] == f"/{DU}"
    depths = [p.count("/") for p in deletes]
    assert depths == sorted(depths, reverse=True), "children are deleted before their parents"
    assert len(deletes) > 5
    (patch,) = [o for o in ops if o["method"] == "PATCH"]
    assert patch["contentType"] == "application/json-patch+json"
    assert patch["body"] == [
        {"op": "replace", "path": "/attributes/userLabel", "value": "busy"},
        {"op": "remove", "path": "/attributes/vendorName"},
    ]
    assert ops[0]["body"] == {"id": "9", "objectClass": "GNBDUFunction", "attributes": {"gNBId": 9, "gNBIdLength": 24}}


def test_change_set_as_patch_and_diff(client: TestClient) -> None:
    sandbox, _ = _busy_sandbox(client)
    absolute = change_set(client, sandbox, form="patch")
    assert absolute["base"] == ""
    assert absolute["operations"][0] == {
        "op": "add",
        "path": f"/{ME}/GNBDUFunction=9",
        "value": {"id": "9", "attributes": {"gNBId": 9, "gNBIdLength": 24}},
    }
    relative = change_set(client, sandbox, form="patch", base=SUB)
    assert relative["base"] == SUB.replace("/", ",")
    assert {"op": "remove", "path": "/ManagedElement=gNB-00001#/attributes/vendorName"} in relative["operations"]
    assert relative["operations"][-1] == {"op": "remove", "path": "/ManagedElement=gNB-00001/GNBDUFunction=1"}
    outside = client.get(f"{S}/{sandbox}/changeset", params={"form": "patch", "base": f"{DU}/NRCellDU=1"})
    assert outside.status_code == 400
    assert "outside base" in error(outside)
    diff = change_set(client, sandbox, form="diff")["changes"]
    (me,) = [c for c in diff if c["dn"] == ME_DN]
    assert me["changes"]["userLabel"] == {"old": "gNB-00001", "new": "busy"}
    assert [c["dn"] for c in diff] == sorted(c["dn"] for c in diff), "a diff is ordered by DN"
    for bad in ({"form": "yaml"}, {"form": "requests", "base": SUB}, {"from": "0"}):
        assert client.get(f"{S}/{sandbox}/changeset", params=bad).status_code == 400


@pytest.mark.parametrize(
    ("form", "params", "media"),
    [
        ("requests", {}, "application/json"),
        ("patch", {}, "application/json"),
        ("patch", {"base": SUB}, GPP_JSON_PATCH),
    ],
)
def test_a_downloaded_change_set_uploads_into_another_sandbox(
    client: TestClient, form: str, params: dict[str, str], media: str
) -> None:
    source, _ = _busy_sandbox(client)
    downloaded = change_set(client, source, form=form, **params)
    target, root = new_sandbox(client)
    r = upload(client, target, downloaded, media)
    assert r.status_code == 200, r.text
    outcome = r.json()
    assert outcome["revision"] == 1
    assert outcome["items"] == len(downloaded["operations"])
    assert f"{ME_DN},GNBDUFunction=9" in outcome["created"]
    assert ME_DN in outcome["replaced"]
    assert DU_DN in outcome["deleted"]
    assert r.headers["x-twin-revision"] == "1"
    assert change_set(client, target, form="diff")["changes"] == change_set(client, source, form="diff")["changes"]
    assert client.get(f"{root}/{DU}").status_code == 404


def test_upload_items_see_the_items_before_them(client: TestClient, store: SqlStore) -> None:
    sandbox, root = new_sandbox(client)
    requests = [
        {"method": "PUT", "path": f"/{ME}/GNBDUFunction=7", "body": {"attributes": {"gNBId": 7, "gNBIdLength": 24}}},
        {"method": "PATCH", "path": f"/{ME}/GNBDUFunction=7", "body": {"attributes": {"userLabel": "seven"}}},
        {
            "method": "PATCH",
            "path": f"/{ME}",
            "contentType": GPP_MERGE,
            "body": {"GNBDUFunction": [{"id": "7", "NRCellDU": [{"id": "70", "attributes": {"cellLocalId": 70}}]}]},
        },
        {"method": "PATCH", "path": f"/{ME}/GNBDUFunction=7", "body": [{"op": "remove", "path": "/attributes/gNBId"}]},
        {"method": "DELETE", "path": f"/{CELL}", "ifMatch": '"1"'},
    ]
    r = upload(client, sandbox, requests, author="dave")
    assert r.status_code == 200, r.text
    assert r.json()["revision"] == 1
    du7 = client.get(f"{root}/{ME}/GNBDUFunction=7").json()["attributes"]
    assert du7 == {"gNBIdLength": 24, "userLabel": "seven"}
    assert client.get(f"{root}/{ME}/GNBDUFunction=7/NRCellDU=70").status_code == 200
    assert client.get(f"{root}/{CELL}").status_code == 404
    assert client.get(f"{S}/{sandbox}").json()["headRevision"] == 1, "one revision for the whole change set"
    revision = store.revision(1, branch=sandbox)
    assert (revision.source, revision.author, revision.message) == ("oss", "dave", "change set of 5 item(s)")
    patches = [
        {"op": "add", "path": "/ManagedElement=gNB-00001/GNBDUFunction=8", "value": {"id": "8", "attributes": {}}},
        {"op": "add", "path": "/ManagedElement=gNB-00001/GNBDUFunction=8#/attributes/gNBId", "value": 8},
        {"op": "copy", "from": "/attributes/gNBId", "path": "/ManagedElement=gNB-00001/GNBDUFunction=8#/attributes/x"},
    ]
    r = upload(client, sandbox, patches, GPP_JSON_PATCH, base=SUB)
    assert r.status_code == 200, r.text
    assert client.get(f"{root}/{ME}/GNBDUFunction=8").json()["attributes"] == {"gNBId": 8, "x": 8}
    assert client.get(f"{S}/{sandbox}").json()["headRevision"] == 2


@pytest.mark.parametrize(
    ("items", "index", "needles"),
    [
        (
            [
                {"op": "replace", "path": f"/{ME}#/attributes/userLabel", "value": "first"},
                {"op": "add", "path": f"/{CELL}#/attributes/nRPCI", "value": 9},
                {"op": "add", "path": "/SubNetwork=Nope/ManagedElement=1", "value": {"id": "1", "attributes": {}}},
            ],
            2,
            ["SubNetwork=Nope,ManagedElement=1", "rule: parent-exists"],
        ),
        (
            [
                {"op": "replace", "path": f"/{ME}#/attributes/userLabel", "value": "first"},
                {"op": "replace", "path": f"/{CELL}#/attributes/nRPCI", "value": 5000},
            ],
            1,
            [CELL_DN, "nRPCI", "rule: invalid-object"],
        ),
        (
            [
                {"method": "DELETE", "path": f"/{CELL}"},
                {"method": "PATCH", "path": f"/{CELL}", "body": {"attributes": {"nRPCI": 1}}},
            ],
            1,
            [CELL_DN, "does not exist", "rule: not-found"],
        ),
        (
            [
                {"method": "PATCH", "path": f"/{ME}", "body": {"attributes": {"userLabel": "first"}}},
                {"method": "PUT", "path": f"/{ME}", "body": {"attributes": {}}, "ifMatch": '"99"'},
            ],
            1,
            [ME_DN, "If-Match", "rule: if-match"],
        ),
        (
            [
                {"method": "PATCH", "path": f"/{ME}", "body": {"attributes": {"userLabel": "first"}}},
                {"method": "POST", "path": f"/{ME}"},
            ],
            1,
            ["method 'POST'", "rule: bad-request"],
        ),
        (
            [{"op": "replace", "path": f"/{ME}#/attributes/userLabel", "value": "first"}, "remove everything"],
            1,
            ["not a JSON object"],
        ),
        (
            [
                {"op": "replace", "path": f"/{ME}#/attributes/userLabel", "value": "first"},
                {"method": "DELETE", "path": f"/{CELL}"},
            ],
            1,
            ["method is not a member"],
        ),
        (
            [
                {"op": "replace", "path": f"/{ME}#/attributes/userLabel", "value": "first"},
                {"op": "test", "path": f"/{ME}#/attributes/userLabel", "value": "not it"},
            ],
            1,
            [ME_DN, "test operation failed", "rule: conflict"],
        ),
    ],
    ids=["parent", "range", "deleted-before", "if-match", "method", "not-object", "mixed-forms", "test-op"],
)
def test_an_upload_is_all_or_nothing(client: TestClient, items: list[Any], index: int, needles: list[str]) -> None:
    sandbox, root = new_sandbox(client)
    r = upload(client, sandbox, items)
    assert r.status_code == 400, r.text
    message = error(r)
    assert message.startswith(f"change set item {index}") or f"change set item {index}" in message
    for needle in needles:
        assert needle in message, message
    assert r.headers["x-twin-revision"] == "0"
    assert client.get(f"{S}/{sandbox}").json()["headRevision"] == 0
    assert change_set(client, sandbox)["operations"] == []
    assert label(client, root) == "gNB-00001"
    assert client.get(f"{root}/{CELL}").status_code == 200


def test_upload_bodies_and_media_types(client: TestClient) -> None:
    sandbox, _ = new_sandbox(client)
    url = f"{S}/{sandbox}/changeset"
    text = client.post(url, content=b"[]", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    requests = [{"method": "DELETE", "path": f"/{CELL}"}]
    assert upload(client, sandbox, requests, GPP_JSON_PATCH).status_code == 415
    assert client.post(url, content=b"[", headers={"content-type": "application/json"}).status_code == 400
    assert client.post(url, content=b"", headers={"content-type": "application/json"}).status_code == 400
    assert upload(client, sandbox, {"items": []}).status_code == 400
    assert upload(client, sandbox, {"operations": [], "base": 5}).status_code == 400
    misspelt = upload(client, sandbox, [], bsae=SUB)
    assert misspelt.status_code == 400
    assert "'bsae'" in error(misspelt)
    relative = [{"op": "remove", "path": "/"}]
    assert upload(client, sandbox, relative).status_code == 400, "a relative path needs base="
    empty = upload(client, sandbox, [])
    assert empty.status_code == 200
    assert empty.json()["revision"] is None
    assert empty.json()["items"] == 0


# -- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A SQLite twin with one generated gNB (live revision 1)."""
    path = str(tmp_path / "twin.db")
    store = open_store(path)
    try:
        store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(1, seed=3)), source="real")
    finally:
        store.close()
    return path


def run(*args: str) -> Any:
    """``mns sandbox ARGS`` in a wide terminal."""
    return CliRunner().invoke(sandbox_cli, list(args), env={"COLUMNS": "250"})


def test_cli_create_apply_diff_list_delete(db: str, tmp_path: Path) -> None:
    made = run("create", "--db", db, "--name", "retune", "--author", "erin")
    assert made.exit_code == 0, made.output
    assert "sandbox 1 created on live revision 1" in made.output
    assert run("create", "--db", db, "--base", "0").exit_code == 0
    change = tmp_path / "change.json"
    change.write_text(
        json.dumps(
            [
                {"op": "replace", "path": f"/{CELL}#/attributes/nRPCI", "value": 17},
                {"op": "remove", "path": f"/{DU}/NRCellDU=2"},
            ]
        )
    )
    applied = run("apply", "1", str(change), "--db", db, "--author", "erin")
    assert applied.exit_code == 0, applied.output
    assert "sandbox 1 revision 1: 0 created, 1 modified, 1 deleted" in applied.output
    diff = run("diff", "1", "--db", db)
    assert diff.exit_code == 0, diff.output
    assert CELL_DN in diff.output
    assert "nRPCI: 414 -> 17" in diff.output
    assert "deleted" in diff.output
    listed = run("list", "--db", db)
    assert listed.exit_code == 0, listed.output
    assert "retune" in listed.output
    assert "erin" in listed.output
    store = open_store(db)
    try:
        assert [(b.id, b.base_rev, b.head_rev) for b in store.branches()] == [(1, 1, 1), (2, 0, 0)]
        live = store.get(CELL_DN)
        assert live is not None
        assert live.attrs["nRPCI"] == 414, "the live twin is not touched"
    finally:
        store.close()
    deleted = run("delete", "1", "--db", db)
    assert deleted.exit_code == 0
    assert "sandbox 1 deleted" in deleted.output
    assert "retune" not in run("list", "--db", db).output


def test_cli_errors_name_the_item_object_and_rule(db: str, tmp_path: Path) -> None:
    assert run("create", "--db", db).exit_code == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"method": "PATCH", "path": f"/{CELL}", "body": {"attributes": {"nRPCI": 5000}}}]))
    failed = run("apply", "1", str(bad), "--db", db)
    assert failed.exit_code == 2
    assert "change set item 0" in failed.output
    assert CELL_DN in failed.output
    assert "rule: invalid-object" in failed.output
    unknown = run("diff", "7", "--db", db)
    assert unknown.exit_code == 2
    assert "sandbox 7 does not exist" in unknown.output
    assert "rule: not-found" in unknown.output
    assert run("apply", "1", str(tmp_path / "missing.json"), "--db", db).exit_code == 2
    (tmp_path / "junk.json").write_text("{")
    junk = run("apply", "1", str(tmp_path / "junk.json"), "--db", db)
    assert junk.exit_code == 2
    assert "is not JSON" in junk.output
    assert run("create", "--db", db, "--base", "9").exit_code == 2
    assert run("delete", "7", "--db", db).exit_code == 2


# -- the document against the router --------------------------------------------------------


def test_the_document_lists_exactly_the_sandbox_routes(store: SqlStore) -> None:
    from test_openapi import app_routes, normalise_doc_path, operations

    ours = [op for op in operations() if op.doc in (DOC, "TwinMnS_Verification.yaml")]  # verify/deploy
    documented = {
        (op.method.upper(), normalise_doc_path(op.server_path({"MnSRoot": ""}) + op.path)): op.id for op in ours
    }
    served = {k: v for k, v in app_routes(with_sandboxes(create_app(store))).items() if "/sandboxes" in k[1]}
    assert served == documented


@pytest.mark.parametrize("key", list(PROBES), ids=[f"{o}-{s}-{m or 'empty'}" for o, s, m in PROBES])
def test_probe_gets_its_declared_response(key: tuple[str, int, str | None], client: TestClient) -> None:
    from test_openapi import _operations_by_id, check_response, declared_pairs

    op = _operations_by_id()[key[0]]
    assert op.doc == DOC
    assert (key[1], key[2]) in declared_pairs(op)
    response = PROBES[key](client)
    assert response.status_code == key[1], response.text[:500]
    assert (response.headers.get("content-type") or "").split(";")[0] == (key[2] or "")
    check_response(op, response)
    official = specs_dir() / "openapi"
    if key[2] is not None and official.is_dir():
        from test_openapi import body_validator

        found = list(body_validator(op, key[1], key[2], official).iter_errors(response.json()))
        assert not found, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in found[:5])


def test_every_declared_response_of_the_document_has_a_probe() -> None:
    from test_openapi import declared_pairs, operations

    documented = {(op.id, s, m) for op in operations() if op.doc == DOC for s, m in declared_pairs(op)}
    assert documented == set(PROBES)


def test_the_document_is_valid_openapi_30() -> None:
    from openapi_spec_validator import OpenAPIV30SpecValidator, validate
    from test_openapi import OPENAPI_DIR, resolved

    official = specs_dir() / "openapi"
    for folder in (None, official) if official.is_dir() else (None,):
        validate(resolved(DOC, folder), base_uri=(OPENAPI_DIR / DOC).as_uri(), cls=OpenAPIV30SpecValidator)


def test_a_null_member_of_a_creation_is_refused(store: SqlStore) -> None:
    from fastapi.testclient import TestClient

    with TestClient(with_sandboxes(create_app(store))) as c:
        refused = c.post("/TwinMnS/v1/sandboxes", json={"name": "x", "base": None})
        assert refused.status_code == 400
        assert "base" in refused.json()["error"]["errorInfo"]
        assert c.get("/TwinMnS/v1/sandboxes").json() == {"sandboxes": []}

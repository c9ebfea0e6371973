"""Property-based fuzzing of the served twin, against its own OpenAPI documents.

Two parts, both against a real server on loopback over one generated gNB:

- schemathesis generates requests from ``openapi/`` (the official 3GPP schemas reached
  through in-memory references to ``$MNS_3GPP_SPECS/openapi``), valid ones and invalid ones,
  and checks every response: no 5xx, a documented status, content type, headers and body;
  invalid requests must be rejected.
- hypothesis sends malformed requests (random bytes with each PATCH media type, junk DNs with
  escapes and control characters, huge or bad query values, wrong Content-Type and Accept)
  and checks: never a 5xx, an ErrorResponse on every 4xx, a documented status, and the twin
  unchanged by every GET and by every rejected write.

Runs are deterministic (derandomized) and bounded; see ``EXAMPLES``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from conftest import serve
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from test_openapi import PM_ROWS, Operation, declared, deref, operations, resolved

from mns.fault import demo_alarms
from mns.pm.store import PmStore
from mns.producers.app import create_app
from mns.sim.generate import generate_network
from mns.store import Create, Scope, SqlStore

EXAMPLES = 50
"""Examples per schemathesis run (operation x generation mode x DN prefix)."""

FEWER_EXAMPLES = {
    "TwinMnS_FaultMnS.yaml": 30,
    "TwinMnS_FileDataReportingMnS.yaml": 30,
    "TwinMnS_PerfMeasJobCtrlMnS.yaml": 30,
    "TwinMnS_StreamingDataMnS.yaml": 20,
}
"""Examples per run for the documents of the smaller MnS (fewer parameters), to keep within budget."""

MALFORMED_EXAMPLES = 80
"""Examples per targeted fuzz test."""

P = "/ProvMnS/v1800"
T = "/TwinMnS/v1"
ME = "SubNetwork=RAN/SubNetwork=Central/ManagedElement=gNB-00001"
DU = f"{ME}/GNBDUFunction=1"
CELL = f"{DU}/NRCellDU=1"
DEMO_ALARMS = ("1", "2", "3", "4", "5")
"""The ids of the demo alarms (``demo_alarms``) of the served twin."""
PATCH_TYPES = (
    "application/merge-patch+json",
    "application/3gpp-merge-patch+json",
    "application/json-patch+json",
    "application/3gpp-json-patch+json",
)

FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@pytest.fixture
def served(store: SqlStore) -> Iterator[tuple[SqlStore, str]]:
    """The twin over one generated gNB with the demo alarms and PM, served on loopback: (store, URL)."""
    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(1, seed=3)), source="real")
    demo_alarms(store, 1)
    PmStore(store).add(PM_ROWS)
    with serve(create_app(store)) as url:
        yield store, url


# -- schemathesis over the documents --------------------------------------------------------


@cache
def _schema(doc: str, official: Path) -> Any:
    import schemathesis

    # Any 4xx the documents declare rejects a request: If-Match is evaluated before the body
    # (RFC 9110, 13.2.1), so a 412 may answer a request whose body is also invalid.
    rejections = {"negative_data_rejection": {"expected-statuses": [400, 404, 406, 409, 412, 415]}}
    config = schemathesis.Config.from_dict({"checks": rejections})
    return schemathesis.openapi.from_dict(resolved(doc, official), config=config)


def _runs() -> Iterator[Any]:
    for op in operations():
        prefixes = ["", f"/{ME}"] if "{URI-LDN-first-part}" in op.servers[0]["url"] else [""]
        # Only a query parameter or a body can be made invalid: paths and headers are strings.
        negatable = "requestBody" in op.spec or any(
            deref(p, op.doc)[0]["in"] == "query" for p in op.spec.get("parameters", [])
        )
        for prefix in prefixes:
            for mode in ("positive", "negative") if negatable else ("positive",):
                label = f"{op.id}-{mode}" + ("-under-ME" if prefix else "")
                yield pytest.param(op, prefix, mode, id=label)


@pytest.mark.parametrize(("op", "prefix", "mode"), list(_runs()))
def test_schemathesis(op: Operation, prefix: str, mode: str, specs: Path, served: tuple[SqlStore, str]) -> None:
    import requests
    import schemathesis
    from schemathesis import checks

    _, url = served
    operation = _schema(op.doc, specs / "openapi")[op.path][op.method.upper()]
    base = op.server_path({"MnSRoot": url, "URI-LDN-first-part": prefix})
    to_run = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_headers_conformance,
        checks.response_schema_conformance,
    ]
    if mode == "negative":
        to_run.append(checks.negative_data_rejection)
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))
    with requests.Session() as session:

        @settings(FUZZ_SETTINGS, max_examples=FEWER_EXAMPLES.get(op.doc, EXAMPLES))
        @given(case=strategy, alarm=st.sampled_from([None, *DEMO_ALARMS]))
        def run(case: Any, alarm: str | None) -> None:
            if "alarmId" in (case.path_parameters or {}):
                # Positive: an alarm that exists, now and then. Negative: one that does not, as the
                # twin takes a null member as absent (a deviation its document states), so a body
                # made invalid only by a null would otherwise be accepted for an existing alarm.
                if mode == "negative":
                    case.path_parameters["alarmId"] = "no-such-alarm"
                elif alarm is not None:
                    case.path_parameters["alarmId"] = alarm
            if mode == "negative" and any(v is None or v in ([], {}) for v in (case.query or {}).values()):
                # A query parameter made "invalid" as null or empty is not sent at all: the request
                # is then a valid one without it, and accepting it is right.
                assume(False)
            response = case.call(base_url=base, session=session, timeout=30)
            case.validate_response(response, checks=to_run)

        run()


def test_pm_overflow_is_a_bad_request(store: SqlStore) -> None:
    overflowing = [
        {"granularityPeriod": str(2**63)},
        {"from": "0001-01-01T00:00:00+14:00"},
        {"to": "9999-12-31T23:59:59-14:00"},
    ]
    with TestClient(create_app(store), raise_server_exceptions=False) as client:
        statuses = [client.get(f"{T}/pm", params=params).status_code for params in overflowing]
    assert statuses == [400, 400, 400]


# -- malformed requests ---------------------------------------------------------------------


def snapshot(store: SqlStore) -> tuple[int, list[tuple[str, str, str, Any]]]:
    """The head revision and every object of the twin (DN, class, ETag, attributes)."""
    objects = [
        (m.dn, m.cls, m.etag, m.attrs) for root in store.roots() for m in store.read(root.dn, scope=Scope.BASE_ALL)
    ]
    return store.head(), objects


def _operation_for(method: str, path: str) -> Operation:
    ops = {op.id: op for op in operations()}
    if path.startswith(f"{T}/history"):
        return ops["getHistory"]
    if path.startswith(f"{T}/diff"):
        return ops["getDiff"]
    if path.startswith(f"{T}/revisions"):
        return ops["getRevisions"]
    return ops[{"GET": "getMoi", "PUT": "putMoi", "PATCH": "patchMoi", "DELETE": "deleteMoi"}[method]]


def send_and_check(
    store: SqlStore,
    client: httpx.Client,
    method: str,
    path: str,
    *,
    params: Any = None,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """Send one request and check the invariants that hold for any request."""
    before = snapshot(store)
    response = client.request(method, path, params=params, headers=headers, content=content)
    what = f"{method} {response.request.url} headers={headers} body={content!r:.300}"
    got = f"-> {response.status_code} {response.headers.get('content-type')} {response.text[:300]}"
    assert response.status_code < 500, f"server error: {what} {got}"
    op = _operation_for(method, path)
    assert response.status_code in declared(op), f"undocumented status for {op.id}: {what} {got}"
    revision = response.headers.get("x-twin-revision", "")
    assert revision.isdigit(), f"no X-Twin-Revision: {what} {got}"
    if response.status_code >= 400:
        assert response.headers.get("content-type", "").split(";")[0] == "application/json", f"{what} {got}"
        body = orjson.loads(response.content)
        assert set(body) == {"error"}, f"not an ErrorResponse: {what} {got}"
        assert set(body["error"]) == {"errorInfo"}, f"not an ErrorResponse: {what} {got}"
        assert isinstance(body["error"]["errorInfo"], str), f"{what} {got}"
    after = snapshot(store)
    if method == "GET" or response.status_code >= 300:
        assert after == before, f"the twin changed: {what} {got}"
    else:
        assert after[0] in (before[0], before[0] + 1), f"a write made {after[0] - before[0]} revisions: {what} {got}"
        assert (after[0] == before[0]) == (after[1] == before[1]), f"revision and content disagree: {what} {got}"
    return response


_special = st.sampled_from(
    [*'\\,=/+"<>;#%?&\x00\x01\x1f\x7f\n\r\t \u00a0\u2028\ufeff\U0001f4a9', "%2F", "%00", "%ZZ", "\\/"]
)
junk = st.lists(st.one_of(_special, st.characters(codec="utf-8"), st.text(max_size=3)), max_size=12).map("".join)
"""Text with DN separators, escapes, control characters and odd Unicode."""

_classes = st.sampled_from(["SubNetwork", "ManagedElement", "GNBDUFunction", "NRCellDU", "x", "attributes", "1A", ""])
rdn = st.one_of(st.builds(lambda c, i: f"{c}={i}", _classes | junk, junk), junk)
junk_dn = st.builds(
    lambda prefix, rdns: "/".join([*prefix, *rdns]),
    st.sampled_from([[], ["SubNetwork=RAN"], [ME]]),
    st.lists(rdn, max_size=4),
)


def _url_path(dn: str) -> str:
    # Percent-encode what a URL cannot carry, keep the DN syntax visible to the server.
    return quote(dn, safe='/=,;+\\"<>')


@settings(FUZZ_SETTINGS, max_examples=MALFORMED_EXAMPLES)
@given(method=st.sampled_from(["GET", "DELETE", "PUT", "PATCH"]), dn=junk_dn)
@example(method="GET", dn=f"{ME}/GNBDUFunction=1\n")
@example(method="GET", dn="SubNetwork=RAN/NRCellDU=a\x00b")
@example(method="DELETE", dn="SubNetwork=RAN\\")
@example(method="PUT", dn="SubNetwork=RAN/=x")
def test_junk_dns(served: tuple[SqlStore, str], method: str, dn: str) -> None:
    store, url = served
    body = b'{"attributes": {}}' if method in ("PUT", "PATCH") else None
    headers = {"content-type": "application/merge-patch+json" if method == "PATCH" else "application/json"}
    with httpx.Client(base_url=url, timeout=30) as client:
        send_and_check(store, client, method, f"{P}/{_url_path(dn)}", headers=headers, content=body)
        send_and_check(store, client, "GET", f"{T}/history/{_url_path(dn)}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | junk,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            junk | st.sampled_from(["id", "attributes", "op", "path", "value", "NRCellDU"]), inner, max_size=4
        )
    ),
    max_leaves=12,
)
near_valid = st.one_of(
    st.builds(lambda a: {"attributes": a}, json_values),
    st.builds(lambda i, a: {"id": i, "attributes": a}, json_values, st.dictionaries(junk, json_values, max_size=3)),
    st.builds(lambda children: {"NRCellDU": children}, json_values),
    st.lists(
        st.fixed_dictionaries(
            {
                "op": json_values | st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]),
                "path": json_values | junk,
            }
        ),
        max_size=3,
    ),
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    near_valid.map(lambda v: json.dumps(v).encode()),
    st.just(b""),
    st.just(b"\xff\xfe{"),
)
_printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)
"""What an HTTP header value can carry (h11 refuses surrounding whitespace)."""
content_types = st.one_of(
    st.sampled_from([*PATCH_TYPES, "application/json", "text/plain", "application/json; charset=utf-8", ""]), _printable
)


@settings(FUZZ_SETTINGS, max_examples=MALFORMED_EXAMPLES)
@given(
    method=st.sampled_from(["PUT", "PATCH"]),
    target=st.sampled_from([ME, DU, CELL, f"{DU}/NRCellDU=99", "SubNetwork=RAN"]),
    body=bodies,
    content_type=content_types,
    if_match=st.none() | st.sampled_from(['"1"', '"0"', "*", 'W/"1"', "", "junk", '"1", "2"']),
)
@example(method="PATCH", target=ME, body=b"\x00\x01", content_type=PATCH_TYPES[0], if_match=None)
@example(method="PATCH", target=ME, body=b"[]", content_type=PATCH_TYPES[1], if_match=None)
@example(method="PATCH", target=ME, body=b"{}", content_type=PATCH_TYPES[2], if_match=None)
@example(method="PATCH", target=ME, body=b'[{"op": "add", "path": "/x=1"}]', content_type=PATCH_TYPES[3], if_match=None)
@example(method="PUT", target=ME, body=b'{"attributes": []}', content_type="application/json", if_match=None)
def test_malformed_bodies(
    served: tuple[SqlStore, str], method: str, target: str, body: bytes, content_type: str, if_match: str | None
) -> None:
    store, url = served
    headers = {"content-type": content_type}
    if if_match is not None:
        headers["if-match"] = if_match
    with httpx.Client(base_url=url, timeout=30) as client:
        send_and_check(store, client, method, f"{P}/{target}", headers=headers, content=body)


_numbers = st.sampled_from(["0", "-1", "1", "2", "99", "1" * 25, "²", "١", "1e3", "0x10", " 1", "1.5", ""])
_times = st.sampled_from(
    [
        "2000-01-01T00:00:00Z",
        "2000-01-01T00:00:00",
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00Z",
        "yesterday",
        "2000-13-01T00:00:00Z",
    ]
)
query_values = st.one_of(
    _numbers,
    _times,
    junk,
    st.sampled_from(
        [
            "BASE_ONLY",
            "BASE_NTH_LEVEL",
            "BASE_SUBTREE",
            "BASE_ALL",
            "//NRCellDU",
            "//NRCellDU[attributes/nRPCI=1]",
            "/attributes",
        ]
    ),
)
query_keys = st.one_of(
    st.sampled_from(["scopeType", "scopeLevel", "filter", "attributes", "fields", "asOf", "from", "to", "limit"]), junk
)


@settings(FUZZ_SETTINGS, max_examples=MALFORMED_EXAMPLES)
@given(
    path=st.sampled_from(
        [f"{P}/{ME}", f"{P}/{CELL}", f"{P}/SubNetwork=RAN", f"{T}/history/{ME}", f"{T}/diff", f"{T}/revisions"]
    ),
    params=st.lists(st.tuples(query_keys, query_values), max_size=5),
    accept=st.none()
    | st.sampled_from(
        [
            "*/*",
            "application/*",
            "text/html",
            "application/json;q=0",
            "application/vnd.3gpp.object-tree-flat+json;q=abc, */*",
        ]
    )
    | _printable,
)
@example(path=f"{P}/{ME}", params=[("scopeType", "BASE_NTH_LEVEL"), ("scopeLevel", "1" * 25)], accept=None)
@example(path=f"{P}/{ME}", params=[("scopeType", "BASE_NTH_LEVEL"), ("scopeLevel", "²")], accept=None)
@example(path=f"{P}/{ME}", params=[("asOf", "²")], accept=None)
@example(path=f"{P}/{ME}", params=[("asOf", "1" * 25)], accept=None)
@example(path=f"{T}/revisions", params=[("limit", "²")], accept=None)
@example(path=f"{T}/diff", params=[("from", "²")], accept=None)
def test_malformed_queries(
    served: tuple[SqlStore, str], path: str, params: list[tuple[str, str]], accept: str | None
) -> None:
    store, url = served
    headers = {"accept": accept} if accept is not None else None
    with httpx.Client(base_url=url, timeout=30) as client:
        send_and_check(store, client, "GET", path, params=params, headers=headers)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in a response object: {sorted(keys)}"
    return dict(pairs)


def test_children_cannot_clobber_resource_keys(served: tuple[SqlStore, str]) -> None:
    store, url = served
    with httpx.Client(base_url=url, timeout=30) as client:
        for cls in ("attributes", "id", "objectClass", "objectInstance"):
            send_and_check(store, client, "PUT", f"{P}/{ME}/{cls}=1", content=b'{"attributes": {}}')
        r = send_and_check(store, client, "GET", f"{P}/{ME}", params={"scopeType": "BASE_SUBTREE", "scopeLevel": "1"})
    tree = json.loads(r.content, object_pairs_hook=_no_duplicate_keys)
    assert isinstance(tree["attributes"], dict)
    assert tree["objectInstance"] == ME.replace("/", ",")

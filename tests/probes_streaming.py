"""Probes of the Streaming Data Reporting MnS routes (``openapi/TwinMnS_StreamingDataMnS.yaml``).

One request per declared (operationId, status, media type), in the form of ``PROBES`` in
``test_openapi.py``, which plugs these in. The 101 of the WebSocket upgrade needs a real
server: that probe serves the client's app on loopback and upgrades one connection.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any

import httpx
from conftest import serve
from fastapi.testclient import TestClient

S = "/StreamingDataReportingMnS/v1800"
JSON = "application/json"
CELL_DN = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001,GNBDUFunction=1,NRCellDU=1"
PRODUCER = "SubNetwork=Edge,ManagedElement=collector-1"


def stream(sid: str, *metrics: str, dn: str = CELL_DN) -> dict[str, Any]:
    """The meta-data of a PERFORMANCE stream in GPB."""
    perf = {"measObjDn": dn, "performanceMetrics": list(metrics or ("RRU.PrbUsedDl",)), "jobId": "job-1"}
    return {"streamType": "PERFORMANCE", "serializationFormat": "GPB", "streamId": sid, "additionalInfo": perf}


def open_connection(c: TestClient, *streams: dict[str, Any]) -> str:
    """The id of a connection just opened (the last segment of its Location)."""
    r = c.post(f"{S}/connections", json={"producer": PRODUCER, "streams": list(streams)})
    assert r.status_code == 201, r.text
    return str(r.headers["location"]).rsplit("/", 1)[1]


def _post_streams(c: TestClient, body: Any, cid: str | None = None) -> httpx.Response:
    cid = cid or open_connection(c, stream("S1"))
    return c.post(f"{S}/connections/{cid}/streams", json=body)


def _get_streams(c: TestClient, *ids: str) -> httpx.Response:
    cid = open_connection(c, stream("S1"), stream("S2", "DRB.UEThpDl"))
    return c.get(f"{S}/connections/{cid}/streams", params={"streamIds": list(ids)})


def upgrade_headers() -> dict[str, str]:
    """The headers of a WebSocket opening handshake (RFC 6455 4.1)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}


def _upgrade(c: TestClient) -> httpx.Response:
    """Switch a connection to a WebSocket over a real socket, then hang up."""
    cid = open_connection(c, stream("S1"))
    with serve(c.app) as url, httpx.Client(base_url=url, timeout=10) as http:
        response = http.get(f"{S}/connections/{cid}", headers=upgrade_headers())
        network = response.extensions.get("network_stream")
        if network is not None:
            network.close()
    return response


PROBES: dict[tuple[str, int, str | None], Callable[[TestClient], httpx.Response]] = {
    ("postConnection", 201, None): lambda c: c.post(
        f"{S}/connections", json={"producer": PRODUCER, "streams": [stream("S1")]}
    ),
    ("postConnection", 400, JSON): lambda c: c.post(
        f"{S}/connections", json={"producer": PRODUCER, "streams": [{**stream("S1"), "streamType": "TRACE"}]}
    ),
    ("postConnection", 415, JSON): lambda c: c.post(
        f"{S}/connections", content=b"{}", headers={"content-type": "text/plain"}
    ),
    ("getConnections", 200, JSON): lambda c: (open_connection(c), c.get(f"{S}/connections"))[1],
    ("getConnections", 202, JSON): lambda c: c.get(
        f"{S}/connections", params={"connectionIdList": [open_connection(c), "nope"]}
    ),
    ("getConnections", 404, JSON): lambda c: c.get(f"{S}/connections", params={"connectionIdList": "nope"}),
    ("getConnection", 101, None): _upgrade,
    ("getConnection", 200, JSON): lambda c: c.get(f"{S}/connections/{open_connection(c, stream('S1'))}"),
    ("getConnection", 404, JSON): lambda c: c.get(f"{S}/connections/nope"),
    ("postStreams", 201, JSON): lambda c: _post_streams(c, [stream("S2", "DRB.UEThpDl", dn=CELL_DN[:-1] + "2")]),
    ("postStreams", 400, JSON): lambda c: _post_streams(c, [stream("S2", dn="SubNetwork=")]),
    ("postStreams", 404, JSON): lambda c: c.post(f"{S}/connections/nope/streams", json=[stream("S2")]),
    ("postStreams", 409, JSON): lambda c: _post_streams(c, [stream("S1", "DRB.UEThpDl")]),
    ("postStreams", 415, JSON): lambda c: c.post(
        f"{S}/connections/{open_connection(c)}/streams", content=b"[]", headers={"content-type": "text/plain"}
    ),
    ("deleteStreams", 204, None): lambda c: c.delete(
        f"{S}/connections/{open_connection(c, stream('S1'))}/streams", params={"streamIds": "S1"}
    ),
    ("deleteStreams", 400, JSON): lambda c: c.delete(f"{S}/connections/{open_connection(c)}/streams"),
    ("deleteStreams", 404, JSON): lambda c: c.delete(
        f"{S}/connections/{open_connection(c, stream('S1'))}/streams", params={"streamIds": ["S1", "S9"]}
    ),
    ("getStreams", 200, JSON): lambda c: _get_streams(c, "S1", "S2"),
    ("getStreams", 202, JSON): lambda c: _get_streams(c, "S1", "S9"),
    ("getStreams", 400, JSON): lambda c: c.get(f"{S}/connections/{open_connection(c)}/streams"),
    ("getStreams", 404, JSON): lambda c: _get_streams(c, "S9"),
    ("getStream", 200, JSON): lambda c: c.get(f"{S}/connections/{open_connection(c, stream('S1'))}/streams/S1"),
    ("getStream", 404, JSON): lambda c: c.get(f"{S}/connections/{open_connection(c)}/streams/S1"),
}
"""A request producing each declared (operationId, status, media type) of the streaming target; None: no body."""

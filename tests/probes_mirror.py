"""Probes of the mirror's operations (see ``test_openapi``).

The probed app mirrors nothing, so its mirror routes answer 404. For the other answers a second
twin, in a temporary folder, mirrors an emulated network (``mns sim`` of one gNB) served on
loopback; the subscriptions it makes there name a listening loopback socket that never answers
(as in ``probes_subscriptions``), since the probes only read the mirror's answers.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from probes_subscriptions import address

from mns.mirror.service import MirrorConfig
from mns.producers.app import Settings, create_app
from mns.sim.server import Sim, SimConfig
from mns.store.sql import SqlStore

JSON = "application/json"
MIRROR = "/TwinMnS/v1/mirror"
NOTIFICATION = {
    "href": "http://testserver/ProvMnS/v1800/SubNetwork=1",
    "notificationId": 1,
    "notificationType": "notifyHeartbeat",
    "eventTime": "2026-01-01T00:00:00Z",
    "systemDN": "SubNetwork=1",
}


@contextmanager
def mirroring() -> Iterator[TestClient]:
    """A twin whose mirror follows a sim on loopback, and a client of the twin."""
    from test_sim import running

    folder = Path(tempfile.mkdtemp(prefix="mns-probe-mirror-"))
    sim = Sim(SqlStore(f"sqlite:///{folder / 'sim.db'}"), SimConfig(gnbs=1, seed=2))
    store = SqlStore(f"sqlite:///{folder / 'twin.db'}")
    with running(sim.asgi) as producer:
        config = MirrorConfig(producer=producer, recipient=address().rsplit("/", 1)[0], watch_s=60, reconcile_s=0)
        app = create_app(store, Settings(mirror=config))
        with TestClient(app, raise_server_exceptions=False) as client:
            deadline = time.monotonic() + 30
            while client.get(MIRROR).json()["state"] != "mirroring":
                assert time.monotonic() < deadline, client.get(MIRROR).text
                time.sleep(0.05)
            yield client
    store.close()
    sim.store.close()


def _with_mirror(send: Callable[[TestClient], httpx.Response]) -> Callable[[TestClient], httpx.Response]:
    def run(_: TestClient) -> httpx.Response:
        with mirroring() as twin:
            return send(twin)

    return run


PROBES: dict[tuple[str, int, str | None], Callable[[TestClient], httpx.Response]] = {
    ("getMirror", 200, JSON): _with_mirror(lambda t: t.get(MIRROR)),
    ("getMirror", 404, JSON): lambda c: c.get(MIRROR),
    ("reconcileMirror", 200, JSON): _with_mirror(lambda t: t.post(f"{MIRROR}/reconcile")),
    ("reconcileMirror", 404, JSON): lambda c: c.post(f"{MIRROR}/reconcile"),
    ("receiveMirrorNotification", 204, None): _with_mirror(
        lambda t: t.post(f"{MIRROR}/notifications", json=NOTIFICATION)
    ),
    ("receiveMirrorNotification", 400, JSON): _with_mirror(
        lambda t: t.post(f"{MIRROR}/notifications", json={"notificationId": 1})
    ),
    ("receiveMirrorNotification", 404, JSON): lambda c: c.post(f"{MIRROR}/notifications", json=NOTIFICATION),
}

"""CM notifications end to end: the twin app and a real recipient, both served on loopback.

Subscriptions are made through ProvMnS; every notification the recipient accepts is checked
against its official schema and for its order. The recipient can be down (503), slow, or
absent (a closed port); the twin app can be restarted over the same store.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import serve
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import mns.notify.rules  # noqa: F401  (registers the subscription rule)
from mns.conformance.schemas import PROV_MNS_FILE, load_specs, locate_specs
from mns.notify.delivery import Notifier, NotifySettings
from mns.nrm.class_rules import ClassRules
from mns.nrm.validate import Validator
from mns.producers.app import Settings, create_app
from mns.store import Create, SqlStore, Update, open_store

P = "/ProvMnS/v1800"
ROOT = "SubNetwork=RAN"
ME = f"{ROOT},ManagedElement=1"
ME2 = f"{ROOT},ManagedElement=2"
SUB = f"{ROOT},NtfSubscriptionControl=1"
HB = f"{SUB},HeartbeatControl=1"
ALL_TYPES = ["notifyMOICreation", "notifyMOIDeletion", "notifyMOIAttributeValueChanges", "notifyMOIChanges"]
SCHEMA_OF = {
    "notifyMOICreation": (PROV_MNS_FILE, "NotifyMoiCreation"),
    "notifyMOIDeletion": (PROV_MNS_FILE, "NotifyMoiDeletion"),
    "notifyMOIAttributeValueChanges": (PROV_MNS_FILE, "NotifyMoiAttributeValueChanges"),
    "notifyMOIChanges": (PROV_MNS_FILE, "NotifyMoiChanges"),
    "notifyHeartbeat": ("TS28532_HeartbeatNtf.yaml", "NotifyHeartbeat"),
}
MERGE = {"content-type": "application/merge-patch+json"}
SETTINGS = Settings(
    notify=NotifySettings(
        prov_root=P, heartbeat_unit_s=0.1, backoff_initial_s=0.05, backoff_max_s=0.3, poll_s=0.05, cursor_flush_s=0.1
    )
)


def uri(dn: str) -> str:
    return f"{P}/" + dn.replace(",", "/")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Recipient:
    """A notification recipient on loopback: records what it accepts, can be down or slow."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.down = False
        self.holding = False
        """While True, every POST waits (up to a minute) before it is answered."""
        self.refused = 0
        self.timed: list[tuple[float, dict[str, Any]]] = []
        self.media_types: set[str] = set()
        self.app = Starlette(routes=[Route("/ntf", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        self.media_types.add(request.headers.get("content-type", ""))
        body = orjson.loads(await request.body())
        if self.down:
            self.refused += 1
            return Response(status_code=503)
        if self.delay:
            await asyncio.sleep(self.delay)
        for _ in range(1200):
            if not self.holding:
                break
            await asyncio.sleep(0.05)
        self.timed.append((time.monotonic(), body))
        return Response(status_code=204)

    @property
    def received(self) -> list[dict[str, Any]]:
        return [body for _, body in self.timed]

    def of(self, ntype: str) -> list[dict[str, Any]]:
        return [b for b in self.received if b["notificationType"] == ntype]


@pytest.fixture
def twin_store(tmp_path: Path) -> Iterator[SqlStore]:
    """A twin store whose validator refuses bad subscriptions, with a root and one ManagedElement."""
    s = open_store(str(tmp_path / "twin.db"), validator=ClassRules(Validator()))
    s.commit([Create(ROOT, {}), Create(ME, {"userLabel": "a"})], source="real")
    try:
        yield s
    finally:
        s.close()


@contextmanager
def twin(store: SqlStore) -> Iterator[tuple[httpx.Client, Notifier]]:
    """The twin app on loopback with its worker (the shared ``serve`` runs no lifespan)."""
    app = create_app(store, SETTINGS)
    notifier: Notifier = app.state.notifier
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        notifier.start()
        try:
            yield client, notifier
        finally:
            notifier.stop()


def subscribe(client: httpx.Client, address: str, **attrs: Any) -> int:
    body = {"id": "1", "attributes": {"notificationRecipientAddress": address, "scope": [{"scopeType": "BASE_ALL"}]}}
    body["attributes"].update(attrs)
    r = client.put(uri(SUB), json=body)
    assert r.status_code == 201, r.text
    return int(r.headers["x-twin-revision"])


def label(client: httpx.Client, value: str, dn: str = ME) -> int:
    r = client.patch(uri(dn), content=orjson.dumps({"attributes": {"userLabel": value}}), headers=MERGE)
    assert r.status_code == 204, r.text
    return int(r.headers["x-twin-revision"])


def failures(notifier: Notifier) -> int:
    status = notifier.status().get(SUB)
    return status.failures if status is not None else 0


def revision_of(body: dict[str, Any]) -> int:
    return int(body["additionalText"].split()[2].rstrip(":"))


def test_every_change_arrives_in_order_and_validates(twin_store: SqlStore, specs: Path) -> None:
    oas = load_specs(locate_specs(specs))
    rec = Recipient()
    with serve(rec.app) as rurl, twin(twin_store) as (c, _):
        bad = c.put(uri(SUB), json={"id": "1", "attributes": {"notificationRecipientAddress": "ftp://x/"}})
        assert bad.status_code == 400
        assert "notificationRecipientAddress" in bad.json()["error"]["errorInfo"]
        bad = c.put(
            uri(SUB),
            json={
                "id": "1",
                "attributes": {"notificationRecipientAddress": f"{rurl}/ntf", "notificationFilter": "//["},
            },
        )
        assert bad.status_code == 400
        assert twin_store.get(SUB) is None
        subscribe(c, f"{rurl}/ntf", notificationTypes=ALL_TYPES)

        revs = [int(c.put(uri(ME2), json={"id": "2", "attributes": {"userLabel": "x"}}).headers["x-twin-revision"])]
        revs.append(label(c, "b"))
        patch = [
            {
                "op": "add",
                "path": "/ManagedElement=2/GNBDUFunction=1",
                "value": {"id": "1", "attributes": {"gNBId": 7}},
            },
            {"op": "replace", "path": "/ManagedElement=1#/attributes/userLabel", "value": "c"},
        ]
        r = c.patch(
            uri(ROOT), content=orjson.dumps(patch), headers={"content-type": "application/3gpp-json-patch+json"}
        )
        assert r.status_code == 204, r.text
        revs.append(int(r.headers["x-twin-revision"]))
        r = c.delete(uri(ME2))
        assert r.status_code == 200
        revs.append(int(r.headers["x-twin-revision"]))
        wait_for(lambda: len(rec.received) >= 10, "ten notifications")
        time.sleep(0.2)  # nothing more may come

    du = f"{P}/SubNetwork=RAN/ManagedElement=2/GNBDUFunction=1"
    m1, m2, root = f"{P}/SubNetwork=RAN/ManagedElement=1", f"{P}/SubNetwork=RAN/ManagedElement=2", f"{P}/SubNetwork=RAN"
    expected = [
        (revs[0], "notifyMOICreation", m2),
        (revs[0], "notifyMOIChanges", root),
        (revs[1], "notifyMOIAttributeValueChanges", m1),
        (revs[1], "notifyMOIChanges", root),
        (revs[2], "notifyMOIAttributeValueChanges", m1),
        (revs[2], "notifyMOICreation", du),
        (revs[2], "notifyMOIChanges", root),
        (revs[3], "notifyMOIDeletion", m2),
        (revs[3], "notifyMOIDeletion", du),
        (revs[3], "notifyMOIChanges", root),
    ]
    assert [(revision_of(b), b["notificationType"], b["href"]) for b in rec.received] == expected
    for body in rec.received:
        assert oas.validate(*SCHEMA_OF[body["notificationType"]], body) == [], body
        assert body["systemDN"] == ROOT
        assert body["sourceIndicator"] == "MANAGEMENT_OPERATION"
    assert len({b["notificationId"] for b in rec.received}) == 10
    assert rec.media_types == {"application/json"}
    assert rec.received[2]["attributeListValueChanges"] == [{"userLabel": "b"}, {"userLabel": "a"}]
    assert [m["op"] for m in rec.received[9]["moiChanges"]] == ["remove", "remove"]
    assert rec.received[7]["attributeList"] == {"userLabel": "x"}


def test_a_recipient_that_is_down_gets_everything_once_back(twin_store: SqlStore) -> None:
    rec = Recipient()
    rec.down = True
    with serve(rec.app) as rurl, twin(twin_store) as (c, notifier):
        subscribe(c, f"{rurl}/ntf")
        revs = [label(c, f"v{i}") for i in range(8)]
        wait_for(lambda: failures(notifier) >= 3, "the twin to retry")
        assert rec.refused >= 3
        assert rec.received == []
        rec.down = False
        wait_for(lambda: len(rec.received) == 8, "everything once the recipient is back")
        time.sleep(0.2)
    assert [b["attributeListValueChanges"][0]["userLabel"] for b in rec.received] == [f"v{i}" for i in range(8)]
    assert [revision_of(b) for b in rec.received] == revs
    assert len({b["notificationId"] for b in rec.received}) == 8


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_an_unreachable_recipient_is_refused_and_a_new_address_applies_at_once(twin_store: SqlStore) -> None:
    rec, gone = Recipient(), Recipient()
    with serve(rec.app) as rurl, twin(twin_store) as (c, notifier):
        head = twin_store.head()
        r = c.put(
            uri(SUB),
            json={"id": "1", "attributes": {"notificationRecipientAddress": f"http://127.0.0.1:{closed_port()}/ntf"}},
        )
        assert r.status_code == 400
        info = r.json()["error"]["errorInfo"]
        assert "notificationRecipientAddress" in info
        assert "not reachable" in info
        assert "subscription-recipient" in info
        assert twin_store.head() == head
        assert twin_store.get(SUB) is None
        with serve(gone.app) as gone_url:
            subscribe(c, f"{gone_url}/ntf")  # reachable now; it goes away below
        for i in range(3):
            label(c, f"v{i}")
        wait_for(lambda: failures(notifier) >= 2, "failed attempts")
        r = c.patch(
            uri(SUB),
            content=orjson.dumps({"attributes": {"notificationRecipientAddress": f"{rurl}/ntf"}}),
            headers=MERGE,
        )
        assert r.status_code == 204
        wait_for(lambda: len(rec.received) == 4, "the waiting notifications at the new address")
    assert gone.received == []
    assert [b["href"].rsplit("/", 1)[-1] for b in rec.received] == ["ManagedElement=1"] * 3 + [
        "NtfSubscriptionControl=1"
    ]
    assert [b["attributeListValueChanges"][0]["userLabel"] for b in rec.received[:3]] == ["v0", "v1", "v2"]


def test_a_restarted_twin_resumes_from_the_cursor(twin_store: SqlStore) -> None:
    rec = Recipient()
    with serve(rec.app) as rurl:
        with twin(twin_store) as (c, _):
            subscribe(c, f"{rurl}/ntf")
            label(c, "first")
            label(c, "second")
            wait_for(lambda: len(rec.received) == 2, "two notifications")
        # The twin is down; another writer goes on.
        twin_store.commit([Update(ME, {"userLabel": "third"})], source="oss")
        twin_store.commit([Update(ME, {"userLabel": "fourth"})], source="real")
        with twin(twin_store) as (c, _):
            wait_for(lambda: len(rec.received) == 4, "what was missed")
            label(c, "fifth")
            wait_for(lambda: len(rec.received) == 5, "the new one")
            time.sleep(0.2)
    labels = [b["attributeListValueChanges"][0]["userLabel"] for b in rec.received]
    assert labels == ["first", "second", "third", "fourth", "fifth"]
    assert len({b["notificationId"] for b in rec.received}) == 5
    assert rec.received[3]["sourceIndicator"] == "RESOURCE_OPERATION"


def test_a_recipient_that_does_not_answer_does_not_hold_up_provmns_writes(twin_store: SqlStore) -> None:
    # The recipient holds every POST until the end of the test: if a write waited for its
    # delivery, the PATCHes below could not finish. (No timing is asserted: the machine is noisy.)
    rec = Recipient()
    rec.holding = True
    with serve(rec.app) as rurl, twin(twin_store) as (c, notifier):
        subscribe(c, f"{rurl}/ntf")
        first = label(c, "busy")
        wait_for(lambda: (s := notifier.status().get(SUB)) is not None and s.built >= first, "the subscriber")
        for i in range(30):
            label(c, f"x{i}")  # each answered 200 (label asserts it) while the first POST still waits
        status = notifier.status()[SUB]
        assert twin_store.head() - status.delivered >= 31
        assert rec.received == []
        assert c.delete(uri(SUB)).status_code == 200
        rec.holding = False


def test_heartbeats_at_their_period_and_on_trigger(twin_store: SqlStore, specs: Path) -> None:
    oas = load_specs(locate_specs(specs))
    rec = Recipient()
    beats = lambda: rec.of("notifyHeartbeat")  # noqa: E731
    with serve(rec.app) as rurl, twin(twin_store) as (c, _):
        subscribe(c, f"{rurl}/ntf", notificationTypes=["notifyMOIChanges"])
        r = c.put(uri(HB), json={"id": "1", "attributes": {"heartbeatNtfPeriod": 2}})  # 0.2 s here (unit 0.1 s)
        assert r.status_code == 201, r.text
        wait_for(lambda: len(beats()) >= 1, "the first heartbeat")
        first = len(beats())
        time.sleep(1.2)
        periodic = beats()[first - 1 :]
        times = [t for t, b in list(rec.timed) if b["notificationType"] == "notifyHeartbeat"]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert 3 <= len(periodic) <= 10, len(periodic)
        assert 0.1 <= statistics.median(gaps[-4:]) <= 0.4, gaps

        r = c.patch(uri(HB), content=orjson.dumps({"attributes": {"heartbeatNtfPeriod": 0}}), headers=MERGE)
        assert r.status_code == 204
        time.sleep(0.3)
        stopped = len(beats())
        time.sleep(0.6)
        assert len(beats()) == stopped

        r = c.patch(uri(HB), content=orjson.dumps({"attributes": {"triggerHeartbeatNtf": True}}), headers=MERGE)
        assert r.status_code == 204
        wait_for(lambda: len(beats()) == stopped + 1, "the triggered heartbeat")
        wait_for(lambda: c.get(uri(HB)).json()["attributes"]["triggerHeartbeatNtf"] is False, "the trigger to reset")
    for body in beats():
        assert oas.validate(*SCHEMA_OF["notifyHeartbeat"], body) == [], body
        assert body["href"] == uri(HB)
    assert beats()[-1]["heartbeatNtfPeriod"] == 0
    # The configuration changes themselves came as CM notifications.
    paths = [m["path"] for b in rec.of("notifyMOIChanges") for m in b["moiChanges"]]
    assert "/NtfSubscriptionControl=1/HeartbeatControl=1" in paths
    assert "/NtfSubscriptionControl=1/HeartbeatControl=1#/attributes/triggerHeartbeatNtf" in paths


def test_the_app_lifespan_runs_the_worker(twin_store: SqlStore) -> None:
    app = create_app(twin_store)
    notifier: Notifier = app.state.notifier
    assert not notifier.running
    with TestClient(app) as c:
        assert notifier.running
        assert c.get("/").status_code == 200
    assert not notifier.running


def test_a_subscription_keeping_its_address_while_its_recipient_is_down_is_accepted(twin_store: SqlStore) -> None:
    # Delivery in another process (as under `mns serve`): the server knows addresses from the store only.
    app = create_app(twin_store, Settings(notify=SETTINGS.notify, deliver=False))
    gone = Recipient()
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as c:
        with serve(gone.app) as gone_url:
            subscribe(c, f"{gone_url}/ntf")
        same = {"notificationRecipientAddress": f"{gone_url}/ntf", "notificationFilter": "//ManagedElement"}
        r = c.patch(uri(SUB), content=orjson.dumps({"attributes": same}), headers=MERGE)
        assert r.status_code == 204, r.text
        head = twin_store.head()
        other = {"notificationRecipientAddress": f"http://127.0.0.1:{closed_port()}/ntf"}
        r = c.patch(uri(SUB), content=orjson.dumps({"attributes": other}), headers=MERGE)
        assert r.status_code == 400
        assert "subscription-recipient" in r.json()["error"]["errorInfo"]
        assert twin_store.head() == head

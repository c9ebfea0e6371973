"""CM notifications: bodies against the official schemas, subscription selection and checks, cursors.

The worker runs here over each store backend with ``httpx.MockTransport`` standing in for the
recipient (a third party); ``test_notify_e2e.py`` runs it with real HTTP servers on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mns.conformance.schemas import COMDEFS_FILE, PROV_MNS_FILE, OpenApiSpecs, load_specs, locate_specs
from mns.errors import InvalidObject
from mns.notify.build import (
    CHANGES,
    CREATION,
    DEFAULT_TYPES,
    DELETION,
    MAX_ID,
    MAX_MOI_CHANGES,
    VALUE_CHANGES,
    Context,
    heartbeat_notification,
    moi_change_items,
    moi_changes_notification,
    notification_id,
    object_notifications,
    source_indicator,
)
from mns.notify.cursor import Cursor, CursorStore
from mns.notify.delivery import Notifier, NotifySettings
from mns.notify.rules import check_subscription, parse_definition
from mns.notify.subscriptions import Subscription
from mns.nrm.class_rules import ClassRules
from mns.nrm.validate import Validator
from mns.store import Create, Delete, SqlStore, Update, open_store
from mns.store.api import Change, ChangeKind, Revision

HEARTBEAT_FILE = "TS28532_HeartbeatNtf.yaml"
ROOT = "SubNetwork=RAN"
ME = f"{ROOT},ManagedElement=1"
SUB = f"{ROOT},NtfSubscriptionControl=1"
WHEN = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
SCHEMA_OF = {
    CREATION: "NotifyMoiCreation",
    DELETION: "NotifyMoiDeletion",
    VALUE_CHANGES: "NotifyMoiAttributeValueChanges",
    CHANGES: "NotifyMoiChanges",
}


@pytest.fixture(scope="module")
def oas(specs: Path) -> OpenApiSpecs:
    """The official OpenAPI files (never copied into the project)."""
    return load_specs(locate_specs(specs))


def ctx(source: str = "oss", rev: int = 7, message: str = "PATCH application/merge-patch+json") -> Context:
    return Context(SUB, Revision(0, rev, WHEN, source, "alice", message), "http://twin:8080/ProvMnS/v1800", ROOT)


def definition(**attrs: Any) -> Subscription:
    attrs.setdefault("notificationRecipientAddress", "http://127.0.0.1:9/ntf")
    found, problems = parse_definition(attrs)
    assert found is not None, problems
    return Subscription.of(SUB, found)


CHANGES_OF_EVERY_KIND = [
    Change(ME, ChangeKind.CREATED, "ManagedElement", None, {"userLabel": "a", "vendorName": "x"}),
    Change(f"{ME},GNBDUFunction=1", ChangeKind.CREATED, "GNBDUFunction", None, {}),
    Change(ME, ChangeKind.MODIFIED, "ManagedElement", {"userLabel": "a", "x": 1}, {"userLabel": "b", "y": [1, 2]}),
    Change(f"{ME},GNBDUFunction=1", ChangeKind.DELETED, "GNBDUFunction", {"gNBId": 5}, None),
    Change(f"{ME},GNBDUFunction=2", ChangeKind.DELETED, "GNBDUFunction", {}, None),
]


# -- bodies ---------------------------------------------------------------------------------------


def test_every_body_validates_against_its_official_schema(oas: OpenApiSpecs) -> None:
    types = frozenset(SCHEMA_OF)
    bodies = [b for c in CHANGES_OF_EVERY_KIND for b in object_notifications(c, ctx=ctx(), types=types)]
    items = [i for c in CHANGES_OF_EVERY_KIND for i in moi_change_items(c, ctx=ctx(), base=ROOT)]
    bodies.append(moi_changes_notification(items, ctx=ctx(), base=ROOT))
    assert [b["notificationType"] for b in bodies] == [CREATION, CREATION, VALUE_CHANGES, DELETION, DELETION, CHANGES]
    for body in bodies:
        assert oas.validate(PROV_MNS_FILE, SCHEMA_OF[body["notificationType"]], body) == [], body
        assert oas.validate(COMDEFS_FILE, "NotificationHeader", body) == []
    beat = heartbeat_notification(
        subscription=SUB,
        control=f"{SUB},HeartbeatControl=1",
        period=60,
        prov_root="/p",
        system_dn=ROOT,
        when=WHEN,
        seq=1,
    )
    assert oas.validate(HEARTBEAT_FILE, "NotifyHeartbeat", beat) == []


def test_the_schemas_do_catch_broken_bodies(oas: OpenApiSpecs) -> None:
    body = object_notifications(CHANGES_OF_EVERY_KIND[2], ctx=ctx(), types=DEFAULT_TYPES)[0]
    assert oas.validate(PROV_MNS_FILE, "NotifyMoiAttributeValueChanges", {**body, "notificationId": "7"})
    assert oas.validate(PROV_MNS_FILE, "NotifyMoiAttributeValueChanges", {**body, "attributeListValueChanges": [{}]})
    del body["systemDN"]
    assert oas.validate(PROV_MNS_FILE, "NotifyMoiAttributeValueChanges", body)


def test_body_contents() -> None:
    created, empty, modified, deleted, _ = CHANGES_OF_EVERY_KIND
    c = ctx()
    [body] = object_notifications(created, ctx=c, types=DEFAULT_TYPES)
    assert body["href"] == "http://twin:8080/ProvMnS/v1800/SubNetwork=RAN/ManagedElement=1"
    assert body["attributeList"] == {"userLabel": "a", "vendorName": "x"}
    assert body["eventTime"] == "2025-03-01T12:00:00.123456Z"
    assert body["systemDN"] == ROOT
    assert body["sourceIndicator"] == "MANAGEMENT_OPERATION"
    assert body["additionalText"] == "twin revision 7: PATCH application/merge-patch+json"
    assert "attributeList" not in object_notifications(empty, ctx=c, types=DEFAULT_TYPES)[0]  # minProperties 1
    [body] = object_notifications(modified, ctx=c, types=DEFAULT_TYPES)
    assert body["attributeListValueChanges"] == [
        {"userLabel": "b", "x": None, "y": [1, 2]},
        {"userLabel": "a", "x": 1, "y": None},
    ]
    assert object_notifications(deleted, ctx=c, types=DEFAULT_TYPES)[0]["attributeList"] == {"gNBId": 5}
    assert object_notifications(modified, ctx=c, types=frozenset({CREATION, DELETION})) == []
    items = moi_change_items(modified, ctx=c, base=ROOT)
    assert [(i["op"], i["path"]) for i in items] == [
        ("replace", "/ManagedElement=1#/attributes/userLabel"),
        ("remove", "/ManagedElement=1#/attributes/x"),
        ("add", "/ManagedElement=1#/attributes/y"),
    ]
    assert (items[0]["value"], items[0]["oldValue"], items[1]["oldValue"], items[2]["value"]) == ("b", "a", 1, [1, 2])
    [add] = moi_change_items(created, ctx=c, base=ME)
    assert (add["op"], add["path"]) == ("add", "/")
    assert add["value"] == {"id": "1", "objectClass": "ManagedElement", "attributes": created.after}


def test_source_indicators_follow_the_revision_source(oas: OpenApiSpecs) -> None:
    allowed = oas.document(PROV_MNS_FILE)["components"]["schemas"]["SourceIndicator"]["enum"]
    mapping = {s: source_indicator(s) for s in ("oss", "sandbox:3", "real", "reconcile", "import")}
    assert mapping == {
        "oss": "MANAGEMENT_OPERATION",
        "sandbox:3": "MANAGEMENT_OPERATION",
        "real": "RESOURCE_OPERATION",
        "reconcile": "RESOURCE_OPERATION",
        "import": "UNKNOWN",
    }
    assert set(mapping.values()) <= set(allowed)


def test_notification_ids_are_deterministic_and_distinct() -> None:
    def nid(sub: str = SUB, rev: int = 3, obj: str = ME, ntype: str = CREATION) -> int:
        return notification_id(subscription=sub, revision=rev, obj=obj, ntype=ntype)

    assert nid() == nid()
    variants = {nid(), nid(sub=f"{ROOT},NtfSubscriptionControl=2"), nid(rev=4), nid(obj=f"{ME}1"), nid(ntype=DELETION)}
    assert len(variants) == 5
    assert all(0 <= v <= MAX_ID for v in variants)
    many = [[i["notificationId"] for i in moi_change_items(c, ctx=ctx(), base=ROOT)] for c in CHANGES_OF_EVERY_KIND]
    flat = [n for ids in many for n in ids]
    assert len(set(flat)) == len(flat)
    assert many == [
        [i["notificationId"] for i in moi_change_items(c, ctx=ctx(), base=ROOT)] for c in CHANGES_OF_EVERY_KIND
    ]


# -- selection --------------------------------------------------------------------------------------

BELOW = [ROOT, ME, f"{ME},GNBDUFunction=1", f"{ME},GNBDUFunction=1,NRCellDU=1", "SubNetwork=Other", f"{ROOT}X"]


@pytest.mark.parametrize(
    ("scope", "covered"),
    [
        (None, [True, True, True, True, False, False]),
        ([{"scopeType": "BASE_ALL"}], [True, True, True, True, False, False]),
        ([{"scopeType": "BASE_ONLY"}], [True, False, False, False, False, False]),
        ({"scopeType": "BASE_NTH_LEVEL", "scopeLevel": 2}, [False, False, True, False, False, False]),
        ([{"scopeType": "BASE_SUBTREE", "scopeLevel": 1}], [True, True, False, False, False, False]),
        ([{"scopeType": "BASE_SUBTREE"}], [True, True, True, True, False, False]),
    ],
)
def test_scope_is_relative_to_the_parent(scope: Any, covered: list[bool]) -> None:
    sub = definition(scope=scope) if scope is not None else definition()
    assert [sub.covers(dn) for dn in BELOW] == covered


def test_filter_selects_an_object_entering_or_leaving() -> None:
    sub = definition(notificationFilter='//ManagedElement[attributes/userLabel="b"]')

    def change(before: dict[str, Any] | None, after: dict[str, Any] | None, dn: str = ME) -> Change:
        kind = ChangeKind.CREATED if before is None else ChangeKind.DELETED if after is None else ChangeKind.MODIFIED
        return Change(dn, kind, dn.rsplit(",", 1)[-1].split("=", maxsplit=1)[0], before, after)

    assert sub.selects(change({"userLabel": "a"}, {"userLabel": "b"}))
    assert sub.selects(change({"userLabel": "b"}, {"userLabel": "c"}))
    assert sub.selects(change({"userLabel": "b"}, None))
    assert not sub.selects(change({"userLabel": "a"}, {"userLabel": "c"}))
    assert not sub.selects(change(None, {"userLabel": "b"}, f"{ME},GNBDUFunction=1"))
    outside = definition(scope=[{"scopeType": "BASE_ONLY"}])
    assert not outside.selects(change(None, {"userLabel": "b"}))


def test_types_default_and_explicit() -> None:
    assert definition().definition.types == DEFAULT_TYPES == {CREATION, DELETION, VALUE_CHANGES}
    assert definition(notificationTypes=[CHANGES]).definition.types == {CHANGES}


GOOD = {"notificationRecipientAddress": "http://127.0.0.1:9/unreachable-is-fine", "scope": [{"scopeType": "BASE_ALL"}]}


@pytest.mark.parametrize(
    ("attrs", "fragment"),
    [
        ({"notificationRecipientAddress": None}, "notificationRecipientAddress: is required"),
        ({"notificationRecipientAddress": "not a url"}, "not an absolute http"),
        ({"notificationRecipientAddress": "ftp://example.invalid/x"}, "not an absolute http"),
        ({"notificationRecipientAddress": "http://"}, "notificationRecipientAddress"),
        ({"notificationRecipientAddress": "http://exa mple.invalid/"}, "notificationRecipientAddress"),
        ({"notificationRecipientAddress": 42}, "not a URL string"),
        ({"notificationTypes": ["notifyNoSuchThing"]}, "notifyNoSuchThing not supported"),
        ({"notificationTypes": "notifyMOICreation"}, "not a list"),
        ({"notificationFilter": "//NRCellDU["}, "notificationFilter:"),
        ({"notificationFilter": "count(//NRCellDU)"}, "notificationFilter:"),
        ({"scope": [{"scopeType": "EVERYTHING"}]}, "scopeType 'EVERYTHING'"),
        ({"scope": [{"scopeType": "BASE_NTH_LEVEL"}]}, "needs scopeLevel"),
        ({"scope": [{"scopeType": "BASE_SUBTREE", "scopeLevel": -1}]}, "non-negative"),
    ],
)
def test_bad_subscriptions_are_named(attrs: dict[str, Any], fragment: str) -> None:
    problems = check_subscription(SUB, {k: v for k, v in {**GOOD, **attrs}.items() if v is not None})
    assert len(problems) == 1
    assert all(p.startswith(f"{SUB}: ") for p in problems)
    assert any(fragment in p for p in problems), problems


def test_good_subscriptions_pass() -> None:
    assert check_subscription(SUB, GOOD) == []
    full = {**GOOD, "notificationTypes": [CREATION, CHANGES, "notifyHeartbeat"], "notificationFilter": "//NRCellDU"}
    assert check_subscription(SUB, full) == []
    assert check_subscription(SUB, {**GOOD, "scope": {"scopeType": "BASE_NTH_LEVEL", "scopeLevel": 1}}) == []


def test_bad_subscriptions_are_refused_at_the_write(store_url: str) -> None:
    store = open_store(store_url, validator=ClassRules(Validator()))
    try:
        store.commit([Create(ROOT, {})], source="real")
        with pytest.raises(InvalidObject, match="notificationFilter"):
            store.commit([Create(SUB, {**GOOD, "notificationFilter": "//["})], source="oss")
        with pytest.raises(InvalidObject, match="notificationTypes"):
            store.commit([Create(SUB, {**GOOD, "notificationTypes": ["bogus"]})], source="oss")
        assert store.head() == 1
        assert store.get(SUB) is None
        store.commit([Create(SUB, GOOD)], source="oss")
        with pytest.raises(InvalidObject, match="notificationRecipientAddress"):
            store.commit([Update(SUB, {"notificationRecipientAddress": "mailto:x@y"})], source="oss")
        # What the mirror copies from the real network is kept as it is.
        store.commit(
            [Create(f"{ROOT},NtfSubscriptionControl=real", {"notificationRecipientAddress": "?"})], source="real"
        )
        assert store.head() == 3
    finally:
        store.close()


# -- cursors and the worker ---------------------------------------------------------------------


def test_cursor_table_round_trip(store: SqlStore) -> None:
    cursors = CursorStore(store.engine)
    cursors.create()
    cursors.create()  # idempotent
    assert cursors.load() == {}
    cursors.save({SUB: Cursor(2, 5), f"{SUB}2": Cursor(3, 3)})
    cursors.save({SUB: Cursor(2, 9)})
    assert cursors.load() == {SUB: Cursor(2, 9), f"{SUB}2": Cursor(3, 3)}
    cursors.delete([f"{SUB}2"])
    assert cursors.load() == {SUB: Cursor(2, 9)}


class Inbox:
    """What a stand-in recipient received, by address."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append((str(request.url), orjson.loads(request.content)))
        return httpx.Response(204)

    def of(self, url: str, ntype: str | None = None) -> list[dict[str, Any]]:
        return [b for u, b in self.bodies if u == url and (ntype is None or b["notificationType"] == ntype)]


FAST = NotifySettings(poll_s=0.02, cursor_flush_s=0.05, backoff_initial_s=0.02, backoff_max_s=0.2)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def worker(store: SqlStore) -> Iterator[Callable[[Inbox], Notifier]]:
    started: list[Notifier] = []

    def start(inbox: Inbox) -> Notifier:
        notifier = Notifier(store=store, settings=FAST, transport=httpx.MockTransport(inbox.handler))
        notifier.start()
        started.append(notifier)
        return notifier

    yield start
    for notifier in started:
        notifier.stop()


def delivered_all(notifier: Notifier, store: SqlStore) -> Callable[[], bool]:
    return lambda: all(s.delivered == store.head() for s in notifier.status().values())


def subscribe(store: SqlStore, dn: str, url: str, source: str = "oss", **attrs: Any) -> int:
    result = store.commit([Create(dn, {"notificationRecipientAddress": url, **attrs})], source=source)
    assert result.rev is not None
    return result.rev


def test_worker_delivers_resumes_from_its_cursor_and_redelivers_with_the_same_ids(
    store: SqlStore, worker: Callable[[Inbox], Notifier]
) -> None:
    url = "http://recipient.invalid/ntf"
    store.commit([Create(ROOT, {}), Create(ME, {"userLabel": "a"})], source="real")
    created = subscribe(store, SUB, url)
    inbox = Inbox()
    first = worker(inbox)
    for i in range(3):
        store.commit([Update(ME, {"userLabel": f"v{i}"})], source="oss")
    wait_for(lambda: len(inbox.of(url)) == 3, "three notifications")
    wait_for(delivered_all(first, store), "the cursor to reach the head")
    first.stop()
    assert CursorStore(store.engine).load() == {SUB: Cursor(created, store.head())}
    labels = [b["attributeListValueChanges"][0]["userLabel"] for b in inbox.of(url)]
    assert labels == ["v0", "v1", "v2"]
    early_ids = [b["notificationId"] for b in inbox.of(url)]

    # Changes while the worker is down arrive after a restart; nothing is sent twice.
    store.commit([Create(f"{ROOT},ManagedElement=2", {"userLabel": "new"})], source="real")
    store.commit([Delete(f"{ROOT},ManagedElement=2")], source="oss")
    second = worker(inbox)
    wait_for(lambda: len(inbox.of(url)) == 5, "the two missed notifications")
    assert [b["notificationType"] for b in inbox.of(url)[3:]] == [CREATION, DELETION]
    assert inbox.of(url)[3]["sourceIndicator"] == "RESOURCE_OPERATION"
    wait_for(delivered_all(second, store), "the cursor to reach the head")
    second.stop()

    # A crash before the cursor was saved: the rebuilt notifications carry their old ids.
    CursorStore(store.engine).save({SUB: Cursor(created, created)})
    third = worker(inbox)
    wait_for(lambda: len(inbox.of(url)) == 10, "the redelivery")
    assert [b["notificationId"] for b in inbox.of(url)[5:8]] == early_ids
    assert inbox.of(url)[5:] == inbox.of(url)[:5]
    third.stop()


def test_worker_follows_subscription_changes(store: SqlStore, worker: Callable[[Inbox], Notifier]) -> None:
    a, b = "http://a.invalid/", "http://b.invalid/"
    store.commit([Create(ROOT, {}), Create(ME, {})], source="real")
    inbox = Inbox()
    notifier = worker(inbox)
    subscribe(store, f"{ME},NtfSubscriptionControl=real", a, source="real")  # the real network's, not ours
    subscribe(store, SUB, a, notificationTypes=[CREATION, CHANGES])
    store.commit([Create(f"{ME},GNBDUFunction=1", {"gNBId": 1})], source="oss")
    wait_for(lambda: len(inbox.of(a)) == 2, "a creation and its notifyMOIChanges")
    assert [x["notificationType"] for x in inbox.of(a)] == [CREATION, CHANGES]
    assert set(notifier.status()) == {SUB}

    # A new address applies at once; a new filter from the next revision on.
    store.commit(
        [Update(SUB, {"notificationRecipientAddress": b, "notificationFilter": "//GNBDUFunction"})], source="oss"
    )
    store.commit([Update(ME, {"userLabel": "ignored by the filter"})], source="oss")
    store.commit([Delete(f"{ME},GNBDUFunction=1")], source="oss")
    wait_for(lambda: len(inbox.of(b)) == 2, "the subscription's own change and the filtered one")
    own, removed = (x["moiChanges"] for x in inbox.of(b))
    assert {c["path"] for c in own} == {
        "/NtfSubscriptionControl=1#/attributes/notificationFilter",
        "/NtfSubscriptionControl=1#/attributes/notificationRecipientAddress",
    }
    assert [(c["op"], c["path"]) for c in removed] == [("remove", "/ManagedElement=1/GNBDUFunction=1")]
    wait_for(delivered_all(notifier, store), "the cursor to reach the head")

    store.commit([Delete(SUB)], source="oss")
    store.commit([Update(ME, {"userLabel": "after the end"})], source="oss")
    wait_for(lambda: notifier.status() == {}, "the subscriber to go")
    wait_for(lambda: CursorStore(store.engine).load() == {}, "its cursor to go")
    assert len(inbox.bodies) == 4


def test_a_big_revision_is_streamed_and_split(store: SqlStore, worker: Callable[[Inbox], Notifier]) -> None:
    url = "http://big.invalid/"
    store.commit([Create(ROOT, {})], source="real")
    subscribe(store, SUB, url, notificationTypes=[CHANGES])
    inbox = Inbox()
    notifier = worker(inbox)
    n = 2 * MAX_MOI_CHANGES + 5  # more than the cache keeps of one revision
    store.commit((Create(f"{ROOT},ManagedElement={i:05}", {"userLabel": str(i)}) for i in range(n)), source="real")
    wait_for(delivered_all(notifier, store), "the big revision", timeout=10)
    sizes = [len(b["moiChanges"]) for b in inbox.of(url)]
    assert sizes == [MAX_MOI_CHANGES, MAX_MOI_CHANGES, 5]
    paths = [c["path"] for b in inbox.of(url) for c in b["moiChanges"]]
    assert paths == [f"/ManagedElement={i:05}" for i in range(n)]

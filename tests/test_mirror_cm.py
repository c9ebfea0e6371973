"""What each CM notification of a producer does to the twin (``mns.mirror.cm``), including notifyMOIChanges."""

from __future__ import annotations

from typing import Any

import pytest

from mns.mirror.cm import Canon, NotificationReader, Plan, Unapplied, href_dn
from mns.sim.generate import generate_network
from mns.store.api import CommitJob, Create
from mns.store.sql import SqlStore

ROOT = "http://ems.example/ProvMnS/v1800"
ME = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001"
DU = f"{ME},GNBDUFunction=1"
CELL = f"{DU},NRCellDU=1"


@pytest.fixture
def twin(store: SqlStore) -> SqlStore:
    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(1, seed=2)), source="real")
    return store


def apply(store: SqlStore, body: dict[str, Any]) -> list[Unapplied]:
    unapplied: list[Unapplied] = []
    plan = Plan(body, NotificationReader(Canon()), unapplied)
    store.commit_job(CommitJob(plan, source="real", author="mirror"))
    return unapplied


def href(dn: str) -> str:
    return f"{ROOT}/" + dn.replace(",", "/")


def test_the_object_comes_from_the_href() -> None:
    assert href_dn(href(CELL)) == CELL
    assert href_dn(href(CELL).replace("=", "%3D")) == CELL
    with pytest.raises(Unapplied):
        href_dn("http://ems.example/elsewhere/SubNetwork=1")


def test_moi_changes_are_replayed_item_by_item(twin: SqlStore) -> None:
    body = {
        "href": href(DU),
        "notificationType": "notifyMOIChanges",
        "moiChanges": [
            {"op": "replace", "path": "/NRCellDU=1#/attributes/nRPCI", "value": 99, "oldValue": 1},
            {"op": "add", "path": "/NRCellDU=1#/attributes/userLabel", "value": "new"},
            {"op": "remove", "path": "/NRCellDU=2#/attributes/userLabel"},
            {"op": "add", "path": "/NRCellDU=9", "value": {"id": "9", "attributes": {"cellLocalId": 9}}},
            {"op": "remove", "path": "/NRCellDU=3"},
            {"op": "replace", "path": "/NRCellDU=1#/attributes/pLMNInfoList/0/sNSSAI", "value": {}},
        ],
    }
    unapplied = apply(twin, body)
    cell = twin.get(CELL)
    assert cell is not None
    assert (cell.attrs["nRPCI"], cell.attrs["userLabel"]) == (99, "new")
    assert "userLabel" not in twin.get(f"{DU},NRCellDU=2").attrs  # type: ignore[union-attr]
    assert twin.get(f"{DU},NRCellDU=9").attrs == {"cellLocalId": 9}  # type: ignore[union-attr]
    assert twin.get(f"{DU},NRCellDU=3") is None
    assert [u.dn for u in unapplied] == [CELL]  # the pointer inside an attribute: its object is re-read
    assert twin.revision(twin.head()).source == "real"


def test_what_cannot_be_applied_is_reported_and_the_rest_applies(twin: SqlStore) -> None:
    creation = {"href": href(f"{ME},GNBDUFunction=7,NRCellDU=1"), "notificationType": "notifyMOICreation"}
    assert [u.reason for u in apply(twin, creation)] == [f"its parent {ME},GNBDUFunction=7 is not in the twin"]
    change = {
        "href": href(f"{DU},NRCellDU=77"),
        "notificationType": "notifyMOIAttributeValueChanges",
        "attributeListValueChanges": [{"userLabel": "x"}],
    }
    assert [u.dn for u in apply(twin, change)] == [f"{DU},NRCellDU=77"]
    deletion = {"href": href(f"{DU},NRCellDU=77"), "notificationType": "notifyMOIDeletion"}
    assert apply(twin, deletion) == []  # already gone: nothing to do
    subscription = {"href": href(f"{ME},NtfSubscriptionControl=x"), "notificationType": "notifyMOICreation"}
    head = twin.head()
    assert apply(twin, subscription) == []
    assert twin.head() == head  # each system's subscriptions are its own: not copied


def test_openapi_spellings_are_read_in_stage_2(twin: SqlStore) -> None:
    body = {
        "href": f"{ROOT}/SubNetwork=RAN/SubNetwork=Central/ManagedElement=gNB-00001/GnbDuFunction=1/NrCellDu=1",
        "notificationType": "notifyMOIAttributeValueChanges",
        "attributeListValueChanges": [{"nrPci": 123, "userLabel": None}, {"nrPci": 1}],
    }
    assert apply(twin, body) == []
    cell = twin.get(CELL)
    assert cell is not None
    assert cell.attrs["nRPCI"] == 123
    assert "userLabel" not in cell.attrs

"""The MnS consumer client (``mns.consumer``) against the twin itself, sync and async, both backends.

The sync client talks to the twin served by uvicorn on loopback (``serve``), the async one to
the same app through ``httpx.ASGITransport``; every scenario runs on both through ``Ops``.
Streaming, other producers' answers, retries and error mapping are in ``test_consumer_transport.py``.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import serve

from mns.consumer import (
    GPP_MERGE_PATCH,
    ArgumentError,
    AsyncMnsClient,
    BadRequestError,
    ConflictError,
    FailedAlarms,
    MnsClient,
    NotFoundError,
    PreconditionFailedError,
    Retry,
)
from mns.fault import demo_alarms
from mns.pm import service as pm_service
from mns.pm.model import Measurement
from mns.pm.store import PmStore
from mns.producers.app import Settings, create_app
from mns.sim.generate import generate_network
from mns.store import Create, SqlStore

ROOT = "SubNetwork=RAN"
GNB = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001"
CELL = f"{GNB},GNBDUFunction=1,NRCellDU=1"
PM_START = datetime(2026, 11, 1, tzinfo=UTC)
FAST = Retry(attempts=3, backoff=0, backoff_max=0)
OPENSSL_REQ = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=client"]


def dn_of(cls: str, objects: list[Any]) -> str:
    """The first generated DN of a class."""
    return next(o.dn for o in objects if o.cls == cls)


@pytest.fixture
def network() -> list[Any]:
    """One generated gNB."""
    return list(generate_network(1, seed=3))


@pytest.fixture
def app(store: SqlStore, network: list[Any]) -> Any:
    """The twin over one gNB, the demo alarms and a PM file of an hour of one cell."""
    store.commit((Create(o.dn, o.attrs, o.cls) for o in network), source="real")
    demo_alarms(store, 1)
    cell = dn_of("NRCellDU", network)
    pm = PmStore(store)
    pm.add(Measurement(cell, "RRU.PrbUsedDl", 900, PM_START + timedelta(minutes=15 * q), 10.0 * q) for q in range(1, 5))
    pm_service.report_file(pm=pm, dn=cell, begin=PM_START, end=PM_START + timedelta(hours=1), period=900)
    return create_app(store, Settings(check_recipients=False))


class Ops:
    """A client's operations called alike: the async client's are run on a loop of their own."""

    def __init__(self, client: MnsClient | AsyncMnsClient, loop: asyncio.AbstractEventLoop | None) -> None:
        self.client = client
        self.loop = loop

    def __getattr__(self, name: str) -> Callable[..., Any]:
        fn = getattr(self.client, name)
        if self.loop is None:
            return fn  # type: ignore[no-any-return]
        loop = self.loop

        def run(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            if hasattr(result, "__aiter__"):
                return loop.run_until_complete(_collect(result))
            return loop.run_until_complete(result)

        return run


async def _collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


@pytest.fixture(params=["sync", "async"])
def mns(request: pytest.FixtureRequest, app: Any) -> Iterator[Ops]:
    """The sync client over loopback, or the async one through ASGITransport, as ``Ops``."""
    if request.param == "sync":
        with serve(app) as url, MnsClient(url, author="tester", retry=FAST) as client:
            yield Ops(client, None)
        return
    loop = asyncio.new_event_loop()
    client = AsyncMnsClient("http://twin", transport=httpx.ASGITransport(app=app), author="tester", retry=FAST)
    try:
        yield Ops(client, loop)
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()


# -- ProvMnS ----------------------------------------------------------------------------------


def test_reads_objects_in_every_media_type_and_selection(mns: Ops, network: list[Any]) -> None:
    cell = mns.get_one(CELL)
    assert (cell.dn, cell.cls, cell.id) == (CELL, "NRCellDU", "1")
    assert cell.attributes["nRPCI"] == next(o.attrs["nRPCI"] for o in network if o.dn == CELL)
    assert cell.etag == "1"
    assert cell.revision == 1
    mns.merge_patch(CELL, {"userLabel": "now"})
    assert mns.get(CELL, params={"asOf": "1"}).objects[0].attributes.get("userLabel") != "now"
    assert mns.get_one(CELL).attributes["userLabel"] == "now"
    expected = sorted(o.dn for o in network if o.dn.startswith(GNB))
    for media in ("json", "hierarchical", "flat"):
        result = mns.get(GNB, scope="BASE_SUBTREE", media=media)
        assert sorted(m.dn for m in result) == expected, media
        assert result.revision == 2
        assert all(m.has_attributes for m in result)
    tree = mns.get(GNB, scope="BASE_SUBTREE", media="hierarchical")
    assert tree.objects[0].dn == GNB
    assert [m.dn for m in mns.iter_subtree(GNB)] == [m.dn for m in tree]
    assert sorted(m.dn for m in mns.iter_subtree(GNB, media="flat")) == expected
    two = mns.get(GNB, scope="BASE_NTH_LEVEL", level=1)
    assert {m.dn.count(",") for m in two} == {GNB.count(","), GNB.count(",") + 1}
    cells = mns.get(ROOT, scope="BASE_ALL", filter="//NRCellDU[attributes/nRPCI>=0]", media="flat")
    assert {m.cls for m in cells} == {"NRCellDU"}
    assert len(cells) == sum(o.cls == "NRCellDU" for o in network)
    connecting = mns.get(ROOT, scope="BASE_ALL", filter="//NRCellDU[id='1']")
    assert not connecting.objects[0].has_attributes  # the base only connects the matches
    assert set(mns.get_one(CELL, attributes=["nRPCI", "administrativeState"]).attributes) == {
        "nRPCI",
        "administrativeState",
    }
    assert set(mns.get_one(CELL, fields=["attributes/pLMNInfoList/mcc"]).attributes) == {"pLMNInfoList"}


def test_writes_with_every_patch_type_and_etags(mns: Ops) -> None:
    me2 = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-client"
    created = mns.put(me2, {"userLabel": "new"})
    assert created.created
    assert created.moi is not None
    assert created.moi.attributes["userLabel"] == "new"
    assert created.revision == int(created.etag)
    replaced = mns.put(me2, {"userLabel": "again"}, if_match=created.etag)
    assert (replaced.status, replaced.created) == (200, False)

    with pytest.raises(PreconditionFailedError) as stale:
        mns.merge_patch(me2, {"userLabel": "late"}, if_match=created.etag)
    assert stale.value.current_etag == replaced.etag
    assert f"PATCH {stale.value.url}: 412" in str(stale.value)
    assert mns.get_one(me2).attributes["userLabel"] == "again"

    merged = mns.merge_patch(me2, {"userLabel": "merged"}, if_match=replaced.etag)
    assert merged.status == 204
    assert merged.etag == str(merged.revision)
    mns.json_patch(me2, [{"op": "replace", "path": "/attributes/userLabel", "value": "json"}])
    assert mns.get_one(me2).attributes["userLabel"] == "json"
    mns.gpp_merge_patch(me2, {"GNBDUFunction": [{"id": "9", "attributes": {"gNBId": 7, "gNBIdLength": 22}}]})
    du = mns.get_one(f"{me2},GNBDUFunction=9")
    assert du.attributes["gNBId"] == 7
    mns.gpp_json_patch(me2, [{"op": "add", "path": "/GNBDUFunction=9#/attributes/userLabel", "value": "du"}])
    assert mns.get_one(f"{me2},GNBDUFunction=9").attributes["userLabel"] == "du"
    mns.patch(me2, {"GNBDUFunction": [{"id": "9", "attributes": None}]}, GPP_MERGE_PATCH)
    with pytest.raises(NotFoundError):
        mns.get_one(f"{me2},GNBDUFunction=9")

    deleted = mns.delete(me2)
    assert deleted.status == 200
    with pytest.raises(NotFoundError) as gone:
        mns.get_one(me2)
    assert me2 in (gone.value.error_info or "")
    assert gone.value.status == 404


def test_refusals_become_the_right_exceptions(mns: Ops) -> None:
    with pytest.raises(BadRequestError) as bad:
        mns.merge_patch(CELL, {"nRPCI": "not a number"})
    assert "nRPCI" in (bad.value.error_info or "")
    assert "PATCH" in str(bad.value)
    assert "400" in str(bad.value)
    with pytest.raises(BadRequestError):
        mns.get(ROOT, scope="BASE_ALL", filter="//[")
    with pytest.raises(ArgumentError):
        mns.get("not a dn")
    with pytest.raises(ArgumentError):
        mns.get(CELL, scope="EVERYTHING")
    with pytest.raises(ArgumentError):
        mns.patch(CELL, {}, "application/json")


def test_ntf_subscription_control_through_provmns(mns: Ops) -> None:
    made = mns.create_ntf_subscription(
        ROOT,
        "client-1",
        "http://127.0.0.1:9/ntf",
        notification_types=["notifyMOICreation"],
        scope={"scopeType": "BASE_ALL"},
    )
    assert made.created
    sub = mns.get_one(f"{ROOT},NtfSubscriptionControl=client-1")
    assert sub.attributes["notificationRecipientAddress"] == "http://127.0.0.1:9/ntf"
    assert sub.attributes["notificationTypes"] == ["notifyMOICreation"]
    with pytest.raises(BadRequestError) as bad:
        mns.create_ntf_subscription(ROOT, "client-2", "ftp://x/")
    assert "notificationRecipientAddress" in (bad.value.error_info or "")
    assert mns.delete_ntf_subscription(ROOT, "client-1").status == 200
    with pytest.raises(NotFoundError):
        mns.get_one(f"{ROOT},NtfSubscriptionControl=client-1")


# -- Fault MnS --------------------------------------------------------------------------------


def test_alarm_list_acknowledge_clear_and_comment(mns: Ops) -> None:
    alarms = mns.alarms()
    assert sorted(alarms) == ["1", "2", "3", "4", "5"]
    first = alarms["1"]
    assert (first.alarm_id, first.perceived_severity, first.ack_state) == ("1", "CRITICAL", "UNACKNOWLEDGED")
    assert first.object_instance
    assert first.raw["objectInstance"] == first.object_instance
    assert sorted(mns.alarms(ack_state="ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS")) == ["4"]
    assert all(
        a.object_instance == first.object_instance
        for a in mns.alarms(base_object_instance=first.object_instance).values()
    )
    assert sorted(mns.alarms(filter='perceivedSeverity="CRITICAL" or alarmId="4"')) == ["1", "4"]
    count = mns.alarm_count()
    assert (count.critical, count.major) == (1, 1)

    mns.acknowledge("1", "op", system="oss-1")
    acked = mns.alarms()["1"]
    assert (acked.ack_state, acked.ack_user_id) == ("ACKNOWLEDGED", "op")
    with pytest.raises(ConflictError) as twice:
        mns.acknowledge("1", "op")
    assert "already acknowledged" in (twice.value.error_info or "")
    mns.unacknowledge("1", "op")
    assert mns.alarms()["1"].ack_state == "UNACKNOWLEDGED"

    with pytest.raises(FailedAlarms) as partial:
        mns.acknowledge(["2", "no-such-alarm"], "op")
    assert [f.alarm_id for f in partial.value.failed] == ["no-such-alarm"]
    assert "no-such-alarm" in str(partial.value)
    assert mns.alarms()["2"].ack_state == "ACKNOWLEDGED"  # the others were changed

    mns.clear(["3"], "op")
    assert mns.alarms()["3"].perceived_severity == "CLEARED"
    note = mns.comment("2", "looking at it", user="op")
    assert (note.comment_text, note.comment_user_id) == ("looking at it", "op")
    assert note.comment_id
    assert [c.comment_text for c in mns.alarms()["2"].comments][-1] == "looking at it"
    with pytest.raises(NotFoundError):
        mns.comment("no-such-alarm", "x")


def test_fault_and_file_subscriptions(mns: Ops) -> None:
    sub = mns.subscribe("http://127.0.0.1:9/alarms", filter='perceivedSeverity="CRITICAL"', time_tick=60)
    assert sub.id
    assert sub.location
    assert sub.location.endswith(sub.id)
    assert sub.consumer_reference == "http://127.0.0.1:9/alarms"
    mns.unsubscribe(sub.id)
    with pytest.raises(NotFoundError):
        mns.unsubscribe(sub.id)
    with pytest.raises(BadRequestError):
        mns.subscribe("not a uri")
    files = mns.subscribe_files("http://127.0.0.1:9/files")
    assert files.id
    mns.unsubscribe_files(files.id)


# -- File data reporting and PM jobs ----------------------------------------------------------


def test_files_download_and_meas_jobs(mns: Ops, network: list[Any]) -> None:
    (info,) = mns.files("Performance")
    assert (info.file_data_type, info.file_compression) == ("Performance", "gzip")
    content = mns.download(info.file_location)
    assert len(content) == info.file_size
    assert b"measData" in gzip.decompress(content)
    assert mns.files("Performance", begin="2030-01-01T00:00:00Z") == []
    with pytest.raises(BadRequestError):
        mns.files("Performance", begin="yesterday")

    cell = dn_of("NRCellDU", network)
    body = {
        "iOCName": "NRCellDU",
        "iOCInstanceList": [cell],
        "measurementCategoryList": ["RRU.PrbUsedDl"],
        "granularityPeriod": 900,
        "reportingPeriod": 900,
    }
    job = mns.create_meas_job(body)
    assert (job.status, job.unsupported) == (201, [])
    listed = {j.job_id: j for j in mns.meas_jobs()}
    assert listed[job.job_id].raw["iOCInstanceList"] == [cell]
    assert [j.job_id for j in mns.meas_jobs([job.job_id])] == [job.job_id]
    with pytest.raises(BadRequestError) as bad:
        mns.create_meas_job(body | {"iOCInstanceList": [f"{cell}x"]})
    assert "x" in (bad.value.error_info or "")
    mns.delete_meas_job(job.job_id)
    with pytest.raises(NotFoundError):
        mns.meas_jobs([job.job_id])

"""The MnS consumer client (``mns.consumer``) against the twin itself, sync and async, both backends.

The sync client talks to the twin served by uvicorn on loopback (``serve``), the async one to
the same app through ``httpx.ASGITransport``; every scenario runs on both through ``Ops``.
Retries, headers and error mapping use ``httpx.MockTransport`` producers that count requests.
"""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import serve

from mns.consumer import (
    GPP_MERGE_PATCH,
    ArgumentError,
    AsyncMnsClient,
    BadRequestError,
    ConflictError,
    ConnectError,
    FailedAlarms,
    InvalidResponseError,
    MnsClient,
    MnsClientError,
    MnsPaths,
    NotFoundError,
    PreconditionFailedError,
    ProducerError,
    Retry,
    ServerError,
    Timeout,
    TransportError,
)
from mns.fault import demo_alarms
from mns.nrm.dn import to_key
from mns.nrm.resource import flat, hierarchical_all
from mns.pm import service as pm_service
from mns.pm.model import Measurement
from mns.pm.store import PmStore
from mns.producers.app import Settings, create_app
from mns.sim.generate import generate_network
from mns.store import Create, SqlStore
from mns.store.api import Moi as StoredMoi

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


# -- streaming with flat memory ---------------------------------------------------------------


class FileStream(httpx.SyncByteStream):
    """A body read from a file in 64 KiB chunks, as a large answer arrives from the network."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as f:
            while chunk := f.read(1 << 16):
                yield chunk


def _answer(tmp_path: Path, gnbs: int, media: str) -> tuple[Path, int]:
    """The twin's GET answer for the whole generated network of ``gnbs`` gNBs, in a file."""
    objects = sorted(generate_network(gnbs, seed=5), key=lambda o: to_key(o.dn))
    rows = [(o.dn, o.cls, orjson.dumps(o.attrs).decode(), 1) for o in objects]
    if media == "flat":
        chunks = flat(((StoredMoi(d, c, r, a), True) for d, c, a, r in rows), lambda m: str(m.attrs_json), str)
    else:
        chunks = hierarchical_all(rows)
    path = tmp_path / f"{gnbs}-{media}.json"
    with path.open("wb") as f:
        for chunk in chunks:
            f.write(chunk)
    return path, len(rows)


def _peak_while_streaming(path: Path, media: str) -> tuple[int, int]:
    """(objects read, peak traced bytes) of iter_subtree over an answer served from ``path``."""
    accept = {"flat": "application/vnd.3gpp.object-tree-flat+json"}.get(
        media, "application/vnd.3gpp.object-tree-hierarchical+json"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == accept
        return httpx.Response(200, headers={"content-type": accept}, stream=FileStream(path))

    with MnsClient("http://producer", transport=httpx.MockTransport(handler)) as client:
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            count = sum(1 for moi in client.iter_subtree(ROOT, media=media) if moi.attributes is not None)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return count, peak


@pytest.mark.parametrize("media", ["hierarchical", "flat"])
def test_subtree_streams_with_flat_memory(tmp_path: Path, media: str) -> None:
    small, small_n = _answer(tmp_path, 4, media)
    big, big_n = _answer(tmp_path, 40, media)
    assert big.stat().st_size > 10 * small.stat().st_size
    count_small, peak_small = _peak_while_streaming(small, media)
    count_big, peak_big = _peak_while_streaming(big, media)
    assert (count_small, count_big) == (small_n, big_n)
    # Ten times the objects, the same memory: only the open objects and one chunk are held.
    assert peak_big / peak_small < 1.5, (peak_small, peak_big)


def test_a_large_subtree_streams_from_the_twin_over_loopback(store: SqlStore) -> None:
    objects = list(generate_network(30, seed=4))
    store.commit((Create(o.dn, o.attrs, o.cls) for o in objects), source="real")
    with serve(create_app(store)) as url, MnsClient(url) as client:
        dns = [m.dn for m in client.iter_subtree(ROOT)]
        assert sorted(dns) == sorted(o.dn for o in objects)
        assert dns[0] == ROOT
        assert all(dns.index(d.rsplit(",", 1)[0]) < i for i, d in enumerate(dns) if d.count(",") > 1)


# -- parsing what other producers send --------------------------------------------------------


def test_openapi_dialect_trees_without_dns_and_broken_answers() -> None:
    tree = {
        "id": "1",
        "objectClass": "GnbDuFunction",
        "attributes": {"gnbId": 7, "gnbIdLength": 22},
        "NrCellDu": [{"id": "2", "attributes": {"nrPci": 5, "administrativeState": "LOCKED"}}],
        "Bwp-Multiple": [{"id": "3", "attributes": {"subCarrierSpacing": 30}}],
    }
    bodies = [orjson.dumps(tree), b'{"id": "1", "attributes": {', b"[]", b"not json"]

    def handler(request: httpx.Request) -> httpx.Response:
        body = bodies.pop(0)
        return httpx.Response(200, stream=httpx.ByteStream(body), headers={"content-type": "application/json"})

    base = "ManagedElement=me,GNBDUFunction=1"
    with MnsClient("http://producer", transport=httpx.MockTransport(handler)) as client:
        objects = list(client.iter_subtree(base))
        assert [(m.dn, m.cls) for m in objects] == [
            (base, "GnbDuFunction"),
            (f"{base},NrCellDu=2", "NrCellDu"),
            (f"{base},Bwp=3", "Bwp"),
        ]
        assert objects[1].canonical().cls == "NRCellDU"
        assert objects[1].canonical().attributes["nRPCI"] == 5
        with pytest.raises(InvalidResponseError) as truncated:
            list(client.iter_subtree(base))
        assert "ended before" in str(truncated.value)
        assert client.get(base, scope="BASE_SUBTREE").objects == []
        with pytest.raises(InvalidResponseError):
            client.get(base)


def test_odd_but_valid_trees_and_empty_answers() -> None:
    # Attributes after the children (the object comes again, complete); an id that is not a name.
    body = b'{"id": "1", "ManagedElement": [{"id": {"x": [1]}, "objectInstance": "A=1,ManagedElement=2"}],'
    body += b' "attributes": {"userLabel": "late"}}'
    answers = [body, b"[]"]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answers.pop(0))

    with MnsClient("http://producer", transport=httpx.MockTransport(handler)) as client:
        objects = list(client.iter_subtree("A=1"))
        assert [(m.dn, m.has_attributes) for m in objects] == [
            ("A=1", False),
            ("A=1,ManagedElement=2", False),
            ("A=1", True),
        ]
        assert objects[-1].attributes == {"userLabel": "late"}
        with pytest.raises(InvalidResponseError, match="holds no object"):
            client.get_one("A=1")


class Broken(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that breaks off after its first bytes."""

    def __iter__(self) -> Iterator[bytes]:
        yield b'[{"objectInstance": "A=1", "attributes": {}}, '
        raise httpx.ReadError("connection reset")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


def test_a_stream_broken_midway_raises_transport_error_after_what_arrived() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Broken())

    received: list[str] = []
    client = MnsClient("http://producer", transport=httpx.MockTransport(handler))
    with client, pytest.raises(TransportError, match="connection reset") as sync_error:
        received.extend(m.dn for m in client.iter_subtree("A=1", media="flat"))
    assert received == ["A=1"]
    assert sync_error.value.sent

    async def run() -> None:
        async with AsyncMnsClient("http://producer", transport=httpx.MockTransport(handler)) as client:
            async for moi in client.iter_subtree("A=1", media="flat"):
                received.append(moi.dn)

    with pytest.raises(TransportError, match="connection reset"):
        asyncio.run(run())
    assert received == ["A=1", "A=1"]


def test_tls_settings_become_an_ssl_context(tmp_path: Path) -> None:
    import shutil
    import ssl
    import subprocess

    import certifi

    from mns.consumer._http import Settings as ClientSettings

    assert ClientSettings("https://x", verify=False).httpx_options()["verify"] is False
    assert isinstance(ClientSettings("https://x", verify=certifi.where()).httpx_options()["verify"], ssl.SSLContext)
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a client certificate")
    key, crt = tmp_path / "client.key", tmp_path / "client.crt"
    subprocess.run(
        [*OPENSSL_REQ, "-keyout", str(key), "-out", str(crt)],
        check=True,
        capture_output=True,
    )
    context = ClientSettings("https://x", cert=(str(crt), str(key))).httpx_options()["verify"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    lax = ClientSettings("https://x", verify=False, cert=(str(crt), str(key))).httpx_options()["verify"]
    assert lax.verify_mode == ssl.CERT_NONE
    with MnsClient("https://x", cert=(str(crt), str(key))):
        pass


# -- retries, headers and error mapping (producers stood in by MockTransport) -----------------


class Flaky:
    """A producer that fails its first ``failures`` requests with ``error`` (an exception or a status)."""

    def __init__(self, failures: int, error: type[Exception] | int) -> None:
        self.failures = failures
        self.error = error
        self.requests: list[httpx.Request] = []

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            if isinstance(self.error, int):
                return httpx.Response(self.error, json={"error": {"errorInfo": "try later"}})
            raise self.error("injected", request=request)  # type: ignore[call-arg]
        if request.method == "GET":
            body = {"id": "1", "objectClass": "ManagedElement", "objectInstance": "ManagedElement=1", "attributes": {}}
            return httpx.Response(200, json=body, headers={"etag": '"4"'})
        return httpx.Response(204)

    def sync(self) -> MnsClient:
        return MnsClient("http://producer", transport=httpx.MockTransport(self._answer), retry=FAST)

    def aio(self) -> AsyncMnsClient:
        async def handler(request: httpx.Request) -> httpx.Response:
            return self._answer(request)

        return AsyncMnsClient("http://producer", transport=httpx.MockTransport(handler), retry=FAST)


def _both(flaky: Flaky, op: Callable[[Any], Any]) -> list[Any]:
    """Run ``op`` on the sync client, then (with the failures reset) on the async one."""
    outcomes: list[Any] = []
    for kind in ("sync", "async"):
        flaky.requests.clear()
        try:
            if kind == "sync":
                with flaky.sync() as client:
                    outcomes.append(op(client))
            else:

                async def run() -> Any:
                    async with flaky.aio() as client:
                        return await op(client)

                outcomes.append(asyncio.run(run()))
        except MnsClientError as exc:
            outcomes.append(exc)
        outcomes.append(len(flaky.requests))
    return outcomes


def test_get_is_retried_after_connect_errors() -> None:
    flaky = Flaky(2, httpx.ConnectError)
    sync, sync_n, aio, aio_n = _both(flaky, lambda c: c.get_one("ManagedElement=1"))
    assert (sync.etag, sync_n, aio.etag, aio_n) == ("4", 3, "4", 3)


def test_get_is_retried_on_503_until_attempts_run_out() -> None:
    assert _both(Flaky(2, 503), lambda c: c.get_one("ManagedElement=1"))[1] == 3
    outcomes = _both(Flaky(5, 503), lambda c: c.get_one("ManagedElement=1"))
    assert isinstance(outcomes[0], ServerError)
    assert isinstance(outcomes[2], ServerError)
    assert (outcomes[1], outcomes[3]) == (3, 3)
    assert "try later" in str(outcomes[0])


def test_patch_is_not_retried_after_a_read_timeout_or_a_5xx() -> None:
    def patch(c: Any) -> Any:
        return c.merge_patch("ManagedElement=1", {"userLabel": "x"})

    timeout = _both(Flaky(1, httpx.ReadTimeout), patch)
    assert isinstance(timeout[0], Timeout)
    assert isinstance(timeout[2], Timeout)
    assert timeout[0].sent
    assert "may have processed" in str(timeout[0])
    assert (timeout[1], timeout[3]) == (1, 1)
    server = _both(Flaky(1, 500), patch)
    assert isinstance(server[0], ServerError)
    assert (server[1], server[3]) == (1, 1)
    post = _both(Flaky(1, httpx.ReadTimeout), lambda c: c.comment("1", "x"))
    assert isinstance(post[0], Timeout)
    assert (post[1], post[3]) == (1, 1)


def test_patch_is_retried_when_the_connection_was_never_made() -> None:
    def patch(c: Any) -> Any:
        return c.merge_patch("ManagedElement=1", {"userLabel": "x"})

    ok = _both(Flaky(2, httpx.ConnectError), patch)
    assert (ok[0].status, ok[1], ok[2].status, ok[3]) == (204, 3, 204, 3)
    down = _both(Flaky(9, httpx.ConnectTimeout), patch)
    assert isinstance(down[0], ConnectError)
    assert not down[0].sent
    assert isinstance(down[2], TransportError)
    assert (down[1], down[3]) == (3, 3)


def test_bearer_token_headers_and_paths_are_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    paths = MnsPaths(prov="/api/ProvMnS/v1900")
    options: dict[str, Any] = {"token": "s3cret", "headers": {"X-Trace": "t1"}, "author": "alice", "paths": paths}
    with MnsClient("http://producer/root/", transport=httpx.MockTransport(handler), **options) as client:
        client.merge_patch("SubNetwork=a b,ManagedElement=x\\,y", {"userLabel": "z"}, if_match="7")

    async def run() -> None:
        async def ahandler(request: httpx.Request) -> httpx.Response:
            return handler(request)

        async with AsyncMnsClient("http://producer/root", transport=httpx.MockTransport(ahandler), **options) as c:
            await c.delete("SubNetwork=1", if_match='"8"')

    asyncio.run(run())
    patch, delete = seen
    for request in seen:
        assert request.headers["authorization"] == "Bearer s3cret"
        assert request.headers["x-trace"] == "t1"
        assert request.headers["x-twin-author"] == "alice"
    assert patch.url.raw_path == b"/root/api/ProvMnS/v1900/SubNetwork=a%20b/ManagedElement=x%5C,y"
    assert patch.headers["if-match"] == '"7"'
    assert patch.headers["content-type"] == "application/merge-patch+json"
    assert orjson.loads(patch.content) == {"attributes": {"userLabel": "z"}}
    assert delete.headers["if-match"] == '"8"'


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, BadRequestError),
        (422, BadRequestError),
        (404, NotFoundError),
        (409, ConflictError),
        (412, PreconditionFailedError),
        (500, ServerError),
        (503, ServerError),
        (401, ProducerError),
    ],
)
def test_error_statuses_map_to_the_exception_tree(status: int, kind: type[ProducerError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"errorInfo": f"rule broken ({status})"}}, headers={"etag": '"3"'})

    client = MnsClient("http://producer", transport=httpx.MockTransport(handler), retry=Retry(attempts=1))
    with client, pytest.raises(kind) as caught:
        client.delete("SubNetwork=1")
    error = caught.value
    assert type(error) is kind
    assert (error.status, error.error_info, error.method) == (status, f"rule broken ({status})", "DELETE")
    assert str(error) == f"DELETE http://producer/ProvMnS/v1800/SubNetwork=1: {status}: rule broken ({status})"
    if isinstance(error, PreconditionFailedError):
        assert error.current_etag == "3"


def test_a_plain_text_error_is_still_named() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="bad gateway from the proxy")

    client = MnsClient("http://producer", transport=httpx.MockTransport(handler), retry=Retry(attempts=1))
    with client, pytest.raises(ServerError, match="502: bad gateway from the proxy"):
        client.alarms()

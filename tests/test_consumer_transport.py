"""The consumer client's transport: streamed parsing in flat memory, answers of other producers, TLS
settings, retries only where safe, headers, and the mapping of errors to the exception tree."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import serve

from mns.consumer import (
    AsyncMnsClient,
    BadRequestError,
    ConflictError,
    ConnectError,
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
from mns.nrm.dn import to_key
from mns.nrm.resource import flat, hierarchical_all
from mns.producers.app import create_app
from mns.sim.generate import generate_network
from mns.store import Create, SqlStore
from mns.store.api import Moi as StoredMoi

ROOT = "SubNetwork=RAN"
GNB = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001"
CELL = f"{GNB},GNBDUFunction=1,NRCellDU=1"
PM_START = datetime(2026, 11, 1, tzinfo=UTC)
FAST = Retry(attempts=3, backoff=0, backoff_max=0)
OPENSSL_REQ = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=client"]


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

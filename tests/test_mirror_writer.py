"""A full sync written by a second process: the same revision as one process, all or nothing.

The network here is a stub producer (``iter_subtree`` over a generated network), so that the
tests can plant an invalid object or break the stream; the sync over real sockets is in
``test_mirror_e2e.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mns.consumer.models import Moi
from mns.errors import InvalidObject
from mns.mirror import writer
from mns.mirror.cm import Canon
from mns.mirror.sync import Reader, full_sync
from mns.sim.generate import generate_network
from mns.store import Scope, SqlStore, open_store

GNBS = 12


class Producer:
    """What ``full_sync`` reads of a client: the objects under a root, in tree order."""

    def __init__(self, objects: list[Moi], *, fail_after: int | None = None) -> None:
        self.objects = objects
        self.fail_after = fail_after

    def iter_subtree(self, root: str, *, scope: str) -> Iterator[Moi]:
        for i, moi in enumerate(self.objects):
            if self.fail_after is not None and i == self.fail_after:
                raise ConnectionError("the producer went away")
            yield moi


def _network(gnbs: int = GNBS) -> list[Moi]:
    return [Moi(o.dn, o.cls, o.dn.rsplit("=", 1)[-1], dict(o.attrs)) for o in generate_network(gnbs, seed=3)]


def _sync(path: Path | str, producer: Producer, processes: int) -> tuple[SqlStore, Any]:
    store = open_store(str(path))
    root = producer.objects[0].dn
    report = full_sync(store, producer, [root], Reader(Canon()), processes=processes)  # type: ignore[arg-type]
    return store, report


def _assert_untouched(path: Path) -> None:
    """The twin has no object and no revision: the sync wrote nothing."""
    store = open_store(str(path))
    try:
        assert store.count() == 0
        assert store.head() == 0
    finally:
        store.close()


def _state(store: SqlStore) -> list[tuple[str, str, str]]:
    return [row[:3] for root in store.roots() for row in store.scan(root.dn, scope=Scope.BASE_ALL)]


def test_two_processes_write_the_revision_one_process_writes(tmp_path: Path, store_url: str) -> None:
    """On either backend: the writer opens the store by its URL."""
    network = _network()
    assert len(network) > 500
    one, report_one = _sync(tmp_path / "one.db", Producer(network), 1)
    two, report_two = _sync(store_url, Producer(network), 2)
    try:
        assert report_one.writer_peak_mb is None
        assert report_two.writer_peak_mb is not None
        assert report_two.writer_peak_mb > 0
        assert report_two.objects == report_one.objects == len(network)
        assert _state(two) == _state(one)
        [revision] = [r for r in two.revisions() if r.rev == report_two.revision]
        assert (revision.source, revision.author) == ("real", "mirror")
    finally:
        one.close()
        two.close()


def test_an_invalid_object_fails_the_sync_with_its_error_and_writes_nothing(tmp_path: Path) -> None:
    network = _network()
    bad = next(i for i, m in enumerate(network) if m.cls == "NRCellDU" and i > len(network) // 2)
    network[bad].attributes["nRPCI"] = "not a number"
    with pytest.raises(InvalidObject) as raised:
        _sync(tmp_path / "twin.db", Producer(network), 2)
    assert raised.value.dn == network[bad].dn
    assert "nRPCI" in str(raised.value)
    _assert_untouched(tmp_path / "twin.db")


def test_a_writer_that_fails_early_stops_the_reading_with_its_error(tmp_path: Path, monkeypatch: Any) -> None:
    """Small messages and buffer: the writer fails on its first batch of objects (the store validates
    2,000 at a time) while most of the network is still to send."""
    monkeypatch.setattr(writer, "BATCH", 5)
    monkeypatch.setattr(writer, "BUFFER", 2)
    network = _network(60)
    bad = next(i for i, m in enumerate(network) if m.cls == "NRCellDU")
    network[bad].attributes["nRPCI"] = -1
    read: list[int] = []

    class Counting(Producer):
        def iter_subtree(self, root: str, *, scope: str) -> Iterator[Moi]:
            for n, moi in enumerate(super().iter_subtree(root, scope=scope), 1):
                read.append(n)
                yield moi

    with pytest.raises(InvalidObject) as raised:
        _sync(tmp_path / "twin.db", Counting(network), 2)
    assert raised.value.dn == network[bad].dn
    assert len(read) < len(network)  # the reading stopped early
    _assert_untouched(tmp_path / "twin.db")


def test_a_stream_that_breaks_leaves_the_twin_as_it_was(tmp_path: Path) -> None:
    network = _network()
    with pytest.raises(ConnectionError):
        _sync(tmp_path / "twin.db", Producer(network, fail_after=len(network) - 10), 2)
    _assert_untouched(tmp_path / "twin.db")

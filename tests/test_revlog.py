"""The revision log: subscribers reading one revision at once share one read of the store."""

from __future__ import annotations

import asyncio
from typing import Any

from mns.notify.revlog import RevisionLog
from mns.store import Create, SqlStore, Update


def test_concurrent_readers_of_a_revision_share_one_diff(store: SqlStore) -> None:
    store.commit(
        [Create("SubNetwork=1", {}), Create("SubNetwork=1,ManagedElement=1", {"userLabel": "a"})], source="oss"
    )
    rev = store.commit([Update("SubNetwork=1,ManagedElement=1", {"userLabel": "b"})], source="oss").rev
    log = RevisionLog(store)
    diffs: list[tuple[int, int]] = []
    real_diff = store.diff

    def counting_diff(lo: int, hi: int, **kw: Any) -> Any:
        diffs.append((lo, hi))
        return real_diff(lo, hi, **kw)

    store.diff = counting_diff  # type: ignore[method-assign]

    async def read() -> list[str]:
        return [c.dn async for chunk in log.changes(rev) for c in chunk]

    async def many() -> list[list[str]]:
        return await asyncio.gather(*(read() for _ in range(10)))

    results = asyncio.run(many())
    assert results == [["SubNetwork=1,ManagedElement=1"]] * 10
    assert diffs == [(rev - 1, rev)]
    assert asyncio.run(read()) == ["SubNetwork=1,ManagedElement=1"]  # from the cache now
    assert diffs == [(rev - 1, rev)]

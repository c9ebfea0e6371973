"""The revision log as the notifications' outbox: each live revision's changes, read off the event loop.

Every subscriber reads the revisions after its cursor here. Small revisions (a ProvMnS write)
are kept in a bounded cache, so the worker reads each once however many subscribers there are;
a big one (a bulk load) is streamed in chunks from the store each time, so memory stays bounded
whatever a revision holds.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterator, Sequence
from typing import Final

from mns.store.api import LIVE, Change, Revision
from mns.store.sql import SqlStore

CHUNK: Final = 500
"""Changes read from the store per step (one thread hop)."""

SMALL: Final = 2000
"""A revision with at most this many changes is cached."""

CACHE_CHANGES: Final = 5_000
"""Changes the cache holds at the most (oldest revisions go first)."""


def _take(changes: Iterator[Change], n: int) -> list[Change]:
    return list(itertools.islice(changes, n))


class RevisionLog:
    """Revisions and their changes on the live twin, with a cache of the small ones."""

    def __init__(self, store: SqlStore, *, cache_changes: int = CACHE_CHANGES) -> None:
        self.store = store
        self.cache_changes = cache_changes
        self._cache: OrderedDict[int, tuple[Revision, list[Change]]] = OrderedDict()
        self._held = 0
        self._loading: dict[int, asyncio.Future[list[Change] | None]] = {}
        """Revisions being read now: the others wait for that read instead of repeating it."""

    async def head(self) -> int:
        """The live twin's newest revision."""
        return await asyncio.to_thread(self.store.head, LIVE)

    async def revision(self, rev: int) -> Revision:
        """One revision's metadata."""
        cached = self._cache.get(rev)
        if cached is not None:
            return cached[0]
        return await asyncio.to_thread(self.store.revision, rev)

    async def touching(self, after: int, upto: int, classes: Sequence[str]) -> list[int]:
        """The revisions in (after, upto] that created, changed or deleted objects of ``classes``."""
        return await asyncio.to_thread(self.store.revisions_touching, classes, after=after, upto=upto)

    async def changes_of(self, rev: int, classes: Sequence[str]) -> list[Change]:
        """The changes revision ``rev`` made to objects of ``classes`` (one indexed query)."""
        cached = self._cache.get(rev)
        if cached is not None:
            return [c for c in cached[1] if c.cls in classes]
        return await asyncio.to_thread(lambda: list(self.store.diff(rev - 1, rev, classes=classes)))

    async def changes(self, rev: int) -> AsyncGenerator[list[Change], None]:
        """The changes revision ``rev`` made, in key order, in chunks."""
        cached = self._cache.get(rev)
        if cached is not None:
            self._cache.move_to_end(rev)
            yield cached[1]
            return
        loading = self._loading.get(rev)
        if loading is not None:
            # Another subscriber is reading this revision: share its first step.
            try:
                shared = await asyncio.shield(loading)
            except Exception:
                shared = None  # that read failed: this one reads for itself
            if shared is not None:
                if shared:
                    yield shared
                return
        loop = asyncio.get_running_loop()
        mine: asyncio.Future[list[Change] | None] | None = None
        if rev not in self._loading:
            mine = self._loading[rev] = loop.create_future()
        try:
            revision = await self.revision(rev)
        except BaseException as exc:
            self._settle(rev, mine, exc)
            raise
        it = self.store.diff(rev - 1, rev)
        pending: asyncio.Future[list[Change]] | None = None

        async def step(n: int) -> list[Change]:
            nonlocal pending
            pending = loop.run_in_executor(None, _take, it, n)
            # Shielded: a cancelled reader must not leave the diff running while it is closed.
            return await asyncio.shield(pending)

        try:
            try:
                first = await step(SMALL + 1)
            except BaseException as exc:
                self._settle(rev, mine, exc)
                raise
            small = first if len(first) <= SMALL else None
            if small is not None:
                self._remember(rev, revision, small)
            self._settle(rev, mine, small)
            if small is not None:
                if small:
                    yield small
                return
            yield first
            while chunk := await step(CHUNK):
                yield chunk
        finally:
            if pending is not None and not pending.done():
                await asyncio.wait([pending])
            # The diff holds a read transaction until it is closed.
            await loop.run_in_executor(None, it.close)  # type: ignore[attr-defined]

    def _settle(
        self, rev: int, mine: asyncio.Future[list[Change] | None] | None, outcome: list[Change] | BaseException | None
    ) -> None:
        """Hand the first step of a read (the small revision's changes, None when big) to those waiting."""
        if mine is None:
            return
        self._loading.pop(rev, None)
        if mine.done():
            return
        if isinstance(outcome, BaseException):
            mine.set_exception(outcome if isinstance(outcome, Exception) else RuntimeError("read cancelled"))
            mine.exception()  # retrieved: nobody may be waiting
        else:
            mine.set_result(outcome)

    def _remember(self, rev: int, revision: Revision, changes: list[Change]) -> None:
        if rev in self._cache:
            return
        self._cache[rev] = (revision, changes)
        self._held += max(1, len(changes))
        while self._held > self.cache_changes and len(self._cache) > 1:
            _, (_, dropped) = self._cache.popitem(last=False)
            self._held -= max(1, len(dropped))

"""Group commit on the event loop: writes that arrive together share one transaction.

A write handler plans its change set, hands it to the batcher and awaits the outcome. The
batcher commits what has gathered once the loop has handled the requests that were ready
(``call_soon``), all in one transaction with one revision per request (``Store.commit_batch``).
Under load, each transaction commit, the dearest part of a small write, is shared by many
requests; alone, a write waits for nothing but the loop's current turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mns.errors import MnsError
from mns.store.api import CommitJob, CommitResult, Store

GATHER_S = 0.001
"""How long a write waits for others under load (a batch of more than one came before it)."""

MAX_BATCH = 64
"""Change sets committed in one transaction at the most."""


class WriteBatcher:
    """Collects change sets from concurrent requests and commits them in groups."""

    def __init__(self, store: Store, *, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._pending: list[tuple[CommitJob, asyncio.Future[CommitResult]]] = []
        self._scheduled = False
        self._last_batch = 0
        self.on_commit: Callable[[], None] | None = None
        """Called after each group commit (e.g. to wake the notification worker); must not block."""

    async def commit(self, job: CommitJob) -> CommitResult:
        """Commit one change set as a revision; raises its domain error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CommitResult] = loop.create_future()
        self._pending.append((job, future))
        if not self._scheduled:
            self._scheduled = True
            # Under load, wait a moment for the requests already on their way: a larger group
            # shares one synced commit. Alone, a write goes at once.
            if self._last_batch > 1:
                loop.call_later(GATHER_S, self._flush)
            else:
                loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        self._last_batch = len(batch)
        if self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._scheduled = False
        try:
            outcomes = self.store.commit_batch([job for job, _ in batch])
            if self.on_commit is not None:
                self.on_commit()
        except Exception as exc:  # the whole transaction failed: every request learns why
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, MnsError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

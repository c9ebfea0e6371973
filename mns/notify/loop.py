"""What the two notifiers share: an event loop of their own in a thread, and delivery over HTTP.

The CM worker (``mns.notify.delivery``) and the event notifier (``mns.notify.events``) run
the same way, so that no write waits for them and a slow recipient delays nobody but itself:
a thread runs an asyncio loop with one HTTP client for every POST; on it the notifier loads
its subscriptions, then a dispatcher follows what is committed and a flusher saves the cursors
every ``cursor_flush_s``, until ``stop()``: the deliveries are stopped and the cursors saved
once more. ``LoopThread`` is that frame; each notifier fills in what it follows and how it
keeps its cursors. The senders of both POST and retry the same way (``LoopThread.post`` and
``LoopThread.retrying``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, Protocol, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential, wait_random

log = logging.getLogger("mns.notify")

JSON_HEADERS: Final = {"Content-Type": "application/json"}


class LoopSettings(Protocol):
    """The settings the shared frame reads; each notifier's settings have more."""

    @property
    def timeout_s(self) -> float: ...
    @property
    def backoff_initial_s(self) -> float: ...
    @property
    def backoff_max_s(self) -> float: ...
    @property
    def cursor_flush_s(self) -> float: ...


S = TypeVar("S", bound=LoopSettings)


class Rejected(Exception):
    """The recipient answered with a status other than 2xx."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the recipient answered {status}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Done:
    """Marks the end of a batch of notifications in a sender's queue (a revision's, a feed read's).

    The sender has delivered up to ``upto`` once it passes the marker, so that is where its
    cursor may move.
    """

    upto: int


def log_retry(address: str, state: RetryCallState) -> None:
    """Log a failed POST to ``address`` that is tried again."""
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.info(
        "notification to %s failed (%s); attempt %d, next in %.2f s",
        address,
        error,
        state.attempt_number,
        wait,
    )


class LoopThread(ABC, Generic[S]):
    """A notifier on an event loop of its own, in a thread: ``start()`` and ``stop()`` from any thread.

    Subclasses say what they are (``thread_name``, ``what``) and fill in the hooks: the state
    each run starts afresh with, the start-up, the dispatcher, the cursor flush, how their
    deliveries stop, and what ``start`` and ``stop`` do besides (nothing by default).
    """

    thread_name: ClassVar[str]
    """The thread's name, and the prefix of the names of the dispatcher and flusher tasks."""
    what: ClassVar[str]
    """What the notifier is called in the log."""

    def __init__(self, *, settings: S, transport: httpx.AsyncBaseTransport | None) -> None:
        self.settings = settings
        self.transport = transport
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._ready = threading.Event()
        self._client: httpx.AsyncClient | None = None

    # control from other threads -------------------------------------------------------------

    def start(self, *, wait: bool = True) -> None:
        """Start the thread; with ``wait``, return once it has loaded the subscriptions."""
        if self._thread is not None:
            return
        self._started.clear()
        self._ready.clear()
        self._before_start()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        self._started.wait(10)
        if wait:
            self._ready.wait(30)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop delivering, save the cursors and end the thread."""
        thread, loop = self._thread, self._loop
        if thread is None:
            return
        self._before_stop()
        if loop is not None and not loop.is_closed():
            with suppress(RuntimeError):  # the loop ended on its own
                loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """Tell the notifier that something was committed (cheap, from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)

    def _before_start(self) -> None:
        """What ``start`` does besides, before the thread starts (from the caller's thread)."""

    def _before_stop(self) -> None:
        """What ``stop`` does besides, before the loop is told to stop (from the caller's thread)."""

    # the loop -------------------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client every delivery uses."""
        assert self._client is not None, f"{self.what} is not running"
        return self._client

    def spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        """A task of the notifier whose unexpected failure is logged."""
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("%s stopped", self.what)
        finally:
            self._started.set()
            self._ready.set()

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._progress = asyncio.Condition()  # the dispatcher tells the readers it moved on
        self._reset()
        self._loop = asyncio.get_running_loop()
        self._started.set()
        async with httpx.AsyncClient(transport=self.transport, timeout=httpx.Timeout(self.settings.timeout_s)) as c:
            self._client = c
            try:
                await self._startup()
            finally:
                self._ready.set()
            loops = [
                self.spawn(self._dispatch(), f"{self.thread_name}-dispatch"),
                self.spawn(self._flush_loop(), f"{self.thread_name}-cursors"),
            ]
            await self._stopping.wait()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._stop_deliveries()
            await self._flush()
        self._client = None

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cursor_flush_s)
            await self._flush()

    @abstractmethod
    def _reset(self) -> None:
        """Start the run's state afresh (on the loop, before anything else runs on it)."""

    @abstractmethod
    async def _startup(self) -> None:
        """Load the subscriptions and start delivering to them, after their saved cursors."""

    @abstractmethod
    async def _dispatch(self) -> None:
        """Follow what is committed, until cancelled."""

    @abstractmethod
    async def _stop_deliveries(self) -> None:
        """Stop every delivery (at stop, once the dispatcher and the flusher have ended)."""

    @abstractmethod
    async def _flush(self) -> None:
        """Save the cursors that moved."""

    # delivery -------------------------------------------------------------------------------

    async def post(self, address: str, body: bytes) -> None:
        """POST one notification to ``address``; an answer other than 2xx raises ``Rejected``."""
        response = await self.client.post(address, content=body, headers=JSON_HEADERS)
        if not response.is_success:
            raise Rejected(response.status_code)

    def retrying(self, failed: Callable[[RetryCallState], None]) -> AsyncRetrying:
        """How a notification is retried: for as long as it takes, with exponential backoff and jitter.

        ``failed`` is told of each failure before the wait.
        """
        s = self.settings
        return AsyncRetrying(
            wait=wait_exponential(multiplier=s.backoff_initial_s, max=s.backoff_max_s)
            + wait_random(0, s.backoff_initial_s),
            retry=retry_if_exception_type((httpx.HTTPError, Rejected)),
            before_sleep=failed,
        )

"""The event notifier: delivers the events of the feeds (alarms, files, threshold crossings) to their subscribers.

It is the CM worker's (``mns.notify.delivery``) sibling for the notifications that are not CM
changes, with the same guarantees. It runs on an event loop of its own, in a thread, beside
the app, so no write waits for it and a dead or slow recipient delays nobody but itself:

- the dispatcher follows the feeds' heads (woken by ``wake()`` after a commit, and polling
  every ``poll_s`` for writers it is not told about), the NtfSubscriptionControls made through
  the ProvMnS (the revisions that touch that class, one indexed query) and the MnS
  subscriptions (told by the routes, and re-read every ``reload_s``);
- each subscription has, for each feed with a type it takes, a *channel*: a reader that reads
  the feed after the channel's cursor, in position order, and puts the notifications the
  subscription selects into a bounded queue, and a sender that POSTs them one at a time,
  retrying a recipient that fails with exponential backoff and jitter (tenacity) for as long
  as the subscription exists; a batch's marker follows its notifications, and passing it moves
  the cursor;
- the cursors of all channels are saved together every ``cursor_flush_s`` and at stop; on
  start each channel resumes after its saved cursor. A subscription without one (new) starts
  at the feed's head: it receives what happens after it was made.

Delivery is therefore at least once and in order per subscription and feed: after a crash a
recipient may receive again what it got in the last ``cursor_flush_s``, with the same
``notificationId``. The notifications of different feeds to one recipient are independent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from tenacity import RetryCallState

from mns.notify.delivery import NotifySettings
from mns.notify.feeds import Feed
from mns.notify.loop import JSON_HEADERS, Done, LoopThread, Rejected, log_retry
from mns.notify.revlog import RevisionLog
from mns.notify.rules import SUBSCRIPTION
from mns.notify.subscriptions import incarnation, parse_subscription, subscription_dns
from mns.notify.targets import Target, TargetStore, control_key, control_target, mns_target
from mns.store.api import ChangeKind
from mns.store.sql import SqlStore

__all__ = [
    "JSON_HEADERS",
    "Channel",
    "ChannelStatus",
    "EventNotifier",
    "EventSettings",
    "Rejected",
    "event_settings",
]

log = logging.getLogger("mns.notify")


@dataclass(frozen=True, slots=True)
class EventSettings:
    """How events are delivered."""

    sources: frozenset[str] = frozenset({"oss"})
    """Revision sources whose NtfSubscriptionControls are delivered to (as for CM)."""
    poll_s: float = 0.05
    reload_s: float = 1.0
    batch: int = 200
    queue_size: int = 1000
    timeout_s: float = 5.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 30.0
    cursor_flush_s: float = 0.2


def event_settings(notify: NotifySettings) -> EventSettings:
    """The event notifier's settings from the CM worker's: one set of knobs for both."""
    return EventSettings(
        sources=notify.sources,
        poll_s=notify.poll_s,
        queue_size=notify.queue_size,
        timeout_s=notify.timeout_s,
        backoff_initial_s=notify.backoff_initial_s,
        backoff_max_s=notify.backoff_max_s,
        cursor_flush_s=notify.cursor_flush_s,
    )


@dataclass(slots=True)
class ChannelStatus:
    """Where one channel stands (for tests and diagnostics)."""

    built: int
    delivered: int
    queued: int
    sent: int
    failures: int


class Channel:
    """One subscription's delivery of one feed: reader, bounded queue, sender."""

    def __init__(self, notifier: EventNotifier, target: Target, feed: Feed, pos: int, saved: int | None) -> None:
        self.notifier = notifier
        self.target = target
        self.feed = feed
        self.built = self.delivered = pos
        self.saved = saved
        self.sent = self.failures = 0
        self.queue: asyncio.Queue[bytes | Done] = asyncio.Queue(notifier.settings.queue_size)
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start reading and sending."""
        name = f"{self.target.key} {self.feed.name}"
        self.tasks = [
            self.notifier.spawn(self._read(), f"mns-events-read {name}"),
            self.notifier.spawn(self._send(), f"mns-events-send {name}"),
        ]

    async def stop(self) -> None:
        """Stop at once; what was not delivered stays in the feed."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _read(self) -> None:
        n = self.notifier
        while True:
            await n.above(self.feed.name, self.built)
            try:
                events = await asyncio.to_thread(self.feed.read, self.built, n.settings.batch)
            except Exception as exc:  # a store hiccup: read again (same ids) shortly
                log.warning(
                    "reading feed %s after %d for %s failed: %s", self.feed.name, self.built, self.target.key, exc
                )
                await asyncio.sleep(n.settings.backoff_max_s)
                continue
            if not events:  # the head is ahead of what this reader sees yet
                await asyncio.sleep(n.settings.poll_s)
                continue
            for event in events:
                if self._selects(event):
                    await self.queue.put(orjson.dumps(dict(event.body)))
            self.built = events[-1].pos
            await self.queue.put(Done(self.built))

    def _selects(self, event: Any) -> bool:
        try:
            return self.target.selects(event)
        except Exception as exc:  # a filter that cannot evaluate this event: it is not selected
            log.warning(
                "subscription %s cannot test event %d of %s: %s", self.target.key, event.pos, self.feed.name, exc
            )
            return False

    async def _send(self) -> None:
        while True:
            item = await self.queue.get()
            if isinstance(item, Done):
                self.delivered = item.upto
                continue
            await self._deliver(item)
            self.sent += 1

    async def _deliver(self, body: bytes) -> None:
        async for attempt in self.notifier.retrying(self._failed):
            with attempt:
                await self.notifier.post(self.target.address, body)

    def _failed(self, state: RetryCallState) -> None:
        self.failures += 1
        log_retry(self.target.address, state)

    def status(self) -> ChannelStatus:
        """Where it stands."""
        return ChannelStatus(self.built, self.delivered, self.queue.qsize(), self.sent, self.failures)


class EventNotifier(LoopThread[EventSettings]):
    """The event notifier over a store: ``add_feed()`` before ``start()``; the rest from any thread."""

    thread_name = "mns-events"
    what = "the event notifier"

    def __init__(
        self,
        *,
        store: SqlStore,
        settings: EventSettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(settings=settings or EventSettings(), transport=transport)
        self.store = store
        self.feeds: dict[str, Feed] = {}
        self.targets = TargetStore(store.engine)
        self.revlog = RevisionLog(store)
        self.channels: dict[str, dict[str, Channel]] = {}
        self.heads_seen: dict[str, int] = {}
        self.processed = 0
        self._controls: dict[str, int] = {}
        self._dropped: set[str] = set()
        self._unwatch: list[Any] = []

    # control from other threads -------------------------------------------------------------

    def add_feed(self, feed: Feed) -> None:
        """Deliver the events of ``feed`` too (before ``start``)."""
        if feed.name in self.feeds:
            raise ValueError(f"a feed named {feed.name!r} is already registered")
        if self._thread is not None:
            raise RuntimeError(f"feed {feed.name!r} added while the event notifier runs: add feeds before start()")
        self.feeds[feed.name] = feed

    def _before_start(self) -> None:
        """Have the feeds that can tell of their commits wake the notifier."""
        for feed in self.feeds.values():
            watch = getattr(feed, "watch", None)
            if callable(watch):
                self._unwatch.append(watch(self.wake))

    def _before_stop(self) -> None:
        """End the feeds' watches."""
        for unwatch in self._unwatch:
            unwatch()
        self._unwatch = []

    def heads(self) -> dict[str, int]:
        """The position of every feed's newest event, read now (where a new subscription starts)."""
        return {name: feed.head() for name, feed in self.feeds.items()}

    def follow(self, target: Target, cursors: dict[str, int], timeout: float = 5.0) -> None:
        """Start delivering to a subscription just stored, at ``cursors`` (blocking, from any thread)."""
        self._call(self._add(target, {(target.key, f): p for f, p in cursors.items()}), timeout)

    def unfollow(self, key: str, timeout: float = 5.0) -> None:
        """Stop delivering to a subscription at once (blocking, from any thread)."""
        self._call(self._drop(key), timeout)

    def status(self) -> dict[str, dict[str, ChannelStatus]]:
        """Every channel's status, by subscription key and feed."""
        return {k: {f: c.status() for f, c in list(chs.items())} for k, chs in list(self.channels.items())}

    def _call(self, coro: Any, timeout: float) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or not self.running:
            coro.close()  # not running: the next start reads the subscriptions from the store
            return
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        with suppress(FutureTimeout):
            future.result(timeout)

    # the loop -------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._flushing = asyncio.Lock()
        self.channels, self._controls, self._dropped = {}, {}, set()

    async def _stop_deliveries(self) -> None:
        await asyncio.gather(*(c.stop() for chs in self.channels.values() for c in chs.values()))

    async def above(self, feed: str, pos: int) -> None:
        """Wait until the head of ``feed`` is past ``pos``."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.heads_seen.get(feed, 0) > pos)

    # subscriptions --------------------------------------------------------------------------

    async def _startup(self) -> None:
        await asyncio.to_thread(self.targets.create)
        self.heads_seen = await asyncio.to_thread(self.heads)
        self.processed = await self.revlog.head()
        saved = await asyncio.to_thread(self.targets.cursors)
        for target in await asyncio.to_thread(self._mns_targets):
            await self._add(target, saved)
        for target in await asyncio.to_thread(self._control_targets):
            await self._add(target, saved)
        stale = {key for key, _ in saved} - set(self.channels)
        await asyncio.to_thread(self.targets.forget, stale)

    def _mns_targets(self) -> list[Target]:
        out = []
        for row in self.targets.subscriptions():
            try:
                out.append(mns_target(row.service, row.id, row.body))
            except Exception as exc:  # stored by an older version, say: kept, not delivered to
                log.warning("subscription %s of %s is unusable: %s", row.id, row.service, exc)
        return out

    def _control_targets(self) -> list[Target]:
        """The NtfSubscriptionControls made through the ProvMnS that take event types."""
        out = []
        for dn in subscription_dns(store=self.store):
            found = incarnation(store=self.store, dn=dn)
            if found is None or found.created.source not in self.settings.sources:
                continue
            self._controls[dn] = found.created.rev
            sub = parse_subscription(dn, found.versions[-1].attrs or {})
            target = control_target(sub, found.created.rev) if sub is not None else None
            if target is not None:
                out.append(target)
        return out

    async def _add(self, target: Target, saved: dict[tuple[str, str], int]) -> None:
        """Channels for ``target`` at its saved cursors (the feed's head where it has none)."""
        if target.key in self.channels:
            await self._drop(target.key, forget=False)
        chans = {}
        for name, feed in self.feeds.items():
            if not target.types & feed.types:
                continue
            pos = saved.get((target.key, name))
            start = pos if pos is not None else self.heads_seen.get(name, 0)
            chans[name] = Channel(self, target, feed, start, pos)
        self.channels[target.key] = chans
        self._dropped.discard(target.key)
        for channel in chans.values():
            channel.start()

    async def _drop(self, key: str, *, forget: bool = True) -> None:
        chans = self.channels.pop(key, None)
        if chans is None:
            return
        await asyncio.gather(*(c.stop() for c in chans.values()))
        if forget:
            self._dropped.add(key)
        async with self._flushing:  # a flush under way may still be saving its cursor: let it end
            pass

    async def _replace(self, target: Target) -> None:
        """A redefined subscription: its channels start again where they had delivered."""
        old = self.channels.get(target.key, {})
        saved = {(target.key, f): c.delivered for f, c in old.items()}
        await self._add(target, saved)

    # following the feeds and the subscriptions ----------------------------------------------

    async def _dispatch(self) -> None:
        reloaded = time.monotonic()
        while True:
            self._wake.clear()
            try:
                await self._poll_heads()
                await self._follow_controls()
                if time.monotonic() - reloaded >= self.settings.reload_s:
                    reloaded = time.monotonic()
                    await self._reload()
            except Exception as exc:  # a store hiccup: the notifier lives on and tries again shortly
                log.warning("following the feeds and subscriptions failed: %s", exc)
            with suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_s):
                    await self._wake.wait()

    async def _poll_heads(self) -> None:
        heads = await asyncio.to_thread(self.heads)
        if heads != self.heads_seen:
            async with self._progress:
                self.heads_seen = heads
                self._progress.notify_all()

    async def _follow_controls(self) -> None:
        head = await self.revlog.head()
        if head <= self.processed:
            return
        for rev in await self.revlog.touching(self.processed, head, (SUBSCRIPTION,)):
            revision = await self.revlog.revision(rev)
            for change in await self.revlog.changes_of(rev, (SUBSCRIPTION,)):
                await self._control_changed(change.dn, change.kind, change.after, rev, revision.source)
            self.processed = rev
        self.processed = head

    async def _control_changed(
        self, dn: str, kind: ChangeKind, attrs: dict[str, Any] | None, rev: int, source: str
    ) -> None:
        created = self._controls.get(dn)
        if kind is ChangeKind.DELETED:
            self._controls.pop(dn, None)
            if created is not None:
                await self._drop(control_key(dn, created))
            return
        if kind is ChangeKind.CREATED:
            if source not in self.settings.sources:
                return
            created = self._controls[dn] = rev
        if created is None:
            return
        sub = parse_subscription(dn, attrs or {})
        target = control_target(sub, created) if sub is not None else None
        key = control_key(dn, created)
        if target is None:
            await self._drop(key)
        elif key in self.channels:
            await self._replace(target)
        else:
            await self._add(target, {})

    async def _reload(self) -> None:
        """Follow the MnS subscriptions table (the routes tell us at once; this catches the rest)."""
        targets = {t.key: t for t in await asyncio.to_thread(self._mns_targets)}
        mine = {k for k in self.channels if not k.startswith("ntf ")}
        for key in mine - set(targets):
            await self._drop(key)
        new = set(targets) - mine
        if new:
            saved = await asyncio.to_thread(self.targets.cursors)
            for key in sorted(new):
                await self._add(targets[key], saved)

    # cursors --------------------------------------------------------------------------------

    async def _flush(self) -> None:
        async with self._flushing:
            moved = {
                (key, name): c.delivered
                for key, chans in list(self.channels.items())
                for name, c in chans.items()
                if c.delivered != c.saved
            }
            dropped, self._dropped = self._dropped, set()
            try:
                await asyncio.to_thread(self.targets.save, moved)
                await asyncio.to_thread(self.targets.forget, dropped - set(self.channels))
            except Exception as exc:  # the store is unwell; the next flush tries again
                log.warning("saving the event cursors failed: %s", exc)
                self._dropped |= dropped
                return
            for (key, name), pos in moved.items():
                channel = self.channels.get(key, {}).get(name)
                if channel is not None and channel.delivered >= pos:
                    channel.saved = pos

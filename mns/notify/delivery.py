"""The notification worker: reads the revision log and POSTs notifications to each subscription's recipient.

It runs on an event loop of its own, in a thread, beside the app: a ProvMnS write never waits
for it, and a dead or slow recipient delays nobody but itself. Its parts:

- the dispatcher follows the live twin's head (woken by ``wake()`` after a commit, and polling
  every ``poll_s`` for writers it is not told about), reads each new revision once and acts on
  the subscriptions and HeartbeatControls it changed: a subscription made through the ProvMnS
  gets a subscriber; a changed one is redefined from the next revision on (its address at
  once); a deleted one is dropped with what it had not received;
- each subscriber builds the notifications of the revisions after its cursor, in revision
  order, into a bounded queue, and sends them one at a time, retrying a recipient that fails
  with exponential backoff and jitter (tenacity), for as long as the subscription exists;
  a revision's marker follows its notifications, and passing it moves the cursor;
- the cursors of all subscribers are saved together every ``cursor_flush_s`` and at stop; on
  start each subscriber resumes after its saved cursor, rebuilding what it had not received
  from the stored revisions, with the same notification ids.

Delivery is therefore at least once: after a crash a recipient may receive again what it got
in the last ``cursor_flush_s`` (or the rest of a revision it was receiving), in order and with
the ids it had, so it can recognise them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import orjson
from tenacity import RetryCallState

from mns.errors import MnsError
from mns.notify.build import (
    CHANGES,
    MAX_MOI_CHANGES,
    Context,
    heartbeat_notification,
    moi_change_items,
    moi_changes_notification,
    object_notifications,
)
from mns.notify.cursor import Cursor, CursorStore
from mns.notify.heartbeat import Heartbeat
from mns.notify.lease import lease_table  # noqa: F401  (the store makes the lease table with its own)
from mns.notify.loop import JSON_HEADERS, Done, LoopThread, Rejected, log_retry
from mns.notify.revlog import RevisionLog
from mns.notify.rules import HEARTBEAT_CONTROL, SUBSCRIPTION
from mns.notify.subscriptions import (
    Subscription,
    heartbeat_control,
    incarnation,
    parent_dn,
    parse_heartbeat,
    parse_subscription,
    subscription_dns,
)
from mns.nrm.dn import DN
from mns.store.api import Change, ChangeKind, CommitJob, Op, Revision, TxnView, Update
from mns.store.sql import SqlStore

__all__ = [
    "AUTHOR",
    "CONTROL_CLASSES",
    "JSON_HEADERS",
    "Notifier",
    "NotifySettings",
    "Rejected",
    "Status",
    "Subscriber",
]

log = logging.getLogger("mns.notify")

AUTHOR: Final = "twin-mns notifications"


CONTROL_CLASSES = (SUBSCRIPTION, HEARTBEAT_CONTROL)
"""The classes whose changes steer the worker."""


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """How notifications are made and delivered."""

    prov_root: str = "/ProvMnS/v1800"
    """Prefix of every ``href``: best the absolute URL of the ProvMnS root."""
    system_dn: str | None = None
    """The ``systemDN`` of every notification; None: the root object of the subscription's tree."""
    sources: frozenset[str] = frozenset({"oss"})
    """Revision sources whose subscriptions are delivered to (see ``subscriptions``)."""
    poll_s: float = 0.05
    queue_size: int = 1000
    timeout_s: float = 5.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 30.0
    cursor_flush_s: float = 0.2
    heartbeat_unit_s: float = 1.0
    """Seconds per unit of ``heartbeatNtfPeriod`` (1; tests make periods shorter)."""


@dataclass(slots=True)
class Status:
    """Where one subscriber stands (for tests and diagnostics)."""

    built: int
    delivered: int
    queued: int
    sent: int
    failures: int
    heartbeats: int


@dataclass(eq=False)
class Subscriber:
    """One subscription's reader, bounded queue, sender and heartbeat."""

    notifier: Notifier
    sub: Subscription
    created_rev: int
    built: int
    pending: deque[tuple[int, Subscription]] = field(default_factory=deque)
    delivered: int = 0
    saved: int | None = None
    sent: int = 0
    failures: int = 0
    posting: bool = False
    stopping: bool = False

    def __post_init__(self) -> None:
        self.delivered = self.built
        self.address = self.sub.address
        self.queue: asyncio.Queue[bytes | Done] = asyncio.Queue(self.notifier.settings.queue_size)
        self.heartbeat = Heartbeat(send=self._heartbeat, unit_s=self.notifier.settings.heartbeat_unit_s)
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def dn(self) -> str:
        """The subscription's DN."""
        return self.sub.dn

    def start(self) -> None:
        """Start reading, sending and the heartbeat timer."""
        self.tasks = [
            self.notifier.spawn(self._read(), f"mns-notify-read {self.dn}"),
            self.notifier.spawn(self._send(), f"mns-notify-send {self.dn}"),
        ]
        self.heartbeat.start()

    async def stop(self, grace_s: float = 1.0) -> None:
        """Stop; what was not delivered stays in the revision log.

        A POST in flight (only that one: no other is started) gets up to ``grace_s`` to be
        answered, so that a recipient that got a notification before a clean stop does not get
        it again after the restart (the markers that follow it move the cursor); one that is
        being retried is left to the log.
        """
        self.stopping = True
        reader, *others = self.tasks
        reader.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self.posting and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for task in others:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.heartbeat.stop()

    def redefine(self, rev: int, sub: Subscription) -> None:
        """A new definition for the revisions after ``rev``; a new address at once."""
        self.pending.append((rev, sub))
        self.address = sub.address

    # reading --------------------------------------------------------------------------------

    async def _read(self) -> None:
        n = self.notifier
        while True:
            rev = self.built + 1
            await n.reached(rev)
            while self.pending and self.pending[0][0] < rev:
                self.sub = self.pending.popleft()[1]
            try:
                await self._build(await n.revlog.revision(rev))
            except Exception as exc:  # a store hiccup: build the revision again (same ids) shortly
                log.warning("reading revision %d for %s failed: %s", rev, self.dn, exc)
                await asyncio.sleep(n.settings.backoff_max_s)
                continue
            await self.queue.put(Done(rev))
            self.built = rev

    async def _build(self, revision: Revision) -> None:
        sub, n = self.sub, self.notifier
        ctx = Context(sub.dn, revision, n.settings.prov_root, n.system_dn(sub.dn))
        types = sub.definition.types
        items: list[dict[str, Any]] = []
        async with aclosing(n.revlog.changes(revision.rev)) as chunks:
            async for chunk in chunks:
                for change in chunk:
                    if not sub.selects(change):
                        continue
                    for body in object_notifications(change, ctx=ctx, types=types):
                        await self.queue.put(orjson.dumps(body))
                    if CHANGES in types:
                        items += moi_change_items(change, ctx=ctx, base=sub.base)
                        while len(items) >= MAX_MOI_CHANGES:
                            head, items = items[:MAX_MOI_CHANGES], items[MAX_MOI_CHANGES:]
                            await self.queue.put(orjson.dumps(moi_changes_notification(head, ctx=ctx, base=sub.base)))
        if items:
            await self.queue.put(orjson.dumps(moi_changes_notification(items, ctx=ctx, base=sub.base)))

    # sending --------------------------------------------------------------------------------

    async def _send(self) -> None:
        while True:
            item = await self.queue.get()
            if isinstance(item, Done):
                self.delivered = item.upto
                continue
            if self.stopping:
                await asyncio.Event().wait()  # nothing new is sent once stopping; stop() cancels this
            self.posting = True
            try:
                await self._deliver(item)
            finally:
                self.posting = False
            self.sent += 1

    async def _deliver(self, body: bytes) -> None:
        async for attempt in self.notifier.retrying(self._failed):
            with attempt:
                await self._post(body)

    async def _post(self, body: bytes) -> None:
        await self.notifier.post(self.address, body)

    def _failed(self, state: RetryCallState) -> None:
        self.failures += 1
        log_retry(self.address, state)

    async def _heartbeat(self, control: str, period: int) -> None:
        n = self.notifier
        n.heartbeats += 1
        body = heartbeat_notification(
            subscription=self.dn,
            control=control,
            period=period,
            prov_root=n.settings.prov_root,
            system_dn=n.system_dn(self.dn),
            when=datetime.now(UTC),
            seq=n.heartbeats,
        )
        await self._post(orjson.dumps(body))

    def status(self) -> Status:
        """Where it stands."""
        return Status(self.built, self.delivered, self.queue.qsize(), self.sent, self.failures, self.heartbeat.sent)


class Notifier(LoopThread[NotifySettings]):
    """The notification worker over a store: ``start()`` and ``stop()`` from any thread."""

    thread_name = "mns-notify"
    what = "the notification worker"

    def __init__(
        self,
        *,
        store: SqlStore,
        settings: NotifySettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(settings=settings or NotifySettings(), transport=transport)
        self.store = store
        self.revlog = RevisionLog(store)
        self.cursors = CursorStore(store.engine)
        self.subscribers: dict[str, Subscriber] = {}
        self.foreign: set[str] = set()
        self.processed = 0
        self.heartbeats = 0
        self._dropped: set[str] = set()

    # control from other threads -------------------------------------------------------------

    def status(self) -> dict[str, Status]:
        """Every subscriber's status, by subscription DN."""
        return {dn: s.status() for dn, s in list(self.subscribers.items())}

    # the loop -------------------------------------------------------------------------------

    def system_dn(self, subscription: str) -> str:
        """The systemDN of the notifications of ``subscription``."""
        if self.settings.system_dn is not None:
            return self.settings.system_dn
        return str(DN(DN.parse(subscription).rdns[:1]))

    def _reset(self) -> None:
        self.subscribers, self.foreign, self._dropped, self.processed = {}, set(), set(), 0

    async def _stop_deliveries(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.subscribers.values()))

    async def reached(self, rev: int) -> None:
        """Wait until the dispatcher has seen revision ``rev``."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.processed >= rev)

    # start-up -------------------------------------------------------------------------------

    async def _startup(self) -> None:
        await asyncio.to_thread(self.cursors.create)
        head = self.processed = await self.revlog.head()
        saved = await asyncio.to_thread(self.cursors.load)
        for dn in await asyncio.to_thread(subscription_dns, store=self.store):
            await self._resume(dn, saved, head)
        stale = set(saved) - set(self.subscribers)
        await asyncio.to_thread(self.cursors.delete, stale)

    async def _resume(self, dn: str, saved: dict[str, Cursor], head: int) -> None:
        """A subscriber for an existing subscription, after its saved cursor (or its creation)."""
        found = await asyncio.to_thread(incarnation, store=self.store, dn=dn)
        if found is None:
            return
        if found.created.source not in self.settings.sources:
            self.foreign.add(dn)
            return
        created = found.created.rev
        cursor = saved.get(dn)
        start = cursor.rev if cursor is not None and cursor.created_rev == created else created
        start = max(created, min(start, head))
        if parse_subscription(dn, found.versions[-1].attrs or {}) is None:
            log.warning("subscription %s is unusable; nothing is delivered for it", dn)
            return
        later = [(rev, parse_subscription(dn, attrs)) for rev, attrs in found.after(start)]
        first = parse_subscription(dn, found.at(start) or {})
        if first is None:  # usable only from a later version on: start there
            start, first = next((rev, sub) for rev, sub in later if sub is not None)
        subscriber = Subscriber(self, first, created, start)
        subscriber.pending.extend((rev, sub) for rev, sub in later if rev > start and sub is not None)
        subscriber.saved = start if cursor is not None and cursor.rev == start else None
        await self._add(subscriber)
        control = await asyncio.to_thread(heartbeat_control, store=self.store, dn=dn)
        if control is not None:
            self._heartbeat_changed(subscriber, control[0], control[1])

    async def _add(self, subscriber: Subscriber) -> None:
        current = self.subscribers.get(subscriber.dn)
        if current is not None:
            if current.created_rev == subscriber.created_rev:
                return  # a revision read again after a store error: already done
            await self._drop(current.dn)
        self.subscribers[subscriber.dn] = subscriber
        self._dropped.discard(subscriber.dn)
        subscriber.start()

    async def _drop(self, dn: str) -> None:
        subscriber = self.subscribers.pop(dn, None)
        if subscriber is not None:
            self._dropped.add(dn)
            await subscriber.stop()

    # following the head ---------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            self._wake.clear()
            head = self.processed
            try:
                head = await self.revlog.head()
                if self.processed < head:
                    # One indexed query finds the revisions that touched subscriptions; the
                    # others need no look at all.
                    touched = await self.revlog.touching(self.processed, head, CONTROL_CLASSES)
                    for rev in touched:
                        await self._control(rev)
                        async with self._progress:
                            self.processed = rev
                            self._progress.notify_all()
                    async with self._progress:
                        self.processed = head
                        self._progress.notify_all()
            except Exception as exc:  # a store hiccup: the worker lives on and tries again shortly
                log.warning("reading the revision log failed: %s", exc)
            if self.processed >= head:
                with suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_s):
                        await self._wake.wait()

    async def _control(self, rev: int) -> None:
        """Act on the subscriptions and HeartbeatControls that revision ``rev`` changed."""
        # Only the control classes: one indexed query, whatever else the revision changed.
        changes = await self.revlog.changes_of(rev, CONTROL_CLASSES)
        if not changes:
            return
        revision = await self.revlog.revision(rev)
        for change in changes:
            if change.cls == SUBSCRIPTION:
                await self._subscription_changed(change, revision)
            elif change.cls == HEARTBEAT_CONTROL:
                parent = parent_dn(change.dn)
                subscriber = self.subscribers.get(parent or "")
                if subscriber is not None:
                    self._heartbeat_changed(subscriber, change.dn, change.after)

    async def _subscription_changed(self, change: Change, revision: Revision) -> None:
        dn, rev = change.dn, revision.rev
        if change.kind is ChangeKind.DELETED:
            self.foreign.discard(dn)
            await self._drop(dn)
            return
        sub = parse_subscription(dn, change.after or {})
        current = self.subscribers.get(dn)
        if change.kind is ChangeKind.CREATED:
            if revision.source not in self.settings.sources:
                self.foreign.add(dn)
            elif sub is None:
                log.warning("subscription %s is unusable; nothing is delivered for it", dn)
            else:
                await self._add(Subscriber(self, sub, rev, rev))
            return
        if current is not None:
            if sub is None:
                log.warning("subscription %s became unusable; delivery stops", dn)
                await self._drop(dn)
            else:
                current.redefine(rev, sub)
            return
        if sub is None or dn in self.foreign:
            return
        found = await asyncio.to_thread(incarnation, store=self.store, dn=dn)
        if found is not None and found.created.source in self.settings.sources:
            await self._add(Subscriber(self, sub, found.created.rev, rev))  # usable from now on

    def _heartbeat_changed(self, subscriber: Subscriber, control: str, attrs: dict[str, Any] | None) -> None:
        period, trigger = parse_heartbeat(attrs)
        subscriber.heartbeat.configure(control if attrs is not None else None, period)
        if trigger:
            subscriber.heartbeat.fire()
            self.spawn(self._reset_trigger(control), f"mns-notify-reset {control}")

    async def _reset_trigger(self, control: str) -> None:
        """Set triggerHeartbeatNtf back to false, as the producer does once it has sent the heartbeat."""

        def plan(view: TxnView) -> list[Op]:
            moi = view.get(control)
            if moi is None or moi.attrs.get("triggerHeartbeatNtf") is not True:
                return []
            return [Update(control, {"triggerHeartbeatNtf": False})]

        job = CommitJob(plan, source="oss", author=AUTHOR, message=f"{control}: heartbeat sent, trigger reset")
        try:
            await asyncio.to_thread(self.store.commit_job, job)
        except MnsError as exc:
            log.warning("could not reset triggerHeartbeatNtf of %s: %s", control, exc)
        self.wake()

    # cursors --------------------------------------------------------------------------------

    async def _flush(self) -> None:
        moved = {
            dn: Cursor(s.created_rev, s.delivered) for dn, s in list(self.subscribers.items()) if s.delivered != s.saved
        }
        dropped, self._dropped = self._dropped, set()
        try:
            await asyncio.to_thread(self.cursors.save, moved)
            await asyncio.to_thread(self.cursors.delete, dropped - set(moved))
        except Exception as exc:  # the store is unwell; the next flush tries again
            log.warning("saving the notification cursors failed: %s", exc)
            self._dropped |= dropped
            return
        for dn, cursor in moved.items():
            subscriber = self.subscribers.get(dn)
            if subscriber is not None and subscriber.created_rev == cursor.created_rev:
                subscriber.saved = cursor.rev

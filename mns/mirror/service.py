"""The mirror: keeps the twin equal to a live TS 28.532 producer (a network, a vendor's EMS, ``mns sim``).

It runs beside the twin's app (``mns serve --mirror URL``, ``mns mirror``) as one worker thread
that does everything that writes, in order, plus a watcher that only looks:

1. **Subscribe, then copy.** It creates an ``NtfSubscriptionControl`` under the producer's root
   (``notifyMOICreation``, ``notifyMOIDeletion``, ``notifyMOIAttributeValueChanges``, addressed to
   the twin's ``/TwinMnS/v1/mirror/notifications``), and a Fault MnS and a File Data Reporting
   subscription to the same address; then it reads the network (:mod:`mns.mirror.sync`): a full
   sync into an empty twin, a reconciliation into a twin that has a copy. Notifications that
   arrive meanwhile wait in the inbox and are applied after the copy; each carries absolute
   values, so the result is the network's state whatever the interleaving.
2. **Follow.** The receiving endpoint stores each notification in the inbox
   (:mod:`mns.mirror.state`) before it answers, and wakes the worker, which applies CM changes as
   revisions with source ``real`` (several per transaction when many wait), alarms to the alarm
   list and files to PM (:mod:`mns.mirror.events`). Lag (``eventTime`` to applied) is measured.
3. **Notice and repair.** The watcher reads the subscription back every ``watch_s``: a producer
   that forgot it (a restart) gets it again, and a reconciliation with cause
   ``producer-restart`` follows. A notification the twin cannot apply (a change of an object it
   lacks) brings a reconciliation soon after; one runs every ``reconcile_s`` anyway
   (``periodic``) and on demand (``POST /TwinMnS/v1/mirror/reconcile``). Each records what it
   repaired and why (``mirror_drift``): an object is put down to a ``missed-notification``
   unless the twin's copy was changed by someone else (``twin-changed``) or the reconciliation
   followed a restart.
4. **Resume.** Its state (producer, dialect, subscriptions) is saved in the twin's database. A
   twin that restarts finds its subscription still on the producer, applies what waits in the
   inbox and goes on, without reading the network again (the producer redelivers what it could
   not deliver meanwhile); if the subscription is gone, it subscribes again and reconciles.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson

from mns.consumer.client import MnsClient
from mns.consumer.errors import MnsClientError, NotFoundError
from mns.errors import BadRequest, MnsError
from mns.mirror import cm
from mns.mirror.state import MirrorState
from mns.mirror.sync import Reader, SyncReport, full_sync, reconcile, twin_has
from mns.nrm.dn import DN
from mns.store.api import CommitJob, CommitResult
from mns.store.sql import SqlStore

log = logging.getLogger(__name__)

NOTIFICATIONS_PATH: Final = "/TwinMnS/v1/mirror/notifications"
SUBSCRIPTION_ID: Final = "twin-mns-mirror"
CM_NOTIFICATION_TYPES: Final = (cm.CREATION, cm.DELETION, cm.VALUE_CHANGES)
BATCH: Final = 200
LAG_SAMPLES: Final = 2000


@dataclass(frozen=True, slots=True)
class MirrorConfig:
    """What to mirror and how."""

    producer: str
    """The producer's base URL (its MnS live under it, e.g. ``/ProvMnS/v1800``)."""
    recipient: str
    """The twin's base URL as the producer reaches it (notifications go to ``NOTIFICATIONS_PATH`` under it)."""
    roots: tuple[str, ...] = ()
    """The network's root DNs; empty: ask the producer (its ``GET /`` index, as twin-mns producers answer)."""
    twin_root: str = ""
    """The twin's MnS root path (``Settings.root``)."""
    reconcile_s: float = 300.0
    watch_s: float = 10.0
    alarms: bool = True
    pm: bool = True
    token: str | None = None
    verify: bool | str = True
    timeout: float = 30.0
    subscription_id: str = SUBSCRIPTION_ID

    @property
    def endpoint(self) -> str:
        """Where the producer sends notifications."""
        return f"{self.recipient.rstrip('/')}{self.twin_root}{NOTIFICATIONS_PATH}"


@dataclass(slots=True)
class _Counters:
    received: int = 0
    applied: int = 0
    unapplied: int = 0
    heartbeats: int = 0
    producer_restarts: int = 0
    reconciliations: int = 0
    last_received: float | None = None
    last_applied: float | None = None
    lag_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LAG_SAMPLES))


def _event_time(body: dict[str, Any]) -> float | None:
    value = body.get("eventTime")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


class Mirror:
    """The mirror of one producer into ``store``; a Service of the twin's app (``start``/``stop``)."""

    def __init__(
        self,
        store: SqlStore,
        config: MirrorConfig,
        *,
        client_factory: Callable[[], MnsClient] | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.state = MirrorState(store.engine)
        self.canon = cm.Canon()
        self.reader = cm.NotificationReader(self.canon)
        self._client_factory = client_factory or self._default_client
        self._progress = progress
        self.counters = _Counters()
        self.corrections: deque[str] = deque(maxlen=50)
        """What the receiver mended in notifications (sloppy values, VES wrapping), newest last."""
        self.phase = "stopped"
        self.error: str | None = None
        self.roots: tuple[str, ...] = config.roots
        self.dialect: str | None = None
        self.subscriptions: dict[str, str | None] = {}
        self.last_full: SyncReport | None = None
        self.last_reconcile: SyncReport | None = None
        self.objects_read = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._restart_seen = threading.Event()
        self._requests: deque[tuple[str, concurrent.futures.Future[SyncReport]]] = deque()
        self._reconcile_due: float | None = None
        self._reconciled_at = 0.0
        self._threads: list[threading.Thread] = []
        self._writing = threading.Lock()
        """Held while the worker writes into the twin; ``hold()`` takes it to pause the mirror."""
        self.events: Any = None
        """The alarm and PM mirrors (:mod:`mns.mirror.events`), made at start."""

    # -- the service ---------------------------------------------------------------------------

    def _default_client(self) -> MnsClient:
        return MnsClient(
            self.config.producer,
            token=self.config.token,
            verify=self.config.verify,
            timeout=self.config.timeout,
            author="twin-mns mirror",
        )

    def start(self) -> None:
        """Start the worker and the watcher (they connect, subscribe and sync in the background)."""
        if self._threads:
            return
        self._stop.clear()
        self.phase = "starting"
        for target, name in ((self._run, "mns-mirror"), (self._watch, "mns-mirror-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop; the subscriptions stay on the producer (a restarted twin resumes with them)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(30)
        self._threads = []
        self.phase = "stopped"
        while self._requests:
            self._requests.popleft()[1].cancel()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Pause applying while the caller writes (a deployment and its merge); notifications
        keep arriving in the inbox and are applied after, in order."""
        with self._writing:
            yield

    # -- receiving -----------------------------------------------------------------------------

    def receive(self, bodies: list[bytes], corrections: list[str] | None = None) -> None:
        """Store notifications (the endpoint answers once this returns) and wake the worker.

        ``corrections`` says what the receiver had to mend in them (kept for the status).
        """
        if corrections:
            self.corrections.extend(corrections)
            for line in corrections:
                log.info("mirror: a notification was mended: %s", line)
        if not bodies:
            return
        self.state.receive(bodies)
        self.counters.received += len(bodies)
        self.counters.last_received = time.time()
        self._wake.set()

    def request_reconcile(self, cause: str = "on-demand") -> concurrent.futures.Future[SyncReport]:
        """Ask for a reconciliation now; the future gives its report."""
        future: concurrent.futures.Future[SyncReport] = concurrent.futures.Future()
        self._requests.append((cause, future))
        self._wake.set()
        return future

    # -- the worker ----------------------------------------------------------------------------

    def _run(self) -> None:
        client = self._client_factory()
        try:
            while not self._stop.is_set():
                try:
                    with self._writing:
                        self._establish(client)
                    break
                except Exception as exc:  # the producer down, a bad answer: try again, the status says why
                    if not isinstance(exc, MnsClientError | MnsError | OSError):
                        log.exception("mirror: connecting to %s failed", self.config.producer)
                    self._failed(exc)
                    self._stop.wait(min(30.0, max(1.0, self.config.watch_s)))
            while not self._stop.is_set():
                self._wake.wait(0.5)
                self._wake.clear()
                try:
                    with self._writing:
                        self._step(client)
                except (MnsClientError, MnsError, OSError) as exc:
                    self._failed(exc)
                    self._stop.wait(1.0)
                except Exception as exc:  # keep mirroring; the status says what broke
                    log.exception("mirror step failed")
                    self._failed(exc)
                    self._stop.wait(1.0)
        finally:
            client.close()

    def _failed(self, exc: BaseException) -> None:
        self.error = f"{type(exc).__name__}: {exc}"
        log.warning("mirror of %s: %s", self.config.producer, self.error)

    def _step(self, client: MnsClient) -> None:
        self._drain(client)
        if self._restart_seen.is_set():
            self._restart_seen.clear()
            self.counters.producer_restarts += 1
            self._subscribe(client)
            self._reconcile(client, "producer-restart")
        while self._requests:
            cause, future = self._requests.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._reconcile(client, cause))
            except BaseException as exc:
                future.set_exception(exc)
        now = time.time()
        if self._reconcile_due is not None and now >= self._reconcile_due:
            self._reconcile(client, "unapplied-notification")
        elif self.config.reconcile_s > 0 and now - self._reconciled_at >= self.config.reconcile_s:
            self._reconcile(client, "periodic")
        self.error = None

    def _establish(self, client: MnsClient) -> None:
        """Find the roots, subscribe (or resume), and copy the network when needed."""
        self.phase = "connecting"
        if not self.roots:
            self.roots = tuple(self.canon.dn(r) for r in producer_roots(client))
        saved = self.state.load()
        same = saved is not None and saved.get("producer") == self.config.producer
        if same and saved is not None and twin_has(self.store, self.roots) and self._resume(client, saved):
            self.phase = "mirroring"
            self._reconciled_at = time.time()
            return
        self._await_endpoint()
        self._subscribe(client)
        self._setup_events(client)
        if twin_has(self.store, self.roots):
            self._reconcile(client, "twin-restart" if same else "first sync")
        else:
            self._full_sync(client)
        self.phase = "mirroring"

    def _resume(self, client: MnsClient, saved: dict[str, Any]) -> bool:
        """Take up the saved subscriptions if the producer still has them."""
        self.dialect = saved.get("dialect")
        self.subscriptions = dict(saved.get("subscriptions") or {})
        dn = self.subscriptions.get("cm")
        if not dn:
            return False
        try:
            client.get_one(self._wire_dn(dn))
        except NotFoundError:
            return False
        self._setup_events(client)
        self.error = None
        return True

    def _setup_events(self, client: MnsClient) -> None:
        if self.events is None:
            from mns.mirror.events import AlarmMirror
            from mns.mirror.pm import PmMirror

            self.events = (
                AlarmMirror(self.store, canonical_dn=self.canon.dn) if self.config.alarms else None,
                PmMirror(self.store, canonical_dn=self.canon.dn) if self.config.pm else None,
            )

    def _await_endpoint(self, timeout: float = 60.0) -> None:
        """Wait until the twin's receiving endpoint accepts connections (the server binds its socket
        after the app's startup, and a producer may refuse a subscription it cannot reach)."""
        from mns.notify.reach import parse_address

        try:
            host, port = parse_address(self.config.endpoint)
        except MnsError:
            return  # the producer will say what is wrong with the address
        deadline = time.monotonic() + timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=1.0).close()
                return
            except OSError:
                self._stop.wait(0.1)

    def _wire_dn(self, dn: str) -> str:
        if self.dialect == "openapi":
            return self.canon.edge.dn_text(dn, out=True)
        return dn

    def _subscribe(self, client: MnsClient) -> None:
        """Create the CM, alarm and file subscriptions on the producer (again after a restart)."""
        self.phase = "subscribing"
        root = self.roots[0]
        endpoint = self.config.endpoint
        client.create_ntf_subscription(
            self._wire_dn(root),
            self.config.subscription_id,
            endpoint,
            notification_types=CM_NOTIFICATION_TYPES,
        )
        self.subscriptions["cm"] = str(DN.parse(root).child("NtfSubscriptionControl", self.config.subscription_id))
        if self.config.alarms:
            self.subscriptions["fault"] = client.subscribe(endpoint).id
        if self.config.pm:
            self.subscriptions["files"] = client.subscribe_files(endpoint).id
        self._save()

    def _save(self) -> None:
        self.state.save(
            {
                "producer": self.config.producer,
                "roots": list(self.roots),
                "dialect": self.dialect,
                "subscriptions": self.subscriptions,
                "lastFullSync": self.last_full.as_json() if self.last_full else None,
                "lastReconcile": self.last_reconcile.as_json() if self.last_reconcile else None,
            }
        )

    def _progress_of(self, phase: str) -> Callable[[int], None]:
        def report(objects: int) -> None:
            self.objects_read = objects
            if self._progress is not None:
                self._progress(phase, objects)

        return report

    def _full_sync(self, client: MnsClient) -> SyncReport:
        self.phase = "syncing"
        reader = Reader(self.canon)
        report = full_sync(self.store, client, self.roots, reader, progress=self._progress_of("full sync"))
        self.dialect = report.dialect or self.dialect
        self.last_full = report
        if self._progress is not None:
            self._progress("full sync done", report.objects)
        self._reconciled_at = report.finished
        self._sync_events(client)
        self._save()
        return report

    def _reconcile(self, client: MnsClient, cause: str) -> SyncReport:
        """Apply what waits, then compare the whole network with the twin and repair it."""
        self._drain(client)
        self.phase = "reconciling"
        reader = Reader(self.canon)
        try:
            report = reconcile(
                self.store, client, self.roots, reader, cause=cause, progress=self._progress_of("reconcile")
            )
        finally:
            self.phase = "mirroring"
        self.dialect = report.dialect or self.dialect
        self.counters.reconciliations += 1
        if self._progress is not None:
            self._progress(f"reconciliation ({cause}) done", report.objects)
        self._reconcile_due = None
        self._reconciled_at = report.started
        self.last_reconcile = report
        self.state.record_drift(self.counters.reconciliations, report.drift)
        self._sync_events(client)
        self._save()
        return report

    def _sync_events(self, client: MnsClient) -> None:
        """Bring the twin's alarm list equal to the producer's and fetch the PM files it lacks."""
        if self.events is None:
            self._setup_events(client)
        alarms, pm = self.events
        if alarms is not None:
            alarms.full_sync(client.alarms())
        if pm is not None:
            pm.sync_files(client, pm.since())

    # -- applying notifications ----------------------------------------------------------------

    def _drain(self, client: MnsClient) -> None:
        """Apply every waiting notification, oldest first, a batch per transaction."""
        while not self._stop.is_set():
            batch = self.state.pending(BATCH)
            if not batch:
                return
            self._apply(client, batch)
            self.state.done(batch[-1][0])

    def _apply(self, client: MnsClient, batch: list[tuple[int, float, dict[str, Any]]]) -> None:
        jobs: list[CommitJob] = []
        sinks: list[tuple[dict[str, Any], list[cm.Unapplied]]] = []
        for _, _, body in batch:
            ntype = body.get("notificationType")
            if ntype in cm.CM_TYPES:
                unapplied: list[cm.Unapplied] = []
                message = f"mirror: {ntype} {body.get('notificationId', '')}".rstrip()
                jobs.append(
                    CommitJob(cm.Plan(body, self.reader, unapplied), source="real", author="mirror", message=message)
                )
                sinks.append((body, unapplied))
            elif ntype == "notifyHeartbeat":
                self.counters.heartbeats += 1
            else:
                self._apply_event(client, body)
        if jobs:
            results = self.store.commit_batch(jobs)
            now = time.time()
            for (body, unapplied), result in zip(sinks, results, strict=True):
                self._applied(body, unapplied, result, now)

    def _applied(
        self, body: dict[str, Any], unapplied: list[cm.Unapplied], result: CommitResult | MnsError, now: float
    ) -> None:
        when = _event_time(body)
        if isinstance(result, MnsError):
            unapplied.append(cm.Unapplied(result.dn or "?", str(result)))
        if unapplied:
            self.counters.unapplied += 1
            # A change older than the last reconciliation's read is already in the twin.
            if when is None or when >= self._reconciled_at:
                for item in unapplied:
                    log.info("mirror: %s; the tree is reconciled", item)
                if self._reconcile_due is None:
                    self._reconcile_due = now + 1.0
            return
        self.counters.applied += 1
        self.counters.last_applied = now
        if when is not None:
            self.counters.lag_ms.append(max(0.0, (now - when) * 1000.0))

    def _apply_event(self, client: MnsClient, body: dict[str, Any]) -> None:
        if self.events is None:
            return
        alarms, pm = self.events
        ntype = str(body.get("notificationType", ""))
        if ntype.startswith("notifyFile"):
            if pm is not None:
                pm.apply(body, client)
        elif alarms is not None and alarms.apply(body).resync:
            alarms.full_sync(client.alarms())

    # -- the watcher ---------------------------------------------------------------------------

    def _watch(self) -> None:
        client = self._client_factory()
        try:
            while not self._stop.wait(self.config.watch_s):
                dn = self.subscriptions.get("cm")
                if self.phase not in ("mirroring", "reconciling") or not dn:
                    continue
                try:
                    client.get_one(self._wire_dn(dn))
                except NotFoundError:
                    self._restart_seen.set()
                    self._wake.set()
                except MnsClientError as exc:
                    self._failed(exc)
        finally:
            client.close()

    # -- status --------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The ``GET /TwinMnS/v1/mirror`` document."""
        c = self.counters
        lags = list(c.lag_ms)
        return {
            "producer": self.config.producer,
            "roots": list(self.roots),
            "dialect": self.dialect,
            "state": self.phase,
            "error": self.error,
            "subscriptions": self.subscriptions,
            "objectsRead": self.objects_read,
            "lastFullSync": self.last_full.as_json() if self.last_full else None,
            "lastReconcile": self.last_reconcile.as_json() if self.last_reconcile else None,
            "notifications": {
                "received": c.received,
                "applied": c.applied,
                "unapplied": c.unapplied,
                "heartbeats": c.heartbeats,
                "pending": self.state.pending_count(),
                "lastReceived": c.last_received,
                "lastApplied": c.last_applied,
            },
            "lagMs": {
                "samples": len(lags),
                "last": round(lags[-1], 1) if lags else None,
                "p50": _quantile(lags, 0.5),
                "p99": _quantile(lags, 0.99),
            },
            "corrections": list(self.corrections),
            "reconciliations": c.reconciliations,
            "producerRestarts": c.producer_restarts,
            "driftRepaired": self.state.drift_total(),
            "drift": self.state.recent_drift(50),
        }


def producer_roots(client: MnsClient) -> list[str]:
    """The roots a twin-mns producer lists at ``GET /``; other producers need ``roots`` given."""
    import httpx

    from mns.consumer._core import transport_error

    request = client._http.build_request("GET", "/")
    try:
        response = client._http.send(request)
    except httpx.TransportError as exc:
        raise transport_error(exc, request) from exc
    try:
        roots = orjson.loads(response.content).get("roots") if response.status_code == 200 else None
    except (orjson.JSONDecodeError, AttributeError):
        roots = None
    if not isinstance(roots, list) or not roots or not all(isinstance(r, str) for r in roots):
        where = client.settings.base_url
        raise BadRequest(f"the producer at {where} does not list its roots at GET /; give the root DN")
    return roots

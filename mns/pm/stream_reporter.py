"""The twin as a streaming producer: PerfMetricJob objects whose reportingCtrl is a streamTarget.

``StreamReporter`` is a background service. It follows the live twin's ``PerfMetricJob``
objects (the revisions that touch the class, a diff each poll) and keeps one ``JobSender``
per job that is UNLOCKED and has a ``streamTarget`` (stage-2 name; the OpenAPI form nests it
in ``reportingCtrl``, accepted too). The target is the consumer's Streaming Data Reporting MnS
root (``http[s]://host/.../StreamingDataReportingMnS/v1800``; a ``ws[s]://`` scheme is taken
as its HTTP counterpart). A sender:

1. opens a connection: ``POST {target}/connections`` with the twin's DN (the job's root
   object) and one PERFORMANCE stream per ``objectInstances`` entry (``measObjDn``, the job's
   ``performanceMetrics`` in order, ``jobId``);
2. upgrades the connection URI (``Location``) to a WebSocket;
3. sends, as they are committed to the twin's ``PmStore`` (``mns.pm.events``), the
   measurements of the job's objects (``objectInstances``, and the subtrees of
   ``rootObjectInstances``; the job's parent subtree when both are empty), metrics (a metric
   also selects its sub-counters ``metric.x``) and ``granularityPeriod`` as GPB units (``mns.pm.stream_pdsu``), one per
   object and period; an object first seen under a root gets its stream with
   ``POST /connections/{id}/streams`` before its first unit;
4. when the job is deleted, locked or changed, removes its streams from the target
   (``DELETE /connections/{id}/streams``, best effort) and stops (a changed job starts anew);
5. when the target goes away, reconnects with exponential backoff: it reopens the WebSocket of
   the same connection (the target keeps connections and streams), or opens a new connection
   when the target answers the upgrade with 404.

Streaming is best effort (TS 28.532 has no acknowledgement of units). Measurements committed
while the target is unreachable wait in a bounded in-memory queue and are sent after the
reconnection, as is the batch whose sending failed; what can be lost: units the WebSocket
accepted just before the target died (in the socket buffers), batches beyond ``queue_limit``
(the oldest are dropped, with a warning), and what waits in memory when the twin stops. A
retried batch may reach the target twice; measurements are keyed by object, type, period and
end time, so a twin target stores it once.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.frames import CloseCode
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from mns.errors import MnsError
from mns.nrm.dn import SEP, key_to_dn, parent_key, to_key
from mns.pm import events, stream_pdsu
from mns.pm.model import Measurement, is_measurement_type
from mns.pm.store import PmStore
from mns.store.api import ChangeKind
from mns.store.sql import SqlStore

log = logging.getLogger("mns.pm.stream")

JOB_CLASS: Final = "PerfMetricJob"


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How the reporter polls, backs off and buffers."""

    poll: float = 1.0
    """Seconds between looks for PerfMetricJob changes."""
    backoff_min: float = 0.2
    backoff_max: float = 30.0
    queue_limit: int = 10_000
    """Measurement batches a sender keeps while its target is away."""
    timeout: float = 10.0
    """Seconds for each HTTP request and for the WebSocket opening handshake."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a streaming PerfMetricJob asks for."""

    dn: str
    job_id: str
    target: str
    metrics: tuple[str, ...]
    objects: tuple[str, ...]
    """Store keys of objectInstances."""
    roots: tuple[str, ...]
    """Store keys of the subtrees (rootObjectInstances, or the job's parent)."""
    period: int
    producer: str

    def stream_id(self, key: str) -> str:
        """The stream of one measured object: stable and globally unique (a UUID of job and object)."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"twin-mns:{self.dn}|{key_to_dn(key)}").hex[:20].upper()

    def stream_info(self, key: str) -> dict[str, Any]:
        """The ``streamInfo-Type`` of one measured object's stream."""
        perf = {"measObjDn": key_to_dn(key), "performanceMetrics": list(self.metrics), "jobId": self.job_id}
        return {
            "streamType": "PERFORMANCE",
            "serializationFormat": "GPB",
            "streamId": self.stream_id(key),
            "additionalInfo": perf,
        }

    def covers(self, key: str) -> bool:
        """Whether the job measures the object of store key ``key``."""
        return key in self.objects or any(key == r or key.startswith(r + SEP) for r in self.roots)

    def metric_of(self, mtype: str) -> tuple[int, str] | None:
        """(measId, sub-counter) of a measurement type, or None when the job does not ask for it."""
        best: tuple[int, str] | None = None
        for i, metric in enumerate(self.metrics):
            if mtype == metric:
                return i, ""
            if mtype.startswith(metric + ".") and (best is None or len(metric) > len(self.metrics[best[0]])):
                best = (i, mtype[len(metric) + 1 :])
        return best


def job_spec(dn: str, attrs: dict[str, Any]) -> JobSpec | None:
    """The spec of a PerfMetricJob that streams now, or None (no stream target, locked, malformed)."""
    ctrl = attrs.get("reportingCtrl")
    target = attrs.get("streamTarget") or (ctrl.get("streamTarget") if isinstance(ctrl, dict) else None)
    if not isinstance(target, str) or attrs.get("administrativeState", "UNLOCKED") != "UNLOCKED":
        return None
    url = _http_url(target)
    metrics = attrs.get("performanceMetrics")
    if url is None or not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        log.warning("%s: streamTarget %r or performanceMetrics unusable; not streaming", dn, target)
        return None
    try:
        key = to_key(dn)
        objects = tuple(to_key(str(d)) for d in attrs.get("objectInstances") or ())
        roots = tuple(to_key(str(d)) for d in attrs.get("rootObjectInstances") or ())
    except MnsError as exc:
        log.warning("%s: %s; not streaming", dn, exc)
        return None
    if not objects and not roots:
        roots = (parent_key(key) or key,)
    period = attrs.get("granularityPeriod")
    return JobSpec(
        dn=key_to_dn(key),
        job_id=str(attrs.get("jobId") or key_to_dn(key)),
        target=url,
        metrics=tuple(metrics),
        objects=objects,
        roots=roots,
        period=period if isinstance(period, int) else 0,
        producer=key.split(SEP)[0],
    )


def _http_url(target: str) -> str | None:
    for ws, http in (("ws://", "http://"), ("wss://", "https://")):
        if target.startswith(ws):
            target = http + target[len(ws) :]
    if not target.startswith(("http://", "https://")):
        return None
    try:
        httpx.URL(target)
    except (httpx.InvalidURL, ValueError):
        return None
    return target.rstrip("/")


def units(spec: JobSpec, batch: Iterable[Measurement]) -> dict[str, list[stream_pdsu.Unit]]:
    """The job's measurements of ``batch`` as units, by the store key of their object."""
    grouped: dict[tuple[str, int, float], list[stream_pdsu.Result]] = {}
    ends: dict[tuple[str, int, float], Any] = {}
    for m in batch:
        try:
            key = to_key(m.dn)
        except MnsError:
            continue
        metric = spec.metric_of(m.mtype)
        if spec.period and m.period != spec.period:
            continue  # the job reports its own granularity period
        if metric is None or not spec.covers(key) or not is_measurement_type(m.mtype):
            continue  # not the job's, or a name no target would take
        group = (key, m.period, m.end.timestamp())
        ends[group] = m.end
        value, values = _finite(m)
        result = stream_pdsu.Result(metric[0], value, values, metric[1], m.suspect)
        grouped.setdefault(group, []).append(result)
    out: dict[str, list[stream_pdsu.Unit]] = {}
    for (key, period, t), results in grouped.items():
        out.setdefault(key, []).append(
            stream_pdsu.Unit(spec.stream_id(key), ends[(key, period, t)], period, tuple(results))
        )
    return out


def _finite(m: Measurement) -> tuple[float | None, tuple[float, ...] | None]:
    """A measurement's value(s), a value that is not a finite number sent as no value (units carry numbers)."""
    if m.values is not None:
        return (None, m.values) if all(math.isfinite(v) for v in m.values) else (None, None)
    return (m.value, None) if m.value is not None and math.isfinite(m.value) else (None, None)


def ws_url(connection_uri: str) -> str:
    """The WebSocket URL of a connection URI."""
    for http, ws in (("http://", "ws://"), ("https://", "wss://")):
        if connection_uri.startswith(http):
            return ws + connection_uri[len(http) :]
    return connection_uri


@dataclass
class JobSender:
    """Streams one job's measurements to its target, reconnecting with backoff."""

    spec: JobSpec
    settings: StreamSettings
    connected: threading.Event = field(default_factory=threading.Event)
    sent_units: int = 0
    dropped_batches: int = 0
    _queue: queue.Queue[Sequence[Measurement]] = field(init=False)
    _pending: Sequence[Measurement] | None = None
    _location: str = ""
    """The URI of the connection at the target (kept across reconnections while the target knows it)."""
    _registered: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._queue = queue.Queue(maxsize=self.settings.queue_limit)

    def start(self) -> None:
        """Start the sender's thread."""
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.spec.job_id}"[:60], daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread (the WebSocket is closed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.settings.timeout + 5)

    def retire(self) -> None:
        """Stop, and remove the job's streams from the target (best effort: the job is gone or changed)."""
        self.stop()
        if not self._location or not self._registered:
            return
        ids = [self.spec.stream_id(k) for k in sorted(self._registered)]
        try:
            httpx.delete(f"{self._location}/streams", params={"streamIds": ids}, timeout=self.settings.timeout)
        except httpx.HTTPError as exc:
            log.info("stream job %s: could not remove its streams at %s: %s", self.spec.job_id, self._location, exc)

    def offer(self, batch: Sequence[Measurement]) -> None:
        """Queue a committed batch (the oldest is dropped when the queue is full)."""
        while True:
            try:
                self._queue.put_nowait(batch)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped_batches += 1
                    log.warning("stream job %s: queue full, dropped the oldest batch", self.spec.job_id)
                except queue.Empty:
                    pass

    def _run(self) -> None:
        delay = self.settings.backoff_min
        while not self._stop.is_set():
            try:
                self._session()
            except ConnectionClosed as exc:
                self._closed_by_target(exc)
            except (httpx.HTTPError, OSError, MnsError, WebSocketException, TimeoutError) as exc:
                log.info("stream job %s: target %s: %s", self.spec.job_id, self.spec.target, exc)
            except Exception:
                log.exception("stream job %s: unexpected failure", self.spec.job_id)
            if self.connected.is_set():  # it worked for a while: start the backoff afresh
                delay = self.settings.backoff_min
            self.connected.clear()
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.settings.backoff_max)

    def _closed_by_target(self, exc: ConnectionClosed) -> None:
        """A close while sending: refused data is dropped (it would be refused again), a lost stream re-registered."""
        code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd is not None else (None, "")
        log.warning("stream job %s: the target closed the WebSocket: %s %s", self.spec.job_id, code, reason)
        if code in (CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_DATA) and self._pending is not None:
            self._pending = None
            self.dropped_batches += 1
        elif code == CloseCode.POLICY_VIOLATION:
            self._registered = set()  # POST /streams again (the target takes known meta-data again)

    def _session(self) -> None:
        """One WebSocket: reopen the connection of before, or open one; send until stopped or broken."""
        with httpx.Client(timeout=self.settings.timeout) as http:
            ws = self._reopen()
            if ws is None:
                self._location = self._open(http)
                self._registered = set(self.spec.objects)
                ws = connect(ws_url(self._location), open_timeout=self.settings.timeout, close_timeout=2)
            with ws:
                self.connected.set()
                while not self._stop.is_set():
                    batch = self._next()
                    if batch is not None:
                        self._send(http, self._location, ws, self._registered, batch)
                        self._pending = None
                    elif ws.state is not State.OPEN:  # closed while idle: notice now, not at the next send
                        raise ConnectionClosed(ws.protocol.close_rcvd, ws.protocol.close_sent)

    def _open(self, http: httpx.Client) -> str:
        """POST /connections with the streams of the job's objectInstances; the connection URI."""
        spec = self.spec
        body = {"producer": spec.producer, "streams": [spec.stream_info(k) for k in spec.objects]}
        r = http.post(f"{spec.target}/connections", json=body)
        location = r.headers.get("location")
        if r.status_code != 201 or not location:
            log.warning("stream job %s: the target refused the connection: %s", spec.job_id, r.text[:300])
            raise ConnectionError(f"POST /connections answered {r.status_code}: {r.text[:200]}")
        return str(location)

    def _reopen(self) -> ClientConnection | None:
        """The WebSocket of the connection opened before; None when there is none or the target forgot it."""
        if not self._location:
            return None
        try:
            return connect(ws_url(self._location), open_timeout=self.settings.timeout, close_timeout=2)
        except InvalidStatus as exc:
            if exc.response.status_code != 404:
                raise
            self._location = ""
            return None

    def _next(self) -> Sequence[Measurement] | None:
        if self._pending is None:
            try:
                self._pending = self._queue.get(timeout=0.2)
            except queue.Empty:
                return None
        return self._pending

    def _send(
        self,
        http: httpx.Client,
        location: str,
        ws: ClientConnection,
        registered: set[str],
        batch: Sequence[Measurement],
    ) -> None:
        by_object = units(self.spec, batch)
        new = [k for k in by_object if k not in registered]
        if new:
            r = http.post(f"{location}/streams", json=[self.spec.stream_info(k) for k in new])
            if r.status_code != 201:
                log.warning("stream job %s: the target refused its streams: %s", self.spec.job_id, r.text[:300])
                raise ConnectionError(f"POST /streams answered {r.status_code}: {r.text[:200]}")
            registered.update(new)
        for key_units in by_object.values():
            for unit in key_units:
                ws.send(stream_pdsu.encode(unit))
                self.sent_units += 1


class StreamReporter:
    """The background service streaming every live streaming PerfMetricJob (``start()``/``stop()``)."""

    def __init__(self, store: SqlStore, pm: PmStore, settings: StreamSettings | None = None) -> None:
        self.store = store
        self.pm = pm
        self.settings = settings or StreamSettings()
        self.senders: dict[str, JobSender] = {}
        self._rev = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._remove: Any = None

    def start(self) -> None:
        """Follow the PM store and the jobs (the first look happens before returning)."""
        self._stop.clear()
        self._remove = events.add_listener(self._on_batch, store=self.pm)
        self.sync()
        self._thread = threading.Thread(target=self._watch, name="stream-reporter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following and stop every sender."""
        self._stop.set()
        if self._remove is not None:
            self._remove()
        if self._thread is not None:
            self._thread.join(self.settings.poll + 5)
        with self._lock:
            senders, self.senders = list(self.senders.values()), {}
        for s in senders:
            s.stop()

    def sync(self) -> None:
        """Start, restart or stop senders for the PerfMetricJob changes since the last look."""
        head = self.store.head()
        if head == self._rev:
            return
        changes = list(self.store.diff(self._rev, head, classes=[JOB_CLASS]))
        self._rev = head
        for change in changes:
            spec = None if change.kind is ChangeKind.DELETED else job_spec(change.dn, change.after or {})
            self._apply(to_key(change.dn), spec)

    def _apply(self, key: str, spec: JobSpec | None) -> None:
        with self._lock:
            old = self.senders.get(key)
            if old is not None and old.spec == spec:
                return
            if old is not None:
                del self.senders[key]
            if spec is not None:
                sender = JobSender(spec, self.settings)
                self.senders[key] = sender
                sender.start()
        if old is not None:
            old.retire()

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.poll):
            try:
                self.sync()
            except Exception:
                log.exception("stream reporter: reading the PerfMetricJob changes failed")

    def _on_batch(self, batch: Sequence[Measurement]) -> None:
        with self._lock:
            senders = list(self.senders.values())
        for s in senders:
            s.offer(batch)

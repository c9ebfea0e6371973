"""Fault injection for the emulated network: what a real EMS and its network do to a client.

:class:`Faults` holds the settings (changed at run time through the admin endpoint) and the
seeded random source that decides, request by request, which fault strikes; the same seed and
the same sequence of requests give the same faults. Two places apply them:

- :class:`FaultMiddleware`, an ASGI middleware around the sim's app, for every request except
  the admin endpoint's: an added latency (``latencyMs``; the delay is reported in the
  ``X-Sim-Injected-Delay-Ms`` header), a share of requests held ``timeoutHoldS`` seconds (longer
  than a client's timeout, bounded) and then answered 504 without being served
  (``timeoutRate``), a share answered 503 at once (``errorRate``), and the k-th write from now
  (PUT, PATCH, POST or DELETE) answered 500 without being served (``failWriteIn``), so nothing
  changes. Each injected failure is a TS 28.623 ErrorResponse saying it was injected.
- :class:`NotificationTransport`, the httpx transport of the sim's notifiers: a share of the
  outgoing notifications (``dropNotifications``) is never sent and counts as delivered, as if
  lost on the network; the others may be rewritten (the dialect) and are sent.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Final

import httpx
import orjson

from mns.errors import BadRequest

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
Scope = dict[str, Any]

DELAY_HEADER: Final = "x-sim-injected-delay-ms"
FAULT_HEADER: Final = "x-sim-injected-fault"
WRITE_METHODS: Final = frozenset({"PUT", "PATCH", "POST", "DELETE"})
MAX_HOLD_S: Final = 300.0
MAX_LATENCY_MS: Final = 60_000.0


@dataclass(slots=True)
class FaultSettings:
    """The faults in force (the admin endpoint's JSON uses the same names in camelCase)."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_hold_s: float = 30.0
    fail_write_in: int | None = None
    """The k-th write from now fails (1: the next one); None: none."""
    drop_notifications: float = 0.0


_JSON_NAMES: Final = {
    "latency_ms": "latencyMs",
    "error_rate": "errorRate",
    "timeout_rate": "timeoutRate",
    "timeout_hold_s": "timeoutHoldS",
    "fail_write_in": "failWriteIn",
    "drop_notifications": "dropNotifications",
}
_FIELDS: Final = {v: k for k, v in _JSON_NAMES.items()}


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequest(f"fault setting {name}: {value!r} is not a number from {low:g} to {high:g}")
    return float(value)


def _checked(name: str, value: Any) -> Any:
    """A setting's value after checking it; BadRequest naming the setting and the rule."""
    if name in ("errorRate", "timeoutRate", "dropNotifications"):
        return _number(name, value, 0.0, 1.0)
    if name == "latencyMs":
        return _number(name, value, 0.0, MAX_LATENCY_MS)
    if name == "timeoutHoldS":
        return _number(name, value, 0.0, MAX_HOLD_S)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise BadRequest(f"fault setting failWriteIn: {value!r} is not null or a whole number from 1")
    return value


@dataclass(slots=True)
class Counters:
    """What the faults did so far."""

    delayed: int = 0
    timeouts: int = 0
    errors: int = 0
    failed_writes: int = 0
    dropped_notifications: int = 0
    sent_notifications: int = 0


class Faults:
    """The fault settings and the seeded decisions, shared by the middleware and the transport."""

    def __init__(self, settings: FaultSettings | None = None, *, seed: int = 1) -> None:
        self.settings = settings or FaultSettings()
        self.counters = Counters()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        for f in fields(FaultSettings):
            _checked(_JSON_NAMES[f.name], getattr(self.settings, f.name))

    def as_json(self) -> dict[str, Any]:
        """The settings and the counters, as the admin endpoint shows them."""
        with self._lock:
            out: dict[str, Any] = {_JSON_NAMES[k]: v for k, v in asdict(self.settings).items()}
            out["counters"] = {_camel(k): v for k, v in asdict(self.counters).items()}
        return out

    def update(self, body: Any) -> None:
        """Change the settings named in ``body`` (all checked before any changes)."""
        if not isinstance(body, Mapping):
            raise BadRequest("the fault settings must be a JSON object")
        unknown = sorted(set(body) - set(_FIELDS) - {"counters"})
        if unknown:
            raise BadRequest(f"unknown fault settings {', '.join(unknown)}; known: {', '.join(_FIELDS)}")
        checked = {_FIELDS[k]: _checked(k, v) for k, v in body.items() if k != "counters"}
        with self._lock:
            for name, value in checked.items():
                setattr(self.settings, name, value)

    # decisions ------------------------------------------------------------------------------

    def _chance(self, rate: float) -> bool:
        return rate > 0 and (rate >= 1 or self._rng.random() < rate)

    def request_fault(self, method: str) -> tuple[float, str | None]:
        """(latency in seconds, fault to answer with: ``timeout``, ``error``, ``write`` or None)."""
        with self._lock:
            s, c = self.settings, self.counters
            delay = s.latency_ms / 1000.0
            if delay > 0:
                c.delayed += 1
            if self._chance(s.timeout_rate):
                c.timeouts += 1
                return delay, "timeout"
            if self._chance(s.error_rate):
                c.errors += 1
                return delay, "error"
            if method in WRITE_METHODS and s.fail_write_in is not None:
                s.fail_write_in -= 1
                if s.fail_write_in == 0:
                    s.fail_write_in = None
                    c.failed_writes += 1
                    return delay, "write"
            return delay, None

    def drop_notification(self) -> bool:
        """Whether the next outgoing notification is lost."""
        with self._lock:
            dropped = self._chance(self.settings.drop_notifications)
            if dropped:
                self.counters.dropped_notifications += 1
            else:
                self.counters.sent_notifications += 1
            return dropped

    @property
    def hold_s(self) -> float:
        """How long a timed-out request is held."""
        return self.settings.timeout_hold_s


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


_ANSWERS: Final = {
    "timeout": (504, "the emulated network did not answer in time (injected timeout)"),
    "error": (503, "the emulated network is unavailable (injected error)"),
    "write": (500, "the emulated network failed this write and changed nothing (injected write failure)"),
}


async def send_json(send: Callable[[Any], Awaitable[None]], status: int, body: Any, headers: list[Any]) -> None:
    """Answer an ASGI request with a JSON body."""
    raw = orjson.dumps(body)
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": raw})


class FaultMiddleware:
    """Applies the faults in force to every HTTP request, except those ``exempt`` says."""

    def __init__(self, app: ASGIApp, faults: Faults, *, exempt: Callable[[str], bool]) -> None:
        self.app = app
        self.faults = faults
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        """Serve one ASGI event (lifespan and exempt paths pass through untouched)."""
        if scope["type"] != "http" or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        delay, fault = self.faults.request_fault(scope["method"])
        extra: list[tuple[bytes, bytes]] = []
        if delay > 0:
            await asyncio.sleep(delay)
            extra.append((DELAY_HEADER.encode(), str(round(delay * 1000)).encode()))
        if fault == "timeout":
            await asyncio.sleep(self.faults.hold_s)
        if fault is not None:
            status, text = _ANSWERS[fault]
            extra.append((FAULT_HEADER.encode(), fault.encode()))
            await send_json(send, status, {"error": {"errorInfo": text}}, extra)
            return
        if not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_delay(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_delay)


Rewrite = Callable[[bytes], bytes]


class NotificationTransport(httpx.AsyncBaseTransport):
    """The notifiers' transport: drops a share of notifications, rewrites the others, sends them."""

    def __init__(
        self, faults: Faults, *, rewrite: Rewrite | None = None, inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.faults = faults
        self.rewrite = rewrite
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Lose the notification (a 204 no one sent), or send it, rewritten."""
        if self.faults.drop_notification():
            return httpx.Response(204, request=request)
        if self.rewrite is not None:
            body = self.rewrite(await request.aread())
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx.Request(
                request.method, request.url, headers=headers, content=body, extensions=request.extensions
            )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the connections; a notifier started again gets fresh ones."""
        inner, self.inner = self.inner, httpx.AsyncHTTPTransport()
        await inner.aclose()

"""``mns sim``: an emulated vendor RAN management system, a TS 28.532 producer with faults.

The sim is the twin's own producer app (:func:`mns.producers.app.create_app`) over a store of
its own (a SQLite file in a temporary folder by default), so it serves what the twin serves —
ProvMnS with scope, filter and the four PATCH types, NtfSubscriptionControl and CM
notifications, Fault MnS, PM and file reporting — plus what a real network has:

- the generated network of ``gnbs`` and ``seed`` (:mod:`mns.sim.generate`), loaded at start
  with source ``real``, with a few alarms (:func:`mns.fault.demo_alarms`);
- drift (:mod:`mns.sim.drift`): SON PCI changes, cell outages with their alarms, recoveries,
  committed with source ``real`` and notified with ``sourceIndicator`` RESOURCE_OPERATION
  (the sim's writes through ProvMnS are ``oss``: MANAGEMENT_OPERATION). Subscriptions made
  through the sim's ProvMnS are delivered to (``NotifySettings.sources`` = ``oss``, the
  source of the revision that created them); deliveries carry every change in scope,
  whatever its source, so the network's own changes reach them;
- PM counters per cell every granularity period (:mod:`mns.sim.pm`);
- faults (:mod:`mns.sim.faults`) and the dialect edge (:mod:`mns.sim.dialect_edge`).

The sim's own routes (not in ``openapi/``, which documents the twin), outside any fault:

- ``GET /sim/admin/faults``: the fault settings (``latencyMs``, ``errorRate``, ``timeoutRate``,
  ``timeoutHoldS``, ``failWriteIn``, ``dropNotifications``) and ``counters`` of what they did;
- ``PUT /sim/admin/faults``: change some of them (JSON object; a bad value is a 400 and
  changes nothing); answers the new settings;
- ``POST /sim/admin/restart``: a restart that lost its state: every NtfSubscriptionControl is
  deleted without a notification, the Fault MnS / File Data Reporting subscriptions and all
  delivery cursors are forgotten, and the notifiers start afresh;
- ``POST /sim/admin/drift``: take one drift step now; answers the change (or null).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mns.errors import MnsError
from mns.notify.delivery import NotifySettings
from mns.notify.subscriptions import subscription_dns
from mns.producers.app import Settings, create_app
from mns.sim.dialect_edge import DialectEdge, Edge
from mns.sim.drift import Drift
from mns.sim.faults import FaultMiddleware, Faults, FaultSettings, NotificationTransport
from mns.sim.pm import PmTicker
from mns.store.api import Create, Delete
from mns.store.sql import SqlStore

ADMIN: Final = "/sim/admin"
DIALECTS: Final = ("stage2", "openapi")
AUTHOR: Final = "mns sim"

Scope = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What the sim emulates and how it misbehaves."""

    gnbs: int = 2
    seed: int = 1
    root: str = "SubNetwork=RAN"
    dialect: str = "stage2"
    drift_per_min: float = 0.0
    pm_period: int = 900
    time_scale: float = 1.0
    """How much faster than the wall the sim's PM clock runs."""
    pm_backfill_s: float = 0.0
    faults: FaultSettings = field(default_factory=FaultSettings)
    base_url: str = ""
    """Scheme, host and port the sim is reached at (for notification hrefs)."""
    mns_root: str = ""
    prov_version: str = "v1800"
    notify: NotifySettings | None = None
    """Delivery settings (its ``prov_root`` and ``sources`` are the sim's own); None: defaults."""
    check_recipients: bool = True

    @property
    def prov_prefix(self) -> str:
        """The ProvMnS path prefix."""
        return f"{self.mns_root}/ProvMnS/{self.prov_version}"


def load_network(store: SqlStore, config: SimConfig) -> int:
    """Load the generated network and its alarms into an empty store; the revision (0 if not empty)."""
    if store.head() > 0:
        return 0
    from mns.fault import demo_alarms
    from mns.sim.generate import generate_network

    objects = generate_network(config.gnbs, seed=config.seed, root=config.root)
    result = store.commit(
        (Create(o.dn, o.attrs, o.cls) for o in objects),
        source="real",
        author=AUTHOR,
        message=f"emulated network: {config.gnbs} gNBs, seed {config.seed}",
    )
    demo_alarms(store, config.seed)
    return result.rev or 0


class Sim:
    """The emulated network over ``store``: ``asgi`` is the app to serve (lifespan included)."""

    def __init__(self, store: SqlStore, config: SimConfig | None = None) -> None:
        config = config or SimConfig()
        if config.dialect not in DIALECTS:
            raise ValueError(f"dialect {config.dialect!r} is not one of {', '.join(DIALECTS)}")
        self.store = store
        self.config = config
        self.faults = Faults(config.faults, seed=config.seed)  # bad settings fail before any loading
        load_network(store, config)
        notify = replace(
            config.notify or NotifySettings(),
            prov_root=config.base_url + config.prov_prefix,
            sources=frozenset({"oss"}),
        )
        settings = Settings(
            root=config.mns_root,
            prov_version=config.prov_version,
            notify=notify,
            check_recipients=config.check_recipients,
        )
        self.app = create_app(store, settings)
        self.edge = Edge() if config.dialect == "openapi" else None
        rewrite = self.edge.notification if self.edge is not None else None
        self.app.state.notifier.transport = NotificationTransport(self.faults, rewrite=rewrite)
        self.app.state.events.transport = NotificationTransport(self.faults, rewrite=rewrite)
        self.drift = Drift(store=store, per_min=config.drift_per_min, seed=config.seed, on_commit=self.wake)
        self.pm = PmTicker(
            store=store,
            pm_store=self.app.state.pm_store,
            seed=config.seed,
            period=config.pm_period,
            time_scale=config.time_scale,
            backfill_s=config.pm_backfill_s,
        )
        self.app.state.services.extend([self.drift, self.pm])
        self.app.state.sim = self
        inner: Any = self.app
        if self.edge is not None:
            inner = DialectEdge(inner, prov_prefix=config.prov_prefix, edge=self.edge)
        self.asgi = _AdminFirst(FaultMiddleware(inner, self.faults, exempt=is_admin), admin_app(self))

    def wake(self) -> None:
        """Tell the notifiers that the sim committed changes of its own."""
        self.app.state.notifier.wake()
        self.app.state.events.wake()

    def restart(self) -> dict[str, Any]:
        """Forget subscriptions and cursors as an EMS that lost its state (blocking)."""
        notifier, events = self.app.state.notifier, self.app.state.events
        running = notifier.running, events.running
        events.stop()
        notifier.stop()
        dns = subscription_dns(store=self.store)
        rev = None
        if dns:
            ops = [Delete(dn, subtree=True) for dn in dns]
            rev = self.store.commit(ops, source="real", author=AUTHOR, message="restart: subscriptions lost").rev
        forgotten = 0
        for row in events.targets.subscriptions():
            forgotten += events.targets.remove(row.service, row.id)
        notifier.cursors.create()
        notifier.cursors.delete(notifier.cursors.load())
        events.targets.create()
        events.targets.forget({key for key, _ in events.targets.cursors()})
        if running[0]:
            notifier.start()
        if running[1]:
            events.start()
        return {"subscriptionsForgotten": dns, "mnsSubscriptionsForgotten": forgotten, "revision": rev}


def is_admin(path: str) -> bool:
    """Whether a request path is the sim's admin endpoint."""
    return path == ADMIN or path.startswith(ADMIN + "/")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": {"errorInfo": message}}, status)


def admin_app(sim: Sim) -> Starlette:
    """The sim's admin endpoint (see the module doc)."""

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError as exc:
                return _error(400, f"the fault settings are not valid JSON: {exc}")
            try:
                sim.faults.update(body)
            except MnsError as exc:
                return _error(exc.status, f"{exc.message} (rule: {exc.rule})")
        return _json(sim.faults.as_json())

    async def restart(_: Request) -> Response:
        return _json(await asyncio.to_thread(sim.restart))

    async def drift(_: Request) -> Response:
        event = await asyncio.to_thread(sim.drift.step)
        return _json(event.as_json() if event is not None else None)

    return Starlette(
        routes=[
            Route(f"{ADMIN}/faults", faults, methods=["GET", "PUT"]),
            Route(f"{ADMIN}/restart", restart, methods=["POST"]),
            Route(f"{ADMIN}/drift", drift, methods=["POST"]),
        ]
    )


class _AdminFirst:
    """Sends admin requests to the admin app and everything else (lifespan too) to the sim."""

    def __init__(self, app: Any, admin: Starlette) -> None:
        self.app = app
        self.admin = admin

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        if scope["type"] == "http" and is_admin(scope["path"]):
            await self.admin(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def default_state() -> str:
    """A SQLite file in a fresh temporary folder."""
    return str(Path(tempfile.mkdtemp(prefix="mns-sim-")) / "sim.db")

"""The twin's HTTP application: ProvMnS and the twin extensions over one store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from mns.fault.feed import AlarmFeed
from mns.mirror.service import MirrorConfig
from mns.notify.delivery import Notifier, NotifySettings
from mns.notify.events import EventNotifier, event_settings
from mns.pm.store import PmStore
from mns.producers import deployments, errors, fault, gate, mirror, perf, prov, sandboxes, subscriptions, twin
from mns.producers.batch import WriteBatcher
from mns.store.api import Store
from mns.store.sql import SqlStore


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the MnS live: ``{root}/ProvMnS/{version}``; both are configurable."""

    root: str = ""
    prov_version: str = "v1800"
    fault_version: str = "v1800"
    notify: NotifySettings | None = None
    """CM notification delivery; None: defaults, hrefs under ``prov_prefix``."""
    check_recipients: bool = True
    """Refuse a subscription whose new recipient address does not accept a connection now."""
    deliver: bool = True
    """Run the notification workers in this process; False when a worker process delivers
    (``mns.notify.worker``: ``mns serve`` does so, so that delivery does not take the writes' CPU)."""
    mirror: MirrorConfig | None = None
    """Mirror this producer into the twin (``mns.mirror``); None: the twin mirrors nothing."""

    @property
    def prov_prefix(self) -> str:
        """The ProvMnS path prefix."""
        return f"{self.root}/ProvMnS/{self.prov_version}"


class Service(Protocol):
    """A background worker the app starts with its lifespan and stops after it (in reverse order)."""

    def start(self) -> None:
        """Start (may block briefly; runs in a thread)."""

    def stop(self) -> None:
        """Stop, saving what must survive a restart."""


def create_app(store: Store, settings: Settings | None = None) -> FastAPI:
    """A FastAPI app serving ProvMnS and TwinMnS over ``store``."""
    settings = settings or Settings()
    notify = settings.notify or NotifySettings(prov_root=settings.prov_prefix)
    notifier = Notifier(store=store, settings=notify) if isinstance(store, SqlStore) else None
    services: list[Service] = []
    if notifier is not None and settings.deliver:
        services.append(notifier)
    # Alarm, file and threshold notifications (feeds register with app.state.events below).
    events = None
    if isinstance(store, SqlStore):
        events = EventNotifier(store=store, settings=event_settings(notify))
        if settings.deliver:
            services.append(events)
        events.add_feed(AlarmFeed(store, prov_root=notify.prov_root, system_dn=notify.system_dn))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Background workers (notifications, PM jobs...) run beside the app, each on a thread of its own.
        started: list[Service] = []
        try:
            for service in services:
                await asyncio.to_thread(service.start)
                started.append(service)
            yield
        finally:
            for service in reversed(started):
                await asyncio.to_thread(service.stop)

    app = FastAPI(
        lifespan=lifespan,
        title="twin-mns",
        summary="A network digital twin served through 3GPP SA5 management services",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.batcher = WriteBatcher(store)
    if notifier is not None:
        app.state.batcher.on_commit = notifier.wake
    app.state.settings = settings
    app.state.notifier = notifier
    app.state.events = events
    app.state.services = services
    app.state.pm_store = PmStore(store) if isinstance(store, SqlStore) else None
    # Background services beyond the notifiers (started after them, stopped before them), each with
    # what it serves: PM streaming (the StreamingDataReportingMnS target and the PerfMetricJob
    # reporter), threshold monitoring (its alarms and the thresholds feed), and the PM jobs'
    # scheduled file reporting (the files feed: notifyFileReady).
    if app.state.pm_store is not None:
        from mns.pm.threshold import install as install_thresholds
        from mns.producers.streaming import install as install_streaming

        install_streaming(app, services, root=settings.root)
        install_thresholds(app, services, prov_root=notify.prov_root, system_dn=notify.system_dn)
    perf.install_reporting(app, services, prov_root=notify.prov_root, system_dn=notify.system_dn)
    app.state.mirror = None
    if settings.mirror is not None and isinstance(store, SqlStore):
        mirror.install(app, store, settings.mirror)
    # NDT jobs (TS 28.561 NDTJob objects) run in the background: verification, impact prediction.
    from mns.ndt import install as install_ndt

    install_ndt(app, services)
    errors.install(app)
    # ProvMnS first: route matching tries routes in order, and these are the hot ones.
    app.include_router(
        prov.build_router(
            prefix=settings.prov_prefix, branch_of=prov.live, source_of=prov.oss, reach=settings.check_recipients
        )
    )
    app.include_router(twin.build_router(prefix=f"{settings.root}/TwinMnS/v1"))
    app.include_router(sandboxes.build_router(prefix=f"{settings.root}/TwinMnS/v1"))
    app.include_router(gate.build_router(prefix=f"{settings.root}/TwinMnS/v1"))
    app.include_router(mirror.build_router(prefix=f"{settings.root}/TwinMnS/v1"))
    app.include_router(deployments.build_router(prefix=f"{settings.root}/TwinMnS/v1"))
    app.include_router(perf.build_router(root=settings.root))
    app.include_router(fault.build_router(prefix=f"{settings.root}/FaultSupervisionMnS/{settings.fault_version}"))
    app.include_router(
        subscriptions.build_router(
            root=settings.root, fault_version=settings.fault_version, reach=settings.check_recipients
        )
    )

    @app.get(settings.root + "/", include_in_schema=False)
    async def index(request: Request) -> Response:
        body = {
            "service": "twin-mns",
            "ProvMnS": settings.prov_prefix,
            "TwinMnS": f"{settings.root}/TwinMnS/v1",
            "revision": store.head(),
            "roots": [m.dn for m in store.roots()],
        }
        return Response(orjson.dumps(body), media_type="application/json")

    return app

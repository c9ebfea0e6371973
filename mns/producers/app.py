"""The twin's HTTP application: ProvMnS and the twin extensions over one store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from mns.notify.delivery import Notifier, NotifySettings
from mns.producers import errors, fault, perf, prov, twin
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

    @property
    def prov_prefix(self) -> str:
        """The ProvMnS path prefix."""
        return f"{self.root}/ProvMnS/{self.prov_version}"


def create_app(store: Store, settings: Settings | None = None) -> FastAPI:
    """A FastAPI app serving ProvMnS and TwinMnS over ``store``."""
    settings = settings or Settings()
    notify = settings.notify or NotifySettings(prov_root=settings.prov_prefix)
    notifier = Notifier(store=store, settings=notify) if isinstance(store, SqlStore) else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The notification worker runs beside the app, on a loop and thread of its own.
        if notifier is not None:
            await asyncio.to_thread(notifier.start)
        try:
            yield
        finally:
            if notifier is not None:
                await asyncio.to_thread(notifier.stop)

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
    errors.install(app)
    # ProvMnS first: route matching tries routes in order, and these are the hot ones.
    app.include_router(prov.build_router(prefix=settings.prov_prefix, branch_of=prov.live, source_of=prov.oss))
    app.include_router(twin.build_router(prefix=f"{settings.root}/TwinMnS/v1"))
    app.include_router(perf.build_router(root=settings.root))
    app.include_router(fault.build_router(prefix=f"{settings.root}/FaultSupervisionMnS/{settings.fault_version}"))

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

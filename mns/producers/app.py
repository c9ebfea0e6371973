"""The twin's HTTP application: ProvMnS and the twin extensions over one store."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from mns.producers import errors, prov, twin
from mns.producers.batch import WriteBatcher
from mns.store.api import Store


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the MnS live: ``{root}/ProvMnS/{version}``; both are configurable."""

    root: str = ""
    prov_version: str = "v1800"

    @property
    def prov_prefix(self) -> str:
        """The ProvMnS path prefix."""
        return f"{self.root}/ProvMnS/{self.prov_version}"


def create_app(store: Store, settings: Settings | None = None) -> FastAPI:
    """A FastAPI app serving ProvMnS and TwinMnS over ``store``."""
    settings = settings or Settings()
    app = FastAPI(
        title="twin-mns",
        summary="A network digital twin served through 3GPP SA5 management services",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.batcher = WriteBatcher(store)
    app.state.settings = settings
    errors.install(app)
    # ProvMnS first: route matching tries routes in order, and these are the hot ones.
    app.include_router(prov.build_router(prefix=settings.prov_prefix, branch_of=prov.live, source_of=prov.oss))
    app.include_router(twin.build_router(prefix=f"{settings.root}/TwinMnS/v1"))

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

"""``/TwinMnS/v1/mirror``: the mirror's status, reconciliation on demand, and its receiving endpoint.

- ``GET .../mirror``: what the mirror does (state, producer, dialect, subscriptions, last full
  sync and reconciliation, notifications received/applied/pending, lag, drift repaired with the
  newest repaired objects and why); 404 when the twin mirrors nothing.
- ``POST .../mirror/reconcile``: compare network and twin now and repair the twin; answers the
  report and the objects repaired (it waits for the reconciliation).
- ``POST .../mirror/notifications``: where the producer sends its notifications (CM, alarm,
  file, heartbeat): a plain TS 28.532 body, or one wrapped in a VES event or batch as SMOs send
  them (:mod:`mns.mirror.ves`, which also mends sloppy values and says so in the status). They
  are stored before the answer (204), so nothing acknowledged is lost; anything else is a 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from mns.errors import BadRequest, NotFound
from mns.mirror.service import Mirror, MirrorConfig
from mns.mirror.ves import unwrap
from mns.store.sql import SqlStore


def install(
    app: Any, store: SqlStore, config: MirrorConfig, *, progress: Callable[[str, int], None] | None = None
) -> Mirror:
    """Make ``app`` mirror ``config.producer`` into ``store`` (started and stopped with the app's lifespan)."""
    mirror = Mirror(store, config, progress=progress)
    app.state.mirror = mirror
    app.state.services.append(mirror)
    return mirror


def _mirror(request: Request) -> Mirror:
    mirror: Mirror | None = getattr(request.app.state, "mirror", None)
    if mirror is None:
        raise NotFound("this twin mirrors no producer (start it with: mns serve --mirror URL)")
    return mirror


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def build_router(*, prefix: str = "/TwinMnS/v1") -> APIRouter:
    """The mirror's routes under ``prefix``."""
    router = APIRouter()

    @router.get(prefix + "/mirror", operation_id="getMirror", summary="What the mirror does")
    async def status(request: Request) -> Response:
        mirror = _mirror(request)
        return _json(await asyncio.to_thread(mirror.status))

    @router.post(
        prefix + "/mirror/reconcile", operation_id="reconcileMirror", summary="Compare and repair the twin now"
    )
    async def reconcile(request: Request) -> Response:
        mirror = _mirror(request)
        report = await asyncio.wrap_future(mirror.request_reconcile("on-demand"))
        body = report.as_json()
        body["drift"] = [d.as_json() for d in report.drift]
        return _json(body)

    @router.post(prefix + "/mirror/notifications", operation_id="receiveMirrorNotification", summary="Notifications in")
    async def receive(request: Request) -> Response:
        mirror = _mirror(request)
        raw = await request.body()
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the notification is not JSON: {exc}") from exc
        found = unwrap(doc)  # plain, VES-wrapped or a VES batch; BadRequest naming what is wrong
        plain = not found.corrections and len(found.bodies) == 1 and found.bodies[0] == doc
        bodies = [raw] if plain else [orjson.dumps(b) for b in found.bodies]
        await asyncio.to_thread(mirror.receive, bodies, found.corrections)
        return Response(status_code=204)

    return router

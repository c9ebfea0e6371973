"""The deployments of the twin under ``/TwinMnS/v1/deployments``: what each write-back did.

Read-only: a deployment is recorded by the write-back (``mns.consumer.writeback``) in the
twin's database (``mns.store.deployments``); these routes list the newest ones and show one by
id. An unknown id is a 404 ErrorResponse, a bad ``limit`` a 400 (``mns.producers.errors``).
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mns.errors import BadRequest, NotFound
from mns.store.deployments import MAX_LIMIT, Deployments
from mns.store.sql import SqlStore


def _records(request: Request) -> Deployments:
    store = request.app.state.store
    if not isinstance(store, SqlStore):
        raise BadRequest("deployments need the twin's SQL store")
    return Deployments.of(store)


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit {text!r} is not a number from 1 to {MAX_LIMIT}")
    return int(text)


def build_router(*, prefix: str = "/TwinMnS/v1") -> APIRouter:
    """The deployment routes under ``prefix``."""
    router = APIRouter()

    @router.get(prefix + "/deployments", operation_id="getDeployments", summary="The newest deployments")
    async def deployments(request: Request) -> Response:
        limit = _limit(request.query_params.get("limit", "100"))
        records = _records(request)
        found = await run_in_threadpool(records.newest, limit=limit)
        return _json({"deployments": found})

    @router.get(prefix + "/deployments/{deployment_id}", operation_id="getDeployment", summary="One deployment")
    async def deployment(request: Request, deployment_id: str) -> Response:
        records = _records(request)
        found = await run_in_threadpool(records.get, deployment_id)
        if found is None:
            raise NotFound(f"deployment {deployment_id!r} does not exist")
        return _json(found)

    return router

"""Twin extensions under ``/TwinMnS/v1``: history of an object, diffs, revisions."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from mns.errors import BadRequest
from mns.nrm.dn import DN
from mns.producers.errors import REVISION_HEADER
from mns.services.prov import parse_as_of
from mns.store.api import Store


def build_router(*, prefix: str = "/TwinMnS/v1") -> APIRouter:
    """Read-only twin extensions."""
    router = APIRouter()

    def store_of(request: Request) -> Store:
        store: Store = request.app.state.store
        return store

    @router.get(
        prefix + "/history/{dn_path:path}",
        operation_id="getHistory",
        summary="Every version of one object",
    )
    async def history(request: Request, dn_path: str) -> Response:
        store = store_of(request)
        dn = DN.parse(dn_path) if dn_path else None
        if dn is None:
            raise BadRequest("history needs a DN: /TwinMnS/v1/history/SubNetwork=1/...")
        versions = store.history(str(dn))
        body = {"dn": str(dn), "versions": [v.as_dict() for v in versions]}
        return Response(
            orjson.dumps(body),
            media_type="application/json",
            headers={REVISION_HEADER: str(store.head())},
        )

    @router.get(prefix + "/diff", operation_id="getDiff", summary="What changed between two revisions")
    async def diff(request: Request) -> Response:
        store = store_of(request)
        q = request.query_params
        if "from" not in q:
            raise BadRequest("diff needs from= (a revision number or an RFC 3339 time); to= defaults to now")
        f = store.resolve(parse_as_of(q["from"]))
        t = store.resolve(parse_as_of(q.get("to")))
        changes = [c.as_dict() for c in store.diff(f, t)]
        body = {"from": f, "to": t, "changes": changes}
        return Response(orjson.dumps(body), media_type="application/json", headers={REVISION_HEADER: str(t)})

    @router.get(prefix + "/revisions", operation_id="getRevisions", summary="The newest revisions")
    async def revisions(request: Request) -> Response:
        store = store_of(request)
        limit = request.query_params.get("limit", "100")
        if not (limit.isascii() and limit.isdigit()) or not 0 < int(limit) <= 10000:
            raise BadRequest(f"limit {limit!r} is not a number from 1 to 10000")
        revs = [r.as_dict() for r in store.revisions(limit=int(limit))]
        return Response(
            orjson.dumps({"revisions": revs}),
            media_type="application/json",
            headers={REVISION_HEADER: str(store.head())},
        )

    return router

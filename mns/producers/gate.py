"""``/TwinMnS/v1/sandboxes/{id}/verify`` and ``/deploy``: verification reports and the deployment gate.

- ``POST .../verify``: verify the sandbox's change set now (rules over the objects it touches
  and their neighbourhoods, against its base: introduced, fixed, unchanged); the report is
  stored with the sandbox and answered.
- ``GET .../verify``: the sandbox's latest report, with ``stale`` when the sandbox changed since.
- ``POST .../deploy``: deploy through :func:`mns.services.deploy.deploy_sandbox`: 200 with the
  deployment record (``status`` applied, rolled-back or failed), 409 when the twin mirrors no
  network or a rebase meets conflicting edits, 422 when verification has errors or unacknowledged
  warnings. Body (optional): ``{"acknowledge": true}`` or ``{"acknowledge": ["rule@dn", ...]}``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from mns.errors import BadRequest, NotFound
from mns.store.sql import SqlStore

SANDBOX_ID_MAX = 2**31 - 1


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _store(request: Request) -> SqlStore:
    store = request.app.state.store
    if not isinstance(store, SqlStore):
        raise NotFound("this twin's store has no sandboxes")
    return store


def _sandbox_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= SANDBOX_ID_MAX:
        raise NotFound(f"sandbox {text} does not exist")
    return int(text)


async def _acknowledge(request: Request) -> bool | list[str]:
    raw = await request.body()
    if not raw.strip():
        return False
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the deploy request is not JSON: {exc}") from exc
    if not isinstance(body, dict) or set(body) - {"acknowledge"}:
        raise BadRequest('the deploy request is an object with at most "acknowledge"')
    ack = body.get("acknowledge", False)
    if isinstance(ack, bool):
        return ack
    if isinstance(ack, list) and all(isinstance(a, str) for a in ack):
        return list(ack)
    raise BadRequest('"acknowledge" is true, false or a list of warning keys "rule@dn"')


def build_router(*, prefix: str = "/TwinMnS/v1") -> APIRouter:
    """The verification and deployment routes of sandboxes under ``prefix``."""
    router = APIRouter()
    base = prefix + "/sandboxes/{sandbox_id}"

    @router.post(base + "/verify", operation_id="verifySandbox", summary="Verify a sandbox's change set now")
    async def verify(request: Request, sandbox_id: str) -> Response:
        from mns.verify.engine import verify_sandbox
        from mns.verify.reports import latest_report

        store = _store(request)
        branch = _sandbox_id(sandbox_id)
        store.branch(branch)
        await asyncio.to_thread(verify_sandbox, store, branch, save=True)
        found = latest_report(store, branch)
        assert found is not None  # just stored
        return _json(found.as_json())

    @router.get(base + "/verify", operation_id="getSandboxReport", summary="The sandbox's latest report")
    async def latest(request: Request, sandbox_id: str) -> Response:
        from mns.verify.reports import latest_report

        store = _store(request)
        branch = _sandbox_id(sandbox_id)
        store.branch(branch)
        found = latest_report(store, branch)
        if found is None:
            raise NotFound(f"sandbox {branch} has not been verified yet (POST .../verify)")
        return _json(found.as_json())

    @router.post(base + "/deploy", operation_id="deploySandbox", summary="Deploy a verified sandbox")
    async def deploy(request: Request, sandbox_id: str) -> Response:
        from mns.services.deploy import deploy_sandbox

        store = _store(request)
        branch = _sandbox_id(sandbox_id)
        store.branch(branch)
        acknowledge = await _acknowledge(request)
        author = request.headers.get("x-twin-author", "")
        mirror = getattr(request.app.state, "mirror", None)
        record = await asyncio.to_thread(
            deploy_sandbox, store, branch, mirror=mirror, acknowledge=acknowledge, author=author
        )
        return _json(record)

    return router

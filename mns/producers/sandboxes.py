"""Sandboxes of the twin under ``{prefix}/sandboxes`` (``/TwinMnS/v1`` by default).

A sandbox is a branch of the live twin at a revision (``mns.store.branches``): creating one
writes one row, whatever the size of the network. Routes:

- ``POST /sandboxes`` creates one (201, ``Location``), ``GET /sandboxes`` lists them,
  ``GET`` / ``DELETE /sandboxes/{id}`` show or drop one;
- ``GET /sandboxes/{id}/changeset`` renders what the sandbox changed against its base
  (``form=requests|patch|diff``), ``POST`` applies an uploaded change set as one revision;
- ``/sandboxes/{id}/ProvMnS/v1800/{DN}``: the whole ProvMnS router (``mns.producers.prov``)
  mounted on the sandbox, with its own operationIds (``getSandboxMoi``...).

Thin HTTP: parsing and rendering are in ``mns.services.sandbox``. An unknown sandbox is a 404
ErrorResponse on every route; responses about one sandbox carry its head revision in
``X-Twin-Revision``.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mns.errors import BadRequest, MnsError, NotFound, UnsupportedMediaType
from mns.producers import prov
from mns.producers.errors import REVISION_HEADER
from mns.services import sandbox as service
from mns.store.api import Branch, Store

MAX_ID: Final = 2**31 - 1
"""Sandbox ids are 32-bit integers in the store; anything larger names no sandbox."""

MAX_NAME: Final = 200
"""Longest sandbox name (and author) accepted."""

SANDBOX_OPERATIONS: Final = {
    "getMoi": "getSandboxMoi",
    "putMoi": "putSandboxMoi",
    "patchMoi": "patchSandboxMoi",
    "deleteMoi": "deleteSandboxMoi",
}
"""The operationIds of the ProvMnS routes mounted on a sandbox (operationIds are unique per app)."""

_CREATE_KEYS: Final = ("name", "base", "author")


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";")[0].strip().lower()


async def _body(request: Request, *, required: bool) -> Any:
    raw = await request.body()
    if not raw:
        if required:
            raise BadRequest("the request needs a JSON body")
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


def _only(request: Request, *allowed: str) -> None:
    """Refuse query parameters the operation does not take (a misspelt one would be ignored)."""
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
        raise BadRequest(f"unknown query parameter(s) {', '.join(map(repr, unknown))}: {takes}")


def sandbox_id(text: str) -> int:
    """The sandbox id of a path segment; NotFound unless it is a positive 32-bit integer."""
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise NotFound(f"sandbox {text!r} does not exist (sandbox ids are positive integers)")
    return int(text)


def _known(request: Request) -> Branch:
    """The sandbox the path names (404 when unknown); its head goes into error responses too."""
    branch = _store(request).branch(sandbox_id(str(request.path_params.get("sandbox_id", ""))))
    request.state.branch = branch.id
    return branch


def branch_of(request: Request) -> int:
    """The branch of a sandbox ProvMnS request: the sandbox in its path."""
    return _known(request).id


def _described(store: Store, branch: Branch) -> dict[str, Any]:
    return service.sandbox_json(branch, len(store.change_set(branch.id)))


def _create_args(body: Any) -> tuple[str, Any, str | None]:
    if body is None:
        return "", None, None
    if not isinstance(body, dict):
        raise BadRequest("a sandbox is created from a JSON object {name, base, author}, all optional")
    unknown = sorted(set(body) - set(_CREATE_KEYS))
    if unknown:
        raise BadRequest(f"{', '.join(unknown)}: not a member of a sandbox creation (name, base, author)")
    nulls = sorted(k for k in _CREATE_KEYS if k in body and body[k] is None)
    if nulls:
        raise BadRequest(f"{', '.join(nulls)}: null is not a value; leave the member out for its default")
    texts: dict[str, str | None] = {}
    for key in ("name", "author"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_NAME or "\x00" in value):
            raise BadRequest(f"{key} must be a string of at most {MAX_NAME} characters, without NUL")
        texts[key] = value
    return texts["name"] or "", service.parse_base(body.get("base")), texts["author"]


def build_router(*, prefix: str = "/TwinMnS/v1", prov_version: str = "v1800") -> APIRouter:
    """The sandbox routes under ``prefix``, with the sandbox ProvMnS at ``.../ProvMnS/{prov_version}``."""
    router = APIRouter()
    base_path = f"{prefix}/sandboxes"

    @router.post(base_path, operation_id="createSandbox", summary="Create a sandbox of the live twin")
    async def create(request: Request) -> Response:
        _only(request)
        if _media_type(request) not in ("application/json", ""):
            raise UnsupportedMediaType(f"a sandbox is created from application/json, not {_media_type(request)}")
        name, base, author = _create_args(await _body(request, required=False))
        store = _store(request)
        who = author if author is not None else request.headers.get(prov.AUTHOR_HEADER, "")
        branch = await run_in_threadpool(store.create_branch, name=name, base=base, author=who)
        location = f"{base_path}/{branch.id}"
        return _json(service.sandbox_json(branch, 0), 201, {"Location": location})

    @router.get(base_path, operation_id="getSandboxes", summary="Every sandbox")
    async def every(request: Request) -> Response:
        store = _store(request)

        def describe() -> list[dict[str, Any]]:
            return [_described(store, b) for b in store.branches()]

        return _json({"sandboxes": await run_in_threadpool(describe)})

    @router.get(base_path + "/{sandbox_id}", operation_id="getSandbox", summary="One sandbox")
    async def one(request: Request) -> Response:
        branch = _known(request)
        body = await run_in_threadpool(_described, _store(request), branch)
        return _json(body, headers={REVISION_HEADER: str(branch.head_rev)})

    @router.delete(base_path + "/{sandbox_id}", operation_id="deleteSandbox", summary="Delete a sandbox")
    async def drop(request: Request) -> Response:
        branch = _known(request)
        request.state.branch = 0  # it is gone: error responses from here on speak of the live twin
        await run_in_threadpool(_store(request).drop_branch, branch.id)
        return Response(status_code=204)

    @router.get(
        base_path + "/{sandbox_id}/changeset",
        operation_id="getChangeSet",
        summary="What a sandbox changed against its base",
    )
    async def change_set(request: Request) -> Response:
        branch = _known(request)
        _only(request, "form", "base")
        q = request.query_params
        form = q.get("form", "requests")
        if form not in service.FORMS:
            raise BadRequest(f"form {form!r} is not one of {', '.join(service.FORMS)}")
        base = q.get("base")
        if base is not None and form != "patch":
            raise BadRequest("base= sets the root of the paths of form=patch only")
        changes = await run_in_threadpool(_store(request).change_set, branch.id)
        rendered = service.render(changes, form=form, base=base)
        body = {"sandbox": branch.id, "baseRevision": branch.base_rev, "headRevision": branch.head_rev, **rendered}
        return _json(body, headers={REVISION_HEADER: str(branch.head_rev)})

    @router.post(
        base_path + "/{sandbox_id}/changeset",
        operation_id="applyChangeSet",
        summary="Apply a change set to a sandbox as one revision",
    )
    async def upload(request: Request) -> Response:
        branch = _known(request)
        _only(request, "base")
        media = _media_type(request) or "application/json"
        if media not in service.UPLOAD_TYPES:
            raise UnsupportedMediaType(f"a change set is sent as {' or '.join(service.UPLOAD_TYPES)}, not {media}")
        body = await _body(request, required=True)
        parsed = service.parse_upload(body, base=request.query_params.get("base"), media_type=media)
        author = request.headers.get(prov.AUTHOR_HEADER, "")
        try:
            result = await prov.batcher_of(request).commit(parsed.job(sandbox=branch.id, author=author))
        except MnsError as exc:
            raise parsed.explain(exc) from None
        rev = result.revision.rev if result.revision else branch.head_rev
        outcome = {
            "sandbox": branch.id,
            "revision": result.rev,
            "items": len(parsed.steps),
            "created": result.created,
            "replaced": result.replaced,
            "deleted": result.deleted,
            "warnings": {dn: [str(f) for f in found] for dn, found in result.findings.items()},
        }
        return _json(outcome, headers={REVISION_HEADER: str(rev)})

    mounted = prov.build_router(
        prefix=f"{base_path}/{{sandbox_id}}/ProvMnS/{prov_version}",
        branch_of=branch_of,
        source_of=prov.oss,
        reach=False,  # a sandbox delivers no notifications: its subscriptions reach nobody
    )
    for route in mounted.routes:
        if isinstance(route, APIRoute) and route.operation_id in SANDBOX_OPERATIONS:
            route.operation_id = SANDBOX_OPERATIONS[route.operation_id]
    router.include_router(mounted)
    return router

"""Provisioning MnS (TS 28.532) routes: ``{root}/ProvMnS/{version}/{DN as path segments}``.

Thin HTTP: parse the request, call ``mns.services.prov`` or the store, write the response.
Every response carries ``X-Twin-Revision`` (the revision it reflects); objects carry their
``ETag`` (the revision that last changed them); writes honour ``If-Match``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import Response, StreamingResponse

from mns.errors import BadRequest, NotFound, UnsupportedMediaType
from mns.notify.reach import ensure_reachable, parse_address
from mns.nrm.dn import DN, key_to_dn, to_key
from mns.nrm.filter import parse_filter
from mns.nrm.resource import (
    FLAT,
    HIERARCHICAL,
    JSON,
    MEDIA_TYPES,
    Selection,
    attrs_renderer,
    flat,
    hierarchical,
    hierarchical_all,
    parse_resource,
    single,
)
from mns.producers.batch import WriteBatcher
from mns.producers.errors import REVISION_HEADER
from mns.services import prov as service
from mns.store.api import LIVE, CommitJob, CommitResult, Delete, Op, Put, Scope, Store

T = TypeVar("T")

BranchOf = Callable[[Request], int]
"""Which branch a request addresses: the live twin, or a sandbox from the path."""

AUTHOR_HEADER = "X-Twin-Author"


def _identity(name: str) -> str:
    return name


def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header (406 when none fits)."""
    if not accept:
        return JSON
    best: tuple[float, int, str] | None = None
    for i, item in enumerate(accept.split(",")):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        q = 1.0
        for p in parts[1:]:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if media in ("*/*", "application/*"):
            media = JSON
        if media in MEDIA_TYPES and q > 0 and (best is None or q > best[0]):
            best = (q, -i, media)
    if best is None:
        from starlette.exceptions import HTTPException

        raise HTTPException(
            406,
            f"none of the media types in Accept ({accept}) is served; use one of {', '.join(MEDIA_TYPES)}",
        )
    return best[2]


def _json_body(raw: bytes, what: str) -> Any:
    if not raw:
        raise BadRequest(f"{what} needs a request body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


def _media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";")[0].strip().lower()


def _dn(path: str) -> DN:
    if not path:
        raise BadRequest("the URI names no object: append the DN as path segments, e.g. /SubNetwork=1")
    return DN.parse(path)


def _dn_text(path: str) -> str:
    """The canonical comma form of the DN in a request path (no parse in the common case)."""
    if not path:
        raise BadRequest("the URI names no object: append the DN as path segments, e.g. /SubNetwork=1")
    return key_to_dn(to_key(path))


RECIPIENT: Final = "notificationRecipientAddress"


class UnreachableRecipient(BadRequest):
    """A subscription's new recipient address accepts no connection."""

    rule = "subscription-recipient"


def _recipients(body: Any) -> set[str]:
    """The recipient addresses a PUT or PATCH body sets, in any of the body forms."""
    found: set[str] = set()
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            value = node.get(RECIPIENT)
            if isinstance(value, str):
                found.add(value)
            path, value = node.get("path"), node.get("value")
            if isinstance(path, str) and path.endswith("/" + RECIPIENT) and isinstance(value, str):
                found.add(value)  # a JSON patch operation on the attribute itself
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


async def check_recipients(request: Request, raw: bytes, body: Any, dn: str) -> None:
    """Refuse (400, nothing changed) a subscription whose new recipient cannot be reached now.

    Addresses the twin already delivers to, and the one the written object has now, are not
    tried again (a recipient that is down for a while keeps its subscription; delivery retries
    it). The class rule checks the form of the address inside the write; this adds
    reachability, which must not be tried inside it.
    """
    if RECIPIENT.encode() not in raw:
        return
    notifier = getattr(request.app.state, "notifier", None)
    known = {s.address for s in notifier.subscribers.values()} if notifier is not None else set()
    current = await run_in_threadpool(request.app.state.store.get, dn)
    if current is not None and isinstance(current.attrs.get(RECIPIENT), str):
        known.add(current.attrs[RECIPIENT])
    for address in sorted(_recipients(body) - known):
        try:
            parse_address(address)
        except BadRequest:
            continue  # malformed: the class rule refuses it inside the write, naming object and rule
        try:
            await ensure_reachable(address)
        except BadRequest as exc:
            raise UnreachableRecipient(f"{RECIPIENT}: {exc.message}") from None


def build_router(
    *,
    prefix: str,
    branch_of: BranchOf,
    source_of: Callable[[Request], str],
    reach: bool = False,
) -> APIRouter:
    """The ProvMnS routes under ``prefix`` (e.g. ``/ProvMnS/v1800``).

    With ``reach``, a write that sets a subscription's recipient address checks that it can be
    reached (see ``check_recipients``).
    """
    router = APIRouter()

    def store_of(request: Request) -> Store:
        store: Store = request.app.state.store
        return store

    @router.get(prefix + "/{dn_path:path}", operation_id="getMoi", summary="Reads one or multiple resources")
    async def get_moi(request: Request, dn_path: str) -> Response:
        store = store_of(request)
        branch = branch_of(request)
        q = request.query_params
        dn = _dn_text(dn_path)
        media = negotiate(request.headers.get("accept"))
        scope, level = service.parse_scope(q.get("scopeType"), q.get("scopeLevel"))
        filter_ = parse_filter(q["filter"]) if "filter" in q else None
        selection = Selection.parse(q.get("attributes"), q.get("fields"))
        as_of = service.parse_as_of(q.get("asOf"))
        attrs_out = attrs_renderer(selection, None)
        if scope is Scope.BASE_ONLY and filter_ is None and media != FLAT:
            rev, moi = store.read_one(dn, branch=branch, as_of=as_of)
            if moi is None:
                raise NotFound(f"{dn} does not exist at revision {rev}", dn=str(dn))
            headers = {REVISION_HEADER: str(rev), "ETag": f'"{moi.etag}"'}
            return Response(single(moi, attrs_out, _identity), media_type=media, headers=headers)
        rev = store.resolve(as_of, branch=branch)
        headers = {REVISION_HEADER: str(rev)}
        if media != FLAT and filter_ is None and selection.everything and scope.levels(level)[0] == 0:
            # The common subtree read: stream rows straight into the tree.
            rows = store.scan(dn, scope=scope, level=level, branch=branch, as_of=rev)
            first = next(rows)  # NotFound now, before the response starts
            return await _respond(hierarchical_all(_chain(first, rows)), media, headers)
        objects = service.read(store=store, dn=dn, scope=scope, level=level, filter_=filter_, rev=rev, branch=branch)
        write = flat if media == FLAT else hierarchical
        chunks = write(objects, attrs_out, _identity)
        return await _respond(chunks, media, headers)

    @router.put(
        prefix + "/{dn_path:path}",
        operation_id="putMoi",
        summary="Replaces a complete single resource or creates it",
    )
    async def put_moi(request: Request, dn_path: str) -> Response:
        store = store_of(request)
        branch = branch_of(request)
        dn = _dn(dn_path)
        if _media_type(request) not in ("application/json", ""):
            raise UnsupportedMediaType(f"PUT takes application/json, not {_media_type(request)}")
        raw = await request.body()
        body = _json_body(raw, "PUT")
        if reach:
            await check_recipients(request, raw, body, str(dn))
        attrs = parse_resource(body, cls=dn.cls, id_=dn.id, dn=str(dn))
        put = Put(str(dn), attrs, if_match=request.headers.get("if-match"))
        result = await _commit(request, [put], f"PUT {dn}", branch, source_of(request))
        if result.revision is None:
            return Response(status_code=204, headers={REVISION_HEADER: str(store.head(branch))})
        moi = store.get(str(dn), branch=branch, as_of=result.revision.rev)
        assert moi is not None
        headers = {REVISION_HEADER: str(result.revision.rev), "ETag": f'"{moi.etag}"'}
        status = 201 if result.created else 200
        return Response(
            single(moi, attrs_renderer(Selection(), None), _identity),
            status_code=status,
            media_type=JSON,
            headers=headers,
        )

    @router.patch(
        prefix + "/{dn_path:path}",
        operation_id="patchMoi",
        summary="Patches one or multiple resources",
    )
    async def patch_moi(request: Request, dn_path: str) -> Response:
        store = store_of(request)
        branch = branch_of(request)
        dn = _dn_text(dn_path)
        media = _media_type(request)
        if media not in service.PATCH_TYPES:
            raise UnsupportedMediaType(f"PATCH takes {', '.join(service.PATCH_TYPES)}, not {media or 'no media type'}")
        raw = await request.body()
        body = _json_body(raw, "PATCH")
        if reach:
            await check_recipients(request, raw, body, dn)
        result = await _patch(request, store, dn, media, body, branch, source_of(request))
        rev = result.revision.rev if result.revision else store.head(branch)
        headers = {REVISION_HEADER: str(rev)}
        if result.revision and dn in result.replaced + result.created:
            headers["ETag"] = f'"{rev}"'
        return Response(status_code=204, headers=headers)

    @router.delete(
        prefix + "/{dn_path:path}",
        operation_id="deleteMoi",
        summary="Deletes one resource and its subtree",
    )
    async def delete_moi(request: Request, dn_path: str) -> Response:
        store = store_of(request)
        branch = branch_of(request)
        dn = _dn(dn_path)
        delete = Delete(str(dn), subtree=True, if_match=request.headers.get("if-match"))
        result = await _commit(request, [delete], f"DELETE {dn}", branch, source_of(request))
        rev = result.revision.rev if result.revision else store.head(branch)
        return Response(status_code=200, headers={REVISION_HEADER: str(rev)})

    return router


def batcher_of(request: Request) -> WriteBatcher:
    """The app's group-commit batcher."""
    batcher: WriteBatcher = request.app.state.batcher
    return batcher


async def _commit(request: Request, ops: list[Op], message: str, branch: int, source: str) -> CommitResult:
    """Commit operations through the batcher as one revision by the request's author."""
    author = request.headers.get(AUTHOR_HEADER, "")
    job = CommitJob(ops, source=source, author=author, message=message, branch=branch)
    return await batcher_of(request).commit(job)


async def _patch(
    request: Request, store: Store, dn: str, media: str, body: Any, branch: int, source: str
) -> CommitResult:
    """Commit a PATCH through the batcher; it is planned inside the write transaction."""
    job = service.patch_job(
        dn=dn,
        media_type=media,
        body=body,
        if_match=request.headers.get("if-match"),
        branch=branch,
        source=source,
        author=request.headers.get(AUTHOR_HEADER, ""),
    )
    return await batcher_of(request).commit(job)


async def _respond(chunks: Iterator[bytes], media: str, headers: dict[str, str]) -> Response:
    """A plain response when the body fits in the first chunks, else a stream."""
    head: list[bytes] = []
    size = 0
    for chunk in chunks:
        head.append(chunk)
        size += len(chunk)
        if size > 1 << 23:
            break
    else:
        return Response(b"".join(head), media_type=media, headers=headers)

    async def stream() -> Any:
        for chunk in head:
            yield chunk
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk

    return StreamingResponse(stream(), media_type=media, headers=headers)


def _chain(first: T, rest: Iterator[T]) -> Iterator[T]:
    yield first
    yield from rest


def live(_: Request) -> int:
    """Requests on the plain ProvMnS root address the live twin."""
    return LIVE


def oss(_: Request) -> str:
    """Writes through the ProvMnS are made by an OSS."""
    return "oss"


__all__ = ["HIERARCHICAL", "build_router", "live", "negotiate", "oss"]

"""Streaming Data Reporting MnS routes (TS 28.532 clause 11.5): the twin as a streaming target.

``{root}/StreamingDataReportingMnS/{version}`` (the official server URL):

- ``POST /connections`` takes a ``connectionRequest-Type`` and answers 201 with the new
  connection's URI in ``Location``; errors are ``failedConnectionResponse-Type`` bodies naming
  the stream at fault;
- ``GET /connections?connectionIdList=`` lists ``connectionInfo-Type`` (202 when only some of
  the listed ids exist); ``GET /connections/{connectionId}`` reads one, or, with the WebSocket
  upgrade headers, switches to a WebSocket (101) that takes Performance Data Stream Units;
- ``POST``, ``GET`` and ``DELETE /connections/{connectionId}/streams`` add, read and remove
  stream meta-data; ``GET /connections/{connectionId}/streams/{streamId}`` reads one.

A frame the twin cannot take (text, not a GPB unit, an unregistered stream, a measId beyond the
stream's metrics) closes the WebSocket with 1003, 1007 or 1008 and a reason naming the
problem; nothing of that frame is stored. An upgrade of an unknown connection is answered 404.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, FastAPI, Request, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect

from mns.errors import BadRequest, MnsError, NotFound, UnsupportedMediaType
from mns.pm.store import PmStore
from mns.pm.stream_reporter import StreamReporter
from mns.pm.streaming import Stream, StreamRefused, StreamTarget
from mns.producers.errors import error_response
from mns.store.sql import SqlStore

T = TypeVar("T")
JSON = "application/json"
CLOSE_UNSUPPORTED = 1003
CLOSE_INVALID = 1007
CLOSE_POLICY = 1008
_lock = threading.Lock()


def stream_target(app_state: Any) -> StreamTarget:
    """The app's streaming target, made (and its tables created) on first use; BadRequest without a SQL store."""
    target: StreamTarget | None = getattr(app_state, "stream_target", None)
    if target is None:
        with _lock:
            target = getattr(app_state, "stream_target", None)
            if target is None:
                pm = getattr(app_state, "pm_store", None)
                if pm is None:
                    if not isinstance(app_state.store, SqlStore):
                        raise BadRequest("streaming PM data needs the SQL store")
                    pm = app_state.pm_store = PmStore(app_state.store)
                target = StreamTarget(pm)
                app_state.stream_target = target
    return target


def _target(request: Request) -> StreamTarget:
    return stream_target(request.app.state)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def _ids(request: Request, name: str) -> list[str]:
    """A query array in either form: ``a=x&a=y`` or ``a=x,y``."""
    return [i for v in request.query_params.getlist(name) for i in v.split(",") if i]


async def _body(request: Request) -> Any:
    if (request.headers.get("content-type") or "").split(";")[0].strip() != JSON:
        raise UnsupportedMediaType(f"{request.method} {request.url.path} takes application/json")
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


def _reason(text: str) -> str:
    """A close reason within the 123 bytes a close frame allows."""
    data = text.encode()
    return text if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."


def build_router(*, root: str = "", version: str = "v1800") -> APIRouter:
    """The Streaming Data Reporting MnS consumer routes at ``{root}/StreamingDataReportingMnS/{version}``."""
    router = APIRouter()
    prefix = f"{root}/StreamingDataReportingMnS/{version}"

    async def call(fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(fn, *args)

    def uri(request: Request, connection_id: str) -> str:
        return str(request.base_url).rstrip("/") + f"{prefix}/connections/{connection_id}"

    def info(request: Request, cid: str, producer: str, streams: list[str]) -> dict[str, Any]:
        return {"connection": uri(request, cid), "producer": producer, "streams": streams}

    @router.post(prefix + "/connections", operation_id="postConnection", summary="Open a streaming connection")
    async def post_connection(request: Request) -> Response:
        try:
            body = await _body(request)
            cid, _ = await call(_target(request).open_connection, body)
        except (BadRequest, UnsupportedMediaType) as exc:
            entry = {"errorReason": f"{exc.message} (rule: {exc.rule})"}
            if isinstance(exc, StreamRefused):
                entry["streamId"] = exc.stream_id
            return _json({"error": [entry]}, exc.status)
        return Response(status_code=201, headers={"Location": uri(request, cid)})

    @router.get(prefix + "/connections", operation_id="getConnections", summary="Read streaming connections")
    async def get_connections(request: Request) -> Response:
        ids = _ids(request, "connectionIdList")
        found = await call(_target(request).connections, ids or None)
        if ids and not found:
            raise NotFound(f"no streaming connection {', '.join(map(repr, ids))}")
        body = [info(request, cid, p, s) for cid, (p, s) in found.items()]
        return _json(body, 202 if ids and set(ids) - set(found) else 200)

    @router.get(prefix + "/connections/{connectionId}", operation_id="getConnection", summary="Read a connection")
    async def get_connection(request: Request) -> Response:
        cid = request.path_params["connectionId"]
        producer, streams = await call(_target(request).connection, cid)
        return _json(info(request, cid, producer, streams))

    @router.websocket(prefix + "/connections/{connectionId}")
    async def stream_socket(ws: WebSocket) -> None:
        cid = ws.path_params["connectionId"]
        try:
            target = stream_target(ws.app.state)
            await run_in_threadpool(target.connection, cid)
        except MnsError as exc:
            await _deny(ws, exc)
            return
        await ws.accept()
        await _take_units(ws, target, cid)

    def with_reporters(producer: str, s: Stream) -> dict[str, Any]:
        return {"streamInfo": s.info, "reporters": [producer]}

    @router.post(prefix + "/connections/{connectionId}/streams", operation_id="postStreams", summary="Add streams")
    async def post_streams(request: Request) -> Response:
        body = await _body(request)
        added = await call(_target(request).add_streams, request.path_params["connectionId"], body)
        return _json([s.info for s in added], 201)

    @router.get(prefix + "/connections/{connectionId}/streams", operation_id="getStreams", summary="Read streams")
    async def get_streams(request: Request) -> Response:
        cid, ids = request.path_params["connectionId"], _ids(request, "streamIds")
        if not ids:
            raise BadRequest("streamIds is required: the streams to read")
        producer, _ = await call(_target(request).connection, cid)
        found = await call(_target(request).streams, cid, ids)
        if not found:
            raise NotFound(f"connection {cid} has no stream {', '.join(map(repr, ids))}")
        body = [with_reporters(producer, s) for s in found.values()]
        return _json(body, 202 if set(ids) - set(found) else 200)

    @router.delete(
        prefix + "/connections/{connectionId}/streams", operation_id="deleteStreams", summary="Remove streams"
    )
    async def delete_streams(request: Request) -> Response:
        ids = _ids(request, "streamIds")
        await call(_target(request).delete_streams, request.path_params["connectionId"], ids)
        return Response(status_code=204)

    @router.get(
        prefix + "/connections/{connectionId}/streams/{streamId}", operation_id="getStream", summary="Read a stream"
    )
    async def get_stream(request: Request) -> Response:
        cid, sid = request.path_params["connectionId"], request.path_params["streamId"]
        producer, _ = await call(_target(request).connection, cid)
        found = await call(_target(request).streams, cid, [sid])
        if sid not in found:
            raise NotFound(f"connection {cid} has no stream {sid!r}")
        return _json(with_reporters(producer, found[sid]))

    return router


async def _deny(ws: WebSocket, exc: MnsError) -> None:
    """Refuse an upgrade with an HTTP ErrorResponse (or, where the server cannot, a policy close)."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(error_response(exc.status, f"{exc.message} (rule: {exc.rule})"))
    else:
        await ws.close(CLOSE_POLICY, _reason(exc.message))


async def _take_units(ws: WebSocket, target: StreamTarget, cid: str) -> None:
    """Store every unit received until the producer closes, or close on the first bad frame."""
    while True:
        try:
            message = await ws.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes")
        if data is None:
            await ws.close(CLOSE_UNSUPPORTED, "text frame: units are binary GPB PerformanceDataStreamUnit messages")
            return
        try:
            await run_in_threadpool(target.receive, cid, data)
        except NotFound as exc:
            await ws.close(CLOSE_POLICY, _reason(exc.message))
            return
        except BadRequest as exc:
            await ws.close(CLOSE_INVALID, _reason(exc.message))
            return


def install(app: FastAPI, services: list[Any], *, root: str = "") -> None:
    """Serve the streaming target routes and run the streaming reporter of PerfMetricJobs (needs the SQL store)."""
    app.include_router(build_router(root=root))
    store, pm = app.state.store, app.state.pm_store
    if isinstance(store, SqlStore) and pm is not None:
        reporter = StreamReporter(store, pm)
        app.state.stream_reporter = reporter
        services.append(reporter)

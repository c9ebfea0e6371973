"""Fault supervision MnS (TS 28.532) routes: ``{root}/FaultSupervisionMnS/{version}/alarms...``.

Thin HTTP over ``mns.fault.service``; the statuses and bodies are those of
``TS28532_FaultMnS.yaml``: GET /alarms 200 (map alarmId -> AlarmRecord), GET /alarms/alarmCount
200 (AlarmCount), PATCH /alarms/{alarmId} 204, PATCH /alarms 204 or, when some alarms could not
be patched, 400 with the FailedAlarm list (the others are patched), POST
/alarms/{alarmId}/comments 201 (Comment, Location). Other errors are ErrorResponse bodies (the
one place: ``mns.producers.errors``). Reads take the twin's ``asOf`` (an alarm sequence number
or an RFC 3339 time) and answer with the alarm sequence they reflect in ``X-Twin-Alarm-Sequence``.
Subscriptions are served elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mns.errors import BadRequest, UnsupportedMediaType
from mns.fault import service
from mns.services.prov import parse_as_of
from mns.store.sql import SqlStore

T = TypeVar("T")

SEQUENCE_HEADER: Final = "X-Twin-Alarm-Sequence"
AUTHOR_HEADER: Final = "X-Twin-Author"
MERGE_PATCH: Final = "application/merge-patch+json"
JSON: Final = "application/json"
COMMENT_FIELDS: Final = ("commentTime", "commentUserId", "commentSystemId", "commentText")


def _media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";")[0].strip().lower()


async def _body(request: Request, media: str, what: str) -> Any:
    """The JSON body of a request that must be of media type ``media``."""
    if _media_type(request) != media:
        raise UnsupportedMediaType(f"{what} takes {media}, not {_media_type(request) or 'no media type'}")
    raw = await request.body()
    if not raw:
        raise BadRequest(f"{what} needs a request body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


def build_router(*, prefix: str) -> APIRouter:
    """The Fault MnS routes under ``prefix`` (e.g. ``/FaultSupervisionMnS/v1800``)."""
    router = APIRouter()

    def store_of(request: Request) -> SqlStore:
        store: SqlStore = request.app.state.store
        return store

    async def call(fn: Callable[..., T], **kwargs: Any) -> T:
        return await run_in_threadpool(fn, **kwargs)

    @router.get(prefix + "/alarms", operation_id="getAlarms", summary="Retrieve multiple alarms")
    async def get_alarms(request: Request) -> Response:
        q = request.query_params
        seq, body = await call(
            service.alarm_list_json,
            store=store_of(request),
            ack_state=q.get("alarmAckState"),
            base_object_instance=q.get("baseObjectInstance"),
            filter=q.get("filter"),
            as_of=parse_as_of(q.get("asOf")),
        )
        return Response(body, media_type=JSON, headers={SEQUENCE_HEADER: str(seq)})

    @router.patch(
        prefix + "/alarms",
        operation_id="patchAlarms",
        summary="Clear, acknowledge or unacknowledge multiple alarms",
    )
    async def patch_alarms(request: Request) -> Response:
        body = await _body(request, MERGE_PATCH, "PATCH /alarms")
        _, failed = await call(
            service.patch_alarms,
            store=store_of(request),
            patches=body,
            author=request.headers.get(AUTHOR_HEADER, ""),
        )
        if failed:
            return Response(orjson.dumps([f.to_json() for f in failed]), status_code=400, media_type=JSON)
        return Response(status_code=204)

    @router.get(
        prefix + "/alarms/alarmCount",
        operation_id="getAlarmCount",
        summary="Get the alarm count per perceived severity",
    )
    async def get_alarm_count(request: Request) -> Response:
        q = request.query_params
        seq, count = await call(
            service.alarm_count,
            store=store_of(request),
            ack_state=q.get("alarmAckState"),
            filter=q.get("filter"),
            as_of=parse_as_of(q.get("asOf")),
        )
        return Response(orjson.dumps(count.to_json()), media_type=JSON, headers={SEQUENCE_HEADER: str(seq)})

    @router.patch(
        prefix + "/alarms/{alarmId}",
        operation_id="patchAlarm",
        summary="Clear, acknowledge or unacknowledge a single alarm",
    )
    async def patch_alarm(request: Request) -> Response:
        alarm_id = request.path_params["alarmId"]
        body = await _body(request, MERGE_PATCH, "PATCH /alarms/{alarmId}")
        await call(
            service.patch_alarm,
            store=store_of(request),
            alarm_id=alarm_id,
            patch=body,
            author=request.headers.get(AUTHOR_HEADER, ""),
        )
        return Response(status_code=204)

    @router.post(
        prefix + "/alarms/{alarmId}/comments",
        operation_id="postAlarmComment",
        summary="Add a comment to a single alarm",
    )
    async def post_comment(request: Request) -> Response:
        alarm_id = request.path_params["alarmId"]
        body = await _body(request, JSON, "POST /alarms/{alarmId}/comments")
        if not isinstance(body, dict):
            raise BadRequest("the body must be a Comment: a JSON object with commentText")
        for name in body:
            if name not in COMMENT_FIELDS:
                raise BadRequest(f"{name!r} is not a member of a Comment ({', '.join(COMMENT_FIELDS)})")
        record = await call(
            service.comment,
            store=store_of(request),
            alarm_id=alarm_id,
            comment_text=body.get("commentText"),
            comment_user_id=body.get("commentUserId"),
            comment_system_id=body.get("commentSystemId"),
            event_time=body.get("commentTime"),
            author=request.headers.get(AUTHOR_HEADER, ""),
        )
        note = record.comments[-1]
        location = f"{prefix}/alarms/{quote(alarm_id, safe='')}/comments/{note.comment_id}"
        return Response(orjson.dumps(note.to_json()), status_code=201, media_type=JSON, headers={"Location": location})

    return router

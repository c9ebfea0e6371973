"""Subscriptions of the Fault MnS and the File Data Reporting MnS (TS 28.532): POST and DELETE.

As ``TS28532_FaultMnS.yaml`` and ``TS28532_FileDataReportingMnS.yaml`` define them: the request
body is a ``Subscription`` (``consumerReference``, the URI notifications are POSTed to;
``timeTick``; ``filter``), answered 201 with the subscription and its ``Location``; a delete is
204, an unknown id 404. Errors are ErrorResponse bodies (``mns.producers.errors``) and change
nothing. The Fault MnS subscription takes the alarm notifications, the File Data Reporting one
the file notifications; ``filter`` narrows them (an XPath predicate over the notification, see
``mns.notify.targets``). A ``consumerReference`` that is malformed or does not accept a TCP
connection now is a 400 (``mns.notify.reach``). ``timeTick`` is kept and returned, not enforced:
the OpenAPI definitions give a consumer no operation to renew a subscription, so expiring it
would only lose notifications silently.

The subscription is stored with its delivery cursors at the feeds' heads before the 201, so
it receives what happens after it, also across a restart; the event notifier
(``app.state.events``) is told at once.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mns.errors import BadRequest, NotFound, UnsupportedMediaType
from mns.notify.events import EventNotifier
from mns.notify.reach import ensure_reachable
from mns.notify.targets import FAULT, FILES, check_subscription, mns_key, mns_target

JSON: Final = "application/json"


def _events(request: Request) -> EventNotifier:
    events: EventNotifier | None = getattr(request.app.state, "events", None)
    if events is None:
        raise BadRequest("subscriptions need the twin's SQL store; this twin has no event notifier")
    return events


async def _body(request: Request) -> Any:
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != JSON:
        raise UnsupportedMediaType(f"POST /subscriptions takes {JSON}, not {media or 'no media type'}")
    raw = await request.body()
    if not raw:
        raise BadRequest("POST /subscriptions needs a Subscription in the request body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


def _subscribe(events: EventNotifier, service: str, body: dict[str, Any]) -> str:
    """Store the subscription at the feeds' heads, then start delivering to it; its id."""
    target = mns_target(service, "pending", body)
    heads = {name: pos for name, pos in events.heads().items() if events.feeds[name].types & target.types}
    sub_id = events.targets.add(service, body, heads)
    events.follow(mns_target(service, sub_id, body), heads)
    return sub_id


def _unsubscribe(events: EventNotifier, service: str, sub_id: str) -> None:
    """Stop delivering, then delete the subscription and its cursors; NotFound when unknown."""
    events.unfollow(mns_key(service, sub_id))  # a no-op for an unknown one
    if not events.targets.remove(service, sub_id):
        raise NotFound(f"subscription {sub_id!r} of the {service} does not exist")


def _routes(router: APIRouter, prefix: str, service: str, label: str, *, reach: bool) -> None:
    """POST and DELETE of ``{prefix}/subscriptions`` for ``service``."""
    tag = "Fault" if service == FAULT else "FileDataReporting"

    @router.post(
        prefix + "/subscriptions",
        operation_id=f"create{tag}Subscription",
        summary=f"Create a subscription to the {label} notifications",
    )
    async def create(request: Request) -> Response:
        body = check_subscription(await _body(request))
        if reach:
            await ensure_reachable(body["consumerReference"])
        sub_id = await run_in_threadpool(_subscribe, _events(request), service, body)
        location = f"{prefix}/subscriptions/{quote(sub_id, safe='')}"
        return Response(orjson.dumps(body), status_code=201, media_type=JSON, headers={"Location": location})

    @router.delete(
        prefix + "/subscriptions/{subscriptionId}",
        operation_id=f"delete{tag}Subscription",
        summary=f"Delete a subscription to the {label} notifications",
    )
    async def delete(request: Request) -> Response:
        sub_id = request.path_params["subscriptionId"]
        await run_in_threadpool(_unsubscribe, _events(request), service, sub_id)
        return Response(status_code=204)


def build_router(
    *, root: str = "", fault_version: str = "v1800", files_version: str = "v1800", reach: bool = True
) -> APIRouter:
    """``/subscriptions`` of ``{root}/FaultSupervisionMnS/{v}`` and ``{root}/FileDataReportingMnS/{v}``.

    With ``reach``, a consumerReference must accept a TCP connection now (see the module doc).
    """
    router = APIRouter()
    _routes(router, f"{root}/FaultSupervisionMnS/{fault_version}", FAULT, "alarm", reach=reach)
    _routes(router, f"{root}/FileDataReportingMnS/{files_version}", FILES, "file", reach=reach)
    return router

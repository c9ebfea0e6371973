"""The one place where errors become HTTP: TS 28.623 ``ErrorResponse`` bodies.

Every error a producer returns has the body ``{"error": {"errorInfo": "..."}}``; the message
names the object and the rule that failed. Domain errors carry their status (see
``mns.errors``); request parsing errors are 400; unknown paths 404; anything unexpected is a
500 whose body says no more than that (the detail goes to the log).
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from mns.errors import MnsError, PreconditionFailed

log = logging.getLogger("mns.producers")

REVISION_HEADER = "X-Twin-Revision"


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A TS 28.623 ErrorResponse."""
    body = orjson.dumps({"error": {"errorInfo": message}})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _revision_headers(request: Request) -> dict[str, str]:
    """The head revision for error responses of the MnS that promise X-Twin-Revision."""
    store = getattr(request.app.state, "store", None)
    branch = getattr(request.state, "branch", 0)
    if store is None:
        return {}
    try:
        return {REVISION_HEADER: str(store.head(branch))}
    except MnsError:
        return {}


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into an ErrorResponse."""

    @app.exception_handler(MnsError)
    async def _domain(request: Request, exc: MnsError) -> Response:
        headers = _revision_headers(request)
        if isinstance(exc, PreconditionFailed) and exc.current:
            headers["ETag"] = f'"{exc.current}"'
        return error_response(exc.status, f"{exc.message} (rule: {exc.rule})", headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return error_response(400, "invalid request: " + "; ".join(parts), _revision_headers(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such resource: {request.url.path}"
        if exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return error_response(exc.status_code, message, {**_revision_headers(request), **(exc.headers or {})})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); nothing was changed")

"""The errors of the MnS consumer client, one tree.

::

    MnsClientError                 anything this client raises
    ├── ArgumentError              a bad argument, found before anything was sent (also a ValueError)
    ├── TransportError             no answer from the producer
    │   ├── ConnectError           the connection failed (or timed out): the request was not sent
    │   └── Timeout                no answer in time: the producer may have processed the request
    ├── InvalidResponseError       a 2xx answer this client cannot read (not the JSON it should be)
    └── ProducerError              the producer answered an error status (``status``, ``error_info``)
        ├── BadRequestError        400, 422
        ├── NotFoundError          404
        ├── ConflictError          409
        ├── PreconditionFailedError  412 (``current_etag``: the object's ETag now, when given)
        ├── ServerError            5xx
        └── FailedAlarms           Fault MnS PATCH /alarms: the alarms it could not change (``failed``)

Every message names the method, the URL, the status and the producer's ``errorInfo``
(TS 28.623 ``ErrorResponse``), so a log line is enough to see what went wrong where.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx


class MnsClientError(Exception):
    """Base of every error of the MnS consumer client."""


class ArgumentError(MnsClientError, ValueError):
    """An argument the client refuses before sending anything (a malformed DN, an unknown media type)."""


class TransportError(MnsClientError):
    """The producer gave no answer: connection refused or reset, a timeout, a broken response."""

    def __init__(self, message: str, *, method: str, url: str, sent: bool) -> None:
        super().__init__(f"{method} {url}: {message}")
        self.method = method
        self.url = url
        self.sent = sent
        """False when the request certainly did not reach the producer (safe to send again)."""


class ConnectError(TransportError):
    """The connection could not be made (refused, unreachable, TLS failure, connect timeout)."""


class Timeout(TransportError):
    """The producer did not answer in time; it may have processed the request."""


class InvalidResponseError(MnsClientError):
    """A successful status with a body that is not what the MnS defines (e.g. not JSON)."""

    def __init__(self, message: str, *, method: str, url: str, status: int) -> None:
        super().__init__(f"{method} {url}: {status} answer could not be read: {message}")
        self.method = method
        self.url = url
        self.status = status


class ProducerError(MnsClientError):
    """The producer answered with an error status; ``error_info`` is its ErrorResponse text."""

    def __init__(self, *, method: str, url: str, status: int, error_info: str | None, body: Any = None) -> None:
        info = error_info if error_info else "(no errorInfo in the answer)"
        super().__init__(f"{method} {url}: {status}: {info}")
        self.method = method
        self.url = url
        self.status = status
        self.error_info = error_info
        self.body = body
        """The decoded answer (the ErrorResponse, or whatever the producer sent)."""


class BadRequestError(ProducerError):
    """400 or 422: the producer refused the request as malformed or invalid."""


class NotFoundError(ProducerError):
    """404: no such object, alarm, subscription, file or job."""


class ConflictError(ProducerError):
    """409: the request conflicts with the producer's state (e.g. an alarm already acknowledged)."""


class PreconditionFailedError(ProducerError):
    """412: ``If-Match`` did not match; ``current_etag`` is the object's ETag now, when sent."""

    def __init__(
        self,
        *,
        method: str,
        url: str,
        status: int,
        error_info: str | None,
        body: Any = None,
        current_etag: str | None = None,
    ) -> None:
        super().__init__(method=method, url=url, status=status, error_info=error_info, body=body)
        self.current_etag = current_etag


class ServerError(ProducerError):
    """5xx: the producer failed."""


@dataclass(frozen=True, slots=True)
class FailedAlarm:
    """TS 28.532 ``FailedAlarm``: one alarm a multi-alarm PATCH could not change, and why."""

    alarm_id: str
    failure_reason: str


class FailedAlarms(ProducerError):
    """Fault MnS ``PATCH /alarms`` changed some alarms but not these (``failed``; the rest were changed)."""

    def __init__(self, *, method: str, url: str, status: int, failed: Sequence[FailedAlarm], body: Any) -> None:
        info = "; ".join(f"{f.alarm_id}: {f.failure_reason}" for f in failed)
        super().__init__(method=method, url=url, status=status, error_info=f"alarms not changed: {info}", body=body)
        self.failed = list(failed)


_BY_STATUS: dict[int, type[ProducerError]] = {
    400: BadRequestError,
    422: BadRequestError,
    404: NotFoundError,
    409: ConflictError,
}


def _error_info(body: Any) -> str | None:
    """The ``errorInfo`` of a TS 28.623 ErrorResponse (or of a bare ``{"errorInfo"}``/ problem+json)."""
    if not isinstance(body, dict):
        return None
    inner = body.get("error", body)
    if isinstance(inner, dict):
        for key in ("errorInfo", "detail", "title"):
            value = inner.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def _decoded(response: httpx.Response) -> Any:
    """The answer's JSON, or its text when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return response.text or None


def producer_error(response: httpx.Response) -> ProducerError:
    """The exception for an error answer (status >= 400), with the producer's errorInfo."""
    request = response.request
    body = _decoded(response)
    info = _error_info(body)
    if info is None and isinstance(body, str):
        info = body[:500]
    common: dict[str, Any] = {
        "method": request.method,
        "url": str(request.url),
        "status": response.status_code,
        "error_info": info,
        "body": body,
    }
    if response.status_code == 412:
        return PreconditionFailedError(**common, current_etag=unquote_etag(response.headers.get("etag")))
    if response.status_code >= 500:
        return ServerError(**common)
    return _BY_STATUS.get(response.status_code, ProducerError)(**common)


def unquote_etag(value: str | None) -> str | None:
    """An ETag header's value without its quotes and weak prefix."""
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None

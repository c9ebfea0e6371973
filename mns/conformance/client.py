"""HTTP to the producer under test: every request becomes a recorded :class:`Exchange`.

The suite never raises on what a producer answers: a transport failure, a status, a body that
is not JSON are all facts recorded in the exchange, for the checks to judge. All I/O goes
through one ``httpx.Client``, whose transport the caller may inject (``httpx.MockTransport``,
``httpx.ASGITransport``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlencode

import httpx
import orjson

from mns.nrm.dn import DN

JSON: Final = "application/json"
HIERARCHICAL: Final = "application/vnd.3gpp.object-tree-hierarchical+json"
FLAT: Final = "application/vnd.3gpp.object-tree-flat+json"
MEDIA_TYPES: Final = (JSON, HIERARCHICAL, FLAT)

_NO_BODY: Final = object()


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and what came back (``status`` 0 when nothing came back)."""

    method: str
    target: str
    request_type: str | None
    accept: str | None
    status: int
    media_type: str | None
    text: str
    body: Any = None
    json_error: str | None = None
    error: str | None = None

    @property
    def line(self) -> str:
        """The request line and the status, for evidence."""
        got = f"{self.status} {self.media_type or '(no Content-Type)'}" if self.status else "no response"
        sent = f" [{self.request_type}]" if self.request_type else ""
        return f"{self.method} {self.target}{sent} -> {got}"

    @property
    def has_body(self) -> bool:
        """Whether the response carried any bytes."""
        return bool(self.text.strip())

    def excerpt(self, limit: int = 240) -> str:
        """The start of the body, for evidence."""
        text = " ".join(self.text.split())
        if self.error:
            text = self.error
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def evidence(self, limit: int = 240) -> str:
        """Request line, status and body excerpt."""
        body = self.excerpt(limit)
        return f"{self.line}: {body}" if body else self.line


@dataclass
class ProvClient:
    """Requests to one ProvMnS (``{url}{prefix}/<DN as path segments>``), all recorded."""

    url: str
    prefix: str = "/ProvMnS/v1800"
    transport: httpx.BaseTransport | None = None
    timeout: float = 10.0
    exchanges: list[Exchange] = field(default_factory=list)
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.prefix = "/" + self.prefix.strip("/") if self.prefix.strip("/") else ""
        self._http = httpx.Client(base_url=self.url.rstrip("/"), transport=self.transport, timeout=self.timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ProvClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def path_of(self, dn: DN | str) -> str:
        """The request path of a DN (URI form below the ProvMnS prefix)."""
        uri = dn.uri if isinstance(dn, DN) else dn
        return f"{self.prefix}/{uri.lstrip('/')}"

    def get(self, dn: DN | str, *, params: Mapping[str, str] | None = None, accept: str | None = None) -> Exchange:
        """GET one object or a scoped, filtered set."""
        headers = {"Accept": accept} if accept else {}
        return self.send("GET", self.path_of(dn), params=params, headers=headers)

    def put(self, dn: DN | str, body: Any) -> Exchange:
        """PUT (create or replace) one object."""
        return self.send("PUT", self.path_of(dn), body=body, content_type=JSON)

    def patch(self, dn: DN | str, body: Any, media_type: str) -> Exchange:
        """PATCH with one of the patch media types (``body`` as JSON, or raw bytes)."""
        return self.send("PATCH", self.path_of(dn), body=body, content_type=media_type)

    def delete(self, dn: DN | str) -> Exchange:
        """DELETE one object (and, by TS 28.532, its subtree)."""
        return self.send("DELETE", self.path_of(dn))

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = _NO_BODY,
        content_type: str | None = None,
    ) -> Exchange:
        """Send a request and record the exchange; transport errors become ``status`` 0."""
        all_headers = dict(headers or {})
        content: bytes | None = None
        if body is not _NO_BODY:
            content = body if isinstance(body, bytes) else orjson.dumps(body)
            all_headers["Content-Type"] = content_type or JSON
        query = f"?{urlencode(params, safe=',/', quote_via=quote)}" if params else ""
        target = path + query
        accept = all_headers.get("Accept")
        try:
            response = self._http.request(method, target, content=content, headers=all_headers)
            response.read()
        except httpx.HTTPError as exc:
            ex = Exchange(
                method,
                target,
                content_type if content is not None else None,
                accept,
                0,
                None,
                "",
                error=f"{type(exc).__name__}: {exc}",
            )
            self.exchanges.append(ex)
            return ex
        media = response.headers.get("content-type")
        media_type = media.split(";")[0].strip().lower() if media else None
        text = response.content.decode("utf-8", "replace")
        parsed: Any = None
        json_error = None
        if text.strip():
            try:
                parsed = orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                json_error = f"the body is not JSON: {exc}"
        ex = Exchange(
            method,
            target,
            content_type if content is not None else None,
            accept,
            response.status_code,
            media_type,
            text,
            parsed,
            json_error,
        )
        self.exchanges.append(ex)
        return ex

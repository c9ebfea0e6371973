"""What both clients share: the connection settings (base URL, auth, TLS, headers, timeouts, retries),
the base class, and the request bodies built from arguments."""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from mns.consumer._core import AUTHOR_HEADER, Call, Core, MnsPaths, Retry
from mns.consumer.errors import InvalidResponseError
from mns.consumer.stream import ParseError


@dataclass(frozen=True, slots=True)
class Settings:
    """How to reach a producer; ``httpx_options`` turns it into httpx client arguments."""

    base_url: str
    paths: MnsPaths = field(default_factory=MnsPaths)
    timeout: float | httpx.Timeout = 10.0
    token: str | None = None
    verify: bool | str | ssl.SSLContext = True
    cert: str | tuple[str, str] | None = None
    headers: Mapping[str, str] | None = None
    author: str | None = None
    retry: Retry = field(default_factory=Retry)

    def httpx_options(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client`` / ``httpx.AsyncClient`` (transport aside)."""
        headers = {"Accept": "application/json", "User-Agent": "twin-mns-consumer"}
        headers.update(self.headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.author:
            headers[AUTHOR_HEADER] = self.author
        timeout = self.timeout if isinstance(self.timeout, httpx.Timeout) else httpx.Timeout(self.timeout)
        return {
            "base_url": self.base_url.rstrip("/"),
            "headers": headers,
            "timeout": timeout,
            "verify": self._ssl(),
            "follow_redirects": False,
        }

    def _ssl(self) -> bool | ssl.SSLContext:
        """``verify`` as httpx takes it: a CA bundle path or a client certificate become an SSLContext."""
        if isinstance(self.verify, ssl.SSLContext):
            context = self.verify
        elif isinstance(self.verify, str):
            context = ssl.create_default_context(cafile=self.verify)
        elif self.cert is None:
            return self.verify
        elif self.verify:
            context = ssl.create_default_context()
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert is not None:
            certfile, keyfile = (self.cert, None) if isinstance(self.cert, str) else self.cert
            context.load_cert_chain(certfile, keyfile)
        return context


NTF_SUBSCRIPTION = "NtfSubscriptionControl"


def ntf_subscription_attributes(
    recipient: str,
    *,
    notification_types: Sequence[str] | None = None,
    scope: Mapping[str, Any] | None = None,
    notification_filter: str | None = None,
) -> dict[str, Any]:
    """The attributes of a TS 28.623 ``NtfSubscriptionControl``."""
    attrs: dict[str, Any] = {"notificationRecipientAddress": recipient}
    if notification_types is not None:
        attrs["notificationTypes"] = list(notification_types)
    if scope is not None:
        attrs["scope"] = [dict(scope)]
    if notification_filter is not None:
        attrs["notificationFilter"] = notification_filter
    return attrs


def ack_document(user: str, system: str | None, state: str) -> dict[str, Any]:
    """The merge-patch document that acknowledges (or unacknowledges) an alarm."""
    doc: dict[str, Any] = {"ackState": state, "ackUserId": user}
    if system is not None:
        doc["ackSystemId"] = system
    return doc


def clear_document(user: str, system: str | None) -> dict[str, Any]:
    """The merge-patch document that clears an alarm."""
    doc: dict[str, Any] = {"perceivedSeverity": "CLEARED", "clearUserId": user}
    if system is not None:
        doc["clearSystemId"] = system
    return doc


def invalid_stream(call: Call[Any], response: httpx.Response, exc: ParseError) -> InvalidResponseError:
    """The error of a streamed answer that is not a resource tree or list."""
    return InvalidResponseError(str(exc), method=call.method, url=str(call.request.url), status=response.status_code)


class BaseMnsClient:
    """What both clients share: settings and the request core."""

    def __init__(
        self,
        base_url: str,
        *,
        paths: MnsPaths | None = None,
        timeout: float | httpx.Timeout = 10.0,
        token: str | None = None,
        verify: bool | str | ssl.SSLContext = True,
        cert: str | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        author: str | None = None,
        retry: Retry | None = None,
    ) -> None:
        self.settings = Settings(
            base_url=base_url,
            paths=paths or MnsPaths(),
            timeout=timeout,
            token=token,
            verify=verify,
            cert=cert,
            headers=headers,
            author=author,
            retry=retry or Retry(),
        )

    def _make_core(self, http: httpx.Client | httpx.AsyncClient) -> Core:
        return Core(http.build_request, self.settings.paths)

    @staticmethod
    def _subscription_dn(parent_dn: str, subscription_id: str) -> str:
        from mns.nrm.dn import escape_id

        return f"{parent_dn},{NTF_SUBSCRIPTION}={escape_id(subscription_id)}"

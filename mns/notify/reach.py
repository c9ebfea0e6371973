"""Whether a notification recipient can be reached: a well-formed URL whose host resolves and accepts TCP.

A subscription made through an MnS's ``POST /subscriptions`` is refused (400, nothing stored)
when its ``consumerReference`` cannot be reached now, so a consumer learns of a typo at once
rather than from notifications that never come. Only the TCP connection is tried (no HTTP
request is sent, and TLS is not negotiated): a recipient that is up but answers errors is found
by delivery, which retries it.
"""

from __future__ import annotations

import asyncio
import socket
from contextlib import suppress
from typing import Final

import httpx
from pydantic import AnyHttpUrl, TypeAdapter, ValidationError

from mns.errors import BadRequest

_HTTP_URL: Final = TypeAdapter(AnyHttpUrl)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def parse_address(address: str) -> tuple[str, int]:
    """(host, port) of an absolute http(s) URL; BadRequest naming the address when it is not one."""
    if not isinstance(address, str) or not address:
        raise BadRequest(f"notification address {address!r} is not a URL")
    try:
        # pydantic parses as browsers do (WHATWG); httpx, which sends, must see the same host.
        _HTTP_URL.validate_python(address)
        url = httpx.URL(address)
    except (ValidationError, httpx.InvalidURL) as exc:
        why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise BadRequest(
            f"notification address {address!r} is not an absolute http:// or https:// URL ({why})"
        ) from None
    if not url.host:
        raise BadRequest(f"notification address {address!r} is not an absolute http:// or https:// URL (no host)")
    return url.host, url.port or _DEFAULT_PORTS[url.scheme]


async def _resolve(address: str, host: str, port: int, timeout: float) -> list[tuple[int, str]]:
    """The (family, IP) the host resolves to; BadRequest when it does not."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:
        why = "no answer in time" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise BadRequest(f"notification address {address!r}: host {host!r} does not resolve ({why})") from None
    found: list[tuple[int, str]] = []
    for family, _, _, _, sockaddr in infos:
        if (family, str(sockaddr[0])) not in found:
            found.append((family, str(sockaddr[0])))
    return found


async def _connect(ip: str, port: int, timeout: float) -> str | None:
    """None when ``ip:port`` accepts a TCP connection in time; otherwise why not."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(ip, port)
    except TimeoutError:
        return f"no answer from {ip} port {port} within {timeout:g} s"
    except OSError as exc:
        return f"{ip} port {port}: {exc.strerror or exc}"
    writer.close()
    with suppress(OSError):
        await writer.wait_closed()
    return None


async def ensure_reachable(address: str, *, timeout: float = 2.0) -> None:
    """Return when ``address`` accepts a TCP connection; BadRequest naming it and the reason otherwise.

    Malformed (not an absolute http/https URL), a host that does not resolve, or no address of
    the host accepting a connection within ``timeout`` (refused, unreachable, no answer).
    """
    host, port = parse_address(address)
    reasons = []
    for _, ip in await _resolve(address, host, port, timeout):
        why = await _connect(ip, port, timeout)
        if why is None:
            return
        reasons.append(why)
    raise BadRequest(f"notification address {address!r} is not reachable: {'; '.join(reasons) or 'no address'}")

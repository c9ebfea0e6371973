"""Probes of the subscription operations of the Fault MnS and the File Data Reporting MnS (see ``test_openapi``).

A subscription is only made to an address that accepts a TCP connection: the probes' is a
listening socket on loopback that closes every connection unanswered (a new subscription
receives only what happens after it, and the mirror probes' producers may send it theirs).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from functools import cache

import httpx
from fastapi.testclient import TestClient

JSON = "application/json"
FAULT = "/FaultSupervisionMnS/v1800/subscriptions"
FILES = "/FileDataReportingMnS/v1800/subscriptions"


@cache
def _listener() -> socket.socket:
    """A socket on loopback that accepts connections and closes them unread (a recipient that
    is there but answers nothing); a thread takes them off the queue, so it never fills."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)

    def drain() -> None:
        while True:
            conn, _ = s.accept()
            conn.close()

    threading.Thread(target=drain, name="probe-listener", daemon=True).start()
    return s


def address() -> str:
    """A consumerReference that can be reached."""
    return f"http://127.0.0.1:{_listener().getsockname()[1]}/notifications"


def _create(prefix: str) -> Callable[[TestClient], httpx.Response]:
    return lambda c: c.post(prefix, json={"consumerReference": address(), "timeTick": 60})


def _bad(prefix: str) -> Callable[[TestClient], httpx.Response]:
    return lambda c: c.post(prefix, json={"consumerReference": "not a URL"})


def _not_json(prefix: str) -> Callable[[TestClient], httpx.Response]:
    return lambda c: c.post(prefix, content=b"consumerReference", headers={"content-type": "text/plain"})


def _delete(prefix: str) -> Callable[[TestClient], httpx.Response]:
    def run(c: TestClient) -> httpx.Response:
        made = c.post(prefix, json={"consumerReference": address()})
        assert made.status_code == 201, made.text
        return c.delete(made.headers["location"])

    return run


def _unknown(prefix: str) -> Callable[[TestClient], httpx.Response]:
    return lambda c: c.delete(f"{prefix}/no-such-subscription")


PROBES: dict[tuple[str, int, str | None], Callable[[TestClient], httpx.Response]] = {}
for _op, _prefix in (("FaultSubscription", FAULT), ("FileDataReportingSubscription", FILES)):
    PROBES.update(
        {
            (f"create{_op}", 201, JSON): _create(_prefix),
            (f"create{_op}", 400, JSON): _bad(_prefix),
            (f"create{_op}", 415, JSON): _not_json(_prefix),
            (f"delete{_op}", 204, None): _delete(_prefix),
            (f"delete{_op}", 404, JSON): _unknown(_prefix),
        }
    )

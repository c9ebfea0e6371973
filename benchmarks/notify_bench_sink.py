"""Notification recipients for benchmarks/notify_bench.py: N small HTTP servers in one process.

    python benchmarks/notify_bench_sink.py --recipients 10

Runs apart from the twin (its own process, so its CPU is not taken from the twin's GIL) on one
asyncio loop with a minimal HTTP/1.1 reader (keep-alive, Content-Length bodies), about as cheap
as a recipient can be in Python. Prints one JSON line on stdout: the recipients' ports and the
control port. Every POST to a recipient port is answered 204 and counted if it carries a
``userLabel`` (notifyMOIAttributeValueChanges: its new value; notifyMOIChanges: the value of its
``userLabel`` item), as every notification of the benchmark's PATCHes does; others (the creation
of another subscription) are counted apart. In record mode (label, notification type, arrival
time) is kept. Times are ``time.monotonic()``, the
system-wide CLOCK_MONOTONIC, so they compare with the benchmark's own.

Control port: ``GET /stats`` (counts, and the records when recording), ``POST /reset?record=0|1``
(forget everything, set the mode).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import orjson

NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
USER_LABEL = "#/attributes/userLabel"
SHORT = {"notifyMOIAttributeValueChanges": "v", "notifyMOIChanges": "c"}


def labels_of(body: dict[str, Any]) -> list[str]:
    """The userLabel values a CM notification carries (none for other notifications)."""
    ntype = body.get("notificationType")
    if ntype == "notifyMOIAttributeValueChanges":
        label = body["attributeListValueChanges"][0].get("userLabel")
        return [label] if isinstance(label, str) else []
    if ntype == "notifyMOIChanges":
        return [i["value"] for i in body.get("moiChanges", []) if str(i.get("path", "")).endswith(USER_LABEL)]
    return []


class Sink:
    """What all recipients received."""

    def __init__(self, recipients: int) -> None:
        self.counts = [0] * recipients
        self.others = [0] * recipients
        self.last = [0.0] * recipients
        self.records: list[list[tuple[str, str, float]]] = [[] for _ in range(recipients)]
        self.record = False

    def received(self, idx: int, body: bytes) -> None:
        """Count one notification that carries a userLabel (and keep the label, in record mode)."""
        now = time.monotonic()
        parsed = orjson.loads(body)
        labels = labels_of(parsed)
        if not labels:  # e.g. the creation of another subscription in scope
            self.others[idx] += 1
            return
        self.counts[idx] += 1
        self.last[idx] = now
        if self.record:
            kind = SHORT.get(parsed.get("notificationType"), "?")
            self.records[idx].extend((label, kind, now) for label in labels)

    def control(self, method: bytes, target: bytes) -> bytes:
        """Answer a control request."""
        if method == b"GET" and target.startswith(b"/stats"):
            body = orjson.dumps(
                {
                    "counts": self.counts,
                    "others": self.others,
                    "last": self.last,
                    "records": self.records if self.record else None,
                }
            )
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            return head.encode() + body
        if method == b"POST" and target.startswith(b"/reset"):
            n = len(self.counts)
            self.counts, self.others, self.last = [0] * n, [0] * n, [0.0] * n
            self.records = [[] for _ in range(n)]
            self.record = b"record=1" in target
            return NO_CONTENT
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection to a recipient (idx >= 0) or the control port (-1)."""

    def __init__(self, sink: Sink, idx: int) -> None:
        self.sink = sink
        self.idx = idx
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            total = end + 4 + length
            if len(self.buf) < total:
                return
            body = bytes(self.buf[end + 4 : total])
            del self.buf[:total]
            method, target = head.split(b" ", 2)[:2]
            assert self.transport is not None
            if self.idx < 0:
                self.transport.write(self.sink.control(method, target))
            else:
                self.sink.received(self.idx, body)
                self.transport.write(NO_CONTENT)


async def main(recipients: int) -> None:
    """Listen, print the ports, serve until killed."""
    loop = asyncio.get_running_loop()
    sink = Sink(recipients)
    ports = []
    for idx in [*range(recipients), -1]:
        server = await loop.create_server(lambda i=idx: Connection(sink, i), "127.0.0.1", 0)  # type: ignore[misc]
        ports.append(server.sockets[0].getsockname()[1])
    print(orjson.dumps({"recipients": ports[:-1], "control": ports[-1]}).decode(), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=10)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.recipients))
    except KeyboardInterrupt:
        sys.exit(0)

"""A big full sync written by a second process, while this one reads the network.

Reading (HTTP and parsing) and writing (validation, rows, SQLite or COPY) each take a core's
worth of Python; in one process they take turns. ``split_write`` starts ``python -m
mns.mirror.writer`` (it imports only the store and opens it by its URL, which it reads from its
standard input, not its command line) and feeds it the objects as they are read: batches of
``[dn, class, attributes]`` as JSON, framed on the writer's standard input, through a sender
thread so that reading never waits for the pipe while a bounded buffer has room. The writer runs
the whole bulk commit, one transaction, as in one process: if reading fails, its input ends
without the end frame and it rolls back; if writing fails (an invalid object...), it answers with
the error, raised here as the same domain error.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import orjson

from mns import errors
from mns.errors import MnsError
from mns.gcpause import cyclic_gc_paused

if TYPE_CHECKING:
    from mns.store.api import CommitResult

BATCH: Final = 500
"""Objects per frame to the writer."""
BUFFER: Final = 128
"""Frames waiting for the pipe, at most (some 40 MB): reading goes on while the writer starts."""
_LENGTH: Final = struct.Struct(">I")


class WriterFailed(MnsError):
    """The writing process ended without saying why (killed, out of memory...)."""


class StopWriting(Exception):
    """The pipe to the writer broke while objects were still coming (its answer tells why)."""


def split_write(
    url: str,
    objects: Iterable[tuple[str, str, Any]],
    *,
    author: str,
    message: str,
    strict: bool = False,
    sync: str = "full",
) -> tuple[int | None, int, float]:
    """Commit ``objects`` (DN, class, attributes) into the store at ``url`` in a second process.

    The bulk commit of ``mns.mirror.sync.full_sync``, as one revision with source ``real``.
    ``strict`` and ``sync`` are the store's settings (``SqlStore``), for the writer to open it
    alike. Returns the revision (None if nothing was written), the objects created and the
    writing process's peak resident memory in MB (0 where the system does not tell).
    """
    writer = subprocess.Popen(
        [sys.executable, "-m", "mns.mirror.writer"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert writer.stdin is not None
    waiting: queue.Queue[bytes | None] = queue.Queue(BUFFER)
    broken: list[BaseException] = []
    sender = threading.Thread(target=_send, args=(writer.stdin, waiting, broken), name="mns-sync-sender", daemon=True)
    sender.start()
    try:
        job = {"url": url, "strict": strict, "sync": sync, "author": author, "message": message}
        _put(waiting, orjson.dumps(job), broken)
        batch: list[tuple[str, str, Any]] = []
        for item in objects:
            batch.append(item)
            if len(batch) >= BATCH:
                _put(waiting, orjson.dumps(batch), broken)
                batch = []
        if batch:
            _put(waiting, orjson.dumps(batch), broken)
        _put(waiting, b"", broken)  # the end frame
    except StopWriting:
        pass  # the writer failed and has said why (or died): its answer is read below
    except BaseException:
        waiting.put(None)  # the writer's input ends without the end frame: it rolls back
        sender.join()
        _answer_of(writer)
        raise
    waiting.put(None)
    sender.join()
    out = _answer_of(writer)
    try:
        answer = pickle.loads(out)  # the answer of our own child process
    except Exception:
        answer = ("failed", f"it ended with exit code {writer.returncode}")
    if answer[0] == "done":
        return answer[1], answer[2], answer[3]
    if answer[0] == "error":
        raise _rebuilt(answer[1], answer[2])
    raise WriterFailed(f"the sync's writing process failed: {answer[1]}")


def _answer_of(writer: subprocess.Popen[bytes]) -> bytes:
    """All the writer says on its output, once it has ended (its input is closed by then)."""
    assert writer.stdout is not None
    with writer.stdout:
        out = writer.stdout.read()
    writer.wait()
    return out


def _put(waiting: queue.Queue[bytes | None], item: bytes, broken: list[BaseException]) -> None:
    if broken:  # the writer has gone: it has said or will say why
        raise StopWriting from broken[0]
    waiting.put(item)


def _send(pipe: IO[bytes], waiting: queue.Queue[bytes | None], broken: list[BaseException]) -> None:
    """The sender thread: frames from the buffer to the writer's input, until None (which closes it)."""
    while True:
        item = waiting.get()
        if item is None:
            with suppress(OSError):
                pipe.close()
            return
        if broken:
            continue  # drain: the reader stops at its next put
        try:
            pipe.write(_LENGTH.pack(len(item)))
            pipe.write(item)
        except OSError as exc:
            broken.append(exc)


def _rebuilt(name: str, state: dict[str, Any]) -> MnsError:
    """The writer's domain error, as the same class with the same message, DN and details."""
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, MnsError)):
        cls = MnsError
    exc = cls.__new__(cls)
    Exception.__init__(exc, state.get("message", ""))
    exc.__dict__.update(state)
    return exc


def _frames(pipe: IO[bytes]) -> Iterator[bytes]:
    """The frames on the writer's input, up to the end frame; EOFError if the input ends before it."""
    while True:
        head = pipe.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            raise EOFError("the reading process stopped before the end of the network")
        size = _LENGTH.unpack(head)[0]
        if size == 0:
            return
        body = pipe.read(size)
        if len(body) < size:
            raise EOFError("the reading process stopped in the middle of a batch")
        yield body


def main() -> None:
    """The writing process: the bulk commit of what comes on standard input, its answer on standard output."""
    answer: tuple[Any, ...]
    try:
        from mns.nrm.registry import default_registry
        from mns.nrm.validate import Validator
        from mns.store.api import CommitJob, Create
        from mns.store.sql import SqlStore

        frames = _frames(sys.stdin.buffer)
        job = orjson.loads(next(frames))
        # A producer's objects: no class rules (they concern management writes), so none to load.
        validator = Validator(default_registry())
        store = SqlStore(job["url"], validator=validator, strict=job["strict"], sync=job["sync"])

        def ops() -> Iterator[Create]:
            loads = orjson.loads
            for frame in frames:
                for dn, cls, attrs in loads(frame):
                    yield Create(dn, attrs, cls)

        with cyclic_gc_paused():
            result: CommitResult = store.commit_job(
                CommitJob(ops(), source="real", author=job["author"], message=job["message"], bulk=True)
            )
        answer = ("done", result.rev, result.created_count, _peak_mb())
    except MnsError as exc:
        answer = ("error", type(exc).__name__, dict(exc.__dict__))
    except BaseException as exc:  # told to the reader, which raises WriterFailed
        answer = ("failed", f"{type(exc).__name__}: {exc}")
    try:
        sys.stdout.buffer.write(pickle.dumps(answer))
        sys.stdout.buffer.flush()
    finally:
        os._exit(0)  # nothing to free one object at a time: the reader is waiting


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines() if Path("/proc/self/status").exists() else ():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()

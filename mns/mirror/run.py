"""Running the mirror from the command line: progress, a one-shot copy, and the demo's two servers.

``mns mirror --once`` copies (or reconciles) a producer's NRM into a twin store and exits;
``mns serve --mirror URL`` and ``mns demo`` run the mirror inside the twin's server, where it
keeps following. Both show the copy's progress on the console (:class:`SyncProgress`).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mns.consumer.client import MnsClient
from mns.mirror.cm import Canon
from mns.mirror.service import producer_roots
from mns.mirror.sync import Reader, SyncReport, full_sync, reconcile, twin_has
from mns.store.sql import SqlStore


class SyncProgress:
    """A live count of the objects copied, fed by the mirror's progress callback (any thread)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Progress | None = None
        self._task: Any = None
        self._lock = threading.Lock()

    def __call__(self, phase: str, objects: int) -> None:
        with self._lock:
            if phase.endswith(" done"):
                self._finish(phase[: -len(" done")], objects)
                return
            if self._progress is None:
                self._progress = Progress(
                    SpinnerColumn(),
                    TextColumn("{task.description}"),
                    TextColumn("{task.completed:,} objects"),
                    TimeElapsedColumn(),
                    console=self.console,
                    transient=True,
                )
                self._progress.start()
                self._task = self._progress.add_task(f"mirror: {phase}", total=None)
            self._progress.update(self._task, completed=objects)

    def _finish(self, phase: str, objects: int) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self.console.print(f"mirror: {phase} done, {objects:,} objects read")


def once(
    store: SqlStore, producer: str, roots: Sequence[str], *, console: Console, **client_options: Any
) -> SyncReport:
    """Copy the producer's NRM into an empty twin, or reconcile a twin that has a copy; no subscription."""
    view = SyncProgress(console)
    with MnsClient(producer, **client_options) as client:
        found = tuple(roots) or tuple(producer_roots(client))
        reader = Reader(Canon())

        def progress(n: int) -> None:
            view("copying", n)

        if twin_has(store, found):
            report = reconcile(store, client, found, reader, cause="on-demand", progress=progress)
        else:
            report = full_sync(store, client, found, reader, progress=progress)
    view(("full sync" if report.kind == "full" else "reconciliation") + " done", report.objects)
    return report


def free_port(host: str) -> int:
    """A port free on ``host`` now (for the demo's servers)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve_in_thread(app: Any, host: str, port: int, name: str) -> Any:
    """Serve an ASGI app under uvicorn on a thread of its own; the server, once started."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start on {host}:{port}")
        time.sleep(0.05)
    return server

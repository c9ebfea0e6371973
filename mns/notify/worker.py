"""The notification worker process: CM and event notifications delivered beside ``mns serve``.

``mns serve`` runs its app without delivery (``Settings(deliver=False)``) and starts this process
on the same store, so that POSTing notifications never takes the CPU (and the interpreter lock)
of the ProvMnS writes. The worker builds the same app to get the same notifiers and feeds,
starts only the two notifiers, and finds new revisions and events by polling (every
``poll_s``, 50 ms); everything it needs is in the store: subscriptions, feeds and cursors.

It delivers only while it holds the ``notify`` lease (``mns.notify.lease``), so several twin
processes on one store never deliver twice; a worker that dies is replaced when its lease
expires. It stops cleanly on SIGTERM or SIGINT, or when the server that started it ends
(``--parent``: uvicorn ends the server by re-raising the signal it got, so the server cannot
be relied on to stop it), saving its cursors::

    python -m mns.notify.worker --db twin.db --prov-root http://host:8000/ProvMnS/v1800
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from contextlib import suppress
from types import FrameType

from mns.notify.delivery import NotifySettings
from mns.notify.lease import Lease

log = logging.getLogger("mns.notify.worker")

LEASE = "notify"


def run(
    db: str,
    *,
    prov_root: str,
    root: str = "",
    prov_version: str = "v1800",
    ttl_s: float = 10.0,
    parent: int | None = None,
) -> None:
    """Deliver until told to stop (SIGTERM/SIGINT, or the end of process ``parent``), while holding the lease."""
    from mns.producers.app import Settings, create_app
    from mns.store import open_store

    store = open_store(db)
    settings = Settings(root=root, prov_version=prov_version, notify=NotifySettings(prov_root=prov_root))
    app = create_app(store, settings)
    workers = [w for w in (app.state.notifier, app.state.events) if w is not None]
    lease = Lease(store.engine, LEASE, ttl_s=ttl_s)
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    delivering = False
    renewed = 0.0
    try:
        while not stop.is_set():
            if parent is not None and os.getppid() != parent:
                log.info("mns serve (process %d) has ended: stopping", parent)
                break
            if time.monotonic() - renewed < ttl_s / 3:
                stop.wait(0.2)
                continue
            renewed = time.monotonic()
            try:
                held = lease.acquire()
            except Exception as exc:  # the store is busy or away: keep what we had, ask again soon
                log.warning("lease %s: cannot ask the store (%s); retrying", LEASE, exc)
                renewed -= ttl_s / 6
                continue
            if held and not delivering:
                for worker in workers:
                    worker.start()
                delivering = True
                log.info("delivering notifications (lease %s held by %s)", LEASE, lease.owner)
            elif not held and delivering:
                log.warning("lease %s lost to %s: delivery stops", LEASE, lease.holder())
                for worker in reversed(workers):
                    worker.stop()
                delivering = False
    finally:
        if delivering:
            for worker in reversed(workers):
                worker.stop()
            with suppress(Exception):  # unreleased, it expires after ttl_s
                lease.release()
        store.close()


def main() -> None:
    """Command line: ``python -m mns.notify.worker --db URL --prov-root URL``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="the twin's store: a SQLite file or postgresql:// URL")
    parser.add_argument("--prov-root", required=True, help="absolute URL of the ProvMnS root, for hrefs")
    parser.add_argument("--mns-root", default="", help="path prefix of every MnS")
    parser.add_argument("--prov-version", default="v1800")
    parser.add_argument("--parent", type=int, help="stop when this process (the server that started it) ends")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run(args.db, prov_root=args.prov_root, root=args.mns_root, prov_version=args.prov_version, parent=args.parent)


if __name__ == "__main__":
    main()

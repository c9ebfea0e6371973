"""One measured run of benchmarks/mirror_bench.py, in a process of its own.

    python benchmarks/mirror_bench_child.py ceiling URL ROOT
    python benchmarks/mirror_bench_child.py sync URL ROOT TWIN_DB

- ``ceiling``: only download the tree: ``MnsClient(URL).iter_subtree(ROOT)``, every object
  parsed and counted, nothing kept.
- ``sync``: the mirror's full sync of the same tree (:func:`mns.mirror.sync.full_sync`, the code
  ``mns serve --mirror`` runs for an empty twin) into a fresh SQLite twin at TWIN_DB.

Both use the same client and settings and time only the read (and, for the sync, the commit),
not the imports. A process of its own, so that its peak memory is the run's alone: it prints
one JSON line with the count, the seconds and its VmHWM, plus that of the process the sync
wrote in where it used one (``SyncReport.writer_peak_mb``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mns.consumer.client import MnsClient

TIMEOUT = 600.0
"""Seconds the client waits for a read (a 300,000-object tree streams for a while)."""


def vm_hwm_mb() -> float:
    """This process's peak resident memory (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ceiling(url: str, root: str) -> dict[str, float]:
    """Download and parse the tree, counting its objects."""
    with MnsClient(url, timeout=TIMEOUT) as client:
        t = time.perf_counter()
        n = sum(1 for _ in client.iter_subtree(root, scope="BASE_SUBTREE"))
        seconds = time.perf_counter() - t
    return {"objects": n, "seconds": seconds}


def sync(url: str, root: str, db: str) -> dict[str, float]:
    """The mirror's full sync of the tree into an empty twin."""
    from mns.mirror.cm import Canon
    from mns.mirror.sync import Reader, full_sync
    from mns.store.sql import SqlStore

    store = SqlStore(db)
    try:
        with MnsClient(url, timeout=TIMEOUT) as client:
            t = time.perf_counter()
            report = full_sync(store, client, [root], Reader(Canon()))
            seconds = time.perf_counter() - t
        stored = store.count()
    finally:
        store.close()
    out = {"objects": report.objects, "seconds": seconds, "stored": stored, "revision": report.revision or 0}
    if report.writer_peak_mb is not None:  # the sync wrote in a second process: its memory counts too
        out["writer_peak_mb"] = report.writer_peak_mb
    return out


def main() -> None:
    mode, url, root, *rest = sys.argv[1:]
    result = ceiling(url, root) if mode == "ceiling" else sync(url, root, rest[0])
    result["peak_mb"] = vm_hwm_mb() + result.get("writer_peak_mb", 0.0)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()

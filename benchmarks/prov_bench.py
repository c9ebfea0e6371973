"""ProvMnS benchmark: the twin's HTTP face against ceilings measured in the same run.

    python benchmarks/prov_bench.py [--objects 1000000] [--db twin-1m.db] [--seconds 10]

Needs wrk (Debian package `wrk`). Builds (or reuses, with --db) a twin of --objects objects,
serves it with `mns serve` and a bare FastAPI app answering a constant object of the same
size with the same uvicorn settings (benchmarks/ceiling_app.py), and drives both with wrk
(1 thread, 16 connections, loopback only, a bounded duration). Goals (issue 3): single-object
GET at least 0.6 of the ceiling; PATCH (merge) at least 0.3 of it; a 10,000-object subtree GET
at most 2x the store's raw subtree read; the server's peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mns.nrm.dn import SEP_NEXT, key_to_dn, to_key  # noqa: E402
from mns.sim.generate import count_objects, generate_network, gnbs_for  # noqa: E402
from mns.store import Create, Scope, SqlStore  # noqa: E402

REGION_OBJECTS = 10_000
"""Objects per generated region: a region is the subtree read measured."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    """Requests/s and latency percentiles from one bounded wrk run (1 thread, 16 connections)."""
    out = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        if m:
            lat[pct] = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    return {
        "rps": rps,
        "p50_ms": lat.get("50", float("nan")),
        "p99_ms": lat.get("99", float("nan")),
        "errors": errors,
    }


def lua_paths(paths: list[str], method: str = "GET", body: str | None = None, ctype: str | None = None) -> str:
    items = ",".join('"' + p.replace('"', '\\"') + '"' for p in paths)
    lines = [f"local paths = {{{items}}}", "local n = 0", "request = function()", "  n = n + 1"]
    lines.append("  local p = paths[math.random(#paths)]")
    if body is None:
        lines.append(f'  return wrk.format("{method}", p)')
    else:
        lines.append(f'  local b = string.format("{body}", n)')
        lines.append(f'  return wrk.format("{method}", p, {{["Content-Type"] = "{ctype}"}}, b)')
    lines.append("end")
    return "\n".join(lines)


def build(db: str, objects: int, seed: int) -> dict[str, list[str]]:
    """Create (or reuse) the twin; returns sample DNs: random objects, cells, regions."""
    gnbs = gnbs_for(objects, seed=seed)
    regions = max(1, count_objects(gnbs, seed=seed) // REGION_OBJECTS)
    store = SqlStore(db)
    if store.head() == 0:
        t = time.perf_counter()
        network = generate_network(gnbs, seed=seed, regions=regions)
        store.commit((Create(o.dn, o.attrs, o.cls) for o in network), source="real")
        print(f"built a twin of {store.count():,} objects in {time.perf_counter() - t:.0f} s")
    else:
        print(f"reusing {db}: {store.count():,} objects")
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()

        def dns(sql: str) -> list[str]:
            cur.execute(sql)
            return [key_to_dn(r[0]) for r in cur.fetchall()]

        current = "FROM moi WHERE branch = 0 AND rev_to IS NULL"
        sample = {
            "objects": dns(f"SELECT path {current} ORDER BY random() LIMIT 5000"),
            "cells": dns(f"SELECT path {current} AND cls = 'NRCellDU' ORDER BY random() LIMIT 5000"),
            "regions": dns(f"SELECT path {current} AND cls = 'SubNetwork' AND depth = 2"),
        }
    finally:
        raw.close()
        store.close()
    return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--db", help="reuse (or create) this SQLite file instead of a temporary one")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sync", choices=("full", "normal"), default="full", help="the server's SQLite durability")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")

    tmp = tempfile.TemporaryDirectory()
    db = args.db or str(Path(tmp.name) / "twin.db")
    sample = build(db, args.objects, args.seed)
    paths = ["/ProvMnS/v1800/" + dn.replace(",", "/") for dn in sample["objects"]]
    cell_paths = ["/ProvMnS/v1800/" + dn.replace(",", "/") for dn in sample["cells"]]
    region = sample["regions"][0]

    port = free_port()
    twin = subprocess.Popen(
        [sys.executable, "-m", "mns.cli", "serve", "--db", db, "--port", str(port), "--sync", args.sync],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: list[tuple[str, str, str, str]] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(base + "/", twin)
        one = httpx.get(base + cell_paths[0]).content
        body_file = Path(tmp.name) / "body.json"
        body_file.write_bytes(one)

        cport = free_port()
        ceiling = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "ceiling_app:app",
                "--port",
                str(cport),
                "--log-level",
                "warning",
            ],
            cwd=HERE,
            env={**os.environ, "MNS_CEILING_BODY": str(body_file)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            cbase = f"http://127.0.0.1:{cport}"
            wait_up(cbase + "/ProvMnS/v1800/x=1", ceiling)
            get_script = Path(tmp.name) / "get.lua"
            get_script.write_text(lua_paths(paths))
            wrk(cbase, get_script, 2)  # warm-up
            wrk(base, get_script, 2)
            c = wrk(cbase, get_script, args.seconds)
            g = wrk(base, get_script, args.seconds)
            results.append(
                (
                    "single-object GET",
                    f"{g['rps']:,.0f} req/s (p50 {g['p50_ms']:.2f} ms, p99 {g['p99_ms']:.2f} ms)",
                    f"bare FastAPI {c['rps']:,.0f} req/s (p50 {c['p50_ms']:.2f} ms, p99 {c['p99_ms']:.2f} ms)",
                    f"{g['rps'] / c['rps']:.2f} (goal >= 0.6)",
                )
            )
            print(results[-1], "non-2xx:", g["errors"])
            patch_script = Path(tmp.name) / "patch.lua"
            patch_script.write_text(
                lua_paths(
                    cell_paths,
                    "PATCH",
                    '{\\"attributes\\":{\\"userLabel\\":\\"bench %d\\"}}',
                    "application/merge-patch+json",
                )
            )
            p = wrk(base, patch_script, args.seconds)
            results.append(
                (
                    "PATCH (merge)",
                    f"{p['rps']:,.0f} req/s (p50 {p['p50_ms']:.2f} ms, p99 {p['p99_ms']:.2f} ms)",
                    f"bare FastAPI GET {c['rps']:,.0f} req/s",
                    f"{p['rps'] / c['rps']:.2f} (goal >= 0.3)",
                )
            )
            print(results[-1], "non-2xx:", p["errors"])
        finally:
            ceiling.terminate()
            ceiling.wait(10)

        # A subtree GET of one region against the store's raw read of the same rows.
        url = base + "/ProvMnS/v1800/" + region.replace(",", "/")
        with httpx.Client(timeout=120) as client:
            timings = []
            size = 0
            for _ in range(3):
                t = time.perf_counter()
                r = client.get(url, params={"scopeType": "BASE_ALL"})
                timings.append(time.perf_counter() - t)
                size = len(r.content)
        # The ceiling: the store's own subtree read of the same objects (streamed, in key
        # order, without HTTP or JSON); the raw SQL read below it is for context.
        store = SqlStore(db)
        store_t = []
        n = 0
        for _ in range(3):
            t = time.perf_counter()
            n = sum(1 for _ in store.read(region, scope=Scope.BASE_ALL))
            store_t.append(time.perf_counter() - t)
        raw = store.engine.raw_connection()
        raw_t = []
        for _ in range(3):
            t = time.perf_counter()
            cur = raw.cursor()
            cur.execute(
                "SELECT path, cls, attrs, rev_from FROM moi WHERE branch = 0 AND rev_to IS NULL"
                " AND path >= ? AND path < ? ORDER BY path",
                (to_key(region), to_key(region) + SEP_NEXT),
            )
            rows = sum(1 for _ in cur)
            raw_t.append(time.perf_counter() - t)
        raw.close()
        store.close()
        assert rows == n
        results.append(
            (
                f"subtree GET ({n:,} objects, {size / 2**20:.1f} MiB)",
                f"{min(timings) * 1000:,.0f} ms",
                f"store subtree read {min(store_t) * 1000:,.0f} ms (raw SQL {min(raw_t) * 1000:,.0f} ms)",
                f"{min(timings) / min(store_t):.2f}x (goal <= 2x)",
            )
        )
        print(results[-1])
        peak = peak_rss_mb(twin.pid)
        results.append(
            (
                "server peak memory",
                f"{peak:,.0f} MB",
                "goal 300 MB",
                f"{peak / 300:.2f} of the goal",
            )
        )
        print(results[-1])
    finally:
        twin.terminate()
        twin.wait(10)
        tmp.cleanup()

    print()
    print(f"| measure (SQLite, sync {args.sync}, {args.objects:,} objects) | twin-mns | ceiling | ratio |")
    print("|---|---|---|---|")
    for row in results:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

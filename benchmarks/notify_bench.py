"""Notification and alarm list benchmark: against ceilings measured in the same run.

    python benchmarks/notify_bench.py [--objects 100000] [--seconds 10] [--subscribers 10]
        [--rate 100] [--latency-seconds 10] [--alarms 100000] [--sync full|normal]

Needs wrk (Debian package `wrk`). Traffic goes to 127.0.0.1 only. Three parts:

1. Write throughput with subscribers: `mns serve` (SQLite, --sync full by default) on a generated
   twin, driven by wrk with merge-patch PATCHes of random cells' userLabel (1 thread, 16
   connections, as benchmarks/prov_bench.py), first without subscriptions, then with
   --subscribers NtfSubscriptionControl objects made through ProvMnS (under the root
   SubNetwork, scope BASE_ALL, the four CM notification types), then without again (they are
   deleted); the ceiling is the better of the two runs without (a deleted subscription's
   worker stops only once it reads the deleting revision). Goal: PATCH/s with subscribers at
   least 0.8 of it. Also notifications delivered per second (all recipients) against PATCH/s.
2. Write-to-delivery latency at a fixed, moderate PATCH rate (--rate per second, sent on
   schedule whatever the answers' delay; run with the subscriptions, before the saturating run
   of part 1 so that no backlog counts): each PATCH sets a unique userLabel; each recipient
   notes when a notification carrying it arrives. p50/p99/max, and whether every recipient got
   every notification, in revision order.
3. GET /FaultSupervisionMnS/v1800/alarms over --alarms alarms (on a copy of the twin, made
   before the server starts), full and filtered, against the same rows read with one raw SQL
   query and joined with orjson plus the bare FastAPI app of benchmarks/ceiling_app.py sending
   a constant body of the same size; and the server's peak memory (VmHWM).

The recipients (benchmarks/notify_bench_sink.py) are one process apart from the twin: one
asyncio loop with a minimal HTTP/1.1 reader, so they take little CPU and none of the twin's GIL.
This machine has two cores for twin, wrk, recipients and this script; the CPU each process used
is printed for each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from notify_bench_alarms import alarm_total, make_alarms, raw_list  # noqa: E402
from prov_bench import build, free_port, lua_paths, peak_rss_mb, wait_up, wrk  # noqa: E402
from results import Row, print_results  # noqa: E402

from mns.notify.build import CHANGES, CM_TYPES, VALUE_CHANGES  # noqa: E402

P = "/ProvMnS/v1800"
ALARMS = "/FaultSupervisionMnS/v1800/alarms"
MERGE = {"Content-Type": "application/merge-patch+json"}
console = Console(width=200)


def uri(dn: str) -> str:
    """The ProvMnS path of an object."""
    return f"{P}/" + dn.replace(",", "/")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    """CPU seconds of this script's finished children (wrk)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class Sink:
    """The recipients' process (benchmarks/notify_bench_sink.py) and its control port."""

    def __init__(self, recipients: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "notify_bench_sink.py"), "--recipients", str(recipients)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ports = json.loads(self.proc.stdout.readline())
        self.urls = [f"http://127.0.0.1:{p}/ntf" for p in ports["recipients"]]
        self.control = httpx.Client(base_url=f"http://127.0.0.1:{ports['control']}", timeout=60)

    def reset(self, *, record: bool) -> None:
        """Forget what was received; record labels and times or only count."""
        self.control.post(f"/reset?record={int(record)}").raise_for_status()

    def stats(self) -> dict[str, Any]:
        """Counts per recipient (and records in record mode)."""
        r = self.control.get("/stats")
        r.raise_for_status()
        stats: dict[str, Any] = orjson.loads(r.content)
        return stats

    def total(self) -> int:
        """Notifications received by all recipients."""
        return sum(self.stats()["counts"])

    def close(self) -> None:
        self.control.close()
        self.proc.terminate()
        self.proc.wait(10)


def serve(db: str, sync: str) -> tuple[subprocess.Popen[bytes], str]:
    """`mns serve` on a free loopback port; returns the process and its base URL once it answers."""
    port = free_port()
    mns = ["-m", "mns.cli"]
    proc = subprocess.Popen(
        [sys.executable, *mns, "serve", "--db", db, "--port", str(port), "--sync", sync],
        cwd=HERE.parent,
        stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("NB_SERVER_LOG", os.devnull), "ab"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/", proc)
    return proc, base


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Run:
    """One bounded wrk run of PATCHes and what the recipients received meanwhile."""

    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    patches: int
    seconds: float
    delivered_in_window: int = 0
    expected: int = 0
    drain_s: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)


def head(client: httpx.Client) -> int:
    """The live twin's newest revision."""
    return int(client.get("/").json()["revision"])


def patch_run(
    name: str, client: httpx.Client, twin: subprocess.Popen[bytes], sink: Sink, script: Path, seconds: int
) -> Run:
    """wrk PATCHes for ``seconds``; the revisions made count the PATCHes that changed the twin."""
    sink.reset(record=False)
    rev0 = head(client)
    cpu0 = (cpu_s(twin.pid), cpu_s(sink.proc.pid), children_cpu_s())
    t0 = time.monotonic()
    r = wrk(client.base_url.scheme + "://" + client.base_url.netloc.decode(), script, seconds)
    wall = time.monotonic() - t0
    delivered = sink.total()
    cpu1 = (cpu_s(twin.pid), cpu_s(sink.proc.pid), children_cpu_s())
    cpu = {k: (b - a) / wall for k, a, b in zip(("twin", "recipients", "wrk"), cpu0, cpu1, strict=True)}
    run = Run(name, r["rps"], r["p50_ms"], r["p99_ms"], int(r["errors"]), head(client) - rev0, wall, delivered)
    run.cpu = cpu
    return run


def drain(sink: Sink, expected: int, timeout: float) -> float | None:
    """Seconds until the recipients have ``expected`` notifications in all; None on timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if sink.total() >= expected:
            return time.monotonic() - t0
        time.sleep(0.1)
    return None


def subscribe(client: httpx.Client, root: str, sink: Sink) -> list[str]:
    """One NtfSubscriptionControl per recipient under the root SubNetwork (BASE_ALL, CM types)."""
    dns = []
    for i, url in enumerate(sink.urls):
        dn = f"{root},NtfSubscriptionControl=bench{i}"
        body = {
            "id": f"bench{i}",
            "attributes": {
                "notificationRecipientAddress": url,
                "notificationTypes": list(CM_TYPES),
                "scope": [{"scopeType": "BASE_ALL"}],
            },
        }
        r = client.put(uri(dn), json=body)
        if r.status_code != 201:
            raise SystemExit(f"creating {dn} failed: {r.status_code} {r.text}")
        dns.append(dn)
    return dns


IN_FLIGHT = 16
"""PATCHes of the latency run waiting for their answers at once, at most."""

PER_PATCH = len({VALUE_CHANGES, CHANGES} & set(CM_TYPES))
"""Notifications a userLabel PATCH gives each subscriber: notifyMOIAttributeValueChanges, notifyMOIChanges."""


def first_delivery(client: httpx.Client, sink: Sink, cell: str, timeout: float) -> float | None:
    """Seconds until every recipient has both notifications of one PATCH; None on timeout."""
    sink.reset(record=False)
    r = client.patch(uri(cell), content=orjson.dumps({"attributes": {"userLabel": "warm-up"}}), headers=MERGE)
    r.raise_for_status()
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if min(sink.stats()["counts"]) >= PER_PATCH:
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


@dataclass
class Latency:
    """The write-to-delivery latency run."""

    sent: int
    achieved_rate: float
    patch_p99_ms: float
    lat_ms: list[float]
    missing: int
    duplicates: int
    out_of_order: int
    recipients: int


async def on_schedule(one: Callable[[int], Awaitable[None]], slots: asyncio.Semaphore, rate: float, n: int) -> float:
    """Start ``one(i)`` for i < n at ``rate`` per second, each once it holds a slot of ``slots``
    (``one`` releases it); none after 3x the scheduled time. The rate achieved."""
    start = time.monotonic()
    stop_at = start + 3 * n / rate
    tasks = []
    for i in range(n):
        pause = start + i / rate - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        await slots.acquire()
        if time.monotonic() > stop_at:
            slots.release()
            break
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return len(tasks) / (time.monotonic() - start)


async def paced_patches(
    base: str, cells: list[str], rate: float, n: int
) -> tuple[dict[str, tuple[float, int]], list[float], float]:
    """Up to ``n`` PATCHes sent on a schedule of ``rate``/s, each with a unique userLabel.

    At most IN_FLIGHT wait for their answers at once (a twin that cannot keep the rate lowers
    it), and none is sent after 3x the scheduled time. Returns label -> (send time, revision),
    the PATCHes' own latencies (ms) and the rate achieved.
    """
    sent: dict[str, tuple[float, int]] = {}
    patch_ms: list[float] = []
    slots = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def one(i: int) -> None:
            label = f"lat {i}"
            body = orjson.dumps({"attributes": {"userLabel": label}})
            t = time.monotonic()
            try:
                try:
                    r = await client.patch(uri(cells[i % len(cells)]), content=body, headers=MERGE)
                except (httpx.ReadError, httpx.RemoteProtocolError):  # a keep-alive connection closed under us
                    r = await client.patch(uri(cells[i % len(cells)]), content=body, headers=MERGE)
            finally:
                slots.release()
            patch_ms.append((time.monotonic() - t) * 1000)
            if r.status_code != 204:
                raise SystemExit(f"PATCH failed: {r.status_code} {r.text}")
            sent[label] = (t, int(r.headers["x-twin-revision"]))

        achieved = await on_schedule(one, slots, rate, n)
        return sent, patch_ms, achieved


def latency_run(
    base: str, sink: Sink, cells: list[str], rate: float, seconds: int, per: int, timeout: float
) -> Latency:
    """PATCHes at ``rate``/s, each with a unique userLabel; when each recipient got their notifications."""
    sink.reset(record=True)
    sent, patch_ms, achieved = asyncio.run(paced_patches(base, cells, rate, int(rate * seconds)))
    n = len(sent)
    recipients = len(sink.urls)
    drain(sink, n * per * recipients, timeout)
    records = sink.stats()["records"]
    lat, missing, dups, disorder = [], 0, 0, 0
    for got in records:
        seen: set[tuple[str, str]] = set()
        last_rev = 0
        for label, kind, t in got:
            if label not in sent:
                continue
            if (label, kind) in seen:
                dups += 1
                continue
            seen.add((label, kind))
            t_send, rev = sent[label]
            lat.append((t - t_send) * 1000)
            if rev < last_rev:
                disorder += 1
            last_rev = max(last_rev, rev)
        missing += n * per - len(seen)
    return Latency(n, achieved, pct(patch_ms, 0.99), lat, missing, dups, disorder, recipients)


def profile(pid: int, out: str, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling the twin (all threads, idle ones too) into ``out`` (collapsed stacks).

    Non-blocking (py-spy does not stop the twin to sample it), yet it takes CPU of its own: the
    figures of a profiled run are not the benchmark's.
    """
    if shutil.which("py-spy") is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    return subprocess.Popen(
        [
            *("py-spy", "record", "--pid", str(pid), "--format", "raw", "--threads", "--idle", "-r", "200"),
            *("-d", str(int(seconds) + 5), "-o", out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def write_part(args: argparse.Namespace, db: str, sample: dict[str, list[str]]) -> tuple[list[Run], Latency, float]:
    """Parts 1 and 2 on one server: runs without, with, and again without subscribers."""
    cells = sample["cells"]
    root = sample["regions"][0].split(",")[0] if sample["regions"] else "SubNetwork=RAN"
    tmp = Path(db).parent
    scripts = {}
    for tag in ("warm", "none", "subs", "again"):
        scripts[tag] = tmp / f"patch-{tag}.lua"
        body = '{\\"attributes\\":{\\"userLabel\\":\\"' + tag + ' %d\\"}}'
        scripts[tag].write_text(lua_paths([uri(c) for c in cells], "PATCH", body, "application/merge-patch+json"))
    twin, base = serve(db, args.sync)
    sink = Sink(args.subscribers)
    runs: list[Run] = []
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            wrk(base, scripts["warm"], 2)
            runs.append(patch_run("without subscribers", client, twin, sink, scripts["none"], args.seconds))
            console.print(runs[-1])
            subs = subscribe(client, root, sink)
            first = first_delivery(client, sink, cells[0], args.drain_timeout)
            console.print(f"first PATCH delivered to all {len(subs)} recipients in {first} s")
            per = PER_PATCH
            # The latency run comes first, on a worker without a backlog.
            latency = latency_run(base, sink, cells, args.rate, args.latency_seconds, per, args.drain_timeout)
            console.print(
                f"latency: {latency.sent} PATCHes at {latency.achieved_rate:.0f}/s, {len(latency.lat_ms)} deliveries,"
                f" missing {latency.missing}, duplicates {latency.duplicates}, out of order {latency.out_of_order}"
            )
            spy = profile(twin.pid, args.profile, args.seconds + args.drain_timeout) if args.profile else None
            run = patch_run(f"with {len(subs)} subscribers", client, twin, sink, scripts["subs"], args.seconds)
            run.expected = run.patches * per * len(subs)
            run.drain_s = drain(sink, run.expected, args.drain_timeout)
            runs.append(run)
            console.print(run)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its profile when interrupted
                spy.wait(60)
            for dn in subs:
                client.delete(uri(dn)).raise_for_status()
            time.sleep(1)
            runs.append(patch_run("without subscribers, again", client, twin, sink, scripts["again"], args.seconds))
            console.print(runs[-1])
        peak = peak_rss_mb(twin.pid)
    finally:
        stop(twin)
        sink.close()
    return runs, latency, peak


@dataclass
class Read:
    """One alarm list GET against its ceilings."""

    name: str
    alarms: int
    size: int
    twin_s: float
    http_s: float
    sql_s: float

    @property
    def ratio(self) -> float:
        return self.twin_s / (self.http_s + self.sql_s)


def timed_get(client: httpx.Client, url: str, params: dict[str, str], times: int) -> tuple[float, bytes]:
    """The fastest of ``times`` GETs, and the body."""
    best, body = float("inf"), b""
    for _ in range(times):
        t = time.perf_counter()
        r = client.get(url, params=params)
        best = min(best, time.perf_counter() - t)
        if r.status_code != 200:
            raise SystemExit(f"GET {url} {params}: {r.status_code} {r.text[:500]}")
        body = r.content
    return best, body


def ceiling_get(body: bytes, tmp: Path, times: int) -> float:
    """The fastest GET of ``body`` from the bare FastAPI app (benchmarks/ceiling_app.py)."""
    body_file = tmp / "ceiling-body.json"
    body_file.write_bytes(body)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ceiling_app:app", "--port", str(port), "--log-level", "warning"],
        cwd=HERE,
        env={**os.environ, "MNS_CEILING_BODY": str(body_file)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}{P}/x=1"
        wait_up(url, proc)
        with httpx.Client(timeout=120) as client:
            return timed_get(client, url, {}, times)[0]
    finally:
        stop(proc)


def alarm_part(args: argparse.Namespace, db: str, region: str) -> tuple[list[Read], float, float]:
    """Part 3: the alarm list GETs on a server of the twin with alarms; (reads, peak MB, idle MB)."""
    queries = [
        ("full alarm list", {}, {}),
        (
            "alarmAckState=ALL_UNACKNOWLEDGED_ALARMS",
            {"alarmAckState": "ALL_UNACKNOWLEDGED_ALARMS"},
            {"unacked": True},
        ),
        (f"baseObjectInstance={region}", {"baseObjectInstance": region}, {"base": region}),
    ]
    twin, base = serve(db, args.sync)
    bodies = []
    try:
        idle = peak_rss_mb(twin.pid)
        with httpx.Client(base_url=base, timeout=300) as client:
            for name, params, _ in queries:
                seconds, body = timed_get(client, ALARMS, params, args.reads)
                bodies.append((name, seconds, body))
                console.print(f"{name}: {len(body) / 2**20:.1f} MiB in {seconds * 1000:.0f} ms")
        peak = peak_rss_mb(twin.pid)
    finally:
        stop(twin)
    reads = []
    for (name, seconds, body), (_, _, raw) in zip(bodies, queries, strict=True):
        sql = min(raw_list(db, **raw) for _ in range(args.reads))
        if sql[1] != len(body):
            console.print(f"[yellow]{name}: the raw read has {sql[1]} bytes, the twin's answer {len(body)}[/yellow]")
        http = ceiling_get(body, Path(db).parent, args.reads)
        reads.append(Read(name, len(orjson.loads(body)), len(body), seconds, http, sql[0]))
    return reads, peak, idle


def copy_db(src: str, dst: str) -> None:
    """A consistent copy of a SQLite twin (the backup API; WAL content included)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def verdict(ok: bool) -> str:
    return "[green]yes[/green]" if ok else "[red]no[/red]"


def write_rows(args: argparse.Namespace, runs: list[Run], lat: Latency, twin_peak: float) -> list[Row]:
    """Rows of parts 1 and 2."""
    none_a, subs, none_b = runs
    # The better run without: the one after can still carry the deleted subscriptions' work.
    ceiling = max(none_a.rps, none_b.rps)

    def cpu(run: Run) -> str:
        return ", ".join(f"{k} {v:.0%}" for k, v in run.cpu.items())

    ratio = subs.rps / ceiling
    rows: list[Row] = [
        (
            f"PATCH/s with {args.subscribers} subscribers",
            f"{subs.rps:,.0f} req/s (p50 {subs.p50_ms:.1f} ms, p99 {subs.p99_ms:.1f} ms); CPU {cpu(subs)}",
            f"without, before and after: {none_a.rps:,.0f} and {none_b.rps:,.0f} req/s"
            f" (p99 {none_a.p99_ms:.1f}, {none_b.p99_ms:.1f} ms); CPU {cpu(none_a)}",
            f"{ratio:.2f}",
            ">= 0.8",
            verdict(ratio >= 0.8),
        )
    ]
    in_window = subs.delivered_in_window / subs.seconds
    wanted = subs.expected / subs.seconds
    drained = "never (timeout)" if subs.drain_s is None else f"{subs.drain_s:.1f} s"
    rows.append(
        (
            "notifications delivered/s during that run (all recipients)",
            f"{in_window:,.0f}/s; the backlog took {drained} after the run",
            f"{wanted:,.0f}/s made ({subs.patches:,} PATCHes x {subs.expected // max(1, subs.patches):,})",
            f"{in_window / wanted:.2f}" if wanted else "-",
            "1.0 (keeps up)",
            verdict(subs.drain_s is not None and subs.drain_s < 1.0),
        )
    )
    lats = lat.lat_ms
    rows.append(
        (
            f"write-to-delivery latency at {lat.achieved_rate:.0f} PATCH/s"
            f" ({lat.sent:,} PATCHes, {len(lats):,} deliveries)",
            f"p50 {pct(lats, 0.5):.1f} ms, p99 {pct(lats, 0.99):.1f} ms, max {max(lats):.1f} ms" if lats else "none",
            f"the PATCH itself: p99 {lat.patch_p99_ms:.1f} ms",
            f"{pct(lats, 0.99) / lat.patch_p99_ms:.1f}x" if lats else "-",
            "-",
            "-",
        )
    )
    rows.append(
        (
            "every recipient got every notification, in revision order",
            f"missing {lat.missing}, duplicates {lat.duplicates}, out of order {lat.out_of_order}",
            f"{lat.recipients} recipients",
            "-",
            "all, in order",
            verdict(lat.missing == 0 and lat.out_of_order == 0),
        )
    )
    rows.append(("server peak memory (VmHWM), write runs", f"{twin_peak:,.0f} MB", "", "", "", ""))
    return rows


def alarm_rows(reads: list[Read], peak: float, idle: float) -> list[Row]:
    """Rows of part 3."""
    rows: list[Row] = [
        (
            f"GET alarms: {r.name} ({r.alarms:,} alarms, {r.size / 2**20:.1f} MiB)",
            f"{r.twin_s * 1000:,.0f} ms",
            f"raw SQL + orjson {r.sql_s * 1000:,.0f} ms + bare FastAPI constant body {r.http_s * 1000:,.0f} ms",
            f"{r.ratio:.2f}x",
            "<= 1.5x",
            verdict(r.ratio <= 1.5),
        )
        for r in reads
    ]
    rows.append(
        (
            "server peak memory (VmHWM) with the alarm GETs",
            f"{peak:,.0f} MB (after start {idle:,.0f} MB)",
            "",
            f"{peak / 300:.2f} of the goal",
            "< 300 MB",
            verdict(peak < 300),
        )
    )
    return rows


def prepare(args: argparse.Namespace, keep: Path, db: str, alarm_db: str) -> dict[str, list[str]]:
    """The generated twin at ``db`` and, with alarms, at ``alarm_db``; both made once in ``keep``."""
    keep.mkdir(parents=True, exist_ok=True)
    twin = keep / f"twin-{args.objects}-{args.seed}.db"
    sample = build(str(twin), args.objects, args.seed)
    if args.parts in ("all", "alarms"):
        alarms = keep / f"alarms-{args.objects}-{args.seed}-{args.alarms}.db"
        if not alarms.exists() or alarm_total(str(alarms)) < args.alarms:
            copy_db(str(twin), str(alarms))
            made = make_alarms(str(alarms), args.alarms)
            console.print(
                f"raised {args.alarms:,} alarms in {made['raised_s']:.1f} s, acknowledged {made['acked']:,.0f}"
                f" in {made['acked_s']:.1f} s"
            )
        copy_db(str(alarms), alarm_db)
    copy_db(str(twin), db)
    return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=100_000, help="size of the generated twin")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk PATCH run")
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100.0, help="PATCH/s of the latency run")
    parser.add_argument("--latency-seconds", type=int, default=10)
    parser.add_argument("--drain-timeout", type=float, default=60.0, help="seconds to wait for the backlog")
    parser.add_argument("--alarms", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=3, help="GETs of each alarm list (the fastest counts)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", help="make the generated twin and alarm databases once in this directory")
    parser.add_argument("--parts", choices=("all", "write", "alarms"), default="all")
    parser.add_argument(
        "--profile", help="write a py-spy profile (collapsed stacks) of the twin during the run with subscribers"
    )
    parser.add_argument("--sync", choices=("full", "normal"), default="full", help="the server's SQLite durability")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        db, alarm_db = str(Path(tmp) / "twin.db"), str(Path(tmp) / "alarms.db")
        sample = prepare(args, Path(args.cache) if args.cache else Path(tmp), db, alarm_db)
        if args.parts in ("all", "write"):
            runs, latency, twin_peak = write_part(args, db, sample)
            rows += write_rows(args, runs, latency, twin_peak)
            if any(r.errors for r in runs):
                console.print("[yellow]some PATCHes were not answered 2xx[/yellow]")
        if args.parts in ("all", "alarms"):
            region = sample["regions"][0] if sample["regions"] else sample["objects"][0]
            reads, peak, idle = alarm_part(args, alarm_db, region)
            rows += alarm_rows(reads, peak, idle)
    title = f"notify_bench: SQLite, sync {args.sync}, {args.objects:,} objects, {args.alarms:,} alarms"
    print_results(console, title, rows, ceiling="ceiling")


if __name__ == "__main__":
    main()

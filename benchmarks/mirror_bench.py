"""Mirror benchmark: the twin following `mns sim`, against ceilings measured in the same run.

    python benchmarks/mirror_bench.py [--objects 300000] [--cache DIR] [--rate 100] [--seconds 20]
        [--repeat 3] [--full] [--small]

Traffic goes to 127.0.0.1 only. The sims (`mns sim --gnbs N --state FILE`, no PM backfill, no
drift) run as subprocesses; --cache keeps their SQLite stores between runs (`mns sim` reuses a
store that is not empty). Two networks: the target (--objects, at least 300,000 by default) and
a medium one of a tenth of it. Three parts (issue 5):

1. Initial sync rate: objects per second of the mirror's full sync into an empty twin
   (benchmarks/mirror_bench_child.py `sync`: `mns.mirror.sync.full_sync`, the code `mns serve
   --mirror` runs for an empty twin) against the ceiling of only downloading and parsing the same
   tree with the same client (`MnsClient.iter_subtree`, child `ceiling`). Each run is a process
   of its own, the two alternate (ceiling, sync, ceiling, sync, ... --repeat times); the best of
   each counts. Goal (issue 5, on the target network of at least 300,000 objects): at least 0.5
   of the ceiling. On both networks the full sync writes in a second process that it starts
   (`mns.mirror.writer`); its start-up (importing the store, some 0.5 s) is inside the time, which
   weighs on the medium network's one-second sync (measured, no goal).
2. Memory: the sync's peak resident memory (VmHWM, imports included; the reading process's plus
   the writing process's) on the medium network against the target one. Goal: at most 1.5x (the
   sync streams).
3. Lag: a twin `mns serve --mirror SIM --no-notify-process` on the medium network (the target
   one with --full) follows the sim; once it says "mirroring", merge-patch PATCHes of the sim's
   cells (a unique userLabel each, --rate per second for --seconds, on schedule whatever the
   answers' delay) go to the sim's ProvMnS. Afterwards the sim's and the twin's
   `GET /TwinMnS/v1/history/{DN}` give, for each change, the time of the sim's revision that made
   it and of the twin's revision that applied it: the lag is the difference (both on this
   machine's clock). p50/p99/max (the issue sets no bound on it), and whether every change
   arrived (goal: all).

This machine has two cores for the sim, the mirror and this script; the CPU the sim used during
each run is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from notify_bench import cpu_s, on_schedule, pct, stop  # noqa: E402
from prov_bench import free_port  # noqa: E402
from results import Row, print_results, verdict  # noqa: E402

from mns.nrm.dn import key_to_dn  # noqa: E402
from mns.sim.generate import count_objects, gnbs_for  # noqa: E402

P = "/ProvMnS/v1800"
MIRROR = "/TwinMnS/v1/mirror"
HISTORY = "/TwinMnS/v1/history/"
MERGE = {"Content-Type": "application/merge-patch+json"}
ROOT = "SubNetwork=RAN"
IN_FLIGHT = 16
"""PATCHes of the lag run waiting for their answers at once, at most."""
SYNC_GOAL, MEMORY_GOAL = 0.5, 1.5
console = Console(width=200)


def uri(dn: str) -> str:
    """The ProvMnS path of an object."""
    return f"{P}/" + dn.replace(",", "/")


def wait_up(url: str, proc: subprocess.Popen[bytes], seconds: float) -> None:
    """Wait until ``url`` answers (a sim building a large store takes minutes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server for {url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


@dataclass
class Network:
    """One sim network: its store file, size and a sample of its cells."""

    gnbs: int
    objects: int
    state: Path
    cells: list[str] = field(default_factory=list)


def network(keep: Path, objects: int, seed: int) -> Network:
    """The sim network of at least ``objects`` objects, its store kept in ``keep``."""
    gnbs = gnbs_for(objects, seed=seed)
    return Network(gnbs, count_objects(gnbs, seed=seed), keep / f"sim-{gnbs}-{seed}.db")


class Sim:
    """`mns sim` on a free loopback port, over the network's store (built on first start)."""

    def __init__(self, net: Network, seed: int, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        built = net.state.exists()
        t = time.monotonic()
        command = [sys.executable, "-m", "mns.cli", "sim", "--gnbs", str(net.gnbs), "--seed", str(seed)]
        command += ["--state", str(net.state), "--port", str(self.port), "--pm-backfill-hours", "0"]
        self.proc = subprocess.Popen(
            command,
            cwd=HERE.parent,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "ab"),  # noqa: SIM115
        )
        try:
            wait_up(self.base + "/", self.proc, 3600)
        except BaseException:
            stop(self.proc)
            raise
        what = "started on its kept store" if built else "built its store and started"
        console.print(f"sim of {net.objects:,} objects ({net.gnbs} gNBs) {what} in {time.monotonic() - t:.0f} s")
        if not net.cells:
            net.cells = cells_of(net.state)

    def cpu(self) -> float:
        """CPU seconds the sim has used so far."""
        return cpu_s(self.proc.pid)

    def close(self) -> None:
        stop(self.proc)


def cells_of(state: Path) -> list[str]:
    """The DNs of the network's NRCellDU objects (read from the sim's store, read-only)."""
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT path FROM moi WHERE branch = 0 AND rev_to IS NULL AND cls = 'NRCellDU' ORDER BY path"
        ).fetchall()
    db.close()
    return [key_to_dn(r[0]) for r in rows]


# -- parts 1 and 2: the initial sync against the download -------------------------------------


@dataclass
class Run:
    """One child run: a download (ceiling) or a full sync."""

    mode: str
    objects: int
    seconds: float
    peak_mb: float
    sim_cpu: float
    stored: int = 0

    @property
    def rate(self) -> float:
        return self.objects / self.seconds


def child(sim: Sim, mode: str, twin: Path | None, timeout: float) -> Run:
    """One run of benchmarks/mirror_bench_child.py; the sim's CPU share during it."""
    command = [sys.executable, str(HERE / "mirror_bench_child.py"), mode, sim.base, ROOT]
    if twin is not None:
        for old in twin.parent.glob(twin.name + "*"):
            old.unlink()
        command.append(str(twin))
    cpu0, t0 = sim.cpu(), time.monotonic()
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.monotonic() - t0
    if out.returncode != 0:
        raise SystemExit(f"the {mode} run failed:\n{out.stderr[-3000:]}")
    got: dict[str, Any] = orjson.loads(out.stdout.strip().splitlines()[-1])
    run = Run(
        mode, int(got["objects"]), got["seconds"], got["peak_mb"], (sim.cpu() - cpu0) / wall, int(got.get("stored", 0))
    )
    console.print(
        f"  {mode:8} {run.objects:,} objects in {run.seconds:.2f} s = {run.rate:,.0f}/s,"
        f" peak {run.peak_mb:.0f} MB, sim CPU {run.sim_cpu:.0%}"
    )
    if mode == "sync" and run.stored != run.objects:
        console.print(f"[yellow]the twin holds {run.stored:,} objects, the sync read {run.objects:,}[/yellow]")
    return run


def sync_runs(sim: Sim, tmp: Path, repeat: int, timeout: float) -> tuple[list[Run], list[Run]]:
    """Ceiling and sync runs, alternating."""
    ceilings, syncs = [], []
    for _ in range(repeat):
        ceilings.append(child(sim, "ceiling", None, timeout))
        syncs.append(child(sim, "sync", tmp / "synced.db", timeout))
    return ceilings, syncs


# -- part 3: change in the sim to revision in the twin -----------------------------------------


class Twin:
    """`mns serve --mirror SIM` on a free loopback port, over a fresh store."""

    def __init__(self, sim: Sim, db: Path, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "mns.cli", "serve", "--db", str(db), "--port", str(self.port)]
        command += ["--mirror", sim.base, "--no-notify-process"]
        self.proc = subprocess.Popen(command, cwd=HERE.parent, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))  # noqa: SIM115
        wait_up(self.base + "/", self.proc, 120)

    def status(self) -> dict[str, Any]:
        """The mirror's status document."""
        r = httpx.get(self.base + MIRROR, timeout=30)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def mirroring(self, timeout: float) -> dict[str, Any]:
        """Wait until the mirror follows the sim (its first sync done)."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the twin exited with {self.proc.returncode}")
            status = self.status()
            if status["state"] == "mirroring":
                return status
            time.sleep(0.5)
        raise SystemExit(f"the mirror did not reach 'mirroring' in {timeout:.0f} s: {status}")

    def close(self) -> None:
        stop(self.proc)


async def paced_patches(base: str, cells: list[str], rate: float, n: int, tag: str) -> tuple[dict[str, str], float]:
    """Up to ``n`` PATCHes on a schedule of ``rate``/s, each cell's userLabel set to a unique label.

    At most IN_FLIGHT wait for their answers at once (a sim that cannot keep the rate lowers it),
    and none is sent after 3x the scheduled time. Returns label -> DN and the rate achieved.
    """
    sent: dict[str, str] = {}
    slots = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def one(i: int) -> None:
            dn, label = cells[i % len(cells)], f"{tag} {i}"
            body = orjson.dumps({"attributes": {"userLabel": label}})
            try:
                r = await client.patch(uri(dn), content=body, headers=MERGE)
            finally:
                slots.release()
            if r.status_code != 204:
                raise SystemExit(f"PATCH {dn} failed: {r.status_code} {r.text[:500]}")
            sent[label] = dn

        return sent, await on_schedule(one, slots, rate, n)


def label_times(client: httpx.Client, dn: str, tag: str) -> dict[str, float]:
    """userLabel -> time of the revision that set it, for the labels of this run in one object's history."""
    r = client.get(HISTORY + dn.replace(",", "/"))
    r.raise_for_status()
    out: dict[str, float] = {}
    for version in orjson.loads(r.content)["versions"]:
        label = (version.get("attributes") or {}).get("userLabel")
        if isinstance(label, str) and label.startswith(tag) and label not in out:
            out[label] = datetime.fromisoformat(version["time"]).timestamp()
    return out


@dataclass
class Lag:
    """The lag run."""

    objects: int
    sent: int
    achieved_rate: float
    lag_ms: list[float]
    sim_found: int
    caught_up_s: float | None
    first_sync_s: float
    mirror_p99_ms: float | None
    sim_cpu: float


def lag_run(args: argparse.Namespace, sim: Sim, net: Network, tmp: Path) -> Lag:
    """The twin follows the sim while the sim's cells change at --rate per second."""
    twin = Twin(sim, tmp / "twin.db", tmp / "twin.log")
    try:
        t = time.monotonic()
        status = twin.mirroring(args.timeout)
        first = (status.get("lastFullSync") or {}).get("seconds", time.monotonic() - t)
        console.print(f"twin mirroring after a first sync of {first:.1f} s ({status['objectsRead']:,} objects read)")
        received0 = status["notifications"]["received"]
        cells = list(net.cells)
        random.Random(args.seed).shuffle(cells)
        n = int(args.rate * args.seconds)
        tag = f"mirror-lag {time.time():.0f}"
        cpu0, t0 = sim.cpu(), time.monotonic()
        sent, achieved = asyncio.run(paced_patches(sim.base, cells, args.rate, n, tag))
        sim_cpu = (sim.cpu() - cpu0) / (time.monotonic() - t0)
        console.print(f"{len(sent):,} PATCHes at {achieved:.0f}/s to {min(len(cells), len(sent)):,} cells")
        # Caught up: the twin received a notification per PATCH and has none waiting.
        caught_up = None
        deadline = time.monotonic() + args.drain_timeout
        while time.monotonic() < deadline:
            status = twin.status()
            notes = status["notifications"]
            if notes["received"] - received0 >= len(sent) and notes["pending"] == 0:
                caught_up = time.monotonic() - t0
                break
            time.sleep(0.25)
        time.sleep(0.5)  # the last batch's revision is written before the counters move
        dns = sorted(set(sent.values()))
        sim_t: dict[str, float] = {}
        twin_t: dict[str, float] = {}
        with (
            httpx.Client(base_url=sim.base, timeout=60) as sim_client,
            httpx.Client(base_url=twin.base, timeout=60) as twin_client,
        ):
            for dn in dns:
                sim_t.update(label_times(sim_client, dn, tag))
                twin_t.update(label_times(twin_client, dn, tag))
        lags = [(twin_t[label] - sim_t[label]) * 1000 for label in sent if label in sim_t and label in twin_t]
        by_second: dict[int, float] = {}
        for label in sent:
            if label in sim_t and label in twin_t:
                second = int(int(label.rsplit(" ", 1)[1]) / args.rate)
                by_second[second] = max(by_second.get(second, 0.0), (twin_t[label] - sim_t[label]) * 1000)
        worst = " ".join(f"{v:.0f}" for _, v in sorted(by_second.items()))
        console.print(f"largest lag in each second of the run (ms): {worst}")
        p99 = status.get("lagMs", {}).get("p99")
        return Lag(net.objects, len(sent), achieved, lags, len(sim_t), caught_up, first, p99, sim_cpu)
    finally:
        twin.close()
        forget_subscriptions(sim)


def forget_subscriptions(sim: Sim) -> None:
    """Take the twin's subscriptions off the sim, whose store --cache keeps for the next run
    (the sim's admin restart forgets every subscription, as an EMS that lost its state)."""
    httpx.post(sim.base + "/sim/admin/restart", timeout=60).raise_for_status()


# -- the report ---------------------------------------------------------------------------------


def sync_row(objects: int, ceilings: list[Run], syncs: list[Run], *, goal: bool) -> tuple[Row, float]:
    """The sync rate against the download's, best of each (against the goal on the target network)."""
    c, s = max(ceilings, key=lambda r: r.rate), max(syncs, key=lambda r: r.rate)
    ratio = s.rate / c.rate
    row = (
        f"initial sync, {objects:,} objects (best of {len(syncs)})",
        f"{s.rate:,.0f} objects/s ({s.seconds:.1f} s; sim CPU {s.sim_cpu:.0%})",
        f"download only: {c.rate:,.0f} objects/s ({c.seconds:.1f} s; sim CPU {c.sim_cpu:.0%})",
        f"{ratio:.2f}",
        f">= {SYNC_GOAL}" if goal else "(measured)",
        verdict(ratio >= SYNC_GOAL) if goal else "-",
    )
    return row, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=300_000, help="size of the target sim network (at least)")
    parser.add_argument("--small", action="store_true", help="a quick run: 20,000 objects, lag for 5 s")
    parser.add_argument("--full", action="store_true", help="measure the lag on the target network, not the medium")
    parser.add_argument("--cache", help="keep the sims' SQLite stores in this directory between runs")
    parser.add_argument("--rate", type=float, default=100.0, help="changes per second in the lag run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the lag run")
    parser.add_argument("--repeat", type=int, default=3, help="ceiling and sync runs, alternating, per network")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds any one sync or download may take")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait for the twin to catch up")
    parser.add_argument("--parts", choices=("all", "sync", "lag"), default="all")
    args = parser.parse_args()
    if args.small:
        args.objects, args.seconds = 20_000, min(args.seconds, 5.0)
    rows: list[Row] = []
    goals: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mirror-bench-") as tmp_name:
        tmp = Path(tmp_name)
        keep = Path(args.cache) if args.cache else tmp
        keep.mkdir(parents=True, exist_ok=True)
        medium = network(keep, args.objects // 10, args.seed)
        target = network(keep, args.objects, args.seed)
        peaks: dict[str, float] = {}
        lag: Lag | None = None
        for net in (medium, target):
            console.print(f"[bold]network of {net.objects:,} objects[/bold]")
            sim = Sim(net, args.seed, tmp / "sim.log")
            try:
                if args.parts in ("all", "sync"):
                    ceilings, syncs = sync_runs(sim, tmp, args.repeat, args.timeout)
                    row, ratio = sync_row(net.objects, ceilings, syncs, goal=net is target)
                    rows.append(row)
                    peaks[str(net.objects)] = max(r.peak_mb for r in syncs)
                    if net is target:
                        goals.append(f"{verdict(ratio >= SYNC_GOAL)} sync rate {ratio:.2f} of the download (>= 0.5)")
                if args.parts in ("all", "lag") and (net is target) == args.full:
                    lag = lag_run(args, sim, net, tmp)
            finally:
                sim.close()
        if len(peaks) == 2:
            small, large = peaks[str(medium.objects)], peaks[str(target.objects)]
            growth = large / small
            rows.append(
                (
                    "sync peak memory (VmHWM of both processes, imports included)",
                    f"{large:,.0f} MB at {target.objects:,} objects",
                    f"{small:,.0f} MB at {medium.objects:,} objects",
                    f"{growth:.2f}x",
                    f"<= {MEMORY_GOAL}x",
                    verdict(growth <= MEMORY_GOAL),
                )
            )
            goals.append(f"{verdict(growth <= MEMORY_GOAL)} sync peak memory grows {growth:.2f}x for 10x objects")
        if lag is not None:
            rows += lag_rows(lag)
            ok = len(lag.lag_ms) == lag.sent
            p99 = f"{pct(lag.lag_ms, 0.99):,.0f} ms" if lag.lag_ms else "none arrived"
            arrived = f"{len(lag.lag_ms):,} of {lag.sent:,} changes reached the twin"
            goals.append(f"{verdict(ok)} {arrived} (goal: all); p99 lag {p99}")
    print_results(console, f"mirror_bench: mns sim -> twin (SQLite), seed {args.seed}", rows, goals)


def lag_rows(lag: Lag) -> list[Row]:
    """Rows of the lag run."""
    lags = lag.lag_ms
    caught = "never (timeout)" if lag.caught_up_s is None else f"{lag.caught_up_s:.1f} s after the first PATCH"
    mirror = f"{lag.mirror_p99_ms:,.0f} ms" if lag.mirror_p99_ms is not None else "-"
    return [
        (
            f"lag, sim revision -> twin revision, {lag.achieved_rate:.0f} changes/s on {lag.objects:,} objects",
            f"p50 {pct(lags, 0.5):,.0f} ms, p99 {pct(lags, 0.99):,.0f} ms, max {max(lags):,.0f} ms" if lags else "-",
            f"the mirror's own eventTime-to-applied p99: {mirror}; sim CPU {lag.sim_cpu:.0%}",
            "-",
            "(measured)",
            "-",
        ),
        (
            "changes that reached the twin",
            f"{len(lags):,} of {lag.sent:,} (in the sim's history: {lag.sim_found:,}); caught up {caught}",
            f"first sync through `mns serve --mirror`: {lag.first_sync_s:.1f} s",
            "-",
            "all",
            verdict(len(lags) == lag.sent),
        ),
    ]


if __name__ == "__main__":
    main()

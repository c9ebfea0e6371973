"""Verification benchmark: incremental checks, sandbox creation and the full audit, against ceilings.

    python benchmarks/verify_bench.py [--objects 1000000] [--small 10000] [--cache DIR] [--repeat 5]
        [--parts all|incremental|sandbox|audit]

Two twins of the same generator (seed --seed), --small and --objects managed objects, each loaded
with the store's bulk path; --cache keeps the SQLite files between runs. Goals (issue 6):

1. Verification of a 50-object change set (``verify_sandbox``, not saved) takes at most 2x as
   long on the big twin as on the small one. The change set is the same kind at both sizes:
   the 10 cells nearest the middle of one region get a new PCI (+3, so the PCI mod 3 stays)
   and are LOCKED, and 40 relations pointing at them (4 per cell, from cells outside the 10)
   get the nRTCI of the new PCI. The region is that of the site nearest the network's centre,
   and only cells whose neighbours (both ways) all lie in that region qualify, so that at both
   sizes the cells are in the interior: as many cells list them, and no ExternalNRCellCU
   stands for them. The first verification on a database builds the two reverse-lookup
   indexes (``ensure_indexes``); it runs untimed, then the median of --repeat runs counts.
   The plans of the lookups' SQL are printed (each must use an index, never scan ``moi``).
2. Sandbox creation (one row) at both sizes: medians of 30, at most 2x apart.
3. A full ``audit`` of the big twin against the ceiling of reading the same rows with plain
   SQL (``SELECT path, cls, attrs FROM moi WHERE branch = 0 AND rev_to IS NULL`` through the
   driver) and parsing each one's attributes with ``orjson.loads``: every rule must parse, so
   parsing is part of the ceiling. Best of 3 for the ceiling, best of 2 for the audit, which
   on a twin this size runs its network rules in a second process (``audit(processes=None)``).
   Goal: at most 5x. Also printed: the CPU time of both processes, and the audit in one
   process (``processes=1``), against the same ceiling.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import Row, print_results, verdict

from mns.sim.generate import generate_network, gnbs_for, nr_tci, plan_network
from mns.sim.layout import Cell, NetworkPlan
from mns.store import Create, SqlStore, Update
from mns.store.api import CommitJob
from mns.verify import audit, verify_sandbox
from mns.verify.views import ADJACENT, StoreView, ensure_indexes

console = Console(width=150)
INCREMENTAL_GOAL = 2.0
SANDBOX_GOAL = 2.0
AUDIT_GOAL = 5.0
CELLS = 10
RELATIONS_PER_CELL = 4


def cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended (the audit's second process)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


@dataclass
class Twin:
    """One twin: its store, the plan it was generated from and its size."""

    store: SqlStore
    plan: NetworkPlan
    objects: int


def build(folder: Path, objects: int, seed: int) -> Twin:
    """Open (or build, with the store's bulk path) the twin of about ``objects`` objects."""
    gnbs = gnbs_for(objects, seed=seed)
    store = SqlStore(str(folder / f"verify-{gnbs}-{seed}.db"))
    if store.head() == 0:
        t = time.perf_counter()
        network = (Create(o.dn, o.attrs, o.cls) for o in generate_network(gnbs, seed=seed))
        result = store.commit_job(CommitJob(network, source="real", message="verify_bench", bulk=True))
        console.print(f"built a twin of {result.created_count:,} objects in {time.perf_counter() - t:.0f} s")
    else:
        console.print(f"reusing the twin of {gnbs:,} gNBs in {folder}")
    return Twin(store, plan_network(gnbs, seed=seed), store.count())


# -- 1. the change set -------------------------------------------------------------------------


def interior_cells(plan: NetworkPlan, n: int) -> list[Cell]:
    """The ``n`` cells nearest the middle of the central region whose neighbours all lie in it."""
    incoming: dict[int, list[int]] = defaultdict(list)
    for c in plan.cells:
        for t in c.neighbours:
            incoming[t].append(c.index)

    def region(cell: int) -> int:
        return plan.sites[plan.cells[cell].site].region

    def middle(sites: list[Any]) -> tuple[float, float]:
        return statistics.fmean(s.latitude for s in sites), statistics.fmean(s.longitude for s in sites)

    lat, lon = middle(list(plan.sites))
    central = min(plan.sites, key=lambda s: ((s.latitude - lat) ** 2 + (s.longitude - lon) ** 2, s.index)).region
    lat, lon = middle([s for s in plan.sites if s.region == central])

    def inside(c: Cell) -> bool:
        return all(region(x) == central for x in (c.index, *c.neighbours, *incoming[c.index]))

    def distance(c: Cell) -> tuple[float, int]:
        s = plan.sites[c.site]
        return (s.latitude - lat) ** 2 + (s.longitude - lon) ** 2, c.index

    return sorted((c for c in plan.cells if inside(c)), key=distance)[:n]


def change_set(twin: Twin) -> tuple[list[Update], dict[str, int]]:
    """The 50 updates (see the module docstring) and some facts about them."""
    plan = twin.plan
    cells = interior_cells(plan, CELLS)
    chosen = {c.index for c in cells}
    view = StoreView(twin.store, rev=twin.store.head())
    ops: list[Update] = []
    listed = 0
    for c in cells:
        pci = (c.pci + 3) % 1008
        ops.append(Update(plan.cell_dn(c.index), {"nRPCI": pci, "administrativeState": "LOCKED"}))
        target = plan.cell_dn(c.index, "NRCellCU")
        sources = sorted(s.index for s in plan.cells if c.index in s.neighbours)
        listed += len(sources)
        edited = 0
        for s in sources:
            if s in chosen or edited == RELATIONS_PER_CELL:
                continue
            for dn, cls, attrs in view.children(plan.cell_dn(s, "NRCellCU")):
                if cls == "NRCellRelation" and attrs.get(ADJACENT) == target:
                    ops.append(Update(dn, {"nRTCI": nr_tci(c.nci, pci)}))
                    edited += 1
                    break
    facts = {"sites": len({c.site for c in cells}), "in-neighbours": listed}
    return ops, facts


# -- 1. incremental verification ---------------------------------------------------------------


@dataclass
class Incremental:
    """Verification of the change set on one twin."""

    objects: int
    seconds: list[float]
    scope: int
    findings: int
    introduced: int
    facts: dict[str, int]
    first: float

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def incremental(twin: Twin, repeat: int) -> Incremental:
    """Median time of ``verify_sandbox`` on a sandbox holding the change set (not saved)."""
    ops, facts = change_set(twin)
    assert len(ops) == CELLS * (1 + RELATIONS_PER_CELL), f"change set of {len(ops)} objects"
    store = twin.store
    t_index, _ = timed(lambda: ensure_indexes(store))
    sandbox = store.create_branch(name="verify_bench")
    try:
        store.commit(ops, source="oss", branch=sandbox.id, message="verify_bench change set")
        first, report = timed(lambda: verify_sandbox(store, sandbox.id, save=False))
        seconds = [timed(lambda: verify_sandbox(store, sandbox.id, save=False))[0] for _ in range(repeat)]
    finally:
        store.drop_branch(sandbox.id)
    return Incremental(
        twin.objects, seconds, report.objects, len(report.findings), len(report.introduced), facts, first + t_index
    )


def query_plans(store: SqlStore) -> list[tuple[str, str]]:
    """SQLite's plans of the statements incremental verification issues, and whether each uses an index."""
    probe = "SubNetwork=RAN,SubNetwork=X,ManagedElement=Y,GNBCUCPFunction=1,NRCellCU=1"
    statements = {
        "referrers": (
            "SELECT path FROM moi INDEXED BY ix_verify_adjacent WHERE cls = 'NRCellRelation'"
            " AND json_extract(attrs, '$.adjacentNRCellRef') = ? AND branch = 0"
            " AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?)",
            (probe, 1, 1),
        ),
        "functions_with_gnb_id": (
            "SELECT path, cls, attrs FROM moi INDEXED BY ix_verify_gnb_id WHERE cls IN ('ExternalGNBCUCPFunction',"
            " 'GNBCUCPFunction', 'GNBCUUPFunction', 'GNBDUFunction') AND json_extract(attrs, '$.gNBId') IN (?, ?)"
            " AND branch = 0 AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?)",
            (1, 2, 1, 1),
        ),
        "get (as of)": (
            "SELECT cls, attrs, rev_from FROM moi WHERE branch = ? AND path = ?"
            " AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?)",
            (0, probe, 1, 1),
        ),
        "children (as of)": (
            "SELECT path, cls, attrs, rev_from FROM moi WHERE branch = ? AND path >= ? AND path < ?"
            " AND depth >= ? AND depth <= ? AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?) ORDER BY path",
            (0, probe, probe + "\x02", 6, 6, 1, 1),
        ),
    }
    raw = store.engine.raw_connection()
    out = []
    try:
        cur = raw.cursor()
        for name, (sql, params) in statements.items():
            cur.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = "; ".join(str(r[-1]) for r in cur.fetchall())
            out.append((name, plan))
    finally:
        raw.close()
    return out


# -- 2. sandbox creation -----------------------------------------------------------------------


def sandbox_creation(store: SqlStore, n: int = 30) -> float:
    """Median seconds of creating a sandbox (they are dropped afterwards)."""
    made = []
    times = []
    for _ in range(n):
        t, branch = timed(store.create_branch)
        times.append(t)
        made.append(branch.id)
    for branch_id in made:
        store.drop_branch(branch_id)
    return statistics.median(times)


# -- 3. the audit --------------------------------------------------------------------------------


def raw_scan(store: SqlStore) -> int:
    """The ceiling: the same rows by plain SQL through the driver, each one's attributes parsed."""
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT path, cls, attrs FROM moi WHERE branch = 0 AND rev_to IS NULL")
        n = 0
        for _path, _cls, attrs in cur:
            orjson.loads(attrs)
            n += 1
        return n
    finally:
        raw.close()


# -- the report ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1_000_000, help="size of the big twin (at least)")
    parser.add_argument("--small", type=int, default=10_000, help="size of the small twin (at least)")
    parser.add_argument("--cache", help="keep the built twins (SQLite files) in this directory between runs")
    parser.add_argument("--repeat", type=int, default=5, help="timed verifications of the change set per twin")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parts", choices=("all", "incremental", "sandbox", "audit"), default="all")
    args = parser.parse_args()
    rows: list[Row] = []
    goals: list[str] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="verify-bench-") as tmp:
        folder = Path(args.cache) if args.cache else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        small, big = build(folder, args.small, args.seed), build(folder, args.objects, args.seed)
        try:
            if args.parts in ("all", "incremental"):
                runs = [incremental(twin, args.repeat) for twin in (small, big)]
                for run in runs:
                    console.print(
                        f"{run.objects:,} objects: change set on {run.facts['sites']} sites, listed by "
                        f"{run.facts['in-neighbours']} relations; scope {run.scope:,} objects; "
                        f"{run.findings} findings ({run.introduced} introduced); runs "
                        + ", ".join(f"{s * 1e3:.0f}" for s in run.seconds)
                        + f" ms; first run (builds the lookup indexes where missing) {run.first * 1e3:,.0f} ms"
                    )
                s, b = runs
                ratio = b.median / s.median
                rows.append(
                    (
                        f"verify a 50-object change set (median of {args.repeat})",
                        f"{b.median * 1e3:,.0f} ms at {b.objects:,} (scope {b.scope:,})",
                        f"{s.median * 1e3:,.0f} ms at {s.objects:,} (scope {s.scope:,})",
                        f"{ratio:.2f}x",
                        f"<= {INCREMENTAL_GOAL}x",
                        verdict(ratio <= INCREMENTAL_GOAL),
                    )
                )
                per = (b.median / b.scope) / (s.median / s.scope)
                rows.append(
                    (
                        "  the same per object in scope",
                        f"{b.median / b.scope * 1e6:,.0f} us at {b.objects:,}",
                        f"{s.median / s.scope * 1e6:,.0f} us at {s.objects:,}",
                        f"{per:.2f}x",
                        "(measured)",
                        "-",
                    )
                )
                goals.append(f"{verdict(ratio <= INCREMENTAL_GOAL)} change set verification {ratio:.2f}x apart")
                plans = query_plans(big.store)
                indexed = all("SCAN" not in plan for _, plan in plans)
                for name, plan in plans:
                    notes.append(f"query plan, {name}: {plan}")
                goals.append(f"{verdict(indexed)} every lookup of incremental verification uses an index")
            if args.parts in ("all", "sandbox"):
                t_small, t_big = sandbox_creation(small.store), sandbox_creation(big.store)
                ratio = t_big / t_small
                rows.append(
                    (
                        "sandbox creation (median of 30)",
                        f"{t_big * 1e3:.2f} ms at {big.objects:,}",
                        f"{t_small * 1e3:.2f} ms at {small.objects:,}",
                        f"{ratio:.2f}x",
                        f"<= {SANDBOX_GOAL}x",
                        verdict(ratio <= SANDBOX_GOAL),
                    )
                )
                goals.append(f"{verdict(ratio <= SANDBOX_GOAL)} sandbox creation {ratio:.2f}x apart")
            if args.parts in ("all", "audit"):
                t_raw = min(timed(lambda: raw_scan(big.store))[0] for _ in range(3))
                audits: list[tuple[float, float, list[Any], dict[str, float]]] = []
                for _ in range(2):
                    gc.collect()
                    phases: dict[str, float] = {}
                    cpu0, started = cpu_s(), time.perf_counter()

                    def progress(phase: str, n: int, at: dict[str, float] = phases, t0: float = started) -> None:
                        at[phase] = time.perf_counter() - t0

                    t_audit, found = timed(lambda: audit(big.store, progress=progress))
                    audits.append((t_audit, cpu_s() - cpu0, found, phases))
                t_audit, cpu, found, phases = min(audits, key=lambda r: r[0])
                gc.collect()
                t_one, _ = timed(lambda: audit(big.store, processes=1))
                ratio = t_audit / t_raw
                errors = sum(1 for f in found if f.severity.value == "error")
                rows.append(
                    (
                        f"full audit of {big.objects:,} objects (best of 2)",
                        f"{t_audit:.1f} s in two processes (per-object scan {phases.get('objects', 0):.1f} s), "
                        f"{len(found):,} findings, {errors} errors",
                        f"raw SQL + orjson.loads: {t_raw:.2f} s (best of 3)",
                        f"{ratio:.1f}x",
                        f"<= {AUDIT_GOAL}x",
                        verdict(ratio <= AUDIT_GOAL),
                    )
                )
                rows.append(
                    (
                        "  CPU time of both processes",
                        f"{cpu:.1f} s",
                        f"raw scan {t_raw:.2f} s",
                        f"{cpu / t_raw:.1f}x",
                        "(measured)",
                        "-",
                    )
                )
                rows.append(
                    (
                        "  the audit in one process (processes=1)",
                        f"{t_one:.1f} s",
                        f"raw scan {t_raw:.2f} s",
                        f"{t_one / t_raw:.1f}x",
                        "(measured)",
                        "-",
                    )
                )
                goals.append(f"{verdict(ratio <= AUDIT_GOAL)} full audit {ratio:.1f}x the raw scan")
        finally:
            small.store.close()
            big.store.close()
    print_results(console, f"verify_bench: SQLite, seed {args.seed}", rows, [*notes, *goals])


if __name__ == "__main__":
    main()

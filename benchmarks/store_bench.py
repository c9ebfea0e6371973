"""Twin store benchmark: each figure is a ratio against a ceiling measured in the same run.

    python benchmarks/store_bench.py [--objects 1000000] [--backend sqlite|postgres]

PostgreSQL takes its URL from MNS_BENCH_POSTGRES_DSN (or MNS_TEST_POSTGRES_DSN) and works in a
schema of its own that it drops afterwards. Goals (issue 2): bulk load at least 0.5 of a raw
executemany of the same rows; an as-of read of an old revision at most 1.5x the current read;
a 100,000-object subtree read at most 2x a raw SQL read of the same rows; sandbox creation at
10,000 and 1,000,000 objects at most 2x apart; the subtree read's memory flat.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mns.nrm.dn import SEP_NEXT, key_depth, to_key
from mns.sim.generate import GeneratedMoi, generate_network, gnbs_for
from mns.store import Create, Scope, SqlStore, Update


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def best_of(n: int, fn: Callable[[], Any]) -> float:
    return min(timed(fn)[0] for _ in range(n))


@contextmanager
def location(backend: str, tmp: Path) -> Iterator[Callable[[str], str]]:
    """Yields a factory of fresh store URLs on the chosen backend."""
    if backend == "sqlite":
        yield lambda name: str(tmp / f"{name}.db")
        return
    import psycopg

    dsn = os.environ.get("MNS_BENCH_POSTGRES_DSN") or os.environ.get("MNS_TEST_POSTGRES_DSN")
    if not dsn:
        sys.exit("set MNS_BENCH_POSTGRES_DSN (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    schemas: list[str] = []

    def make(name: str) -> str:
        schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        schemas.append(schema)
        sep = "&" if "?" in dsn else "?"
        return f"{dsn}{sep}options=-csearch_path%3D{schema}"

    try:
        yield make
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


def raw_insert(store: SqlStore, rows: list[tuple[Any, ...]]) -> None:
    """The ceiling: the driver's executemany of ready-made rows, in batches, one transaction."""
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        mark = "%s" if store.postgres else "?"
        sql = f"INSERT INTO moi (branch, path, rev_from, rev_to, depth, cls, attrs) VALUES ({','.join([mark] * 7)})"
        if not store.postgres:
            cur.execute("BEGIN")
        for i in range(0, len(rows), 2000):
            cur.executemany(sql, rows[i : i + 2000])
        raw.commit() if store.postgres else cur.execute("COMMIT")
    finally:
        raw.close()


def raw_subtree(store: SqlStore, key: str) -> int:
    """The ceiling of a subtree read: the same rows by plain SQL through the driver."""
    raw = store.engine.raw_connection()
    try:
        mark = "%s" if store.postgres else "?"
        sql = (
            "SELECT path, cls, attrs, rev_from FROM moi WHERE branch = 0 AND rev_to IS NULL"
            f" AND path >= {mark} AND path < {mark} ORDER BY path"
        )
        cur = raw.cursor(name="bench") if store.postgres else raw.cursor()
        if store.postgres:
            cur.itersize = 2000
        cur.execute(sql, (to_key(key), to_key(key) + SEP_NEXT))
        n = sum(1 for _ in cur)
        raw.commit() if store.postgres else None
        return n
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000, help="size of the small twin for sandbox creation")
    parser.add_argument("--subtree", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"twin store benchmark: {args.objects:,} objects on {args.backend}")
    gnbs = gnbs_for(args.objects, seed=args.seed)
    t_gen, objs = timed(lambda: list(generate_network(gnbs, seed=args.seed)))
    n = len(objs)
    print(f"generated {n:,} objects ({gnbs:,} gNBs) in {t_gen:.1f} s")
    rows = [(0, k, 1, None, key_depth(k), o.cls, orjson.dumps(o.attrs).decode()) for o in objs for k in (to_key(o.dn),)]

    results: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, location(args.backend, Path(tmp)) as fresh:
        # 1. Bulk load against raw executemany of the same rows.
        ceiling_store = SqlStore(fresh("raw"))
        t_raw, _ = timed(partial(raw_insert, ceiling_store, rows))
        ceiling_store.close()
        rows.clear()
        store = SqlStore(fresh("twin"))

        def load(objs: list[GeneratedMoi] = objs) -> Any:
            return store.commit((Create(o.dn, o.attrs, o.cls) for o in objs), source="real", message="bulk load")

        t_load, res = timed(load)
        assert len(res.created) == n, "bulk load lost objects"
        ratio = t_raw / t_load
        results.append(
            (
                "bulk load",
                f"{n / t_load:,.0f} obj/s",
                f"raw executemany {n / t_raw:,.0f} obj/s",
                f"{ratio:.2f} (goal >= 0.5)",
            )
        )
        print(results[-1])

        # Some history: ten revisions each changing 1,000 cells.
        cells = [o.dn for o in objs if o.cls == "NRCellDU"]
        for r in range(10):
            ops = [Update(dn, {"userLabel": f"rev {r}"}) for dn in cells[r * 1000 : (r + 1) * 1000]]
            store.commit(ops, source="real")

        # 2./3. A subtree of about --subtree objects: the region closest to that size.
        counts: dict[str, int] = {}
        for o in objs:
            parts = o.dn.split(",")
            for d in range(1, len(parts)):
                counts[",".join(parts[:d])] = counts.get(",".join(parts[:d]), 0) + 1
        key = min(counts, key=lambda k: abs(counts[k] - args.subtree))
        objs.clear()
        counts.clear()
        gc.collect()

        def read_current() -> int:
            return sum(1 for _ in store.read(key, scope=Scope.BASE_ALL))

        def read_old() -> int:
            return sum(1 for _ in store.read(key, scope=Scope.BASE_ALL, as_of=1))

        size = read_current()
        t_cur = best_of(3, read_current)
        t_old = best_of(3, read_old)
        results.append(
            (
                "as-of read (rev 1 of 11)",
                f"{size / t_old:,.0f} obj/s",
                f"current read {size / t_cur:,.0f} obj/s",
                f"{t_old / t_cur:.2f}x (goal <= 1.5x)",
            )
        )
        print(results[-1])
        t_rawread = best_of(3, lambda: raw_subtree(store, key))
        results.append(
            (
                f"subtree read ({size:,} objects)",
                f"{t_cur * 1000:,.0f} ms",
                f"raw SQL {t_rawread * 1000:,.0f} ms",
                f"{t_cur / t_rawread:.2f}x (goal <= 2x)",
            )
        )
        print(results[-1])

        tracemalloc.start()
        read_current()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        held = list(store.read(key, scope=Scope.BASE_ALL))
        _, peak_list = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del held
        results.append(
            (
                "subtree read peak memory",
                f"{peak / 2**10:,.0f} KiB streamed",
                f"{peak_list / 2**20:.1f} MiB held in a list",
                f"{peak / peak_list:.3f} of holding it",
            )
        )
        print(results[-1])

        # 4. Sandbox creation at 10,000 against 1,000,000 objects.
        small = SqlStore(fresh("small"))
        small.commit(
            (
                Create(o.dn, o.attrs, o.cls)
                for o in generate_network(gnbs_for(args.small, seed=args.seed), seed=args.seed)
            ),
            source="real",
        )
        t_small = statistics.median(timed(small.create_branch)[0] for _ in range(30))
        t_big = statistics.median(timed(store.create_branch)[0] for _ in range(30))
        results.append(
            (
                "sandbox creation",
                f"{t_big * 1e3:.2f} ms at {store.count():,}",
                f"{t_small * 1e3:.2f} ms at {small.count():,}",
                f"{t_big / t_small:.2f}x (goal <= 2x)",
            )
        )
        print(results[-1])
        small.close()
        store.close()

    print()
    print(f"| measure ({args.backend}, {n:,} objects) | twin-mns | ceiling | ratio |")
    print("|---|---|---|---|")
    for r in results:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()

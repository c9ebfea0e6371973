"""The ``mns`` command: serve the twin, load networks, look into its history."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mns.errors import MnsError

if TYPE_CHECKING:
    from mns.store import SqlStore

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="twin-mns: a network digital twin over 3GPP MnS",
)
console = Console(stderr=True)
out = Console()

T = TypeVar("T")

DbOpt = Annotated[str, typer.Option("--db", help="SQLite file, or a postgresql://user@host/db URL")]


def _fail(exc: MnsError) -> None:
    console.print(f"[red]error:[/red] {exc.message} [dim](rule: {exc.rule})[/dim]")
    raise typer.Exit(2)


def _progress(items: Iterable[T], total: int, what: str) -> Iterator[T]:
    """Iterate with a rich progress bar on stderr."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
    ) as progress:
        task = progress.add_task(what, total=total)
        for i, item in enumerate(items, 1):
            if i % 5000 == 0 or i == total:
                progress.update(task, completed=i)
            yield item


def demo_pm(store: SqlStore, *, seed: int, root: str, hours: int = 24) -> int:
    """A day of 15-minute PM for every cell of the demo network, following a daily curve."""
    from datetime import UTC, datetime, timedelta

    import orjson

    from mns.pm.store import PmStore
    from mns.sim.traffic import traffic, traffic_cells
    from mns.store import Scope

    objects = ((dn, cls, orjson.loads(attrs)) for dn, cls, attrs, _ in store.scan(root, scope=Scope.BASE_ALL))
    cells = traffic_cells(o for o in objects if o[1] in ("NRCellDU", "NRCellCU"))
    end = datetime.now(UTC)
    return PmStore(store).add(list(traffic(cells, end - timedelta(hours=hours), end, seed=seed)))


def load_demo(store_url: str, gnbs: int, *, seed: int, root: str, strict: bool = False) -> int:
    """Fill an empty twin with a generated network; returns the revision (0 if not empty)."""
    from mns.sim.generate import count_objects, generate_network
    from mns.store import Create, open_store

    store = open_store(store_url, strict=strict)
    try:
        if store.head() > 0:
            console.print(f"the twin already holds revision {store.head()}; not loading a demo network")
            return 0
        total = count_objects(gnbs, seed=seed, root=root)
        objects = _progress(generate_network(gnbs, seed=seed, root=root), total, f"loading {gnbs} gNBs")
        result = store.commit(
            (Create(o.dn, o.attrs, o.cls) for o in objects),
            source="real",
            author="mns demo",
            message=f"demo network: {gnbs} gNBs, seed {seed}",
        )
        console.print(f"loaded {len(result.created):,} objects as revision {result.rev}")
        from mns.fault import demo_alarms

        alarms = demo_alarms(store, seed)
        console.print(f"raised {len(alarms)} demo alarms")
        rows = demo_pm(store, seed=seed, root=root)
        console.print(f"loaded {rows:,} PM values (the last 24 hours of every cell, 15-minute periods)")
        return result.rev or 0
    finally:
        store.close()


@app.command()
def serve(
    db: DbOpt = "twin.db",
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    demo: Annotated[int, typer.Option(help="fill an empty twin with a generated network of N gNBs")] = 0,
    seed: Annotated[int, typer.Option(help="seed of the generated network")] = 1,
    root: Annotated[str, typer.Option(help="DN of the generated network's root")] = "SubNetwork=RAN",
    strict: Annotated[bool, typer.Option(help="missing mandatory attributes are errors, not warnings")] = False,
    prov_version: Annotated[str, typer.Option(help="ProvMnS version path segment")] = "v1800",
    mns_root: Annotated[str, typer.Option(help="path prefix of every MnS, e.g. /3GPPManagement")] = "",
    sync: Annotated[
        str, typer.Option(help="SQLite durability: full (nothing acknowledged is lost) or normal (faster writes)")
    ] = "full",
    notify_process: Annotated[
        bool, typer.Option(help="deliver notifications from a worker process of their own (else in the server)")
    ] = True,
) -> None:
    """Serve the twin: ProvMnS and the TwinMnS extensions."""
    import uvicorn

    from mns.producers.app import Settings, create_app
    from mns.store import open_store

    try:
        if demo:
            load_demo(db, demo, seed=seed, root=root, strict=strict)
        store = open_store(db, strict=strict, sync=sync)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except MnsError as exc:
        _fail(exc)
        return
    from mns.notify.delivery import NotifySettings

    base = f"http://{host}:{port}"
    root = mns_root.rstrip("/")
    prov_root = f"{base}{root}/ProvMnS/{prov_version}"
    settings = Settings(
        root=root,
        prov_version=prov_version,
        notify=NotifySettings(prov_root=prov_root),
        deliver=not notify_process,
    )
    roots = [m.dn for m in store.roots()]
    console.print(f"twin-mns serving revision {store.head()} of {db}")
    console.print(f"  ProvMnS: {base}{settings.prov_prefix}/" + (roots[0].replace(",", "/") if roots else "<DN>"))
    console.print(f"  TwinMnS: {base}{settings.root}/TwinMnS/v1/revisions")
    application = create_app(store, settings)  # its tables exist before the worker opens the store
    worker = _notify_worker(db, prov_root, root, prov_version) if notify_process else None
    try:
        uvicorn.run(application, host=host, port=port, log_level="warning")
    finally:
        if worker is not None:
            worker.terminate()  # SIGTERM: it saves its cursors and stops
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()


def _notify_worker(db: str, prov_root: str, root: str, prov_version: str) -> subprocess.Popen[bytes]:
    """The notification worker process (``mns.notify.worker``) on the same store."""
    command = [sys.executable, "-m", "mns.notify.worker", "--db", db, "--prov-root", prov_root]
    more = ["--mns-root", root, "--prov-version", prov_version, "--parent", str(os.getpid())]
    return subprocess.Popen([*command, *more])


@app.command()
def load(
    gnbs: Annotated[int, typer.Argument(help="number of gNBs to generate")],
    db: DbOpt = "twin.db",
    seed: Annotated[int, typer.Option(help="seed of the generated network")] = 1,
    root: Annotated[str, typer.Option(help="DN of the generated network's root")] = "SubNetwork=RAN",
) -> None:
    """Load a generated 5G RAN into an empty twin."""
    try:
        load_demo(db, gnbs, seed=seed, root=root)
    except MnsError as exc:
        _fail(exc)


@app.command()
def history(dn: Annotated[str, typer.Argument(help="the object's DN")], db: DbOpt = "twin.db") -> None:
    """Every version of one object."""
    from mns.store import open_store

    store = open_store(db)
    try:
        versions = store.history(dn)
    except MnsError as exc:
        _fail(exc)
        return
    table = Table("revision", "time", "source", "author", "change")
    for v in versions:
        change = "deleted" if v.attrs is None else ", ".join(f"{k}={val}" for k, val in sorted(v.attrs.items()))[:100]
        table.add_row(
            str(v.revision.rev),
            v.revision.time.isoformat(timespec="seconds"),
            v.revision.source,
            v.revision.author,
            change,
        )
    out.print(table)


@app.command()
def diff(
    from_rev: Annotated[str, typer.Argument(help="revision number or RFC 3339 time")],
    to_rev: Annotated[str, typer.Argument(help="revision number or RFC 3339 time (default: now)")] = "",
    db: DbOpt = "twin.db",
) -> None:
    """What changed between two revisions."""
    from mns.services.prov import parse_as_of
    from mns.store import open_store

    store = open_store(db)
    try:
        changes = list(store.diff(parse_as_of(from_rev), parse_as_of(to_rev or None)))
    except MnsError as exc:
        _fail(exc)
        return
    table = Table("object", "change", "attributes")
    for c in changes:
        detail = ", ".join(f"{k}: {o!r} -> {n!r}" for k, (o, n) in c.changed.items())
        table.add_row(c.dn, c.kind.value, detail[:120])
    out.print(table)


@app.command()
def sim(
    gnbs: Annotated[int, typer.Option(help="gNBs of the emulated network")] = 10,
    seed: Annotated[int, typer.Option(help="seed of the network, its drift and its faults")] = 1,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8100,
    state: Annotated[str | None, typer.Option(help="SQLite file or postgresql:// URL (default: a temp file)")] = None,
    root: Annotated[str, typer.Option(help="DN of the network's root")] = "SubNetwork=RAN",
    dialect: Annotated[str, typer.Option(help="stage2 or openapi (Rel-18 OpenAPI spellings on the wire)")] = "stage2",
    drift_per_min: Annotated[float, typer.Option(help="changes the network makes by itself per minute (0: none)")] = 0,
    pm_period: Annotated[int, typer.Option(help="PM granularity period, seconds")] = 900,
    time_scale: Annotated[float, typer.Option(help="how much faster than the wall the PM clock runs")] = 1.0,
    pm_backfill_hours: Annotated[float, typer.Option(help="hours of past PM loaded at start")] = 1.0,
    latency_ms: Annotated[float, typer.Option(help="latency added to every request, ms")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="share of requests answered 503")] = 0.0,
    timeout_rate: Annotated[float, typer.Option(help="share of requests held past a client's timeout")] = 0.0,
    timeout_hold_s: Annotated[float, typer.Option(help="how long a timed-out request is held, s")] = 30.0,
    fail_write: Annotated[int | None, typer.Option(help="the k-th write from start fails (500)")] = None,
    drop_notifications: Annotated[float, typer.Option(help="share of notifications lost")] = 0.0,
) -> None:
    """Serve an emulated vendor network (TS 28.532 producer) with drift, PM and fault injection."""
    import uvicorn

    from mns.sim.faults import FaultSettings
    from mns.sim.server import Sim, SimConfig, default_state
    from mns.store import open_store

    faults = FaultSettings(latency_ms, error_rate, timeout_rate, timeout_hold_s, fail_write, drop_notifications)
    base = f"http://{host}:{port}"
    config = SimConfig(
        gnbs=gnbs,
        seed=seed,
        root=root,
        dialect=dialect,
        drift_per_min=drift_per_min,
        pm_period=pm_period,
        time_scale=time_scale,
        pm_backfill_s=pm_backfill_hours * 3600,
        faults=faults,
        base_url=base,
    )
    db = state or default_state()
    try:
        emulated = Sim(open_store(db), config)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except MnsError as exc:
        _fail(exc)
        return
    console.print(f"mns sim: {gnbs} gNBs, seed {seed}, dialect {dialect}, state {db}")
    console.print(f"  ProvMnS: {base}{config.prov_prefix}/" + root.replace(",", "/"))
    console.print(f"  Fault MnS: {base}/FaultSupervisionMnS/v1800/alarms")
    console.print(f"  admin: {base}/sim/admin/faults (GET/PUT), {base}/sim/admin/restart (POST)")
    uvicorn.run(emulated.asgi, host=host, port=port, log_level="warning")


@app.command("conformance")
def conformance_command(
    url: Annotated[str, typer.Option("--url", help="MnS root of the producer, e.g. http://127.0.0.1:8000")],
    specs: Annotated[str | None, typer.Option(help="3GPP spec folder (default: $MNS_3GPP_SPECS)")] = None,
    prefix: Annotated[str, typer.Option(help="ProvMnS path below the MnS root")] = "/ProvMnS/v1800",
    dialect: Annotated[str, typer.Option(help="auto, stage2 or openapi")] = "auto",
) -> None:
    """Run the ProvMnS conformance suite against a producer; exit 1 on any failed check."""
    from pathlib import Path

    from mns.conformance import conformance

    conformance(url, specs=Path(specs) if specs else None, prefix=prefix, dialect=dialect)


def main() -> None:
    """Entry point for ``python -m mns``."""
    app(sys.argv[1:])


if __name__ == "__main__":
    main()

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

from mns.cli_sandbox import app as sandbox_app
from mns.cli_verify import audit_command
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
    from mns.store.api import CommitJob

    store = open_store(store_url, strict=strict)
    try:
        if store.head() > 0:
            console.print(f"the twin already holds revision {store.head()}; not loading a demo network")
            return 0
        total = count_objects(gnbs, seed=seed, root=root)
        objects = _progress(generate_network(gnbs, seed=seed, root=root), total, f"loading {gnbs} gNBs")
        job = CommitJob(
            (Create(o.dn, o.attrs, o.cls) for o in objects),
            source="real",
            author="mns demo",
            message=f"demo network: {gnbs} gNBs, seed {seed}",
            bulk=True,
        )
        result = store.commit_job(job)
        console.print(f"loaded {result.created_count:,} objects as revision {result.rev}")
        from mns.fault import demo_alarms

        alarms = demo_alarms(store, seed)
        console.print(f"raised {len(alarms)} demo alarms")
        rows = demo_pm(store, seed=seed, root=root)
        console.print(f"loaded {rows:,} PM values (the last 24 hours of every cell, 15-minute periods)")
        return result.rev or 0
    finally:
        store.close()


MirrorOpts = dict[str, float | str | None]


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
    mirror: Annotated[
        str | None, typer.Option(help="mirror this TS 28.532 producer (its base URL) into the twin and follow it")
    ] = None,
    mirror_root: Annotated[
        list[str] | None, typer.Option(help="root DN of the mirrored network (default: the producer lists them)")
    ] = None,
    public_url: Annotated[
        str | None, typer.Option(help="this twin's base URL as the mirrored producer reaches it")
    ] = None,
    reconcile_s: Annotated[float, typer.Option(help="seconds between reconciliations of the mirror (0: never)")] = 300,
    watch_s: Annotated[float, typer.Option(help="seconds between checks that the producer kept the subscription")] = 10,
    token: Annotated[str | None, typer.Option(help="bearer token for the mirrored producer")] = None,
) -> None:
    """Serve the twin: ProvMnS, Fault MnS, PM, the TwinMnS extensions; with --mirror, follow a network."""
    if demo and mirror:
        console.print("[red]error:[/red] --demo loads a generated network; --mirror copies one: give one of them")
        raise typer.Exit(2)
    if demo:
        try:
            load_demo(db, demo, seed=seed, root=root, strict=strict)
        except MnsError as exc:
            _fail(exc)
    opts: MirrorOpts = {"reconcile_s": reconcile_s, "watch_s": watch_s, "token": token, "public_url": public_url}
    _serve_twin(
        db,
        host=host,
        port=port,
        strict=strict,
        prov_version=prov_version,
        mns_root=mns_root,
        sync=sync,
        notify_process=notify_process,
        mirror=mirror,
        mirror_roots=tuple(mirror_root or ()),
        mirror_opts=opts,
    )


def _serve_twin(
    db: str,
    *,
    host: str,
    port: int,
    strict: bool = False,
    prov_version: str = "v1800",
    mns_root: str = "",
    sync: str = "full",
    notify_process: bool = True,
    mirror: str | None = None,
    mirror_roots: tuple[str, ...] = (),
    mirror_opts: MirrorOpts | None = None,
    banner: list[str] | None = None,
) -> None:
    """Open the store and serve the twin (with its mirror, when a producer is given) until stopped."""
    import uvicorn

    from mns.notify.delivery import NotifySettings
    from mns.producers.app import Settings, create_app
    from mns.store import open_store

    try:
        store = open_store(db, strict=strict, sync=sync)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except MnsError as exc:
        _fail(exc)
        return
    base = f"http://{host}:{port}"
    root = mns_root.rstrip("/")
    prov_root = f"{base}{root}/ProvMnS/{prov_version}"
    settings = Settings(
        root=root, prov_version=prov_version, notify=NotifySettings(prov_root=prov_root), deliver=not notify_process
    )
    application = create_app(store, settings)  # its tables exist before the worker opens the store
    if mirror is not None:
        _install_mirror(application, store, mirror, mirror_roots, base=base, root=root, opts=mirror_opts or {})
    roots = [m.dn for m in store.roots()] or list(mirror_roots)
    console.print(f"twin-mns serving revision {store.head()} of {db}")
    for line in banner or []:
        console.print(line)
    console.print(f"  ProvMnS: {base}{settings.prov_prefix}/" + (roots[0].replace(",", "/") if roots else "<DN>"))
    console.print(f"  TwinMnS: {base}{settings.root}/TwinMnS/v1/revisions")
    if mirror is not None:
        console.print(f"  mirror of {mirror}: {base}{settings.root}/TwinMnS/v1/mirror")
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


def _install_mirror(
    application: object,
    store: SqlStore,
    producer: str,
    roots: tuple[str, ...],
    *,
    base: str,
    root: str,
    opts: MirrorOpts,
) -> None:
    from mns.mirror.run import SyncProgress
    from mns.mirror.service import MirrorConfig
    from mns.producers.mirror import install

    public = opts.get("public_url")
    recipient = str(public) if public else base.replace("//0.0.0.0:", "//127.0.0.1:")
    token = opts.get("token")
    config = MirrorConfig(
        producer=producer.rstrip("/"),
        recipient=recipient,
        roots=roots,
        twin_root=root,
        reconcile_s=float(opts.get("reconcile_s") or 0),
        watch_s=float(opts.get("watch_s") or 10),
        token=str(token) if token else None,
    )
    install(application, store, config, progress=SyncProgress(console))


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


@app.command("mirror")
def mirror_command(
    producer: Annotated[str, typer.Option("--from", help="base URL of the TS 28.532 producer to mirror")],
    twin: Annotated[
        str, typer.Option(help="the twin: a SQLite file, a postgresql:// URL, or the http:// URL of a running twin")
    ] = "twin.db",
    root: Annotated[list[str] | None, typer.Option(help="root DN to mirror (default: the producer lists them)")] = None,
    once: Annotated[bool, typer.Option(help="copy (or reconcile) once and exit, without subscribing")] = False,
    host: Annotated[str, typer.Option(help="address the twin listens on for notifications")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port the twin listens on")] = 8000,
    public_url: Annotated[str | None, typer.Option(help="the twin's base URL as the producer reaches it")] = None,
    reconcile_s: Annotated[float, typer.Option(help="seconds between reconciliations (0: never)")] = 300,
    watch_s: Annotated[float, typer.Option(help="seconds between checks of the subscription")] = 10,
    token: Annotated[str | None, typer.Option(help="bearer token for the producer")] = None,
) -> None:
    """Mirror a producer into the twin: copy its NRM (progress shown), then follow its notifications.

    With a twin URL, ask that running twin (which mirrors the producer) to reconcile now.
    """
    roots = tuple(root or ())
    if twin.startswith(("http://", "https://")):
        _reconcile_remote(twin.rstrip("/"), producer.rstrip("/"))
        return
    if once:
        from mns.consumer.errors import MnsClientError
        from mns.mirror.run import once as copy_once
        from mns.store import open_store

        try:
            store = open_store(twin)
            report = copy_once(store, producer, roots, console=console, token=token, timeout=600.0)
        except MnsClientError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        except MnsError as exc:
            _fail(exc)
            return
        _print_report({**report.as_json(), "drift": [d.as_json() for d in report.drift]})
        return
    opts: MirrorOpts = {"reconcile_s": reconcile_s, "watch_s": watch_s, "token": token, "public_url": public_url}
    _serve_twin(twin, host=host, port=port, mirror=producer, mirror_roots=roots, mirror_opts=opts)


def _print_report(report: dict[str, object]) -> None:
    table = Table(title=f"mirror: {report['kind']} ({report['cause']})")
    table.add_column("objects read", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("revision", justify="right")
    table.add_column("repaired (created / modified / deleted)")
    table.add_column("dialect")
    repaired = report["repaired"]
    assert isinstance(repaired, dict)
    table.add_row(
        f"{report['objects']:,}",
        str(report["seconds"]),
        str(report["revision"]),
        f"{repaired['created']} / {repaired['modified']} / {repaired['deleted']}",
        str(report.get("dialect")),
    )
    out.print(table)
    for item in report.get("drift", []) or []:  # type: ignore[attr-defined]
        out.print(f"  {item['kind']:8} {item['dn']}  ({item['cause']})")


def _reconcile_remote(twin: str, producer: str) -> None:
    """Ask a running twin that mirrors ``producer`` to reconcile; show its progress."""
    import threading

    import httpx

    status = httpx.get(f"{twin}/TwinMnS/v1/mirror", timeout=30)
    if status.status_code == 404:
        hint = f"start it with: mns serve --mirror {producer}"
        console.print(f"[red]error:[/red] the twin at {twin} mirrors nothing; {hint}")
        raise typer.Exit(2)
    mirrored = status.json().get("producer")
    if mirrored != producer:
        console.print(f"[red]error:[/red] the twin at {twin} mirrors {mirrored}, not {producer}")
        raise typer.Exit(2)
    answer: dict[str, httpx.Response] = {}
    thread = threading.Thread(
        target=lambda: answer.update(r=httpx.post(f"{twin}/TwinMnS/v1/mirror/reconcile", timeout=3600)), daemon=True
    )
    thread.start()
    from mns.mirror.run import SyncProgress

    view = SyncProgress(console)
    while thread.is_alive():
        thread.join(0.5)
        view("reconciling", int(httpx.get(f"{twin}/TwinMnS/v1/mirror", timeout=30).json().get("objectsRead", 0)))
    response = answer["r"]
    if response.status_code != 200:
        console.print(f"[red]error:[/red] {response.status_code} {response.text}")
        raise typer.Exit(2)
    report = response.json()
    view("reconciliation done", int(report["objects"]))
    _print_report(report)


@app.command("demo")
def demo_command(
    gnbs: Annotated[int, typer.Option(help="gNBs of the emulated network")] = 50,
    seed: Annotated[int, typer.Option(help="seed of the network, its drift and its faults")] = 1,
    db: DbOpt = "twin.db",
    host: Annotated[str, typer.Option(help="address both servers listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port of the twin")] = 8000,
    sim_port: Annotated[int, typer.Option(help="port of the emulated network")] = 8100,
    dialect: Annotated[str, typer.Option(help="the emulated network's naming: stage2 or openapi")] = "stage2",
    drift_per_min: Annotated[float, typer.Option(help="changes the network makes by itself per minute")] = 6.0,
    reconcile_s: Annotated[float, typer.Option(help="seconds between reconciliations")] = 300,
) -> None:
    """Start an emulated network (mns sim) and a twin that mirrors it; print where they are."""
    from mns.mirror.run import serve_in_thread
    from mns.sim.server import Sim, SimConfig, default_state
    from mns.store import open_store

    sim_url = f"http://{host}:{sim_port}"
    config = SimConfig(
        gnbs=gnbs, seed=seed, dialect=dialect, drift_per_min=drift_per_min, pm_backfill_s=3600, base_url=sim_url
    )
    state = default_state()
    console.print(f"mns demo: emulating {gnbs} gNBs (seed {seed}, {dialect} names, state {state})")
    try:
        emulated = Sim(open_store(state), config)
        serve_in_thread(emulated.asgi, host, sim_port, "mns-demo-sim")
    except (ValueError, RuntimeError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    banner = [
        f"  network (mns sim): {sim_url}{config.prov_prefix}/SubNetwork=RAN  (faults: {sim_url}/sim/admin/faults)",
    ]
    opts: MirrorOpts = {"reconcile_s": reconcile_s, "watch_s": 10.0, "token": None, "public_url": None}
    _serve_twin(db, host=host, port=port, mirror=sim_url, mirror_roots=(config.root,), mirror_opts=opts, banner=banner)


app.add_typer(sandbox_app, name="sandbox")
app.command("audit")(audit_command)


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

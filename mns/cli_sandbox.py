"""``mns sandbox``: create, list, change, compare and delete sandboxes of the twin's store.

Works on the store directly (``--db``), the same store a running ``mns serve`` uses; the
HTTP face of the same is ``/TwinMnS/v1/sandboxes`` (``mns.producers.sandboxes``). Errors are
printed naming the object and the rule, and exit with status 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.table import Table

from mns.errors import MnsError

if TYPE_CHECKING:
    from mns.store import Change, SqlStore

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Sandboxes: branches of the live twin to try changes in before they are deployed",
)
console = Console(stderr=True)
out = Console()

DbOpt = Annotated[str, typer.Option("--db", help="SQLite file, or a postgresql://user@host/db URL")]
IdArg = Annotated[int, typer.Argument(help="the sandbox id")]
VALUE_WIDTH = 60
"""Longest rendering of one attribute value in a table cell."""


def _fail(message: str, rule: str | None = None) -> NoReturn:
    suffix = f" [dim](rule: {rule})[/dim]" if rule else ""
    console.print(f"[red]error:[/red] {message}{suffix}", highlight=False)
    raise typer.Exit(2)


@contextmanager
def _opened(db: str) -> Iterator[SqlStore]:
    """The store, closed afterwards; a domain error becomes a CLI error (exit 2)."""
    from mns.store import open_store  # the store's imports are paid by the commands that use it

    store = open_store(db)
    try:
        yield store
    except MnsError as exc:
        _fail(exc.message, exc.rule)
    finally:
        store.close()


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def change_rows(change: Change) -> list[str]:
    """How a table shows one change: one line per attribute (before -> after)."""
    from mns.store import ChangeKind

    if change.kind is ChangeKind.MODIFIED:
        return [f"{k}: {_value(o)} -> {_value(n)}" for k, (o, n) in change.changed.items()]
    # A created object shows what it is created with, a deleted one what it had.
    attrs = (change.after if change.kind is ChangeKind.CREATED else change.before) or {}
    return [f"{k}: {_value(v)}" for k, v in sorted(attrs.items())]


@app.command("create")
def create(
    db: DbOpt = "twin.db",
    name: Annotated[str, typer.Option(help="a name for the sandbox")] = "",
    base: Annotated[
        str | None, typer.Option(help="the live revision to branch from: a number or an RFC 3339 time (default: now)")
    ] = None,
    author: Annotated[str, typer.Option(help="who creates it")] = "",
) -> None:
    """Create a sandbox on the live twin (now, or as of a past revision)."""
    from mns.services.prov import parse_as_of

    with _opened(db) as store:
        sandbox = store.create_branch(name=name, base=parse_as_of(base), author=author)
    out.print(f"sandbox {sandbox.id} created on live revision {sandbox.base_rev}", highlight=False)


@app.command("list")
def list_(db: DbOpt = "twin.db") -> None:
    """Every sandbox, with its base, its own revisions and how many objects it changes."""
    with _opened(db) as store:
        rows = [(b, len(store.change_set(b.id))) for b in store.branches()]
    table = Table("id", "name", "base revision", "revisions", "changed objects", "created", "author", title="sandboxes")
    for b, changes in rows:
        created = b.created.isoformat(timespec="seconds")
        table.add_row(str(b.id), b.name, str(b.base_rev), str(b.head_rev), str(changes), created, b.author)
    out.print(table)


@app.command("apply")
def apply(
    sandbox: IdArg,
    file: Annotated[Path, typer.Argument(help="a JSON change set: 3GPP JSON patch operations or ProvMnS requests")],
    db: DbOpt = "twin.db",
    base: Annotated[str | None, typer.Option(help="the DN the patch paths are relative to")] = None,
    author: Annotated[str, typer.Option(help="who makes the change")] = "",
    message: Annotated[str, typer.Option(help="what the change is for")] = "",
) -> None:
    """Apply a change set file to a sandbox as one revision: all of it, or nothing."""
    from mns.services import sandbox as service

    try:
        body = orjson.loads(file.read_bytes())
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")
    except orjson.JSONDecodeError as exc:
        _fail(f"{file} is not JSON: {exc}")
    with _opened(db) as store:
        result = service.apply_change_set(
            store=store, sandbox=sandbox, body=body, base=base, author=author, message=message
        )
    if result.revision is None:
        out.print(f"sandbox {sandbox}: the change set changed nothing (no revision made)", highlight=False)
        return
    out.print(
        f"sandbox {sandbox} revision {result.rev}: {len(result.created)} created, {len(result.replaced)} modified, "
        f"{len(result.deleted)} deleted",
        highlight=False,
    )
    for dn, findings in result.findings.items():
        for finding in findings:
            console.print(f"[yellow]warning:[/yellow] {dn}: {finding}", highlight=False)


@app.command("diff")
def diff(sandbox: IdArg, db: DbOpt = "twin.db") -> None:
    """What a sandbox changed against its base: object, change, attributes before -> after."""
    from mns.services.sandbox import ordered

    with _opened(db) as store:
        branch = store.branch(sandbox)
        changes = ordered(store.change_set(sandbox))
    title = f"sandbox {branch.id} {branch.name}".rstrip() + f" against live revision {branch.base_rev}"
    table = Table("object", "change", "attributes", title=title)
    for c in changes:
        table.add_row(c.dn, c.kind.value, "\n".join(change_rows(c)))
    out.print(table)
    if not changes:
        out.print("no changes", highlight=False)


@app.command("delete")
def delete(sandbox: IdArg, db: DbOpt = "twin.db") -> None:
    """Delete a sandbox and everything it changed (the live twin is not touched)."""
    with _opened(db) as store:
        store.drop_branch(sandbox)
    out.print(f"sandbox {sandbox} deleted", highlight=False)


@app.command("verify")
def verify(
    sandbox: IdArg,
    db: DbOpt = "twin.db",
    limit: Annotated[int, typer.Option(help="findings shown in the table")] = 50,
) -> None:
    """Verify a sandbox's change set against its base; the findings, which it introduced (exit 1 on errors)."""
    from mns.verify.engine import verify_sandbox

    with _opened(db) as store:
        report = verify_sandbox(store, sandbox, save=True)
    introduced = {f.key for f in report.introduced}
    title = (
        f"sandbox {sandbox}: {len(report.errors)} error(s), {len(report.warnings)} warning(s), "
        f"{report.objects:,} objects looked at, {len(report.fixed)} finding(s) fixed"
    )
    table = Table("severity", "rule", "object", "message", "new", title=title)
    order = {"error": 0, "warning": 1, "info": 2}
    shown = sorted(report.findings, key=lambda f: (order[f.severity.value], f.key not in introduced, f.rule, f.dn))
    for f in shown[:limit]:
        table.add_row(f.severity.value, f.rule, f.dn, f.message, "yes" if f.key in introduced else "")
    out.print(table)
    if len(shown) > limit:
        out.print(f"... and {len(shown) - limit} more (--limit)", highlight=False)
    if report.errors:
        raise typer.Exit(1)


@app.command("deploy")
def deploy(
    sandbox: IdArg,
    twin: Annotated[str, typer.Option(help="the running twin (mns serve --mirror) that deploys it")] = (
        "http://127.0.0.1:8000"
    ),
    acknowledge: Annotated[
        list[str] | None, typer.Option(help="a warning acknowledged, as rule@dn (repeatable)")
    ] = None,
    acknowledge_all: Annotated[bool, typer.Option(help="acknowledge every warning")] = False,
) -> None:
    """Deploy a verified sandbox to the network, through the twin that mirrors it."""
    import httpx

    ack: bool | list[str] = True if acknowledge_all else list(acknowledge or [])
    url = f"{twin.rstrip('/')}/TwinMnS/v1/sandboxes/{sandbox}/deploy"
    with console.status(f"deploying sandbox {sandbox} through {twin}"):
        try:
            answer = httpx.post(url, json={"acknowledge": ack}, timeout=600)
        except httpx.HTTPError as exc:
            _fail(f"cannot reach the twin at {twin}: {exc}")
    if answer.status_code != 200:
        try:
            info = answer.json()["error"]["errorInfo"]
        except (ValueError, KeyError, TypeError):
            info = answer.text
        _fail(f"{answer.status_code}: {info}")
    record = answer.json()
    table = Table("step", "change", "object", "status", title=f"deployment {record['id']}: {record['status']}")
    for i, step in enumerate(record.get("steps", []), 1):
        table.add_row(str(i), str(step.get("kind", "")), str(step.get("dn", "")), str(step.get("status", "")))
    out.print(table)
    if record.get("mergedRevision") is not None:
        out.print(f"the live twin took it as revision {record['mergedRevision']}", highlight=False)
    for diff in record.get("differences", []):
        out.print(f"[red]differs:[/red] {diff['dn']}", highlight=False)
    if record["status"] != "applied":
        raise typer.Exit(1)

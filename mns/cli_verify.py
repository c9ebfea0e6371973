"""``mns audit``: every verification rule over the whole twin, as a table (a typer command function).

Register it with ``app.command("audit")(audit_command)`` in ``mns.cli``.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mns.errors import MnsError
from mns.verify.model import Finding

console = Console(stderr=True)


def _table(findings: list[Finding], limit: int) -> Table:
    table = Table(title=f"{len(findings)} findings" + (f" (first {limit})" if len(findings) > limit else ""))
    for column in ("severity", "rule", "object", "message"):
        table.add_column(column, overflow="fold")
    colour = {"error": "red", "warning": "yellow", "info": "dim"}
    for f in findings[:limit]:
        sev = f.severity.value
        table.add_row(f"[{colour[sev]}]{sev}[/{colour[sev]}]", f.rule, f.dn, f.message)
    return table


def audit_command(
    db: Annotated[str, typer.Option("--db", help="SQLite file, or a postgresql://user@host/db URL")] = "twin.db",
    branch: Annotated[int, typer.Option(help="sandbox id to audit (0: the live twin)")] = 0,
    as_of: Annotated[int | None, typer.Option("--as-of", help="revision to audit (default: the newest)")] = None,
    limit: Annotated[int, typer.Option(help="findings shown in the table")] = 50,
    rule: Annotated[list[str] | None, typer.Option(help="show only these rules (repeatable)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print every finding as JSON lines on stdout")] = False,
) -> None:
    """Run every verification rule over the whole twin and list what it finds (exit 1 on errors)."""
    from mns.store import open_store
    from mns.verify.audit import audit

    store = open_store(db)
    try:
        total = store.count(branch=branch)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=not console.is_terminal,
        ) as progress:
            tasks = {
                "scan": progress.add_task("reading the twin", total=total),
                "objects": progress.add_task("checking objects", total=total),
                "network": progress.add_task("checking cells and neighbours", total=None),
            }

            def advance(phase: str, done: int) -> None:
                progress.update(tasks[phase], completed=done, total=done if phase == "network" else total)

            findings = audit(store, branch=branch, as_of=as_of, progress=advance)
    except MnsError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    if rule:
        findings = [f for f in findings if f.rule in rule]
    if json_out:
        for f in findings:
            typer.echo(orjson.dumps(f.as_json()).decode())
    else:
        console.print(_table(findings, limit))
    counts = Counter((f.rule, f.severity.value) for f in findings)
    summary = Table(title="by rule")
    for column in ("rule", "severity", "findings"):
        summary.add_column(column)
    for (name, sev), n in sorted(counts.items()):
        summary.add_row(name, sev, str(n))
    console.print(summary)
    if any(f.severity.value == "error" for f in findings):
        raise typer.Exit(1)

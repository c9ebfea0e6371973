"""What a benchmark prints at the end: a table of measures against their ceilings and goals, then its lines."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

Row = tuple[str, str, str, str, str, str]
"""(measure, twin-mns, ceiling or reference, ratio, goal, holds)."""


def verdict(ok: bool) -> str:
    """PASS or FAIL, coloured."""
    return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"


def print_results(
    console: Console,
    title: str,
    rows: Iterable[Row],
    lines: Iterable[str] = (),
    *,
    ceiling: str = "ceiling / reference",
) -> None:
    """The final table (``ceiling`` heads the third column), then one line each of ``lines``."""
    table = Table(title=title)
    for col in ("measure", "twin-mns", ceiling, "ratio", "goal", "holds"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for line in lines:
        console.print(line)

"""The answer of a conformance run: one row per check, and a rich table of them.

A row is (check, passed, severity, evidence). ``severity`` is the weight of the check:
``error`` rows that fail are failures (the producer breaks TS 28.532 or the official schemas);
``warning`` rows that fail are findings (unknown attributes, a status the specs contradict
each other on) that do not fail the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from rich.console import Console
from rich.markup import escape
from rich.table import Table

ERROR: Final = "error"
WARNING: Final = "warning"
EVIDENCE_LIMIT: Final = 600


@dataclass(frozen=True, slots=True)
class Row:
    """One check: its name, whether it passed, its severity and the evidence for the verdict."""

    check: str
    passed: bool
    severity: str
    evidence: str

    @property
    def verdict(self) -> str:
        """``pass``, ``FAIL`` (a failed error-level check) or ``warn`` (a finding)."""
        if self.passed:
            return "pass"
        return "FAIL" if self.severity == ERROR else "warn"


@dataclass
class Report:
    """The rows of one run against one producer."""

    url: str
    dialect: str = "stage2"
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, check: str, passed: bool, evidence: str = "", *, severity: str = ERROR) -> bool:
        """Record a check; returns ``passed``."""
        if len(evidence) > EVIDENCE_LIMIT:
            evidence = evidence[: EVIDENCE_LIMIT - 3] + "..."
        self.rows.append(Row(check, passed, severity, evidence))
        return passed

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, check: str) -> Row:
        """The row of the check called ``check``; raises KeyError."""
        for row in self.rows:
            if row.check == check:
                return row
        raise KeyError(check)

    @property
    def failures(self) -> list[Row]:
        """Failed error-level rows."""
        return [r for r in self.rows if not r.passed and r.severity == ERROR]

    @property
    def findings(self) -> list[Row]:
        """Failed warning-level rows."""
        return [r for r in self.rows if not r.passed and r.severity != ERROR]

    @property
    def failed(self) -> int:
        """How many error-level checks failed."""
        return len(self.failures)

    @property
    def passed(self) -> int:
        """How many checks passed."""
        return sum(1 for r in self.rows if r.passed)

    def summary(self) -> str:
        """One line: counts, time, producer and dialect."""
        verdict = "CONFORMANT" if self.failed == 0 else "NOT CONFORMANT"
        return (
            f"{verdict}: {len(self.rows)} checks, {self.passed} passed, {self.failed} failed, "
            f"{len(self.findings)} warnings in {self.seconds:.2f} s against {self.url} "
            f"(dialect {self.dialect})"
        )

    def render(self, console: Console) -> None:
        """Print the table of checks with their evidence and the summary line."""
        table = Table(title="ProvMnS conformance (TS 28.532)", show_lines=False, expand=True)
        table.add_column("result", no_wrap=True)
        table.add_column("check", ratio=2, overflow="fold")
        table.add_column("evidence", ratio=5, overflow="fold")
        styles = {"pass": "green", "FAIL": "bold red", "warn": "yellow"}
        for row in self.rows:
            verdict = row.verdict
            table.add_row(f"[{styles[verdict]}]{verdict}[/]", escape(row.check), escape(row.evidence))
        console.print(table)
        style = "bold green" if self.failed == 0 else "bold red"
        console.print(f"[{style}]{escape(self.summary())}[/]")

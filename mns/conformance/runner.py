"""Entry points: :func:`run` (a :class:`Report`) and :func:`conformance` (the ``mns`` command)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Final

import httpx
import typer
from rich.console import Console

from mns.conformance.client import ProvClient
from mns.conformance.report import Report
from mns.conformance.scenario import Scenario
from mns.conformance.schemas import SPECS_ENV, SpecsNotFound, load_specs, locate_specs
from mns.conformance.spelling import DIALECTS
from mns.conformance.subtree import fresh_root_id
from mns.nrm.registry import Registry, default_registry

DEFAULT_PREFIX: Final = "/ProvMnS/v1800"


def run(
    url: str,
    *,
    specs: Path,
    dialect: str = "auto",
    transport: httpx.BaseTransport | None = None,
    timeout: float = 10.0,
    prefix: str = DEFAULT_PREFIX,
    root_id: str | None = None,
    registry: Registry | None = None,
) -> Report:
    """Run the ProvMnS conformance suite against the producer whose MnS root is ``url``.

    ``specs`` is the 3GPP folder (or its ``openapi`` folder); ``dialect`` is ``auto``,
    ``stage2`` or ``openapi``; ``prefix`` is where ProvMnS lives below ``url``; ``root_id`` names
    the test subtree's root SubNetwork (a fresh ``mns-conformance-<uuid>`` by default). Raises
    :class:`SpecsNotFound` when the folder lacks the files, ValueError for an unknown dialect.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"dialect {dialect!r} is not one of {', '.join(DIALECTS)}")
    started = time.perf_counter()
    oas = load_specs(locate_specs(specs))
    report = Report(url.rstrip("/") + "/" + prefix.strip("/"), dialect=dialect)
    with ProvClient(url, prefix=prefix, transport=transport, timeout=timeout) as client:
        Scenario(
            client,
            oas,
            registry or default_registry(),
            report,
            dialect=dialect,
            root_id=root_id or fresh_root_id(),
        ).run()
    report.seconds = time.perf_counter() - started
    return report


def conformance(
    url: Annotated[str, typer.Argument(help="MnS root of the producer, e.g. http://127.0.0.1:8000")],
    specs: Annotated[
        Path | None,
        typer.Option(help=f"3GPP spec folder holding openapi/ (default: ${SPECS_ENV})"),
    ] = None,
    prefix: Annotated[str, typer.Option(help="ProvMnS path below the MnS root")] = DEFAULT_PREFIX,
    dialect: Annotated[str, typer.Option(help="auto, stage2 or openapi")] = "auto",
) -> None:
    """Run the ProvMnS conformance suite against a producer; exit 1 on any failed check."""
    err = Console(stderr=True)
    try:
        folder = locate_specs(specs)
        report = run(url, specs=folder, dialect=dialect, prefix=prefix)
    except (SpecsNotFound, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    report.render(Console())
    if report.failed:
        raise typer.Exit(1)

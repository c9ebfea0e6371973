"""PCI family: collision, confusion and mod-3 between cells on one SSB frequency.

A cell's PCI is its NRCellDU's ``nRPCI`` and its frequency the NRCellDU's ``ssbFrequency`` (else
the ``absoluteFrequencySSB`` of its NRFrequency); an external neighbour the twin does not hold
as a cell counts with its ExternalNRCellCU's ``nRPCI`` and NRFrequency. Neighbours are the
targets of a cell's NRCellRelations and the cells whose relations target it (see ``Net``).

- ``pci-collision`` (error): two neighbouring cells on one frequency with one PCI. One finding
  per pair, on the cell whose DN sorts first.
- ``pci-confusion`` (error): a cell with two neighbours on one frequency sharing a PCI; the
  finding is on that cell, the neighbours are ``related``.
- ``pci-mod3`` (warning): two co-sited cells (one GNBDUFunction) on one frequency with different
  PCIs equal modulo 3 (the same PSS). Only co-sited cells: with the usual 30 to 40 neighbours a
  cell shares its PCI mod 3 with a third of them whatever the plan, so a warning per neighbour
  pair would bury the others; a sound plan gives the sectors of a site one SSS group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from mns.verify.model import Finding, Rule, Scope, Severity
from mns.verify.views import Radio, net_of, scoped


def _collisions(scope: Scope) -> Iterator[Finding]:
    net = net_of(scope.view, scope.context)
    seen: set[tuple[str, str]] = set()
    radio = net.radio
    for cell in scoped(scope.view, scope.dns, ("NRCellDU",)):
        mine = radio(cell)
        if mine.pci is None or mine.ssb is None:
            continue
        # The neighbours with the same radio, without building the set of all neighbours: the
        # cells it lists, then those that list it (the pairs found do not depend on the order).
        same = [t for _, t in net.targets(cell) if t != cell and radio(t) == mine]
        same += [s for s in net.source_set(cell) if radio(s) == mine]
        for other in same:
            pair = (min(cell, other), max(cell, other))
            if pair in seen:
                continue
            seen.add(pair)
            yield Finding(
                "pci-collision",
                Severity.ERROR,
                pair[0],
                f"neighbours {pair[0]} and {pair[1]} both have PCI {mine.pci} on SSB ARFCN {mine.ssb}",
                {"nRPCI": mine.pci, "ssbFrequency": mine.ssb, "cells": list(pair)},
                related=(pair[1],),
            )


def _confusions(scope: Scope) -> Iterator[Finding]:
    net = net_of(scope.view, scope.context)
    for cell in scoped(scope.view, scope.dns, ("NRCellDU",)):
        # The usual cell: no two of its neighbours share a PCI and frequency, told without grouping.
        first: dict[Radio, str] = {}
        for _, target in net.targets(cell):
            radio = net.radio(target)
            if target == cell or radio.pci is None or radio.ssb is None:
                continue
            if first.setdefault(radio, target) != target:
                break
        else:
            continue
        groups: dict[tuple[int, int], set[str]] = defaultdict(set)
        for _, target in net.targets(cell):
            radio = net.radio(target)
            if target != cell and radio.pci is not None and radio.ssb is not None:
                groups[(radio.pci, radio.ssb)].add(target)
        for (pci, ssb), cells in sorted(groups.items()):
            if len(cells) < 2:
                continue
            others = tuple(sorted(cells))
            yield Finding(
                "pci-confusion",
                Severity.ERROR,
                cell,
                f"{len(others)} neighbours share PCI {pci} on SSB ARFCN {ssb}: {', '.join(others)}",
                {"nRPCI": pci, "ssbFrequency": ssb, "neighbours": list(others)},
                related=others,
            )


def _mod3(scope: Scope) -> Iterator[Finding]:
    net = net_of(scope.view, scope.context)
    seen: set[tuple[str, str]] = set()
    for cell in scoped(scope.view, scope.dns, ("NRCellDU",)):
        mine = net.radio(cell)
        if mine.pci is None or mine.ssb is None:
            continue
        for other in net.co_sited(cell):
            theirs = net.radio(other)
            pair = (min(cell, other), max(cell, other))
            if pair in seen or theirs.ssb != mine.ssb or theirs.pci is None or theirs.pci == mine.pci:
                continue
            if theirs.pci % 3 != mine.pci % 3:
                continue
            seen.add(pair)
            pcis = sorted((mine.pci, theirs.pci))
            yield Finding(
                "pci-mod3",
                Severity.WARNING,
                pair[0],
                f"co-sited cells {pair[0]} and {pair[1]} on SSB ARFCN {mine.ssb} have PCIs {pcis[0]} and "
                f"{pcis[1]}, equal modulo 3",
                {"nRPCI": [net.radio(c).pci for c in pair], "mod3": mine.pci % 3, "ssbFrequency": mine.ssb},
                related=(pair[1],),
            )


RULES: list[Rule] = [
    Rule(
        "pci-collision",
        "pci",
        "Two neighbouring cells on one SSB frequency do not share a PCI",
        Severity.ERROR,
        ("NRCellDU",),
        _collisions,
    ),
    Rule(
        "pci-confusion",
        "pci",
        "No cell has two neighbours on one SSB frequency with the same PCI",
        Severity.ERROR,
        ("NRCellDU",),
        _confusions,
    ),
    Rule(
        "pci-mod3",
        "pci",
        "Co-sited cells on one SSB frequency have PCIs that differ modulo 3",
        Severity.WARNING,
        ("NRCellDU",),
        _mod3,
    ),
]

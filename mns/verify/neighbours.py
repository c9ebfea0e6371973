"""Neighbour consistency: what other cells' data says about a cell against the cell itself.

- ``external-cell-stale`` (error): an ExternalNRCellCU whose ``nRPCI`` (or SSB frequency)
  differs from that of the NRCellDU with its NCI and PLMN, where the twin holds that cell. An
  error: the gNB that keeps the stale copy expects the wrong PCI for the cell, so handovers to
  it fail or go to another cell, and its own PCI checks reason on wrong data.
- ``relation-nrtci-stale`` (warning): an NRCellRelation whose ``nRTCI`` (the target's NCI
  followed by its PCI in 10 bits) differs from the target cell's. A warning: the relation
  still names its target by DN, and the gNB refreshes nRTCI from its own measurements.

Where the twin does not hold the real cell (a neighbour in another operator's or vendor's
network), nothing is compared.
"""

from __future__ import annotations

from collections.abc import Iterator

from mns.verify.model import Finding, Rule, Scope, Severity
from mns.verify.views import ADJACENT, RELATION, class_of, net_of, scoped


def _external_stale(scope: Scope) -> Iterator[Finding]:
    net = net_of(scope.view, scope.context)
    for external in scoped(scope.view, scope.dns, ("ExternalNRCellCU",)):
        cell = net.real(external)
        if cell is None:
            continue
        theirs, real = net.radio(external), net.radio(cell)
        wrong = []
        if theirs.pci != real.pci:
            wrong.append(f"nRPCI {theirs.pci} (the cell has {real.pci})")
        if theirs.ssb is not None and real.ssb is not None and theirs.ssb != real.ssb:
            wrong.append(f"SSB ARFCN {theirs.ssb} (the cell has {real.ssb})")
        if not wrong:
            continue
        yield Finding(
            "external-cell-stale",
            Severity.ERROR,
            external,
            f"stands for {cell} with {' and '.join(wrong)}",
            {
                "external": {"nRPCI": theirs.pci, "ssbFrequency": theirs.ssb},
                "cell": {"nRPCI": real.pci, "ssbFrequency": real.ssb},
                "nci": net.nci(cell),
            },
            related=(cell,),
        )


def _nrtci_stale(scope: Scope) -> Iterator[Finding]:
    net = net_of(scope.view, scope.context)
    for relation in scoped(scope.view, scope.dns, (RELATION,)):
        a = net.attrs(relation)
        target, tci = a.get(ADJACENT), a.get("nRTCI")
        if not isinstance(target, str) or type(tci) is not int or not net.exists(target):
            continue
        cell = net.cell(target)
        nci = net.nci(cell) if class_of(cell) in ("NRCellDU", "ExternalNRCellCU") else None
        pci = net.radio(cell).pci
        if nci is None or pci is None or tci == (nci << 10) | pci:
            continue
        yield Finding(
            "relation-nrtci-stale",
            Severity.WARNING,
            relation,
            f"nRTCI {tci:#x} is NCI {tci >> 10:#011x} and PCI {tci & 0x3FF}; its target {cell} has NCI "
            f"{nci:#011x} and PCI {pci}",
            {"nRTCI": tci, "expected": (nci << 10) | pci, "target": cell},
            related=(cell,),
        )


RULES: list[Rule] = [
    Rule(
        "external-cell-stale",
        "neighbours",
        "An ExternalNRCellCU has the PCI and SSB frequency of the cell it stands for",
        Severity.ERROR,
        ("ExternalNRCellCU",),
        _external_stale,
    ),
    Rule(
        "relation-nrtci-stale",
        "neighbours",
        "An NRCellRelation's nRTCI is its target's NCI and PCI",
        Severity.WARNING,
        (RELATION,),
        _nrtci_stale,
    ),
]

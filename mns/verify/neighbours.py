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
from typing import Final

from mns.verify.model import Finding, Rule, Scope, Severity
from mns.verify.views import RELATION, Net, class_of, net_of, scoped, scoped_relations


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


def _expected_tci(net: Net, target: str) -> tuple[str, int, int] | None:
    """(cell, NCI, PCI) of what a relation to ``target`` should say, where the twin knows them."""
    if not net.exists(target):
        return None
    cell = net.cell(target)
    nci = net.nci(cell) if class_of(cell) in ("NRCellDU", "ExternalNRCellCU") else None
    pci = net.radio(cell).pci
    return (cell, nci, pci) if nci is not None and pci is not None else None


_UNSEEN: Final = object()


def _nrtci_stale(scope: Scope) -> Iterator[Finding]:
    net = net_of(scope.view, scope.context)
    # Each cell is the target of some 30 to 40 relations: work out what they should say once.
    expected: dict[str, tuple[str, int, int] | None] = {}
    value: dict[str, int | None] = {}  # the nRTCI each target should be given
    known = value.get
    for relation, target, tci in scoped_relations(scope.view, scope.dns):
        if type(tci) is not int or (type(target) is not str and not isinstance(target, str)):
            continue
        should = known(target, _UNSEEN)
        if should is _UNSEEN:
            want = expected[target] = _expected_tci(net, target)
            should = value[target] = None if want is None else (want[1] << 10) | want[2]
        if should is None or should == tci:
            continue
        want = expected[target]
        assert want is not None
        cell, nci, pci = want
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

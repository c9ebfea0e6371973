"""Identity family: gNB ids and NR cell identities (TS 38.300, TS 28.541).

The NCI is 36 bits: the gNBId in its first ``gNBIdLength`` bits (22..32), the cellLocalId in the
remaining ``36 - gNBIdLength``. Three rules, all errors:

- ``gnb-id-length``: a gNB function's gNBId does not fit in gNBIdLength bits;
- ``cell-local-id-bits``: a cell's cellLocalId does not fit in the bits its gNB leaves;
- ``nci-unique``: two NRCellDUs (or two NRCellCUs) with one NCI in a PLMN they both serve. One
  finding per group of such cells, on the one whose DN sorts first, the others ``related``.
  An ExternalNRCellCU shares its NCI with the cell it stands for by design and is not counted.
"""

from __future__ import annotations

from collections.abc import Iterator

from mns.verify.model import Finding, Rule, Scope, Severity
from mns.verify.views import CELL_FUNCTION, GNB_CLASSES, NCI_BITS, class_of, net_of, parent_of, scoped


def _gnb_id_length(scope: Scope) -> Iterator[Finding]:
    net = net_of(scope.view, scope.context)
    for function in scoped(scope.view, scope.dns, GNB_CLASSES):
        ids = net.gnb(function)
        if ids is None:
            continue
        gnb_id, length = ids
        if gnb_id < 1 << length:
            continue
        yield Finding(
            "gnb-id-length",
            Severity.ERROR,
            function,
            f"gNBId {gnb_id} needs {gnb_id.bit_length()} bits but gNBIdLength is {length}",
            {"gNBId": gnb_id, "gNBIdLength": length, "maxGNBId": (1 << length) - 1},
        )


def _cell_local_id_bits(scope: Scope) -> Iterator[Finding]:
    net = net_of(scope.view, scope.context)
    for cell in scoped(scope.view, scope.dns, tuple(CELL_FUNCTION)):
        function = parent_of(cell)
        ids = net.gnb(function) if function else None
        local = net.attrs(cell).get("cellLocalId")
        if ids is None or type(local) is not int:
            continue
        bits = NCI_BITS - ids[1]
        if local < 1 << bits:
            continue
        yield Finding(
            "cell-local-id-bits",
            Severity.ERROR,
            cell,
            f"cellLocalId {local} does not fit in the {bits} bits that gNBIdLength {ids[1]} leaves",
            {"cellLocalId": local, "gNBIdLength": ids[1], "maxCellLocalId": (1 << bits) - 1},
        )


def _nci_unique(scope: Scope) -> Iterator[Finding]:
    net = net_of(scope.view, scope.context)
    seen: set[str] = set()
    for cell in scoped(scope.view, scope.dns, ("NRCellDU", "NRCellCU")):
        nci = net.nci(cell)
        if cell in seen or nci is None:
            continue
        plmns = net.plmns(cell)
        same = [c for c in net.with_nci(nci, class_of(cell)) if c == cell or net.plmns(c) & plmns]
        if len(same) < 2:
            continue
        seen.update(same)
        group = sorted(same)
        shared = sorted(set.intersection(*(set(net.plmns(c)) for c in group)) - {""})
        yield Finding(
            "nci-unique",
            Severity.ERROR,
            group[0],
            f"{len(group)} cells have NCI {nci:#011x} in PLMN {', '.join(shared) or 'unknown'}: {', '.join(group)}",
            {"nci": nci, "plmns": shared, "cells": group},
            related=tuple(group[1:]),
        )


RULES: list[Rule] = [
    Rule(
        "gnb-id-length",
        "identity",
        "A gNB function's gNBId fits in gNBIdLength bits",
        Severity.ERROR,
        GNB_CLASSES,
        _gnb_id_length,
    ),
    Rule(
        "cell-local-id-bits",
        "identity",
        "A cell's cellLocalId fits in the 36 - gNBIdLength bits of its NCI",
        Severity.ERROR,
        tuple(CELL_FUNCTION),
        _cell_local_id_bits,
    ),
    Rule(
        "nci-unique",
        "identity",
        "No two NRCellDUs (or NRCellCUs) have one NCI in a PLMN",
        Severity.ERROR,
        ("NRCellDU", "NRCellCU"),
        _nci_unique,
    ),
]

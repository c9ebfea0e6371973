"""State family: changes a cell only takes while LOCKED.

Changing what a cell broadcasts or where it transmits restarts it: its PCI, its SSB (frequency,
subcarrier spacing, periodicity, offset), its carrier (ARFCNs, channel bandwidths) and its
tracking area. gNBs refuse such changes on an UNLOCKED cell (or apply them by dropping its UEs), so
a change set must lock the cell first. ``needs-locked`` (error) fires on an NRCellDU that is
UNLOCKED both before and after the change set and whose ``LOCKED_ATTRS`` changed, and on an
NRSectorCarrier whose ``SECTOR_ATTRS`` changed while a cell using it is UNLOCKED before and after.

It compares the base (``context["base"]``) with the state verified, so it finds nothing in an
audit or on the base itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from mns.verify.model import Finding, Rule, Scope, Severity, View
from mns.verify.views import parent_of, scoped

LOCKED_ATTRS: Final = (
    "nRPCI",
    "ssbFrequency",
    "ssbSubCarrierSpacing",
    "ssbPeriodicity",
    "ssbOffset",
    "arfcnDL",
    "arfcnUL",
    "bSChannelBwDL",
    "bSChannelBwUL",
    "nRTAC",
)
SECTOR_ATTRS: Final = ("arfcnDL", "arfcnUL", "bSChannelBwDL", "bSChannelBwUL")
UNLOCKED: Final = "UNLOCKED"


def _changed(before: dict[str, Any], after: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {n: {"old": before.get(n), "new": after.get(n)} for n in names if before.get(n) != after.get(n)}


def _unlocked(view: View, dn: str) -> bool:
    found = view.get(dn)
    return found is not None and found[1].get("administrativeState") == UNLOCKED


def _needs_locked(scope: Scope) -> Iterator[Finding]:
    base = scope.context.get("base")
    if base is None or base is scope.view:
        return
    dns = scope.context.get("objects", scope.dns)
    for dn in scoped(scope.view, dns, ("NRCellDU", "NRSectorCarrier")):
        before, after = base.get(dn), scope.view.get(dn)
        if before is None or after is None:
            continue
        if before[0] == "NRCellDU":
            changed = _changed(before[1], after[1], LOCKED_ATTRS)
            if changed and _unlocked(base, dn) and _unlocked(scope.view, dn):
                yield Finding(
                    "needs-locked",
                    Severity.ERROR,
                    dn,
                    f"changes {', '.join(changed)} of an UNLOCKED cell; lock it first",
                    {"changes": changed, "administrativeState": UNLOCKED},
                )
            continue
        changed = _changed(before[1], after[1], SECTOR_ATTRS)
        function = parent_of(dn)
        if not changed or function is None:
            continue
        users = sorted(
            d
            for d, c, a in scope.view.children(function)
            if c == "NRCellDU"
            and dn in (a.get("nRSectorCarrierRef") or ())
            and _unlocked(base, d)
            and _unlocked(scope.view, d)
        )
        if users:
            yield Finding(
                "needs-locked",
                Severity.ERROR,
                dn,
                f"changes {', '.join(changed)} of a sector carrier that UNLOCKED cells use: {', '.join(users)}",
                {"changes": changed, "cells": users},
                related=tuple(users),
            )


RULES: list[Rule] = [
    Rule(
        "needs-locked",
        "state",
        "Changes that restart a cell (PCI, SSB, carrier, TAC) are made on a LOCKED cell",
        Severity.ERROR,
        ("NRCellDU", "NRSectorCarrier"),
        _needs_locked,
    )
]

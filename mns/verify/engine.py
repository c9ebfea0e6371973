"""The verification engine: which rules, over which objects, on which states.

Rules come from the modules of ``RULE_MODULES``; each exposes ``RULES: list[Rule]``. Only
``mns.verify.impact`` may be absent (it lands separately): a ``ModuleNotFoundError`` for exactly
that module is skipped, any other import error is raised.

Verification of a change set is incremental. The states are the live twin at the base revision
(a ``StoreView``) and the same with the change set over it (an ``OverlayView``). The objects
looked at are those the change set touches and their neighbourhoods, taken in both states:

- a cell (its NRCellDU, NRCellCU, or an NRCellRelation's source or target): the cell, its
  NRCellCU, the cells it lists and those listing it, its co-sited cells, the ExternalNRCellCUs
  standing for it and the relations pointing at it;
- an ExternalNRCellCU or its function: the external cells, the real cell each stands for and
  the cells listing them;
- a gNB function: its cells, as above.

Per-object rules (schema, containment, references) judge only the objects changed, plus, for
a deleted object, those that may point to it (the relations naming it, and its siblings, where
BWPs, sector carriers and frequency relations are referred to from). A reference to a deleted
object from further away (an NRFrequency deleted while cells elsewhere name it) is found by
the audit only. Each rule runs on both states, and the report sorts its findings into
introduced, fixed and unchanged. The lookups are memoised point reads, child range scans and
two indexed reverse lookups (see ``mns.verify.views``), so the cost follows the size of the
change set and its neighbourhood, not of the twin.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from mns.store.api import LIVE, Change
from mns.verify.model import Finding, Report, Rule, Scope, Severity, compare
from mns.verify.views import (
    ADJACENT,
    GNB_CLASSES,
    RELATION,
    Net,
    NetView,
    OverlayView,
    StoreView,
    class_of,
    parent_of,
    sort_dns,
)

if TYPE_CHECKING:
    from mns.store.sql import SqlStore

RULE_MODULES: Final = (
    "mns.verify.schema",
    "mns.verify.containment",
    "mns.verify.references",
    "mns.verify.pci",
    "mns.verify.identity",
    "mns.verify.neighbours",
    "mns.verify.state",
    "mns.verify.impact",
)
OPTIONAL: Final = frozenset({"mns.verify.impact"})
"""Modules of RULE_MODULES whose absence is tolerated (see the module docstring)."""

_SEVERITY_ORDER: Final = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def load_rules(modules: Sequence[str] = RULE_MODULES) -> list[Rule]:
    """The rules of ``modules``, in order; names are unique."""
    out: list[Rule] = []
    names: set[str] = set()
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if name in OPTIONAL and exc.name == name:
                continue
            raise
        for rule in module.RULES:
            if rule.name in names:
                raise ValueError(f"two rules are called {rule.name!r}")
            names.add(rule.name)
            out.append(rule)
    return out


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings without repeats (by key), errors first, then by object and rule."""
    unique = {f.key: f for f in findings}
    return sorted(unique.values(), key=lambda f: (_SEVERITY_ORDER[f.severity], f.dn, f.rule, f.related))


def run_rules(rules: Iterable[Rule], scope: Scope) -> list[Finding]:
    """Every finding of ``rules`` on one scope."""
    return sort_findings(f for rule in rules for f in rule.check(scope))


# -- neighbourhoods --------------------------------------------------------------------------


def _cell_neighbourhood(net: Net, du: str, out: set[str]) -> None:
    out.add(du)
    cu = net.cu(du)
    if cu is not None:
        out.add(cu)
    out.update(net.neighbours(du))
    out.update(net.co_sited(du))
    out.update(net.externals(du))
    out.update(net.incoming(du))


def neighbourhood(net: Net, changed: Iterable[str]) -> set[str]:
    """The objects changed and those whose findings they may change, in one state."""
    out: set[str] = set()
    cells: set[str] = set()
    externals: set[str] = set()
    for dn in changed:
        out.add(dn)
        cls = class_of(dn)
        if cls in ("NRCellDU", "NRCellCU"):
            cells.add(net.du(dn) or dn)
        elif cls == RELATION:
            source = parent_of(dn)
            if source is not None:
                cells.add(net.du(source) or source)
            target = net.attrs(dn).get(ADJACENT)
            if isinstance(target, str) and net.exists(target):
                cells.add(net.cell(target))
                if class_of(target) == "ExternalNRCellCU":
                    externals.add(target)
        elif cls == "ExternalNRCellCU":
            externals.add(dn)
        elif cls in GNB_CLASSES:
            for child, child_cls, _ in net.view.children(dn):
                if child_cls == "ExternalNRCellCU":
                    externals.add(child)
                elif child_cls in ("NRCellDU", "NRCellCU"):
                    cells.add(net.du(child) or child)
    for external in externals:
        out.add(external)
        real = net.real(external)
        if real is not None:
            cells.add(real)
        for relation in net.view.referrers(external):
            out.add(relation)
            source = parent_of(relation)
            if source is not None:
                cells.add(net.du(source) or source)
    for cell in cells:
        if class_of(cell) == "NRCellDU":
            _cell_neighbourhood(net, cell, out)
        else:
            out.add(cell)
    return out


def _pointing_at(net: Net, deleted: Iterable[str]) -> set[str]:
    """Objects that may hold a reference to one of the ``deleted`` ones: its siblings and referrers."""
    out: set[str] = set()
    for dn in deleted:
        parent = parent_of(dn)
        if parent is not None:
            out.update(d for d, _, _ in net.view.children(parent))
        out.update(net.view.referrers(dn))
    return out


# -- verification ------------------------------------------------------------------------------


def verify_changes(
    store: SqlStore,
    changes: Sequence[Change],
    base_rev: int,
    *,
    rules: Sequence[Rule] | None = None,
    context: dict[str, Any] | None = None,
) -> Report:
    """Verify a change set against the live twin at ``base_rev``: findings introduced, fixed, unchanged."""
    started = time.perf_counter()
    chosen = list(rules) if rules is not None else load_rules()
    base: NetView = StoreView(store, rev=base_rev)
    after: NetView = OverlayView(base, changes)
    base_net, after_net = Net(base), Net(after)
    changed = [c.dn for c in changes]
    deleted = [c.dn for c in changes if c.after is None]
    scope_dns = frozenset(neighbourhood(base_net, changed) | neighbourhood(after_net, changed))
    objects = frozenset(changed) | _pointing_at(base_net, deleted)
    classes = {class_of(d) for d in scope_dns | objects}
    selected = [r for r in chosen if not r.looks_at or classes.intersection(r.looks_at)]
    shared = {**(context or {}), "store": store, "changes": changes, "base_rev": base_rev, "objects": objects}
    shared["base"] = base
    before_found = run_rules(selected, Scope(base, scope_dns, {**shared, "net": base_net, "state": "base"}))
    after_found = run_rules(selected, Scope(after, scope_dns, {**shared, "net": after_net, "state": "sandbox"}))
    introduced, fixed, unchanged = compare(before_found, after_found)
    return Report(
        findings=after_found,
        introduced=introduced,
        fixed=fixed,
        unchanged=unchanged,
        rules=[r.name for r in selected],
        objects=len(scope_dns | objects),
        seconds=time.perf_counter() - started,
        base_rev=base_rev,
    )


def verify_sandbox(
    store: SqlStore, branch_id: int, *, rules: Sequence[Rule] | None = None, save: bool = True
) -> Report:
    """Verify a sandbox's change set against its base revision; ``save`` stores the report with it."""
    head = store.head(branch_id)
    if branch_id == LIVE:
        raise ValueError("branch 0 is the live twin; verify a sandbox, or audit the live twin")
    sandbox = store.branch(branch_id)
    report = verify_changes(store, store.change_set(branch_id), sandbox.base_rev, rules=rules)
    report.revision = head
    if save:
        from mns.verify.reports import store_report

        store_report(store, branch_id, report)
    return report


def scope_of(store: SqlStore, changes: Sequence[Change], base_rev: int) -> list[str]:
    """The objects verification of ``changes`` looks at (for tools and tests)."""
    base = StoreView(store, rev=base_rev)
    after = OverlayView(base, changes)
    changed = [c.dn for c in changes]
    return sort_dns(neighbourhood(Net(base), changed) | neighbourhood(Net(after), changed))

"""The full audit: every rule over the whole twin (or a sandbox, or a past revision), in one scan.

One streamed scan of the state, in key order, parses each object once and

1. runs the per-object rules (``Rule.each``: schema, containment, references) on it, and
2. keeps in a ``MemoryView`` what the network rules read (cells, gNB functions, external cells,
   relations trimmed to their target and nRTCI, frequencies), and the class of every other
   object a reference may point to.

Then the network rules (PCI, identity, neighbours, and any others without a per-object check)
run once over the ``MemoryView`` with nothing left out of scope.

A reference may point to an object the scan has not reached yet. The per-object rules see the
state through :class:`_Scanned`: an object already scanned is answered from memory; one not
scanned yet is answered provisionally, by the class its DN names, and the check that asked is
remembered under that DN. When the scan reaches the object (of that class) the remembered
checks are forgotten; those still waiting when the scan ends (the object does not exist) or
that guessed the class wrong are run again on their object, read back from the store, against
the complete picture, and their findings (a rule's findings carry its name) replace the
provisional ones. A sound twin has none to run again, and what waits at any moment is the
references of a few neighbouring sites.

The two reference rules resolve the same references: when both run, the scan calls
``references.check_object`` once per object for both, and runs both again where a lookup it
took on trust was wrong.

Memory grows with the cells and relations kept, not with the objects' attributes.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import orjson

from mns.errors import MalformedDN
from mns.nrm.registry import default_registry
from mns.store.api import LIVE, AsOf, Scope
from mns.verify import references
from mns.verify.engine import load_rules, sort_findings
from mns.verify.model import Finding, ObjectCheck, Rule
from mns.verify.model import Scope as RuleScope
from mns.verify.views import NETWORK_CLASSES, MemoryView, Net, StoreView, class_of

if TYPE_CHECKING:
    from mns.store.sql import SqlStore

Progress = Callable[[str, int], None]
"""Called with (phase, objects scanned so far in it) every ``PROGRESS_EVERY`` objects and at its end."""

PROGRESS_EVERY: Final = 10_000

Asker = tuple[str, str, int]
"""(dn, class, index of the check) of a check that took a lookup on trust."""


@cache
def _target_classes() -> frozenset[str]:
    """Every class a DN attribute of the registry may point to."""
    out: set[str] = set()
    for spec in default_registry():
        for attr in spec.attributes.values():
            out |= attr.ref_classes
            for f in attr.fields.values():
                out |= f.ref_classes
    return frozenset(out)


class _Scanned:
    """The per-object rules' view during the audit's scan (see the module docstring)."""

    def __init__(self, kept: MemoryView, fallback: StoreView, tracked: frozenset[str]) -> None:
        self.kept = kept
        self._kept = kept.finder()
        self.fallback = fallback
        self.tracked = tracked
        self.classes: dict[str, str] = {}
        """Class of each scanned object a reference may point to (outside ``kept``)."""
        self.pending: dict[str, list[Asker]] = {}
        """DN not scanned yet -> the checks that took it on trust."""
        self.guessed: dict[str, str] = {}
        """DN in ``pending`` -> the class its DN names (worked out once per DN)."""
        self.done = False
        # The check running now, set by the audit before each call.
        self.dn = ""
        self.cls = ""
        self.check = 0

    def get(self, dn: str) -> tuple[str, dict[str, Any]] | None:
        """(class, attributes) of a kept object, (class, {}) of a tracked one; see the module docstring."""
        found = self._kept(dn)
        if found is not None:
            return found
        cls = self.classes.get(dn)
        if cls is not None:
            return cls, {}
        cls = self.guessed.get(dn)
        if cls is not None:  # pending already: one more check takes it on trust
            self.pending[dn].append((self.dn, self.cls, self.check))
            return cls, {}
        try:
            cls = class_of(dn)
        except MalformedDN:
            return None
        if cls not in NETWORK_CLASSES and cls not in self.tracked:
            return self.fallback.get(dn)  # nothing may point to its class: read it
        if self.done:
            return None
        self.pending[dn] = [(self.dn, self.cls, self.check)]
        self.guessed[dn] = cls
        return cls, {}

    def children(self, dn: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """The store's children of ``dn``."""
        return self.fallback.children(dn)

    def of_class(self, cls: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The store's objects of ``cls``."""
        return self.fallback.of_class(cls)


def _rows(store: SqlStore, branch: int, rev: int) -> Iterator[tuple[str, str, str]]:
    for root in store.roots(branch=branch, as_of=rev):
        for dn, cls, attrs, _ in store.scan(root.dn, scope=Scope.BASE_ALL, branch=branch, as_of=rev):
            yield dn, cls, attrs


def _scan(
    store: SqlStore, branch: int, rev: int, each: list[Rule], view: _Scanned, progress: Progress | None
) -> list[Finding]:
    """The one scan: per-object checks (run again where a lookup was taken on trust wrongly), kept objects."""
    found: list[Finding] = []
    kept, classes, pending, guessed, tracked = view.kept, view.classes, view.pending, view.guessed, view.tracked
    network = NETWORK_CLASSES
    checks = _fused(each)
    n = 0
    redo: list[Asker] = []
    for n, (dn, cls, text) in enumerate(_rows(store, branch, rev), 1):
        attrs = orjson.loads(text)
        if cls in network:
            kept.add(dn, cls, attrs)
        elif cls in tracked:
            classes[dn] = cls
        if pending and dn in pending:
            askers = pending.pop(dn)
            if guessed.pop(dn) != cls:
                redo += askers  # they took it for the class its DN names
        view.dn, view.cls = dn, cls
        for i, check in checks:
            view.check = i
            out = check(dn, cls, attrs, view)
            if out:
                found.extend(out)
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress("scan", n)
            progress("objects", n)
    if progress is not None:
        progress("scan", n)
        progress("objects", n)
    view.done = True
    for askers in view.pending.values():
        redo += askers
    view.pending.clear()
    view.guessed.clear()
    if redo:
        found = _run_again(store, branch, rev, each, view, redo, found)
    return found


def _fused(each: list[Rule]) -> list[tuple[int, ObjectCheck]]:
    """(index, check) of the per-object checks, the two reference rules as one when both run.

    Both rules resolve the same references; one call of ``references.check_object`` gives the
    findings of both at once. A lookup it takes on trust is remembered under the first rule's
    index; ``_run_again`` runs both again.
    """
    out: list[tuple[int, ObjectCheck]] = []
    fused = _references_pair(each)
    for i, rule in enumerate(each):
        if rule.each is None or (fused is not None and i == fused[1]):
            continue
        out.append((i, references.check_object if fused is not None and i == fused[0] else rule.each))
    return out


def _references_pair(each: list[Rule]) -> tuple[int, int] | None:
    """Indexes in ``each`` of the two reference rules, when both are there."""
    first, second = references.RULES
    at = {id(rule): i for i, rule in enumerate(each)}
    if id(first) in at and id(second) in at:
        return at[id(first)], at[id(second)]
    return None


def _run_again(
    store: SqlStore,
    branch: int,
    rev: int,
    each: list[Rule],
    view: _Scanned,
    askers: list[Asker],
    found: list[Finding],
) -> list[Finding]:
    """The findings with the checks that trusted a wrong lookup run again on the complete picture."""
    pair = _references_pair(each)
    if pair is not None:
        askers = askers + [(dn, cls, pair[1]) for dn, cls, i in askers if i == pair[0]]
    again = {(dn, each[i].name): (cls, i) for dn, cls, i in askers}
    out = [f for f in found if (f.dn, f.rule) not in again]
    for (dn, _), (cls, i) in sorted(again.items()):
        check = each[i].each
        moi = store.get(dn, branch=branch, as_of=rev)
        if moi is not None and check is not None:
            out.extend(check(dn, cls, moi.attrs, view))
    return out


def audit(
    store: SqlStore,
    *,
    branch: int = LIVE,
    as_of: AsOf = None,
    progress: Progress | None = None,
    rules: Sequence[Rule] | None = None,
) -> list[Finding]:
    """Every finding of every rule on the whole state of ``branch`` as of ``as_of``."""
    chosen = list(rules) if rules is not None else load_rules()
    rev = store.resolve(as_of, branch=branch)
    fallback = StoreView(store, rev=rev, branch=branch)
    kept = MemoryView()
    view = _Scanned(kept, fallback, _target_classes() - NETWORK_CLASSES)
    each = [r for r in chosen if r.each is not None]
    with _no_cyclic_gc():
        found = _scan(store, branch, rev, each, view, progress)
        kept.fallback = fallback  # the network rules may read what the scan did not keep
        context = {"net": Net(kept), "store": store, "as_of": rev, "branch": branch}
        scope = RuleScope(kept, None, context)
        for rule in chosen:
            if rule.each is None:
                found.extend(rule.check(scope))
        if progress is not None:
            progress("network", len(kept))
        return sort_findings(found)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for the audit's duration.

    The audit allocates millions of small containers (the kept cells and relations, the
    findings, the memos of ``Net``) that live until it ends and form no cycles. The collector
    would walk them again and again and free nothing: a quarter of the audit's time on a twin
    of a million objects. Reference counting still frees everything else as it goes; cycles made
    meanwhile (by any thread) wait for the next collection after the audit.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

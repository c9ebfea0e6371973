"""The full audit: every rule over the whole twin (or a sandbox, or a past revision), in two scans.

1. The first scan keeps in a ``MemoryView`` what the network rules read (cells, gNB functions,
   external cells, relations trimmed to their target, frequencies) and the class of every
   object a reference may point to. Only those objects' attributes are parsed.
2. The second scan runs the per-object rules (schema, containment, references) on each object
   as it streams past; a reference resolves against the classes of the first scan.
3. The network rules (PCI, identity, neighbours, and any others without a per-object check)
   run once over the ``MemoryView`` with nothing left out of scope.

Memory grows with the cells and relations kept, not with the objects' attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import orjson

from mns.errors import MalformedDN
from mns.nrm.registry import default_registry
from mns.store.api import LIVE, AsOf, Scope
from mns.verify.engine import load_rules, sort_findings
from mns.verify.model import Finding, Rule
from mns.verify.model import Scope as RuleScope
from mns.verify.views import NETWORK_CLASSES, MemoryView, Net, StoreView, class_of

if TYPE_CHECKING:
    from mns.store.sql import SqlStore

Progress = Callable[[str, int], None]
"""Called with (phase, objects scanned so far in it) every ``PROGRESS_EVERY`` objects and at its end."""

PROGRESS_EVERY: Final = 10_000


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


class _Known:
    """The per-object rules' view in an audit: classes from the first scan, else a store read."""

    def __init__(self, classes: dict[str, str], kept: MemoryView, fallback: StoreView, tracked: frozenset[str]) -> None:
        self.classes = classes
        self.kept = kept
        self.fallback = fallback
        self.tracked = tracked

    def get(self, dn: str) -> tuple[str, dict[str, Any]] | None:
        """(class, attributes) of a kept object; (class, {}) of a tracked one; else a store read."""
        cls = self.classes.get(dn)
        if cls is not None:
            return cls, {}
        try:
            cls = class_of(dn)
        except MalformedDN:
            return None
        if cls in NETWORK_CLASSES:
            return self.kept.get(dn)
        if cls in self.tracked:
            return None
        return self.fallback.get(dn)

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
    kept = MemoryView(fallback)
    tracked = _target_classes() - NETWORK_CLASSES
    classes: dict[str, str] = {}
    n = 0
    for n, (dn, cls, attrs) in enumerate(_rows(store, branch, rev), 1):
        if cls in NETWORK_CLASSES:
            kept.add(dn, cls, orjson.loads(attrs))
        elif cls in tracked:
            classes[dn] = cls
        if progress is not None and n % PROGRESS_EVERY == 0:
            progress("scan", n)
    if progress is not None:
        progress("scan", n)
    found: list[Finding] = []
    each = [r.each for r in chosen if r.each is not None]
    if each:
        known = _Known(classes, kept, fallback, tracked)
        n = 0
        for n, (dn, cls, attrs) in enumerate(_rows(store, branch, rev), 1):
            parsed = orjson.loads(attrs)
            for check in each:
                found.extend(check(dn, cls, parsed, known))
            if progress is not None and n % PROGRESS_EVERY == 0:
                progress("objects", n)
        if progress is not None:
            progress("objects", n)
    context = {"net": Net(kept), "store": store, "as_of": rev, "branch": branch}
    scope = RuleScope(kept, None, context)
    for rule in chosen:
        if rule.each is None:
            found.extend(rule.check(scope))
    if progress is not None:
        progress("network", len(kept))
    return sort_findings(found)

"""The full audit: every rule over the whole twin (or a sandbox, or a past revision), in one scan.

One streamed scan of the state, in key order, takes the rows a run of one class at a time
(``CHUNK`` rows at most), parses each object once and

1. runs the per-object rules on the run: schema (``schema.check_run``: the generated fast path
   per object, the findings of objects that only lack mandatory attributes made from one
   template) and containment (``containment.check_run``: one verdict per parent); any other
   per-object rule object by object;
2. collects the distinct targets of the run's references (``references.Deferred``), and
3. keeps in a ``MemoryView`` what the network rules read (cells, gNB functions, external cells,
   relations trimmed to their target and nRTCI, frequencies), and the class of every other
   object a reference may point to.

When the scan is over, every distinct target is resolved once against that memory (a target it
does not hold is read from the store); only where one did not resolve as its attribute needs
are the objects of that class read again and checked one by one, so a sound twin reads nothing
more. Then the network rules (PCI, identity, neighbours, and any others without a per-object
check) run once over the ``MemoryView`` with nothing left out of scope.

A per-object rule other than these that asks the view about an object the scan has not reached
sees it through :class:`_Scanned`: answered provisionally, by the class its DN names, and run
again on the complete picture where that was wrong or the object does not exist.

Memory grows with the cells and relations kept, not with the objects' attributes.

On a big twin (``SPLIT_MIN`` objects) with two cores the work is split between two processes:
a second process (``python -m mns.verify.network_process``: it opens the store by its URL, given
on its standard input) reads the objects of the network classes, keeps what the network rules
need and runs them, while this one runs the per-object rules over its own scan, keeping only
the class of every object a reference may point to. The findings are the same as in one
process (the tests compare them).
"""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import cache
from itertools import groupby, islice, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

import orjson

from mns.errors import MalformedDN
from mns.gcpause import cyclic_gc_paused
from mns.nrm.registry import default_registry
from mns.store.api import LIVE, AsOf
from mns.verify import containment, references, schema
from mns.verify.engine import load_rules, sort_findings
from mns.verify.model import Finding, ObjectCheck, Rule
from mns.verify.model import Scope as RuleScope
from mns.verify.views import NETWORK_CLASSES, RELATION, MemoryView, Net, StoreView, class_of

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
        self._relation = kept.relation
        self.fallback = fallback
        self.tracked = tracked
        self.classes: dict[str, tuple[str, dict[str, Any]]] = {}
        """What ``get`` answers for each scanned object a reference may point to (outside ``kept``):
        its class and no attributes, one shared pair per class (``answer``)."""
        self.pending: dict[str, list[Asker]] = {}
        """DN not scanned yet -> the checks that took it on trust."""
        self.guessed: dict[str, str] = {}
        """DN in ``pending`` -> the class its DN names (worked out once per DN)."""
        self.done = False
        self._answers: dict[str, tuple[str, dict[str, Any]]] = {}
        # The check running now, set by the audit before each call.
        self.dn = ""
        self.cls = ""
        self.check = 0

    def get(self, dn: str) -> tuple[str, dict[str, Any]] | None:
        """(class, attributes) of a kept object, (class, {}) of a tracked one; see the module docstring."""
        found = self.classes.get(dn)  # first: the kept objects and the classes are apart
        if found is not None:
            return found
        found = self._kept(dn)
        if found is not None:
            return found
        found = self._relation(dn)
        if found is not None:
            return found
        cls = self.guessed.get(dn)
        if cls is not None:  # pending already: one more check takes it on trust
            self.pending[dn].append((self.dn, self.cls, self.check))
            return cls, {}
        try:
            cls = class_of(dn)
        except MalformedDN:
            return None
        if self.done or (cls not in NETWORK_CLASSES and cls not in self.tracked):
            # Scanned and not in memory (a class nothing may point to, or a relation not kept): read it.
            return self.fallback.get(dn)
        self.pending[dn] = [(self.dn, self.cls, self.check)]
        self.guessed[dn] = cls
        return cls, {}

    def answer(self, cls: str) -> tuple[str, dict[str, Any]]:
        """What ``get`` answers for a tracked object of ``cls``: its class, no attributes (shared, read-only)."""
        found = self._answers.get(cls)
        if found is None:
            found = self._answers[cls] = (cls, {})
        return found

    def children(self, dn: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """The store's children of ``dn``."""
        return self.fallback.children(dn)

    def of_class(self, cls: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The store's objects of ``cls``."""
        return self.fallback.of_class(cls)


def _scan(
    store: SqlStore,
    branch: int,
    rev: int,
    each: list[Rule],
    view: _Scanned,
    progress: Progress | None,
    *,
    keep: bool = True,
) -> list[Finding]:
    """The one scan: per-object checks, kept objects, then the references (see the module docstring).

    ``keep`` False keeps nothing but the classes of the objects ``view`` tracks (the network
    rules run elsewhere).
    """
    found: list[Finding] = []
    kept, classes, pending, guessed, tracked = view.kept, view.classes, view.pending, view.guessed, view.tracked
    network = NETWORK_CLASSES
    # Checks of a whole run of one class; the references, resolved at the end; the others row by row.
    runs: list[Callable[[str, Sequence[str], list[dict[str, Any]]], list[Finding]]] = []
    rows: list[tuple[int, ObjectCheck]] = []
    for i, rule in enumerate(each):
        if rule.each is schema.check_object:
            runs.append(schema.check_run)
        elif rule.each is containment.check_object:
            runs.append(_containment_run)
        elif rule not in references.RULES and rule.each is not None:
            rows.append((i, rule.each))
    deferred = references.Deferred() if any(r in references.RULES for r in each) else None
    n = 0
    redo: list[Asker] = []
    add, add_relation, loads = kept.add, kept.add_relation, orjson.loads
    for cls, group in groupby(store.state(branch=branch, as_of=rev), key=itemgetter(1)):
        shared = view.answer(cls) if cls in tracked else None
        while chunk := list(islice(group, CHUNK)):
            dns, _, texts = zip(*chunk, strict=True)
            objs = list(map(loads, texts))
            if keep and cls == RELATION:
                for dn, attrs in zip(dns, objs, strict=True):
                    add_relation(dn, attrs)
            elif keep and cls in network:
                for dn, attrs in zip(dns, objs, strict=True):
                    add(dn, cls, attrs)
            elif shared is not None:
                classes.update(zip(dns, repeat(shared)))
            if pending:
                for dn in pending.keys() & set(dns):
                    askers = pending.pop(dn)
                    if guessed.pop(dn) != cls:
                        redo += askers  # they took it for the class its DN names
            for run in runs:
                found += run(cls, dns, objs)
            if deferred is not None:
                deferred.add(cls, objs)
            if rows:
                view.cls = cls
                for dn, attrs in zip(dns, objs, strict=True):
                    view.dn = dn
                    for i, check in rows:
                        view.check = i
                        found += check(dn, cls, attrs, view)
            before, n = n, n + len(chunk)
            if progress is not None and n // PROGRESS_EVERY != before // PROGRESS_EVERY:
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
    if deferred is not None:
        found += _references(store, branch, rev, each, view, deferred)
    return found


CHUNK: Final = 512
"""Rows of one class the scan takes at a time."""


def _containment_run(cls: str, dns: Sequence[str], objs: list[dict[str, Any]]) -> list[Finding]:
    return containment.check_run(cls, dns)


def _references(
    store: SqlStore, branch: int, rev: int, each: list[Rule], view: _Scanned, deferred: references.Deferred
) -> list[Finding]:
    """The reference rules' findings, once the scan has seen every object.

    Each distinct target is resolved once (``view`` answers from memory, else from the store);
    the objects of a class with a target that did not resolve are read again and checked one by
    one. A sound twin has none to read.
    """
    names = {r.name for r in each if r in references.RULES}
    out: list[Finding] = []
    for cls, targets in sorted(deferred.unresolved(view.get).items()):
        for dn, _, text in store.state(branch=branch, as_of=rev, classes=(cls,)):
            attrs = orjson.loads(text)
            if references.points_at(cls, attrs, targets):
                out += [f for f in references.check_object(dn, cls, attrs, view) if f.rule in names]
    return out


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
    again = {(dn, each[i].name): (cls, i) for dn, cls, i in askers}
    out = [f for f in found if (f.dn, f.rule) not in again]
    for (dn, _), (cls, i) in sorted(again.items()):
        check = each[i].each
        moi = store.get(dn, branch=branch, as_of=rev)
        if moi is not None and check is not None:
            out.extend(check(dn, cls, moi.attrs, view))
    return out


SPLIT_MIN: Final = 200_000
"""Objects from which an audit runs its network rules in a second process (when it may)."""


def audit(
    store: SqlStore,
    *,
    branch: int = LIVE,
    as_of: AsOf = None,
    progress: Progress | None = None,
    rules: Sequence[Rule] | None = None,
    processes: int | None = None,
) -> list[Finding]:
    """Every finding of every rule on the whole state of ``branch`` as of ``as_of``.

    ``processes`` 2 runs the network rules in a second process, beside the scan of the per-object
    rules (each process reads the state once); 1 runs everything here; None (the default) takes
    two on a twin of ``SPLIT_MIN`` objects or more where the machine has two cores. Either way
    the findings are the same. Two processes need rules the other can load by name (those of
    ``load_rules``); the store, a file or a server, it opens by its URL.
    """
    chosen = list(rules) if rules is not None else load_rules()
    rev = store.resolve(as_of, branch=branch)
    fallback = StoreView(store, rev=rev, branch=branch)
    each = [r for r in chosen if r.each is not None]
    network = [r for r in chosen if r.each is None]
    if _split(store, branch, processes, each, network):
        # The other process reads the objects of the network classes, keeps what the network
        # rules need and runs them, while this one runs the per-object rules, keeping only the
        # classes of the objects references may point to (a target it does not know, it reads).
        view = _Scanned(MemoryView(), fallback, _target_classes())
        worker = subprocess.Popen(
            [sys.executable, "-m", "mns.verify.network_process"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert worker.stdin is not None
        assert worker.stdout is not None
        with worker.stdin:  # the job on its input (the store's URL stays off the command line)
            names = [r.name for r in network]
            job = {"url": store.url, "branch": branch, "rev": rev, "rules": names}
            worker.stdin.write(orjson.dumps(job))
        try:
            with cyclic_gc_paused():
                found = _scan(store, branch, rev, each, view, progress, keep=False)
                found = sort_findings(found)  # while the other process finishes
            with worker.stdout:
                out = worker.stdout.read()
        except BaseException:
            worker.kill()
            raise
        finally:
            worker.wait()
        try:
            kind, payload = pickle.loads(out)  # the answer of our own child process
        except Exception:
            kind, payload = "error", f"it ended with exit code {worker.returncode}"
        if kind != "findings":
            raise RuntimeError(f"the audit's network rules failed in their process: {payload}")
        if progress is not None:
            progress("network", len(view.classes))
        if not payload:
            return found
        with cyclic_gc_paused():
            return sort_findings([*found, *payload])
    kept = MemoryView()
    view = _Scanned(kept, fallback, _target_classes() - NETWORK_CLASSES)
    with cyclic_gc_paused():
        found = _scan(store, branch, rev, each, view, progress)
        found.extend(_network(store, branch, rev, kept, network))
        if progress is not None:
            progress("network", len(kept))
        return sort_findings(found)


def _network(store: SqlStore, branch: int, rev: int, kept: MemoryView, rules: list[Rule]) -> list[Finding]:
    """The findings of the network rules over the kept objects."""
    kept.fallback = StoreView(store, rev=rev, branch=branch)  # the rules may read what the scan did not keep
    context = {"net": Net(kept), "store": store, "as_of": rev, "branch": branch}
    scope = RuleScope(kept, None, context)
    return [f for rule in rules for f in rule.check(scope)]


def _split(store: SqlStore, branch: int, processes: int | None, each: list[Rule], network: list[Rule]) -> bool:
    """Whether the audit runs its network rules in a second process (see ``audit``)."""
    if processes == 1 or not each or not network:
        return False
    known = load_rules()
    per_object = {id(r) for r in (*schema.RULES, *containment.RULES, *references.RULES)}
    if any(id(r) not in per_object for r in each) or any(r not in known for r in network):
        return False  # the other process could not load them, or this one's view would not do
    if processes is not None and processes >= 2:
        return True
    return (os.cpu_count() or 1) >= 2 and store.holds_at_least(SPLIT_MIN, branch=branch)


def network_process() -> None:
    """The second process (``python -m mns.verify.network_process``): the network rules, findings pickled on stdout.

    The job comes as JSON on standard input: the store's URL, branch, revision and rule names.
    It reads the state, keeps what the network rules need and runs them, and leaves with
    ``os._exit`` as soon as the findings are written: freeing the kept cells and relations object
    by object would only keep the audit waiting.
    """
    gc.disable()  # nothing it makes forms a cycle, and it ends soon
    payload: tuple[str, Any]
    try:
        from mns.nrm.validate import Validator
        from mns.store.sql import SqlStore

        job = orjson.loads(sys.stdin.buffer.read())
        branch, rev = int(job["branch"]), int(job["rev"])
        store = SqlStore(job["url"], validator=Validator(default_registry()))  # it writes nothing
        rules = [r for r in load_rules() if r.name in job["rules"] and r.each is None]
        kept = MemoryView()
        loads = orjson.loads
        for dn, cls, text in store.state(branch=branch, as_of=rev, classes=NETWORK_CLASSES):
            if cls == RELATION:
                kept.add_relation(dn, loads(text))
            else:
                kept.add(dn, cls, loads(text))
        found = _network(store, branch, rev, kept, rules)
        # Findings travel pickled: evidence as a plain dict.
        payload = "findings", [f if type(f.evidence) is dict else replace(f, evidence=dict(f.evidence)) for f in found]
    except BaseException as exc:  # reported to the audit, which raises
        payload = "error", f"{type(exc).__name__}: {exc}"
    try:
        sys.stdout.buffer.write(pickle.dumps(payload))
        sys.stdout.buffer.flush()
    finally:
        os._exit(0)

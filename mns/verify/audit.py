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

On a big twin (``SPLIT_MIN`` objects) with two cores the work is split between two processes:
a second process (``python -m mns.verify.network_process``: it imports only what the rules need and opens
the store by its URL, given on its standard input) reads the state, keeps what the network rules
need and runs them, while this one runs the per-object rules over its own scan,
keeping only the class of every object a reference may point to. Each reads and parses the
rows once; the findings are the same as in one process (the tests compare them).
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
        if cls not in NETWORK_CLASSES and cls not in self.tracked:
            return self.fallback.get(dn)  # nothing may point to its class: read it
        if self.done:
            return None
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
    """The one scan: per-object checks (run again where a lookup was taken on trust wrongly), kept objects.

    ``keep`` False keeps nothing but the classes of the objects ``view`` tracks (the network
    rules run elsewhere).
    """
    found: list[Finding] = []
    kept, classes, pending, guessed, tracked = view.kept, view.classes, view.pending, view.guessed, view.tracked
    answers, answer = view._answers, view.answer
    network = NETWORK_CLASSES
    checks = _fused(each)
    # Per class, the checks that can find anything: the reference rules only where it has references.
    refs_at = {i for i, rule in enumerate(each) if rule in references.RULES}
    plans: dict[str, list[tuple[int, ObjectCheck, bool]]] = {}
    quiet = {schema.check_object, containment.check_object}  # checks that never ask the view
    n = 0
    redo: list[Asker] = []
    add, add_relation, loads = kept.add, kept.add_relation, orjson.loads
    for n, (dn, cls, text) in enumerate(store.state(branch=branch, as_of=rev), 1):
        attrs = loads(text)
        if not keep:
            if cls in tracked:
                classes[dn] = answers.get(cls) or answer(cls)
        elif cls == RELATION:
            add_relation(dn, attrs)
        elif cls in network:
            add(dn, cls, attrs)
        elif cls in tracked:
            classes[dn] = answers.get(cls) or answer(cls)
        if pending and dn in pending:
            askers = pending.pop(dn)
            if guessed.pop(dn) != cls:
                redo += askers  # they took it for the class its DN names
        view.dn, view.cls = dn, cls
        mine = plans.get(cls)
        if mine is None:
            mine = plans[cls] = [
                (i, c, c not in quiet) for i, c in checks if i not in refs_at or references.follows(cls)
            ]
        for i, check, asks in mine:
            if asks:  # the index of the check that may take a lookup on trust
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


_NO_ATTRIBUTES: Final[dict[str, Any]] = {}
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
        # The other process reads the state, keeps what the network rules need and runs them,
        # while this one runs the per-object rules, keeping only the classes references need.
        # Relations are left out: nothing may point to one, and a reference that does all the
        # same is taken on trust until the scan gets there, as for any class not tracked.
        view = _Scanned(MemoryView(), fallback, _target_classes() | (NETWORK_CLASSES - {RELATION}))
        worker = subprocess.Popen(
            [sys.executable, "-m", "mns.verify.network_process"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert worker.stdin is not None
        assert worker.stdout is not None
        # The other process reads every row anyway: containment, which needs no attributes, goes there too.
        moved = [r for r in each if r in containment.RULES]
        with worker.stdin:  # the job on its input (the store's URL stays off the command line)
            names = [r.name for r in (*network, *moved)]
            job = {"url": store.url, "branch": branch, "rev": rev, "rules": names}
            worker.stdin.write(orjson.dumps(job))
        try:
            with cyclic_gc_paused():
                here = [r for r in each if r not in moved]
                found = _scan(store, branch, rev, here, view, progress, keep=False)
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
        found.extend(payload)
        if progress is not None:
            progress("network", len(view.classes))
        with cyclic_gc_paused():
            return sort_findings(found)
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
    return (os.cpu_count() or 1) >= 2 and store.count(branch=branch) >= SPLIT_MIN


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
        # Containment, if asked, on every row as it passes (it reads only the DN and the class).
        contained = [r.each for r in containment.RULES if r.name in job["rules"] and r.each is not None]
        kept = MemoryView()
        loads = orjson.loads
        found: list[Finding] = []
        classes = None if contained else NETWORK_CLASSES
        for dn, cls, text in store.state(branch=branch, as_of=rev, classes=classes):
            for check in contained:
                found += check(dn, cls, _NO_ATTRIBUTES, kept)
            if cls == RELATION:
                kept.add_relation(dn, loads(text))
            elif cls in NETWORK_CLASSES:
                kept.add(dn, cls, loads(text))
        found += _network(store, branch, rev, kept, rules)
        # Findings travel pickled: evidence as a plain dict.
        payload = "findings", [f if type(f.evidence) is dict else replace(f, evidence=dict(f.evidence)) for f in found]
    except BaseException as exc:  # reported to the audit, which raises
        payload = "error", f"{type(exc).__name__}: {exc}"
    try:
        sys.stdout.buffer.write(pickle.dumps(payload))
        sys.stdout.buffer.flush()
    finally:
        os._exit(0)

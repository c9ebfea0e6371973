"""Class rules: checks of one class's objects beyond the registry's types, run at every management write.

The registry says what an attribute may hold; a class rule says what the twin needs of an
object to act on it (a subscription's address, a PM job's measurement types, a threshold's
metric). Rules are registered by class by the modules that act on those objects and run inside
the write's validation, so a bad object is refused like any other invalid one (400, naming the
object, the attribute and the rule; nothing changes). They run for management writes only
(``writer`` other than ``real``): what the mirror copies from the network is kept as it is.

A rule returns its problems as ``(attribute, message)`` pairs. A rule that must know whether an
object exists (say, a PM job's measured objects) calls ``exists(dn)``, which answers from the
writing transaction's own view; it is None where that view cannot be asked (the validation of
a bulk create runs beside its insertion), and the rule then skips that part.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Final

from mns.nrm.validate import ERROR, Finding

Exists = Callable[[str], bool]
ClassRule = Callable[[str, Mapping[str, Any], Exists | None], Sequence[tuple[str, str]]]
"""``rule(dn, attrs, exists)`` -> problems as (attribute, message)."""

_rules: dict[str, list[tuple[str, ClassRule]]] = {}
_lock = threading.Lock()
lookup: Final[ContextVar[Exists | None]] = ContextVar("mns_class_rule_lookup", default=None)
"""Set by the store's writer around validation: whether a DN exists in the writing view."""


RULE_MODULES: Final = ("mns.notify.rules", "mns.pm.job_rules", "mns.pm.threshold_model")
"""The modules that register the twin's class rules (imported by ``load``); add yours here."""


def load() -> None:
    """Import the modules of ``RULE_MODULES``, which register their rules."""
    import importlib

    for name in RULE_MODULES:
        importlib.import_module(name)


def register(cls: str, name: str, rule: ClassRule) -> None:
    """Run ``rule`` (reported as rule ``name``) on every managed write of a ``cls`` object; idempotent."""
    with _lock:
        entries = _rules.setdefault(cls, [])
        if all(existing is not rule for _, existing in entries):
            entries.append((name, rule))


def rules_of(cls: str) -> list[tuple[str, ClassRule]]:
    """The rules registered for ``cls``."""
    return list(_rules.get(cls, ()))


class ClassRules:
    """An ``ObjectValidator`` that adds the registered class rules to another one."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def validate(
        self,
        dn: str,
        cls: str,
        attrs: Mapping[str, Any],
        *,
        parent_cls: str | None,
        strict: bool = False,
        writer: str = "real",
        previous: Mapping[str, Any] | None = None,
    ) -> Sequence[Any]:
        """The inner validator's findings, plus an error per class-rule problem."""
        found: Sequence[Any] = self.inner.validate(
            dn, cls, attrs, parent_cls=parent_cls, strict=strict, writer=writer, previous=previous
        )
        entries = _rules.get(cls)
        if not entries or writer == "real":
            return found
        exists = lookup.get()
        extra = [
            Finding(attribute, name, f"{attribute}: {message}", ERROR)
            for name, rule in entries
            for attribute, message in rule(dn, attrs, exists)
        ]
        return [*found, *extra] if extra else found

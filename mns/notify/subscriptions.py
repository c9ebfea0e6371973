"""Subscriptions as the store holds them: ``NtfSubscriptionControl`` objects anywhere in the tree.

A subscription's scope is relative to its parent object (TS 28.623): BASE_ONLY is the parent
alone, BASE_NTH_LEVEL the objects n levels below it, BASE_SUBTREE the parent and n levels,
BASE_ALL (also the default) the parent's whole subtree. The filter (the ProvMnS XPath subset)
selects a change when the object passes it before or after the change, so a consumer also
hears of an object leaving the filtered set. Only subscriptions created through the twin's own
ProvMnS (revision source ``oss`` by default) are delivered to: the mirror copies the real
network's subscriptions too, and those are addressed to someone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mns.errors import NotFound
from mns.notify.rules import HEARTBEAT_CONTROL, SUBSCRIPTION, Definition, parse_definition
from mns.nrm.dn import DN, SEP, key_depth, key_to_dn, to_key
from mns.store.api import LIVE, Change, Revision, Scope, Version
from mns.store.sql import SqlStore


@dataclass(frozen=True, slots=True)
class Subscription:
    """A usable subscription: its DN, definition, and the depths of the tree it covers."""

    dn: str
    definition: Definition
    base: str
    base_key: str
    lo: int
    hi: int | None

    @classmethod
    def of(cls, dn: str, definition: Definition) -> Subscription:
        """The subscription ``dn`` with ``definition``; its scope's base is its parent."""
        parent = DN.parse(dn).parent
        if parent is None:  # the registry forbids it; a root subscription covers nothing
            raise ValueError(f"{dn} has no parent object")
        base_key = to_key(str(parent))
        depth = key_depth(base_key)
        lo, hi = definition.scope.levels(definition.level)
        return cls(dn, definition, str(parent), base_key, depth + lo, None if hi is None else depth + hi)

    @property
    def address(self) -> str:
        """Where its notifications are POSTed."""
        return self.definition.address

    def wants(self, ntype: str) -> bool:
        """Whether it asked for notifications of ``ntype``."""
        return ntype in self.definition.types

    def covers(self, dn: str) -> bool:
        """Whether the object ``dn`` is in its scope."""
        key = to_key(dn)
        if key != self.base_key and not key.startswith(self.base_key + SEP):
            return False
        depth = key_depth(key)
        return depth >= self.lo and (self.hi is None or depth <= self.hi)

    def selects(self, change: Change) -> bool:
        """Whether a change is in scope and passes the filter (before or after it)."""
        if not self.covers(change.dn):
            return False
        flt = self.definition.filter
        if flt is None:
            return True
        leaf = DN.parse(change.dn).id if "\\" in change.dn else change.dn[change.dn.rindex("=") + 1 :]
        return any(
            state is not None and flt.matches(change.cls, leaf, state) for state in (change.before, change.after)
        )


def parse_subscription(dn: str, attrs: Mapping[str, Any]) -> Subscription | None:
    """The subscription ``dn`` from its attributes, or None when they are unusable."""
    definition, _ = parse_definition(attrs)
    if definition is None or DN.parse(dn).parent is None:
        return None
    return Subscription.of(dn, definition)


def parse_heartbeat(attrs: Mapping[str, Any] | None) -> tuple[int, bool]:
    """(heartbeatNtfPeriod, triggerHeartbeatNtf) of a HeartbeatControl; (0, False) when absent."""
    if attrs is None:
        return 0, False
    period = attrs.get("heartbeatNtfPeriod")
    return (period if type(period) is int and period > 0 else 0), attrs.get("triggerHeartbeatNtf") is True


def parent_dn(dn: str) -> str | None:
    """The parent's DN, or None for a root."""
    parent = DN.parse(dn).parent
    return None if parent is None else str(parent)


@dataclass(frozen=True, slots=True)
class Incarnation:
    """The versions of an object since its last creation, oldest first."""

    dn: str
    versions: list[Version]

    @property
    def created(self) -> Revision:
        """The revision that created it."""
        return self.versions[0].revision

    def at(self, rev: int) -> dict[str, Any] | None:
        """Its attributes as of revision ``rev`` (None before its creation)."""
        found = None
        for v in self.versions:
            if v.revision.rev > rev:
                break
            found = v.attrs
        return found

    def after(self, rev: int) -> list[tuple[int, dict[str, Any]]]:
        """(revision, attributes) of every version made after ``rev``."""
        return [(v.revision.rev, v.attrs) for v in self.versions if v.revision.rev > rev and v.attrs is not None]


def incarnation(*, store: SqlStore, dn: str) -> Incarnation | None:
    """The current incarnation of the object ``dn``, or None when it does not exist now."""
    try:
        history = store.history(dn)
    except NotFound:
        return None
    if not history or history[-1].attrs is None:
        return None
    start = max((i + 1 for i, v in enumerate(history) if v.attrs is None), default=0)
    return Incarnation(dn, history[start:])


def subscription_dns(*, store: SqlStore) -> list[str]:
    """The DNs of the live twin's current subscriptions (one scan of the current rows)."""
    sql = store._q("SELECT path FROM moi WHERE branch = ? AND rev_to IS NULL AND cls = ? ORDER BY path")
    with store._read() as db:  # a pooled reader: its page cache is small, the scan is not kept
        return [key_to_dn(p) for (p,) in db.exec_driver_sql(sql, (LIVE, SUBSCRIPTION))]


def heartbeat_control(*, store: SqlStore, dn: str, rev: int | None = None) -> tuple[str, dict[str, Any]] | None:
    """(DN, attributes) of the subscription's HeartbeatControl, or None."""
    try:
        for moi in store.read(dn, scope=Scope.BASE_NTH_LEVEL, level=1, as_of=rev):
            if moi.cls == HEARTBEAT_CONTROL:
                return moi.dn, moi.attrs
    except NotFound:
        return None
    return None

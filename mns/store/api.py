"""The twin store's interface: operations, results and the ``Store`` protocol.

Every committed change set is one revision of a branch. Branch 0 is the live twin; other
branches are sandboxes that overlay the live twin as of their base revision. Objects are
addressed by their DN in canonical comma form (see ``mns.nrm.dn``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from mns.errors import MnsError

LIVE = 0
"""Branch id of the live twin."""

SOURCES = ("real", "oss", "reconcile", "ndt")
"""Revision sources besides ``sandbox:<id>``."""

PRODUCER_SOURCES = ("real", "reconcile", "ndt")
"""Sources that write as the producer does, so they may set read-only attributes: the network
itself (``real``, ``reconcile``, through the mirror) and the twin's own NDT job runner (``ndt``,
which writes the jobs' progress and their reports, ``mns.ndt``)."""


class Scope(enum.Enum):
    """TS 28.532 scope types (TS 28.623 ``ScopeType``)."""

    BASE_ONLY = "BASE_ONLY"
    BASE_NTH_LEVEL = "BASE_NTH_LEVEL"
    BASE_SUBTREE = "BASE_SUBTREE"
    BASE_ALL = "BASE_ALL"

    def levels(self, level: int = 0) -> tuple[int, int | None]:
        """(min, max) depth below the base object that the scope selects; None is unbounded."""
        if self is Scope.BASE_ONLY:
            return 0, 0
        if self is Scope.BASE_NTH_LEVEL:
            return level, level
        if self is Scope.BASE_SUBTREE:
            return 0, level
        return 0, None


@dataclass(slots=True)
class Moi:
    """One managed object instance as read from the store.

    ``attrs_json`` is the stored JSON text; ``attrs`` parses it on first use, so a reader that
    only forwards objects (a ProvMnS GET) never parses them.
    """

    dn: str
    cls: str
    rev: int
    attrs_json: bytes | str
    _attrs: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def attrs(self) -> dict[str, Any]:
        """The attributes, parsed on first access."""
        if self._attrs is None:
            self._attrs = orjson.loads(self.attrs_json)
        return self._attrs

    @property
    def etag(self) -> str:
        """The entity tag: the revision that last changed the object."""
        return str(self.rev)

    @property
    def depth(self) -> int:
        """Depth of the DN (number of RDNs)."""
        from mns.nrm.dn import key_depth, to_key

        return key_depth(to_key(self.dn))


@dataclass(slots=True)
class Create:
    """Create an object; fails if it exists or its parent does not.

    Not frozen, unlike the other operations: a bulk load makes millions, and a frozen
    dataclass's constructor costs three times as much. Treat it as a value all the same.
    """

    dn: str
    attrs: Mapping[str, Any]
    cls: str | None = None


@dataclass(frozen=True, slots=True)
class Put:
    """Create the object, or replace all its attributes (TS 28.532 PUT)."""

    dn: str
    attrs: Mapping[str, Any]
    if_match: str | None = None


@dataclass(frozen=True, slots=True)
class Update:
    """Merge attributes into an existing object; a value of None removes the attribute."""

    dn: str
    attrs: Mapping[str, Any]
    if_match: str | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete an object; with ``subtree`` also everything below it."""

    dn: str
    subtree: bool = False
    if_match: str | None = None


Op = Create | Put | Update | Delete


class ChangeKind(enum.Enum):
    """What a revision (or a change set) did to one object."""

    CREATED = "created"
    DELETED = "deleted"
    MODIFIED = "modified"


@dataclass(frozen=True, slots=True)
class Change:
    """The difference of one object between two states, with old and new values."""

    dn: str
    kind: ChangeKind
    cls: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def changed(self) -> dict[str, tuple[Any, Any]]:
        """Attribute -> (old, new) for every attribute that differs (None where absent)."""
        b, a = self.before or {}, self.after or {}
        return {k: (b.get(k), a.get(k)) for k in sorted(b.keys() | a.keys()) if b.get(k) != a.get(k)}

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        out: dict[str, Any] = {"dn": self.dn, "kind": self.kind.value, "objectClass": self.cls}
        if self.kind is ChangeKind.MODIFIED:
            out["changes"] = {k: {"old": o, "new": n} for k, (o, n) in self.changed.items()}
        elif self.kind is ChangeKind.CREATED:
            out["attributes"] = self.after
        else:
            out["attributes"] = self.before
        return out


@dataclass(frozen=True, slots=True)
class Revision:
    """A committed change set of a branch."""

    branch: int
    rev: int
    time: datetime
    source: str
    author: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "branch": self.branch,
            "revision": self.rev,
            "time": self.time.isoformat(),
            "source": self.source,
            "author": self.author,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Version:
    """One version of an object in its history; ``attrs`` None marks a deletion."""

    dn: str
    cls: str
    attrs: dict[str, Any] | None
    revision: Revision
    until: int | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            **self.revision.as_dict(),
            "objectClass": self.cls,
            "deleted": self.attrs is None,
            "attributes": self.attrs,
            "validUntilRevision": self.until,
        }


@dataclass(frozen=True, slots=True)
class Branch:
    """A sandbox: a branch of the live twin at ``base_rev``."""

    id: int
    name: str
    base_rev: int
    head_rev: int
    created: datetime
    author: str


@dataclass(slots=True)
class CommitResult:
    """What a commit did: the new revision (None when nothing changed) and per-DN outcome."""

    revision: Revision | None
    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    findings: dict[str, list[Any]] = field(default_factory=dict)
    created_count: int = 0
    """Objects created: ``len(created)``, or more for a ``bulk`` job (which lists none)."""

    @property
    def rev(self) -> int | None:
        """The new revision number, or None when the commit changed nothing."""
        return self.revision.rev if self.revision else None


class TxnView(Protocol):
    """The current state as a write transaction sees it (its own writes included)."""

    def get(self, dn: str) -> Moi | None:
        """One object, or None."""
        ...

    def subtree(self, dn: str) -> Iterator[Moi]:
        """The object and everything below it, parents first."""
        ...


Plan = Callable[[TxnView], Iterable[Op]]
"""Operations computed inside the write transaction from the state it sees."""


@dataclass(slots=True)
class CommitJob:
    """One change set to commit as a revision, for ``Store.commit_batch``.

    ``ops`` are the operations, or a plan that computes them inside the transaction (so that
    a read-modify-write, such as a PATCH, cannot race another write).
    """

    ops: Iterable[Op] | Plan
    source: str
    author: str = ""
    message: str = ""
    branch: int = LIVE
    expect_head: int | None = None
    precheck: Callable[[Any], None] | None = None
    """Runs inside the transaction before the operations (e.g. a merge's conflict check)."""
    bulk: bool = False
    """A bulk load (a network copied or generated): its memory must not grow with its size, so
    the created DNs are counted, not listed (``CommitResult.created_count``), and on SQLite the
    writer's page cache is kept small for its duration (its inserts come in key order)."""


def utc(timestamp: float) -> datetime:
    """A stored revision time as an aware datetime."""
    return datetime.fromtimestamp(timestamp, UTC)


AsOf = int | datetime | None
"""A revision number, a time (the newest revision at or before it), or None for now."""


class Store(Protocol):
    """The twin store: versioned NRM with as-of reads, history, diff and branches."""

    def commit(
        self,
        ops: Iterable[Op],
        *,
        source: str,
        author: str = "",
        message: str = "",
        branch: int = LIVE,
        expect_head: int | None = None,
    ) -> CommitResult:
        """Apply the operations as one atomic revision."""
        ...

    def commit_job(self, job: CommitJob) -> CommitResult:
        """Commit one job as a revision; raises its domain error."""
        ...

    def commit_batch(self, jobs: Sequence[CommitJob]) -> list[CommitResult | MnsError]:
        """Commit several change sets in one transaction, each its own revision."""
        ...

    def get(self, dn: str, *, branch: int = LIVE, as_of: AsOf = None) -> Moi | None:
        """One object, or None."""
        ...

    def read_one(self, dn: str, *, branch: int = LIVE, as_of: AsOf = None) -> tuple[int, Moi | None]:
        """One object (or None) and the revision the read reflects."""
        ...

    def read(
        self,
        dn: str,
        *,
        scope: Scope = Scope.BASE_ONLY,
        level: int = 0,
        branch: int = LIVE,
        as_of: AsOf = None,
    ) -> Iterator[Moi]:
        """Stream the scoped objects in key order (parents before children)."""
        ...

    def scan(
        self,
        dn: str,
        *,
        scope: Scope = Scope.BASE_ONLY,
        level: int = 0,
        branch: int = LIVE,
        as_of: AsOf = None,
    ) -> Iterator[tuple[str, str, str, int]]:
        """``read`` as plain (dn, class, attributes JSON, revision) tuples."""
        ...

    def roots(self, *, branch: int = LIVE, as_of: AsOf = None) -> list[Moi]:
        """The root objects (depth 1)."""
        ...

    def count(self, *, branch: int = LIVE) -> int:
        """Number of current objects of the branch."""
        ...

    def head(self, branch: int = LIVE) -> int:
        """The newest revision number of the branch (0 before the first commit)."""
        ...

    def resolve(self, as_of: AsOf, *, branch: int = LIVE) -> int:
        """The revision number an as-of value denotes."""
        ...

    def revision(self, rev: int, *, branch: int = LIVE) -> Revision:
        """One revision's metadata."""
        ...

    def revisions(self, *, branch: int = LIVE, limit: int = 100) -> list[Revision]:
        """The newest revisions, newest first."""
        ...

    def history(self, dn: str, *, branch: int = LIVE) -> list[Version]:
        """Every version of the object, oldest first."""
        ...

    def diff(
        self, from_rev: AsOf, to_rev: AsOf = None, *, branch: int = LIVE, classes: Sequence[str] | None = None
    ) -> Iterator[Change]:
        """Objects (of ``classes`` only, if given) that differ between two revisions, in key order."""
        ...

    def create_branch(self, *, name: str = "", base: AsOf = None, author: str = "") -> Branch:
        """A new sandbox on the live twin at ``base`` (now by default); constant time."""
        ...

    def branch(self, branch_id: int) -> Branch:
        """A sandbox by id."""
        ...

    def branches(self) -> list[Branch]:
        """Every open sandbox."""
        ...

    def drop_branch(self, branch_id: int) -> None:
        """Delete a sandbox and its rows."""
        ...

    def change_set(self, branch_id: int) -> list[Change]:
        """What the sandbox changed against its base, parents first."""
        ...

    def merge_branch(self, branch_id: int, *, author: str = "", message: str = "") -> CommitResult:
        """Apply the sandbox's change set to the live twin as one revision."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def ops_for_changes(changes: Sequence[Change]) -> list[Op]:
    """Store operations that turn a change set's before-state into its after-state."""
    creates = [c for c in changes if c.kind is ChangeKind.CREATED]
    mods = [c for c in changes if c.kind is ChangeKind.MODIFIED]
    dels = [c for c in changes if c.kind is ChangeKind.DELETED]
    from mns.nrm.dn import key_depth, to_key

    ops: list[Op] = []
    ops += [Create(c.dn, c.after or {}, c.cls) for c in sorted(creates, key=lambda c: key_depth(to_key(c.dn)))]
    ops += [Put(c.dn, c.after or {}) for c in mods]
    ops += [Delete(c.dn) for c in sorted(dels, key=lambda c: -key_depth(to_key(c.dn)))]
    return ops

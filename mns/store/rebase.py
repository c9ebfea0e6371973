"""Rebasing a sandbox onto the live twin's newest revision, attribute by attribute.

A sandbox is made at a base revision; the live twin goes on (the mirror applies the network's
changes). Before its change set is deployed it must stand on the network as it is now. Rebasing
replays the sandbox's *own* edits on the live head: for an object both changed, the sandbox's
attributes win only where the live twin left them alone, so the live twin's other changes are
kept. Where both changed the same attribute to different values, or one side deleted an object
the other changed, nothing is merged silently: :class:`mns.errors.MergeConflict` lists every
conflict (object, attribute, base, live and sandbox values) and the sandbox stays as it was.

The rebased sandbox holds one revision (its earlier revisions are replaced): the change set
against the new base. It is the same branch id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mns.errors import MergeConflict
from mns.nrm.dn import key_depth, to_key
from mns.store.api import LIVE, Change, ChangeKind, Create, Delete, Op, Update

if TYPE_CHECKING:
    from mns.store.sql import SqlStore

_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class Conflict:
    """One edit both sides made differently."""

    dn: str
    attribute: str | None
    """None: the object itself (deleted on one side, changed on the other)."""
    base: Any
    live: Any
    sandbox: Any

    def as_json(self) -> dict[str, Any]:
        """The JSON form of the conflict report."""
        return {
            "dn": self.dn,
            "attribute": self.attribute,
            "base": None if self.base is _ABSENT else self.base,
            "live": None if self.live is _ABSENT else self.live,
            "sandbox": None if self.sandbox is _ABSENT else self.sandbox,
        }

    def __str__(self) -> str:
        what = f"{self.dn} {self.attribute}" if self.attribute else self.dn
        return f"{what}: live {_show(self.live)}, sandbox {_show(self.sandbox)} (base {_show(self.base)})"


class RebaseConflict(MergeConflict):
    """The live twin and the sandbox changed the same thing differently."""

    rule = "rebase-conflict"

    def __init__(self, branch_id: int, conflicts: list[Conflict]) -> None:
        shown = "; ".join(str(c) for c in conflicts[:10])
        more = f" (and {len(conflicts) - 10} more)" if len(conflicts) > 10 else ""
        super().__init__(
            f"sandbox {branch_id} cannot be rebased: {len(conflicts)} conflicting edit(s): {shown}{more}",
            dns=sorted({c.dn for c in conflicts}),
        )
        self.conflicts = conflicts


def _show(value: Any) -> str:
    return "absent" if value is _ABSENT else repr(value)


def _attr(attrs: dict[str, Any] | None, name: str) -> Any:
    return _ABSENT if attrs is None or name not in attrs else attrs[name]


def conflicts_and_ops(store: SqlStore, branch_id: int) -> tuple[int, list[Conflict], list[Op]]:
    """(live head, conflicts, the operations that replay the sandbox's edits on the live head)."""
    sandbox = store.branch(branch_id)
    changes: list[Change] = store.change_set(branch_id)
    head = store.head(LIVE)
    conflicts: list[Conflict] = []
    creates: list[Op] = []
    updates: list[Op] = []
    deletes: list[tuple[int, Op]] = []
    for c in changes:
        then = store.get(c.dn, as_of=sandbox.base_rev)
        now = store.get(c.dn, as_of=head)
        live_changed = (then is None) != (now is None) or (then is not None and now is not None and then.rev != now.rev)
        if c.kind is ChangeKind.CREATED:
            if now is not None and now.attrs != c.after:
                conflicts.append(Conflict(c.dn, None, _ABSENT, now.attrs, c.after))
            elif now is None:
                creates.append(Create(c.dn, c.after or {}, c.cls))
            continue
        if c.kind is ChangeKind.DELETED:
            if now is None:
                continue  # gone on both sides
            if live_changed:
                conflicts.append(Conflict(c.dn, None, c.before, now.attrs, _ABSENT))
            else:
                deletes.append((key_depth(to_key(c.dn)), Delete(c.dn, subtree=True)))
            continue
        # modified in the sandbox
        if now is None:
            conflicts.append(Conflict(c.dn, None, c.before, _ABSENT, c.after))
            continue
        patch: dict[str, Any] = {}
        for name, (_, new) in c.changed.items():
            live_value = _attr(now.attrs, name)
            base_value = _attr(c.before, name)
            if live_changed and live_value != base_value and live_value != _attr(c.after, name):
                conflicts.append(Conflict(c.dn, name, base_value, live_value, _attr(c.after, name)))
            else:
                patch[name] = new
        if patch:
            updates.append(Update(c.dn, patch))
    ops: list[Op] = sorted(creates, key=lambda op: key_depth(to_key(op.dn)))
    ops += updates
    ops += [op for _, op in sorted(deletes, key=lambda d: -d[0])]
    return head, conflicts, ops


def rebase(store: SqlStore, branch_id: int, *, author: str = "") -> int:
    """Replay the sandbox's edits on the live head (see the module doc); the new base revision.

    Raises :class:`RebaseConflict` (409) listing every conflict; then nothing changes.
    """
    head, conflicts, ops = conflicts_and_ops(store, branch_id)
    if conflicts:
        raise RebaseConflict(branch_id, conflicts)
    sandbox = store.branch(branch_id)
    if sandbox.base_rev == head:
        return head
    store._rebase_branch(branch_id, head, ops, author=author)
    return head

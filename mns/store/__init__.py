"""The twin store: a versioned NRM with as-of reads, history, diffs and sandboxes."""

from __future__ import annotations

from mns.store.api import (
    LIVE,
    AsOf,
    Branch,
    Change,
    ChangeKind,
    CommitJob,
    CommitResult,
    Create,
    Delete,
    Moi,
    Op,
    Put,
    Revision,
    Scope,
    Store,
    Update,
    Version,
)
from mns.store.sql import SqlStore
from mns.store.write import ObjectValidator

__all__ = [
    "LIVE",
    "AsOf",
    "Branch",
    "Change",
    "ChangeKind",
    "CommitJob",
    "CommitResult",
    "Create",
    "Delete",
    "Moi",
    "ObjectValidator",
    "Op",
    "Put",
    "Revision",
    "Scope",
    "SqlStore",
    "Store",
    "Update",
    "Version",
    "open_store",
]


def open_store(
    url: str = "twin.db", *, strict: bool = False, validator: ObjectValidator | None = None, sync: str = "full"
) -> SqlStore:
    """Open (creating if needed) the store at a SQLite file path or a postgresql:// URL.

    ``sync`` is SQLite's durability (``mns.store.db.SYNC_MODES``); PostgreSQL keeps its own.
    """
    return SqlStore(url, strict=strict, validator=validator, sync=sync)

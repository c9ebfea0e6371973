"""The store's tables (SQLAlchemy Core), shared by the SQLite and PostgreSQL backends.

``moi`` holds one row per version of an object: the current version has ``rev_to`` NULL, a
write closes the old row and adds a new one. As-of reads, history and diffs are therefore
index range scans, never copies of the network. The primary key ``(branch, path, rev_from)``
keeps each subtree contiguous (see ``mns.nrm.dn``); on SQLite the table is WITHOUT ROWID so
that rows are stored in that order. A sandbox's rows overlay the live twin as of its base
revision; a row with ``attrs`` NULL in a sandbox is a tombstone (deleted in the sandbox).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Byte order, not the locale's: the subtree key ranges rely on it.
_Path = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

branch = sa.Table(
    "branch",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("base_rev", sa.Integer, nullable=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("author", sa.Text, nullable=False, default=""),
)

revision = sa.Table(
    "revision",
    metadata,
    sa.Column("branch", sa.Integer, primary_key=True),
    sa.Column("rev", sa.Integer, primary_key=True),
    sa.Column("time", sa.Float, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)

moi = sa.Table(
    "moi",
    metadata,
    sa.Column("branch", sa.Integer, primary_key=True),
    sa.Column("path", _Path, primary_key=True),
    sa.Column("rev_from", sa.Integer, primary_key=True),
    sa.Column("rev_to", sa.Integer, nullable=True),
    sa.Column("depth", sa.SmallInteger, nullable=False),
    sa.Column("cls", sa.Text, nullable=False),
    sa.Column("attrs", sa.Text, nullable=True),
    sa.Index(
        "ux_moi_current",
        "branch",
        "path",
        unique=True,
        sqlite_where=sa.text("rev_to IS NULL"),
        postgresql_where=sa.text("rev_to IS NULL"),
    ),
    sa.Index("ix_moi_rev_from", "branch", "rev_from"),
    sa.Index(
        "ix_moi_rev_to",
        "branch",
        "rev_to",
        sqlite_where=sa.text("rev_to IS NOT NULL"),
        postgresql_where=sa.text("rev_to IS NOT NULL"),
    ),
    sqlite_with_rowid=False,
)

SCHEMA_VERSION = 1

meta = sa.Table(
    "twin_meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

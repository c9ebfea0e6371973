"""Reading a producer's whole NRM into the twin: the first full sync and every reconciliation.

Both read the network with one streamed ProvMnS GET per root (``BASE_SUBTREE``), parsed while
it arrives (:meth:`mns.consumer.client.MnsClient.iter_subtree`), so memory does not grow with
the network.

- **Full sync** (the twin has nothing under the root): the objects go straight into one commit
  as they are parsed, through the store's bulk create; the twin's memory stays flat too.
- **Reconciliation** (the twin has a copy): first a digest of every twin object (DN -> 8-byte
  hash of its sorted JSON), then the network is streamed and compared object by object; only
  what differs is written, as one revision with source ``real``: objects the network has and
  the twin lacks or holds differently are put, objects the twin has and the network does not are
  deleted. The twin stays writable while the network is read.

Objects of :data:`mns.mirror.cm.LOCAL_CLASSES` (subscriptions: each system's own) are skipped on
both sides. Names of an OpenAPI-dialect producer are turned into stage 2 (:class:`Canon`); the
dialect is told by the first class name that is spelled differently in the two.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any, Final

import orjson

from mns.consumer.client import MnsClient
from mns.errors import NotFound
from mns.mirror.cm import Canon, is_local
from mns.mirror.state import Drift
from mns.mirror.writer import split_write
from mns.nrm.dn import DN, SEP, to_key
from mns.store.api import ChangeKind, CommitJob, Create, Delete, Op, Put, Scope
from mns.store.sql import SqlStore

AUTHOR: Final = "mirror"


Progress = Callable[[int], None]
"""Called with the number of network objects read so far (every few hundred)."""


@dataclass(slots=True)
class Reader:
    """The network's objects in stage-2 form, with the dialect found on the way."""

    canon: Canon
    dialect: str | None = None
    """``stage2`` or ``openapi`` once a class name told; None before."""
    count: int = 0

    def objects(
        self, client: MnsClient, roots: Sequence[str], progress: Progress | None = None
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(DN, class, attributes) of every object under the roots, parents first."""
        for root in roots:
            for moi in client.iter_subtree(root, scope="BASE_SUBTREE"):
                if self.dialect is None:
                    told = self.canon.is_openapi(moi.cls)
                    if told is not None:
                        self.dialect = "openapi" if told else "stage2"
                if self.dialect == "stage2":  # until a class name tells, names are converted (a no-op on stage 2)
                    dn, cls, attrs = moi.dn, moi.cls, moi.attributes
                else:
                    cls = self.canon.cls(moi.cls)
                    dn = str(DN.parse(self.canon.dn(moi.dn)))
                    attrs = self.canon.attrs(cls, moi.attributes)
                if is_local(dn):
                    continue
                self.count += 1
                if progress is not None and self.count % 500 == 0:
                    progress(self.count)
                yield dn, cls, attrs
        if progress is not None:
            progress(self.count)


@dataclass(slots=True)
class SyncReport:
    """What one full sync or reconciliation did."""

    kind: str
    """``full`` or ``reconcile``."""
    cause: str
    started: float
    finished: float = 0.0
    objects: int = 0
    """Objects read from the network."""
    revision: int | None = None
    """The twin's revision that holds the repair (None: nothing differed)."""
    drift: list[Drift] = field(default_factory=list)
    dialect: str | None = None
    writer_peak_mb: float | None = None
    """Peak resident memory of the process that wrote a full sync, where one did (``mns.mirror.writer``)."""

    def counts(self) -> dict[str, int]:
        """How many objects were created, modified and deleted in the twin."""
        out = {"created": 0, "modified": 0, "deleted": 0}
        for d in self.drift:
            out[d.kind] += 1
        return out

    def as_json(self) -> dict[str, Any]:
        """The JSON form (status endpoint and reconcile answer)."""
        return {
            "kind": self.kind,
            "cause": self.cause,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "seconds": round(self.finished - self.started, 3),
            "objects": self.objects,
            "revision": self.revision,
            "repaired": self.counts(),
            "dialect": self.dialect,
        }


def _iso(t: float) -> str:
    from mns.store.api import utc

    return utc(t).isoformat().replace("+00:00", "Z")


def twin_has(store: SqlStore, roots: Sequence[str]) -> bool:
    """Whether the twin holds any of the roots."""
    return any(store.get(root) is not None for root in roots)


SPLIT_AFTER: Final = 5_000
"""Objects from which a full sync writes in a second process (``mns.mirror.writer``)."""


def full_sync(
    store: SqlStore,
    client: MnsClient,
    roots: Sequence[str],
    reader: Reader,
    *,
    progress: Progress | None = None,
    processes: int | None = None,
) -> SyncReport:
    """Copy the network into a twin that has none of it: one revision, streamed.

    ``processes`` 2 writes in a second process while this one reads; 1 does both here; None
    (the default) takes two where the machine has two cores and the network has ``SPLIT_AFTER``
    objects or more. The revision is the same either way.
    """
    report = SyncReport("full", "first sync", time.time())
    objects = reader.objects(client, roots, progress)
    message = f"mirror: full sync of {', '.join(roots)}"
    first: list[tuple[str, str, dict[str, Any]]] = []
    if processes != 1 and (processes is not None or (os.cpu_count() or 1) >= 2):
        first = list(islice(objects, SPLIT_AFTER))
    if len(first) == SPLIT_AFTER or (processes is not None and processes >= 2):
        report.revision, _, report.writer_peak_mb = split_write(
            store.url, chain(first, objects), author=AUTHOR, message=message, strict=store.strict, sync=store.sync
        )
    else:
        ops = (Create(dn, attrs, cls) for dn, cls, attrs in chain(first, objects))
        # A bulk job: the DNs created are counted, not listed, so memory stays flat at any size.
        result = store.commit_job(CommitJob(ops, source="real", author=AUTHOR, message=message, bulk=True))
        report.revision = result.rev
    report.objects = reader.count
    report.dialect = reader.dialect
    report.finished = time.time()
    return report


def _digest(attrs: Any) -> bytes:
    return hashlib.blake2b(orjson.dumps(attrs, option=orjson.OPT_SORT_KEYS), digest_size=8).digest()


def twin_digests(store: SqlStore, roots: Sequence[str]) -> dict[str, bytes]:
    """DN -> digest of every twin object under the roots (local classes left out)."""
    out: dict[str, bytes] = {}
    for root in roots:
        try:
            for dn, _, attrs_json, _ in store.scan(root, scope=Scope.BASE_ALL):
                if not is_local(dn):
                    out[dn] = _digest(orjson.loads(attrs_json))
        except NotFound:
            continue
    return out


def reconcile(
    store: SqlStore,
    client: MnsClient,
    roots: Sequence[str],
    reader: Reader,
    *,
    cause: str,
    progress: Progress | None = None,
) -> SyncReport:
    """Compare the network with the twin and write what differs as one revision (see the module doc)."""
    report = SyncReport("reconcile", cause, time.time())
    twin = twin_digests(store, roots)
    ops: list[Op] = []
    created: list[str] = []
    for dn, _, attrs in reader.objects(client, roots, progress):
        old = twin.pop(dn, None)
        if old is None:
            ops.append(Put(dn, attrs))
            created.append(dn)
        elif old != _digest(attrs):
            ops.append(Put(dn, attrs))
    gone = _topmost(twin)
    ops.extend(Delete(dn, subtree=True) for dn in gone)
    report.objects = reader.count
    report.dialect = reader.dialect
    if ops:
        message = f"mirror: reconciliation ({cause}): {len(ops)} objects differed"
        result = store.commit(ops, source="real", author=AUTHOR, message=message)
        report.revision = result.rev
    if report.revision is not None:
        report.drift = _drift(store, report.revision, cause=cause)
    report.finished = time.time()
    return report


def _topmost(dns: dict[str, bytes]) -> list[str]:
    """The DNs none of whose ancestors is in the set (deleting those deletes the rest)."""
    out: list[str] = []
    below: str | None = None
    for key, dn in sorted((to_key(dn), dn) for dn in dns):
        if below is not None and key.startswith(below):
            continue
        out.append(dn)
        below = key + SEP
    return out


def _drift(store: SqlStore, rev: int, *, cause: str) -> list[Drift]:
    """What a repair revision changed, object by object, with the cause of each."""
    out: list[Drift] = []
    kinds = {ChangeKind.CREATED: "created", ChangeKind.MODIFIED: "modified", ChangeKind.DELETED: "deleted"}
    for change in store.diff(rev - 1, rev):
        names = tuple(sorted(change.changed)) if change.kind is ChangeKind.MODIFIED else ()
        out.append(Drift(change.dn, kinds[change.kind], _cause(store, change.dn, rev, cause), names))
    return out


OBJECT_CAUSE: Final = {
    "producer-restart": "producer-restart",
    "twin-restart": "twin-restart",
    "unapplied-notification": "unapplied-notification",
}
"""Why an object drifted, by what started the reconciliation; any other start: a missed notification."""


def _cause(store: SqlStore, dn: str, rev: int, trigger: str) -> str:
    """Why an object drifted: a twin change by another source shows in its history; else by the trigger."""
    for version in reversed(store.history(dn)):
        if version.revision.rev >= rev:
            continue
        if version.revision.source != "real":
            return "twin-changed"
        break
    return OBJECT_CAUSE.get(trigger, "missed-notification")

"""The states verification reads: the live twin at a revision, a change set over it, an audit's memory.

Every rule reads a :class:`NetView`: the ``View`` of ``mns.verify.model`` plus the two reverse
lookups that keep incremental verification independent of the twin's size:

- ``referrers(dn)``: the NRCellRelations whose ``adjacentNRCellRef`` is ``dn`` (who lists a cell
  as neighbour), and
- ``functions_with_gnb_id(ids)``: the gNB functions (DU, CU-CP, CU-UP, external CU-CP) with one
  of these gNB ids, from which the cells of an NCI are found.

Three implementations:

- :class:`StoreView` reads the store at one revision. Its reverse lookups are SQL over two
  partial expression indexes on the ``moi`` table (``ix_verify_adjacent``, ``ix_verify_gnb_id``),
  created on first use (``ensure_indexes``, idempotent) and kept by the database from then on.
  We chose indexes in the database over an in-memory index rebuilt per process: nothing to warm
  up (the first verification after a restart costs the same as the next), memory stays flat at a
  million objects, and several workers on PostgreSQL share them. Their price is one more index
  entry per NRCellRelation or gNB function written.
- :class:`OverlayView` is a change set (a sandbox's, or one proposed) over a base view: the
  sandbox as verification sees it, without reading the sandbox's rows again.
- :class:`MemoryView` holds the objects the network rules need (cells, gNB functions, external
  cells, relations trimmed to their target, frequencies), filled by the audit's one scan.

:class:`Net` answers the questions rules ask about cells: NCI, PCI and SSB frequency, neighbours in both directions,
co-sited cells and the external cells standing for a cell. It memoises per view.
"""

from __future__ import annotations

import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol, cast

import orjson

from mns.errors import MalformedDN, NotFound
from mns.nrm.dn import SEP, key_class, key_depth, key_to_dn, to_key
from mns.store.api import LIVE, Change, Scope
from mns.verify.model import View

if TYPE_CHECKING:
    from mns.store.sql import SqlStore

ADJACENT: Final = "adjacentNRCellRef"
RELATION: Final = "NRCellRelation"
GNB_CLASSES: Final = ("ExternalGNBCUCPFunction", "GNBCUCPFunction", "GNBCUUPFunction", "GNBDUFunction")
CELL_FUNCTION: Final = {
    "NRCellDU": "GNBDUFunction",
    "NRCellCU": "GNBCUCPFunction",
    "ExternalNRCellCU": "ExternalGNBCUCPFunction",
}
"""The function class whose gNBId a cell's NCI starts with."""
NCI_BITS: Final = 36
GNB_ID_LENGTHS: Final = range(22, 33)

Obj = tuple[str, dict[str, Any]]


class NetView(View, Protocol):
    """A ``View`` with the reverse lookups the network rules need."""

    def referrers(self, dn: str) -> list[str]:
        """DNs of the NRCellRelations whose adjacentNRCellRef is ``dn``."""
        ...

    def functions_with_gnb_id(self, ids: Collection[int]) -> list[tuple[str, str, dict[str, Any]]]:
        """(DN, class, attributes) of the gNB functions whose gNBId is one of ``ids``."""
        ...


def class_of(dn: str) -> str:
    """The class of a DN's leaf RDN (``MalformedDN`` when it has none)."""
    if "\\" not in dn:
        start = dn.rfind(",") + 1
        end = dn.find("=", start)
        if end > start:
            return dn[start:end]
    return key_class(to_key(dn))  # escapes, or no class: the parser decides (and says why)


def parent_of(dn: str) -> str | None:
    """The parent DN, or None for a root."""
    if "\\" not in dn:
        i = dn.rfind(",")
        return dn[:i] if i > 0 else None
    key = to_key(dn)
    i = key.rfind(SEP)
    return key_to_dn(key[:i]) if i > 0 else None


_last_parent: list[tuple[str, str | None]] = [("", None)]


def parent_class(dn: str) -> str | None:
    """The class of a DN's parent (None for a root).

    Remembers its last answer: the per-object rules ask it in turn about the same object.
    """
    last = _last_parent[0]  # one read: another thread may replace it meanwhile
    if last[0] is dn:
        return last[1]
    parent = parent_of(dn)
    cls = class_of(parent) if parent is not None else None
    _last_parent[0] = (dn, cls)
    return cls


# -- the live twin at a revision -------------------------------------------------------------

_SQLITE_EXPR: Final = {"adj": "json_extract(attrs, '$.adjacentNRCellRef')", "gnb": "json_extract(attrs, '$.gNBId')"}
_PG_EXPR: Final = {"adj": "((attrs::jsonb) ->> 'adjacentNRCellRef')", "gnb": "((attrs::jsonb) ->> 'gNBId')"}
_GNB_IN: Final = "cls IN (" + ", ".join(f"'{c}'" for c in GNB_CLASSES) + ")"
_indexed: weakref.WeakSet[Any] = weakref.WeakSet()
_index_lock = threading.Lock()


def ensure_indexes(store: SqlStore) -> None:
    """Create the two partial expression indexes the reverse lookups use, once per database."""
    if store in _indexed:
        return
    with _index_lock:
        if store in _indexed:
            return
        expr = _PG_EXPR if store.postgres else _SQLITE_EXPR
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS ix_verify_adjacent ON moi ({expr['adj']}, branch) WHERE cls = '{RELATION}'"
            )
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS ix_verify_gnb_id ON moi ({expr['gnb']}, branch) WHERE {_GNB_IN}"
            )
        _indexed.add(store)


def _by(store: SqlStore, index: str) -> str:
    # SQLite's planner, without statistics, prefers the revision index: name ours.
    return "" if store.postgres else f" INDEXED BY {index}"


class StoreView:
    """The live twin (or, for plain reads, a sandbox) at one revision; reads are memoised."""

    def __init__(self, store: SqlStore, *, rev: int, branch: int = LIVE) -> None:
        self.store = store
        self.rev = rev
        self.branch = branch
        self._objects: dict[str, Obj | None] = {}
        self._children: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        self.reads = 0
        """Store statements issued (what incremental verification is measured by)."""

    def get(self, dn: str) -> Obj | None:
        """(class, attributes) of an object, or None (as for a malformed DN, which names none)."""
        try:
            return self._objects[dn]
        except KeyError:
            pass
        self.reads += 1
        try:
            moi = self.store.get(dn, branch=self.branch, as_of=self.rev)
        except MalformedDN:
            moi = None
        found = (moi.cls, moi.attrs) if moi is not None else None
        self._objects[dn] = found
        return found

    def children(self, dn: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(DN, class, attributes) of the objects right below ``dn``."""
        rows = self._children.get(dn)
        if rows is None:
            self.reads += 1
            try:
                scan = self.store.scan(dn, scope=Scope.BASE_NTH_LEVEL, level=1, branch=self.branch, as_of=self.rev)
                rows = [(d, c, orjson.loads(a)) for d, c, a, _ in scan]
            except NotFound:
                rows = []
            self._children[dn] = rows
            for d, c, a in rows:
                self._objects.setdefault(d, (c, a))
        return iter(rows)

    def of_class(self, cls: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(DN, attributes) of every object of a class: a scan of the whole twin (audits only)."""
        for root in self.store.roots(branch=self.branch, as_of=self.rev):
            for d, c, a, _ in self.store.scan(root.dn, scope=Scope.BASE_ALL, branch=self.branch, as_of=self.rev):
                if c == cls:
                    yield d, orjson.loads(a)

    def _live(self) -> None:
        if self.branch != LIVE:
            raise NotImplementedError("reverse lookups read the live twin; view a sandbox as an OverlayView")
        ensure_indexes(self.store)

    def referrers(self, dn: str) -> list[str]:
        """DNs of the NRCellRelations whose adjacentNRCellRef is ``dn``."""
        self._live()
        self.reads += 1
        expr = (_PG_EXPR if self.store.postgres else _SQLITE_EXPR)["adj"]
        sql = self.store._q(
            f"SELECT path FROM moi{_by(self.store, 'ix_verify_adjacent')} WHERE cls = '{RELATION}' AND {expr} = ?"
            " AND branch = 0"
            " AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?)"
        )
        with self.store._read() as db:
            return sorted(key_to_dn(r[0]) for r in db.exec_driver_sql(sql, (dn, self.rev, self.rev)))

    def functions_with_gnb_id(self, ids: Collection[int]) -> list[tuple[str, str, dict[str, Any]]]:
        """(DN, class, attributes) of the gNB functions whose gNBId is one of ``ids``."""
        if not ids:
            return []
        self._live()
        self.reads += 1
        pg = self.store.postgres
        expr = (_PG_EXPR if pg else _SQLITE_EXPR)["gnb"]
        marks = ", ".join("?" * len(ids))
        sql = self.store._q(
            f"SELECT path, cls, attrs FROM moi{_by(self.store, 'ix_verify_gnb_id')} WHERE {_GNB_IN}"
            f" AND {expr} IN ({marks}) AND branch = 0"
            " AND rev_from <= ? AND (rev_to IS NULL OR rev_to > ?)"
        )
        values = [str(i) if pg else i for i in sorted(ids)]
        with self.store._read() as db:
            rows = db.exec_driver_sql(sql, (*values, self.rev, self.rev)).all()
        out = [(key_to_dn(p), c, orjson.loads(a)) for p, c, a in rows]
        for d, c, a in out:
            self._objects.setdefault(d, (c, a))
        return sorted(out, key=lambda r: r[0])


# -- a change set over a base ----------------------------------------------------------------


class OverlayView:
    """A change set applied over a base view: what the network looks like after it."""

    def __init__(self, base: NetView, changes: Iterable[Change]) -> None:
        self.base = base
        self.after: dict[str, Obj | None] = {}
        self._created_under: dict[str, list[str]] = defaultdict(list)
        self._pointing: dict[str, list[str]] = defaultdict(list)
        self._functions: list[str] = []
        for c in changes:
            self.after[c.dn] = (c.cls, c.after) if c.after is not None else None
            if c.before is None and c.after is not None:
                parent = parent_of(c.dn)
                if parent is not None:
                    self._created_under[parent].append(c.dn)
            if c.cls == RELATION and c.after is not None and isinstance(c.after.get(ADJACENT), str):
                self._pointing[c.after[ADJACENT]].append(c.dn)
            if c.cls in GNB_CLASSES:
                self._functions.append(c.dn)

    def get(self, dn: str) -> Obj | None:
        """(class, attributes) of an object, or None."""
        if dn in self.after:
            return self.after[dn]
        return self.base.get(dn)

    def children(self, dn: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(DN, class, attributes) of the objects right below ``dn``."""
        rows: dict[str, tuple[str, dict[str, Any]]] = {}
        for d, c, a in self.base.children(dn):
            if d in self.after:
                now = self.after[d]
                if now is not None:
                    rows[d] = now
            else:
                rows[d] = (c, a)
        for d in self._created_under.get(dn, ()):
            now = self.after[d]
            if now is not None:
                rows[d] = now
        return ((d, c, a) for d, (c, a) in sorted(rows.items(), key=lambda kv: to_key(kv[0])))

    def of_class(self, cls: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(DN, attributes) of every object of a class."""
        for d, a in self.base.of_class(cls):
            if d not in self.after:
                yield d, a
        for d, now in self.after.items():
            if now is not None and now[0] == cls:
                yield d, now[1]

    def referrers(self, dn: str) -> list[str]:
        """DNs of the NRCellRelations whose adjacentNRCellRef is ``dn``."""
        kept = [r for r in self.base.referrers(dn) if r not in self.after]
        return sorted({*kept, *(r for r in self._pointing.get(dn, ()) if self.after.get(r) is not None)})

    def functions_with_gnb_id(self, ids: Collection[int]) -> list[tuple[str, str, dict[str, Any]]]:
        """(DN, class, attributes) of the gNB functions whose gNBId is one of ``ids``."""
        out = {d: (c, a) for d, c, a in self.base.functions_with_gnb_id(ids) if d not in self.after}
        for d in self._functions:
            now = self.after[d]
            if now is not None and now[1].get("gNBId") in ids:
                out[d] = now
        return [(d, c, a) for d, (c, a) in sorted(out.items())]


# -- the audit's memory ----------------------------------------------------------------------

NETWORK_CLASSES: Final = frozenset({*GNB_CLASSES, *CELL_FUNCTION, RELATION, "NRFrequency", "ManagedElement"})
"""The classes a MemoryView keeps: what the network rules (PCI, identity, neighbours) read."""


class MemoryView:
    """The objects of ``NETWORK_CLASSES`` in memory (relations trimmed to their target and nRTCI).

    NRCellRelations, most of a network's objects, are kept apart and lean: per parent (an
    NRCellCU), a list of (DN, adjacentNRCellRef, nRTCI) in the order they were added. Their
    attribute mappings are made when asked for, and the reverse lookup (who points at a cell)
    is built in one pass when first asked, after an audit's scan has filled the view.
    """

    def __init__(self, fallback: View | None = None) -> None:
        self.fallback = fallback
        self._objects: dict[str, Obj] = {}
        self._children: dict[str, list[str]] = defaultdict(list)
        self._by_class: dict[str, list[str]] = defaultdict(list)
        self._gnb: dict[int, list[str]] = defaultdict(list)
        self._relations: dict[str, list[Rel]] = {}
        self._count = 0
        self._pointing: dict[str, list[str]] | None = None
        """adjacentNRCellRef -> the relations pointing there (built lazily)."""
        # The children list of the last parent added to: siblings come one after the other.
        self._last: tuple[str, list[str]] = ("", [])
        self._last_relations: tuple[str, list[Rel]] = ("", [])

    def add(self, dn: str, cls: str, attrs: dict[str, Any]) -> None:
        """Keep one object (of ``NETWORK_CLASSES``; others are ignored)."""
        if cls == RELATION:
            self.add_relation(dn, attrs)
            return
        if cls not in NETWORK_CLASSES:
            return
        if cls in GNB_CLASSES and isinstance(attrs.get("gNBId"), int):
            self._gnb[attrs["gNBId"]].append(dn)
        self._objects[dn] = (cls, attrs)
        self._by_class[cls].append(dn)
        if "\\" not in dn:
            i = dn.rfind(",")
            if i <= 0:
                return
            last, siblings = self._last
            if len(last) == i and dn.startswith(last):
                siblings.append(dn)
                return
            parent: str | None = dn[:i]
        else:
            parent = parent_of(dn)
        if parent is not None:
            siblings = self._children[parent]
            siblings.append(dn)
            self._last = (parent, siblings)

    def add_relation(self, dn: str, attrs: dict[str, Any]) -> None:
        """Keep an NRCellRelation: its DN, adjacentNRCellRef and nRTCI."""
        last, siblings = self._last_relations
        i = dn.rfind(",") if "\\" not in dn else -1
        if i > 0 and len(last) == i and dn.startswith(last):
            siblings.append((dn, attrs.get(ADJACENT), attrs.get("nRTCI")))
        else:
            parent = dn[:i] if i > 0 else parent_of(dn)
            if parent is None:  # a relation as a root: no parent to file it under
                parent = ""
            siblings = self._relations.setdefault(parent, [])
            siblings.append((dn, attrs.get(ADJACENT), attrs.get("nRTCI")))
            self._last_relations = (parent, siblings)
        self._count += 1
        self._pointing = None

    def __len__(self) -> int:
        return len(self._objects) + self._count

    def relation(self, dn: str) -> Obj | None:
        """(class, attributes) of a kept relation, found among its siblings."""
        if self._count == 0:
            return None
        if "\\" in dn:
            if class_of(dn) != RELATION:
                return None
        elif not dn.startswith(RELATION + "=", dn.rfind(",") + 1):
            return None
        for d, target, tci in self._relations.get(parent_of(dn) or "", ()):
            if d == dn:
                return RELATION, _relation_attrs(target, tci)
        return None

    def finder(self) -> Callable[[str], Obj | None]:
        """``get`` of the kept objects but relations, without the fallback (a bound dict lookup, for hot loops)."""
        return self._objects.get

    def get(self, dn: str) -> Obj | None:
        """(class, attributes) of an object, or None (as for a malformed DN, which names none)."""
        found = self._objects.get(dn)
        if found is not None:
            return found
        try:
            found = self.relation(dn)
            if found is None and self.fallback is not None and class_of(dn) not in NETWORK_CLASSES:
                return self.fallback.get(dn)
        except MalformedDN:
            return None
        return found

    def children(self, dn: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(DN, class, attributes) of the kept objects right below ``dn`` (relations last)."""
        objects = self._objects
        out = [(d, *objects[d]) for d in self._children.get(dn, ())]
        out += [(d, RELATION, _relation_attrs(t, tci)) for d, t, tci in self._relations.get(dn, ())]
        return iter(out)

    def relations_of(self, dn: str) -> list[Rel]:
        """(DN, adjacentNRCellRef, nRTCI) of the relations right below ``dn``."""
        return self._relations.get(dn, [])

    def relation_groups(self) -> Iterable[tuple[str, list[Rel]]]:
        """(parent DN, its relations) of every parent with kept relations ("" for relations without one)."""
        return self._relations.items()

    def relations(self) -> Iterator[Rel]:
        """(DN, adjacentNRCellRef, nRTCI) of every kept relation, in the order they were added."""
        return chain.from_iterable(self._relations.values())

    def of_class(self, cls: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(DN, attributes) of every kept object of a class."""
        if cls == RELATION:
            for d, target, tci in self.relations():
                yield d, _relation_attrs(target, tci)
            return
        for d in self._by_class.get(cls, ()):
            yield d, self._objects[d][1]

    def _pointers(self) -> dict[str, list[str]]:
        if self._pointing is None:
            pointing: dict[str, list[str]] = defaultdict(list)
            for siblings in self._relations.values():
                for d, target, _ in siblings:
                    if type(target) is str:
                        pointing[target].append(d)
            self._pointing = pointing
        return self._pointing

    def referrers(self, dn: str) -> list[str]:
        """DNs of the NRCellRelations whose adjacentNRCellRef is ``dn``."""
        return sorted(self._pointers().get(dn, ()))

    def functions_with_gnb_id(self, ids: Collection[int]) -> list[tuple[str, str, dict[str, Any]]]:
        """(DN, class, attributes) of the gNB functions whose gNBId is one of ``ids``."""
        found = sorted(d for i in ids for d in self._gnb.get(i, ()))
        return [(d, *self._objects[d]) for d in found]

    def gnb_functions(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(DN, class, attributes) of every kept gNB function with an integer gNBId."""
        for functions in self._gnb.values():
            for d in functions:
                yield (d, *self._objects[d])


_NO_CELLS: Final[list[str]] = []
"""``with_nci`` of an NCI no cell has (shared: not to be changed)."""
_NONE: Final[set[str]] = set()
"""The sources of a cell nothing lists (shared: not to be changed)."""

Rel = tuple[str, Any, Any]
"""(DN, adjacentNRCellRef, nRTCI) of a kept NRCellRelation (either value None when absent)."""


def _relation_attrs(target: Any, tci: Any) -> dict[str, Any]:
    """The attributes a MemoryView keeps of a relation."""
    out: dict[str, Any] = {}
    if target is not None:
        out[ADJACENT] = target
    if tci is not None:
        out["nRTCI"] = tci
    return out


# -- cells -------------------------------------------------------------------------------------


class Radio(NamedTuple):
    """(PCI, SSB ARFCN) of a cell; either may be unknown."""

    pci: int | None
    ssb: int | None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


class Net:
    """The cell questions rules ask, answered from one view and memoised.

    A *cell* here is an NRCellDU (it holds the PCI, the SSB frequency and the administrative
    state); its NRCellCU (it holds the relations) is the CU cell with the same NCI. A relation's
    target is mapped to a cell: an NRCellCU to its NRCellDU, an ExternalNRCellCU to the real
    NRCellDU with its NCI where the twin holds it, else to the external cell itself.
    """

    def __init__(self, view: NetView) -> None:
        self.view = view
        self._memory = view if isinstance(view, MemoryView) else None
        self._sources: dict[str, set[str]] | None = None
        self._nci_index: dict[tuple[int, str], list[str]] | None = None
        self._cells_of: dict[str, dict[int, list[str]]] = {}
        self._nci: dict[str, int | None] = {}
        self._by_nci: dict[tuple[int, str], list[str]] = {}
        self._cell: dict[str, str] = {}
        self._targets: dict[str, list[tuple[str, str]]] = {}
        self._twins: dict[tuple[str, str], str | None] = {}
        self._radio: dict[str, Radio] = {}
        self._cu_du: dict[str, str | None] = {}
        self._functions_of: dict[tuple[str, str], list[str]] = {}

    def attrs(self, dn: str) -> dict[str, Any]:
        """An object's attributes ({} when it does not exist)."""
        found = self.view.get(dn)
        return found[1] if found is not None else {}

    def exists(self, dn: str) -> bool:
        """Whether the object exists."""
        return self.view.get(dn) is not None

    def gnb(self, function: str) -> tuple[int, int] | None:
        """(gNBId, gNBIdLength) of a gNB function, when both are integers."""
        a = self.attrs(function)
        gnb_id, length = _int(a.get("gNBId")), _int(a.get("gNBIdLength"))
        return (gnb_id, length) if gnb_id is not None and length is not None else None

    def nci(self, cell: str) -> int | None:
        """The NCI of an NRCellDU, NRCellCU or ExternalNRCellCU: gNBId, then cellLocalId."""
        if cell in self._nci:
            return self._nci[cell]
        function = parent_of(cell)
        ids = self.gnb(function) if function else None
        local = _int(self.attrs(cell).get("cellLocalId"))
        value = None
        if ids is not None and local is not None:
            gnb_id, length = ids
            value = (gnb_id << (NCI_BITS - length)) | local
        self._nci[cell] = value
        return value

    def plmns(self, cell: str) -> frozenset[str]:
        """The PLMNs (mcc-mnc) a cell serves: of its own lists, else of its function ("" if none)."""
        a = self.attrs(cell)
        entries = a.get("pLMNInfoList") or a.get("pLMNIdList")
        if not entries:
            function = parent_of(cell)
            fa = self.attrs(function) if function else {}
            entries = fa.get("pLMNId") or fa.get("pLMNIdList") or fa.get("pLMNInfoList") or []
        if isinstance(entries, dict):
            entries = [entries]
        out = {f"{e.get('mcc')}-{e.get('mnc')}" for e in entries if isinstance(e, dict)}
        return frozenset(out or {""})

    def cells_of(self, function: str) -> dict[int, list[str]]:
        """cellLocalId -> cells below a gNB function."""
        found = self._cells_of.get(function)
        if found is None:
            found = defaultdict(list)
            for d, c, a in self.view.children(function):
                local = _int(a.get("cellLocalId"))
                if c in CELL_FUNCTION and local is not None:
                    found[local].append(d)
            self._cells_of[function] = found
        return found

    def with_nci(self, nci: int, cls: str) -> list[str]:
        """The cells of class ``cls`` whose NCI is ``nci`` (through the gNB id lookup)."""
        key = (nci, cls)
        if self._memory is not None:
            if self._nci_index is None:
                self._nci_index = self._all_ncis(self._memory)
            return self._nci_index.get(key, _NO_CELLS)
        found = self._by_nci.get(key)
        if found is None:
            want = CELL_FUNCTION[cls]
            ids: dict[int, set[int]] = defaultdict(set)
            for n in GNB_ID_LENGTHS:
                ids[nci >> (NCI_BITS - n)].add(n)
            cells: set[str] = set()
            for d, c, a in self.view.functions_with_gnb_id(set(ids)):
                length = _int(a.get("gNBIdLength"))
                gnb_id = _int(a.get("gNBId"))
                if c != want or length is None or gnb_id is None or length not in ids.get(gnb_id, ()):
                    continue
                local = nci & ((1 << (NCI_BITS - length)) - 1)
                cells.update(x for x in self.cells_of(d).get(local, ()) if class_of(x) == cls)
            found = sorted(cells)
            self._by_nci[key] = found
        return found

    def _all_ncis(self, memory: MemoryView) -> dict[tuple[int, str], list[str]]:
        """``with_nci`` for every NCI of an audit's memory, from one pass over its gNB functions.

        A cell is found under the one NCI ``with_nci`` would find it by: its function's gNBId
        (an integer) shifted by the bits its gNBIdLength (22 to 32) leaves, and its cellLocalId,
        which must fit in those bits; its function of the class its class needs.
        """
        out: dict[tuple[int, str], set[str]] = defaultdict(set)
        for function, cls, attrs in memory.gnb_functions():
            gnb_id, length = _int(attrs.get("gNBId")), _int(attrs.get("gNBIdLength"))
            if gnb_id is None or length is None or length not in GNB_ID_LENGTHS:
                continue
            bits = NCI_BITS - length
            for local, cells in self.cells_of(function).items():
                if not 0 <= local < 1 << bits:
                    continue
                nci = (gnb_id << bits) | local
                for cell in cells:
                    cell_cls = class_of(cell)
                    if CELL_FUNCTION.get(cell_cls) == cls:
                        out[(nci, cell_cls)].add(cell)
        return {key: sorted(cells) for key, cells in out.items()}

    def twin(self, cell: str, cls: str) -> str | None:
        """The cell of class ``cls`` with the same NCI (the NRCellCU of an NRCellDU...), same gNB first."""
        key = (cell, cls)
        if key not in self._twins:
            self._twins[key] = self._twin(cell, cls)
        return self._twins[key]

    def _twin(self, cell: str, cls: str) -> str | None:
        nci = self.nci(cell)
        if nci is None:
            return None
        # Fast path: the sibling function of the same ManagedElement holds it.
        function = parent_of(cell)
        element = parent_of(function) if function else None
        local = _int(self.attrs(cell).get("cellLocalId"))
        if element is not None and local is not None:
            for d in self._functions(element, CELL_FUNCTION[cls]):
                for x in self.cells_of(d).get(local, ()):
                    if class_of(x) == cls and self.nci(x) == nci:
                        return x
        found = self.with_nci(nci, cls)
        return found[0] if found else None

    def _functions(self, element: str, cls: str) -> list[str]:
        """The children of class ``cls`` of a ManagedElement, remembered."""
        key = (element, cls)
        found = self._functions_of.get(key)
        if found is None:
            found = self._functions_of[key] = [d for d, c, _ in self.view.children(element) if c == cls]
        return found

    def du(self, cell: str) -> str | None:
        """The NRCellDU of a cell given by any of its objects."""
        cls = class_of(cell)
        if cls == "NRCellDU":
            return cell
        if cls == "NRCellCU":
            return self.twin(cell, "NRCellDU")
        if cls == "ExternalNRCellCU":
            return self.real(cell)
        return None

    def cu(self, du: str) -> str | None:
        """The NRCellCU of an NRCellDU."""
        return self.twin(du, "NRCellCU")

    def real(self, external: str) -> str | None:
        """The NRCellDU an ExternalNRCellCU stands for, where the twin holds it (same NCI and PLMN)."""
        nci = self.nci(external)
        if nci is None:
            return None
        plmns = self.plmns(external)
        for d in self.with_nci(nci, "NRCellDU"):
            if self.plmns(d) & plmns or "" in plmns:
                return d
        return None

    def externals(self, du: str) -> list[str]:
        """The ExternalNRCellCUs standing for an NRCellDU."""
        nci = self.nci(du)
        return self.with_nci(nci, "ExternalNRCellCU") if nci is not None else []

    def cell(self, target: str) -> str:
        """The cell a relation's target stands for (see the class docstring)."""
        found = self._cell.get(target)
        if found is None:
            found = self.du(target) or target
            self._cell[target] = found
        return found

    def radio(self, cell: str) -> Radio:
        """(PCI, SSB ARFCN) of an NRCellDU or ExternalNRCellCU."""
        found = self._radio.get(cell)
        if found is None:
            found = self._radio[cell] = self._radio_of(cell)
        return found

    def _radio_of(self, cell: str) -> Radio:
        a = self.attrs(cell)
        ssb = _int(a.get("ssbFrequency"))
        if ssb is None:
            ref = a.get("nRFrequencyRef")
            ref = ref[0] if isinstance(ref, list) and ref else ref
            if isinstance(ref, str):
                ssb = _int(self.attrs(ref).get("absoluteFrequencySSB"))
        return Radio(_int(a.get("nRPCI")), ssb)

    def targets(self, du: str) -> list[tuple[str, str]]:
        """(relation DN, target cell) of the relations of a cell's NRCellCU."""
        found = self._targets.get(du)
        if found is None:
            found = []
            cu = self.cu(du) if class_of(du) == "NRCellDU" else None
            known = self._cell
            if cu is None:
                relations: Iterable[tuple[str, Any, Any]] = ()
            elif self._memory is not None:
                relations = self._memory.relations_of(cu)
            else:
                relations = [(d, a.get(ADJACENT), None) for d, c, a in self.view.children(cu) if c == RELATION]
            append = found.append
            for d, target, _ in relations:
                cell = known.get(target) if type(target) is str else None  # a target mapped before exists
                if cell is not None:
                    append((d, cell))
                elif isinstance(target, str) and self.exists(target):
                    append((d, self.cell(target)))
            self._targets[du] = found
        return found

    def incoming(self, du: str) -> list[str]:
        """The NRCellRelations that point at a cell (its NRCellCU or an external standing for it)."""
        cu = self.cu(du)
        stand_ins = [cu] if cu else []
        stand_ins += self.externals(du)
        return sorted({r for s in stand_ins for r in self.view.referrers(s)})

    def sources(self, du: str) -> list[str]:
        """The cells that list ``du`` as neighbour."""
        return sorted(self.source_set(du))

    def source_set(self, du: str) -> set[str]:
        """``sources`` as a set (for rules that need no order; not to be changed)."""
        if self._memory is not None:
            if self._sources is None:
                self._sources = self._all_sources(self._memory)
            return self._sources.get(du, _NONE)
        out = set()
        cu = self.cu(du)
        stand_ins = [cu] if cu else []
        stand_ins += self.externals(du)
        # What ``incoming`` lists, without sorting it: the answer is a set, sorted at the end.
        for stand_in in stand_ins:
            for relation in self.view.referrers(stand_in):
                source = self._du_of(parent_of(relation))
                if source is not None and source != du:
                    out.add(source)
        return out

    def _du_of(self, cu: str | None) -> str | None:
        """``du`` of a relation's parent (an NRCellCU), remembered; None for a root relation."""
        if not cu:
            return None
        cells = self._cu_du
        if cu in cells:
            return cells[cu]
        found = cells[cu] = self.du(cu)
        return found

    def _all_sources(self, memory: MemoryView) -> dict[str, set[str]]:
        """``source_set`` of every NRCellDU of an audit's memory, in one pass over the relations.

        The same answers as cell by cell: a relation under ``p`` pointing at ``t`` makes the cell
        of ``p`` a source of every cell ``t`` stands in for (its NRCellCU, an external for it).
        """
        owners: dict[str, list[str]] = defaultdict(list)
        for du, _ in memory.of_class("NRCellDU"):
            cu = self.cu(du)
            for stand_in in [cu] if cu else []:
                owners[stand_in].append(du)
            for stand_in in self.externals(du):
                owners[stand_in].append(du)
        # Nearly every stand-in stands for one cell: those are looked up a group at a time.
        one = {stand_in: dus[0] for stand_in, dus in owners.items() if len(dus) == 1}
        many = {stand_in: dus for stand_in, dus in owners.items() if len(dus) > 1}
        out: dict[str, set[str]] = defaultdict(set)
        target_of = itemgetter(1)
        for parent, relations in memory.relation_groups():
            source = self._du_of(parent)
            if source is None:
                continue
            dus: list[str | None]
            try:
                dus = list(map(one.get, map(target_of, relations)))
            except TypeError:  # a target of no DN type, unhashable
                dus = [one.get(t) if type(t) is str else None for _, t, _ in relations]
            for cell in dus:
                if cell is not None and cell != source:
                    out[cell].add(source)
            if many:
                for _, target, _ in relations:
                    if type(target) is str:
                        for other in many.get(target, ()):
                            if other != source:
                                out[other].add(source)
        return out

    def neighbours(self, du: str) -> list[str]:
        """The cells ``du`` lists and those that list it."""
        out = {t for _, t in self.targets(du)}
        out.update(self.source_set(du))
        out.discard(du)
        return sorted(out)

    def co_sited(self, du: str) -> list[str]:
        """The other NRCellDUs of the same GNBDUFunction."""
        function = parent_of(du)
        if function is None:
            return []
        return [d for d, c, _ in self.view.children(function) if c == "NRCellDU" and d != du]


def _key(dn: str) -> str:
    # The store key of a DN without escapes is the DN with its commas replaced.
    return dn.replace(",", SEP) if "\\" not in dn else to_key(dn)


def sort_dns(dns: Iterable[str]) -> list[str]:
    """DNs in store key order (parents before children)."""
    return sorted(dns, key=_key)


def in_scope(dns: Sequence[str] | frozenset[str], classes: Collection[str]) -> list[str]:
    """The DNs of ``dns`` whose class is one of ``classes``, in key order."""
    return sort_dns(d for d in dns if class_of(d) in classes)


def depth(dn: str) -> int:
    """Number of RDNs of a DN."""
    return key_depth(to_key(dn))


def net_of(view: View, context: Any) -> Net:
    """The run's shared ``Net`` of ``view`` (``context["net"]``), or a new one."""
    found = context.get("net") if context is not None else None
    return found if isinstance(found, Net) and found.view is view else Net(cast(NetView, view))


def scoped(view: View, dns: frozenset[str] | None, classes: Collection[str]) -> list[str]:
    """The objects of ``classes`` to look at: those of ``dns``, or every one (``dns`` None).

    In key order, but for every object of a ``MemoryView``: in the order it was filled (key order
    when an audit's scan filled it), which saves sorting a million relations; the rules'
    findings do not depend on the order.
    """
    if dns is None:
        if isinstance(view, MemoryView):
            return [d for cls in classes for d, _ in view.of_class(cls)]
        return sort_dns(d for cls in classes for d, _ in view.of_class(cls))
    return in_scope(dns, classes)


def scoped_items(view: View, dns: frozenset[str] | None, classes: Collection[str]) -> Iterator[Obj]:
    """(DN, attributes) of the objects ``scoped`` names (that exist)."""
    if dns is None and isinstance(view, MemoryView):
        for cls in classes:
            yield from view.of_class(cls)
        return
    for dn in scoped(view, dns, classes):
        found = view.get(dn)
        if found is not None:
            yield dn, found[1]


def scoped_relations(view: View, dns: frozenset[str] | None) -> Iterator[Rel]:
    """(DN, adjacentNRCellRef, nRTCI) of the NRCellRelations ``scoped`` names (that exist)."""
    if dns is None and isinstance(view, MemoryView):
        return view.relations()
    return ((dn, attrs.get(ADJACENT), attrs.get("nRTCI")) for dn, attrs in scoped_items(view, dns, (RELATION,)))

"""The suite's own test subtree: which objects it creates, with values from the registry's facts.

Under a fresh root ``SubNetwork=mns-conformance-<short uuid>`` (canonical stage-2 names)::

    SubNetwork
      ManagedElement=1
        GNBDUFunction=1  > NRSectorCarrier=1, BWP=1, NRCellDU=1..3
        GNBCUCPFunction=1 > NRCellCU=1 > NRCellRelation=1 (adjacentNRCellRef -> NRCellCU=2)
                            NRCellCU=2

Every attribute value is a realistic hint (the kind of values the generated network holds)
passed through :func:`fit`, which keeps it only when the registry's facts allow it in BOTH
dialects (the YANG type and range, and the Rel-18 OpenAPI one), derives a valid value from those
facts when the hint is out of bounds, and leaves the attribute out, noting why, when no value is
valid in both (a contradiction between the 3GPP files). Mandatory writable attributes with a
plain type (integer, enumeration, boolean) that the hints do not cover are filled from the facts.
Read-only attributes are never sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mns.errors import MnsError
from mns.nrm.dn import DN
from mns.nrm.registry import AttrSpec, Range, Registry

GNB_ID: Final = 4_000_001
GNB_ID_LENGTH: Final = 24
PLMN: Final = {"mcc": "001", "mnc": "01", "sd": "000001", "sst": 1}
CELL_IDS: Final = ("1", "2", "3")
FIRST_PCI: Final = 101

SchemaCheck = Callable[[str, dict[str, Any]], list[str]]
"""Given a class and canonical attributes, the canonical names of the attributes that break
the official schema (used to drop values the registry does not know to be invalid)."""


@dataclass(frozen=True, slots=True)
class TestMoi:
    """One object of the test subtree: canonical DN and canonical attributes."""

    dn: DN
    attrs: dict[str, Any]

    @property
    def cls(self) -> str:
        """Stage-2 class."""
        return self.dn.cls


@dataclass
class Subtree:
    """The planned test objects, parents first, and the notes on what was left out."""

    root: TestMoi
    me: TestMoi
    du: TestMoi
    sector: TestMoi
    bwp: TestMoi
    cells: tuple[TestMoi, ...]
    cucp: TestMoi
    cell_cus: tuple[TestMoi, ...]
    relation: TestMoi
    registry: Registry
    check: SchemaCheck | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def objects(self) -> list[TestMoi]:
        """Every planned object in creation order (parents before children)."""
        return [
            self.root,
            self.me,
            self.du,
            self.sector,
            self.bwp,
            *self.cells,
            self.cucp,
            *self.cell_cus,
            self.relation,
        ]

    def cell(self, cell_id: str, pci: int) -> TestMoi:
        """One more NRCellDU under the DU (for the patches that create children)."""
        return _cell(self, cell_id, int(cell_id), pci)

    def level(self, dn: DN) -> int:
        """Depth of an object below the root (0 for the root)."""
        return dn.depth - self.root.dn.depth


def fresh_root_id() -> str:
    """A root id no one else uses: ``mns-conformance-<8 hex digits>``."""
    return f"mns-conformance-{uuid.uuid4().hex[:8]}"


# -- fitting values to the registry's facts ----------------------------------------------------


def _ranges(spec: AttrSpec) -> tuple[Range, ...]:
    """The numeric ranges valid in both dialects (OpenAPI ranges only when no conversion)."""
    own = spec.ranges or ((None, None),)
    oa = tuple((lo, hi) for lo, hi in spec.openapi.get("range") or ()) if spec.conv is None else ()
    if not oa:
        return own
    out: list[Range] = []
    for lo1, hi1 in own:
        for lo2, hi2 in oa:
            lo = lo1 if lo2 is None else lo2 if lo1 is None else max(lo1, lo2)
            hi = hi1 if hi2 is None else hi2 if hi1 is None else min(hi1, hi2)
            if lo is None or hi is None or lo <= hi:
                out.append((lo, hi))
    return tuple(out)


def _enum_values(spec: AttrSpec) -> tuple[Any, ...]:
    oa = spec.openapi.get("values")
    if oa is None or spec.conv is not None:
        return spec.values
    return tuple(v for v in spec.values if v in oa)


def _element_ok(spec: AttrSpec, value: Any) -> bool:
    kind = spec.kind
    if kind in ("integer", "number"):
        if type(value) is bool or not isinstance(value, int | float):
            return False
        if kind == "integer" and not isinstance(value, int):
            return False
        return any((lo is None or lo <= value) and (hi is None or value <= hi) for lo, hi in _ranges(spec))
    if kind == "enum":
        return value in _enum_values(spec)
    if kind == "boolean":
        return type(value) is bool
    if kind == "string":
        if not isinstance(value, str):
            return False
        return not spec.lengths or any(
            (lo is None or lo <= len(value)) and (hi is None or len(value) <= hi) for lo, hi in spec.lengths
        )
    if kind == "dn":
        try:
            DN.parse(value)
        except MnsError:
            return False
        return True
    if kind == "struct":
        return isinstance(value, dict) and all(k in spec.fields and _valid(spec.fields[k], v) for k, v in value.items())
    return True


def _valid(spec: AttrSpec, value: Any) -> bool:
    if spec.multi:
        return isinstance(value, list) and all(_element_ok(spec, v) for v in value)
    return _element_ok(spec, value)


def _derive(spec: AttrSpec) -> tuple[bool, Any]:
    """A value valid in both dialects from the facts alone: (found, value)."""
    value: Any
    if spec.kind == "integer":
        ranges = _ranges(spec)
        if not ranges:
            return False, None
        lo, hi = ranges[0]
        value = int(lo) if lo is not None else int(hi) if hi is not None else 0
    elif spec.kind == "enum":
        values = _enum_values(spec)
        if not values:
            return False, None
        value = values[0]
    elif spec.kind == "boolean":
        value = True
    else:
        return False, None
    return True, [value] if spec.multi else value


def _facts(spec: AttrSpec) -> str:
    if spec.kind == "enum":
        return f"YANG {list(spec.values)} vs OpenAPI {spec.openapi.get('values')}"
    return f"YANG {list(spec.ranges)} vs OpenAPI {spec.openapi.get('range')}"


def fit(registry: Registry, cls: str, hints: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    """Attributes for a ``cls`` object: the hints the facts allow, plus mandatory plain ones."""
    spec = registry.get(cls)
    if spec is None:
        notes.append(f"{cls}: not in the class registry; its attributes are sent as given")
        return dict(hints)
    out: dict[str, Any] = {}
    for name, hint in hints.items():
        a = spec.attributes.get(name)
        if a is None:
            notes.append(f"{cls}.{name}: not in the registry, left out")
        elif a.readonly:
            notes.append(f"{cls}.{name}: read-only, left out")
        elif a.source != "both":
            notes.append(f"{cls}.{name}: only in the {a.source} files, left out")
        elif _valid(a, hint):
            out[name] = hint
        else:
            found, value = _derive(a)
            if found:
                out[name] = value
            else:
                notes.append(f"{cls}.{name}: no value is valid in both dialects ({_facts(a)}), left out")
    for name, a in spec.attributes.items():
        if name in out or name in hints or name == "id":
            continue
        if not a.mandatory or a.readonly or a.source != "both" or a.kind not in ("integer", "enum", "boolean"):
            continue
        found, value = _derive(a)
        if found:
            out[name] = value
    return out


# -- the plan ------------------------------------------------------------------------------------


def _moi(
    subtree_notes: list[str], registry: Registry, check: SchemaCheck | None, dn: DN, hints: Mapping[str, Any]
) -> TestMoi:
    attrs = fit(registry, dn.cls, hints, subtree_notes)
    if check is not None:
        for name in check(dn.cls, attrs):
            if name in attrs:
                subtree_notes.append(f"{dn.cls}.{name}: {attrs[name]!r} breaks the official schema, left out")
                del attrs[name]
    return TestMoi(dn, attrs)


def _cell(subtree: Subtree, cell_id: str, local_id: int, pci: int) -> TestMoi:
    hints = {
        "userLabel": f"conformance cell {cell_id}",
        "cellLocalId": local_id,
        "administrativeState": "UNLOCKED",
        "pLMNInfoList": [dict(PLMN)],
        "nRPCI": pci,
        "nRTAC": 1000,
        "arfcnDL": 636666,
        "arfcnUL": 636666,
        "bSChannelBwDL": 100,
        "bSChannelBwUL": 100,
        "ssbFrequency": 633984,
        "ssbPeriodicity": 20,
        "ssbSubCarrierSpacing": 30,
        "ssbOffset": 0,
        "ssbDuration": 1,
        "nRSectorCarrierRef": [str(subtree.sector.dn)],
        "bWPRef": [str(subtree.bwp.dn)],
        "priorityLabel": 1,
    }
    notes: list[str] = []
    moi = _moi(notes, subtree.registry, subtree.check, subtree.du.dn.child("NRCellDU", cell_id), hints)
    for note in notes:
        if note not in subtree.notes:
            subtree.notes.append(note)
    return moi


def plan_subtree(root_id: str, registry: Registry, check: SchemaCheck | None = None) -> Subtree:
    """The test subtree under ``SubNetwork=<root_id>``."""
    notes: list[str] = []

    def make(dn: DN, hints: Mapping[str, Any]) -> TestMoi:
        return _moi(notes, registry, check, dn, hints)

    root = make(
        DN.of(("SubNetwork", root_id)),
        {
            "userLabel": "mns conformance suite (deleted at the end of the run)",
            "userDefinedNetworkType": "NR",
            "setOfMcc": ["001"],
            "priorityLabel": 1,
        },
    )
    me = make(root.dn.child("ManagedElement", "1"), {"userLabel": "conformance gNB", "priorityLabel": 1})
    du = make(
        me.dn.child("GNBDUFunction", "1"),
        {
            "userLabel": "conformance DU",
            "gNBId": GNB_ID,
            "gNBIdLength": GNB_ID_LENGTH,
            "gNBDUId": 1,
            "gNBDUName": "conformance-DU",
            "priorityLabel": 1,
        },
    )
    sector = make(
        du.dn.child("NRSectorCarrier", "1"),
        {
            "userLabel": "conformance carrier",
            "txDirection": "DL_AND_UL",
            "configuredMaxTxPower": 200000,
            "arfcnDL": 636666,
            "arfcnUL": 636666,
            "bSChannelBwDL": 100,
            "bSChannelBwUL": 100,
            "priorityLabel": 1,
        },
    )
    bwp = make(
        du.dn.child("BWP", "1"),
        {
            "userLabel": "conformance initial DL BWP",
            "bwpContext": "DL",
            "isInitialBwp": "INITIAL",
            "subCarrierSpacing": 30,
            "cyclicPrefix": "NORMAL",
            "startRB": 0,
            "numberOfRBs": 273,
            "priorityLabel": 1,
        },
    )
    cucp = make(
        me.dn.child("GNBCUCPFunction", "1"),
        {
            "userLabel": "conformance CU-CP",
            "gNBId": GNB_ID,
            "gNBIdLength": GNB_ID_LENGTH,
            "gNBCUName": "conformance-CU",
            "pLMNId": [{"mcc": PLMN["mcc"], "mnc": PLMN["mnc"]}],
            "priorityLabel": 1,
        },
    )
    cell_cus = tuple(
        make(
            cucp.dn.child("NRCellCU", cid),
            {
                "userLabel": f"conformance cell {cid}",
                "cellLocalId": int(cid),
                "pLMNInfoList": [dict(PLMN)],
                "priorityLabel": 1,
            },
        )
        for cid in CELL_IDS[:2]
    )
    nci = (GNB_ID << (36 - GNB_ID_LENGTH)) | 2
    relation = make(
        cell_cus[0].dn.child("NRCellRelation", "1"),
        {
            "adjacentNRCellRef": str(cell_cus[1].dn),
            "nRTCI": (nci << 10) | (FIRST_PCI + 1),
            "isHOAllowed": True,
            "isRemoveAllowed": True,
        },
    )
    subtree = Subtree(root, me, du, sector, bwp, (), cucp, cell_cus, relation, registry, check, notes)
    subtree.cells = tuple(_cell(subtree, cid, int(cid), FIRST_PCI + i) for i, cid in enumerate(CELL_IDS))
    return subtree

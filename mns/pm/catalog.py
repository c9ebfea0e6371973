"""The measurement types the twin knows (TS 28.552), by the class they are measured on.

A measurement type is known when it, or the type it is a sub-counter of (``DRB.UEThpDl.1``
of ``DRB.UEThpDl``, ``RRU.PrbUsedDl.226F04`` per S-NSSAI), is listed here; a family name
(``RRU``, ``DRB``) stands for every type of the family; vendor-specific types (``VS.*``,
TS 32.404) are accepted on any class. The lists are the types the twin's verification and the
PM files of real gNBs use, not all of TS 28.552.
"""

from __future__ import annotations

from typing import Final

MEASUREMENTS: Final[dict[str, frozenset[str]]] = {
    "NRCellDU": frozenset(
        {
            "RRU.PrbTotDl",
            "RRU.PrbTotUl",
            "RRU.PrbUsedDl",
            "RRU.PrbUsedUl",
            "RRU.PrbAvailDl",
            "RRU.PrbAvailUl",
            "RRU.MaxPrbUsedDl",
            "RRU.MaxPrbUsedUl",
            "DRB.UEThpDl",
            "DRB.UEThpUl",
            "DRB.AirIfDelayDl",
            "DRB.AirIfDelayUl",
            "DRB.MeanActiveUeDl",
            "DRB.MeanActiveUeUl",
            "DRB.MaxActiveUeDl",
            "DRB.MaxActiveUeUl",
            "DRB.RlcSduDelayDl",
            "DRB.RlcDelayUl",
        }
    ),
    "NRCellCU": frozenset(
        {
            "RRC.ConnMean",
            "RRC.ConnMax",
            "RRC.ReEstabAtt",
            "RRC.ReEstabSuccWithUeContext",
            "RRC.ReEstabSuccWithoutUeContext",
            "DRB.EstabAtt",
            "DRB.EstabSucc",
            "DRB.RelActNbr",
            "DRB.SessionTime",
            "DRB.PdcpSduVolumeDL",
            "DRB.PdcpSduVolumeUL",
            "MM.HoPrepInterReq",
            "MM.HoPrepInterSucc",
            "MM.HoResAlloInterReq",
            "MM.HoResAlloInterSucc",
            "MM.HoExeInterReq",
            "MM.HoExeInterSucc",
            "MM.HoExeIntraReq",
            "MM.HoExeIntraSucc",
            "SM.PDUSessionSetupReq",
            "SM.PDUSessionSetupSucc",
        }
    ),
    "NRCellRelation": frozenset(
        {
            "MM.HoPrepInterReq",
            "MM.HoPrepInterSucc",
            "MM.HoResAlloInterReq",
            "MM.HoResAlloInterSucc",
            "MM.HoExeInterReq",
            "MM.HoExeInterSucc",
            "MM.HoExeIntraReq",
            "MM.HoExeIntraSucc",
        }
    ),
    "GNBCUUPFunction": frozenset(
        {"QosFlow.PdcpPduVolumeDL", "QosFlow.PdcpPduVolumeUL", "QosFlow.PdcpSduVolumeDL", "QosFlow.PdcpSduVolumeUL"}
    ),
    "ManagedElement": frozenset({"PEE.AvgPower", "PEE.MinPower", "PEE.MaxPower", "PEE.Energy"}),
}
VENDOR_PREFIX: Final = "VS."
ALL_TYPES: Final = frozenset(t for types in MEASUREMENTS.values() for t in types)
FAMILIES: Final = frozenset(t.split(".", 1)[0] for t in ALL_TYPES)


def base_type(name: str) -> str | None:
    """The catalogued type ``name`` is or is a sub-counter of; None when unknown."""
    parts = name.split(".")
    for end in range(len(parts), 1, -1):
        candidate = ".".join(parts[:end])
        if candidate in ALL_TYPES:
            return candidate
    return None


def is_known(name: str) -> bool:
    """Whether ``name`` is a known type, sub-counter, family or vendor-specific type."""
    return name in FAMILIES or name.startswith(VENDOR_PREFIX) or base_type(name) is not None


def measured_on(name: str, cls: str) -> bool:
    """Whether ``name`` (type, sub-counter, family or vendor type) is measured on class ``cls``."""
    if name.startswith(VENDOR_PREFIX):
        return True
    types = MEASUREMENTS.get(cls, frozenset())
    if name in FAMILIES:
        return any(t.split(".", 1)[0] == name for t in types)
    return base_type(name) in types

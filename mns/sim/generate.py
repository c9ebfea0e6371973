"""A deterministic generated 5G RAN (TS 28.541 NR NRM) for the demo, the emulator and benchmarks.

The network, in stage-2 names and YANG value forms::

    SubNetwork=RAN                                    root (any SubNetwork DN; ancestors too)
      NRFrequency=n78-633984, NRFrequency=n28-152410  the carriers (ExternalsUnderSubNetwork)
      SubNetwork=North                                one region per ~500 gNBs
        ExternalGNBCUCPFunction=gNB-00612             a gNB of another region that a cell here
          ExternalNRCellCU=1                            has as neighbour (its real PCI, PLMN...)
        ManagedElement=gNB-00001                      one per site
          GNBDUFunction=1    > NRSectorCarrier=1, BWP=1-DL, BWP=1-UL, NRCellDU=1  (per cell)
          GNBCUUPFunction=1
          GNBCUCPFunction=1  > NRCellCU=1 > NRFreqRelation (per carrier), NRCellRelation

Where sites, cells and neighbours go, and their PCIs, is :mod:`mns.sim.layout`'s job; this module
turns that plan into objects. All randomness is integer hashing of ``seed``, so equal parameters
give equal objects, byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Unpack

from mns.nrm.dn import DN
from mns.sim.layout import (
    CARRIERS,
    DEFAULT_NEIGHBOURS,
    DEFAULT_ROOT,
    Carrier,
    Cell,
    NetworkPlan,
    PlanParams,
    Site,
    build_plan,
    count_by_class,
    nci_of,
    resolve_params,
)
from mns.sim.layout import nearest as _nearest  # noqa: F401 (re-exported: tests import it from here)

__all__ = [
    "CARRIERS",
    "Carrier",
    "Cell",
    "GeneratedMoi",
    "NetworkPlan",
    "PlanParams",
    "Site",
    "count_objects",
    "generate_network",
    "gnbs_for",
    "nci_of",
    "nr_tci",
    "plan_network",
]


@dataclass(frozen=True, slots=True)
class GeneratedMoi:
    """One generated managed object: canonical DN, stage-2 class, attributes in YANG form."""

    dn: str
    cls: str
    attrs: dict[str, Any]


def nr_tci(nci: int, pci: int) -> int:
    """nRTCI of an NRCellRelation: the target's NCI followed by its PCI in 10 bits."""
    return (nci << 10) | pci


def plan_network(
    gnbs: int,
    *,
    seed: int = 1,
    root: str = DEFAULT_ROOT,
    regions: int | None = None,
    neighbours: int = DEFAULT_NEIGHBOURS,
    frequencies: int = 2,
    dual_band_share: float = 0.6,
    gnb_id_length: int = 24,
    isd_m: float = 800.0,
    center: tuple[float, float] = (48.1372, 11.5755),
    plmn: tuple[str, str] = ("001", "01"),
) -> NetworkPlan:
    """Plan a network of ``gnbs`` sites (~1 region per 500, ~4.8 cells and ~215 objects each)."""
    p = PlanParams(
        seed=seed, root=root, regions=regions, neighbours=neighbours, frequencies=frequencies,
        dual_band_share=dual_band_share, gnb_id_length=gnb_id_length, isd_m=isd_m,
        center=center, plmn=plmn,
    )  # fmt: skip
    dn, key = resolve_params(gnbs, p)
    return build_plan(key, str(dn), gnb_id_length, center, plmn)


def _pee(site: Site, role: str) -> list[dict[str, Any]]:
    """The site entry of peeParametersList, where the YANG keeps siteLatitude/siteLongitude."""
    return [{
        "idx": 0, "siteIdentification": f"SITE-{site.name[4:]}", "siteLatitude": site.latitude,
        "siteLongitude": site.longitude, "siteDescription": "macro site, 3 sectors",
        "equipmentType": role, "environmentType": "outdoor", "powerInterface": "AC",
    }]  # fmt: skip


def _emit(plan: NetworkPlan) -> Iterator[GeneratedMoi]:
    """Yield the plan's objects, parents before children, building each object only when asked."""
    mcc, mnc = plan.mcc, plan.mnc
    length = plan.gnb_id_length
    sites, cells, carriers = plan.sites, plan.cells, plan.carriers

    def plmn_info() -> list[dict[str, Any]]:
        return [{"mcc": mcc, "mnc": mnc, "sd": "000001", "sst": 1}]

    def plmn_id() -> list[dict[str, Any]]:
        return [{"mcc": mcc, "mnc": mnc}]

    root = DN.parse(plan.root)
    for depth in range(1, root.depth + 1):
        dn = DN(root.rdns[:depth])
        yield GeneratedMoi(str(dn), "SubNetwork", {
            "userLabel": dn.id, "userDefinedNetworkType": "NR", "setOfMcc": [mcc],
            "priorityLabel": 1,
        })  # fmt: skip
    freq_dn = [plan.frequency_dn(f) for f in range(len(carriers))]
    for f, car in enumerate(carriers):
        yield GeneratedMoi(freq_dn[f], "NRFrequency", {
            "userLabel": f"n{car.band} {car.bandwidth_mhz} MHz", "absoluteFrequencySSB":
            car.ssb_arfcn, "sSBSubCarrierSpacing": car.scs_khz, "priorityLabel": 1,
        })  # fmt: skip
    site_dn = [plan.site_dn(s) for s in range(len(sites))]
    cu_dn = [f"{site_dn[c.site]},GNBCUCPFunction=1,NRCellCU={c.local_id}" for c in cells]
    tci = [nr_tci(c.nci, c.pci) for c in cells]
    rel_id = [f"{sites[c.site].name}-{c.local_id}" for c in cells]
    for region, name in enumerate(plan.region_names):
        region_dn = plan.region_dn(region)
        yield GeneratedMoi(region_dn, "SubNetwork", {
            "userLabel": name, "userDefinedNetworkType": "NR", "setOfMcc": [mcc],
            "priorityLabel": 1,
        })  # fmt: skip
        ext_dn: dict[int, str] = {}
        last_site = -1
        for n in plan.externals[region]:
            t = cells[n]
            gnb = sites[t.site]
            fn_dn = f"{region_dn},ExternalGNBCUCPFunction={gnb.name}"
            if t.site != last_site:
                last_site = t.site
                yield GeneratedMoi(fn_dn, "ExternalGNBCUCPFunction", {
                    "userLabel": gnb.name, "gNBId": gnb.gnb_id, "gNBIdLength": length,
                    "pLMNId": plmn_id(), "priorityLabel": 1,
                })  # fmt: skip
            ext_dn[n] = f"{fn_dn},ExternalNRCellCU={t.local_id}"
            yield GeneratedMoi(ext_dn[n], "ExternalNRCellCU", {
                "userLabel": f"{gnb.name} n{carriers[t.carrier].band} S{t.sector + 1}",
                "cellLocalId": t.local_id, "nRPCI": t.pci, "pLMNIdList": plmn_id(),
                "nRFrequencyRef": freq_dn[t.carrier], "priorityLabel": 1,
            })  # fmt: skip
        for site in sites:
            if site.region != region:
                continue
            me = site_dn[site.index]
            yield GeneratedMoi(me, "ManagedElement", {
                "userLabel": site.name, "locationName": f"SITE-{site.name[4:]}",
                "vendorName": "twin-mns", "swVersion": "1.0", "priorityLabel": 1,
                "managedElementTypeList": ["GNBDU", "GNBCUCP", "GNBCUUP"],
            })  # fmt: skip
            du = f"{me},GNBDUFunction=1"
            yield GeneratedMoi(du, "GNBDUFunction", {
                "userLabel": f"{site.name} DU", "gNBId": site.gnb_id, "gNBIdLength": length,
                "gNBDUId": site.gnb_id, "gNBDUName": f"{site.name}-DU", "priorityLabel": 1,
                "resourceType": "PRB", "rRMPolicyMemberList": plmn_info(),
                "peeParametersList": _pee(site, "gNB-DU"),
            })  # fmt: skip
            for c in site.cells:
                cell = cells[c]
                car = carriers[cell.carrier]
                lid = cell.local_id
                label = f"{site.name} n{car.band} S{cell.sector + 1}"
                sc = f"{du},NRSectorCarrier={lid}"
                yield GeneratedMoi(sc, "NRSectorCarrier", {
                    "userLabel": label, "txDirection": "DL_AND_UL",
                    "configuredMaxTxPower": car.max_tx_power_mw,
                    "configuredMaxTxEIRP": car.max_eirp_dbm, "arfcnDL": car.arfcn_dl,
                    "arfcnUL": car.arfcn_ul, "bSChannelBwDL": car.bandwidth_mhz,
                    "bSChannelBwUL": car.bandwidth_mhz, "priorityLabel": 1,
                })  # fmt: skip
                bwps = []
                for ctx in ("DL", "UL"):
                    bwps.append(f"{du},BWP={lid}-{ctx}")
                    yield GeneratedMoi(bwps[-1], "BWP", {
                        "userLabel": f"{label} initial {ctx}", "bwpContext": ctx,
                        "isInitialBwp": "INITIAL", "subCarrierSpacing": car.scs_khz,
                        "cyclicPrefix": "NORMAL", "startRB": 0, "numberOfRBs": car.rbs,
                        "priorityLabel": 1,
                    })  # fmt: skip
                yield GeneratedMoi(f"{du},NRCellDU={lid}", "NRCellDU", {
                    "userLabel": label, "cellLocalId": lid, "administrativeState": "UNLOCKED",
                    "operationalState": "ENABLED", "cellState": "ACTIVE",
                    "pLMNInfoList": plmn_info(), "nRPCI": cell.pci, "nRTAC": site.tac,
                    "arfcnDL": car.arfcn_dl, "arfcnUL": car.arfcn_ul,
                    "bSChannelBwDL": car.bandwidth_mhz, "bSChannelBwUL": car.bandwidth_mhz,
                    "ssbFrequency": car.ssb_arfcn, "ssbPeriodicity": 20,
                    "ssbSubCarrierSpacing": car.scs_khz, "ssbOffset": 0, "ssbDuration": 1,
                    "nRSectorCarrierRef": [sc], "bWPRef": bwps,
                    "nRFrequencyRef": [freq_dn[cell.carrier]], "priorityLabel": 1,
                    "resourceType": "PRB", "rRMPolicyMemberList": plmn_info(),
                })  # fmt: skip
            yield GeneratedMoi(f"{me},GNBCUUPFunction=1", "GNBCUUPFunction", {
                "userLabel": f"{site.name} CU-UP", "gNBCUUPId": 1, "gNBId": site.gnb_id,
                "gNBIdLength": length, "pLMNInfoList": plmn_info(), "priorityLabel": 1,
                "resourceType": "PRB", "rRMPolicyMemberList": plmn_info(),
                "peeParametersList": _pee(site, "gNB-CU-UP"),
            })  # fmt: skip
            yield GeneratedMoi(f"{me},GNBCUCPFunction=1", "GNBCUCPFunction", {
                "userLabel": f"{site.name} CU-CP", "gNBId": site.gnb_id, "gNBIdLength": length,
                "gNBCUName": f"{site.name}-CU", "pLMNId": plmn_id(), "priorityLabel": 1,
                "resourceType": "PRB", "rRMPolicyMemberList": plmn_info(),
                "peeParametersList": _pee(site, "gNB-CU-CP"),
            })  # fmt: skip
            for c in site.cells:
                cell = cells[c]
                cu = cu_dn[c]
                yield GeneratedMoi(cu, "NRCellCU", {
                    "userLabel": f"{site.name} n{carriers[cell.carrier].band} S{cell.sector + 1}",
                    "cellLocalId": cell.local_id, "pLMNInfoList": plmn_info(),
                    "nRFrequencyRef": freq_dn[cell.carrier], "priorityLabel": 1,
                })  # fmt: skip
                freq_rel = [f"{cu},NRFreqRelation={car.id}" for car in carriers]
                for f, car in enumerate(carriers):
                    yield GeneratedMoi(freq_rel[f], "NRFreqRelation", {
                        "nRFrequencyRef": freq_dn[f],
                        "cellReselectionPriority": car.reselection_priority,
                        "qRxLevMin": car.q_rx_lev_min, "pMax": 23,
                        "threshXHighP": 20, "threshXHighQ": 10, "threshXLowP": 12,
                        "threshXLowQ": 6, "tReselectionNR": 1, "tReselectionNRSfHigh": 50,
                        "tReselectionNRSfMedium": 75,
                    })  # fmt: skip
                for n in cell.neighbours:
                    target = cells[n]
                    adjacent = cu_dn[n] if sites[target.site].region == region else ext_dn[n]
                    yield GeneratedMoi(f"{cu},NRCellRelation={rel_id[n]}", "NRCellRelation", {
                        "nRTCI": tci[n], "nRFreqRelationRef": freq_rel[target.carrier],
                        "adjacentNRCellRef": adjacent, "isHOAllowed": True,
                        "isRemoveAllowed": True,
                    })  # fmt: skip


def generate_network(
    gnbs: int,
    *,
    seed: int = 1,
    root: str = DEFAULT_ROOT,
    regions: int | None = None,
    neighbours: int = DEFAULT_NEIGHBOURS,
    frequencies: int = 2,
    dual_band_share: float = 0.6,
    gnb_id_length: int = 24,
    isd_m: float = 800.0,
    center: tuple[float, float] = (48.1372, 11.5755),
    plmn: tuple[str, str] = ("001", "01"),
) -> Iterator[GeneratedMoi]:
    """Stream the objects of the network plan_network describes, parents before children."""
    return _emit(plan_network(
        gnbs, seed=seed, root=root, regions=regions, neighbours=neighbours,
        frequencies=frequencies, dual_band_share=dual_band_share, gnb_id_length=gnb_id_length,
        isd_m=isd_m, center=center, plmn=plmn,
    ))  # fmt: skip


def count_objects(gnbs: int, **params: Unpack[PlanParams]) -> int:
    """Exact number of objects generate_network yields, from the topology alone (no PCIs)."""
    root, key = resolve_params(gnbs, params)
    return sum(count_by_class(key, root.depth).values())


def gnbs_for(objects: int, **params: Unpack[PlanParams]) -> int:
    """Smallest number of gNBs whose network has at least ``objects`` objects."""
    lo, c_lo = 1, count_objects(1, **params)
    if c_lo >= objects:
        return 1
    hi, c_hi = 0, 0  # count(lo) < objects <= count(hi), hi == 0 until one is found
    g = max(2, objects // 215)
    while hi == 0 or hi - lo > 1:
        c = count_objects(g, **params)
        if c >= objects:
            hi, c_hi = g, c
        else:
            lo, c_lo = g, c
        # Counts grow almost linearly in gNBs: interpolate, always moving at least one gNB.
        if hi == 0:
            g = max(lo + 1, lo + math.ceil((objects - c_lo) * lo / c_lo))
        else:
            g = lo + math.ceil((objects - c_lo) * (hi - lo) / (c_hi - c_lo))
            g = min(max(g, lo + 1), hi - 1)
    return hi

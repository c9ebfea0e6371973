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

Sites sit on a jittered hexagonal grid around ``center``; each has three sectors on the first
carrier and, on a share of the sites, three more on the second. Relations go to the nearest cells
by distance between cell centres (the site pushed out along the sector azimuth), found through a
bucket grid. The PCI plan gives the co-sited cells of a carrier one SSS group (so PCI mod 3
differs) and keeps each cell apart from its same-carrier neighbours (no collision) and any two
same-carrier neighbours of one cell apart (no confusion). All randomness is integer hashing of
``seed``, so equal parameters give equal objects, byte for byte.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final, NamedTuple, TypedDict, Unpack

from mns.nrm.dn import DN

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

DEFAULT_ROOT: Final = "SubNetwork=RAN"
DEFAULT_NEIGHBOURS: Final = 36
GNBS_PER_REGION: Final = 500
_M64: Final = (1 << 64) - 1
_SSS_GROUPS: Final = 336  # NR PCI = 3 * group + sector, 1008 PCIs
# Hash tags, one per independent random draw.
_JX, _JY, _ROT, _DUAL, _AZ, _GNB, _PCI = range(1, 8)


@dataclass(frozen=True, slots=True)
class GeneratedMoi:
    """One generated managed object: canonical DN, stage-2 class, attributes in YANG form."""

    dn: str
    cls: str
    attrs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Carrier:
    """An NR carrier: its NRFrequency and the radio settings of the cells on it."""

    id: str
    band: int
    ssb_arfcn: int
    arfcn_dl: int
    arfcn_ul: int
    bandwidth_mhz: int
    scs_khz: int
    rbs: int
    max_tx_power_mw: int
    max_eirp_dbm: int
    reselection_priority: int
    q_rx_lev_min: int


CARRIERS: Final = (
    # n78 TDD 3500-3600 MHz: centre 3549.99 MHz, SSB at 3509.76 MHz (GSCN 7853), 273 PRB @ 30 kHz.
    Carrier("n78-633984", 78, 633984, 636666, 636666, 100, 30, 273, 200_000, 78, 6, -120),
    # n28 FDD 758-768 / 703-713 MHz: SSB at 762.05 MHz (GSCN 1904), 52 PRB @ 15 kHz.
    Carrier("n28-152410", 28, 152410, 152600, 141600, 10, 15, 52, 80_000, 64, 4, -128),
)


@dataclass(frozen=True, slots=True)
class Site:
    """A site: one ManagedElement (gNB) with its position and identities."""

    index: int
    name: str
    region: int
    gnb_id: int
    latitude: float
    longitude: float
    tac: int
    cells: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Cell:
    """A cell (NRCellDU and NRCellCU of one id) with its radio plan and neighbours."""

    index: int
    site: int
    sector: int
    carrier: int
    local_id: int
    azimuth: int
    nci: int
    pci: int
    neighbours: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """The summary a generated network is built from: sites, cells, neighbours and counts."""

    root: str
    region_names: tuple[str, ...]
    carriers: tuple[Carrier, ...]
    sites: tuple[Site, ...]
    cells: tuple[Cell, ...]
    externals: tuple[tuple[int, ...], ...]
    gnb_id_length: int
    mcc: str
    mnc: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        """Number of objects the network holds."""
        return sum(self.counts.values())

    def region_dn(self, region: int) -> str:
        """DN of a region's SubNetwork."""
        return f"{self.root},SubNetwork={self.region_names[region]}"

    def site_dn(self, site: int) -> str:
        """DN of a site's ManagedElement."""
        s = self.sites[site]
        return f"{self.region_dn(s.region)},ManagedElement={s.name}"

    def frequency_dn(self, carrier: int) -> str:
        """DN of a carrier's NRFrequency."""
        return f"{self.root},NRFrequency={self.carriers[carrier].id}"

    def cell_dn(self, cell: int, cls: str = "NRCellDU") -> str:
        """DN of a cell's NRCellDU, NRCellCU or NRSectorCarrier."""
        c = self.cells[cell]
        fn = "GNBCUCPFunction" if cls == "NRCellCU" else "GNBDUFunction"
        return f"{self.site_dn(c.site)},{fn}=1,{cls}={c.local_id}"

    def external_dn(self, region: int, cell: int) -> str:
        """DN of the ExternalNRCellCU standing for ``cell`` in ``region``."""
        c = self.cells[cell]
        gnb = self.sites[c.site].name
        fn = f"{self.region_dn(region)},ExternalGNBCUCPFunction={gnb}"
        return f"{fn},ExternalNRCellCU={c.local_id}"

    def adjacent_dn(self, source: int, target: int) -> str:
        """What a relation of ``source`` points to: the NRCellCU, or its external stand-in."""
        region = self.sites[self.cells[source].site].region
        if self.sites[self.cells[target].site].region == region:
            return self.cell_dn(target, "NRCellCU")
        return self.external_dn(region, target)


class PlanParams(TypedDict, total=False):
    """Keyword parameters of plan_network, shared by count_objects and gnbs_for."""

    seed: int
    root: str
    regions: int | None
    neighbours: int
    frequencies: int
    dual_band_share: float
    gnb_id_length: int
    isd_m: float
    center: tuple[float, float]
    plmn: tuple[str, str]


def nci_of(gnb_id: int, gnb_id_length: int, cell_local_id: int) -> int:
    """NR Cell Identity (36 bits): gNBId followed by cellLocalId (TS 38.300)."""
    return (gnb_id << (36 - gnb_id_length)) | cell_local_id


def nr_tci(nci: int, pci: int) -> int:
    """nRTCI of an NRCellRelation: the target's NCI followed by its PCI in 10 bits."""
    return (nci << 10) | pci


def _mix(*values: int) -> int:
    """64-bit hash of integers (splitmix64 rounds): the only source of randomness here."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = ((h ^ (v & _M64)) * 0xBF58476D1CE4E5B9) & _M64
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & _M64
        h ^= h >> 29
    return h


def _unit(*values: int) -> float:
    return (_mix(*values) >> 11) / 9007199254740992.0


@dataclass(frozen=True, slots=True)
class _Topology:
    """Geometry and adjacency, everything that decides how many objects there are."""

    region_names: tuple[str, ...]
    site_region: tuple[int, ...]
    site_xy: tuple[tuple[float, float], ...]
    site_cells: tuple[tuple[int, ...], ...]
    cell_site: tuple[int, ...]
    cell_layer: tuple[int, ...]
    cell_sector: tuple[int, ...]
    cell_azimuth: tuple[int, ...]
    neighbours: tuple[tuple[int, ...], ...]
    externals: tuple[tuple[int, ...], ...]


def _region_names(row_tiles: list[int]) -> list[str]:
    total = sum(row_tiles)
    if len(row_tiles) <= 3 and max(row_tiles) <= 3:
        rows = {1: [""], 2: ["North", "South"], 3: ["North", "", "South"]}[len(row_tiles)]
        cols = {1: [""], 2: ["West", "East"], 3: ["West", "", "East"]}
        return [(rows[r] + c) or "Central" for r, n in enumerate(row_tiles) for c in cols[n]]
    width = max(2, len(str(total)))
    return [f"Region-{k + 1:0{width}d}" for k in range(total)]


def _place_sites(gnbs: int, seed: int, isd: float) -> list[tuple[float, float, int, int]]:
    """Sites (x, y metres east/north of the centre, lattice i, j), nearest the centre first."""
    row_h = isd * math.sqrt(3) / 2
    radius = isd * (math.sqrt(gnbs * math.sqrt(3) / (2 * math.pi)) * 1.15 + 2)
    while True:
        lattice: list[tuple[float, int, int]] = []
        nj, ni = int(radius / row_h) + 1, int(radius / isd) + 1
        for j in range(-nj, nj + 1):
            y = j * row_h
            for i in range(-ni, ni + 1):
                x = (i + 0.5 * (j & 1)) * isd
                if x * x + y * y <= radius * radius:
                    lattice.append((x * x + y * y, j, i))
        if len(lattice) >= gnbs:
            break
        radius *= 1.5
    lattice.sort()
    theta = _unit(seed, _ROT) * math.pi / 3  # the hexagonal grid repeats every 60 degrees
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    out = []
    for _, j, i in lattice[:gnbs]:
        x = (i + 0.5 * (j & 1) + (_unit(seed, _JX, i, j) - 0.5) * 0.4) * isd
        y = (j + (_unit(seed, _JY, i, j) - 0.5) * 0.4) * row_h
        out.append((x * cos_t - y * sin_t, x * sin_t + y * cos_t, i, j))
    return out


def _split_regions(
    sites: list[tuple[float, float, int, int]], nreg: int, row_h: float
) -> tuple[list[str], list[list[tuple[float, float, int, int]]]]:
    """Cut the sites into ``nreg`` equal, contiguous tiles, rows north to south."""
    rows = math.isqrt(nreg)
    cols = -(-nreg // rows)
    row_tiles = [cols] * (rows - 1) + [nreg - cols * (rows - 1)]
    q, rem = divmod(len(sites), nreg)
    sizes = [q + (t < rem) for t in range(nreg)]
    by_y = sorted(sites, key=lambda s: (-s[1], s[0], s[2], s[3]))
    tiles: list[list[tuple[float, float, int, int]]] = []
    start = t = 0
    for n in row_tiles:
        band_sizes = sizes[t : t + n]
        band = sorted(by_y[start : start + sum(band_sizes)], key=lambda s: (s[0], s[2], s[3]))
        start += sum(band_sizes)
        t += n
        b = 0
        for size in band_sizes:
            # Reading order inside a tile: rows of the grid north to south, then west to east.
            tiles.append(sorted(band[b : b + size], key=lambda s: (-round(s[1] / row_h), s[0])))
            b += size
    return _region_names(row_tiles), tiles


def _nearest(xs: list[float], ys: list[float], k: int, bucket: float) -> list[tuple[int, ...]]:
    """For each point, the ``k`` nearest other points (ties in a fixed order), via a bucket grid."""
    grid: dict[tuple[int, int], list[int]] = {}
    for p, (x, y) in enumerate(zip(xs, ys, strict=True)):
        grid.setdefault((math.floor(x / bucket), math.floor(y / bucket)), []).append(p)
    bxs = [key[0] for key in grid]
    bys = [key[1] for key in grid]
    rmax = max(max(bxs) - min(bxs), max(bys) - min(bys)) + 1
    out: list[tuple[int, ...]] = [()] * len(xs)
    if k == 0:
        return out
    for (bx, by), members in grid.items():
        todo, r = members, 2
        while todo:
            # Buckets within r of the query's hold every point within r * bucket of it.
            cand = [q for dx in range(-r, r + 1) for dy in range(-r, r + 1) for q in grid.get((bx + dx, by + dy), ())]
            cxs = [xs[q] for q in cand]
            cys = [ys[q] for q in cand]
            limit = (r * bucket) ** 2
            again = []
            for p in todo:
                x, y = xs[p], ys[p]
                d = [(a - x) * (a - x) + (b - y) * (b - y) for a, b in zip(cxs, cys, strict=True)]
                order = [i for i in sorted(range(len(cand)), key=d.__getitem__)[: k + 1]
                         if cand[i] != p][:k]  # fmt: skip
                if r < rmax and (len(order) < k or d[order[-1]] > limit):
                    again.append(p)
                else:
                    out[p] = tuple(cand[i] for i in order)
            todo, r = again, r + 1
    return out


class _TopoKey(NamedTuple):
    gnbs: int
    seed: int
    regions: int
    neighbours: int
    frequencies: int
    dual_band_share: float
    isd: float


@lru_cache(maxsize=4)
def _topology(key: _TopoKey) -> _Topology:
    gnbs, seed, nreg, neighbours, frequencies, dual_band_share, isd = key
    row_h = isd * math.sqrt(3) / 2
    names, tiles = _split_regions(_place_sites(gnbs, seed, isd), nreg, row_h)
    site_region: list[int] = []
    site_xy: list[tuple[float, float]] = []
    site_cells: list[tuple[int, ...]] = []
    cell_site: list[int] = []
    cell_layer: list[int] = []
    cell_sector: list[int] = []
    cell_azimuth: list[int] = []
    cxs: list[float] = []
    cys: list[float] = []
    for region, tile in enumerate(tiles):
        for x, y, i, j in tile:
            site = len(site_region)
            site_region.append(region)
            site_xy.append((x, y))
            layers = 2 if frequencies == 2 and _unit(seed, _DUAL, i, j) < dual_band_share else 1
            rot = int(_unit(seed, _AZ, i, j) * 120)
            first = len(cell_site)
            for layer in range(layers):
                for sector in range(3):
                    az = (rot + 120 * sector) % 360
                    cell_site.append(site)
                    cell_layer.append(layer)
                    cell_sector.append(sector)
                    cell_azimuth.append(az)
                    # The cell's centre of coverage: a third of the way to the next site.
                    cxs.append(x + 0.3 * isd * math.sin(math.radians(az)))
                    cys.append(y + 0.3 * isd * math.cos(math.radians(az)))
            site_cells.append(tuple(range(first, len(cell_site))))
    k = min(neighbours, len(cell_site) - 1)
    density = len(cell_site) / (gnbs * isd * row_h)
    bucket = max(0.25 * isd, 0.6 * math.sqrt((k + 1) / (math.pi * density)))
    nbs = _nearest(cxs, cys, k, bucket)
    ext: list[set[int]] = [set() for _ in tiles]
    for c, nb in enumerate(nbs):
        region = site_region[cell_site[c]]
        ext[region].update(n for n in nb if site_region[cell_site[n]] != region)
    return _Topology(
        region_names=tuple(names),
        site_region=tuple(site_region),
        site_xy=tuple(site_xy),
        site_cells=tuple(site_cells),
        cell_site=tuple(cell_site),
        cell_layer=tuple(cell_layer),
        cell_sector=tuple(cell_sector),
        cell_azimuth=tuple(cell_azimuth),
        neighbours=tuple(nbs),
        externals=tuple(tuple(sorted(e)) for e in ext),
    )


def _pci_plan(topo: _Topology, seed: int, nfreq: int) -> list[int]:
    """PCIs such that each cell's same-carrier neighbours, with the cell, all differ."""
    ncell = len(topo.cell_site)
    # A cell's PCI must differ within every set "observer + its neighbours on one carrier"
    # the cell belongs to: its own (collision) and each cell that lists it (confusion).
    observers: list[list[int]] = [[c] for c in range(ncell)]
    for c, nb in enumerate(topo.neighbours):
        for n in nb:
            observers[n].append(c)
    used: list[set[int]] = [set() for _ in range(ncell * nfreq)]
    pci = [-1] * ncell

    def forbidden(cell: int, f: int) -> set[int]:
        return set().union(*(used[o * nfreq + f] for o in observers[cell]))

    for site, cells in enumerate(topo.site_cells):
        start = _mix(seed, _PCI, site) % _SSS_GROUPS
        for f in range(nfreq):
            group = [c for c in cells if topo.cell_layer[c] == f]
            if not group:
                continue
            forb = [forbidden(c, f) for c in group]
            for t in range(_SSS_GROUPS):
                g = (start + t) % _SSS_GROUPS
                if all(3 * g + s not in fb for s, fb in enumerate(forb)):
                    for s, c in enumerate(group):
                        pci[c] = 3 * g + s
                    break
            else:  # no whole group is free: plan cell by cell, keeping mod 3 where possible
                for s, c in enumerate(group):
                    fb = forbidden(c, f) | {pci[o] for o in group if pci[o] >= 0}
                    same_mod3 = [(3 * (start + t) + s) % 1008 for t in range(_SSS_GROUPS)]
                    others = [p for p in range(1008) if p % 3 != s]
                    free = next((p for p in same_mod3 + others if p not in fb), None)
                    if free is None:
                        raise ValueError("no PCI free of collision and confusion: fewer neighbours")
                    pci[c] = free
                    for o in observers[c]:
                        used[o * nfreq + f].add(pci[c])
                continue
            for c in group:
                for o in observers[c]:
                    used[o * nfreq + f].add(pci[c])
    return pci


def _counts(topo: _Topology, root_depth: int, nfreq: int) -> dict[str, int]:
    ncell = len(topo.cell_site)
    nsite = len(topo.site_cells)
    return {
        "SubNetwork": root_depth + len(topo.region_names),
        "NRFrequency": nfreq,
        "ExternalGNBCUCPFunction": sum(len({topo.cell_site[c] for c in e}) for e in topo.externals),
        "ExternalNRCellCU": sum(len(e) for e in topo.externals),
        "ManagedElement": nsite,
        "GNBDUFunction": nsite,
        "NRSectorCarrier": ncell,
        "BWP": 2 * ncell,
        "NRCellDU": ncell,
        "GNBCUUPFunction": nsite,
        "GNBCUCPFunction": nsite,
        "NRCellCU": ncell,
        "NRFreqRelation": nfreq * ncell,
        "NRCellRelation": sum(len(nb) for nb in topo.neighbours),
    }


def _resolve(gnbs: int, p: PlanParams) -> tuple[DN, _TopoKey]:
    """Check the parameters; return the root and the key of the topology."""
    if gnbs < 1:
        raise ValueError("gnbs must be at least 1")
    root = DN.parse(p.get("root", DEFAULT_ROOT))
    if any(cls != "SubNetwork" for cls, _ in root.rdns):
        raise ValueError(f"root {root} must be a DN of SubNetworks")
    regions = p.get("regions")
    nreg = max(1, round(gnbs / GNBS_PER_REGION)) if regions is None else regions
    if not 1 <= nreg <= gnbs:
        raise ValueError("regions must be between 1 and gnbs")
    neighbours = p.get("neighbours", DEFAULT_NEIGHBOURS)
    frequencies = p.get("frequencies", 2)
    share = p.get("dual_band_share", 0.6)
    isd = p.get("isd_m", 800.0)
    length = p.get("gnb_id_length", 24)
    if neighbours < 0 or frequencies not in (1, 2) or not 0.0 <= share <= 1.0 or isd <= 0:
        raise ValueError("need neighbours >= 0, frequencies 1 or 2, 0 <= share <= 1, isd > 0")
    if not 22 <= length <= 32 or gnbs >= 2**length:
        raise ValueError("gnb_id_length must be 22..32 and leave room for every gNB")
    lat, lon = p.get("center", (48.1372, 11.5755))
    if not -80.0 <= lat <= 80.0 or not -180.0 <= lon <= 180.0:
        raise ValueError("center must be (latitude within +-80, longitude)")
    mcc, mnc = p.get("plmn", ("001", "01"))
    if not re.fullmatch(r"[02-79][0-9]{2}", mcc) or not re.fullmatch(r"[0-9]{2,3}", mnc):
        raise ValueError("plmn must be (mcc of 3 digits, mnc of 2 or 3 digits)")
    return root, _TopoKey(gnbs, p.get("seed", 1), nreg, neighbours, frequencies, share, float(isd))


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
    dn, key = _resolve(gnbs, p)
    return _plan(key, str(dn), gnb_id_length, center, plmn)


@lru_cache(maxsize=4)
def _plan(key: _TopoKey, root: str, length: int, center: tuple[float, float], plmn: tuple[str, str]) -> NetworkPlan:
    topo = _topology(key)
    gnbs, seed, nfreq, isd = key.gnbs, key.seed, key.frequencies, key.isd
    pci = _pci_plan(topo, seed, nfreq)
    base = _mix(seed, _GNB) % (2**length - gnbs)
    width = max(5, len(str(gnbs)))
    lat0, lon0 = center
    m_per_deg_lon = 111_320.0 * math.cos(math.radians(lat0))
    # One tracking area per square of 6 x 6 inter-site distances, numbered per region.
    tac_of: dict[tuple[int, int, int], int] = {}
    per_region: dict[int, int] = {}
    site_ta: list[int] = []
    for s, (x, y) in enumerate(topo.site_xy):
        region = topo.site_region[s]
        ta_key = (region, math.floor(x / (6 * isd)), math.floor(y / (6 * isd)))
        if ta_key not in tac_of:
            tac_of[ta_key] = per_region.get(region, 0)
            per_region[region] = tac_of[ta_key] + 1
        site_ta.append(tac_of[ta_key])
    stride = max(1000, 10 ** len(str(max(per_region.values()))))
    sites = []
    for s, (x, y) in enumerate(topo.site_xy):
        region = topo.site_region[s]
        lon = (lon0 + x / m_per_deg_lon + 180.0) % 360.0 - 180.0
        sites.append(Site(
            index=s, name=f"gNB-{s + 1:0{width}d}", region=region, gnb_id=base + s,
            latitude=round(lat0 + y / 111_320.0, 4), longitude=round(lon, 4),
            tac=(region + 1) * stride + site_ta[s], cells=topo.site_cells[s],
        ))  # fmt: skip
    cells = []
    for c, site in enumerate(topo.cell_site):
        sector = topo.cell_sector[c]
        local_id = 3 * topo.cell_layer[c] + sector + 1
        cells.append(Cell(
            index=c, site=site, sector=sector, carrier=topo.cell_layer[c], local_id=local_id,
            azimuth=topo.cell_azimuth[c], nci=nci_of(sites[site].gnb_id, length, local_id),
            pci=pci[c], neighbours=topo.neighbours[c],
        ))  # fmt: skip
    return NetworkPlan(
        root=root,
        region_names=topo.region_names,
        carriers=CARRIERS[:nfreq],
        sites=tuple(sites),
        cells=tuple(cells),
        externals=topo.externals,
        gnb_id_length=length,
        mcc=plmn[0],
        mnc=plmn[1],
        counts=MappingProxyType(_counts(topo, DN.parse(root).depth, nfreq)),
    )


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
    root, key = _resolve(gnbs, params)
    return sum(_counts(_topology(key), root.depth, key.frequencies).values())


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

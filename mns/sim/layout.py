"""The layout of the generated RAN: regions, sites, cells, their neighbours and the PCI plan.

Sites sit on a jittered hexagonal grid around ``center``; each has three sectors on the first
carrier and, on a share of the sites, three more on the second. Relations go to the nearest cells
by distance between cell centres (the site pushed out along the sector azimuth), found through a
bucket grid. The PCI plan gives the co-sited cells of a carrier one SSS group (so PCI mod 3
differs) and keeps each cell apart from its same-carrier neighbours (no collision) and any two
same-carrier neighbours of one cell apart (no confusion). All randomness is integer hashing of
``seed``, so equal parameters give equal plans, byte for byte.

:func:`resolve_params` checks the parameters, :func:`build_plan` makes the :class:`NetworkPlan`
that :mod:`mns.sim.generate` turns into objects, and :func:`count_by_class` counts those objects
from the topology alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Final, NamedTuple, TypedDict

from mns.nrm.dn import DN

__all__ = [
    "CARRIERS",
    "DEFAULT_NEIGHBOURS",
    "DEFAULT_ROOT",
    "GNBS_PER_REGION",
    "Carrier",
    "Cell",
    "NetworkPlan",
    "PlanParams",
    "Site",
    "TopoKey",
    "build_plan",
    "count_by_class",
    "nci_of",
    "nearest",
    "resolve_params",
]

DEFAULT_ROOT: Final = "SubNetwork=RAN"
DEFAULT_NEIGHBOURS: Final = 36
GNBS_PER_REGION: Final = 500
_M64: Final = (1 << 64) - 1
_SSS_GROUPS: Final = 336  # NR PCI = 3 * group + sector, 1008 PCIs
# Hash tags, one per independent random draw.
_JX, _JY, _ROT, _DUAL, _AZ, _GNB, _PCI = range(1, 8)


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


def nearest(xs: list[float], ys: list[float], k: int, bucket: float) -> list[tuple[int, ...]]:
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


class TopoKey(NamedTuple):
    """What decides the topology: the parameters of plan_network that place sites and cells."""

    gnbs: int
    seed: int
    regions: int
    neighbours: int
    frequencies: int
    dual_band_share: float
    isd: float


@lru_cache(maxsize=4)
def _topology(key: TopoKey) -> _Topology:
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
    nbs = nearest(cxs, cys, k, bucket)
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


def resolve_params(gnbs: int, p: PlanParams) -> tuple[DN, TopoKey]:
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
    return root, TopoKey(gnbs, p.get("seed", 1), nreg, neighbours, frequencies, share, float(isd))


@lru_cache(maxsize=4)
def build_plan(key: TopoKey, root: str, length: int, center: tuple[float, float], plmn: tuple[str, str]) -> NetworkPlan:
    """The plan of the network ``key`` describes, rooted at ``root``, with gNB ids and PCIs."""
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


def count_by_class(key: TopoKey, root_depth: int) -> dict[str, int]:
    """Objects per class of the network ``key`` describes, from its topology alone (no PCIs)."""
    return _counts(_topology(key), root_depth, key.frequencies)

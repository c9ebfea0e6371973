"""The generated RAN: determinism, counts, containment, references, PCI plan and identities."""

from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict
from typing import Any

import pytest

from mns.nrm.dn import DN
from mns.nrm.validate import ERROR, Validator
from mns.sim.generate import (
    GeneratedMoi,
    NetworkPlan,
    _nearest,
    count_objects,
    generate_network,
    gnbs_for,
    nci_of,
    nr_tci,
    plan_network,
)

# Every DN-valued attribute the generator writes, with the classes it may point to.
REFERENCES: dict[str, set[str]] = {
    "nRSectorCarrierRef": {"NRSectorCarrier"},
    "bWPRef": {"BWP"},
    "nRFrequencyRef": {"NRFrequency"},
    "nRFreqRelationRef": {"NRFreqRelation"},
    "adjacentNRCellRef": {"NRCellCU", "ExternalNRCellCU"},
}
PARAMS: dict[str, Any] = {"seed": 7, "regions": 3}


@pytest.fixture(scope="module")
def network() -> list[GeneratedMoi]:
    return list(generate_network(60, **PARAMS))


@pytest.fixture(scope="module")
def by_dn(network: list[GeneratedMoi]) -> dict[str, GeneratedMoi]:
    return {m.dn: m for m in network}


def _parent(dn: str) -> str | None:
    parent = DN.parse(dn).parent
    return str(parent) if parent else None


def _up(dn: str) -> str:
    parent = _parent(dn)
    assert parent is not None
    return parent


def _dump(mois: list[GeneratedMoi]) -> bytes:
    return json.dumps([[m.dn, m.cls, m.attrs] for m in mois]).encode()


def _cell_facts(by_dn: dict[str, GeneratedMoi]) -> dict[str, tuple[int, str, int]]:
    """(PCI, NRFrequency DN, NCI) of every NRCellCU and ExternalNRCellCU, from the objects."""
    facts: dict[str, tuple[int, str, int]] = {}
    for m in by_dn.values():
        if m.cls == "NRCellDU":
            du = by_dn[_up(m.dn)].attrs
            nci = nci_of(du["gNBId"], du["gNBIdLength"], m.attrs["cellLocalId"])
            cu = m.dn.replace("GNBDUFunction=1,NRCellDU=", "GNBCUCPFunction=1,NRCellCU=")
            facts[cu] = (m.attrs["nRPCI"], m.attrs["nRFrequencyRef"][0], nci)
        elif m.cls == "ExternalNRCellCU":
            fn = by_dn[_up(m.dn)].attrs
            nci = nci_of(fn["gNBId"], fn["gNBIdLength"], m.attrs["cellLocalId"])
            facts[m.dn] = (m.attrs["nRPCI"], m.attrs["nRFrequencyRef"], nci)
    return facts


def test_same_seed_gives_identical_bytes_and_another_seed_differs() -> None:
    first = list(generate_network(40, seed=3, regions=2))
    assert _dump(first) == _dump(list(generate_network(40, seed=3, regions=2)))
    other = list(generate_network(40, seed=4, regions=2))
    assert _dump(first) != _dump(other)
    a, b = plan_network(40, seed=3, regions=2), plan_network(40, seed=4, regions=2)
    assert [(s.latitude, s.longitude) for s in a.sites] != [(s.latitude, s.longitude) for s in b.sites]


@pytest.mark.parametrize(
    ("gnbs", "params"),
    [
        (1, {}),
        (2, {"frequencies": 1}),
        (25, {"neighbours": 8, "regions": 4}),
        (60, PARAMS),
        (120, {"seed": 2, "regions": 10, "dual_band_share": 1.0}),
    ],
)
def test_counts_match_what_is_generated(gnbs: int, params: dict[str, Any]) -> None:
    mois = list(generate_network(gnbs, **params))
    plan = plan_network(gnbs, **params)
    assert len(mois) == count_objects(gnbs, **params) == plan.total
    assert Counter(m.cls for m in mois) == {k: v for k, v in plan.counts.items() if v}


def test_parents_come_first_and_dns_are_unique_and_canonical(
    network: list[GeneratedMoi],
) -> None:
    seen: set[str] = set()
    for m in network:
        dn = DN.parse(m.dn)
        assert str(dn) == m.dn
        assert dn.cls == m.cls
        parent = _parent(m.dn)
        assert parent is None or parent in seen, m.dn
        assert m.dn not in seen
        seen.add(m.dn)
    assert network[0].dn == "SubNetwork=RAN"
    assert sum(1 for m in network if _parent(m.dn) is None) == 1


def test_containment_follows_the_nr_nrm(network: list[GeneratedMoi]) -> None:
    parents: dict[str, set[str | None]] = {
        "SubNetwork": {None, "SubNetwork"},
        "NRFrequency": {"SubNetwork"},
        "ExternalGNBCUCPFunction": {"SubNetwork"},
        "ExternalNRCellCU": {"ExternalGNBCUCPFunction"},
        "ManagedElement": {"SubNetwork"},
        "GNBDUFunction": {"ManagedElement"},
        "GNBCUCPFunction": {"ManagedElement"},
        "GNBCUUPFunction": {"ManagedElement"},
        "NRCellDU": {"GNBDUFunction"},
        "NRSectorCarrier": {"GNBDUFunction"},
        "BWP": {"GNBDUFunction"},
        "NRCellCU": {"GNBCUCPFunction"},
        "NRFreqRelation": {"NRCellCU"},
        "NRCellRelation": {"NRCellCU"},
    }
    for m in network:
        parent = DN.parse(m.dn).parent
        assert (parent.cls if parent else None) in parents[m.cls], m.dn


def test_every_reference_resolves_to_an_object_of_the_right_class(
    by_dn: dict[str, GeneratedMoi],
) -> None:
    checked = 0
    for m in by_dn.values():
        for name, value in m.attrs.items():
            if not name.endswith("Ref"):
                continue
            assert name in REFERENCES, f"untested reference attribute {name}"
            for target in value if isinstance(value, list) else [value]:
                assert target in by_dn, f"{m.dn} {name} -> {target}"
                assert by_dn[target].cls in REFERENCES[name]
                checked += 1
    assert checked > 10_000


def test_relations_point_inside_the_region_or_to_an_external_cell_there(
    by_dn: dict[str, GeneratedMoi],
) -> None:
    kinds: Counter[str] = Counter()
    for m in by_dn.values():
        if m.cls != "NRCellRelation":
            continue
        region = ",".join(m.dn.split(",")[:2])
        target = m.attrs["adjacentNRCellRef"]
        assert target.startswith(region + ","), "a relation must stay in its region's SubNetwork"
        kinds[by_dn[target].cls] += 1
        # The frequency relation is the source cell's own one, for the target's carrier.
        freq_rel = by_dn[m.attrs["nRFreqRelationRef"]]
        assert _parent(freq_rel.dn) == _parent(m.dn)
    assert kinds["NRCellCU"] > 0
    assert kinds["ExternalNRCellCU"] > 0


def test_relation_targets_carry_the_right_frequency_relation_and_nrtci(
    by_dn: dict[str, GeneratedMoi],
) -> None:
    facts = _cell_facts(by_dn)
    for m in by_dn.values():
        if m.cls == "NRCellRelation":
            pci, freq, nci = facts[m.attrs["adjacentNRCellRef"]]
            assert by_dn[m.attrs["nRFreqRelationRef"]].attrs["nRFrequencyRef"] == freq
            assert m.attrs["nRTCI"] == nr_tci(nci, pci)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_pci_plan_has_no_collision_no_confusion_and_keeps_mod3_on_sites(seed: int) -> None:
    by_dn = {m.dn: m for m in generate_network(50, seed=seed, regions=2)}
    facts = _cell_facts(by_dn)
    seen: dict[str, dict[tuple[str, int], str]] = defaultdict(dict)
    relations = 0
    for m in by_dn.values():
        if m.cls != "NRCellRelation":
            continue
        source = _up(m.dn)
        target = m.attrs["adjacentNRCellRef"]
        s_pci, s_freq, _ = facts[source]
        t_pci, t_freq, _ = facts[target]
        assert (s_pci, s_freq) != (t_pci, t_freq), f"PCI collision {source} / {target}"
        other = seen[source].setdefault((t_freq, t_pci), target)
        assert other == target, f"PCI confusion at {source}: {other} / {target}"
        relations += 1
    assert relations > 50 * 3 * 20
    per_site: dict[tuple[str, str], list[int]] = defaultdict(list)
    for dn, (pci, freq, _) in facts.items():
        if "ManagedElement=" in dn:
            per_site[(dn.split(",GNBCUCPFunction")[0], freq)].append(pci % 3)
    assert all(len(set(mods)) == len(mods) for mods in per_site.values())


def test_identities_fit_their_bits_and_nci_is_unique(by_dn: dict[str, GeneratedMoi]) -> None:
    plan = plan_network(60, **PARAMS)
    length = plan.gnb_id_length
    gnb_ids = [s.gnb_id for s in plan.sites]
    assert len(set(gnb_ids)) == len(gnb_ids)
    assert all(0 <= g < 2**length for g in gnb_ids)
    ncis = set()
    for cell in plan.cells:
        site = plan.sites[cell.site]
        assert 0 <= cell.local_id < 2 ** (36 - length)
        assert cell.nci == site.gnb_id << (36 - length) | cell.local_id
        du = by_dn[plan.cell_dn(cell.index)].attrs
        assert du["cellLocalId"] == by_dn[plan.cell_dn(cell.index, "NRCellCU")].attrs["cellLocalId"]
        assert (du["cellLocalId"], du["nRPCI"]) == (cell.local_id, cell.pci)
        fn = by_dn[_up(plan.cell_dn(cell.index))].attrs
        assert (fn["gNBId"], fn["gNBIdLength"]) == (site.gnb_id, length)
        ncis.add(cell.nci)
    assert len(ncis) == len(plan.cells)
    for site in plan.sites:
        for fn_cls in ("GNBCUCPFunction", "GNBCUUPFunction"):
            attrs = by_dn[f"{plan.site_dn(site.index)},{fn_cls}=1"].attrs
            assert (attrs["gNBId"], attrs["gNBIdLength"]) == (site.gnb_id, length)


def test_external_cells_equal_the_real_ones(by_dn: dict[str, GeneratedMoi]) -> None:
    plan = plan_network(60, **PARAMS)
    external = 0
    for region, cells in enumerate(plan.externals):
        for c in cells:
            cell = plan.cells[c]
            ext = by_dn[plan.external_dn(region, c)]
            real_du = by_dn[plan.cell_dn(c)].attrs
            real_cu = by_dn[plan.cell_dn(c, "NRCellCU")].attrs
            assert plan.sites[cell.site].region != region
            assert ext.attrs["nRPCI"] == real_du["nRPCI"]
            assert ext.attrs["cellLocalId"] == real_du["cellLocalId"] == real_cu["cellLocalId"]
            assert ext.attrs["nRFrequencyRef"] == real_du["nRFrequencyRef"][0]
            assert ext.attrs["pLMNIdList"] == [{"mcc": e["mcc"], "mnc": e["mnc"]} for e in real_cu["pLMNInfoList"]]
            ext_fn = by_dn[_up(ext.dn)].attrs
            real_fn = by_dn[f"{plan.site_dn(cell.site)},GNBCUCPFunction=1"].attrs
            for name in ("gNBId", "gNBIdLength", "pLMNId"):
                assert ext_fn[name] == real_fn[name]
            external += 1
    assert external == plan.counts["ExternalNRCellCU"] > 0


def test_relations_go_to_the_nearest_cells() -> None:
    rng = random.Random(5)
    xs = [rng.uniform(0, 5000) for _ in range(400)]
    ys = [rng.uniform(0, 3000) for _ in range(400)]
    for k, bucket in [(0, 300.0), (12, 250.0), (36, 100.0), (399, 500.0)]:
        found = _nearest(xs, ys, k, bucket)
        for p in range(len(xs)):
            dist = sorted((math.dist((xs[p], ys[p]), (xs[q], ys[q])), q) for q in range(400) if q != p)
            assert [q for _, q in dist[:k]] == list(found[p])


def test_each_cell_has_its_neighbour_budget_and_a_plausible_site() -> None:
    plan = plan_network(60, **PARAMS)
    assert all(len(c.neighbours) == 36 for c in plan.cells)
    assert all(c.index not in c.neighbours for c in plan.cells)
    assert 3 * 60 <= len(plan.cells) <= 6 * 60
    for site in plan.sites:
        assert abs(site.latitude - 48.1372) < 0.2
        assert abs(site.longitude - 11.5755) < 0.3
        assert round(site.latitude, 4) == site.latitude
    small = plan_network(2, neighbours=36)
    assert all(len(c.neighbours) == len(small.cells) - 1 for c in small.cells)


def test_default_network_is_about_200_to_250_objects_per_gnb() -> None:
    assert 200 <= count_objects(1000) / 1000 <= 250
    plan = plan_network(1000)
    assert len(plan.region_names) == 2
    assert plan.counts["ExternalNRCellCU"] > 0


@pytest.mark.parametrize(
    ("objects", "params"),
    [(1, {}), (36, {}), (5000, {}), (41_000, {}), (9000, {"neighbours": 10, "seed": 3})],
)
def test_gnbs_for_is_the_smallest_network_reaching_the_count(objects: int, params: dict[str, Any]) -> None:
    gnbs = gnbs_for(objects, **params)
    assert count_objects(gnbs, **params) >= objects
    assert gnbs == 1 or count_objects(gnbs - 1, **params) < objects


def test_root_may_be_any_subnetwork_dn() -> None:
    root = "SubNetwork=Op\\,1,SubNetwork=RAN"
    mois = list(generate_network(3, root=root))
    assert [m.dn for m in mois[:2]] == ["SubNetwork=Op\\,1", root]
    assert all(m.dn.startswith(root) for m in mois[1:])
    assert plan_network(3, root=root).total == len(mois) == count_objects(3, root=root)
    with pytest.raises(ValueError, match="SubNetworks"):
        plan_network(3, root="MeContext=1")


@pytest.mark.parametrize(
    "params",
    [
        {"regions": 0},
        {"regions": 11},
        {"frequencies": 3},
        {"neighbours": -1},
        {"gnb_id_length": 21},
        {"center": (89.0, 0.0)},
        {"plmn": ("1234", "01")},
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        plan_network(10, **params)


def test_plan_helpers_name_the_generated_objects(by_dn: dict[str, GeneratedMoi]) -> None:
    plan: NetworkPlan = plan_network(60, **PARAMS)
    for cell in plan.cells[::7]:
        for n in cell.neighbours:
            assert plan.adjacent_dn(cell.index, n) in by_dn
        assert by_dn[plan.cell_dn(cell.index, "NRSectorCarrier")].cls == "NRSectorCarrier"
    assert all(by_dn[plan.frequency_dn(f)].cls == "NRFrequency" for f in range(2))
    assert [plan.region_dn(r).split("=")[-1] for r in range(3)] == ["West", "Central", "East"]


def test_every_object_passes_schema_validation_without_errors(
    network: list[GeneratedMoi],
) -> None:
    validator = Validator()
    warned: set[tuple[str, str | None]] = set()
    for m in network:
        parent = DN.parse(m.dn).parent
        findings = validator.validate(m.dn, m.cls, m.attrs, parent_cls=parent.cls if parent else None, strict=False)
        assert [str(f) for f in findings if f.severity == ERROR] == [], m.dn
        warned.update((m.cls, f.attribute) for f in findings)
    # What a real network omits too: RIM, NPN and the sector equipment (not modelled here).
    assert {attr for _, attr in warned} <= {
        "rimRSReportConf", "aggressorSetRef", "victimSetRef", "nPNIdentityList",
        "rimRSMonitoringOccasionInterval", "rimRSMonitoringOccasionStartingOffset",
        "rimRSMonitoringStartTime", "rimRSMonitoringStopTime", "rimRSMonitoringWindowDuration",
        "rimRSMonitoringWindowPeriodicity", "rimRSMonitoringWindowStartingOffset",
        "sectorEquipmentFunctionRef",
    }  # fmt: skip

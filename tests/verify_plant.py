"""Problems planted at random (by seed) into a generated network, each with the finding it must cause.

``load`` fills a store with ``generate_network`` (two regions, so that ExternalNRCellCUs exist);
``plants`` picks, from the network's plan, one instance of each problem on sites no other plant
touches, so every expected finding stays true whatever the others change:

- ``pci-collision``: a cell takes the PCI of a same-carrier neighbour;
- ``pci-confusion``: a cell's neighbour takes the PCI of another neighbour on the same carrier;
- ``dangling-reference``: a relation's adjacentNRCellRef names a cell that does not exist;
- ``nci-unique``: a cell takes the cellLocalId of a co-sited cell;
- ``gnb-id-length``: a CU-UP function's gNBId grows beyond its gNBIdLength;
- ``external-cell-stale``: an ExternalNRCellCU's nRPCI no longer matches its cell's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mns.sim.generate import generate_network, plan_network
from mns.sim.layout import NetworkPlan
from mns.store import Create, SqlStore, Update

GNBS = 20


def network(seed: int) -> NetworkPlan:
    """The plan of the test network of ``seed``."""
    return plan_network(GNBS, seed=seed, regions=2)


def load(store: SqlStore, seed: int) -> int:
    """Load the network of ``seed`` into the live twin; returns the revision."""
    objects = generate_network(GNBS, seed=seed, regions=2)
    rev = store.commit((Create(o.dn, o.attrs, o.cls) for o in objects), source="real").rev
    assert rev is not None
    return rev


@dataclass(frozen=True, slots=True)
class Plant:
    """One planted problem: the writes that make it and the finding that must follow."""

    rule: str
    dn: str
    related: tuple[str, ...]
    ops: tuple[Update, ...]

    def matches(self, rule: str, dn: str, related: tuple[str, ...]) -> bool:
        """Whether a finding is this plant's (its related objects include the expected ones)."""
        return rule == self.rule and dn == self.dn and set(self.related) <= set(related)


def _pair(a: str, b: str) -> tuple[str, tuple[str, ...]]:
    return min(a, b), (max(a, b),)


def plants(seed: int) -> list[Plant]:
    """One plant of each problem for the network of ``seed``, on disjoint sites."""
    plan = network(seed)
    rng = random.Random(seed)
    cells = plan.cells
    used: set[int] = set()

    def free(*cs: int) -> bool:
        return not {cells[c].site for c in cs} & used and len({cells[c].site for c in cs}) == len(cs)

    def take(*cs: int) -> None:
        used.update(cells[c].site for c in cs)

    def du(c: int) -> str:
        return plan.cell_dn(c)

    order = list(range(len(cells)))
    rng.shuffle(order)
    out: list[Plant] = []

    # A collision: x takes the PCI of a same-carrier neighbour y.
    x, y = next((x, y) for x in order for y in cells[x].neighbours
                if cells[y].carrier == cells[x].carrier and free(x, y))  # fmt: skip
    take(x, y)
    dn, related = _pair(du(x), du(y))
    out.append(Plant("pci-collision", dn, related, (Update(du(x), {"nRPCI": cells[y].pci}),)))

    # A confusion: o lists a and b on one carrier; b takes a's PCI.
    o, a, b = next(
        (o, a, b)
        for o in order
        for a in cells[o].neighbours
        for b in cells[o].neighbours
        if a < b and cells[a].carrier == cells[b].carrier and free(o, a, b)
    )
    take(o, a, b)
    out.append(Plant("pci-confusion", du(o), tuple(sorted((du(a), du(b)))), (Update(du(b), {"nRPCI": cells[a].pci}),)))

    # A dangling reference: a relation of r names a cell that does not exist.
    r = next(c for c in order if free(c) and cells[c].neighbours)
    take(r)
    target = cells[rng.choice(cells[r].neighbours)]
    relation = f"{plan.cell_dn(r, 'NRCellCU')},NRCellRelation={plan.sites[target.site].name}-{target.local_id}"
    ghost = f"{plan.site_dn(target.site)},GNBCUCPFunction=1,NRCellCU={90 + rng.randrange(9)}"
    out.append(Plant("dangling-reference", relation, (ghost,), (Update(relation, {"adjacentNRCellRef": ghost}),)))

    # A duplicate NCI: a co-sited cell takes the cellLocalId of another.
    site = next(s for s in plan.sites if s.index not in used and len(s.cells) >= 2)
    used.add(site.index)
    first, second = rng.sample(list(site.cells), 2)
    dn, related = _pair(du(first), du(second))
    out.append(Plant("nci-unique", dn, related, (Update(du(second), {"cellLocalId": cells[first].local_id}),)))

    # A gNBId too long for its length.
    site = next(s for s in plan.sites if s.index not in used)
    used.add(site.index)
    cu_up = f"{plan.site_dn(site.index)},GNBCUUPFunction=1"
    too_long = (1 << plan.gnb_id_length) + rng.randrange(1000)
    out.append(Plant("gnb-id-length", cu_up, (), (Update(cu_up, {"gNBId": too_long}),)))

    # A stale external cell: the stand-in of t in another region keeps a wrong PCI.
    region, t = next(
        (region, t) for region, ext in enumerate(plan.externals) for t in sorted(ext, key=order.index) if free(t)
    )
    take(t)
    external = plan.external_dn(region, t)
    stale = (cells[t].pci + 1 + rng.randrange(50)) % 1008
    out.append(Plant("external-cell-stale", external, (du(t),), (Update(external, {"nRPCI": stale}),)))
    return out

"""Impact prediction: where the load of a cell goes when a change takes it out of service.

A change set that locks an NRCellDU (``administrativeState`` UNLOCKED in the base, LOCKED or
SHUTTINGDOWN in the sandbox) or deletes it (or its GNBDUFunction or ManagedElement) leaves the
cell's users to its neighbours. The model, kept simple on purpose so a report can explain it:

- **Load** is downlink PRB utilisation (0..1) per granularity period: TS 28.552 ``RRU.PrbTotDl``
  (a percentage) / 100, or ``RRU.PrbUsedDl / RRU.PrbAvailDl`` where the percentage is absent.
  The PM comes from the twin's :class:`mns.pm.store.PmStore` over a recent window (default the
  4 hours up to ``impact_at``, by default now).
- **Neighbours** are the targets of the source's NRCellRelations, read in the base: an NRCellCU
  maps to the NRCellDU of the same ManagedElement and ``cellLocalId``; an ExternalNRCellCU to the
  twin's own cell with its ExternalGNBCUCPFunction's ``gNBId`` (through GNBDUFunction.gNBId) and
  its ``cellLocalId``, when the twin holds that gNB. Only neighbours that stay in service in the
  sandbox (not LOCKED, SHUTTINGDOWN, operationally DISABLED, or gone) take load.
- **Who takes it**: the ``impact_neighbours`` (default 6) nearest of them by site position
  (``siteLatitude``/``siteLongitude`` of the GNBDUFunction's ``peeParametersList``; co-sited cells
  first, cells without a position last, ties by DN). They share the moved traffic in proportion to
  their capacity (``bSChannelBwDL``, MHz), so each one's utilisation rises by the same amount:
  source utilisation x source capacity / the sum of their capacities. A small low-band cell thus
  takes few of a wide mid-band cell's users, a cell as wide as the source takes its share.
- **Prediction** is per period (the source's moved load lands on the target in the same period),
  then summarised by ``impact_statistic``: ``p95`` (nearest rank, the default: overload is a busy-
  period problem that a mean over hours hides), ``max`` or ``mean``.
- A cell whose own bandwidth the change narrows keeps its traffic on fewer PRBs: its own load is
  scaled by old / new bandwidth. Transmit power changes are not modelled (a coverage model would
  be needed to say which users move).

``impact-overload`` warns at each neighbour whose predicted utilisation exceeds
``impact_threshold`` (default 0.8), naming the cells whose outage moves load onto it;
``impact-no-pm`` says (info) where the prediction could not be made for lack of PM. The whole
prediction, every neighbour's and not only the overloaded ones, is :func:`predict`'s answer, for
a risky-action prediction (TS 28.561 NDT RISKY_ACTIONS_PREDICTION) to report.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from mns.nrm.dn import DN
from mns.pm.model import Measurement, rfc3339
from mns.verify.model import Finding, Rule, Scope, Severity, View

if TYPE_CHECKING:
    from mns.pm.store import PmStore

__all__ = [
    "LOAD_TYPES",
    "RULES",
    "CellImpact",
    "Impact",
    "ImpactParams",
    "predict",
    "utilisation",
]

FAMILY: Final = "impact"
LOAD_TYPES: Final = ("RRU.PrbTotDl", "RRU.PrbUsedDl", "RRU.PrbAvailDl")
STATISTICS: Final = ("p95", "max", "mean")
OUT_OF_SERVICE: Final = frozenset({"LOCKED", "SHUTTINGDOWN"})
_CACHE: Final = "impact.predictions"
_MIN_SEPARATION_M: Final = 1.0


@dataclass(frozen=True, slots=True)
class ImpactParams:
    """The prediction's settings, from the run's context (``impact_*`` keys) or the defaults."""

    threshold: float = 0.8
    window: timedelta = timedelta(hours=4)
    neighbours: int = 6
    statistic: str = "p95"
    at: datetime | None = None
    """End of the PM window (None: now)."""

    @classmethod
    def of(cls, context: Mapping[str, Any]) -> ImpactParams:
        """The settings a context asks for; unusable values raise ValueError."""
        statistic = str(context.get("impact_statistic", "p95"))
        if statistic not in STATISTICS:
            raise ValueError(f"impact_statistic {statistic!r} is not one of {', '.join(STATISTICS)}")
        at = context.get("impact_at")
        if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
            raise ValueError("impact_at must be a datetime with a time zone")
        params = cls(
            threshold=float(context.get("impact_threshold", 0.8)),
            window=timedelta(hours=float(context.get("impact_window_hours", 4.0))),
            neighbours=int(context.get("impact_neighbours", 6)),
            statistic=statistic,
            at=at,
        )
        if params.window <= timedelta(0) or params.neighbours < 1:
            raise ValueError("impact_window_hours must be positive and impact_neighbours at least 1")
        return params


@dataclass(frozen=True, slots=True)
class CellImpact:
    """The predicted load of one cell after the change (utilisation 0..1, DL PRBs)."""

    dn: str
    own: float
    """Its own load (scaled by a bandwidth change) in the period the statistic picked, or its mean."""
    moved: float
    """The load the change moves onto it, at the same period (or its mean)."""
    predicted: float
    at: datetime | None
    """The period end the statistic picked (None for ``mean``)."""
    periods: int
    sources: tuple[str, ...]
    """The cells whose outage moves load onto it, sorted."""
    capacity_ratio: float = 1.0
    """Old / new bandwidth of the cell itself (1.0 when the change leaves it alone)."""


@dataclass(slots=True)
class Impact:
    """What a change set does to the load of the cells around the cells it touches."""

    params: ImpactParams
    outages: dict[str, str] = field(default_factory=dict)
    """NRCellDU taken out of service -> ``locked`` or ``deleted``."""
    cells: list[CellImpact] = field(default_factory=list)
    no_pm: dict[str, str] = field(default_factory=dict)
    """Cells the prediction needed PM of and found none -> why."""
    stranded: list[str] = field(default_factory=list)
    """Outaged cells with load and no neighbour left in service to take it."""


def utilisation(rows: Iterable[Measurement]) -> dict[datetime, float]:
    """DL PRB utilisation (0..1) by period end, from ``RRU.PrbTotDl`` or used / available PRBs."""
    by_end: dict[datetime, dict[str, float]] = defaultdict(dict)
    for m in rows:
        if m.value is not None and m.mtype in LOAD_TYPES:
            by_end[m.end][m.mtype] = m.value
    out: dict[datetime, float] = {}
    for end, values in by_end.items():
        if "RRU.PrbTotDl" in values:
            u = values["RRU.PrbTotDl"] / 100.0
        elif values.get("RRU.PrbAvailDl", 0.0) > 0 and "RRU.PrbUsedDl" in values:
            u = values["RRU.PrbUsedDl"] / values["RRU.PrbAvailDl"]
        else:
            continue
        out[end] = max(0.0, min(1.0, u))
    return out


def predict(scope: Scope) -> Impact:
    """The load the sandbox's outages (and bandwidth cuts) put on the neighbours; cached per run."""
    cache = scope.context.get(_CACHE) if isinstance(scope.context, MutableMapping) else None
    if cache is None and isinstance(scope.context, MutableMapping):
        cache = scope.context[_CACHE] = {}
    key = (id(scope.view), scope.dns)
    if cache is not None and key in cache and cache[key][0] is scope.view:
        return cache[key][1]  # type: ignore[no-any-return]
    impact = _Predictor(scope).run()
    if cache is not None:
        cache[key] = (scope.view, impact)
    return impact


class _Predictor:
    """One prediction: finds the outages, moves their load, sums up every receiving cell."""

    def __init__(self, scope: Scope) -> None:
        self.view = scope.view
        self.base: View | None = scope.context.get("base")
        self.pm: PmStore | None = scope.context.get("pm")
        self.dns = scope.dns
        self.params = ImpactParams.of(scope.context)
        self.impact = Impact(self.params)
        self._gnb_index: dict[Any, str | None] | None = None
        self._gnb_scanned = False
        self._positions: dict[str, tuple[float, float] | None] = {}
        self._loads: dict[str, dict[datetime, float]] = {}

    def run(self) -> Impact:
        if self.base is None or self.base is self.view:
            return self.impact  # nothing to compare: the view is its own base
        ratios: dict[str, float] = {}
        for dn in sorted(self._candidates()):
            self._classify(dn, ratios)
        if not self.impact.outages and not any(r > 1.0 for r in ratios.values()):
            return self.impact
        if self.pm is None:
            for dn in [*self.impact.outages, *(d for d, r in ratios.items() if r > 1.0)]:
                self.impact.no_pm[dn] = "no PM store was given to the verification"
            return self.impact
        moved: dict[str, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
        sources: dict[str, set[str]] = defaultdict(set)
        for src in self.impact.outages:
            self._move(src, moved, sources)
        targets = set(moved) | {d for d, r in ratios.items() if r > 1.0}
        for dn in sorted(targets):
            own = self._load(dn)
            if not own:
                self.impact.no_pm.setdefault(dn, "no PM in the window: its predicted load is unknown")
                continue
            ratio = ratios.get(dn) or self._ratio(dn)
            self.impact.cells.append(self._summarise(dn, own, moved.get(dn, {}), ratio, sources.get(dn, set())))
        return self.impact

    # -- what the change does ---------------------------------------------------------------

    def _candidates(self) -> Iterator[str]:
        """NRCellDU (of the base) that the change may have taken out of service or narrowed."""
        assert self.base is not None
        if self.dns is None:
            yield from (dn for dn, _ in self.base.of_class("NRCellDU"))
            return
        for dn in self.dns:
            got = self.base.get(dn)
            if got is None:
                continue
            if got[0] == "NRCellDU":
                yield dn
            elif got[0] in ("GNBDUFunction", "ManagedElement") and self.view.get(dn) is None:
                yield from _cells_below(self.base, dn)

    def _classify(self, dn: str, ratios: dict[str, float]) -> None:
        assert self.base is not None
        before = self.base.get(dn)
        if before is None or before[0] != "NRCellDU" or not _in_service(before[1]):
            return
        after = self.view.get(dn)
        if after is None:
            self.impact.outages[dn] = "deleted"
        elif not _in_service(after[1]):
            self.impact.outages[dn] = "locked"
        else:
            ratio = _capacity_ratio(before[1], after[1])
            if ratio != 1.0:
                ratios[dn] = ratio

    def _ratio(self, dn: str) -> float:
        assert self.base is not None
        before, after = self.base.get(dn), self.view.get(dn)
        return _capacity_ratio(before[1], after[1]) if before and after else 1.0

    def _move(self, src: str, moved: dict[str, dict[datetime, float]], sources: dict[str, set[str]]) -> None:
        """Spread one outaged cell's load over its nearest in-service neighbours."""
        assert self.base is not None
        load = self._load(src)
        if not load:
            self.impact.no_pm[src] = "no PM in the window: the load it sheds is unknown"
            return
        targets = [dn for dn in self._neighbours(src) if dn not in self.impact.outages and _serving(self.view.get(dn))]
        targets = self._nearest(src, targets)[: self.params.neighbours]
        if not targets:
            self.impact.stranded.append(src)
            return
        before = self.base.get(src)
        src_cap = _capacity(before[1]) if before else None
        caps = [_capacity(got[1]) if (got := self.view.get(t)) else None for t in targets]
        known = [c for c in (src_cap, *caps) if c is not None]
        fill = sum(known) / len(known) if known else 1.0
        factor = (src_cap or fill) / sum(c or fill for c in caps)
        for dn in targets:
            sources[dn].add(src)
            for end, u in load.items():
                moved[dn][end] += u * factor

    # -- the network around a cell ---------------------------------------------------------

    def _neighbours(self, du: str) -> list[str]:
        """The NRCellDU the source's NRCellRelations point at (through its NRCellCU), deduplicated."""
        assert self.base is not None
        got = self.base.get(du)
        me = _ancestor(du, 2)
        if got is None or me is None:
            return []
        lid = got[1].get("cellLocalId")
        out: dict[str, None] = {}
        for cu in _cells_of(self.base, me, "GNBCUCPFunction", "NRCellCU", lid):
            for _, cls, attrs in self.base.children(cu):
                ref = attrs.get("adjacentNRCellRef") if cls == "NRCellRelation" else None
                target = self._du_of(ref) if isinstance(ref, str) else None
                if target is not None and target != du:
                    out[target] = None
        return list(out)

    def _du_of(self, ref: str) -> str | None:
        """The NRCellDU a relation's target stands for, when the twin holds it."""
        got = self.view.get(ref) or (self.base.get(ref) if self.base else None)
        if got is None:
            return None
        cls, attrs = got
        lid = attrs.get("cellLocalId")
        if cls == "NRCellCU":
            me = _ancestor(ref, 2)
            return next(iter(_cells_of(self.view, me, "GNBDUFunction", "NRCellDU", lid)), None) if me else None
        if cls == "ExternalNRCellCU":
            fn = _ancestor(ref, 1)
            ext = self.view.get(fn) if fn else None
            du_fn = self._gnb_function(ext[1].get("gNBId")) if ext else None
            if du_fn is None:
                return None
            cells = self.view.children(du_fn)
            return next((dn for dn, c, a in cells if c == "NRCellDU" and a.get("cellLocalId") == lid), None)
        return None

    def _gnb_function(self, gnb_id: Any) -> str | None:
        """The GNBDUFunction with ``gnb_id``: an indexed lookup where the view offers one (the
        store's views do), else an index of every GNBDUFunction built once."""
        if not isinstance(gnb_id, int):
            return None
        if self._gnb_index is None:
            self._gnb_index = {}
        if gnb_id in self._gnb_index:
            return self._gnb_index[gnb_id]
        lookup = getattr(self.view, "functions_with_gnb_id", None)
        if lookup is not None:
            found = [dn for dn, cls, _ in lookup([gnb_id]) if cls == "GNBDUFunction"]
            self._gnb_index[gnb_id] = min(found) if found else None
            return self._gnb_index[gnb_id]
        if not self._gnb_scanned:
            self._gnb_scanned = True
            for dn, attrs in self.view.of_class("GNBDUFunction"):
                gnb = attrs.get("gNBId")
                if isinstance(gnb, int):
                    self._gnb_index.setdefault(gnb, dn)
        return self._gnb_index.get(gnb_id)

    def _nearest(self, src: str, cells: list[str]) -> list[str]:
        here = self._position(src)

        def rank(dn: str) -> tuple[float, str]:
            there = self._position(dn)
            if here is None or there is None:
                return (math.inf, dn)
            return (max(_MIN_SEPARATION_M, _distance_m(here, there)), dn)

        return sorted(cells, key=rank)

    def _position(self, du: str) -> tuple[float, float] | None:
        fn = _ancestor(du, 1)
        if fn is None:
            return None
        if fn not in self._positions:
            got = self.view.get(fn) or (self.base.get(fn) if self.base else None)
            self._positions[fn] = _site(got[1]) if got else None
        return self._positions[fn]

    # -- PM --------------------------------------------------------------------------------

    def _load(self, dn: str) -> dict[datetime, float]:
        if dn not in self._loads:
            assert self.pm is not None
            end = self.params.at or datetime.now(UTC)
            start = end - self.params.window + timedelta(microseconds=1)  # periods ending in (end - window, end]
            rows = self.pm.read(dn=dn, types=LOAD_TYPES, start=start, end=end)
            self._loads[dn] = utilisation(rows)
        return self._loads[dn]

    def _summarise(
        self, dn: str, own: dict[datetime, float], moved: Mapping[datetime, float], ratio: float, sources: set[str]
    ) -> CellImpact:
        points = sorted((end, u * ratio, moved.get(end, 0.0)) for end, u in own.items())
        n = len(points)
        if self.params.statistic == "mean":
            o = sum(p[1] for p in points) / n
            m = sum(p[2] for p in points) / n
            at = None
        else:
            ranked = sorted(points, key=lambda p: (p[1] + p[2], p[0]))
            rank = n if self.params.statistic == "max" else max(1, math.ceil(0.95 * n))
            at, o, m = ranked[rank - 1]
        return CellImpact(dn, o, m, o + m, at, n, tuple(sorted(sources)), ratio)


# -- attributes and DNs ---------------------------------------------------------------------


def _in_service(attrs: Mapping[str, Any]) -> bool:
    return attrs.get("administrativeState", "UNLOCKED") not in OUT_OF_SERVICE


def _serving(got: tuple[str, dict[str, Any]] | None) -> bool:
    return got is not None and _in_service(got[1]) and got[1].get("operationalState") != "DISABLED"


def _capacity(attrs: Mapping[str, Any]) -> float | None:
    bw = attrs.get("bSChannelBwDL")
    return float(bw) if isinstance(bw, int | float) and not isinstance(bw, bool) and bw > 0 else None


def _capacity_ratio(before: Mapping[str, Any], after: Mapping[str, Any]) -> float:
    old, new = _capacity(before), _capacity(after)
    return old / new if old and new else 1.0


def _site(attrs: Mapping[str, Any]) -> tuple[float, float] | None:
    entries = attrs.get("peeParametersList")
    for entry in entries if isinstance(entries, list) else ():
        lat, lon = (entry.get(k) if isinstance(entry, dict) else None for k in ("siteLatitude", "siteLongitude"))
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            return float(lat), float(lon)
    return None


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance: exact enough between sites a few km apart."""
    mean_lat = math.radians((a[0] + b[0]) / 2)
    dx = math.radians(b[1] - a[1]) * math.cos(mean_lat)
    dy = math.radians(b[0] - a[0])
    return 6_371_000.0 * math.hypot(dx, dy)


def _ancestor(dn: str, up: int) -> str | None:
    parsed: DN | None = DN.parse(dn)
    for _ in range(up):
        parsed = parsed.parent if parsed is not None else None
    return str(parsed) if parsed is not None else None


def _cells_of(view: View, me: str, fn_cls: str, cell_cls: str, lid: Any) -> list[str]:
    """The ``cell_cls`` objects with ``cellLocalId`` ``lid`` under the ``fn_cls`` functions of ``me``."""
    out = []
    for fn, cls, _ in view.children(me):
        if cls == fn_cls:
            out += [dn for dn, c, a in view.children(fn) if c == cell_cls and a.get("cellLocalId") == lid]
    return out


def _cells_below(view: View, dn: str) -> Iterator[str]:
    """The NRCellDU below a ManagedElement or a GNBDUFunction."""
    for child, cls, _ in view.children(dn):
        if cls == "NRCellDU":
            yield child
        elif cls == "GNBDUFunction":
            yield from _cells_below(view, child)


# -- the rules ------------------------------------------------------------------------------


_VERB: Final = {"locked": "locking", "deleted": "deleting"}


def _pct(u: float) -> str:
    return f"{100 * u:.0f}%"


def _short(dn: str) -> str:
    """The ManagedElement and cell RDNs, enough to name a cell in a message."""
    rdns = DN.parse(dn).rdns
    me = next((f"{c}={i}" for c, i in rdns if c == "ManagedElement"), None)
    return f"{me},{rdns[-1][0]}={rdns[-1][1]}" if me else dn


def check_overload(scope: Scope) -> Iterator[Finding]:
    """Warn at each cell the change would load above the threshold."""
    impact = predict(scope)
    threshold = impact.params.threshold
    for cell in impact.cells:
        if cell.predicted <= threshold or (cell.moved <= 0.0 and cell.capacity_ratio <= 1.0):
            continue
        causes = []
        if cell.sources:
            verbs = {_VERB[impact.outages[s]] for s in cell.sources}
            causes.append(f"{'/'.join(sorted(verbs))} {', '.join(_short(s) for s in cell.sources)}")
        if cell.capacity_ratio > 1.0:
            causes.append(f"its bandwidth cut to 1/{cell.capacity_ratio:.2g}")
        message = (
            f"{' and '.join(causes)} would raise its DL PRB utilisation to {_pct(cell.predicted)}"
            f" (own {_pct(cell.own)} + moved {_pct(cell.moved)}), above the {_pct(threshold)} threshold"
        )
        evidence: dict[str, Any] = {
            "threshold": threshold,
            "own": round(cell.own, 4),
            "moved": round(cell.moved, 4),
            "predicted": round(cell.predicted, 4),
            "statistic": impact.params.statistic,
            "at": rfc3339(cell.at) if cell.at else None,
            "periods": cell.periods,
            "windowHours": impact.params.window.total_seconds() / 3600,
            "sources": {s: impact.outages[s] for s in cell.sources},
        }
        if cell.capacity_ratio != 1.0:
            evidence["capacityRatio"] = round(cell.capacity_ratio, 4)
        yield Finding(OVERLOAD.name, OVERLOAD.severity, cell.dn, message, evidence, cell.sources)


def check_no_pm(scope: Scope) -> Iterator[Finding]:
    """Say where the impact of the change could not be predicted for lack of PM."""
    impact = predict(scope)
    for dn, why in sorted(impact.no_pm.items()):
        yield Finding(NO_PM.name, NO_PM.severity, dn, f"impact not predicted: {why}", {"reason": why})


_LOOKS_AT: Final = ("NRCellDU", "GNBDUFunction", "ManagedElement")

OVERLOAD: Final = Rule(
    name="impact-overload",
    family=FAMILY,
    description=(
        "Locking, deleting or narrowing a cell moves its recent DL PRB load onto its nearest in-service"
        " neighbours; a neighbour predicted above the threshold (default 80%) is overloaded"
    ),
    severity=Severity.WARNING,
    looks_at=_LOOKS_AT,
    check=check_overload,
)

NO_PM: Final = Rule(
    name="impact-no-pm",
    family=FAMILY,
    description="The impact of taking a cell out of service could not be predicted: no recent PM",
    severity=Severity.INFO,
    looks_at=_LOOKS_AT,
    check=check_no_pm,
)

RULES: Final[list[Rule]] = [OVERLOAD, NO_PM]

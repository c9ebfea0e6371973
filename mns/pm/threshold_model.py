"""``ThresholdMonitor`` objects (TS 28.622 / 28.623): their definitions, the checks at the write, and hysteresis.

A monitor names thresholds (``thresholdInfoList``: ``idx``, ``measurementTypes`` — the OpenAPI
dialect says ``performanceMetrics`` —, ``thresholdDirection``, ``thresholdValue``,
``hysteresis``), the granularity period whose measurements it compares
(``monitorGranularityPeriod``) and the objects it watches (``objectInstances``, and the
subtrees of ``rootObjectInstances``; with neither, the subtree of the object that contains it).

The class rule refuses at the write (400, nothing changed) a monitor the twin could not act on:
no threshold, a threshold with no metric, value or direction, a hysteresis where the YANG
forbids one (only ``UP_AND_DOWN`` thresholds may have one: ``must '. = "UP_AND_DOWN" or
not(../hysteresis)'``) or that is negative, and watched objects that do not exist.

Crossing rules, from the ``thresholdDirection`` and ``hysteresis`` descriptions of
``_3gpp-common-measurements.yang``: a threshold is *triggered* going up when the value reaches
or crosses ``high = thresholdValue + hysteresis``, going down when it reaches or crosses
``low = thresholdValue - hysteresis``. Without hysteresis high and low are the same value; the
value *at* the threshold then counts as reached in the direction that triggers (UP: ``>=``,
DOWN: ``<=``), and going back needs a value strictly past it, so a series that stays at the
threshold does not flap.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mns.errors import MnsError
from mns.nrm.class_rules import Exists, register
from mns.nrm.dn import DN, SEP, to_key
from mns.pm.model import is_measurement_type

THRESHOLD_MONITOR: Final = "ThresholdMonitor"
RULE: Final = "threshold-monitor"

Problem = tuple[str, str]


class Direction(enum.StrEnum):
    """TS 28.623 ``thresholdDirection``."""

    UP = "UP"
    DOWN = "DOWN"
    UP_AND_DOWN = "UP_AND_DOWN"


@dataclass(frozen=True, slots=True)
class Threshold:
    """One entry of ``thresholdInfoList``."""

    idx: int
    metrics: tuple[str, ...]
    direction: Direction
    value: float
    hysteresis: float | None

    @property
    def high(self) -> float:
        """The value that triggers going up (``thresholdValue + hysteresis``)."""
        return self.value + (self.hysteresis or 0.0)

    @property
    def low(self) -> float:
        """The value that triggers going down (``thresholdValue - hysteresis``)."""
        return self.value - (self.hysteresis or 0.0)

    @property
    def alarm_side(self) -> str:
        """The direction whose crossing raises the threshold alarm (UP_AND_DOWN: going up)."""
        return "DOWN" if self.direction is Direction.DOWN else "UP"


@dataclass(frozen=True, slots=True)
class Step:
    """What one value does to a threshold: the new state, and the crossing it makes (if any)."""

    crossed: bool
    direction: str | None = None
    """UP or DOWN when the value crossed the threshold (the alarm is raised or cleared)."""
    notify: bool = False
    """Whether the crossing is notified (it is in a direction the threshold triggers on)."""


def step(threshold: Threshold, crossed: bool, value: float) -> Step:
    """The effect of ``value`` on ``threshold`` whose alarm side is ``crossed`` (active) or not."""
    t = threshold
    strict_back = not t.hysteresis  # without a band, going back needs a value past the threshold
    if t.alarm_side == "UP":
        if not crossed and value >= t.high:
            return Step(True, "UP", notify=True)
        if crossed and (value < t.low if strict_back else value <= t.low):
            return Step(False, "DOWN", notify=t.direction is Direction.UP_AND_DOWN)
        return Step(crossed)
    if not crossed and value <= t.low:
        return Step(True, "DOWN", notify=True)
    if crossed and value > t.high:
        return Step(False, "UP", notify=False)
    return Step(crossed)


@dataclass(frozen=True, slots=True)
class Monitor:
    """A usable ``ThresholdMonitor``: what it compares and on which objects."""

    dn: str
    thresholds: tuple[Threshold, ...]
    period: int
    objects: frozenset[str]
    roots: tuple[str, ...]
    locked: bool

    @classmethod
    def keys_of(cls, dns: Sequence[str]) -> tuple[str, ...]:
        """Store keys of DNs (the form the subtree test compares)."""
        return tuple(to_key(d) for d in dns)

    def covers(self, key: str) -> bool:
        """Whether the object of store key ``key`` is watched (listed, or in a root's subtree)."""
        return key in self.objects or any(key == r or key.startswith(r + SEP) for r in self.roots)

    def threshold(self, idx: int) -> Threshold | None:
        """The threshold of ``idx``, or None."""
        return next((t for t in self.thresholds if t.idx == idx), None)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _metrics(item: Mapping[str, Any], where: str) -> tuple[tuple[str, ...], list[Problem]]:
    given = item.get("measurementTypes", item.get("performanceMetrics"))
    if given is None or given == []:
        return (), [(where, "names no metric: give measurementTypes (performanceMetrics) to compare")]
    if not isinstance(given, list) or not all(isinstance(m, str) and is_measurement_type(m) for m in given):
        return (), [(where, f"measurementTypes {given!r} is not a list of measurement type names")]
    return tuple(dict.fromkeys(given)), []


def _threshold(item: Any, position: int) -> tuple[Threshold | None, list[Problem]]:
    where = f"thresholdInfoList[{position}]"
    if not isinstance(item, Mapping):
        return None, [(where, f"{item!r} is not a threshold (idx, measurementTypes, thresholdDirection, ...)")]
    idx = item.get("idx", position)  # the OpenAPI form has no idx: the position keys it
    problems: list[Problem] = []
    if type(idx) is not int or idx < 0:
        problems.append((where, f"idx {idx!r} is not a non-negative integer"))
    metrics, more = _metrics(item, where)
    problems += more
    try:
        direction: Direction | None = Direction(str(item.get("thresholdDirection")))
    except ValueError:
        direction = None
        allowed = ", ".join(d.value for d in Direction)
        problems.append((where, f"thresholdDirection {item.get('thresholdDirection')!r} is not one of {allowed}"))
    value = item.get("thresholdValue")
    if not _number(value):
        problems.append((where, f"thresholdValue {value!r} is not a number"))
    hysteresis = item.get("hysteresis")
    if hysteresis is not None:
        if not _number(hysteresis) or hysteresis < 0:
            problems.append((where, f"hysteresis {hysteresis!r} is not a number >= 0"))
        elif direction is not None and direction is not Direction.UP_AND_DOWN:
            problems.append(
                (
                    where,
                    f"hysteresis {hysteresis!r} with thresholdDirection {direction.value}: a threshold with "
                    "hysteresis shall have thresholdDirection UP_AND_DOWN (TS 28.623)",
                )
            )
        elif isinstance(value, int | float) and not math.isfinite(float(value) + float(hysteresis)):
            problems.append((where, f"hysteresis {hysteresis!r} around thresholdValue {value!r} is out of range"))
    if problems or direction is None:
        return None, problems
    h = float(hysteresis) if hysteresis is not None else None
    return Threshold(int(idx), metrics, direction, float(value or 0), h), []


def _thresholds(value: Any) -> tuple[tuple[Threshold, ...], list[Problem]]:
    if not isinstance(value, list) or not value:
        return (), [("thresholdInfoList", "needs at least one threshold (idx, measurementTypes, ...)")]
    found: list[Threshold] = []
    problems: list[Problem] = []
    for position, item in enumerate(value):
        threshold, more = _threshold(item, position)
        problems += more
        if threshold is None:
            continue
        if any(t.idx == threshold.idx for t in found):
            problems.append((f"thresholdInfoList[{position}]", f"idx {threshold.idx} is used twice"))
        found.append(threshold)
    return tuple(found), problems


def _dns(attrs: Mapping[str, Any], name: str) -> tuple[tuple[str, ...], list[Problem]]:
    value = attrs.get(name)
    if value is None:
        return (), []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return (), [(name, f"{value!r} is not a list of DNs")]
    problems: list[Problem] = []
    for dn in value:
        try:
            DN.parse(dn)
        except MnsError as exc:
            problems.append((name, f"{dn!r} is not a DN ({exc.message})"))
    return tuple(value), problems


def parse_monitor(dn: str, attrs: Mapping[str, Any]) -> tuple[Monitor | None, list[Problem]]:
    """The monitor ``dn`` of ``attrs``, or None with the problems (attribute, message) that prevent it."""
    thresholds, problems = _thresholds(attrs.get("thresholdInfoList"))
    period = attrs.get("monitorGranularityPeriod")
    if type(period) is not int or period < 1:
        problems.append(("monitorGranularityPeriod", f"{period!r} is not a number of seconds >= 1"))
    objects, more = _dns(attrs, "objectInstances")
    problems += more
    roots, more = _dns(attrs, "rootObjectInstances")
    problems += more
    if problems:
        return None, problems
    if not objects and not roots:
        parent = DN.parse(dn).parent
        roots = (str(parent),) if parent is not None else ()
    locked = attrs.get("administrativeState", "UNLOCKED") != "UNLOCKED"
    assert type(period) is int
    monitor = Monitor(dn, thresholds, period, frozenset(Monitor.keys_of(objects)), Monitor.keys_of(roots), locked)
    return monitor, []


def _rule(dn: str, attrs: Mapping[str, Any], exists: Exists | None) -> list[Problem]:
    """The monitor's problems for ``class_rules``, with the watched objects that do not exist."""
    _, problems = parse_monitor(dn, attrs)
    if problems or exists is None:
        return problems
    for name in ("objectInstances", "rootObjectInstances"):
        for target in attrs.get(name) or ():
            if not exists(target):
                problems.append((name, f"{target} does not exist: a monitor watches existing objects"))
    return problems


register(THRESHOLD_MONITOR, RULE, _rule)

"""The NDT NRM in the runner's terms: a job's definition, its outcome, and the attributes they become.

Pure functions, no store: ``parse_job`` reads an ``NDTJob``'s attributes (``yang_models/
twin-mns-ndt.yang``) into a :class:`JobSpec`, and an :class:`Outcome` becomes the job's
``processMonitor`` (``monitor_attrs``) and its ``NDTReport`` child (``report_attrs``).

A job's ``processMonitor.status`` says where it stands: absent or NOT_STARTED (waiting), RUNNING,
then FINISHED when the twin ran it whatever the verdict, or FAILED when it could not (an
unsupported capability, a scenario without a readable change set, a run longer than
``maxRuntime``). The report's ``verdict`` says what the run found: PASSED, PASSED_WITH_WARNINGS,
FAILED (at least one error), or NOT_VERIFIED when nothing was verified.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

NDT_FUNCTION: Final = "NDTFunction"
NDT_JOB: Final = "NDTJob"
NDT_REPORT: Final = "NDTReport"
REPORT_ID: Final = "1"
"""Each job runs once, so it has one report: ``<job DN>,NDTReport=1``."""


class Capability(enum.StrEnum):
    """TS 28.561 NDT capabilities (``NDTCapability`` in the module)."""

    NETWORK_CONFIGURATIONS_VERIFICATION = "NETWORK_CONFIGURATIONS_VERIFICATION"
    AUTOMATION_CONFIGURATION_VERIFICATION = "AUTOMATION_CONFIGURATION_VERIFICATION"
    RISKY_ACTIONS_PREDICTION = "RISKY_ACTIONS_PREDICTION"
    EVENTS_IMPACTS_VERIFICATION = "EVENTS_IMPACTS_VERIFICATION"
    NETWORK_EVENTS_VERIFICATION = "NETWORK_EVENTS_VERIFICATION"
    NETWORK_ISSUE_INDUCEMENT = "NETWORK_ISSUE_INDUCEMENT"
    ML_TRAINING_DATA_GENERATION = "ML_TRAINING_DATA_GENERATION"
    USER_EXPERIENCE_DATA_GENERATION = "USER_EXPERIENCE_DATA_GENERATION"


SUPPORTED: Final = (Capability.NETWORK_CONFIGURATIONS_VERIFICATION, Capability.RISKY_ACTIONS_PREDICTION)
"""The capabilities this twin runs; an NDTFunction's ``supportedNDTCapabilities`` says so."""


class Status(enum.StrEnum):
    """TS 28.622 ``ProcessMonitor.status`` values the runner writes or reads."""

    NOT_STARTED = "NOT_STARTED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    PARTIALLY_FAILED = "PARTIALLY_FAILED"
    CANCELLED = "CANCELLED"


DONE: Final = frozenset({Status.FINISHED, Status.FAILED, Status.PARTIALLY_FAILED, Status.CANCELLED})
"""Statuses of a job that has run (or been given up): it is never run again."""


class Verdict(enum.StrEnum):
    """What a run found (``Verdict`` in the module, a twin-mns extension)."""

    PASSED = "PASSED"
    PASSED_WITH_WARNINGS = "PASSED_WITH_WARNINGS"
    FAILED = "FAILED"
    NOT_VERIFIED = "NOT_VERIFIED"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """An NDTJob as the runner needs it."""

    dn: str
    capability: str
    change_set: str | None
    change_set_base: str | None
    base_revision: int | None
    max_runtime: float | None


def parse_job(dn: str, attrs: Mapping[str, Any]) -> JobSpec:
    """The job's definition from its attributes (values the registry validated at its creation)."""
    scenario = attrs.get("scenario") or {}
    base = attrs.get("baseRevision")
    runtime = attrs.get("maxRuntime")
    return JobSpec(
        dn=dn,
        capability=str(attrs.get("ndtCapability", "")),
        change_set=scenario.get("changeSet") if isinstance(scenario, dict) else None,
        change_set_base=(scenario.get("changeSetBase") or None) if isinstance(scenario, dict) else None,
        base_revision=int(base) if isinstance(base, int) else None,
        max_runtime=float(runtime) if isinstance(runtime, int | float) else None,
    )


def status_of(attrs: Mapping[str, Any]) -> str:
    """The job's ``processMonitor.status`` (NOT_STARTED when it has none)."""
    monitor = attrs.get("processMonitor")
    if isinstance(monitor, dict) and isinstance(monitor.get("status"), str):
        return str(monitor["status"])
    return Status.NOT_STARTED


@dataclass(frozen=True, slots=True)
class Observation:
    """One finding as the report lists it (``observations`` in the module)."""

    rule: str
    severity: str
    """ERROR, WARNING or INFO."""
    dn: str
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    related: tuple[str, ...] = ()
    introduced: bool | None = None

    def as_attrs(self) -> dict[str, Any]:
        """The entry of the report's ``observations`` list."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity,
            "objectInstance": self.dn,
            "message": self.message,
            "evidence": orjson.dumps(self.evidence, option=orjson.OPT_SORT_KEYS, default=str).decode(),
        }
        if self.related:
            out["relatedObjects"] = list(self.related)
        if self.introduced is not None:
            out["introduced"] = self.introduced
        return out


_ORDER: Final = {"ERROR": 0, "WARNING": 1, "INFO": 2}


@dataclass(slots=True)
class Outcome:
    """What running a job gave: its final status and everything its report says."""

    capability: str
    status: Status
    verdict: Verdict
    info: str
    """The job's ``resultStateInfo``: the outcome, or why the job failed, in a sentence."""
    observations: list[Observation] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    objects: int = 0
    base_revision: int | None = None
    sandbox_revision: int | None = None
    sandbox_id: int | None = None
    configuration: list[dict[str, Any]] | None = None
    configuration_omitted: int = 0

    @property
    def errors(self) -> int:
        """Observations of severity ERROR."""
        return sum(1 for o in self.observations if o.severity == "ERROR")

    @property
    def warnings(self) -> int:
        """Observations of severity WARNING."""
        return sum(1 for o in self.observations if o.severity == "WARNING")


def failed(capability: str, info: str, *, rule: str, dn: str) -> Outcome:
    """The outcome of a job that could not run: FAILED, NOT_VERIFIED, the reason as one error."""
    return Outcome(
        capability, Status.FAILED, Verdict.NOT_VERIFIED, info, [Observation(rule, "ERROR", dn, info)], rules=[]
    )


def verdict_of(errors: int, warnings: int) -> Verdict:
    """PASSED, PASSED_WITH_WARNINGS or FAILED from the counts."""
    if errors:
        return Verdict.FAILED
    return Verdict.PASSED_WITH_WARNINGS if warnings else Verdict.PASSED


def rfc3339(when: datetime) -> str:
    """An aware datetime as RFC 3339 in UTC (``...Z``), as ``yang:date-and-time`` wants it."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def monitor_attrs(
    job_id: str, status: Status, *, start: datetime, end: datetime | None = None, info: str | None = None
) -> dict[str, Any]:
    """The job's ``processMonitor`` (TS 28.622 ProcessMonitor) for a status."""
    out: dict[str, Any] = {
        "id": job_id,
        "status": status.value,
        "progressPercentage": 100 if status in DONE else 0,
        "startTime": rfc3339(start),
    }
    if end is not None:
        out["endTime"] = rfc3339(end)
    if info and status in DONE:
        out["resultStateInfo"] = info
    elif info:
        out["progressStateInfo"] = [info]
    return out


def report_attrs(outcome: Outcome, *, now: datetime, seconds: float, max_observations: int) -> dict[str, Any]:
    """The ``NDTReport`` of an outcome; at most ``max_observations`` listed, errors first."""
    ordered = sorted(outcome.observations, key=lambda o: (_ORDER.get(o.severity, 3), o.rule, o.dn))
    listed = ordered[:max_observations]
    state: dict[str, Any] = {"objectsVerified": outcome.objects}
    for key, value in (
        ("baseRevision", outcome.base_revision),
        ("sandboxRevision", outcome.sandbox_revision),
        ("sandboxId", outcome.sandbox_id),
    ):
        if value is not None:
            state[key] = value
    out: dict[str, Any] = {
        "ndtCapability": outcome.capability,
        "verdict": outcome.verdict.value,
        "errorCount": outcome.errors,
        "warningCount": outcome.warnings,
        "networkState": state,
        "observations": [o.as_attrs() for o in listed],
        "observationsOmitted": len(ordered) - len(listed),
        "rules": sorted(outcome.rules),
        "reportTime": rfc3339(now),
        "durationSeconds": round(seconds, 3),
    }
    if outcome.configuration is not None:
        config: dict[str, Any] = {"changes": outcome.configuration}
        if outcome.configuration_omitted:
            config["omitted"] = outcome.configuration_omitted
        out["configuration"] = orjson.dumps(config, option=orjson.OPT_SORT_KEYS, default=str).decode()
    return out


def capability_names(values: Sequence[Capability]) -> list[str]:
    """The values as the module spells them."""
    return [v.value for v in values]

"""Checks of ``PerfMetricJob`` objects at the ProvMnS write, and parsing of their attributes.

The class registry checks types; this rule adds what the twin needs to run the job (TS 28.622
``PerfMetricJob``, YANG ``_3gpp-common-measurements``): at least one performance metric, each a
TS 28.552 name the twin knows (``mns.pm.catalog``, as for TS 28.550 measJobs), a granularity
period, a reporting method (the ``reportingCtrl`` choice: ``fileReportingPeriod`` in minutes, a
multiple of the granularity period, or ``streamTarget``), and measured objects
(``objectInstances``, ``rootObjectInstances``) that exist and lie in the job's scope, its
parent's subtree. "A PerfMetricJob creation request shall fail, when the requested performance
metrics, the requested granularity period, the requested reporting method ... is not
supported": so a file-reporting job with a granularity period the twin does not report, or with
a consumer-side ``fileLocation`` (the twin keeps its files and announces them with
notifyFileReady), is refused too. Streaming jobs' own needs are checked where they are served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mns.errors import MnsError
from mns.nrm.class_rules import Exists, register
from mns.nrm.dn import DN
from mns.pm.catalog import is_known
from mns.pm.model import is_measurement_type

PERF_METRIC_JOB: Final = "PerfMetricJob"
RULE: Final = "perf-metric-job"
GRANULARITY_PERIODS: Final = (60, 300, 900, 1800, 3600, 43200, 86400)
"""The granularity periods (s) the twin reports in files: TS 32.401's 5, 15, 30 and 60 minutes,
12 and 24 hours, and the one minute NR gNBs offer."""


@dataclass(frozen=True, slots=True)
class JobDefinition:
    """What the scheduler needs from a PerfMetricJob's attributes."""

    metrics: tuple[str, ...]
    granularity: int
    file_period: int | None
    """Seconds of a file's reporting period (``fileReportingPeriod`` is in minutes); None: not file-based."""
    object_instances: tuple[str, ...]
    root_instances: tuple[str, ...]
    job_id: str | None
    locked: bool


def _ctrl(attrs: Mapping[str, Any], name: str) -> Any:
    """A ``reportingCtrl`` member, flat (stage 2, as the store keeps it) or nested (OpenAPI)."""
    nested = attrs.get("reportingCtrl")
    if name not in attrs and isinstance(nested, Mapping):
        return nested.get(name)
    return attrs.get(name)


def _metrics(value: Any) -> tuple[tuple[str, ...], list[str]]:
    if value is None or value == []:
        return (), ["performanceMetrics: a job needs at least one performance metric (TS 28.552 name)"]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return (), [f"performanceMetrics: {value!r} is not a list of performance metric names"]
    bad = [v for v in value if not (is_measurement_type(v) and is_known(v))]
    if bad:
        names = ", ".join(bad)
        return (), [f"performanceMetrics: unknown measurement type or family: {names} (TS 28.552 names, or VS.*)"]
    return tuple(dict.fromkeys(value)), []


def _granularity(value: Any) -> tuple[int, list[str]]:
    if value is None:
        return 0, ["granularityPeriod: is required (seconds)"]
    if type(value) is not int or value <= 0:
        return 0, [f"granularityPeriod: {value!r} is not a positive number of seconds"]
    return value, []


def _reporting(attrs: Mapping[str, Any], granularity: int) -> tuple[int | None, list[str]]:
    """Seconds of the file reporting period (None for a streaming job) and the problems."""
    minutes, target, location = (_ctrl(attrs, k) for k in ("fileReportingPeriod", "streamTarget", "fileLocation"))
    if minutes is None and target is None:
        return None, ["fileReportingPeriod: a job needs fileReportingPeriod (files) or streamTarget (streaming)"]
    if minutes is not None and target is not None:
        return None, ["streamTarget: reportingCtrl is a choice: fileReportingPeriod or streamTarget, not both"]
    if minutes is None:
        return None, []
    problems = []
    if location is not None:
        problems.append(
            "fileLocation: files stored at the consumer are not supported; leave it out and the twin keeps"
            " the files and announces them with notifyFileReady"
        )
    if type(minutes) is not int or minutes <= 0:
        return None, [*problems, f"fileReportingPeriod: {minutes!r} is not a positive number of minutes"]
    if granularity and granularity not in GRANULARITY_PERIODS:
        allowed = ", ".join(str(p) for p in GRANULARITY_PERIODS)
        problems.append(f"granularityPeriod: the twin reports files of {allowed} s granularity, not {granularity}")
    elif granularity and (minutes * 60) % granularity:
        problems.append(
            f"fileReportingPeriod: {minutes} minutes is not a multiple of granularityPeriod {granularity} s"
        )
    return minutes * 60, problems


def _objects(name: str, value: Any, *, base: DN | None, exists: Exists | None) -> tuple[tuple[str, ...], list[str]]:
    """The measured objects of ``objectInstances`` / ``rootObjectInstances`` and their problems."""
    if value is None:
        return (), []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return (), [f"{name}: {value!r} is not a list of DNs"]
    out, problems = [], []
    for text in value:
        try:
            dn = DN.parse(text)
        except MnsError:
            problems.append(f"{name}: {text!r} is not a DN")
            continue
        if base is not None and dn != base and not dn.is_descendant_of(base):
            problems.append(f"{name}: {dn} is outside the job's scope ({base} and what is below it)")
        elif exists is not None and not exists(str(dn)):
            problems.append(f"{name}: {dn}: the twin holds no such object")
        out.append(str(dn))
    return tuple(dict.fromkeys(out)), problems


def parse_job(
    dn: str, attrs: Mapping[str, Any], exists: Exists | None = None
) -> tuple[JobDefinition | None, list[str]]:
    """The definition of the job ``dn``, or None with the problems ("attribute: message") that prevent it."""
    metrics, problems = _metrics(attrs.get("performanceMetrics"))
    granularity, more = _granularity(attrs.get("granularityPeriod"))
    problems += more
    file_period, more = _reporting(attrs, granularity)
    problems += more
    base = DN.parse(dn).parent
    objects, more = _objects("objectInstances", attrs.get("objectInstances"), base=base, exists=exists)
    problems += more
    roots, more = _objects("rootObjectInstances", attrs.get("rootObjectInstances"), base=base, exists=exists)
    problems += more
    job_id = attrs.get("jobId")
    if problems:
        return None, problems
    return JobDefinition(
        metrics=metrics,
        granularity=granularity,
        file_period=file_period,
        object_instances=objects,
        root_instances=roots,
        job_id=job_id if isinstance(job_id, str) and job_id else None,
        locked=attrs.get("administrativeState", "UNLOCKED") != "UNLOCKED",
    ), []


def _rule(dn: str, attrs: Mapping[str, Any], exists: Exists | None) -> list[tuple[str, str]]:
    """The job's problems as (attribute, message) for ``class_rules``."""
    return [(p.split(":", 1)[0], p.split(":", 1)[1].strip()) for p in parse_job(dn, attrs, exists)[1]]


# Jobs the mirror copies from a real network (writer "real") are not checked: they are kept as
# the network has them, and the scheduler runs only those it can parse.
register(PERF_METRIC_JOB, RULE, _rule)

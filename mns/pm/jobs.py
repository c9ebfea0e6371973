"""Measurement jobs (TS 28.550 ``PerfMeasJobCtrlMnS``): create, read and delete, validated first.

A job names a class (``iOCName``), objects of that class that exist in the twin
(``iOCInstanceList``, DNs), and measurement types or families (``measurementCategoryList``,
see ``mns.pm.catalog``). A request with an unknown object, an object of another class, an
unknown measurement type or malformed values is refused (400) and nothing is stored. A known
type that is not measured on the class is not an error: the job is created without it and it
is listed in ``unsupportedList`` (the spec's 202 partial success). A file-reporting job needs a
granularity period the twin reports (``mns.pm.job_rules.GRANULARITY_PERIODS``); such jobs write
their files on schedule (``mns.pm.scheduler``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from mns.errors import BadRequest, NotFound
from mns.nrm.dn import DN
from mns.pm.catalog import is_known, measured_on
from mns.pm.job_rules import GRANULARITY_PERIODS
from mns.pm.model import parse_time
from mns.pm.store import PmStore
from mns.store.api import Store

REPORTING_METHODS: Final = ("file", "streaming")
PRIORITIES: Final = ("low", "medium", "high")
FIELDS: Final = frozenset(
    {
        "iOCName",
        "iOCInstanceList",
        "measurementCategoryList",
        "reportingMethod",
        "granularityPeriod",
        "reportingPeriod",
        "startTime",
        "stopTime",
        "schedule",
        "streamTarget",
        "priority",
        "reliability",
    }
)
"""The members of ``measJobCreation-RequestType``."""


@dataclass(slots=True)
class JobCreated:
    """A created job: its id, and the (object, type) pairs left out as not measured there."""

    job_id: str
    unsupported: list[dict[str, str]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        """The ``measJobCreation-ResponseType`` body."""
        return {"unsupportedList": self.unsupported}


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"{name} must be a non-empty array of strings")
    return list(dict.fromkeys(value))


def _positive(body: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise BadRequest(f"{name} must be a positive number of seconds, not {value!r}")
    return value


def _check_options(body: dict[str, Any]) -> None:
    method = body.setdefault("reportingMethod", "file")
    if method not in REPORTING_METHODS:
        raise BadRequest(f"reportingMethod {method!r} is not one of {', '.join(REPORTING_METHODS)}")
    period = _positive(body, "granularityPeriod", required=True)
    assert period is not None
    if method == "file" and period not in GRANULARITY_PERIODS:
        allowed = ", ".join(str(p) for p in GRANULARITY_PERIODS)
        raise BadRequest(f"granularityPeriod: the twin reports files of {allowed} s granularity, not {period}")
    reporting = _positive(body, "reportingPeriod", required=False)
    if reporting is not None and reporting % period:
        raise BadRequest(f"reportingPeriod {reporting} is not a multiple of granularityPeriod {period}")
    if method == "streaming" and not isinstance(body.get("streamTarget"), str):
        raise BadRequest("a streaming job needs streamTarget")
    times = {k: parse_time(body[k], what=k) for k in ("startTime", "stopTime") if isinstance(body.get(k), str)}
    for k in ("startTime", "stopTime"):
        if k in body and k not in times:
            raise BadRequest(f"{k} must be an RFC 3339 time")
    if len(times) == 2 and times["stopTime"] <= times["startTime"]:
        raise BadRequest("stopTime is not after startTime")
    if "priority" in body and body["priority"] not in PRIORITIES:
        raise BadRequest(f"priority {body['priority']!r} is not one of {', '.join(PRIORITIES)}")
    if "schedule" in body and not isinstance(body["schedule"], dict):
        raise BadRequest("schedule must be an object")
    for k in ("reliability", "streamTarget"):
        if k in body and not isinstance(body[k], str):
            raise BadRequest(f"{k} must be a string")


def create_job(*, pm: PmStore, store: Store, body: Any, job_id: str | None = None) -> JobCreated:
    """Validate a ``measJobCreation-RequestType`` body against the twin and store the job."""
    if not isinstance(body, dict):
        raise BadRequest("a measurement job is a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise BadRequest(f"unknown members of a measurement job: {', '.join(unknown)}")
    body = dict(body)
    cls = body.get("iOCName")
    if not isinstance(cls, str) or not cls:
        raise BadRequest("iOCName (the class of the measured objects) is required")
    instances = _strings(body, "iOCInstanceList")
    categories = _strings(body, "measurementCategoryList")
    _check_options(body)
    dns = []
    for text in instances:
        dn = str(DN.parse(text))
        moi = store.get(dn)
        if moi is None:
            raise BadRequest(f"unknown object {dn}: the twin holds no such object")
        if moi.cls != cls:
            raise BadRequest(f"{dn} is a {moi.cls}, not a {cls} (iOCName)")
        dns.append(dn)
    bad = [c for c in categories if not is_known(c)]
    if bad:
        raise BadRequest(f"unknown measurement type or family: {', '.join(bad)} (TS 28.552 names, or VS.* for vendor)")
    supported = [c for c in categories if measured_on(c, cls)]
    if not supported:
        raise BadRequest(f"none of {', '.join(categories)} is measured on {cls}")
    unsupported = [
        {"iOCInstance": dn, "measurementTypeName": c, "reason": f"not measured on {cls}"}
        for c in categories
        if c not in supported
        for dn in dns
    ]
    job_id = job_id or uuid.uuid4().hex
    body.update(iOCInstanceList=dns, measurementCategoryList=supported)
    pm.add_job(job_id, body, created=time.time())
    return JobCreated(job_id, unsupported)


def job_info(body: dict[str, Any], *, href: str) -> dict[str, Any]:
    """A ``measJobInfo-ResourceType``."""
    return {"href": href, **body}


def read_jobs(*, pm: PmStore, job_ids: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """Jobs by id (all when None); an id that does not exist is NotFound."""
    jobs = pm.jobs(job_ids)
    missing = [i for i in job_ids or () if i not in jobs]
    if missing:
        raise NotFound(f"no measurement job {', '.join(missing)}")
    return jobs


def delete_job(*, pm: PmStore, job_id: str) -> None:
    """Delete a job; raises NotFound."""
    pm.delete_job(job_id)

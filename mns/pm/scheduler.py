"""Scheduled file reporting: every active PM job writes a PM file at the end of each reporting period.

The jobs are the live twin's ``PerfMetricJob`` objects with file reporting
(``fileReportingPeriod``) and the TS 28.550 measJobs with reporting method ``file``. Reporting
periods are aligned to the clock (a 15-minute job reports 00:00-00:15, 00:15-00:30, ... UTC).
Once a period has ended and the collection delay has passed (measurements reach the twin after
the period, as they reach a real OSS), the job's file holds the measurements the twin has, for
the job's objects and metrics, whose granularity period ended in the reporting period: TS 28.532
``measData`` by default, with the job's id in each ``measInfo``. The file, its ``pm_file`` row
and its ``pm_report`` row are one transaction; the report's sequence number is the file's
position in the ``files`` notification feed (``mns.pm.feed``).

A period is reported once: ``pm_report`` holds one row per (job, period end), written with the
file. After a restart the scheduler catches up the periods it missed, at most ``catch_up`` back
(24 h by default). A period in which the job held no measurement still gives a file, with a
header and a footer and no ``measData`` (both XSDs allow it): the period was covered and
nothing was measured, which a consumer should be able to tell from a file that never came. A
job whose file cannot be made (more measurements than one file may hold) reports
notifyFilePreparationError with the reason instead, once.

A PerfMetricJob reports a period when its current incarnation existed and was UNLOCKED from the
period's start to its end, with the definition it had at the start (TS 28.622: locking aborts
the ongoing period; other changes take effect at the next one). Those facts come from the
object's history, so a catch-up after a restart judges each past period by what the job was
then. A measJob reports from its creation (or ``startTime``) to its ``stopTime``; its
``schedule`` is not applied. The twin does not write the jobs' ``operationalState``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from mns.errors import MnsError
from mns.nrm.dn import DN, key_to_dn
from mns.pm.files import FILE_FORMAT_NAMES, MEAS_DATA, write_pm_file
from mns.pm.job_rules import PERF_METRIC_JOB, JobDefinition, parse_job
from mns.pm.model import Measurement, parse_time, rfc3339
from mns.pm.service import PERFORMANCE, RETENTION
from mns.pm.store import PmFile, PmReport, PmStore
from mns.store.api import LIVE, Scope
from mns.store.sql import SqlStore

log = logging.getLogger("mns.pm.scheduler")

FILE_READY: Final = "notifyFileReady"
PREPARATION_ERROR: Final = "notifyFilePreparationError"
MEAS_JOB: Final = "measJob"
"""The ``cls`` of a measJob's reports (TS 28.550 jobs are not NRM objects)."""
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9.=+,\-]")
_AFTER: Final = timedelta(milliseconds=1)
MAX_FILE_ROWS: Final = 500_000
"""Most measurements one file holds; a bigger period is a preparation error."""


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """How the scheduler reports."""

    poll_s: float = 5.0
    """How often it looks for ended periods."""
    delay: timedelta = timedelta(minutes=2)
    """How long after a period's end its file is made (measurements arrive after the period)."""
    catch_up: timedelta = timedelta(hours=24)
    """How far back a (re)started scheduler reports the periods it missed."""
    fmt: str = MEAS_DATA
    compress: bool = True
    retention: timedelta = RETENTION


@dataclass(frozen=True, slots=True)
class Plan:
    """What one job reports for a period: its objects, metrics and granularity."""

    metrics: tuple[str, ...]
    granularity: int
    period: int
    """Seconds of a reporting period (one file each)."""
    scopes: tuple[tuple[str, Scope], ...]
    job_id: str | None


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a job's life from ``start`` (to ``end``; None: still) with one plan (None: not reporting)."""

    start: datetime
    end: datetime | None
    plan: Plan | None


@dataclass(frozen=True, slots=True)
class Job:
    """A job as the scheduler runs it: its key, the object its notifications are about, and its life."""

    key: str
    dn: str
    cls: str
    sender: str
    """The object its files are sent from (``fileSender``) and named after."""
    label: str
    """What names its files beside the sender: unique among the sender's jobs (jobIds may be shared)."""
    segments: tuple[Segment, ...]


@dataclass(slots=True)
class _Cached:
    rev: int
    job: Job | None


# -- the jobs -----------------------------------------------------------------------------------


def plan_of(dn: str, definition: JobDefinition) -> Plan | None:
    """The plan of an unlocked file-reporting PerfMetricJob ``dn`` (None when it does not report files)."""
    if definition.locked or definition.file_period is None:
        return None
    scopes = [(o, Scope.BASE_ONLY) for o in definition.object_instances]
    scopes += [(r, Scope.BASE_SUBTREE) for r in definition.root_instances]
    if not scopes:
        parent = DN.parse(dn).parent
        scopes = [(str(parent), Scope.BASE_SUBTREE)] if parent is not None else []
    job_id = definition.job_id or DN.parse(dn).id
    return Plan(definition.metrics, definition.granularity, definition.file_period, tuple(scopes), job_id)


def perf_metric_job(*, store: SqlStore, dn: str) -> Job | None:
    """The PerfMetricJob ``dn`` with its life since its last creation, from its history."""
    history = store.history(dn)
    start = max((i + 1 for i, v in enumerate(history) if v.attrs is None), default=0)
    versions = history[start:]
    if not versions:
        return None
    segments: list[Segment] = []
    for i, v in enumerate(versions):
        assert v.attrs is not None  # a deletion ends an incarnation; this is the current one
        definition, _ = parse_job(dn, v.attrs)
        plan = plan_of(dn, definition) if definition is not None else None
        end = versions[i + 1].revision.time if i + 1 < len(versions) else None
        if segments and segments[-1].plan == plan:
            segments[-1] = Segment(segments[-1].start, end, plan)  # an edit that changes nothing here
        else:
            segments.append(Segment(v.revision.time, end, plan))
    parent = DN.parse(dn).parent
    return Job(dn, dn, PERF_METRIC_JOB, str(parent or dn), DN.parse(dn).id, tuple(segments))


def common_ancestor(dns: Sequence[str]) -> str:
    """The deepest object above or at all of ``dns`` (the first one's root when they share none)."""
    parsed = [DN.parse(d) for d in dns]
    rdns = parsed[0].rdns
    for other in parsed[1:]:
        n = 0
        while n < min(len(rdns), len(other.rdns)) and rdns[n] == other.rdns[n]:
            n += 1
        rdns = rdns[:n]
    return str(DN(rdns or parsed[0].rdns[:1]))


def meas_job(job_id: str, created: float, body: dict[str, Any]) -> Job | None:
    """A TS 28.550 measJob reporting files (None for a streaming job)."""
    if body.get("reportingMethod", "file") != "file":
        return None
    instances = [str(i) for i in body.get("iOCInstanceList", [])]
    granularity = int(body["granularityPeriod"])
    period = int(body.get("reportingPeriod") or granularity)
    plan = Plan(
        tuple(body.get("measurementCategoryList", [])),
        granularity,
        period,
        tuple((i, Scope.BASE_ONLY) for i in instances),
        job_id,
    )
    start = datetime.fromtimestamp(created, UTC)
    if isinstance(body.get("startTime"), str):
        start = max(start, parse_time(body["startTime"]).astimezone(UTC))
    stop = parse_time(body["stopTime"]).astimezone(UTC) if isinstance(body.get("stopTime"), str) else None
    dn = common_ancestor(instances) if instances else ""
    return Job(f"{MEAS_JOB}:{job_id}", dn, MEAS_JOB, dn, job_id, (Segment(start, stop, plan),))


def perf_metric_job_rows(store: SqlStore) -> list[tuple[str, int]]:
    """(DN, revision of the current version) of the live twin's PerfMetricJob objects."""
    sql = store._q("SELECT path, rev_from FROM moi WHERE branch = ? AND rev_to IS NULL AND cls = ? ORDER BY path")
    with store._read() as db:
        return [(key_to_dn(p), int(r)) for p, r in db.exec_driver_sql(sql, (LIVE, PERF_METRIC_JOB)).all()]


# -- the periods --------------------------------------------------------------------------------


def _epoch(when: datetime) -> int:
    return int(when.timestamp())


def due_periods(job: Job, *, after: datetime, upto: datetime) -> Iterator[tuple[datetime, datetime, Plan]]:
    """The (begin, end, plan) of the job's reporting periods ending in (after, upto], oldest first.

    A period is due when a segment with a plan held at its beginning and no segment without one
    overlaps it; the grid of periods is aligned to the clock.
    """
    lo, hi = _epoch(after), _epoch(upto)
    idle = [(_epoch(s.start), _epoch(s.end) if s.end is not None else None) for s in job.segments if s.plan is None]
    for seg in job.segments:
        if seg.plan is None:
            continue
        period = seg.plan.period
        seg_start, seg_end = _epoch(seg.start), (_epoch(seg.end) if seg.end is not None else None)
        begin = max(-(-seg_start // period), -(-(lo - period + 1) // period)) * period
        while (seg_end is None or begin < seg_end) and begin + period <= hi:
            end = begin + period
            if end > lo and not any(s < end and (e is None or e > begin) for s, e in idle):
                yield _utc(begin), _utc(end), seg.plan
            begin += period


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# -- the files ----------------------------------------------------------------------------------


def _stamp(when: datetime, *, date: bool = True) -> str:
    """TS 32.432 file name time: ``20241211.0934+0000`` (``0934+0000`` without the date)."""
    return when.astimezone(UTC).strftime("%Y%m%d.%H%M+0000" if date else "%H%M+0000")


def job_file_id(job: Job, begin: datetime, end: datetime, *, fmt: str, compress: bool) -> str:
    """A TS 32.432-like name: ``A<begin>-<end>_<sender>_-_<job>.xml[.gz]`` (URL-safe, unique per job and period)."""
    sender = _UNSAFE.sub("_", DN.parse(job.sender).uri.replace("/", ",")) if job.sender else "-"
    label = _UNSAFE.sub("_", job.label)
    same_day = begin.astimezone(UTC).date() == (end - timedelta(seconds=1)).astimezone(UTC).date()
    kind = "" if fmt == MEAS_DATA else "_32435"
    name = f"A{_stamp(begin)}-{_stamp(end, date=not same_day)}_{sender}_-_{label}{kind}.xml"
    return name + (".gz" if compress else "")


def measurements(pm: PmStore, plan: Plan, begin: datetime, end: datetime, *, limit: int) -> list[Measurement]:
    """The measurements of the plan's objects and metrics whose granularity period ended in (begin, end]."""
    seen: dict[tuple[str, str, datetime], Measurement] = {}
    for dn, scope in plan.scopes:
        rows = pm.read(
            dn=dn,
            scope=scope,
            types=list(plan.metrics),
            subcounters=True,
            period=plan.granularity,
            start=begin + _AFTER,  # (begin, end]: a row ending at begin belongs to the previous file
            end=end,
            limit=limit + 1,
        )
        for m in rows:
            if m.end > begin:
                seen.setdefault((m.dn, m.mtype, m.end), m)
        if len(seen) > limit:
            break
    return list(seen.values())


def make_report(
    *, pm: PmStore, job: Job, plan: Plan, begin: datetime, end: datetime, now: datetime, settings: ReportSettings
) -> tuple[PmReport, bytes | None]:
    """The report of one period (not yet stored): the file and its notifyFileReady, or the error."""
    what = f"{job.cls} {job.dn if job.cls == PERF_METRIC_JOB else plan.job_id}"
    window = f"{rfc3339(begin)} to {rfc3339(end)}"
    base = PmReport(job.key, begin, end, FILE_READY, job.dn, job.cls, now, "", plan.job_id)
    try:
        rows = measurements(pm, plan, begin, end, limit=MAX_FILE_ROWS)
        if len(rows) > MAX_FILE_ROWS:
            raise MnsError(f"the period holds more than {MAX_FILE_ROWS} measurements, more than one file holds")
        content = write_pm_file(
            sorted(rows, key=lambda m: (m.dn, m.mtype, m.end)),
            begin=begin,
            end=end,
            fmt=settings.fmt,
            sender=job.sender or None,
            job_id=plan.job_id,
            compress=settings.compress,
        )
    except MnsError as exc:
        text = f"{what}: no file for {window}: {exc.message}"
        return PmReport(**{**_fields(base), "ntype": PREPARATION_ERROR, "text": text}), None
    meta = PmFile(
        id=job_file_id(job, begin, end, fmt=settings.fmt, compress=settings.compress),
        data_type=PERFORMANCE,
        ready_time=now,
        expiration_time=now + settings.retention,
        begin_time=begin,
        end_time=end,
        period=plan.granularity,
        file_format=FILE_FORMAT_NAMES[settings.fmt],
        compression="gzip" if settings.compress else None,
        size=len(content),
    )
    objects = len({m.dn for m in rows})
    held = f"{len(rows)} measurements of {objects} objects" if rows else "no measurements (the twin held none)"
    text = f"{what}: {held} for {window}, granularity {plan.granularity} s"
    return PmReport(**{**_fields(base), "text": text, "file": meta}), content


def _fields(report: PmReport) -> dict[str, Any]:
    return {name: getattr(report, name) for name in PmReport.__dataclass_fields__}


# -- the service --------------------------------------------------------------------------------


@dataclass(eq=False)
class ReportScheduler:
    """The background service that makes the jobs' files; ``run_once`` is one pass (tests call it).

    ``clock`` gives the current time (tests drive it); ``on_report`` is called after each pass
    that stored reports (the app wakes the event notifier with it).
    """

    store: SqlStore
    pm: PmStore
    settings: ReportSettings = field(default_factory=ReportSettings)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    on_report: Callable[[], None] | None = None
    on_start: Callable[[], None] | None = None
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _cache: dict[str, _Cached] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def jobs(self) -> list[Job]:
        """The jobs that report files: PerfMetricJob objects (from their history) and measJobs."""
        out: list[Job] = []
        rows = perf_metric_job_rows(self.store)
        current = {dn for dn, _ in rows}
        for dn in [d for d in self._cache if d not in current]:
            del self._cache[dn]
        for dn, rev in rows:
            cached = self._cache.get(dn)
            if cached is None or cached.rev != rev:
                cached = self._cache[dn] = _Cached(rev, perf_metric_job(store=self.store, dn=dn))
            if cached.job is not None:
                out.append(cached.job)
        for job_id, (created, body) in self.pm.job_records().items():
            job = meas_job(job_id, created, body)
            if job is not None:
                out.append(job)
        return out

    def run_once(self) -> list[PmReport]:
        """Report every period that has ended (and waited ``delay``) and was not reported; returns the reports."""
        with self._lock:
            now = self.clock()
            upto = now - self.settings.delay
            floor = now - self.settings.catch_up
            done = self.pm.last_reported()
            stored: list[PmReport] = []
            for job in self.jobs():
                try:
                    self._report(job, after=max(floor, done.get(job.key, floor)), upto=upto, now=now, out=stored)
                except Exception:  # one job's trouble (say, a file id taken) must not stop the others
                    log.exception("PM job %s could not report; it is retried at the next pass", job.key)
        if stored and self.on_report is not None:
            self.on_report()
        return stored

    def _report(self, job: Job, *, after: datetime, upto: datetime, now: datetime, out: list[PmReport]) -> None:
        for begin, end, plan in due_periods(job, after=after, upto=upto):
            if self._stop.is_set():
                return
            report, content = make_report(
                pm=self.pm, job=job, plan=plan, begin=begin, end=end, now=now, settings=self.settings
            )
            saved = self.pm.add_report(report, content)
            if saved is not None:
                out.append(saved)

    def start(self) -> None:
        """Run passes every ``poll_s`` on a thread of its own (the first at once)."""
        if self.on_start is not None:
            self.on_start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mns-pm-reporting", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the report in progress (every stored report is already persisted)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("PM file reporting failed; retrying in %s s", self.settings.poll_s)
            self._stop.wait(self.settings.poll_s)

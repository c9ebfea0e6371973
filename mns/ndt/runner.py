"""The NDT job runner: runs each NDTJob created on the live twin once, on a sandbox, and reports.

A background service (``start``/``stop``; ``run_once`` is one pass, which tests call). Each pass
looks at the live revisions after its cursor (``mns.ndt.cursor``) that touched NDTFunction or
NDTJob objects (``SqlStore.revisions_touching``), then at those objects as they are now:

- an NDTFunction whose ``supportedNDTCapabilities`` differs from what this twin runs is given
  that list (the producer states its capabilities; the attribute is read-only to consumers);
- an NDTJob that has not run (its ``processMonitor.status`` absent, NOT_STARTED, or RUNNING
  left by a runner that stopped) is run: its ``processMonitor`` goes to RUNNING in one revision,
  then the final status and the ``NDTReport=1`` child go in one more. Both are guarded by the
  job's ETag: a job a consumer changed or deleted meanwhile is not overwritten (a changed one is
  seen, and run, at the next pass).

Running a job (``execute``):

- NETWORK_CONFIGURATIONS_VERIFICATION: a sandbox is made from the live twin (at the job's
  ``baseRevision``, or now), the scenario's change set is applied to it as one revision
  (``mns.services.sandbox.apply_change_set``: the sandbox upload forms), and the sandbox is
  verified (``mns.verify.engine.verify_sandbox``) with every rule;
- RISKY_ACTIONS_PREDICTION: the same with the impact prediction rules only
  (``mns.verify.impact.RULES``);
- any other capability fails the job with a report saying this twin does not support it.

A change set the twin refuses (an item naming a missing object, a value out of range...) is a
finding about the configuration: the job FINISHES with verdict FAILED and the refusal as its
error. A scenario without a change set, or one that is not JSON, fails the job (NOT_VERIFIED).
The sandbox is kept (its id is in the report) so that it can be inspected, or deployed once the
report is clean; ``keep_sandboxes=False`` drops it after the run.

Revisions are written with source ``ndt``, a producer source: the runner may set the read-only
``processMonitor`` and report attributes a consumer may not. Notifications follow from those
revisions as from any other (notifyMOIAttributeValueChanges of the job, notifyMOICreation of
its report). NDTJobs inside sandboxes are not run.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from mns.errors import MnsError
from mns.ndt import model
from mns.ndt.cursor import CursorStore
from mns.ndt.model import (
    NDT_FUNCTION,
    NDT_JOB,
    NDT_REPORT,
    REPORT_ID,
    SUPPORTED,
    Capability,
    JobSpec,
    Observation,
    Outcome,
    Status,
)
from mns.nrm.dn import DN
from mns.services.sandbox import apply_change_set
from mns.store.api import LIVE, ChangeKind, Put, Update
from mns.store.sql import SqlStore
from mns.verify.model import Finding, Report, Rule

log = logging.getLogger("mns.ndt.runner")

SOURCE: Final = "ndt"
AUTHOR: Final = "ndt-runner"
MAX_CONFIGURATION_CHANGES: Final = 200
"""Changes of the change set the report's ``configuration`` lists (the rest are counted)."""


Verifier = Callable[[SqlStore, int, Sequence[Rule] | None], Report]
"""Verifies a sandbox (store, sandbox id) against its base with some rules (None: all of them)."""


def engine_verify(store: SqlStore, branch_id: int, rules: Sequence[Rule] | None) -> Report:
    """``mns.verify.engine.verify_sandbox``, looked up when first needed."""
    engine = importlib.import_module("mns.verify.engine")
    report: Report = engine.verify_sandbox(store, branch_id, rules=list(rules) if rules is not None else None)
    return report


def impact_rules() -> list[Rule]:
    """The impact prediction rules (``mns.verify.impact.RULES``)."""
    rules: list[Rule] = list(importlib.import_module("mns.verify.impact").RULES)
    return rules


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """How the runner works."""

    poll_s: float = 1.0
    """How often it looks for new jobs."""
    max_observations: int = 500
    """Findings a report lists (all are counted)."""
    keep_sandboxes: bool = True
    """Keep each job's sandbox after the run (for inspection and deployment)."""


@dataclass(frozen=True, slots=True)
class JobRun:
    """What a pass did with one job."""

    dn: str
    outcome: Outcome
    report_dn: str | None
    """The report written (None when the job changed under the run and nothing was written)."""


@dataclass(eq=False)
class NdtRunner:
    """The background service that runs NDT jobs; ``run_once`` is one pass.

    ``verify`` verifies a sandbox (tests may give their own); ``clock`` gives the time written
    into the job and the report, and the run's duration; ``on_commit`` is called after each
    revision the runner writes (the app wakes the CM notifier with it).
    """

    store: SqlStore
    settings: RunnerSettings = field(default_factory=RunnerSettings)
    verify: Verifier = engine_verify
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    on_commit: Callable[[], None] | None = None
    _cursor: CursorStore = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _passed: int = field(default=0, init=False)
    """Revisions looked through that held no NDT object: kept in memory, saved only beside a
    job's outcome (a restart looks through them again: cheap, and changes nothing)."""

    def __post_init__(self) -> None:
        self._cursor = CursorStore(self.store.engine)

    # -- one pass ---------------------------------------------------------------------------

    def run_once(self) -> list[JobRun]:
        """Deal with the NDT objects changed since the last pass; returns the jobs run."""
        with self._lock:
            after = max(self._cursor.load(), self._passed)
            upto = self.store.head(LIVE)
            if upto <= after:
                return []
            runs: list[JobRun] = []
            if not self.store.revisions_touching([NDT_FUNCTION, NDT_JOB], after=after, upto=upto):
                self._passed = upto  # nothing to write: no write transaction on every pass
                return runs
            functions, jobs = self._changed(after, upto)
            self._state_capabilities(functions)
            for dn in jobs:
                if self._stop.is_set():
                    return runs  # the cursor stays: the rest are run after the restart
                run = self._run_job(dn)
                if run is not None:
                    runs.append(run)
            self._cursor.save(upto)
            self._passed = upto
            return runs

    def _changed(self, after: int, upto: int) -> tuple[list[str], list[str]]:
        """(NDTFunction DNs, NDTJob DNs) created or changed in (after, upto], parents first."""
        functions: list[str] = []
        jobs: list[str] = []
        for change in self.store.diff(after, upto, classes=[NDT_FUNCTION, NDT_JOB]):
            if change.kind is ChangeKind.DELETED:
                continue
            (functions if change.cls == NDT_FUNCTION else jobs).append(change.dn)
        return functions, jobs

    def _state_capabilities(self, functions: Sequence[str]) -> None:
        """Give every NDTFunction the capabilities this twin runs, in one revision."""
        wanted = model.capability_names(SUPPORTED)
        ops = []
        for dn in functions:
            moi = self.store.get(dn)
            if moi is not None and moi.attrs.get("supportedNDTCapabilities") != wanted:
                ops.append(Update(dn, {"supportedNDTCapabilities": wanted}, if_match=moi.etag))
        if ops:
            self._commit(ops, "NDTFunction: supported capabilities", quiet=True)

    def _run_job(self, dn: str) -> JobRun | None:
        moi = self.store.get(dn)
        if moi is None or model.status_of(moi.attrs) in model.DONE:
            return None
        job_id = DN.parse(dn).id
        spec = model.parse_job(dn, moi.attrs)
        start = self.clock()
        running = model.monitor_attrs(job_id, Status.RUNNING, start=start, info="verifying on a sandbox")
        rev = self._commit([Update(dn, {"processMonitor": running}, if_match=moi.etag)], f"NDTJob {dn}: running")
        if rev is None:
            return None  # changed or deleted since it was read: the next pass sees it again
        try:
            outcome = self.execute(spec)
        except Exception as exc:  # a job must end, whatever went wrong inside it
            log.exception("NDT job %s failed", dn)
            outcome = model.failed(spec.capability, f"internal error: {exc}", rule="ndt-internal", dn=dn)
        end = self.clock()
        seconds = max((end - start).total_seconds(), 0.0)
        if spec.max_runtime is not None and seconds > spec.max_runtime and outcome.status is Status.FINISHED:
            outcome.status = Status.FAILED
            outcome.info = f"ran {seconds:.3f} s, longer than maxRuntime {spec.max_runtime:g} s; {outcome.info}"
        final = model.monitor_attrs(job_id, outcome.status, start=start, end=end, info=outcome.info)
        report = model.report_attrs(outcome, now=end, seconds=seconds, max_observations=self.settings.max_observations)
        report_dn = f"{dn},{NDT_REPORT}={REPORT_ID}"
        ops = [Update(dn, {"processMonitor": final}, if_match=str(rev)), Put(report_dn, report)]
        if self._commit(ops, f"NDTJob {dn}: {outcome.status.value}, verdict {outcome.verdict.value}") is None:
            return JobRun(dn, outcome, None)
        return JobRun(dn, outcome, report_dn)

    def _commit(self, ops: list[Any], message: str, *, quiet: bool = False) -> int | None:
        """Commit as the runner; the revision, or None when a guard failed (the object moved on)."""
        try:
            result = self.store.commit(ops, source=SOURCE, author=AUTHOR, message=message)
        except MnsError as exc:
            if not quiet:
                log.info("NDT runner: %s not written: %s", message, exc.message)
            return None
        if result.rev is not None and self.on_commit is not None:
            self.on_commit()
        return result.rev

    # -- one job ----------------------------------------------------------------------------

    def execute(self, spec: JobSpec) -> Outcome:
        """Run one job (no writes to the job itself): its outcome."""
        try:
            capability = Capability(spec.capability)
        except ValueError:
            capability = None
        if capability not in SUPPORTED:
            supported = ", ".join(model.capability_names(SUPPORTED))
            info = f"capability {spec.capability} is not supported by this twin (it supports {supported})"
            return model.failed(spec.capability, info, rule="ndt-capability", dn=spec.dn)
        if not spec.change_set:
            info = "the scenario has no changeSet: nothing to verify"
            return model.failed(spec.capability, info, rule="ndt-scenario", dn=spec.dn)
        try:
            body = orjson.loads(spec.change_set)
        except orjson.JSONDecodeError as exc:
            info = f"the scenario's changeSet is not JSON: {exc}"
            return model.failed(spec.capability, info, rule="ndt-scenario", dn=spec.dn)
        try:
            sandbox = self.store.create_branch(name=f"ndt {spec.dn}", base=spec.base_revision, author=AUTHOR)
        except MnsError as exc:
            info = f"no sandbox at baseRevision {spec.base_revision}: {exc.message}"
            return model.failed(spec.capability, info, rule="ndt-base", dn=spec.dn)
        try:
            return self._verify(spec, capability, sandbox.id, sandbox.base_rev, body)
        finally:
            if not self.settings.keep_sandboxes:
                self.store.drop_branch(sandbox.id)

    def _verify(self, spec: JobSpec, capability: Capability, sandbox: int, base_rev: int, body: Any) -> Outcome:
        outcome = Outcome(spec.capability, Status.FINISHED, model.Verdict.PASSED, "", base_revision=base_rev)
        outcome.sandbox_id = sandbox
        try:
            apply_change_set(
                store=self.store,
                sandbox=sandbox,
                body=body,
                base=spec.change_set_base,
                author=AUTHOR,
                message=f"scenario of {spec.dn}",
            )
        except MnsError as exc:
            # The twin refused the configuration itself: that is what the job found.
            outcome.verdict = model.Verdict.FAILED
            outcome.info = f"the change set cannot be applied: {exc.message}"
            outcome.observations = [Observation(exc.rule, "ERROR", exc.dn or spec.dn, exc.message)]
            outcome.sandbox_revision = self.store.head(sandbox)
            return outcome
        changes = self.store.change_set(sandbox)
        outcome.sandbox_revision = self.store.head(sandbox)
        outcome.configuration = [c.as_dict() for c in changes[:MAX_CONFIGURATION_CHANGES]]
        outcome.configuration_omitted = max(len(changes) - MAX_CONFIGURATION_CHANGES, 0)
        rules = impact_rules() if capability is Capability.RISKY_ACTIONS_PREDICTION else None
        report = self.verify(self.store, sandbox, rules)
        introduced = {f.key for f in report.introduced}
        outcome.observations = [_observation(f, f.key in introduced) for f in report.findings]
        outcome.rules = list(report.rules)
        outcome.objects = report.objects
        outcome.verdict = model.verdict_of(len(report.errors), len(report.warnings))
        what = "impact prediction" if rules is not None else "verification"
        outcome.info = (
            f"{what} of {len(changes)} change(s) on sandbox {sandbox}: {outcome.verdict.value}, "
            f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
        )
        return outcome

    # -- the service ------------------------------------------------------------------------

    def start(self) -> None:
        """Run passes every ``poll_s`` on a thread of its own (the first at once)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mns-ndt", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the job in progress (every finished job is already written)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.run_once()
            except Exception:
                log.exception("NDT runner pass failed; retrying in %s s", self.settings.poll_s)
            self._stop.wait(max(self.settings.poll_s - (time.monotonic() - began), 0.0))


def _observation(finding: Finding, introduced: bool) -> Observation:
    return Observation(
        rule=finding.rule,
        severity=finding.severity.value.upper(),
        dn=finding.dn,
        message=finding.message,
        evidence=dict(finding.evidence),
        related=tuple(finding.related),
        introduced=introduced,
    )


def install(app: Any, services: list[Any], *, settings: RunnerSettings | None = None) -> NdtRunner | None:
    """Add the runner to ``app``'s background services (a SQL store only); it is ``app.state.ndt``."""
    store = app.state.store
    if not isinstance(store, SqlStore):
        app.state.ndt = None
        return None

    def wake() -> None:
        notifier = getattr(app.state, "notifier", None)
        if notifier is not None:
            notifier.wake()

    runner = NdtRunner(store=store, settings=settings or RunnerSettings(), on_commit=wake)
    app.state.ndt = runner
    services.append(runner)
    return runner

"""Write-back: deploy a change set to the real network, confirm it, and undo it on a failure.

::

    with writeback_client("http://ems.example:9000", author="planner") as client:
        outcome = deploy(store.change_set(sandbox.id), client=client, store=store)
        outcome.status   # "applied", "rolled-back" or "failed" (then outcome.differences)

The producer is any TS 28.532 ProvMnS, reached with :class:`MnsClient`, speaking the stage-2
names or (``dialect="openapi"``) the Rel-18 OpenAPI spellings: DNs, classes and attributes are
translated on the way out and read-backs on the way in (:class:`mns.sim.dialect_edge.Edge`).

1. **Order**: :func:`mns.consumer.writeback_plan.plan` (parents before children on create,
   children before parents on delete, references after their targets, cycles broken).
2. **Each step**: a create is a PUT of the new attributes, a modification a merge patch of the
   changed ones (null for removed ones), a delete a DELETE. A step is confirmed by a 2xx answer
   and then a read-back (GET BASE_ONLY) showing the attributes it set (or the object gone).
   Before deleting an object the step checks that it has no children the change set does not
   delete first: the producer deletes whole subtrees, and those could not be restored.
3. **Retries**: on no answer (timeout, broken connection), 429, 502, 503 or 504 the step reads
   back first; if the write took effect it is confirmed, otherwise it is sent again, with
   exponential backoff (tenacity), at most ``Policy.attempts`` times. A 500 or a 4xx fails the
   step at once. The client must not retry by itself (``writeback_client`` makes one that does
   not; ``deploy`` refuses one that would), or a 500 would be sent again behind our back.
4. **Rollback** on a failed step: the inverses of the applied steps in reverse order (delete
   what was created, PUT back what was deleted, merge-patch modified attributes back), each
   confirmed the same way. The failed step is undone too when its state is unknown (no answer,
   or a read-back that disagrees with a 2xx). An inverse runs only when the inverses of the
   steps that needed its step all succeeded (a target is not deleted while a reference to it
   could not be taken back); the others are still tried. If any inverse fails, every object the
   change set touched is read back and compared with its state before the deployment (the
   change set's ``before``, writable attributes): ``differences`` lists exactly those that differ.
5. **Record**: with a ``store`` the outcome is kept in the twin's database
   (:mod:`mns.store.deployments`), marked ``running`` while it runs. With ``update_twin`` a
   successful deployment also commits the read-back states to the live twin (source ``real``,
   one revision, none when identical). It is off by default: a mirror of the network brings the
   same states through its notifications.

Notifications of the producer are not awaited: the read-back confirms each step.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import tenacity

from mns.consumer.client import MnsClient, Retry
from mns.consumer.errors import (
    InvalidResponseError,
    MnsClientError,
    NotFoundError,
    ProducerError,
    TransportError,
)
from mns.consumer.writeback_plan import CREATE, DELETE, MODIFY, Action, Step, Writable, merge_diff, plan, same
from mns.errors import MnsError
from mns.nrm.dn import DN
from mns.nrm.registry import Registry
from mns.store.api import Change, CommitJob, Delete, Op, Put, Store, TxnView
from mns.store.sql import SqlStore

DIALECTS: Final = ("stage2", "openapi")
TRANSIENT: Final = frozenset({429, 502, 503, 504})

OnStep = Callable[[Step, "Outcome"], None]


@dataclass(frozen=True, slots=True)
class Policy:
    """How often a step is sent before it fails, and the backoff between attempts (seconds)."""

    attempts: int = 4
    backoff: float = 0.5
    backoff_max: float = 8.0


@dataclass(slots=True)
class Difference:
    """An object that differs from its state before the deployment."""

    dn: str
    expected: dict[str, Any] | str
    actual: dict[str, Any] | str
    """The attributes read back, ``absent`` or ``unreadable``."""

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"dn": self.dn, "expected": self.expected, "actual": self.actual}


@dataclass(slots=True)
class Outcome:
    """What a deployment did: its steps, the step that failed and what is left different."""

    id: str
    steps: list[Step]
    producer: str
    dialect: str
    author: str = ""
    message: str = ""
    status: str = "running"
    failed_step: int | None = None
    differences: list[Difference] = field(default_factory=list)
    revision: int | None = None
    """The live twin's revision that took the confirmed states (``update_twin``)."""
    twin_error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form (also what the store records)."""
        return {
            "id": self.id,
            "status": self.status,
            "producer": self.producer,
            "dialect": self.dialect,
            "author": self.author,
            "message": self.message,
            "started": _iso(self.started),
            "finished": _iso(self.finished) if self.finished is not None else None,
            "failedStep": self.failed_step,
            "steps": [s.as_json() for s in self.steps],
            "differences": [d.as_json() for d in self.differences],
            "twinRevision": self.revision,
            "twinError": self.twin_error,
        }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


class StepFailed(Exception):
    """A step failed; ``uncertain`` when the producer may have applied it."""

    def __init__(self, message: str, *, uncertain: bool = False) -> None:
        super().__init__(message)
        self.uncertain = uncertain
        self.attempts = 0


class _Unsure(Exception):
    """No clear answer: read back and maybe send again."""


def writeback_client(base_url: str, **options: Any) -> MnsClient:
    """An MnsClient that sends each request once (the write-back decides what to send again)."""
    return MnsClient(base_url, retry=Retry(attempts=1), **options)


# -- the wire ---------------------------------------------------------------------------------


class Wire:
    """One producer in one dialect: sends actions and reads objects back in canonical form."""

    def __init__(self, client: MnsClient, dialect: str, writable: Writable) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"dialect {dialect!r} is not one of {', '.join(DIALECTS)}")
        self.client = client
        self.writable = writable
        self.edge = None
        if dialect == "openapi":
            from mns.sim.dialect_edge import Edge

            self.edge = Edge(writable.registry)

    def dn(self, dn: str) -> str:
        """A DN as the producer spells it."""
        return self.edge.dn_text(dn, out=True) if self.edge else dn

    def attrs(self, cls: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical attributes as the producer spells them."""
        return self.edge.spelling.attrs(cls, attrs) if self.edge else dict(attrs)

    def read(self, cls: str, dn: str) -> dict[str, Any] | None:
        """The object's attributes in canonical form, or None when it does not exist."""
        try:
            moi = self.client.get_one(self.dn(dn))
        except NotFoundError:
            return None
        return self.edge.spelling.canonical_attrs(cls, moi.attributes) if self.edge else dict(moi.attributes)

    def children(self, dn: str) -> list[str]:
        """The DNs (canonical) of the object's direct children in the network."""
        found = self.client.get(self.dn(dn), scope="BASE_NTH_LEVEL", level=1)
        return [str(DN.parse(self.edge.dn_text(m.dn, out=False) if self.edge else m.dn)) for m in found]

    def send(self, action: Action) -> None:
        """PUT, merge-patch or DELETE, as the action needs."""
        dn = self.dn(action.dn)
        if action.after is None:
            self.client.delete(dn)
        elif action.before is None:
            self.client.put(dn, self.attrs(action.cls, action.after))
        else:
            old = self.attrs(action.cls, action.before)
            new = self.attrs(action.cls, action.after)
            self.client.merge_patch(dn, merge_diff(old, new))


def _transient(exc: MnsClientError) -> bool:
    if isinstance(exc, TransportError | InvalidResponseError):
        return True
    return isinstance(exc, ProducerError) and exc.status in TRANSIENT


# -- one step ---------------------------------------------------------------------------------


class Runner:
    """Applies actions with read-back confirmation and idempotent retries."""

    def __init__(self, wire: Wire, policy: Policy, planned: Iterable[str] = ()) -> None:
        self.wire = wire
        self.policy = policy
        self.planned = set(planned)
        """The change set's DNs: children of a deleted object that are not among them are unknown."""
        self.states: dict[str, dict[str, Any] | None] = {}
        """The last read-back of each object."""

    def run(self, action: Action, *, check_first: bool = False, guard: bool = False) -> int:
        """Apply and confirm ``action``; the number of attempts. Raises StepFailed."""
        attempts = 0

        def attempt() -> None:
            nonlocal attempts
            attempts += 1
            if (check_first or attempts > 1) and action.holds(self._read(action)):
                return
            self._send(action, guard=guard and attempts == 1)
            state = self._read(action)
            if not action.holds(state):
                raise StepFailed(f"{_what(action)}: read-back: {action.mismatches(state)}", uncertain=True)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(1, self.policy.attempts)),
            wait=tenacity.wait_exponential(multiplier=self.policy.backoff, min=0, max=self.policy.backoff_max),
            retry=tenacity.retry_if_exception_type(_Unsure),
            reraise=True,
        )
        try:
            retrying(attempt)
        except _Unsure as exc:
            failed = StepFailed(f"{_what(action)}: no-answer: {exc} (after {attempts} attempts)", uncertain=True)
            failed.attempts = attempts
            raise failed from None
        except StepFailed as exc:
            exc.attempts = attempts
            raise
        return attempts

    def _read(self, action: Action) -> dict[str, Any] | None:
        try:
            state = self.wire.read(action.cls, action.dn)
        except MnsClientError as exc:
            if _transient(exc):
                raise _Unsure(f"read-back: {exc}") from exc
            raise StepFailed(f"{_what(action)}: read-back-failed: {exc}", uncertain=True) from exc
        self.states[action.dn] = state
        return state

    def _send(self, action: Action, *, guard: bool) -> None:
        try:
            if guard:
                self._check_children(action)
            self.wire.send(action)
        except MnsClientError as exc:
            if isinstance(exc, NotFoundError) and action.after is None:
                return  # a DELETE of what is gone already: the read-back confirms it
            if _transient(exc):
                raise _Unsure(str(exc)) from exc
            raise StepFailed(f"{_what(action)}: producer-refused: {exc}") from exc

    def _check_children(self, action: Action) -> None:
        unknown = [c for c in self.wire.children(action.dn) if c not in self.planned]
        if unknown:
            listed = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise StepFailed(
                f"{_what(action)}: unknown-children: the producer would also delete {len(unknown)} "
                f"object(s) the change set does not: {listed}"
            )


def _what(action: Action) -> str:
    return f"{action.kind} {action.dn}"


# -- the deployment ---------------------------------------------------------------------------


def deploy(
    changes: Sequence[Change],
    *,
    client: MnsClient,
    dialect: str = "stage2",
    store: SqlStore | None = None,
    update_twin: bool = False,
    policy: Policy | None = None,
    on_step: OnStep | None = None,
    author: str = "",
    message: str = "",
    registry: Registry | None = None,
) -> Outcome:
    """Apply a change set to the producer of ``client`` (see the module docstring)."""
    if client.settings.retry.attempts > 1:
        raise ValueError("the client retries by itself: build it with retry=Retry(attempts=1) (writeback_client)")
    writable = Writable(registry)
    steps = plan(changes, registry=writable.registry)
    outcome = Outcome(
        id=uuid.uuid4().hex,
        steps=steps,
        producer=client.settings.base_url,
        dialect=dialect,
        author=author,
        message=message,
    )
    runner = Runner(Wire(client, dialect, writable), policy or Policy(), (c.dn for c in changes))
    _record(store, outcome)
    notify = on_step or (lambda _s, _o: None)
    failed = _apply(steps, runner, outcome, notify)
    if failed is None:
        outcome.status = "applied"
        if update_twin and store is not None:
            outcome.revision = _update_twin(store, steps, runner.states, outcome)
    else:
        outcome.failed_step = failed.index
        undone = _rollback(steps, failed, runner, outcome, notify)
        outcome.status = "rolled-back" if undone else "failed"
        if not undone:
            outcome.differences = differences(changes, runner.wire)
    outcome.finished = time.time()
    _record(store, outcome)
    return outcome


def _apply(steps: list[Step], runner: Runner, outcome: Outcome, notify: OnStep) -> Step | None:
    """Run the steps in order; the step that failed, or None."""
    for step in steps:
        try:
            step.attempts = runner.run(step.action, guard=step.kind == DELETE)
        except StepFailed as exc:
            step.status, step.error, step.uncertain, step.attempts = "failed", str(exc), exc.uncertain, exc.attempts
            notify(step, outcome)
            return step
        step.status = "confirmed"
        notify(step, outcome)
    return None


def _rollback(steps: list[Step], failed: Step, runner: Runner, outcome: Outcome, notify: OnStep) -> bool:
    """Undo the applied steps (and the failed one when its state is unknown); True if all were undone."""
    todo = [s for s in steps if s.status == "confirmed" or (s is failed and s.uncertain)]
    blocked: set[int] = set()
    for step in reversed(todo):
        waits = [s.index for s in todo if step.index in s.requires and s.index in blocked]
        if waits:
            step.rollback_error = f"rollback-skipped: kept, as undoing step(s) {', '.join(map(str, waits))} failed"
        else:
            try:
                runner.run(step.action.inverse(), check_first=step is failed, guard=step.action.before is None)
            except StepFailed as exc:
                step.rollback_error = f"rollback-failed: {exc}"
        if step.rollback_error:
            blocked.add(step.index)
        if step is not failed:
            step.status = ("rollback-skipped" if waits else "rollback-failed") if step.rollback_error else "rolled-back"
        elif not step.rollback_error:
            step.note = (step.note + "; " if step.note else "") + "its possible effect was undone"
        notify(step, outcome)
    return not blocked


def differences(changes: Sequence[Change], wire: Wire) -> list[Difference]:
    """The objects of the change set whose network state differs from their state before it."""
    out = []
    for change in changes:
        expected = wire.writable(change.cls, change.before)
        try:
            state = wire.writable(change.cls, wire.read(change.cls, change.dn))
        except MnsClientError:
            out.append(Difference(change.dn, expected if expected is not None else "absent", "unreadable"))
            continue
        if (expected is None) != (state is None) or (
            expected is not None and state is not None and not same(expected, state)
        ):
            out.append(
                Difference(
                    change.dn,
                    expected if expected is not None else "absent",
                    state if state is not None else "absent",
                )
            )
    return out


# -- the twin ---------------------------------------------------------------------------------


def _record(store: SqlStore | None, outcome: Outcome) -> None:
    if store is not None:
        from mns.store.deployments import Deployments

        Deployments.of(store).record(outcome.as_json())


def _update_twin(store: Store, steps: Sequence[Step], states: Mapping[str, Any], outcome: Outcome) -> int | None:
    """Commit the read-back states to the live twin as one revision (None when nothing changed)."""

    def ops(view: TxnView) -> Iterator[Op]:
        done: set[str] = set()
        for step in steps:
            if step.dn in done:
                continue
            done.add(step.dn)
            state = states.get(step.dn)
            if state is not None:
                yield Put(step.dn, state)
            elif view.get(step.dn) is not None:
                yield Delete(step.dn, subtree=True)

    job = CommitJob(ops=ops, source="real", author=outcome.author, message=f"deployment {outcome.id}")
    try:
        return store.commit_job(job).rev
    except MnsError as exc:
        outcome.twin_error = f"the twin did not take the deployed states: {exc}"
        return None


def changes_for_ops(store: Store, ops: Iterable[Op], *, author: str = "") -> list[Change]:
    """The change set of plain operations on the live twin (through a sandbox dropped afterwards)."""
    branch = store.create_branch(name="write-back", author=author)
    try:
        store.commit(ops, source="oss", author=author, branch=branch.id)
        return store.change_set(branch.id)
    finally:
        store.drop_branch(branch.id)


__all__ = [
    "CREATE",
    "DELETE",
    "MODIFY",
    "Difference",
    "Outcome",
    "Policy",
    "Step",
    "StepFailed",
    "changes_for_ops",
    "deploy",
    "differences",
    "plan",
    "writeback_client",
]

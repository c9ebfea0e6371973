"""The deployment gate: only a verified sandbox reaches the network, and the twin records what it did.

``deploy_sandbox`` deploys a sandbox's change set to the network the twin mirrors:

1. The mirror is held (:meth:`mns.mirror.service.Mirror.hold`): it stops applying the network's
   notifications until the end, so the live twin cannot move under the deployment.
2. If the live twin moved on since the sandbox's base, the sandbox is rebased onto the live head
   (:mod:`mns.store.rebase`); conflicting edits are a 409 listing them, and nothing is sent.
3. The sandbox's latest verification must be of its current state (else it is verified now, and
   the report stored with it), have no errors (else a 422 naming them) and every warning the
   change set introduced acknowledged (``acknowledge=True`` for all, or their keys ``rule@dn``;
   else a 422 listing the ones left; warnings the network already had are not the change's).
4. The change set goes to the network through the write-back (:mod:`mns.consumer.writeback`),
   in the mirror's dialect. Applied: the sandbox is merged into the live twin as one revision
   with source ``sandbox:<id>``. Rolled back or failed: the live twin is left as it was (the
   mirror then applies what the network really did).
5. The mirror is released and, once it has applied what waited, the live twin (its view of the
   network) is compared with the sandbox's prediction object by object; the differences (an
   attribute the network set otherwise, or changed beside the deployment) are recorded with the
   deployment (``/TwinMnS/v1/deployments/{id}``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from mns.errors import Conflict, RuleViolation
from mns.store.api import Change
from mns.store.deployments import Deployments
from mns.store.rebase import rebase

if TYPE_CHECKING:
    from mns.mirror.service import Mirror
    from mns.store.sql import SqlStore

SETTLE_S: Final = 10.0
"""How long the comparison with the prediction waits for the mirror to apply what waited."""


class NoNetwork(Conflict):
    """The twin mirrors no network, so there is nowhere to deploy to."""

    rule = "mirror-required"


def warning_key(finding: dict[str, Any]) -> str:
    """How a warning is acknowledged: ``rule@dn``."""
    return f"{finding['rule']}@{finding['dn']}"


def _gate(report: dict[str, Any], branch_id: int, acknowledge: bool | Iterable[str]) -> None:
    """RuleViolation unless the report holds no error and every warning the change set
    introduced is acknowledged (warnings the live network already had are not the change's)."""
    findings = report.get("findings", [])
    errors = [f for f in findings if f["severity"] == "error"]
    if errors:
        shown = "; ".join(f"{f['rule']} at {f['dn']}: {f['message']}" for f in errors[:5])
        raise RuleViolation(f"sandbox {branch_id} fails verification with {len(errors)} error(s): {shown}")
    if acknowledge is True:
        return
    acked = set() if acknowledge is False else set(acknowledge)
    introduced = report.get("introduced", [])
    left = [f for f in introduced if f["severity"] == "warning" and warning_key(f) not in acked]
    if left:
        shown = ", ".join(warning_key(f) for f in left[:10])
        raise RuleViolation(
            f"sandbox {branch_id} has {len(left)} warning(s) to acknowledge before it is deployed: {shown}"
        )


def _report(store: SqlStore, branch_id: int, *, fresh: bool) -> dict[str, Any]:
    """The sandbox's latest verification report if it is of its current state (and ``fresh``
    is not asked); else a new verification's, stored with the sandbox."""
    from mns.verify.engine import verify_sandbox
    from mns.verify.reports import latest_report

    sandbox = store.branch(branch_id)
    found = None if fresh else latest_report(store, branch_id)
    if found is not None and not found.stale and found.base_rev == sandbox.base_rev:
        return found.body
    return verify_sandbox(store, branch_id, save=True).as_json()


def _differences(store: SqlStore, branch_id: int, changes: list[Change]) -> list[dict[str, Any]]:
    """Where the live twin (the mirror's view of the network) differs from the sandbox's prediction."""
    out: list[dict[str, Any]] = []
    for change in changes:
        predicted = store.get(change.dn, branch=branch_id)
        actual = store.get(change.dn)
        if predicted is None and actual is None:
            continue
        if predicted is None or actual is None:
            out.append({"dn": change.dn, "predicted": predicted and predicted.attrs, "actual": actual and actual.attrs})
            continue
        names = sorted(set(predicted.attrs) | set(actual.attrs))
        differ = {
            n: {"predicted": predicted.attrs.get(n), "actual": actual.attrs.get(n)}
            for n in names
            if predicted.attrs.get(n) != actual.attrs.get(n)
        }
        if differ:
            out.append({"dn": change.dn, "attributes": differ})
    return out


def _settle(mirror: Mirror, timeout: float) -> bool:
    """Wait until the mirror has applied every notification that waited (True) or time is up."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if mirror.state.pending_count() == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 0.3:
                return True
        else:
            quiet_since = None
        time.sleep(0.05)
    return False


def deploy_sandbox(
    store: SqlStore,
    branch_id: int,
    *,
    mirror: Mirror | None,
    acknowledge: bool | Iterable[str] = False,
    author: str = "",
    settle_s: float = SETTLE_S,
) -> dict[str, Any]:
    """Deploy a verified sandbox (see the module doc); the deployment record."""
    from mns.consumer.writeback import deploy, writeback_client

    if mirror is None:
        raise NoNetwork("this twin mirrors no network, so there is nowhere to deploy to (mns serve --mirror URL)")
    store.branch(branch_id)  # NotFound for an unknown sandbox
    with mirror.hold():
        rebased = None
        if store.head() != store.branch(branch_id).base_rev:
            rebased = rebase(store, branch_id, author=author)
        changes = store.change_set(branch_id)
        if not changes:
            raise Conflict(f"sandbox {branch_id} changes nothing: there is nothing to deploy")
        report = _report(store, branch_id, fresh=rebased is not None)
        _gate(report, branch_id, acknowledge)
        config = mirror.config
        with writeback_client(config.producer, token=config.token, verify=config.verify) as client:
            outcome = deploy(
                changes,
                client=client,
                dialect=mirror.dialect or "stage2",
                store=store,
                author=author,
                message=f"sandbox {branch_id}",
            )
        merged = None
        if outcome.status == "applied":
            message = f"sandbox {branch_id} deployed to {config.producer} (deployment {outcome.id})"
            merged = store.merge_branch(branch_id, author=author, message=message).rev
    settled = _settle(mirror, settle_s)
    record = outcome.as_json()
    record["sandbox"] = branch_id
    record["rebasedOnto"] = rebased
    record["mergedRevision"] = merged
    record["verification"] = {"errors": report["errors"], "warnings": report["warnings"]}
    if outcome.status == "applied":
        record["prediction"] = {"settled": settled, "differences": _differences(store, branch_id, changes)}
    Deployments.of(store).record(record)
    return record

"""The merge-patch documents of TS 28.532 ``PATCH /alarms``: acknowledge, unacknowledge or clear.

``MergePatchAcknowledgeAlarm`` is ``{ackUserId, ackSystemId?, ackState}`` with ackState
ACKNOWLEDGED or UNACKNOWLEDGED; ``MergePatchClearAlarm`` is ``{clearUserId, clearSystemId?,
perceivedSeverity: CLEARED}``. Nothing else of an alarm can be patched: any other member, a
document mixing the two, a missing required member or another value is a 400 naming the member.
A member set to null (merge-patch "remove") is taken as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from mns.errors import BadRequest
from mns.fault.model import AckState, exact

ACK_FIELDS: Final = ("ackUserId", "ackSystemId", "ackState")
CLEAR_FIELDS: Final = ("clearUserId", "clearSystemId", "perceivedSeverity")
_WHAT: Final = (
    "an alarm is acknowledged or unacknowledged with ackUserId, ackSystemId and ackState, "
    "or cleared with clearUserId, clearSystemId and perceivedSeverity CLEARED"
)


@dataclass(frozen=True, slots=True)
class AlarmAction:
    """What a patch document asks: a clear, or a change of ackState; by whom."""

    clear: bool
    ack_state: AckState | None
    user: str
    system: str | None

    @classmethod
    def ack(cls, state: AckState, user: Any, system: Any = None) -> AlarmAction:
        """An acknowledge (ACKNOWLEDGED) or unacknowledge (UNACKNOWLEDGED) by ``user``."""
        return cls(False, state, _user(user, "ackUserId"), _system(system, "ackSystemId"))

    @classmethod
    def clearing(cls, user: Any, system: Any = None) -> AlarmAction:
        """A clear by ``user``."""
        return cls(True, None, _user(user, "clearUserId"), _system(system, "clearSystemId"))


def _user(value: Any, name: str) -> str:
    if value is None:
        raise BadRequest(f"{name} is required")
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} must be a non-empty string, not {value!r}")
    return value


def _system(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be a string, not {value!r}")
    return value


def parse_patch(doc: Any, *, alarm_id: str) -> AlarmAction:
    """The action of one alarm's merge-patch document; BadRequest naming the member at fault."""
    if not isinstance(doc, Mapping):
        raise BadRequest(f"the patch of alarm {alarm_id} must be a JSON object: {_WHAT}")
    for name in doc:
        if name not in ACK_FIELDS and name not in CLEAR_FIELDS:
            raise BadRequest(f"{name!r} of alarm {alarm_id} cannot be patched: {_WHAT}")
    given = {k: v for k, v in doc.items() if v is not None}
    acking = sorted(k for k in given if k in ACK_FIELDS)
    clearing = sorted(k for k in given if k in CLEAR_FIELDS)
    if acking and clearing:
        raise BadRequest(
            f"the patch of alarm {alarm_id} mixes {', '.join(acking)} (acknowledge) with "
            f"{', '.join(clearing)} (clear): send one or the other"
        )
    if clearing:
        severity = given.get("perceivedSeverity")
        if severity is None:
            raise BadRequest(f"perceivedSeverity is required to clear alarm {alarm_id} (CLEARED)")
        if severity != "CLEARED":
            raise BadRequest(
                f"perceivedSeverity {severity!r} cannot be patched: a patch only clears an alarm (CLEARED)"
            )
        return AlarmAction.clearing(given.get("clearUserId"), given.get("clearSystemId"))
    if not acking:
        raise BadRequest(f"the patch of alarm {alarm_id} is empty: {_WHAT}")
    if "ackState" not in given:
        raise BadRequest(f"ackState is required to acknowledge or unacknowledge alarm {alarm_id}")
    state = exact(AckState, given["ackState"], field="ackState")
    return AlarmAction.ack(state, given.get("ackUserId"), given.get("ackSystemId"))

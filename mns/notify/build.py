"""Notification bodies (TS 28.532 ProvMnS callbacks, TS 28.623 headers) built from revisions.

One change of one object gives notifyMOICreation (``attributeList``: the new attributes),
notifyMOIDeletion (``attributeList``: the last attributes) or notifyMOIAttributeValueChanges
(``attributeListValueChanges``: ``[new values, old values]`` of the changed attributes, null
where absent). notifyMOIChanges gathers a revision's changes in scope into ``moiChanges`` items
whose ``path`` is relative to the notification's ``href`` the way a 3GPP JSON Patch addresses
descendants (``/ManagedElement=1#/attributes/userLabel``), so a consumer can replay it as one.

Notification ids are deterministic: a 53-bit hash (an integer every JSON reader holds exactly)
of the subscription, the revision, the object and the notification type, so a notification
rebuilt after a restart carries the id it had before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from mns.nrm.dn import DN
from mns.store.api import Change, ChangeKind, Revision

CREATION: Final = "notifyMOICreation"
DELETION: Final = "notifyMOIDeletion"
VALUE_CHANGES: Final = "notifyMOIAttributeValueChanges"
CHANGES: Final = "notifyMOIChanges"
HEARTBEAT: Final = "notifyHeartbeat"
CM_TYPES: Final = (CREATION, DELETION, VALUE_CHANGES, CHANGES)
DEFAULT_TYPES: Final = frozenset({CREATION, DELETION, VALUE_CHANGES})
"""What a subscription without ``notificationTypes`` receives."""
ALARM_TYPES: Final = frozenset(
    {
        "notifyNewAlarm",
        "notifyChangedAlarm",
        "notifyChangedAlarmGeneral",
        "notifyAckStateChanged",
        "notifyCorrelatedNotificationChanged",
        "notifyComments",
        "notifyClearedAlarm",
        "notifyAlarmListRebuilt",
        "notifyPotentialFaultyAlarmList",
    }
)
"""TS 28.532 ``AlarmNotificationTypes`` (Fault MnS), delivered by the event notifier."""
FILE_TYPES: Final = frozenset({"notifyFileReady", "notifyFilePreparationError"})
"""TS 28.532 ``FileNotificationTypes`` (File Data Reporting MnS)."""
THRESHOLD_TYPES: Final = frozenset({"notifyThresholdCrossing"})
"""TS 28.532 ``PerfNotificationTypes``."""
EVENT_TYPES: Final = ALARM_TYPES | FILE_TYPES | THRESHOLD_TYPES
"""The types the event notifier (``mns.notify.events``) delivers; the CM worker ignores them."""
SUPPORTED_TYPES: Final = frozenset({*CM_TYPES, HEARTBEAT, *EVENT_TYPES})

MAX_MOI_CHANGES: Final = 1000
"""``moiChanges`` items in one notifyMOIChanges; a bigger revision gives several."""

MAX_ID: Final = (1 << 53) - 1

# A ProvMnS write (oss), an NDT job's outcome (ndt) and a merged sandbox change set are
# management operations; real and reconcile are changes the network itself made, as the mirror
# learnt them; anything else is UNKNOWN (the mirror does not yet carry the real network's own
# sourceIndicator through).
_INDICATORS: Final = {
    "oss": "MANAGEMENT_OPERATION",
    "ndt": "MANAGEMENT_OPERATION",
    "real": "RESOURCE_OPERATION",
    "reconcile": "RESOURCE_OPERATION",
}


def source_indicator(source: str) -> str:
    """The TS 28.532 ``SourceIndicator`` of a revision source (see the table above)."""
    if source.startswith("sandbox:"):
        return "MANAGEMENT_OPERATION"
    return _INDICATORS.get(source, "UNKNOWN")


def notification_id(*, subscription: str, revision: int | str, obj: str, ntype: str) -> int:
    """The deterministic id of the notification of ``ntype`` about ``obj`` at ``revision``."""
    text = f"{subscription}\n{revision}\n{obj}\n{ntype}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") & MAX_ID


def href(prov_root: str, dn: str) -> str:
    """The URI of an object under the ProvMnS root (``{root}/SubNetwork=1/...``)."""
    return f"{prov_root.rstrip('/')}/{quote(DN.parse(dn).uri, safe='/=')}"


def event_time(when: datetime) -> str:
    """An RFC 3339 time in UTC with a ``Z``."""
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Context:
    """What the notifications of one subscription about one revision share."""

    subscription: str
    revision: Revision
    prov_root: str
    system_dn: str

    def header(self, dn: str, ntype: str, obj: str | None = None) -> dict[str, Any]:
        """The TS 28.623 header with the CM extras (sourceIndicator, additionalText)."""
        rev = self.revision
        text = f"twin revision {rev.rev}" + (f": {rev.message}" if rev.message else "")
        return {
            "href": href(self.prov_root, dn),
            "notificationId": notification_id(
                subscription=self.subscription, revision=rev.rev, obj=obj or dn, ntype=ntype
            ),
            "notificationType": ntype,
            "eventTime": event_time(rev.time),
            "systemDN": self.system_dn,
            "sourceIndicator": source_indicator(rev.source),
            "additionalText": text,
        }


def object_notifications(change: Change, *, ctx: Context, types: frozenset[str]) -> list[dict[str, Any]]:
    """The per-object notifications of one change that ``types`` asks for (zero or one)."""
    if change.kind is ChangeKind.CREATED and CREATION in types:
        body = ctx.header(change.dn, CREATION)
        if change.after:
            body["attributeList"] = change.after
        return [body]
    if change.kind is ChangeKind.DELETED and DELETION in types:
        body = ctx.header(change.dn, DELETION)
        if change.before:
            body["attributeList"] = change.before
        return [body]
    if change.kind is ChangeKind.MODIFIED and VALUE_CHANGES in types:
        changed = change.changed
        body = ctx.header(change.dn, VALUE_CHANGES)
        body["attributeListValueChanges"] = [
            {name: new for name, (_, new) in changed.items()},
            {name: old for name, (old, _) in changed.items()},
        ]
        return [body]
    return []


def _pointer(name: str) -> str:
    return "#/attributes/" + name.replace("~", "~0").replace("/", "~1")


def _resource(dn: str, cls: str, attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"id": DN.parse(dn).id, "objectClass": cls, "attributes": dict(attrs or {})}


def moi_change_items(change: Change, *, ctx: Context, base: str) -> list[dict[str, Any]]:
    """The ``MoiChange`` items of one change, paths relative to the object ``base``."""
    rel = "/" + DN.parse(change.dn).relative_to(DN.parse(base))
    indicator = source_indicator(ctx.revision.source)

    def item(op: str, path: str) -> dict[str, Any]:
        nid = notification_id(
            subscription=ctx.subscription, revision=ctx.revision.rev, obj=f"{op} {path}", ntype="moiChange"
        )
        return {"notificationId": nid, "sourceIndicator": indicator, "op": op, "path": path}

    if change.kind is ChangeKind.CREATED:
        return [{**item("add", rel), "value": _resource(change.dn, change.cls, change.after)}]
    if change.kind is ChangeKind.DELETED:
        return [{**item("remove", rel), "oldValue": _resource(change.dn, change.cls, change.before)}]
    before, after = change.before or {}, change.after or {}
    out: list[dict[str, Any]] = []
    for name, (old, new) in change.changed.items():
        path = rel + _pointer(name)
        if name not in before:
            out.append({**item("add", path), "value": new})
        elif name not in after:
            out.append({**item("remove", path), "oldValue": old})
        else:
            out.append({**item("replace", path), "value": new, "oldValue": old})
    return out


def moi_changes_notification(items: Iterable[dict[str, Any]], *, ctx: Context, base: str) -> dict[str, Any]:
    """One notifyMOIChanges about ``base``'s subtree; its id follows its first item."""
    changes = list(items)
    first = changes[0]["path"] if changes else ""
    body = ctx.header(base, CHANGES, obj=f"{base}\n{first}")
    body["moiChanges"] = changes
    return body


def heartbeat_notification(
    *, subscription: str, control: str, period: int, prov_root: str, system_dn: str, when: datetime, seq: int
) -> dict[str, Any]:
    """A notifyHeartbeat from the HeartbeatControl ``control``; ``seq`` numbers them per run."""
    return {
        "href": href(prov_root, control),
        "notificationId": notification_id(
            subscription=subscription, revision=f"heartbeat {when.timestamp()} {seq}", obj=control, ntype=HEARTBEAT
        ),
        "notificationType": HEARTBEAT,
        "eventTime": event_time(when),
        "systemDN": system_dn,
        "heartbeatNtfPeriod": period,
    }

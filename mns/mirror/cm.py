"""CM notifications of a producer, turned into operations on the twin (stage-2 names, source ``real``).

A producer announces its changes with the TS 28.532 ProvMnS notifications; the mirror applies
each one as a revision of the twin. This module decides what each one means:

- ``notifyMOICreation``: the object, with its ``attributeList``, is put (created, or replaced
  when the twin already has it: a creation delivered twice changes nothing the second time);
- ``notifyMOIDeletion``: the object and its subtree are deleted (nothing if already gone);
- ``notifyMOIAttributeValueChanges``: the first item of ``attributeListValueChanges`` (the new
  values, TS 28.623 ``AttributeValueChangeSet``) is merged into the object; a null removes;
- ``notifyMOIChanges``: each ``moiChanges`` item, its ``path`` relative to the ``href`` object
  (``/ManagedElement=1#/attributes/userLabel`` or ``/ManagedElement=1`` for a whole object),
  ``add``/``replace`` put values, ``remove`` removes.

The object comes from the notification's ``href`` (the producer's ProvMnS URI of it) or, when a
producer sends one, ``objectInstance``. Each notification carries absolute values, so applying
one again, or applying the ones that came in while a reconciliation read the network after it,
converges on the network's state. A change the twin cannot apply as told (an attribute change
of an object it does not have, a creation under a missing parent, a pointer into an attribute's
inside) becomes :class:`Unapplied`: the mirror then reconciles the object's tree.

Names may come in either dialect: :class:`Canon` gives the stage-2 form (class names, DNs,
attribute names and values) and is the identity on stage-2 input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from mns.errors import MnsError
from mns.nrm.dn import DN
from mns.store.api import Delete, Op, Put, TxnView, Update

CREATION: Final = "notifyMOICreation"
DELETION: Final = "notifyMOIDeletion"
VALUE_CHANGES: Final = "notifyMOIAttributeValueChanges"
CHANGES: Final = "notifyMOIChanges"
CM_TYPES: Final = frozenset({CREATION, DELETION, VALUE_CHANGES, CHANGES})

LOCAL_CLASSES: Final = frozenset({"NtfSubscriptionControl", "HeartbeatControl"})
"""Classes that belong to each management system, not to the network: the mirror neither copies
the producer's (its own subscription among them) nor removes the twin's."""


class Unapplied(Exception):
    """A notification (or one item of it) the twin cannot apply as told; ``dn`` needs a reconcile."""

    def __init__(self, dn: str, reason: str) -> None:
        super().__init__(f"{dn}: {reason}")
        self.dn = dn
        self.reason = reason


class Canon:
    """Stage-2 spelling of what a producer of either dialect sends (identity on stage 2)."""

    def __init__(self) -> None:
        from mns.sim.dialect_edge import Edge

        self.edge = Edge()
        self._cls: dict[str, str] = {}

    def cls(self, wire: str) -> str:
        """The stage-2 class name."""
        found = self._cls.get(wire)
        if found is None:
            found = self._cls[wire] = self.edge.cls_in(wire)
        return found

    def dn(self, text: str) -> str:
        """The DN with stage-2 class names (text that is not a DN as given)."""
        return self.edge.dn_text(text, out=False)

    def attrs(self, cls: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Attributes of a stage-2 class with stage-2 names and values."""
        return self.edge.spelling.canonical_attrs(cls, dict(attrs))

    def is_openapi(self, wire_cls: str) -> bool | None:
        """Whether a class name shows the OpenAPI dialect (None: it is spelled alike in both)."""
        stage2 = self.cls(wire_cls)
        if stage2 != wire_cls:
            return True
        if self.edge.spelling.cls(stage2) != stage2:
            return False
        return None


def is_local(dn: str) -> bool:
    """Whether a stage-2 DN is, or lies under, an object of a :data:`LOCAL_CLASSES` class.

    Two substring tests, one per class (it runs for every object of a copy): an RDN's id cannot
    hold an unescaped ``=``.
    """
    return "NtfSubscriptionControl=" in dn or "HeartbeatControl=" in dn


class NotificationReader:
    """Reads the object DNs of one producer's notifications (its ProvMnS root from the hrefs)."""

    def __init__(self, canon: Canon) -> None:
        self.canon = canon

    def dn_of(self, body: Mapping[str, Any]) -> str:
        """The stage-2 DN a notification is about."""
        given = body.get("objectInstance")
        if isinstance(given, str) and given:
            return str(DN.parse(self.canon.dn(given)))
        href = body.get("href")
        if not isinstance(href, str) or not href:
            raise Unapplied("?", "the notification has neither objectInstance nor href")
        return str(DN.parse(self.canon.dn(href_dn(href))))


def href_dn(href: str) -> str:
    """The DN in a ProvMnS object URI: the path after ``/ProvMnS/{version}/``, unquoted."""
    path = urlsplit(href).path
    marker = "/ProvMnS/"
    at = path.find(marker)
    if at < 0:
        raise Unapplied(href, "the href is not a ProvMnS object URI")
    rest = path[at + len(marker) :]
    _, _, dn_path = rest.partition("/")
    if not dn_path:
        raise Unapplied(href, "the href names no object")
    return str(DN.parse(unquote(dn_path.strip("/"))))


@dataclass(slots=True)
class Plan:
    """The operations of one notification, computed against the twin in the write transaction."""

    body: Mapping[str, Any]
    reader: NotificationReader
    unapplied: list[Unapplied]

    def __call__(self, view: TxnView) -> Iterable[Op]:
        ntype = self.body.get("notificationType")
        try:
            dn = self.reader.dn_of(self.body)
        except (Unapplied, MnsError) as exc:
            self.unapplied.append(exc if isinstance(exc, Unapplied) else Unapplied("?", str(exc)))
            return []
        if is_local(dn):
            return []
        if ntype == CREATION:
            return self._put(view, dn, self.body.get("attributeList") or {})
        if ntype == DELETION:
            return [Delete(dn, subtree=True)] if view.get(dn) is not None else []
        if ntype == VALUE_CHANGES:
            return self._update(view, dn, _new_values(self.body.get("attributeListValueChanges")))
        if ntype == CHANGES:
            ops: list[Op] = []
            for item in self.body.get("moiChanges") or []:
                try:
                    ops.extend(self._item(view, dn, item))
                except Unapplied as exc:
                    self.unapplied.append(exc)
            return ops
        return []

    def _put(self, view: TxnView, dn: str, attrs: Any) -> list[Op]:
        if not isinstance(attrs, Mapping):
            note_unapplied(self.unapplied, dn, "attributeList is not an object")
            return []
        parent = DN.parse(dn).parent
        if parent is not None and view.get(str(parent)) is None:
            note_unapplied(self.unapplied, dn, f"its parent {parent} is not in the twin")
            return []
        cls = DN.parse(dn).cls
        return [Put(dn, self.reader.canon.attrs(cls, attrs))]

    def _update(self, view: TxnView, dn: str, values: Mapping[str, Any] | None) -> list[Op]:
        if values is None:
            note_unapplied(self.unapplied, dn, "attributeListValueChanges has no new values")
            return []
        if view.get(dn) is None:
            note_unapplied(self.unapplied, dn, "an attribute change of an object the twin does not have")
            return []
        cls = DN.parse(dn).cls
        present = {k: v for k, v in values.items() if v is not None}
        canonical = self.reader.canon.attrs(cls, present) if present else {}
        removed = {self.reader.canon.edge.attr_in(k): None for k, v in values.items() if v is None}
        return [Update(dn, {**canonical, **removed})]

    def _item(self, view: TxnView, base: str, item: Any) -> list[Op]:
        if not isinstance(item, Mapping) or not isinstance(item.get("path"), str):
            raise Unapplied(base, "a moiChanges item without a path")
        op = item.get("op")
        rel, hash_, pointer = item["path"].partition("#")
        dn = base
        if rel.strip("/"):
            dn = str(DN.parse(self.reader.canon.dn(f"{base},{rel.strip('/').replace('/', ',')}")))
        if is_local(dn):
            return []
        if not hash_:
            if op == "remove":
                return [Delete(dn, subtree=True)] if view.get(dn) is not None else []
            value = item.get("value")
            attrs = value.get("attributes", {}) if isinstance(value, Mapping) else None
            return self._put(view, dn, attrs)
        parts = pointer.split("/")
        if len(parts) == 2 and parts[1] == "attributes" and op in ("add", "replace"):
            attrs = item.get("value")
            return self._put(view, dn, attrs) if view.get(dn) is not None else self._missing(dn)
        if len(parts) != 3 or parts[1] != "attributes":
            raise Unapplied(dn, f"the pointer {pointer!r} goes inside an attribute; the object is re-read")
        name = parts[2].replace("~1", "/").replace("~0", "~")
        if op == "remove":
            return self._update(view, dn, {name: None})
        if op in ("add", "replace"):
            return self._update(view, dn, {name: item.get("value")})
        raise Unapplied(dn, f"moiChanges op {op!r} is not add, replace or remove")

    def _missing(self, dn: str) -> list[Op]:
        note_unapplied(self.unapplied, dn, "an attribute change of an object the twin does not have")
        return []


def note_unapplied(sink: list[Unapplied], dn: str, reason: str) -> None:
    """Record that a change of ``dn`` could not be applied (the rest of the notification goes on)."""
    sink.append(Unapplied(dn, reason))


def _new_values(changes: Any) -> Mapping[str, Any] | None:
    """The new values of a TS 28.623 AttributeValueChangeSet (its first item)."""
    if isinstance(changes, list) and changes and isinstance(changes[0], Mapping):
        return changes[0]
    if isinstance(changes, Mapping):  # a producer that sends the pair set alone
        return changes
    return None

"""Who receives the events of the feeds: subscriptions of the MnS, and NtfSubscriptionControls.

A ``Target`` is one subscription as the event notifier sees it: a key (which names its
delivery cursors), the recipient's address, the notification types it takes, and what it
selects among them. There are two kinds:

- ``NtfSubscriptionControl`` objects made through the ProvMnS whose ``notificationTypes`` name
  event types (alarm, file, threshold): their ``scope`` (relative to the subscription's parent
  object, as for CM) applies to the event's object, their ``notificationFilter`` to the event's
  object class, id and ``attributes`` (e.g. ``//NRCellDU[attributes/perceivedSeverity="MAJOR"]``);
- subscriptions made with ``POST /subscriptions`` of the Fault MnS (every alarm notification
  type) and of the File Data Reporting MnS (every file notification type), kept in the
  ``mns_subscription`` table. Their ``filter`` (XPath 1.0, ``TS28623_ComDefs`` ``Filter``) is a
  predicate over the notification, as the alarm-list filter is over an alarm record: the body's
  members and the event's attributes as child elements, e.g. ``notificationType="notifyNewAlarm"
  and perceivedSeverity="CRITICAL"`` or ``starts-with(objectInstance, "SubNetwork=RAN")``.

Delivery cursors (``event_cursor``: subscription key, feed, position) are written by the
notifier; those of a new MnS subscription are written with it, in one transaction, at the heads
of the feeds: a subscription receives what happens after it is made.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from mns.errors import BadRequest
from mns.fault.query import AlarmFilter, parse_alarm_filter
from mns.notify.build import ALARM_TYPES, EVENT_TYPES, FILE_TYPES
from mns.notify.feeds import Event
from mns.notify.reach import parse_address
from mns.notify.subscriptions import Subscription
from mns.nrm.dn import DN
from mns.store import schema
from mns.store.db import create_tables

FAULT: Final = "FaultSupervisionMnS"
FILES: Final = "FileDataReportingMnS"
SERVICE_TYPES: Final = {FAULT: ALARM_TYPES, FILES: FILE_TYPES}
"""The notification types a subscription of each MnS receives."""
MEMBERS: Final = ("consumerReference", "timeTick", "filter")
"""The members of a TS 28.532 ``Subscription``."""

subscription_table = sa.Table(
    "mns_subscription",
    schema.metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)

cursor_table = sa.Table(
    "event_cursor",
    schema.metadata,
    sa.Column("subscription", sa.Text, primary_key=True),
    sa.Column("feed", sa.Text, primary_key=True),
    sa.Column("pos", sa.Integer, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)

TABLES: Final = (subscription_table, cursor_table)


@dataclass(frozen=True, slots=True)
class Target:
    """One subscription to events: where they go and which it takes."""

    key: str
    address: str
    types: frozenset[str]
    scope: Subscription | None = None
    """An NtfSubscriptionControl's scope and notificationFilter (on the event's object)."""
    filter: AlarmFilter | None = None
    """An MnS subscription's filter (on the notification)."""

    def selects(self, event: Event) -> bool:
        """Whether the event is of a type it takes, in its scope, and passes its filter."""
        if event.type not in self.types:
            return False
        if self.scope is not None:
            return self._in_scope(self.scope, event)
        if self.filter is not None:
            members = {**(event.attributes or {}), **event.body}
            return self.filter.matches(str(members.get("alarmId", "")), members)
        return True

    @staticmethod
    def _in_scope(sub: Subscription, event: Event) -> bool:
        if not event.dn or not sub.covers(event.dn):
            return False
        flt = sub.definition.filter
        if flt is None:
            return True
        dn = DN.parse(event.dn)
        return flt.matches(dn.cls, dn.id, event.attributes or {})


def control_key(dn: str, created_rev: int) -> str:
    """The cursor key of an NtfSubscriptionControl (an incarnation of it: made again, it starts afresh)."""
    return f"ntf {created_rev} {dn}"


def mns_key(service: str, sub_id: str) -> str:
    """The cursor key of an MnS subscription."""
    return f"{service} {sub_id}"


def control_target(sub: Subscription, created_rev: int) -> Target | None:
    """The target of an NtfSubscriptionControl, or None when it asks for no event type."""
    types = sub.definition.types & EVENT_TYPES
    if not types:
        return None
    return Target(control_key(sub.dn, created_rev), sub.address, types, scope=sub)


# -- MnS subscriptions --------------------------------------------------------------------------


def check_subscription(body: Any) -> dict[str, Any]:
    """The TS 28.532 ``Subscription`` in ``body``, checked; BadRequest naming the member otherwise."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a Subscription: a JSON object with consumerReference")
    unknown = sorted(set(body) - set(MEMBERS))
    if unknown:
        raise BadRequest(f"{', '.join(map(repr, unknown))} not a member of a Subscription ({', '.join(MEMBERS)})")
    address = body.get("consumerReference")
    if address is None:
        raise BadRequest("consumerReference is required: the URI notifications are POSTed to")
    if not isinstance(address, str):
        raise BadRequest(f"consumerReference {address!r} is not a URI string")
    parse_address(address)
    tick = body.get("timeTick")
    if tick is not None and (type(tick) is not int or tick < 0):
        raise BadRequest(f"timeTick {tick!r} is not a non-negative integer (minutes)")
    text = body.get("filter")
    if text is not None:
        if not isinstance(text, str):
            raise BadRequest(f"filter {text!r} is not an XPath expression")
        parse_alarm_filter(text)
    return {k: body[k] for k in MEMBERS if body.get(k) is not None}


def mns_target(service: str, sub_id: str, body: Mapping[str, Any]) -> Target:
    """The target of a stored MnS subscription."""
    text = body.get("filter")
    flt = parse_alarm_filter(text) if isinstance(text, str) else None
    return Target(mns_key(service, sub_id), str(body["consumerReference"]), SERVICE_TYPES[service], filter=flt)


@dataclass(frozen=True, slots=True)
class StoredSubscription:
    """One row of ``mns_subscription``."""

    id: str
    service: str
    body: dict[str, Any]


class TargetStore:
    """The MnS subscriptions and the event cursors, over the store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def create(self) -> None:
        """Create the tables if they are missing."""
        create_tables(self.engine, TABLES)

    def _write(self) -> Any:
        return self.engine.connect().execution_options(immediate=True)

    # subscriptions ------------------------------------------------------------------------

    def add(self, service: str, body: Mapping[str, Any], cursors: Mapping[str, int]) -> str:
        """Store a subscription with its cursors (the feeds' heads), in one transaction; its id."""
        sub_id = uuid.uuid4().hex
        now = time.time()
        key = mns_key(service, sub_id)
        rows = [{"subscription": key, "feed": f, "pos": p, "updated": now} for f, p in cursors.items()]
        with self._write() as conn, conn.begin():
            conn.execute(
                sa.insert(subscription_table),
                {"id": sub_id, "service": service, "body": orjson.dumps(dict(body)).decode(), "created": now},
            )
            if rows:
                conn.execute(sa.insert(cursor_table), rows)
        return sub_id

    def remove(self, service: str, sub_id: str) -> bool:
        """Delete a subscription and its cursors; False when it does not exist."""
        t = subscription_table
        with self._write() as conn, conn.begin():
            gone = conn.execute(sa.delete(t).where(t.c.id == sub_id, t.c.service == service)).rowcount
            conn.execute(sa.delete(cursor_table).where(cursor_table.c.subscription == mns_key(service, sub_id)))
        return bool(gone)

    def subscriptions(self) -> list[StoredSubscription]:
        """Every stored MnS subscription, oldest first."""
        t = subscription_table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.id, t.c.service, t.c.body).order_by(t.c.created, t.c.id)).all()
        return [StoredSubscription(r[0], r[1], orjson.loads(r[2])) for r in rows if r[1] in SERVICE_TYPES]

    # cursors ------------------------------------------------------------------------------

    def cursors(self) -> dict[tuple[str, str], int]:
        """Every saved cursor by (subscription key, feed)."""
        t = cursor_table
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.subscription, t.c.feed, t.c.pos)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def save(self, cursors: Mapping[tuple[str, str], int]) -> None:
        """Insert or move cursors, in one transaction."""
        if not cursors:
            return
        t = cursor_table
        now = time.time()
        rows = [{"subscription": k, "feed": f, "pos": p, "updated": now} for (k, f), p in cursors.items()]
        insert = postgresql.insert(t) if self.postgres else sqlite.insert(t)
        statement = insert.on_conflict_do_update(
            index_elements=[t.c.subscription, t.c.feed],
            set_={"pos": insert.excluded.pos, "updated": insert.excluded.updated},
        )
        with self._write() as conn, conn.begin():
            conn.execute(statement, rows)

    def forget(self, keys: Iterable[str]) -> None:
        """Delete the cursors of subscriptions that are gone."""
        wanted = list(keys)
        if not wanted:
            return
        with self._write() as conn, conn.begin():
            conn.execute(sa.delete(cursor_table).where(cursor_table.c.subscription.in_(wanted)))

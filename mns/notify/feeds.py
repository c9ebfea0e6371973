"""Event feeds: the notifications that are not CM changes (alarms, PM files, threshold crossings).

A feed is an ordered, persisted source of notifications: each event has a position, increasing
within its feed, and the feed can be read again from any position, so it is its own outbox. The
event notifier (``mns.notify.events``) keeps, for each subscription and feed, the position it
has delivered up to, and delivers in position order, at least once, like the CM worker does with
the revision log. A producer of events stores them in its own tables in the transaction that
makes them (an alarm change, a PM file, a crossing) and calls ``wake`` after the commit; nothing
is kept in memory only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Event:
    """One notification of a feed, ready to send.

    ``body`` is the whole notification (header included: ``href``, ``notificationId``,
    ``notificationType``, ``eventTime``, ``systemDN``); ``notificationId`` is derived from the
    feed and position, so a redelivery carries the id of the first delivery. ``dn`` is the
    object the notification is about (``objectInstance``), for subscriptions' scope and filter;
    ``attributes`` are what a subscription's filter may test (e.g. ``perceivedSeverity``).
    """

    pos: int
    type: str
    dn: str
    body: Mapping[str, Any]
    attributes: Mapping[str, Any] | None = None


class Feed(Protocol):
    """An ordered, persisted source of events."""

    name: str
    """Unique among the feeds (``alarms``, ``files``, ``thresholds``); keys the delivery cursors."""
    types: frozenset[str]
    """The notification types it can produce."""

    def head(self) -> int:
        """The position of its newest event (0 when it has none)."""
        ...

    def read(self, after: int, limit: int) -> Sequence[Event]:
        """Up to ``limit`` events after position ``after``, in position order."""
        ...

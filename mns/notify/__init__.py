"""CM notifications (TS 28.532) to the recipients of ``NtfSubscriptionControl`` objects.

``rules`` checks subscriptions at the ProvMnS write, ``build`` makes notification bodies from
revisions, ``subscriptions`` reads subscriptions from the store, ``cursor`` persists what each
recipient has received, ``revlog`` reads the revision log (the outbox), ``delivery`` is the
worker and ``heartbeat`` its heartbeats. Nothing is imported here, so that the store's
validator can import ``rules`` without pulling in the worker.
"""

from __future__ import annotations

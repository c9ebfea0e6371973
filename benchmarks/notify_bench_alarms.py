"""The alarm list part of benchmarks/notify_bench.py: fill a twin with alarms, read them raw.

Alarms are raised through the Fault MnS store's write transaction with the calls
``mns.fault.service.raise_alarm`` makes (``AlarmStore.write``, ``txn.new_id``, ``txn.put``), a
few thousand per transaction: one ``raise_alarm`` per alarm is one transaction each, about 1 ms,
so 100,000 alarms would take most of the benchmark's time. A tenth are then acknowledged
through ``mns.fault.service.patch_alarms`` (one transaction), so that the alarm list has both
acknowledgement states.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import replace

import orjson

from mns.fault.events import AlarmEventKind
from mns.fault.model import AlarmRecord, check
from mns.fault.service import patch_alarms
from mns.fault.store import AlarmStore
from mns.nrm.dn import SEP_NEXT, key_to_dn, to_key
from mns.store import SqlStore
from mns.store.api import utc

ALARMS_PER_TXN = 5000
KINDS = (
    ("EQUIPMENT_ALARM", "transmitterFailure", "NR cell out of service", "CRITICAL"),
    ("COMMUNICATIONS_ALARM", "communicationsSubsystemFailure", "NG-C link to AMF down", "MAJOR"),
    ("ENVIRONMENTAL_ALARM", "temperatureUnacceptable", "Cabinet temperature high", "MINOR"),
    ("QUALITY_OF_SERVICE_ALARM", "degradedSignal", "High uplink interference", "WARNING"),
)


def object_dns(store: SqlStore, count: int) -> list[str]:
    """Up to ``count`` DNs of the live twin's objects, spread evenly over it in key order."""
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT path FROM moi WHERE branch = 0 AND rev_to IS NULL ORDER BY path")
        keys = [r[0] for r in cur.fetchall()]
    finally:
        raw.close()
    step = max(1, len(keys) // count)
    return [key_to_dn(k) for k in keys[::step][:count]]


def make_alarms(db: str, count: int) -> dict[str, float]:
    """Raise ``count`` alarms on the twin's objects (several per object if it has fewer); ack a tenth."""
    store = SqlStore(db, sync="normal")
    try:
        t = time.perf_counter()
        dns = object_dns(store, count)
        alarms = AlarmStore.of(store)
        ids: list[str] = []
        for start in range(0, count, ALARMS_PER_TXN):
            with alarms.write() as txn:
                for i in range(start, min(count, start + ALARMS_PER_TXN)):
                    alarm_type, cause, problem, severity = KINDS[i % len(KINDS)]
                    lap = i // len(dns)  # several alarms on one object differ in specificProblem
                    record = AlarmRecord(
                        alarm_id="",
                        object_instance=check("object_instance", dns[i % len(dns)]),
                        alarm_type=check("alarm_type", alarm_type),
                        probable_cause=check("probable_cause", cause),
                        specific_problem=check("specific_problem", f"{problem} #{lap}" if lap else problem),
                        perceived_severity=check("perceived_severity", severity),
                        additional_text=check("additional_text", f"benchmark alarm {i}"),
                    )
                    record = replace(
                        record, alarm_id=txn.new_id(), notification_id=txn.seq + 1, alarm_raised_time=utc(txn.now)
                    )
                    txn.put(AlarmEventKind.NEW, None, record, source="real", author="notify_bench")
                    ids.append(record.alarm_id)
        raised = time.perf_counter() - t
        t = time.perf_counter()
        ack = {a: {"ackState": "ACKNOWLEDGED", "ackUserId": "bench"} for a in ids[::10]}
        done, failed = patch_alarms(store=store, patches=ack, author="notify_bench")
        if failed or len(done) != len(ack):
            raise SystemExit(f"acknowledging the benchmark alarms failed: {failed[:3]}")
        acked = time.perf_counter() - t
        return {"raised_s": raised, "acked_s": acked, "acked": float(len(done))}
    finally:
        store.close()


def alarm_total(db: str) -> int:
    """The alarms raised in the twin at ``db`` so far (0 without an alarm list)."""
    with closing(sqlite3.connect(db)) as conn:
        found = conn.execute("SELECT name FROM sqlite_master WHERE name = 'alarm_version'").fetchone()
        if found is None:
            return 0
        return int(conn.execute("SELECT COUNT(DISTINCT alarm_id) FROM alarm_version").fetchone()[0])


def raw_list(db: str, *, unacked: bool = False, base: str | None = None) -> tuple[float, int]:
    """The ceiling's read: the listed alarms' stored JSON, one SQL query, joined into the JSON map.

    Returns (seconds, body bytes). The same rows the twin reads (its query adds an as-of bound,
    a UNION with the rows closed since, and the order of first raise).
    """
    store = SqlStore(db, sync="normal")
    raw = store.engine.raw_connection()
    try:
        sql = "SELECT alarm_id, record FROM alarm_version WHERE seq_to IS NULL AND listed = 1"
        params: tuple[str, ...] = ()
        if unacked:
            sql += " AND ack_state = 'UNACKNOWLEDGED'"
        if base is not None:
            sql += " AND path >= ? AND path < ?"
            params = (to_key(base), to_key(base) + SEP_NEXT)
        t = time.perf_counter()
        cur = raw.cursor()
        cur.execute(sql + " ORDER BY first_seq", params)
        body = b"{" + b",".join(orjson.dumps(a) + b":" + r.encode() for a, r in cur) + b"}"
        return time.perf_counter() - t, len(body)
    finally:
        raw.close()
        store.close()

"""Threshold monitoring: live ``ThresholdMonitor`` objects compared with each new measurement.

The service follows the PM store through the post-commit measurement hook (``mns.pm.events``):
batches are queued and a worker thread compares each measurement of a monitor's granularity
period, for each unlocked monitor watching the object and each of its thresholds naming the
measurement type, with the threshold (``mns.pm.threshold_model.step``). A crossing:

- is logged with its **notifyThresholdCrossing** (TS 28.532 ``NotifyThresholdCrossing``) in the
  same transaction as the new state (``mns.pm.threshold_store``); the log is the ``thresholds``
  feed, and the event notifier is woken after the commit;
- raises, on the measured object, a **threshold alarm** (QUALITY_OF_SERVICE_ALARM, probable cause
  ``thresholdCrossed`` of ITU-T X.721 / X.733 as TS 32.111-2 lists it, ``thresholdInfo`` after
  TS 28.532 ``ThresholdInfo``), or clears it when the value goes back past the hysteresis.

Only crossings in a direction the threshold triggers on are notified (UP: going up; DOWN: going
down; UP_AND_DOWN: both); the alarm is cleared whenever the value goes back. Measurements with no
value, multi-valued ones and those flagged suspect are not compared; a measurement no newer than
the last one compared for a threshold is not compared again, so a reloaded PM file or a batch
seen again after a restart repeats nothing. Each threshold's state is kept in the database, so a
restart neither repeats nor forgets an alarm; alarm work a crash interrupted is finished at the
next start, and measurements stored while the service was down are compared then.

A deleted monitor's alarms are cleared (and so are those of thresholds or objects a monitor stops
watching); a LOCKED monitor is silent: it compares nothing and its alarms stay as they are.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import orjson

from mns.errors import MnsError
from mns.fault import service as fault
from mns.fault.model import AlarmType, rfc3339
from mns.notify.build import event_time, href, notification_id
from mns.notify.feeds import Event
from mns.nrm.dn import DN, key_to_dn, to_key
from mns.pm import events
from mns.pm.model import Measurement, utc_of
from mns.pm.store import PmStore
from mns.pm.threshold_model import THRESHOLD_MONITOR, Monitor, Threshold, parse_monitor, step
from mns.pm.threshold_store import Crossing, State, StateKey, ThresholdStore
from mns.store.api import LIVE
from mns.store.sql import SqlStore

log = logging.getLogger("mns.pm.threshold")

NOTIFY_THRESHOLD_CROSSING: Final = "notifyThresholdCrossing"
FEED: Final = "thresholds"
PROBABLE_CAUSE: Final = "thresholdCrossed"
SEVERITY: Final = "MINOR"
SOURCE: Final = "threshold"
"""The alarm-change source of threshold alarms (the twin raised them, not the network)."""


class ThresholdFeed:
    """The ``thresholds`` feed: the logged crossings, each a notifyThresholdCrossing."""

    name = FEED
    types = frozenset({NOTIFY_THRESHOLD_CROSSING})

    def __init__(self, store: SqlStore) -> None:
        self.log = ThresholdStore(store)

    def head(self) -> int:
        """The position of the newest crossing."""
        return self.log.head()

    def read(self, after: int, limit: int) -> Sequence[Event]:
        """Up to ``limit`` crossings after ``after``, in order."""
        return self.log.read(after, limit)


@dataclass(frozen=True, slots=True)
class _AlarmWork:
    """An alarm to raise (``value`` given) or clear for one threshold, in crossing order."""

    key: StateKey
    threshold: Threshold
    end: float
    value: float | None
    arm_time: float | None


def specific_problem(key: StateKey) -> str:
    """The alarm's specificProblem: which monitor, threshold and metric (one alarm per each)."""
    return f"{key.metric} threshold idx {key.idx} of {key.monitor}"


def threshold_info(threshold: Threshold, metric: str, value: float, arm_time: float | None) -> dict[str, Any]:
    """TS 28.532 ``ThresholdInfo`` of a threshold alarm.

    ``thresholdLevel`` is left out: the official ``ThresholdLevelInd`` is a ``oneOf`` of two
    objects that any object matches, so no value of it validates; the band is in additionalText.
    """
    info: dict[str, Any] = {"observedMeasurement": metric, "observedValue": float(value)}
    if arm_time is not None:
        info["armTime"] = rfc3339(utc_of(arm_time))
    return info


def crossing_body(
    *,
    pos: int,
    key: StateKey,
    monitor: Monitor,
    threshold: Threshold,
    m: Measurement,
    direction: str,
    prov_root: str,
    system_dn: str | None,
) -> dict[str, Any]:
    """The notifyThresholdCrossing of one crossing (header, then the ``NotifyThresholdCrossing`` fields).

    Values are JSON numbers with a fraction part where needed: the official ``PerfMetricValue``
    is a ``oneOf`` integer or number, which an integer satisfies twice, so every value is sent
    as a float.
    """
    assert m.value is not None
    body: dict[str, Any] = {
        "href": href(prov_root, m.dn),
        "notificationId": notification_id(subscription=FEED, revision=pos, obj=m.dn, ntype=NOTIFY_THRESHOLD_CROSSING),
        "notificationType": NOTIFY_THRESHOLD_CROSSING,
        "eventTime": event_time(m.end),
        "systemDN": system_dn or str(DN(DN.parse(m.dn).rdns[:1])),
        "observedPerfMetricName": key.metric,
        "observedPerfMetricValue": float(m.value),
        "observedPerfMetricDirection": direction,
        "thresholdValue": threshold.value,
        "monitorGranularityPeriod": monitor.period,
        "additionalText": _text(key, threshold, m.value, direction),
    }
    if threshold.hysteresis is not None:
        body["hysteresis"] = threshold.hysteresis
    return body


def _text(key: StateKey, threshold: Threshold, value: float, direction: str) -> str:
    band = ""
    if threshold.hysteresis:
        band = f" (hysteresis {threshold.hysteresis:g}: low {threshold.low:g}, high {threshold.high:g})"
    going = "up" if direction == "UP" else "down"
    return (
        f"{key.metric} = {value:g} crossed threshold {threshold.value:g} going {going}{band}"
        f" on {key.dn}; {key.monitor} thresholdInfoList idx {key.idx}"
    )


def live_monitors(store: SqlStore) -> list[Monitor]:
    """The live twin's usable ThresholdMonitor objects (locked ones included)."""
    sql = store._q("SELECT path, attrs FROM moi WHERE branch = ? AND rev_to IS NULL AND cls = ? ORDER BY path")
    with store._read() as db:
        rows = db.exec_driver_sql(sql, (LIVE, THRESHOLD_MONITOR)).all()
    found = []
    for path, attrs in rows:
        monitor, problems = parse_monitor(key_to_dn(path), orjson.loads(attrs) if attrs else {})
        if monitor is not None:
            found.append(monitor)
        else:  # the mirror keeps what the network holds, checked or not
            log.info("ThresholdMonitor %s is not usable: %s", key_to_dn(path), problems)
    return found


class ThresholdMonitoring:
    """The background service comparing measurements with ThresholdMonitor thresholds."""

    def __init__(
        self,
        *,
        store: SqlStore,
        pm_store: PmStore,
        prov_root: str = "/ProvMnS/v1800",
        system_dn: str | None = None,
        wake: Callable[[], None] | None = None,
        poll_s: float = 0.2,
    ) -> None:
        self.store = store
        self.pm_store = pm_store
        self.prov_root = prov_root
        self.system_dn = system_dn
        self.wake = wake
        self.poll_s = poll_s
        self.tables = ThresholdStore(store)
        self._queue: queue.Queue[Sequence[Measurement] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._remove: Callable[[], None] | None = None
        self._monitors: tuple[int, list[Monitor]] = (-1, [])
        self._version = 0  # counts the reloads of the monitors
        self._synced = -1  # the version ``sync`` last acted on
        self._lock = threading.Lock()  # one evaluation at a time (the worker, or a caller of process)
        self.on_start: Callable[[], None] | None = None
        """Called first thing in ``start`` (``install`` registers the feed there if it could not before)."""
        self.feed_added = False

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the PM store, finish what a previous run left, and start the worker."""
        if self._thread is not None:
            return
        if self.on_start is not None:
            self.on_start()
        self._remove = events.add_listener(self._queue.put, store=self.pm_store)
        self.recover()
        self._thread = threading.Thread(target=self._run, name="threshold-monitoring", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following, compare what is queued, and stop the worker."""
        if self._remove is not None:
            self._remove()
            self._remove = None
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(30)
            self._thread = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued batch has been compared (for tests and orderly shutdowns)."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            try:
                batch = self._queue.get(timeout=self.poll_s)
            except queue.Empty:
                self._safely(self.sync)
                continue
            try:
                if batch is None:
                    return
                self._safely(functools.partial(self.process, batch))
                self._safely(self.sync)
            finally:
                self._queue.task_done()

    def _safely(self, work: Callable[[], Any]) -> None:
        try:
            work()
        except Exception:  # the worker must outlive a bad batch or a database hiccup
            log.exception("threshold monitoring failed; it goes on with the next batch")

    # -- monitors -----------------------------------------------------------------------------

    def monitors(self) -> list[Monitor]:
        """The live monitors, read again after a revision that touched a ThresholdMonitor."""
        head = self.store.head()
        seen, found = self._monitors
        if seen == head:
            return found
        if seen < 0 or self.store.revisions_touching([THRESHOLD_MONITOR], after=seen, upto=head):
            found = live_monitors(self.store)
            self._version += 1
        self._monitors = (head, found)
        return found

    def sync(self) -> None:
        """Clear the alarms and drop the states of thresholds no longer watched (monitor deleted, ...)."""
        with self._lock:
            by_dn = {m.dn: m for m in self.monitors()}
            if self._synced == self._version:
                return
            gone = [s for s in self.tables.states().values() if not _watched(by_dn.get(s.key.monitor), s.key)]
            for state in gone:
                if state.alarm_id is not None:
                    self._clear(state.alarm_id, None)
            self.tables.forget([s.key for s in gone])
            self._synced = self._version

    # -- evaluation ---------------------------------------------------------------------------

    def process(self, batch: Iterable[Measurement]) -> list[Event]:
        """Compare a batch of measurements; returns the crossings logged (also fed to the feed)."""
        with self._lock:
            work = self._collect(batch)
            if not work:
                return []
            known = self.tables.states({k.monitor for k in work})
            states: list[State] = []
            crossings: list[Crossing] = []
            alarms: list[_AlarmWork] = []
            for key, (monitor, threshold, rows) in work.items():
                state = known.get(key) or State(key)
                new = self._compare(state, monitor, threshold, rows, crossings, alarms)
                if new != state:
                    states.append(new)
            logged = self.tables.commit(states, crossings)
            if logged and self.wake is not None:
                self.wake()
            finals = {s.key: s for s in states}
            for item in alarms:
                state = finals.get(item.key) or known[item.key]
                try:
                    finals[item.key] = self._alarm(state, item)
                except MnsError as exc:  # the state stays pending: the next start tries again
                    log.warning("threshold alarm on %s not raised or cleared: %s", item.key.dn, exc.message)
            return logged

    def _collect(self, batch: Iterable[Measurement]) -> dict[StateKey, tuple[Monitor, Threshold, list[Measurement]]]:
        """The measurements each watched threshold must compare, by state key."""
        watching: dict[tuple[str, int], list[tuple[Monitor, Threshold]]] = {}
        for monitor in self.monitors():
            if monitor.locked:
                continue
            for threshold in monitor.thresholds:
                for metric in threshold.metrics:
                    watching.setdefault((metric, monitor.period), []).append((monitor, threshold))
        work: dict[StateKey, tuple[Monitor, Threshold, list[Measurement]]] = {}
        for m in batch:
            if m.value is None or m.suspect:
                continue
            targets = watching.get((m.mtype, m.period))
            if not targets:
                continue
            path = to_key(m.dn)
            for monitor, threshold in targets:
                if monitor.covers(path):
                    key = StateKey(monitor.dn, threshold.idx, m.mtype, path)
                    work.setdefault(key, (monitor, threshold, []))[2].append(m)
        return work

    def _compare(
        self,
        state: State,
        monitor: Monitor,
        threshold: Threshold,
        rows: list[Measurement],
        crossings: list[Crossing],
        alarms: list[_AlarmWork],
    ) -> State:
        """The state after ``rows`` (oldest first); adds the crossings and alarm work they make."""
        for m in sorted(rows, key=lambda r: r.end):
            end = m.end.timestamp()
            if end <= state.last_end or m.value is None:
                continue
            moved = step(threshold, state.crossed, m.value)
            state = replace(state, crossed=moved.crossed, last_end=end, last_value=m.value)
            if moved.direction is None:
                continue
            if moved.notify:
                crossings.append(self._crossing(state.key, monitor, threshold, m, moved.direction))
            if moved.crossed:
                alarms.append(_AlarmWork(state.key, threshold, end, m.value, state.arm_time))
            else:
                state = replace(state, arm_time=end)
                alarms.append(_AlarmWork(state.key, threshold, end, None, end))
        return state

    def _crossing(self, key: StateKey, monitor: Monitor, threshold: Threshold, m: Measurement, way: str) -> Crossing:
        def build(pos: int) -> dict[str, Any]:
            return crossing_body(
                pos=pos,
                key=key,
                monitor=monitor,
                threshold=threshold,
                m=m,
                direction=way,
                prov_root=self.prov_root,
                system_dn=self.system_dn,
            )

        attributes = {"observedPerfMetricName": key.metric, "observedPerfMetricDirection": way}
        return Crossing(monitor.dn, m.dn, NOTIFY_THRESHOLD_CROSSING, m.end.timestamp(), build, attributes)

    # -- alarms -------------------------------------------------------------------------------

    def _alarm(self, state: State, item: _AlarmWork) -> State:
        """Raise or clear the threshold alarm of ``item``; returns the state with its alarm id."""
        if item.value is None:
            if state.alarm_id is not None:
                self._clear(state.alarm_id, item.end)
            return self.tables.set_alarm(state, None)
        record = fault.raise_alarm(
            store=self.store,
            object_instance=item.key.dn,
            alarm_type=AlarmType.QUALITY_OF_SERVICE_ALARM.value,
            probable_cause=PROBABLE_CAUSE,
            specific_problem=specific_problem(item.key),
            perceived_severity=SEVERITY,
            threshold_info=threshold_info(item.threshold, item.key.metric, item.value, item.arm_time),
            additional_text=_text(item.key, item.threshold, item.value, item.threshold.alarm_side),
            event_time=utc_of(item.end),
            source=SOURCE,
            author=item.key.monitor,
        )
        return self.tables.set_alarm(state, record.alarm_id)

    def _clear(self, alarm_id: str, end: float | None) -> None:
        try:
            fault.clear_alarm(
                store=self.store,
                alarm_id=alarm_id,
                clear_system_id="twin-mns threshold monitoring",
                event_time=utc_of(end) if end is not None else None,
                source=SOURCE,
            )
        except MnsError as exc:  # an operator cleared it already: nothing left to do
            log.info("threshold alarm %s was not cleared: %s", alarm_id, exc.message)

    # -- restart ------------------------------------------------------------------------------

    def recover(self) -> None:
        """Finish interrupted alarm work, drop unwatched states, and compare what arrived while down."""
        self.sync()
        by_dn = {m.dn: m for m in self.monitors()}
        missed: list[Measurement] = []
        for state in self.tables.states().values():
            monitor = by_dn.get(state.key.monitor)
            threshold = monitor.threshold(state.key.idx) if monitor is not None else None
            if monitor is None or threshold is None:
                continue
            if state.pending:
                try:
                    self._finish(state, threshold)
                except MnsError as exc:
                    log.warning("threshold alarm on %s not raised or cleared: %s", state.key.dn, exc.message)
            if not monitor.locked:
                rows = self.pm_store.read(
                    dn=state.key.dn, types=[state.key.metric], period=monitor.period, start=utc_of(state.last_end)
                )
                missed += [m for m in rows if m.end.timestamp() > state.last_end]
        if missed:
            self.process(missed)

    def _finish(self, state: State, threshold: Threshold) -> None:
        """Raise the alarm a crossed threshold lacks, or clear the one a re-armed threshold still has."""
        value = state.last_value if state.crossed else None
        if state.crossed and value is None:
            return
        self._alarm(state, _AlarmWork(state.key, threshold, state.last_end, value, state.arm_time))


def _watched(monitor: Monitor | None, key: StateKey) -> bool:
    """Whether ``monitor`` still watches the threshold, metric and object of ``key``."""
    if monitor is None:
        return False
    threshold = monitor.threshold(key.idx)
    return threshold is not None and key.metric in threshold.metrics and monitor.covers(key.path)


def install(app: Any, services: list[Any], *, prov_root: str, system_dn: str | None = None) -> ThresholdMonitoring:
    """Add threshold monitoring to ``app``'s services and its feed to the event notifier (when there is one).

    The event notifier (``app.state.events``) is looked up when needed: where it is made after
    this call, the feed is registered when the service starts, before it logs anything.
    """

    def wake() -> None:
        notifier = getattr(app.state, "events", None)
        if notifier is not None:
            notifier.wake()

    monitoring = ThresholdMonitoring(
        store=app.state.store, pm_store=app.state.pm_store, prov_root=prov_root, system_dn=system_dn, wake=wake
    )
    monitoring.on_start = lambda: _add_feed(app, monitoring)
    _add_feed(app, monitoring)
    app.state.thresholds = monitoring
    services.append(monitoring)
    return monitoring


def _add_feed(app: Any, monitoring: ThresholdMonitoring) -> None:
    notifier = getattr(app.state, "events", None)
    if notifier is not None and not monitoring.feed_added:
        notifier.add_feed(ThresholdFeed(monitoring.store))
        monitoring.feed_added = True

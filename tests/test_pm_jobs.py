"""PM jobs that report files on schedule: PerfMetricJob through ProvMnS, measJobs, the files feed; every backend.

The scheduler's clock is driven by the tests, and the revisions that created or changed a job
are moved into the past (the twin stamps revisions with the real time), so each test says
exactly when a job existed, was locked and was changed.
"""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi.testclient import TestClient

from mns.conformance.schemas import BASE_URI, load_specs, locate_specs
from mns.pm import scheduler as scheduler_module
from mns.pm.feed import FileFeed, notification_id
from mns.pm.files import parse_pm_file
from mns.pm.job_rules import JobDefinition, parse_job
from mns.pm.model import Measurement
from mns.pm.scheduler import (
    FILE_READY,
    PREPARATION_ERROR,
    Job,
    Plan,
    ReportScheduler,
    ReportSettings,
    Segment,
    due_periods,
    plan_of,
)
from mns.pm.store import PmStore
from mns.producers.app import create_app
from mns.sim.generate import generate_network
from mns.store import Create, Scope, SqlStore, Update

PROV = "/ProvMnS/v1800"
FILES = "/FileDataReportingMnS/v1800"
JOBS = "/PerfMeasJobCtrlMnS/v1800/measJobs"
FDR_FILE = "TS28532_FileDataReportingMnS.yaml"
T0 = (datetime.now(UTC) + timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
"""When the tests' jobs are created (their revisions are moved to it): in the future, so the
scheduler an app runs on the real clock has nothing to report for them."""
GP = 900
DELAY = timedelta(minutes=2)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def net(store: SqlStore) -> dict[str, list[str]]:
    """One generated gNB; DNs by class."""
    objects = list(generate_network(1, seed=7))
    store.commit((Create(o.dn, o.attrs, o.cls) for o in objects), source="real")
    by_class: dict[str, list[str]] = {}
    for o in objects:
        by_class.setdefault(o.cls, []).append(o.dn)
    return by_class


@pytest.fixture
def pm(store: SqlStore) -> PmStore:
    return PmStore(store)


def backdate(store: SqlStore, when: datetime, rev: int | None = None) -> None:
    """Move revision ``rev`` (the newest when None) to ``when``."""
    rev = store.head() if rev is None else rev
    with store._transaction() as db:
        db.exec_driver_sql(
            store._q("UPDATE revision SET time = ? WHERE branch = 0 AND rev = ?"), (when.timestamp(), rev)
        )


def job_attrs(**more: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "performanceMetrics": ["RRU.PrbUsedDl", "DRB.UEThpDl"],
        "granularityPeriod": GP,
        "fileReportingPeriod": 15,
    }
    attrs.update(more)
    return {k: v for k, v in attrs.items() if v is not None}


def make_job(store: SqlStore, dn: str, when: datetime = T0, **attrs: Any) -> None:
    """Create PerfMetricJob ``dn`` as an OSS would (class rules run), at ``when``."""
    store.commit([Create(dn, job_attrs(**attrs), "PerfMetricJob")], source="oss")
    backdate(store, when)


def change_job(store: SqlStore, dn: str, when: datetime, **attrs: Any) -> None:
    store.commit([Update(dn, attrs)], source="oss")
    backdate(store, when)


def rows_for(cells: list[str], ends: list[datetime]) -> list[Measurement]:
    """PRB use, throughput (with a 5QI sub-counter) and a metric no job asks for, per cell and period."""
    out = []
    for i, cell in enumerate(cells):
        for k, end in enumerate(ends):
            out.append(Measurement(cell, "RRU.PrbUsedDl", GP, end, 10.0 * k + i))
            out.append(Measurement(cell, "DRB.UEThpDl", GP, end, 100.0 + k))
            out.append(Measurement(cell, "DRB.UEThpDl.1", GP, end, 50.0 + k, suspect=k == 1))
            out.append(Measurement(cell, "RRU.PrbTotDl", GP, end, 273.0))
    return out


def sched(store: SqlStore, pm: PmStore, now: datetime, **settings: Any) -> ReportScheduler:
    return ReportScheduler(
        store=store, pm=pm, settings=ReportSettings(delay=DELAY, **settings), clock=lambda: now + DELAY
    )


def content(pm: PmStore, file_id: str) -> bytes:
    return pm.file_content(file_id)[1]


def spec_validator(specs: Path, name: str) -> Any:
    oas = load_specs(locate_specs(specs))
    return jsonschema.Draft4Validator(
        {"$ref": f"{BASE_URI}{FDR_FILE}#/components/schemas/{name}"}, registry=oas.registry
    )


# -- the class rule -----------------------------------------------------------------------------


def test_bad_jobs_are_refused_and_change_nothing(store: SqlStore, net: dict[str, list[str]]) -> None:
    du = net["GNBDUFunction"][0]
    cell, other_cell = net["NRCellDU"][0], net["NRCellCU"][0]
    job = f"{du},PerfMetricJob=pm1"
    url = f"{PROV}/{job.replace(',', '/')}"
    cases: list[tuple[dict[str, Any], str, str]] = [
        (job_attrs(performanceMetrics=None), "performanceMetrics", "at least one performance metric"),
        (job_attrs(performanceMetrics=[]), "performanceMetrics", "at least one performance metric"),
        (job_attrs(performanceMetrics=["RRU.NoSuch", "RRU"]), "performanceMetrics", "unknown measurement type"),
        (job_attrs(granularityPeriod=7, fileReportingPeriod=7), "granularityPeriod", "not 7"),
        (job_attrs(granularityPeriod=None), "granularityPeriod", "is required"),
        (job_attrs(granularityPeriod=3600, fileReportingPeriod=30), "fileReportingPeriod", "not a multiple"),
        (job_attrs(fileReportingPeriod=None), "fileReportingPeriod", "or streamTarget"),
        (job_attrs(streamTarget="ws://127.0.0.1:1/x"), "streamTarget", "not both"),
        (job_attrs(fileLocation="ftp://127.0.0.1/pm"), "fileLocation", "not supported"),
        (job_attrs(objectInstances=[cell + "9"]), "objectInstances", "no such object"),
        (job_attrs(objectInstances=[other_cell]), "objectInstances", "outside the job's scope"),
        (job_attrs(rootObjectInstances=[f"{du},NRCellDU=77"]), "rootObjectInstances", "no such object"),
    ]
    with TestClient(create_app(store)) as client:
        head = store.head()
        for attrs, attribute, fragment in cases:
            resp = client.put(url, json={"id": "pm1", "attributes": attrs})
            assert resp.status_code == 400, (attrs, resp.text)
            info = resp.json()["error"]["errorInfo"]
            assert job in info, info
            assert f"{attribute}: " in info, info
            assert fragment in info, (fragment, info)
            assert "perf-metric-job" in info
        assert store.head() == head
        assert client.get(url).status_code == 404

        good = job_attrs(objectInstances=[cell], rootObjectInstances=[du], jobId="kpi-1")
        assert client.put(url, json={"id": "pm1", "attributes": good}).status_code == 201
        head = store.head()
        patch = client.patch(
            url,
            json={"attributes": {"performanceMetrics": ["Nope.Nothing"]}},
            headers={"content-type": "application/merge-patch+json"},
        )
        assert patch.status_code == 400
        assert "unknown measurement type" in patch.json()["error"]["errorInfo"]
        assert store.head() == head
        assert client.get(url).json()["attributes"]["performanceMetrics"] == good["performanceMetrics"]


def test_the_mirror_keeps_jobs_it_cannot_run(store: SqlStore, net: dict[str, list[str]]) -> None:
    job = f"{net['GNBDUFunction'][0]},PerfMetricJob=vendor"
    store.commit(
        [Create(job, {"performanceMetrics": ["VENDOR-X"], "granularityPeriod": 7}, "PerfMetricJob")], source="real"
    )
    assert store.get(job) is not None
    assert parse_job(job, {"performanceMetrics": ["VENDOR-X"], "granularityPeriod": 7})[0] is None


# -- the periods --------------------------------------------------------------------------------


def _plan(period: int = GP, metrics: tuple[str, ...] = ("RRU",)) -> Plan:
    return Plan(metrics, GP, period, (("SubNetwork=A", Scope.BASE_SUBTREE),), "j")


def test_due_periods_follow_the_jobs_life() -> None:
    a, b = _plan(), _plan(metrics=("DRB",))
    life = Job(
        "k",
        "SubNetwork=A,PerfMetricJob=1",
        "PerfMetricJob",
        "SubNetwork=A",
        "1",
        (
            Segment(at(5), at(40), a),  # created at 00:05: the first whole period is 00:15-00:30
            Segment(at(40), at(70), None),  # locked at 00:40 (aborts 00:30-00:45), unlocked at 01:10
            Segment(at(70), at(100), a),
            Segment(at(100), None, b),  # changed at 01:40: 01:30-01:45 keeps the old plan
        ),
    )
    got = [(s, e, p.metrics) for s, e, p in due_periods(life, after=T0, upto=at(150))]
    assert got == [
        (at(15), at(30), a.metrics),
        (at(75), at(90), a.metrics),
        (at(90), at(105), a.metrics),
        (at(105), at(120), b.metrics),
        (at(120), at(135), b.metrics),
        (at(135), at(150), b.metrics),
    ]
    assert [e for _, e, _ in due_periods(life, after=at(105), upto=at(140))] == [at(120), at(135)]
    hourly = Job("k", "d", "PerfMetricJob", "d", "1", (Segment(at(-1), None, _plan(period=3600)),))
    assert [(s, e) for s, e, _ in due_periods(hourly, after=T0, upto=at(179))] == [(at(0), at(60)), (at(60), at(120))]


def test_plan_of_a_job_scopes_its_objects() -> None:
    job = "SubNetwork=A,ManagedElement=1,PerfMetricJob=p"
    parsed, problems = parse_job(job, job_attrs())
    assert problems == []
    assert isinstance(parsed, JobDefinition)
    plan = plan_of(job, parsed)
    assert plan is not None
    assert plan.scopes == (("SubNetwork=A,ManagedElement=1", Scope.BASE_SUBTREE),)
    assert plan.job_id == "p"
    assert plan.period == 900
    parsed, _ = parse_job(job, job_attrs(objectInstances=["SubNetwork=A,ManagedElement=1,X=1"], jobId="J"))
    assert parsed is not None
    plan = plan_of(job, parsed)
    assert plan is not None
    assert plan.scopes == (("SubNetwork=A,ManagedElement=1,X=1", Scope.BASE_ONLY),)
    assert plan.job_id == "J"
    locked, _ = parse_job(job, job_attrs(administrativeState="LOCKED"))
    streaming, _ = parse_job(job, job_attrs(fileReportingPeriod=None, streamTarget="ws://127.0.0.1:9/s"))
    assert locked is not None
    assert plan_of(job, locked) is None
    assert streaming is not None
    assert plan_of(job, streaming) is None


# -- the files ----------------------------------------------------------------------------------


def test_a_job_reports_its_objects_and_metrics(store: SqlStore, pm: PmStore, net: dict[str, list[str]]) -> None:
    du = net["GNBDUFunction"][0]
    cells = net["NRCellDU"]
    job = f"{du},PerfMetricJob=pm1"
    make_job(store, job, fileReportingPeriod=30, objectInstances=cells[:2], jobId="kpi-7")
    pm.add(rows_for(cells, [at(15), at(30), at(45)]))

    reports = sched(store, pm, at(30)).run_once()
    assert [(r.ntype, r.begin, r.end, r.job) for r in reports] == [(FILE_READY, at(0), at(30), job)]
    file = reports[0].file
    assert file is not None
    assert file.period == GP
    assert file.begin_time == at(0)
    assert file.end_time == at(30)
    data = content(pm, file.id)
    parsed = parse_pm_file(data)
    # suspect is per object and period in a file: the 5QI sub-counter of 00:30 marks its object's values
    want = {
        (m.dn, m.mtype, m.end): (m.value, m.end == at(30))
        for m in rows_for(cells[:2], [at(15), at(30)])
        if m.mtype != "RRU.PrbTotDl"
    }
    assert {(m.dn, m.mtype, m.end): (m.value, m.suspect) for m in parsed.measurements} == want
    assert b'jobId="kpi-7"' in gzip.decompress(data)
    assert file.id.endswith("_-_pm1.xml.gz")  # named by the job, not its jobId, which jobs may share
    assert "4 objects" not in reports[0].text
    assert "2 objects" in reports[0].text

    with TestClient(create_app(store)) as client:
        listed = client.get(f"{FILES}/files", params={"fileDataType": "Performance"}).json()
        assert [i["fileLocation"].rsplit("/", 2)[-2] for i in listed] == [file.id]
        assert client.get(listed[0]["fileLocation"]).content == data


def test_no_period_twice_across_restarts_and_catch_up(store: SqlStore, pm: PmStore, net: dict[str, list[str]]) -> None:
    job = f"{net['ManagedElement'][0]},PerfMetricJob=hourly"
    make_job(store, job, fileReportingPeriod=60)
    pm.add(rows_for(net["NRCellDU"], [at(15 * q) for q in range(1, 5)]))

    first = sched(store, pm, at(60)).run_once()
    assert [r.end for r in first] == [at(60)]
    assert sched(store, pm, at(60)).run_once() == []  # a new scheduler: a restart
    assert sched(store, pm, at(119)).run_once() == []

    # down for 30 hours: the missed periods of the last 24 h are reported, oldest first, once
    later = sched(store, pm, at(60 * 31)).run_once()
    assert [r.end for r in later] == [at(60 * h) for h in range(8, 32)]
    assert [r.seq for r in later] == list(range(2, 26))
    assert sched(store, pm, at(60 * 31)).run_once() == []
    assert pm.report_head() == 25
    assert len(pm.files(data_type="Performance")) == 25


def test_an_empty_period_still_gives_a_file(
    store: SqlStore, pm: PmStore, net: dict[str, list[str]], specs: Path
) -> None:
    job = f"{net['GNBDUFunction'][0]},PerfMetricJob=quiet"
    make_job(store, job)
    (report,) = sched(store, pm, at(15)).run_once()
    assert report.ntype == FILE_READY
    assert report.file is not None
    assert parse_pm_file(content(pm, report.file.id)).measurements == []
    assert "no measurements" in report.text
    xsd = specs.parent / "interop" / "pm" / "measData-28.532.xsd"
    if xsd.is_file():
        from mns.pm.files import validate_pm_file

        assert validate_pm_file(gzip.decompress(content(pm, report.file.id)), str(xsd)) == []


def test_locked_jobs_are_silent(store: SqlStore, pm: PmStore, net: dict[str, list[str]]) -> None:
    du = net["GNBDUFunction"][0]
    job = f"{du},PerfMetricJob=locked"
    make_job(store, job, administrativeState="LOCKED")
    pm.add(rows_for(net["NRCellDU"], [at(15 * q) for q in range(1, 13)]))
    assert sched(store, pm, at(90)).run_once() == []

    # unlocked at 01:40, locked again at 02:20: only 01:45-02:00 and 02:00-02:15 are whole
    change_job(store, job, at(100), administrativeState="UNLOCKED")
    change_job(store, job, at(140), administrativeState="LOCKED")
    reports = sched(store, pm, at(180)).run_once()
    assert [(r.begin, r.end) for r in reports] == [(at(105), at(120)), (at(120), at(135))]
    assert all(r.file is not None and r.file.size > 0 for r in reports)


def test_measjobs_report_files_too(store: SqlStore, pm: PmStore, net: dict[str, list[str]], specs: Path) -> None:
    cells = net["NRCellDU"]
    pm.add(rows_for(cells, [at(15), at(30)]))
    with TestClient(create_app(store)) as client:
        body = {
            "iOCName": "NRCellDU",
            "iOCInstanceList": [cells[2]],
            "measurementCategoryList": ["RRU.PrbUsedDl"],
            "granularityPeriod": GP,
            "reportingPeriod": 1800,
        }
        created = client.post(JOBS, json=body)
        assert created.status_code == 201, created.text
        job_id = created.headers["location"].rsplit("/", 1)[1]
        bad = client.post(JOBS, json=body | {"granularityPeriod": 7, "reportingPeriod": 7})
        assert bad.status_code == 400
        assert "granularityPeriod" in bad.json()["error"]["errorInfo"]
        streaming = client.post(JOBS, json=body | {"reportingMethod": "streaming", "streamTarget": "ws://127.0.0.1:9"})
        assert streaming.status_code == 201
    with store._transaction() as db:
        db.exec_driver_sql(store._q("UPDATE pm_job SET created = ?"), (at(-1).timestamp(),))

    (report,) = sched(store, pm, at(30)).run_once()
    assert report.job == f"measJob:{job_id}"
    assert (report.begin, report.end) == (at(0), at(30))
    assert report.file is not None
    assert job_id in report.file.id
    got = parse_pm_file(content(pm, report.file.id)).measurements
    assert sorted((m.dn, m.mtype, m.end, m.value) for m in got) == [
        (cells[2], "RRU.PrbUsedDl", at(15), 2.0),
        (cells[2], "RRU.PrbUsedDl", at(30), 12.0),
    ]
    (event,) = FileFeed(pm, jobs_root="http://127.0.0.1:8000/PerfMeasJobCtrlMnS/v1800").read(0, 10)
    assert event.body["href"] == f"http://127.0.0.1:8000{JOBS}/{job_id}"
    assert event.dn == cells[2]
    spec_validator(specs, "NotifyFileReady").validate(event.body)


# -- the feed -----------------------------------------------------------------------------------


def test_feed_bodies_positions_and_rereads(
    store: SqlStore, pm: PmStore, net: dict[str, list[str]], specs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    du = net["GNBDUFunction"][0]
    make_job(store, f"{du},PerfMetricJob=a", objectInstances=net["NRCellDU"][:1])
    make_job(store, f"{du},PerfMetricJob=b")
    pm.add(rows_for(net["NRCellDU"], [at(15), at(30)]))
    sched(store, pm, at(15)).run_once()
    monkeypatch.setattr(scheduler_module, "MAX_FILE_ROWS", 3)
    sched(store, pm, at(30)).run_once()

    feed = FileFeed(
        pm,
        prov_root="http://127.0.0.1:8000/ProvMnS/v1800",
        files_root="http://127.0.0.1:8000/FileDataReportingMnS/v1800",
    )
    assert feed.name == "files"
    assert feed.types == {"notifyFileReady", "notifyFilePreparationError"}
    events = list(feed.read(0, 100))
    assert [e.pos for e in events] == [1, 2, 3, 4]
    assert feed.head() == 4
    assert [e.type for e in events] == [FILE_READY, FILE_READY, FILE_READY, PREPARATION_ERROR]
    ready, error = spec_validator(specs, "NotifyFileReady"), spec_validator(specs, "NotifyFilePreparationError")
    for e in events:
        (ready if e.type == FILE_READY else error).validate(e.body)
        assert e.body["notificationType"] == e.type
        assert e.body["notificationId"] == notification_id(e.pos)
        assert e.body["systemDN"] == "SubNetwork=RAN"
    first = events[0].body
    assert first["href"] == f"http://127.0.0.1:8000/ProvMnS/v1800/{du.replace(',', '/')}/PerfMetricJob=a"
    (info,) = first["fileInfoList"]
    assert info["fileLocation"].startswith(f"http://127.0.0.1:8000{FILES}/files/A{T0:%Y%m%d}.0000+0000-")
    assert info["fileDataType"] == "Performance"
    assert info["fileFormat"] == "org.3GPP.28.532#measData"
    assert "more than 3 measurements" in events[3].body["reason"]
    assert events[3].dn == f"{du},PerfMetricJob=b"
    assert len({e.body["notificationId"] for e in events}) == 4

    again = list(feed.read(2, 100))
    assert [e.pos for e in again] == [3, 4]
    assert [dict(e.body) for e in again] == [dict(e.body) for e in events[2:]]
    assert list(feed.read(4, 10)) == []
    assert [e.pos for e in feed.read(0, 2)] == [1, 2]
    assert sched(store, pm, at(30)).run_once() == []  # the failed period is not retried either


def test_the_app_runs_the_scheduler_and_registers_the_feed(store: SqlStore, net: dict[str, list[str]]) -> None:
    make_job(store, f"{net['GNBDUFunction'][0]},PerfMetricJob=a")
    app = create_app(store)
    scheduler: ReportScheduler = app.state.pm_reporting
    assert scheduler in app.state.services
    events = getattr(app.state, "events", None)
    if events is not None:
        assert events.feeds["files"] is app.state.file_feed
    woken: list[int] = []
    scheduler.clock = lambda: at(16) + scheduler.settings.delay
    scheduler.on_report = lambda: woken.append(1)
    scheduler.settings = ReportSettings(poll_s=0.05)
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while not woken and time.monotonic() < deadline:
            time.sleep(0.02)
        listed = client.get(f"{FILES}/files", params={"fileDataType": "Performance"}).json()
    assert woken
    assert len(listed) == 1
    assert scheduler._thread is None  # stopped with the app


def test_file_ready_reaches_a_subscriber(store: SqlStore, net: dict[str, list[str]], specs: Path) -> None:
    from conftest import serve
    from test_notify_e2e import Recipient, wait_for

    from mns.notify.delivery import NotifySettings
    from mns.producers.app import Settings

    du = net["GNBDUFunction"][0]
    make_job(store, f"{du},PerfMetricJob=a")
    PmStore(store).add(rows_for(net["NRCellDU"], [at(15)]))
    recipient = Recipient()
    app = create_app(store, Settings(notify=NotifySettings(prov_root=PROV, poll_s=0.05, cursor_flush_s=0.1)))
    scheduler: ReportScheduler = app.state.pm_reporting
    scheduler.clock = lambda: at(15) + scheduler.settings.delay
    with serve(recipient.app) as recipient_url, serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        app.state.events.start()
        try:
            made = client.post(f"{FILES}/subscriptions", json={"consumerReference": f"{recipient_url}/ntf"})
            assert made.status_code == 201, made.text
            (report,) = scheduler.run_once()
            wait_for(lambda: bool(recipient.of(FILE_READY)), "notifyFileReady")
            (body,) = recipient.of(FILE_READY)
            spec_validator(specs, "NotifyFileReady").validate(body)
            assert body["notificationId"] == notification_id(report.seq)
            assert body["href"] == f"{PROV}/{du.replace(',', '/')}/PerfMetricJob=a"
            (info,) = body["fileInfoList"]
            assert report.file is not None
            assert info["fileLocation"] == f"{FILES}/files/{report.file.id}/content"
            assert client.get(info["fileLocation"]).content == PmStore(store).file_content(report.file.id)[1]
        finally:
            app.state.events.stop()


def test_jobs_sharing_a_job_id_report_apart(store: SqlStore, pm: PmStore, net: dict[str, list[str]]) -> None:
    du = net["GNBDUFunction"][0]
    make_job(store, f"{du},PerfMetricJob=x", jobId="kpi", performanceMetrics=["RRU.PrbUsedDl"])
    make_job(store, f"{du},PerfMetricJob=y", jobId="kpi", performanceMetrics=["DRB.UEThpDl"])
    pm.add(rows_for(net["NRCellDU"], [at(15)]))
    reports = sched(store, pm, at(15)).run_once()
    assert len({r.file.id for r in reports if r.file is not None}) == 2
    types = [{m.mtype for m in parse_pm_file(content(pm, r.file.id)).measurements} for r in reports if r.file]
    assert types == [{"RRU.PrbUsedDl"}, {"DRB.UEThpDl", "DRB.UEThpDl.1"}]

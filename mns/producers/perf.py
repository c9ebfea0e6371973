"""Performance routes: File Data Reporting MnS (TS 28.532) and the twin's PM extension.

``{root}/FileDataReportingMnS/{version}``:

- ``GET /files?fileDataType=&beginTime=&endTime=`` lists the reported files as an array of
  ``FileInfo`` (times select on ``fileReadyTime``, when a file became available);
- ``GET /files/{fileId}/content`` downloads one: the ``fileLocation`` of its ``FileInfo``
  (the spec leaves the location's form to the producer).

``{root}/TwinMnS/v1``:

- ``GET /pm?dn=&measurementTypes=&from=&to=&scope=&scopeLevel=&granularityPeriod=`` returns
  measurement series as JSON;
- ``POST /pm`` stores the measurements of a PM file (XML of either format, gzip, or a VES
  perf3gpp event) and answers what it stored and corrected;
- ``POST /pm/files`` reports a PM file of a subtree and period, then listed by ``GET /files``.

``{root}/PerfMeasJobCtrlMnS/{version}`` (TS 28.550): ``POST /measJobs`` (201, or 202 with an
``unsupportedList``; the new job's URI is in ``Location``), ``GET /measJobs?jobIdList=``
(every job when ``jobIdList`` is absent, a twin extension), ``GET`` and ``DELETE /measJobs/{jobId}``.

``install_reporting`` adds the scheduled file reporting of the PM jobs (``mns.pm.scheduler``) to
the app's background services and its ``files`` feed (notifyFileReady) to the event notifier.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mns.errors import BadRequest, UnsupportedMediaType
from mns.pm import jobs, service
from mns.pm.feed import FileFeed
from mns.pm.files import MEAS_DATA
from mns.pm.model import Measurement, parse_time, rfc3339
from mns.pm.scheduler import ReportScheduler, ReportSettings
from mns.pm.store import PmStore
from mns.store.api import Scope
from mns.store.sql import SqlStore

T = TypeVar("T")
JSON = "application/json"
_lock = threading.Lock()


def pm_store(request: Request) -> PmStore:
    """The app's PM store, made (and its tables created) on first use."""
    state = request.app.state
    pm: PmStore | None = getattr(state, "pm_store", None)
    if pm is None:
        with _lock:
            pm = getattr(state, "pm_store", None)
            if pm is None:
                store = state.store
                if not isinstance(store, SqlStore):
                    raise BadRequest("PM data needs the SQL store")
                pm = PmStore(store)
                state.pm_store = pm
    return pm


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


def _time(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    when = parse_time(value, what=what)
    try:
        when.timestamp()  # the store keeps times as epoch seconds, answers say them in UTC
        return when.astimezone(UTC)
    except (OverflowError, ValueError, OSError):
        raise BadRequest(f"{what} {value!r} is outside the times the twin can store") from None


_INT_MAX = 2**31 - 1


def _int(value: str | None, what: str, *, low: int = 0) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= _INT_MAX:
        raise BadRequest(f"{what} {value!r} is not a whole number from {low} to {_INT_MAX}")
    return int(value)


def series(rows: list[Measurement]) -> list[dict[str, Any]]:
    """Rows grouped into series per (object, type, period), points oldest first."""
    out: list[dict[str, Any]] = []
    last: tuple[str, str, int] | None = None
    for m in rows:
        key = (m.dn, m.mtype, m.period)
        if key != last:
            out.append({"dn": m.dn, "measurementType": m.mtype, "granularityPeriod": m.period, "points": []})
            last = key
        point: dict[str, Any] = {"endTime": rfc3339(m.end), "value": m.value}
        if m.values is not None:
            point["values"] = list(m.values)
        if m.suspect:
            point["suspect"] = True
        out[-1]["points"].append(point)
    return out


def build_router(*, root: str = "", version: str = "v1800") -> APIRouter:
    """FileDataReportingMnS and PerfMeasJobCtrlMnS at ``{root}/<MnS>/{version}``, and TwinMnS PM."""
    router = APIRouter()
    files_prefix = f"{root}/FileDataReportingMnS/{version}"
    jobs_prefix = f"{root}/PerfMeasJobCtrlMnS/{version}"
    twin_prefix = f"{root}/TwinMnS/v1"

    async def call(fn: Callable[..., T], **kwargs: Any) -> T:
        return await run_in_threadpool(fn, **kwargs)

    def location(request: Request, file_id: str) -> str:
        return str(request.base_url).rstrip("/") + f"{files_prefix}/files/{file_id}/content"

    @router.get(files_prefix + "/files", operation_id="getFiles", summary="Read information about available files")
    async def get_files(request: Request) -> Response:
        q = request.query_params
        data_type = q.get("fileDataType")
        if data_type is None:
            raise BadRequest("fileDataType is required (Performance, Trace, Analytics or Proprietary)")
        files = await call(
            service.list_files,
            pm=pm_store(request),
            data_type=data_type,
            begin=_time(q.get("beginTime"), "beginTime"),
            end=_time(q.get("endTime"), "endTime"),
        )
        return _json([service.file_info(f, location=location(request, f.id)) for f in files])

    @router.get(
        files_prefix + "/files/{fileId}/content",
        operation_id="getFileContent",
        summary="Download a file listed by GET /files (its fileLocation)",
    )
    async def get_file_content(request: Request) -> Response:
        meta, content = await run_in_threadpool(pm_store(request).file_content, request.path_params["fileId"])
        media = "application/gzip" if meta.compression == "gzip" else "application/xml"
        headers = {"Content-Disposition": f'attachment; filename="{meta.id}"'}
        return Response(content, media_type=media, headers=headers)

    @router.get(twin_prefix + "/pm", operation_id="getMeasurements", summary="Measurement series of objects")
    async def get_pm(request: Request) -> Response:
        q = request.query_params
        scope_text = q.get("scope", q.get("scopeType", "BASE_ONLY"))
        try:
            scope = Scope(scope_text)
        except ValueError:
            raise BadRequest(f"scope {scope_text!r} is not one of {', '.join(s.value for s in Scope)}") from None
        types_text = q.get("measurementTypes")
        types = [t.strip() for t in types_text.split(",") if t.strip()] if types_text else None
        start, end = _time(q.get("from"), "from"), _time(q.get("to"), "to")
        rows = await call(
            service.query,
            pm=pm_store(request),
            dn=q.get("dn"),
            types=types,
            start=start,
            end=end,
            scope=scope,
            level=_int(q.get("scopeLevel"), "scopeLevel") or 0,
            period=_int(q.get("granularityPeriod"), "granularityPeriod", low=1),
        )
        body = {
            "dn": q.get("dn"),
            "scope": scope.value,
            "from": rfc3339(start) if start else None,
            "to": rfc3339(end) if end else None,
            "series": series(rows),
        }
        return _json(body)

    @router.post(twin_prefix + "/pm", operation_id="postMeasurements", summary="Store the measurements of a PM file")
    async def post_pm(request: Request) -> Response:
        data = await request.body()
        if not data:
            raise BadRequest("POST /pm needs a PM file (XML, gzip or VES perf3gpp JSON) as its body")
        result = await call(
            service.ingest, pm=pm_store(request), data=data, dn_prefix=request.query_params.get("dnPrefix")
        )
        return _json(result.as_dict())

    @router.post(twin_prefix + "/pm/files", operation_id="postPmFile", summary="Report a PM file of a subtree")
    async def post_pm_file(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict) or not all(
            k in body for k in ("dn", "beginTime", "endTime", "granularityPeriod")
        ):
            raise BadRequest(
                "POST /pm/files takes {dn, beginTime, endTime, granularityPeriod[, fileFormat, compression]}"
            )
        compression = body.get("compression", "gzip")
        if compression not in ("gzip", "none"):
            raise BadRequest(f"compression {compression!r} is not gzip or none")
        period = body["granularityPeriod"]
        if not isinstance(period, int) or isinstance(period, bool) or period <= 0:
            raise BadRequest(f"granularityPeriod {period!r} is not a positive number of seconds")
        meta = await call(
            service.report_file,
            pm=pm_store(request),
            dn=str(body["dn"]),
            begin=parse_time(str(body["beginTime"]), what="beginTime"),
            end=parse_time(str(body["endTime"]), what="endTime"),
            period=period,
            fmt=str(body.get("fileFormat", MEAS_DATA)),
            compress=compression == "gzip",
        )
        return _json(service.file_info(meta, location=location(request, meta.id)), 201)

    def job_href(request: Request, job_id: str) -> str:
        return str(request.base_url).rstrip("/") + f"{jobs_prefix}/measJobs/{job_id}"

    @router.post(jobs_prefix + "/measJobs", operation_id="createMeasJob", summary="Create a measurement job")
    async def create_meas_job(request: Request) -> Response:
        if (request.headers.get("content-type") or "").split(";")[0].strip() != JSON:
            raise UnsupportedMediaType("POST /measJobs takes application/json")
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the request body is not valid JSON: {exc}") from None
        created = await call(jobs.create_job, pm=pm_store(request), store=request.app.state.store, body=body)
        response = _json(created.body(), 202 if created.unsupported else 201)
        response.headers["Location"] = job_href(request, created.job_id)
        return response

    @router.get(jobs_prefix + "/measJobs", operation_id="getMeasJobs", summary="Read measurement jobs")
    async def get_meas_jobs(request: Request) -> Response:
        ids = [i for v in request.query_params.getlist("jobIdList") for i in v.split(",") if i]
        found = await call(jobs.read_jobs, pm=pm_store(request), job_ids=ids or None)
        return _json({"jobInfoList": [jobs.job_info(b, href=job_href(request, i)) for i, b in found.items()]})

    @router.get(jobs_prefix + "/measJobs/{jobId}", operation_id="getMeasJob", summary="Read a measurement job")
    async def get_meas_job(request: Request) -> Response:
        job_id = request.path_params["jobId"]
        found = await call(jobs.read_jobs, pm=pm_store(request), job_ids=[job_id])
        return _json({"jobInfoList": [jobs.job_info(found[job_id], href=job_href(request, job_id))]})

    @router.delete(jobs_prefix + "/measJobs/{jobId}", operation_id="deleteMeasJob", summary="Delete a measurement job")
    async def delete_meas_job(request: Request) -> Response:
        await call(jobs.delete_job, pm=pm_store(request), job_id=request.path_params["jobId"])
        return Response(status_code=204)

    return router


def install_reporting(
    app: Any,
    services: list[Any],
    *,
    prov_root: str,
    system_dn: str | None = None,
    version: str = "v1800",
    settings: ReportSettings | None = None,
) -> ReportScheduler | None:
    """Add the PM jobs' file reporting to ``services`` and its feed to ``app.state.events``.

    The feed's URIs take the origin of ``prov_root`` (the notifications' ProvMnS root, best
    absolute) and the app's root (``app.state.settings``). The event notifier may be made after
    this runs: the feed is then added when the scheduler starts, before the app serves. None
    (nothing added) without a PM store.
    """
    root: str = getattr(app.state.settings, "root", "")
    prov_prefix: str = getattr(app.state.settings, "prov_prefix", "")
    pm: PmStore | None = getattr(app.state, "pm_store", None)
    if pm is None:
        return None
    origin = prov_root[: -len(prov_prefix)] if prov_prefix and prov_root.endswith(prov_prefix) else ""
    feed = FileFeed(
        pm,
        prov_root=prov_root,
        files_root=f"{origin}{root}/FileDataReportingMnS/{version}",
        jobs_root=f"{origin}{root}/PerfMeasJobCtrlMnS/{version}",
        system_dn=system_dn,
        settings=settings,
    )
    added: list[Any] = []

    def add_feed() -> None:
        events = getattr(app.state, "events", None)
        if events is not None and not added:
            events.add_feed(feed)
            added.append(events)

    def wake() -> None:
        events = getattr(app.state, "events", None)
        if events is not None:
            events.wake()

    scheduler = ReportScheduler(
        store=app.state.store, pm=pm, settings=settings or ReportSettings(), on_report=wake, on_start=add_feed
    )
    add_feed()
    app.state.file_feed = feed
    app.state.pm_reporting = scheduler
    services.append(scheduler)
    return scheduler

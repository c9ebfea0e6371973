"""The I/O-free core of the MnS consumer client: requests, answers, retry policy.

Every operation is a ``Call``: the ``httpx.Request`` to send, whether it may be sent again,
and how to read the answer. ``MnsClient`` and ``AsyncMnsClient`` only send calls (with the
retry policy of ``Retry``) and hand the answers back here, so the two share every decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar
from urllib.parse import quote

import httpx
import orjson
import tenacity

from mns.consumer.errors import (
    ArgumentError,
    ConnectError,
    FailedAlarm,
    FailedAlarms,
    InvalidResponseError,
    MnsClientError,
    ProducerError,
    Timeout,
    TransportError,
    producer_error,
    unquote_etag,
)
from mns.consumer.models import (
    Alarm,
    AlarmCount,
    Comment,
    FileInfo,
    MeasJob,
    MeasJobCreated,
    Moi,
    ReadResult,
    Subscription,
    WriteResult,
)
from mns.consumer.stream import ParseError, TreeParser

T = TypeVar("T")

JSON: Final = "application/json"
HIERARCHICAL: Final = "application/vnd.3gpp.object-tree-hierarchical+json"
FLAT: Final = "application/vnd.3gpp.object-tree-flat+json"
MEDIA: Final = {"json": JSON, "hierarchical": HIERARCHICAL, "flat": FLAT}
"""Response media types of a ProvMnS GET, by short name (full names are accepted too)."""

MERGE_PATCH: Final = "application/merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"
GPP_MERGE_PATCH: Final = "application/3gpp-merge-patch+json"
GPP_JSON_PATCH: Final = "application/3gpp-json-patch+json"
PATCH_MEDIA: Final = (MERGE_PATCH, JSON_PATCH, GPP_MERGE_PATCH, GPP_JSON_PATCH)

SCOPE_TYPES: Final = ("BASE_ONLY", "BASE_NTH_LEVEL", "BASE_SUBTREE", "BASE_ALL")
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
REVISION_HEADER: Final = "X-Twin-Revision"
AUTHOR_HEADER: Final = "X-Twin-Author"


@dataclass(frozen=True, slots=True)
class MnsPaths:
    """Where each MnS lives under the client's base URL (name and version, as the producer serves them)."""

    prov: str = "/ProvMnS/v1800"
    fault: str = "/FaultSupervisionMnS/v1800"
    files: str = "/FileDataReportingMnS/v1800"
    pm_jobs: str = "/PerfMeasJobCtrlMnS/v1800"


@dataclass(frozen=True, slots=True)
class Retry:
    """Retries with exponential backoff, only where sending again cannot do a change twice.

    ``attempts`` counts the first one; the wait before attempt n+1 is ``backoff * 2**(n-1)``
    seconds, at most ``backoff_max``.
    """

    attempts: int = 4
    backoff: float = 0.5
    backoff_max: float = 8.0

    def policy(self, method: str) -> dict[str, Any]:
        """The tenacity arguments for a request of ``method`` (stop, wait, which errors, reraise)."""
        return {
            "stop": tenacity.stop_after_attempt(max(1, self.attempts)),
            "wait": tenacity.wait_exponential(multiplier=self.backoff, min=0, max=self.backoff_max),
            "retry": tenacity.retry_if_exception(lambda exc: retryable(method, exc)),
            "reraise": True,
        }


def retryable(method: str, exc: BaseException) -> bool:
    """May a request of ``method`` that failed with ``exc`` be sent again? (see the client's docstring)."""
    if isinstance(exc, TransportError):
        return not exc.sent or method in IDEMPOTENT
    if isinstance(exc, ProducerError):
        return method in IDEMPOTENT and exc.status in RETRY_STATUSES
    return False


def transport_error(exc: httpx.TransportError, request: httpx.Request) -> TransportError:
    """Our error for an httpx transport failure; ``sent`` is False only when nothing left the client."""
    where = {"method": request.method, "url": str(request.url)}
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ConnectError(f"could not connect ({what})", sent=False, **where)
    if isinstance(exc, httpx.PoolTimeout):
        return Timeout(f"no free connection in time ({what})", sent=False, **where)
    if isinstance(exc, httpx.TimeoutException):
        return Timeout(f"no answer in time ({what}); the producer may have processed the request", sent=True, **where)
    return TransportError(f"the exchange failed ({what})", sent=True, **where)


def _revision(response: httpx.Response) -> int | None:
    value = response.headers.get(REVISION_HEADER)
    return int(value) if value is not None and value.strip().isdigit() else None


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise InvalidResponseError(
            f"not JSON ({exc})",
            method=response.request.method,
            url=str(response.request.url),
            status=response.status_code,
        ) from None


def _invalid(response: httpx.Response, message: str) -> InvalidResponseError:
    request = response.request
    return InvalidResponseError(message, method=request.method, url=str(request.url), status=response.status_code)


@dataclass(slots=True)
class Call(Generic[T]):
    """One operation: the request, and how to read its answer."""

    request: httpx.Request
    parse: Callable[[httpx.Response], T]
    error: Callable[[httpx.Response], MnsClientError] = field(default=producer_error)

    @property
    def method(self) -> str:
        """The HTTP method (decides whether it may be retried)."""
        return self.request.method

    def check(self, response: httpx.Response) -> None:
        """Raise the mapped error for an error status (the body must have been read)."""
        if response.status_code >= 400:
            raise self.error(response)

    def result(self, response: httpx.Response) -> T:
        """The typed result of a successful answer."""
        return self.parse(response)


def _ids(alarm_ids: str | Sequence[str]) -> list[str]:
    ids = [alarm_ids] if isinstance(alarm_ids, str) else list(alarm_ids)
    if not ids or not all(isinstance(i, str) and i for i in ids):
        raise ArgumentError("alarm ids must be a non-empty id or list of ids")
    return ids


def _failed_alarms(response: httpx.Response) -> MnsClientError:
    """FailedAlarms for a PATCH /alarms answered with a FailedAlarm list, else the usual error."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if response.status_code == 400 and isinstance(body, list):
        failed = [
            FailedAlarm(str(f.get("alarmId", "")), str(f.get("failureReason", ""))) for f in body if isinstance(f, dict)
        ]
        request = response.request
        return FailedAlarms(method=request.method, url=str(request.url), status=400, failed=failed, body=body)
    return producer_error(response)


def _none(_: httpx.Response) -> None:
    return None


def _last_segment(location: str | None) -> str | None:
    if not location:
        return None
    return httpx.URL(location).path.rstrip("/").rsplit("/", 1)[-1] or None


class Core:
    """Builds every request of the client and reads every answer; no I/O."""

    def __init__(self, build: Callable[..., httpx.Request], paths: MnsPaths) -> None:
        self._build = build
        self.paths = paths

    # -- ProvMnS ------------------------------------------------------------------------------

    def prov_path(self, dn: str) -> str:
        """The ProvMnS path of an object: the DN's RDNs as path segments, percent-encoded."""
        from mns.errors import MalformedDN
        from mns.nrm.dn import DN, escape_id

        try:
            parsed = DN.parse(dn)
        except MalformedDN as exc:
            raise ArgumentError(f"{dn!r} is not a DN: {exc.message}") from None
        segments = (quote(f"{c}={escape_id(i)}", safe="=,:@!$&'()*+;") for c, i in parsed.rdns)
        return f"{self.paths.prov}/{'/'.join(segments)}"

    def read_request(
        self,
        dn: str,
        *,
        scope: str,
        level: int | None,
        filter: str | None,
        attributes: Sequence[str] | None,
        fields: Sequence[str] | None,
        media: str,
        params: Mapping[str, str] | None,
    ) -> httpx.Request:
        """A ProvMnS GET."""
        if scope not in SCOPE_TYPES:
            raise ArgumentError(f"scope {scope!r} is not one of {', '.join(SCOPE_TYPES)}")
        accept = MEDIA.get(media, media)
        if accept not in MEDIA.values():
            raise ArgumentError(f"media {media!r} is not one of {', '.join(MEDIA)} (or their full names)")
        query: dict[str, str] = {}
        if scope != "BASE_ONLY" or level is not None:
            query["scopeType"] = scope
        if level is not None:
            query["scopeLevel"] = str(level)
        if filter is not None:
            query["filter"] = filter
        if attributes is not None:
            query["attributes"] = ",".join(attributes)
        if fields is not None:
            query["fields"] = ",".join(fields)
        query.update(params or {})
        return self._build("GET", self.prov_path(dn), params=query, headers={"Accept": accept})

    def tree_parser(self, dn: str, response: httpx.Response) -> TreeParser:
        """The incremental parser for a GET answer (ETag and revision taken from its headers)."""
        return TreeParser(dn, etag=unquote_etag(response.headers.get("etag")), revision=_revision(response))

    def subtree(self, dn: str, **kwargs: Any) -> Call[None]:
        """A GET whose answer the client streams through ``tree_parser`` (the call itself reads nothing)."""
        return Call(self.read_request(dn, **kwargs), _none)

    def read(self, dn: str, **kwargs: Any) -> Call[ReadResult]:
        """GET, parsed whole into a ReadResult."""
        request = self.read_request(dn, **kwargs)

        def parse(response: httpx.Response) -> ReadResult:
            parser = self.tree_parser(dn, response)
            try:
                objects = parser.feed(response.content) + parser.close()
            except ParseError as exc:
                raise _invalid(response, str(exc)) from None
            media = (response.headers.get("content-type") or JSON).split(";")[0].strip()
            etag = unquote_etag(response.headers.get("etag"))
            return ReadResult(objects, _revision(response), etag, media)

        return Call(request, parse)

    def read_one(self, dn: str, *, attributes: Sequence[str] | None, fields: Sequence[str] | None) -> Call[Moi]:
        """GET one object (BASE_ONLY), with its ETag."""
        whole = self.read(
            dn,
            scope="BASE_ONLY",
            level=None,
            filter=None,
            attributes=attributes,
            fields=fields,
            media="json",
            params=None,
        )

        def parse(response: httpx.Response) -> Moi:
            objects = whole.parse(response).objects
            if not objects:
                raise _invalid(response, f"the answer holds no object (expected {dn})")
            return objects[0]

        return Call(whole.request, parse)

    def put(self, dn: str, attributes: Mapping[str, Any], *, if_match: str | None) -> Call[WriteResult]:
        """PUT one resource (``{"id", "attributes"}``; the class is the DN's)."""
        from mns.nrm.dn import DN

        self.prov_path(dn)  # ArgumentError for a malformed DN, before DN.parse below
        body = {"id": DN.parse(dn).id, "attributes": dict(attributes)}
        request = self._write("PUT", dn, body, JSON, if_match)

        def parse(response: httpx.Response) -> WriteResult:
            moi = None
            if response.content:
                parser = self.tree_parser(dn, response)
                try:
                    found = parser.feed(response.content) + parser.close()
                except ParseError as exc:
                    raise _invalid(response, str(exc)) from None
                moi = found[0] if found else None
            return self._written(response, moi)

        return Call(request, parse)

    def patch(self, dn: str, body: Any, media: str, *, if_match: str | None) -> Call[WriteResult]:
        """PATCH with one of the four ProvMnS patch media types."""
        if media not in PATCH_MEDIA:
            raise ArgumentError(f"PATCH media type {media!r} is not one of {', '.join(PATCH_MEDIA)}")
        return Call(self._write("PATCH", dn, body, media, if_match), self._written)

    def delete(self, dn: str, *, if_match: str | None) -> Call[WriteResult]:
        """DELETE an object and its subtree."""
        headers = {"If-Match": _quoted(if_match)} if if_match else {}
        return Call(self._build("DELETE", self.prov_path(dn), headers=headers), self._written)

    def _write(self, method: str, dn: str, body: Any, media: str, if_match: str | None) -> httpx.Request:
        headers = {"Content-Type": media}
        if if_match:
            headers["If-Match"] = _quoted(if_match)
        return self._build(method, self.prov_path(dn), content=orjson.dumps(body), headers=headers)

    @staticmethod
    def _written(response: httpx.Response, moi: Moi | None = None) -> WriteResult:
        etag = unquote_etag(response.headers.get("etag"))
        return WriteResult(response.status_code, _revision(response), etag, moi)

    # -- Fault MnS ----------------------------------------------------------------------------

    def alarms(
        self,
        *,
        ack_state: str | None,
        base_object_instance: str | None,
        filter: str | None,
        params: Mapping[str, str] | None,
    ) -> Call[dict[str, Alarm]]:
        """GET /alarms: alarm id -> Alarm."""
        query = {
            k: v
            for k, v in (("alarmAckState", ack_state), ("baseObjectInstance", base_object_instance), ("filter", filter))
            if v is not None
        }
        query.update(params or {})
        request = self._build("GET", f"{self.paths.fault}/alarms", params=query, headers={"Accept": JSON})

        def parse(response: httpx.Response) -> dict[str, Alarm]:
            body = _json(response)
            if not isinstance(body, dict):
                raise _invalid(response, "GET /alarms must answer a map of alarm ids to AlarmRecords")
            return {str(k): Alarm.from_json(str(k), v) for k, v in body.items() if isinstance(v, dict)}

        return Call(request, parse)

    def alarm_count(self, *, ack_state: str | None, filter: str | None) -> Call[AlarmCount]:
        """GET /alarms/alarmCount."""
        query = {k: v for k, v in (("alarmAckState", ack_state), ("filter", filter)) if v is not None}
        request = self._build("GET", f"{self.paths.fault}/alarms/alarmCount", params=query)

        def parse(response: httpx.Response) -> AlarmCount:
            body = _json(response)
            if not isinstance(body, dict):
                raise _invalid(response, "alarmCount must be a JSON object")
            return AlarmCount.from_json(body)

        return Call(request, parse)

    def patch_alarms(self, alarm_ids: str | Sequence[str], doc: Mapping[str, Any]) -> Call[None]:
        """PATCH one alarm (``/alarms/{id}``) or several (``/alarms``, FailedAlarms on partial failure)."""
        ids = _ids(alarm_ids)
        headers = {"Content-Type": MERGE_PATCH}
        if isinstance(alarm_ids, str):
            path = f"{self.paths.fault}/alarms/{quote(ids[0], safe='')}"
            return Call(self._build("PATCH", path, content=orjson.dumps(doc), headers=headers), _none)
        body = orjson.dumps(dict.fromkeys(ids, doc))
        request = self._build("PATCH", f"{self.paths.fault}/alarms", content=body, headers=headers)
        return Call(request, _none, _failed_alarms)

    def comment(self, alarm_id: str, text: str, *, user: str | None, system: str | None) -> Call[Comment]:
        """POST /alarms/{alarmId}/comments."""
        body = {"commentText": text}
        if user is not None:
            body["commentUserId"] = user
        if system is not None:
            body["commentSystemId"] = system
        path = f"{self.paths.fault}/alarms/{quote(_ids(alarm_id)[0], safe='')}/comments"
        request = self._build("POST", path, content=orjson.dumps(body), headers={"Content-Type": JSON})

        def parse(response: httpx.Response) -> Comment:
            raw = _json(response) if response.content else body
            if not isinstance(raw, dict):
                raise _invalid(response, "a Comment must be a JSON object")
            return Comment.from_json(raw, _last_segment(response.headers.get("location")))

        return Call(request, parse)

    def subscribe(
        self, root: str, consumer_reference: str, *, filter: str | None, time_tick: int | None
    ) -> Call[Subscription]:
        """POST {root}/subscriptions (Fault MnS or File Data Reporting MnS)."""
        body: dict[str, Any] = {"consumerReference": consumer_reference}
        if time_tick is not None:
            body["timeTick"] = time_tick
        if filter is not None:
            body["filter"] = filter
        request = self._build(
            "POST", f"{root}/subscriptions", content=orjson.dumps(body), headers={"Content-Type": JSON}
        )

        def parse(response: httpx.Response) -> Subscription:
            raw = _json(response) if response.content else body
            location = response.headers.get("location")
            sub_id = _last_segment(location) or (str(raw["id"]) if isinstance(raw, dict) and "id" in raw else None)
            if sub_id is None or not isinstance(raw, dict):
                raise _invalid(response, "the subscription's id is neither in its Location nor in its body")
            return Subscription(sub_id, location, raw.get("consumerReference"), raw)

        return Call(request, parse)

    def unsubscribe(self, root: str, subscription_id: str) -> Call[None]:
        """DELETE {root}/subscriptions/{id}."""
        path = f"{root}/subscriptions/{quote(subscription_id, safe='')}"
        return Call(self._build("DELETE", path), _none)

    # -- File data reporting and PM jobs ------------------------------------------------------

    def files(self, *, data_type: str, begin: str | None, end: str | None) -> Call[list[FileInfo]]:
        """GET /files."""
        query = {"fileDataType": data_type}
        query.update({k: v for k, v in (("beginTime", begin), ("endTime", end)) if v is not None})
        request = self._build("GET", f"{self.paths.files}/files", params=query)

        def parse(response: httpx.Response) -> list[FileInfo]:
            body = _json(response)
            if isinstance(body, dict):  # some producers wrap the list
                body = body.get("files", body.get("fileInfoList", []))
            if not isinstance(body, list):
                raise _invalid(response, "GET /files must answer a list of FileInfo")
            return [FileInfo.from_json(f) for f in body if isinstance(f, dict)]

        return Call(request, parse)

    def download(self, file_location: str) -> Call[bytes]:
        """GET a file at its fileLocation (absolute, or relative to the base URL)."""
        return Call(self._build("GET", file_location), lambda r: r.content)

    def create_meas_job(self, body: Mapping[str, Any]) -> Call[MeasJobCreated]:
        """POST /measJobs."""
        request = self._build(
            "POST", f"{self.paths.pm_jobs}/measJobs", content=orjson.dumps(dict(body)), headers={"Content-Type": JSON}
        )

        def parse(response: httpx.Response) -> MeasJobCreated:
            raw = _json(response) if response.content else {}
            location = response.headers.get("location")
            job_id = _last_segment(location) or (str(raw.get("jobId")) if isinstance(raw, dict) else None)
            if not job_id or not isinstance(raw, dict):
                raise _invalid(response, "the job's id is neither in its Location nor in its body")
            unsupported = raw.get("unsupportedList") or []
            return MeasJobCreated(job_id, location, list(unsupported), response.status_code, raw)

        return Call(request, parse)

    def meas_jobs(self, job_ids: Sequence[str] | None) -> Call[list[MeasJob]]:
        """GET /measJobs (all, or those of ``job_ids``)."""
        query = {"jobIdList": ",".join(job_ids)} if job_ids else {}
        request = self._build("GET", f"{self.paths.pm_jobs}/measJobs", params=query)

        def parse(response: httpx.Response) -> list[MeasJob]:
            body = _json(response)
            items = body.get("jobInfoList", []) if isinstance(body, dict) else body
            if not isinstance(items, list):
                raise _invalid(response, "GET /measJobs must answer a jobInfoList")
            out = []
            for item in items:
                if isinstance(item, dict):
                    href = item.get("href")
                    job_id = str(item.get("jobId") or _last_segment(href) or "")
                    out.append(MeasJob(job_id, href, item))
            return out

        return Call(request, parse)

    def delete_meas_job(self, job_id: str) -> Call[None]:
        """DELETE /measJobs/{jobId}."""
        return Call(self._build("DELETE", f"{self.paths.pm_jobs}/measJobs/{quote(job_id, safe='')}"), _none)


def _quoted(etag: str) -> str:
    """An ETag as an If-Match value (quoted unless it already is, or is ``*``)."""
    etag = etag.strip()
    return etag if etag == "*" or etag.startswith(('"', "W/")) else f'"{etag}"'

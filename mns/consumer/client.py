"""A TS 28.532 MnS consumer client for any producer: a real network, a vendor's EMS, ``mns sim``, the twin.

``MnsClient`` (sync) and ``AsyncMnsClient`` (async) offer the same operations with the same
arguments; both send the requests that ``mns.consumer._core`` builds and hand the answers back
to it, so they make the same decisions. On httpx::

    with MnsClient("http://127.0.0.1:8000", author="planner") as mns:
        cell = mns.get_one("SubNetwork=RAN,ManagedElement=gNB-1,GNBDUFunction=1,NRCellDU=1")
        mns.merge_patch(cell.dn, {"administrativeState": "LOCKED"}, if_match=cell.etag)
        for moi in mns.iter_subtree("SubNetwork=RAN"):   # streamed: flat memory at any size
            ...

Services (paths under the base URL, each configurable with ``MnsPaths``): ProvMnS
(``/ProvMnS/v1800``: ``get``, ``get_one``, ``iter_subtree``, ``put``, ``patch`` with the four
PATCH media types and its helpers, ``delete``, and ``NtfSubscriptionControl`` objects through
``create_ntf_subscription``/``delete_ntf_subscription``), Fault MnS
(``/FaultSupervisionMnS/v1800``: ``alarms``, ``alarm_count``, ``acknowledge``,
``unacknowledge``, ``clear``, ``comment``, ``subscribe``, ``unsubscribe``), File Data Reporting
(``/FileDataReportingMnS/v1800``: ``files``, ``download``, ``subscribe_files``,
``unsubscribe_files``) and PM job control (``/PerfMeasJobCtrlMnS/v1800``: ``create_meas_job``,
``meas_jobs``, ``delete_meas_job``). Objects, classes and attributes pass through as the
producer spells them (either naming dialect; ``Moi.canonical()`` gives the stage-2 form).

Connection: ``transport`` takes any httpx transport (``httpx.ASGITransport`` to talk to an app
in-process, ``httpx.MockTransport`` in tests); ``token`` sends ``Authorization: Bearer``;
``verify`` (a bool, a CA bundle path or an ``ssl.SSLContext``) and ``cert`` (a client
certificate file, or (cert, key)) set TLS; ``headers`` are added to every request; ``author``
sets the twin's ``X-Twin-Author``; ``timeout`` is in seconds (or an ``httpx.Timeout``).

Retries (``retry=Retry(attempts, backoff, backoff_max)``, exponential backoff with tenacity),
only where sending again cannot make a change twice:

- GET, PUT and DELETE are idempotent: they are retried on any transport failure (connect
  error, timeout, broken connection) and on 429, 500, 502, 503 and 504. A retried DELETE may
  then answer 404 (NotFoundError) when an earlier attempt did delete the object.
- PATCH and POST are retried only when the request never left the client: a connect error or
  connect timeout (``httpx.ConnectError`` / ``ConnectTimeout``) or no free pooled connection.
  Never after a read timeout, a broken connection or any status: the producer may have applied
  the change, and a second PATCH or POST may apply it again.
- A streamed read (``iter_subtree``) retries the request until its answer starts; a failure in
  the middle of the body raises ``TransportError`` (the caller decides whether to start over).

Errors: every failure is an ``MnsClientError`` (the tree is drawn in ``mns.consumer.errors``),
its message naming method, URL, status and the producer's ``errorInfo``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx
import tenacity

from mns.consumer._async import AsyncMnsClient
from mns.consumer._core import (
    GPP_JSON_PATCH,
    GPP_MERGE_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    Call,
    MnsPaths,
    Retry,
    transport_error,
)
from mns.consumer._http import BaseMnsClient, ack_document, clear_document, invalid_stream, ntf_subscription_attributes
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
from mns.consumer.stream import ParseError

T = TypeVar("T")


class MnsClient(BaseMnsClient):
    """The synchronous client (see the module docstring)."""

    def __init__(self, base_url: str, *, transport: httpx.BaseTransport | None = None, **options: Any) -> None:
        super().__init__(base_url, **options)
        self._http = httpx.Client(transport=transport, **self.settings.httpx_options())
        self._core = self._make_core(self._http)

    def __enter__(self) -> MnsClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # -- sending ------------------------------------------------------------------------------

    def _exchange(self, call: Call[Any], stream: bool) -> httpx.Response:
        """One attempt: send, read the answer of an error status, raise the mapped error."""
        try:
            response = self._http.send(call.request, stream=stream)
            if stream and response.status_code >= 400:
                try:
                    response.read()
                finally:
                    response.close()
        except httpx.TransportError as exc:
            raise transport_error(exc, call.request) from exc
        call.check(response)
        return response

    def _send(self, call: Call[Any], *, stream: bool = False) -> httpx.Response:
        retrying = tenacity.Retrying(**self.settings.retry.policy(call.method))
        return retrying(self._exchange, call, stream)

    def _run(self, call: Call[T]) -> T:
        return call.result(self._send(call))

    def _stream(self, call: Call[Any], dn: str) -> Iterator[Moi]:
        response = self._send(call, stream=True)
        try:
            parser = self._core.tree_parser(dn, response)
            for chunk in response.iter_bytes():
                yield from parser.feed(chunk)
            yield from parser.close()
        except httpx.TransportError as exc:
            raise transport_error(exc, call.request) from exc
        except ParseError as exc:
            raise invalid_stream(call, response, exc) from None
        finally:
            response.close()

    # -- ProvMnS ------------------------------------------------------------------------------

    def get(
        self,
        dn: str,
        *,
        scope: str = "BASE_ONLY",
        level: int | None = None,
        filter: str | None = None,
        attributes: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        media: str = "json",
        params: Mapping[str, str] | None = None,
    ) -> ReadResult:
        """GET objects (``media``: json, hierarchical or flat; ``params``: extra query, e.g. asOf)."""
        return self._run(
            self._core.read(
                dn,
                scope=scope,
                level=level,
                filter=filter,
                attributes=attributes,
                fields=fields,
                media=media,
                params=params,
            )
        )

    def get_one(self, dn: str, *, attributes: Sequence[str] | None = None, fields: Sequence[str] | None = None) -> Moi:
        """GET one object, with its ETag (NotFoundError when it does not exist)."""
        return self._run(self._core.read_one(dn, attributes=attributes, fields=fields))

    def iter_subtree(
        self,
        dn: str,
        *,
        scope: str = "BASE_SUBTREE",
        level: int | None = None,
        filter: str | None = None,
        attributes: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        media: str = "hierarchical",
        params: Mapping[str, str] | None = None,
    ) -> Iterator[Moi]:
        """The objects of a subtree, parents first, parsed while the answer streams in (flat memory)."""
        call = self._core.subtree(
            dn,
            scope=scope,
            level=level,
            filter=filter,
            attributes=attributes,
            fields=fields,
            media=media,
            params=params,
        )
        return self._stream(call, dn)

    def put(self, dn: str, attributes: Mapping[str, Any], *, if_match: str | None = None) -> WriteResult:
        """PUT (create or replace) one object; ``created`` tells which."""
        return self._run(self._core.put(dn, attributes, if_match=if_match))

    def patch(self, dn: str, body: Any, media: str = MERGE_PATCH, *, if_match: str | None = None) -> WriteResult:
        """PATCH with any of the four ProvMnS patch media types."""
        return self._run(self._core.patch(dn, body, media, if_match=if_match))

    def merge_patch(self, dn: str, attributes: Mapping[str, Any], *, if_match: str | None = None) -> WriteResult:
        """RFC 7396 merge patch of one object's attributes (``None`` removes one)."""
        return self.patch(dn, {"attributes": dict(attributes)}, MERGE_PATCH, if_match=if_match)

    def json_patch(
        self, dn: str, operations: Sequence[Mapping[str, Any]], *, if_match: str | None = None
    ) -> WriteResult:
        """RFC 6902 JSON patch of one object (paths like ``/attributes/userLabel``)."""
        return self.patch(dn, [dict(o) for o in operations], JSON_PATCH, if_match=if_match)

    def gpp_merge_patch(self, dn: str, resource: Mapping[str, Any], *, if_match: str | None = None) -> WriteResult:
        """3GPP merge patch of a subtree: a resource with children by class (``"attributes": None`` deletes)."""
        return self.patch(dn, dict(resource), GPP_MERGE_PATCH, if_match=if_match)

    def gpp_json_patch(
        self, dn: str, operations: Sequence[Mapping[str, Any]], *, if_match: str | None = None
    ) -> WriteResult:
        """3GPP JSON patch of a subtree (paths like ``/NRCellDU=2#/attributes/nRPCI``)."""
        return self.patch(dn, [dict(o) for o in operations], GPP_JSON_PATCH, if_match=if_match)

    def delete(self, dn: str, *, if_match: str | None = None) -> WriteResult:
        """DELETE an object and its subtree."""
        return self._run(self._core.delete(dn, if_match=if_match))

    def create_ntf_subscription(
        self,
        parent_dn: str,
        subscription_id: str,
        recipient: str,
        *,
        notification_types: Sequence[str] | None = None,
        scope: Mapping[str, Any] | None = None,
        notification_filter: str | None = None,
    ) -> WriteResult:
        """PUT an ``NtfSubscriptionControl`` under ``parent_dn`` (CM notifications to ``recipient``)."""
        attrs = ntf_subscription_attributes(
            recipient, notification_types=notification_types, scope=scope, notification_filter=notification_filter
        )
        return self.put(self._subscription_dn(parent_dn, subscription_id), attrs)

    def delete_ntf_subscription(self, parent_dn: str, subscription_id: str) -> WriteResult:
        """DELETE an ``NtfSubscriptionControl`` (and its HeartbeatControl)."""
        return self.delete(self._subscription_dn(parent_dn, subscription_id))

    # -- Fault MnS ----------------------------------------------------------------------------

    def alarms(
        self,
        *,
        ack_state: str | None = None,
        base_object_instance: str | None = None,
        filter: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Alarm]:
        """The alarm list (alarm id -> Alarm), narrowed as asked."""
        return self._run(
            self._core.alarms(
                ack_state=ack_state, base_object_instance=base_object_instance, filter=filter, params=params
            )
        )

    def alarm_count(self, *, ack_state: str | None = None, filter: str | None = None) -> AlarmCount:
        """Alarms per perceived severity."""
        return self._run(self._core.alarm_count(ack_state=ack_state, filter=filter))

    def acknowledge(self, alarm_ids: str | Sequence[str], user: str, *, system: str | None = None) -> None:
        """Acknowledge one alarm or several (FailedAlarms names those that could not be)."""
        self._run(self._core.patch_alarms(alarm_ids, ack_document(user, system, "ACKNOWLEDGED")))

    def unacknowledge(self, alarm_ids: str | Sequence[str], user: str, *, system: str | None = None) -> None:
        """Take back the acknowledgement of one alarm or several."""
        self._run(self._core.patch_alarms(alarm_ids, ack_document(user, system, "UNACKNOWLEDGED")))

    def clear(self, alarm_ids: str | Sequence[str], user: str, *, system: str | None = None) -> None:
        """Clear one alarm or several."""
        self._run(self._core.patch_alarms(alarm_ids, clear_document(user, system)))

    def comment(self, alarm_id: str, text: str, *, user: str | None = None, system: str | None = None) -> Comment:
        """Add a comment to an alarm."""
        return self._run(self._core.comment(alarm_id, text, user=user, system=system))

    def subscribe(
        self, consumer_reference: str, *, filter: str | None = None, time_tick: int | None = None
    ) -> Subscription:
        """Subscribe ``consumer_reference`` to the alarm notifications."""
        root = self.settings.paths.fault
        return self._run(self._core.subscribe(root, consumer_reference, filter=filter, time_tick=time_tick))

    def unsubscribe(self, subscription_id: str) -> None:
        """Delete a Fault MnS subscription."""
        self._run(self._core.unsubscribe(self.settings.paths.fault, subscription_id))

    # -- File data reporting and PM jobs ------------------------------------------------------

    def files(
        self, data_type: str = "Performance", *, begin: str | None = None, end: str | None = None
    ) -> list[FileInfo]:
        """The files the producer offers (``begin``/``end``: RFC 3339 times)."""
        return self._run(self._core.files(data_type=data_type, begin=begin, end=end))

    def download(self, file_location: str) -> bytes:
        """The content of a file at its ``fileLocation``."""
        return self._run(self._core.download(file_location))

    def subscribe_files(
        self, consumer_reference: str, *, filter: str | None = None, time_tick: int | None = None
    ) -> Subscription:
        """Subscribe ``consumer_reference`` to the file notifications (notifyFileReady...)."""
        root = self.settings.paths.files
        return self._run(self._core.subscribe(root, consumer_reference, filter=filter, time_tick=time_tick))

    def unsubscribe_files(self, subscription_id: str) -> None:
        """Delete a File Data Reporting MnS subscription."""
        self._run(self._core.unsubscribe(self.settings.paths.files, subscription_id))

    def create_meas_job(self, body: Mapping[str, Any]) -> MeasJobCreated:
        """Create a TS 28.550 measurement job (``iOCName``, ``iOCInstanceList``, ``measurementCategoryList``...)."""
        return self._run(self._core.create_meas_job(body))

    def meas_jobs(self, job_ids: Sequence[str] | None = None) -> list[MeasJob]:
        """The measurement jobs (all, or those named)."""
        return self._run(self._core.meas_jobs(job_ids))

    def delete_meas_job(self, job_id: str) -> None:
        """Delete a measurement job."""
        self._run(self._core.delete_meas_job(job_id))


__all__ = ["AsyncMnsClient", "BaseMnsClient", "MnsClient", "MnsPaths", "Retry"]

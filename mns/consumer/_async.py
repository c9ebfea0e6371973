"""The asynchronous MnS consumer client; see ``mns.consumer.client`` for what it does and how it retries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx
import tenacity

from mns.consumer._core import GPP_JSON_PATCH, GPP_MERGE_PATCH, JSON_PATCH, MERGE_PATCH, Call, transport_error
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


class AsyncMnsClient(BaseMnsClient):
    """The asynchronous client: the operations of ``MnsClient``, awaited (see ``mns.consumer.client``)."""

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None, **options: Any) -> None:
        super().__init__(base_url, **options)
        self._http = httpx.AsyncClient(transport=transport, **self.settings.httpx_options())
        self._core = self._make_core(self._http)

    async def __aenter__(self) -> AsyncMnsClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    # -- sending ------------------------------------------------------------------------------

    async def _exchange(self, call: Call[Any], stream: bool) -> httpx.Response:
        """One attempt: send, read the answer of an error status, raise the mapped error."""
        try:
            response = await self._http.send(call.request, stream=stream)
            if stream and response.status_code >= 400:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except httpx.TransportError as exc:
            raise transport_error(exc, call.request) from exc
        call.check(response)
        return response

    async def _send(self, call: Call[Any], *, stream: bool = False) -> httpx.Response:
        retrying = tenacity.AsyncRetrying(**self.settings.retry.policy(call.method))
        return await retrying(self._exchange, call, stream)

    async def _run(self, call: Call[T]) -> T:
        return call.result(await self._send(call))

    async def _stream(self, call: Call[Any], dn: str) -> AsyncIterator[Moi]:
        response = await self._send(call, stream=True)
        try:
            parser = self._core.tree_parser(dn, response)
            async for chunk in response.aiter_bytes():
                for moi in parser.feed(chunk):
                    yield moi
            for moi in parser.close():
                yield moi
        except httpx.TransportError as exc:
            raise transport_error(exc, call.request) from exc
        except ParseError as exc:
            raise invalid_stream(call, response, exc) from None
        finally:
            await response.aclose()

    # -- ProvMnS ------------------------------------------------------------------------------

    async def get(
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
        return await self._run(
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

    async def get_one(
        self, dn: str, *, attributes: Sequence[str] | None = None, fields: Sequence[str] | None = None
    ) -> Moi:
        """GET one object, with its ETag (NotFoundError when it does not exist)."""
        return await self._run(self._core.read_one(dn, attributes=attributes, fields=fields))

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
    ) -> AsyncIterator[Moi]:
        """The objects of a subtree, parents first, parsed while the answer streams in (flat memory).

        To stop early, iterate inside ``contextlib.aclosing(...)`` so the connection is released at once.
        """
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

    async def put(self, dn: str, attributes: Mapping[str, Any], *, if_match: str | None = None) -> WriteResult:
        """PUT (create or replace) one object; ``created`` tells which."""
        return await self._run(self._core.put(dn, attributes, if_match=if_match))

    async def patch(self, dn: str, body: Any, media: str = MERGE_PATCH, *, if_match: str | None = None) -> WriteResult:
        """PATCH with any of the four ProvMnS patch media types."""
        return await self._run(self._core.patch(dn, body, media, if_match=if_match))

    async def merge_patch(self, dn: str, attributes: Mapping[str, Any], *, if_match: str | None = None) -> WriteResult:
        """RFC 7396 merge patch of one object's attributes (``None`` removes one)."""
        return await self.patch(dn, {"attributes": dict(attributes)}, MERGE_PATCH, if_match=if_match)

    async def json_patch(
        self, dn: str, operations: Sequence[Mapping[str, Any]], *, if_match: str | None = None
    ) -> WriteResult:
        """RFC 6902 JSON patch of one object (paths like ``/attributes/userLabel``)."""
        return await self.patch(dn, [dict(o) for o in operations], JSON_PATCH, if_match=if_match)

    async def gpp_merge_patch(
        self, dn: str, resource: Mapping[str, Any], *, if_match: str | None = None
    ) -> WriteResult:
        """3GPP merge patch of a subtree: a resource with children by class (``"attributes": None`` deletes)."""
        return await self.patch(dn, dict(resource), GPP_MERGE_PATCH, if_match=if_match)

    async def gpp_json_patch(
        self, dn: str, operations: Sequence[Mapping[str, Any]], *, if_match: str | None = None
    ) -> WriteResult:
        """3GPP JSON patch of a subtree (paths like ``/NRCellDU=2#/attributes/nRPCI``)."""
        return await self.patch(dn, [dict(o) for o in operations], GPP_JSON_PATCH, if_match=if_match)

    async def delete(self, dn: str, *, if_match: str | None = None) -> WriteResult:
        """DELETE an object and its subtree."""
        return await self._run(self._core.delete(dn, if_match=if_match))

    async def create_ntf_subscription(
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
        return await self.put(self._subscription_dn(parent_dn, subscription_id), attrs)

    async def delete_ntf_subscription(self, parent_dn: str, subscription_id: str) -> WriteResult:
        """DELETE an ``NtfSubscriptionControl`` (and its HeartbeatControl)."""
        return await self.delete(self._subscription_dn(parent_dn, subscription_id))

    # -- Fault MnS ----------------------------------------------------------------------------

    async def alarms(
        self,
        *,
        ack_state: str | None = None,
        base_object_instance: str | None = None,
        filter: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Alarm]:
        """The alarm list (alarm id -> Alarm), narrowed as asked."""
        return await self._run(
            self._core.alarms(
                ack_state=ack_state, base_object_instance=base_object_instance, filter=filter, params=params
            )
        )

    async def alarm_count(self, *, ack_state: str | None = None, filter: str | None = None) -> AlarmCount:
        """Alarms per perceived severity."""
        return await self._run(self._core.alarm_count(ack_state=ack_state, filter=filter))

    async def acknowledge(self, alarm_ids: str | Sequence[str], user: str, *, system: str | None = None) -> None:
        """Acknowledge one alarm or several (FailedAlarms names those that could not be)."""
        await self._run(self._core.patch_alarms(alarm_ids, ack_document(user, system, "ACKNOWLEDGED")))

    async def unacknowledge(self, alarm_ids: str | Sequence[str], user: str, *, system: str | None = None) -> None:
        """Take back the acknowledgement of one alarm or several."""
        await self._run(self._core.patch_alarms(alarm_ids, ack_document(user, system, "UNACKNOWLEDGED")))

    async def clear(self, alarm_ids: str | Sequence[str], user: str, *, system: str | None = None) -> None:
        """Clear one alarm or several."""
        await self._run(self._core.patch_alarms(alarm_ids, clear_document(user, system)))

    async def comment(self, alarm_id: str, text: str, *, user: str | None = None, system: str | None = None) -> Comment:
        """Add a comment to an alarm."""
        return await self._run(self._core.comment(alarm_id, text, user=user, system=system))

    async def subscribe(
        self, consumer_reference: str, *, filter: str | None = None, time_tick: int | None = None
    ) -> Subscription:
        """Subscribe ``consumer_reference`` to the alarm notifications."""
        root = self.settings.paths.fault
        return await self._run(self._core.subscribe(root, consumer_reference, filter=filter, time_tick=time_tick))

    async def unsubscribe(self, subscription_id: str) -> None:
        """Delete a Fault MnS subscription."""
        await self._run(self._core.unsubscribe(self.settings.paths.fault, subscription_id))

    # -- File data reporting and PM jobs ------------------------------------------------------

    async def files(
        self, data_type: str = "Performance", *, begin: str | None = None, end: str | None = None
    ) -> list[FileInfo]:
        """The files the producer offers (``begin``/``end``: RFC 3339 times)."""
        return await self._run(self._core.files(data_type=data_type, begin=begin, end=end))

    async def download(self, file_location: str) -> bytes:
        """The content of a file at its ``fileLocation``."""
        return await self._run(self._core.download(file_location))

    async def subscribe_files(
        self, consumer_reference: str, *, filter: str | None = None, time_tick: int | None = None
    ) -> Subscription:
        """Subscribe ``consumer_reference`` to the file notifications (notifyFileReady...)."""
        root = self.settings.paths.files
        return await self._run(self._core.subscribe(root, consumer_reference, filter=filter, time_tick=time_tick))

    async def unsubscribe_files(self, subscription_id: str) -> None:
        """Delete a File Data Reporting MnS subscription."""
        await self._run(self._core.unsubscribe(self.settings.paths.files, subscription_id))

    async def create_meas_job(self, body: Mapping[str, Any]) -> MeasJobCreated:
        """Create a TS 28.550 measurement job (``iOCName``, ``iOCInstanceList``, ``measurementCategoryList``...)."""
        return await self._run(self._core.create_meas_job(body))

    async def meas_jobs(self, job_ids: Sequence[str] | None = None) -> list[MeasJob]:
        """The measurement jobs (all, or those named)."""
        return await self._run(self._core.meas_jobs(job_ids))

    async def delete_meas_job(self, job_id: str) -> None:
        """Delete a measurement job."""
        await self._run(self._core.delete_meas_job(job_id))

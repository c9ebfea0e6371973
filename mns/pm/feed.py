"""The ``files`` notification feed: notifyFileReady / notifyFilePreparationError of the jobs' reports.

Each report the scheduler stored (``pm_report``) is one event at its sequence number, so the
feed is its own outbox: reading from a position again gives the same bodies with the same
``notificationId`` (a hash of the feed and the position). Bodies follow
``TS28532_FileDataReportingMnS.yaml``: the TS 28.623 header (``href`` is the job: the
PerfMetricJob's ProvMnS URI, or the measJob's TS 28.550 URI), a ``fileInfoList`` with the new
file's ``FileInfo`` (its ``fileLocation`` is where ``GET /files`` lists it) and an
``additionalText`` saying what the file holds; a preparation error carries the ``reason``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final

from mns.notify.build import MAX_ID, event_time, href
from mns.notify.feeds import Event
from mns.nrm.dn import DN
from mns.pm.files import FILE_FORMAT_NAMES
from mns.pm.scheduler import FILE_READY, MEAS_JOB, PREPARATION_ERROR, ReportSettings
from mns.pm.service import PERFORMANCE, file_info
from mns.pm.store import PmReport, PmStore

NAME: Final = "files"


def notification_id(position: int) -> int:
    """The id of the files feed's notification at ``position`` (53 bits, stable across restarts)."""
    digest = hashlib.blake2b(f"{NAME}\n{position}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & MAX_ID


class FileFeed:
    """The ``files`` feed over a PM store's reports.

    ``prov_root``, ``files_root`` and ``jobs_root`` prefix the URIs of the notifications (best
    absolute: ``http://host:port/ProvMnS/v1800``...); ``system_dn`` is every notification's
    ``systemDN`` (None: the root object of the job's tree).
    """

    name: str = NAME
    types: frozenset[str] = frozenset({FILE_READY, PREPARATION_ERROR})

    def __init__(
        self,
        pm: PmStore,
        *,
        prov_root: str = "/ProvMnS/v1800",
        files_root: str = "/FileDataReportingMnS/v1800",
        jobs_root: str = "/PerfMeasJobCtrlMnS/v1800",
        system_dn: str | None = None,
        settings: ReportSettings | None = None,
    ) -> None:
        self.pm = pm
        self.prov_root = prov_root.rstrip("/")
        self.files_root = files_root.rstrip("/")
        self.jobs_root = jobs_root.rstrip("/")
        self.system_dn = system_dn
        self.settings = settings or ReportSettings()

    def head(self) -> int:
        """The position of the newest report (0 when there is none)."""
        return self.pm.report_head()

    def read(self, after: int, limit: int) -> Sequence[Event]:
        """Up to ``limit`` events after position ``after``, in position order."""
        return [self.event(r) for r in self.pm.reports(after=after, limit=limit)]

    def location(self, file_id: str) -> str:
        """Where a file is downloaded (its ``fileLocation``)."""
        return f"{self.files_root}/files/{file_id}/content"

    def event(self, report: PmReport) -> Event:
        """The notification of one stored report."""
        body: dict[str, Any] = {
            "href": self._href(report),
            "notificationId": notification_id(report.seq),
            "notificationType": report.ntype,
            "eventTime": event_time(report.ready_time),
            "systemDN": self.system_dn or str(DN(DN.parse(report.dn).rdns[:1])),
        }
        if report.file is not None:
            body["fileInfoList"] = [file_info(report.file, location=self.location(report.file.id))]
        else:
            fmt = self.settings.fmt
            compression = "gzip" if self.settings.compress else "none"
            body["fileInfoList"] = [
                {"fileDataType": PERFORMANCE, "fileFormat": FILE_FORMAT_NAMES[fmt], "fileCompression": compression}
            ]
        if report.ntype == PREPARATION_ERROR:
            body["reason"] = report.text
        body["additionalText"] = report.text
        attributes = {"fileDataType": PERFORMANCE, "jobId": report.job_id, "objectClass": report.cls}
        return Event(report.seq, report.ntype, report.dn, body, attributes)

    def _href(self, report: PmReport) -> str:
        if report.cls == MEAS_JOB:
            return f"{self.jobs_root}/measJobs/{report.job.split(':', 1)[1]}"
        return href(self.prov_root, report.dn)

"""MnS consumer: a client of TS 28.532 producers (ProvMnS, Fault MnS, file data reporting, PM jobs).

See ``mns.consumer.client`` for the clients and their retry rules, ``mns.consumer.errors`` for
the exception tree, and ``mns.consumer.models`` for the typed results.
"""

from __future__ import annotations

from mns.consumer._core import (
    FLAT,
    GPP_JSON_PATCH,
    GPP_MERGE_PATCH,
    HIERARCHICAL,
    JSON,
    JSON_PATCH,
    MERGE_PATCH,
    MnsPaths,
    Retry,
)
from mns.consumer.client import AsyncMnsClient, MnsClient
from mns.consumer.errors import (
    ArgumentError,
    BadRequestError,
    ConflictError,
    ConnectError,
    FailedAlarm,
    FailedAlarms,
    InvalidResponseError,
    MnsClientError,
    NotFoundError,
    PreconditionFailedError,
    ProducerError,
    ServerError,
    Timeout,
    TransportError,
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

__all__ = [
    "FLAT",
    "GPP_JSON_PATCH",
    "GPP_MERGE_PATCH",
    "HIERARCHICAL",
    "JSON",
    "JSON_PATCH",
    "MERGE_PATCH",
    "Alarm",
    "AlarmCount",
    "ArgumentError",
    "AsyncMnsClient",
    "BadRequestError",
    "Comment",
    "ConflictError",
    "ConnectError",
    "FailedAlarm",
    "FailedAlarms",
    "FileInfo",
    "InvalidResponseError",
    "MeasJob",
    "MeasJobCreated",
    "MnsClient",
    "MnsClientError",
    "MnsPaths",
    "Moi",
    "NotFoundError",
    "PreconditionFailedError",
    "ProducerError",
    "ReadResult",
    "Retry",
    "ServerError",
    "Subscription",
    "Timeout",
    "TransportError",
    "WriteResult",
]

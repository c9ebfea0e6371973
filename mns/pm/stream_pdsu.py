"""Performance Data Stream Units (PDSU) in GPB: what a PERFORMANCE stream carries on its WebSocket.

TS 28.532 clause 11.5 streams performance data as Performance Data Stream Units, defined in
TS 28.550 Annex C, serialised as GPB or ASN.1 (``serializationFormat-Type``). The twin could not
obtain the normative GPB definition of that annex, so the message below is the twin's own
(a deviation, stated in ``openapi/TwinMnS_StreamingDataMnS.yaml``). Its shape follows the
PDSU as the streaming MnS describes it: a unit names its stream, whose meta-data
(``performanceInfo-Type``) fix the measured object (``measObjDn``) and the ordered list of
metric names (``performanceMetrics``); each result refers to a metric by its position in that
list. In proto3 notation (package ``twinmns.pm.stream.v1``)::

    message PerformanceDataStreamUnit {
      string streamId = 1;                  // streamId of the stream's streamInfo-Type
      int64 granularityPeriodEndTime = 2;   // end of the granularity period, ms since the UNIX epoch
      uint32 granularityPeriod = 3;         // seconds
      repeated MeasResult measResults = 4;
    }
    message MeasResult {
      uint32 measId = 1;                    // index into the stream's performanceMetrics
      string subCounter = 2;                // "1" for DRB.UEThpDl.1; empty for the metric itself
      oneof measValue {
        double realValue = 3;               // a single value
        bool nullValue = 4;                 // no value for the period (NULL / NIL)
        MultiValue multiValue = 5;          // an array result (TS 32.435 comma-separated <r>)
      }
      bool suspect = 6;
    }
    message MultiValue { repeated double values = 1; }

One WebSocket binary message carries one unit. The message types are built from a descriptor
made in code (no ``protoc`` step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from mns.errors import BadRequest

PACKAGE: Final = "twinmns.pm.stream.v1"
UNIT: Final = "PerformanceDataStreamUnit"
MAX_UNIT_BYTES: Final = 4 * 1024 * 1024
"""The largest unit the twin decodes."""

_F = descriptor_pb2.FieldDescriptorProto


def _field(msg: Any, name: str, number: int, ftype: int, *, repeated: bool = False, **more: Any) -> Any:
    field = msg.field.add(name=name, number=number, type=ftype, **more)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    return field


def _file() -> descriptor_pb2.FileDescriptorProto:
    """The descriptor of the module docstring's messages."""
    f = descriptor_pb2.FileDescriptorProto(name="twinmns/pm_stream_v1.proto", package=PACKAGE, syntax="proto3")
    multi = f.message_type.add(name="MultiValue")
    _field(multi, "values", 1, _F.TYPE_DOUBLE, repeated=True)
    result = f.message_type.add(name="MeasResult")
    result.oneof_decl.add(name="measValue")
    _field(result, "measId", 1, _F.TYPE_UINT32)
    _field(result, "subCounter", 2, _F.TYPE_STRING)
    _field(result, "realValue", 3, _F.TYPE_DOUBLE, oneof_index=0)
    _field(result, "nullValue", 4, _F.TYPE_BOOL, oneof_index=0)
    _field(result, "multiValue", 5, _F.TYPE_MESSAGE, oneof_index=0, type_name=f".{PACKAGE}.MultiValue")
    _field(result, "suspect", 6, _F.TYPE_BOOL)
    unit = f.message_type.add(name=UNIT)
    _field(unit, "streamId", 1, _F.TYPE_STRING)
    _field(unit, "granularityPeriodEndTime", 2, _F.TYPE_INT64)
    _field(unit, "granularityPeriod", 3, _F.TYPE_UINT32)
    _field(unit, "measResults", 4, _F.TYPE_MESSAGE, repeated=True, type_name=f".{PACKAGE}.MeasResult")
    return f


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file())
UnitMessage: Final[Any] = message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{PACKAGE}.{UNIT}"))
"""The generated message class of a PDSU."""


@dataclass(frozen=True, slots=True)
class Result:
    """One result of a unit: metric ``measId`` (with its sub-counter), a value, several or none."""

    meas_id: int
    value: float | None
    values: tuple[float, ...] | None = None
    sub_counter: str = ""
    suspect: bool = False


@dataclass(frozen=True, slots=True)
class Unit:
    """A decoded Performance Data Stream Unit."""

    stream_id: str
    end: datetime
    period: int
    results: tuple[Result, ...]


def encode(unit: Unit) -> bytes:
    """The GPB bytes of a unit."""
    msg = UnitMessage(
        streamId=unit.stream_id,
        granularityPeriodEndTime=round(unit.end.timestamp() * 1000),
        granularityPeriod=unit.period,
    )
    for r in unit.results:
        item = msg.measResults.add(measId=r.meas_id, subCounter=r.sub_counter, suspect=r.suspect)
        if r.values is not None:
            item.multiValue.values.extend(r.values)
        elif r.value is None:
            item.nullValue = True
        else:
            item.realValue = r.value
    out: bytes = msg.SerializeToString()
    return out


def decode(data: bytes) -> Unit:
    """A unit from its GPB bytes; raises BadRequest naming what is wrong."""
    if len(data) > MAX_UNIT_BYTES:
        raise BadRequest(f"a performance data stream unit of {len(data)} bytes exceeds {MAX_UNIT_BYTES}")
    msg = UnitMessage()
    try:
        msg.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise BadRequest(f"the frame is not a GPB {UNIT}: {exc}") from None
    if not msg.streamId:
        raise BadRequest(f"the {UNIT} has no streamId")
    if msg.granularityPeriod <= 0:
        raise BadRequest(f"{UNIT} of stream {msg.streamId!r}: granularityPeriod must be a positive number of seconds")
    try:
        end = datetime.fromtimestamp(msg.granularityPeriodEndTime / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise BadRequest(
            f"{UNIT} of stream {msg.streamId!r}: granularityPeriodEndTime"
            f" {msg.granularityPeriodEndTime} is out of range"
        ) from None
    results = tuple(_result(msg.streamId, r) for r in msg.measResults)
    return Unit(msg.streamId, end, int(msg.granularityPeriod), results)


def _result(stream_id: str, r: Any) -> Result:
    kind = r.WhichOneof("measValue")
    value: float | None = None
    values: tuple[float, ...] | None = None
    if kind == "realValue":
        value = float(r.realValue)
    elif kind == "multiValue":
        values = tuple(float(v) for v in r.multiValue.values)
    elif kind is None:
        raise BadRequest(f"stream {stream_id!r}: result of measId {r.measId} has no measValue")
    numbers = values if values is not None else ((value,) if value is not None else ())
    if not all(math.isfinite(v) for v in numbers):
        raise BadRequest(f"stream {stream_id!r}: result of measId {r.measId} is not a finite number")
    return Result(int(r.measId), value, values, str(r.subCounter), bool(r.suspect))

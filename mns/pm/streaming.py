"""The twin as a streaming target: the consumer side of the Streaming Data Reporting MnS (TS 28.532 11.5).

A producer that has performance data (a gNB, an EMS, another twin) opens a connection with
``POST /connections`` (its DN and the meta-data of its streams), upgrades ``GET
/connections/{id}`` to a WebSocket and sends Performance Data Stream Units on it
(``mns.pm.stream_pdsu``). This module keeps the connections and their streams (persisted, so
that a restarted twin still knows them and a producer only has to reopen its WebSocket) and
turns each unit of a PERFORMANCE stream into measurements of the stream's ``measObjDn``,
stored in the twin's ``PmStore`` in one transaction, or refused whole with the reason.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from mns.errors import AlreadyExists, BadRequest, NotFound
from mns.nrm.dn import canonical
from mns.pm import stream_pdsu
from mns.pm.model import Measurement, is_measurement_type
from mns.pm.store import PmStore
from mns.store.db import create_tables

tables = sa.MetaData()
stream_connection = sa.Table(
    "stream_connection",
    tables,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("producer", sa.Text, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
)
stream_info = sa.Table(
    "stream_info",
    tables,
    sa.Column("connection_id", sa.Text, primary_key=True),
    sa.Column("stream_id", sa.Text, primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
)

STREAM_TYPES: Final = ("TRACE", "PERFORMANCE", "ANALYTICS", "PROPRIETARY")
FORMATS: Final = ("GPB", "ASN1")
_MAX_ID: Final = 256


@dataclass(frozen=True, slots=True)
class Stream:
    """A registered stream: its ``streamInfo-Type`` and, for PERFORMANCE, the object and metrics."""

    stream_id: str
    info: dict[str, Any]

    @property
    def meas_obj_dn(self) -> str:
        """The measured object (canonical comma form)."""
        return str(self.info["additionalInfo"]["measObjDn"])

    @property
    def metrics(self) -> list[str]:
        """The ordered performance metric names the units refer to by position."""
        return list(self.info["additionalInfo"]["performanceMetrics"])


class StreamTarget:
    """Connections and streams a streaming producer opened to the twin, and the units it sent."""

    def __init__(self, pm: PmStore) -> None:
        self.pm = pm
        self.store = pm.store
        create_tables(self.store.engine, tables.sorted_tables)

    def _q(self, sql: str) -> str:
        return self.store._q(sql)

    # -- connections ---------------------------------------------------------------------------

    def open_connection(self, body: Any) -> tuple[str, list[str]]:
        """Record a ``connectionRequest-Type``; returns (connection id, stream ids). BadRequest names the stream."""
        if not isinstance(body, dict):
            raise BadRequest("the body of POST /connections must be a connectionRequest-Type object")
        producer = body.get("producer")
        if not isinstance(producer, str) or not producer:
            raise BadRequest("connectionRequest-Type: producer must be the DN of the streaming data producer")
        producer = _dn(producer, "producer")
        streams = _stream_list(body.get("streams", []), "connectionRequest-Type: streams")
        connection_id = uuid.uuid4().hex
        with self.store._transaction() as db:
            sql = self._q("INSERT INTO stream_connection (id, producer, created) VALUES (?, ?, ?)")
            db.exec_driver_sql(sql, (connection_id, producer, time.time()))
            for s in streams:
                self._insert(db, connection_id, s)
        return connection_id, [s.stream_id for s in streams]

    def connection(self, connection_id: str) -> tuple[str, list[str]]:
        """(producer DN, stream ids) of a connection; raises NotFound."""
        found = self.connections([connection_id])
        if connection_id not in found:
            raise NotFound(f"no streaming connection {connection_id!r}")
        return found[connection_id]

    def connections(self, ids: Sequence[str] | None = None) -> dict[str, tuple[str, list[str]]]:
        """Connection id -> (producer, stream ids), oldest first; every connection when ``ids`` is None."""
        with self.store._read() as db:
            rows = db.exec_driver_sql(self._q("SELECT id, producer FROM stream_connection ORDER BY created, id")).all()
            pairs = db.exec_driver_sql(
                self._q("SELECT connection_id, stream_id FROM stream_info ORDER BY connection_id, stream_id")
            ).all()
        wanted = None if ids is None else set(ids)
        out: dict[str, tuple[str, list[str]]] = {str(i): (str(p), []) for i, p in rows if wanted is None or i in wanted}
        for cid, sid in pairs:
            if cid in out:
                out[cid][1].append(str(sid))
        return out

    # -- streams -------------------------------------------------------------------------------

    def add_streams(self, connection_id: str, body: Any) -> list[Stream]:
        """Add streams to a connection, all or none; an id already there with other meta-data is a Conflict."""
        streams = _stream_list(body, "the body of POST /streams")
        with self.store._transaction() as db:
            self._require(db, connection_id)
            for s in streams:
                sql = self._q("SELECT body FROM stream_info WHERE connection_id = ? AND stream_id = ?")
                row = db.exec_driver_sql(sql, (connection_id, s.stream_id)).first()
                if row is None:
                    self._insert(db, connection_id, s)
                elif json.loads(row[0]) != s.info:
                    raise AlreadyExists(
                        f"stream {s.stream_id!r} of connection {connection_id} exists with other meta-data"
                    )
        return streams

    def delete_streams(self, connection_id: str, stream_ids: Sequence[str]) -> None:
        """Remove streams from a connection, all or none; an unknown one is NotFound."""
        if not stream_ids:
            raise BadRequest("streamIds must name at least one stream")
        with self.store._transaction() as db:
            self._require(db, connection_id)
            known = self._known(db, connection_id)
            missing = [s for s in stream_ids if s not in known]
            if missing:
                raise NotFound(f"connection {connection_id} has no stream {', '.join(map(repr, missing))}")
            for s in stream_ids:
                sql = self._q("DELETE FROM stream_info WHERE connection_id = ? AND stream_id = ?")
                db.exec_driver_sql(sql, (connection_id, s))

    def streams(self, connection_id: str, stream_ids: Sequence[str] | None = None) -> dict[str, Stream]:
        """The streams of a connection by id (those of ``stream_ids`` only, when given); NotFound for the connection."""
        with self.store._read() as db:
            self._require(db, connection_id)
            sql = self._q("SELECT stream_id, body FROM stream_info WHERE connection_id = ? ORDER BY stream_id")
            rows = db.exec_driver_sql(sql, (connection_id,)).all()
        wanted = None if stream_ids is None else set(stream_ids)
        return {str(s): Stream(str(s), json.loads(b)) for s, b in rows if wanted is None or s in wanted}

    # -- data ----------------------------------------------------------------------------------

    def receive(self, connection_id: str, frame: bytes) -> int:
        """Store the measurements of one unit sent on a connection; returns how many.

        A unit that does not decode, names a stream the connection lacks, or refers to a metric
        the stream does not list raises BadRequest or NotFound, and nothing of it is stored.
        """
        unit = stream_pdsu.decode(frame)
        sql = self._q("SELECT body FROM stream_info WHERE connection_id = ? AND stream_id = ?")
        with self.store._read() as db:
            row = None if "\x00" in unit.stream_id else db.exec_driver_sql(sql, (connection_id, unit.stream_id)).first()
        stream = None if row is None else Stream(unit.stream_id, json.loads(row[0]))
        if stream is None:
            raise NotFound(f"stream {unit.stream_id!r} is not registered on connection {connection_id}")
        rows = [_measurement(stream, unit, r) for r in unit.results]
        return self.pm.add(rows)

    # -- helpers -------------------------------------------------------------------------------

    def _require(self, db: Any, connection_id: str) -> None:
        sql = self._q("SELECT 1 FROM stream_connection WHERE id = ?")
        if "\x00" in connection_id or db.exec_driver_sql(sql, (connection_id,)).first() is None:
            raise NotFound(f"no streaming connection {connection_id!r}")

    def _known(self, db: Any, connection_id: str) -> set[str]:
        sql = self._q("SELECT stream_id FROM stream_info WHERE connection_id = ?")
        return {str(r[0]) for r in db.exec_driver_sql(sql, (connection_id,)).all()}

    def _insert(self, db: Any, connection_id: str, s: Stream) -> None:
        sql = self._q("INSERT INTO stream_info (connection_id, stream_id, body) VALUES (?, ?, ?)")
        db.exec_driver_sql(sql, (connection_id, s.stream_id, json.dumps(s.info)))


def _measurement(stream: Stream, unit: stream_pdsu.Unit, r: stream_pdsu.Result) -> Measurement:
    metrics = stream.metrics
    if r.meas_id >= len(metrics):
        raise BadRequest(
            f"stream {stream.stream_id!r}: measId {r.meas_id} is beyond its {len(metrics)} performanceMetrics"
        )
    mtype = metrics[r.meas_id] + (f".{r.sub_counter}" if r.sub_counter else "")
    if not is_measurement_type(mtype):
        raise BadRequest(f"stream {stream.stream_id!r}: {mtype!r} is not a measurement type name")
    return Measurement(stream.meas_obj_dn, mtype, unit.period, unit.end, r.value, r.values, r.suspect)


class StreamRefused(BadRequest):
    """Stream meta-data the twin does not take; ``stream_id`` names the stream."""

    rule = "stream-meta-data"

    def __init__(self, stream_id: str, message: str) -> None:
        super().__init__(message)
        self.stream_id = stream_id


def _dn(text: str, what: str) -> str:
    try:
        if "\x00" in text:
            raise BadRequest(f"{text!r} is not a DN")
        return canonical(text)
    except BadRequest as exc:
        raise BadRequest(f"{what}: {exc.message}") from None


def _stream_list(body: Any, what: str) -> list[Stream]:
    if not isinstance(body, list):
        raise BadRequest(f"{what} must be an array of streamInfo-Type")
    streams = [parse_stream(item, f"{what}[{i}]") for i, item in enumerate(body)]
    ids = [s.stream_id for s in streams]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise StreamRefused(twice[0], f"{what} names stream {', '.join(map(repr, twice))} more than once")
    return streams


def parse_stream(item: Any, what: str = "streamInfo-Type") -> Stream:
    """A ``streamInfo-Type`` checked (and its measObjDn made canonical); BadRequest names the stream and member."""
    if not isinstance(item, dict):
        raise BadRequest(f"{what} must be a streamInfo-Type object")
    sid = item.get("streamId")
    if not isinstance(sid, str) or not sid or len(sid) > _MAX_ID or not sid.isprintable() or set(sid) & set("/,"):
        raise BadRequest(
            f"{what}: streamId must be a non-empty printable string of at most {_MAX_ID} characters without '/' or ','"
        )
    where = f"stream {sid!r}"
    kind, fmt = item.get("streamType"), item.get("serializationFormat")
    try:
        if kind not in STREAM_TYPES or fmt not in FORMATS:
            raise BadRequest(
                f"{where}: streamType must be one of {', '.join(STREAM_TYPES)} and serializationFormat one of"
                f" {', '.join(FORMATS)}"
            )
        if (kind, fmt) != ("PERFORMANCE", "GPB"):
            raise BadRequest(f"{where}: the twin takes PERFORMANCE streams in GPB, not {kind} in {fmt}")
        return Stream(sid, {**item, "additionalInfo": _performance_info(item.get("additionalInfo"), where)})
    except BadRequest as exc:
        raise StreamRefused(sid, exc.message) from None


def _performance_info(info: Any, where: str) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise BadRequest(f"{where}: a PERFORMANCE stream needs additionalInfo (performanceInfo-Type)")
    dn = info.get("measObjDn")
    if not isinstance(dn, str) or not dn:
        raise BadRequest(f"{where}: performanceInfo-Type needs measObjDn, the DN of the measured object")
    metrics = info.get("performanceMetrics")
    if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise BadRequest(f"{where}: performanceMetrics must be a non-empty array of metric names")
    bad = [m for m in metrics if not is_measurement_type(m)]
    if bad:
        raise BadRequest(f"{where}: performanceMetrics {bad[0]!r} is not a metric name")
    job = info.get("jobId")
    if job is not None and not isinstance(job, str):
        raise BadRequest(f"{where}: jobId must be a string")
    return {**info, "measObjDn": _dn(dn, f"{where}: measObjDn")}

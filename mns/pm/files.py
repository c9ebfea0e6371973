"""PM files: write TS 28.532 ``measDataFile`` (default) or TS 32.435 ``measCollecFile``; read both.

Writing groups the measurements by managed element (the DN up to its ``ManagedElement`` RDN)
and, within one, by granularity period and end time: one ``measInfo`` per group, with every
measurement type of the group as ``measType`` and one ``measValue`` per object holding an
``<r>`` for each type the object has (``suspect`` is per measValue: set when any of its
measurements is suspect). The output validates against the XSDs of both formats.

Reading is tolerant, as real files demand: gzip, a processing instruction before the XML
declaration, either namespace (or none), ``measTypes``/``measResults`` lists or ``measType``/
``r`` elements, comma-separated array values, ``NULL``/``NIL`` values, vendor counter names
beside TS 28.552 ones, and empty ``measObjLdn`` (the measured entity itself). What had to be
guessed or skipped is reported in ``ParsedPm.notes``. Parsing refuses DTDs and never resolves
entities or fetches anything.
"""

from __future__ import annotations

import gzip
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from lxml import etree

from mns.errors import BadRequest, MnsError
from mns.nrm.dn import DN
from mns.pm.model import (
    Measurement,
    duration,
    format_value,
    is_measurement_type,
    parse_duration,
    parse_time,
    parse_value,
)

MEAS_DATA: Final = "measData"
MEAS_COLLEC: Final = "measCollec"
FORMATS: Final = {
    MEAS_DATA: "http://www.3gpp.org/ftp/specs/archive/28_series/28.532#measData",
    MEAS_COLLEC: "http://www.3gpp.org/ftp/specs/archive/32_series/32.435#measCollec",
}
FILE_FORMAT_NAMES: Final = {MEAS_DATA: "org.3GPP.28.532#measData", MEAS_COLLEC: "org.3GPP.32.435#measCollec"}
"""The format names ONAP and O-RAN SC use in notifyFileReady (``fileFormatType``)."""
MAX_FILE_BYTES: Final = 256 * 1024 * 1024
"""Largest (decompressed) file read: a guard against gzip bombs."""

_ROOTS: Final = {"measDataFile": MEAS_DATA, "measCollecFile": MEAS_COLLEC}
_DECL: Final = re.compile(rb"<\?xml\s[^>]*\?>")
_ENCODING: Final = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")


@dataclass(slots=True)
class ParsedPm:
    """What a PM file held: its measurements, header facts and the notes of what was corrected."""

    file_format: str
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    begin: datetime | None = None
    end: datetime | None = None
    vendor: str | None = None
    dn_prefix: str | None = None


# -- writing ------------------------------------------------------------------------------------


def _element_of(ldn: DN) -> DN:
    """The managed element an object belongs to: its DN up to ``ManagedElement`` (or its root)."""
    for i, (cls, _) in enumerate(ldn.rdns):
        if cls == "ManagedElement":
            return DN(ldn.rdns[: i + 1])
    return DN(ldn.rdns[:1])


def _xml_time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def write_pm_file(
    measurements: Iterable[Measurement],
    *,
    begin: datetime,
    end: datetime,
    fmt: str = MEAS_DATA,
    dn_prefix: str = "",
    vendor: str = "twin-mns",
    sender: str | None = None,
    job_id: str | None = None,
    compress: bool = False,
) -> bytes:
    """A PM file of the measurements (every DN below ``dn_prefix``), gzipped if ``compress``."""
    if fmt not in FORMATS:
        raise BadRequest(f"unknown PM file format {fmt!r}: use {' or '.join(FORMATS)}")
    ns = FORMATS[fmt]
    prefix = DN.parse(dn_prefix) if dn_prefix else None
    # element -> (period, end) -> object -> type -> measurement
    groups: dict[DN, dict[tuple[int, datetime], dict[DN, dict[str, Measurement]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for m in measurements:
        dn = DN.parse(m.dn)
        if prefix is not None:
            if not dn.is_descendant_of(prefix):
                raise BadRequest(f"{m.dn} is not below the file's dnPrefix {dn_prefix}")
            dn = DN(dn.rdns[prefix.depth :])
        groups[_element_of(dn)][(m.period, m.end)].setdefault(dn, {})[m.mtype] = m

    def el(parent: Any, tag: str, **attrs: str | None) -> Any:
        return etree.SubElement(parent, f"{{{ns}}}{tag}", {k: v for k, v in attrs.items() if v is not None})

    root = etree.Element(f"{{{ns}}}{fmt}File", nsmap={None: ns})
    header_attrs = {"fileFormatVersion": "28.532 V18.1.0" if fmt == MEAS_DATA else "32.435 V18.0.0"}
    header_attrs["vendorName"] = vendor
    if dn_prefix:
        header_attrs["dnPrefix"] = str(prefix)
    header = el(root, "fileHeader", **header_attrs)
    if fmt == MEAS_DATA:
        el(header, "fileSender", senderName=sender, senderType="twin-mns")
    else:
        el(header, "fileSender", localDn=sender)
    el(header, fmt, beginTime=_xml_time(begin))
    null = "NULL" if fmt == MEAS_DATA else "NIL"
    for element in sorted(groups, key=lambda d: d.key):
        data = el(root, "measData")
        el(data, "measEntity" if fmt == MEAS_DATA else "managedElement", localDn=str(element))
        for (period, gp_end), objects in sorted(groups[element].items(), key=lambda kv: (kv[0][1], kv[0][0])):
            info = el(data, "measInfo")
            if job_id is not None:
                el(info, "job", jobId=job_id)
            el(info, "granPeriod", duration=duration(period), endTime=_xml_time(gp_end))
            types = sorted({t for per_obj in objects.values() for t in per_obj})
            position = {t: i + 1 for i, t in enumerate(types)}
            for t in types:
                el(info, "measType", p=str(position[t])).text = t
            for obj in sorted(objects, key=lambda d: d.key):
                value = el(info, "measValue", measObjLdn=str(obj))
                by_type = objects[obj]
                for t in sorted(by_type, key=position.__getitem__):
                    el(value, "r", p=str(position[t])).text = format_value(by_type[t], null=null)
                if any(m.suspect for m in by_type.values()):
                    el(value, "suspect").text = "true"
    footer = el(root, "fileFooter")
    el(footer, fmt, endTime=_xml_time(end))
    body: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return gzip.compress(body, mtime=0) if compress else body


# -- reading ------------------------------------------------------------------------------------


def _gunzip(data: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            out = f.read(MAX_FILE_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise BadRequest(f"the PM file is not valid gzip: {exc}") from None
    if len(out) > MAX_FILE_BYTES:
        raise BadRequest(f"the PM file is larger than {MAX_FILE_BYTES} bytes decompressed")
    return out


def _xml_bytes(data: bytes, notes: list[str]) -> bytes:
    """The document with a misplaced XML declaration removed (it is only legal at the start)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    m = _DECL.search(data, 0, 4096)
    if m is None or m.start() == 0 or not data[: m.start()].strip():
        return data
    notes.append("removed an XML declaration that followed other content (a processing instruction)")
    enc = _ENCODING.search(m.group(0))
    cleaned = data[: m.start()] + data[m.end() :]
    if enc and enc.group(1).decode().lower().replace("_", "-") not in ("utf-8", "utf8"):
        cleaned = cleaned.decode(enc.group(1).decode()).encode("utf-8")
    return cleaned


def _parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
    )


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(node: Any, name: str) -> list[Any]:
    return [c for c in node if _local(c.tag) == name]


def _child(node: Any, name: str) -> Any:
    found = _children(node, name)
    return found[0] if found else None


def _dn_or_none(text: str | None) -> DN | None:
    if not text or "=" not in text:
        return None
    try:
        return DN.parse(text)
    except MnsError:
        return None


def join_dn(prefix: DN | None, element: DN | None, ldn: DN | None) -> DN | None:
    """A measured object's DN from the file prefix, the measured entity and the object's LDN.

    An LDN that starts with a class of the entity's DN (``ManagedElement=1,NRCellDU=1`` under
    ``ManagedElement=1``) restarts at that RDN; one that does not is below the entity. The same
    rule joins the result to the prefix.
    """

    def overlay(base: DN | None, tail: DN | None) -> DN | None:
        if base is None or tail is None:
            return tail or base
        classes = [c for c, _ in base.rdns]
        first = tail.rdns[0][0]
        if first in classes:
            return DN(base.rdns[: classes.index(first)] + tail.rdns)
        return DN(base.rdns + tail.rdns)

    return overlay(prefix, overlay(element, ldn))


def file_prefix(text: str | None) -> DN | None:
    """The file's dnPrefix without ``DC=`` RDNs (a DNS domain, not an NRM object)."""
    dn = _dn_or_none(text)
    if dn is None:
        return None
    rdns = tuple(r for r in dn.rdns if r[0] != "DC")
    return DN(rdns) if rdns else None


def parse_pm_file(data: bytes, *, dn_prefix: str | None = None, bare_class: str = "ManagedFunction") -> ParsedPm:
    """The measurements of a ``measDataFile`` or ``measCollecFile`` (gzipped or not).

    ``dn_prefix`` None uses the file's ``dnPrefix`` (without its ``DC=`` RDNs); a string
    replaces it ('' for none). An object named by a bare id rather than an LDN becomes
    ``<entity>,<bare_class>=<id>``.
    """
    notes: list[str] = []
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data)
    elif len(data) > MAX_FILE_BYTES:
        raise BadRequest(f"the PM file is larger than {MAX_FILE_BYTES} bytes")
    xml = _xml_bytes(data, notes)
    if b"<!DOCTYPE" in xml[:65536]:
        raise BadRequest("the PM file has a DOCTYPE: PM files have none, and DTDs are not read")
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as exc:
        raise BadRequest(f"the PM file is not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise BadRequest("the PM file has a DOCTYPE: PM files have none, and DTDs are not read")
    fmt = _ROOTS.get(_local(root.tag))
    if fmt is None:
        raise BadRequest(f"not a PM file: the root element is {_local(root.tag)!r}, not measDataFile or measCollecFile")
    out = ParsedPm(fmt, notes=notes)
    header = _child(root, "fileHeader")
    if header is not None:
        out.vendor = header.get("vendorName")
        out.dn_prefix = header.get("dnPrefix")
        begin = _child(header, fmt)
        out.begin = _time(begin.get("beginTime") if begin is not None else None, notes)
    footer = _child(root, "fileFooter")
    if footer is not None and _child(footer, fmt) is not None:
        out.end = _time(_child(footer, fmt).get("endTime"), notes)
    prefix = file_prefix(out.dn_prefix) if dn_prefix is None else (DN.parse(dn_prefix) if dn_prefix else None)
    for data_el in _children(root, "measData"):
        entity_el = _child(data_el, "measEntity" if fmt == MEAS_DATA else "managedElement")
        if entity_el is None:  # the other format's name: tolerate a mixed-up file
            entity_el = _child(data_el, "managedElement") or _child(data_el, "measEntity")
        entity_text = entity_el.get("localDn") if entity_el is not None else None
        entity = _entity(entity_text, notes)
        for info in _children(data_el, "measInfo"):
            _read_info(info, prefix=prefix, entity=entity, bare_class=bare_class, out=out)
    return out


def _time(text: str | None, notes: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except BadRequest as exc:
        notes.append(str(exc))
        return None


def _entity(text: str | None, notes: list[str]) -> DN | None:
    if not text:
        return None
    dn = _dn_or_none(text)
    if dn is None:
        notes.append(f"measured entity {text!r} is not a DN: read as ManagedElement={text}")
        return DN.of(("ManagedElement", text))
    return dn


def object_dn(name: str, *, prefix: DN | None, entity: DN | None, bare_class: str, notes: list[str]) -> DN | None:
    """The DN a file's object name denotes (see ``join_dn``), or None when there is none."""
    ldn = _dn_or_none(name)
    if ldn is None and name.strip():
        if entity is None:
            notes.append(f"object {name!r} is neither a DN nor below a measured entity: skipped")
            return None
        notes.append(f"object {name!r} is not a DN: read as {bare_class}={name.strip()} of {entity}")
        ldn = DN.of((bare_class, name.strip()))
    return join_dn(prefix, entity, ldn)


def _read_info(info: Any, *, prefix: DN | None, entity: DN | None, bare_class: str, out: ParsedPm) -> None:
    notes = out.notes
    label = info.get("measInfoId") or "(no measInfoId)"
    gp = _child(info, "granPeriod")
    try:
        period = parse_duration(gp.get("duration", "")) if gp is not None else 0
        end = parse_time(gp.get("endTime", "")) if gp is not None else None
    except (ValueError, BadRequest) as exc:
        notes.append(f"measInfo {label}: bad granPeriod ({exc}): skipped")
        return
    if gp is None or end is None or period <= 0:
        notes.append(f"measInfo {label}: no granPeriod: skipped")
        return
    types: dict[int, str] = {}
    listed = _child(info, "measTypes")
    if listed is not None:
        types = {i + 1: t for i, t in enumerate((listed.text or "").split())}
    for mt in _children(info, "measType"):
        p = mt.get("p", "")
        if p.isdigit() and (mt.text or "").strip():
            types[int(p)] = (mt.text or "").strip()
    for p, name in list(types.items()):
        if not is_measurement_type(name):
            notes.append(f"measInfo {label}: measType {name[:60]!r} is not a measurement type name: skipped")
            del types[p]
    for mv in _children(info, "measValue"):
        name = mv.get("measObjLdn", "")
        dn = object_dn(name, prefix=prefix, entity=entity, bare_class=bare_class, notes=notes)
        if dn is None:
            continue
        suspect_el = _child(mv, "suspect")
        suspect = suspect_el is not None and (suspect_el.text or "").strip().lower() in ("true", "1")
        results: list[tuple[int, str]] = []
        listed_results = _child(mv, "measResults")
        if listed_results is not None:
            results = list(enumerate((listed_results.text or "").split(), start=1))
        for r in _children(mv, "r"):
            p = r.get("p", "")
            if p.isdigit():
                results.append((int(p), r.text or ""))
        for p, text in results:
            mtype = types.get(p)
            if mtype is None:
                notes.append(f"measInfo {label}: {dn}: result p={p} has no measType: skipped")
                continue
            value, values, note = parse_value(text)
            if note:
                notes.append(f"measInfo {label}: {dn} {mtype}: {note}: read as no value")
            out.measurements.append(Measurement(str(dn), mtype, period, end, value, values, suspect))


def validate_pm_file(data: bytes, xsd_path: str) -> list[str]:
    """Schema errors of a PM file against an XSD (empty when valid); for tests and tools."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data)
    schema = etree.XMLSchema(etree.parse(xsd_path, _parser()))
    doc = etree.fromstring(_xml_bytes(data, []), _parser())
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]

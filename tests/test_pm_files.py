"""PM file formats: what the twin writes validates against the XSDs; real files are read tolerantly."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mns.errors import BadRequest
from mns.pm.files import MEAS_COLLEC, MEAS_DATA, parse_pm_file, validate_pm_file, write_pm_file
from mns.pm.model import Measurement, parse_duration, parse_value
from mns.pm.service import parse_any
from mns.pm.ves import parse_ves_perf3gpp

ROOT = Path(__file__).resolve().parent.parent
KEYSIGHT = "D20241211.0934+0000-0936+0000_-0_DC=Keysight.com,SubNetwork=Morrisville,ManagedElement=GNB-1_-_1.xml"
ONAP = "A20181002.0000-1000-0015-1000_5G.xml.gz"
XSD = {MEAS_DATA: "measData-28.532.xsd", MEAS_COLLEC: "measCollec_plusString.xsd"}

END = datetime(2026, 11, 29, 7, 15, tzinfo=UTC)
ME = "SubNetwork=RAN,ManagedElement=gNB-1"
CELL1 = f"{ME},GNBDUFunction=1,NRCellDU=1"
CELL2 = f"{ME},GNBDUFunction=1,NRCellDU=2"


@pytest.fixture(scope="module")
def interop_pm() -> Path:
    """The third-party PM samples (``../shared/interop/pm`` from the repository root)."""
    path = (ROOT.parent / "shared" / "interop" / "pm").resolve()
    if not (path / XSD[MEAS_DATA]).is_file():
        pytest.skip(f"interop PM samples not found at {path}")
    return path


def sample() -> list[Measurement]:
    """Measurements with every shape a file must carry: sub-counters, NULL, arrays, suspect, two periods."""
    earlier = END - timedelta(minutes=15)
    return [
        Measurement(CELL1, "RRU.PrbUsedDl", 900, END, 42.5),
        Measurement(CELL1, "RRU.PrbTotDl", 900, END, 273.0),
        Measurement(CELL1, "DRB.UEThpDl.1", 900, END, None),
        Measurement(CELL1, "RRU.PrbUsedDl", 900, earlier, 40.0),
        Measurement(CELL2, "DRB.UEThpDl", 900, END, None, (1.0, 2.5, 3.0), suspect=True),
        Measurement(ME, "PEE.Energy", 900, END, 21780.0),
        Measurement("SubNetwork=RAN", "RRC.ConnMean", 900, END, 7.0),
    ]


def key(m: Measurement) -> tuple[str, str, int, datetime]:
    return m.dn, m.mtype, m.period, m.end


@pytest.mark.parametrize("fmt", [MEAS_DATA, MEAS_COLLEC])
@pytest.mark.parametrize("compress", [False, True])
def test_written_file_validates_and_round_trips(fmt: str, compress: bool, interop_pm: Path) -> None:
    data = write_pm_file(sample(), begin=END - timedelta(minutes=30), end=END, fmt=fmt, compress=compress)
    assert (data[:2] == b"\x1f\x8b") is compress
    assert validate_pm_file(data, str(interop_pm / XSD[fmt])) == []
    parsed = parse_pm_file(data)
    assert parsed.file_format == fmt
    assert parsed.notes == []
    assert parsed.begin == END - timedelta(minutes=30)
    assert parsed.end == END
    assert sorted(parsed.measurements, key=key) == sorted(sample(), key=key)


def test_written_file_with_dn_prefix(interop_pm: Path) -> None:
    data = write_pm_file(sample()[:3], begin=END - timedelta(minutes=15), end=END, dn_prefix="SubNetwork=RAN")
    assert validate_pm_file(data, str(interop_pm / XSD[MEAS_DATA])) == []
    text = data.decode()
    assert 'dnPrefix="SubNetwork=RAN"' in text
    assert 'measObjLdn="ManagedElement=gNB-1,GNBDUFunction=1,NRCellDU=1"' in text
    assert sorted(parse_pm_file(data).measurements, key=key) == sorted(sample()[:3], key=key)
    with pytest.raises(BadRequest, match="not below"):
        write_pm_file(sample(), begin=END, end=END, dn_prefix="SubNetwork=Other")


def test_null_is_spelt_per_format() -> None:
    rows = [Measurement(CELL1, "RRU.PrbUsedDl", 900, END, None)]
    assert b">NULL</r>" in write_pm_file(rows, begin=END, end=END, fmt=MEAS_DATA)
    assert b">NIL</r>" in write_pm_file(rows, begin=END, end=END, fmt=MEAS_COLLEC)
    with pytest.raises(BadRequest, match="unknown PM file format"):
        write_pm_file(rows, begin=END, end=END, fmt="csv")


def test_keysight_meas_data_file(interop_pm: Path) -> None:
    parsed = parse_pm_file((interop_pm / KEYSIGHT).read_bytes())
    assert parsed.file_format == MEAS_DATA
    assert parsed.vendor == "Keysight"
    assert parsed.dn_prefix == "DC=Keysight.com,SubNetwork=Morrisville"
    assert parsed.notes == ["removed an XML declaration that followed other content (a processing instruction)"]
    assert parsed.begin == datetime(2024, 12, 11, 9, 34, tzinfo=UTC)
    assert parsed.end == datetime(2024, 12, 11, 9, 36, tzinfo=UTC)
    # 284 <r> elements in the file (grep -c '<r '), every one a measurement of a 60 s period.
    assert len(parsed.measurements) == 284
    assert {m.period for m in parsed.measurements} == {60}
    ends = Counter(m.end for m in parsed.measurements)
    assert set(ends) == {datetime(2024, 12, 11, 9, 34, 23, tzinfo=UTC), datetime(2024, 12, 11, 9, 35, 23, tzinfo=UTC)}
    me = "SubNetwork=Morrisville,ManagedElement=GNB-1"
    by_key = {(m.dn, m.mtype, m.end.minute): m for m in parsed.measurements}
    assert by_key[(me, "PEE.Energy", 34)].value == 21780
    assert by_key[(me, "PEE.Energy", 35)].value == 20856
    assert by_key[(f"{me},GNBCUCPFunction=1,NRCellCU=1", "DRB.SessionTime.01", 34)].value == 11084
    cell = f"{me},GNBDUFunction=1,NRCellDU=1"
    # TS 28.552 counters with their 5QI and S-NSSAI sub-counters, beside the vendor's.
    types = {m.mtype for m in parsed.measurements if m.dn == cell}
    assert {"RRU.PrbUsedDl", "RRU.PrbUsedDl.01", "RRU.PrbUsedDl.226F04", "DRB.UEThpDl", "DRB.UEThpDl.010003e8"} <= types
    assert by_key[(cell, "RRU.PrbUsedDl", 34)].value == 0.0
    # 14 measValues with an empty measObjLdn are the measured entity itself: 8 + 14 at the element.
    assert Counter(m.dn for m in parsed.measurements)[me] == 22
    assert not any(m.suspect for m in parsed.measurements)


def test_onap_gzipped_meas_collec_file(interop_pm: Path) -> None:
    parsed = parse_pm_file((interop_pm / ONAP).read_bytes())
    assert parsed.file_format == MEAS_COLLEC
    assert parsed.notes == []
    assert len(parsed.measurements) == 28  # 7 measValues of 4 results
    end = datetime(2000, 3, 1, 12, 14, 30, tzinfo=UTC)  # 14:14:30+02:00
    assert {(m.period, m.end) for m in parsed.measurements} == {(900, end)}
    rnc = "SubNetwork=CountryNN,MeContext=MEC-Gbg-1,ManagedElement=RNC-Gbg-1"
    rows = {(m.dn, m.mtype): m for m in parsed.measurements}
    assert rows[(f"{rnc},RncFunction=RF-1,UtranCell=Gbg-997", "attTCHSeizures")].value == 234
    assert rows[(f"{rnc},RncFunction=RF-1,UtranCell=Gbg-999", "succImmediateAssignProcs8")].value == 785
    assert rows[(f"{rnc},RncFunction=RF-1,UtranCell=Gbg-999", "attTCHSeizures")].suspect is True
    # An LDN that restarts at ManagedElement joins the entity DN there.
    array = rows[(f"{rnc},ENodeBFunction=1", "succTCHSeizures2")]
    assert array.value is None
    assert array.values == (86, 87, 2, 6, 77, 96, 75, 33, 24)


def test_dn_prefix_override(interop_pm: Path) -> None:
    data = (interop_pm / KEYSIGHT).read_bytes()
    local = parse_pm_file(data, dn_prefix="")
    assert {m.dn.split(",")[0] for m in local.measurements} == {"ManagedElement=GNB-1"}
    placed = parse_pm_file(data, dn_prefix="SubNetwork=RAN,SubNetwork=Lab")
    assert all(m.dn.startswith("SubNetwork=RAN,SubNetwork=Lab,ManagedElement=GNB-1") for m in placed.measurements)


def test_list_forms_and_sloppy_values() -> None:
    doc = b"""<?xml version="1.0"?>
<measCollecFile xmlns="http://www.3gpp.org/ftp/specs/archive/32_series/32.435#measCollec">
  <fileHeader fileFormatVersion="32.435 V10.0"><fileSender/><measCollec beginTime="2026-01-01T00:00:00Z"/></fileHeader>
  <measData>
    <managedElement localDn="ManagedElement=me1"/>
    <measInfo>
      <granPeriod duration="PT15M" endTime="2026-01-01T00:15:00Z"/>
      <measTypes>RRU.PrbUsedDl RRU.PrbTotDl VS.Vendor.Thing</measTypes>
      <measValue measObjLdn="GNBDUFunction=1,NRCellDU=1"><measResults>10 NIL abc</measResults></measValue>
      <measValue measObjLdn="cell7"><measResults>1 2 3 4</measResults></measValue>
    </measInfo>
    <measInfo>
      <granPeriod duration="PT15M" endTime="2026-01-01T00:15:00Z"/>
      <measType p="1">bad name</measType>
      <measValue measObjLdn=""><r p="1">1</r></measValue>
    </measInfo>
    <measInfo><measTypes>X</measTypes></measInfo>
  </measData>
  <fileFooter><measCollec endTime="2026-01-01T00:15:00Z"/></fileFooter>
</measCollecFile>"""
    parsed = parse_pm_file(gzip.compress(doc))
    rows = {(m.dn, m.mtype): m.value for m in parsed.measurements}
    cell = "ManagedElement=me1,GNBDUFunction=1,NRCellDU=1"
    assert rows[(cell, "RRU.PrbUsedDl")] == 10
    assert rows[(cell, "RRU.PrbTotDl")] is None
    assert rows[(cell, "VS.Vendor.Thing")] is None
    assert rows[("ManagedElement=me1,ManagedFunction=cell7", "RRU.PrbTotDl")] == 2
    assert len(parsed.measurements) == 6
    assert {m.period for m in parsed.measurements} == {900}
    notes = "\n".join(parsed.notes)
    assert "'abc' is not a number" in notes
    assert "object 'cell7' is not a DN" in notes
    assert "result p=4 has no measType" in notes
    assert "no granPeriod" in notes
    assert "measType 'bad name' is not a measurement type name" in notes


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not xml", "not well-formed"),
        (b"<foo/>", "not a PM file"),
        (b"\x1f\x8bnot gzip at all", "not valid gzip"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><measDataFile>&lol;</measDataFile>',
            "DOCTYPE",
        ),
    ],
)
def test_bad_files_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_pm_file(data)


def test_external_entities_are_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<measDataFile xmlns="http://www.3gpp.org/ftp/specs/archive/28_series/28.532#measData">'
        "<fileHeader fileFormatVersion='1' vendorName='&x;'/></measDataFile>"
    ).encode()
    with pytest.raises(BadRequest, match="DOCTYPE") as caught:
        parse_pm_file(doc)
    assert "SECRET" not in str(caught.value)


def test_ves_pm_report(interop_pm: Path) -> None:
    parsed = parse_ves_perf3gpp((interop_pm / "pm_report.json").read_bytes())
    assert len(parsed.measurements) == 28
    # The epoch "microseconds" are milliseconds: 951912900000 ms is 2000-03-01T12:15:00Z.
    assert {(m.period, m.end) for m in parsed.measurements} == {(900, datetime(2000, 3, 1, 12, 15, tzinfo=UTC))}
    assert any("in milliseconds" in n for n in parsed.notes)
    rnc = "SubNetwork=CountryNN,MeContext=MEC-Gbg-1,ManagedElement=RNC-Gbg-1"
    rows = {(m.dn, m.mtype): m for m in parsed.measurements}
    assert rows[(f"{rnc},RncFunction=RF-1,UtranCell=Gbg-997", "attTCHSeizures")].value == 813
    assert rows[(f"{rnc},RncFunction=RF-1,UtranCell=Gbg-999", "attTCHSeizures")].suspect is True
    assert rows[(f"{rnc},ENodeBFunction=1", "succTCHSeizures2")].values == (86, 87, 2, 6, 77, 96, 75, 33, 24)


def test_ves_slicing_event(interop_pm: Path) -> None:
    parsed = parse_any((interop_pm / "ves_perf3gpp_slicing.json").read_bytes())
    assert parsed.file_format == "ves-perf3gpp"
    assert len(parsed.measurements) == 34  # 15 measValues with 3, 2 ... results
    rows = {(m.dn, m.mtype): m.value for m in parsed.measurements}
    assert rows[("ManagedElement=cucpserver2,ManagedFunction=10896", "SM.PduSessionCreationSucc.01-B989BD")] == 5813
    assert rows[("ManagedElement=cucpserver2,ManagedFunction=10896", "SM.PduSessionCreationFail.0")] == 1333
    notes = "\n".join(parsed.notes)
    assert "'cucpserver2' is not a DN" in notes
    assert "lastEpochMicrosec is not after startEpochMicrosec" in notes
    assert {m.end for m in parsed.measurements} == {datetime(2021, 1, 15, 6, 1, 30, 387000, tzinfo=UTC)}


def test_ves_batches_and_other_domains() -> None:
    event = {
        "commonEventHeader": {"domain": "perf3gpp", "startEpochMicrosec": 1.7e15, "lastEpochMicrosec": 1.7e15 + 9e8},
        "perf3gppFields": {
            "measDataCollection": {
                "granularityPeriod": 900,
                "measuredEntityDn": "SubNetwork=RAN,ManagedElement=1",
                "measInfoList": [
                    {
                        "measTypes": {"sMeasTypesList": ["RRU.PrbUsedDl", "RRU.PrbTotDl"]},
                        "measValuesList": [
                            {
                                "measObjInstId": "GNBDUFunction=1,NRCellDU=1",
                                "measResults": [{"p": 1, "iValue": 5}, {"p": 2, "isNull": "true"}, {"p": 3}],
                            }
                        ],
                    }
                ],
            }
        },
    }
    parsed = parse_ves_perf3gpp({"eventList": [event, {"commonEventHeader": {"domain": "fault"}}]})
    assert [(m.dn, m.mtype, m.value) for m in parsed.measurements] == [
        ("SubNetwork=RAN,ManagedElement=1,GNBDUFunction=1,NRCellDU=1", "RRU.PrbUsedDl", 5),
        ("SubNetwork=RAN,ManagedElement=1,GNBDUFunction=1,NRCellDU=1", "RRU.PrbTotDl", None),
    ]
    assert parsed.measurements[0].end == datetime.fromtimestamp(1.7e9 + 900, UTC)
    assert any("p=3 has no measType" in n for n in parsed.notes)
    assert any("'fault' is not perf3gpp" in n for n in parsed.notes)
    with pytest.raises(BadRequest, match="not a VES event"):
        parse_ves_perf3gpp({"foo": 1})
    with pytest.raises(BadRequest, match="not JSON"):
        parse_ves_perf3gpp(b"{nope")


def test_durations_and_values() -> None:
    assert parse_duration("PT900S") == 900
    assert parse_duration("PT15M") == 900
    assert parse_duration("P1DT1H") == 90000
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("P")
    assert parse_value(" 1.5 ") == (1.5, None, None)
    assert parse_value("NULL") == (None, None, None)
    assert parse_value("1,2") == (None, (1.0, 2.0), None)
    assert parse_value("1,x")[2] is not None

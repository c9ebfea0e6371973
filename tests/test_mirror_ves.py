"""Notifications as SMOs send them (``mns.mirror.ves``): plain bodies, VES stndDefined events and
batches, legacy FileReady, and the value sloppiness of real samples.

The samples are the third-party ones in ``../shared/interop/notifications`` (or
``$MNS_INTEROP/notifications``); the unwrapped Fault MnS and File Data Reporting bodies are
checked against the official OpenAPI schemas (``$MNS_3GPP_SPECS``).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import ROOT

from mns.conformance.schemas import OpenApiSpecs, load_specs, locate_specs
from mns.errors import BadRequest
from mns.mirror.ves import Unwrapped, unwrap

FAULT_FILE = "TS28532_FaultMnS.yaml"
FILE_FILE = "TS28532_FileDataReportingMnS.yaml"
SCHEMA_OF = {
    "notifyNewAlarm": (FAULT_FILE, "NotifyNewAlarm"),
    "notifyClearedAlarm": (FAULT_FILE, "NotifyClearedAlarm"),
    "notifyFileReady": (FILE_FILE, "NotifyFileReady"),
}
BATCH = "ves7_batch_stdnDefined_withDifferentStndDefinedNamespace.json"
R16_FILE_READY = "oam-stndDefined-r16-notify-file-ready.json"
R18_NEW = "oam-stndDefined-r18-notify-new-alarm.json"
R18_CLEARED = "oam-stndDefined-r18-notify-cleared-alarm.json"
LEGACY_FILE_READY = "ves-notification-FileReady.json"
CPS_AVC = "cps-sampleAvcInputEvent.json"

# each sample: the notification types it unwraps to, corrections expected (substrings, in
# order of appearance), and the paths where the unwrapped body still breaks its schema
# because the sample itself lacks a value (the O-RAN SC templates hold "@severity@")
SAMPLES: dict[str, tuple[list[str], list[str], list[set[str]]]] = {
    BATCH: (
        ["notifyNewAlarm", "notifyNewAlarm"],
        [
            "eventList[0] notifyNewAlarm 1: href 1 (a number) read as the string '1'",
            "eventList[0] notifyNewAlarm 1: stateChangeDefinition {} (empty, and not a list) dropped",
            "eventList[0] notifyNewAlarm 1: eventTime 'xyz' is no RFC 3339 time: left as it is",
            "eventList[1] notifyNewAlarm 1: href 1 (a number) read as the string '1'",
        ],
        [set(), set()],
    ),
    R16_FILE_READY: (
        ["notifyFileReady"],
        [
            "notifyFileReady 0: domain '@domain@' read as stndDefined",
            "notifyFileReady 0: template placeholders left as they are in eventTime, fileInfoList[0].fileLocation",
        ],
        [set()],
    ),
    R18_NEW: (
        ["notifyNewAlarm"],
        [
            "notifyNewAlarm 0: domain '@domain@' read as stndDefined",
            "notifyNewAlarm 0: template placeholders left as they are in eventTime, alarmId, probableCause, "
            "specificProblem, perceivedSeverity, monitoredAttributes.interface",
        ],
        [{"perceivedSeverity"}],
    ),
    R18_CLEARED: (
        ["notifyClearedAlarm"],
        [
            "notifyClearedAlarm 0: domain '@domain@' read as stndDefined",
            "notifyClearedAlarm 0: template placeholders left as they are in eventTime, alarmId, probableCause, "
            "perceivedSeverity, clearUserId, clearSystemId",
        ],
        [{"perceivedSeverity"}],
    ),
    LEGACY_FILE_READY: (
        ["notifyFileReady"],
        [
            "notifyFileReady 0: built from a legacy VES notification-domain FileReady event",
            "notifyFileReady 0: href 'oteNB5309' taken from sourceName",
            "notifyFileReady 0: notificationId 0 taken from sequence",
            "taken from lastEpochMicrosec 8745745764578 (in milliseconds, not microseconds)",
            "notifyFileReady 0: systemDN 'otenb5309' taken from reportingEntityName",
            "notifyFileReady 0: fileInfoList[0]: fileDataType Performance from changeIdentifier PM_MEAS_FILES",
            "notifyFileReady 0: fileInfoList[0]: fileFormatVersion 'V10' dropped",
        ],
        [set()],
    ),
}


@pytest.fixture(scope="module")
def interop() -> Path:
    """The third-party notification samples: ``$MNS_INTEROP/notifications``, by default ``../shared/interop``."""
    base = Path(os.environ.get("MNS_INTEROP", ROOT.parent / "shared" / "interop"))
    path = (base / "notifications").resolve()
    if not (path / BATCH).is_file():
        pytest.skip(f"interop notification samples not found at {path}: set MNS_INTEROP to their parent folder")
    return path


@pytest.fixture(scope="module")
def oas(specs: Path) -> OpenApiSpecs:
    """The official OpenAPI files."""
    return load_specs(locate_specs(specs))


def load(folder: Path, name: str) -> Any:
    return orjson.loads((folder / name).read_bytes())


def problems(oas: OpenApiSpecs, body: dict[str, Any]) -> set[str]:
    """The paths where ``body`` breaks the official schema of its notification type."""
    file, schema = SCHEMA_OF[body["notificationType"]]
    return {p.path for p in oas.validate(file, schema, body, limit=20)}


def contains_in_order(lines: list[str], fragments: list[str]) -> bool:
    """Whether each fragment is in a line, the lines in the fragments' order."""
    it = iter(lines)
    return all(any(f in line for line in it) for f in fragments)


def sample_alarm(**changes: Any) -> dict[str, Any]:
    """A notifyNewAlarm that is valid against TS28532_FaultMnS.yaml."""
    body: dict[str, Any] = {
        "href": "https://ems.example/ProvMnS/v1800/SubNetwork=RAN/ManagedElement=1",
        "notificationId": 12,
        "notificationType": "notifyNewAlarm",
        "eventTime": "2026-05-01T10:00:00Z",
        "systemDN": "DC=example,SubNetwork=RAN",
        "alarmId": "12",
        "alarmType": "EQUIPMENT_ALARM",
        "probableCause": "fan failure",
        "perceivedSeverity": "MAJOR",
        "correlatedNotifications": [{"sourceObjectInstance": "SubNetwork=RAN", "notificationIds": [3]}],
    }
    body.update(changes)
    return body


# -- the samples -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_unwraps_with_corrections(name: str, interop: Path) -> None:
    doc = load(interop, name)
    before = copy.deepcopy(doc)
    got = unwrap(doc)
    types, corrections, _ = SAMPLES[name]
    assert [b["notificationType"] for b in got.bodies] == types
    assert contains_in_order(got.corrections, corrections), got.corrections
    assert doc == before  # the document given is not changed


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_bodies_validate_but_for_what_the_sample_lacks(name: str, interop: Path, oas: OpenApiSpecs) -> None:
    got = unwrap(load(interop, name))
    assert [problems(oas, b) for b in got.bodies] == SAMPLES[name][2]


def test_the_batch_is_invalid_before_its_corrections(interop: Path, oas: OpenApiSpecs) -> None:
    raw = load(interop, BATCH)["eventList"][0]["stndDefinedFields"]["data"]
    assert problems(oas, raw) >= {"href", "stateChangeDefinition"}
    body = unwrap(load(interop, BATCH)).bodies[0]
    assert body["href"] == "1"
    assert "stateChangeDefinition" not in body
    assert body["probableCause"] == 1  # an integer probable cause is valid: kept


def test_legacy_file_ready_becomes_notify_file_ready(interop: Path) -> None:
    (body,) = unwrap(load(interop, LEGACY_FILE_READY)).bodies
    assert body == {
        "href": "oteNB5309",
        "notificationId": 0,
        "notificationType": "notifyFileReady",
        "eventTime": body["eventTime"],
        "systemDN": "otenb5309",
        "fileInfoList": [
            {
                "fileLocation": "sftp://sftp:22/test.xml.gz",
                "fileReadyTime": body["eventTime"],
                "fileCompression": "gzip",
                "fileFormat": "org.3GPP.32.435#measCollec",
                "fileDataType": "Performance",
            }
        ],
    }
    assert body["eventTime"].startswith("2247-02-21T21:49:24")  # 8745745764578 read as milliseconds
    assert body["eventTime"].endswith("Z")


def test_cps_avc_event_is_refused(interop: Path) -> None:
    with pytest.raises(BadRequest, match="not a 3GPP notification") as caught:
        unwrap(load(interop, CPS_AVC))
    assert "push-change-update" in caught.value.message
    assert caught.value.status == 400


def test_filled_template_with_sloppy_values_validates(interop: Path, oas: OpenApiSpecs) -> None:
    """The O-RAN SC template as a test tool fills it, with "Major" and numeric ids."""
    text = (interop / R18_NEW).read_text()
    for placeholder, value in {
        '"@alarm@"': "12",
        "@severity@": "Major",
        "@eventTime@": "2026-05-01T10:00:00Z",
        "@domain@": "stndDefined",
    }.items():
        text = text.replace(placeholder, value)
    for placeholder in ("@eventId@", "@eventType@", "@controllerName@", "@pnfId@", "@type@", "@vendor@", "@model@"):
        text = text.replace(placeholder, "x")
    text = text.replace("@interface@", "eth0").replace('"@timestamp@"', "1777629600000000")
    doc = orjson.loads(text)
    doc["event"]["stndDefinedFields"]["data"]["notificationId"] = "7"
    got = unwrap(doc)
    assert got.corrections == [
        "notifyNewAlarm 7: perceivedSeverity 'Major' read as MAJOR",
        "notifyNewAlarm 7: notificationId '7' read as the integer 7",
        "notifyNewAlarm 7: alarmId 12 (a number) read as the string '12'",
    ]
    (body,) = got.bodies
    assert (body["perceivedSeverity"], body["alarmId"], body["notificationId"]) == ("MAJOR", "12", 7)
    assert body["probableCause"] == 12
    assert problems(oas, body) == set()


# -- VES forms ---------------------------------------------------------------------------------


def test_missing_type_and_header_come_from_schema_reference_and_ves_header(interop: Path, oas: OpenApiSpecs) -> None:
    doc = load(interop, BATCH)
    data = doc["eventList"][1]["stndDefinedFields"]["data"]
    for name in ("notificationType", "eventTime", "systemDN", "notificationId"):
        del data[name]
    got = unwrap(doc)
    body = got.bodies[1]
    assert body["notificationType"] == "notifyNewAlarm"
    assert body["eventTime"] == "2014-10-15T13:02:52Z"  # lastEpochMicrosec 1413378172000000
    assert body["systemDN"] == "ibcx0001vm002oam001"
    assert body["notificationId"] == 1  # the VES sequence
    mine = [c for c in got.corrections if c.startswith("eventList[1]")]
    assert "eventList[1] notifyNewAlarm 1: notificationType notifyNewAlarm taken from schemaReference" in mine
    assert any("eventTime '2014-10-15T13:02:52Z' taken from lastEpochMicrosec" in c for c in mine)
    assert problems(oas, body) == set()


def test_schema_reference_that_disagrees_is_reported(interop: Path) -> None:
    doc = load(interop, BATCH)
    doc["eventList"][0]["stndDefinedFields"]["data"]["notificationType"] = "notifyClearedAlarm"
    got = unwrap(doc)
    assert got.bodies[0]["notificationType"] == "notifyClearedAlarm"
    assert (
        "eventList[0] notifyClearedAlarm 1: schemaReference names NotifyNewAlarm, not notifyClearedAlarm:"
        " notificationType kept" in got.corrections
    )


def test_single_event_bare_event_and_wrapped_batch_items(interop: Path) -> None:
    event = load(interop, BATCH)["eventList"][0]
    expected = unwrap({"eventList": [event]}).bodies[0]
    assert unwrap({"event": event}).bodies == [expected]
    bare = unwrap(copy.deepcopy(event))
    assert bare.bodies == [expected]
    assert bare.corrections[0].startswith("event: a VES event without its")
    wrapped = unwrap({"eventList": [{"event": event}, event]})
    assert wrapped.bodies == [expected, expected]
    assert wrapped.corrections[0].startswith("eventList[0]: wrapped once more in")


def test_legacy_file_ready_of_other_data(interop: Path) -> None:
    doc = load(interop, LEGACY_FILE_READY)
    fields = doc["event"]["notificationFields"]
    fields["changeIdentifier"] = "TRACE_FILES"
    fields["arrayOfNamedHashMap"].append({"name": "b.xml", "hashMap": {"location": "sftp://h/b.xml"}})
    del doc["event"]["commonEventHeader"]["sequence"]
    got = unwrap(doc)
    (body,) = got.bodies
    assert body["notificationId"] == 0
    assert [i["fileLocation"] for i in body["fileInfoList"]] == ["sftp://sftp:22/test.xml.gz", "sftp://h/b.xml"]
    assert all("fileDataType" not in i for i in body["fileInfoList"])
    assert "notifyFileReady 0: notificationId 0 made up (the event has no sequence)" in got.corrections
    assert "notifyFileReady 0: fileInfoList[1]: no fileDataType (changeIdentifier 'TRACE_FILES' names none)" in (
        got.corrections
    )


# -- plain bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        sample_alarm(),
        {
            "href": "https://ems.example/ProvMnS/v1800/SubNetwork=RAN",
            "notificationId": 4,
            "notificationType": "notifyMOIChanges",
            "eventTime": "2026-05-01T10:00:00+02:00",
            "systemDN": "DC=example",
            "moiChanges": [{"notificationId": 4, "path": "/attributes/x", "operation": "REPLACE", "value": 1}],
        },
    ],
    ids=["notifyNewAlarm", "notifyMOIChanges"],
)
def test_plain_body_passes_unchanged(body: dict[str, Any]) -> None:
    before = copy.deepcopy(body)
    assert unwrap(body) == Unwrapped([before], [])
    assert body == before


def test_clean_plain_alarm_validates(oas: OpenApiSpecs) -> None:
    assert problems(oas, sample_alarm()) == set()


@pytest.mark.parametrize(
    ("changes", "expected", "correction"),
    [
        ({"perceivedSeverity": "Major"}, {"perceivedSeverity": "MAJOR"}, "perceivedSeverity 'Major' read as MAJOR"),
        (
            {"alarmType": "Communications Alarm"},
            {"alarmType": "COMMUNICATIONS_ALARM"},
            "alarmType 'Communications Alarm' read as COMMUNICATIONS_ALARM",
        ),
        ({"trendIndication": "more-severe"}, {"trendIndication": "MORE_SEVERE"}, "read as MORE_SEVERE"),
        ({"ackState": "acknowledged"}, {"ackState": "ACKNOWLEDGED"}, "ackState 'acknowledged' read as ACKNOWLEDGED"),
        ({"probableCause": "probable_cause_003"}, {"probableCause": "PROBABLE_CAUSE_003"}, "PROBABLE_CAUSE_003"),
        ({"notificationType": "NotifyNewAlarm"}, {"notificationType": "notifyNewAlarm"}, "read as notifyNewAlarm"),
        ({"notificationId": "12"}, {"notificationId": 12}, "notificationId '12' read as the integer 12"),
        ({"notificationId": 12.0}, {"notificationId": 12}, "notificationId 12.0 read as the integer 12"),
        ({"alarmId": 12}, {"alarmId": "12"}, "alarmId 12 (a number) read as the string '12'"),
        (
            {"correlatedNotifications": [{"sourceObjectInstance": "SubNetwork=RAN", "notificationIds": ["3", 4]}]},
            {"correlatedNotifications": [{"sourceObjectInstance": "SubNetwork=RAN", "notificationIds": [3, 4]}]},
            "correlatedNotifications[0].notificationIds[0] '3' read as the integer 3",
        ),
        (
            {"stateChangeDefinition": {"operationalState": "DISABLED"}},
            {"stateChangeDefinition": [{"operationalState": "DISABLED"}]},
            "stateChangeDefinition (one object, not a list) read as a one-item list",
        ),
        ({"additionalInformation": {}}, {}, "additionalInformation {} dropped"),
    ],
)
def test_sloppy_values_are_corrected(
    changes: dict[str, Any], expected: dict[str, Any], correction: str, oas: OpenApiSpecs
) -> None:
    got = unwrap(sample_alarm(**changes))
    (body,) = got.bodies
    assert body == {k: v for k, v in sample_alarm(**expected).items() if k not in changes or k in expected}
    assert len(got.corrections) == 1
    assert got.corrections[0].startswith("notifyNewAlarm 12: ")
    assert correction in got.corrections[0]
    assert problems(oas, body) == set()


@pytest.mark.parametrize(
    ("changes", "note"),
    [
        ({"probableCause": "fan failure"}, None),  # a vendor string: valid, kept
        ({"perceivedSeverity": "SEVERE"}, None),  # no member: kept for the mirror to refuse
        ({"notificationId": "n-12"}, "notificationId 'n-12' is no integer: left as it is"),
        ({"alarmId": "@alarm@"}, "template placeholders left as they are in alarmId"),
        ({"eventTime": "yesterday"}, "eventTime 'yesterday' is no RFC 3339 time: left as it is"),
    ],
)
def test_values_left_as_they_are(changes: dict[str, Any], note: str | None) -> None:
    got = unwrap(sample_alarm(**changes))
    assert got.bodies == [sample_alarm(**changes)]
    assert got.corrections == ([] if note is None else [f"{got.bodies[0]['notificationType']} {_id(got)}: {note}"])


def _id(got: Unwrapped) -> Any:
    return got.bodies[0]["notificationId"]


# -- what is not a notification ----------------------------------------------------------------


def event(domain: Any, **fields: Any) -> dict[str, Any]:
    return {"commonEventHeader": {"domain": domain, "sourceName": "gNB-1", "sequence": 1}, **fields}


GOOD = event("stndDefined", stndDefinedFields={"data": sample_alarm()})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([sample_alarm()], "a notification is a JSON object, not a JSON array"),
        ("notifyNewAlarm", "a notification is a JSON object, not a string"),
        (12, "not a number"),
        (None, "not null"),
        ({}, "not a notification: a JSON object with keys none"),
        ({"alarmId": "1"}, "not a notification: a JSON object with keys alarmId"),
        ({"eventList": []}, "eventList is a JSON array: a VES batch is a non-empty array"),
        ({"eventList": {"event": GOOD}}, "eventList is a JSON object"),
        ({"eventList": [GOOD, event("fault", faultFields={})]}, "eventList[1]: a VES event of domain 'fault'"),
        ({"event": event("perf3gpp")}, "event: a VES event of domain 'perf3gpp' carries no 3GPP notification"),
        ({"event": event("mystery", stndDefinedFields={"data": sample_alarm()})}, "domain 'mystery'"),
        ({"eventList": [GOOD, "x"]}, "eventList[1]: a VES event is a JSON object, not a string"),
        ({"event": {"stndDefinedFields": {}}}, "event: a VES event without commonEventHeader"),
        (
            {"eventList": [GOOD, event("stndDefined", stndDefinedFields={"schemaReference": "x"})]},
            "eventList[1]: a stndDefined event without stndDefinedFields.data",
        ),
        (
            {"event": event("stndDefined", stndDefinedFields={"data": {"alarmId": "1"}})},
            "event: stndDefinedFields.data has no notificationType",
        ),
        (
            {"event": event("stndDefined", stndDefinedFields={"data": {"notificationType": 3}})},
            "event: notificationType 3 is not a string",
        ),
        ({"event": event("notification")}, "event: a notification-domain event without notificationFields"),
        (
            {"event": event("notification", notificationFields={"changeType": "ConfigChange"})},
            "changeType 'ConfigChange': only FileReady",
        ),
        (
            {"event": event("notification", notificationFields={"changeType": "FileReady"})},
            "event: a FileReady event without arrayOfNamedHashMap",
        ),
        (
            {
                "event": event(
                    "notification",
                    notificationFields={"changeType": "FileReady", "arrayOfNamedHashMap": [{"hashMap": {}}]},
                )
            },
            "event: arrayOfNamedHashMap[0] has no hashMap.location",
        ),
        ({"notificationType": None}, "notificationType None is not a string"),
    ],
)
def test_not_a_notification_is_a_bad_request(doc: Any, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        unwrap(doc)
    assert message in caught.value.message


def test_good_event_of_the_bad_cases_unwraps() -> None:
    """The event the bad cases spoil is itself fine: the refusals are about what was spoiled."""
    assert unwrap({"eventList": [GOOD]}) == Unwrapped([sample_alarm()], [])

"""The Fault MnS through the real app: statuses and bodies as TS28532_FaultMnS.yaml declares them.

Every response body is validated against its schema in the official files (resolved from the
``specs`` fixture with the loader of ``mns.conformance.schemas``): the alarm map, AlarmRecord,
AlarmCount, Comment, FailedAlarm and ErrorResponse. The AlarmRecord schema admits any extra
member, so records are also checked to hold only members the schema names. Success statuses are
read from the spec, not written down here. Error cases compare the alarm list before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from fastapi.testclient import TestClient

from mns.conformance.schemas import BASE_URI, COMDEFS_FILE, OpenApiSpecs, load_specs, locate_specs
from mns.fault import (
    acknowledge,
    clear_alarm,
    comment,
    demo_alarms,
    get_alarm,
    list_alarms,
    raise_alarm,
)
from mns.producers.app import Settings, create_app
from mns.store import Create, SqlStore

FAULT = "TS28532_FaultMnS.yaml"
PREFIX = "/FaultSupervisionMnS/v1800"
MERGE = "application/merge-patch+json"
ME = "SubNetwork=RAN,ManagedElement=gNB-1"
CELL = f"{ME},GNBDUFunction=1,NRCellDU=1"
CUCP = f"{ME},GNBCUCPFunction=1"


@pytest.fixture
def oas(specs: Path) -> OpenApiSpecs:
    """The official OpenAPI files."""
    return load_specs(locate_specs(specs))


@pytest.fixture
def client(store: SqlStore) -> Iterator[TestClient]:
    """The twin's app over ``store``."""
    with TestClient(create_app(store), raise_server_exceptions=False) as c:
        yield c


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


def valid(oas: OpenApiSpecs, pointer: str, body: Any, file: str = FAULT) -> None:
    """Assert ``body`` validates against the schema at ``file#pointer``."""
    validator = jsonschema.Draft4Validator({"$ref": f"{BASE_URI}{file}#{pointer}"}, registry=oas.registry)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert problems == [], f"{file}#{pointer}"


def response_schema(method: str, path: str, status: str) -> str:
    """Pointer of the JSON body schema of one declared response."""
    return f"/paths/{_escape(path)}/{method}/responses/{status}/content/application~1json/schema"


def success(oas: OpenApiSpecs, method: str, path: str) -> int:
    """The one success status the spec declares for an operation."""
    codes = [int(c) for c in oas.document(FAULT)["paths"][path][method]["responses"] if str(c).startswith("2")]
    assert len(codes) == 1
    return codes[0]


def valid_error(oas: OpenApiSpecs, response: httpx.Response, status: int, words: str) -> None:
    """An ErrorResponse with ``status`` whose errorInfo says ``words``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    valid(oas, "/components/schemas/ErrorResponse", response.json(), COMDEFS_FILE)
    assert words in response.json()["error"]["errorInfo"]


def valid_map(oas: OpenApiSpecs, body: Any) -> None:
    """A GET /alarms body: the declared map, and records holding only members the schema names."""
    valid(oas, response_schema("get", "/alarms", "200"), body)
    known = oas.known_keys(FAULT, "AlarmRecord")[1] | {"comments", "lastNotificationHeader"}
    for alarm_id, record in body.items():
        assert set(record) <= known, f"alarm {alarm_id}: members the AlarmRecord schema does not name"


def get_alarms(client: TestClient, oas: OpenApiSpecs, **params: str) -> dict[str, Any]:
    """GET /alarms, checked; the body."""
    response = client.get(f"{PREFIX}/alarms", params=params)
    assert response.status_code == success(oas, "get", "/alarms"), response.text
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["X-Twin-Alarm-Sequence"]) >= 0
    body: dict[str, Any] = response.json()
    valid_map(oas, body)
    return body


def patch(client: TestClient, path: str, body: Any, media: str = MERGE) -> httpx.Response:
    """A PATCH with a JSON body of media type ``media``."""
    return client.patch(f"{PREFIX}{path}", json=body, headers={"content-type": media})


@pytest.fixture
def alarms(store: SqlStore) -> dict[str, str]:
    """Alarms with every AlarmRecord member set, acknowledged, commented and cleared; name -> id."""
    full = raise_alarm(
        store=store,
        object_instance=ME,
        alarm_type="ENVIRONMENTAL_ALARM",
        probable_cause="temperatureUnacceptable",
        specific_problem=42,
        perceived_severity="MAJOR",
        additional_text="Cabinet temperature high",
        additional_information={"sensor": "cabinet-1", "unit": "C"},
        threshold_info={"observedMeasurement": "cabinetTemperature", "observedValue": 71.5},
        trend_indication="MORE_SEVERE",
        backed_up_status=False,
        back_up_object=f"{ME},EquipmentHolder=2",
        correlated_notifications=[{"sourceObjectInstance": CELL, "notificationIds": [3, 4]}],
        state_change_definition=[{"operationalState": "DISABLED"}, {"operationalState": "ENABLED"}],
        monitored_attributes={"temperature": 71.5},
        proposed_repair_actions="Check the fans",
        root_cause_indicator=True,
        service_user="tenant-a",
        service_provider="operator",
        security_alarm_detector="none",
    )
    acknowledge(store=store, alarm_id=full.alarm_id, ack_user_id="ops", ack_system_id="noc")
    comment(store=store, alarm_id=full.alarm_id, comment_text="fans checked", comment_user_id="ops")
    outage = raise_alarm(
        store=store,
        object_instance=CELL,
        alarm_type="EQUIPMENT_ALARM",
        probable_cause=7,
        perceived_severity="CRITICAL",
    )
    link = raise_alarm(
        store=store,
        object_instance=CUCP,
        alarm_type="COMMUNICATIONS_ALARM",
        probable_cause="communicationsSubsystemFailure",
        perceived_severity="MINOR",
    )
    clear_alarm(store=store, alarm_id=link.alarm_id, clear_user_id="ops", clear_system_id="noc")
    return {"full": full.alarm_id, "outage": outage.alarm_id, "cleared": link.alarm_id}


# -- GET /alarms ----------------------------------------------------------------------------------


def test_get_alarms_is_the_alarm_map(
    client: TestClient, oas: OpenApiSpecs, store: SqlStore, alarms: dict[str, str]
) -> None:
    body = get_alarms(client, oas)
    assert list(body) == [alarms["full"], alarms["outage"], alarms["cleared"]]
    assert body == {k: v.to_json() for k, v in list_alarms(store=store).alarms.items()}
    full = body[alarms["full"]]
    assert full["thresholdinfo"] == {"observedMeasurement": "cabinetTemperature", "observedValue": 71.5}
    assert full["ackState"] == "ACKNOWLEDGED"
    assert full["comments"]["1"]["commentText"] == "fans checked"
    assert body[alarms["cleared"]]["perceivedSeverity"] == "CLEARED"
    assert get_alarms(client, oas, alarmAckState="ALL_ACTIVE_AND_UNACKNOWLEDGED_ALARMS").keys() == {alarms["outage"]}
    assert get_alarms(client, oas, baseObjectInstance=f"{ME},GNBDUFunction=1").keys() == {alarms["outage"]}
    assert get_alarms(client, oas, filter='perceivedSeverity="CLEARED" or probableCause=7').keys() == {
        alarms["outage"],
        alarms["cleared"],
    }


def test_get_alarms_as_of(client: TestClient, oas: OpenApiSpecs, store: SqlStore, alarms: dict[str, str]) -> None:
    response = client.get(f"{PREFIX}/alarms", params={"asOf": "1"})
    assert response.headers["X-Twin-Alarm-Sequence"] == "1"
    assert list(response.json()) == [alarms["full"]]
    assert response.json()[alarms["full"]]["ackState"] == "UNACKNOWLEDGED"
    raised = get_alarm(store=store, alarm_id=alarms["outage"])
    assert raised is not None
    at = raised.alarm_raised_time.isoformat().replace("+00:00", "Z")
    assert list(get_alarms(client, oas, asOf=at)) == [alarms["full"], alarms["outage"]]
    assert get_alarms(client, oas, asOf="2000-01-01T00:00:00Z") == {}


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"alarmAckState": "ACTIVE"}, 400, "alarmAckState 'ACTIVE' is not one of"),
        ({"baseObjectInstance": "no dn"}, 400, "malformed DN"),
        ({"filter": "perceivedSeverity="}, 400, "filter: "),
        ({"asOf": "99"}, 404, "alarm sequence 99 does not exist"),
        ({"asOf": "yesterday"}, 400, "asOf 'yesterday'"),
    ],
)
def test_get_alarms_errors(
    client: TestClient, oas: OpenApiSpecs, alarms: dict[str, str], params: dict[str, str], status: int, words: str
) -> None:
    valid_error(oas, client.get(f"{PREFIX}/alarms", params=params), status, words)
    if "baseObjectInstance" not in params:  # not a parameter of alarmCount
        valid_error(oas, client.get(f"{PREFIX}/alarms/alarmCount", params=params), status, words)


# -- GET /alarms/alarmCount -----------------------------------------------------------------------


def test_alarm_count(client: TestClient, oas: OpenApiSpecs, alarms: dict[str, str]) -> None:
    def count(**params: str) -> dict[str, int]:
        response = client.get(f"{PREFIX}/alarms/alarmCount", params=params)
        assert response.status_code == success(oas, "get", "/alarms/alarmCount"), response.text
        body: dict[str, int] = response.json()
        valid(oas, "/components/schemas/AlarmCount", body)
        valid(oas, response_schema("get", "/alarms/alarmCount", "200"), body)
        return body

    assert count() == {
        "criticalCount": 1,
        "majorCount": 1,
        "minorCount": 0,
        "warningCount": 0,
        "indeterminateCount": 0,
        "clearedCount": 1,
    }
    assert count(alarmAckState="ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS")["majorCount"] == 1
    assert sum(count(alarmAckState="ALL_ACTIVE_AND_ACKNOWLEDGED_ALARMS").values()) == 1
    assert sum(count(filter='alarmType="EQUIPMENT_ALARM"').values()) == 1
    assert sum(count(asOf="0").values()) == 0


# -- PATCH /alarms/{alarmId} ----------------------------------------------------------------------

ACK = {"ackUserId": "ops", "ackSystemId": "noc", "ackState": "ACKNOWLEDGED"}
UNACK = {"ackUserId": "lead", "ackState": "UNACKNOWLEDGED"}
CLEAR = {"clearUserId": "ops", "clearSystemId": "noc", "perceivedSeverity": "CLEARED"}


def test_patch_alarm_acknowledges_unacknowledges_and_clears(
    client: TestClient, oas: OpenApiSpecs, alarms: dict[str, str]
) -> None:
    one = alarms["outage"]
    request_schema = f"/paths/{_escape('/alarms/{alarmId}')}/patch/requestBody/content/{_escape(MERGE)}/schema"
    expected = success(oas, "patch", "/alarms/{alarmId}")
    for doc, check in [
        (ACK, {"ackState": "ACKNOWLEDGED", "ackUserId": "ops", "ackSystemId": "noc"}),
        (UNACK, {"ackState": "UNACKNOWLEDGED", "ackUserId": "lead"}),
        (CLEAR, {"perceivedSeverity": "CLEARED", "clearUserId": "ops", "clearSystemId": "noc"}),
    ]:
        valid(oas, request_schema, doc)
        response = patch(client, f"/alarms/{one}", doc)
        assert response.status_code == expected, response.text
        assert response.content == b""
        record = get_alarms(client, oas)[one]
        assert {k: record.get(k) for k in check} == check
    assert "ackSystemId" not in get_alarms(client, oas)[one], "unacknowledged without a system id"
    assert patch(client, f"/alarms/{one}", ACK).status_code == expected
    assert one not in get_alarms(client, oas), "cleared and acknowledged: off the alarm list"


@pytest.mark.parametrize(
    ("name", "body", "media", "status", "words"),
    [
        ("404", ACK, MERGE, 404, "alarm 404 is not in the alarm list"),
        ("cleared", CLEAR, MERGE, 409, "is already cleared"),
        ("full", ACK, MERGE, 409, "is already acknowledged by ops"),
        ("outage", UNACK, MERGE, 409, "is already unacknowledged"),
        ("outage", {**CLEAR, "perceivedSeverity": "MINOR"}, MERGE, 400, "perceivedSeverity 'MINOR'"),
        ("outage", {"additionalText": "x"}, MERGE, 400, "'additionalText' of alarm"),
        ("outage", {**ACK, "clearUserId": "ops"}, MERGE, 400, "mixes"),
        ("outage", {"ackUserId": "ops", "ackState": "DONE"}, MERGE, 400, "ackState 'DONE'"),
        ("outage", {"ackState": "ACKNOWLEDGED"}, MERGE, 400, "ackUserId is required"),
        ("outage", ACK, "application/json", 415, "takes application/merge-patch+json"),
    ],
)
def test_patch_alarm_errors_change_nothing(
    client: TestClient,
    oas: OpenApiSpecs,
    alarms: dict[str, str],
    name: str,
    body: Any,
    media: str,
    status: int,
    words: str,
) -> None:
    before = get_alarms(client, oas)
    valid_error(oas, patch(client, f"/alarms/{alarms.get(name, name)}", body, media), status, words)
    assert get_alarms(client, oas) == before


def test_patch_alarm_bad_json(client: TestClient, oas: OpenApiSpecs, alarms: dict[str, str]) -> None:
    response = client.patch(f"{PREFIX}/alarms/{alarms['outage']}", content=b"{", headers={"content-type": MERGE})
    valid_error(oas, response, 400, "not valid JSON")


# -- PATCH /alarms --------------------------------------------------------------------------------


def test_patch_alarms_all_succeed(client: TestClient, oas: OpenApiSpecs, alarms: dict[str, str]) -> None:
    body = {alarms["outage"]: ACK, alarms["cleared"]: ACK}
    valid(oas, f"/paths/~1alarms/patch/requestBody/content/{_escape(MERGE)}/schema", body)
    response = patch(client, "/alarms", body)
    assert response.status_code == success(oas, "patch", "/alarms"), response.text
    assert response.content == b""
    listed = get_alarms(client, oas)
    assert list(listed) == [alarms["full"], alarms["outage"]]
    assert listed[alarms["outage"]]["ackState"] == "ACKNOWLEDGED"


def test_patch_alarms_reports_the_failed_ones(client: TestClient, oas: OpenApiSpecs, alarms: dict[str, str]) -> None:
    body = {alarms["outage"]: CLEAR, alarms["cleared"]: CLEAR, "404": CLEAR}
    valid(oas, f"/paths/~1alarms/patch/requestBody/content/{_escape(MERGE)}/schema", body)
    response = patch(client, "/alarms", body)
    assert response.status_code == 400
    valid(oas, response_schema("patch", "/alarms", "default"), response.json())
    assert [f["alarmId"] for f in response.json()] == [alarms["cleared"], "404"]
    assert "already cleared" in response.json()[0]["failureReason"]
    assert "is not in the alarm list" in response.json()[1]["failureReason"]
    assert get_alarms(client, oas)[alarms["outage"]]["perceivedSeverity"] == "CLEARED", "the others are patched"


@pytest.mark.parametrize(
    ("body", "words"), [({}, "non-empty JSON object"), ([ACK], "non-empty JSON object"), ("x", "non-empty")]
)
def test_patch_alarms_malformed_body(
    client: TestClient, oas: OpenApiSpecs, alarms: dict[str, str], body: Any, words: str
) -> None:
    # No alarm to name, so no FailedAlarm to give: an ErrorResponse, as every other operation.
    before = get_alarms(client, oas)
    valid_error(oas, patch(client, "/alarms", body), 400, words)
    assert get_alarms(client, oas) == before


# -- POST /alarms/{alarmId}/comments --------------------------------------------------------------


def test_post_comment(client: TestClient, oas: OpenApiSpecs, alarms: dict[str, str]) -> None:
    one = alarms["full"]
    sent = {"commentUserId": "ops", "commentSystemId": "noc", "commentText": "replaced fan 2"}
    valid(oas, "/components/schemas/Comment", sent)
    response = client.post(f"{PREFIX}/alarms/{quote(one)}/comments", json=sent)
    assert response.status_code == success(oas, "post", "/alarms/{alarmId}/comments"), response.text
    valid(oas, response_schema("post", "/alarms/{alarmId}/comments", "201"), response.json())
    assert response.headers["Location"] == f"{PREFIX}/alarms/{one}/comments/2"
    assert {k: response.json()[k] for k in sent} == sent
    assert get_alarms(client, oas)[one]["comments"]["2"] == response.json()


@pytest.mark.parametrize(
    ("name", "body", "media", "status", "words"),
    [
        ("404", {"commentText": "x"}, "application/json", 404, "alarm 404 is not in the alarm list"),
        ("outage", {"commentUserId": "ops"}, "application/json", 400, "commentText must be a non-empty string"),
        ("outage", {"commentText": "x", "text": "y"}, "application/json", 400, "'text' is not a member of a Comment"),
        ("outage", ["x"], "application/json", 400, "must be a Comment"),
        ("outage", {"commentText": "x", "commentTime": "noon"}, "application/json", 400, "commentTime 'noon'"),
        ("outage", {"commentText": "x"}, "text/plain", 415, "takes application/json"),
    ],
)
def test_post_comment_errors_change_nothing(
    client: TestClient,
    oas: OpenApiSpecs,
    alarms: dict[str, str],
    name: str,
    body: Any,
    media: str,
    status: int,
    words: str,
) -> None:
    before = get_alarms(client, oas)
    url = f"{PREFIX}/alarms/{alarms.get(name, name)}/comments"
    valid_error(oas, client.post(url, json=body, headers={"content-type": media}), status, words)
    assert get_alarms(client, oas) == before


# -- the app --------------------------------------------------------------------------------------


def test_configured_root_and_version(store: SqlStore, oas: OpenApiSpecs, alarms: dict[str, str]) -> None:
    settings = Settings(root="/3GPPManagement", fault_version="v1900")
    with TestClient(create_app(store, settings)) as c:
        response = c.get("/3GPPManagement/FaultSupervisionMnS/v1900/alarms")
        assert response.status_code == 200
        valid_map(oas, response.json())
        assert c.get(f"{PREFIX}/alarms").status_code == 404


def test_demo_alarms_are_spec_records(client: TestClient, oas: OpenApiSpecs, store: SqlStore) -> None:
    from mns.sim.generate import generate_network

    store.commit((Create(o.dn, o.attrs, o.cls) for o in generate_network(2, seed=3)), source="real")
    made = demo_alarms(store, 1)
    body = get_alarms(client, oas)
    assert list(body) == [a.alarm_id for a in made]
    assert {r["alarmType"] for r in body.values()} >= {"EQUIPMENT_ALARM", "COMMUNICATIONS_ALARM"}


def test_spec_defect_threshold_level_matches_both_branches(oas: OpenApiSpecs) -> None:
    # ThresholdLevelInd is a oneOf of two objects that constrain nothing else, so every value
    # matches both and none is valid; the twin keeps thresholdLevel out of the records it makes.
    level = oas.validator(FAULT, "ThresholdLevelInd")
    assert not level.is_valid({"up": {"high": 80.5}})
    assert not level.is_valid({"down": {"high": 10.5, "low": 9.5}})

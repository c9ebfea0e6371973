"""The mirror's receiving endpoint takes VES-wrapped notifications as SMOs send them, and mends sloppy values."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
from probes_mirror import MIRROR, mirroring

CELL = "SubNetwork=RAN,SubNetwork=Central,ManagedElement=gNB-00001,GNBDUFunction=1,NRCellDU=1"


def _wait(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_ves_batch_of_cm_changes_is_applied_and_its_mending_reported() -> None:
    change = {
        "href": "http://sim/ProvMnS/v1800/" + CELL.replace(",", "/"),
        "notificationId": "41",  # a string: TS 28.623 says integer
        "notificationType": "notifyMOIAttributeValueChanges",
        "eventTime": "2026-11-29T10:00:00Z",
        "systemDN": "SubNetwork=RAN",
        "attributeListValueChanges": [{"userLabel": "from a VES batch"}],
    }
    event = {
        "commonEventHeader": {
            "domain": "stndDefined",
            "eventId": "ves-1",
            "eventName": "stndDefined-notifyMOIAttributeValueChanges",
            "stndDefinedNamespace": "3GPP-Provisioning",
            "priority": "Normal",
            "reportingEntityName": "sim",
            "sequence": 1,
            "sourceName": "sim",
            "startEpochMicrosec": 1795950000000000,
            "lastEpochMicrosec": 1795950000000000,
            "version": "4.1",
            "vesEventListenerVersion": "7.2.1",
        },
        "stndDefinedFields": {"stndDefinedFieldsVersion": "1.0", "data": change},
    }
    with mirroring() as twin:
        before = twin.get(f"/ProvMnS/v1800/{CELL.replace(',', '/')}").json()["attributes"]["userLabel"]
        assert before != "from a VES batch"
        answer = twin.post(f"{MIRROR}/notifications", content=orjson.dumps({"eventList": [event]}))
        assert answer.status_code == 204, answer.text

        def applied() -> bool:
            cell = twin.get(f"/ProvMnS/v1800/{CELL.replace(',', '/')}").json()
            return bool(cell["attributes"]["userLabel"] == "from a VES batch")

        _wait(applied, "the VES-wrapped change in the twin")
        status = twin.get(MIRROR).json()
        assert any("notificationId" in line for line in status["corrections"]), status["corrections"]
        refused = twin.post(f"{MIRROR}/notifications", json={"event": {"commonEventHeader": {"domain": "fault"}}})
        assert refused.status_code == 400
        assert "fault" in refused.json()["error"]["errorInfo"]

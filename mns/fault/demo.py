"""A few realistic alarms on the objects of a generated network, for ``mns serve --demo``.

Which objects get which alarms is decided by the seed alone (the network is read in key
order, and only as far as the first gNBs), so the same network and seed give the same alarms.
A twin that has alarms (or had) is left as it is.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Final

from mns.fault.model import AlarmRecord
from mns.fault.service import acknowledge, alarm_head, clear_alarm, comment, get_alarm, list_alarms, raise_alarm
from mns.store.api import Scope
from mns.store.sql import SqlStore

CANDIDATE_GNBS: Final = 16
"""ManagedElements (gNBs) read to choose from: the first ones in key order."""

DEMO_USER: Final = "noc-operator"


def _objects(store: SqlStore) -> dict[str, list[str]]:
    """DNs of ManagedElement, NRCellDU and GNBCUCPFunction under the first gNBs of the twin."""
    found: dict[str, list[str]] = {"ManagedElement": [], "NRCellDU": [], "GNBCUCPFunction": []}
    for root in store.roots():
        rows: Iterator[tuple[str, str, str, int]] = store.scan(root.dn, scope=Scope.BASE_ALL)
        try:
            for dn, cls, _, _ in rows:
                if cls == "ManagedElement" and len(found["ManagedElement"]) == CANDIDATE_GNBS:
                    break
                if cls in found:
                    found[cls].append(dn)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()
    return found


def demo_alarms(store: SqlStore, seed: int = 1) -> list[AlarmRecord]:
    """Raise a cell outage, an NG link failure, a high temperature, a degraded cell and a fan failure.

    One is commented, one acknowledged and one cleared but not acknowledged, so every state of
    the alarm list shows. Returns the alarms afterwards: none when the twin has no gNBs, and
    the alarm list as it is when the twin has had alarms already.
    """
    if alarm_head(store=store) > 0:
        return list(list_alarms(store=store).alarms.values())
    rng = random.Random(seed)
    objects = _objects(store)
    if not objects["ManagedElement"]:
        return []
    cells = objects["NRCellDU"] or objects["ManagedElement"]
    cucps = objects["GNBCUCPFunction"] or objects["ManagedElement"]
    out_cell, degraded_cell = rng.sample(cells, 2) if len(cells) > 1 else (cells[0], cells[0])
    hot_gnb, fan_gnb = rng.choice(objects["ManagedElement"]), rng.choice(objects["ManagedElement"])
    temperature = round(68.0 + rng.random() * 10, 1)
    author = "mns demo"
    records = [
        raise_alarm(
            store=store,
            object_instance=out_cell,
            alarm_type="EQUIPMENT_ALARM",
            probable_cause="transmitterFailure",
            specific_problem="NR cell out of service",
            perceived_severity="CRITICAL",
            additional_text="Cell outage: the radio unit serving the cell stopped transmitting",
            proposed_repair_actions="Reset the radio unit; replace it if the alarm persists",
            additional_information={"operationalState": "DISABLED", "availabilityStatus": "FAILED"},
            author=author,
        ),
        raise_alarm(
            store=store,
            object_instance=rng.choice(cucps),
            alarm_type="COMMUNICATIONS_ALARM",
            probable_cause="communicationsSubsystemFailure",
            specific_problem="NG-C link to AMF down",
            perceived_severity="MAJOR",
            additional_text="SCTP association to the AMF lost; NG Setup retries failing",
            author=author,
        ),
        raise_alarm(
            store=store,
            object_instance=hot_gnb,
            alarm_type="ENVIRONMENTAL_ALARM",
            probable_cause="temperatureUnacceptable",
            specific_problem="Cabinet temperature high",
            perceived_severity="MINOR",
            threshold_info={"observedMeasurement": "cabinetTemperature", "observedValue": temperature},
            additional_text=f"Cabinet temperature {temperature} C above the 65 C threshold",
            author=author,
        ),
        raise_alarm(
            store=store,
            object_instance=degraded_cell,
            alarm_type="QUALITY_OF_SERVICE_ALARM",
            probable_cause="degradedSignal",
            specific_problem="High uplink interference",
            perceived_severity="WARNING",
            additional_text="Average uplink interference above -100 dBm per PRB for 15 minutes",
            author=author,
        ),
        raise_alarm(
            store=store,
            object_instance=fan_gnb,
            alarm_type="EQUIPMENT_ALARM",
            probable_cause="coolingFanFailure",
            specific_problem="Fan unit 2 stopped",
            perceived_severity="MAJOR",
            author=author,
        ),
    ]
    outage, _, _, degraded, fan = records
    comment(
        store=store,
        alarm_id=outage.alarm_id,
        comment_text="Field team dispatched",
        comment_user_id=DEMO_USER,
        author=author,
    )
    acknowledge(store=store, alarm_id=degraded.alarm_id, ack_user_id=DEMO_USER, author=author)
    clear_alarm(store=store, alarm_id=fan.alarm_id, author=author)
    return [r for r in (get_alarm(store=store, alarm_id=x.alarm_id) for x in records) if r is not None]

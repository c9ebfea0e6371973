"""Translation between the stage-2 form and the Rel-18 OpenAPI spelling, both ways, losslessly."""

from __future__ import annotations

import random
from typing import Any

import pytest

from mns.nrm.dialect import (
    Dialect,
    child_class,
    child_key,
    class_from_openapi,
    class_to_openapi,
    from_openapi,
    to_openapi,
)
from mns.nrm.registry import AttrSpec, Registry, default_registry
from mns.nrm.validate import Validator

DU = "SubNetwork=RAN,ManagedElement=me1,GNBDUFunction=1"


# --- sample values generated from the registry ----------------------------------------------------


def _integer(spec: AttrSpec, rng: random.Random) -> int:
    lo, hi = spec.ranges[rng.randrange(len(spec.ranges))] if spec.ranges else (0, 1000)
    lo = -1000 if lo is None else int(lo)
    hi = lo + 1000 if hi is None else int(hi)
    return rng.randint(lo, min(hi, lo + 10**6))


def _element(spec: AttrSpec, rng: random.Random, depth: int) -> Any:
    kind = spec.kind
    if kind == "integer":
        return _integer(spec, rng)
    if kind == "number":
        return round(rng.uniform(-10, 10), 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind in ("enum", "bits"):
        return rng.choice(spec.values)
    if kind == "dn":
        return f"{DU},NRSectorCarrier={rng.randint(1, 9)}"
    if kind == "struct":
        fields = [f for f in spec.fields.values() if depth < 4]
        return {f.name: _value(f, rng, depth + 1) for f in fields if rng.random() < 0.9}
    if kind == "union":
        member = rng.choice(spec.members)
        if member.typedef == "ipv6-address":
            return "2001:db8::7"
        if member.typedef == "ipv4-address":
            return "192.0.2.7"
        return _element(member, rng, depth)
    if kind == "any":
        return {"opaque": [1, "two", None]}
    if kind == "empty":
        return [None]
    return rng.choice(["a", "xyz", "Some text", "123"])


def _value(spec: AttrSpec, rng: random.Random, depth: int = 0) -> Any:
    if not spec.multi:
        return _element(spec, rng, depth)
    top = spec.max_items if spec.max_items is not None else 3
    count = rng.randint(max(spec.min_items or 0, 1 if top else 0), max(top, 1))
    return [_element(spec, rng, depth) for _ in range(count)]


def sample(cls: str, seed: int, registry: Registry | None = None) -> dict[str, Any]:
    """Canonical attributes for every attribute of ``cls``, plus an unknown one."""
    spec = (registry or default_registry()).get(cls)
    assert spec is not None
    rng = random.Random(f"{cls}/{seed}")
    attrs = {name: _value(a, rng) for name, a in spec.attributes.items()}
    attrs["vendorSpecificThing"] = {"k": [1, 2]}
    return attrs


CLASSES = [c.name for c in default_registry()]
SEEDS = range(4)


# --- property-style round trips over every class --------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_every_class_round_trips_from_canonical(cls: str) -> None:
    for seed in SEEDS:
        attrs = sample(cls, seed)
        oa_cls, oa_attrs = to_openapi(cls, attrs)
        assert from_openapi(oa_cls, oa_attrs) == (cls, attrs), f"{cls} seed {seed}"


@pytest.mark.parametrize("cls", CLASSES)
def test_every_class_round_trips_from_openapi(cls: str) -> None:
    for seed in SEEDS:
        oa_cls, oa_attrs = to_openapi(cls, sample(cls, seed))
        back_cls, back = from_openapi(oa_cls, oa_attrs)
        assert to_openapi(back_cls, back) == (oa_cls, oa_attrs), f"{cls} seed {seed}"


@pytest.mark.parametrize("cls", CLASSES)
def test_translation_does_not_mutate_its_input(cls: str) -> None:
    attrs = sample(cls, 0)
    snapshot = repr(attrs)
    oa_cls, oa_attrs = to_openapi(cls, attrs)
    oa_snapshot = repr(oa_attrs)
    from_openapi(oa_cls, oa_attrs)
    assert repr(attrs) == snapshot
    assert repr(oa_attrs) == oa_snapshot


def test_every_renamed_attribute_is_renamed(registry: Registry) -> None:
    for spec in registry:
        attrs = sample(spec.name, 0)
        _, oa_attrs = to_openapi(spec.name, attrs)
        for name, attr in spec.attributes.items():
            if attr.openapi_name != name:
                assert name not in oa_attrs, f"{spec.name}.{name}"
                assert attr.openapi_name in oa_attrs, f"{spec.name}.{name}"


# --- hand-written examples ------------------------------------------------------------------------

CELL_DU = {
    "id": "1",
    "cellLocalId": 1,
    "nRPCI": 1007,
    "nRTAC": 0x00A1B2,
    "administrativeState": "UNLOCKED",
    "operationalState": "ENABLED",
    "pLMNInfoList": [
        {"mcc": "310", "mnc": "410", "sst": 1, "sd": "000001"},
        {"mcc": "310", "mnc": "410", "sst": 2, "sd": "FFFFFF"},
    ],
    "nRSectorCarrierRef": [f"{DU},NRSectorCarrier=1"],
    "bWPRef": [f"{DU},BWP=1", f"{DU},BWP=2"],
    "nRFrequencyRef": ["SubNetwork=RAN,NRFrequency=632628"],
    "ssbFrequency": 632628,
    "vendorTilt": 3,
}

CELL_DU_OPENAPI = {
    "id": "1",
    "cellLocalId": 1,
    "nrPci": 1007,
    "nrTac": "00A1B2",
    "administrativeState": "UNLOCKED",
    "operationalState": "ENABLED",
    "plmnInfoList": [
        {"plmnId": {"mcc": "310", "mnc": "410"}, "snssai": {"sst": 1, "sd": "000001"}},
        {"plmnId": {"mcc": "310", "mnc": "410"}, "snssai": {"sst": 2, "sd": "FFFFFF"}},
    ],
    "nrSectorCarrierRef": [f"{DU},NRSectorCarrier=1"],
    "bwpRef": [f"{DU},BWP=1", f"{DU},BWP=2"],
    "nRFrequencyRef": "SubNetwork=RAN,NRFrequency=632628",
    "ssbFrequency": 632628,
    "vendorTilt": 3,
}


def test_nrcelldu_example() -> None:
    assert to_openapi("NRCellDU", CELL_DU) == ("NrCellDu", CELL_DU_OPENAPI)
    assert from_openapi("NrCellDu", CELL_DU_OPENAPI) == ("NRCellDU", CELL_DU)


def test_nrcellcu_example() -> None:
    canonical = {
        "cellLocalId": 7,
        "pLMNInfoList": [{"mcc": "001", "mnc": "01", "sst": 1, "sd": "000000"}],
        "nRFrequencyRef": "SubNetwork=RAN,NRFrequency=1",
        "userLabel": "cu cell",
    }
    openapi = {
        "cellLocalId": 7,
        "plmnInfoList": [{"plmnId": {"mcc": "001", "mnc": "01"}, "snssai": {"sst": 1, "sd": "000000"}}],
        "nRFrequencyRef": "SubNetwork=RAN,NRFrequency=1",
        "userLabel": "cu cell",
    }
    assert to_openapi("NRCellCU", canonical) == ("NrCellCu", openapi)
    assert from_openapi("NrCellCu", openapi) == ("NRCellCU", canonical)


def test_gnbdufunction_example() -> None:
    canonical = {
        "gNBId": 1234,
        "gNBIdLength": 24,
        "gNBDUId": 5,
        "gNBDUName": "du-5",
        "priorityLabel": 1,
        "SupportedPerfMetricGroup": [{"performanceMetrics": ["RRU.PrbUsedDl"], "granularityPeriods": [900]}],
    }
    openapi = {
        "gnbId": 1234,
        "gnbIdLength": 24,
        "gnbDuId": 5,
        "gnbDuName": "du-5",
        "priorityLabel": 1,
        "supportedPerfMetricGroups": [{"performanceMetrics": ["RRU.PrbUsedDl"], "granularityPeriods": [900]}],
    }
    assert to_openapi("GNBDUFunction", canonical) == ("GnbDuFunction", openapi)
    assert from_openapi("GnbDuFunction", openapi) == ("GNBDUFunction", canonical)


def test_openapi_tac_comes_back_as_an_integer() -> None:
    _, attrs = from_openapi("NrCellDu", {"nrTac": "a1b2"})
    assert attrs == {"nRTAC": 0xA1B2}
    assert to_openapi("NRCellDU", attrs)[1] == {"nrTac": "00A1B2"}  # same value, 24-bit form


def test_value_conversions() -> None:
    assert to_openapi("NRFreqRelation", {"cellReselectionSubPriority": 6})[1] == {"cellReselectionSubPriority": 0.6}
    assert from_openapi("NRFreqRelation", {"cellReselectionSubPriority": 0.6})[1] == {"cellReselectionSubPriority": 6}
    assert to_openapi("FileDownloadJob", {"cancelJob": True})[1] == {"cancelJob": "TRUE"}
    assert to_openapi("DPCIConfigurationFunction", {"nRPciList": [{"NRPci": 3}]})[1] == {"nRPciList": [3]}
    ep = {"remoteAddress": "2001:db8::1", "localAddress": [{"ipAddress": "192.0.2.1", "vlanId": 7}]}
    oa = {
        "remoteAddress": {"ipv6Address": "2001:db8::1"},
        "localAddress": {"addressWithVlan": {"ipv4Address": "192.0.2.1", "vlanId": 7}},
    }
    assert to_openapi("EP_F1C", ep) == ("EP_F1C", oa)
    assert from_openapi("EP_F1C", oa) == ("EP_F1C", ep)


def test_renamed_attributes() -> None:
    assert to_openapi("GNBCUCPFunction", {"x2BlackList": ["310410-22-1"]})[1] == {"x2BlockList": ["310410-22-1"]}
    assert from_openapi("NRFreqRelation", {"blockListEntry": [1, 2]})[1] == {"blackListEntry": [1, 2]}


def test_unknown_class_and_attributes_pass_through() -> None:
    attrs = {"a": 1, "nRPCI": 2}
    assert to_openapi("VendorThing", attrs) == ("VendorThing", attrs)
    assert from_openapi("VendorThing", attrs) == ("VendorThing", attrs)
    assert to_openapi("NRCellRelation", {"vendorX": [1]}) == ("NRCellRelation", {"vendorX": [1]})


def test_unexpected_shapes_pass_through_losslessly() -> None:
    odd = {"nRTAC": "not a number", "pLMNInfoList": "flat text", "nRPCI": [1, 2]}
    oa_cls, oa = to_openapi("NRCellDU", odd)
    assert from_openapi(oa_cls, oa) == ("NRCellDU", odd)
    blocked = {"pLMNInfoList": [{"mcc": "310", "mnc": "410", "sst": 1, "plmnId": "stray"}]}
    assert from_openapi(*to_openapi("NRCellDU", blocked)) == ("NRCellDU", blocked)
    extra = {"plmnInfoList": [{"plmnId": {"mcc": "310", "mnc": "410", "x": 1}, "snssai": 5}]}
    cls, canonical = from_openapi("NrCellDu", extra)
    assert canonical["pLMNInfoList"][0]["mcc"] == "310"
    assert to_openapi(cls, canonical) == ("NrCellDu", extra)


def test_translated_sample_still_validates(registry: Registry) -> None:
    validator = Validator(registry)
    _, attrs = from_openapi("NrCellDu", CELL_DU_OPENAPI)
    found = validator.validate(f"{DU},NRCellDU=1", "NRCellDU", attrs, parent_cls="GNBDUFunction")
    assert {f.rule for f in found} <= {"mandatory", "unknown-attribute"}
    assert ("vendorTilt", "unknown-attribute") in {(f.attribute, f.rule) for f in found}


# --- class names and child keys -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage2", "openapi"),
    [
        ("NRCellDU", "NrCellDu"),
        ("GNBDUFunction", "GnbDuFunction"),
        ("ExternalNRCellCU", "ExternalNrCellCu"),
        ("NRCellRelation", "NRCellRelation"),
        ("MNSRegistry", "MnsRegistry"),
        ("VendorThing", "VendorThing"),
    ],
)
def test_class_names(stage2: str, openapi: str) -> None:
    assert class_to_openapi(stage2) == openapi
    assert class_from_openapi(openapi) == stage2
    assert class_from_openapi(stage2) == stage2


def test_child_keys() -> None:
    assert child_key("GNBDUFunction", "BWP") == "Bwp-Multiple"
    assert child_key("GnbDuFunction", "NRSectorCarrier") == "NrSectorCarrier-Multiple"
    assert child_key("GNBDUFunction", "NRCellDU") == "NrCellDu"
    assert child_key("SubNetwork", "ExternalGNBCUCPFunction") == "ExternalGnbCuCpFunction"
    assert child_key("SubNetwork", "VendorThing") == "VendorThing"
    assert child_class("GNBDUFunction", "Bwp-Multiple") == "BWP"
    assert child_class("GnbDuFunction", "NrCellDu") == "NRCellDU"
    assert child_class("ManagedElement", "QMCJobs") == "QMCJob"
    assert child_class("NRCellCU", "NRCellRelation-Multiple") == "NRCellRelation"


def test_dialect_over_an_explicit_registry(registry: Registry) -> None:
    dialect = Dialect(registry)
    assert dialect.to_openapi("NRCellDU", {"nRPCI": 1}) == ("NrCellDu", {"nrPci": 1})

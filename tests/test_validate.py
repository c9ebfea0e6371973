"""Schema validation: each rule fires on a crafted bad object and stays quiet on a good one."""

from __future__ import annotations

from typing import Any

import pytest

from mns.nrm.registry import Registry
from mns.nrm.validate import ERROR, INFO, MANDATORY, WARNING, Finding, Validator, errors

ME = "SubNetwork=RAN,ManagedElement=me1"
DU = f"{ME},GNBDUFunction=1"
CU = f"{ME},GNBCUCPFunction=1"
CELL_DN = f"{DU},NRCellDU=1"
REL_DN = f"{CU},NRCellCU=1,NRCellRelation=1"

PLMN = {"mcc": "310", "mnc": "410", "sst": 1, "sd": "000001"}


def good_cell() -> dict[str, Any]:
    """An NRCellDU holding every mandatory attribute with a valid value."""
    return {
        "cellLocalId": 1,
        "nRPCI": 17,
        "nRTAC": 4660,
        "arfcnDL": 632628,
        "arfcnUL": 632628,
        "bSChannelBwDL": 100,
        "ssbFrequency": 632628,
        "ssbPeriodicity": 20,
        "ssbSubCarrierSpacing": 30,
        "ssbOffset": 0,
        "ssbDuration": 1,
        "administrativeState": "UNLOCKED",
        "operationalState": "ENABLED",
        "cellState": "ACTIVE",
        "userLabel": "cell 1",
        "priorityLabel": 1,
        "resourceType": "PRB",
        "pLMNInfoList": [dict(PLMN)],
        "rRMPolicyMemberList": [dict(PLMN)],
        "nPNIdentityList": [{"idx": 0, "plmnid": [{"mcc": "310", "mnc": "410"}], "cAGIdList": "1", "nIDList": "2"}],
        "nRSectorCarrierRef": [f"{DU},NRSectorCarrier=1"],
        "bWPRef": [f"{DU},BWP=1"],
        "victimSetRef": "SubNetwork=RAN,RimRSGlobal=1,RimRSSet=1",
        "aggressorSetRef": "SubNetwork=RAN,RimRSGlobal=1,RimRSSet=2",
        "rimRSMonitoringStartTime": "2024-01-01T00:00:00Z",
        "rimRSMonitoringStopTime": "2024-01-01T06:00:00+02:00",
        "rimRSMonitoringWindowDuration": 10,
        "rimRSMonitoringWindowStartingOffset": 0,
        "rimRSMonitoringWindowPeriodicity": 1,
        "rimRSMonitoringOccasionInterval": 1,
        "rimRSMonitoringOccasionStartingOffset": 0,
    }


def good_relation() -> dict[str, Any]:
    """An NRCellRelation with the attributes a real network sets."""
    return {
        "nRTCI": 123456,
        "adjacentNRCellRef": "SubNetwork=RAN,ExternalGNBCUCPFunction=9,ExternalNRCellCU=3",
        "nRFreqRelationRef": f"{CU},NRCellCU=1,NRFreqRelation=1",
        "isHOAllowed": True,
        "isRemoveAllowed": False,
        "cellIndividualOffset": {"rsrpOffsetSsb": 2, "rsrqOffsetSsb": -2},
    }


@pytest.fixture(scope="module")
def validator(registry: Registry) -> Validator:
    return Validator(registry)


def check_cell(v: Validator, attrs: dict[str, Any], **kw: Any) -> list[Finding]:
    kw.setdefault("parent_cls", "GNBDUFunction")
    return v.validate(CELL_DN, "NRCellDU", attrs, **kw)


def rules(findings: list[Finding]) -> set[tuple[str | None, str]]:
    return {(f.attribute, f.rule) for f in findings}


# --- good objects --------------------------------------------------------------------------------


def test_good_cell_has_no_findings(validator: Validator) -> None:
    assert check_cell(validator, good_cell()) == []
    assert check_cell(validator, good_cell(), strict=True) == []


def test_good_relation_has_no_findings(validator: Validator) -> None:
    found = validator.validate(REL_DN, "NRCellRelation", good_relation(), parent_cls="NRCellCU")
    assert found == []


def test_openapi_spelt_class_and_parent_are_accepted(validator: Validator) -> None:
    assert check_cell(validator, good_cell(), parent_cls="GnbDuFunction") == []
    assert validator.validate(CELL_DN, "NrCellDu", good_cell(), parent_cls="GnbDuFunction") == []


def test_none_values_count_as_absent(validator: Validator) -> None:
    cell = good_cell()
    cell["userLabel"] = None
    assert check_cell(validator, cell) == []
    cell["nRPCI"] = None
    assert rules(check_cell(validator, cell)) == {("nRPCI", "mandatory")}


# --- unmodelled ----------------------------------------------------------------------------------


def test_unknown_class_is_info_and_nothing_else(validator: Validator) -> None:
    found = validator.validate(
        f"{ME},VendorMagicFunction=1",
        "VendorMagicFunction",
        {"x": 1, "nRPCI": "bad"},
        parent_cls=None,
    )
    assert len(found) == 1
    assert found[0].rule == "unmodelled"
    assert found[0].severity == INFO
    assert found[0].attribute is None
    assert "VendorMagicFunction" in str(found[0])


# --- containment ---------------------------------------------------------------------------------


def test_wrong_parent_is_a_containment_error(validator: Validator) -> None:
    found = check_cell(validator, good_cell(), parent_cls="GNBCUCPFunction")
    assert rules(found) == {(None, "containment")}
    assert found[0].severity == ERROR
    assert "GNBCUCPFunction" in found[0].message


def test_unknown_parent_is_a_containment_error(validator: Validator) -> None:
    found = check_cell(validator, good_cell(), parent_cls="VendorBox")
    assert rules(found) == {(None, "containment")}


def test_non_root_class_at_the_root_is_a_containment_error(validator: Validator) -> None:
    found = validator.validate("NRCellDU=1", "NRCellDU", good_cell(), parent_cls=None)
    assert rules(found) == {(None, "containment")}
    assert "root" in found[0].message


def test_root_classes_are_fine_at_the_root(validator: Validator) -> None:
    found = validator.validate("SubNetwork=RAN", "SubNetwork", {}, parent_cls=None)
    assert "containment" not in {f.rule for f in found}
    found = validator.validate("ManagedElement=1", "ManagedElement", {}, parent_cls=None)
    assert "containment" not in {f.rule for f in found}
    found = validator.validate("SubNetwork=A,SubNetwork=B", "SubNetwork", {}, parent_cls="SubNetwork")
    assert "containment" not in {f.rule for f in found}


# --- unknown attributes --------------------------------------------------------------------------


def test_unknown_attribute_is_a_warning(validator: Validator) -> None:
    cell = good_cell()
    cell["vendorTilt"] = 5
    found = check_cell(validator, cell)
    assert rules(found) == {("vendorTilt", "unknown-attribute")}
    assert found[0].severity == WARNING
    assert errors(found) == []


def test_openapi_spelling_is_hinted(validator: Validator) -> None:
    cell = good_cell()
    cell["nrPci"] = 5
    (finding,) = check_cell(validator, cell)
    assert finding.rule == "unknown-attribute"
    assert "nRPCI" in finding.message


def test_unknown_struct_member_is_a_warning(validator: Validator) -> None:
    cell = good_cell()
    cell["pLMNInfoList"] = [{**PLMN, "vendorFlag": True}]
    found = check_cell(validator, cell)
    assert rules(found) == {("pLMNInfoList[0].vendorFlag", "unknown-attribute")}
    assert found[0].severity == WARNING


# --- type ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "value"),
    [
        ("nRPCI", "17"),
        ("nRPCI", 17.0),
        ("nRPCI", True),
        ("userLabel", 5),
        ("administrativeState", 1),
        ("nRSectorCarrierRef", f"{DU},NRSectorCarrier=1"),  # a list is expected
        ("pLMNInfoList", dict(PLMN)),
        ("victimSetRef", "not a dn"),
        ("victimSetRef", ""),
        ("victimSetRef", ["SubNetwork=1"]),
    ],
)
def test_wrong_type_is_an_error(validator: Validator, attr: str, value: Any) -> None:
    cell = good_cell()
    cell[attr] = value
    found = check_cell(validator, cell)
    assert rules(found) == {(attr, "type")}
    assert found[0].severity == ERROR


def test_type_errors_inside_lists_and_structs(validator: Validator) -> None:
    cell = good_cell()
    cell["pLMNInfoList"] = [dict(PLMN), {**PLMN, "sst": "1"}]
    cell["nRSectorCarrierRef"] = [f"{DU},NRSectorCarrier=1", 7]
    found = check_cell(validator, cell)
    assert rules(found) == {("pLMNInfoList[1].sst", "type"), ("nRSectorCarrierRef[1]", "type")}


def test_dn_in_uri_form_and_with_escapes_is_accepted(validator: Validator) -> None:
    cell = good_cell()
    cell["victimSetRef"] = "SubNetwork=RAN/RimRSGlobal=1/RimRSSet=1"
    cell["aggressorSetRef"] = r"SubNetwork=RAN,RimRSGlobal=a\,b,RimRSSet=2"
    assert check_cell(validator, cell) == []


def test_numbers_accept_integers(validator: Validator) -> None:
    attrs = {
        "peeParametersList": [
            {
                "idx": 1,
                "siteIdentification": "s",
                "siteDescription": "d",
                "equipmentType": "e",
                "environmentType": "x",
                "powerInterface": "p",
                "siteLatitude": 45,
                "siteLongitude": -73.5,
            }
        ]
    }
    found = validator.validate(DU, "GNBDUFunction", attrs, parent_cls="ManagedElement")
    assert {f.rule for f in found} == {"mandatory"}


# --- range ---------------------------------------------------------------------------------------


def test_out_of_range_number(validator: Validator) -> None:
    cell = good_cell()
    cell["nRPCI"] = 1200
    (finding,) = check_cell(validator, cell)
    assert finding.rule == "range"
    assert finding.severity == ERROR
    assert str(finding) == "nRPCI: 1200 is out of range 0..1007 (rule range)"


def test_pci_above_the_openapi_maximum_is_fine(validator: Validator) -> None:
    cell = good_cell()
    cell["nRPCI"] = 1007  # the OpenAPI says 503; NR has 1008 PCIs
    assert check_cell(validator, cell) == []


def test_range_of_discrete_values(validator: Validator) -> None:
    cell = good_cell()
    cell["ssbPeriodicity"] = 30
    (finding,) = check_cell(validator, cell)
    assert finding.rule == "range"
    assert "5 | 10 | 20 | 40 | 80 | 160" in finding.message


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({**PLMN, "mcc": "31"}, "pLMNInfoList[0].mcc"),  # pattern
        ({**PLMN, "sd": "0001"}, "pLMNInfoList[0].sd"),  # length
        ({**PLMN, "sst": 256}, "pLMNInfoList[0].sst"),  # uint8
    ],
)
def test_string_patterns_and_lengths(validator: Validator, entry: dict[str, Any], where: str) -> None:
    cell = good_cell()
    cell["pLMNInfoList"] = [entry]
    assert rules(check_cell(validator, cell)) == {(where, "range")}


def test_bad_date_time_pattern(validator: Validator) -> None:
    cell = good_cell()
    cell["rimRSMonitoringStartTime"] = "yesterday"
    assert rules(check_cell(validator, cell)) == {("rimRSMonitoringStartTime", "range")}


def test_list_size_limits(validator: Validator) -> None:
    sub = {"notificationRecipientAddress": "http://oss/ntf", "scope": []}
    found = validator.validate(
        f"{ME},NtfSubscriptionControl=1", "NtfSubscriptionControl", sub, parent_cls="ManagedElement"
    )
    assert rules(found) == {("scope", "mandatory")}  # an empty list is a missing value
    sub["scope"] = [{"scopeType": "BASE_ALL"}, {"scopeType": "BASE_ONLY"}]
    found = validator.validate(
        f"{ME},NtfSubscriptionControl=1", "NtfSubscriptionControl", sub, parent_cls="ManagedElement"
    )
    assert rules(found) == {("scope", "range")}


# --- enum ----------------------------------------------------------------------------------------


def test_enum_value_outside_the_list(validator: Validator) -> None:
    cell = good_cell()
    cell["administrativeState"] = "HALF_LOCKED"
    (finding,) = check_cell(validator, cell)
    assert finding.rule == "enum"
    assert finding.severity == ERROR
    assert "LOCKED" in finding.message


def test_enum_inside_a_struct(validator: Validator) -> None:
    sub = {
        "notificationRecipientAddress": "http://oss/ntf",
        "scope": [{"scopeType": "BASE_EVERYTHING"}],
    }
    found = validator.validate(
        f"{ME},NtfSubscriptionControl=1", "NtfSubscriptionControl", sub, parent_cls="ManagedElement"
    )
    assert rules(found) == {("scope[0].scopeType", "enum")}


# --- mandatory -----------------------------------------------------------------------------------


def test_missing_mandatory_is_a_warning(validator: Validator) -> None:
    cell = good_cell()
    del cell["nRPCI"]
    del cell["rimRSMonitoringStartTime"]
    found = check_cell(validator, cell)
    assert rules(found) == {("nRPCI", "mandatory"), ("rimRSMonitoringStartTime", "mandatory")}
    assert {f.severity for f in found} == {WARNING}
    assert errors(found) == []


def test_missing_mandatory_is_an_error_when_strict(validator: Validator) -> None:
    cell = good_cell()
    del cell["nRPCI"]
    (finding,) = check_cell(validator, cell, strict=True)
    assert finding.rule == "mandatory"
    assert finding.severity == ERROR
    assert str(finding) == "nRPCI: is mandatory but missing (rule mandatory)"


def test_missing_mandatory_struct_member(validator: Validator) -> None:
    cell = good_cell()
    cell["pLMNInfoList"] = [{"mcc": "310", "mnc": "410", "sst": 1}]  # no sd
    found = check_cell(validator, cell)
    assert rules(found) == {("pLMNInfoList[0].sd", "mandatory")}
    assert found[0].severity == WARNING
    assert check_cell(validator, cell, strict=True)[0].severity == ERROR


def test_id_is_never_reported_missing(validator: Validator) -> None:
    assert "id" not in {f.attribute for f in check_cell(validator, {})}


def test_read_only_mandatory_attributes_are_not_required_from_the_oss(validator: Validator) -> None:
    svc = {
        "sAP": [{"host": "h", "port": 1}],
        "operations": [{"name": "op"}],
        "administrativeState": "LOCKED",
    }
    dn = f"{DU},ManagedNFService=1"
    oss = validator.validate(dn, "ManagedNFService", svc, parent_cls="GNBDUFunction", writer="oss")
    real = validator.validate(dn, "ManagedNFService", svc, parent_cls="GNBDUFunction")
    assert "operationalState" not in {f.attribute for f in oss}
    assert ("operationalState", "mandatory") in rules(real)


# --- read-only -----------------------------------------------------------------------------------


def test_oss_may_not_set_read_only_at_create(validator: Validator) -> None:
    found = check_cell(validator, good_cell(), writer="oss")
    assert rules(found) == {("operationalState", "read-only"), ("cellState", "read-only")}
    assert {f.severity for f in found} == {ERROR}


def test_the_mirror_may_set_read_only(validator: Validator) -> None:
    assert check_cell(validator, good_cell(), writer="real") == []
    assert check_cell(validator, good_cell(), writer="reconcile") == []


def test_oss_update_may_keep_but_not_change_read_only(validator: Validator) -> None:
    before = good_cell()
    after = dict(before, administrativeState="LOCKED")
    assert check_cell(validator, after, writer="oss", previous=before) == []
    after["operationalState"] = "DISABLED"
    found = check_cell(validator, after, writer="oss", previous=before)
    assert rules(found) == {("operationalState", "read-only")}
    assert "ENABLED" in found[0].message
    assert "DISABLED" in found[0].message


# --- robustness and reporting --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [None, [], {}, "x", 1, 1.5, True, [[[]]], {"a": {"b": [1, None]}}, float("nan"), 10**30],
)
def test_validate_never_raises(validator: Validator, registry: Registry, value: Any) -> None:
    for spec in registry:
        attrs = dict.fromkeys(spec.attributes, value)
        found = validator.validate(f"{ME},{spec.name}=1", spec.name, attrs, parent_cls="ManagedElement")
        assert all(isinstance(f, Finding) for f in found)


def test_finding_str_names_attribute_and_rule() -> None:
    f = Finding("nRPCI", "range", "1200 is out of range 0..1007", ERROR)
    assert str(f) == "nRPCI: 1200 is out of range 0..1007 (rule range)"
    g = Finding(None, "containment", "NRCellDU cannot be contained by X", ERROR)
    assert str(g) == "NRCellDU cannot be contained by X (rule containment)"


def test_several_problems_are_all_reported(validator: Validator) -> None:
    cell = good_cell()
    cell["nRPCI"] = -1
    cell["administrativeState"] = "OPEN"
    cell["extra"] = 1
    del cell["cellLocalId"]
    found = check_cell(validator, cell, parent_cls="ManagedElement")
    assert rules(found) == {
        (None, "containment"),
        ("nRPCI", "range"),
        ("administrativeState", "enum"),
        ("extra", "unknown-attribute"),
        ("cellLocalId", "mandatory"),
    }


def test_default_registry_is_used_without_argument() -> None:
    assert Validator().validate(CELL_DN, "NRCellDU", good_cell(), parent_cls="GNBDUFunction") == []


# -- the generated fast path ---------------------------------------------------------------------


def _mutations(value: Any) -> list[Any]:
    """Values near ``value`` that a check may refuse: other types, edges, a bad DN, None."""
    out: list[Any] = [None, "x", 1, -1, 2**40, 1.5, True, [], {}, [value], "SubNetwork=", "A=1,,B=2"]
    if isinstance(value, bool):
        out.append(not value)
    elif isinstance(value, int):
        out += [value + 1, value - 1, -value, value * 1000, str(value)]
    elif isinstance(value, str):
        out += [value + "Z", value[:-1], value.lower(), value + ",X=1", ""]
    elif isinstance(value, list) and value:
        out += [value[:1], value * 3, [None], [*value, 7]]
    elif isinstance(value, dict):
        out += [{**value, "bogus": 1}, dict.fromkeys(value), dict(list(value.items())[1:])]
    return out


def test_the_fast_path_passes_only_objects_it_would_find_nothing_in() -> None:
    """For every class of a generated network: the generated check lets through nothing to report.

    Each attribute of a real object is swapped for values a check may refuse (another type, an
    edge of its range, a bad DN, None, a list of it...), attributes are dropped, unknown ones
    added. Whatever the fast path passes, the full checks (run by hand, the fast path bypassed)
    find nothing in but missing mandatory attributes, and ``validate`` says the same; an object
    the class's passer lets through has no finding at all. A clean object of the generator passes, or the fast path
    would save nothing.
    """
    from mns.sim.generate import generate_network

    v = Validator()
    samples: dict[str, list[dict[str, Any]]] = {}
    for o in generate_network(3, seed=7):
        samples.setdefault(o.cls, []).append(dict(o.attrs))
    passed = tried = 0
    for cls, objects in samples.items():
        compiled = v._compile(cls)
        assert compiled is not None
        for attrs in objects[:3]:
            assert compiled.fast(attrs), f"a clean {cls} misses the fast path"
            variants = [{**attrs, name: m} for name, value in attrs.items() for m in _mutations(value)]
            variants += [{k: x for k, x in attrs.items() if k != name} for name in attrs]
            variants.append({**attrs, "vendorExtra": 1})
            for variant in variants:
                tried += 1
                if not compiled.fast(variant):
                    continue
                passed += 1
                slow = [
                    (name, p, rule)
                    for name, value in variant.items()
                    for p, rule, _ in compiled.checks[name](value) or ()
                ]
                assert slow == [], (cls, variant, slow)
                found = v.validate("A=1", cls, variant, parent_cls=None, containment=False)
                assert {(f.rule, f.attribute) for f in found} == {
                    (MANDATORY, name) for name in compiled.mandatory - variant.keys()
                }
                assert v.passer(cls)(variant) == (found == [])
    assert tried > 1000
    assert 0 < passed < tried


def test_the_fast_path_keeps_containment_and_read_only_checks() -> None:
    """An object whose attributes all pass still gets its containment and read-only findings."""
    v = Validator()
    relation = {"adjacentNRCellRef": f"{CU},NRCellCU=2", "nRFreqRelationRef": f"{CU},NRCellCU=1,NRFreqRelation=1"}
    assert v.validate(REL_DN, "NRCellRelation", relation, parent_cls="NRCellCU") == []
    assert [f.rule for f in v.validate(REL_DN, "NRCellRelation", relation, parent_cls="GNBDUFunction")] == [
        "containment"
    ]
    cell = good_cell()
    assert v.validate(CELL_DN, "NRCellDU", cell, parent_cls="GNBDUFunction", writer="real") == []
    oss = v.validate(CELL_DN, "NRCellDU", cell, parent_cls="GNBDUFunction", writer="oss")
    assert {f.attribute for f in oss if f.rule == "read-only"} == {"operationalState", "cellState"}

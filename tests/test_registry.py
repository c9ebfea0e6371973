"""The NRM class registry: generated from the 3GPP files, complete, and right on key facts."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from mns.nrm.registry import AttrSpec, ClassSpec, Registry, default_registry, load_registry

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "mns" / "nrm" / "registry.json"


def _cls(registry: Registry, name: str) -> ClassSpec:
    spec = registry.get(name)
    assert spec is not None, f"{name} is not registered"
    return spec


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_registry", ROOT / "tools" / "gen_registry.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_registry", module)
    spec.loader.exec_module(module)
    return module


def test_shipped_registry_matches_a_fresh_generation(specs: Path, tmp_path: Path) -> None:
    out = tmp_path / "registry.json"
    assert _generator().main(["--specs", str(specs), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8"), (
        "mns/nrm/registry.json is stale: run python tools/gen_registry.py"
    )


def test_check_mode_reports_a_stale_file(specs: Path, tmp_path: Path) -> None:
    stale = tmp_path / "registry.json"
    stale.write_text("{}\n", encoding="utf-8")
    gen = _generator()
    assert gen.main(["--specs", str(specs), "--out", str(stale), "--check"]) == 1
    assert gen.main(["--specs", str(specs), "--out", str(SHIPPED), "--check"]) == 0


# --- completeness, computed from the spec files ------------------------------------------------


def _openapi_classes(specs: Path) -> set[str]:
    names: set[str] = set()
    for file in ("TS28623_GenericNrm.yaml", "TS28541_NrNrm.yaml"):
        doc = yaml.safe_load((specs / "openapi" / file).read_text(encoding="utf-8"))
        for name in doc["components"]["schemas"]:
            if name.endswith("-Single"):
                names.add(name.removesuffix("-Single"))
    return names


def _strip_strings(text: str) -> str:
    """YANG text with quoted strings and comments removed, so that braces can be counted."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "'":
            i = text.index("'", i + 1)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 1
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _yang_classes(specs: Path) -> set[str]:
    """Lists that use the Top_Grp grouping directly, i.e. the stage-2 classes."""
    names: set[str] = set()
    files = sorted((specs / "yang").glob("_3gpp-common-*.yang"))
    files += sorted((specs / "yang").glob("_3gpp-nr-nrm-*.yang"))
    assert files, "no YANG modules found"
    for path in files:
        text = _strip_strings(path.read_text(encoding="utf-8"))
        for m in re.finditer(r"\blist\s+([A-Za-z_][\w.-]*)\s*\{", text):
            depth, i, direct = 1, m.end(), []
            while depth and i < len(text):
                c = text[i]
                depth += (c == "{") - (c == "}")
                if depth == 1:
                    direct.append(c)
                i += 1
            if re.search(r"\buses\s+top3gpp:Top_Grp\b", "".join(direct)):
                names.add(m.group(1))
    return names


def test_every_openapi_class_is_registered(specs: Path, registry: Registry) -> None:
    expected = _openapi_classes(specs)
    assert len(expected) > 50
    missing = sorted(n for n in expected if registry.get(n) is None)
    assert missing == []


def test_every_yang_class_is_registered(specs: Path, registry: Registry) -> None:
    expected = _yang_classes(specs)
    assert {"NRCellDU", "SubNetwork", "PerfMetricJob", "MNSInfo"} <= expected
    missing = sorted(n for n in expected if registry.get(n) is None)
    assert missing == []
    for name in expected:
        assert _cls(registry, name).name == name


# --- named classes, both spellings -------------------------------------------------------------

SPELLINGS = [
    ("SubNetwork", "SubNetwork"),
    ("ManagedElement", "ManagedElement"),
    ("GNBDUFunction", "GnbDuFunction"),
    ("GNBCUCPFunction", "GnbCuCpFunction"),
    ("GNBCUUPFunction", "GnbCuUpFunction"),
    ("NRCellDU", "NrCellDu"),
    ("NRCellCU", "NrCellCu"),
    ("NRCellRelation", "NRCellRelation"),
    ("NRFreqRelation", "NRFreqRelation"),
    ("NRFrequency", "NRFrequency"),
    ("NRSectorCarrier", "NrSectorCarrier"),
    ("BWP", "Bwp"),
    ("ExternalGNBCUCPFunction", "ExternalGnbCuCpFunction"),
    ("ExternalNRCellCU", "ExternalNrCellCu"),
    ("NtfSubscriptionControl", "NtfSubscriptionControl"),
    ("HeartbeatControl", "HeartbeatControl"),
    ("PerfMetricJob", "PerfMetricJob"),
    ("ThresholdMonitor", "ThresholdMonitor"),
    ("AlarmList", "AlarmList"),
    ("TraceJob", "TraceJob"),
    ("OperatorDU", "OperatorDu"),
    ("MNSRegistry", "MnsRegistry"),
    ("EP_F1C", "EP_F1C"),
    ("RRMPolicyRatio", "RRMPolicyRatio"),
]


@pytest.mark.parametrize(("stage2", "openapi"), SPELLINGS)
def test_named_class_has_both_spellings(registry: Registry, stage2: str, openapi: str) -> None:
    by_stage2 = registry.get(stage2)
    by_openapi = registry.get(openapi)
    assert by_stage2 is not None
    assert by_stage2 is by_openapi
    assert by_stage2.name == stage2
    assert by_stage2.openapi_name == openapi
    assert registry.canonical_name(openapi) == stage2


def test_unknown_class_is_none(registry: Registry) -> None:
    assert registry.get("VendorMagicFunction") is None
    assert "VendorMagicFunction" not in registry
    assert registry.canonical_name("VendorMagicFunction") is None


def test_sources_are_recorded(registry: Registry) -> None:
    assert _cls(registry, "NRCellDU").source == "both"
    assert _cls(registry, "BWPSet").source == "openapi"
    assert _cls(registry, "ExternalEUtranCellFDD").source == "yang"
    assert _cls(registry, "NRCellDU").yang_module == "_3gpp-nr-nrm-nrcelldu"
    assert _cls(registry, "NRCellDU").openapi_file == "TS28541_NrNrm.yaml"
    assert "TS28541_NrNrm.yaml" in registry.sources["openapi"]
    assert "_3gpp-nr-nrm-nrcelldu" in registry.sources["yang"]


# --- containment --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        ("NRCellDU", "GNBDUFunction"),
        ("NRCellDU", "GnbDuFunction"),
        ("NrCellDu", "GNBDUFunction"),
        ("NRSectorCarrier", "GNBDUFunction"),
        ("BWP", "GNBDUFunction"),
        ("NRCellCU", "GNBCUCPFunction"),
        ("NRCellRelation", "NRCellCU"),
        ("NRFreqRelation", "NRCellCU"),
        ("GNBDUFunction", "ManagedElement"),
        ("ManagedElement", "SubNetwork"),
        ("SubNetwork", "SubNetwork"),
        ("ExternalGNBCUCPFunction", "SubNetwork"),
        ("ExternalNRCellCU", "ExternalGNBCUCPFunction"),
        ("NRFrequency", "SubNetwork"),
        ("NtfSubscriptionControl", "SubNetwork"),
        ("NtfSubscriptionControl", "ManagedElement"),
        ("HeartbeatControl", "NtfSubscriptionControl"),
        ("PerfMetricJob", "NRCellDU"),
        ("RRMPolicyRatio", "GNBDUFunction"),
    ],
)
def test_allowed_containment(registry: Registry, child: str, parent: str) -> None:
    assert registry.allowed_parent(child, parent)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        ("NRCellDU", "GNBCUCPFunction"),
        ("NRCellDU", "ManagedElement"),
        ("NRCellRelation", "NRCellDU"),
        ("GNBDUFunction", "SubNetwork"),
        ("NRCellDU", None),
        ("NRCellCU", "VendorContainer"),
        ("HeartbeatControl", "SubNetwork"),
    ],
)
def test_forbidden_containment(registry: Registry, child: str, parent: str | None) -> None:
    assert not registry.allowed_parent(child, parent)


def test_roots(registry: Registry) -> None:
    assert registry.allowed_parent("SubNetwork", None)
    assert registry.allowed_parent("ManagedElement", None)
    roots = {c.name for c in registry if c.can_be_root}
    assert {"SubNetwork", "ManagedElement"} <= roots
    assert "NRCellDU" not in roots
    assert registry.allowed_parent("VendorMagicFunction", None)  # unknown: not judged


def test_openapi_child_keys(registry: Registry) -> None:
    du = registry.get("GNBDUFunction")
    assert du is not None
    assert du.children["Bwp-Multiple"] == "BWP"
    assert du.children["NrSectorCarrier-Multiple"] == "NRSectorCarrier"
    assert du.children["NrCellDu"] == "NRCellDU"
    assert _cls(registry, "SubNetwork").children["ExternalGnbCuCpFunction"] == ("ExternalGNBCUCPFunction")


# --- attributes ---------------------------------------------------------------------------------


def test_nrpci_keeps_the_yang_range_and_notes_the_openapi_one(registry: Registry) -> None:
    pci = _cls(registry, "NRCellDU").attributes["nRPCI"]
    assert pci.kind == "integer"
    assert pci.ranges == ((0, 1007),)
    assert pci.mandatory
    assert pci.openapi_name == "nrPci"
    assert pci.openapi["range"] == [[None, 503]]


def test_administrative_state_is_an_enum(registry: Registry) -> None:
    admin = _cls(registry, "NRCellDU").attributes["administrativeState"]
    assert admin.kind == "enum"
    assert {"LOCKED", "UNLOCKED"} <= set(admin.values)
    assert not admin.readonly
    assert admin.default == "LOCKED"


def test_operational_state_is_read_only(registry: Registry) -> None:
    for cls in ("NRCellDU", "PerfMetricJob", "ThresholdMonitor"):
        op = _cls(registry, cls).attributes["operationalState"]
        assert op.readonly, cls
        assert op.kind == "enum"
        assert set(op.values) == {"ENABLED", "DISABLED"}


def test_reference_targets(registry: Registry) -> None:
    rel = _cls(registry, "NRCellRelation").attributes
    assert rel["adjacentNRCellRef"].kind == "dn"
    assert rel["adjacentNRCellRef"].ref_classes == {"NRCellCU", "ExternalNRCellCU"}
    assert rel["nRFreqRelationRef"].ref_classes == {"NRFreqRelation"}
    cell = _cls(registry, "NRCellDU").attributes
    assert cell["nRSectorCarrierRef"].multi
    assert cell["nRSectorCarrierRef"].ref_classes == {"NRSectorCarrier"}
    assert cell["bWPRef"].ref_classes == {"BWP"}
    assert cell["nRFrequencyRef"].ref_classes == {"NRFrequency"}
    scope = _cls(registry, "PerfMetricJob").attributes["objectInstances"]
    assert scope.kind == "dn"
    assert scope.ref_classes == frozenset()  # any class
    prefix = _cls(registry, "ManagedElement").attributes["dnPrefix"]
    assert prefix.external


def test_every_dn_attribute_names_its_targets(registry: Registry) -> None:
    any_class = {"farEndEntity", "objectInstances", "rootObjectInstances", "mnsScope"}

    def unnamed(attrs: dict[str, AttrSpec], where: str) -> list[str]:
        bad = []
        for name, attr in attrs.items():
            if attr.kind == "dn" and not (attr.ref_classes or attr.external or name in any_class):
                bad.append(f"{where}.{name}")
            bad += unnamed(attr.fields, f"{where}.{name}")
        return bad

    assert [b for c in registry for b in unnamed(c.attributes, c.name)] == []


def test_tac_differs_in_value_form(registry: Registry) -> None:
    tac = _cls(registry, "NRCellDU").attributes["nRTAC"]
    assert tac.kind == "integer"
    assert tac.ranges == ((0, 16777215),)
    assert tac.openapi_name == "nrTac"
    assert tac.conv == "hex"
    assert tac.openapi["kind"] == "string"
    assert tac.openapi["hex_digits"] == [4, 6]


def test_plmn_info_is_flat_in_yang_and_nested_in_openapi(registry: Registry) -> None:
    info = _cls(registry, "NRCellDU").attributes["pLMNInfoList"]
    assert info.kind == "struct"
    assert info.multi
    assert info.openapi_name == "plmnInfoList"
    assert set(info.fields) == {"mcc", "mnc", "sd", "sst"}
    assert info.fields["mcc"].openapi_path == ("plmnId", "mcc")
    assert info.fields["sst"].openapi_path == ("snssai", "sst")
    assert info.fields["sst"].ranges == ((0, 255),)


def test_inherited_attributes(registry: Registry) -> None:
    du = _cls(registry, "GNBDUFunction").attributes
    for name in ("id", "userLabel", "vnfParametersList", "peeParametersList", "priorityLabel"):
        assert name in du, name
    assert du["id"].kind == "string"
    assert du["vnfParametersList"].fields["autoScalable"].kind == "boolean"
    lat = du["peeParametersList"].fields["siteLatitude"]
    assert lat.kind == "number"
    assert lat.ranges == ((-90.0, 90.0),)
    assert du["SupportedPerfMetricGroup"].readonly
    assert du["SupportedPerfMetricGroup"].openapi_name == "supportedPerfMetricGroups"
    assert du["gNBId"].openapi_name == "gnbId"
    assert du["gNBIdLength"].ranges == ((22, 32),)


def test_attributes_only_in_one_source_are_kept(registry: Registry) -> None:
    cell = _cls(registry, "NRCellDU").attributes
    assert cell["bwpSetRef"].source == "openapi"
    assert cell["nRPCI"].source == "both"
    assert _cls(registry, "NRSectorCarrier").attributes["configuredMaxTxEIRP"].source == "yang"
    cucp = _cls(registry, "GNBCUCPFunction").attributes
    assert cucp["x2BlackList"].openapi_name == "x2BlockList"


def test_attribute_lookup_accepts_both_spellings(registry: Registry) -> None:
    cell = registry.get("NRCellDU")
    assert cell is not None
    assert cell.attribute("nrPci") is cell.attribute("nRPCI")
    assert cell.attribute("noSuchThing") is None
    assert "nRPCI" in cell.mandatory


def test_default_registry_is_loaded_once() -> None:
    assert default_registry() is default_registry()
    fresh = load_registry()
    assert fresh is not default_registry()
    assert [c.name for c in fresh.classes()] == [c.name for c in default_registry().classes()]
    assert len(fresh) == len(fresh.classes()) > 80

"""Generate ``mns/nrm/registry.json``, the NRM class registry, from the 3GPP files.

Sources (the union of both is taken; each class and attribute records where it came from):

- YANG: the SA5 ``_3gpp-common-*`` (TS 28.622/28.623) and ``_3gpp-nr-nrm-*`` (TS 28.541)
  modules, compiled with pyang so that groupings, augments and typedefs are resolved.
- OpenAPI: ``TS28623_GenericNrm.yaml`` and ``TS28541_NrNrm.yaml`` (Rel-18), with ``$ref``
  followed into the files they point to (ComDefs, TraceControlNrm, 5GcNrm...).
- The project's own YANG modules in ``yang_models/`` (its twin extensions, such as the NDT NRM),
  compiled together with the SA5 modules they import; they have no OpenAPI counterpart.

The canonical naming and value form is the YANG / stage-2 one; OpenAPI spellings, ranges and
shapes that differ are recorded beside it so that ``mns.nrm.dialect`` can translate.

Usage: ``python tools/gen_registry.py [--specs DIR] [--models DIR] [--out FILE] [--check]``. The
spec folder defaults to ``$MNS_3GPP_SPECS`` or ``../shared/3gpp`` relative to the repository root,
the project's modules to ``yang_models/``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "mns" / "nrm" / "registry.json"
DEFAULT_MODELS = ROOT / "yang_models"
FORMAT = 1

# The OpenAPI documents whose classes are in scope. Classes they name-contain from other files
# (TraceJob, Configurable5QISet...) are followed and included too.
OPENAPI_FILES = ("TS28623_GenericNrm.yaml", "TS28541_NrNrm.yaml")
YANG_GLOBS = ("_3gpp-common-*.yang", "_3gpp-nr-nrm-*.yang", "_3gpp-5g-common-yang-types.yang")

Desc = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# Curated facts the machine-readable specs do not carry.

# DN-valued attributes and the classes they may point to (TS 28.541 / TS 28.622 / TS 28.623
# attribute definitions), keyed by stage-2 attribute name; a (class, attribute) key overrides.
# ANY_CLASS: any object of the tree (a scope, a far end). EXTERNAL: a DN that names something
# outside the managed object tree (a DN prefix, a management system), not to be resolved.
ANY_CLASS: tuple[str, ...] = ()
EXTERNAL = None
REF_TARGETS: dict[str | tuple[str, str], tuple[str, ...] | None] = {
    "adjacentNRCellRef": ("NRCellCU", "ExternalNRCellCU"),
    "adjacentCell": ("ExternalEUtranCellFDD", "ExternalEUtranCellTDD", "ExternalEUTranCell"),
    "nRFreqRelationRef": ("NRFreqRelation",),
    "nRFrequencyRef": ("NRFrequency",),
    "eUtranFrequencyRef": ("EUtranFrequency",),
    "EUtranFrequencyRef": ("EUtranFrequency",),  # sic, ExternalEUTranCell in the OpenAPI
    "nRSectorCarrierRef": ("NRSectorCarrier",),
    "bWPRef": ("BWP",),
    "bwpSetRef": ("BWPSet",),
    "bWPlist": ("BWP",),
    "nRCellDURef": ("NRCellDU",),
    "victimSetRef": ("RimRSSet",),
    "aggressorSetRef": ("RimRSSet",),
    "configurable5QISetRef": ("Configurable5QISet",),
    "dynamic5QISetRef": ("Dynamic5QISet",),
    "ephemerisInfoSetRef": ("EphemerisInfoSet",),
    # TS 28.541 NRSectorCarrier: the SectorEquipmentFunction (TS 28.622) serving it.
    "sectorEquipmentFunctionRef": ("SectorEquipmentFunction",),
    # TS 28.541 EP_F1U / EP_NgU: the transport end points (TS 28.622 EP_Transport).
    "epTransportRefs": ("EP_Transport",),
    "conditionMonitorRef": ("ConditionMonitor",),
    "schedulerRef": ("Scheduler",),
    "jobRef": ("PerfMetricJob", "TraceJob"),
    "managedElements": ("ManagedElement",),
    # TS 28.622 EP_RP.farEndEntity: the far-end termination point or function, of any class.
    "farEndEntity": ANY_CLASS,
    "objectInstances": ANY_CLASS,
    "rootObjectInstances": ANY_CLASS,
    "mnsScope": ANY_CLASS,
    "dnPrefix": EXTERNAL,
    "managedBy": EXTERNAL,
    "systemDN": EXTERNAL,
}

# One attribute spelled differently (beyond letter case) in YANG and OpenAPI: YANG name ->
# OpenAPI name. A (class, YANG name) key applies to one class only.
ATTR_ALIASES: dict[str | tuple[str, str], str] = {
    "SupportedPerfMetricGroup": "supportedPerfMetricGroups",
    "measurementTypes": "performanceMetrics",
    "adjacentCell": "adjacentEUtranCellRef",
    "nRCellDURef": "nRCellDURefs",
    # Rel-17 inclusive-language renames (black/white list -> block/allow list).
    "x2BlackList": "x2BlockList",
    "x2WhiteList": "x2AllowList",
    "xnBlackList": "xnBlockList",
    "xnWhiteList": "xnAllowList",
    "x2HOBlackList": "x2HOBlockList",
    ("NRFreqRelation", "blackListEntry"): "blockListEntry",
    ("NRFreqRelation", "blackListEntryIdleMode"): "blockListEntryIdleMode",
    # Misspelt in the YANG ("Probility").
    "ueAccProbilityDist": "ueAccProbabilityDist",
    "ueAccDelayProbilityDist": "ueAccDelayProbabilityDist",
    # The OpenAPI EUtranFreqRelation copies NRFreqRelation's names for the E-UTRA timers.
    ("EUtranFreqRelation", "tReselectionEutra"): "tReselectionEutran",
    ("EUtranFreqRelation", "tReselectionEutraSfHigh"): "tReselectionNRSfHigh",
    ("EUtranFreqRelation", "tReselectionEutraSfMedium"): "tReselectionNRSfMedium",
}

# Struct members whose OpenAPI place is not found by name: (attribute, YANG member) -> OpenAPI
# path. The EP_* localAddress is {ipAddress, vlanId} in YANG and
# {addressWithVlan: {ipv4Address | ipv6Address, vlanId}, port} in OpenAPI.
FIELD_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("localAddress", "ipAddress"): ("addressWithVlan",),
    ("localAddress", "vlanId"): ("addressWithVlan", "vlanId"),
}

# Containment the YANG expresses outside list nesting, or that neither source gives.
# (child, parent): why.
CURATED_CONTAINMENT: dict[tuple[str, str], str] = {
    # _3gpp-common-subnetwork: 'mount-point children-of-SubNetwork' ("Mountpoint for
    # ManagedElement", RFC 8528) and the 'parents' leafref that nests SubNetworks.
    ("ManagedElement", "SubNetwork"): "yang",
    ("SubNetwork", "SubNetwork"): "yang",
    # TS 28.622 / YANG description: a ManagedElement may be contained in a MeContext.
    ("ManagedElement", "MeContext"): "curated",
    # NRNetwork and EUtraNetwork specialise SubNetwork (TS 28.541); the YANG leaves them at the
    # top level, so they may also sit where a SubNetwork sits.
    ("NRNetwork", "SubNetwork"): "curated",
    ("EUtraNetwork", "SubNetwork"): "curated",
}

# ---------------------------------------------------------------------------------------------
# Small helpers.

_INT_BOUNDS = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
}


def _lower(name: str) -> str:
    """The key under which YANG and OpenAPI spellings of one name meet (rsrpOffsetCSI-RS)."""
    return name.lower().replace("-", "").replace("_", "")


def _num(text: str, integer: bool) -> int | float:
    text = text.strip().lstrip("+")
    return int(text) if integer else float(text)


def _parse_ranges(expr: str, bounds: tuple[Any, Any], integer: bool) -> list[list[Any]]:
    """Parse a YANG range/length expression ('1..5 | 10 | 20..max') into [[lo, hi], ...]."""
    out: list[list[Any]] = []
    for part in expr.split("|"):
        ends = [p.strip() for p in part.split("..")]
        lo_s, hi_s = ends[0], ends[-1]
        lo = bounds[0] if lo_s == "min" else _num(lo_s, integer)
        hi = bounds[1] if hi_s == "max" else _num(hi_s, integer)
        out.append([lo, hi])
    return out


def _yang_pattern(pattern: str) -> str:
    """An XSD pattern (implicitly anchored) as a Python regular expression."""
    # Python's re has no Unicode categories; \w covers letters and digits (and '_').
    text = pattern.replace("\\p{N}", "\\d").replace("\\p{L}", "\\w")
    text = f"^(?:{text})$"
    re.compile(text)
    return text


def _compact(desc: Desc) -> Desc:
    """Drop empty and internal entries so the output stays small."""
    return {k: v for k, v in desc.items() if not k.startswith("_") and v not in (None, False)}


# ---------------------------------------------------------------------------------------------
# YANG.


def load_yang(yang_dir: Path, models: Path | None = None) -> list[Any]:
    """Compile the SA5 modules (and the project's own, in ``models``) with pyang; the module statements."""
    from pyang import context, repository

    dirs = [yang_dir, yang_dir / "external-yams", *([models] if models is not None else [])]
    repo = repository.FileRepository(os.pathsep.join(map(str, dirs)), use_env=False)
    ctx = context.Context(repo)
    modules = []
    files = sorted({f for g in YANG_GLOBS for f in glob.glob(str(yang_dir / g))})
    if models is not None:
        files += sorted(glob.glob(str(models / "*.yang")))
    for f in files:
        text = Path(f).read_text(encoding="utf-8")
        mod = ctx.add_module(f, text)
        if mod is not None:
            modules.append(mod)
    ctx.validate()
    fatal = [e for e in ctx.errors if e[1] in {"SYNTAX_ERROR", "MODULE_NOT_FOUND"}]
    if models is not None:
        from pyang import error

        # The SA5 modules carry known warts; the project's own must compile cleanly.
        own = str(models.resolve())
        fatal += [
            e
            for e in ctx.errors
            if error.is_error(error.err_level(e[1])) and str(Path(str(e[0].ref)).resolve()).startswith(own)
        ]
    if fatal:
        raise SystemExit(f"pyang could not load the YANG modules: {fatal[:3]}")
    return modules


def _ytype(type_stmt: Any, leaf: Any) -> Desc:
    """Type facts of a YANG type statement, following typedefs down to the built-in type."""
    range_expr = length_expr = None
    patterns: list[str] = []
    typedefs: list[str] = []
    cur = type_stmt
    fraction_digits = None
    while True:
        if range_expr is None and (r := cur.search_one("range")) is not None:
            range_expr = r.arg
        if length_expr is None and (ln := cur.search_one("length")) is not None:
            length_expr = ln.arg
        if fraction_digits is None and (fd := cur.search_one("fraction-digits")) is not None:
            fraction_digits = int(fd.arg)
        patterns.extend(p.arg for p in cur.search("pattern"))
        typedef = getattr(cur, "i_typedef", None)
        if typedef is None:
            break
        typedefs.append(typedef.arg)
        cur = typedef.search_one("type")
    base = cur.arg
    desc: Desc = {"_typedefs": typedefs}
    if typedefs:
        desc["typedef"] = typedefs[0]
    if "DistinguishedName" in typedefs:
        desc["kind"] = "dn"
        return desc
    if base in _INT_BOUNDS:
        desc["kind"] = "integer"
        desc["range"] = _parse_ranges(range_expr or "min..max", _INT_BOUNDS[base], True)
    elif base == "decimal64":
        desc["kind"] = "number"
        desc["fraction_digits"] = fraction_digits
        if range_expr:
            desc["range"] = _parse_ranges(range_expr, (None, None), False)
    elif base == "boolean":
        desc["kind"] = "boolean"
    elif base == "enumeration":
        desc["kind"] = "enum"
        desc["values"] = [e.arg for e in cur.search("enum")]
    elif base == "bits":
        desc["kind"] = "bits"
        desc["values"] = [b.arg for b in cur.search("bit")]
    elif base == "union":
        desc["kind"] = "union"
        desc["types"] = [_compact(_ytype(t, leaf)) for t in cur.search("type")]
    elif base == "leafref":
        target = getattr(leaf, "i_leafref_ptr", None)
        if target is not None and target[0].search_one("type") is not None:
            inner = _ytype(target[0].search_one("type"), target[0])
            inner["leafref"] = cur.search_one("path").arg
            return inner
        desc["kind"] = "string"
    elif base == "empty":
        desc["kind"] = "empty"
    else:  # string, binary, identityref, instance-identifier
        desc["kind"] = "string"
    if desc["kind"] == "string":
        if length_expr:
            desc["length"] = _parse_ranges(length_expr, (0, None), True)
        if patterns:
            desc["pattern"] = [_yang_pattern(p) for p in patterns]
    return desc


def _is_class(stmt: Any) -> bool:
    """A YANG list represents a stage-2 class when it carries the Top 'id' naming leaf."""
    if stmt.keyword != "list":
        return False
    children = {c.arg: c for c in stmt.i_children}
    id_leaf = children.get("id")
    if id_leaf is None or id_leaf.keyword != "leaf":
        return False
    key = stmt.search_one("key")
    uses = getattr(id_leaf, "i_uses", None) or []
    from_top = any("Top_Grp" in u.arg for u in uses)
    return from_top or (key is not None and key.arg == "id" and "attributes" in children)


def _mandatory(node: Any, in_choice: bool) -> bool:
    if in_choice or node.search_one("when") is not None:
        return False
    if node.keyword == "leaf":
        m = node.search_one("mandatory")
        return m is not None and m.arg == "true"
    if node.keyword in ("leaf-list", "list"):
        m = node.search_one("min-elements")
        return m is not None and int(m.arg) > 0
    return False


def _ynode(node: Any, parent_readonly: bool, in_choice: bool = False) -> Desc:
    """Describe one YANG data node (an attribute or a struct field)."""
    readonly = getattr(node, "i_config", True) is False
    desc: Desc = {}
    if node.keyword in ("leaf", "leaf-list"):
        desc.update(_ytype(node.search_one("type"), node))
        if (d := node.search_one("default")) is not None:
            desc["default"] = _typed_default(d.arg, desc)
        if (u := node.search_one("units")) is not None:
            desc["units"] = u.arg
    elif node.keyword in ("container", "list"):
        desc["kind"] = "struct"
        desc["fields"] = _yfields(node, readonly or parent_readonly)
        if node.keyword == "list" and (key := node.search_one("key")) is not None:
            desc["key"] = key.arg.split()
            for k in desc["key"]:
                if k in desc["fields"]:
                    desc["fields"][k]["mandatory"] = True
    else:  # anydata, anyxml
        desc["kind"] = "any"
    if node.keyword in ("leaf-list", "list"):
        desc["list"] = True
        if (m := node.search_one("min-elements")) is not None and int(m.arg) > 0:
            desc["min_items"] = int(m.arg)
        if (m := node.search_one("max-elements")) is not None and m.arg != "unbounded":
            desc["max_items"] = int(m.arg)
    desc["mandatory"] = _mandatory(node, in_choice)
    desc["readonly"] = readonly and not parent_readonly
    desc["src"] = "yang"
    return desc


def _typed_default(text: str, desc: Desc) -> Any:
    kind = desc.get("kind")
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "number":
        return float(text)
    if kind == "boolean":
        return text == "true"
    return text


def _yfields(node: Any, readonly: bool, in_choice: bool = False) -> dict[str, Desc]:
    fields: dict[str, Desc] = {}
    for child in node.i_children:
        if child.keyword in ("choice", "case"):
            fields.update(_yfields(child, readonly, in_choice=True))
        elif child.keyword in ("leaf", "leaf-list", "container", "list", "anydata", "anyxml"):
            if _is_class(child):
                continue
            fields[child.arg] = _ynode(child, readonly, in_choice)
    return fields


def yang_classes(modules: Iterable[Any]) -> dict[str, Desc]:
    """Every class in the compiled YANG tree with its module, parents and attributes."""
    classes: dict[str, Desc] = {}

    def visit(node: Any, parent: str | None) -> None:
        for child in getattr(node, "i_children", []):
            if _is_class(child):
                record(child, parent)
                visit(child, child.arg)
            elif child.keyword in ("container", "list", "choice", "case") and child.arg != "attributes":
                visit(child, parent)

    def record(stmt: Any, parent: str | None) -> None:
        name = stmt.arg
        entry = classes.setdefault(
            name, {"module": _origin_module(stmt), "parents": set(), "attrs": {}, "toplevel": False}
        )
        if parent is None:
            entry["toplevel"] = True
        else:
            entry["parents"].add(parent)
        if entry["attrs"]:
            return
        attrs: dict[str, Desc] = {}
        for child in stmt.i_children:
            if child.arg == "attributes" and child.keyword == "container":
                attrs.update(_yfields(child, False))
            elif child.keyword in ("leaf", "leaf-list") or (
                child.keyword in ("list", "container") and not _is_class(child)
            ):
                attrs[child.arg] = _ynode(child, False)
        attrs["id"]["mandatory"] = True
        entry["attrs"] = attrs

    for mod in modules:
        if mod.keyword == "module":
            visit(mod, None)
    return classes


def _origin_module(stmt: Any) -> str:
    ref = str(getattr(stmt.pos, "ref", ""))
    return Path(ref).stem.split("@")[0] if ref else stmt.i_module.arg


def yang_revisions(modules: Iterable[Any]) -> dict[str, str]:
    """Latest revision date of each loaded module."""
    out = {}
    for mod in modules:
        revs = sorted(r.arg for r in mod.search("revision"))
        out[mod.arg] = revs[-1] if revs else ""
    return out


# ---------------------------------------------------------------------------------------------
# OpenAPI.


class _Loader(yaml.SafeLoader):
    """YAML 1.2 scalars: only true/false are booleans and only null/~ is null.

    The 3GPP files hold unquoted enum values such as YES, NO, TRUE and NULL that YAML 1.1
    would turn into booleans and None.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:null")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:null|~|)$"), ["n", "~", ""])


class OpenApi:
    """Loads the OpenAPI documents lazily and resolves ``$ref`` across them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.docs: dict[str, Any] = {}

    def doc(self, name: str) -> Any:
        """The parsed document ``name`` (a file in the OpenAPI folder)."""
        if name not in self.docs:
            with (self.folder / name).open(encoding="utf-8") as fh:
                self.docs[name] = yaml.load(fh, Loader=_Loader)
        return self.docs[name]

    def schemas(self, name: str) -> dict[str, Any]:
        """The ``components/schemas`` of document ``name``."""
        return dict(self.doc(name).get("components", {}).get("schemas", {}) or {})

    def resolve(self, ref: str, base: str) -> tuple[Any, str, str]:
        """(schema, file, schema name) of a ``$ref`` made from file ``base``."""
        file, _, pointer = ref.strip().partition("#")
        file = file or base
        node = self.doc(file)
        for part in pointer.strip("/").split("/"):
            node = node[part]
        return node, file, pointer.rsplit("/", 1)[-1]


def _class_ref(name: str) -> tuple[str, bool] | None:
    """(class, multiple) when a schema name denotes an IOC (``X-Single`` or ``X-Multiple``)."""
    for suffix, multi in (("-Single", False), ("-Multiple", True)):
        if name.endswith(suffix):
            return name[: -len(suffix)], multi
    return None


def _merge_desc(a: Desc, b: Desc) -> Desc:
    """Merge two descriptions of one value (allOf)."""
    if not a:
        return dict(b)
    if not b:
        return dict(a)
    out = dict(a)
    for key, val in b.items():
        if key == "fields" and "fields" in out:
            fields = dict(out["fields"])
            fields.update(val)
            out["fields"] = fields
        elif key == "pattern" and "pattern" in out:
            out["pattern"] = out["pattern"] + [p for p in val if p not in out["pattern"]]
        elif key == "kind" and out.get("kind") not in (None, "any"):
            continue
        else:
            out[key] = val
    return out


def _otype(api: OpenApi, schema: Any, file: str, depth: int = 0) -> Desc:
    """Describe an OpenAPI schema in the registry's terms."""
    if depth > 30 or not isinstance(schema, dict):
        return {"kind": "any"}
    if "$ref" in schema:
        target, tfile, tname = api.resolve(schema["$ref"], file)
        cref = _class_ref(tname)
        if cref is not None and tfile != "TS28532_FaultMnS.yaml":
            return {"kind": "_class", "class": cref[0], "list": cref[1], "_file": tfile}
        desc = _otype(api, target, tfile, depth + 1)
        desc.setdefault("typedef", tname)
        if tname in ("Dn", "DnList"):
            desc = {"kind": "dn", "list": tname == "DnList", "typedef": tname}
        return desc
    desc: Desc = {}
    for part in schema.get("allOf", []):
        desc = _merge_desc(desc, _otype(api, part, file, depth + 1))
    alternatives = schema.get("oneOf", []) + schema.get("anyOf", [])
    branches = [
        _otype(api, b, file, depth + 1)
        for b in alternatives
        if isinstance(b, dict) and set(b) - {"required", "description"}
    ]
    if branches:
        if all(b.get("kind") == "struct" and not b.get("list") for b in branches):
            merged: Desc = {"kind": "struct", "fields": {}}
            for b in branches:
                for fname, fdesc in b["fields"].items():
                    merged["fields"][fname] = {**fdesc, "mandatory": False}
            desc = _merge_desc(desc, merged)
        else:
            desc = _merge_desc(desc, {"kind": "union", "types": [_compact(b) for b in branches]})
    typ = schema.get("type")
    if typ == "array" or (typ is None and "items" in schema):
        item = _otype(api, schema.get("items", {}), file, depth + 1)
        desc = {**item, "list": True}
        if "minItems" in schema and schema["minItems"] > 0:
            desc["min_items"] = schema["minItems"]
        if "maxItems" in schema:
            desc["max_items"] = schema["maxItems"]
    elif typ == "object" or "properties" in schema:
        fields = {}
        required = set(schema.get("required", []))
        for pname, pschema in (schema.get("properties") or {}).items():
            fdesc = _otype(api, pschema, file, depth + 1)
            fdesc["mandatory"] = pname in required
            if isinstance(pschema, dict) and pschema.get("readOnly"):
                fdesc["readonly"] = True
            fields[pname] = fdesc
        if fields or "additionalProperties" not in schema:
            desc = _merge_desc(desc, {"kind": "struct", "fields": fields})
        else:
            desc = _merge_desc(desc, {"kind": "any"})
    elif typ in ("integer", "number"):
        if "enum" in schema:
            desc = _merge_desc(desc, {"kind": "enum", "values": list(schema["enum"])})
        else:
            lo, hi = schema.get("minimum"), schema.get("maximum")
            scalar: Desc = {"kind": typ}
            if lo is not None or hi is not None:
                scalar["range"] = [[lo, hi]]
            desc = _merge_desc(desc, scalar)
    elif typ == "boolean":
        desc = _merge_desc(desc, {"kind": "boolean"})
    elif typ == "string" or (typ is None and ("pattern" in schema or "enum" in schema)):
        if "enum" in schema:
            desc = _merge_desc(desc, {"kind": "enum", "values": list(schema["enum"])})
        else:
            scalar = {"kind": "string"}
            if "pattern" in schema:
                scalar["pattern"] = [schema["pattern"]]
            if "minLength" in schema or "maxLength" in schema:
                scalar["length"] = [[schema.get("minLength", 0), schema.get("maxLength")]]
            if "format" in schema:
                scalar["format"] = schema["format"]
            desc = _merge_desc(desc, scalar)
    elif "pattern" in schema:  # a bare restriction inside allOf (Ipv6Addr)
        desc = _merge_desc(desc, {"kind": "string", "pattern": [schema["pattern"]]})
    if "default" in schema:
        desc["default"] = schema["default"]
    if schema.get("readOnly"):
        desc["readonly"] = True
    if not desc:
        desc = {"kind": "any"}
    return desc


def openapi_classes(api: OpenApi) -> tuple[dict[str, Desc], list[str]]:
    """Every IOC of the in-scope OpenAPI documents (and IOCs they contain), and the roots."""
    classes: dict[str, Desc] = {}
    todo: list[tuple[str, str]] = []
    for file in OPENAPI_FILES:
        for name in api.schemas(file):
            cref = _class_ref(name)
            if cref is not None and not cref[1]:
                todo.append((cref[0], file))
    roots: list[str] = []
    for file in OPENAPI_FILES:
        mns = api.schemas(file).get("MnS")
        if mns:
            for branch in mns.get("oneOf", []):
                roots.extend(branch.get("properties", {}))
    while todo:
        name, file = todo.pop()
        if name in classes:
            continue
        schema = api.schemas(file)[f"{name}-Single"]
        entry = _openapi_class(api, schema, file)
        classes[name] = entry
        for cname, cfile in entry["children"].values():
            if cname not in classes:
                todo.append((cname, cfile))
    return classes, sorted(set(roots))


def _openapi_class(api: OpenApi, schema: Any, file: str) -> Desc:
    """Attributes and contained classes of one ``X-Single`` schema."""
    attrs: dict[str, Desc] = {}
    children: dict[str, tuple[str, str]] = {}
    flat: list[str] = []
    inherits_top = False
    parts = schema.get("allOf", [schema])
    for part in parts:
        if "$ref" in part:
            target, tfile, tname = api.resolve(part["$ref"], file)
            if tname in ("Top", "Top-Attr"):
                inherits_top = True
                continue
            part, pfile = target, tfile  # noqa: PLW2901 - an -ncO or -Attr schema inlined
        else:
            pfile = file
        if "allOf" in part:
            sub = _openapi_class(api, part, pfile)
            attrs.update(sub["attrs"])
            children.update(sub["children"])
            flat.extend(sub["flat"])
            inherits_top = inherits_top or sub["top"]
            continue
        for pname, pschema in (part.get("properties") or {}).items():
            if pname in ("id", "objectClass", "objectInstance"):
                if pname == "id":
                    inherits_top = True
                continue
            desc = _otype(api, pschema, pfile)
            if desc.get("kind") == "_class":
                children[pname] = (desc["class"], desc["_file"])
            elif pname == "attributes":
                for fname, fdesc in desc.get("fields", {}).items():
                    if fdesc.get("kind") == "_class":
                        children[fname] = (fdesc["class"], fdesc["_file"])
                    else:
                        attrs[fname] = fdesc
            else:
                attrs[pname] = desc
                flat.append(pname)
    if inherits_top:
        children.setdefault("VsDataContainer", ("VsDataContainer", "TS28623_GenericNrm.yaml"))
        attrs.setdefault("id", {"kind": "string", "mandatory": True})
    return {"attrs": attrs, "children": children, "flat": flat, "top": inherits_top, "file": file}


# ---------------------------------------------------------------------------------------------
# Merge.

_DIFF_KEYS = ("kind", "list", "range", "length", "pattern", "values")


def _ref_targets(cls: str, attr: str) -> tuple[bool, tuple[str, ...] | None]:
    """(known, targets) for a DN-valued attribute; targets None means an external DN."""
    for key in ((cls, attr), attr):
        if key in REF_TARGETS:
            return True, REF_TARGETS[key]
    return False, None


def _oa_only(desc: Desc, name: str) -> Desc:
    """Canonical description of a value only the OpenAPI defines."""
    out = {k: v for k, v in desc.items() if not k.startswith("_")}
    out["oa"] = name
    out["src"] = "openapi"
    if out.get("kind") == "struct":
        out["fields"] = {n: _oa_only(f, n) for n, f in out.get("fields", {}).items()}
    if out.get("kind") == "union":
        out["types"] = [_oa_only(t, "") for t in out["types"]]
        for t in out["types"]:
            t.pop("oa", None)
            t.pop("src", None)
    return out


def _merge_value(y: Desc, o: Desc, oa_name: str, issues: list[str], where: str) -> Desc:
    """Canonical (YANG) description of a value annotated with its OpenAPI differences."""
    out = dict(y)
    out["oa"] = oa_name
    out["src"] = "both"
    if o.get("readonly"):
        out["readonly"] = True
    diff: Desc = {}
    for key in _DIFF_KEYS:
        ov = o.get(key)
        yv = y.get(key)
        if key == "list":
            ov, yv = bool(ov), bool(yv)
        if ov is None or ov == yv:
            continue
        if key == "kind" and {ov, yv} <= {"string", "dn"}:
            continue
        if key == "values" and yv is not None and set(map(str, ov)) == set(map(str, yv)):
            continue
        if _same_numbers(y, o, key):
            continue
        diff[key] = ov
    conv = _conversion(y, o)
    if conv:
        out["conv"] = conv[0]
        diff.update(conv[1])
    if diff:
        out["openapi"] = diff
        if set(diff) - {"range", "pattern", "length"}:
            issues.append(f"{where}: YANG and OpenAPI differ in {sorted(diff)}")
    if y.get("kind") == "struct" and o.get("kind") == "struct":
        out["fields"] = _merge_fields(y["fields"], o["fields"], issues, where)
    elif y.get("kind") == "struct":
        out["fields"] = {n: dict(f) for n, f in y["fields"].items()}
    return out


def _same_numbers(y: Desc, o: Desc, key: str) -> bool:
    """True when an OpenAPI enum of numbers allows exactly the YANG range's single values."""
    if o.get("kind") != "enum" or y.get("kind") not in ("integer", "number") or key == "list":
        return False
    allowed: set[Any] = set()
    for lo, hi in y.get("range", []):
        if not isinstance(lo, int) or not isinstance(hi, int) or hi - lo > 1000:
            return False
        allowed.update(range(lo, hi + 1))
    return key in ("kind", "values") and allowed == set(o.get("values", []))


def _conversion(y: Desc, o: Desc) -> tuple[str, Desc] | None:
    """The value conversion between a YANG value and its OpenAPI spelling, if one is needed."""
    ykind, okind = y.get("kind"), o.get("kind")
    patterns = o.get("pattern", [])
    if ykind == "integer" and okind == "string" and any("A-Fa-f" in p for p in patterns):
        # TAC: an integer in YANG, 4 or 6 hex digits in OpenAPI.
        widths = sorted({int(w) for p in patterns for w in re.findall(r"\{(\d+)\}", p)})
        return "hex", {"hex_digits": widths}
    if ykind == "integer" and okind == "number" and _is_number(y.get("units")):
        # e.g. cellReselectionSubPriority: 2, 4, 6, 8 in units of 0.1 vs 0.2 .. 0.8.
        return "scale", {"scale": float(y["units"])}
    if ykind == "boolean" and okind == "enum" and set(o.get("values", [])) == {"TRUE", "FALSE"}:
        return "bool-text", {}
    ofields = set(o.get("fields", {}))
    if ykind in ("union", "string") and okind == "struct" and {"ipv4Address", "ipv6Address"} <= ofields:
        # An inet:ip-address in YANG, {ipv4Address | ipv6Address} in OpenAPI.
        return "ip", {}
    yfields = y.get("fields", {})
    if ykind == "struct" and len(yfields) == 1 and okind not in ("struct", None):
        # A YANG list keyed by its only leaf vs a plain OpenAPI array (nRPciList).
        return "unwrap", {"field": next(iter(yfields))}
    return None


def _is_number(text: Any) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _nest(yfields: dict[str, Desc], o: Desc) -> dict[str, list[str]] | None:
    """Map YANG fields onto the members of a nested OpenAPI struct, if they are all there."""
    if o.get("kind") != "struct" or o.get("list") or not o.get("fields"):
        return None
    lower = {_lower(n): n for n in yfields}
    paths: dict[str, list[str]] = {}
    for sub, sdesc in o["fields"].items():
        if _lower(sub) in lower:
            paths[lower[_lower(sub)]] = [sub]
            continue
        inner = _nest(yfields, sdesc)
        if inner is None:
            return None
        for yname, path in inner.items():
            paths[yname] = [sub, *path]
    return paths


def _find_path(o: Desc, path: list[str]) -> Desc:
    for step in path:
        o = o["fields"][step]
    return o


def _merge_fields(yf: dict[str, Desc], of: dict[str, Desc], issues: list[str], where: str) -> dict[str, Desc]:
    out: dict[str, Desc] = {}
    by_lower = {_lower(n): n for n in yf}
    cls = where.split(".", maxsplit=1)[0]
    aliases: dict[str, str] = {}
    for key, oa in ATTR_ALIASES.items():
        if isinstance(key, str):
            aliases.setdefault(oa, key)
        elif key[0] == cls:
            aliases[oa] = key[1]
    used: set[str] = set()
    consumed: set[str] = set()
    attr = where.rsplit(".", 1)[-1]
    for (owner, yname), path in FIELD_PATHS.items():
        if owner == attr and yname in yf and path[0] in of:
            used.add(yname)
            consumed.add(path[0])
            odesc = _find_path(of[path[0]], list(path[1:]))
            merged = _merge_value(yf[yname], odesc, path[-1], issues, f"{where}.{yname}")
            merged["oa_path"] = list(path)
            out[yname] = merged
    for oname, odesc in of.items():
        if oname in consumed:
            continue
        alias = aliases.get(oname)
        yname = by_lower.get(_lower(oname)) or (alias if alias in yf else None)
        if yname is not None and yname not in used:
            used.add(yname)
            out[yname] = _merge_value(yf[yname], odesc, oname, issues, f"{where}.{yname}")
            continue
        remaining = {n: d for n, d in yf.items() if n not in used}
        paths = _nest(remaining, odesc)
        if paths:
            for yname2, path in paths.items():
                used.add(yname2)
                merged = _merge_value(yf[yname2], _find_path(odesc, path), path[-1], issues, f"{where}.{yname2}")
                merged["oa_path"] = [oname, *path]
                out[yname2] = merged
            continue
        out[oname] = _oa_only(odesc, oname)
    for yname, ydesc in yf.items():
        if yname not in used:
            out[yname] = _yang_only(ydesc, yname)
    return out


def _yang_only(desc: Desc, name: str) -> Desc:
    out = dict(desc)
    out["oa"] = name
    if out.get("kind") == "struct":
        out["fields"] = {n: _yang_only(f, n) for n, f in out["fields"].items()}
    return out


def _finish(desc: Desc, cls: str, name: str, missing: set[str]) -> Desc:
    """Attach reference targets and drop internal and empty keys, recursively."""
    out = _compact(desc)
    out["mandatory"] = bool(desc.get("mandatory"))
    if out.get("kind") == "dn":
        known, targets = _ref_targets(cls, name)
        if not known:
            missing.add(f"{cls}.{name}")
        if targets is None:
            out["external"] = True
        out["refs"] = sorted(targets or ())
    if "fields" in out:
        out["fields"] = {n: _finish(f, cls, n, missing) for n, f in sorted(out["fields"].items())}
    if "types" in out:
        out["types"] = [_compact(t) for t in out["types"]]
    for key in ("range", "length"):
        if key in out:  # a one-value interval [v, v] is written as v
            out[key] = [lo if lo == hi and lo is not None else [lo, hi] for lo, hi in out[key]]
    if "openapi" in out and "values" in out["openapi"]:
        out["openapi"]["values"] = list(out["openapi"]["values"])
    return out


def _place(
    classes: dict[str, Desc],
    ycls: dict[str, Desc],
    ocls: dict[str, Desc],
    roots: list[str],
    issues: list[str],
) -> None:
    """Fill in each class's parents, root flag and any_parent flag from every source."""
    for name, entry in classes.items():
        for key, child in entry.get("children", {}).items():
            if child not in classes:
                continue
            pmap = classes[child]["parents"]
            pmap[name] = "both" if pmap.get(name) in ("yang", "both") else "openapi"
            oa_child = classes[child]["oa"]
            if key not in (oa_child, child) and child != "VsDataContainer":
                issues.append(f"{name}: OpenAPI child key {key!r} for class {oa_child}")
    for name, entry in classes.items():
        y = ycls.get(name)
        entry["root"] = entry["oa"] in roots or name in roots
        if name == "VsDataContainer":
            entry["any_parent"] = True  # OpenAPI Top lets every IOC contain VsDataContainer
        elif not entry["parents"] and not entry["root"]:
            if y and y["toplevel"]:
                entry["root"] = True
                issues.append(f"{name}: a top-level YANG list no source places; taken as a root")
            elif not any(c == name for c, _p in CURATED_CONTAINMENT):
                entry["any_parent"] = True
                issues.append(f"{name}: no source says which class contains it; not checked")
    for (child, parent), why in CURATED_CONTAINMENT.items():
        if child in classes and parent in classes:
            pmap = classes[child]["parents"]
            pmap[parent] = "both" if pmap.get(parent) == "openapi" else pmap.get(parent, why)

    for name, entry in classes.items():
        entry["parents"] = dict(sorted(entry["parents"].items()))
        for pname, src in entry["parents"].items():
            if src in ("yang", "openapi") and ycls.get(name) and ocls.get(entry["oa"]):
                issues.append(f"{name}: contained by {pname} only in {src}")


def build(specs: Path, models: Path | None = DEFAULT_MODELS) -> tuple[Desc, list[str]]:
    """The registry document and the list of spec disagreements noticed on the way."""
    modules = load_yang(specs / "yang", models)
    ycls = yang_classes(modules)
    api = OpenApi(specs / "openapi")
    ocls, roots = openapi_classes(api)
    issues: list[str] = []

    yang_by_lower = {_lower(n): n for n in ycls}
    oa_to_canon: dict[str, str] = {}
    for oname in ocls:
        oa_to_canon[oname] = yang_by_lower.get(_lower(oname), oname)

    names = sorted(set(ycls) | set(oa_to_canon.values()))
    canon_to_oa = {v: k for k, v in oa_to_canon.items()}
    classes: dict[str, Desc] = {}
    missing: set[str] = set()
    for name in names:
        y = ycls.get(name)
        oname = canon_to_oa.get(name)
        o = ocls.get(oname) if oname else None
        if y and o:
            attrs = _merge_fields(y["attrs"], o["attrs"], issues, name)
        elif y:
            attrs = {n: _yang_only(d, n) for n, d in y["attrs"].items()}
        else:
            attrs = {n: _oa_only(d, n) for n, d in (o or {}).get("attrs", {}).items()}
        entry: Desc = {
            "oa": oname or name,
            "src": "both" if y and o else ("yang" if y else "openapi"),
            "attrs": {n: _finish(d, name, n, missing) for n, d in sorted(attrs.items())},
            "parents": {},
        }
        if y:
            entry["yang_module"] = y["module"]
            for p in y["parents"]:
                entry["parents"][p] = "yang"
        if o:
            entry["oa_file"] = o["file"]
            entry["children"] = {k: oa_to_canon.get(c, c) for k, (c, _f) in sorted(o["children"].items())}
            if o["flat"]:
                entry["oa_flat_attrs"] = sorted(o["flat"])
                issues.append(f"{name}: OpenAPI puts {sorted(o['flat'])} beside 'attributes'")
        classes[name] = entry

    if missing:
        raise SystemExit("DN references missing from REF_TARGETS: " + ", ".join(sorted(missing)))
    _place(classes, ycls, ocls, roots, issues)
    for name, entry in classes.items():
        for aname, attr in entry["attrs"].items():
            if attr["src"] != "both" and entry["src"] == "both" and aname != "id":
                issues.append(f"{name}.{aname}: only in {attr['src']}")
    sources = {
        "yang": yang_revisions(modules),
        "openapi": {f: str(api.doc(f).get("info", {}).get("version", "")) for f in sorted(api.docs)},
    }
    return {"format": FORMAT, "sources": sources, "classes": classes}, sorted(set(issues))


def render(doc: Desc) -> str:
    """Deterministic JSON: sorted keys, one class per line so diffs stay readable."""
    head = {k: v for k, v in doc.items() if k != "classes"}
    lines = ["{"]
    for key, val in sorted(head.items()):
        lines.append(f"{json.dumps(key)}:{json.dumps(val, sort_keys=True, separators=(',', ':'))},")
    lines.append('"classes":{')
    items = sorted(doc["classes"].items())
    for i, (name, cls) in enumerate(items):
        sep = "," if i < len(items) - 1 else ""
        body = json.dumps(cls, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        lines.append(f"{json.dumps(name)}:{body}{sep}")
    lines.append("}}")
    return "\n".join(lines) + "\n"


def default_specs() -> Path:
    """The 3GPP spec folder: ``$MNS_3GPP_SPECS`` or ``../shared/3gpp`` beside the repository."""
    env = os.environ.get("MNS_3GPP_SPECS")
    return Path(env) if env else (ROOT / ".." / "shared" / "3gpp").resolve()


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=Path, default=None, help="folder with yang/ and openapi/")
    parser.add_argument(
        "--models", type=Path, default=DEFAULT_MODELS, help="folder with the project's own YANG modules"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSON file")
    parser.add_argument("--check", action="store_true", help="fail if the output is out of date")
    parser.add_argument("--issues", action="store_true", help="print the spec disagreements")
    args = parser.parse_args(argv)
    specs = args.specs or default_specs()
    if not (specs / "yang").is_dir() or not (specs / "openapi").is_dir():
        print(f"no 3GPP files under {specs} (set MNS_3GPP_SPECS or --specs)", file=sys.stderr)
        return 2
    doc, issues = build(specs, args.models)
    text = render(doc)
    if args.issues:
        print("\n".join(issues))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date; run tools/gen_registry.py", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    nattr = sum(len(c["attrs"]) for c in doc["classes"].values())
    print(f"wrote {args.out}: {len(doc['classes'])} classes, {nattr} attributes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

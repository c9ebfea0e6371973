"""Schema validation of managed objects against the class registry.

A :class:`Validator` checks one object (its class, parent class and attributes in the canonical
stage-2 form) and returns :class:`Finding` rows; it never raises for an invalid object. Rules:

================== ======== ==========================================================
rule               severity fires when
================== ======== ==========================================================
unmodelled         info     the class is unknown (a vendor extension); nothing else runs
containment        error    the parent class may not contain it, or it may not be a root
unknown-attribute  warning  the class has no such attribute (the value is kept)
type               error    a value of the wrong JSON type or DN syntax
range              error    a number, a string length or pattern, or a list size is off
enum               error    a value outside the enumeration
mandatory          warning  a required attribute is missing (error when ``strict``)
read-only          error    an ``oss`` write sets or changes a read-only attribute
================== ======== ==========================================================

Checks are compiled once per class into closures, and values that repeat across objects (DNs and
their parents, PLMN entries, patterned strings) are remembered up to a bound, so a bulk load of a
million objects costs microseconds per object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from mns.errors import MalformedDN
from mns.nrm.dn import DN
from mns.nrm.registry import AttrSpec, ClassSpec, Range, Registry, default_registry

ERROR: Final = "error"
WARNING: Final = "warning"
INFO: Final = "info"

UNMODELLED: Final = "unmodelled"
CONTAINMENT: Final = "containment"
UNKNOWN_ATTRIBUTE: Final = "unknown-attribute"
TYPE: Final = "type"
RANGE: Final = "range"
ENUM: Final = "enum"
MANDATORY: Final = "mandatory"
READ_ONLY: Final = "read-only"


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken rule: which attribute (None for the object itself), the rule and why."""

    attribute: str | None
    rule: str
    message: str
    severity: str  # "error" | "warning" | "info"

    def __str__(self) -> str:
        name = self.attribute
        if name and not self.message.startswith(name + ":"):
            return f"{name}: {self.message} (rule {self.rule})"
        return f"{self.message} (rule {self.rule})"


# A problem found inside a value: (path below the attribute, rule, message).
Problem = tuple[str, str, str]
Check = Callable[[Any], list[Problem] | None]

# One RDN without escapes (the fast path of DN checks; mns.nrm.dn decides the rest). Valid DNs
# and DN prefixes (parents shared by many references) are remembered, up to a bound.
_RDN_RE: Final = re.compile(r"[A-Za-z_][\w.\-]*=[^,=/\\+\"<>;]+\Z")
_MEMO_LIMIT: Final = 1 << 17


def _fmt_ranges(ranges: tuple[Range, ...]) -> str:
    parts = []
    for lo, hi in ranges:
        if lo == hi and lo is not None:
            parts.append(_num(lo))
        else:
            parts.append(f"{'min' if lo is None else _num(lo)}..{'max' if hi is None else _num(hi)}")
    return " | ".join(parts)


def _num(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind_name(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", float: "number"}.get(
        type(value), type(value).__name__
    )


def _in_ranges(ranges: tuple[Range, ...]) -> Callable[[float], bool]:
    """A fast membership test for a set of closed intervals (None: unbounded)."""
    if len(ranges) == 1:
        lo, hi = ranges[0]
        if lo is not None and hi is not None:
            return lambda v: lo <= v <= hi
        if lo is not None:
            return lambda v: lo <= v
        if hi is not None:
            return lambda v: v <= hi
        return lambda v: True
    singles = frozenset(lo for lo, hi in ranges if lo == hi and lo is not None)
    spans = tuple(r for r in ranges if r[0] != r[1] or r[0] is None)

    def member(v: float) -> bool:
        if v in singles:
            return True
        return any((lo is None or lo <= v) and (hi is None or v <= hi) for lo, hi in spans)

    return member


def _scalar_check(spec: AttrSpec) -> Check:
    """A check of one (non-list) value of ``spec``."""
    kind = spec.kind
    if kind in ("integer", "number"):
        return _number_check(spec)
    if kind == "string":
        return _string_check(spec)
    if kind == "boolean":
        return _typed(bool, "a boolean")
    if kind == "enum":
        return _enum_check(spec)
    if kind == "bits":
        return _bits_check(spec)
    if kind == "dn":
        return _dn_check
    if kind == "struct":
        return _struct_check(spec)
    if kind == "union":
        return _union_check(spec)
    if kind == "empty":
        return lambda v: None if v is None or v == [None] else [("", TYPE, f"{_short(v)} is not empty")]
    return lambda v: None


def _typed(typ: type, what: str) -> Check:
    def check(v: Any) -> list[Problem] | None:
        if type(v) is typ:
            return None
        return [("", TYPE, f"{_short(v)} is a {_kind_name(v)}, expected {what}")]

    return check


def _number_check(spec: AttrSpec) -> Check:
    integer = spec.kind == "integer"
    what = "an integer" if integer else "a number"
    text = _fmt_ranges(spec.ranges)

    def wrong(v: Any) -> list[Problem]:
        return [("", TYPE, f"{_short(v)} is a {_kind_name(v)}, expected {what}")]

    def out_of_range(v: Any) -> list[Problem]:
        return [("", RANGE, f"{v} is out of range {text}")]

    first = spec.ranges[0] if len(spec.ranges) == 1 else (None, None)
    if integer and first[0] is not None and first[1] is not None:
        # The common case (one closed integer range), with no inner call.
        lo: float = first[0]
        hi: float = first[1]

        def check_int(v: Any) -> list[Problem] | None:
            if type(v) is int:
                return None if lo <= v <= hi else out_of_range(v)
            return wrong(v)

        return check_int
    inside = _in_ranges(spec.ranges) if spec.ranges else None

    def check(v: Any) -> list[Problem] | None:
        t = type(v)
        if t is not int and (integer or t is not float):
            return wrong(v)
        if inside is not None and not inside(v):
            return out_of_range(v)
        return None

    return check


def _string_check(spec: AttrSpec) -> Check:
    patterns = tuple(re.compile(p) for p in spec.patterns)
    length_ok = _in_ranges(spec.lengths) if spec.lengths else None
    lengths = _fmt_ranges(spec.lengths)
    if not patterns and length_ok is None:
        return _typed(str, "a string")
    # Patterned strings (MCC, MNC, SD, times...) repeat across objects: remember good ones.
    good: set[str] = set()

    def check(v: Any) -> list[Problem] | None:
        if type(v) is not str:
            return [("", TYPE, f"{_short(v)} is a {_kind_name(v)}, expected a string")]
        if v in good:
            return None
        if length_ok is not None and not length_ok(len(v)):
            return [("", RANGE, f"{_short(v)} has length {len(v)}, allowed {lengths}")]
        for rx in patterns:
            if rx.search(v) is None:
                return [("", RANGE, f"{_short(v)} does not match the pattern {rx.pattern!r}")]
        if len(good) < _MEMO_LIMIT:
            good.add(v)
        return None

    return check


def _enum_check(spec: AttrSpec) -> Check:
    allowed = frozenset(spec.values)
    types = frozenset(type(v) for v in spec.values)
    text = ", ".join(str(v) for v in spec.values)

    def check(v: Any) -> list[Problem] | None:
        if type(v) in types and v in allowed:
            return None
        if type(v) not in types:
            return [("", TYPE, f"{_short(v)} is a {_kind_name(v)}, expected one of {text}")]
        return [("", ENUM, f"{_short(v)} is not one of {text}")]

    return check


def _bits_check(spec: AttrSpec) -> Check:
    allowed = frozenset(spec.values)

    def check(v: Any) -> list[Problem] | None:
        if type(v) is not str:
            return [("", TYPE, f"{_short(v)} is a {_kind_name(v)}, expected a string of bit names")]
        bad = [b for b in v.split() if b not in allowed]
        if bad:
            return [("", ENUM, f"bits {', '.join(bad)} are not among {', '.join(spec.values)}")]
        return None

    return check


_valid_dns: set[str] = set()
_valid_dn_prefixes: set[str] = set()


def _remember(memo: set[str], text: str) -> None:
    """Add ``text`` to a bounded memo; a full one starts afresh.

    References cluster in key order (the relations of a site point at the cells around it), so
    the DNs seen lately are those that repeat: a memo that only ever kept the first ones would
    miss for the rest of a big load.
    """
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo.add(text)


def _dn_ok(text: str) -> bool:
    """Whether ``text`` is a valid DN (comma or URI form), as :meth:`DN.parse` decides."""
    if text in _valid_dns:
        return True
    if not (_dn_fast(text) or _dn_parses(text)):
        return False
    _remember(_valid_dns, text)
    return True


def _dn_fast(text: str) -> bool:
    """True for the common DN without escapes, checked RDN by RDN from the end."""
    if "\\" in text:
        return False
    head, _, tail = text.rpartition(",")
    if _RDN_RE.match(tail) is None:
        return False
    if not head or head in _valid_dn_prefixes:
        return True
    if not _dn_fast(head):
        return False
    _remember(_valid_dn_prefixes, head)
    return True


def _dn_parses(text: str) -> bool:
    try:
        DN.parse(text)
    except MalformedDN:
        return False
    return True


def _dn_check(v: Any) -> list[Problem] | None:
    if type(v) is not str:
        return [("", TYPE, f"{_short(v)} is a {_kind_name(v)}, expected a DN string")]
    if v in _valid_dns or _dn_ok(v):  # the first test answers the usual reference, seen lately
        return None
    try:
        DN.parse(v)
    except MalformedDN as exc:
        return [("", TYPE, f"{_short(v)} is not a DN: {exc.message.split(': ', 1)[-1]}")]
    return None


def _dn_list_check(v: Any) -> list[Problem] | None:
    if type(v) is not list:
        return [("", TYPE, f"{_short(v)} is a {_kind_name(v)}, expected a list of DNs")]
    for item in v:
        if type(item) is not str or not _dn_ok(item):
            break
    else:
        return None
    out: list[Problem] = []
    for i, item in enumerate(v):
        found = _dn_check(item)
        if found:
            out.extend((f"[{i}]{p}", rule, msg) for p, rule, msg in found)
    return out


def _struct_check(spec: AttrSpec) -> Check:
    fields = {name: attr_check(f) for name, f in spec.fields.items()}
    required = frozenset(name for name, f in spec.fields.items() if f.mandatory)
    ordered = tuple(sorted(required))

    # Entries of scalar members (PLMN info, S-NSSAI...) repeat across objects: remember good ones.
    memo = all(not f.multi and f.kind not in ("struct", "union", "any") for f in spec.fields.values())
    good: set[Any] = set()

    def check(v: Any) -> list[Problem] | None:
        if type(v) is not dict:
            return [("", TYPE, f"{_short(v)} is a {_kind_name(v)}, expected an object")]
        key = None
        if memo:
            # The types are part of the key: 1, 1.0 and True are equal but not alike.
            key = (tuple(v.items()), tuple(map(type, v.values())))
            try:
                if key in good:
                    return None
            except TypeError:  # an unhashable member value: check it the long way
                key = None
        out = members(v)
        if memo and out is None and key is not None and len(good) < _MEMO_LIMIT:
            good.add(key)
        return out

    def members(v: dict[str, Any]) -> list[Problem] | None:
        out: list[Problem] | None = None
        for key, item in v.items():
            fcheck = fields.get(key)
            if fcheck is None:
                out = out or []
                out.append((f".{key}", UNKNOWN_ATTRIBUTE, "is not a member of this data type"))
                continue
            if item is None:
                continue
            found = fcheck(item)
            if found:
                out = out or []
                out.extend((f".{key}{p}", rule, msg) for p, rule, msg in found)
        if required and (not required.issubset(v.keys()) or None in v.values()):
            for key in ordered:
                if v.get(key) is None:
                    out = out or []
                    out.append((f".{key}", MANDATORY, "is mandatory but missing"))
        return out

    return check


def _union_check(spec: AttrSpec) -> Check:
    members = tuple(attr_check(m) for m in spec.members)
    names = ", ".join(m.typedef or m.kind for m in spec.members)

    def check(v: Any) -> list[Problem] | None:
        for member in members:
            if not member(v):
                return None
        return [("", TYPE, f"{_short(v)} matches none of the alternatives ({names})")]

    return check


def attr_check(spec: AttrSpec) -> Check:
    """A compiled check of a value of ``spec`` (a list of values when ``spec.multi``)."""
    one = _scalar_check(spec)
    if not spec.multi:
        return one
    lo, hi = spec.min_items, spec.max_items
    if spec.kind == "dn" and not lo and hi is None:
        return _dn_list_check

    def check(v: Any) -> list[Problem] | None:
        if type(v) is not list:
            return [("", TYPE, f"{_short(v)} is a {_kind_name(v)}, expected a list")]
        n = len(v)
        if n == 0 and lo:
            return [("", MANDATORY, "is an empty list but needs at least one item")]
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            return [("", RANGE, f"has {n} items, allowed {lo or 0}..{hi if hi is not None else 'max'}")]
        out: list[Problem] | None = None
        for i, item in enumerate(v):
            found = one(item)
            if found:
                out = out or []
                out.extend((f"[{i}]{p}", rule, msg) for p, rule, msg in found)
        return out

    return check


# -- the fast path: one generated function per class -----------------------------------------
#
# Most objects a twin reads are valid. For each class a function is generated (Python source,
# compiled once) that answers only "is every attribute present known, set and valid?", with
# the common checks written inline instead of called: the type of a boolean, an enumeration, a
# plain string, an integer in one closed range, a DN seen lately. Other values go to their
# compiled closure. True means ``validate`` can find nothing but containment, missing mandatory
# attributes and (for an ``oss`` write) read-only ones; False means nothing (the full checks
# then run and say what is wrong), so the fast path can only be slower, never different.


def _inline(spec: AttrSpec, ns: dict[str, Any], check: Check) -> str:
    """A Python expression over ``v`` (not None) that is true iff ``check(v)`` finds nothing."""
    i = len(ns)
    if not spec.multi:
        kind = spec.kind
        if kind == "boolean":
            return "(v is True or v is False)"
        if kind == "string" and not spec.patterns and not spec.lengths:
            return "type(v) is str"
        if kind == "dn":
            return "(type(v) is str and (v in VALID_DNS or dn_ok(v)))"
        if kind == "enum":
            ns[f"T{i}"] = frozenset(type(x) for x in spec.values)
            ns[f"E{i}"] = frozenset(spec.values)
            return f"(type(v) in T{i} and v in E{i})"
        if kind == "integer" and len(spec.ranges) == 1:
            lo, hi = spec.ranges[0]
            if lo is not None and hi is not None:
                return f"(type(v) is int and {int(lo)!r} <= v <= {int(hi)!r})"
    ns[f"C{i}"] = check
    return f"not C{i}(v)"


def _fast_check(
    attrs: Mapping[str, AttrSpec], checks: dict[str, Check], mandatory: frozenset[str]
) -> tuple[Callable[[Mapping[str, Any]], bool], Callable[[Mapping[str, Any]], bool]]:
    """The class's generated all-attributes-pass test (see above), and the same with every
    mandatory attribute present as well (``Validator.passer``)."""
    ns: dict[str, Any] = {
        "KNOWN": frozenset(checks),
        "REQUIRED": mandatory,
        "VALID_DNS": _valid_dns,
        "dn_ok": _dn_ok,
    }
    body = ["    g = a.get"]
    for name, spec in attrs.items():
        test = _inline(spec, ns, checks[name])
        body += [f"    v = g({name!r})", f"    if v is not None and not {test}:", "        return False"]
    body.append("    return True")
    head = ["    if not a.keys() <= KNOWN or None in a.values():", "        return False"]
    complete = ["    if not a.keys() >= REQUIRED:", "        return False"]
    source = ["def fast(a):", *head, *body, "def complete(a):", *complete, *head, *body]
    exec(compile("\n".join(source), f"<fast check {len(ns)}>", "exec"), ns)
    return ns["fast"], ns["complete"]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """Everything :meth:`Validator.validate` needs about one class, built once."""

    spec: ClassSpec
    checks: dict[str, Check]
    mandatory: frozenset[str]
    mandatory_writable: frozenset[str]
    readonly: frozenset[str]
    parents: frozenset[str]
    openapi_names: dict[str, str]
    # Findings that depend only on the class, made once: missing attribute -> finding.
    missing_warning: dict[str, Finding]
    missing_error: dict[str, Finding]
    missing_memo: dict[tuple[frozenset[str], bool], tuple[Finding, ...]]
    fast: Callable[[Mapping[str, Any]], bool]
    """True when every attribute passes (the generated fast path)."""
    complete: Callable[[Mapping[str, Any]], bool]
    """``fast``, and every mandatory attribute present: nothing for ``validate`` but containment."""

    def missing(self, absent: frozenset[str], strict: bool) -> tuple[Finding, ...]:
        """The mandatory findings for the absent attributes (objects often miss the same ones)."""
        key = (absent, strict)
        found = self.missing_memo.get(key)
        if found is None:
            table = self.missing_error if strict else self.missing_warning
            found = tuple(table[n] for n in sorted(absent))
            if len(self.missing_memo) < 1024:
                self.missing_memo[key] = found
        return found


class Validator:
    """Validates objects against a :class:`Registry`, compiling each class's checks lazily."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry if registry is not None else default_registry()
        self._compiled: dict[str, _Compiled | None] = {}

    def _compile(self, cls: str) -> _Compiled | None:
        spec = self.registry.get(cls)
        if spec is None:
            self._compiled[cls] = None
            return None
        attrs = spec.attributes
        parents = set(spec.parents)
        for parent in spec.parents:
            pspec = self.registry.get(parent)
            if pspec is not None:
                parents.add(pspec.openapi_name)
        # 'id' comes from the DN, so it is never reported missing.
        mandatory = frozenset(n for n, a in attrs.items() if a.mandatory and n != "id")
        missing = {n: f"{n}: is mandatory but missing" for n in mandatory}
        checks = {name: attr_check(a) for name, a in attrs.items()}
        fast, complete = _fast_check(attrs, checks, mandatory)
        compiled = _Compiled(
            spec=spec,
            checks=checks,
            mandatory=mandatory,
            mandatory_writable=frozenset(n for n in mandatory if not attrs[n].readonly),
            readonly=frozenset(n for n, a in attrs.items() if a.readonly),
            parents=frozenset(parents),
            openapi_names={a.openapi_name: n for n, a in attrs.items() if a.openapi_name != n},
            missing_warning={n: Finding(n, MANDATORY, m, WARNING) for n, m in missing.items()},
            missing_error={n: Finding(n, MANDATORY, m, ERROR) for n, m in missing.items()},
            missing_memo={},
            fast=fast,
            complete=complete,
        )
        self._compiled[cls] = compiled
        return compiled

    def passer(self, cls: str) -> Callable[[Mapping[str, Any]], bool]:
        """Whether an object of ``cls`` passes every check, as one function (the generated fast path).

        True: ``validate`` would find nothing but containment and, for an ``oss`` write, read-only
        problems; False tells nothing. Always False for a class the registry does not model.
        """
        c = self._compiled[cls] if cls in self._compiled else self._compile(cls)
        if c is None:
            return lambda attrs: False
        return c.complete

    def missing_only(self, cls: str) -> Callable[[Mapping[str, Any]], frozenset[str] | None]:
        """For an object of ``cls`` whose present attributes all pass: the mandatory ones it lacks.

        None when some present attribute does not pass (or the class is not modelled); then only
        ``validate`` tells. Otherwise ``validate`` (not strict, not an ``oss`` write, containment
        left out) finds exactly the missing-attribute findings of these names.
        """
        c = self._compiled[cls] if cls in self._compiled else self._compile(cls)
        if c is None:
            return lambda attrs: None
        fast, required = c.fast, c.mandatory

        def absent(attrs: Mapping[str, Any]) -> frozenset[str] | None:
            return required.difference(attrs) if fast(attrs) else None

        return absent

    def validate(
        self,
        dn: str,
        cls: str,
        attrs: Mapping[str, Any],
        *,
        parent_cls: str | None,
        strict: bool = False,
        writer: str = "real",
        previous: Mapping[str, Any] | None = None,
        containment: bool = True,
    ) -> list[Finding]:
        """Findings for object ``dn`` of class ``cls`` whose full state is ``attrs``."""
        # writer "oss" is a management write (read-only attributes are refused); the mirror
        # ("real") and others may set them. previous is the state before an update, None at
        # creation. containment False leaves out the containment rule (and parent_cls unread),
        # for callers that check containment on their own.
        try:
            c = self._compiled[cls]
        except KeyError:
            c = self._compile(cls)
        if c is None:
            return [Finding(None, UNMODELLED, f"{cls} is not a modelled class; not validated", INFO)]
        found: list[Finding] = []
        spec = c.spec
        if not containment:
            pass
        elif parent_cls is None:
            if not spec.can_be_root:
                found.append(Finding(None, CONTAINMENT, f"{spec.name} cannot be a root object ({dn})", ERROR))
        elif not spec.any_parent and parent_cls not in c.parents:
            found.append(Finding(None, CONTAINMENT, f"{spec.name} cannot be contained by {parent_cls}", ERROR))
        if (writer != "oss" or not c.readonly) and c.fast(attrs):
            # Every attribute passes: only containment and missing attributes may be found.
            required = c.mandatory_writable if writer == "oss" else c.mandatory
            if not attrs.keys() >= required:
                found.extend(c.missing(required.difference(attrs), strict))
            return found
        checks = c.checks
        mandatory_severity = ERROR if strict else WARNING
        saw_none = False
        for name, value in attrs.items():
            check = checks.get(name)
            if check is None:
                found.append(self._unknown(c, name))
                continue
            if value is None:
                saw_none = True
                continue
            problems = check(value)
            if problems:
                for path, rule, msg in problems:
                    sev = mandatory_severity if rule == MANDATORY else WARNING if rule == UNKNOWN_ATTRIBUTE else ERROR
                    found.append(Finding(name + path, rule, f"{name}{path}: {msg}", sev))
        required = c.mandatory_writable if writer == "oss" else c.mandatory
        if saw_none or not attrs.keys() >= required:  # the test builds nothing: the usual object has all
            absent = required.difference(attrs)
            if saw_none:
                absent = absent.union(n for n in required if attrs.get(n) is None)
            if absent:
                found.extend(c.missing(absent, strict))
        if writer == "oss" and c.readonly:
            for name in c.readonly.intersection(attrs.keys()):
                value = attrs[name]
                if previous is None:
                    if value is not None:
                        msg = f"{name}: is read-only and cannot be set at creation"
                        found.append(Finding(name, READ_ONLY, msg, ERROR))
                elif previous.get(name) != value:
                    old = _short(previous.get(name))
                    msg = f"{name}: is read-only; cannot change {old} to {_short(value)}"
                    found.append(Finding(name, READ_ONLY, msg, ERROR))
        return found

    @staticmethod
    def _unknown(c: _Compiled, name: str) -> Finding:
        hint = ""
        if name in c.openapi_names:
            hint = f" (the OpenAPI spelling of {c.openapi_names[name]})"
        msg = f"{name}: is not an attribute of {c.spec.name}{hint}; kept as is"
        return Finding(name, UNKNOWN_ATTRIBUTE, msg, WARNING)


def errors(findings: list[Finding]) -> list[Finding]:
    """The findings of severity error."""
    return [f for f in findings if f.severity == ERROR]

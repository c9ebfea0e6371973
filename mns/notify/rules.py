"""Checks of ``NtfSubscriptionControl`` objects at the ProvMnS write, and parsing of their attributes.

The class registry checks types; these checks add what delivery needs: a recipient address
that is an absolute http(s) URL, notification types the twin sends, a scope it understands
and a filter it can evaluate. A recipient that does not answer is not a problem here (it may
come up later); a malformed address is. The check is a class rule (``mns.nrm.class_rules``),
so a bad subscription is refused (400, nothing changed) like any other invalid object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
from pydantic import AnyHttpUrl, TypeAdapter, ValidationError

from mns.errors import BadRequest
from mns.notify.build import DEFAULT_TYPES, SUPPORTED_TYPES
from mns.nrm.class_rules import Exists, register
from mns.nrm.filter import Filter, parse_filter
from mns.store.api import Scope

SUBSCRIPTION: Final = "NtfSubscriptionControl"
HEARTBEAT_CONTROL: Final = "HeartbeatControl"
RULE: Final = "subscription"

_HTTP_URL: Final = TypeAdapter(AnyHttpUrl)


@dataclass(frozen=True, slots=True)
class Definition:
    """What delivery needs from a subscription's attributes."""

    address: str
    types: frozenset[str]
    scope: Scope
    level: int
    filter: Filter | None


def _address(value: Any) -> tuple[str | None, list[str]]:
    if value is None:
        return None, ["notificationRecipientAddress: is required (the URL notifications are POSTed to)"]
    if not isinstance(value, str):
        return None, [f"notificationRecipientAddress: {value!r} is not a URL string"]
    try:
        # pydantic parses as browsers do (WHATWG); httpx, which sends, must see the same host.
        _HTTP_URL.validate_python(value)
        host = httpx.URL(value).host
    except (ValidationError, httpx.InvalidURL) as exc:
        why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return None, [f"notificationRecipientAddress: {value!r} is not an absolute http:// or https:// URL ({why})"]
    if not host:
        return None, [f"notificationRecipientAddress: {value!r} is not an absolute http:// or https:// URL (no host)"]
    return value, []


def _types(value: Any) -> tuple[frozenset[str], list[str]]:
    if value is None:
        return DEFAULT_TYPES, []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return DEFAULT_TYPES, [f"notificationTypes: {value!r} is not a list of notification type names"]
    unsupported = sorted(set(value) - SUPPORTED_TYPES)
    if unsupported:
        return DEFAULT_TYPES, [
            f"notificationTypes: {', '.join(unsupported)} not supported here; use {', '.join(sorted(SUPPORTED_TYPES))}"
        ]
    return frozenset(value), []


def _scope(value: Any) -> tuple[Scope, int, list[str]]:
    """Scope and level; the stage-2 form is a list of one entry, the OpenAPI form the entry itself."""
    if value is None:
        return Scope.BASE_ALL, 0, []
    entry = value[0] if isinstance(value, list) and len(value) == 1 else value
    if not isinstance(entry, dict):
        return Scope.BASE_ALL, 0, [f"scope: {value!r} is not a scope (scopeType, scopeLevel)"]
    kind, level = entry.get("scopeType", Scope.BASE_ALL.value), entry.get("scopeLevel")
    try:
        scope = Scope(kind)
    except ValueError:
        allowed = ", ".join(s.value for s in Scope)
        return Scope.BASE_ALL, 0, [f"scope: scopeType {kind!r} is not one of {allowed}"]
    if level is not None and (type(level) is not int or level < 0):
        return Scope.BASE_ALL, 0, [f"scope: scopeLevel {level!r} is not a non-negative integer"]
    if scope is Scope.BASE_NTH_LEVEL and level is None:
        return Scope.BASE_ALL, 0, ["scope: scopeType BASE_NTH_LEVEL needs scopeLevel"]
    if scope is Scope.BASE_SUBTREE and level is None:
        scope = Scope.BASE_ALL  # as in a ProvMnS GET: a subtree without a level is all of it
    return scope, level or 0, []


def _filter(value: Any) -> tuple[Filter | None, list[str]]:
    if value is None:
        return None, []
    if not isinstance(value, str):
        return None, [f"notificationFilter: {value!r} is not an XPath expression"]
    try:
        return parse_filter(value), []
    except BadRequest as exc:
        return None, [f"notificationFilter: {exc.message}"]


def parse_definition(attrs: Mapping[str, Any]) -> tuple[Definition | None, list[str]]:
    """The definition of a subscription, or None with the problems that prevent it."""
    address, problems = _address(attrs.get("notificationRecipientAddress"))
    types, more = _types(attrs.get("notificationTypes"))
    problems += more
    scope, level, more = _scope(attrs.get("scope"))
    problems += more
    filter_, more = _filter(attrs.get("notificationFilter"))
    problems += more
    if problems or address is None:
        return None, problems
    return Definition(address, types, scope, level, filter_), []


def check_subscription(dn: str, attrs: Mapping[str, Any]) -> list[str]:
    """The problems that make ``attrs`` unusable as NtfSubscriptionControl ``dn`` (empty: fine)."""
    return [f"{dn}: {p}" for p in parse_definition(attrs)[1]]


def _rule(dn: str, attrs: Mapping[str, Any], exists: Exists | None) -> list[tuple[str, str]]:
    """The subscription's problems as (attribute, message) for ``class_rules``."""
    del dn, exists
    return [(p.split(":", 1)[0], p.split(":", 1)[1].strip()) for p in parse_definition(attrs)[1]]


# Objects the mirror writes (writer "real") are not checked: they are the real network's
# own subscriptions, kept as they are and never delivered to (see ``subscriptions``).
register(SUBSCRIPTION, RULE, _rule)

"""The sim's naming dialect at its edge: Rel-18 OpenAPI spellings on the wire, stage 2 inside.

With ``--dialect openapi`` the emulated network speaks as an OpenAPI-dialect vendor does
(``NrCellDu``, ``nrPci``, TAC as hex digits, nested PLMN ids) while its store, its validation
and its notifications are built in stage-2 form. :class:`DialectEdge` is an ASGI middleware that
translates, with :mod:`mns.nrm.dialect` (through the conformance suite's :class:`Spelling`,
which adds the class names inside DNs):

- requests: the DN in the path, DN query parameters (``baseObjectInstance``, ``dn``), attribute
  names in ``attributes``, ``fields`` and ``filter`` (``attributes/nrPci`` -> ``attributes/nRPCI``),
  and bodies (a resource or resource tree of PUT and the merge patches, the operations of the
  two JSON patch types);
- responses: 2xx JSON bodies of the ProvMnS (resources, flat lists and trees: class names,
  child keys, DNs, attributes), and ``objectInstance`` DNs in any other JSON answer (alarms).

Notifications are POSTed by the notifiers, not answered, so :meth:`Edge.notification` rewrites
their bodies in the notifiers' transport (:class:`mns.sim.faults.NotificationTransport`).

Responses are buffered to be translated, so a huge subtree read costs memory in this dialect;
error bodies pass unchanged (their text names stage-2 classes).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode

import orjson

from mns.conformance.spelling import OPENAPI, Spelling
from mns.errors import MnsError
from mns.nrm.dn import DN
from mns.nrm.registry import Registry, default_registry

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

DN_PARAMS: Final = ("baseObjectInstance", "dn")
_FILTER_ATTR: Final = re.compile(r"(attributes/)([A-Za-z_][\w.-]*)")


class Edge:
    """Translations between the stage-2 inside and the OpenAPI wire, for one registry."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or default_registry()
        self.spelling = Spelling(OPENAPI, self.registry)
        self.attr_names: dict[str, str] = {}
        for spec in self.registry:
            for name, attr in spec.attributes.items():
                self.attr_names.setdefault(attr.openapi_name, name)

    # names and DNs --------------------------------------------------------------------------

    def cls_in(self, wire: str) -> str:
        """The stage-2 name of a class as the wire spells it."""
        return self.spelling.canonical_cls(wire)

    def dn_text(self, text: str, *, out: bool) -> str:
        """A DN with its class names respelled (text that is not a DN as given)."""
        try:
            dn = DN.parse(text)
        except MnsError:
            return text
        return str(self.spelling.dn(dn) if out else self.spelling.canonical_dn(dn))

    def path(self, path: str, *, out: bool) -> str:
        """A URL path whose ``Class=id`` segments are respelled."""
        segments = path.split("/")
        for i, seg in enumerate(segments):
            cls, eq, rest = seg.partition("=")
            if eq and cls:
                segments[i] = (self.spelling.cls(cls) if out else self.cls_in(cls)) + "=" + rest
        return "/".join(segments)

    def attr_in(self, name: str) -> str:
        """The stage-2 name of an attribute given in OpenAPI spelling (when the registry knows it)."""
        return self.attr_names.get(name, name)

    @staticmethod
    def last_class(path: str) -> str | None:
        """The class of the last ``Class=id`` segment of a path."""
        for seg in reversed(path.split("/")):
            cls, eq, _ = seg.partition("=")
            if eq and cls:
                return cls
        return None

    # query ----------------------------------------------------------------------------------

    def query_in(self, query: str) -> str:
        """A query string in stage-2 spelling."""
        pairs = []
        for key, given in parse_qsl(query, keep_blank_values=True):
            value = given
            if key == "attributes":
                value = ",".join(self.attr_in(v.strip()) for v in value.split(","))
            elif key == "fields":
                value = ",".join(self._field_in(v.strip()) for v in value.split(","))
            elif key == "filter":
                value = _FILTER_ATTR.sub(lambda m: m.group(1) + self.attr_in(m.group(2)), value)
            elif key in DN_PARAMS:
                value = self.dn_text(value, out=False)
            pairs.append((key, value))
        return urlencode(pairs, quote_via=quote)

    def _field_in(self, field: str) -> str:
        head, _, rest = field.partition("/")
        if head != "attributes" or not rest:
            return field
        name, sep2, tail = rest.partition("/")
        return f"attributes/{self.attr_in(name)}{sep2}{tail}"

    # resources ------------------------------------------------------------------------------

    def resource_out(self, node: Any) -> Any:
        """A resource (with its nested children) or a list of them, in OpenAPI spelling."""
        if isinstance(node, list):
            return [self.resource_out(n) for n in node]
        if not isinstance(node, dict):
            return node
        cls = node.get("objectClass")
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "objectClass" and isinstance(value, str):
                out[key] = self.spelling.cls(value)
            elif key == "objectInstance" and isinstance(value, str):
                out[key] = self.dn_text(value, out=True)
            elif key == "attributes" and isinstance(value, dict) and isinstance(cls, str):
                out[key] = self.spelling.attrs(cls, value)
            elif isinstance(value, list) and isinstance(cls, str):
                out[self.spelling.child_key(cls, key)] = [self.resource_out(v) for v in value]
            else:
                out[key] = value
        return out

    def resource_in(self, node: Any, cls: str | None) -> Any:
        """A resource tree in OpenAPI spelling, in stage 2; ``cls`` is its class if not in it."""
        if not isinstance(node, dict):
            return node
        given = node.get("objectClass")
        cls = self.cls_in(given) if isinstance(given, str) else cls
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "objectClass" and isinstance(value, str):
                out[key] = self.cls_in(value)
            elif key == "objectInstance" and isinstance(value, str):
                out[key] = self.dn_text(value, out=False)
            elif key == "attributes" and isinstance(value, dict) and cls is not None:
                out[key] = self.spelling.canonical_attrs(cls, value)
            elif isinstance(value, list) and cls is not None and key != "id":
                child = self.spelling.child_class(cls, key)
                out[child] = [self.resource_in(v, child) for v in value]
            else:
                out[key] = value
        return out

    def _attr_value_in(self, cls: str, name: str, value: Any, whole: bool) -> tuple[str, Any]:
        if not whole:
            return self.attr_in(name), value
        converted = self.spelling.canonical_attrs(cls, {name: value})
        if len(converted) == 1:
            return next(iter(converted.items()))
        return self.attr_in(name), value

    def json_patch_in(self, ops: Any, target_path: str, *, gpp: bool) -> Any:
        """The operations of a (3GPP) JSON patch on the object at ``target_path``, in stage 2."""
        if not isinstance(ops, list):
            return ops
        base_cls = self.last_class(target_path)
        out = []
        for op in ops:
            if not isinstance(op, dict) or not isinstance(op.get("path"), str):
                out.append(op)
                continue
            rel, hash_, pointer = op["path"].partition("#") if gpp else ("", "#", op["path"])
            rel = self.path(rel, out=False)
            cls = self.last_class(rel) or base_cls
            item = dict(op)
            if gpp and not hash_:
                item["path"] = rel
                if "value" in item and cls is not None:
                    item["value"] = self.resource_in(item["value"], cls)
                out.append(item)
                continue
            item["path"] = (rel + "#" if gpp else "") + self._pointer_in(item, pointer, cls)
            out.append(item)
        return out

    def _pointer_in(self, item: dict[str, Any], pointer: str, cls: str | None) -> str:
        parts = pointer.split("/")
        if len(parts) < 2 or parts[1] != "attributes" or cls is None:
            return pointer
        if len(parts) == 2:  # the whole attributes object
            if isinstance(item.get("value"), dict):
                item["value"] = self.spelling.canonical_attrs(cls, item["value"])
            return pointer
        whole = len(parts) == 3 and "value" in item
        name, value = self._attr_value_in(cls, parts[2], item.get("value"), whole)
        if whole:
            item["value"] = value
        return "/".join([*parts[:2], name, *parts[3:]])

    # notifications --------------------------------------------------------------------------

    def notification(self, raw: bytes) -> bytes:
        """A notification body (CM, alarm, file...) in OpenAPI spelling."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
        if not isinstance(body, dict):
            return raw
        href = body.get("href")
        cls = self.last_class(href) if isinstance(href, str) else None
        out = dict(body)
        if isinstance(href, str):
            out["href"] = self.path(href, out=True)
        for key in ("systemDN", "objectInstance"):
            if isinstance(body.get(key), str):
                out[key] = self.dn_text(body[key], out=True)
        if cls is not None and isinstance(body.get("attributeList"), dict):
            out["attributeList"] = self.spelling.attrs(cls, body["attributeList"])
        changes = body.get("attributeListValueChanges")
        if cls is not None and isinstance(changes, list):
            out["attributeListValueChanges"] = [
                self.spelling.attrs(cls, c) if isinstance(c, dict) else c for c in changes
            ]
        if isinstance(body.get("moiChanges"), list):
            out["moiChanges"] = [self._moi_change_out(c, href or "") for c in body["moiChanges"]]
        return orjson.dumps(out)

    def _moi_change_out(self, item: Any, href: str) -> Any:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            return item
        rel, hash_, pointer = item["path"].partition("#")
        out = dict(item)
        out["path"] = self.path(rel, out=True) + hash_ + pointer
        cls = self.last_class(rel) or self.last_class(href)
        parts = pointer.split("/")
        if not hash_:
            for key in ("value", "oldValue"):
                if key in item:
                    out[key] = self.resource_out(item[key])
        elif cls is not None and len(parts) == 3 and parts[1] == "attributes":
            name = parts[2]
            for key in ("value", "oldValue"):
                if key in item:
                    converted = self.spelling.attrs(cls, {name: item[key]})
                    if len(converted) == 1:
                        new_name, out[key] = next(iter(converted.items()))
                        out["path"] = self.path(rel, out=True) + f"#/attributes/{new_name}"
        return out

    def instances_out(self, node: Any) -> Any:
        """Any JSON with the DNs under ``objectInstance`` keys respelled."""
        if isinstance(node, list):
            return [self.instances_out(n) for n in node]
        if isinstance(node, dict):
            return {
                k: self.dn_text(v, out=True) if k == "objectInstance" and isinstance(v, str) else self.instances_out(v)
                for k, v in node.items()
            }
        return node


JSON_PATCH: Final = "application/json-patch+json"
GPP_JSON_PATCH: Final = "application/3gpp-json-patch+json"


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


class DialectEdge:
    """ASGI middleware: the OpenAPI spelling outside, stage 2 inside (see the module doc)."""

    def __init__(self, app: ASGIApp, *, prov_prefix: str, edge: Edge | None = None) -> None:
        self.app = app
        self.prov_prefix = prov_prefix.rstrip("/") + "/"
        self.edge = edge or Edge()

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        """Translate one HTTP exchange (lifespan passes through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        edge = self.edge
        path = edge.path(scope["path"], out=False)
        query = scope.get("query_string", b"").decode("latin-1")
        inner = {**scope, "path": path, "raw_path": quote(path).encode(), "query_string": edge.query_in(query).encode()}
        raw = await _read_body(receive)
        body = self._body_in(raw, path, scope["method"], _header(scope, b"content-type"))
        inner["headers"] = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        inner["headers"].append((b"content-length", str(len(body)).encode()))
        prov = path.startswith(self.prov_prefix)
        await self.app(inner, _replay(body), _Translating(send, edge, prov))

    def _body_in(self, raw: bytes, path: str, method: str, content_type: str) -> bytes:
        if not raw or method not in ("PUT", "PATCH", "POST") or not path.startswith(self.prov_prefix):
            return raw
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw  # the app answers the 400
        media = content_type.split(";", maxsplit=1)[0].strip().lower()
        if media in (JSON_PATCH, GPP_JSON_PATCH):
            body = self.edge.json_patch_in(body, path, gpp=media == GPP_JSON_PATCH)
        else:
            body = self.edge.resource_in(body, self.edge.last_class(path))
        return orjson.dumps(body)


async def _read_body(receive: Callable[[], Awaitable[Any]]) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Callable[[], Awaitable[Any]]:
    sent = False

    async def receive() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class _Translating:
    """An ASGI ``send`` that buffers a JSON answer and sends it translated."""

    def __init__(self, send: Callable[[Any], Awaitable[None]], edge: Edge, prov: bool) -> None:
        self.send = send
        self.edge = edge
        self.prov = prov
        self.start: dict[str, Any] | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            media = _content_type(message)
            if 200 <= message["status"] < 300 and "json" in media:
                self.start = message
                return
            await self.send(message)
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        raw = b"".join(self.chunks)
        body = self._translate(raw)
        headers = [(k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    def _translate(self, raw: bytes) -> bytes:
        if not raw:
            return raw
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
        return orjson.dumps(self.edge.resource_out(body) if self.prov else self.edge.instances_out(body))


def _content_type(message: Any) -> str:
    for key, value in message.get("headers", []):
        if key.lower() == b"content-type":
            return str(value.decode("latin-1")).lower()
    return ""

"""Sandbox service: change sets uploaded as one revision, and change sets rendered for replay.

No HTTP here: the router (``mns.producers.sandboxes``) and the CLI (``mns.cli_sandbox``) call
these functions with keyword arguments.

An uploaded change set is a list in one of two forms, told apart by its first item:

- 3GPP JSON patch operations (TS 32.158), ``{"op", "path", "value"}``, whose ``path`` is
  ``/<DN>[#<JSON pointer>]``, relative to a base DN when one is given, else absolute (its first
  RDN is the root);
- ProvMnS requests, ``{"method": "PUT"|"PATCH"|"DELETE", "path": "/<DN>", "body", "contentType",
  "ifMatch"}``, each with the meaning it has on the ProvMnS.

Every item becomes a step that the existing ProvMnS semantics carry out: a patch operation
is a one-item ``application/3gpp-json-patch+json`` PATCH of its base (``mns.services.prov``),
a PUT a store ``Put``, a DELETE a subtree ``Delete``. The steps are planned one after the
other inside the write transaction, each on an in-memory ``Overlay`` of the transaction's view
that holds what the steps before it did; the final state of every object they touched then
becomes one store operation (the store writes an object once per revision). So every step sees
the ones before it, and the whole change set is one revision or nothing. The step being
planned, or the last step that touched the object being written, is remembered: an error,
wherever it arises, is returned as a 400 naming the item's index, the object and the rule.

Rendered change sets come in dependency order (``ordered``): creations parents first, then
modifications, then deletions children first, so that a consumer replaying them in order
never creates under a missing parent, never references an object not created yet, and never
deletes an object something still references.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from mns.errors import AlreadyExists, BadRequest, MnsError, NotFound, PreconditionFailed, UnsupportedMediaType
from mns.nrm.dn import DN, SEP, key_class, key_depth, key_to_dn, parent_key, to_key
from mns.nrm.resource import parse_resource
from mns.services.prov import GPP_JSON_PATCH, JSON_PATCH, PATCH_TYPES, canonical, parse_as_of, plan_patch
from mns.store.api import (
    AsOf,
    Branch,
    Change,
    ChangeKind,
    CommitJob,
    CommitResult,
    Create,
    Delete,
    Moi,
    Op,
    Put,
    Store,
    TxnView,
    Update,
)

SOURCE: Final = "oss"
"""The revision source of every write into a sandbox: the sandbox stands for what an OSS would do."""

UPLOAD_TYPES: Final = ("application/json", GPP_JSON_PATCH)
"""Media types of an uploaded change set (the second for 3GPP JSON patch operations only)."""

FORMS: Final = ("requests", "patch", "diff")
"""The renderings of a change set: ProvMnS requests, 3GPP JSON patch operations, per-object diff."""

_PATCH_KEYS: Final = frozenset({"op", "path", "value", "from"})
_REQUEST_KEYS: Final = frozenset({"method", "path", "body", "contentType", "ifMatch"})
_METHODS: Final = ("PUT", "PATCH", "DELETE")
_ITEM_ZERO: Final = re.compile(r"patch item 0\b")


class ChangeSetError(BadRequest):
    """An item of an uploaded change set that cannot be applied; nothing was changed.

    ``item`` is the item's index, ``cause`` the domain error it met; ``rule`` is the cause's.
    """

    def __init__(self, item: int, cause: MnsError) -> None:
        message = cause.message
        if _ITEM_ZERO.search(message):
            # The item was applied as a one-item patch: its own index is the one to name.
            message = _ITEM_ZERO.sub(f"change set item {item}", message)
        else:
            message = f"change set item {item}: {message}"
        super().__init__(message, dn=cause.dn)
        self.item = item
        self.cause = cause
        self.rule = cause.rule


@dataclass(frozen=True, slots=True)
class Step:
    """One uploaded item as a ProvMnS request on one object: the unit that is planned and applied."""

    index: int
    method: str
    dn: str
    media_type: str | None = None
    body: Any = None
    if_match: str | None = None
    attrs: Mapping[str, Any] | None = None
    """The attributes of a PUT, checked when the change set was parsed."""

    def ops(self, view: TxnView) -> list[Op]:
        """The store operations of this step, planned on the state the transaction sees now."""
        if self.method == "PUT":
            assert self.attrs is not None
            return [Put(self.dn, self.attrs, if_match=self.if_match)]
        if self.method == "DELETE":
            return [Delete(self.dn, subtree=True, if_match=self.if_match)]
        assert self.media_type is not None
        return plan_patch(view, dn=self.dn, media_type=self.media_type, body=self.body, if_match=self.if_match)


PENDING: Final = -1
"""The revision an object changed by an earlier item of the same upload is shown with (its ETag)."""


class Overlay:
    """The transaction's view with the upload's earlier items applied, in memory (a ``TxnView``).

    The store writes an object at most once per revision, so the items are not written one by
    one: each item is planned on this view and its operations applied here, and the final state
    of every object touched becomes one operation at the end (``ops``). ``touched_by`` keeps the
    last item that touched each object, to name it when the store refuses the object.
    """

    def __init__(self, view: TxnView) -> None:
        self.view = view
        self.original: dict[str, Moi | None] = {}
        self.final: dict[str, tuple[str, dict[str, Any]] | None] = {}
        self.touched_by: dict[str, int] = {}

    def _base(self, key: str) -> Moi | None:
        if key not in self.original:
            self.original[key] = self.view.get(key)
        return self.original[key]

    def get(self, dn: str) -> Moi | None:
        """One object as the items so far left it, or None."""
        key = canonical(dn)
        if key not in self.final:
            return self._base(key)
        state = self.final[key]
        return None if state is None else Moi(key, state[0], PENDING, orjson.dumps(state[1]))

    def subtree(self, dn: str) -> Iterator[Moi]:
        """The object and everything below it as the items so far left them, parents first."""
        key = canonical(dn)
        found: dict[str, Moi | None] = {m.dn: m for m in self.view.subtree(key)}
        below = to_key(key) + SEP
        for k in self.final:
            if k == key or to_key(k).startswith(below):
                found[k] = self.get(k)
        present = [m for m in found.values() if m is not None]
        return iter(sorted(present, key=lambda m: to_key(m.dn)))

    def _set(self, key: str, state: tuple[str, dict[str, Any]] | None, index: int) -> None:
        self._base(key)
        self.final[key] = state
        self.touched_by[key] = index

    def apply(self, ops: Iterable[Op], index: int) -> None:
        """Apply one item's operations to the view, checking what the store would check of them."""
        for op in ops:
            key = canonical(op.dn)
            current = self.get(key)
            if isinstance(op, Create):
                if current is not None:
                    raise AlreadyExists(f"{key} already exists", dn=key)
                self._set(key, (key_class(to_key(key)), dict(op.attrs)), index)
                continue
            if isinstance(op, Update):
                raise BadRequest(f"{key}: an attribute update is not an operation of a change set item", dn=key)
            _check_if_match(key, op.if_match, current)
            if isinstance(op, Put):
                self._set(key, (current.cls if current else key_class(to_key(key)), dict(op.attrs)), index)
            elif current is None:
                raise NotFound(f"{key} does not exist", dn=key)
            else:
                for moi in list(self.subtree(key)):
                    self._set(moi.dn, None, index)

    def ops(self) -> list[Op]:
        """One store operation per object whose final state differs from where it started."""
        creates: list[Op] = []
        updates: list[Op] = []
        deletes: list[Op] = []
        for key, state in self.final.items():
            before = self.original[key]
            if state is None:
                if before is not None:
                    deletes.append(Delete(key, subtree=True, if_match=before.etag))
            elif before is None:
                creates.append(Create(key, state[1]))
            elif state[1] != before.attrs:
                updates.append(Put(key, state[1], if_match=before.etag))
        creates.sort(key=lambda op: key_depth(to_key(op.dn)))
        # A subtree delete of the topmost deleted object takes its deleted descendants with it.
        gone = {op.dn for op in deletes}
        top = [op for op in deletes if key_to_dn(parent_key(to_key(op.dn)) or "") not in gone]
        top.sort(key=lambda op: -key_depth(to_key(op.dn)))
        return [*creates, *updates, *top]


def _check_if_match(key: str, if_match: str | None, current: Moi | None) -> None:
    """If-Match as the store checks it: one of the tags, or * for an object that exists."""
    if if_match is None:
        return
    tags = {t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")}
    if current is not None and ("*" in tags or current.etag in tags):
        return
    etag = current.etag if current is not None else None
    raise PreconditionFailed(
        f"{key}: If-Match {if_match} does not match the current ETag {etag or '(none: absent)'}", dn=key, current=etag
    )


@dataclass(slots=True)
class Upload:
    """A parsed change set: its steps, and which of them is being planned or applied."""

    steps: list[Step]
    current: int | None = field(default=None)

    def plan(self, view: TxnView) -> Iterator[Op]:
        """The change set's store operations: every item planned on the state the ones before it left."""
        overlay = Overlay(view)
        for step in self.steps:
            self.current = step.index
            overlay.apply(step.ops(overlay), step.index)
        for op in overlay.ops():
            self.current = overlay.touched_by[op.dn]
            yield op
        self.current = None

    def job(self, *, sandbox: int, author: str = "", message: str = "") -> CommitJob:
        """The commit job that applies the whole change set to the sandbox as one revision."""
        text = message or f"change set of {len(self.steps)} item(s)"
        return CommitJob(self.plan, source=SOURCE, author=author, message=text, branch=sandbox)

    def explain(self, exc: MnsError) -> MnsError:
        """The error to report for a failed commit: naming the item that met it, when one did."""
        if self.current is None or isinstance(exc, ChangeSetError):
            return exc
        return ChangeSetError(self.current, exc)


def parse_upload(body: Any, *, base: str | None = None, media_type: str = "application/json") -> Upload:
    """A change set from a request body: a list of items, or an object with ``operations``.

    The object form is what ``GET .../changeset`` returns, so a change set downloaded from one
    sandbox uploads into another as it is; its ``base`` is used when no ``base`` is given.
    Raises BadRequest (naming the item) on a malformed item, before anything is applied.
    """
    if media_type not in UPLOAD_TYPES:
        raise UnsupportedMediaType(f"a change set is sent as {' or '.join(UPLOAD_TYPES)}, not {media_type}")
    if isinstance(body, dict):
        if "operations" not in body:
            raise BadRequest("a change set object needs operations (a list of patch operations or requests)")
        doc_base = body.get("base")
        if doc_base is not None and not isinstance(doc_base, str):
            raise BadRequest("the change set's base must be a DN (a string)")
        base = base if base is not None else doc_base or None
        body = body["operations"]
    if not isinstance(body, list):
        raise BadRequest("a change set is a list of 3GPP JSON patch operations or of ProvMnS requests")
    base_dn = DN.parse(base) if base else None
    steps: list[Step] = []
    requests = bool(body) and isinstance(body[0], dict) and "method" in body[0]
    if requests and media_type == GPP_JSON_PATCH:
        raise UnsupportedMediaType(f"{GPP_JSON_PATCH} carries patch operations; send ProvMnS requests as JSON")
    for i, item in enumerate(body):
        try:
            steps.append(_request_step(i, item) if requests else _patch_step(i, item, base_dn))
        except MnsError as exc:
            raise ChangeSetError(i, exc) from None
    return Upload(steps)


def _keys(item: Any, allowed: frozenset[str], what: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise BadRequest(f"the item is not a JSON object ({what})")
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise BadRequest(f"{', '.join(unknown)} is not a member of {what} (the first item decides the form)")
    return item


def _text(item: Mapping[str, Any], key: str, what: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{what} needs {key} as a string")
    return value


def _optional_text(item: Mapping[str, Any], key: str, what: str) -> str | None:
    return None if item.get(key) is None else _text(item, key, what)


def _patch_step(i: int, raw: Any, base: DN | None) -> Step:
    item = _keys(raw, _PATCH_KEYS, "a 3GPP JSON patch operation")
    _text(item, "op", "a patch operation")
    path = _text(item, "path", "a patch operation")
    if "from" in item:
        _text(item, "from", "a patch operation")
    rel, sep, pointer = path.partition("#")
    if base is not None:
        target, rest = base, rel
    else:
        if rel.strip() in ("", "/"):
            raise BadRequest(f"patch path {path!r} names no object: give base= or an absolute DN path")
        full = DN.parse(rel.lstrip("/"))
        target, rest = DN(full.rdns[:1]), ("/" + DN(full.rdns[1:]).uri if full.depth > 1 else "")
    return Step(i, "PATCH", str(target), GPP_JSON_PATCH, [{**item, "path": rest + sep + pointer}])


def _request_step(i: int, raw: Any) -> Step:
    item = _keys(raw, _REQUEST_KEYS, "a ProvMnS request")
    method = _text(item, "method", "a ProvMnS request")
    if method not in _METHODS:
        raise BadRequest(f"method {method!r} is not one of {', '.join(_METHODS)}")
    dn = DN.parse(_text(item, "path", "a ProvMnS request"))
    if_match = _optional_text(item, "ifMatch", "a ProvMnS request")
    media = _optional_text(item, "contentType", "a ProvMnS request")
    body = item.get("body")
    if method == "DELETE":
        if body is not None or media is not None:
            raise BadRequest(f"{dn}: a DELETE has no body", dn=str(dn))
        return Step(i, method, str(dn), if_match=if_match)
    if body is None:
        raise BadRequest(f"{dn}: a {method} needs a body", dn=str(dn))
    if method == "PUT":
        if media not in (None, "application/json"):
            raise UnsupportedMediaType(f"{dn}: PUT takes application/json, not {media}", dn=str(dn))
        attrs = parse_resource(body, cls=dn.cls, id_=dn.id, dn=str(dn))
        return Step(i, method, str(dn), if_match=if_match, attrs=attrs)
    if media is None:
        media = JSON_PATCH if isinstance(body, list) else "application/merge-patch+json"
    if media not in PATCH_TYPES:
        raise UnsupportedMediaType(f"{dn}: PATCH takes {', '.join(PATCH_TYPES)}, not {media}", dn=str(dn))
    return Step(i, method, str(dn), media, body, if_match)


def apply_change_set(
    *,
    store: Store,
    sandbox: int,
    body: Any,
    base: str | None = None,
    media_type: str = "application/json",
    author: str = "",
    message: str = "",
) -> CommitResult:
    """Apply an uploaded change set to the sandbox as one revision (all or nothing)."""
    store.branch(sandbox)  # NotFound for an unknown sandbox, before the items are judged
    upload = parse_upload(body, base=base, media_type=media_type)
    try:
        return store.commit_job(upload.job(sandbox=sandbox, author=author, message=message))
    except MnsError as exc:
        raise upload.explain(exc) from None


# -- rendering ------------------------------------------------------------------------------


def ordered(changes: Sequence[Change]) -> list[Change]:
    """The changes in dependency order: creations parents first, modifications, deletions children first."""
    creates = [c for c in changes if c.kind is ChangeKind.CREATED]
    mods = [c for c in changes if c.kind is ChangeKind.MODIFIED]
    dels = [c for c in changes if c.kind is ChangeKind.DELETED]
    # Key order already puts parents before children; the sorts are stable, so they keep it.
    creates.sort(key=lambda c: DN.parse(c.dn).depth)
    dels.sort(key=lambda c: -DN.parse(c.dn).depth)
    return [*creates, *mods, *dels]


def _pointer(name: str) -> str:
    return "/attributes/" + name.replace("~", "~0").replace("/", "~1")


def attribute_ops(change: Change) -> list[dict[str, Any]]:
    """RFC 6902 operations on ``/attributes/...`` that turn a modified object's before into its after."""
    before, after = change.before or {}, change.after or {}
    ops: list[dict[str, Any]] = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            ops.append({"op": "remove", "path": _pointer(name)})
        elif name not in before:
            ops.append({"op": "add", "path": _pointer(name), "value": after[name]})
        elif before[name] != after[name]:
            ops.append({"op": "replace", "path": _pointer(name), "value": after[name]})
    return ops


def as_requests(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """The change set as ProvMnS requests in dependency order.

    A creation is a PUT of the object, a modification a JSON patch of exactly the attributes
    that changed (so a replay leaves the others as it finds them), a deletion a DELETE.
    """
    out: list[dict[str, Any]] = []
    for c in ordered(changes):
        dn = DN.parse(c.dn)
        path = "/" + dn.uri
        if c.kind is ChangeKind.CREATED:
            body = {"id": dn.id, "objectClass": c.cls, "attributes": c.after or {}}
            out.append({"method": "PUT", "path": path, "contentType": "application/json", "body": body})
        elif c.kind is ChangeKind.MODIFIED:
            out.append({"method": "PATCH", "path": path, "contentType": JSON_PATCH, "body": attribute_ops(c)})
        else:
            out.append({"method": "DELETE", "path": path})
    return out


def as_patch(changes: Sequence[Change], *, base: str | None = None) -> list[dict[str, Any]]:
    """The change set as 3GPP JSON patch operations in dependency order.

    Paths are relative to ``base`` when given (every change must lie in its subtree), else
    absolute.
    """
    base_dn = DN.parse(base) if base else None
    out: list[dict[str, Any]] = []
    for c in ordered(changes):
        dn = DN.parse(c.dn)
        if base_dn is None:
            path = "/" + dn.uri
        elif dn == base_dn or dn.is_descendant_of(base_dn):
            path = "/" + dn.relative_to(base_dn)
        else:
            raise BadRequest(f"{dn} is changed but lies outside base {base_dn}", dn=str(dn))
        if c.kind is ChangeKind.CREATED:
            out.append({"op": "add", "path": path, "value": {"id": dn.id, "attributes": c.after or {}}})
        elif c.kind is ChangeKind.DELETED:
            out.append({"op": "remove", "path": path})
        else:
            out.extend({**op, "path": path + "#" + op["path"]} for op in attribute_ops(c))
    return out


def render(changes: Sequence[Change], *, form: str, base: str | None = None) -> dict[str, Any]:
    """The change set in one of ``FORMS``: ``operations`` (requests, patch) or ``changes`` (diff)."""
    if form == "requests":
        return {"form": form, "operations": as_requests(changes)}
    if form == "patch":
        return {"form": form, "base": canonical(base) if base else "", "operations": as_patch(changes, base=base)}
    if form == "diff":
        return {"form": form, "changes": [c.as_dict() for c in changes]}
    raise BadRequest(f"form {form!r} is not one of {', '.join(FORMS)}")


def parse_base(value: Any) -> AsOf:
    """A sandbox's base from a create request: a revision number, an RFC 3339 time, or None (now)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(f"base {value!r} is neither a revision number nor an RFC 3339 time")
    if isinstance(value, int):
        if value < 0:
            raise BadRequest(f"base {value} is not a revision number (they start at 0)")
        return value
    if value.isascii() and value.isdigit():
        raise BadRequest(f"base {value!r}: a revision number is sent as a JSON number, a time as a string")
    return parse_as_of(value)


def sandbox_json(sandbox: Branch, changes: int) -> dict[str, Any]:
    """A sandbox as JSON, with the number of objects its change set touches."""
    return {
        "id": sandbox.id,
        "name": sandbox.name,
        "baseRevision": sandbox.base_rev,
        "headRevision": sandbox.head_rev,
        "created": sandbox.created.isoformat(),
        "author": sandbox.author,
        "changes": changes,
    }

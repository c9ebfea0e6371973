"""Provisioning MnS service: TS 28.532 read and write semantics over the twin store.

No HTTP here: the router parses requests and calls these functions with keyword arguments.
The four PATCH media types of TS 28.532 are turned into store operations from the desired
final state of every object they touch, so each PATCH is one atomic revision whatever it
touches. Objects read to compute a patch are guarded by their ETag in the commit: a
concurrent change between the read and the write is retried, never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import json_merge_patch
import jsonpatch
import jsonpointer
import orjson

from mns.errors import AlreadyExists, BadRequest, Conflict, NotFound, PreconditionFailed
from mns.nrm.dn import DN, key_depth, key_to_dn, to_key
from mns.nrm.filter import Filter
from mns.store.api import LIVE, AsOf, CommitJob, CommitResult, Create, Delete, Moi, Op, Put, Scope, Store, TxnView

MERGE_PATCH = "application/merge-patch+json"
GPP_MERGE_PATCH = "application/3gpp-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
GPP_JSON_PATCH = "application/3gpp-json-patch+json"
PATCH_TYPES = (MERGE_PATCH, GPP_MERGE_PATCH, JSON_PATCH, GPP_JSON_PATCH)


def canonical(dn: str) -> str:
    """Canonical comma form of a DN (cheap for the common, unescaped case)."""
    return key_to_dn(to_key(dn))


def parse_scope(scope_type: str | None, scope_level: str | None) -> tuple[Scope, int]:
    """Scope and level from the ``scopeType`` / ``scopeLevel`` query parameters."""
    try:
        scope = Scope(scope_type) if scope_type is not None else Scope.BASE_ONLY
    except ValueError:
        allowed = ", ".join(s.value for s in Scope)
        raise BadRequest(f"scopeType {scope_type!r} is not one of {allowed}") from None
    level = 0
    if scope_level is not None:
        if not (scope_level.isascii() and scope_level.isdigit()):
            raise BadRequest(f"scopeLevel {scope_level!r} is not a non-negative integer")
        level = min(int(scope_level), 64)  # a DN has at most 64 RDNs; this keeps SQL integers small
    if scope is Scope.BASE_NTH_LEVEL and scope_level is None:
        raise BadRequest("scopeType BASE_NTH_LEVEL needs scopeLevel")
    if scope is Scope.BASE_SUBTREE and scope_level is None:
        scope = Scope.BASE_ALL
    return scope, level


def parse_as_of(value: str | None) -> AsOf:
    """The ``asOf`` twin extension: a revision number or an RFC 3339 time."""
    if value is None:
        return None
    if value.isascii() and value.isdigit():
        return int(value)
    from datetime import datetime

    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequest(f"asOf {value!r} is neither a revision number nor an RFC 3339 time") from None
    if when.tzinfo is None:
        raise BadRequest(f"asOf {value!r} has no time zone (RFC 3339 needs one, e.g. Z)")
    return when


def read(
    *,
    store: Store,
    dn: str,
    scope: Scope,
    level: int,
    filter_: Filter | None,
    rev: int,
    branch: int = LIVE,
) -> Iterator[tuple[Moi, bool]]:
    """The scoped objects with whether each matches the filter; NotFound before the first item.

    The base object always comes first: when the scope leaves it out (BASE_NTH_LEVEL), it
    comes as not matched, to frame a hierarchical response.
    """
    lo, hi = scope.levels(level)
    if lo > 0:
        # BASE_NTH_LEVEL: read from the base down, so that the objects between the base and
        # the nth level frame the tree; only the nth level is selected.
        assert hi is not None
        framed = store.read(dn, scope=Scope.BASE_SUBTREE, level=hi, branch=branch, as_of=rev)
        base = next(framed)  # raises NotFound now, before any response is started
        return _at_depth(base, framed, base.depth + lo, filter_)
    objects = store.read(dn, scope=scope, level=level, branch=branch, as_of=rev)
    first = next(objects)  # raises NotFound now, before any response is started
    return _matched(first, objects, filter_)


def _at_depth(base: Moi, rest: Iterator[Moi], depth: int, filter_: Filter | None) -> Iterator[tuple[Moi, bool]]:
    yield base, False
    for moi in rest:
        selected = moi.depth == depth
        yield moi, selected and (filter_ is None or filter_.matches(moi.cls, _leaf_id(moi.dn), moi.attrs))


def _matched(first: Moi, rest: Iterator[Moi], filter_: Filter | None) -> Iterator[tuple[Moi, bool]]:
    if filter_ is None:
        yield first, True
        for moi in rest:
            yield moi, True
        return
    yield first, filter_.matches(first.cls, _leaf_id(first.dn), first.attrs)
    for moi in rest:
        yield moi, filter_.matches(moi.cls, _leaf_id(moi.dn), moi.attrs)


def _leaf_id(dn: str) -> str:
    return DN.parse(dn).id if "\\" in dn else dn[dn.rindex("=") + 1 :]


# -- writes ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Plan:
    """The desired final state of every object a patch touches, with what it read."""

    view: TxnView
    original: dict[str, Moi | None] = field(default_factory=dict)
    final: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)

    def load(self, dn: str) -> dict[str, Any] | None:
        """The object's attributes as the patch sees them so far (None when absent)."""
        key = canonical(dn)
        if key not in self.original:
            moi = self.view.get(key)
            self.original[key] = moi
            # A private copy, parsed afresh from the stored text: the patch may mutate it.
            self.final[key] = orjson.loads(moi.attrs_json) if moi else None
        return self.final[key]

    def set(self, dn: str, attrs: dict[str, Any] | None) -> None:
        """Record the object's final attributes (None deletes it)."""
        key = canonical(dn)
        self.load(key)
        self.final[key] = attrs

    def delete_subtree(self, dn: str) -> None:
        """Delete the object and everything below it."""
        key = canonical(dn)
        if self.load(key) is None:
            raise NotFound(f"{key} does not exist", dn=key)
        for moi in self.view.subtree(key):
            self.set(moi.dn, None)

    def ops(self) -> list[Op]:
        """Store operations reaching the final state, guarded by what was read."""
        creates: list[Op] = []
        updates: list[Op] = []
        deletes: list[tuple[int, Op]] = []
        for key, attrs in self.final.items():
            before = self.original[key]
            if before is None and attrs is not None:
                creates.append(Create(key, attrs))
            elif before is not None and attrs is None:
                deletes.append((key_depth(to_key(key)), Delete(key, subtree=True, if_match=before.etag)))
            elif before is not None and attrs is not None:
                updates.append(Put(key, attrs, if_match=before.etag))  # unchanged ones make no revision
        creates.sort(key=lambda op: key_depth(to_key(op.dn)))
        # Children first; a subtree delete of a parent already removed them, so only the
        # topmost deleted objects are sent.
        deleted = {op.dn for _, op in deletes}
        top = [op for _, op in sorted(deletes, key=lambda d: d[0]) if str(DN.parse(op.dn).parent) not in deleted]
        return [*creates, *updates, *top]


_BUILDERS: dict[str, Callable[[_Plan, DN, Any], None]] = {}


def plan_patch(view: TxnView, *, dn: str, media_type: str, body: Any, if_match: str | None) -> list[Op]:
    """The store operations of a PATCH, planned inside the write transaction; raises domain errors.

    Planned there, a PATCH sees every write committed before it, including those of the same
    group commit, so concurrent patches of one object apply one after the other.
    """
    plan = _Plan(view)
    base = plan.load(dn)
    if if_match is not None:
        moi = plan.original[canonical(dn)]
        tags = {t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")}
        if moi is None or not (tags & {moi.etag, "*"}):
            raise PreconditionFailed(
                f"{dn}: If-Match {if_match} does not match the current ETag {moi.etag if moi else '(absent)'}",
                dn=dn,
                current=moi.etag if moi else None,
            )
    if base is None and media_type in (MERGE_PATCH, JSON_PATCH):
        raise NotFound(f"{DN.parse(dn)} does not exist", dn=dn)
    _BUILDERS[media_type](plan, DN.parse(dn), body)
    return plan.ops()


def patch_job(
    *,
    dn: str,
    media_type: str,
    body: Any,
    if_match: str | None,
    branch: int = LIVE,
    source: str = "oss",
    author: str = "",
) -> CommitJob:
    """A PATCH of one of the four TS 28.532 media types as a commit job (one revision)."""
    return CommitJob(
        partial(plan_patch, dn=dn, media_type=media_type, body=body, if_match=if_match),
        source=source,
        author=author,
        message=f"PATCH {media_type}",
        branch=branch,
    )


def patch(
    *,
    store: Store,
    dn: str,
    media_type: str,
    body: Any,
    if_match: str | None,
    branch: int = LIVE,
    source: str = "oss",
    author: str = "",
) -> CommitResult:
    """Apply a PATCH of one of the four TS 28.532 media types as one revision."""
    job = patch_job(
        dn=dn, media_type=media_type, body=body, if_match=if_match, branch=branch, source=source, author=author
    )
    return store.commit_job(job)


def _attributes_of(body: Any, dn: DN) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        raise BadRequest(f"{dn}: the patch document must be a JSON object (a Resource)", dn=str(dn))
    if "id" in body and str(body["id"]) != dn.id:
        raise BadRequest(f"{dn}: patch id {body['id']!r} differs from the target's id {dn.id!r}", dn=str(dn))
    attrs = body.get("attributes", {})
    if attrs is None or attrs == "null":
        return None
    if not isinstance(attrs, dict):
        raise BadRequest(f"{dn}: attributes must be a JSON object or null", dn=str(dn))
    return attrs


def _merge_patch(plan: _Plan, dn: DN, body: Any) -> None:
    """RFC 7396 on the target resource only."""
    children = (
        [k for k in body if k not in ("id", "objectClass", "objectInstance", "attributes")]
        if isinstance(body, dict)
        else []
    )
    if children:
        raise BadRequest(
            f"{dn}: application/merge-patch+json patches one resource; use application/3gpp-merge-patch+json "
            f"for descendants ({', '.join(sorted(children))})",
            dn=str(dn),
        )
    attrs = _attributes_of(body, dn)
    if attrs is None:
        raise BadRequest(f"{dn}: attributes null deletes; use DELETE or a 3GPP merge patch", dn=str(dn))
    current = plan.load(str(dn)) or {}
    plan.set(str(dn), json_merge_patch.merge(current, attrs))


def _gpp_merge_patch(plan: _Plan, dn: DN, body: Any) -> None:
    """TS 32.158 3GPP JSON Merge Patch: a resource tree; ``attributes: null`` deletes."""
    attrs = _attributes_of(body, dn)
    if attrs is None:
        plan.delete_subtree(str(dn))
        return
    current = plan.load(str(dn))
    merged = json_merge_patch.merge(current if current is not None else {}, attrs)
    plan.set(str(dn), merged)
    for key, value in body.items():
        if key in ("id", "objectClass", "objectInstance", "attributes"):
            continue
        if not isinstance(value, list):
            raise BadRequest(f"{dn}: {key} must be a list of child resources", dn=str(dn))
        for child in value:
            if not isinstance(child, dict) or "id" not in child:
                raise BadRequest(f"{dn}: every {key} item needs an id", dn=str(dn))
            _gpp_merge_patch(plan, dn.child(key, str(child["id"])), child)


def _json_patch(plan: _Plan, dn: DN, body: Any) -> None:
    """RFC 6902 on the target resource's representation (``/attributes/...``)."""
    doc = {"id": dn.id, "attributes": plan.load(str(dn)) or {}}
    new = _apply_json_patch(doc, body, dn)
    if new.get("id") != dn.id or set(new) - {"id", "attributes"}:
        raise BadRequest(f"{dn}: a JSON patch may change attributes only", dn=str(dn))
    if not isinstance(new.get("attributes"), dict):
        raise BadRequest(f"{dn}: attributes must stay a JSON object", dn=str(dn))
    plan.set(str(dn), new["attributes"])


def _apply_json_patch(doc: dict[str, Any], ops: Any, dn: DN) -> dict[str, Any]:
    if not isinstance(ops, list):
        raise BadRequest(f"{dn}: a JSON patch is a list of operations", dn=str(dn))
    try:
        result: dict[str, Any] = jsonpatch.apply_patch(doc, ops)
        return result
    except jsonpatch.JsonPatchTestFailed as exc:
        raise Conflict(f"{dn}: test operation failed: {exc}", dn=str(dn)) from None
    except (
        jsonpatch.JsonPatchException,
        jsonpointer.JsonPointerException,
        TypeError,
        KeyError,
        ValueError,
    ) as exc:
        raise BadRequest(f"{dn}: invalid JSON patch: {exc}", dn=str(dn)) from None


def _gpp_json_patch(plan: _Plan, dn: DN, body: Any) -> None:
    """TS 32.158 3GPP JSON Patch: ``path`` is ``/<relative DN>[#<JSON pointer>]``."""
    if not isinstance(body, list):
        raise BadRequest(f"{dn}: a 3GPP JSON patch is a list of operations", dn=str(dn))
    for i, item in enumerate(body):
        if not isinstance(item, dict) or "op" not in item or "path" not in item:
            raise BadRequest(f"{dn}: patch item {i} needs op and path", dn=str(dn))
        op, path = item["op"], item["path"]
        if not isinstance(path, str):
            raise BadRequest(f"{dn}: patch item {i} path must be a string", dn=str(dn))
        rel, _, pointer = path.partition("#")
        target = _relative(dn, rel, i)
        if not pointer:
            _object_op(plan, target, op, item, i)
            continue
        current = plan.load(str(target))
        if current is None:
            raise NotFound(f"{target} does not exist (patch item {i})", dn=str(target))
        doc = {"id": target.id, "attributes": current}
        new = _apply_json_patch(doc, [{**item, "path": pointer}], target)
        if new.get("id") != target.id or not isinstance(new.get("attributes"), dict):
            raise BadRequest(f"{target}: patch item {i} may change attributes only", dn=str(target))
        plan.set(str(target), new["attributes"])


def _relative(base: DN, rel: str, i: int) -> DN:
    rel = rel.strip()
    if rel in ("", "/"):
        return base
    parsed = DN.parse(rel.lstrip("/"))
    return DN((*base.rdns, *parsed.rdns))


def _object_op(plan: _Plan, target: DN, op: Any, item: Mapping[str, Any], i: int) -> None:
    if op == "remove":
        plan.delete_subtree(str(target))
    elif op in ("add", "replace"):
        value = item.get("value")
        if not isinstance(value, dict):
            raise BadRequest(f"{target}: patch item {i} value must be a Resource", dn=str(target))
        attrs = _attributes_of(value, target)
        exists = plan.load(str(target)) is not None
        if op == "add" and exists:
            raise AlreadyExists(f"{target} already exists (patch item {i})", dn=str(target))
        if op == "replace" and not exists:
            raise NotFound(f"{target} does not exist (patch item {i})", dn=str(target))
        plan.set(str(target), attrs or {})
    else:
        raise BadRequest(
            f"{target}: patch item {i}: op {op!r} on a whole object is not supported (add, replace, remove)",
            dn=str(target),
        )


_BUILDERS.update(
    {
        MERGE_PATCH: _merge_patch,
        GPP_MERGE_PATCH: _gpp_merge_patch,
        JSON_PATCH: _json_patch,
        GPP_JSON_PATCH: _gpp_json_patch,
    }
)

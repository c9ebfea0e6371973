"""Domain errors of twin-mns. Each names the object and the rule that failed.

Services and the store raise these; one module of the producers maps them to TS 28.623
``ErrorResponse`` bodies with the HTTP status given by ``status``::

    MnsError
    ├── MalformedDN           400  a DN that does not parse
    ├── BadRequest            400  a request that makes no sense (bad scope, bad patch...)
    ├── InvalidObject         400  an object that breaks its class's rules (carries findings)
    ├── NotFound              404  no such object (or revision, or branch)
    │   └── ParentMissing     404  a create under an object that does not exist
    ├── Conflict              409
    │   ├── AlreadyExists     409  a create of an object that exists
    │   ├── HasChildren       409  a delete of an object with children, without subtree delete
    │   └── MergeConflict     409  a sandbox whose base moved on under the same objects
    ├── PreconditionFailed    412  If-Match (or an expected revision) does not hold
    ├── UnsupportedMediaType  415
    └── RuleViolation         422  a verification rule blocks the change
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class MnsError(Exception):
    """Base of every domain error; ``status`` is the HTTP status it maps to."""

    status = 500
    rule = "internal"

    def __init__(self, message: str, *, dn: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.dn = dn

    def __str__(self) -> str:
        return self.message


class BadRequest(MnsError):
    """The request is malformed or asks for something unsupported."""

    status = 400
    rule = "bad-request"


class MalformedDN(BadRequest):
    """A DN that does not parse."""

    rule = "dn-syntax"

    def __init__(self, text: str, why: str) -> None:
        super().__init__(f"malformed DN {text!r}: {why}", dn=text)


class InvalidObject(BadRequest):
    """An object that breaks the rules of its class; ``findings`` lists every broken rule."""

    rule = "invalid-object"

    def __init__(self, dn: str, findings: Sequence[Any]) -> None:
        self.findings = list(findings)
        detail = "; ".join(str(f) for f in self.findings) or "invalid"
        super().__init__(f"{dn}: {detail}", dn=dn)


class NotFound(MnsError):
    """No such object, revision or branch."""

    status = 404
    rule = "not-found"


class ParentMissing(NotFound):
    """A create under a parent that does not exist."""

    rule = "parent-exists"


class Conflict(MnsError):
    """The request conflicts with the current state."""

    status = 409
    rule = "conflict"


class AlreadyExists(Conflict):
    """A create of an object that already exists."""

    rule = "unique-dn"


class HasChildren(Conflict):
    """A delete of an object that has children, without asking for the subtree."""

    rule = "no-children"


class MergeConflict(Conflict):
    """A sandbox change set touches objects that changed on the live twin since its base."""

    rule = "base-unchanged"

    def __init__(self, message: str, *, dns: Sequence[str]) -> None:
        super().__init__(message, dn=dns[0] if dns else None)
        self.dns = list(dns)


class PreconditionFailed(MnsError):
    """If-Match did not hold; ``current`` is the object's current ETag (revision)."""

    status = 412
    rule = "if-match"

    def __init__(self, message: str, *, dn: str | None = None, current: str | None = None):
        super().__init__(message, dn=dn)
        self.current = current


class UnsupportedMediaType(MnsError):
    """A request body of a media type the operation does not take."""

    status = 415
    rule = "media-type"


class RuleViolation(MnsError):
    """A verification rule blocks the change."""

    status = 422
    rule = "rule-violation"

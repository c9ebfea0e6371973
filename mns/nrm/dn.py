"""Distinguished names (TS 32.300): parsing, formatting and tree relations.

A DN is a sequence of RDNs ``Class=id`` from the root down. Two textual forms exist:
the comma form used inside 3GPP data (``SubNetwork=1,ManagedElement=1``) and the URI form
of ProvMnS paths (``SubNetwork=1/ManagedElement=1``). Ids may hold special characters; they
are escaped with a backslash (``\\,`` ``\\=`` ``\\/`` ``\\\\``...), the same in both forms.

The store keys objects by the DN with a low separator (see ``to_key``), so that a subtree is
one contiguous key range in depth-first order and a subtree read is one range scan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from mns.errors import MalformedDN

# Characters an id must escape: the two separators, '=', the escape itself, and the ones
# RFC 4514 and TS 32.300 reserve.
_SPECIAL: Final = frozenset(',=/\\+"<>;')
_CLASS_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
RESERVED: Final = frozenset({"id", "objectClass", "objectInstance", "attributes"})
"""Names a class cannot take: a resource representation uses them as its own keys (TS 32.158)."""
_MAX_RDNS: Final = 64


def escape_id(value: str) -> str:
    """Escape the characters of an RDN value that DN syntax reserves."""
    if not any(c in _SPECIAL for c in value):
        return value
    return "".join("\\" + c if c in _SPECIAL else c for c in value)


def _split(text: str, sep: str) -> list[str]:
    """Split on unescaped ``sep``; escapes are kept for the second pass."""
    parts: list[str] = []
    buf: list[str] = []
    it = iter(text)
    for c in it:
        if c == "\\":
            nxt = next(it, None)
            if nxt is None:
                raise MalformedDN(text, "ends in a lone escape character '\\'")
            buf.append(c)
            buf.append(nxt)
        elif c == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(c)
    parts.append("".join(buf))
    return parts


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    out: list[str] = []
    it = iter(value)
    for c in it:
        out.append(next(it) if c == "\\" else c)
    return "".join(out)


def _parse_rdn(text: str, part: str) -> tuple[str, str]:
    # The class name never holds escapes, so the first unescaped '=' ends it.
    eq = part.find("=")
    if eq <= 0:
        raise MalformedDN(text, f"RDN {part!r} is not of the form Class=id")
    cls, raw = part[:eq].strip(), part[eq + 1 :]
    if not _CLASS_RE.match(cls):
        raise MalformedDN(text, f"{cls!r} is not a valid class name")
    if cls in RESERVED:
        raise MalformedDN(text, f"{cls!r} is a key of the resource representation, not a class name")
    if raw == "":
        raise MalformedDN(text, f"RDN {part!r} has an empty id")
    if any(c < " " for c in raw):
        raise MalformedDN(text, f"id in RDN {part!r} holds a control character")
    # An unescaped '=' in the id is ambiguous; TS 32.300 asks for it to be escaped.
    if "=" in raw.replace("\\=", ""):
        raise MalformedDN(text, f"id in RDN {part!r} holds an unescaped '='")
    return cls, _unescape(raw)


@dataclass(frozen=True, slots=True)
class DN:
    """A parsed distinguished name: a tuple of (class, id) pairs from the root down."""

    rdns: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> DN:
        """Parse the comma form or, when it has unescaped '/' and no ',', the URI form."""
        if not isinstance(text, str) or not text.strip():
            raise MalformedDN(str(text), "is empty")
        text = text.strip()
        if "\\" not in text:
            # Fast path: no escapes, the common case for every generated or mirrored DN.
            sep = "," if "," in text or "/" not in text else "/"
            if sep == "," and "/" in text:
                raise MalformedDN(text, "mixes ',' and '/' separators")
            parts = text.strip(sep).split(sep) if sep == "/" else text.split(sep)
        else:
            parts = _split(text, ",")
            if len(parts) == 1:
                parts = _split(text.strip("/"), "/")
        if len(parts) > _MAX_RDNS:
            raise MalformedDN(text, f"has more than {_MAX_RDNS} RDNs")
        return cls(tuple(_parse_rdn(text, p) for p in parts))

    @classmethod
    def of(cls, *rdns: tuple[str, str]) -> DN:
        """Build a DN from (class, id) pairs."""
        return cls(tuple(rdns))

    def __str__(self) -> str:
        return ",".join(f"{c}={escape_id(i)}" for c, i in self.rdns)

    @property
    def key(self) -> str:
        """The store key (see ``to_key``)."""
        return SEP.join(f"{c}={escape_id(i)}" for c, i in self.rdns)

    @property
    def uri(self) -> str:
        """The URI (ProvMnS path) form: RDNs separated by '/'."""
        return "/".join(f"{c}={escape_id(i)}" for c, i in self.rdns)

    @property
    def depth(self) -> int:
        """Number of RDNs."""
        return len(self.rdns)

    @property
    def cls(self) -> str:
        """Class of the leaf RDN."""
        return self.rdns[-1][0]

    @property
    def id(self) -> str:
        """Id of the leaf RDN."""
        return self.rdns[-1][1]

    @property
    def rdn(self) -> str:
        """The leaf RDN as text, e.g. ``NRCellDU=1``."""
        c, i = self.rdns[-1]
        return f"{c}={escape_id(i)}"

    @property
    def parent(self) -> DN | None:
        """The containing object's DN, or None for a root object."""
        return DN(self.rdns[:-1]) if len(self.rdns) > 1 else None

    def child(self, cls: str, id_: str) -> DN:
        """The DN of a child of this object."""
        return DN((*self.rdns, (cls, id_)))

    def is_descendant_of(self, other: DN) -> bool:
        """True when ``other`` is a proper ancestor of this DN."""
        n = len(other.rdns)
        return len(self.rdns) > n and self.rdns[:n] == other.rdns

    def relative_to(self, ancestor: DN) -> str:
        """This DN below ``ancestor`` in URI form ('' for the ancestor itself)."""
        if self != ancestor and not self.is_descendant_of(ancestor):
            raise ValueError(f"{self} is not below {ancestor}")
        return DN(self.rdns[len(ancestor.rdns) :]).uri


# -- store keys -----------------------------------------------------------------------------
#
# The store keys an object by its DN with the RDN separator replaced by SEP, a character that
# sorts below every character an id may hold. Keys then sort in depth-first pre-order (a
# parent, then its whole subtree, then the next sibling) whatever the ids contain, and the
# subtree of ``k`` is exactly the key range [k + SEP, k + SEP_NEXT).

SEP: Final = "\x01"
SEP_NEXT: Final = "\x02"

_RDN: Final = r'(?!(?:id|objectClass|objectInstance|attributes)=)[A-Za-z_][A-Za-z0-9_.\-]*=[^,=/\\+"<>;\x00-\x1f]+'
_PLAIN_DN: Final = re.compile(_RDN + r"(?:," + _RDN + r")*\Z")


_PLAIN_URI: Final = re.compile(r"/?" + _RDN + r"(?:/" + _RDN + r")*/?\Z")


def to_key(text: str) -> str:
    """Store key of a DN in either textual form; raises MalformedDN."""
    if _PLAIN_DN.match(text):
        return text.replace(",", SEP)
    if _PLAIN_URI.match(text):
        return text.strip("/").replace("/", SEP)
    return DN.parse(text).key


def key_to_dn(key: str) -> str:
    """The canonical comma form of a store key."""
    return key.replace(SEP, ",")


def subtree_bounds(key: str) -> tuple[str, str]:
    """Key range [lo, hi) holding exactly the descendants of ``key``."""
    return key + SEP, key + SEP_NEXT


def key_depth(key: str) -> int:
    """Depth of a store key."""
    return key.count(SEP) + 1


def parent_key(key: str) -> str | None:
    """Store key of the parent, or None at the root."""
    i = key.rfind(SEP)
    return key[:i] if i > 0 else None


def key_class(key: str) -> str:
    """Class of the leaf RDN of a store key."""
    start = key.rfind(SEP) + 1
    return key[start : key.index("=", start)]


def canonical(text: str) -> str:
    """Canonical comma form of a DN in either form; raises MalformedDN."""
    return str(DN.parse(text))

"""Distinguished names: both textual forms, escaping, tree relations, store keys."""

from __future__ import annotations

import pytest

from mns.errors import MalformedDN
from mns.nrm.dn import (
    DN,
    SEP,
    canonical,
    escape_id,
    key_class,
    key_depth,
    key_to_dn,
    parent_key,
    subtree_bounds,
    to_key,
)


def test_both_forms_parse_to_the_same_dn() -> None:
    comma = DN.parse("SubNetwork=1,ManagedElement=me-1,GNBDUFunction=1")
    uri = DN.parse("SubNetwork=1/ManagedElement=me-1/GNBDUFunction=1")
    assert comma == uri
    assert comma.rdns == (("SubNetwork", "1"), ("ManagedElement", "me-1"), ("GNBDUFunction", "1"))
    assert str(uri) == "SubNetwork=1,ManagedElement=me-1,GNBDUFunction=1"
    assert comma.uri == "SubNetwork=1/ManagedElement=me-1/GNBDUFunction=1"
    assert DN.parse("/SubNetwork=1/").rdns == (("SubNetwork", "1"),)


def test_tree_relations() -> None:
    dn = DN.parse("SubNetwork=1,ManagedElement=2,NRCellDU=3")
    assert (dn.cls, dn.id, dn.rdn, dn.depth) == ("NRCellDU", "3", "NRCellDU=3", 3)
    assert str(dn.parent) == "SubNetwork=1,ManagedElement=2"
    assert DN.parse("SubNetwork=1").parent is None
    assert dn.is_descendant_of(DN.parse("SubNetwork=1"))
    assert not dn.is_descendant_of(dn)
    assert not DN.parse("SubNetwork=10,ManagedElement=2").is_descendant_of(DN.parse("SubNetwork=1"))
    assert dn.relative_to(DN.parse("SubNetwork=1")) == "ManagedElement=2/NRCellDU=3"
    assert str(DN.parse("SubNetwork=1").child("ManagedElement", "a,b")) == "SubNetwork=1,ManagedElement=a\\,b"
    with pytest.raises(ValueError, match="not below"):
        dn.relative_to(DN.parse("SubNetwork=9"))


@pytest.mark.parametrize("value", ["a,b", "x=y", "p/q", "back\\slash", 'q"uote', "plus+semi;<>", "plain id"])
def test_escaped_ids_round_trip(value: str) -> None:
    dn = DN.of(("SubNetwork", "1"), ("ManagedElement", value))
    assert DN.parse(str(dn)) == dn
    assert DN.parse(dn.uri) == dn
    assert key_to_dn(to_key(str(dn))) == str(dn)
    assert to_key(dn.uri) == to_key(str(dn)) == dn.key
    assert escape_id(value) != value or value == "plain id"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("SubNetwork", "Class=id"),
        ("SubNetwork=", "empty id"),
        ("=1", "Class=id"),
        ("Sub Network=1", "valid class name"),
        ("SubNetwork=1,,ManagedElement=1", "Class=id"),
        ("SubNetwork=1,ManagedElement=1/GNBDUFunction=1", "mixes"),
        ("SubNetwork=a=b", "unescaped '='"),
        ("SubNetwork=x\\", "lone escape"),
        ("SubNetwork=a\x01b", "control character"),
        ("SubNetwork=1,attributes=1", "not a class name"),
        ("SubNetwork=1/objectInstance=1", "not a class name"),
        (",".join(["A=1"] * 65), "more than 64"),
    ],
)
def test_malformed_dns_are_named(text: str, why: str) -> None:
    with pytest.raises(MalformedDN, match=why) as info:
        DN.parse(text)
    assert info.value.status == 400
    assert info.value.rule == "dn-syntax"


def test_store_keys_sort_depth_first() -> None:
    dns = [
        "SubNetwork=1",
        "SubNetwork=1,ManagedElement=1",
        "SubNetwork=1,ManagedElement=1,GNBDUFunction=1",
        "SubNetwork=1,ManagedElement=1 b",
        "SubNetwork=1,ManagedElement=1!",
        "SubNetwork=1,ManagedElement=10",
        "SubNetwork=1,ManagedElement=a\\,b",
    ]
    keys = sorted(to_key(d) for d in dns)
    # Every object is followed by its whole subtree before any other key.
    me1 = to_key("SubNetwork=1,ManagedElement=1")
    i = keys.index(me1)
    assert keys[i + 1] == to_key("SubNetwork=1,ManagedElement=1,GNBDUFunction=1")
    lo, hi = subtree_bounds(me1)
    assert [key_to_dn(k) for k in keys if lo <= k < hi] == ["SubNetwork=1,ManagedElement=1,GNBDUFunction=1"]
    key = to_key("SubNetwork=1,ManagedElement=a\\,b,NRCellDU=2")
    assert key_depth(key) == 3
    assert key_class(key) == "NRCellDU"
    assert parent_key(key) == to_key("SubNetwork=1,ManagedElement=a\\,b")
    assert parent_key(to_key("SubNetwork=1")) is None
    assert SEP not in key_to_dn(key)
    assert canonical("SubNetwork=1/ManagedElement=2") == "SubNetwork=1,ManagedElement=2"

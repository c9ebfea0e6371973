"""Resource representations: the streamed trees agree with each other and with the data."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from mns.errors import BadRequest
from mns.nrm.resource import (
    Selection,
    attrs_renderer,
    flat,
    hierarchical,
    hierarchical_all,
    parse_resource,
    single,
)
from mns.store.api import Moi

OBJECTS = [
    ("SubNetwork=A", "SubNetwork", {"userLabel": "root"}),
    ("SubNetwork=A,ManagedElement=1", "ManagedElement", {"vendorName": "x"}),
    ("SubNetwork=A,ManagedElement=1,GNBDUFunction=1", "GNBDUFunction", {"gNBId": 1}),
    ("SubNetwork=A,ManagedElement=1,GNBDUFunction=1,BWP=1", "BWP", {}),
    ("SubNetwork=A,ManagedElement=1,GNBDUFunction=1,NRCellDU=1", "NRCellDU", {"nRPCI": 1}),
    ("SubNetwork=A,ManagedElement=1,GNBDUFunction=1,NRCellDU=2", "NRCellDU", {"nRPCI": 2}),
    ('SubNetwork=A,ManagedElement=q\\"uote\\,d', "ManagedElement", {"vendorName": "y"}),
    ("SubNetwork=A,ManagedElement=2 b", "ManagedElement", {}),
]


def mois() -> list[Moi]:
    return [Moi(dn, cls, 1, orjson.dumps(attrs).decode()) for dn, cls, attrs in OBJECTS]


def render(chunks: Any) -> Any:
    return orjson.loads(b"".join(chunks))


def test_tree_nests_children_by_class() -> None:
    tree = render(hierarchical_all((m.dn, m.cls, str(m.attrs_json), m.rev) for m in mois()))
    assert tree["id"] == "A"
    assert [m["id"] for m in tree["ManagedElement"]] == ["1", 'q"uote,d', "2 b"]
    du = tree["ManagedElement"][0]["GNBDUFunction"][0]
    assert [b["id"] for b in du["BWP"]] == ["1"]
    assert [c["attributes"]["nRPCI"] for c in du["NRCellDU"]] == [1, 2]
    assert tree["ManagedElement"][1]["objectInstance"] == 'SubNetwork=A,ManagedElement=q\\"uote\\,d'


def test_fast_and_general_trees_agree() -> None:
    raw = attrs_renderer(Selection(), None)
    general = render(hierarchical(((m, True) for m in mois()), raw, str))
    assert general == render(hierarchical_all((m.dn, m.cls, str(m.attrs_json), m.rev) for m in mois()))


def test_filtered_tree_frames_matches_with_their_ancestors() -> None:
    raw = attrs_renderer(Selection(), None)
    only_cell_2 = ((m, m.dn.endswith("NRCellDU=2")) for m in mois())
    tree = render(hierarchical(only_cell_2, raw, str))
    assert "attributes" not in tree
    me = tree["ManagedElement"]
    assert [m["id"] for m in me] == ["1"]
    du = me[0]["GNBDUFunction"][0]
    assert "attributes" not in du
    assert "BWP" not in du
    assert du["NRCellDU"] == [
        {
            "id": "2",
            "objectClass": "NRCellDU",
            "objectInstance": "SubNetwork=A,ManagedElement=1,GNBDUFunction=1,NRCellDU=2",
            "attributes": {"nRPCI": 2},
        }
    ]


def test_flat_lists_matches_only() -> None:
    raw = attrs_renderer(Selection(), None)
    items = render(flat(((m, m.cls == "ManagedElement") for m in mois()), raw, str))
    assert [i["objectInstance"] for i in items] == [dn for dn, cls, _ in OBJECTS if cls == "ManagedElement"]
    assert render(flat(iter([]), raw, str)) == []


def test_selection_of_attributes_and_fields() -> None:
    moi = Moi("A=1", "X", 1, orjson.dumps({"a": 1, "b": {"c": 2, "d": 3}, "l": [{"m": 1, "n": 2}]}).decode())
    sel = Selection.parse("a", "attributes/b/c,l/n")
    out = orjson.loads(single(moi, attrs_renderer(sel, None), str))
    assert out["attributes"] == {"a": 1, "b": {"c": 2}, "l": [{"n": 2}]}
    with pytest.raises(BadRequest):
        Selection.parse(",", None)
    with pytest.raises(BadRequest):
        Selection.parse(None, "attributes")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "JSON object"),
        ({"id": "2"}, "differs"),
        ({"objectClass": "Other"}, "objectClass"),
        ({"attributes": []}, "attributes"),
        ({"NRCellDU": []}, "PUT takes one resource"),
    ],
)
def test_parse_resource_rejects(body: Any, words: str) -> None:
    with pytest.raises(BadRequest, match=words):
        parse_resource(body, cls="NRCellDU", id_="1", dn="A=1,NRCellDU=1")

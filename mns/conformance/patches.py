"""The conformance scenario's PATCH phase: the four PATCH media types, each read back.

Split from ``mns.conformance.scenario`` (it is that class's ``patches`` step); it records its
rows through the scenario and keeps the scenario's expected state up to date.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from mns.nrm.dn import DN

if TYPE_CHECKING:
    from mns.conformance.scenario import Scenario

MERGE_PATCH: Final = "application/merge-patch+json"
GPP_MERGE_PATCH: Final = "application/3gpp-merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"
GPP_JSON_PATCH: Final = "application/3gpp-json-patch+json"
PATCH_OK: Final = frozenset({200, 204})


def patches(sc: Scenario) -> None:
    """The four PATCH media types, each read back."""
    tree = sc.tree
    cell1, cell2, cell3 = tree.cells
    cls = cell1.cls

    # RFC 7396 merge patch: change one attribute, remove another with null
    merge: dict[str, Any] = {
        "attributes": {
            sc.spelling.attr(cls, "administrativeState"): "LOCKED",
            sc.spelling.attr(cls, "userLabel"): None,
        }
    }
    ex = sc.client.patch(sc.wire(cell1.dn), merge, MERGE_PATCH)
    if sc.write(f"patch: {MERGE_PATCH}", ex, PATCH_OK, "administrativeState LOCKED, userLabel removed", cell1.dn):
        state = sc.state[str(cell1.dn)]
        state["administrativeState"] = "LOCKED"
        state.pop("userLabel", None)
    problems, back = sc.read_back(cell1.dn, removed=["userLabel"])
    sc.add(f"patch: {MERGE_PATCH} effect", problems, back, "read back as patched")

    # TS 32.158 3GPP merge patch: the base's attributes, a child created, a child deleted
    cell4 = tree.cell("4", 104)
    child_key = sc.spelling.child_key(tree.du.cls, "NRCellDU")
    body: dict[str, Any] = {
        "id": tree.du.dn.id,
        "attributes": {sc.spelling.attr(tree.du.cls, "userLabel"): "3gpp-merge-patched DU"},
        child_key: [
            {"id": "4", "attributes": sc.spelling.attrs(cls, cell4.attrs)},
            {"id": cell3.dn.id, "attributes": None},
        ],
    }
    ex = sc.client.patch(sc.wire(tree.du.dn), body, GPP_MERGE_PATCH)
    if sc.write(
        f"patch: {GPP_MERGE_PATCH}",
        ex,
        PATCH_OK,
        f"{sc.rel(tree.du.dn)} userLabel, NRCellDU=4 created, NRCellDU=3 deleted",
        tree.du.dn,
    ):
        sc.state[str(tree.du.dn)]["userLabel"] = "3gpp-merge-patched DU"
        sc.state[str(cell4.dn)] = dict(cell4.attrs)
        sc.state.pop(str(cell3.dn), None)
    problems, back = sc.read_back(tree.du.dn)
    more, _ = sc.read_back(cell4.dn)
    problems += more + sc.absent(cell3.dn)
    sc.add(
        f"patch: {GPP_MERGE_PATCH} effect",
        problems,
        back,
        "the base changed, the child with attributes created, the one with null deleted",
    )

    # RFC 6902 JSON patch on the target's representation
    body_ops = [
        {"op": "replace", "path": f"/attributes/{sc.spelling.attr(cls, 'nRPCI')}", "value": 111},
        {"op": "add", "path": f"/attributes/{sc.spelling.attr(cls, 'userLabel')}", "value": "json-patched"},
    ]
    ex = sc.client.patch(sc.wire(cell1.dn), body_ops, JSON_PATCH)
    if sc.write(f"patch: {JSON_PATCH}", ex, PATCH_OK, "replace nRPCI, add userLabel", cell1.dn):
        sc.state[str(cell1.dn)].update(nRPCI=111, userLabel="json-patched")
    problems, back = sc.read_back(cell1.dn)
    sc.add(f"patch: {JSON_PATCH} effect", problems, back, "read back as patched")

    # TS 32.158 3GPP JSON patch: DN-relative paths, an attribute, an object added and removed
    cell5 = tree.cell("5", 105)
    rdn2 = sc.wire(DN.of((cls, cell2.dn.id))).uri
    rdn4 = sc.wire(DN.of((cls, "4"))).uri
    rdn5 = sc.wire(DN.of((cls, "5"))).uri
    body_ops = [
        {"op": "replace", "path": f"/{rdn2}#/attributes/{sc.spelling.attr(cls, 'nRPCI')}", "value": 112},
        {
            "op": "add",
            "path": f"/{rdn5}",
            "value": {"id": "5", "attributes": sc.spelling.attrs(cls, cell5.attrs)},
        },
        {"op": "remove", "path": f"/{rdn4}"},
    ]
    ex = sc.client.patch(sc.wire(tree.du.dn), body_ops, GPP_JSON_PATCH)
    if sc.write(
        f"patch: {GPP_JSON_PATCH}",
        ex,
        PATCH_OK,
        f"/{rdn2}#/attributes/..., add /{rdn5}, remove /{rdn4}",
        tree.du.dn,
    ):
        sc.state[str(cell2.dn)]["nRPCI"] = 112
        sc.state[str(cell5.dn)] = dict(cell5.attrs)
        sc.state.pop(str(cell4.dn), None)
    problems, back = sc.read_back(cell2.dn)
    more, _ = sc.read_back(cell5.dn)
    problems += more + sc.absent(cell4.dn)
    sc.add(
        f"patch: {GPP_JSON_PATCH} effect",
        problems,
        back,
        "the attribute replaced, the object added and the one removed",
    )

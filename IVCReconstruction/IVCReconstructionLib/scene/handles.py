"""What the user edits of a plan in the scene: stent-end handles and the stent table.

Stent-end handles are a point list with a point on each end of each stent, for dragging.

In Slicer the user moves a stent's end by dragging its point in a slice or 3D view; the
module then moves that end to the nearest point of the stent's branch axis
(``plan.edits.move_end_to``) and puts every handle back on the ends of the updated plan. The
point labels say which end a point is ("S1 proximal", "S2 distal"), so the list survives a
scene save and reload and can be read back without any other state. The "Stent plan" table
(``plan_nodes.add_plan_to_scene``) may be edited in place: ``table_edits`` reads the product,
diameter and length typed into it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import names
from ..plan.edits import end_points
from .nodes import place_in_folder

HANDLES_NAME = "Stent ends"
ENDS = ("proximal", "distal")


def handle_label(stent_id: str, end: str) -> str:
    return f"{stent_id} {end}"


def parse_handle_label(label: str) -> tuple[str, str] | None:
    """(stent id, end) of a handle's label, or None for any other label."""
    parts = label.split()
    if len(parts) == 2 and parts[1] in ENDS:
        return parts[0], parts[1]
    return None


def add_handles(scene: Any, plan: Any, folder_item: int | None = None) -> Any:
    """A point list with one unlocked point per stent end, in ``folder_item`` if given."""

    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", HANDLES_NAME)
    node.SetAttribute(names.HANDLES_ATTRIBUTE, "1")
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.SetSelectedColor(*names.HANDLE_COLOR)
    display.SetColor(*names.HANDLE_COLOR)
    display.SetPropertiesLabelVisibility(False)
    display.SetPointLabelsVisibility(True)
    update_handles(node, plan)
    if folder_item is not None:
        place_in_folder(scene, node, folder_item)
    return node


def update_handles(node: Any, plan: Any) -> None:
    """Put the handles on the plan's stent ends (one point per end, labelled), leaving the
    node's other settings alone. Points are rewritten only where they differ, so observers
    see as few events as possible."""

    wanted = [(handle_label(sid, end), ras) for (sid, end), ras in end_points(plan).items()]
    same_labels = node.GetNumberOfControlPoints() == len(wanted) and all(
        node.GetNthControlPointLabel(n) == label for n, (label, _) in enumerate(wanted)
    )
    if not same_labels:
        node.RemoveAllControlPoints()
        for label, ras in wanted:
            node.AddControlPoint([float(c) for c in ras], label)
        return
    for n, (_, ras) in enumerate(wanted):
        current = np.zeros(3)
        node.GetNthControlPointPosition(n, current)
        if not np.allclose(current, ras, atol=1e-3):
            node.SetNthControlPointPosition(n, *[float(c) for c in ras])


def moved_handles(node: Any, plan: Any, tolerance_mm: float = 0.5) -> list[tuple[str, str, np.ndarray]]:
    """Handles that are no longer on their stent's end: (stent id, end, position RAS)."""

    ends = end_points(plan)
    out = []
    for n in range(node.GetNumberOfControlPoints()):
        key = parse_handle_label(node.GetNthControlPointLabel(n))
        if key is None or key not in ends:
            continue
        position = np.zeros(3)
        node.GetNthControlPointPosition(n, position)
        if np.linalg.norm(position - ends[key]) > tolerance_mm:
            out.append((key[0], key[1], position))
    return out


def table_edits(table_node: Any, plan: Any, catalog: Any) -> list[tuple[str, str, float, float]]:
    """Stents whose product, diameter or length the user typed into the "Stent plan" table
    (``plan_nodes.add_plan_to_scene``): (stent id, product id, diameter, length) per changed row.

    The product cell may hold the product's name or id, in any case. The other columns follow
    from the plan (a typed end or coverage would be ignored), so a change there is refused. Rows
    of stents no longer in the plan, and a table being refilled (missing columns), are ignored.

    :raises ValueError: for a product the catalogue does not have, a size that is not a number
        (the size itself is checked by ``plan.edits.change_stent``), or a column that cannot be
        typed into.
    """
    from .plan_nodes import plan_table_columns

    table = table_node.GetTable()
    stent_column = names.PLAN_TABLE_COLUMNS[0]
    product_column, diameter_column, length_column = names.EDITABLE_PLAN_COLUMNS
    columns = {name: table.GetColumnByName(name) for name in names.PLAN_TABLE_COLUMNS}
    if any(column is None for column in columns.values()):
        return []
    expected = plan_table_columns(plan)
    by_name = {}
    for product in catalog.products.values():
        by_name[product.product.strip().lower()] = product.id
        by_name[product.id.strip().lower()] = product.id
    rows = {st.id: n for n, st in enumerate(plan.stents)}
    edits = []
    for row in range(table.GetNumberOfRows()):
        stent_id = str(columns[stent_column].GetValue(row))
        if stent_id not in rows:
            continue
        for name in names.PLAN_TABLE_COLUMNS:
            if name in (stent_column, *names.EDITABLE_PLAN_COLUMNS):
                continue
            want, have = expected[name][rows[stent_id]], columns[name].GetValue(row)
            same = (
                abs(float(have) - float(want)) <= 1e-3 * max(1.0, abs(float(want)))
                if expected[name].dtype.kind == "f"
                else str(have) == str(want)
            )
            if not same:
                raise ValueError(
                    f"{stent_id}: the {name} column follows from the plan and cannot be typed into; type "
                    "the product, diameter or length, or drag the stent's end points"
                )
        stent = plan.stent(stent_id)
        name = str(columns[product_column].GetValue(row)).strip()
        product_id = by_name.get(name.lower())
        if product_id is None:
            raise ValueError(
                f"{stent_id}: no product {name!r} in the stent catalogue; use one of "
                f"{', '.join(sorted(p.product for p in catalog.usable()))}"
            )
        try:
            diameter = float(columns[diameter_column].GetValue(row))
            length = float(columns[length_column].GetValue(row))
        except (TypeError, ValueError):
            raise ValueError(f"{stent_id}: diameter and length must be numbers (mm)") from None
        if (product_id, diameter, length) != (stent.product_id, stent.diameter_mm, stent.length_mm):
            edits.append((stent_id, product_id, diameter, length))
    return edits

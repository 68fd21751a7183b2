"""Stent-end handles: one point per stent end, moved ends found, and the plan following them."""

from __future__ import annotations

import numpy as np
import pytest

from IVCReconstructionLib.plan.edits import end_points, move_end_to
from IVCReconstructionLib.plan.templates import make_plan
from IVCReconstructionLib.scene.handles import add_handles, moved_handles, parse_handle_label, update_handles
from test_planner import y_context_of

OPTIONS = {"ivc_occlusion_length_mm": 40.0, "bilateral_iliac_area_ratio": 0.4}


@pytest.fixture(scope="module")
def planned(phantom_of, segmentation_of):
    _ph, ctx = y_context_of(phantom_of, segmentation_of, **OPTIONS)
    return ctx, make_plan(ctx)


def positions(node) -> dict[str, np.ndarray]:
    out = {}
    for n in range(node.GetNumberOfControlPoints()):
        p = np.zeros(3)
        node.GetNthControlPointPosition(n, p)
        out[node.GetNthControlPointLabel(n)] = p
    return out


def test_labels_round_trip():
    assert parse_handle_label("S2 distal") == ("S2", "distal")
    assert parse_handle_label("S2 middle") is None and parse_handle_label("Renal") is None


def test_one_handle_per_stent_end_on_the_end(mrml, planned):
    _ctx, plan = planned
    node = add_handles(mrml.scene, plan)
    points = positions(node)
    assert len(points) == 2 * len(plan.stents) == 6
    for (stent_id, end), ras in end_points(plan).items():
        np.testing.assert_allclose(points[f"{stent_id} {end}"], ras, atol=1e-3)
    assert moved_handles(node, plan) == []


def test_a_dragged_handle_moves_its_end_along_the_vein(mrml, planned):
    ctx, plan = planned
    plan = make_plan(ctx)  # a copy of our own to edit
    node = add_handles(mrml.scene, plan)
    (limb,) = [st for st in plan.stents if st.role == "right_limb"]
    before = limb.coverage["right_iliac"][1]
    index = [node.GetNthControlPointLabel(n) for n in range(6)].index(f"{limb.id} distal")
    # 12 mm further down the right iliac centerline, and 4 mm in front of it
    profile = ctx.profiles["right_iliac"]
    target = np.array(
        [np.interp(before + 12.0, profile.distance_mm, profile.points_ras[:, c]) for c in range(3)]
    )
    node.SetNthControlPointPosition(index, *(target + [0.0, 4.0, 0.0]))
    ((stent_id, end, where),) = moved_handles(node, plan)
    assert (stent_id, end) == (limb.id, "distal")
    plan = move_end_to(ctx, plan, stent_id, end, where)
    assert plan.stent(limb.id).coverage["right_iliac"][1] == pytest.approx(before + 12.0, abs=1.5)
    update_handles(node, plan)
    np.testing.assert_allclose(
        positions(node)[f"{limb.id} distal"], plan.stent(limb.id).distal_ras, atol=1e-3
    )
    assert moved_handles(node, plan) == []
    with pytest.raises(ValueError, match="'proximal' or 'distal'"):
        move_end_to(ctx, plan, limb.id, "middle", where)


def test_sizes_typed_into_the_stent_table_are_read_back(mrml, planned):
    from IVCReconstructionLib.scene.handles import table_edits
    from IVCReconstructionLib.scene.plan_nodes import add_plan_to_scene

    ctx, plan = planned
    nodes = add_plan_to_scene(mrml.scene, plan)
    table = nodes.plan_table
    assert table_edits(table, plan, ctx.catalog) == []  # as made: nothing changed
    columns = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    first = plan.stents[0]
    product = ctx.catalog.products[first.product_id]
    other = next(x for x in product.sizes[first.diameter_mm] if x != first.length_mm)
    table.SetCellText(0, columns.index("Length (mm)"), f"{other:g}")
    table.SetCellText(0, columns.index("Product"), first.product_id.upper())  # an id, any case
    assert table_edits(table, plan, ctx.catalog) == [(first.id, first.product_id, first.diameter_mm, other)]
    table.SetCellText(0, columns.index("Product"), "Nothing")
    with pytest.raises(ValueError, match="no product 'Nothing'"):
        table_edits(table, plan, ctx.catalog)

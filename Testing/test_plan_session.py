"""The plan being edited: a session that undoes refused edits, its scene nodes, the measurement cache."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from IVCReconstructionLib.names import StentRole
from IVCReconstructionLib.plan.session import PlanSession
from IVCReconstructionLib.plan.templates import make_plan
from IVCReconstructionLib.scene import MeasurementCache, ScenePlan
from test_planner import y_context_of

OPTIONS = {"ivc_occlusion_length_mm": 40.0, "bilateral_iliac_area_ratio": 0.4}


@pytest.fixture
def session(phantom_of, segmentation_of) -> PlanSession:
    _ph, ctx = y_context_of(phantom_of, segmentation_of, **OPTIONS)
    return PlanSession(ctx, make_plan(ctx))


def plan_state(plan) -> list[tuple]:
    return [(st.id, st.product_id, st.diameter_mm, st.length_mm, dict(st.coverage)) for st in plan.stents]


def test_a_refused_edit_leaves_the_plan_as_it_was(session):
    before = plan_state(session.plan)
    warnings = [(w.code, w.stent) for w in session.plan.warnings]
    stent = session.plan.stents[0]
    with pytest.raises(ValueError, match="no 7 x"):
        session.change_stent(stent.id, diameter_mm=7.0)
    with pytest.raises(ValueError, match="no stent 'S9'"):
        session.remove_stent("S9")

    def half_done(ctx, plan):  # an edit that changes the plan, then fails
        plan.stents[0].length_mm = 1.0
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        session.edit(half_done)
    assert plan_state(session.plan) == before
    assert [(w.code, w.stent) for w in session.plan.warnings] == warnings


def test_edits_change_the_plan_and_its_warnings(session):
    (ivc,) = [st for st in session.plan.stents if st.role is StentRole.IVC]
    row = next(r for r in session.stent_rows() if r.id == ivc.id)
    assert row.product_id == ivc.product_id and ivc.product_id in row.products
    assert row.diameter_mm in row.diameters_mm and row.length_mm in row.lengths_mm
    other = next(length for length in row.lengths_mm if length != ivc.length_mm)
    plan = session.change_stent(ivc.id, length_mm=other)
    assert plan is session.plan and plan.stent(ivc.id).length_mm == other
    # The limb's distal end moved 15 mm further down its vein.
    limb = next(st for st in plan.stents if st.role is StentRole.LEFT_LIMB)
    end = limb.coverage["left_iliac"][1]
    profile = session.context.profiles["left_iliac"]
    target = [np.interp(end + 15.0, profile.distance_mm, profile.points_ras[:, c]) for c in range(3)]
    session.move_end_to(limb.id, "distal", target)
    assert session.plan.stent(limb.id).coverage["left_iliac"][1] == pytest.approx(end + 15.0, abs=1.0)
    session.remove_stent(limb.id)
    assert limb.id not in [st.id for st in session.plan.stents]
    assert session.switch_template("kissing").template == "kissing"


def test_a_scene_plan_follows_its_session(mrml, session):
    scene = mrml.scene
    before = scene.GetNumberOfNodes()
    shown = ScenePlan.add(scene, session)
    assert set(shown.nodes.models) == {st.id for st in session.plan.stents}
    assert shown.handles.GetNumberOfControlPoints() == 2 * len(session.plan.stents)
    stent = session.plan.stents[0]
    original = stent.length_mm
    lengths = next(r for r in shown.stent_rows() if r.id == stent.id).lengths_mm
    other = next(length for length in lengths if length != original)
    shown.change_stent(stent.id, length_mm=other)
    assert f"{other:g} mm" in shown.nodes.models[stent.id].GetName()
    assert not shown.editing
    # A refused edit changes neither the plan nor the scene.
    names_before = sorted(model.GetName() for model in shown.nodes.models.values())
    with pytest.raises(ValueError):
        shown.change_stent(stent.id, diameter_mm=7.0)
    assert sorted(model.GetName() for model in shown.nodes.models.values()) == names_before
    # A length typed into the table is applied; an unknown product restores the table.
    table = shown.nodes.plan_table
    columns = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    row = [table.GetCellText(r, 0) for r in range(table.GetNumberOfRows())].index(stent.id)
    table.SetCellText(row, columns.index("Length (mm)"), f"{original:g}")
    assert shown.apply_table_edits() is True and shown.plan.stent(stent.id).length_mm == original
    table.SetCellText(row, columns.index("Product"), "No Such Stent")
    with pytest.raises(ValueError, match="No Such Stent"):
        shown.apply_table_edits()
    assert table.GetCellText(row, columns.index("Product")) == shown.plan.stent(stent.id).product
    shown.remove()
    assert scene.GetNumberOfNodes() == before


def test_a_dragged_handle_moves_its_end_and_snaps_when_dropped(mrml, session):
    shown = ScenePlan.add(mrml.scene, session)
    limb = next(st for st in session.plan.stents if st.role is StentRole.RIGHT_LIMB)
    labels = [
        shown.handles.GetNthControlPointLabel(n) for n in range(shown.handles.GetNumberOfControlPoints())
    ]
    index = labels.index(f"{limb.id} distal")
    end = limb.coverage["right_iliac"][1]
    held = np.asarray(limb.distal_ras) + [0.0, 0.0, -12.0]
    shown.handles.SetNthControlPointPosition(index, *held)
    assert shown.apply_handle_moves(snap=False) is True
    position = np.zeros(3)
    shown.handles.GetNthControlPointPosition(index, position)
    np.testing.assert_allclose(position, held, atol=1e-3)  # stays under the mouse
    assert shown.plan.stent(limb.id).coverage["right_iliac"][1] > end + 5.0
    shown.apply_handle_moves(snap=True)
    shown.handles.GetNthControlPointPosition(index, position)
    np.testing.assert_allclose(position, shown.plan.stent(limb.id).distal_ras, atol=1e-3)
    assert shown.apply_handle_moves() is False


def test_the_measurement_cache_is_kept_while_nothing_changes(mrml, session):
    from IVCReconstructionLib.measure.datatypes import VeinMeasurements
    from IVCReconstructionLib.scene.segmentation_nodes import add_vein_segmentation

    labels = np.zeros((20, 20, 20), dtype=np.uint8)
    labels[2:18, 8:12, 8:12] = 1
    node = add_vein_segmentation(mrml.scene, labels, np.eye(4))
    cache = MeasurementCache()
    measured = copy.copy(VeinMeasurements(None, {}))
    seeds = {"IVC": np.array([10.0, 10.0, 16.0])}
    cache.put(node, measured, {"ivc": "inferior_vena_cava"}, seeds)
    assert cache.get(node, {"ivc": "inferior_vena_cava"}, seeds) is measured
    assert cache.get(node, {"ivc": "iliac_vena_left"}, seeds) is None  # other segments chosen
    assert cache.get(node, {"ivc": "inferior_vena_cava"}, {"IVC": seeds["IVC"] + 5.0}) is None  # other ends
    node.GetSegmentation().GetSegment("inferior_vena_cava").SetName("edited")
    node.GetSegmentation().Modified()
    assert cache.get(node, {"ivc": "inferior_vena_cava"}, seeds) is None  # the segmentation changed
    cache.clear()
    assert cache.measurements is None


def test_the_3d_view_and_the_report_colour_a_stent_alike(mrml, session):
    import xml.etree.ElementTree as ET

    from IVCReconstructionLib import names
    from IVCReconstructionLib.outputs.profile_plot import branch_profile_svg

    shown = ScenePlan.add(mrml.scene, session)
    shown.remove_stent(session.plan.stents[1].id)  # colours stay with their stent after an edit
    model_colors = {sid: tuple(node.GetDisplayNode().GetColor()) for sid, node in shown.nodes.models.items()}
    for stent_id, color in model_colors.items():
        np.testing.assert_allclose(color, names.stent_color(stent_id), atol=1e-6)
    for branch, profile in session.context.profiles.items():
        svg = ET.fromstring(branch_profile_svg(profile, session.context.findings, session.plan))
        bars = {el.get("data-stent"): el.get("fill") for el in svg.iter() if el.get("class") == "stent"}
        assert sorted(bars) == sorted(st.id for st in session.plan.stents if branch in st.coverage), branch
        for stent_id, fill in bars.items():
            rgb = [int(fill[i : i + 2], 16) / 255 for i in (1, 3, 5)]
            np.testing.assert_allclose(rgb, model_colors[stent_id], atol=1 / 255)


def test_only_product_diameter_and_length_can_be_typed_into_the_table(mrml, session):
    shown = ScenePlan.add(mrml.scene, session)
    table = shown.nodes.plan_table
    columns = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    stent = session.plan.stents[0]
    before = table.GetCellText(0, columns.index("Proximal R (mm)"))
    table.SetCellText(0, columns.index("Proximal R (mm)"), "99")
    with pytest.raises(ValueError, match="Proximal R \\(mm\\) column follows from the plan"):
        shown.apply_table_edits()
    assert table.GetCellText(0, columns.index("Proximal R (mm)")) == before  # restored
    table.SetCellText(0, columns.index("Coverage"), "ivc 0-500")
    with pytest.raises(ValueError, match="Coverage column"):
        shown.apply_table_edits()
    assert shown.plan.stent(stent.id).coverage == stent.coverage
    assert shown.apply_table_edits() is False  # as it was: nothing to apply


def test_the_panel_is_called_back_once_per_user_edit_and_never_for_the_plans_own(mrml, session):
    import slicer

    from IVCReconstructionLib.scene.plan_events import DRAG_INTERVAL_S, PlanEditEvents

    shown = ScenePlan.add(mrml.scene, session)
    calls = []
    now = [100.0]  # seconds, the clock the events read

    def table_edited():  # as the panel does: apply the edit, which refills the table
        calls.append(("table", shown.apply_table_edits()))

    def ivus_edited():
        calls.append(("ivus", shown.apply_ivus_table()))

    events = PlanEditEvents(
        shown,
        dragged=lambda: calls.append(("dragged", shown.apply_handle_moves(snap=False))),
        dropped=lambda: calls.append(("dropped", shown.apply_handle_moves(snap=True))),
        table_edited=table_edited,
        ivus_edited=ivus_edited,
        clock=lambda: now[0],
    )
    # The plan's own edits rewrite the tables and move the handles: no call back.
    stent = session.plan.stents[0]
    original = stent.length_mm
    lengths = next(r for r in shown.stent_rows() if r.id == stent.id).lengths_mm
    other = next(length for length in lengths if length != original)
    shown.change_stent(stent.id, length_mm=other)
    assert calls == []
    # A length typed into the stent table: one call, though applying it refills the table.
    table = shown.nodes.plan_table
    columns = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    row = [table.GetCellText(r, 0) for r in range(table.GetNumberOfRows())].index(stent.id)
    table.SetCellText(row, columns.index("Length (mm)"), f"{original:g}")
    assert calls == [("table", True)] and shown.plan.stent(stent.id).length_mm == original
    calls.clear()
    # An IVUS reference diameter typed in: the plan is sized again, once.
    ivus = shown.ivus_table
    ivus.SetCellText(0, ivus.GetNumberOfColumns() - 1, "21")
    assert calls == [("ivus", True)]
    calls.clear()
    # A handle dragged: calls while it moves, no more often than DRAG_INTERVAL_S, then one on the drop.
    handles = shown.handles
    limb = next(st for st in session.plan.stents if st.role is StentRole.RIGHT_LIMB)
    labels = [handles.GetNthControlPointLabel(n) for n in range(handles.GetNumberOfControlPoints())]
    index = labels.index(f"{limb.id} distal")
    start = np.asarray(limb.distal_ras, dtype=float)
    handles.SetNthControlPointPosition(index, *(start + [0.0, 0.0, -2.0]))  # not a drag: no call
    assert calls == [] and not events.dragging
    handles.InvokeEvent(slicer.vtkMRMLMarkupsNode.PointStartInteractionEvent)
    for step, elapsed in enumerate((0.0, DRAG_INTERVAL_S / 2, DRAG_INTERVAL_S * 1.5)):
        now[0] = 100.0 + elapsed
        handles.SetNthControlPointPosition(index, *(start + [0.0, 0.0, -4.0 * (step + 2)]))
    assert calls == [("dragged", True), ("dragged", True)] and events.dragging
    handles.InvokeEvent(slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent)
    assert calls[-1] == ("dropped", True) and not events.dragging
    position = np.zeros(3)
    handles.GetNthControlPointPosition(index, position)
    np.testing.assert_allclose(position, shown.plan.stent(limb.id).distal_ras, atol=1e-3)  # snapped
    # Stopped (a new plan, the scene closing): nothing is called any more.
    events.stop()
    calls.clear()
    table.SetCellText(row, columns.index("Length (mm)"), f"{other:g}")
    handles.InvokeEvent(slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent)
    assert calls == []

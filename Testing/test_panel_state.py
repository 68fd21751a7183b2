"""The panel's buttons: enabled state and tooltip for the user's choices (scene/panel_state.py)."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from IVCReconstructionLib.scene.panel_state import ButtonStates, PanelChoices, button_states

UI_FILE = (
    Path(__file__).resolve().parent.parent / "IVCReconstruction" / "Resources" / "UI" / "IVCReconstruction.ui"
)

EXPORTS = ("write_report", "export_dicom", "save_scene")
PLACES = ("place_ivc", "place_left", "place_right", "place_via", "place_renal")
NARROWEST = ("narrowest_ivc", "narrowest_left", "narrowest_right")


def enabled(states: ButtonStates) -> set[str]:
    return {field.name for field in dataclasses.fields(states) if getattr(states, field.name).enabled}


def test_one_state_per_button_of_the_panel():
    buttons = {
        w.get("name") for w in ET.parse(UI_FILE).getroot().iter("widget") if w.get("class") == "QPushButton"
    }
    as_fields = {re.sub(r"(?<!^)([A-Z])", r"_\1", name.removesuffix("Button")).lower() for name in buttons}
    assert as_fields == {field.name for field in dataclasses.fields(ButtonStates)}


def test_a_fresh_scene_offers_the_phantom_and_the_place_buttons_and_says_what_is_missing():
    states = button_states(PanelChoices(scenario="May-Thurner"))
    assert enabled(states) == {"create_phantom", *PLACES}
    assert "(May-Thurner)" in states.create_phantom.tool_tip
    assert states.segment_veins.tool_tip.startswith("Select the CT (or MR) venogram and a point list")
    assert "inferior_vena_cava, iliac_vena_left and iliac_vena_right" in states.measure_veins.tool_tip
    assert states.place_via.tool_tip == (
        "Click, then click in a view to place the Via point where the path must pass, e.g. inside an "
        "occlusion. A new point list is created for it."
    )
    assert {getattr(states, name).tool_tip for name in NARROWEST} == {
        "Measure the veins first (Measure veins)."
    }
    assert states.plan_stents.tool_tip == "Select a vein segmentation (Centerlines and diameters) to plan on."
    assert (
        states.apply_stent.tool_tip
        == states.remove_stent.tool_tip
        == "Plan stents first, then choose a stent."
    )
    assert states.save_scene.tool_tip == "Choose an output folder first."


def test_each_step_is_offered_once_its_inputs_are_chosen():
    segment = PanelChoices(scenario="Healthy", volume="CT", segmentation_seeds="Vein seeds")
    states = button_states(segment)
    assert enabled(states) == {"create_phantom", "segment_veins", *PLACES}
    assert (
        "veins of CT from the IVC, Left, Right and Via... points of Vein seeds"
        in states.segment_veins.tool_tip
    )
    assert "A new point list" not in states.place_ivc.tool_tip  # the points go into Vein seeds
    # A segmentation to measure: its ends found automatically, or at the chosen points.
    measure = dataclasses.replace(segment, vein_segmentation="CT veins")
    states = button_states(measure)
    assert enabled(states) == {"create_phantom", "segment_veins", *PLACES, "measure_veins", "plan_stents"}
    assert "in CT veins. The ends of the centerlines are found automatically" in states.measure_veins.tool_tip
    states = button_states(dataclasses.replace(measure, seed_points="Vein seeds", measured=True))
    assert "run between the IVC, Left and Right points of Vein seeds" in states.measure_veins.tool_tip
    assert states.narrowest_left.tool_tip == (
        "Centre the slice views on the narrowest measured section of the left iliac vein."
    )
    assert set(NARROWEST) <= enabled(states)
    assert "Suggest a stent construct for CT veins" in states.plan_stents.tool_tip


def test_the_plan_is_edited_and_exported_once_made_and_a_folder_chosen():
    planned = PanelChoices(scenario="Healthy", vein_segmentation="veins", planned=True, export_folder=".")
    states = button_states(planned)  # "." is what an empty path field gives: no folder
    assert not enabled(states) & {"apply_stent", "remove_stent", *EXPORTS}
    assert states.write_report.tool_tip == "Plan stents and choose an output folder first."
    chosen = dataclasses.replace(planned, stent_chosen=True, export_folder="/data/out")
    states = button_states(chosen)
    # A stent chosen but no length for it (its product has none at that diameter): not applicable.
    assert {"remove_stent", *EXPORTS} <= enabled(states) and "apply_stent" not in enabled(states)
    assert states.apply_stent.tool_tip.startswith("Give the chosen stent this product and size")
    assert "apply_stent" in enabled(button_states(dataclasses.replace(chosen, size_chosen=True)))
    assert states.write_report.tool_tip.endswith("a 3D view of the plan to /data/out.")
    assert states.export_dicom.tool_tip.startswith("Write the plan as DICOM into /data/out/dicom:")
    assert states.save_scene.tool_tip == "Save the whole scene as plan.mrb in /data/out."
    # Without a plan only the scene can be saved.
    assert enabled(button_states(dataclasses.replace(chosen, planned=False))) & {
        *EXPORTS,
        "remove_stent",
    } == {"save_scene"}


def test_a_node_with_an_empty_name_is_still_a_choice():
    states = button_states(PanelChoices(scenario="Healthy", volume="", segmentation_seeds=""))
    assert states.segment_veins.enabled


def test_the_stent_editor_offers_the_catalogue_for_the_product_and_diameter_chosen(
    phantom_of, segmentation_of
):
    from IVCReconstructionLib.plan.session import PlanSession
    from IVCReconstructionLib.plan.templates import make_plan
    from IVCReconstructionLib.scene.panel_state import Choice, StentEditor, stent_editor
    from test_planner import y_context_of

    _ph, ctx = y_context_of(
        phantom_of, segmentation_of, ivc_occlusion_length_mm=40.0, bilateral_iliac_area_ratio=0.4
    )
    session = PlanSession(ctx, make_plan(ctx))
    stent = session.plan.stents[0]
    catalog = ctx.catalog
    own = stent_editor(session, stent.id)
    assert own.product == Choice(tuple(p.id for p in catalog.usable()), stent.product_id)
    product = catalog.products[stent.product_id]
    assert own.diameter == Choice(tuple(f"{d:g}" for d in product.diameters_mm), f"{stent.diameter_mm:g}")
    assert own.length == Choice(
        tuple(f"{x:g}" for x in product.sizes[stent.diameter_mm]), f"{stent.length_mm:g}"
    )
    # Another product picked: its diameters, the first when it lacks the stent's own.
    other = next(p for p in catalog.usable() if stent.diameter_mm not in p.sizes)
    picked = stent_editor(session, stent.id, other.id)
    first = other.diameters_mm[0]
    assert picked.product.current == other.id
    assert picked.diameter == Choice(tuple(f"{d:g}" for d in other.diameters_mm), f"{first:g}")
    assert picked.length.items == tuple(f"{x:g}" for x in other.sizes[first])
    # Another diameter of the stent's product picked: the lengths at it.
    wider = next(d for d in product.diameters_mm if d != stent.diameter_mm)
    sized = stent_editor(session, stent.id, stent.product_id, f"{wider:g}")
    assert sized.diameter.current == f"{wider:g}"
    assert sized.length.items == tuple(f"{x:g}" for x in product.sizes[wider])
    expected = f"{stent.length_mm:g}" if stent.length_mm in product.sizes[wider] else sized.length.items[0]
    assert sized.length.current == expected
    # Nothing to edit: no plan, or no such stent.
    assert stent_editor(None, stent.id) == StentEditor() == stent_editor(session, "S99")
    assert [choice.items for choice in StentEditor().choices()] == [(), (), ()]


def test_every_scenario_and_construct_the_panel_offers_has_its_own_label():
    from IVCReconstructionLib.names import TEMPLATE_CHOICES
    from IVCReconstructionLib.phantom.options import Scenario
    from IVCReconstructionLib.scene.panel_state import scenario_label, template_label

    scenarios = [scenario_label(s.value) for s in Scenario]
    assert len(set(scenarios)) == len(Scenario) and all(scenarios)
    assert scenario_label("may-thurner") == "May-Thurner (left common iliac vein compressed)"
    templates = [template_label(t.value) for t in TEMPLATE_CHOICES]
    assert len(set(templates)) == len(TEMPLATE_CHOICES) and all(templates)
    assert template_label("auto") == "Automatic (from the findings)"
    with pytest.raises(KeyError):
        template_label("none")  # an outcome of planning, not a choice

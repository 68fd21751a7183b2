"""One seed parser for files, point lists and mappings: same labels, same Via numbering, same errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from IVCReconstructionLib.inputs.seeds import (
    SeedPoints,
    as_seed_points,
    next_via_label,
    parse_seed_points,
    read_seeds,
    seeds_from_markups,
)
from IVCReconstructionLib.names import SeedLabel
from IVCReconstructionLib.scene.nodes import add_fiducials, save_node
from IVCReconstructionLib.scene.seed_nodes import label_placed_seed
from IVCReconstructionLib.segment.paths import seed_legs

# Points as a user might label them: any case, spaces, Via labels repeated, a landmark.
POINTS = [
    (" ivc ", (0.0, 10.0, 120.0)),
    ("Via", (2.0, 8.0, 60.0)),
    ("LEFT", (-60.0, 0.0, -80.0)),
    ("via", (1.0, 8.0, 40.0)),
    ("Right", (60.0, 0.0, -80.0)),
    ("Via", (-30.0, 2.0, -40.0)),
    ("renal", (5.0, 5.0, 110.0)),
]


def point_list(scene, points):
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Seeds")
    for label, point in points:
        node.AddControlPoint(list(point), label)
    return node


def test_labels_are_canonical_and_via_points_numbered_in_order():
    seeds = parse_seed_points(POINTS, "the test points")
    assert list(seeds.end_points()) == ["IVC", "Left", "Right"]
    assert [label for label, _ in seeds.vias] == ["Via", "via (2)", "Via (3)"]
    assert list(seeds.landmarks) == [SeedLabel.RENAL]
    # Ends, then Via points in their order, then landmarks, whatever order they came in.
    assert list(seeds) == ["IVC", "Left", "Right", "Via", "via (2)", "Via (3)", "Renal"]
    np.testing.assert_allclose(seeds["via (2)"], [1.0, 8.0, 40.0])
    assert seeds.missing_ends() == []


def test_a_file_a_point_list_and_a_mapping_read_the_same(mrml, tmp_path):
    node = point_list(mrml.scene, POINTS)
    path = save_node(node, tmp_path / "seeds.mrk.json")  # Slicer writes LPS
    assert json.loads(path.read_text())["markups"][0]["coordinateSystem"] == "LPS"
    from_node, from_file = seeds_from_markups(node), read_seeds(path)
    assert list(from_node) == list(from_file)
    for label in from_node:
        np.testing.assert_allclose(from_file[label], from_node[label], atol=1e-6)
    # A mapping (the phantom's seeds, a script's) is read by the same parser.
    from_mapping = as_seed_points(dict(from_node.items()))
    assert list(from_mapping) == list(from_node)
    # And the segmentation's legs come out the same from either.
    legs_node, legs_file = seed_legs(from_node)[3], seed_legs(from_file)[3]
    assert {k: len(v) for k, v in legs_node.items()} == {k: len(v) for k, v in legs_file.items()}
    for leg in legs_node:
        np.testing.assert_allclose(
            np.array(legs_node[leg]).reshape(-1, 3), np.array(legs_file[leg]).reshape(-1, 3)
        )


def test_unplaced_points_are_left_out(mrml):
    node = point_list(mrml.scene, POINTS[:3])
    node.UnsetNthControlPointPosition(1)
    assert list(seeds_from_markups(node)) == ["IVC", "Left"]


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (
            [("IVC", (0, 0, 0)), ("Aorta", (1, 1, 1)), ("Femoral", (2, 2, 2))],
            "points labelled 'Aorta', 'Femoral'",
        ),
        ([("Right", (0, 0, 0)), ("right", (1, 1, 1))], "more than one point labelled Right"),
        ([("Renal", (0, 0, 0)), ("RENAL", (1, 1, 1))], "more than one point labelled Renal"),
        ([("IVC", (0, 0, float("nan")))], "not three finite coordinates"),
    ],
)
def test_bad_labels_are_refused_with_their_names(points, message):
    with pytest.raises(ValueError, match=message):
        parse_seed_points(points, "the seed point list Seeds")


def test_points_placed_with_the_buttons_always_parse(mrml):
    node = point_list(mrml.scene, [("IVC", (0, 0, 100))])
    for label, point in (
        ("Via", (0, 1, 50)),
        ("Via", (0, 1, 40)),
        ("IVC", (0, 0, 110)),
        ("Left", (-50, 0, -50)),
    ):
        node.AddControlPoint(list(point), "")
        label_placed_seed(node, node.GetNumberOfControlPoints() - 1, label)
    labels = [node.GetNthControlPointLabel(n) for n in range(node.GetNumberOfControlPoints())]
    # The second IVC point replaced the first; Via points numbered as the parser numbers them.
    assert labels == ["Via", "Via (2)", "IVC", "Left"]
    seeds = seeds_from_markups(node)
    assert [label for label, _ in seeds.vias] == ["Via", "Via (2)"]
    np.testing.assert_allclose(seeds["IVC"], [0.0, 0.0, 110.0])
    assert next_via_label(labels) == "Via (3)"


def test_seed_points_move_through_a_transform():
    seeds = parse_seed_points(POINTS, "x")
    moved = seeds.mapped(lambda p: np.asarray(p) + [10.0, 0.0, 0.0])
    assert list(moved) == list(seeds)
    np.testing.assert_allclose(moved["Via (3)"], seeds["Via (3)"] + [10.0, 0.0, 0.0])
    assert list(SeedPoints()) == [] and SeedPoints().missing_ends() == ["IVC", "Left", "Right"]


def test_a_file_that_is_not_a_markups_file_is_refused(tmp_path):
    path = tmp_path / "seeds.mrk.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a markups JSON file"):
        read_seeds(path)
    path.write_text(json.dumps({"markups": [{"controlPoints": [{"label": "IVC"}]}]}))
    with pytest.raises(ValueError, match="has no position"):
        read_seeds(path)


def test_add_fiducials_round_trips_through_the_parser(mrml):
    node = add_fiducials(mrml.scene, {"IVC": (0, 0, 1), "Via": (0, 0, 2)}, "Seeds")
    assert list(seeds_from_markups(node)) == ["IVC", "Via"]


def test_a_placed_point_is_labelled_by_its_index_and_a_cancel_forgets_it(mrml):
    import vtk

    from IVCReconstructionLib.scene.seed_nodes import SeedPlacement

    interaction = mrml.app_logic.GetInteractionNode()
    interaction.SetPlaceModePersistence(1)  # the user's own setting
    node = point_list(mrml.scene, [("IVC", (0, 0, 100)), ("Left", (-50, 0, -50)), ("extra", (1, 1, 1))])
    node.UnsetNthControlPointPosition(1)  # Slicer fills this unplaced point first
    placement = SeedPlacement()
    labelled = []

    @vtk.calldata_type(vtk.VTK_INT)
    def defined(caller, event, index):
        labelled.append(placement.point_defined(caller, index))

    node.AddObserver(node.PointPositionDefinedEvent, defined)
    placement.start(node, "Right", interaction)
    assert interaction.GetPlaceModePersistence() == 0 and placement.pending
    node.SetNthControlPointPosition(1, 60.0, 0.0, -50.0)  # the point the user clicked
    assert labelled == ["Right"] and not placement.pending
    assert [node.GetNthControlPointLabel(n) for n in range(3)] == ["IVC", "Right", "extra"]
    assert interaction.GetPlaceModePersistence() == 1  # restored
    # Placing cancelled (Esc, or another mouse mode): the next point keeps its own label.
    placement.start(node, "Renal", interaction)
    interaction.SetCurrentInteractionMode(interaction.ViewTransform)
    assert placement.mode_changed() is True and not placement.pending
    assert interaction.GetPlaceModePersistence() == 1
    node.AddControlPoint([5.0, 5.0, 5.0], "my point")
    assert labelled[-1] is None and node.GetNthControlPointLabel(3) == "my point"


def test_an_observing_placement_labels_the_point_itself_and_stops_observing(mrml):
    from IVCReconstructionLib.scene.seed_nodes import SeedPlacement

    interaction = mrml.app_logic.GetInteractionNode()
    selection = mrml.app_logic.GetSelectionNode()
    interaction.SetPlaceModePersistence(1)
    node = point_list(mrml.scene, [("IVC", (0, 0, 100)), ("Via", (0, 0, 50))])
    cancelled = []
    placement = SeedPlacement()

    def start(label: str) -> None:  # as a Place button does
        placement.start(
            node,
            label,
            interaction,
            selection_node=selection,
            observe=True,
            cancelled=lambda: cancelled.append(1),
        )

    def attached(observations) -> list[bool]:  # whether each of the placement's observers still is
        return [observed.GetCommand(tag) is not None for observed, tag in observations]

    start("Via")
    observations = list(placement._observations)
    assert attached(observations) == [True, True]
    # The point list is the one the next click places into, one point per click.
    assert selection.GetActivePlaceNodeID() == node.GetID()
    assert selection.GetActivePlaceNodeClassName() == "vtkMRMLMarkupsFiducialNode"
    assert interaction.GetCurrentInteractionMode() == interaction.Place
    assert interaction.GetPlaceModePersistence() == 0
    index = node.AddControlPoint([0.0, 0.0, 20.0], "")  # what the click adds
    assert node.GetNthControlPointLabel(index) == "Via (2)" and not placement.pending
    assert interaction.GetPlaceModePersistence() == 1 and cancelled == []
    # Finished: a point added later, or a mode change, is none of the placement's business.
    assert attached(observations) == [False, False]
    node.AddControlPoint([1.0, 1.0, 1.0], "mine")
    interaction.SetCurrentInteractionMode(interaction.ViewTransform)
    assert node.GetNthControlPointLabel(3) == "mine" and cancelled == []
    # Cancelled (another mouse mode): the callback is told once, and the observers go.
    start("Renal")
    observations = list(placement._observations)
    interaction.SetCurrentInteractionMode(interaction.ViewTransform)
    interaction.SetCurrentInteractionMode(interaction.Place)
    interaction.SetCurrentInteractionMode(interaction.ViewTransform)
    assert cancelled == [1] and not placement.pending and attached(observations) == [False, False]
    assert interaction.GetPlaceModePersistence() == 1

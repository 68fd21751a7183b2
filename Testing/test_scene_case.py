"""The case the module's steps build in a scene (``scene.case.SceneCase``) and the small scene
helpers its logic delegates to: seeds read in a node's frame, the first vein segmentation of a
scene, where a segmentation is placed, and what draws view3d.png."""

from __future__ import annotations

import types

import numpy as np
import pytest

from IVCReconstructionLib import names
from IVCReconstructionLib.scene import (
    SceneCase,
    add_phantom_to_scene,
    first_vein_segmentation,
    found_vein_segments,
)
from IVCReconstructionLib.scene.nodes import add_fiducials, in_scene, subject_hierarchy_folder
from IVCReconstructionLib.scene.render import view_renderer
from IVCReconstructionLib.scene.seed_nodes import seeds_in_frame
from IVCReconstructionLib.scene.segmentation_nodes import add_vein_segmentation

SHIFT = np.array([30.0, -20.0, 15.0])


def add_shift(scene, nodes) -> None:
    """Put ``nodes`` under a linear transform moving them by SHIFT."""
    import slicer
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    matrix = vtkMatrix4x4()
    for axis in range(3):
        matrix.SetElement(axis, 3, SHIFT[axis])
    transform.SetMatrixTransformToParent(matrix)
    assert isinstance(transform, slicer.vtkMRMLTransformNode)
    for node in nodes:
        node.SetAndObserveTransformNodeID(transform.GetID())


def tiny_veins() -> np.ndarray:
    labels = np.zeros((6, 6, 6), dtype=np.uint8)
    labels[1, 1, 1], labels[2, 2, 2], labels[3, 3, 3] = 1, 2, 3
    return labels


def test_seeds_are_read_in_the_frame_of_the_node_they_mark(mrml):
    points = {"IVC": np.array([1.0, 2.0, 3.0]), "Left": np.array([-5.0, 0.0, -40.0])}
    seeds = add_fiducials(mrml.scene, points, "seeds")
    segmentation = add_vein_segmentation(mrml.scene, tiny_veins(), np.eye(4))
    assert not seeds_in_frame(None, segmentation)
    np.testing.assert_allclose(seeds_in_frame(seeds)["IVC"], points["IVC"])
    # Under a transform the world points are the node's own points moved: mapped back here.
    add_shift(mrml.scene, [segmentation])
    np.testing.assert_allclose(seeds_in_frame(seeds, segmentation)["Left"], points["Left"] - SHIFT)
    np.testing.assert_allclose(seeds_in_frame(seeds)["Left"], points["Left"])


def test_first_vein_segmentation_skips_other_segmentations(mrml):
    assert first_vein_segmentation(mrml.scene) is None
    other = mrml.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "liver")
    other.GetSegmentation().AddEmptySegment("liver")
    assert first_vein_segmentation(mrml.scene) is None
    veins = add_vein_segmentation(mrml.scene, tiny_veins(), np.eye(4))
    assert first_vein_segmentation(mrml.scene) is veins
    # What the panel's segment pickers start with: all three veins, or none.
    assert found_vein_segments(veins) == names.SEGMENT_IDS
    assert found_vein_segments(other) == {} and found_vein_segments(None) == {}
    veins.GetSegmentation().RemoveSegment(names.SEGMENT_IDS["left_iliac"])
    assert found_vein_segments(veins) == {}


def test_the_volume_to_segment_is_the_first_scalar_volume_that_is_not_a_label_map(mrml):
    from IVCReconstructionLib.scene.nodes import add_volume_from_array, first_scalar_volume

    assert first_scalar_volume(mrml.scene) is None
    labels = mrml.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
    assert first_scalar_volume(mrml.scene) is None
    ct = add_volume_from_array(mrml.scene, np.zeros((4, 4, 4), dtype=np.int16), np.eye(4), "CT")
    add_volume_from_array(mrml.scene, np.zeros((4, 4, 4), dtype=np.int16), np.eye(4), "CT 2")
    assert first_scalar_volume(mrml.scene) is ct and labels.IsA("vtkMRMLScalarVolumeNode")


def test_view3d_is_the_applications_first_3d_view_when_there_is_one():
    assert view_renderer(types.SimpleNamespace()) is True  # headless: the offscreen renderer
    no_view = types.SimpleNamespace(threeDViewCount=0)
    assert view_renderer(types.SimpleNamespace(layoutManager=lambda: no_view)) is True
    one_view = types.SimpleNamespace(threeDViewCount=1)
    assert callable(view_renderer(types.SimpleNamespace(layoutManager=lambda: one_view)))


def test_seeded_segmentation_goes_into_the_folder_and_under_the_transform_asked(mrml, phantom_of):
    from IVCReconstructionLib.pipeline import segment_into_scene
    from IVCReconstructionLib.scene.nodes import add_volume_from_array, parent_folder_item

    ph = phantom_of(spacing_mm=2.0)
    volume = add_volume_from_array(mrml.scene, ph.image, ph.ijk_to_ras, "CT")
    folder = subject_hierarchy_folder(mrml.scene, "case")
    add_shift(mrml.scene, [volume])
    node, _result = segment_into_scene(
        mrml.scene,
        volume,
        ph.seeds,
        parent_item=folder,
        transform_node_id=volume.GetTransformNodeID(),
    )
    assert parent_folder_item(mrml.scene, node) == folder
    assert node.GetTransformNodeID() == volume.GetTransformNodeID()


@pytest.fixture(scope="module")
def may_thurner(phantom_of):
    return phantom_of(spacing_mm=2.0, may_thurner_area_ratio=0.3)


def test_a_case_measures_plans_on_the_measurement_and_replaces_its_plan(mrml, may_thurner):
    nodes = add_phantom_to_scene(mrml.scene, may_thurner)
    # The veins and their seeds shown moved: results follow the segmentation's transform.
    add_shift(mrml.scene, [nodes.segmentation, nodes.seeds])
    case = SceneCase(mrml.scene)
    assert case.measurements is None
    with pytest.raises(KeyError):
        case.narrowest_section("left_iliac")

    centerlines, measured = case.measure(nodes.segmentation, nodes.seeds)
    assert case.measurements is measured
    for curve in centerlines.curves.values():
        assert curve.GetTransformNodeID() == nodes.segmentation.GetTransformNodeID()
    # The narrowest section is measured in the segmentation's coordinates and shown in the world.
    position, area_mm2, _diameter = case.narrowest_section("left_iliac")
    from IVCReconstructionLib.measure import narrowest_section

    own = narrowest_section(measured.profiles["left_iliac"])[0]
    np.testing.assert_allclose(position, np.asarray(own) + SHIFT, atol=1e-6)
    assert area_mm2 > 0

    first = case.plan(nodes.segmentation, nodes.seeds, nodes.volume, settings={"landing_mm": 20.0})
    assert case.measurements is measured  # nothing changed: not measured again
    assert case.planned.measured is measured and case.planned_volume is nodes.volume
    assert case.planned.nodes.segmentation is nodes.segmentation
    assert first.transform_node_id == nodes.segmentation.GetTransformNodeID()
    assert first.plan.stents, "a May-Thurner compression gets a stent"

    with pytest.raises(ValueError):
        case.plan(nodes.segmentation, nodes.seeds, template="y-shaped")
    assert case.scene_plan is first and in_scene(mrml.scene, first.nodes.plan_table)

    second = case.plan(nodes.segmentation, nodes.seeds, nodes.volume, template="unilateral")
    assert case.scene_plan is second
    assert not in_scene(mrml.scene, first.nodes.plan_table), "the plan before is removed"
    assert in_scene(mrml.scene, second.nodes.plan_table)

    case.clear()
    assert case.measurements is None and case.scene_plan is None and case.planned is None
    with pytest.raises(ValueError, match="no stent plan"):
        case.write_dicom("unused", [])

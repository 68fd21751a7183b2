"""The headless MRML environment is real: nodes hold the data, geometry and codes asked for,
and a saved scene bundle comes back the same."""

from __future__ import annotations

import zipfile
from collections import Counter

import numpy as np
import pytest

from IVCReconstructionLib import names
from IVCReconstructionLib.phantom import Phantom, TruthBranch
from IVCReconstructionLib.scene.context import MRMLContext, create_scene, load_mrb, save_mrb
from IVCReconstructionLib.scene.nodes import (
    add_curve,
    add_fiducials,
    add_model,
    add_plot_chart,
    add_table,
    add_volume_from_array,
    array_and_geometry,
    place_in_folder,
    subject_hierarchy_folder,
)
from IVCReconstructionLib.scene.phantom_nodes import add_phantom_to_scene
from IVCReconstructionLib.scene.segmentation_nodes import (
    add_segmentation_from_labelmap,
    set_vein_terminology,
    terminology_codes,
    vein_branch_of_segment,
)
from support.mrml_readers import closed_surface, curve_point_data, plot_series_of, table_column

SPACING = np.array([0.8, 0.7, 1.5])
ORIGIN = np.array([12.5, -40.0, 100.0])
DIRECTIONS = np.diag([-1.0, -1.0, 1.0])  # LPS-stored voxels, as DICOM gives them

VEIN_SEGMENTS = {
    1: (names.SEGMENT_IDS["ivc"], "Inferior vena cava", names.SEGMENT_COLORS["ivc"]),
    2: (names.SEGMENT_IDS["left_iliac"], "Left iliac vein", names.SEGMENT_COLORS["left_iliac"]),
    3: (names.SEGMENT_IDS["right_iliac"], "Right iliac vein", names.SEGMENT_COLORS["right_iliac"]),
}

DATA_CLASSES = (
    "vtkMRMLScalarVolumeNode",
    "vtkMRMLLabelMapVolumeNode",
    "vtkMRMLSegmentationNode",
    "vtkMRMLMarkupsCurveNode",
    "vtkMRMLMarkupsFiducialNode",
    "vtkMRMLModelNode",
    "vtkMRMLTableNode",
    "vtkMRMLPlotChartNode",
    "vtkMRMLPlotSeriesNode",
)


def ijk_to_ras() -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = DIRECTIONS * SPACING  # column n = direction of axis n times its spacing
    m[:3, 3] = ORIGIN
    return m


def tube_labels(shape_kji=(30, 20, 20)) -> np.ndarray:
    """Three vessels: label 1 along k (upper part), labels 2 and 3 side by side below it."""
    k, j, i = np.mgrid[: shape_kji[0], : shape_kji[1], : shape_kji[2]]
    labels = np.zeros(shape_kji, dtype=np.uint8)
    labels[((i - 10) ** 2 + (j - 10) ** 2 <= 4.5**2) & (k >= 15) & (k <= 27)] = 1
    labels[((i - 5) ** 2 + (j - 10) ** 2 <= 3.5**2) & (k >= 2) & (k < 15)] = 2
    labels[((i - 14) ** 2 + (j - 10) ** 2 <= 3.5**2) & (k >= 2) & (k < 15)] = 3
    return labels


def data_nodes(scene) -> list:
    nodes = []
    for class_name in DATA_CLASSES:
        collection = scene.GetNodesByClass(class_name)
        nodes += [
            collection.GetItemAsObject(n)
            for n in range(collection.GetNumberOfItems())
            # GetNodesByClass also returns subclasses (labelmap is a scalar volume).
            if collection.GetItemAsObject(n).GetClassName() == class_name
        ]
    return nodes


def inventory(scene) -> Counter:
    return Counter((n.GetClassName(), n.GetName()) for n in data_nodes(scene))


def segment_voxel_count(segmentation_node, segment_id: str) -> int:
    import slicer

    image = slicer.vtkOrientedImageData()
    segmentation_node.GetBinaryLabelmapRepresentation(segment_id, image)
    values = np.asarray(image.GetPointData().GetScalars())
    return int(np.count_nonzero(values))


def boundary_edge_count(polydata) -> int:
    from vtkmodules.vtkFiltersCore import vtkFeatureEdges

    edges = vtkFeatureEdges()
    edges.SetInputData(polydata)
    edges.BoundaryEdgesOn()
    edges.NonManifoldEdgesOn()
    edges.FeatureEdgesOff()
    edges.ManifoldEdgesOff()
    edges.Update()
    return edges.GetOutput().GetNumberOfCells()


def enclosed_volume(polydata) -> float:
    from vtkmodules.vtkFiltersCore import vtkMassProperties, vtkTriangleFilter

    triangles = vtkTriangleFilter()
    triangles.SetInputData(polydata)
    mass = vtkMassProperties()
    mass.SetInputConnection(triangles.GetOutputPort())
    mass.Update()
    return mass.GetVolume()


def sh_parent(scene, node) -> int:
    import slicer

    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    item = sh.GetItemByDataNode(node)
    assert item != sh.GetInvalidItemID(), f"{node.GetName()} has no subject-hierarchy item"
    return sh.GetItemParent(item)


# ---------------------------------------------------------------------------------------------
# Scene bootstrap


def test_context_wires_module_logics_and_closes(tmp_path):
    ctx = create_scene(tmp_path / "ctx")
    app = ctx.app_logic
    for name, logic in ctx.logics().items():
        assert app.GetModuleLogic(name) is logic
        assert logic.GetMRMLScene() is ctx.scene
        assert logic.GetMRMLApplicationLogic() is app
    # The application logic made the singletons the markups logic needs.
    assert ctx.scene.GetNodeByID("vtkMRMLSelectionNodeSingleton") is not None
    assert ctx.scene.GetNodeByID("vtkMRMLColorTableNodeGrey") is not None
    ctx.close()
    assert ctx.scene.GetNumberOfNodes() == 0
    ctx.close()  # idempotent


def test_context_manager_owns_its_temp_dir():
    with create_scene() as ctx:
        temp = ctx.temp_dir
        assert temp.is_dir()
    assert not temp.exists()


# ---------------------------------------------------------------------------------------------
# Volumes


def test_volume_round_trips_geometry_and_voxels(mrml: MRMLContext):
    rng = np.random.default_rng(7)
    array = rng.integers(-1000, 2000, size=(30, 20, 25), dtype=np.int16)
    node = add_volume_from_array(mrml.scene, array, ijk_to_ras(), "CT")

    assert node.GetClassName() == "vtkMRMLScalarVolumeNode"
    assert node.GetName() == "CT"
    assert node.GetImageData().GetDimensions() == (25, 20, 30)  # (i, j, k)
    np.testing.assert_allclose(node.GetSpacing(), SPACING)
    np.testing.assert_allclose(node.GetOrigin(), ORIGIN)
    directions = np.zeros((3, 3))
    node.GetIJKToRASDirections(directions)
    np.testing.assert_allclose(directions, DIRECTIONS)

    back, matrix = array_and_geometry(node)
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, array)
    np.testing.assert_allclose(matrix, ijk_to_ras())
    # Voxel (i, j, k) = (3, 4, 5) sits where the affine says.
    ras = matrix @ np.array([3, 4, 5, 1.0])
    np.testing.assert_allclose(ras[:3], ORIGIN + DIRECTIONS @ (SPACING * [3, 4, 5]))

    display = node.GetDisplayNode()
    assert display is not None
    assert display.GetColorNodeID() == "vtkMRMLColorTableNodeGrey"
    low, high = np.percentile(array, (1.0, 99.0))  # CT window without Slicer's histogram pass
    assert display.GetWindowLevelMin() == pytest.approx(low)
    assert display.GetWindowLevelMax() == pytest.approx(high)


def test_labelmap_volume_has_a_colour_table(mrml: MRMLContext):
    node = add_volume_from_array(mrml.scene, tube_labels(), ijk_to_ras(), "veins", labelmap=True)
    assert node.GetClassName() == "vtkMRMLLabelMapVolumeNode"
    color_node = node.GetDisplayNode().GetColorNode()
    assert color_node is not None
    assert color_node.GetNumberOfColors() >= 4


@pytest.mark.parametrize(
    ("array", "matrix", "labelmap", "message"),
    [
        (np.zeros((20, 30)), np.eye(4), False, "3D"),
        (np.zeros((2, 20, 30, 3)), np.eye(4), False, "3D"),
        (np.zeros((0, 5, 5)), np.eye(4), False, "empty"),
        (np.zeros((4, 5, 6)), np.eye(3), False, "4x4"),
        (np.zeros((4, 5, 6)), np.zeros((4, 4)), False, "last row"),
        (np.zeros((4, 5, 6)), np.diag([1.0, 0.0, 1.0, 1.0]), False, "singular"),
        (np.zeros((4, 5, 6)), np.full((4, 4), np.nan), False, "NaN"),
        (np.zeros((4, 5, 6), dtype=np.float32), np.eye(4), True, "integer"),
        (np.zeros((4, 5, 6), dtype=complex), np.eye(4), False, "data type"),
    ],
)
def test_bad_volume_input_raises_and_adds_nothing(mrml: MRMLContext, array, matrix, labelmap, message):
    before = mrml.scene.GetNumberOfNodes()
    with pytest.raises(ValueError, match=message):
        add_volume_from_array(mrml.scene, array, matrix, "bad", labelmap=labelmap)
    assert mrml.scene.GetNumberOfNodes() == before


# ---------------------------------------------------------------------------------------------
# Segmentations


def test_segmentation_from_labelmap_gives_closed_surfaces_and_exact_ids(mrml: MRMLContext):
    labels = tube_labels()
    labels[0, 0:3, 0:3] = 7  # a label nobody asked for
    before = mrml.scene.GetNumberOfNodes()
    node = add_segmentation_from_labelmap(mrml.scene, labels, ijk_to_ras(), VEIN_SEGMENTS, "Veins")

    segmentation = node.GetSegmentation()
    assert list(segmentation.GetSegmentIDs()) == [
        "inferior_vena_cava",
        "iliac_vena_left",
        "iliac_vena_right",
    ]
    # Only the segmentation and its display node remain: the temporary labelmap is gone.
    assert mrml.scene.GetNumberOfNodes() == before + 2
    assert mrml.scene.GetNodesByClass("vtkMRMLLabelMapVolumeNode").GetNumberOfItems() == 0

    voxel_mm3 = float(np.prod(SPACING))
    for value, (segment_id, segment_name, color) in VEIN_SEGMENTS.items():
        segment = segmentation.GetSegment(segment_id)
        assert segment.GetName() == segment_name
        np.testing.assert_allclose(segment.GetColor(), color)
        assert segment.GetLabelValue() == value
        assert segment_voxel_count(node, segment_id) == np.count_nonzero(labels == value)

        surface = closed_surface(node, segment_id)
        assert surface.GetNumberOfPolys() > 100
        assert boundary_edge_count(surface) == 0
        expected = np.count_nonzero(labels == value) * voxel_mm3
        assert enclosed_volume(surface) == pytest.approx(expected, rel=0.10)
        # The surface sits where the voxels are (RAS, not IJK): compare centroids.
        kji = np.argwhere(labels == value).mean(axis=0)
        centroid_ras = ijk_to_ras() @ np.array([kji[2], kji[1], kji[0], 1.0])
        bounds = np.array(surface.GetBounds()).reshape(3, 2).mean(axis=1)
        np.testing.assert_allclose(bounds, centroid_ras[:3], atol=1.0)

    with pytest.raises(KeyError, match="not_there"):
        closed_surface(node, "not_there")


def test_vein_segments_carry_snomed_terminology(mrml: MRMLContext):
    node = add_segmentation_from_labelmap(mrml.scene, tube_labels(), ijk_to_ras(), VEIN_SEGMENTS, "Veins")
    segmentation = node.GetSegmentation()
    ivc = segmentation.GetSegment("inferior_vena_cava")
    from vtkmodules.vtkCommonCore import reference

    tag = reference("")
    assert ivc.GetTag("TerminologyEntry", tag)
    assert str(tag) == ivc.GetTerminology()
    assert "SCT^64131007^Inferior vena cava" in ivc.GetTerminology()
    assert terminology_codes(ivc) == ("64131007", "")
    left = segmentation.GetSegment("iliac_vena_left")
    right = segmentation.GetSegment("iliac_vena_right")
    assert terminology_codes(left) == ("46027005", "7771000")
    assert terminology_codes(right) == ("46027005", "24028007")
    assert [vein_branch_of_segment(s) for s in (ivc, left, right)] == list(names.BRANCHES)

    with pytest.raises(ValueError, match="unknown branch"):
        set_vein_terminology(ivc, "aorta")


def test_segmentation_keeps_requested_labels_of_any_integer_map(mrml: MRMLContext):
    # TotalSegmentator-style map: many labels, the veins at 63 / 67 / 68, plus odd values.
    tube = tube_labels()
    labels = np.where(tube > 0, tube + np.int32(64), 0).astype(np.int32)
    labels[labels == 65] = 63
    labels[0, :2, :2] = -1
    labels[29, :2, :2] = 70000
    labels[29, 5:7, 5:7] = 117
    wanted = {63: VEIN_SEGMENTS[1], 66: VEIN_SEGMENTS[2], 67: VEIN_SEGMENTS[3]}
    node = add_segmentation_from_labelmap(mrml.scene, labels, ijk_to_ras(), wanted, "TS")
    segmentation = node.GetSegmentation()
    assert list(segmentation.GetSegmentIDs()) == [spec[0] for spec in wanted.values()]
    for value, (segment_id, _name, _color) in wanted.items():
        assert segmentation.GetSegment(segment_id).GetLabelValue() == value
        expected = np.count_nonzero(labels == value)
        assert expected > 100
        assert segment_voxel_count(node, segment_id) == expected


def test_segmentation_rejects_bad_segments_without_adding_nodes(mrml: MRMLContext):
    before = mrml.scene.GetNumberOfNodes()
    duplicate = {1: ("same", "A", (1, 0, 0)), 2: ("same", "B", (0, 1, 0))}
    with pytest.raises(ValueError, match="used twice"):
        add_segmentation_from_labelmap(mrml.scene, tube_labels(), ijk_to_ras(), duplicate, "S")
    with pytest.raises(ValueError, match=r"1\.\.65535"):
        add_segmentation_from_labelmap(
            mrml.scene, tube_labels(), ijk_to_ras(), {0: ("bg", "bg", (0, 0, 0))}, "S"
        )
    with pytest.raises(ValueError, match="integer"):
        add_segmentation_from_labelmap(
            mrml.scene, tube_labels().astype(float), ijk_to_ras(), VEIN_SEGMENTS, "S"
        )
    assert mrml.scene.GetNumberOfNodes() == before


# ---------------------------------------------------------------------------------------------
# Markups, tables, plots, models, folders


def helix(n: int) -> np.ndarray:
    t = np.linspace(0.0, np.pi, n)
    return np.c_[20.0 * np.cos(t), 20.0 * np.sin(t), -50.0 + 5.0 * t]


def test_curve_radius_is_interpolated_along_the_curve(mrml: MRMLContext):
    points = helix(6)
    radius = np.array([2.0, 3.0, 5.0, 4.0, 6.0, 7.0])
    curve = add_curve(
        mrml.scene,
        points,
        "IVC centerline",
        radius_mm=radius,
        measurements={"Area": np.pi * radius**2},
        points_per_segment=4,
    )
    assert curve.GetNumberOfControlPoints() == 6
    for n, p in enumerate(points):
        np.testing.assert_allclose(curve.GetNthControlPointPositionWorld(n), p)
    measurement = curve.GetMeasurement("Radius")
    assert measurement.GetUnits() == "mm"

    interpolated = curve_point_data(curve, "Radius")
    position = curve_point_data(curve, "PedigreeIDs")  # fractional control-point index
    assert len(interpolated) == 5 * 4 + 1
    np.testing.assert_allclose(interpolated, np.interp(position, np.arange(6), radius))
    np.testing.assert_allclose(interpolated[::4], radius)
    np.testing.assert_allclose(curve_point_data(curve, "Area")[::4], np.pi * radius**2)


def test_dense_centerline_keeps_its_samples(mrml: MRMLContext):
    points = helix(40)
    radius = np.linspace(8.0, 6.0, 40)
    curve = add_curve(mrml.scene, points, "dense", radius_mm=radius)
    world = curve.GetCurveWorld()
    assert world.GetNumberOfPoints() == 40
    np.testing.assert_allclose(curve_point_data(curve, "Radius"), radius)
    with pytest.raises(ValueError, match="40 values"):
        add_curve(mrml.scene, points, "bad", radius_mm=radius[:-1])


def test_fiducial_labels_are_the_dict_keys(mrml: MRMLContext):
    seeds = {"IVC": (1.0, 2.0, 3.0), "Left": (10.0, -5.0, -80.0), "Right": (-10.0, -5.0, -80.0)}
    node = add_fiducials(mrml.scene, seeds, "Seeds")
    assert node.GetClassName() == "vtkMRMLMarkupsFiducialNode"
    got = {node.GetNthControlPointLabel(n): node.GetNthControlPointPositionWorld(n) for n in range(3)}
    assert list(got) == list(seeds)
    for label, p in seeds.items():
        np.testing.assert_allclose(got[label], p)


def test_table_and_plot_chart(mrml: MRMLContext):
    distance = np.arange(0.0, 12.0, 1.0)
    columns = {
        "Distance (mm)": distance,
        "CE diameter (mm)": 14.0 + 0.1 * distance,
        "MIS diameter (mm)": 12.0 + 0.2 * distance,
        "Lesion": distance > 5,
    }
    table = add_table(mrml.scene, columns, "Profile ivc")
    assert table.GetNumberOfColumns() == 4
    assert table.GetNumberOfRows() == 12
    for key, values in columns.items():
        np.testing.assert_array_equal(table_column(table, key), np.asarray(values, dtype=float))

    chart = add_plot_chart(
        mrml.scene,
        table,
        "Distance (mm)",
        ["CE diameter (mm)", "MIS diameter (mm)"],
        "Diameter profile",
        "IVC diameter",
        "Distance from confluence (mm)",
        "Diameter (mm)",
    )
    assert chart.GetClassName() == "vtkMRMLPlotChartNode"
    assert (chart.GetTitle(), chart.GetXAxisTitle(), chart.GetYAxisTitle()) == (
        "IVC diameter",
        "Distance from confluence (mm)",
        "Diameter (mm)",
    )
    series = plot_series_of(chart)
    assert [s.GetYColumnName() for s in series] == ["CE diameter (mm)", "MIS diameter (mm)"]
    for s in series:
        assert s.GetTableNodeID() == table.GetID()
        assert s.GetXColumnName() == "Distance (mm)"
    assert series[0].GetColor() != series[1].GetColor()

    with pytest.raises(ValueError, match="no column"):
        add_plot_chart(mrml.scene, table, "Distance (mm)", ["Nope"], "c", "t", "x", "y")
    with pytest.raises(ValueError, match="different lengths"):
        add_table(mrml.scene, {"a": [1, 2], "b": [1, 2, 3]}, "bad")


def sphere(center=(0.0, 0.0, 0.0), radius=5.0):
    from vtkmodules.vtkFiltersSources import vtkSphereSource

    source = vtkSphereSource()
    source.SetCenter(*center)
    source.SetRadius(radius)
    source.Update()
    return source.GetOutput()


def test_models_sit_in_a_subject_hierarchy_folder(mrml: MRMLContext):
    import slicer

    scene = mrml.scene
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    plan = subject_hierarchy_folder(scene, "IVC plan")
    stents = subject_hierarchy_folder(scene, "Stents", plan)
    assert sh.GetItemParent(plan) == sh.GetSceneItemID()
    assert sh.GetItemParent(stents) == plan
    assert sh.GetItemName(stents) == "Stents"

    polydata = sphere()
    s1 = add_model(scene, polydata, "S1", color=(0.9, 0.6, 0.1), opacity=0.5)
    s2 = add_model(scene, sphere((0, 0, 20)), "S2")
    polydata.GetPoints().SetPoint(0, 99.0, 99.0, 99.0)  # the node holds a copy
    assert s1.GetPolyData().GetPoint(0) != (99.0, 99.0, 99.0)
    assert s1.GetPolyData().GetNumberOfPoints() == polydata.GetNumberOfPoints()
    np.testing.assert_allclose(s1.GetDisplayNode().GetColor(), (0.9, 0.6, 0.1))
    assert s1.GetDisplayNode().GetOpacity() == 0.5

    # Headless nothing creates items for new nodes; placing does.
    assert sh.GetItemByDataNode(s1) == sh.GetInvalidItemID()
    item1 = place_in_folder(scene, s1, stents)
    place_in_folder(scene, s2, stents)
    assert sh_parent(scene, s1) == stents
    assert sh_parent(scene, s2) == stents
    # Placing again moves the item instead of making a second one.
    assert place_in_folder(scene, s1, plan) == item1
    assert sh_parent(scene, s1) == plan
    assert sh.GetNumberOfItemChildren(stents) == 1

    with pytest.raises(ValueError, match="not in the subject hierarchy"):
        subject_hierarchy_folder(scene, "orphan", 987654)
    with pytest.raises(ValueError, match="vtkPolyData"):
        add_model(scene, None, "bad")


# ---------------------------------------------------------------------------------------------
# Saving and reloading


LESION = np.array([False, True, True, False, False])


def build_scene(ctx: MRMLContext) -> dict:
    scene = ctx.scene
    rng = np.random.default_rng(3)
    ct = add_volume_from_array(
        scene, rng.integers(-200, 300, size=(30, 20, 20), dtype=np.int16), ijk_to_ras(), "CT"
    )
    segmentation = add_segmentation_from_labelmap(
        scene, tube_labels(), ijk_to_ras(), VEIN_SEGMENTS, "Veins", reference_volume=ct
    )
    curve = add_curve(scene, helix(12), "ivc centerline", radius_mm=np.linspace(9.0, 7.0, 12))
    seeds = add_fiducials(scene, {"IVC": (0, 0, 10), "Left": (5, 0, -20)}, "Seeds")
    columns = {
        "Distance (mm)": np.arange(5.0),
        "Area (mm2)": np.arange(5.0) ** 2,
        "Lesion": LESION,  # 8-bit columns came back as zeros before they were widened
        "Branch": ["ivc", "ivc", "left_iliac", "left_iliac", "right_iliac"],
    }
    table = add_table(scene, columns, "T")
    chart = add_plot_chart(scene, table, "Distance (mm)", ["Area (mm2)"], "C", "t", "x", "y")
    model = add_model(scene, closed_surface(segmentation, "inferior_vena_cava"), "IVC model")
    folder = subject_hierarchy_folder(scene, "Results")
    for node in (ct, segmentation, curve, seeds, table, chart, model):
        place_in_folder(scene, node, folder)
    return {"ct": ct, "segmentation": segmentation, "curve": curve, "table": table, "model": model}


def first_node(scene, class_name: str, name: str):
    node = scene.GetFirstNode(name, class_name)
    assert node is not None, f"{class_name} {name!r} missing after reload"
    return node


def test_mrb_round_trip_restores_the_scene(mrml: MRMLContext, mrb_roundtrip):
    import slicer

    original = build_scene(mrml)
    before = inventory(mrml.scene)
    assert sum(before.values()) == 8  # curve, seeds, one series and one of everything else

    loaded = mrb_roundtrip(mrml)
    scene = loaded.scene
    assert inventory(scene) == before

    ct = first_node(scene, "vtkMRMLScalarVolumeNode", "CT")
    array, matrix = array_and_geometry(ct)
    array0, matrix0 = array_and_geometry(original["ct"])
    np.testing.assert_array_equal(array, array0)
    np.testing.assert_allclose(matrix, matrix0, atol=1e-9)

    segmentation = first_node(scene, "vtkMRMLSegmentationNode", "Veins")
    ids = list(segmentation.GetSegmentation().GetSegmentIDs())
    assert ids == ["inferior_vena_cava", "iliac_vena_left", "iliac_vena_right"]
    for value, (segment_id, _name, _color) in VEIN_SEGMENTS.items():
        assert segment_voxel_count(segmentation, segment_id) == np.count_nonzero(tube_labels() == value)
    ivc = segmentation.GetSegmentation().GetSegment("inferior_vena_cava")
    assert terminology_codes(ivc) == ("64131007", "")

    curve = first_node(scene, "vtkMRMLMarkupsCurveNode", "ivc centerline")
    positions = np.array([curve.GetNthControlPointPositionWorld(n) for n in range(12)])
    np.testing.assert_allclose(positions, helix(12), atol=1e-6)
    np.testing.assert_allclose(curve_point_data(curve, "Radius"), np.linspace(9.0, 7.0, 12))

    table = first_node(scene, "vtkMRMLTableNode", "T")
    np.testing.assert_allclose(table_column(table, "Area (mm2)"), np.arange(5.0) ** 2)
    np.testing.assert_array_equal(table_column(table, "Lesion"), LESION.astype(int))
    assert list(table_column(table, "Branch")) == [
        "ivc",
        "ivc",
        "left_iliac",
        "left_iliac",
        "right_iliac",
    ]
    chart = first_node(scene, "vtkMRMLPlotChartNode", "C")
    assert plot_series_of(chart)[0].GetTableNodeID() == table.GetID()

    model = first_node(scene, "vtkMRMLModelNode", "IVC model")
    assert model.GetPolyData().GetNumberOfPoints() == original["model"].GetPolyData().GetNumberOfPoints()

    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    folder = sh.GetItemParent(sh.GetItemByDataNode(model))
    assert sh.GetItemName(folder) == "Results"
    for node in (ct, segmentation, curve, table, chart):
        assert sh_parent(scene, node) == folder


def test_bad_scene_bundles_raise(tmp_path, mrml: MRMLContext):
    with pytest.raises(ValueError, match="no such file"):
        load_mrb(tmp_path / "missing.mrb")
    garbage = tmp_path / "garbage.mrb"
    garbage.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match=r"garbage\.mrb: not a zip archive"):
        load_mrb(garbage, tmp_path / "garbage_ctx")
    no_scene = tmp_path / "no_scene.mrb"
    with zipfile.ZipFile(no_scene, "w") as archive:
        archive.writestr("bundle/readme.txt", "no scene in here")
    with pytest.raises(ValueError, match=r"no \.mrml scene file"):
        load_mrb(no_scene, tmp_path / "no_scene_ctx")
    with pytest.raises(ValueError, match=r"\.mrb"):
        save_mrb(mrml, tmp_path / "scene.zip")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(OSError):
        save_mrb(mrml, blocker / "scene.mrb")


# ---------------------------------------------------------------------------------------------
# The phantom in a scene


def tiny_phantom() -> Phantom:
    """20 x 20 x 30 voxels: IVC (1) above two iliac veins (2, 3), an artery (5); no bone (8)."""
    labels = tube_labels()
    labels[2:10, 16:19, 8:12] = 5
    image = np.where(labels > 0, 180, 40).astype(np.int16)
    affine = ijk_to_ras()

    def to_ras(ijk) -> np.ndarray:
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ affine[:3, :3].T + affine[:3, 3]

    def branch(name: str, ijk_points, diameter: float) -> TruthBranch:
        points = to_ras(ijk_points)
        distance = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
        n = len(points)
        ce = np.full(n, diameter) + np.linspace(0.0, 1.0, n)
        return TruthBranch(
            name=name,
            points_ras=points,
            distance_mm=distance,
            area_mm2=np.pi * ce**2 / 4,
            ce_diameter_mm=ce,
            min_diameter_mm=ce,
            max_diameter_mm=ce,
            healthy_area_mm2=np.pi * ce**2 / 4,
            confluence_zone=np.zeros(n, bool),
            lesion=np.zeros(n, bool),
        )

    ks = np.arange(15, 28)
    branches = {
        "ivc": branch("ivc", np.c_[np.full(len(ks), 10), np.full(len(ks), 10), ks], 6.0),
        "left_iliac": branch("left_iliac", np.c_[np.full(13, 5), np.full(13, 10), np.arange(14, 1, -1)], 4.5),
        "right_iliac": branch(
            "right_iliac", np.c_[np.full(13, 14), np.full(13, 10), np.arange(14, 1, -1)], 4.5
        ),
    }
    seeds = {
        "IVC": to_ras((10, 10, 26)),
        "Left": to_ras((5, 10, 3)),
        "Right": to_ras((14, 10, 3)),
        "Via": to_ras((10, 10, 18)),
    }
    return Phantom(
        image=image,
        labels=labels,
        ijk_to_ras=affine,
        branches=branches,
        confluence_ras=to_ras((10, 10, 15)),
        renal_inflow_ras=to_ras((10, 10, 24)),
        renal_inflows_ras={"left": to_ras((10, 10, 24)), "right": to_ras((10, 10, 25))},
        lesions=[],
        seeds=seeds,
        inter_iliac_angle_deg=0.0,
        enhancement_hu={"veins": 180.0},
    )


def test_phantom_goes_into_one_folder_with_the_right_segment_ids(mrml: MRMLContext):
    import slicer

    phantom = tiny_phantom()
    scene = mrml.scene
    result = add_phantom_to_scene(scene, phantom)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)

    assert sh.GetItemName(result.folder_item) == "IVC phantom"
    assert sh.GetItemParent(result.folder_item) == sh.GetSceneItemID()
    assert len(data_nodes(scene)) == 6  # CT, truth, seeds, 3 centerlines
    for node in data_nodes(scene):
        assert sh_parent(scene, node) == result.folder_item, node.GetName()

    assert result.volume.GetName() == "IVC phantom CT"
    np.testing.assert_array_equal(array_and_geometry(result.volume)[0], phantom.image)

    segmentation = result.segmentation.GetSegmentation()
    assert list(segmentation.GetSegmentIDs()) == [
        "inferior_vena_cava",
        "iliac_vena_left",
        "iliac_vena_right",
        "arteries",
    ]
    for value, segment_id in [(1, "inferior_vena_cava"), (2, "iliac_vena_left"), (5, "arteries")]:
        assert segment_voxel_count(result.segmentation, segment_id) == np.count_nonzero(
            phantom.labels == value
        )
    assert terminology_codes(segmentation.GetSegment("inferior_vena_cava"))[0] == "64131007"
    assert result.segmentation.GetNodeReference("referenceImageGeometryRef") is result.volume

    labels = [result.seeds.GetNthControlPointLabel(n) for n in range(result.seeds.GetNumberOfControlPoints())]
    assert labels == ["IVC", "Left", "Right", "Via"]
    np.testing.assert_allclose(result.seeds.GetNthControlPointPositionWorld(3), phantom.seeds["Via"])

    assert set(result.centerlines) == set(names.BRANCHES)
    for branch, truth in phantom.branches.items():
        curve = result.centerlines[branch]
        np.testing.assert_allclose(curve_point_data(curve, "Radius"), truth.ce_diameter_mm / 2)
        assert curve.GetNumberOfControlPoints() == len(truth.points_ras)

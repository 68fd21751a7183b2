"""Centerlines and diameter profiles leave the pipeline as Slicer nodes and CSV files that hold
exactly what was measured: curves with Radius, tables with units, one chart, one folder."""

from __future__ import annotations

import numpy as np
import pytest

from IVCReconstructionLib import names
from IVCReconstructionLib.measure.datatypes import (
    PROFILE_COLUMNS,
    BranchProfile,
    CenterlineBranch,
    CenterlineTree,
)
from IVCReconstructionLib.outputs import profile_csv as profile_io
from IVCReconstructionLib.scene.centerline_nodes import add_centerlines_to_scene
from IVCReconstructionLib.scene.context import MRMLContext
from IVCReconstructionLib.scene.nodes import subject_hierarchy_folder
from support.mrml_readers import curve_point_data, plot_series_of, table_column

CONFLUENCE = np.array([2.0, 10.0, -150.0])
CONFLUENCE_ZONE_MM = 6.0
EMPTY_SECTION = 12  # sample index of the empty cross-section in `nan_profiles`

DATA_CLASSES = (
    "vtkMRMLMarkupsCurveNode",
    "vtkMRMLTableNode",
    "vtkMRMLPlotChartNode",
    "vtkMRMLPlotSeriesNode",
)

TABLE_COLUMNS = [
    "Distance (mm)",
    "R (mm)",
    "A (mm)",
    "S (mm)",
    "Area (mm2)",
    "Diameter CE (mm)",
    "Diameter min (mm)",
    "Diameter max (mm)",
    "Diameter MIS (mm)",
    "Confluence zone",
]


# ---------------------------------------------------------------------------------------------
# Synthetic centerlines with known diameters


def branch_points(branch: str, n: int) -> np.ndarray:
    """1 mm samples from the confluence: a straight IVC going up, iliacs bending down and out.

    The iliacs are circular arcs of radius 60 mm (patient's left = smaller R), so the curves
    are genuinely curved and their samples exactly 1 mm apart along the arc.
    """
    s = np.arange(n, dtype=float)
    if branch == "ivc":
        return CONFLUENCE + np.c_[0.3 * s, np.zeros(n), s] / np.hypot(0.3, 1.0)
    side = -1.0 if branch == "left_iliac" else 1.0
    angle = s / 60.0
    return CONFLUENCE + np.c_[side * 60.0 * (1.0 - np.cos(angle)), 0.2 * s, -60.0 * np.sin(angle)]


def make_profile(branch: str, n: int) -> BranchProfile:
    """Elliptic sections: CE diameter tapering linearly, min/max = 0.8/1.25 x CE, MIS = min."""
    distance = np.arange(n, dtype=float)
    start = {"ivc": 22.0, "left_iliac": 14.0, "right_iliac": 15.0}[branch]
    ce = start - 0.05 * distance
    return BranchProfile(
        name=branch,
        distance_mm=distance,
        points_ras=branch_points(branch, n),
        area_mm2=np.pi * (ce / 2.0) ** 2,
        ce_diameter_mm=ce,
        min_diameter_mm=0.8 * ce,
        max_diameter_mm=1.25 * ce,
        mis_diameter_mm=0.8 * ce,
        confluence_zone=distance < CONFLUENCE_ZONE_MM,
    )


def make_inputs(lengths=None) -> tuple[CenterlineTree, dict[str, BranchProfile]]:
    lengths = lengths or {"ivc": 40, "left_iliac": 31, "right_iliac": 27}
    profiles = {b: make_profile(b, lengths[b]) for b in names.BRANCHES}
    branches = {
        b: CenterlineBranch(b, p.points_ras.copy(), p.distance_mm.copy(), p.mis_diameter_mm / 2.0)
        for b, p in profiles.items()
    }
    return CenterlineTree(branches, CONFLUENCE.copy()), profiles


def nan_profiles() -> tuple[CenterlineTree, dict[str, BranchProfile]]:
    """Inputs whose left iliac has one empty cross-section (NaN area and CE/min/max)."""
    tree, profiles = make_inputs()
    p = profiles["left_iliac"]
    for field in ("area_mm2", "ce_diameter_mm", "min_diameter_mm", "max_diameter_mm"):
        getattr(p, field)[EMPTY_SECTION] = np.nan
    return tree, profiles


# ---------------------------------------------------------------------------------------------
# Scene helpers


def data_nodes(scene) -> list:
    nodes = []
    for class_name in DATA_CLASSES:
        collection = scene.GetNodesByClass(class_name)
        nodes += [collection.GetItemAsObject(n) for n in range(collection.GetNumberOfItems())]
    return nodes


def subject_hierarchy(scene):
    import slicer

    return slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)


def sh_item_count(scene) -> int:
    from vtkmodules.vtkCommonCore import vtkIdList

    sh = subject_hierarchy(scene)
    items = vtkIdList()
    sh.GetItemChildren(sh.GetSceneItemID(), items, True)
    return items.GetNumberOfIds()


def sh_parent(scene, node) -> int:
    sh = subject_hierarchy(scene)
    item = sh.GetItemByDataNode(node)
    assert item != sh.GetInvalidItemID(), f"{node.GetName()} has no subject-hierarchy item"
    return sh.GetItemParent(item)


def by_branch(scene, class_name: str) -> dict[str, object]:
    """Nodes of a class keyed by their branch attribute (how later stages find them)."""
    found = {}
    collection = scene.GetNodesByClass(class_name)
    for n in range(collection.GetNumberOfItems()):
        node = collection.GetItemAsObject(n)
        branch = node.GetAttribute(names.BRANCH_ATTRIBUTE)
        if branch is not None:
            assert branch not in found, f"two {class_name} nodes for {branch}"
            found[branch] = node
    return found


def measurement_values(curve, name: str) -> np.ndarray:
    measurement = curve.GetMeasurement(name)
    assert measurement is not None, f"{curve.GetName()} has no measurement {name!r}"
    return np.array(np.asarray(measurement.GetControlPointValues()), copy=True)


# ---------------------------------------------------------------------------------------------
# MRML output


def test_everything_goes_into_one_folder(mrml: MRMLContext):
    scene = mrml.scene
    parent = subject_hierarchy_folder(scene, "IVC analysis")
    tree, profiles = make_inputs()
    result = add_centerlines_to_scene(scene, tree, profiles, parent_item=parent)

    sh = subject_hierarchy(scene)
    assert sh.GetItemName(result.folder_item) == "IVC centerlines"
    assert sh.GetItemParent(result.folder_item) == parent
    nodes = data_nodes(scene)
    assert len(nodes) == 3 + 3 + 1 + 9  # curves, tables, chart, series
    assert {n.GetID() for n in nodes} == {n.GetID() for n in result.nodes()}
    for node in nodes:
        assert sh_parent(scene, node) == result.folder_item, node.GetName()
    assert sh.GetNumberOfItemChildren(result.folder_item) == len(nodes)

    assert {b: c.GetName() for b, c in result.curves.items()} == {
        "ivc": "IVC centerline",
        "left_iliac": "Left iliac centerline",
        "right_iliac": "Right iliac centerline",
    }
    assert {b: t.GetName() for b, t in result.tables.items()} == {
        "ivc": "IVC profile",
        "left_iliac": "Left iliac profile",
        "right_iliac": "Right iliac profile",
    }


def test_nodes_carry_their_branch(mrml: MRMLContext):
    scene = mrml.scene
    tree, profiles = make_inputs()
    result = add_centerlines_to_scene(scene, tree, profiles)
    result.curves["left_iliac"].SetName("renamed by the user")

    curves = by_branch(scene, "vtkMRMLMarkupsCurveNode")
    assert set(curves) == set(names.BRANCHES)
    for branch, curve in curves.items():
        assert curve is result.curves[branch]
        assert curve.GetNumberOfControlPoints() == len(profiles[branch].distance_mm)
    assert by_branch(scene, "vtkMRMLTableNode") == result.tables
    for series in result.series:
        branch = series.GetAttribute(names.BRANCH_ATTRIBUTE)
        assert series.GetTableNodeID() == result.tables[branch].GetID()


def test_curves_carry_radius_and_diameters_per_profile_sample(mrml: MRMLContext):
    tree, profiles = make_inputs()
    result = add_centerlines_to_scene(mrml.scene, tree, profiles)

    for branch, profile in profiles.items():
        curve = result.curves[branch]
        n = len(profile.distance_mm)
        assert curve.GetNumberOfControlPoints() == n
        positions = np.array([curve.GetNthControlPointPositionWorld(k) for k in range(n)])
        np.testing.assert_allclose(positions, profile.points_ras, atol=1e-9)

        radius = curve.GetMeasurement("Radius")
        assert radius.GetUnits() == "mm"
        np.testing.assert_allclose(measurement_values(curve, "Radius"), profile.mis_diameter_mm / 2)
        # What Slicer tools read: the radius interpolated onto the curve, one value per sample.
        interpolated = curve_point_data(curve, "Radius")
        assert len(interpolated) == n
        np.testing.assert_allclose(interpolated, profile.mis_diameter_mm / 2)

        expected = {
            "Diameter CE": (profile.ce_diameter_mm, "mm"),
            "Diameter min": (profile.min_diameter_mm, "mm"),
            "Diameter max": (profile.max_diameter_mm, "mm"),
            "Diameter MIS": (profile.mis_diameter_mm, "mm"),
            "Area": (profile.area_mm2, "mm2"),
        }
        for name, (values, unit) in expected.items():
            assert curve.GetMeasurement(name).GetUnits() == unit, name
            np.testing.assert_allclose(measurement_values(curve, name), values, err_msg=name)
            np.testing.assert_allclose(curve_point_data(curve, name), values, err_msg=name)

    # The curved iliacs are really curved: their length is the arc, longer than the chord.
    left = result.curves["left_iliac"]
    chord = np.linalg.norm(profiles["left_iliac"].points_ras[-1] - profiles["left_iliac"].points_ras[0])
    assert left.GetCurveLengthWorld() > chord + 0.1


def test_tables_hold_the_profiles_with_units_in_the_column_names(mrml: MRMLContext):
    tree, profiles = make_inputs()
    result = add_centerlines_to_scene(mrml.scene, tree, profiles)

    for branch, profile in profiles.items():
        table = result.tables[branch]
        vtk_table = table.GetTable()
        column_names = [vtk_table.GetColumnName(c) for c in range(vtk_table.GetNumberOfColumns())]
        assert column_names == TABLE_COLUMNS
        assert table.GetNumberOfRows() == len(profile.distance_mm)
        for field, column in zip(PROFILE_COLUMNS, TABLE_COLUMNS, strict=True):
            expected = profile.columns()[field]
            np.testing.assert_array_equal(table_column(table, column), expected, err_msg=column)
        zone = table_column(table, "Confluence zone")
        assert zone.dtype.kind == "i"
        assert zone.sum() == CONFLUENCE_ZONE_MM  # 1 mm samples: 0..5 mm are flagged


def test_chart_plots_three_diameters_of_three_branches(mrml: MRMLContext):
    import slicer

    tree, profiles = make_inputs()
    result = add_centerlines_to_scene(mrml.scene, tree, profiles)
    chart = result.chart
    assert chart.GetName() == "Vein diameters"
    assert chart.GetXAxisTitle() == "Distance from confluence (mm)"
    assert chart.GetYAxisTitle() == "Diameter (mm)"

    series = plot_series_of(chart)
    assert [s.GetID() for s in series] == [s.GetID() for s in result.series]
    got = [
        (
            s.GetAttribute(names.BRANCH_ATTRIBUTE),
            s.GetTableNodeID(),
            s.GetXColumnName(),
            s.GetYColumnName(),
            s.GetLineStyle(),
        )
        for s in series
    ]
    styles = {
        "Diameter CE (mm)": slicer.vtkMRMLPlotSeriesNode.LineStyleSolid,
        "Diameter min (mm)": slicer.vtkMRMLPlotSeriesNode.LineStyleDash,
        "Diameter max (mm)": slicer.vtkMRMLPlotSeriesNode.LineStyleDot,
    }
    expected = [
        (branch, result.tables[branch].GetID(), "Distance (mm)", column, style)
        for branch in names.BRANCHES
        for column, style in styles.items()
    ]
    assert got == expected
    assert series[4].GetName() == "Left iliac min diameter"

    colors = {}
    for s in series:
        colors.setdefault(s.GetAttribute(names.BRANCH_ATTRIBUTE), set()).add(s.GetColor())
    assert all(len(c) == 1 for c in colors.values()), "one colour per branch"
    assert len({c.pop() for c in colors.values()}) == 3, "branches must differ in colour"
    for s in series:
        assert s.GetPlotType() == slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter
        assert s.GetMarkerStyle() == slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone
    for branch, curve in result.curves.items():
        assert (
            curve.GetDisplayNode().GetSelectedColor()
            == result.series[3 * names.BRANCHES.index(branch)].GetColor()
        )


def test_empty_cross_section_stays_nan_everywhere(mrml: MRMLContext, tmp_path):
    tree, profiles = nan_profiles()
    result = add_centerlines_to_scene(mrml.scene, tree, profiles)

    curve = result.curves["left_iliac"]
    ce = measurement_values(curve, "Diameter CE")
    assert np.isnan(ce[EMPTY_SECTION])
    assert np.isnan(ce).sum() == 1
    np.testing.assert_allclose(curve_point_data(curve, "Radius"), profiles["left_iliac"].mis_diameter_mm / 2)
    area = table_column(result.tables["left_iliac"], "Area (mm2)")
    assert np.isnan(area).tolist() == np.isnan(profiles["left_iliac"].area_mm2).tolist()

    path = profile_io.write_profile_csv(profiles["left_iliac"], tmp_path / "profile_left_iliac.csv")
    assert "nan,nan,nan,nan" in path.read_text().splitlines()[EMPTY_SECTION + 1]
    back = profile_io.read_profile_csv(path)
    assert np.isnan(back.ce_diameter_mm[EMPTY_SECTION])
    assert np.isnan(back.ce_diameter_mm).sum() == 1


def _missing_branch(tree, profiles):
    del profiles["right_iliac"]


def _missing_tree_branch(tree, profiles):
    del tree.branches["ivc"]


def _unknown_branch(tree, profiles):
    profiles["renal"] = profiles["ivc"]


def _short_diameters(tree, profiles):
    profiles["left_iliac"].min_diameter_mm = profiles["left_iliac"].min_diameter_mm[:-1]


def _short_points(tree, profiles):
    profiles["ivc"].points_ras = profiles["ivc"].points_ras[:-2]


def _empty_profile(tree, profiles):
    p = profiles["right_iliac"]
    for field in ("distance_mm", "area_mm2", "ce_diameter_mm", "min_diameter_mm", "max_diameter_mm"):
        setattr(p, field, np.zeros(0))
    p.mis_diameter_mm = np.zeros(0)
    p.confluence_zone = np.zeros(0, dtype=bool)
    p.points_ras = np.zeros((0, 3))


def _one_sample(tree, profiles):
    p = profiles["ivc"]
    for field in ("distance_mm", "area_mm2", "ce_diameter_mm", "min_diameter_mm", "max_diameter_mm"):
        setattr(p, field, getattr(p, field)[:1])
    p.mis_diameter_mm = p.mis_diameter_mm[:1]
    p.confluence_zone = p.confluence_zone[:1]
    p.points_ras = p.points_ras[:1]


def _reversed_branch(tree, profiles):
    profiles["ivc"].distance_mm = profiles["ivc"].distance_mm[::-1].copy()


def _misnamed_profile(tree, profiles):
    profiles["left_iliac"].name = "right_iliac"


def _nan_mis(tree, profiles):
    profiles["ivc"].mis_diameter_mm[3] = np.nan


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_missing_branch, "profiles has no branch right_iliac"),
        (_missing_tree_branch, "centerline tree has no branch ivc"),
        (_unknown_branch, "unknown branch.*renal"),
        (_short_diameters, r"'left_iliac': min_diameter_mm has shape \(30,\), expected \(31,\)"),
        (_short_points, r"'ivc': points_ras must have shape \(40, 3\)"),
        (_empty_profile, "'right_iliac' is empty"),
        (_one_sample, "at least 2"),
        (_reversed_branch, "increase strictly"),
        (_misnamed_profile, "is named 'right_iliac'"),
        (_nan_mis, "mis_diameter_mm contains NaN"),
    ],
)
def test_bad_input_raises_and_leaves_the_scene_unchanged(mrml: MRMLContext, spoil, message):
    scene = mrml.scene
    nodes_before, items_before = scene.GetNumberOfNodes(), sh_item_count(scene)
    tree, profiles = make_inputs()
    spoil(tree, profiles)
    with pytest.raises(ValueError, match=message):
        add_centerlines_to_scene(scene, tree, profiles)
    assert scene.GetNumberOfNodes() == nodes_before
    assert sh_item_count(scene) == items_before


@pytest.mark.parametrize("fail_at", ["add_table", "place_in_folder"])
def test_failure_midway_removes_what_was_made(mrml: MRMLContext, monkeypatch, fail_at):
    """A failure after nodes exist (here forced on the 2nd call) leaves no node or folder behind."""
    scene = mrml.scene
    nodes_before, items_before = scene.GetNumberOfNodes(), sh_item_count(scene)
    from IVCReconstructionLib.scene import centerline_nodes

    original = getattr(centerline_nodes, fail_at)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("forced failure")
        return original(*args, **kwargs)

    monkeypatch.setattr(centerline_nodes, fail_at, failing)
    tree, profiles = make_inputs()
    with pytest.raises(RuntimeError, match="forced failure"):
        add_centerlines_to_scene(scene, tree, profiles)
    assert scene.GetNumberOfNodes() == nodes_before
    assert sh_item_count(scene) == items_before

    monkeypatch.undo()  # and the scene is still usable
    result = add_centerlines_to_scene(scene, tree, profiles)
    assert len(data_nodes(scene)) == len(result.nodes()) == 16


def test_scene_bundle_keeps_curves_tables_and_chart(mrml: MRMLContext, mrb_roundtrip):
    tree, profiles = nan_profiles()
    add_centerlines_to_scene(mrml.scene, tree, profiles)
    loaded = mrb_roundtrip(mrml)
    scene = loaded.scene

    curves = by_branch(scene, "vtkMRMLMarkupsCurveNode")
    tables = by_branch(scene, "vtkMRMLTableNode")
    assert set(curves) == set(tables) == set(names.BRANCHES)
    folder = sh_parent(scene, curves["ivc"])
    assert subject_hierarchy(scene).GetItemName(folder) == "IVC centerlines"
    for node in data_nodes(scene):
        assert sh_parent(scene, node) == folder, node.GetName()

    for branch, profile in profiles.items():
        curve = curves[branch]
        assert curve.GetNumberOfControlPoints() == len(profile.distance_mm)
        assert curve.GetMeasurement("Radius").GetUnits() == "mm"
        np.testing.assert_allclose(curve_point_data(curve, "Radius"), profile.mis_diameter_mm / 2)
        np.testing.assert_allclose(measurement_values(curve, "Diameter CE"), profile.ce_diameter_mm)
        assert curve.GetMeasurement("Area").GetUnits() == "mm2"
        # Slicer's table storage writes 6 significant digits (no precision setting): ~1 um here.
        for field, column in zip(PROFILE_COLUMNS, TABLE_COLUMNS, strict=True):
            np.testing.assert_allclose(
                table_column(tables[branch], column),
                profile.columns()[field],
                rtol=5e-6,
                err_msg=column,
            )

    chart = scene.GetFirstNode("Vein diameters", "vtkMRMLPlotChartNode")
    series = plot_series_of(chart)
    assert len(series) == 9
    for s in series:
        assert s.GetTableNodeID() == tables[s.GetAttribute(names.BRANCH_ATTRIBUTE)].GetID()


# ---------------------------------------------------------------------------------------------
# CSV files


def test_csv_has_the_exact_header_and_rounds_to_three_decimals(tmp_path):
    profile = make_profile("left_iliac", 31)
    path = profile_io.write_profile_csv(profile, tmp_path / "out" / "profile_left_iliac.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == (
        "distance_mm,r,a,s,area_mm2,ce_diameter_mm,min_diameter_mm,max_diameter_mm,mis_diameter_mm,confluence_zone"
    )
    assert len(lines) == 1 + 31
    first = lines[1].split(",")
    assert first[0] == "0.000"
    assert first[-1] == "1"
    assert lines[-1].split(",")[-1] == "0"
    assert all(len(v.split(".")[1]) == 3 for v in first[:-1])

    back = profile_io.read_profile_csv(path)
    assert back.name == "left_iliac"
    for field, values in profile.columns().items():
        rounded = np.array([float(f"{v:.3f}") for v in np.asarray(values, dtype=float)])
        np.testing.assert_array_equal(back.columns()[field], rounded, err_msg=field)
        np.testing.assert_allclose(back.columns()[field], values, atol=5e-4 + 1e-9, rtol=0, err_msg=field)
    assert back.confluence_zone.dtype == bool

    # Writing what was read gives the same bytes: nothing drifts between runs.
    again = profile_io.write_profile_csv(back, tmp_path / "again" / "profile_left_iliac.csv")
    assert again.read_bytes() == path.read_bytes()


def test_csv_writes_no_negative_zero(tmp_path):
    profile = make_profile("ivc", 5)
    profile.points_ras[:, 1] = -0.0002  # rounds to zero
    path = profile_io.write_profile_csv(profile, tmp_path / "profile_ivc.csv")
    assert "-0.000" not in path.read_text()


def test_write_profiles_names_one_file_per_branch(tmp_path):
    _tree, profiles = make_inputs()
    paths = profile_io.write_profiles(profiles, tmp_path / "plan")
    assert [p.name for p in paths] == ["profile_ivc.csv", "profile_left_iliac.csv", "profile_right_iliac.csv"]
    for path in paths:
        branch = profile_io.read_profile_csv(path)
        assert len(branch.distance_mm) == len(profiles[branch.name].distance_mm)

    # A bad profile among good ones: nothing is written.
    profiles["right_iliac"].area_mm2 = profiles["right_iliac"].area_mm2[:3]
    with pytest.raises(ValueError, match="area_mm2"):
        profile_io.write_profiles(profiles, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("profile_ivc.csv", "distance,r,a,s\n0,1,2,3\n", "wrong header 'distance,r,a,s'"),
        ("profile_ivc.csv", "", r"wrong header '\(empty file\)'"),
        ("profile_ivc.csv", ",".join(PROFILE_COLUMNS) + "\n", "no data rows"),
        ("profile_ivc.csv", ",".join(PROFILE_COLUMNS) + "\n0,1,2,3\n", "line 2: 4 fields, expected 10"),
        ("profile_ivc.csv", ",".join(PROFILE_COLUMNS) + "\n0,1,2,3,4,5,6,7,8,x\n", "line 2: not a number"),
        ("profile_ivc.csv", ",".join(PROFILE_COLUMNS) + "\n0,1,2,3,4,5,6,7,8,2\n", "0 or 1"),
        ("ivc.csv", ",".join(PROFILE_COLUMNS) + "\n0,1,2,3,4,5,6,7,8,0\n", "from the file name 'ivc.csv'"),
        ("profile_aorta.csv", ",".join(PROFILE_COLUMNS) + "\n0,1,2,3,4,5,6,7,8,0\n", "profile_aorta.csv"),
    ],
)
def test_reading_a_bad_csv_says_what_is_wrong(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        profile_io.read_profile_csv(path)

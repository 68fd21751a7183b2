"""Centerlines and diameter profiles in the scene: a curve and a table per branch, one chart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import names
from ..measure.datatypes import BranchProfile, CenterlineTree
from .nodes import (
    add_curve,
    add_line_series,
    add_table,
    check_name,
    discard,
    place_in_folder,
    subject_hierarchy,
    subject_hierarchy_folder,
    to_vtk_array,
)

# Profile table column per profile_types.PROFILE_COLUMNS field, in that order; units in the names.
PROFILE_TABLE_COLUMNS = {
    "distance_mm": "Distance (mm)",
    "r": "R (mm)",
    "a": "A (mm)",
    "s": "S (mm)",
    "area_mm2": "Area (mm2)",
    "ce_diameter_mm": "Diameter CE (mm)",
    "min_diameter_mm": "Diameter min (mm)",
    "max_diameter_mm": "Diameter max (mm)",
    "mis_diameter_mm": "Diameter MIS (mm)",
    "confluence_zone": "Confluence zone",
}


# Per-point curve measurements besides "Radius": BranchProfile field -> (measurement name, unit).
CURVE_MEASUREMENTS = {
    "ce_diameter_mm": ("Diameter CE", "mm"),
    "min_diameter_mm": ("Diameter min", "mm"),
    "max_diameter_mm": ("Diameter max", "mm"),
    "mis_diameter_mm": ("Diameter MIS", "mm"),
    "area_mm2": ("Area", "mm2"),
}


# Plotted diameters: BranchProfile field -> (legend word, line style name on vtkMRMLPlotSeriesNode).
# One colour per branch and one line style per metric, so 9 lines stay readable in one chart.
_PLOTTED_DIAMETERS = {
    "ce_diameter_mm": ("CE", "LineStyleSolid"),
    "min_diameter_mm": ("min", "LineStyleDash"),
    "max_diameter_mm": ("max", "LineStyleDot"),
}


@dataclass
class CenterlineNodes:
    """The nodes :func:`add_centerlines_to_scene` made, and the folder holding them.

    ``curves`` and ``tables`` are keyed by branch (``names.BRANCHES``); ``series`` holds the
    chart's plot series in chart order (per branch: CE, min, max diameter).
    """

    folder_item: int
    curves: dict[str, Any]
    tables: dict[str, Any]
    chart: Any
    series: list[Any] = field(default_factory=list)

    def nodes(self) -> list[Any]:
        return [*self.curves.values(), *self.tables.values(), self.chart, *self.series]


def _check_centerline_input(tree: CenterlineTree, profiles: Mapping[str, BranchProfile]) -> None:
    """Raise ValueError unless tree and profiles cover exactly the three branches, each usable."""
    from ..outputs.profile_csv import check_profile

    expected = set(names.BRANCHES)
    for what, keys in (("centerline tree", set(tree.branches)), ("profiles", set(profiles))):
        missing = [b for b in names.BRANCHES if b not in keys]
        if missing:
            raise ValueError(f"{what} has no branch {', '.join(missing)}")
        unknown = sorted(keys - expected)
        if unknown:
            raise ValueError(f"{what} has unknown branch(es) {', '.join(unknown)}")
    for branch in names.BRANCHES:
        if tree.branches[branch].name != branch:
            raise ValueError(f"centerline branch {branch!r} is named {tree.branches[branch].name!r}")
        n = check_profile(profiles[branch], branch)
        if n < 2:
            # A markups curve needs two points; a branch this short means the centerline failed.
            raise ValueError(f"profile {branch!r} has {n} sample; a centerline curve needs at least 2")


def _add_point_measurement(curve: Any, name: str, values: np.ndarray, unit: str) -> None:
    """Attach a per-control-point static measurement to a curve.

    Unlike ``add_curve``'s ``measurements`` this allows NaN (an empty cross-section): Slicer
    interpolates it as NaN and writes it to ``.mrk.json`` as ``NaN``, which it reads back.
    """
    import slicer

    measurement = slicer.vtkMRMLStaticMeasurement()
    measurement.SetName(name)
    measurement.SetUnits(unit)
    measurement.SetPrintFormat("")
    measurement.SetControlPointValues(to_vtk_array(np.asarray(values, dtype=float), name))
    curve.AddMeasurement(measurement)


def add_centerlines_to_scene(
    scene: Any,
    tree: CenterlineTree,
    profiles: Mapping[str, BranchProfile],
    folder_name: str = "IVC centerlines",
    parent_item: int | None = None,
) -> CenterlineNodes:
    """Show the centerline tree and its diameter profiles: curves, tables and one chart.

    All in one new subject-hierarchy folder ``folder_name`` (under ``parent_item``, else the
    scene), for each branch of ``names.BRANCHES``:

    * a markups curve "<Branch> centerline" through the profile samples (control point n is
      sample n), carrying "Radius" = MIS diameter / 2 (mm, as SlicerVMTK's centerlines do, so
      its Cross-Section Analysis can use the curve) and the per-point measurements of
      ``CURVE_MEASUREMENTS`` ("Diameter CE", ... in mm, "Area" in mm2);
    * a table "<Branch> profile" with the columns of ``PROFILE_TABLE_COLUMNS`` (row n is
      sample n);

    and one plot chart "Vein diameters" of CE (solid), min (dashed) and max (dotted) diameter
    against distance, one colour per branch (``names.BRANCH_PLOT_COLORS``): nine series.
    Curves, tables and series carry the attribute ``names.BRANCH_ATTRIBUTE`` = branch name.

    The tree decides which branches exist; the geometry and values come from the profiles.
    Raises ValueError naming the problem (missing or unknown branch, empty profile, arrays of
    different lengths, ...) before the scene is touched; if making the nodes fails midway, the
    nodes made so far and the folder are removed again.
    """
    import slicer

    check_name(folder_name, "folder_name")
    _check_centerline_input(tree, profiles)
    sh = subject_hierarchy(scene)
    folder = subject_hierarchy_folder(scene, folder_name, parent_item)

    created: list[Any] = []
    try:
        curves: dict[str, Any] = {}
        tables: dict[str, Any] = {}
        for branch in names.BRANCHES:
            profile = profiles[branch]
            label = names.BRANCH_LABELS[branch]
            mis_diameter = np.asarray(profile.mis_diameter_mm, dtype=float)
            curve = add_curve(
                scene, profile.points_ras, f"{label} centerline", radius_mm=mis_diameter / 2.0, locked=True
            )
            created.append(curve)
            for field_name, (measurement, unit) in CURVE_MEASUREMENTS.items():
                _add_point_measurement(curve, measurement, getattr(profile, field_name), unit)
            display = curve.GetDisplayNode()
            display.SetColor(*names.BRANCH_PLOT_COLORS[branch])
            # Control points are "selected" by default and drawn in the selected colour.
            display.SetSelectedColor(*names.BRANCH_PLOT_COLORS[branch])
            curve.SetAttribute(names.BRANCH_ATTRIBUTE, branch)
            curves[branch] = curve

            columns = {PROFILE_TABLE_COLUMNS[key]: values for key, values in profile.columns().items()}
            table = add_table(scene, columns, f"{label} profile")
            created.append(table)
            table.SetAttribute(names.BRANCH_ATTRIBUTE, branch)
            tables[branch] = table

        chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", "Vein diameters")
        created.append(chart)
        chart.SetTitle("Vein diameters")
        chart.SetXAxisTitle("Distance from confluence (mm)")
        chart.SetYAxisTitle("Diameter (mm)")
        series = []
        for branch in names.BRANCHES:
            for field_name, (word, style) in _PLOTTED_DIAMETERS.items():
                s = add_line_series(
                    scene,
                    chart,
                    tables[branch],
                    PROFILE_TABLE_COLUMNS["distance_mm"],
                    PROFILE_TABLE_COLUMNS[field_name],
                    f"{names.BRANCH_LABELS[branch]} {word} diameter",
                    names.BRANCH_PLOT_COLORS[branch],
                    getattr(slicer.vtkMRMLPlotSeriesNode, style),
                )
                created.append(s)
                s.SetAttribute(names.BRANCH_ATTRIBUTE, branch)
                series.append(s)

        result = CenterlineNodes(folder, curves, tables, chart, series)
        for node in result.nodes():
            place_in_folder(scene, node, folder)
    except Exception:
        discard(scene, sh, folder, created)
        raise
    return result

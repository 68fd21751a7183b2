"""Cross sections every 1 mm along each branch: what a clinician sizes stents from.

VMTK's ``vtkvmtkPolyDataCenterlineSections`` cuts the vein surface with the plane normal to
the centerline at each point and keeps the contour around that point: section area, minimum
and maximum size and whether the contour is closed. The plane's normal comes from the
neighbouring centerline points, so the branches it gets are the 1 mm ones, already smoothed.
From the area comes the area-equivalent (CE) diameter; the inscribed-sphere (MIS) diameter
comes from the centerline itself.

Sections near the confluence are flagged (``confluence_zone``) so that reference diameters
leave them out: where the section plane also cuts another branch's lumen, where the
inscribed sphere is inflated by the confluence, or where the contour is not closed.
"""

from __future__ import annotations

import numpy as np

from .datatypes import BranchProfile, CenterlineTree
from .vmtk_compat import vmtk_class

# An inscribed sphere wider than the section's own CE diameter by this factor sits in the
# confluence, not in one vein (for an ellipse the MIS diameter is the minor axis, below CE).
INFLATED_MIS_FACTOR = 1.1
# Half a millimetre around a section plane counts as cutting a neighbouring branch's tube.
PLANE_MARGIN_MM = 0.5


def _polyline(points: np.ndarray):
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData, vtkPolyLine

    pts = vtkPoints()
    for p in points:
        pts.InsertNextPoint(float(p[0]), float(p[1]), float(p[2]))
    line = vtkPolyLine()
    line.GetPointIds().SetNumberOfIds(len(points))
    for k in range(len(points)):
        line.GetPointIds().SetId(k, k)
    cells = vtkCellArray()
    cells.InsertNextCell(line)
    poly = vtkPolyData()
    poly.SetPoints(pts)
    poly.SetLines(cells)
    return poly


def _vmtk_sections(surface, points: np.ndarray) -> dict[str, np.ndarray]:
    sections = vmtk_class("vtkvmtkPolyDataCenterlineSections")()
    line = _polyline(points)
    sections.SetInputData(surface)
    sections.SetCenterlines(line)
    sections.SetCenterlineSectionAreaArrayName("CenterlineSectionArea")
    sections.SetCenterlineSectionMinSizeArrayName("CenterlineSectionMinSize")
    sections.SetCenterlineSectionMaxSizeArrayName("CenterlineSectionMaxSize")
    sections.SetCenterlineSectionShapeArrayName("CenterlineSectionShape")
    sections.SetCenterlineSectionClosedArrayName("CenterlineSectionClosed")
    sections.Update()
    data = line.GetPointData()
    out = {}
    for key in ("Area", "MinSize", "MaxSize", "Closed"):
        arr = data.GetArray(f"CenterlineSection{key}")
        out[key] = np.array([arr.GetValue(k) for k in range(arr.GetNumberOfTuples())], dtype=float)
    return out


def _tangents(points: np.ndarray) -> np.ndarray:
    t = np.gradient(points, axis=0)
    return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)


def _cuts_other_branch(points, tangents, radius, others: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """True where the section disc (radius `radius`) meets another branch's tube.

    Each other branch is (points, MIS radius): a tube point within its radius of the plane and
    within the disc plus its radius of the section's centre makes the plane cut that lumen too.
    """
    flag = np.zeros(len(points), dtype=bool)
    for q, rq in others:
        for i, (p, t, r) in enumerate(zip(points, tangents, radius, strict=True)):
            v = q - p
            h = np.abs(v @ t)
            inplane = np.linalg.norm(v - np.outer(v @ t, t), axis=1)
            if np.any((h < rq + PLANE_MARGIN_MM) & (inplane < r + rq + PLANE_MARGIN_MM)):
                flag[i] = True
    return flag


def compute_profiles(tree: CenterlineTree, surface) -> dict[str, BranchProfile]:
    """Cross-section profile of every branch of the tree on the vein surface.

    :raises ValueError: when a branch has too few points for sections.
    """
    profiles = {}
    for name, br in tree.branches.items():
        if len(br.points_ras) < 3:
            raise ValueError(
                f"the {name} centerline has {len(br.points_ras)} points, too few for cross sections"
            )
        sec = _vmtk_sections(surface, br.points_ras)
        area = sec["Area"]
        ce = 2.0 * np.sqrt(np.maximum(area, 0.0) / np.pi)
        # VMTK's section sizes are the extreme distances across the contour through its centre:
        # diameters, as the elliptical phantom confirms (Testing/test_centerline.py).
        dmin, dmax = sec["MinSize"], sec["MaxSize"]
        mis = 2.0 * br.mis_radius_mm
        others = [(o.points_ras, o.mis_radius_mm) for n, o in tree.branches.items() if n != name]
        half_width = np.maximum(dmax, ce) / 2.0
        zone = _cuts_other_branch(br.points_ras, _tangents(br.points_ras), half_width, others)
        zone |= mis > INFLATED_MIS_FACTOR * np.maximum(ce, 1e-3)
        zone |= sec["Closed"] < 0.5
        profiles[name] = BranchProfile(
            name=name,
            distance_mm=br.distance_mm.copy(),
            points_ras=br.points_ras.copy(),
            area_mm2=area,
            ce_diameter_mm=ce,
            min_diameter_mm=dmin,
            max_diameter_mm=dmax,
            mis_diameter_mm=mis,
            confluence_zone=zone,
        )
    return profiles

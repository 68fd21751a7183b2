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

VMTK keeps, of the contours the plane cuts, the one with the point nearest the centerline. A
plane that grazes a small bump of the wall (or a one-voxel hole in the lumen) also cuts it in a
loop a fraction of a millimetre across, and when that loop is the nearest VMTK measures it
instead of the lumen; a loop of 3 or 4 points, which VTK stores as a triangle or a quad, even
kills the process (VMTK's section area takes the cell for a polygon). Every plane is therefore
checked first (:func:`_grazed_planes`), and where the nearest contour is such a loop of fewer
than ``MIN_SECTION_POINTS``, the loop is left out (:func:`_section_at`) so that VMTK measures the
lumen there too.
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
# A cut contour of fewer points is what VMTK cannot measure (VTK keeps it as a triangle or quad
# cell, not a polygon, and VMTK's section area then kills the process): a bump the plane grazes
# or a one-voxel hole, a lumen's contour on the label map's surface having a hundred points or
# so. Only those are left out. A narrow contour of more points may be a pinhole lumen (a vein
# narrowed to one voxel: its narrowest width is not refused, only a vein's widest under 3 mm,
# centerline.MIN_RADIUS_MM), which VMTK measures as it always did: leaving it out turned a
# one-voxel neck's near-zero areas into zeros and its stenosis into an occlusion (review).
MIN_SECTION_POINTS = 5
REACH_MARGIN_MM = 10.0  # see _grazed_planes
SECTION_THREADS = 2  # branches whose sections are cut at the same time


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
    for key in SECTION_KEYS:
        arr = data.GetArray(f"CenterlineSection{key}")
        out[key] = np.array([arr.GetValue(k) for k in range(arr.GetNumberOfTuples())], dtype=float)
    return out


SECTION_KEYS = ("Area", "MinSize", "MaxSize", "Closed")


def _plane_normals(points: np.ndarray) -> np.ndarray:
    """The section planes' normals as VMTK's filter takes them: the mean of the unit directions
    from the previous point and to the next one (only one of them at the ends)."""
    step = np.diff(points, axis=0)
    unit = step / np.maximum(np.linalg.norm(step, axis=1, keepdims=True), 1e-12)
    normal = np.zeros_like(points, dtype=float)
    normal[1:] += unit
    normal[:-1] += unit
    return normal / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)


def _cut_pipeline(surface, all_regions: bool = False):
    """(plane, connectivity filter): the contours a plane cuts from ``surface`` as VMTK's section
    cuts them (vtkCutter, vtkCleanPolyData, connected pieces): the piece with the point nearest
    the filter's closest point, or (``all_regions``) every piece, coloured by region. Set the
    plane (and the closest point), then update the filter."""
    from vtkmodules.vtkCommonDataModel import vtkPlane
    from vtkmodules.vtkFiltersCore import vtkCleanPolyData, vtkCutter, vtkPolyDataConnectivityFilter

    plane = vtkPlane()
    cutter = vtkCutter()
    cutter.SetInputData(surface)
    cutter.SetCutFunction(plane)
    cutter.SetValue(0, 0.0)
    clean = vtkCleanPolyData()
    clean.SetInputConnection(cutter.GetOutputPort())
    pieces = vtkPolyDataConnectivityFilter()
    pieces.SetInputConnection(clean.GetOutputPort())
    if all_regions:
        pieces.SetExtractionModeToAllRegions()
        pieces.ColorRegionsOn()
    else:
        pieces.SetExtractionModeToClosestPointRegion()
    return plane, pieces


def _nearest_contour(pipeline, origin: np.ndarray, normal: np.ndarray) -> tuple[int, float, float] | None:
    """(points, width mm, distance mm of its nearest point) of the contour nearest ``origin``,
    None when the plane cuts nothing."""

    plane, nearest = pipeline
    plane.SetOrigin(*origin)
    plane.SetNormal(*normal)
    nearest.SetClosestPoint(*origin)
    nearest.Update()
    contour = nearest.GetOutput()
    if contour.GetNumberOfPoints() == 0:
        return None
    xyz = np.asarray(contour.GetPoints().GetData())
    return len(xyz), float(np.ptp(xyz, axis=0).max()), float(np.linalg.norm(xyz - origin, axis=1).min())


def _grazed_planes(surface, points: np.ndarray, normals: np.ndarray, reach_mm: float) -> list[int]:
    """Indices of the planes whose contour nearest the centerline point is a grazed loop.

    The planes are cut from the surface within ``reach_mm`` of the branch (a whole surface costs
    as much again as VMTK's sections): every cell with a point within ``reach_mm`` of the plane's
    centre is there, so a contour found nearer than half of it is the whole surface's nearest
    contour, or the part of it within reach, wider than a grazed loop. A plane whose nearest
    contour is farther (or none) is cut from the whole surface.
    """
    from scipy.spatial import cKDTree

    xyz = np.asarray(surface.GetPoints().GetData())
    far = ~np.isfinite(cKDTree(points).query(xyz, distance_upper_bound=reach_mm)[0])
    polys = surface.GetPolys()
    offsets = np.asarray(polys.GetOffsetsArray()).astype(np.int64)
    corner_far = far[np.asarray(polys.GetConnectivityArray())]
    # A cell is dropped when all its corners are out of reach.
    drop = np.flatnonzero(np.add.reduceat(~corner_far, offsets[:-1]) == 0) if len(offsets) > 1 else []
    near = _cut_pipeline(_without_cells(surface, np.asarray(drop, dtype=np.int64)))
    whole = None
    grazed = []
    for i, (origin, normal) in enumerate(zip(points, normals, strict=True)):
        contour = _nearest_contour(near, origin, normal)
        if contour is None or contour[2] > reach_mm / 2.0:
            whole = whole or _cut_pipeline(surface)
            contour = _nearest_contour(whole, origin, normal)
        if contour is not None and _is_grazed(contour):
            grazed.append(i)
    return grazed


def _cut_loops(surface, origin: np.ndarray, normal: np.ndarray) -> list[tuple[int, float, float, np.ndarray]]:
    """The contours a plane cuts from the surface, as VMTK's section cuts them (vtkCutter,
    vtkCleanPolyData, connected pieces): for each, its number of points, its width (mm), the
    distance of its nearest point to ``origin``, and the ids of the surface cells it crosses.
    ``surface`` carries its cell ids as the cell array "SurfaceCellId" (:func:`_with_cell_ids`)."""
    plane, pieces = _cut_pipeline(surface, all_regions=True)
    plane.SetOrigin(*origin)
    plane.SetNormal(*normal)
    pieces.Update()
    out = pieces.GetOutput()
    if out.GetNumberOfPoints() == 0:
        return []
    xyz = np.asarray(out.GetPoints().GetData()).astype(float)
    point_region = np.asarray(out.GetPointData().GetArray("RegionId"))
    # The region of a cell is its points' (only the points are coloured); cells come verts first.
    first_points = [
        np.asarray(cells.GetConnectivityArray())[np.asarray(cells.GetOffsetsArray())[:-1]]
        for cells in (out.GetVerts(), out.GetLines())
    ]
    cell_region = point_region[np.concatenate(first_points).astype(np.int64)]
    cell_ids = np.asarray(out.GetCellData().GetArray("SurfaceCellId"))
    loops = []
    for region in np.unique(point_region):
        pts = xyz[point_region == region]
        loops.append(
            (
                len(pts),
                float(np.ptp(pts, axis=0).max()),
                float(np.linalg.norm(pts - origin, axis=1).min()),
                cell_ids[cell_region == region].astype(np.int64),
            )
        )
    return loops


def _is_grazed(loop: tuple) -> bool:
    """Whether a contour (number of points, width in mm, ...) is a grazed loop, not a lumen."""
    return loop[0] < MIN_SECTION_POINTS


def _deep_copy(surface):
    from vtkmodules.vtkCommonDataModel import vtkPolyData

    copy = vtkPolyData()
    copy.DeepCopy(surface)
    return copy


def _with_cell_ids(surface):
    """A shallow copy of the surface with its cell ids as the cell array "SurfaceCellId" (the
    cutter passes cell data on, so each contour piece says which cells it crosses)."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkPolyData

    ided = vtkPolyData()
    ided.ShallowCopy(surface)
    ids = numpy_to_vtk(np.arange(surface.GetNumberOfCells(), dtype=np.int64), deep=True)
    ids.SetName("SurfaceCellId")
    ided.GetCellData().AddArray(ids)
    return ided


def _without_cells(surface, drop: np.ndarray):
    """The triangle surface without the polygons ``drop`` (cell ids; the surface has only polygons)."""
    from vtkmodules.util.numpy_support import numpy_to_vtkIdTypeArray
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData

    polys = surface.GetPolys()
    offsets = np.asarray(polys.GetOffsetsArray()).astype(np.int64)
    connectivity = np.asarray(polys.GetConnectivityArray()).astype(np.int64)
    keep = np.ones(len(offsets) - 1, dtype=bool)
    keep[drop] = False
    sizes = np.diff(offsets)[keep]
    starts = offsets[:-1][keep]
    flat = np.repeat(starts, sizes) + (np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes))
    cells = vtkCellArray()
    cells.SetData(
        numpy_to_vtkIdTypeArray(np.r_[0, np.cumsum(sizes)], deep=True),
        numpy_to_vtkIdTypeArray(connectivity[flat], deep=True),
    )
    out = vtkPolyData()
    out.SetPoints(surface.GetPoints())
    out.SetPolys(cells)
    return out


def _section_at(ided, origin: np.ndarray, normal: np.ndarray) -> tuple[float, float, float, float]:
    """(area, min size, max size, closed) of one section, with VMTK's own functions, after
    leaving out the grazed loops the plane cuts: VMTK then keeps the nearest of the other
    contours, the lumen's. No section (zeros, as VMTK's filter leaves a plane that cuts nothing)
    when no other contour is left or VMTK's contour is still no polygon."""
    from vtkmodules.vtkCommonCore import reference
    from vtkmodules.vtkCommonDataModel import vtkPolyData

    branch_sections = vmtk_class("vtkvmtkPolyDataBranchSections")
    loops = [loop for loop in _cut_loops(ided, origin, normal) if _is_grazed(loop)]
    cut_from = _without_cells(ided, np.concatenate([loop[3] for loop in loops])) if loops else ided
    section = vtkPolyData()
    closed = reference(False)
    branch_sections.ExtractCylinderSection(cut_from, origin.tolist(), normal.tolist(), section, closed)
    section.BuildCells()
    if section.GetNumberOfCells() == 0:
        return 0.0, 0.0, 0.0, 0.0
    cell = section.GetCell(0)
    # The guard that matters: VMTK's area dereferences this cell as a vtkPolygon.
    if cell.GetClassName() != "vtkPolygon" or cell.GetNumberOfPoints() < MIN_SECTION_POINTS:
        return 0.0, 0.0, 0.0, 0.0
    area = float(branch_sections.ComputeBranchSectionArea(section))
    size = [0.0, 0.0]
    branch_sections.ComputeBranchSectionShape(section, origin.tolist(), size)
    return area, float(size[0]), float(size[1]), float(bool(closed))


def _sections(surface, ided, points: np.ndarray, radius_mm: np.ndarray) -> dict[str, np.ndarray]:
    """VMTK's sections along a branch, safe from grazed loops (module docstring).

    Every plane is checked; where the nearest contour is a grazed loop, that plane is cut here
    (:func:`_section_at`) and VMTK's filter runs on the stretches between such planes. A stretch's
    end point next to one has only one neighbour in the stretch, so VMTK's filter would tilt its
    plane: it is cut here too, with the plane of the whole line. Without a grazed loop the
    filter runs on the whole line, as before.
    """
    # The points as VMTK's filter gets them (vtkPoints of float32), so that the planes checked
    # here are its planes to the last bit (review: float64 origins ~1e-5 mm off at 300 mm).
    points = np.asarray(points, dtype=np.float32).astype(float)
    normals = _plane_normals(points)
    # Reach: well beyond the lumen's wall (an in-plane radius of up to twice the inscribed one).
    grazed = _grazed_planes(surface, points, normals, 2.0 * float(np.max(radius_mm)) + REACH_MARGIN_MM)
    if not grazed:
        return _vmtk_sections(surface, points)
    out = {key: np.zeros(len(points)) for key in SECTION_KEYS}
    own = np.zeros(len(points), dtype=bool)
    own[grazed] = True
    # The stretches between the grazed planes: [lo, hi) where the planes are not.
    edges = np.flatnonzero(np.diff(np.r_[0, (~own).astype(np.int8), 0]))
    for lo, hi in zip(edges[::2], edges[1::2], strict=True):
        if hi - lo < 3:  # too short for the filter's planes
            own[lo:hi] = True
            continue
        stretch = _vmtk_sections(surface, points[lo:hi])
        for key in SECTION_KEYS:
            out[key][lo:hi] = stretch[key]
        own[lo] |= lo > 0
        own[hi - 1] |= hi < len(points)
    for i in np.flatnonzero(own):
        for key, value in zip(SECTION_KEYS, _section_at(ided, points[i], normals[i]), strict=True):
            out[key][i] = value
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
    from concurrent.futures import ThreadPoolExecutor

    profiles = {}
    for name, br in tree.branches.items():
        if len(br.points_ras) < 3:
            raise ValueError(
                f"the {name} centerline has {len(br.points_ras)} points, too few for cross sections"
            )

    def branch_sections(job) -> dict[str, np.ndarray]:
        br, own = job
        return _sections(own, _with_cell_ids(own), br.points_ras, br.mis_radius_mm)

    # The branches' sections side by side (1.9 -> 1.25 s at 0.6 mm on two cores); each branch's
    # are what it gets alone. Each cuts its own copy of the surface, made here: VTK filters run
    # on independent data in parallel (VTK's Python wrapping lets go of the GIL while they run),
    # but a polydata builds its cells and links lazily, so one input read by two threads is not safe.
    jobs = [(br, _deep_copy(surface)) for br in tree.branches.values()]
    with ThreadPoolExecutor(max_workers=SECTION_THREADS) as pool:
        sections = dict(zip(tree.branches, pool.map(branch_sections, jobs), strict=True))
    for name, br in tree.branches.items():
        sec = sections[name]
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

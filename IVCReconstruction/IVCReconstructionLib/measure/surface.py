"""A closed, checked surface of the veins from a label map, ready for VMTK.

VMTK's centerline filter wants a closed, manifold, single-piece triangle surface of a few
thousand points: denser surfaces silently give truncated centerlines and an empty one crashes
the process (docs/centerlines.md, step 2). This module makes that surface with VTK filters
(discrete flying edges, windowed-sinc smoothing, quadric decimation, consistent normals) and
refuses, with a clear ValueError, anything VMTK would choke on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Coarse scans (the TotalSegmentator example is 3 mm) are resampled to this voxel size before
# the surface is made, so that a 4-voxel-wide iliac vein still gets a round section.
FINE_SPACING_MM = 1.0
TARGET_POINTS = 4000  # "a few thousand": dense enough for 1 mm detail, small enough for VMTK
QUADRIC_TRIES = (1.0, 1.25, 0.8, 1.5)  # multiples of the target tried in turn


@dataclass
class SurfaceCheck:
    """What the checks found on a surface."""

    points: int
    boundary_edges: int
    non_manifold_edges: int
    regions: int


def mask_to_surface(mask_kji: np.ndarray, ijk_to_ras: np.ndarray, target_points: int = TARGET_POINTS):
    """Closed surface (vtkPolyData, RAS mm) of a binary mask indexed [k, j, i].

    :raises ValueError: when the mask is empty or too small for a surface.
    """
    return next(surface_candidates(mask_kji, ijk_to_ras, target_points))


def surface_candidates(mask_kji: np.ndarray, ijk_to_ras: np.ndarray, target_points: int = TARGET_POINTS):
    """Closed, checked surfaces of a binary mask, best first: decimated to the target and to a
    few nearby point counts, then topology-preserving decimation, then the full surface. A
    caller whose VMTK run fails on one (a "degenerate descent" on a thin spot) takes the next.

    :raises ValueError: when the mask is empty or too small for a surface, or no candidate
        passes the checks (the first time ``next`` is called).
    """
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkCommonTransforms import vtkTransform
    from vtkmodules.vtkFiltersCore import (
        vtkDecimatePro,
        vtkPolyDataNormals,
        vtkQuadricDecimation,
        vtkTriangleFilter,
        vtkWindowedSincPolyDataFilter,
    )
    from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D, vtkTransformPolyDataFilter

    mask = np.asarray(mask_kji) > 0
    if mask.ndim != 3 or mask.sum() == 0:
        raise ValueError(
            "the vein segmentation is empty: segment the veins (or pick the right segments) first"
        )
    matrix = np.asarray(ijk_to_ras, dtype=float)
    mask, matrix = _crop_and_refine(mask, matrix)
    if mask.sum() < 27:
        raise ValueError(
            f"the vein segmentation has only {int(mask.sum())} voxels at 1 mm, too small for a centerline: "
            "check that the right segments were chosen"
        )
    # Pad by one voxel so that veins leaving the volume get a closed (flat) cap.
    padded = np.pad(mask.astype(np.uint8), 1)
    image = vtkImageData()
    image.SetDimensions(padded.shape[2], padded.shape[1], padded.shape[0])
    image.GetPointData().SetScalars(numpy_to_vtk(padded.ravel(), deep=True))

    fe = vtkDiscreteFlyingEdges3D()
    fe.SetInputData(image)
    fe.SetValue(0, 1)
    fe.ComputeNormalsOff()
    fe.ComputeGradientsOff()
    fe.ComputeScalarsOff()
    # Voxel index space -> RAS, undoing the padding offset.
    shift = np.eye(4)
    shift[:3, 3] = -1.0
    transform = vtkTransform()
    transform.SetMatrix((matrix @ shift).ravel().tolist())
    to_ras = vtkTransformPolyDataFilter()
    to_ras.SetInputConnection(fe.GetOutputPort())
    to_ras.SetTransform(transform)
    # Smoothing in RAS: the passband is relative to normalized coordinates, so it does not
    # depend on the voxel size; 0.01 and 20 iterations round the staircase without shrinking.
    smooth = vtkWindowedSincPolyDataFilter()
    smooth.SetInputConnection(to_ras.GetOutputPort())
    smooth.SetNumberOfIterations(20)
    smooth.SetPassBand(0.01)
    smooth.NormalizeCoordinatesOn()
    smooth.NonManifoldSmoothingOn()
    smooth.BoundarySmoothingOff()
    smooth.FeatureEdgeSmoothingOff()
    tri = vtkTriangleFilter()
    tri.SetInputConnection(smooth.GetOutputPort())
    tri.Update()
    full = tri.GetOutput()
    n = full.GetNumberOfPoints()
    # Quadric decimation keeps the shape best but can open a hole at a thin spot or a flat cap
    # rim (on the 0.8 mm post-thrombotic phantom, 4000 points gave one boundary edge and 5000
    # none); so a few nearby targets are tried, then topology-preserving decimation, and as a
    # last resort the full surface (VMTK copes with ~15000 points, only slower).
    candidates: list = [full]
    if n > target_points:

        def quadric(points: int):
            q = vtkQuadricDecimation()
            q.SetInputData(full)
            q.SetTargetReduction(1.0 - points / n)
            q.VolumePreservationOn()
            return q

        pro = vtkDecimatePro()
        pro.SetInputData(full)
        pro.SetTargetReduction(1.0 - target_points / n)
        pro.PreserveTopologyOn()
        pro.SplittingOff()
        pro.BoundaryVertexDeletionOff()
        tries = [round(target_points * f) for f in QUADRIC_TRIES if target_points * f < n]
        candidates = [*(quadric(p) for p in tries), pro, full]
    error, found = None, False
    for candidate in candidates:
        if hasattr(candidate, "Update"):
            candidate.Update()
            candidate = candidate.GetOutput()
        normals = vtkPolyDataNormals()
        normals.SetInputData(candidate)
        normals.AutoOrientNormalsOn()
        normals.ConsistencyOn()
        normals.SplittingOff()
        normals.Update()
        out = normals.GetOutput()
        try:
            check_surface(out)
        except ValueError as exc:
            error = exc
            continue
        found = True
        yield out
    if not found:
        raise error


def _crop_and_refine(mask: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop to the mask (plus a margin) and resample coarse masks to about 1 mm.

    Cropping keeps the cost proportional to the veins, not the volume. Coarse masks are
    upsampled with linear interpolation of the binary mask, thresholded at one half: the
    staircase of 3 mm voxels becomes a smooth tube whose section matches the voxel count.
    """
    from scipy.ndimage import zoom

    nz = np.argwhere(mask)
    lo = np.maximum(nz.min(axis=0) - 2, 0)
    hi = np.minimum(nz.max(axis=0) + 3, mask.shape)
    mask = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    offset = np.eye(4)
    offset[:3, 3] = lo[::-1]  # (i, j, k) of the crop's first voxel
    matrix = matrix @ offset
    spacing_ijk = np.linalg.norm(matrix[:3, :3], axis=0)
    factors_ijk = np.maximum(np.floor(spacing_ijk / FINE_SPACING_MM + 0.5), 1).astype(int)
    if np.all(factors_ijk == 1):
        return mask, matrix
    factors_kji = factors_ijk[::-1]
    fine = zoom(mask.astype(np.float32), factors_kji, order=1, grid_mode=True, mode="grid-constant") >= 0.5
    # With grid_mode, fine voxel centres sit at (n + 0.5) / f - 0.5 in coarse index units.
    scale = np.eye(4)
    scale[:3, :3] = np.diag(1.0 / factors_ijk)
    scale[:3, 3] = 0.5 / factors_ijk - 0.5
    return fine, matrix @ scale


def check_surface(surface) -> SurfaceCheck:
    """Refuse surfaces VMTK cannot use: empty, open, non-manifold, or in several pieces.

    :raises ValueError: naming the problem and what to do about it.
    """
    from vtkmodules.vtkFiltersCore import vtkFeatureEdges, vtkPolyDataConnectivityFilter

    n = surface.GetNumberOfPoints() if surface is not None else 0
    if n == 0:
        raise ValueError(
            "the vein surface is empty: the segmentation has no voxels where the veins should be"
        )
    edges = vtkFeatureEdges()
    edges.SetInputData(surface)
    edges.BoundaryEdgesOn()
    edges.NonManifoldEdgesOff()
    edges.FeatureEdgesOff()
    edges.ManifoldEdgesOff()
    edges.Update()
    boundary = edges.GetOutput().GetNumberOfCells()
    edges.BoundaryEdgesOff()
    edges.NonManifoldEdgesOn()
    edges.Update()
    non_manifold = edges.GetOutput().GetNumberOfCells()
    conn = vtkPolyDataConnectivityFilter()
    conn.SetInputData(surface)
    conn.SetExtractionModeToAllRegions()
    conn.Update()
    regions = conn.GetNumberOfExtractedRegions()
    result = SurfaceCheck(n, boundary, non_manifold, regions)
    if boundary:
        raise ValueError(
            f"the vein surface is open ({boundary} boundary edges): fill holes in the segmentation"
        )
    if non_manifold:
        raise ValueError(
            f"the vein surface is not manifold ({non_manifold} edges shared by more than two faces): "
            "smooth the segmentation or remove single-voxel bridges"
        )
    if regions > 1:
        raise ValueError(
            f"the veins are in {regions} disconnected pieces: the IVC and both iliac veins must form one "
            "connected tree (fill the gap, or mark an occlusion with a Via point)"
        )
    return result

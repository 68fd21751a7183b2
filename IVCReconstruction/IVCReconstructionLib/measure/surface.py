"""Surfaces of the veins from a label map: one small and checked for VMTK's centerlines, one at
full resolution for the cross sections.

VMTK's centerline filter wants a closed, manifold, single-piece triangle surface of a few
thousand points: denser surfaces silently give truncated centerlines, an empty one crashes the
process (docs/centerlines.md, step 2), and its cost grows faster than its input (0.4 s at 4k
points, 3 s at 23k, 19 s at 102k on the 2-core machine). :func:`surface_candidates` makes that
surface within a point budget. A label map of about 1 mm or coarser is decimated directly (its
full-resolution surface, quadric decimation to a few nearby targets, then topology-preserving
decimation). A finer one (0.6 mm) tears when decimated (voxel-thin diagonal bridges, flat cut
ends: every decimation failed its check and VMTK got the whole 100k-point surface), so it is
smoothed (Gaussian) and sampled on a 1 mm grid first, in one sparse pass per axis, and the
largest piece of its 0.5 iso-surface is decimated to about 4000 points. Every candidate is
checked; a failed check moves down a ladder (more smoothing, a coarser grid), and when no rung
gives a good surface within the budget a ValueError says so: VMTK is never handed an unbounded
surface.

The sections do not use that surface (decimating a fine label map to 4000 points doubles the
diameter bias and can invent a stenosis): :func:`section_surface` keeps the label map's full
resolution (discrete flying edges and windowed-sinc smoothing, no decimation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..segment.grid import CUT_PIECE_SHARE, mask_blur_mm
from .datatypes import SurfaceBuild

# Coarse scans (the TotalSegmentator example is 3 mm) are resampled to this voxel size before
# the section surface is made, so that a 4-voxel-wide iliac vein still gets a round section.
FINE_SPACING_MM = 1.0
TARGET_POINTS = 4000  # "a few thousand": dense enough for 1 mm detail, small enough for VMTK
MAX_POINTS = 6000  # VMTK's budget: a surface above this is refused, never passed on
# A label map at least this coarse is decimated directly first, at these multiples of the
# target in turn (quadric decimation can open a hole at a thin spot or a flat cap rim: on the
# 0.8 mm post-thrombotic phantom 4000 points gave one boundary edge and 5000 none).
DIRECT_MIN_SPACING_MM = 0.95
QUADRIC_TRIES = (1.0, 1.25, 0.8, 1.5)
# Rungs tried in turn after that: (Gaussian sigma, grid) in mm. More smoothing or a coarser
# grid rounds off the thin bridges at which decimation opens a hole.
VMTK_LADDER = ((1.0, 1.0), (1.5, 1.0), (1.5, 1.5), (2.0, 2.0))
# The smoothing must not cut the tree: an iso-surface piece other than the largest with more
# than CUT_PIECE_SHARE of the points is a vein cut off at a thin neck, not a speck (the
# constant is shared with the segmentation's thinness tests).


@dataclass
class SurfaceCheck:
    """What the checks found on a surface."""

    points: int
    boundary_edges: int
    non_manifold_edges: int
    regions: int


def mask_to_surface(mask_kji: np.ndarray, ijk_to_ras: np.ndarray, target_points: int = TARGET_POINTS):
    """The first (best) VMTK surface of a binary mask indexed [k, j, i] (vtkPolyData, RAS mm).

    :raises ValueError: as :func:`surface_candidates`.
    """
    return next(surface_candidates(mask_kji, ijk_to_ras, target_points))[0]


def _checked_mask(mask_kji: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask_kji) > 0
    if mask.ndim != 3 or not mask.any():
        raise ValueError(
            "the vein segmentation is empty: segment the veins (or pick the right segments) first"
        )
    return mask


def _too_small(voxels: int) -> ValueError:
    return ValueError(
        f"the vein segmentation has only {voxels} voxels at 1 mm, too small for a centerline: "
        "check that the right segments were chosen"
    )


def surface_candidates(
    mask_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    target_points: int = TARGET_POINTS,
    max_points: int = MAX_POINTS,
    ladder: tuple[tuple[float, float], ...] = VMTK_LADDER,
    full_surface=None,
) -> Iterator[tuple[object, SurfaceBuild]]:
    """Closed, checked surfaces (vtkPolyData, RAS mm) of a binary mask [k, j, i] for VMTK, best
    first, each of about ``target_points`` and never more than ``max_points`` points, with its
    :class:`SurfaceBuild`: for a mask of about 1 mm or coarser its full-resolution surface
    decimated to the target and a few nearby point counts, then topology-preserving
    decimation; then, for any mask, the rungs of ``ladder`` (the mask smoothed and resampled,
    its iso-surface decimated). A caller whose VMTK run fails on one (a "degenerate descent"
    on a thin spot) takes the next. ``full_surface``: the mask's :func:`section_surface`, when
    the caller has it already.

    :raises ValueError: (the first time ``next`` is called) when the mask is empty or too
        small, when the smoothing would cut the veins apart, or when no candidate passes the
        checks within the budget.
    """
    mask = _checked_mask(mask_kji)
    matrix = np.asarray(ijk_to_ras, dtype=float)
    spacing_kji = np.linalg.norm(matrix[:3, :3], axis=0)[::-1]
    tries, found = 0, False
    error: ValueError | None = None
    if spacing_kji.min() >= DIRECT_MIN_SPACING_MM:
        full = full_surface if full_surface is not None else section_surface(mask, matrix)
        n = full.GetNumberOfPoints()
        grid = float(min(spacing_kji.min(), FINE_SPACING_MM))
        for candidate in _decimations(full, target_points):
            tries += 1
            out, error = _checked_candidate(candidate, max_points)
            if out is not None:
                found = True
                yield out, SurfaceBuild(out.GetNumberOfPoints(), "decimated labels", 0.0, grid, tries, n)
    # Margin: the kernel's reach at the largest sigma, so that the field falls to 0 in the crop.
    reach = int(np.ceil(3.0 * max(s for s, _ in ladder) / spacing_kji.min())) + 1
    mask, matrix = _crop(mask, matrix, reach)
    if mask.sum() * np.prod(spacing_kji) < 27.0:
        if found:
            return
        raise _too_small(round(float(mask.sum() * np.prod(spacing_kji))))
    for sigma, grid in ladder:
        tries += 1
        field, field_matrix = smooth_resample(mask, matrix, sigma, grid)
        try:
            iso = _iso_surface(field, field_matrix)
        except ValueError:
            if found:  # more smoothing would only cut more: the candidates end here
                return
            raise
        n = iso.GetNumberOfPoints()
        if n == 0:
            if found:
                return
            raise _too_small(int(mask.sum()))
        (candidate,) = _decimations(iso, target_points, (1.0,), topology=False)
        out, error = _checked_candidate(candidate, max_points)
        if out is not None:
            found = True
            yield out, SurfaceBuild(out.GetNumberOfPoints(), "smoothed mask", sigma, grid, tries, n)
    if not found:
        raise ValueError(
            f"no surface of the veins within VMTK's budget of {max_points} points after {tries} tries "
            f"(smoothing up to {ladder[-1][0]:g} mm, grid up to {ladder[-1][1]:g} mm; last problem: "
            f"{error}): smooth the segmentation or remove single-voxel bridges and specks"
        )


def _decimations(full, target_points: int, factors=QUADRIC_TRIES, topology: bool = True) -> list:
    """Decimated versions of a surface to try in turn (filters, run when taken): quadric
    decimation to each multiple of the target, then topology-preserving decimation; the
    surface itself when it is small enough already."""
    from vtkmodules.vtkFiltersCore import vtkDecimatePro, vtkQuadricDecimation

    n = full.GetNumberOfPoints()
    if n <= target_points:
        return [full]
    out = []
    for f in factors:
        if target_points * f < n:
            q = vtkQuadricDecimation()
            q.SetInputData(full)
            q.SetTargetReduction(1.0 - target_points * f / n)
            q.VolumePreservationOn()
            out.append(q)
    if topology:
        pro = vtkDecimatePro()
        pro.SetInputData(full)
        pro.SetTargetReduction(1.0 - target_points / n)
        pro.PreserveTopologyOn()
        pro.SplittingOff()
        pro.BoundaryVertexDeletionOff()
        out.append(pro)
    return out


def _checked_candidate(candidate, max_points: int):
    """(surface with consistent normals, None) when the candidate passes the checks and the
    budget, else (None, the ValueError saying why)."""
    from vtkmodules.vtkFiltersCore import vtkPolyDataNormals

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
        check = check_surface(out)
    except ValueError as exc:
        return None, exc
    if check.points > max_points:
        return None, ValueError(f"{check.points} points, over the budget of {max_points}")
    return out, None


def _crop(mask: np.ndarray, matrix: np.ndarray, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop to the mask plus ``margin`` voxels (clipped at the volume's edges, where veins
    leaving the volume get a flat cap); the matrix follows."""
    nz = np.argwhere(mask)
    lo = np.maximum(nz.min(axis=0) - margin, 0)
    hi = np.minimum(nz.max(axis=0) + margin + 1, mask.shape)
    offset = np.eye(4)
    offset[:3, 3] = lo[::-1]
    return mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], matrix @ offset


def _gaussian_weights(n_in: int, step_in: float, n_out: int, step_out: float, first: float, sigma: float):
    """Sparse (n_out x n_in) matrix: output sample o (at ``first + o * step_out`` mm from input
    sample 0) = Gaussian-weighted sum of the input samples (outside the input counts as 0)."""
    from scipy import sparse

    x = first + np.arange(n_out) * step_out
    lo = np.floor((x - 4.0 * sigma) / step_in).astype(int)
    width = int(np.ceil(8.0 * sigma / step_in)) + 2
    idx = lo[:, None] + np.arange(width)[None, :]
    w = np.exp(-0.5 * ((idx * step_in - x[:, None]) / sigma) ** 2) * (
        step_in / (sigma * np.sqrt(2.0 * np.pi))
    )
    ok = (idx >= 0) & (idx < n_in)
    rows = np.broadcast_to(np.arange(n_out)[:, None], idx.shape)
    return sparse.csr_matrix((w[ok].astype(np.float32), (rows[ok], idx[ok])), shape=(n_out, n_in))


def smooth_resample(
    mask: np.ndarray, matrix: np.ndarray, sigma_mm: float, grid_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """The mask smoothed by a Gaussian of ``sigma_mm`` and sampled on a ``grid_mm`` grid over
    the same box, in one pass per axis (the Gaussian is only evaluated where it is sampled);
    returns the float32 field [k, j, i] and its IJK-to-RAS matrix.

    The mask is taken as linearly interpolated between voxel centres (a tent of one voxel,
    variance spacing^2 / 6, added to the Gaussian's), so coarse masks (3 mm) come out as smooth
    as fine ones.
    """
    spacing_kji = np.linalg.norm(matrix[:3, :3], axis=0)[::-1]
    out = mask.astype(np.float32)
    first = np.zeros(3)
    step = np.zeros(3)
    for axis in range(3):
        n_in, s_in = out.shape[axis], float(spacing_kji[axis])
        extent = (n_in - 1) * s_in
        n_out = int(np.floor(extent / grid_mm)) + 1
        first[axis] = (extent - (n_out - 1) * grid_mm) / 2.0  # centred in the box
        step[axis] = grid_mm
        sigma = float(mask_blur_mm(sigma_mm, s_in))
        weights = _gaussian_weights(n_in, s_in, n_out, grid_mm, first[axis], sigma)
        moved = np.moveaxis(out, axis, 0)
        shape = moved.shape
        res = np.asarray(weights @ moved.reshape(shape[0], -1)).reshape((n_out, *shape[1:]))
        out = np.moveaxis(res, 0, axis)
    # Output voxel (i, j, k) sits at input index first/spacing + (i, j, k) * grid/spacing.
    scale = np.eye(4)
    scale[:3, :3] = np.diag((step / spacing_kji)[::-1])
    scale[:3, 3] = (first / spacing_kji)[::-1]
    return np.ascontiguousarray(out, dtype=np.float32), matrix @ scale


def _iso_surface(field: np.ndarray, matrix: np.ndarray):
    """Largest piece of the 0.5 iso-surface of a field [k, j, i], in RAS.

    :raises ValueError: when a second piece is large (the smoothing cut a vein off at a neck
        thinner than about a millimetre).
    """
    from vtkmodules.vtkFiltersCore import vtkCleanPolyData, vtkFlyingEdges3D, vtkPolyDataConnectivityFilter

    to_ras = _contour_in_ras(field, matrix, vtkFlyingEdges3D(), 0.5)
    conn = vtkPolyDataConnectivityFilter()
    conn.SetInputConnection(to_ras.GetOutputPort())
    conn.SetExtractionModeToAllRegions()
    conn.ColorRegionsOn()
    conn.Update()
    sizes = np.array([conn.GetRegionSizes().GetValue(r) for r in range(conn.GetNumberOfExtractedRegions())])
    total = int(sizes.sum()) if len(sizes) else 0
    if len(sizes) > 1 and np.sort(sizes)[-2] > CUT_PIECE_SHARE * total:
        raise ValueError(
            f"smoothing the veins for the centerlines cut them into {len(sizes)} pieces (a neck thinner "
            "than about 1 mm): check the segmentation at its narrowest point"
        )
    largest = vtkPolyDataConnectivityFilter()
    largest.SetInputConnection(to_ras.GetOutputPort())
    largest.SetExtractionModeToLargestRegion()
    clean = vtkCleanPolyData()  # drops the points of the other pieces
    clean.SetInputConnection(largest.GetOutputPort())
    clean.Update()
    return clean.GetOutput()


def _contour_in_ras(values_kji: np.ndarray, ijk_to_ras: np.ndarray, contour, value: float):
    """``contour`` (a VTK flying-edges filter) run at ``value`` on the array [k, j, i], padded by
    one voxel of zeros so that veins leaving the box get a closed (flat) cap, and its output
    moved from voxel indices to RAS (undoing the padding offset): the filter to take the
    surface from."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkCommonTransforms import vtkTransform
    from vtkmodules.vtkFiltersGeneral import vtkTransformPolyDataFilter

    padded = np.pad(values_kji, 1)
    image = vtkImageData()
    image.SetDimensions(padded.shape[2], padded.shape[1], padded.shape[0])
    image.GetPointData().SetScalars(numpy_to_vtk(padded.ravel(), deep=True))
    contour.SetInputData(image)
    contour.SetValue(0, value)
    contour.ComputeNormalsOff()
    contour.ComputeGradientsOff()
    contour.ComputeScalarsOff()
    shift = np.eye(4)
    shift[:3, 3] = -1.0
    transform = vtkTransform()
    transform.SetMatrix((np.asarray(ijk_to_ras, dtype=float) @ shift).ravel().tolist())
    to_ras = vtkTransformPolyDataFilter()
    to_ras.SetInputConnection(contour.GetOutputPort())
    to_ras.SetTransform(transform)
    return to_ras


def section_surface(mask_kji: np.ndarray, ijk_to_ras: np.ndarray):
    """Full-resolution surface (vtkPolyData, RAS mm) of a binary mask [k, j, i] for the cross
    sections: discrete flying edges, windowed-sinc smoothing, no decimation. Coarse masks are
    resampled to about 1 mm first (:func:`_crop_and_refine`).

    :raises ValueError: when the mask is empty or too small.
    """
    from vtkmodules.vtkFiltersCore import vtkTriangleFilter, vtkWindowedSincPolyDataFilter
    from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D

    mask = _checked_mask(mask_kji)
    matrix = np.asarray(ijk_to_ras, dtype=float)
    mask, matrix = _crop_and_refine(mask, matrix)
    if mask.sum() < 27:
        raise _too_small(int(mask.sum()))
    to_ras = _contour_in_ras(mask.astype(np.uint8), matrix, vtkDiscreteFlyingEdges3D(), 1)
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
    return tri.GetOutput()


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

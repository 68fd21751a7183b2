"""Vein label map -> closed surface -> VMTK centerlines -> branches labelled by anatomy.

One source at the cranial end of the IVC and two targets at the caudal ends of the iliac
veins (from the seeds when given, otherwise from the segments' extreme slabs), cost 1/R, as
SlicerVMTK's Extract Centerline does. The two lines VMTK returns share the IVC; where they
part is the confluence. Each branch is resampled every 1 mm from the confluence outward and
trimmed where it runs into a capped end, where VMTK's inscribed spheres are unreliable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import names
from ..inputs.orientation import canonical
from ..segment.grid import block_reduce, mask_box, padded_to_blocks, to_ijk
from .datatypes import CenterlineBranch, CenterlineResult, CenterlineTree
from .surface import section_surface, surface_candidates
from .vmtk_compat import vmtk_class

SEED_MAX_DISTANCE_MM = 20.0  # a seed farther than this from its vein is a mistake, not a hint
END_TOLERANCE_MM = 6.0  # how far a centerline may start/end from its end point
SPLIT_TOLERANCE_MM = 1.0  # the two lines count as one until they part by more than this
SLAB_MM = 3.0  # thickness of the extreme slab whose centroid is an automatic end point
MIN_RADIUS_MM = 1.5  # a "vein" never wider than 3 mm is a stray stroke, not something to measure
# The iliac lines count as in separate tubes once further apart than this times the sum of
# their inscribed radii; their axes are fitted over this length from there (see
# _place_confluence; both chosen on 21 phantom cases, seeded and truth, 0.8-2 mm).
SEPARATE_TUBES = 0.5
CONFLUENCE_AXIS_MM = 16.0


def _voxel_ras(mask: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    kji = np.argwhere(mask)
    return kji[:, ::-1] @ ijk_to_ras[:3, :3].T + ijk_to_ras[:3, 3]


def _distance_within(mask: np.ndarray, ijk_to_ras: np.ndarray, point: np.ndarray, reach: float) -> float:
    """Distance (mm) from a RAS point to the nearest voxel centre of a mask when it is at most
    ``reach``, else inf: only the voxels of the box that holds the ball of ``reach`` around the
    point are looked at (a seed's check read every voxel of its vein: 0.2 s at 0.6 mm)."""
    m = np.asarray(ijk_to_ras, dtype=float)
    centre = to_ijk(np.asarray(point, dtype=float)[None], m)[0]
    half = np.linalg.norm(np.linalg.inv(m[:3, :3]), axis=1) * reach  # the ball's extent along i, j, k
    lo = np.maximum(np.floor(centre - half).astype(int), 0)
    hi = np.minimum(np.ceil(centre + half).astype(int) + 1, np.array(mask.shape[::-1]))
    if np.any(hi <= lo):
        return float("inf")
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo[::-1], hi[::-1], strict=True))
    kji = np.argwhere(mask[box]) + lo[::-1]
    if len(kji) == 0:
        return float("inf")
    d = float(np.linalg.norm(kji[:, ::-1] @ m[:3, :3].T + m[:3, 3] - point, axis=1).min())
    return d if d <= reach else float("inf")


def _label_boxes(labels: np.ndarray, values: list) -> list:
    """Bounding box (slices [k, j, i]) of each label value, None where absent or None: one
    comparison and an ``any`` per axis for each (no argwhere of the volume)."""
    return [None if v is None else mask_box(labels == v) for v in values]


def _check_components(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Keep the vein tree; refuse a second piece big enough to be a vein of its own."""
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if n <= 1:
        return _bridge_corners(mask)
    sizes = np.bincount(lab.ravel())[1:]
    order = np.argsort(sizes)[::-1]
    voxel_mm3 = float(np.prod(spacing))
    second = sizes[order[1]] * voxel_mm3
    # Specks (a few voxels a Segment Editor stroke left behind) are dropped; a piece of
    # 300 mm3 or more (a 10 mm vein over 4 mm) is a disconnected vein and an error.
    if second >= 300.0:
        raise ValueError(
            f"the veins are in {n} disconnected pieces ({sizes[order[0]] * voxel_mm3:.0f} and "
            f"{second:.0f} mm3 are the largest): the IVC and both iliac veins must form one connected "
            "tree; fill the gap in the segmentation, or segment an occlusion with a Via point through it"
        )
    return _bridge_corners(lab == order[0] + 1)


def _bridge_corners(mask: np.ndarray, rounds: int = 12) -> np.ndarray:
    """Join pieces of a (26-connected) mask that touch only at voxel edges or corners.

    The surface (flying edges) separates voxels that share no face, so a segmentation whose
    pieces meet diagonally (a thin spot segmented one voxel wide) would give a surface in
    several pieces. Each round adds the voxels that are face neighbours of the largest
    face-connected piece and touch another piece: a bridge one voxel wide where they meet (an
    edge contact takes one round, a corner contact two; a piece joined through another, more)."""
    from scipy import ndimage

    cross = ndimage.generate_binary_structure(3, 1)
    cube = np.ones((3, 3, 3), dtype=bool)
    for _ in range(rounds):
        lab, n = ndimage.label(mask, structure=cross)
        if n <= 1:
            break
        largest = lab == int(np.argmax(np.bincount(lab.ravel())[1:])) + 1
        others = mask & ~largest
        bridge = ndimage.binary_dilation(largest, cross) & ndimage.binary_dilation(others, cube) & ~mask
        if not bridge.any():
            break
        mask = mask | bridge
    return mask


def _check_thickness(mask: np.ndarray, spacing: np.ndarray, segment_id: str) -> None:
    """Refuse a segment too thin for a centerline before VMTK sees it (VMTK does not fail
    cleanly on degenerate tubes)."""
    from scipy import ndimage

    box = mask_box(mask)
    crop = mask[tuple(slice(max(sl.start - 1, 0), sl.stop + 1) for sl in box)]
    sampling = np.asarray(spacing, dtype=float)[::-1]
    # A fine mask is first checked on blocks of 4 x 4 x 4, then 2 x 2 x 2 voxels inside it: a
    # block's distance to the nearest outside block, less the blocks' half-diagonals, is a
    # lower bound of the voxels' distance, and it nearly always settles the question (the wide
    # IVC on the coarser blocks, a narrow iliac vein on the finer ones).
    for size in (4, 2):
        factors = np.where(sampling <= 0.8, size, 1)
        if not np.any(factors > 1):
            break
        inside = block_reduce(padded_to_blocks(crop, factors, bool), factors, np.logical_and)
        if inside.any():
            slack = 2.0 * float(np.linalg.norm((factors - 1) / 2.0 * sampling))
            bound = float(ndimage.distance_transform_edt(inside, sampling=sampling * factors).max()) - slack
            if bound - 0.5 * float(spacing.min()) >= MIN_RADIUS_MM:
                return
    # The distance transform reaches the centre of the nearest background voxel; the wall is
    # half a voxel closer.
    widest = float(ndimage.distance_transform_edt(crop, sampling=sampling).max()) - 0.5 * float(spacing.min())
    if widest < MIN_RADIUS_MM:
        raise ValueError(
            f"the {segment_id} segment is at most {2 * widest:.1f} mm wide, too small for a centerline: "
            "segment the whole vein lumen"
        )


def find_end_points(
    labels_kji: np.ndarray, ijk_to_ras: np.ndarray, label_values: dict[str, int], seeds: dict | None = None
) -> dict[str, np.ndarray]:
    """End points of the analysis: the seeds when given (checked), otherwise the centroids of the
    cranial-most IVC slab and the caudal-most slab of each iliac vein."""
    from scipy.spatial import cKDTree

    out = {}
    for key, branch, cranial in (
        ("IVC", "ivc", True),
        ("Left", "left_iliac", False),
        ("Right", "right_iliac", False),
    ):
        mask = labels_kji == label_values[branch]
        if seeds and key in seeds and seeds[key] is not None:
            seed = np.asarray(seeds[key], dtype=float).reshape(3)
            dist = _distance_within(mask, ijk_to_ras, seed, SEED_MAX_DISTANCE_MM)
            if dist > SEED_MAX_DISTANCE_MM:  # how far, for the message: from every voxel
                dist = cKDTree(_voxel_ras(mask, ijk_to_ras)).query(seed)[0]
                raise ValueError(
                    f"the {key} seed is {dist:.0f} mm from the {names.SEGMENT_IDS[branch]} segment "
                    f"(more than {SEED_MAX_DISTANCE_MM:.0f} mm): move it into the vein"
                )
            out[key] = seed
            continue
        pts = _voxel_ras(mask, ijk_to_ras)
        s = pts[:, 2]
        slab = s >= s.max() - SLAB_MM if cranial else s <= s.min() + SLAB_MM
        out[key] = pts[slab].mean(axis=0)
    if out["Left"][0] > out["Right"][0]:
        raise ValueError(
            "the left iliac end lies to the patient's right of the right one (larger R): the iliac segments "
            "(or the Left/Right seeds) look swapped; swap them and run again"
        )
    return out


def _run_vmtk(surface, source: np.ndarray, targets: list[np.ndarray]):
    """VMTK centerlines from the surface point nearest `source` to those nearest each target."""
    from vtkmodules.vtkCommonCore import vtkIdList
    from vtkmodules.vtkCommonDataModel import vtkPointLocator

    locator = vtkPointLocator()
    locator.SetDataSet(surface)
    locator.BuildLocator()
    src_ids, tgt_ids = vtkIdList(), vtkIdList()
    src_ids.InsertNextId(locator.FindClosestPoint(source.tolist()))
    for t in targets:
        tgt_ids.InsertNextId(locator.FindClosestPoint(t.tolist()))
    centerlines = vmtk_class("vtkvmtkPolyDataCenterlines")()
    centerlines.SetInputData(surface)
    centerlines.SetSourceSeedIds(src_ids)
    centerlines.SetTargetSeedIds(tgt_ids)
    centerlines.SetRadiusArrayName("MaximumInscribedSphereRadius")
    centerlines.SetCostFunction("1/R")
    centerlines.SetFlipNormals(0)
    centerlines.SetAppendEndPointsToCenterlines(0)
    # SlicerVMTK disables Voronoi simplification with VTK 9; it brought nothing here either.
    centerlines.SetSimplifyVoronoi(0)
    centerlines.SetCenterlineResampling(1)
    centerlines.SetResamplingStepLength(0.5)
    centerlines.Update()
    out = centerlines.GetOutput()
    radius = out.GetPointData().GetArray("MaximumInscribedSphereRadius")
    lines = []
    for c in range(out.GetNumberOfCells()):
        ids = out.GetCell(c).GetPointIds()
        idx = [ids.GetId(k) for k in range(ids.GetNumberOfIds())]
        pts = np.array([out.GetPoint(i) for i in idx])
        r = np.array([radius.GetValue(i) for i in idx])
        lines.append((pts, r))
    return lines


def _arc(points: np.ndarray) -> np.ndarray:
    return np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]


def _resample(points: np.ndarray, radius: np.ndarray, step: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Points every `step` mm along the polyline (the first one kept), radius interpolated."""
    from scipy.ndimage import gaussian_filter1d

    s = _arc(points)
    keep = np.r_[True, np.diff(s) > 1e-9]
    points, radius, s = points[keep], radius[keep], s[keep]
    # VMTK lines follow the Voronoi diagram and zigzag by a fraction of a millimetre; a 1.5 mm
    # Gaussian along the line removes that without cutting corners the veins really have.
    sigma = 1.5 / max(np.median(np.diff(s)), 1e-3)
    smooth = gaussian_filter1d(points, sigma, axis=0, mode="nearest")
    smooth[0] = points[0]
    s2 = _arc(smooth)
    t = np.arange(0.0, s2[-1] + 1e-9, step)
    pts = np.stack([np.interp(t, s2, smooth[:, c]) for c in range(3)], axis=1)
    return pts, np.interp(t, s2, radius)


def _trim_end(points: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the last inscribed-sphere radius of a branch: there the line runs into the cap
    (a flat end where the vein leaves the volume, or a segment's rounded end) and the
    spheres shrink against it."""
    if len(points) < 10:
        return points, radius
    tail = radius[-min(len(radius), 20) :]
    cut = int(np.ceil(max(float(np.median(tail)), 3.0)))
    cut = min(cut, len(points) // 3)
    return points[: len(points) - cut], radius[: len(radius) - cut]


def _fit_axis(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre = points.mean(axis=0)
    direction = np.linalg.svd(points - centre)[2][0]
    if direction @ (points[-1] - points[0]) < 0:
        direction = -direction
    return centre, direction


def _place_confluence(raw: dict, parting: np.ndarray):
    """Move the confluence from where VMTK's lines part to where the iliac axes meet.

    Minimal paths through the confluence stay in the IVC's wide lumen and part 5-25 mm above
    the point where the iliac veins join it, so distances from the parting point would put an
    iliac stent "ending at the confluence" inside the IVC. Each iliac line is followed from
    the parting point to where the two lines run in separate tubes (further apart than
    ``SEPARATE_TUBES`` times the sum of their inscribed radii); its axis over the next
    ``CONFLUENCE_AXIS_MM``, extended back, meets the other's at the anatomical confluence, and
    the branches are re-joined there with straight pieces. (Fitting at a fixed arc length from
    the parting point instead left the axes inside the IVC's lumen when the lines part high,
    and put the confluence up to 16 mm too high on 5 of 21 phantom cases; this way the error was
    at most 2.5 mm, median 1.4.) If the axes do not meet plausibly (further than 40 mm below the
    parting point, or not below it), the parting point is kept.
    """
    from scipy.spatial import cKDTree

    axes = []
    names_ = ("left_iliac", "right_iliac")
    for k, name in enumerate(names_):
        pts, r = raw[name]
        other_pts, other_r = raw[names_[1 - k]]
        gap, nearest = cKDTree(other_pts).query(pts)
        apart = gap > SEPARATE_TUBES * (r + other_r[nearest])
        if not apart.any():
            return raw, parting
        first = int(np.argmax(apart))
        s = _arc(pts)
        sel = (s >= s[first]) & (s <= s[first] + CONFLUENCE_AXIS_MM)
        if sel.sum() < 5:
            return raw, parting
        axes.append((_fit_axis(pts[sel]), first))
    (c1, u1), first1 = axes[0]
    (c2, u2), first2 = axes[1]
    # Closest points of the two axis lines.
    w = c1 - c2
    a, b, c, d, e = u1 @ u1, u1 @ u2, u2 @ u2, u1 @ w, u2 @ w
    den = a * c - b * b
    if abs(den) < 1e-6:
        return raw, parting
    t1, t2 = (b * e - c * d) / den, (a * e - b * d) / den
    meet = ((c1 + t1 * u1) + (c2 + t2 * u2)) / 2.0
    drop = parting[2] - meet[2]
    if not 0.0 < drop <= 40.0 or np.linalg.norm(meet[:2] - parting[:2]) > 20.0:
        return raw, parting
    ivc_pts, ivc_r = raw["ivc"]
    out = {"ivc": (np.vstack([meet, ivc_pts]), np.r_[ivc_r[0], ivc_r])}
    for name, first, u in (("left_iliac", first1, u1), ("right_iliac", first2, u2)):
        pts, r = raw[name]
        # The iliac line goes on from where it has passed the meeting point: when the axes meet
        # well below the parting point, the start of the fitted stretch can still lie above it,
        # and joining there would fold the branch back on itself.
        past = np.flatnonzero((pts[first:] - meet) @ u > 0.0)
        if len(past) and past[0] > 0:
            first += int(past[0])
        out[name] = (np.vstack([meet, pts[first:]]), np.r_[r[first], r[first:]])
    return out, meet


def _check_lines(lines: list, ends: dict[str, np.ndarray]) -> tuple[dict, dict[str, float]]:
    """VMTK's two lines by the iliac end they reach, and how far each end is from its end point.

    :raises ValueError: when there are not two lines, or one starts or ends far from its point.
    """
    if len(lines) != 2 or any(len(p) < 4 for p, _ in lines):
        raise ValueError(
            "VMTK found no centerline through the veins: the segments are too small or too thin; check the "
            "segmentation (each vein should be several voxels wide)"
        )
    # Which line goes where: by their far ends, not by VMTK's order.
    by_end = {}
    for key in ("Left", "Right"):
        d = [np.linalg.norm(p[-1] - ends[key]) for p, _ in lines]
        by_end[key] = lines[int(np.argmin(d))]
    if by_end["Left"] is by_end["Right"]:
        raise ValueError("VMTK gave one line for both iliac veins: the iliac segments overlap; check them")
    gaps = {}
    for key, (pts, r) in by_end.items():
        tol = max(END_TOLERANCE_MM, 1.5 * float(np.median(r[-10:])))
        for where, p, target in (("starts", pts[0], ends["IVC"]), ("ends", pts[-1], ends[key])):
            gap = float(np.linalg.norm(p - target))
            name = "IVC" if where == "starts" else key
            gaps[name] = max(gap, gaps.get(name, 0.0))
            if gap > tol:
                raise ValueError(
                    f"the centerline to the {key.lower()} iliac vein {where} {gap:.0f} mm from its end point "
                    f"(more than {tol:.0f} mm): the segmentation is probably too narrow or broken there"
                )
    return by_end, gaps


def extract_centerlines(
    labels_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    label_values: dict[str, int] | None = None,
    seeds: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    conduit_kji: np.ndarray | None = None,
) -> CenterlineResult:
    """The labelled centerline tree of the IVC and both iliac veins.

    :param labels_kji: label map indexed [k, j, i] holding the three veins.
    :param ijk_to_ras: its 4x4 voxel-to-RAS matrix.
    :param label_values: label value per branch; default ``names.VEIN_LABELS`` (1, 2, 3).
    :param seeds: optional "IVC", "Left", "Right" points (RAS) where the analysis starts and ends.
    :param conduit_kji: optional label map on the same grid whose veins VMTK's surface is made
        from instead (the occluded stretches' wider conduit, ``occlusion.widened_occlusions``);
        the cross sections' surface is always the labels' own.
    :raises ValueError: empty or missing segments, disconnected pieces, seeds far from the veins,
        swapped sides, or veins too small for a centerline; the message says what to do.
    """
    from scipy.spatial import cKDTree

    # The canonical storage order (``inputs.orientation``): the surface, hence the centerlines,
    # then depend on the anatomy only, not on how the voxels are stored.
    labels, matrix, _ = canonical(np.asarray(labels_kji), np.asarray(ijk_to_ras, dtype=float))
    conduit = (
        None
        if conduit_kji is None
        else canonical(np.asarray(conduit_kji), np.asarray(ijk_to_ras, dtype=float))[0]
    )
    values = dict(label_values or names.VEIN_LABELS)
    if labels.ndim != 3:
        raise ValueError(f"the vein label map must be 3D, got shape {labels.shape}")
    boxes = _label_boxes(labels, [values.get(b) for b in names.BRANCHES])
    if all(box is None for box in boxes) and not np.any(labels):
        raise ValueError(
            "the vein segmentation is empty: segment the veins (or pick the right segments) first"
        )
    for branch, box in zip(names.BRANCHES, boxes, strict=True):
        if branch not in values or box is None:
            raise ValueError(
                f"the segmentation has no {names.SEGMENT_IDS[branch]} segment (label {values.get(branch)}): "
                "the IVC and both iliac veins are needed"
            )
    # Everything below works on the veins' box only: the cost follows the veins, not the volume.
    lo = np.maximum(np.min([[sl.start for sl in box] for box in boxes], axis=0) - 2, 0)
    hi = np.minimum(np.max([[sl.stop for sl in box] for box in boxes], axis=0) + 2, labels.shape)
    labels = labels[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    if conduit is not None:
        conduit = conduit[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    shift = np.eye(4)
    shift[:3, 3] = lo[::-1]
    matrix = matrix @ shift
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    for branch in names.BRANCHES:
        _check_thickness(labels == values[branch], spacing, names.SEGMENT_IDS[branch])
    mask = _check_components(np.isin(labels, [values[b] for b in names.BRANCHES]), spacing)
    ends = find_end_points(np.where(mask, labels, 0), matrix, values, seeds)
    say = progress or (lambda message: None)
    say("making the vein surface")
    # Two surfaces: the label map's own for the cross sections, and a few thousand points of it
    # for VMTK (whose cost grows faster than its input), within a point budget.
    sections = section_surface(mask, matrix)
    if conduit is None:
        candidates = surface_candidates(mask, matrix, full_surface=sections)
    else:
        wide = _check_components(np.isin(conduit, [values[b] for b in names.BRANCHES]), spacing)
        candidates = surface_candidates(wide, matrix)
    surface, build = next(candidates)
    say("computing the centerlines (VMTK)")
    first_error = None
    while True:
        lines = _run_vmtk(surface, ends["IVC"], [ends["Left"], ends["Right"]])
        try:
            by_end, gaps = _check_lines(lines, ends)
            break
        except ValueError as exc:
            # VMTK's steepest descent can stall on one triangulation of a thin spot ("degenerate
            # descent": the line then starts far from its end point) and not on another, so the
            # next candidate surface is tried; the first error is reported when none works.
            first_error = first_error or exc
            candidate = next(candidates, None)
            if candidate is None:
                raise first_error from None
            surface, build = candidate

    left_pts, left_r = by_end["Left"]
    right_pts, right_r = by_end["Right"]
    # The confluence: where the two lines part.
    dist_to_right = cKDTree(right_pts).query(left_pts)[0]
    parted = np.flatnonzero(dist_to_right > SPLIT_TOLERANCE_MM)
    if len(parted) == 0:
        raise ValueError("the two iliac centerlines never part: the iliac segments overlap; check them")
    i_split = max(int(parted[0]) - 1, 1)
    confluence = left_pts[i_split]
    j_split = int(cKDTree(right_pts).query(confluence)[1])

    raw = {
        "ivc": (left_pts[: i_split + 1][::-1], left_r[: i_split + 1][::-1]),
        "left_iliac": (left_pts[i_split:], left_r[i_split:]),
        "right_iliac": (np.vstack([confluence, right_pts[j_split + 1 :]]), right_r[j_split:]),
    }
    raw, confluence = _place_confluence(raw, confluence)
    branches = {}
    for name, (pts, r) in raw.items():
        pts1, r1 = _resample(pts, r)
        pts1, r1 = _trim_end(pts1, r1)
        if len(pts1) < 5:
            raise ValueError(
                f"the {name.replace('_', ' ')} centerline is only {len(pts1)} mm long: the segment is too "
                "short to measure; extend the segmentation or move the seed"
            )
        branches[name] = CenterlineBranch(name, pts1, np.arange(len(pts1), dtype=float), r1)
    return CenterlineResult(
        CenterlineTree(branches, confluence.copy()),
        surface,
        ends,
        gaps,
        section_surface=sections,
        surface_build=build,
    )

"""Occluded stretches: found along the paths, marked in the label map, and read back.

Where a path crosses no blood-like lumen for more than MIN_OCCLUSION_MM, the stretch is an
occlusion: reported with its length and labelled ``names.OCCLUDED_LABEL`` (the segment
``occluded_vein``) as a round tube along the path. For measuring, the occluded voxels are given
to the nearest lumen (:func:`fill_occluded`), so the tree stays one piece for the centerlines,
and a segmentation saved by this module gives its occlusions back (:func:`occlusions_from_labels`).
"""

from __future__ import annotations

import numpy as np

from .. import names
from .datatypes import OccludedStretch
from .grid import grown_box, mask_box, nearest_voxels, spacing_of, to_ras, tube_in_box

MIN_OCCLUSION_MM = 4.0  # a shorter gap in the lumen along the path is noise, not an occlusion
NOISE_GAP_MM = 3.0  # a shorter stretch of lumen inside an occluded one is noise and does not split it
OCCLUDED_RADIUS_MM = 3.0  # the occluded stretch is marked as a round tube this wide around the path
# For the centerlines only, the occluded tube is this much wider (at least a voxel): VMTK's lines
# stopped at their targets in the 3 mm tube at 0.6 mm (1.2 mm blur) and at 2 x 2 x 3 mm ("the
# centerline to the left iliac vein starts 305 / 303 mm from its end point"); both ran through a
# 4 mm one, and through this conduit (4.5 mm; 3 mm more, a voxel, at 2 x 2 x 3 mm). Marking the
# label map's tube wider instead cost the IVC's Dice 0.002 (the tube takes lumen voxels at the
# stretch's ends from the IVC); the sections are cut from the map's own tube.
CONDUIT_MARGIN_MM = 1.5
OCCLUSION_CLEAR_MM = 8.0  # lumen scraps this close to an occluded stretch's path are cleared
OCCLUSION_OVERLAP_MM = 8.0  # the occluded tube reaches this far into the lumen at each end
JUNCTION_RADIUS_MM = 3.0  # closing ball rounding off where the occluded tube meets the lumen
JUNCTION_MARGIN_MM = 15.0  # how far from the path that closing may add voxels


def round_off_junctions(labels: np.ndarray, path_ras: np.ndarray, ijk_to_ras: np.ndarray, value: int) -> None:
    """Fill the notches where the thin occluded tube meets the tapered lumen (a morphological
    closing with a 3 mm ball, near the path only; new voxels get the branch's label ``value``:
    they are the lumen's tapering shoulder). A section plane there otherwise cuts the tube
    and the shoulder as separate small contours, on which VMTK's section filter crashed the
    process."""
    from scipy import ndimage

    spacing = np.linalg.norm(ijk_to_ras[:3, :3], axis=0)
    found = tube_in_box(path_ras, ijk_to_ras, labels.shape, JUNCTION_MARGIN_MM)
    extent = mask_box(found[1]) if found is not None else None
    if extent is None:
        return
    tube_box, tube = found
    first = np.array([sl.start for sl in tube_box])
    pad = np.ceil(2 * JUNCTION_RADIUS_MM / spacing[::-1]).astype(int) + 1
    low = np.maximum(first + [sl.start for sl in extent] - pad, 0)
    high = np.minimum(first + [sl.stop for sl in extent] + pad, labels.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    # The 15 mm tube in this box (the tube's box cut to it; the tube is False beyond its box).
    near = np.zeros(high - low, dtype=bool)
    both = [
        (max(t.start, int(lo)), min(t.stop, int(hi))) for t, lo, hi in zip(tube_box, low, high, strict=True)
    ]
    near[tuple(slice(a - lo, b - lo) for (a, b), lo in zip(both, low, strict=True))] = tube[
        tuple(slice(a - t.start, b - t.start) for (a, b), t in zip(both, tube_box, strict=True))
    ]
    mask = labels[box] > 0
    sampling = spacing[::-1]
    dilated = ndimage.distance_transform_edt(~mask, sampling=sampling) <= JUNCTION_RADIUS_MM
    closed = ndimage.distance_transform_edt(dilated, sampling=sampling) > JUNCTION_RADIUS_MM
    sub = labels[box]
    sub[closed & ~mask & near] = value


def widened_occlusions(labels: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """The label map with each occluded tube (``names.OCCLUDED_LABEL``) grown by
    ``CONDUIT_MARGIN_MM``, at least a voxel, into the background: the conduit the centerlines
    run through (the occluded sections are reported as occluded, not measured as lumen)."""
    from scipy import ndimage

    occluded = labels == names.OCCLUDED_LABEL
    where = mask_box(occluded)
    if where is None:
        return labels
    spacing = spacing_of(ijk_to_ras)[::-1]
    grow = max(CONDUIT_MARGIN_MM, float(spacing.max()))
    box = grown_box(where, np.ceil(grow / spacing).astype(int) + 1, labels.shape)
    near = ndimage.distance_transform_edt(~occluded[box], sampling=spacing) <= grow
    out = labels.copy()
    sub = out[box]
    sub[near & (sub == 0)] = names.OCCLUDED_LABEL
    return out


def fill_occluded(labels: np.ndarray) -> np.ndarray:
    """Labels 1-3 for measuring: each occluded voxel (``names.OCCLUDED_LABEL``) takes the label of the
    nearest lumen, so that the tree stays connected for the centerlines (the findings still
    report the occlusion)."""
    from scipy import ndimage

    out = labels.copy()
    # The occluded voxels are listed inside their bounding box only (an argwhere of the whole
    # volume visits every voxel).
    occluded = out == names.OCCLUDED_LABEL
    where = mask_box(occluded)
    if where is None:
        return out
    occluded = occluded[where]
    # The nearest lumen of an occluded voxel is within the occluded stretch's own extent of it:
    # the distance map is computed in a box around the stretch only (on a whole 512 x 512 x 400
    # CT it would take ~20 s and 2.5 GB for its index arrays). The box starts small and grows
    # until every occluded voxel's nearest lumen is nearer than the box's inner faces (so that
    # no lumen outside could be nearer), up to the stretch's extent.
    kji = np.argwhere(occluded) + np.array([sl.start for sl in where])
    low, high = kji.min(axis=0), kji.max(axis=0) + 1
    widest = int((high - low).max()) + 2
    margin = min(16, widest)
    while True:
        lo = np.maximum(low - margin, 0)
        hi = np.minimum(high + margin, out.shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        sub = out[box]
        lumen = np.isin(sub, (1, 2, 3))
        hole = sub == names.OCCLUDED_LABEL
        if lumen.any():
            dist, idx = ndimage.distance_transform_edt(~lumen, return_indices=True)
            inner = np.argwhere(hole)
            # Distance (voxels) from each occluded voxel to the first voxel outside the box,
            # along each axis where the box stops short of the volume's edge.
            room = np.full(len(inner), np.inf)
            for axis in range(3):
                if lo[axis] > 0:
                    room = np.minimum(room, inner[:, axis] + 1)
                if hi[axis] < out.shape[axis]:
                    room = np.minimum(room, (hi[axis] - lo[axis]) - inner[:, axis])
            if margin >= widest or np.all(dist[hole] < room):
                break
        elif margin >= widest:
            raise ValueError(
                "an occluded stretch joins no vein lumen: the segmentation has no IVC or iliac vein"
            )
        margin = min(2 * margin, widest)
    sub[hole] = sub[tuple(i[hole] for i in idx)]
    return out


def occlusions_from_labels(
    labels: np.ndarray, ijk_to_ras: np.ndarray, filled: np.ndarray | None = None
) -> list[OccludedStretch]:
    """The occluded stretches of a label map saved by this module (``names.OCCLUDED_LABEL`` voxels,
    the ``occluded_vein`` segment): one per connected piece at least MIN_OCCLUSION_MM long, on
    the branch whose lumen it joins, from end to end along the piece's long axis."""
    from scipy import ndimage

    occluded = labels == names.OCCLUDED_LABEL
    if not occluded.any():
        return []
    if filled is None:  # ``fill_occluded(labels)``, when the caller has it already
        filled = fill_occluded(labels)
    pieces, count = ndimage.label(occluded)
    out = []
    for n in range(1, count + 1):
        kji = np.argwhere(pieces == n)
        if len(kji) < 2:
            continue
        values = filled[tuple(kji.T)]
        branch = names.BRANCHES[int(np.bincount(values, minlength=4)[1:].argmax())]
        # The long axis from the piece's own voxel offsets (mm, no origin): the same bits
        # wherever the piece lies in the array (a cropped label map moved the ends by up to
        # 3 mm between tied voxels), pointed towards S (else A, else R) so that start is the
        # lower end. The ends are on the axis, at the piece's extent along it: an extreme voxel
        # of a flat end face was one of many tied ones, taken in storage order (review).
        m = np.asarray(ijk_to_ras, dtype=float)
        first = kji.min(axis=0)
        offsets = (kji - first)[:, ::-1] @ m[:3, :3].T
        centre = offsets.mean(axis=0)
        axis = np.linalg.svd(offsets - centre, full_matrices=False)[2][0]
        if tuple(np.sign(axis[::-1])) < (0, 0, 0):
            axis = -axis
        t = (offsets - centre) @ axis
        origin = to_ras(first[::-1].astype(float)[None], m)[0]
        start, end = (origin + centre + float(x) * axis for x in (t.min(), t.max()))
        length = float(t.max() - t.min())
        if length >= MIN_OCCLUSION_MM:  # smaller pieces are the rounded-off junctions
            out.append(OccludedStretch(branch, start, end, length))
    return out


def find_occlusions(
    dense: dict[str, np.ndarray], lumen_at, gap_mm: float = NOISE_GAP_MM
) -> list[tuple[str, np.ndarray]]:
    """Stretches of each path (runs of points) that cross no lumen.

    Gaps of lumen shorter than NOISE_GAP_MM inside a dark stretch are noise and do not split
    it; dark runs within 3 mm of a path's ends (seeds near a wall) or shorter than
    MIN_OCCLUSION_MM are not occlusions. Two occlusions less than ``gap_mm`` of lumen apart are
    one (a longer ``gap_mm`` joins occlusions only, never short dark spots into one).
    """
    from scipy import ndimage

    out = []
    for branch, pts in dense.items():
        if len(pts) < 3:
            continue
        step = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).mean())
        dark = ~lumen_at(pts)
        dark = ndimage.binary_closing(dark, structure=np.ones(max(round(NOISE_GAP_MM / step), 1)))
        edge = round(3.0 / step)
        dark[:edge] = dark[len(dark) - edge :] = False
        runs, n = ndimage.label(dark)
        found: list[list[int]] = []
        for r in range(1, n + 1):
            idx = np.flatnonzero(runs == r)
            if len(idx) * step < MIN_OCCLUSION_MM:
                continue
            if found and (idx[0] - found[-1][1] - 1) * step < gap_mm:
                found[-1][1] = int(idx[-1])
            else:
                found.append([int(idx[0]), int(idx[-1])])
        out.extend((branch, pts[a : b + 1]) for a, b in found)
    return out


def mark_occlusions(
    labels_box: np.ndarray,
    m: np.ndarray,
    dense: dict[str, np.ndarray],
    blood_like_at,
    gap_mm: float = NOISE_GAP_MM,
) -> list[OccludedStretch]:
    """Find the occluded stretches of the paths ``dense`` (where ``blood_like_at``, a function
    of RAS points, is False along them; occlusions less than ``gap_mm`` apart are one)
    and mark each in ``labels_box`` (in place): lumen scraps along it cleared, a round tube
    ``names.OCCLUDED_LABEL`` along the path reaching into the lumen at both ends, the junctions
    rounded off, and loose scraps removed. ``m`` is the box's IJK-to-RAS matrix."""

    occlusions = []
    for branch, run in find_occlusions(dense, blood_like_at, gap_mm):
        length = float(np.sum(np.linalg.norm(np.diff(run, axis=0), axis=1)))
        occlusions.append(OccludedStretch(branch, run[0].copy(), run[-1].copy(), length))
        # Scraps of lumen label along the stretch (a thin residual channel, partial volume at
        # collaterals) are not measurable lumen and leave thin necks that tear the surface:
        # cleared within 8 mm of the path, away from the stretch's ends, where the lumen goes on.
        edge = np.cumsum(np.r_[0.0, np.linalg.norm(np.diff(run, axis=0), axis=1)])
        core = run[(edge > 3.0) & (edge < length - 3.0)]
        # (In the tube's box: a mask of the whole lumen box for each costs more than the tube.)
        found = tube_in_box(core, m, labels_box.shape, OCCLUSION_CLEAR_MM) if len(core) >= 2 else None
        if found is not None:
            sub = labels_box[found[0]]
            sub[found[1] & (sub == names.VEIN_LABELS[branch])] = 0
        # The tube goes on along the path into the lumen at both ends (only unlabelled voxels
        # are marked): the lumen label can stop short of the dark run where it tapers.
        path = dense[branch]
        i0 = int(np.argmin(np.linalg.norm(path - run[0], axis=1)))
        i1 = int(np.argmin(np.linalg.norm(path - run[-1], axis=1)))
        step = max(float(np.linalg.norm(np.diff(path, axis=0), axis=1).mean()), 1e-3)
        more = int(np.ceil(OCCLUSION_OVERLAP_MM / step))
        reach = path[max(min(i0, i1) - more, 0) : max(i0, i1) + more + 1]
        found = tube_in_box(reach, m, labels_box.shape, OCCLUDED_RADIUS_MM)
        if found is not None:
            sub = labels_box[found[0]]
            sub[found[1] & (sub == 0)] = names.OCCLUDED_LABEL
        round_off_junctions(labels_box, reach, m, names.VEIN_LABELS[branch])
    if occlusions:
        # Scraps beyond the cleared tube that hung on the cleared ones are now loose: keep only
        # the pieces the paths run through.
        on_paths = nearest_voxels(np.vstack(list(dense.values())), m, labels_box.shape)
        labels_box[~pieces_through(labels_box > 0, on_paths)] = 0
    return occlusions


def pieces_through(mask: np.ndarray, kji: np.ndarray) -> np.ndarray:
    """The face-connected pieces of ``mask`` (those of ``ndimage.label``) that hold any of the
    voxels ``kji``: a flood fill from those voxels (SimpleITK), which visits the kept pieces
    only, instead of labelling every piece of the box (~3 times faster at 0.6 mm)."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    kji = np.asarray(kji, dtype=int).reshape(-1, 3)
    kji = kji[mask[kji[:, 0], kji[:, 1], kji[:, 2]]]
    if not len(kji):
        return np.zeros(mask.shape, dtype=bool)
    fill = sitk.ConnectedThresholdImageFilter()
    fill.SetLower(1)
    fill.SetUpper(1)
    fill.SetReplaceValue(1)
    fill.SetConnectivity(sitk.ConnectedThresholdImageFilter.FaceConnectivity)
    fill.SetSeedList([(int(i), int(j), int(k)) for k, j, i in np.unique(kji, axis=0)])
    return sitk.GetArrayFromImage(fill.Execute(sitk.GetImageFromArray(mask.view(np.uint8)))) > 0

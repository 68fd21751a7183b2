"""Seeded segmentation of the IVC and both iliac veins from a contrast CT (or bright-blood MR) venogram.

Method (no trained weights, nothing downloaded):

1. **Seeds and contrast.** The blood intensity (median and spread) is read around the three
   seeds; seeds in air, fat or bone, swapped sides, seeds too close together, and volumes whose
   veins are not brighter than their surroundings are refused with a message that says why.
2. **Minimal paths.** On a coarse (about 2 mm) grid of a region around the seeds, a speed image
   favours voxels as bright as the blood and deep inside bright tubes (distance to the wall).
   Fast marching (SimpleITK) from the IVC seed, then steepest descent on the arrival time from
   each iliac seed, gives the path IVC -> left and IVC -> right; ``Via`` points split the path
   into legs the path must pass (through an occlusion, for instance). Where the two iliac paths
   meet is the confluence.
3. **Lumen.** At full resolution, in a box around the paths only (the cost follows the veins, not
   the volume), the smoothed image is thresholded half-way between blood and background. Touching
   bright tubes (iliac arteries, renal veins, kidneys) stay connected after thresholding, so a
   marker-controlled watershed on the distance map splits them at their necks: the paths mark the
   veins; the centres of other bright tubes (distance-map ridges well outside the vein's own
   radius) mark everything else. The veins' basin, kept within a few mm of the vein's own radius
   from the path (so side branches such as renal veins remain short stubs), is the lumen.
4. **Labels.** Each lumen voxel goes to the branch (IVC, left, right) whose path it is nearest to,
   relative to the local radius. Stretches where the path crosses no lumen are reported as
   occlusions, with their length, and labelled apart.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from . import names

COARSE_MM = 2.0  # grid of the minimal-path search
ROI_MARGIN_MM = 30.0  # box around the seeds searched for paths
LUMEN_MARGIN_MM = 22.0  # box around the paths in which the lumen is computed
SIDE_BRANCH_MM = 8.0  # lumen kept within the local vein radius plus this of the path
EXTEND_MM = 40.0  # the veins are followed this far past their seeds (within the lumen box)
VIA_REACH_MM = 35.0  # an occlusion is crossed within this distance of a Via point
ENHANCED_HU = 100.0  # contrast-filled blood in a CT venogram is brighter than this (muscle ~50)
BONE_HU = 350.0  # cortical bone around a seed is brighter than this
MIN_SEED_DISTANCE_MM = 20.0
MIN_OCCLUSION_MM = 4.0  # a shorter gap in the lumen along the path is noise, not an occlusion
OCCLUDED_LABEL = 4
OCCLUDED_RADIUS_MM = 3.0  # the occluded stretch is marked as a round tube this wide around the path
OCCLUSION_CLEAR_MM = 8.0  # lumen scraps this close to an occluded stretch's path are cleared
OCCLUSION_OVERLAP_MM = 8.0  # the occluded tube reaches this far into the lumen at each end
JUNCTION_RADIUS_MM = 3.0  # closing ball rounding off where the occluded tube meets the lumen
JUNCTION_MARGIN_MM = 15.0  # how far from the path that closing may add voxels
SEED_BALL_MM = 3.0


@dataclass
class OccludedStretch:
    """A stretch of a branch's path that crosses no lumen."""

    branch: str
    start_ras: np.ndarray
    end_ras: np.ndarray
    length_mm: float


@dataclass
class VeinSegmentation:
    """Label map in the input volume's geometry: 1 IVC, 2 left iliac, 3 right iliac, 4 occluded."""

    labels: np.ndarray  # uint8 [k, j, i]
    ijk_to_ras: np.ndarray
    paths_ras: dict[str, np.ndarray]  # per branch, from the confluence outward
    confluence_ras: np.ndarray
    occlusions: list[OccludedStretch]
    blood_hu: float
    threshold: float
    warnings: list[str] = field(default_factory=list)

    def measurable_labels(self) -> np.ndarray:
        """Labels 1-3 for measuring (see :func:`fill_occluded`)."""
        return fill_occluded(self.labels)


def _tube_around(path_ras: np.ndarray, ijk_to_ras: np.ndarray, shape: tuple, radius_mm: float) -> np.ndarray:
    """Mask of the voxels within ``radius_mm`` of a polyline (RAS): a round tube, so that its
    surface stays smooth and closed after decimation (a dilated voxel path is a chain of
    octahedra, whose thin necks tore open in the 0.8 mm surface)."""
    from scipy import ndimage

    spacing = np.linalg.norm(ijk_to_ras[:3, :3], axis=0)
    # Dense samples along the path: half a voxel apart, so the path has no gaps.
    step = 0.5 * spacing.min()
    pts = [path_ras[0]]
    for a, b in itertools.pairwise(np.asarray(path_ras, dtype=float)):
        n = max(int(np.ceil(np.linalg.norm(b - a) / step)), 1)
        pts += list(a + (b - a) * (np.arange(1, n + 1)[:, None] / n))
    ijk = np.rint(_ras_to_ijk(np.array(pts), ijk_to_ras)).astype(int)
    size = np.array(shape[::-1])
    margin = np.ceil(radius_mm / spacing).astype(int) + 1
    low = np.clip(ijk.min(axis=0) - margin, 0, size)
    high = np.clip(ijk.max(axis=0) + margin + 1, 0, size)
    mask = np.zeros(shape, dtype=bool)
    if np.any(high <= low):
        return mask
    box = tuple(slice(int(a), int(b)) for a, b in zip(low[::-1], high[::-1], strict=True))
    centre = np.ones(tuple(int(n) for n in (high - low)[::-1]), dtype=bool)
    inside = np.all((ijk >= low) & (ijk < high), axis=1)
    local = ijk[inside] - low
    centre[local[:, 2], local[:, 1], local[:, 0]] = False
    distance = ndimage.distance_transform_edt(centre, sampling=spacing[::-1])
    mask[box] = distance <= radius_mm
    return mask


def _round_off_junctions(
    labels: np.ndarray, path_ras: np.ndarray, ijk_to_ras: np.ndarray, value: int
) -> None:
    """Fill the notches where the thin occluded tube meets the tapered lumen (a morphological
    closing with a 3 mm ball, near the path only; new voxels get the branch's label ``value``:
    they are the lumen's tapering shoulder). A section plane there otherwise cuts the tube
    and the shoulder as separate small contours, on which VMTK's section filter crashed the
    process."""
    from scipy import ndimage

    spacing = np.linalg.norm(ijk_to_ras[:3, :3], axis=0)
    near = _tube_around(path_ras, ijk_to_ras, labels.shape, JUNCTION_MARGIN_MM)
    kji = np.argwhere(near)
    if len(kji) == 0:
        return
    pad = np.ceil(2 * JUNCTION_RADIUS_MM / spacing[::-1]).astype(int) + 1
    low = np.maximum(kji.min(axis=0) - pad, 0)
    high = np.minimum(kji.max(axis=0) + pad + 1, labels.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    mask = labels[box] > 0
    sampling = spacing[::-1]
    dilated = ndimage.distance_transform_edt(~mask, sampling=sampling) <= JUNCTION_RADIUS_MM
    closed = ndimage.distance_transform_edt(dilated, sampling=sampling) > JUNCTION_RADIUS_MM
    sub = labels[box]
    sub[closed & ~mask & near[box]] = value


def fill_occluded(labels: np.ndarray) -> np.ndarray:
    """Labels 1-3 for measuring: each occluded voxel (``OCCLUDED_LABEL``) takes the label of the
    nearest lumen, so that the tree stays connected for the centerlines (the findings still
    report the occlusion)."""
    from scipy import ndimage

    out = labels.copy()
    occluded = out == OCCLUDED_LABEL
    if not occluded.any():
        return out
    # The nearest lumen of an occluded voxel is within the occluded stretch's own extent of it:
    # the distance map is computed in that box only (on a whole 512 x 512 x 400 CT it would
    # take ~20 s and 2.5 GB for its index arrays).
    kji = np.argwhere(occluded)
    low, high = kji.min(axis=0), kji.max(axis=0) + 1
    margin = (high - low).max() + 2
    box = tuple(
        slice(max(int(a) - margin, 0), min(int(b) + margin, n))
        for a, b, n in zip(low, high, out.shape, strict=True)
    )
    sub = out[box]
    lumen = np.isin(sub, (1, 2, 3))
    if not lumen.any():
        raise ValueError("an occluded stretch joins no vein lumen: the segmentation has no IVC or iliac vein")
    _, idx = ndimage.distance_transform_edt(~lumen, return_indices=True)
    hole = sub == OCCLUDED_LABEL
    sub[hole] = sub[tuple(i[hole] for i in idx)]
    return out


def occlusions_from_labels(
    labels: np.ndarray, ijk_to_ras: np.ndarray, filled: np.ndarray | None = None
) -> list[OccludedStretch]:
    """The occluded stretches of a label map saved by this module (``OCCLUDED_LABEL`` voxels,
    the ``occluded_vein`` segment): one per connected piece at least MIN_OCCLUSION_MM long, on
    the branch whose lumen it joins, from end to end along the piece's long axis."""
    from scipy import ndimage

    occluded = labels == OCCLUDED_LABEL
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
        ras = _ijk_to_ras(kji[:, ::-1], ijk_to_ras)
        centre = ras.mean(axis=0)
        axis = np.linalg.svd(ras - centre, full_matrices=False)[2][0]
        t = (ras - centre) @ axis
        start, end = ras[int(np.argmin(t))], ras[int(np.argmax(t))]
        length = float(np.linalg.norm(end - start))
        if length >= MIN_OCCLUSION_MM:  # smaller pieces are the rounded-off junctions
            out.append(OccludedStretch(branch, start, end, length))
    return out


# ---------------------------------------------------------------------------------------------
# Geometry helpers


def _ras_to_ijk(points: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(ijk_to_ras)
    return np.asarray(points, dtype=float) @ inv[:3, :3].T + inv[:3, 3]


def _ijk_to_ras(ijk: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    return np.asarray(ijk, dtype=float) @ ijk_to_ras[:3, :3].T + ijk_to_ras[:3, 3]


def _spacing(ijk_to_ras: np.ndarray) -> np.ndarray:
    return np.linalg.norm(ijk_to_ras[:3, :3], axis=0)


def _box(points_ras: np.ndarray, margin: float, shape_kji, ijk_to_ras) -> tuple[slice, slice, slice]:
    """Voxel box [k, j, i] around RAS points with a margin in mm, clipped to the volume."""
    ijk = _ras_to_ijk(points_ras, ijk_to_ras)
    pad = margin / _spacing(ijk_to_ras)
    lo = np.floor(ijk.min(axis=0) - pad).astype(int)
    hi = np.ceil(ijk.max(axis=0) + pad).astype(int) + 1
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, np.array(shape_kji[::-1]))
    return slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0])


def _sub_matrix(ijk_to_ras: np.ndarray, box, step: int = 1) -> np.ndarray:
    """IJK-to-RAS of a box (optionally every `step` voxels) of a volume."""
    m = np.eye(4)
    m[:3, 3] = [box[2].start, box[1].start, box[0].start]
    s = np.eye(4)
    s[:3, :3] *= step
    return ijk_to_ras @ m @ s


def _sample(image: np.ndarray, ijk_to_ras: np.ndarray, ras: np.ndarray) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    ijk = _ras_to_ijk(np.atleast_2d(ras), ijk_to_ras)
    # Interpolated in floating point whatever the image type (no copy of the whole image).
    return map_coordinates(image, ijk[:, ::-1].T, order=1, mode="nearest", output=np.float32)


# ---------------------------------------------------------------------------------------------
# 1. Seeds


def _seed_legs(seeds: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[np.ndarray]]]:
    """IVC, Left, Right seeds and the Via points of each leg ("trunk", "left", "right")."""
    found: dict[str, np.ndarray] = {}
    vias: list[tuple[str, np.ndarray]] = []
    for label, point in seeds.items():
        key = label.strip().lower()
        p = np.asarray(point, dtype=float).reshape(3)
        if key.startswith(names.SEED_VIA_PREFIX.lower()):
            vias.append((key, p))
        elif key in ("ivc", "left", "right"):
            found[key] = p
    missing = [k for k in ("IVC", "Left", "Right") if k.lower() not in found]
    if missing:
        raise ValueError(
            f"seed point(s) {', '.join(missing)} missing: place one point in the IVC (cranial end) and "
            "one in each distal iliac or common femoral vein, labelled IVC, Left and Right"
        )
    ivc, left, right = found["ivc"], found["left"], found["right"]
    if left[0] > right[0]:
        raise ValueError(
            "the Left seed lies to the patient's right of the Right seed (larger R): the labels look "
            "swapped; swap them"
        )
    pts = {"IVC": ivc, "Left": left, "Right": right}
    for a, b in (("IVC", "Left"), ("IVC", "Right"), ("Left", "Right")):
        d = float(np.linalg.norm(pts[a] - pts[b]))
        if d < MIN_SEED_DISTANCE_MM:
            raise ValueError(
                f"the {a} and {b} seeds are {d:.0f} mm apart (less than {MIN_SEED_DISTANCE_MM:.0f} mm): "
                "put IVC at the cranial end of the IVC and Left/Right in the distal iliac veins"
            )
    # A Via point goes to the leg it is nearest to: the trunk from the IVC seed to an estimated
    # confluence, or the line from there to either iliac seed. "ViaLeft..."/"ViaRight..."/
    # "ViaIVC..." name the leg explicitly.
    low = (left + right) / 2.0
    conf = low + [0.0, 0.0, 0.55 * (ivc[2] - low[2])]
    legs: dict[str, list[np.ndarray]] = {"trunk": [], "left": [], "right": []}
    for key, p in vias:
        rest = key[len(names.SEED_VIA_PREFIX) :]
        if rest.startswith("ivc"):
            leg = "trunk"
        elif rest.startswith("left"):
            leg = "left"
        elif rest.startswith("right"):
            leg = "right"
        else:
            d = {
                "trunk": _segment_distance(p, ivc, conf),
                "left": _segment_distance(p, conf, left),
                "right": _segment_distance(p, conf, right),
            }
            leg = min(d, key=d.get)
        legs[leg].append(p)
    legs["trunk"].sort(key=lambda p: -p[2])  # cranial to caudal
    legs["left"].sort(key=lambda p: -p[2])
    legs["right"].sort(key=lambda p: -p[2])
    return ivc, left, right, legs


def _segment_distance(p, a, b) -> float:
    u = b - a
    t = np.clip((p - a) @ u / max(u @ u, 1e-9), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + t * u)))


def _check_volume(image: np.ndarray, ijk_to_ras: np.ndarray) -> None:
    if image.ndim != 3:
        raise ValueError(
            f"the volume must be a 3D scalar image, got an array of shape {image.shape}"
            + (" (colour/RGB or vector volumes are not venograms)" if image.ndim == 4 else "")
        )
    if min(image.shape) < 8:
        raise ValueError(
            f"the volume is {image.shape[::-1]} voxels: too thin to hold the iliocaval veins (2D?)"
        )
    m = np.asarray(ijk_to_ras, dtype=float)
    if m.shape != (4, 4) or abs(np.linalg.det(m[:3, :3])) < 1e-9:
        raise ValueError("the volume's IJK-to-RAS matrix is not an invertible 4x4 matrix")


def _seed_stats(image, ijk_to_ras, seed: np.ndarray, name: str) -> tuple[float, float]:
    """Median and robust spread of the intensities in a small ball around a seed."""
    ijk = _ras_to_ijk(seed, ijk_to_ras)
    shape_ijk = np.array(image.shape[::-1])
    if np.any(ijk < -0.5) or np.any(ijk > shape_ijk - 0.5):
        raise ValueError(
            f"the {name} seed {np.round(seed, 1).tolist()} (RAS) is outside the volume: move it into the vein"
        )
    offs = np.array([[x, y, z] for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)], dtype=float)
    ball = seed + offs * (SEED_BALL_MM / math.sqrt(2))
    vals = _sample(image, ijk_to_ras, np.vstack([seed, ball]))
    med = float(np.median(vals))
    spread = float(1.4826 * np.median(np.abs(vals - med)))
    return med, spread


def looks_like_ct(image: np.ndarray) -> bool:
    """Hounsfield units: fat (about -100) or air shows up as negative values, which MR never has."""
    sample = image.ravel()[:: max(1, image.size // 200_000)]
    return float(np.percentile(sample, 1)) < -50.0


def _inside_bone(image, ijk_to_ras, seed: np.ndarray) -> bool:
    """True when dense bone (> BONE_HU) surrounds the seed in most directions within 30 mm:
    a seed in cancellous bone, whose own HU can look like enhanced blood."""
    dirs = np.array(
        [[x, y, z] for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1) if (x, y, z) != (0, 0, 0)]
    )
    dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    steps = np.arange(1.0, 30.0, 1.0)
    pts = seed + dirs[:, None, :] * steps[None, :, None]
    vals = _sample(image, ijk_to_ras, pts.reshape(-1, 3)).reshape(len(dirs), len(steps))
    return float(np.mean((vals > BONE_HU).any(axis=1))) >= 0.6


def _check_seeds(image, ijk_to_ras, points: dict[str, np.ndarray]) -> tuple[float, float, list[str]]:
    """Blood intensity from the seeds; refuse seeds in air, fat or bone, or no contrast."""
    ct = looks_like_ct(image)
    stats = {name: _seed_stats(image, ijk_to_ras, p, name) for name, p in points.items()}
    warnings: list[str] = []
    if ct:
        for name, (med, _) in stats.items():
            if med < -300:
                raise ValueError(
                    f"the {name} seed is in air ({med:.0f} HU): move it into the contrast-filled vein"
                )
            if med < -20:
                raise ValueError(
                    f"the {name} seed is in fat ({med:.0f} HU): move it into the contrast-filled vein"
                )
            if med > 500 or _inside_bone(image, ijk_to_ras, points[name]):
                raise ValueError(f"the {name} seed is in bone ({med:.0f} HU): move it into the vein")
    meds = np.array([s[0] for s in stats.values()])
    blood = float(np.median(meds))
    spread = float(max(np.median([s[1] for s in stats.values()]), 1e-3))
    # Contrast: the blood must stand out from the soft tissue around the veins.
    box = _box(np.array(list(points.values())), 15.0, image.shape, ijk_to_ras)
    around = image[box].ravel()[:: max(1, image[box].size // 300_000)].astype(np.float32)
    tissue = float(np.median(around[around > (-300 if ct else np.percentile(around, 5))]))
    contrast = blood - tissue
    unenhanced = blood < ENHANCED_HU if ct else contrast < 4.0 * spread
    if unenhanced:
        described = ", ".join(f"{n} {m:.0f}" for n, (m, _) in stats.items())
        raise ValueError(
            f"the veins do not look enhanced at the seeds ({described}; surrounding tissue "
            f"{tissue:.0f}): this does not look like a venogram; for a non-contrast scan, bring a "
            "segmentation instead (e.g. TotalSegmentator's) and measure that"
        )
    if np.ptp(meds) > max(80.0, 0.5 * contrast):
        described = ", ".join(f"{n} {m:.0f}" for n, (m, _) in stats.items())
        warnings.append(
            f"the seeds' intensities differ a lot ({described}): check that every seed is inside a vein; "
            "mixing of enhanced and unenhanced blood makes the lumen less reliable"
        )
    return blood, max(spread, 0.04 * contrast), warnings


# ---------------------------------------------------------------------------------------------
# 2. Minimal paths on a coarse grid


def _speed(coarse: np.ndarray, coarse_min: np.ndarray, spacing: float, blood, threshold, spread, crossing):
    """Fast where a voxel is blood-bright and deep inside a bright tube, slow elsewhere.

    Near Via points (``crossing``, a boolean mask) a path may cross soft tissue 30 times faster
    than fat: a chronically occluded vein is a cord of soft tissue (30-60 HU), so the path goes
    through the occlusion instead of hopping through fat into a neighbouring artery or
    collateral. The soft-tissue test uses the darkest voxel of each coarse block, so the
    partial-volume rim of two nearby vessels does not count as a bridge between them.
    """
    from scipy import ndimage

    bright = coarse > threshold
    depth = ndimage.distance_transform_edt(bright) * spacing
    like = np.exp(-(((coarse - blood) / (3.0 * spread)) ** 2))
    speed = like * (depth / (depth + 2.0)) + 1e-3
    if crossing is not None:
        soft = np.clip((coarse_min + 30.0) / 60.0, 0.0, 1.0) * ~bright * crossing
        speed += 0.03 * soft
    return speed.astype(np.float32)


def _arrival(speed: np.ndarray, start_kji: tuple[int, int, int], targets=()) -> np.ndarray:
    """Arrival time of a front from ``start_kji``. With ``targets`` (voxel indices) the front
    stops once it has reached them all: the descent from a target only visits voxels reached
    earlier, and the rest of the box need not be computed (voxels not reached stay huge)."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    img = sitk.GetImageFromArray(speed)
    k, j, i = start_kji
    if targets:
        fm = sitk.FastMarchingUpwindGradientImageFilter()
        for tk, tj, ti in targets:
            fm.AddTargetPoint((int(ti), int(tj), int(tk)))
        fm.SetNumberOfTargets(len(targets))
    else:
        fm = sitk.FastMarchingImageFilter()
    fm.AddTrialPoint((int(i), int(j), int(k)))
    return sitk.GetArrayFromImage(fm.Execute(img))


_NEIGHBOURS = np.array(
    [(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) != (0, 0, 0)]
)


def _descend(arrival: np.ndarray, end_kji, start_kji) -> np.ndarray:
    """Steepest descent on the arrival time from `end` back to `start` (voxel indices)."""
    shape = np.array(arrival.shape)
    p = np.array(end_kji)
    path = [p.copy()]
    start = np.array(start_kji)
    for _ in range(int(shape.sum()) * 4):
        if np.all(p == start):
            break
        nb = p + _NEIGHBOURS
        ok = np.all((nb >= 0) & (nb < shape), axis=1)
        nb = nb[ok]
        t = arrival[nb[:, 0], nb[:, 1], nb[:, 2]]
        best = nb[int(np.argmin(t))]
        if arrival[tuple(best)] >= arrival[tuple(p)]:
            break
        p = best
        path.append(p.copy())
    return np.array(path)[::-1]


def _leg(speed, start_kji, end_kji, arrivals: dict | None = None, targets=()) -> np.ndarray:
    # Both iliac legs usually start where the trunk ends: one arrival map serves them both, so
    # it runs until all ``targets`` of that start (the ends of both legs) are reached.
    key = tuple(int(x) for x in start_kji)
    if arrivals is not None and key in arrivals:
        arrival = arrivals[key]
    else:
        arrival = _arrival(speed, start_kji, tuple(targets) or (tuple(int(x) for x in end_kji),))
        if arrivals is not None:
            arrivals[key] = arrival
    if not np.isfinite(arrival[tuple(end_kji)]) or arrival[tuple(end_kji)] > 1e30:
        raise ValueError("no path between the seeds: check that they are in the same vein tree")
    return _descend(arrival, end_kji, start_kji)


def _paths(image, ijk_to_ras, ivc, left, right, legs, blood, threshold, spread):
    """Coarse minimal paths; returns RAS polylines trunk (IVC seed -> split), left, right (split -> seed)."""
    vias = [*legs["trunk"], *legs["left"], *legs["right"]]
    pts = np.vstack([ivc, left, right, *vias])
    box = _box(pts, ROI_MARGIN_MM, image.shape, ijk_to_ras)
    spacing = _spacing(ijk_to_ras)
    step = np.maximum(np.round(COARSE_MM / spacing).astype(int), 1)  # per i, j, k
    sk, sj, si = step[::-1]
    sub = image[box].astype(np.float32)
    n = np.array(sub.shape) // (sk, sj, si)
    blocks = sub[: n[0] * sk, : n[1] * sj, : n[2] * si].reshape(n[0], sk, n[1], sj, n[2], si)
    coarse = blocks.mean(axis=(1, 3, 5))
    coarse_min = blocks.min(axis=(1, 3, 5))
    # Coarse voxel (I, J, K) is the block whose centre is fine voxel I*si + (si - 1) / 2, ...
    origin = np.eye(4)
    origin[:3, 3] = np.array([box[2].start, box[1].start, box[0].start]) + (step - 1) / 2.0
    m = ijk_to_ras @ origin @ np.diag([step[0], step[1], step[2], 1.0])
    crossing = None
    if vias and looks_like_ct(image):
        kji = np.indices(coarse.shape).reshape(3, -1).T
        ras = _ijk_to_ras(kji[:, ::-1].astype(float), m)
        near = np.min([np.linalg.norm(ras - v, axis=1) for v in vias], axis=0) <= VIA_REACH_MM
        crossing = near.reshape(coarse.shape)
    speed = _speed(coarse, coarse_min, float(np.mean(spacing * step)), blood, threshold, spread, crossing)

    def idx(p):
        ijk = np.rint(_ras_to_ijk(p, m)).astype(int)
        ijk = np.clip(ijk, 0, np.array(coarse.shape[::-1]) - 1)
        return tuple(ijk[::-1])

    arrivals: dict = {}
    trunk_pts = [ivc, *legs["trunk"]]
    split_start = trunk_pts[-1]
    chains = [[split_start, *legs["left"], left], [split_start, *legs["right"], right]]
    # Where each front must reach: the far end of every leg that starts at its start voxel.
    targets: dict = {}
    for points in [trunk_pts, *chains]:
        for a, b in itertools.pairwise(points):
            targets.setdefault(idx(a), set()).add(idx(b))

    def chain(points: list[np.ndarray]) -> np.ndarray:
        out = [np.array([idx(points[0])])]
        for a, b in itertools.pairwise(points):
            out.append(_leg(speed, idx(a), idx(b), arrivals, sorted(targets[idx(a)]))[1:])
        return np.vstack(out)

    trunk = chain(trunk_pts) if len(trunk_pts) > 1 else np.array([idx(ivc)])
    left_path = chain(chains[0])
    right_path = chain(chains[1])
    # The two iliac paths share their first voxels (both descend the same arrival time when no
    # Via point is on them); where they part is the confluence.
    n = 0
    while n < min(len(left_path), len(right_path)) and np.all(left_path[n] == right_path[n]):
        n += 1
    n = max(n, 1)
    trunk = np.vstack([trunk, left_path[1:n]]) if n > 1 else trunk
    left_path, right_path = left_path[n - 1 :], right_path[n - 1 :]

    def to_ras(path_kji):
        return _ijk_to_ras(path_kji[:, ::-1].astype(float), m)

    return to_ras(trunk), to_ras(left_path), to_ras(right_path)


def _densify(points: np.ndarray, step: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    if len(points) < 2:
        return points
    smooth = gaussian_filter1d(points, 1.0, axis=0, mode="nearest")
    smooth[0], smooth[-1] = points[0], points[-1]
    s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(smooth, axis=0), axis=1))]
    t = np.arange(0.0, s[-1] + 1e-9, step)
    return np.stack([np.interp(t, s, smooth[:, c]) for c in range(3)], axis=1)


# ---------------------------------------------------------------------------------------------
# 3. Lumen: threshold, watershed on the distance map, markers from the paths


def _lumen(image, ijk_to_ras, branch_paths: dict[str, np.ndarray], threshold: float, ceiling: float):
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias
    from scipy import ndimage
    from scipy.spatial import cKDTree

    all_pts = np.vstack(list(branch_paths.values()))
    box = _box(all_pts, LUMEN_MARGIN_MM, image.shape, ijk_to_ras)
    m = _sub_matrix(ijk_to_ras, box)
    spacing = _spacing(ijk_to_ras)
    sub = image[box].astype(np.float32)
    smooth = ndimage.gaussian_filter(sub, sigma=0.5 / spacing[::-1])
    # Cortical bone is far brighter than blood: leaving it out keeps the spine and pelvis from
    # merging with the veins that lie on them.
    bright = (smooth > threshold) & (smooth < ceiling)

    depth = _distance_inside(bright, spacing)

    # Path points every half voxel, moved to the middle of the lumen (the coarse minimal path
    # cuts corners and can run along a wall), then their voxels and the local lumen radius.
    dense = {b: _densify(p, 0.5 * float(spacing.min())) for b, p in branch_paths.items()}
    # The minimal path itself marks the vein: it runs inside the lumen, whereas a recentred
    # point in a flattened stretch could climb into a touching artery.
    raw = np.vstack(list(dense.values()))
    raw_ijk = np.rint(_ras_to_ijk(raw, m)).astype(int)
    raw_ijk = raw_ijk[np.all((raw_ijk >= 0) & (raw_ijk < np.array(sub.shape[::-1])), axis=1)]
    dense = {b: _recenter(p, depth, m) for b, p in dense.items()}
    pts = np.vstack(list(dense.values()))
    which = np.concatenate([np.full(len(p), n) for n, p in enumerate(dense.values())])
    ijk = np.rint(_ras_to_ijk(pts, m)).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.array(sub.shape[::-1])), axis=1)
    pts, which, ijk = pts[inside], which[inside], ijk[inside]
    local = ndimage.maximum_filter(depth, size=3)[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
    # The vein's own radius near each point: the largest over +-15 mm along the path, so that a
    # compressed stretch keeps the width of its healthy neighbours.
    ref = np.empty_like(local)
    for n in np.unique(which):
        sel = np.flatnonzero(which == n)
        w = max(round(15.0 / (0.5 * float(spacing.min()))), 1)
        ref[sel] = ndimage.maximum_filter1d(local[sel], size=2 * w + 1, mode="nearest")
    # The veins go on past the seeds: for telling the vein from its neighbours, each path is
    # continued straight beyond its seed end, so the vein's own continuation is not mistaken
    # for another tube (it would flood back into the vein from there).
    ext_pts, ext_ref = [pts], [ref]
    for n in np.unique(which):
        sel = np.flatnonzero(which == n)
        if len(sel) < 4:
            continue
        # The direction over the last 20 mm: the last few mm bend towards wherever the seed sits.
        end, back = pts[sel[-1]], pts[sel[max(0, len(sel) - 1 - int(20.0 / (0.5 * float(spacing.min()))))]]
        direction = (end - back) / max(float(np.linalg.norm(end - back)), 1e-6)
        steps = np.arange(0.5, EXTEND_MM, 0.5)
        ext_pts.append(end + steps[:, None] * direction)
        ext_ref.append(np.full(len(steps), ref[sel[-1]]))
    pts, ref = np.vstack(ext_pts), np.concatenate(ext_ref)
    tree = cKDTree(pts)

    markers = np.zeros(sub.shape, dtype=np.uint8)
    on_path = bright[raw_ijk[:, 2], raw_ijk[:, 1], raw_ijk[:, 0]]
    markers[raw_ijk[on_path, 2], raw_ijk[on_path, 1], raw_ijk[on_path, 0]] = 1
    # Other bright tubes: ridge voxels of the distance map well outside the vein's own radius.
    ridge = (depth >= 1.5) & (depth >= ndimage.maximum_filter(depth, size=3)) & bright
    rk = np.argwhere(ridge)
    if len(rk):
        rras = _ijk_to_ras(rk[:, ::-1].astype(float), m)
        d, i = tree.query(rras)
        far = d > ref[i] + np.maximum(3.0, 0.5 * ref[i])
        rk = rk[far]
        markers[rk[:, 0], rk[:, 1], rk[:, 2]] = 2

    feature = sitk.GetImageFromArray(-depth)
    ws = sitk.GetArrayFromImage(
        sitk.MorphologicalWatershedFromMarkers(
            feature, sitk.GetImageFromArray(markers), markWatershedLine=False
        )
    )
    vein = (ws == 1) & bright
    # Side branches (renal, internal iliac veins, collaterals) stop a few mm past the vein's wall.
    vk = np.argwhere(vein)
    vras = _ijk_to_ras(vk[:, ::-1].astype(float), m)
    d, i = tree.query(vras)
    keep = d <= ref[i] + SIDE_BRANCH_MM
    vein[:] = False
    vein[vk[keep, 0], vk[keep, 1], vk[keep, 2]] = True
    # Only what is connected to the paths.
    lab, _ = ndimage.label(vein)
    seeds = np.unique(lab[markers == 1])
    vein = np.isin(lab, seeds[seeds > 0])
    vein = ndimage.binary_fill_holes(vein)
    return box, m, vein, dense


def _recenter(points: np.ndarray, depth: np.ndarray, m: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Climb the distance-to-wall map across the path (never along it) to the lumen's middle.

    Climbing only uphill keeps each point in its own tube: reaching a touching artery, whose
    centre may be deeper, would mean going down through the neck between them first.
    """
    from scipy.ndimage import gaussian_filter1d, map_coordinates

    if len(points) < 3:
        return points
    inv = np.linalg.inv(m)
    h = 0.5 * float(np.linalg.norm(m[:3, :3], axis=0).min())

    def value(p):
        ijk = p @ inv[:3, :3].T + inv[:3, 3]
        return map_coordinates(depth, ijk[:, ::-1].T, order=1, mode="nearest")

    p = points.copy()
    for _ in range(iterations):
        t = np.gradient(gaussian_filter1d(p, 2.0, axis=0, mode="nearest"), axis=0)
        t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
        g = np.stack([(value(p + h * e) - value(p - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
        g -= np.sum(g * t, axis=1, keepdims=True) * t
        norm = np.linalg.norm(g, axis=1, keepdims=True)
        move = np.where(norm > 0.05, g / np.maximum(norm, 1e-9) * h, 0.0)
        if not np.any(move):
            break
        p = p + move
    # Seeds and Via points stay where the user put them.
    smooth = gaussian_filter1d(p, 2.0, axis=0, mode="nearest")
    smooth[0], smooth[-1] = points[0], points[-1]
    return smooth


def _distance_inside(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Distance (mm) from each voxel inside a mask to its boundary, 0 outside (SimpleITK's
    multi-threaded Maurer transform: several times faster than scipy's on large boxes)."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    img.SetSpacing(tuple(float(x) for x in spacing))
    dist = sitk.SignedMaurerDistanceMap(
        img, insideIsPositive=True, squaredDistance=False, useImageSpacing=True
    )
    return np.maximum(sitk.GetArrayFromImage(dist), 0.0).astype(np.float32)


def _assign_branches(vein: np.ndarray, m: np.ndarray, dense: dict[str, np.ndarray], depth_at) -> np.ndarray:
    """Label each lumen voxel with the branch whose path it is nearest to, less the local radius."""
    from scipy.spatial import cKDTree

    vk = np.argwhere(vein)
    vras = _ijk_to_ras(vk[:, ::-1].astype(float), m)
    best = np.full(len(vk), np.inf)
    label = np.zeros(len(vk), dtype=np.uint8)
    for branch, pts in dense.items():
        r = depth_at(pts)
        d, i = cKDTree(pts).query(vras, k=min(8, len(pts)))
        d = np.atleast_2d(d.T).T if d.ndim == 1 else d
        i = np.atleast_2d(i.T).T if i.ndim == 1 else i
        score = np.min(d - r[i], axis=1)
        closer = score < best
        best[closer] = score[closer]
        label[closer] = names.VEIN_LABELS[branch]
    out = np.zeros(vein.shape, dtype=np.uint8)
    out[vk[:, 0], vk[:, 1], vk[:, 2]] = label
    return out


def _occlusions(dense: dict[str, np.ndarray], lumen_at) -> list[tuple[str, np.ndarray]]:
    """Stretches of each path (runs of points) that cross no lumen.

    Gaps of lumen shorter than 3 mm inside a dark stretch are noise and do not split it; dark
    runs within 3 mm of a path's ends (seeds near a wall) or shorter than MIN_OCCLUSION_MM are
    not occlusions.
    """
    from scipy import ndimage

    out = []
    for branch, pts in dense.items():
        if len(pts) < 3:
            continue
        step = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).mean())
        dark = ~lumen_at(pts)
        dark = ndimage.binary_closing(dark, structure=np.ones(max(round(3.0 / step), 1)))
        edge = round(3.0 / step)
        dark[:edge] = dark[len(dark) - edge :] = False
        runs, n = ndimage.label(dark)
        for r in range(1, n + 1):
            idx = np.flatnonzero(runs == r)
            if len(idx) * step >= MIN_OCCLUSION_MM:
                out.append((branch, pts[idx[0] : idx[-1] + 1]))
    return out


def _tidy_labels(labels: np.ndarray) -> np.ndarray:
    """Give stray pieces of a branch label (bits of the confluence that were nearer another
    branch's path) to the branch that surrounds them, so each branch is one piece."""
    from scipy import ndimage

    out = labels.copy()
    for value in (names.VEIN_LABELS[b] for b in names.BRANCHES):
        pieces, n = ndimage.label(out == value)
        if n <= 1:
            continue
        sizes = np.bincount(pieces.ravel())[1:]
        # Only strays: a large second piece is a real finding (e.g. a branch cut by an
        # occlusion) and stays as it is.
        for piece in np.flatnonzero(sizes < 0.05 * sizes.max()) + 1:
            mask = pieces == piece
            ring = ndimage.binary_dilation(mask) & ~mask
            around = out[ring]
            around = around[(around > 0) & (around != value) & (around != OCCLUDED_LABEL)]
            if len(around):
                out[mask] = np.bincount(around).argmax()
    return out


def segment_veins(image_kji: np.ndarray, ijk_to_ras: np.ndarray, seeds: dict) -> VeinSegmentation:
    """Segment the IVC and both iliac veins from seed points.

    :param image_kji: CT (HU) or bright-blood MR volume indexed [k, j, i].
    :param ijk_to_ras: its 4x4 voxel-to-RAS matrix (any spacing and orientation).
    :param seeds: RAS points labelled "IVC", "Left", "Right" and optional "Via..." points.
    :raises ValueError: on a bad volume or seeds (the message says what to do).
    """
    from scipy import ndimage

    image = np.asarray(image_kji)
    matrix = np.asarray(ijk_to_ras, dtype=float)
    _check_volume(image, matrix)
    ivc, left, right, legs = _seed_legs(seeds)
    blood, spread, warnings = _check_seeds(image, matrix, {"IVC": ivc, "Left": left, "Right": right})
    # Background: the soft tissue and fat around the seeds, below the blood.
    box = _box(np.vstack([ivc, left, right]), 20.0, image.shape, matrix)
    around = image[box].ravel()[:: max(1, image[box].size // 300_000)].astype(np.float32)
    floor = -300.0 if looks_like_ct(image) else float(np.percentile(around, 5))
    tissue = around[(around > floor) & (around < blood - 4.0 * spread)]
    background = float(np.median(tissue)) if len(tissue) else floor
    threshold = 0.5 * (blood + background)

    trunk, left_path, right_path = _paths(image, matrix, ivc, left, right, legs, blood, threshold, spread)
    confluence = trunk[-1].copy()
    branch_paths = {"ivc": trunk[::-1], "left_iliac": left_path, "right_iliac": right_path}
    ceiling = blood + max(6.0 * spread, blood - background)
    box, m, vein, dense = _lumen(image, matrix, branch_paths, threshold, ceiling)
    depth = _distance_inside(vein, _spacing(matrix))

    def at(volume, pts):
        ijk = np.rint(_ras_to_ijk(pts, m)).astype(int)
        ijk = np.clip(ijk, 0, np.array(volume.shape[::-1]) - 1)
        return volume[ijk[:, 2], ijk[:, 1], ijk[:, 0]]

    radius = ndimage.maximum_filter(depth, size=3)
    labels_box = _assign_branches(vein, m, dense, lambda pts: at(radius, pts))
    occlusions = []
    # Along the path, lumen means blood-like: well above the soft tissue a chronic occlusion
    # is made of, which the half-way lumen threshold can let through.
    sub = image[box].astype(np.float32)
    blood_like = ndimage.gaussian_filter(sub, sigma=1.0 / _spacing(matrix)[::-1]) > blood - 0.35 * (
        blood - background
    )
    for branch, run in _occlusions(dense, lambda p: at(blood_like, p)):
        length = float(np.sum(np.linalg.norm(np.diff(run, axis=0), axis=1)))
        occlusions.append(OccludedStretch(branch, run[0].copy(), run[-1].copy(), length))
        # Scraps of lumen label along the stretch (a thin residual channel, partial volume at
        # collaterals) are not measurable lumen and leave thin necks that tear the surface:
        # cleared within 8 mm of the path, away from the stretch's ends, where the lumen goes on.
        edge = np.cumsum(np.r_[0.0, np.linalg.norm(np.diff(run, axis=0), axis=1)])
        core = run[(edge > 3.0) & (edge < length - 3.0)]
        if len(core) >= 2:
            scraps = _tube_around(core, m, vein.shape, OCCLUSION_CLEAR_MM)
            labels_box[scraps & (labels_box == names.VEIN_LABELS[branch])] = 0
        # The tube goes on along the path into the lumen at both ends (only unlabelled voxels
        # are marked): the lumen label can stop short of the dark run where it tapers.
        path = dense[branch]
        i0 = int(np.argmin(np.linalg.norm(path - run[0], axis=1)))
        i1 = int(np.argmin(np.linalg.norm(path - run[-1], axis=1)))
        step = max(float(np.linalg.norm(np.diff(path, axis=0), axis=1).mean()), 1e-3)
        more = int(np.ceil(OCCLUSION_OVERLAP_MM / step))
        reach = path[max(min(i0, i1) - more, 0) : max(i0, i1) + more + 1]
        tube = _tube_around(reach, m, vein.shape, OCCLUDED_RADIUS_MM)
        labels_box[tube & (labels_box == 0)] = OCCLUDED_LABEL
        _round_off_junctions(labels_box, reach, m, names.VEIN_LABELS[branch])
    if occlusions:
        # Scraps beyond the cleared tube that hung on the cleared ones are now loose: keep only
        # the pieces the paths run through.
        pieces, _ = ndimage.label(labels_box > 0)
        on_path = np.unique(at(pieces, np.vstack(list(dense.values()))))
        labels_box[~np.isin(pieces, on_path[on_path > 0])] = 0

    labels = np.zeros(image.shape, dtype=np.uint8)
    labels[box] = _tidy_labels(labels_box)
    for branch in names.BRANCHES:
        if not np.any(labels == names.VEIN_LABELS[branch]):
            raise ValueError(
                f"no lumen found for {names.SEGMENT_IDS[branch]}: check that its seed is inside the "
                "contrast-filled vein"
            )
    return VeinSegmentation(
        labels=labels,
        ijk_to_ras=matrix,
        paths_ras=dense,
        confluence_ras=confluence,
        occlusions=occlusions,
        blood_hu=blood,
        threshold=threshold,
        warnings=warnings,
    )

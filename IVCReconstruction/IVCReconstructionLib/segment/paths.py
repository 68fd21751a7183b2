"""Step 2 of the seeded segmentation: minimal paths between the seeds on a coarse grid.

On a coarse (about 2 mm) grid of a box around the seeds, a speed image favours voxels as bright
as the blood (each seed's own level near it) and deep inside bright tubes. Fast marching
(SimpleITK) from the IVC seed, then steepest descent on the arrival time from each iliac seed,
gives the paths IVC -> left and IVC -> right; ``Via`` points split a path into legs it must
pass (through an occlusion, for instance). Where the two iliac paths part is the confluence.
"""

from __future__ import annotations

import itertools

import numpy as np

from .. import names
from ..inputs.seeds import SeedPoints
from .checks import BONE_HU, looks_like_ct
from .grid import block_reduce, spacing_of, to_ijk, to_ras, voxel_box

MIN_SEED_DISTANCE_MM = 20.0


COARSE_MM = 2.0  # grid of the minimal-path search
ROI_MARGIN_MM = 30.0  # box around the seeds searched for paths
VIA_REACH_MM = 35.0  # an occlusion is crossed within this distance of a Via point
BONE_SLOWDOWN = 0.2  # speed factor on and next to cortical bone
STRAIGHT_MM = 10.0  # near a Via point the trunk's speed falls as exp(-(off-axis distance / this)^2)


def seed_legs(seeds: SeedPoints) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[np.ndarray]]]:
    """IVC, Left, Right seeds and the Via points of each leg ("trunk", "left", "right")."""
    missing = seeds.missing_ends()
    if missing:
        raise ValueError(
            f"seed point(s) {', '.join(missing)} missing: place one point in the IVC (cranial end) and "
            "one in each distal iliac or common femoral vein, labelled IVC, Left and Right"
        )
    ivc, left, right = (seeds.ends[label] for label in names.END_SEEDS)
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
    for label, p in seeds.vias:
        rest = label.lower()[len(names.SEED_VIA_PREFIX) :]
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


def _ball_box(shape, m: np.ndarray, centre_ras: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray]:
    """The box [k, j, i] of a grid (IJK-to-RAS ``m``) around the ball of ``VIA_REACH_MM`` about a
    point, and the RAS of its voxels (in C order): what is computed near a Via point, where the
    whole coarse grid is ~20 times more voxels."""
    # Half-widths of the ball in voxels along i, j, k (the rows of the inverse matrix, so also
    # on a sheared grid), and one voxel more for rounding.
    half = VIA_REACH_MM * np.linalg.norm(np.linalg.inv(m[:3, :3]), axis=1)
    centre = to_ijk(centre_ras, m)
    low = np.clip(np.floor(centre - half).astype(int) - 1, 0, np.array(shape[::-1]))
    high = np.clip(np.ceil(centre + half).astype(int) + 2, 0, np.array(shape[::-1]))
    box = tuple(slice(int(a), int(b)) for a, b in zip(low[::-1], high[::-1], strict=True))
    kji = np.indices(tuple(sl.stop - sl.start for sl in box)).reshape(3, -1).T + low[::-1]
    return box, to_ras(kji[:, ::-1].astype(float), m)


def _straight_factor(
    shape, m: np.ndarray, before: np.ndarray, via: np.ndarray
) -> tuple[tuple[slice, ...], np.ndarray]:
    """Speed factor near a Via point of the trunk: within ``VIA_REACH_MM`` of it, slower the
    farther from the line through it along the trunk (from the point ``before`` it). A chronic
    occlusion is a cord along the vein's axis; with soft tissue rather than fat around it (no
    fat plane), a detour through the aorta beside the IVC crosses less soft tissue than the cord
    itself and was the faster route (artery voxels labelled vein 8-10 %). The IVC is nearly
    straight over those 35 mm on either side of the Via point; the aorta's wall is 10-15 mm off
    its axis.

    Only the box around the ball of ``VIA_REACH_MM`` is computed (1 elsewhere; every voxel of
    the coarse grid took ~0.2 s at 0.6 mm). Returns the box [k, j, i] and its factors."""
    box, ras = _ball_box(shape, m, via)
    sub = tuple(sl.stop - sl.start for sl in box)
    u = (via - before) / max(float(np.linalg.norm(via - before)), 1e-9)
    rel = ras - via
    off = np.linalg.norm(rel - (rel @ u)[:, None] * u, axis=1)
    near = np.linalg.norm(rel, axis=1) <= VIA_REACH_MM
    factor = np.where(near, np.exp(-((off / STRAIGHT_MM) ** 2)), 1.0)
    return box, factor.reshape(sub).astype(np.float32)


def arrival_time(
    speed: np.ndarray, start_kji: tuple[int, int, int], targets=(), spacing: np.ndarray | None = None
) -> np.ndarray:
    """Arrival time of a front from ``start_kji``. With ``targets`` (voxel indices) the front
    stops once it has reached them all: the descent from a target only visits voxels reached
    earlier, and the rest of the box need not be computed (voxels not reached stay huge).
    ``spacing`` (mm per i, j, k): the time in millimetres rather than voxels."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    img = sitk.GetImageFromArray(speed)
    if spacing is not None:
        img.SetSpacing(tuple(float(x) for x in spacing))
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


def descend(arrival: np.ndarray, end_kji, start_kji) -> np.ndarray:
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
        arrival = arrival_time(speed, start_kji, tuple(targets) or (tuple(int(x) for x in end_kji),))
        if arrivals is not None:
            arrivals[key] = arrival
    if not np.isfinite(arrival[tuple(end_kji)]) or arrival[tuple(end_kji)] > 1e30:
        raise ValueError("no path between the seeds: check that they are in the same vein tree")
    return descend(arrival, end_kji, start_kji)


def blood_field(ras: np.ndarray, levels: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """The blood's level at RAS points: each seed's own level, blended between the seeds by
    inverse squared distance. Enhancement varies along the veins (less contrast towards the
    legs, unenhanced inflow from one leg): at 2 x 2 x 3 mm one distal iliac vein was 121-132 HU,
    its artery 154-171 HU and the seeds' median 160 HU, so a single level made the artery the
    faster route for 33 mm."""
    weights = np.stack([1.0 / (np.sum((ras - p) ** 2, axis=1) + 1.0) for p, _ in levels])
    values = np.array([level for _, level in levels])
    return (values @ weights) / weights.sum(axis=0)


def minimal_paths(
    image,
    ijk_to_ras,
    ivc,
    left,
    right,
    legs,
    blood,
    threshold,
    spread,
    levels: list[tuple[np.ndarray, float]] | None = None,
):
    """Coarse minimal paths; returns RAS polylines trunk (IVC seed -> split), left, right (split -> seed).

    ``levels``: (seed, blood level) pairs; the speed then follows each seed's own level near it
    (``blood_field``) instead of the single ``blood``."""
    vias = [*legs["trunk"], *legs["left"], *legs["right"]]
    pts = np.vstack([ivc, left, right, *vias])
    box = voxel_box(pts, ROI_MARGIN_MM, image.shape, ijk_to_ras)
    spacing = spacing_of(ijk_to_ras)
    step = np.maximum(np.round(COARSE_MM / spacing).astype(int), 1)  # per i, j, k
    sk, sj, si = step[::-1]
    sub = image[box]
    # The blocks are read in float32; types it holds exactly (a CT's int16) are reduced as they
    # are, without a float32 copy of the whole box, and the results cast: the same numbers.
    if sub.dtype not in (np.int8, np.uint8, np.int16, np.uint16, np.float32):
        sub = sub.astype(np.float32)
    n = np.array(sub.shape) // (sk, sj, si)
    blocks = sub[: n[0] * sk, : n[1] * sj, : n[2] * si]
    coarse = (block_reduce(blocks, (sk, sj, si), np.add) / float(sk * sj * si)).astype(np.float32)
    coarse_min = block_reduce(blocks, (sk, sj, si), np.minimum).astype(np.float32)
    # Blocks on or next to cortical bone: a blood voxel blurred with bone can look more like the
    # (less enhanced) blood than the lumen itself, and the path would run along the bone.
    coarse_max = block_reduce(blocks, (sk, sj, si), np.maximum).astype(np.float32)
    on_bone = coarse_max > max(BONE_HU, blood + 4.0 * (blood - threshold))
    # Coarse voxel (I, J, K) is the block whose centre is fine voxel I*si + (si - 1) / 2, ...
    origin = np.eye(4)
    origin[:3, 3] = np.array([box[2].start, box[1].start, box[0].start]) + (step - 1) / 2.0
    m = ijk_to_ras @ origin @ np.diag([step[0], step[1], step[2], 1.0])
    crossing = None
    if vias and looks_like_ct(image):
        # Within VIA_REACH_MM of any Via point (each ball in its own box).
        crossing = np.zeros(coarse.shape, dtype=bool)
        for v in vias:
            ball, ras = _ball_box(coarse.shape, m, v)
            crossing[ball] |= (np.linalg.norm(ras - v, axis=1) <= VIA_REACH_MM).reshape(crossing[ball].shape)
    like_level = blood
    if levels is not None:
        kji = np.indices(coarse.shape).reshape(3, -1).T
        like_level = blood_field(to_ras(kji[:, ::-1].astype(float), m), levels).reshape(coarse.shape)
    speed = _speed(
        coarse, coarse_min, float(np.mean(spacing * step)), like_level, threshold, spread, crossing
    )
    if on_bone.any():
        from scipy import ndimage

        speed[ndimage.binary_dilation(on_bone)] *= BONE_SLOWDOWN

    def idx(p):
        ijk = np.rint(to_ijk(p, m)).astype(int)
        ijk = np.clip(ijk, 0, np.array(coarse.shape[::-1]) - 1)
        return tuple(ijk[::-1])

    arrivals: dict = {}
    trunk_pts = [ivc, *legs["trunk"]]
    if crossing is not None:
        # Through an occluded IVC the paths run along the vein's axis (both legs at the Via).
        for before, via in itertools.pairwise(trunk_pts):
            near_via, factor = _straight_factor(coarse.shape, m, before, via)
            speed[near_via] *= factor
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

    def path_ras(path_kji):
        return to_ras(path_kji[:, ::-1].astype(float), m)

    return path_ras(trunk), path_ras(left_path), path_ras(right_path)


def densify(points: np.ndarray, step: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    if len(points) < 2:
        return points
    smooth = gaussian_filter1d(points, 1.0, axis=0, mode="nearest")
    smooth[0], smooth[-1] = points[0], points[-1]
    s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(smooth, axis=0), axis=1))]
    t = np.arange(0.0, s[-1] + 1e-9, step)
    return np.stack([np.interp(t, s, smooth[:, c]) for c in range(3)], axis=1)

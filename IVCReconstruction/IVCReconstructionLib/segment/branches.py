"""Step 4 of the seeded segmentation: which branch (IVC, left, right) each lumen voxel is."""

from __future__ import annotations

import numpy as np

from .. import names
from .grid import grown_box, mask_box, to_ras

CONFLUENCE_ZONE_MM = 25.0  # along each path from the confluence: radii capped at the branch's own
OWN_RADIUS_MM = 60.0  # the branch's own radius: from its lumen between the zone's end and this
LESION_FREE_SHARE = 0.3  # a radius below this share of the branch's wide lumen is a lesion's (cap)
OWN_RADIUS_STEP_MM = 20.0  # the own radius's stretch grows by this while most of it is a lesion
# Slack (mm) on the bounds below: the same distance computed in two k-d trees may differ in its
# last bits; with it, a bound can only let an extra branch through, never leave out the winner.
_BOUND_SLACK_MM = 1e-6


def assign_branches(
    vein: np.ndarray, m: np.ndarray, dense: dict[str, np.ndarray], radii: dict[str, np.ndarray]
) -> np.ndarray:
    """Label each lumen voxel with the branch whose path it is nearest to, less the local radius
    (``radii``: for each branch, the radius at each of its path points in ``dense``):
    the branch's score is the least (distance - radius) over its 8 path points nearest to the
    voxel, the lowest score wins and a tie goes to the branch first in ``dense``.

    Those 8-neighbour queries of every voxel against every path cost ~1.7 s at 0.6 mm, most
    of it for voxels far from the path queried. They are made only where they can decide:
    a voxel's nearest path point p (of branch B, at distance d) bounds B's score from above
    by d - radius(p), and another branch's score is at least its nearest distance less its
    largest radius; a branch whose lower bound is above that upper bound cannot win, nor tie.
    Only the ~3 % of voxels left with two candidates (near the confluence) get the full
    queries, for their candidates only; the labels are exactly those of querying everything."""
    from scipy.spatial import cKDTree

    # The same voxels in the same (C) order as np.argwhere, a third of its time.
    vk = np.stack(np.unravel_index(np.flatnonzero(vein), vein.shape), axis=1)
    vras = to_ras(vk[:, ::-1].astype(float), m)
    nv, nb = len(vk), len(dense)
    points = list(dense.values())
    # float64 from the start: the same values as float32 radii taken from float64 distances.
    by_order = [np.asarray(radii[b], dtype=np.float64) for b in dense]
    largest = np.array([r.max() for r in by_order])
    owner = np.concatenate([np.full(len(p), n) for n, p in enumerate(points)])
    k = min(2, len(owner))
    d, i = cKDTree(np.vstack(points)).query(vras, k=k, workers=-1)
    d, i = d.reshape(nv, k), i.reshape(nv, k)
    d1, near = d[:, 0], owner[i[:, 0]]
    # The nearest point is one of its branch's 8 nearest when no other point is as near (then
    # it is the first); a voxel with a tie (the paths share the confluence point) is decided
    # by the full queries of all branches.
    unique = d[:, 1] > d1 if k > 1 else np.ones(nv, dtype=bool)
    upper = np.where(unique, d1 - np.concatenate(by_order)[i[:, 0]] + _BOUND_SLACK_MM, np.inf)
    lower = np.full((nb, nv), np.inf)
    columns = np.ascontiguousarray(vras.T)
    lower[near, np.arange(nv)] = d1 - largest[near] - _BOUND_SLACK_MM
    for n, pts in enumerate(points):
        # Other branches' voxels: a path point farther than upper + largest radius cannot win,
        # so the query stops there (fast for the many voxels far from this path).
        other = (near != n) & unique
        # Nor can a path whose bounding box is that far along an axis: the query is left out
        # for most voxels (those of another branch, far from this path).
        gap = np.zeros(nv)
        for axis, (lo, hi) in enumerate(zip(pts.min(axis=0), pts.max(axis=0), strict=True)):
            np.maximum(gap, np.maximum(lo - columns[axis], columns[axis] - hi), out=gap)
        other[gap - largest[n] - _BOUND_SLACK_MM > upper] = False
        other = np.flatnonzero(other)
        if not len(other):
            continue
        bound = float(upper[other].max() + largest[n]) + _BOUND_SLACK_MM
        if bound <= 0.0:
            continue
        dn = cKDTree(pts).query(vras[other], k=1, distance_upper_bound=bound, workers=-1)[0]
        lower[n, other] = dn - largest[n] - _BOUND_SLACK_MM
    # (A voxel with a tie has an infinite upper bound: every branch is its candidate.)
    candidate = lower <= upper
    # Voxels with one candidate: it is the nearest point's branch, the winner.
    label_of = np.array([names.VEIN_LABELS[b] for b in dense], dtype=np.uint8)
    label = label_of[near]
    open_ = np.flatnonzero(candidate.sum(axis=0) > 1)
    if len(open_):
        best = np.full(len(open_), np.inf)
        sub = np.zeros(len(open_), dtype=np.uint8)
        for n, pts in enumerate(points):
            mine = np.flatnonzero(candidate[n, open_])
            if not len(mine):
                continue
            k = min(8, len(pts))
            dq, iq = cKDTree(pts).query(vras[open_[mine]], k=k, workers=-1)
            dq, iq = dq.reshape(len(mine), k), iq.reshape(len(mine), k)
            score = np.full(len(open_), np.inf)
            score[mine] = np.min(dq - by_order[n][iq], axis=1)
            closer = score < best
            best[closer] = score[closer]
            sub[closer] = label_of[n]
        label[open_] = sub
    out = np.zeros(vein.shape, dtype=np.uint8)
    out[vk[:, 0], vk[:, 1], vk[:, 2]] = label
    return out


def own_radius_near_confluence(radius: np.ndarray, path: np.ndarray, confluence: np.ndarray) -> np.ndarray:
    """A branch's local radii (along its path, RAS) with the stretch next to the confluence
    capped at the branch's own radius.

    Where the veins join, the lumen around a path point is the merged lumen of two or three
    veins, so the distance to the wall measured there is the width of the junction, not the
    branch's; with it, the iliac paths claimed the lower end of the IVC (325-1015 of its voxels
    on the project's phantoms). A voxel belongs to the vein in which it lies deepest, measured
    against that vein's own radius: within ``CONFLUENCE_ZONE_MM`` (along the path) of the
    confluence a radius is at most the upper quartile of the branch's radii from there to
    ``OWN_RADIUS_MM``: a quartile, so that a lesion there does not set it, nor the widest
    stretch; the next few cm, not the whole rest of the branch (with that, the IVC took the top
    of a harder phantom's left iliac vein: 710 voxels, Dice 0.924 -> 0.919). An occluded
    stretch (radius 0) does not count (a 40 mm IVC occlusion starting 22 mm above the confluence
    capped the IVC near 0). A compressed stretch inside the zone keeps its own smaller radius."""
    radius = np.asarray(radius, dtype=float).copy()
    if len(path) < 2:
        return radius
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    if np.linalg.norm(path[-1] - confluence) < np.linalg.norm(path[0] - confluence):
        arc = arc[-1] - arc  # measured from the confluence's end (the seeded paths start there)
    # An occluded stretch has no lumen (radius 0) and is no measure of the branch's own width.
    beyond = (arc >= CONFLUENCE_ZONE_MM) & (arc <= OWN_RADIUS_MM) & (radius > 0)
    if beyond.sum() < 5:  # the seed is too near the confluence to know the branch's own radius
        return radius
    # Where most of the lumen of those few cm is a lesion (a post-thrombotic IVC occluded from
    # 22 to 64 mm above the confluence kept a residual lumen of 1-2 mm there, and was capped at
    # that), the branch's own radius is taken from its lesion-free lumen over the nearest
    # stretch beyond in which that is at least half: radii of at least a third of its wide lumen
    # (90th percentile beyond the zone), so that a healthy but narrower stretch (an oval
    # infrarenal IVC below a wider one) is not a lesion. Occluded points (0) are not counted.
    rest = (arc >= CONFLUENCE_ZONE_MM) & (radius > 0)
    free = rest & (radius >= LESION_FREE_SHARE * np.percentile(radius[rest], 90.0))

    def mostly_lesion(end: float) -> bool:
        return np.count_nonzero(free & (arc <= end)) < 0.5 * np.count_nonzero(rest & (arc <= end))

    if mostly_lesion(OWN_RADIUS_MM):  # also on a path that ends before 60 mm (review)
        end, longest = OWN_RADIUS_MM, float(arc.max())
        while mostly_lesion(end) and end < longest:
            end += OWN_RADIUS_STEP_MM
        beyond = free & (arc <= end)
    near = arc < CONFLUENCE_ZONE_MM
    radius[near] = np.minimum(radius[near], np.percentile(radius[beyond], 75.0))
    return radius


def tidy_labels(labels: np.ndarray) -> np.ndarray:
    """Give stray pieces of a branch label (bits of the confluence that were nearer another
    branch's path) to the branch that surrounds them, so each branch is one piece.

    Each label is handled inside its own box and each stray inside its ``find_objects`` box
    (both one voxel wider, for the rings): at 0.6 mm there are ~70 strays, and a whole-box
    comparison and dilation for each cost ~8 s; the result is the same."""
    from scipy import ndimage

    out = labels.copy()
    for value in (names.VEIN_LABELS[b] for b in names.BRANCHES):
        # The label's box now (strays of an earlier label may have joined it).
        extent = mask_box(out == value)
        if extent is None:
            continue
        area = out[grown_box(extent, 1, out.shape)]
        pieces, n = ndimage.label(area == value)
        if n <= 1:
            continue
        sizes = np.bincount(pieces.ravel())[1:]
        boxes = ndimage.find_objects(pieces)
        # Only strays: a large second piece is a real finding (e.g. a branch cut by an
        # occlusion) and stays as it is.
        for piece in np.flatnonzero(sizes < 0.05 * sizes.max()) + 1:
            box = grown_box(boxes[piece - 1], 1, area.shape)
            sub = area[box]
            mask = pieces[box] == piece
            ring = ndimage.binary_dilation(mask) & ~mask
            around = sub[ring]
            around = around[(around > 0) & (around != value) & (around != names.OCCLUDED_LABEL)]
            if len(around):
                sub[mask] = np.bincount(around).argmax()
    return out


SHARED_MM = 1.5  # recentred iliac paths closer than this still run in one tube (the IVC)
PARTED_MM = 15.0  # recentred iliac paths this far apart have parted for good
# A shared stretch shorter than this is the junction itself, not a split the coarse paths missed.
MIN_SHARED_MM = 10.0


def split_where_paths_part(
    dense: dict[str, np.ndarray], confluence: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The recentred paths split again where the two iliac paths really part.

    The coarse paths part where their descents on the arrival time diverge, which in a wide
    IVC can be well above the confluence: both then run down the IVC side by side, and once
    moved to the lumen's middle they coincide. Each branch labels the lumen round its own path,
    so the iliac veins took the IVC's lower end (May-Thurner 0.4 mm / 15 HU at 2 x 2 x 3 mm: the
    paths parted 23.5 mm above the confluence and coincided for 26.5 mm; IVC / left / right
    Dice 0.928 / 0.889 / 0.851). The stretch from the split down to the left path's last point
    within ``SHARED_MM`` of the right one (before they are ``PARTED_MM`` apart), when it is at
    least ``MIN_SHARED_MM`` long, goes to the trunk, and the confluence moves to its lower end.
    A shorter shared stretch is left alone: in the junction the lumen's middle parts below
    where the veins' axes meet, and moving the confluence there (2-9 mm) cost the worst vein up
    to 0.021 in 13 of 36 cells at 2 x 2 x 3 mm, and up to 0.002 in 16 of 36 at 1 mm."""
    from scipy.spatial import cKDTree

    left, right = dense["left_iliac"], dense["right_iliac"]
    if len(left) < 3 or len(right) < 3:
        return dense, confluence
    d, _ = cKDTree(right).query(left)
    # The shared stretch ends at the last point within SHARED_MM before the paths part for good:
    # recentred in a noisy, blurred IVC they wander a few mm apart and back (healthy 1.2 mm /
    # 25 HU at 2 x 2 x 3 mm: up to 4.4 mm, and the split stayed 27.5 mm above the confluence).
    # The first point is the coarse split itself, shared by both.
    parted = np.flatnonzero(d > PARTED_MM)
    close = np.flatnonzero(d[: int(parted[0]) if len(parted) else len(d)] <= SHARED_MM)
    n = int(close[-1]) + 1 if len(close) else 0
    shared = float(np.sum(np.linalg.norm(np.diff(left[:n], axis=0), axis=1))) if n > 1 else 0.0
    if shared < MIN_SHARED_MM:
        return dense, confluence
    new = left[n - 1]
    # The right path leaves the shared stretch at its own point nearest to the new confluence.
    m = int(np.argmin(np.linalg.norm(right[:-2] - new, axis=1)))
    out = dict(dense)
    out["ivc"] = np.vstack([left[n - 1 : 0 : -1], dense["ivc"]])
    out["left_iliac"] = left[n - 1 :]
    out["right_iliac"] = np.vstack([new, right[m + 1 :]])
    return out, new.copy()

"""Where a path runs through another tube: the vein's own route round it (a May-Thurner crossing).

At a May-Thurner crossing the right common iliac artery lies across the left common iliac vein
and flattens it against the vertebra. The coarse minimal path cuts straight through the artery
(it is the brightest way), and what is left of the vein is a crescent 2-3 mm thick between the
artery and the bone. Blurred (a point-spread of 1.2 mm) and less enhanced than the artery, the
crescent's voxels fall below the lumen's half-way level; the vein kept only a strand of it, a
neck too thin for the centerlines (VMTK found no line through it, or the smoothing for its
surface cut the vein in two) although the vein is continuous in the image.

So where a recentred path leaves the vein's basin for another tube's, the vein's own way from
the last vein point before to the first one after is found by fast marching in a small box
around that stretch. Its speed is high where the smoothed image is as bright as the vein's blood
next to the stretch (the image averaged over 1.5 mm along the path there), falls with the
intensity towards the wall's tissue, falls fast where the image is brighter than that blood (the
artery: the watershed may have given part of it to the vein, so the vein's mask is no guide
there), and is next to nil in other tubes' basins and in bone. The route is the crescent. Where
the vein along it is too thin for the centerlines, a round tube of ``TUBE_MM`` joins the vein:
not in bone, nor where the image is brighter than the vein's blood next to the stretch, but in
the other tube's basin too (its watershed took the crescent's blurred rim). A route that runs
through tissue (or through the other tube after all) for more than ``GAP_MM`` is no vein, an
occlusion beside an artery: it is left out, and the occlusion is found as before.
"""

from __future__ import annotations

import numpy as np

from .grid import (
    NECK_SIGMA_MM,
    grown_box,
    mask_blur_mm,
    runs,
    spacing_of,
    to_ijk,
    to_ras,
    tube_in_box,
    voxel_box,
)
from .paths import arrival_time, descend

TUBE_MM = 1.5  # radius of the vein's route round a crossing tube: thick enough for the centerlines
BOX_MM = 12.0  # the route is searched in the stretch's box grown by this
GAP_MM = 4.0  # a route darker than LUMINAL_SHARE for longer than this is no vein (as an occlusion)
LUMINAL_SHARE = 0.25  # blood-like means above tissue + this share of the contrast along the route
OTHER_SPEED = 1e-6  # speed in other tubes and bone: crossed only when there is no other way
BRIGHTER_WIDTH = 0.15  # speed exp(-(excess / (this x contrast))^2) where brighter than the vein's blood
NEARBY_MM = 15.0  # the vein's blood next to a stretch: along this much of the path either side


def crossing_routes(
    vein: np.ndarray,
    others: np.ndarray,
    smooth: np.ndarray,
    averaged: np.ndarray,
    m: np.ndarray,
    paths: dict[str, np.ndarray],
    blood: float,
    tissue: float,
) -> list[tuple[np.ndarray, float]]:
    """The vein's routes round the stretches where a path runs through another tube, each as (RAS
    polyline, the brightest averaged level its tube may take). ``vein`` is the veins' mask,
    ``others`` the other tubes' basins, ``smooth`` the smoothed image (the route's speed)
    and ``averaged`` that averaged over about 1.5 mm (the vein's blood next to a stretch),
    all [k, j, i] in the box whose IJK-to-RAS matrix is ``m``; ``paths`` the recentred paths
    (RAS) by branch."""
    contrast = blood - tissue
    spacing = spacing_of(m)
    routes = []
    for branch in sorted(paths):
        kji = np.rint(to_ijk(paths[branch], m)).astype(int)[:, ::-1]
        inside = np.all((kji >= 0) & (kji < np.array(vein.shape)), axis=1)
        in_vein = np.zeros(len(kji), dtype=bool)
        in_other = np.zeros(len(kji), dtype=bool)
        in_vein[inside] = vein[tuple(kji[inside].T)]
        in_other[inside] = others[tuple(kji[inside].T)]
        arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(paths[branch], axis=0), axis=1))]
        for a, b in runs(~in_vein & inside):
            # Only between two vein points (not next to the path's end, nor to points outside
            # the box), and only through another tube.
            if a == 0 or b == len(kji) or not (in_vein[a - 1] and in_vein[b]) or not in_other[a:b].any():
                continue
            near = in_vein & (
                ((arc >= arc[a] - NEARBY_MM) & (arc < arc[a]))
                | ((arc > arc[b - 1]) & (arc <= arc[b - 1] + NEARBY_MM))
            )
            level = float(np.median(averaged[tuple(kji[near].T)]))
            route = _route(others, smooth, kji[a - 1], kji[b], kji[a:b], spacing, level, tissue)
            if route is None:
                continue
            # Dark, or through the other tube after all (there was no way round it).
            unlike = ((smooth[tuple(route.T)] - tissue) / contrast < LUMINAL_SHARE) | others[tuple(route.T)]
            step = np.r_[0.0, np.linalg.norm(np.diff(route * spacing[::-1], axis=0), axis=1)]
            if _longest_dark(unlike, step) > GAP_MM:
                continue
            # The tube takes no voxel brighter than the vein's blood next to the stretch.
            routes.append((to_ras(route[:, ::-1].astype(float), m), level))
    return routes


def add_routes(
    vein: np.ndarray,
    allowed: np.ndarray,
    averaged: np.ndarray,
    m: np.ndarray,
    routes: list[tuple[np.ndarray, float]],
    label_spacing: np.ndarray | None = None,
) -> int:
    """Along each route, where the vein is too thin for the centerlines (smoothed as the
    measuring step smooths it, below one half), a round tube of ``TUBE_MM`` (at least a voxel)
    joins ``vein`` (in place) where ``allowed`` and where ``averaged`` is at most the route's
    level; returns the number of voxels added. Where the vein is thick enough (a crossing that
    the blur leaves visible) it is left as it is.

    ``label_spacing`` (mm per i, j, k): the voxels the labels are measured on when they are
    coarser than ``vein``'s (thick slices segmented on a finer grid, ``finer``): the tube's
    radius is then at least their smallest edge, and the thinness is judged as they will be
    smoothed. A 1.5 mm tube counted back onto 2 x 2 x 3 mm voxels was too thin for the
    measuring step's smoothing ("cut them into 2 pieces", May-Thurner 1.2 mm / 25 HU)."""
    from scipy import ndimage

    spacing = spacing_of(m)
    measured = (
        spacing if label_spacing is None else np.maximum(np.asarray(label_spacing, dtype=float), spacing)
    )
    radius = max(TUBE_MM, float(measured.min()))
    # As the measuring step smooths the mask: coarse or thick voxels are smoothed more.
    sigma_mm = mask_blur_mm(NECK_SIGMA_MM, measured)
    added = 0
    for route, ceiling in routes:
        box = voxel_box(route, radius + 3.0 * float(sigma_mm.max()), vein.shape, m)
        if any(sl.stop <= sl.start for sl in box):
            continue
        # Thin: where smoothing the vein as the centerlines' surface is made would cut it.
        kept = ndimage.gaussian_filter(vein[box].astype(np.float32), (sigma_mm / spacing)[::-1])
        low = np.array([s.start for s in box])
        at = np.clip(np.rint(to_ijk(route, m)).astype(int)[:, ::-1] - low, 0, np.array(kept.shape) - 1)
        thin = kept[tuple(at.T)] < 0.5
        for a, b in runs(thin):
            part = tube_in_box(route[max(a - 1, 0) : b + 1], m, vein.shape, radius)
            if part is None:
                continue
            where, piece = part
            new = piece & allowed[where] & (averaged[where] <= ceiling) & ~vein[where]
            vein[where] |= new
            added += int(np.count_nonzero(new))
    return added


def _longest_dark(dark: np.ndarray, step: np.ndarray) -> float:
    """Length (mm) of the longest run of dark route voxels."""
    longest = 0.0
    for a, b in runs(dark):
        longest = max(longest, float(step[a + 1 : b].sum()) + float(step[min(b, len(step) - 1)]))
    return longest


def _route(
    others: np.ndarray,
    image: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    stretch: np.ndarray,
    spacing: np.ndarray,
    blood: float,
    tissue: float,
) -> np.ndarray | None:
    """The vein's way (voxel indices [k, j, i]) from ``start`` to ``end`` round the other tube
    the path's ``stretch`` runs through, or None when the front does not get there. ``blood``
    is the vein's blood next to the stretch; the arrival time is in millimetres (``spacing``,
    per i, j, k), so that thick slices do not make a detour look short."""
    contrast = max(blood - tissue, 1.0)
    ends = np.vstack([start, end, stretch])
    pad = np.ceil(BOX_MM / spacing[::-1]).astype(int)
    box = grown_box(
        tuple(slice(int(lo), int(hi) + 1) for lo, hi in zip(ends.min(axis=0), ends.max(axis=0), strict=True)),
        pad,
        others.shape,
    )
    img = image[box]
    share = np.clip((img - tissue) / contrast, 0.02, 1.0)
    excess = np.maximum(img - blood, 0.0) / (BRIGHTER_WIDTH * contrast)
    speed = share**2 * np.exp(-(excess**2))
    blocked = others[box] | (img > blood + 0.5 * contrast)
    speed = np.where(blocked, OTHER_SPEED, np.maximum(speed, OTHER_SPEED)).astype(np.float32)
    low = np.array([s.start for s in box])
    a, b = tuple(start - low), tuple(end - low)
    arrival = arrival_time(speed, a, (b,), spacing)
    if not np.isfinite(arrival[b]) or arrival[b] > 1e30:
        return None
    route = descend(arrival, b, a)
    if not np.array_equal(route[0], a):
        return None
    return route + low

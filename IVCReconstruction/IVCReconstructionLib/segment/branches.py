"""Step 4 of the seeded segmentation: which branch (IVC, left, right) each lumen voxel is."""

from __future__ import annotations

import numpy as np

from .. import names
from .grid import mask_box, to_ras

CONFLUENCE_ZONE_MM = 25.0  # along each path from the confluence: radii capped at the branch's own


def assign_branches(vein: np.ndarray, m: np.ndarray, dense: dict[str, np.ndarray], depth_at) -> np.ndarray:
    """Label each lumen voxel with the branch whose path it is nearest to, less the local radius."""
    from scipy.spatial import cKDTree

    vk = np.argwhere(vein)
    vras = to_ras(vk[:, ::-1].astype(float), m)
    best = np.full(len(vk), np.inf)
    label = np.zeros(len(vk), dtype=np.uint8)
    for branch, pts in dense.items():
        r = depth_at(pts)
        d, i = cKDTree(pts).query(vras, k=min(8, len(pts)), workers=-1)
        d = np.atleast_2d(d.T).T if d.ndim == 1 else d
        i = np.atleast_2d(i.T).T if i.ndim == 1 else i
        score = np.min(d - r[i], axis=1)
        closer = score < best
        best[closer] = score[closer]
        label[closer] = names.VEIN_LABELS[branch]
    out = np.zeros(vein.shape, dtype=np.uint8)
    out[vk[:, 0], vk[:, 1], vk[:, 2]] = label
    return out


def own_radius_near_confluence(radius: np.ndarray, path: np.ndarray, confluence: np.ndarray) -> np.ndarray:
    """A branch's local radii (along its path, RAS) with the stretch next to the confluence
    capped at the branch's own radius.

    Where the veins join, the lumen around a path point is the merged lumen of two or three
    veins, so the distance to the wall measured there is the width of the junction, not the
    branch's; with it, the iliac paths claimed the lower end of the IVC (325-721 of its voxels
    on the project's phantoms). A voxel belongs to the vein in which it lies deepest, measured
    against that vein's own radius: within ``CONFLUENCE_ZONE_MM`` (along the path) of the
    confluence a radius is at most the upper quartile of the branch's radii beyond it: a
    quartile, so that a lesion or an occlusion beyond the zone does not set it (a 40 mm IVC
    occlusion starting 22 mm above the confluence did, when only the next 35 mm counted), nor
    the widest stretch; a compressed stretch inside the zone keeps its own smaller radius."""
    radius = np.asarray(radius, dtype=float).copy()
    if len(path) < 2:
        return radius
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    if np.linalg.norm(path[-1] - confluence) < np.linalg.norm(path[0] - confluence):
        arc = arc[-1] - arc  # measured from the confluence's end
    beyond = arc >= CONFLUENCE_ZONE_MM
    if beyond.sum() < 5:  # the branch leaves the volume too soon to know its own radius
        return radius
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
        area = out[_wider(extent, out.shape)]
        pieces, n = ndimage.label(area == value)
        if n <= 1:
            continue
        sizes = np.bincount(pieces.ravel())[1:]
        boxes = ndimage.find_objects(pieces)
        # Only strays: a large second piece is a real finding (e.g. a branch cut by an
        # occlusion) and stays as it is.
        for piece in np.flatnonzero(sizes < 0.05 * sizes.max()) + 1:
            box = _wider(boxes[piece - 1], area.shape)
            sub = area[box]
            mask = pieces[box] == piece
            ring = ndimage.binary_dilation(mask) & ~mask
            around = sub[ring]
            around = around[(around > 0) & (around != value) & (around != names.OCCLUDED_LABEL)]
            if len(around):
                sub[mask] = np.bincount(around).argmax()
    return out


def _wider(box: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    """A ``find_objects`` box one voxel wider on every side (within the array)."""
    return tuple(slice(max(sl.start - 1, 0), min(sl.stop + 1, n)) for sl, n in zip(box, shape, strict=True))

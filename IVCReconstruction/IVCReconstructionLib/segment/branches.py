"""Step 4 of the seeded segmentation: which branch (IVC, left, right) each lumen voxel is."""

from __future__ import annotations

import numpy as np

from .. import names
from .grid import to_ras


def assign_branches(vein: np.ndarray, m: np.ndarray, dense: dict[str, np.ndarray], depth_at) -> np.ndarray:
    """Label each lumen voxel with the branch whose path it is nearest to, less the local radius."""
    from scipy.spatial import cKDTree

    vk = np.argwhere(vein)
    vras = to_ras(vk[:, ::-1].astype(float), m)
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


def tidy_labels(labels: np.ndarray) -> np.ndarray:
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
            around = around[(around > 0) & (around != value) & (around != names.OCCLUDED_LABEL)]
            if len(around):
                out[mask] = np.bincount(around).argmax()
    return out

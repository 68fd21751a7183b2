"""The intensity levels the lumen is told apart from, measured in the image around the seeds.

The lumen threshold is half-way between the blood and the tissue against the veins' walls. That
tissue is fat in a lean patient, but psoas, bowel wall or lymphatic tissue (40-55 HU) where there
is no fat plane: the median of a box around the seeds (mostly fat) put the threshold below such a
sleeve, which then became lumen. The wall tissue is read in a shell just outside the blood-bright
region that holds each seed.
"""

from __future__ import annotations

import numpy as np

from .checks import SEED_BALL_MM  # the smoothed image's noise is read in the seeds' balls
from .grid import distance_inside, spacing_of, sub_matrix, to_ijk, voxel_box

WALL_SHELL_MM = (1.5, 4.0)  # the tissue against the wall: this far outside the blood around a seed
WALL_BOX_MM = 20.0  # searched around each seed
MIN_WALL_VOXELS = 50  # fewer shell voxels than this: no estimate (the caller falls back)


def wall_tissue(
    image, ijk_to_ras, seeds, blood: float, spread: float, floor: float, smoothed_floor: float | None = None
) -> float | None:
    """Median intensity of the tissue just outside the vein's wall around the seeds: a shell
    1.5-4 mm outside the blood-bright region that holds each seed (within 20 mm of it), leaving
    out other bright structures (brighter than blood - 4 spreads) and air (below ``floor``).
    None when the shell holds too few voxels.

    ``smoothed_floor``: on an image interpolated from thick slices (``finer``), the region and
    the bright structures are judged on the smoothed image against its own noise next to each
    seed, at least this much (as ``spread`` is at least 0.04 of the contrast: on a noise-free
    image the region would shrink to the lumen's plateau and the shell fall in its blurred edge),
    not against ``spread``.
    """
    from scipy import ndimage

    spacing = spacing_of(ijk_to_ras)
    values = []
    for seed in seeds:
        box = voxel_box(np.atleast_2d(seed), WALL_BOX_MM, image.shape, ijk_to_ras)
        sub = image[box].astype(np.float32)
        if min(sub.shape) < 3:
            continue
        # At least 0.6 voxel per axis: on thick slices a 1 mm sigma averages nothing along k.
        smooth = ndimage.gaussian_filter(sub, sigma=np.maximum(1.0 / spacing, 0.6)[::-1])
        ijk = np.rint(to_ijk(seed, sub_matrix(ijk_to_ras, box))).astype(int)
        ijk = np.clip(ijk, 0, np.array(sub.shape[::-1]) - 1)
        own = float(smooth[ijk[2], ijk[1], ijk[0]])
        if smoothed_floor is not None:
            noise = max(_smoothed_noise(smooth, box, image.shape, ijk_to_ras, seed), smoothed_floor)
            cut = smooth
        else:
            noise, cut = spread, sub
        pieces, _ = ndimage.label(smooth > min(own, blood) - 3.0 * noise)
        mine = pieces[ijk[2], ijk[1], ijk[0]]
        if mine == 0:
            continue
        outside = distance_inside(pieces != mine, spacing)
        shell = (outside >= WALL_SHELL_MM[0]) & (outside <= WALL_SHELL_MM[1])
        vals = sub[shell]
        values.append(vals[(vals > floor) & (cut[shell] < blood - 4.0 * noise)])
    values = np.concatenate(values) if values else np.zeros(0)
    return float(np.median(values)) if len(values) > MIN_WALL_VOXELS else None


def _smoothed_noise(
    smooth: np.ndarray, box: tuple[slice, ...], shape: tuple, ijk_to_ras: np.ndarray, seed
) -> float:
    """Robust spread of the smoothed image within SEED_BALL_MM of a seed.

    On an image interpolated from coarse voxels the noise is correlated over an input voxel,
    so the 1 mm smoothing removes less of it than the raw voxels' spread assumes: at 2 x 2 x 3 mm
    and 25 HU (the seeds' spread 25 HU on the interpolated image), a region grown down to 3 raw
    spreads below the blood reached into soft tissue (90 HU below it), the shell lay in the fat
    beyond, and the tissue level came out as fat's (-39 HU instead of 40): the threshold let the
    soft tissue between the iliac veins in (49 cm3, 10 % of the arteries).
    """
    spacing = spacing_of(ijk_to_ras)
    ball_box = voxel_box(np.atleast_2d(seed), SEED_BALL_MM, shape, ijk_to_ras)
    kji = np.stack(np.meshgrid(*(np.arange(b.start, b.stop) for b in ball_box), indexing="ij"), axis=-1)
    ball = np.linalg.norm((kji - to_ijk(seed, ijk_to_ras)[::-1]) * spacing[::-1], axis=-1) <= SEED_BALL_MM
    values = smooth[tuple((kji[ball] - np.array([b.start for b in box])).T)]
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))

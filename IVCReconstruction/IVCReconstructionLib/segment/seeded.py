"""Seeded segmentation of the IVC and both iliac veins from a contrast CT (or bright-blood MR) venogram.

Method (no trained weights, nothing downloaded):

1. **Seeds and contrast.** The blood intensity (median and spread) is read around the three
   seeds; seeds in air, fat or bone, swapped sides, seeds too close together, and volumes whose
   veins are not brighter than their surroundings are refused with a message that says why.
   Thick slices (an axis above 2 mm) are interpolated to about 1 mm in a box
   around the seeds, the grid the steps below are made for, and the labels are counted back
   per input voxel at the end (``finer``).
2. **Minimal paths.** On a coarse (about 2 mm) grid of a region around the seeds, a speed image
   favours voxels as bright as the blood (each seed's own level near it) and deep inside bright
   tubes (distance to the wall). Fast marching (SimpleITK) from the IVC seed, then steepest
   descent on the arrival time from each iliac seed, gives the path IVC -> left and IVC ->
   right; ``Via`` points split the path into legs the path must pass (through an occlusion, for
   instance). Where the two iliac paths meet is the confluence (moved down to where they part
   once moved to the lumen's middle, when they ran together down the IVC).
3. **Lumen.** At full resolution, in a box around the paths only (the cost follows the veins, not
   the volume), the smoothed image is thresholded half-way between blood and the tissue against
   the veins' walls (``levels``); bone is left out and its blurred rim may join the lumen only
   inside the vein's tube (``boundary``). A marker-controlled watershed on the distance map splits
   touching bright tubes: the paths mark the veins; ridges of other tubes (well outside the vein's
   radius, or sticking out of its tube with an intensity unlike the vein's) mark everything else
   (``competitors``). The veins' basin, kept within a few mm of the vein's own radius from the
   path, has its wall moved to the local half-way level (on thick slices its boundary with a
   tube of different blood too) and is bridged along the paths through
   blood-like voxels, so that noise does not split the tree (see docs/segmentation.md).
4. **Labels.** Each lumen voxel goes to the branch (IVC, left, right) whose path it is nearest to,
   relative to the local radius. Stretches where the path crosses no lumen are reported as
   occlusions, with their length, and labelled apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import names
from ..inputs.orientation import canonical
from ..inputs.seeds import as_seed_points
from .branches import assign_branches, own_radius_near_confluence, split_where_paths_part, tidy_labels
from .checks import check_seeds, check_volume, looks_like_ct
from .datatypes import SeedBlood, VeinSegmentation
from .existing import check_confluence
from .finer import block_majority, crop_margin_mm, finer_factors, upsampled
from .grid import gaussian_at, max_depth_sampler, nearest_voxels, spacing_of, sub_matrix, voxel_box
from .levels import wall_tissue
from .lumen import lumen_mask
from .occlusion import NOISE_GAP_MM, mark_occlusions
from .paths import minimal_paths, seed_legs


def segment_veins(
    image_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    seeds: Mapping[str, Any],
    progress: Callable[[str], None] | None = None,
) -> VeinSegmentation:
    """Segment the IVC and both iliac veins from seed points.

    :param image_kji: CT (HU) or bright-blood MR volume indexed [k, j, i].
    :param ijk_to_ras: its 4x4 voxel-to-RAS matrix (any spacing and orientation).
    :param seeds: RAS points labelled "IVC", "Left", "Right" and optional "Via..." points
        (``inputs.seeds.SeedPoints``, or a mapping label -> point read the same way); other
        landmarks are ignored.
    :param progress: called with a message as each step starts (what it raises stops the work).
    :raises ValueError: on a bad volume or seeds (the message says what to do).
    """
    image = np.asarray(image_kji)
    matrix = np.asarray(ijk_to_ras, dtype=float)
    say = progress or (lambda message: None)
    say("checking the seeds and the contrast")
    check_volume(image, matrix)
    # Work on the canonical storage order, so that the same physical image gives the same veins
    # however its voxels are stored; the labels go back into the input's order at the end.
    input_matrix = matrix
    image, matrix, reorient = canonical(image, matrix)
    ivc, left, right, legs = seed_legs(as_seed_points(seeds))
    ends = dict(zip(names.END_SEEDS, (ivc, left, right), strict=True))
    read = check_seeds(image, matrix, ends)
    blood, warnings = read.blood, read.warnings
    ct = looks_like_ct(image)
    factors = finer_factors(matrix)
    if factors == (1, 1, 1):
        box, labels_box, found = _segment(image, matrix, ends, legs, read, ct, say)
    else:
        # Coarse voxels (thick slices): segmented on the image interpolated to about 1 mm in a
        # box around the seeds, the labels counted back per input voxel (``finer``).
        say("interpolating the coarse voxels to a finer grid")
        seed_points = np.vstack([ivc, left, right, *(p for leg in legs.values() for p in leg)])
        box = voxel_box(seed_points, crop_margin_mm(matrix), image.shape, matrix)
        fine, fine_matrix = upsampled(image[box], sub_matrix(matrix, box), factors)
        # The blood's level and spread as the lumen steps see them: interpolation changes how
        # the noise is sampled in the seeds' balls.
        fine_read = check_seeds(fine, fine_matrix, ends)
        fine_blood = fine_read.blood
        fine_box, fine_labels, found = _segment(
            fine, fine_matrix, ends, legs, fine_read, ct, say, label_spacing=spacing_of(matrix)
        )
        whole = np.zeros(fine.shape, dtype=np.uint8)
        whole[fine_box] = fine_labels
        crop = image[box]

        def tie_ok(kji: np.ndarray) -> np.ndarray:
            # A voxel split evenly by the finer labels is vein unless it is brighter than the
            # blood: its other half is then an artery or bone, not the wall's tissue. Tried and
            # not kept: each seed's own level near it instead of the median (for the less
            # enhanced stretches); the worst vein fell in 25 of the 36 cells at 2 x 2 x 3 mm,
            # the arteries' share in 10, by 0.008 points on average.
            return crop[tuple(kji.T)] <= fine_blood

        labels_box = block_majority(whole, factors, spacing_of(fine_matrix), tie_ok)
        blood = fine_blood  # the level the threshold was made from
    dense, confluence, occlusions, threshold = found
    # Checked on the labels' box (the lumen box, or the interpolated crop), not the whole volume.
    for branch in names.BRANCHES:
        if not np.any(labels_box == names.VEIN_LABELS[branch]):
            raise ValueError(
                f"no lumen found for {names.SEGMENT_IDS[branch]}: check that its seed is inside the "
                "contrast-filled vein"
            )
    return VeinSegmentation(
        labels=reorient.back_into(box, labels_box, np.uint8),
        ijk_to_ras=input_matrix,
        paths_ras=dense,
        confluence_ras=confluence,
        occlusions=occlusions,
        blood_hu=blood,
        threshold=threshold,
        warnings=warnings,
    )


def _segment(
    image: np.ndarray,
    matrix: np.ndarray,
    ends: dict[str, np.ndarray],
    legs: dict[str, list[np.ndarray]],
    read: SeedBlood,
    ct: bool,
    say: Callable[[str], None],
    label_spacing: np.ndarray | None = None,
) -> tuple[tuple[slice, ...], np.ndarray, tuple]:
    """Steps 1-4 on a canonical image: the input's, or the finer one whose labels are counted
    back onto voxels of ``label_spacing``. ``ends``: the IVC, Left and Right seeds (RAS);
    ``read``: the blood read around them on this image. Returns the lumen box, its labels, and
    (paths, confluence, occlusions, threshold)."""
    interpolated = label_spacing is not None
    ivc, left, right = (ends[name] for name in names.END_SEEDS)
    blood, spread = read.blood, read.spread
    # Background: the soft tissue and fat around the seeds, below the blood.
    box = voxel_box(np.vstack([ivc, left, right]), 20.0, image.shape, matrix)
    around = image[box].ravel()[:: max(1, image[box].size // 300_000)].astype(np.float32)
    floor = -300.0 if ct else float(np.percentile(around, 5))
    tissue = around[(around > floor) & (around < blood - 4.0 * spread)]
    background = float(np.median(tissue)) if len(tissue) else floor
    # The level the lumen is told apart from: the tissue against the veins' walls (fat, or
    # muscle, bowel wall, lymphatic tissue where there is no fat plane).
    tissue_level = wall_tissue(
        image,
        matrix,
        (ivc, left, right),
        blood,
        spread,
        floor,
        smoothed_floor=0.04 * (blood - background) if interpolated else None,
    )
    if tissue_level is None:
        tissue_level = background
    threshold = 0.5 * (blood + tissue_level)

    say("finding the paths between the seeds")
    # Each seed's own blood level: enhancement varies along the veins (``paths.blood_field``).
    # Within half the way from the median to the threshold: a seed whose ball catches the wall's
    # partial volume would otherwise send the path along the wall near it (the median of three
    # ignored one such seed).
    band = 0.5 * (blood - threshold)
    levels = [
        (ends[name], float(np.clip(read.levels[name], blood - band, blood + band)))
        for name in names.END_SEEDS
    ]
    trunk, left_path, right_path = minimal_paths(
        image, matrix, ivc, left, right, legs, blood, threshold, spread, levels
    )
    confluence = trunk[-1].copy()
    branch_paths = {"ivc": trunk[::-1], "left_iliac": left_path, "right_iliac": right_path}
    say("finding the lumen around the paths")
    box, m, vein, dense = lumen_mask(image, matrix, branch_paths, blood, tissue_level, label_spacing, spread)
    dense, confluence = split_where_paths_part(dense, confluence)

    def voxels(pts: np.ndarray) -> np.ndarray:  # kji of RAS points in the lumen box (clipped)
        return nearest_voxels(pts, m, vein.shape)

    say("labelling the veins and the occlusions")
    # The local lumen radius (3x3x3 maximum of the distance to the wall) and the 1 mm Gaussian
    # below are read at the path points only: computed there, not over the whole lumen box.
    radius_at = max_depth_sampler(vein, spacing_of(matrix))
    # Along the path, lumen means blood-like: well above the soft tissue a chronic occlusion
    # is made of, which the half-way lumen threshold can let through.
    sigma = 1.0 / spacing_of(matrix)[::-1]
    blood_level = blood - 0.35 * (blood - background)
    # On thick slices one noisy input voxel, spread by the interpolation, can look like blood
    # for 5 mm inside an occlusion (2 x 2 x 3 mm, 25 HU: a 40 mm occlusion came out as 20 and
    # 12.5 mm): occlusions less than two input voxels apart are one there.
    noise_gap = (
        NOISE_GAP_MM if label_spacing is None else max(NOISE_GAP_MM, 2.0 * float(np.max(label_spacing)))
    )

    def labelled(radii: dict[str, np.ndarray]):
        labels_box = assign_branches(vein, m, dense, radii)
        occlusions = mark_occlusions(
            labels_box,
            m,
            dense,
            lambda pts: gaussian_at(image, box, sigma, voxels(pts)) > blood_level,
            noise_gap,
        )
        return tidy_labels(labels_box), occlusions

    # The radii of all paths in one call (one k-d query of the wall).
    stacked = radius_at(voxels(np.vstack(list(dense.values()))))
    measured = dict(
        zip(dense, np.split(stacked, np.cumsum([len(p) for p in dense.values()])[:-1]), strict=True)
    )
    # Each branch's capped next to the confluence at its own, as long as the three veins then
    # still meet there: at 1.5 mm voxels the IVC's end could take the whole junction, and the
    # measuring step refuses veins that do not meet (2 of 3 phantoms at 1.5 mm); the measured
    # radii are what the labels were made with before the cap.
    labels_box, occlusions = labelled(
        {b: own_radius_near_confluence(measured[b], pts, confluence) for b, pts in dense.items()}
    )
    if not _meet_at_one_confluence(labels_box, m):
        labels_box, occlusions = labelled(measured)
    return box, labels_box, (dense, confluence, occlusions, threshold)


def _meet_at_one_confluence(labels: np.ndarray, ijk_to_ras: np.ndarray) -> bool:
    """Whether the measuring step accepts how the three veins meet (``existing.check_confluence``)."""
    try:
        check_confluence(labels, ijk_to_ras)
    except ValueError:
        return False
    return True

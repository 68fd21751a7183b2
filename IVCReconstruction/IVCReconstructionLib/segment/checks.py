"""Step 1 of the seeded segmentation: is this a venogram, and are the seeds in its veins?

The blood intensity (median and robust spread) is read around the seeds. Seeds in air, fat or
bone and volumes whose veins are not brighter than their surroundings are refused with a
message that says why and what to do; seeds whose intensities disagree give a warning.
"""

from __future__ import annotations

import math

import numpy as np

from ..names import Modality
from .datatypes import SeedBlood
from .grid import mask_box, sample_at, to_ijk, voxel_box

ENHANCED_HU = 100.0  # contrast-filled blood in a CT venogram is brighter than this (muscle ~50)
BONE_HU = 350.0  # cortical bone around a seed is brighter than this
SEED_BALL_MM = 3.0


def check_volume(image: np.ndarray, ijk_to_ras: np.ndarray) -> None:
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


def seed_stats(image, ijk_to_ras, seed: np.ndarray, name: str) -> tuple[float, float]:
    """Median and robust spread of the intensities in a small ball around a seed."""
    ijk = to_ijk(seed, ijk_to_ras)
    shape_ijk = np.array(image.shape[::-1])
    if np.any(ijk < -0.5) or np.any(ijk > shape_ijk - 0.5):
        raise ValueError(
            f"the {name} seed {np.round(seed, 1).tolist()} (RAS) is outside the volume: move it into the vein"
        )
    offs = np.array([[x, y, z] for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)], dtype=float)
    ball = seed + offs * (SEED_BALL_MM / math.sqrt(2))
    vals = sample_at(image, ijk_to_ras, np.vstack([seed, ball]))
    med = float(np.median(vals))
    spread = float(1.4826 * np.median(np.abs(vals - med)))
    return med, spread


def looks_like_ct(image: np.ndarray) -> bool:
    """Hounsfield units: fat (about -100) or air shows up as negative values, which MR never has."""
    # Every n-th voxel in storage order, read in place: ``ravel`` would copy a whole
    # non-contiguous (reoriented) volume first, ~0.4 s on a 512 x 512 x 400 CT.
    flat = np.arange(0, image.size, max(1, image.size // 200_000))
    sample = image[np.unravel_index(flat, image.shape)]
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
    vals = sample_at(image, ijk_to_ras, pts.reshape(-1, 3)).reshape(len(dirs), len(steps))
    return float(np.mean((vals > BONE_HU).any(axis=1))) >= 0.6


def check_seeds(image, ijk_to_ras, points: dict[str, np.ndarray]) -> SeedBlood:
    """Blood intensity from the seeds; refuse seeds in air, fat or bone, or no contrast."""
    ct = looks_like_ct(image)
    stats = {name: seed_stats(image, ijk_to_ras, p, name) for name, p in points.items()}
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
    box = voxel_box(np.array(list(points.values())), 15.0, image.shape, ijk_to_ras)
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
    levels = {name: float(med) for name, (med, _) in stats.items()}
    return SeedBlood(blood, max(spread, 0.04 * contrast), warnings, levels)


def modality_of(
    image: np.ndarray,
    image_ijk_to_ras: np.ndarray,
    veins: np.ndarray | None = None,
    veins_ijk_to_ras: np.ndarray | None = None,
) -> Modality:
    """CT, non-contrast CT or MR: what the planner's LOW_CONFIDENCE_MODALITY check needs.

    A CT whose vein voxels (``veins`` > 0, a label map in its own geometry, e.g. a segmentation
    brought in) are below ENHANCED_HU has unenhanced veins. The vein voxels are looked up in the
    image by their RAS position, so the label map need not share the image's grid.
    """
    if not looks_like_ct(image):
        return Modality.MR
    box = mask_box(np.asarray(veins) > 0) if veins is not None else None
    if box is None:
        return Modality.CT
    # The vein voxels in scan order, found in their bounding box only (the same list).
    kji = np.argwhere(veins[box] > 0) + np.array([sl.start for sl in box])
    # Enough voxels for a stable median, in a fixed order (never the first ones found).
    kji = kji[:: max(1, len(kji) // 50_000)]
    if veins.shape == image.shape and (
        veins_ijk_to_ras is None or np.allclose(veins_ijk_to_ras, image_ijk_to_ras, atol=1e-3)
    ):
        values = image[tuple(kji.T)]
    else:
        ras = kji[:, ::-1] @ np.asarray(veins_ijk_to_ras)[:3, :3].T + np.asarray(veins_ijk_to_ras)[:3, 3]
        ijk = np.rint(to_ijk(ras, image_ijk_to_ras)).astype(int)
        inside = np.all((ijk >= 0) & (ijk < np.array(image.shape[::-1])), axis=1)
        if not inside.any():
            return Modality.CT
        ijk = ijk[inside]
        values = image[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
    return Modality.NONCONTRAST_CT if float(np.median(values)) < ENHANCED_HU else Modality.CT

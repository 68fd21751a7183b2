"""Surface, centerlines and diameter profiles of the veins of a label map, in one call.

The Slicer module, ``ivc-plan`` and the tests call these, so they run the same steps. Nothing
here touches a scene: ``pipeline.py`` puts the results into one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import names
from ..inputs.orientation import canonical
from ..names import VeinSource
from ..segment.datatypes import OccludedStretch
from ..segment.existing import vein_labels
from ..segment.grid import grown_box, mask_box
from ..segment.occlusion import fill_occluded, occlusions_from_labels, widened_occlusions
from .centerline import extract_centerlines
from .datatypes import BranchProfile, VeinMeasurements
from .label_geometry import cut_ends, label_contacts, voxel_edges
from .sections import compute_profiles

CROP_PAD = 2  # voxels of background kept round the labels' box (as extract_centerlines keeps)


def measure_veins(
    labels_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    label_values: dict[str, int] | None = None,
    seeds: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    conduit_kji: np.ndarray | None = None,
) -> VeinMeasurements:
    """Centerline tree and cross-section profiles of the veins in a label map.

    See :func:`centerline.extract_centerlines` for the parameters (``conduit_kji``: the label
    map VMTK's surface is made from, when not the labels themselves) and the errors raised;
    ``progress`` is called with a message as each step starts (what it raises stops the work).
    """
    result = extract_centerlines(labels_kji, ijk_to_ras, label_values, seeds, progress, conduit_kji)
    if progress is not None:
        progress("measuring cross sections every millimetre")
    # The sections are cut from the full-resolution surface, not the few thousand points VMTK
    # ran on (decimation of a fine label map doubles the diameter bias).
    return VeinMeasurements(result, compute_profiles(result.tree, result.section_surface or result.surface))


def measure_labels(
    labels_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    seeds: Mapping[str, Any] | None = None,
    occlusions: list[OccludedStretch] | None = None,
    progress: Callable[[str], None] | None = None,
    source: VeinSource | None = None,
) -> VeinMeasurements:
    """Measure a label map of the pipeline's values (1-3, and 4 for an occluded stretch this
    module segmented): the occluded stretches join the lumen for the centerlines (so the tree is
    one piece) and are reported in ``occlusions``: those given (the seeded segmentation's own,
    measured along its paths), else those read back from the label map. Only the IVC, Left and
    Right seeds are used. The labels measured (``measured.labels``) are in the input's geometry;
    the work is done on their canonical storage order (``inputs.orientation``), so that the same
    physical label map gives the same measurements however it is stored. ``source`` says whether
    the labels are this module's seeded segmentation (``VeinSource.SEEDS``) or another tool's
    (the default: their junctions are checked for artefacts)."""
    given = np.asarray(labels_kji)
    # Everything is measured in the labels' box with two voxels of background round it (the
    # box the centerline step cuts out anyway), not the whole volume: each pass over a 512 x
    # 512 x 400 label map costs ~0.1 s, and there were a dozen. Where the box reaches a face of
    # the volume it ends there, so a vein cut off by the field of view still meets a face.
    box = _padded_box(given, CROP_PAD)
    shift = np.eye(4)
    if given.ndim == 3:
        shift[:3, 3] = [sl.start for sl in box[::-1]]
    labels, matrix, reorient = canonical(given[box], np.asarray(ijk_to_ras, dtype=float) @ shift)
    filled = fill_occluded(labels)
    ends = {k: seeds[k] for k in names.END_SEEDS if seeds and k in seeds}
    # The centerlines run through a wider conduit in an occluded stretch than the label map's
    # tube (``widened_occlusions``); the cross sections are cut from the map's own.
    widened = widened_occlusions(labels, matrix)
    conduit = None if widened is labels else fill_occluded(widened)
    measured = measure_veins(filled, matrix, seeds=ends or None, progress=progress, conduit_kji=conduit)
    if occlusions is None:
        occlusions = occlusions_from_labels(labels, matrix, filled)
    measured.occlusions = list(occlusions)
    measured.labels = np.zeros(given.shape, dtype=np.uint8)
    measured.labels[box] = reorient.back(vein_labels(filled))
    measured.labels_ijk_to_ras = np.asarray(ijk_to_ras, dtype=float)
    measured.voxel_mm = voxel_edges(matrix)
    measured.contacts_ras = label_contacts(filled, matrix)
    measured.cut_ends = cut_ends(filled, matrix, measured.tree)
    if source is not None:
        measured.source = VeinSource(source)
    return measured


def _padded_box(labels: np.ndarray, pad: int) -> tuple[slice, ...]:
    """The box (slices [k, j, i]) of the nonzero labels grown by ``pad`` voxels within the
    array; the whole array when there are none (the measuring step then says what is missing)."""
    box = mask_box(labels != 0) if labels.ndim == 3 else None
    if box is None:
        return tuple(slice(0, n) for n in labels.shape)
    return grown_box(box, pad, labels.shape)


def narrowest_section(profile: BranchProfile) -> tuple[np.ndarray, float, float]:
    """(RAS position, area mm2, CE diameter mm) of a branch's smallest measured section,
    leaving out the confluence zone (where a section plane also cuts another vein)."""
    area = np.where(np.asarray(profile.confluence_zone, dtype=bool), np.inf, profile.area_mm2)
    index = int(np.argmin(area))
    return (
        np.asarray(profile.points_ras[index], dtype=float),
        float(profile.area_mm2[index]),
        float(profile.ce_diameter_mm[index]),
    )

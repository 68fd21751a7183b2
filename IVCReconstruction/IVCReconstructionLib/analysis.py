"""Surface, centerlines and diameter profiles in one call, and into the scene in one more.

The Slicer logic, the command line and the tests call these, so the three run the same
steps. Everything is computed before any node is made: bad input raises ValueError and leaves
the scene as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .centerline import CenterlineResult, extract_centerlines
from .profile import compute_profiles
from .profile_types import BranchProfile


@dataclass
class VeinMeasurements:
    """Everything the centerline stage measured."""

    centerlines: CenterlineResult
    profiles: dict[str, BranchProfile]
    # Occluded stretches (segmentation.OccludedStretch) of the segmentation measured, if known.
    occlusions: list = field(default_factory=list)

    @property
    def tree(self):
        return self.centerlines.tree

    @property
    def surface(self):
        return self.centerlines.surface


def measure_veins(
    labels_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    label_values: dict[str, int] | None = None,
    seeds: dict | None = None,
) -> VeinMeasurements:
    """Centerline tree and cross-section profiles of the veins in a label map.

    See :func:`centerline.extract_centerlines` for the parameters and the errors raised.
    """
    result = extract_centerlines(labels_kji, ijk_to_ras, label_values, seeds)
    return VeinMeasurements(result, compute_profiles(result.tree, result.surface))


def measure_segmentation(
    segmentation_node,
    seeds: dict | None = None,
    reference_volume=None,
    segment_ids: dict[str, str] | None = None,
) -> VeinMeasurements:
    """Measure the veins of a segmentation node (nothing is added to the scene).

    The three vein segments are ``segment_ids`` (branch -> segment ID) where given, else found
    by ID, then terminology (``existing_segmentation.find_vein_segments``). An occluded stretch
    this module segmented (segment ``occluded_vein``) joins the lumen for the centerlines and is
    reported in ``occlusions``.
    """
    from .existing_segmentation import vein_labels_from_segmentation
    from .segmentation import fill_occluded, occlusions_from_labels

    labels, ijk_to_ras, _ = vein_labels_from_segmentation(segmentation_node, reference_volume, segment_ids)
    filled = fill_occluded(labels)
    measured = measure_veins(filled, ijk_to_ras, seeds=seeds)
    measured.occlusions = occlusions_from_labels(labels, ijk_to_ras, filled)
    return measured


def measure_segmentation_into_scene(
    scene,
    segmentation_node,
    seeds: dict | None = None,
    reference_volume=None,
    folder_name: str = "IVC centerlines",
    parent_item: int | None = None,
    segment_ids: dict[str, str] | None = None,
):
    """Measure the veins of a segmentation node (:func:`measure_segmentation`) and add the
    results to its scene. Everything is measured before the first node is made, so a ValueError
    leaves the scene as it was. Returns (``mrml.CenterlineNodes``, :class:`VeinMeasurements`).
    """
    from .mrml import add_centerlines_to_scene

    measured = measure_segmentation(segmentation_node, seeds, reference_volume, segment_ids)
    nodes = add_centerlines_to_scene(
        scene, measured.tree, measured.profiles, folder_name=folder_name, parent_item=parent_item
    )
    return nodes, measured


def segment_volume_into_scene(scene, volume_node, seeds: dict, name: str = "Veins"):
    """Segment the veins of a volume node from seed points and add the segmentation node.

    Everything is computed before the node is made, so a ValueError (bad volume, bad seeds,
    no contrast) leaves the scene as it was. Returns (segmentation node,
    ``segmentation.VeinSegmentation``).
    """
    from .mrml import add_vein_segmentation, array_and_geometry
    from .segmentation import segment_veins

    if volume_node is None or not volume_node.IsA("vtkMRMLScalarVolumeNode"):
        raise ValueError("select a scalar volume (the CT or MR venogram) to segment")
    # A view of the node's voxels: segment_veins only reads them (a copy of a 512 x 512 x 400
    # CT costs 0.45 s and 210 MB).
    voxels, ijk_to_ras = array_and_geometry(volume_node, copy=False)
    result = segment_veins(voxels, ijk_to_ras, seeds)
    node = add_vein_segmentation(scene, result.labels, result.ijk_to_ras, volume_node, name)
    return node, result

"""Vein segmentation: seeded (paths, lumen, occlusions, branches) and from existing label maps.

``seeded.segment_veins`` runs the steps in order: ``checks`` (is this a venogram, are the seeds
in veins), ``paths`` (minimal paths between the seeds), ``lumen`` (the lumen around them),
``branches`` (IVC / left / right per voxel) and ``occlusion`` (stretches without lumen).
"""

from .checks import looks_like_ct, modality_of
from .datatypes import OccludedStretch, VeinSegmentation, VeinsOrigin
from .existing import labels_from_label_map, parse_label_mapping, vein_labels
from .occlusion import fill_occluded, occlusions_from_labels
from .seeded import segment_veins

__all__ = [
    "OccludedStretch",
    "VeinSegmentation",
    "VeinsOrigin",
    "fill_occluded",
    "labels_from_label_map",
    "looks_like_ct",
    "modality_of",
    "occlusions_from_labels",
    "parse_label_mapping",
    "segment_veins",
    "vein_labels",
]

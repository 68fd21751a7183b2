"""Measuring the veins: a closed surface (``surface``), VMTK centerlines labelled by anatomy
(``centerline``), cross sections every 1 mm (``sections``), in one call (``veins``)."""

from .centerline import extract_centerlines
from .datatypes import (
    PROFILE_COLUMNS,
    BranchProfile,
    CenterlineBranch,
    CenterlineResult,
    CenterlineTree,
    VeinMeasurements,
)
from .sections import compute_profiles
from .surface import check_surface, mask_to_surface
from .veins import measure_labels, measure_veins, narrowest_section

__all__ = [
    "PROFILE_COLUMNS",
    "BranchProfile",
    "CenterlineBranch",
    "CenterlineResult",
    "CenterlineTree",
    "VeinMeasurements",
    "check_surface",
    "compute_profiles",
    "extract_centerlines",
    "mask_to_surface",
    "measure_labels",
    "measure_veins",
    "narrowest_section",
]

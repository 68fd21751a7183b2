"""Surface, centerlines and diameter profiles in one call, and into the scene in one more.

The Slicer logic, the command line and the tests call these, so the three run the same
steps. Everything is computed before any node is made: bad input raises ValueError and leaves
the scene as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .centerline import CenterlineResult, extract_centerlines
from .profile import compute_profiles
from .profile_types import BranchProfile


@dataclass
class VeinMeasurements:
    """Everything the centerline stage measured."""

    centerlines: CenterlineResult
    profiles: dict[str, BranchProfile]

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

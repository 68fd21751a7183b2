"""The last measurement of a segmentation node, reused while nothing it depends on changed.

Measuring (surface, VMTK centerlines, sections) takes seconds; planning and re-planning should
not repeat it. A measurement is reused for the same node as long as its segments were not
edited (the segmentation's modification time), the same segments were chosen and the same
IVC, Left and Right points mark the ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import names
from ..measure.datatypes import VeinMeasurements


def _key(node: Any, segment_ids: Mapping[str, str] | None, seeds: Mapping[str, Any] | None) -> tuple:
    ends = tuple(
        (str(label), tuple(np.round(np.asarray(seeds[label], dtype=float), 3)))
        for label in names.END_SEEDS
        if seeds is not None and label in seeds
    )
    chosen = tuple(sorted((segment_ids or {}).items()))
    return node.GetID(), int(node.GetSegmentation().GetMTime()), chosen, ends


class MeasurementCache:
    def __init__(self) -> None:
        self._key: tuple | None = None
        self.measurements: VeinMeasurements | None = None

    def get(
        self, node: Any, segment_ids: Mapping[str, str] | None = None, seeds: Mapping[str, Any] | None = None
    ) -> VeinMeasurements | None:
        """The measurement kept for this node, segments and end points, if it is still valid."""
        if self.measurements is None or self._key != _key(node, segment_ids, seeds):
            return None
        return self.measurements

    def put(
        self,
        node: Any,
        measurements: VeinMeasurements,
        segment_ids: Mapping[str, str] | None = None,
        seeds: Mapping[str, Any] | None = None,
    ) -> None:
        self._key = _key(node, segment_ids, seeds)
        self.measurements = measurements

    def clear(self) -> None:
        """Forget the measurement (the scene was closed)."""
        self._key, self.measurements = None, None

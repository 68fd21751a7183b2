"""A synthetic venogram in the scene: the CT, its truth segmentation, seeds, truth centerlines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import names
from .nodes import (
    add_curve,
    add_fiducials,
    add_volume_from_array,
    discard,
    place_in_folder,
    subject_hierarchy,
    subject_hierarchy_folder,
)
from .segmentation_nodes import add_segmentation_from_labelmap, vein_segments

if TYPE_CHECKING:
    from ..phantom.truth import Phantom


@dataclass
class PhantomNodes:
    """The nodes :func:`add_phantom_to_scene` made, and the folder holding them."""

    folder_item: int
    volume: Any
    segmentation: Any
    seeds: Any
    centerlines: dict[str, Any] = field(default_factory=dict)

    def nodes(self) -> list[Any]:
        return [self.volume, self.segmentation, self.seeds, *self.centerlines.values()]


def add_phantom_to_scene(scene: Any, phantom: Phantom) -> PhantomNodes:
    """Show a synthetic venogram and its truth: CT, truth segmentation, seeds, truth centerlines.

    Vein segments (labels 1..3) get the pipeline's segment IDs (``names.SEGMENT_IDS``); the
    other truth labels present in the phantom become extra segments with IDs from
    ``phantom.truth.TRUTH_LABELS``. Truth centerlines carry Radius = CE diameter / 2. Everything
    sits in one subject-hierarchy folder "IVC phantom".
    """
    from ..phantom.truth import TRUTH_LABELS

    segments = vein_segments()
    present = {int(v) for v in np.unique(phantom.labels)}
    for value, segment_id in TRUTH_LABELS.items():
        if value in segments or value not in present:
            continue
        label = segment_id.replace("_", " ").capitalize()
        segments[value] = (segment_id, label, names.TRUTH_COLORS.get(segment_id, (0.6, 0.6, 0.6)))

    created: list[Any] = []
    sh = subject_hierarchy(scene)
    folder = subject_hierarchy_folder(scene, "IVC phantom")
    try:
        volume = add_volume_from_array(scene, phantom.image, phantom.ijk_to_ras, "IVC phantom CT")
        created.append(volume)
        segmentation = add_segmentation_from_labelmap(
            scene, phantom.labels, phantom.ijk_to_ras, segments, "IVC phantom truth", reference_volume=volume
        )
        created.append(segmentation)
        seeds = add_fiducials(scene, phantom.seeds, "Seeds")
        created.append(seeds)
        centerlines = {}
        for branch, truth in phantom.branches.items():
            curve = add_curve(
                scene,
                truth.points_ras,
                f"{branch} truth centerline",
                radius_mm=np.asarray(truth.ce_diameter_mm, dtype=float) / 2.0,
                locked=True,
            )
            created.append(curve)
            centerlines[branch] = curve
        result = PhantomNodes(folder, volume, segmentation, seeds, centerlines)
        for node in result.nodes():
            place_in_folder(scene, node, folder)
    except Exception:
        discard(scene, sh, folder, created)
        raise
    return result

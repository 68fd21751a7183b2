"""Bring your own segmentation: the three veins out of a segmentation node or a label map.

A TotalSegmentator result, a Segment Editor result or the project's own output is used as is:
segments are found by ID (TotalSegmentator's ``inferior_vena_cava``, ``iliac_vena_left``,
``iliac_vena_right``), then by SNOMED terminology, never by display name (architecture
section 4). A plain label map needs a mapping such as ``ivc=63,left=67,right=68``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import names

# Short names accepted in a label mapping, per branch.
_MAPPING_KEYS = {
    "ivc": "ivc",
    "left": "left_iliac",
    "left_iliac": "left_iliac",
    "right": "right_iliac",
    "right_iliac": "right_iliac",
}


def parse_label_mapping(text: str) -> dict[str, int]:
    """``"ivc=63,left=67,right=68"`` -> ``{"ivc": 63, "left_iliac": 67, "right_iliac": 68}``.

    :raises ValueError: on a malformed mapping or a missing branch.
    """
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        branch = _MAPPING_KEYS.get(key.strip().lower())
        if not sep or branch is None or not value.strip().isdigit():
            raise ValueError(
                f"cannot read {part!r} in the label mapping: write it as ivc=63,left=67,right=68"
            )
        out[branch] = int(value)
    missing = [b for b in names.BRANCHES if b not in out]
    if missing:
        raise ValueError(
            f"the label mapping {text!r} has no value for {', '.join(missing)}: write ivc=..,left=..,right=.."
        )
    if len(set(out.values())) != 3:
        raise ValueError(f"the label mapping {text!r} gives two veins the same label value")
    return out


def find_vein_segments(segmentation_node: Any, chosen: dict[str, str] | None = None) -> dict[str, str]:
    """Segment ID per branch: ``chosen`` (branch -> segment ID, as a user picked them) first,
    then by ID, then by terminology.

    :raises ValueError: naming a chosen segment that is not there, a segment chosen for two
        veins, or the veins that are not found.
    """
    from .mrml import vein_branch_of_segment

    seg = segmentation_node.GetSegmentation()
    ids = [seg.GetNthSegmentID(n) for n in range(seg.GetNumberOfSegments())]
    chosen = {b: s for b, s in (chosen or {}).items() if s}
    for branch, segment_id in chosen.items():
        if branch not in names.BRANCHES:
            raise ValueError(f"unknown vein {branch!r}: choose segments for {', '.join(names.BRANCHES)}")
        if segment_id not in ids:
            raise ValueError(
                f"the segmentation {segmentation_node.GetName()!r} has no segment {segment_id!r} "
                f"(chosen for {branch}): pick one of its segments"
            )
    if len(set(chosen.values())) != len(chosen):
        raise ValueError("the same segment is chosen for two veins: pick one segment per vein")
    if len(chosen) == len(names.BRANCHES):
        return dict(chosen)
    found = dict(chosen)
    taken = set(chosen.values())
    for branch in names.BRANCHES:
        if (
            branch not in found
            and names.SEGMENT_IDS[branch] in ids
            and names.SEGMENT_IDS[branch] not in taken
        ):
            found[branch] = names.SEGMENT_IDS[branch]
    for segment_id in ids:
        branch = vein_branch_of_segment(seg.GetSegment(segment_id))
        if branch is not None and branch not in found and segment_id not in set(found.values()):
            found[branch] = segment_id
    missing = [b for b in names.BRANCHES if b not in found]
    if missing:
        wanted = ", ".join(f"{names.SEGMENT_IDS[b]} (SNOMED {names.SNOMED[b][0][0]})" for b in missing)
        raise ValueError(
            f"the segmentation {segmentation_node.GetName()!r} has no segment for {wanted}: name the "
            "segments with these IDs or set their terminology (TotalSegmentator's output has them)"
        )
    return found


def vein_labels_from_segmentation(
    segmentation_node: Any, reference_volume: Any = None, chosen: dict[str, str] | None = None
):
    """Label map (values ``names.VEIN_LABELS``), its IJK-to-RAS matrix, and the segment IDs used.

    The label map is in the reference volume's geometry when one is given, otherwise in the
    segmentation's own. ``chosen`` picks segments by hand (see :func:`find_vein_segments`).
    A segmentation this module made may also hold an ``occluded_vein``
    segment (a stretch without lumen, crossed by a Via point): it becomes label 4
    (``segmentation.OCCLUDED_LABEL``). Nothing is left in the scene.
    """
    import slicer
    from vtkmodules.vtkCommonCore import vtkStringArray

    from .mrml import OCCLUDED_SEGMENT_ID, array_and_geometry, remove_nodes

    found = find_vein_segments(segmentation_node, chosen)
    scene = segmentation_node.GetScene()
    ids = vtkStringArray()
    for branch in names.BRANCHES:  # the export numbers segments 1, 2, 3 in this order
        ids.InsertNextValue(found[branch])
    if segmentation_node.GetSegmentation().GetSegment(OCCLUDED_SEGMENT_ID) is not None:
        ids.InsertNextValue(OCCLUDED_SEGMENT_ID)  # label 4
    before = {scene.GetNthNode(n).GetID() for n in range(scene.GetNumberOfNodes())}
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "vein labels (temporary)")
    try:
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(
            segmentation_node, ids, labelmap, reference_volume
        )
        if not ok or labelmap.GetImageData() is None:
            raise ValueError(
                f"could not turn the segmentation {segmentation_node.GetName()!r} into a label map"
            )
        labels, ijk_to_ras = array_and_geometry(labelmap)
    finally:
        # The export also makes a colour table for the label map: remove whatever it added.
        added = [scene.GetNthNode(n) for n in range(scene.GetNumberOfNodes())]
        remove_nodes(scene, [labelmap] + [n for n in added if n.GetID() not in before and n is not labelmap])
    return np.asarray(labels), ijk_to_ras, found

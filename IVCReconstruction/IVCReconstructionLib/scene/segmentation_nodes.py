"""Vein segmentations in the scene: segments with TotalSegmentator IDs and SNOMED terminology.

Made from a label map (:func:`add_vein_segmentation`), and read back: the three vein segments of
any segmentation node are found by ID, then by terminology, never by display name
(:func:`find_vein_segments`, architecture section 4), and exported as the pipeline's label map
(:func:`vein_labels_from_segmentation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import names
from .nodes import (
    add_volume_from_array,
    array_and_geometry,
    check_color,
    check_image_array,
    check_matrix,
    check_name,
    remove_nodes,
    vtk_matrix,
)

# Terminology entries are serialized as Slicer's terminology logic does (context~category~type~
# type modifier~anatomic context~region~region modifier). The contexts are Slicer's defaults, so
# the segment editor shows the codes even though the headless build has no terminology files.
TERMINOLOGY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"


ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"


ANATOMICAL_STRUCTURE = ("123037004", "Anatomical Structure")  # SNOMED CT category of the veins


def set_vein_terminology(segment: Any, branch: str) -> str:
    """Store the SNOMED CT code of a vein branch on a vtkSegment; returns the entry string.

    ``branch`` is one of ``names.BRANCHES``. The entry goes into the segment's
    "TerminologyEntry" tag (``vtkSegment.SetTerminology``), which Slicer saves in ``.seg.nrrd``
    headers and reads back in the segment editor.
    """
    import slicer

    if branch not in names.SNOMED:
        raise ValueError(f"unknown branch {branch!r}; expected one of {', '.join(names.SNOMED)}")
    (type_code, type_meaning), modifier = names.SNOMED[branch]
    mod_code, mod_meaning = modifier if modifier is not None else ("", "")
    mod_scheme = "SCT" if modifier is not None else ""
    entry = slicer.vtkSlicerTerminologiesModuleLogic.SerializeTerminologyEntry(
        TERMINOLOGY_CONTEXT,
        ANATOMICAL_STRUCTURE[0],
        "SCT",
        ANATOMICAL_STRUCTURE[1],
        type_code,
        "SCT",
        type_meaning,
        mod_code,
        mod_scheme,
        mod_meaning,
        ANATOMIC_CONTEXT,
        "",
        "",
        "",
        "",
        "",
        "",
    )
    segment.SetTerminology(entry)
    return entry


def terminology_codes(segment: Any) -> tuple[str, str]:
    """(type code, type modifier code) of a segment's terminology; empty strings when unset."""
    import slicer

    if not segment.HasTerminology():
        return "", ""
    entry = slicer.vtkSlicerTerminologyEntry()
    logic = slicer.vtkSlicerTerminologiesModuleLogic
    if not logic.DeserializeTerminologyEntry(segment.GetTerminology(), entry):
        return "", ""
    type_code = entry.GetTypeObject().GetCodeValue() or ""
    modifier_code = entry.GetTypeModifierObject().GetCodeValue() or ""
    return type_code, modifier_code


def vein_branch_of_segment(segment: Any) -> str | None:
    """The branch (``names.BRANCHES``) a segment's SNOMED terminology names, or None."""
    type_code, modifier_code = terminology_codes(segment)
    for branch, ((code, _meaning), modifier) in names.SNOMED.items():
        if type_code == code and modifier_code == (modifier[0] if modifier else ""):
            return branch
    return None


def add_segmentation_from_labelmap(
    scene: Any,
    labels_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    segments: Mapping[int, tuple[str, str, Sequence[float]]],
    name: str,
    reference_volume: Any = None,
) -> Any:
    """Add a segmentation node with one segment per requested label value.

    ``segments`` maps a label value to (segment ID, display name, RGB 0..1). Segment IDs are
    set exactly as given (Slicer would otherwise generate random ones) and segments keep their
    label value in the saved ``.seg.nrrd``. Label values not in ``segments`` are ignored; a
    requested value absent from the array gives an empty segment. Vein segment IDs
    (``names.SEGMENT_IDS``) also get their SNOMED terminology. ``reference_volume`` sets the
    segmentation's reference geometry (the labels must already be in that geometry); the
    segmentation goes under that volume's transform, if any.

    The labelmap goes through a temporary labelmap node, removed again before returning.
    """
    import slicer
    from vtkmodules.vtkCommonCore import vtkStringArray

    check_name(name)
    labels = check_image_array(labels_kji, "labels_kji")
    m = check_matrix(ijk_to_ras)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels_kji must be an integer array, got {labels.dtype}")
    if not segments:
        raise ValueError("segments is empty: give at least one {label: (segment_id, name, rgb)}")
    seen_ids: set[str] = set()
    for value, spec in segments.items():
        if not isinstance(value, int | np.integer) or not 0 < int(value) <= 65535:
            raise ValueError(f"segment label values must be integers in 1..65535, got {value!r}")
        if len(spec) != 3:
            raise ValueError(f"segment {value}: expected (segment_id, name, rgb), got {spec!r}")
        segment_id, segment_name, color = spec
        check_name(segment_id, f"segment {value} ID")
        check_name(segment_name, f"segment {value} name")
        check_color(color, f"segment {value} colour")
        if segment_id in seen_ids:
            raise ValueError(f"segment ID {segment_id!r} is used twice")
        seen_ids.add(segment_id)

    max_value = max(int(v) for v in segments)
    kept = _keep_labels(labels, [int(v) for v in segments])

    branch_by_id = {segment_id: branch for branch, segment_id in names.SEGMENT_IDS.items()}
    created: list[Any] = []
    try:
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
        created.append(node)
        node.CreateDefaultDisplayNodes()
        # The labels are in the reference volume's own coordinates: the segmentation (and the
        # labelmap it is imported from) go under the volume's transform first, otherwise the
        # geometry and the import would apply that transform once more.
        transform_id = reference_volume.GetTransformNodeID() if reference_volume is not None else None
        node.SetAndObserveTransformNodeID(transform_id)
        if reference_volume is not None:
            node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
        segmentation = node.GetSegmentation()
        # Segments made beforehand keep their ID, name, colour and terminology: the import
        # below only fills in their voxels (label value n -> n-th entry of the ID list).
        ids_by_value = vtkStringArray()
        ids_by_value.SetNumberOfValues(max_value)
        for n in range(max_value):
            ids_by_value.SetValue(n, "")
        for value, (segment_id, segment_name, color) in segments.items():
            segment = slicer.vtkSegment()
            segment.SetName(segment_name)
            segment.SetColor(*check_color(color))
            if segment_id in branch_by_id:
                set_vein_terminology(segment, branch_by_id[segment_id])
            segmentation.AddSegment(segment, segment_id)
            ids_by_value.SetValue(int(value) - 1, segment_id)

        label_node = add_volume_from_array(scene, kept, m, f"{name} import", labelmap=True)
        created.append(label_node)
        label_node.SetAndObserveTransformNodeID(transform_id)
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
            label_node, node, ids_by_value
        )
        if not ok:
            raise RuntimeError(f"importing the labelmap into segmentation {name!r} failed")
        if reference_volume is None:
            # The import sets no reference geometry; the labels' own geometry is the natural one
            # (Slicer uses it to rasterize edits and other representations).
            geometry = slicer.vtkSegmentationConverter.SerializeImageGeometry(
                vtk_matrix(m), label_node.GetImageData()
            )
            segmentation.SetConversionParameter(
                slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(), geometry
            )
        remove_nodes(scene, [label_node])
        created.remove(label_node)
    except Exception:
        remove_nodes(scene, created)
        raise
    return node


def _keep_labels(labels: np.ndarray, values: list[int]) -> np.ndarray:
    """The label array with every value not in ``values`` set to 0 (uint8, or uint16 if needed).

    One lookup-table pass instead of one comparison pass per label, which matters for
    TotalSegmentator-style maps with a hundred labels on a 512x512x400 grid.
    """
    top = max(values)
    out_type = np.uint8 if top < 256 else np.uint16
    if sorted(values) == list(range(1, top + 1)) and labels.dtype.kind in "ui":
        # The vein labels 1..n: one comparison and a product, several times faster than the
        # table's gather on a large label map (0.28 s on 512 x 512 x 400).
        kept = (labels >= 1) & (labels <= top) if labels.dtype.kind == "i" else labels <= top
        return (labels * kept).astype(out_type, copy=False)
    if labels.dtype.kind == "u" and labels.dtype.itemsize <= 2:
        # Every value of the type is in the table: no min/max passes over the volume.
        low, high = 0, int(np.iinfo(labels.dtype).max)
    else:
        low, high = int(labels.min()), int(labels.max())
    if low >= 0 and high <= 65535:
        lut = np.zeros(max(top, high) + 1, dtype=out_type)
        lut[values] = values
        return lut[labels]
    # Negative or huge label values: look up only the voxels the table covers.
    lut = np.zeros(top + 1, dtype=out_type)
    lut[values] = values
    inside = (labels >= 0) & (labels <= top)
    kept = np.zeros(labels.shape, dtype=out_type)
    kept[inside] = lut[labels[inside]]
    return kept


def vein_segments() -> dict[int, tuple[str, str, Sequence[float]]]:
    """Label value -> (segment ID, display name, colour) of the three vein segments."""
    return {
        names.VEIN_LABELS[b]: (names.SEGMENT_IDS[b], names.BRANCH_TITLES[b], names.SEGMENT_COLORS[b])
        for b in names.BRANCHES
    }


def add_vein_segmentation(
    scene: Any,
    labels: np.ndarray,
    ijk_to_ras: np.ndarray,
    reference_volume: Any = None,
    name: str = "Veins",
) -> Any:
    """Segmentation node of vein labels (``segmentation.VeinSegmentation.labels``): segments
    ``inferior_vena_cava``, ``iliac_vena_left``, ``iliac_vena_right`` (SNOMED terminology) and,
    where there is an occluded stretch (label 4), ``occluded_vein``."""

    segments = vein_segments()
    if np.any(labels == names.OCCLUDED_LABEL):
        segments[names.OCCLUDED_LABEL] = (
            names.OCCLUDED_SEGMENT_ID,
            names.OCCLUDED_SEGMENT_NAME,
            names.OCCLUDED_COLOR,
        )
    return add_segmentation_from_labelmap(
        scene, labels, ijk_to_ras, segments, name, reference_volume=reference_volume
    )


def find_vein_segments(segmentation_node: Any, chosen: dict[str, str] | None = None) -> dict[str, str]:
    """Segment ID per branch: ``chosen`` (branch -> segment ID, as a user picked them) first,
    then by ID, then by terminology.

    :raises ValueError: naming a chosen segment that is not there, a segment chosen for two
        veins, or the veins that are not found.
    """

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


def found_vein_segments(segmentation_node: Any) -> dict[str, str]:
    """The vein segments :func:`find_vein_segments` finds by ID or terminology, or none when the
    segmentation node (or None) lacks one of the veins: what a segment picker starts with."""
    if segmentation_node is None:
        return {}
    try:
        return find_vein_segments(segmentation_node)
    except ValueError:
        return {}  # not a segmentation of these veins


def first_vein_segmentation(scene: Any) -> Any:
    """The first segmentation node of ``scene`` that has the IVC and both common iliac veins
    (by segment ID or terminology, :func:`find_vein_segments`), or None."""
    for n in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")):
        node = scene.GetNthNodeByClass(n, "vtkMRMLSegmentationNode")
        if found_vein_segments(node):
            return node
    return None


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

    found = find_vein_segments(segmentation_node, chosen)
    scene = segmentation_node.GetScene()
    ids = vtkStringArray()
    for branch in names.BRANCHES:  # the export numbers segments 1, 2, 3 in this order
        ids.InsertNextValue(found[branch])
    if segmentation_node.GetSegmentation().GetSegment(names.OCCLUDED_SEGMENT_ID) is not None:
        ids.InsertNextValue(names.OCCLUDED_SEGMENT_ID)  # label 4
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


def read_segmentation_file(scene: Any, path: str | Path, segments: bool = False):
    """The pipeline's vein labels (with ``names.OCCLUDED_LABEL`` for an occluded stretch) and
    their IJK-to-RAS matrix from a Slicer ``.seg.nrrd`` (and, with ``segments``, the segment ID
    used per branch). The file is read into a temporary node, removed again: the scene is left
    as it was.

    :raises ValueError: when the file is missing or unreadable, or has no vein segments.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist: give a Slicer .seg.nrrd or a label map file")
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "given segmentation")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    try:
        if not storage.ReadData(node):
            raise ValueError(
                f"cannot read the segmentation {path}: give a Slicer .seg.nrrd or a label map file"
            )
        labels, ijk_to_ras, found = vein_labels_from_segmentation(node)
    finally:
        remove_nodes(scene, [node, storage])
    return (labels, ijk_to_ras, found) if segments else (labels, ijk_to_ras)

"""DICOM outputs of a plan made from a DICOM series: ``DIR/dicom/veins_seg.dcm`` (the veins as
a DICOM Segmentation) and ``DIR/dicom/plan_sr.dcm`` (the plan as a TID 1500 Structured Report).

Both are new series of the source series' study, for the same patient (identifiers copied from
the source: that is what lets a PACS file them with the CT), in its frame of reference. The one
entry point, :func:`write_dicom_outputs`, takes the source slices (pydicom datasets), a label map
and plan.json's dict, so that ``ivc-plan`` (which knows the folder it read) and the Slicer module
(whose DICOM database knows the volume's files) write the same files. ``write_output_folder``
calls :func:`write_dicom_folder` when the input was a DICOM series.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import names

if TYPE_CHECKING:
    from ..pipeline import PipelineResult

DICOM_FOLDER = "dicom"
SEG_FILE = "veins_seg.dcm"
SR_FILE = "plan_sr.dcm"


def read_source_datasets(files: Sequence[str | Path]) -> list[Any]:
    """The headers of a series' files (pixel data is not needed for the SEG and SR).

    :raises ValueError: for a file that is not DICOM.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    datasets = []
    for path in files:
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except (InvalidDicomError, OSError) as exc:
            raise ValueError(f"cannot read {path} as DICOM: {exc}") from exc
        # Some anonymisers empty the SOP class and instance UIDs of the data set and leave them in
        # the file meta: the SEG and SR must reference them, so take them from there.
        meta = getattr(ds, "file_meta", None)
        for attribute, kept in (
            ("SOPClassUID", "MediaStorageSOPClassUID"),
            ("SOPInstanceUID", "MediaStorageSOPInstanceUID"),
        ):
            if not str(ds.get(attribute, "") or "") and meta is not None and kept in meta:
                setattr(ds, attribute, meta[kept].value)
        datasets.append(ds)
    return datasets


def write_dicom_outputs(
    source: Sequence[Any],
    labels_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    plan: dict,
    out: str | Path,
    *,
    seeded: bool = True,
    modality: str = "CT",
    plan_to_source: np.ndarray | None = None,
) -> list[Path]:
    """Write the SEG of ``labels_kji`` (the pipeline's values, any grid: taken onto the source
    slices by position) and the SR of ``plan`` (plan.json's dict) into the folder ``out``;
    return the two files.

    :param source: the source series' datasets (any order; headers suffice).
    :param plan_to_source: see ``dicom_sr.build_sr``.
    :raises ValueError: when the source is not one image series or the veins are not on it.
    :raises ImportError: when highdicom is missing (the message says how to install it).
    """
    from .. import __version__
    from .dicom_seg import build_seg, require_highdicom, sort_slices
    from .dicom_sr import build_sr
    from .dicom_stack import save_dicom

    require_highdicom()
    slices = sort_slices(list(source))
    seg = build_seg(slices, labels_kji, ijk_to_ras, software_version=__version__, seeded=seeded)
    sr = build_sr(
        plan, slices, seg, software_version=__version__, modality=modality, plan_to_source=plan_to_source
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_dicom(seg, out / SEG_FILE)
    save_dicom(sr, out / SR_FILE)
    return [out / SEG_FILE, out / SR_FILE]


def seg_labels_of(result: PipelineResult) -> tuple[np.ndarray, np.ndarray]:
    """The label map the SEG is written from, and its geometry: the veins (1-3) with an
    occluded stretch (4) where the segmentation marked one, i.e. the segmentation as
    segmentation.seg.nrrd holds it (veins_labels.nii.gz is the same with the stretch filled)."""
    if result.segmentation is not None:  # segmented here from seeds
        return result.segmentation.labels, np.asarray(result.segmentation.ijk_to_ras, dtype=float)
    node = result.nodes.segmentation
    if node is not None and node.GetSegmentation().GetSegment(names.OCCLUDED_SEGMENT_ID) is not None:
        from ..scene.segmentation_nodes import vein_labels_from_segmentation

        labels, ijk_to_ras, _ = vein_labels_from_segmentation(node)
        return labels, ijk_to_ras
    return result.measured.labels, np.asarray(result.measured.labels_ijk_to_ras, dtype=float)


def write_dicom_folder(
    result: PipelineResult,
    out: str | Path,
    source: Sequence[Any] | None = None,
    plan_to_source: np.ndarray | None = None,
) -> list[Path]:
    """``write_dicom_outputs`` for a pipeline result whose input was a DICOM series
    (``result.dicom_files``, or the datasets ``source``) into ``out``. ``plan_to_source`` maps
    the plan's (the segmentation's) RAS coordinates to the source volume's when they differ."""
    from ..names import Modality

    if source is None:
        if not result.dicom_files:
            raise ValueError(
                "the plan was not made from a DICOM series: there is no series to write DICOM for"
            )
        source = read_source_datasets(result.dicom_files)
    labels, ijk_to_ras = seg_labels_of(result)
    if plan_to_source is not None:
        ijk_to_ras = np.asarray(plan_to_source, dtype=float) @ ijk_to_ras
    return write_dicom_outputs(
        source,
        labels,
        ijk_to_ras,
        result.plan.to_json(),
        out,
        seeded=result.origin.source is names.VeinSource.SEEDS,
        modality="MR" if result.modality is Modality.MR else "CT",
        plan_to_source=plan_to_source,
    )

"""The veins as a DICOM Segmentation (SEG) of the series they were planned from.

One segment per vein (IDs and SNOMED CT codes of architecture section 4, ``names.SNOMED``) and
one for an occluded stretch where the segmentation marked one (``names.OCCLUDED_LABEL``), on
the source series' own slices: each SEG frame is one source slice, so the SEG shares the
series' frame of reference and a PACS viewer overlays it on the CT. The label map is taken
onto the slices by physical position (nearest voxel), so any label grid works; on the grid the
series was read into (the usual case) that is an exact copy of the voxels.

highdicom builds the dataset (``require_highdicom`` says how to get it when it is missing,
``highdicom_available`` whether it is there; ``dicom_stack`` which release goes with which pydicom).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import names

# What the SEG and the SR say made them.
MANUFACTURER = "IVCReconstruction"
SEG_SERIES_NUMBER = 9701
SR_SERIES_NUMBER = 9702
HIGHDICOM_MISSING = (
    "writing DICOM needs the Python package highdicom, which is not installed: "
    "install it with `pip install {arguments}` (in 3D Slicer: the module's Export to DICOM button "
    "offers to install it)"
)


def highdicom_available() -> bool:
    """Whether highdicom can be imported (3D Slicer does not bundle it)."""
    try:
        import highdicom  # noqa: F401 - only whether it imports
    except ImportError:
        return False
    return True


def require_highdicom():
    """The highdicom module. :raises ImportError: with how to install it, when it is missing."""
    from .dicom_stack import highdicom_install_arguments, numpy_view_for_highdicom

    try:
        import highdicom
    except ImportError as exc:
        try:  # the release for the pydicom installed, which the pins keep
            arguments = " ".join(highdicom_install_arguments())
        except ValueError:
            arguments = "highdicom"
        raise ImportError(HIGHDICOM_MISSING.format(arguments=arguments)) from exc
    numpy_view_for_highdicom(highdicom)  # highdicom 0.22.0 (for pydicom 2) on numpy 2
    return highdicom


# ---------------------------------------------------------------------------------------------
# Slices of the source series and a label map on them


def sort_slices(datasets: Sequence[Any]) -> list[Any]:
    """The slices of one series in order along their normal.

    :raises ValueError: when they are not one series of parallel slices of one size (what a
        SEG can be written on), or hold no image geometry.
    """
    if not datasets:
        raise ValueError("no DICOM slices were given to write a segmentation on")
    first = datasets[0]
    for attribute in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows"):
        if attribute not in first:
            raise ValueError(f"the DICOM slices have no {attribute}: they are not a 3D image series")
    series = {str(ds.SeriesInstanceUID) for ds in datasets}
    if len(series) != 1:
        raise ValueError(
            f"the DICOM slices are of {len(series)} series; give the one series that was planned"
        )
    orientation = np.asarray(first.ImageOrientationPatient, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    for ds in datasets:
        if not np.allclose(np.asarray(ds.ImageOrientationPatient, dtype=float), orientation, atol=1e-4):
            raise ValueError("the DICOM slices are not parallel (their orientations differ)")
        if (ds.Rows, ds.Columns) != (first.Rows, first.Columns):
            raise ValueError("the DICOM slices differ in size")
    return sorted(
        datasets, key=lambda ds: float(np.dot(np.asarray(ds.ImagePositionPatient, dtype=float), normal))
    )


def slice_geometry(ds: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RAS position of a slice's first pixel and the RAS steps of one column (x) and one row (y)."""
    ras = np.array([-1.0, -1.0, 1.0])  # DICOM patient coordinates are LPS
    orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
    row_spacing, column_spacing = (float(v) for v in ds.PixelSpacing)
    origin = np.asarray(ds.ImagePositionPatient, dtype=float) * ras
    return origin, orientation[:3] * column_spacing * ras, orientation[3:] * row_spacing * ras


def _run(values: np.ndarray) -> slice:
    """The slice of an arithmetic run of indices with step +1 or -1."""
    step = 1 if len(values) < 2 else int(values[1] - values[0])
    stop = int(values[-1]) + step
    return slice(int(values[0]), None if stop < 0 else stop, step)


def _axis_step(vector: np.ndarray, tol: float = 1e-4) -> tuple[int, int] | None:
    """(axis, +1/-1) when a step in index space is one voxel along one axis, else None."""
    axis = int(np.argmax(np.abs(vector)))
    unit = np.zeros(3)
    unit[axis] = np.sign(vector[axis])
    return (axis, int(unit[axis])) if np.allclose(vector, unit, atol=tol) else None


def labels_on_slices(labels_kji: np.ndarray, ijk_to_ras: np.ndarray, slices: Sequence[Any]) -> np.ndarray:
    """The label map's values at the pixel centres of each slice (nearest voxel; 0 outside),
    as an array (slice, row, column) of the label map's type."""
    labels_kji = np.asarray(labels_kji)
    ras_to_ijk = np.linalg.inv(np.asarray(ijk_to_ras, dtype=float))
    shape_ijk = np.array(labels_kji.shape[::-1])
    rows, columns = int(slices[0].Rows), int(slices[0].Columns)
    out = np.zeros((len(slices), rows, columns), dtype=labels_kji.dtype)
    for n, ds in enumerate(slices):
        origin, step_x, step_y = slice_geometry(ds)
        o = ras_to_ijk[:3, :3] @ origin + ras_to_ijk[:3, 3]
        u, v = ras_to_ijk[:3, :3] @ step_x, ras_to_ijk[:3, :3] @ step_y
        along_x, along_y = _axis_step(u), _axis_step(v)
        rounded = np.rint(o)
        if along_x and along_y and along_x[0] != along_y[0] and np.allclose(o, rounded, atol=1e-3):
            # The slice is a plane of the label grid (the usual case): index it directly.
            (ax, sx), (ay, sy) = along_x, along_y
            (plane_axis,) = {0, 1, 2} - {ax, ay}
            plane = int(rounded[plane_axis])
            if not 0 <= plane < shape_ijk[plane_axis]:
                continue
            x = int(rounded[ax]) + sx * np.arange(columns)
            y = int(rounded[ay]) + sy * np.arange(rows)
            ok_x, ok_y = (x >= 0) & (x < shape_ijk[ax]), (y >= 0) & (y < shape_ijk[ay])
            if not (ok_x.any() and ok_y.any()):
                continue
            # The label array is [k, j, i]; the frame [row (y), column (x)]. Both index runs are
            # arithmetic, so the block is a strided view of one k-, j- or i-plane.
            index: list[Any] = [None, None, None]  # per axis i, j, k
            index[plane_axis], index[ax], index[ay] = plane, _run(x[ok_x]), _run(y[ok_y])
            block = labels_kji[index[2], index[1], index[0]]
            if ax > ay:  # the view's axes follow the array's (k, j, i): (x, y) when x is the slower one
                block = block.T
            columns_ok, rows_ok = np.flatnonzero(ok_x), np.flatnonzero(ok_y)
            out[n, rows_ok[0] : rows_ok[-1] + 1, columns_ok[0] : columns_ok[-1] + 1] = block
        else:
            yy, xx = np.mgrid[0:rows, 0:columns]
            ijk = np.rint(o[:, None, None] + u[:, None, None] * xx + v[:, None, None] * yy).astype(np.int64)
            ok = np.all((ijk >= 0) & (ijk < shape_ijk[:, None, None]), axis=0)
            out[n][ok] = labels_kji[ijk[2][ok], ijk[1][ok], ijk[0][ok]]
    return out


# ---------------------------------------------------------------------------------------------
# The SEG


@dataclass(frozen=True)
class SegmentSpec:
    """One segment of the SEG: the label value it is made of, its ID and name, its codes."""

    value: int
    segment_id: str  # names.SEGMENT_IDS / OCCLUDED_SEGMENT_ID: the SEG's tracking ID
    label: str  # what a viewer shows
    category: tuple[str, str]
    type: tuple[str, str]
    laterality: tuple[str, str] | None = None


def vein_segment_specs() -> list[SegmentSpec]:
    """The segments of the pipeline's label values (1-3 veins, 4 occluded stretch)."""
    specs = []
    for branch, value in names.VEIN_LABELS.items():
        anatomy, laterality = names.SNOMED[branch]
        specs.append(
            SegmentSpec(
                value,
                names.SEGMENT_IDS[branch],
                names.BRANCH_TITLES[branch],
                names.SNOMED_ANATOMICAL_STRUCTURE,
                anatomy,
                laterality,
            )
        )
    specs.append(
        SegmentSpec(
            names.OCCLUDED_LABEL,
            names.OCCLUDED_SEGMENT_ID,
            names.OCCLUDED_SEGMENT_NAME,
            names.SNOMED_MORPHOLOGICALLY_ABNORMAL,
            names.SNOMED_OCCLUSION,
        )
    )
    return specs


def _code(hd, pair: tuple[str, str]):
    return hd.sr.CodedConcept(pair[0], "SCT", pair[1])


def build_seg(
    slices: Sequence[Any],
    labels_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    *,
    software_version: str,
    seeded: bool = True,
) -> Any:
    """A DICOM SEG (pydicom dataset) of a label map of the pipeline's values on the slices of
    its source series (``sort_slices`` order); patient, study and frame of reference are the
    series'. ``seeded``: the veins were segmented here from seed points (semi-automatic), else
    they came from a segmentation given (automatic as far as this SEG knows).

    :raises ValueError: when the label map has no vein voxel on the series' slices.
    :raises ImportError: when highdicom is missing.
    """
    hd = require_highdicom()
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    frames = labels_on_slices(np.asarray(labels_kji, dtype=np.uint8), ijk_to_ras, slices)
    present = np.bincount(frames.ravel(), minlength=256)
    specs = [s for s in vein_segment_specs() if present[s.value]]
    if not any(s.value in names.VEIN_LABELS.values() for s in specs):
        raise ValueError("the vein segmentation does not overlap the DICOM series it should be written on")
    # Segment numbers 1..n in label order (the label values themselves when all are present);
    # other values are not segments.
    lookup = np.zeros(256, dtype=np.uint8)
    for number, spec in enumerate(specs, start=1):
        lookup[spec.value] = number
    numbered = lookup[frames]
    algorithm = hd.AlgorithmIdentificationSequence(
        name=MANUFACTURER,
        family=codes.cid7162.MorphologicalOperations,
        version=software_version,
    )
    descriptions = []
    for number, spec in enumerate(specs, start=1):
        description = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=spec.label,
            segmented_property_category=_code(hd, spec.category),
            segmented_property_type=_code(hd, spec.type),
            algorithm_type="SEMIAUTOMATIC" if seeded else "AUTOMATIC",
            algorithm_identification=algorithm,
            tracking_uid=generate_uid(),
            tracking_id=spec.segment_id,
            # An occluded stretch is an occlusion in a vein.
            anatomic_regions=[_code(hd, names.SNOMED_VEIN)] if spec.value == names.OCCLUDED_LABEL else None,
        )
        if spec.laterality is not None:
            # The side goes with the property type, as Slicer and dcmqi read it.
            description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                _code(hd, spec.laterality)
            ]
        descriptions.append(description)
    seg = hd.seg.Segmentation(
        source_images=list(slices),
        pixel_array=numbered,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=software_version,
        device_serial_number="0",
        content_label="VEINS",
        content_description="IVC and iliac veins (research use only)",
        series_description="IVC and iliac veins (research use only)",
    )
    return seg


def read_seg_labels(seg: Any, slices: Sequence[Any]) -> np.ndarray:
    """A SEG read back as label values of the pipeline (1-3 veins, 4 occluded) on the source
    slices given (``sort_slices`` order): array (slice, row, column) uint8. Segments are known
    by their tracking ID (the segment IDs), so the SEG's own numbering does not matter."""
    hd = require_highdicom()
    if not isinstance(seg, hd.seg.Segmentation):
        seg = hd.seg.Segmentation.from_dataset(seg)
    value_of = {s.segment_id: s.value for s in vein_segment_specs()}
    uids = [str(ds.SOPInstanceUID) for ds in slices]
    out = np.zeros((len(slices), int(slices[0].Rows), int(slices[0].Columns)), dtype=np.uint8)
    for description in seg.SegmentSequence:
        value = value_of.get(str(description.TrackingID))
        if value is None:
            continue
        masks = seg.get_pixels_by_source_instance(
            uids, segment_numbers=[int(description.SegmentNumber)], skip_overlap_checks=True
        )
        out[masks[..., 0] > 0] = value
    return out

"""CT, non-contrast CT or MR, from the image and the vein voxels, whatever grid the veins are on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from IVCReconstructionLib.names import Modality
from IVCReconstructionLib.segment.checks import modality_of
from IVCReconstructionLib.segment.existing import labels_from_label_map

REAL_CT = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalseg-example"


def cropped(labels: np.ndarray, ijk_to_ras: np.ndarray, margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The label map cropped to its non-zero voxels (as a segmentation exports it), and its matrix."""
    nz = np.argwhere(labels > 0)
    lo = np.maximum(nz.min(axis=0) - margin, 0)
    hi = nz.max(axis=0) + margin + 1
    shift = np.eye(4)
    shift[:3, 3] = lo[::-1]
    return labels[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], ijk_to_ras @ shift


def test_a_contrast_phantom_is_ct_on_any_grid(phantom_of):
    ph = phantom_of(spacing_mm=2.0)
    veins = np.where(np.isin(ph.labels, (1, 2, 3)), ph.labels, 0)
    assert modality_of(ph.image, ph.ijk_to_ras) is Modality.CT
    assert modality_of(ph.image, ph.ijk_to_ras, veins, ph.ijk_to_ras) is Modality.CT
    assert modality_of(ph.image, ph.ijk_to_ras, *cropped(veins, ph.ijk_to_ras)) is Modality.CT
    # The same veins without contrast: found whether the labels share the grid or not.
    plain = ph.image.copy()
    plain[veins > 0] = 45
    assert modality_of(plain, ph.ijk_to_ras, veins, ph.ijk_to_ras) is Modality.NONCONTRAST_CT
    assert modality_of(plain, ph.ijk_to_ras, *cropped(veins, ph.ijk_to_ras)) is Modality.NONCONTRAST_CT
    # Bright-blood MR has no negative values.
    mr = (ph.image.astype(np.float32) + 1100.0) / 4.0
    assert modality_of(mr, ph.ijk_to_ras, *cropped(veins, ph.ijk_to_ras)) is Modality.MR


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CT.is_dir(), reason=f"real CT not found at {REAL_CT}")
def test_the_real_non_contrast_ct_with_its_segmentation_cropped():
    from IVCReconstructionLib.inputs.volumes import read_volume

    image, m = read_volume(REAL_CT / "ct.nii.gz")
    raw, m_labels = read_volume(REAL_CT / "labels.nii.gz")
    veins = labels_from_label_map(raw, {"ivc": 63, "left_iliac": 67, "right_iliac": 68})
    assert modality_of(image, m) is Modality.CT  # the image alone looks like any CT
    assert modality_of(image, m, *cropped(veins, m_labels)) is Modality.NONCONTRAST_CT

"""A volume written as a DICOM CT series (one file per slice), as a scanner would send it.

For tests and demonstrations of the DICOM path (``ivc-plan plan --volume FOLDER`` and the
DICOM outputs written from it): the slices share one study, series and frame of reference,
carry their own position and orientation, and name a made-up patient (the identifiers that
DICOM outputs must copy from their source). SimpleITK writes the files; voxels are stored as
16-bit integers (HU rounded), the geometry is exactly the volume's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..inputs.volumes import LPS_TO_RAS

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

# A made-up patient and study: what a hospital's series would carry (and report.html must not).
PHANTOM_PATIENT = {
    "0010|0010": "Phantom^Venogram",  # Patient's Name
    "0010|0020": "IVC-PHANTOM-0001",  # Patient ID
    "0010|0030": "19700101",  # Patient's Birth Date
    "0010|0040": "O",  # Patient's Sex
    "0008|0050": "ACC0001",  # Accession Number
    "0020|0010": "STUDY1",  # Study ID
    "0008|1030": "CT venogram phantom",  # Study Description
    "0008|0020": "20240101",  # Study Date
    "0008|0030": "120000",  # Study Time
    "0008|0090": "",  # Referring Physician's Name
}


def write_dicom_series(
    image_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    folder: str | Path,
    *,
    series_description: str = "CT venogram (phantom)",
    patient: dict[str, str] | None = None,
) -> list[Path]:
    """Write a volume (voxels [k, j, i], IJK-to-RAS matrix) as a CT series of one file per
    slice k into ``folder`` (created); return the files in slice order."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias
    from pydicom.uid import generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    m = LPS_TO_RAS @ np.asarray(ijk_to_ras, dtype=float)  # IJK -> LPS (LPS_TO_RAS is its own inverse)
    spacing = np.linalg.norm(m[:3, :3], axis=0)
    direction = m[:3, :3] / spacing
    voxels = np.clip(np.rint(image_kji), -32768, 32767).astype(np.int16)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    orientation = "\\".join(f"{c:.10g}" for c in (*direction[:, 0], *direction[:, 1]))
    common = {
        **PHANTOM_PATIENT,
        **(patient or {}),
        "0008|0016": CT_IMAGE_STORAGE,
        "0008|0060": "CT",
        "0008|0070": "IVCReconstruction phantom",  # Manufacturer
        "0008|103e": series_description,
        "0020|000d": study,
        "0020|000e": series,
        "0020|0011": "1",  # Series Number
        "0020|0052": frame,
        "0020|1040": "",  # Position Reference Indicator
        "0020|0037": orientation,
        "0028|0030": f"{spacing[1]:.10g}\\{spacing[0]:.10g}",  # row spacing \ column spacing
        "0018|0050": f"{spacing[2]:.10g}",  # Slice Thickness
        "0018|0060": "120",  # KVP
        "0028|1050": "40",  # Window Center
        "0028|1051": "400",  # Window Width
        "0028|1052": "0",  # Rescale Intercept
        "0028|1053": "1",  # Rescale Slope
        "0028|1054": "HU",  # Rescale Type
    }
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    files = []
    for k in range(voxels.shape[0]):
        position = m @ np.array([0.0, 0.0, k, 1.0])
        slice_image = sitk.GetImageFromArray(voxels[k : k + 1])
        slice_image.SetSpacing([float(s) for s in spacing])
        slice_image.SetDirection([float(c) for c in direction.ravel()])
        slice_image.SetOrigin([float(c) for c in position[:3]])
        tags = {
            **common,
            "0008|0018": generate_uid(),
            "0020|0013": str(k + 1),  # Instance Number
            "0020|0032": "\\".join(f"{c:.10g}" for c in position[:3]),
        }
        for tag, value in tags.items():
            slice_image.SetMetaData(tag, value)
        path = folder / f"slice{k + 1:04d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(slice_image)
        files.append(path)
    return files

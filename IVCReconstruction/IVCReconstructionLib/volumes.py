"""Reading volumes from files: NIfTI, NRRD, MetaImage or a DICOM folder, into RAS.

SimpleITK (like NIfTI's and DICOM's own conventions) works in LPS; the library works in
Slicer's RAS. The one conversion between them is here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def sitk_ijk_to_ras(image) -> np.ndarray:
    """4x4 matrix mapping (i, j, k, 1) of a SimpleITK image to RAS millimetres."""
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    m = np.eye(4)
    m[:3, :3] = direction @ np.diag(image.GetSpacing())
    m[:3, 3] = image.GetOrigin()
    return LPS_TO_RAS @ m


def read_volume(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Voxels indexed [k, j, i] and the 4x4 IJK-to-RAS matrix of an image file or DICOM folder.

    A DICOM folder may hold several series: the one with the most slices is read.
    :raises ValueError: when the path does not exist or holds no readable 3D image.
    """
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    path = Path(path)
    if not path.exists():
        raise ValueError(
            f"{path} does not exist: give an image file (.nii.gz, .nrrd, .mha) or a DICOM folder"
        )
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            series = reader.GetGDCMSeriesIDs(str(path))
            if not series:
                raise ValueError(
                    f"{path} holds no DICOM series: give a folder of DICOM slices or an image file"
                )
            files = max((reader.GetGDCMSeriesFileNames(str(path), s) for s in series), key=len)
            reader.SetFileNames(files)
            image = reader.Execute()
        else:
            image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ValueError(f"cannot read {path} as an image: {str(exc).strip().splitlines()[-1]}") from exc
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"{path.name} is not a 3D single-channel volume (dimension {image.GetDimension()}, "
            f"{image.GetNumberOfComponentsPerPixel()} components): give a CT or MR volume"
        )
    return sitk.GetArrayFromImage(image), sitk_ijk_to_ras(image)

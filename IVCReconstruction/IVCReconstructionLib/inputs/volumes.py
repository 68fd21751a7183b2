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


def _series_summary(reader_cls, files: list[str]) -> str:
    """One line about a DICOM series from its first file: modality, description, slice count.
    Only acquisition facts: names, IDs and dates are not read."""
    info = reader_cls()
    info.SetFileName(files[0])
    try:
        info.ReadImageInformation()
        tags = {k: info.GetMetaData(k).strip() for k in ("0008|0060", "0008|103e") if info.HasMetaDataKey(k)}
    except RuntimeError:
        tags = {}
    parts = [tags.get("0008|0060", "?"), f"{len(files)} files"]
    if tags.get("0008|103e"):
        parts.insert(1, repr(tags["0008|103e"]))
    return ", ".join(parts)


# The name of the files of a DICOM folder that have no series instance UID (GDCM groups them
# into one series with an empty UID): listed under it, and ``--series no-uid`` picks them.
NO_UID_SERIES = "no-uid"


def dicom_series(folder: str | Path) -> dict[str, list[str]]:
    """The DICOM series in a folder: series instance UID -> its files in slice order (files
    without a UID under ``NO_UID_SERIES``)."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    reader = sitk.ImageSeriesReader()
    return {
        (uid.strip().strip("\0") or NO_UID_SERIES): list(reader.GetGDCMSeriesFileNames(str(folder), uid))
        for uid in reader.GetGDCMSeriesIDs(str(folder))
    }


def series_files(folder: str | Path, series: str | None = None) -> list[Path]:
    """The files of the DICOM series that :func:`read_volume` reads from a folder (the one
    series, or ``series``), in slice order; empty when there is none."""
    found = dicom_series(folder)
    files = found.get(series, []) if series else next(iter(found.values()), [])
    return [Path(f) for f in files]


def read_volume(path: str | Path, series: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Voxels indexed [k, j, i] and the 4x4 IJK-to-RAS matrix of an image file or DICOM folder.

    A DICOM folder must hold one series, or ``series`` names the one to read (its series
    instance UID, or ``NO_UID_SERIES`` for files without one).
    :raises ValueError: when the path does not exist, holds no readable 3D image, or a folder
        holds several series and none was chosen (the message lists them).
    """
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    path = Path(path)
    if not path.exists():
        raise ValueError(
            f"{path} does not exist: give an image file (.nii.gz, .nrrd, .mha) or a DICOM folder"
        )
    try:
        if path.is_dir():
            found = dicom_series(path)
            if not found:
                raise ValueError(
                    f"{path} holds no DICOM series: give a folder of DICOM slices or an image file"
                )
            if series is not None and series not in found:
                raise ValueError(f"{path} has no series {series}; it holds {', '.join(found)}")
            if series is None and len(found) > 1:
                listing = "; ".join(
                    f"{uid} ({_series_summary(sitk.ImageFileReader, files)})" for uid, files in found.items()
                )
                no_uid = (
                    f" (--series {NO_UID_SERIES} for the files without a UID)"
                    if NO_UID_SERIES in found
                    else ""
                )
                raise ValueError(
                    f"{path} holds {len(found)} DICOM series: choose one with --series UID{no_uid} "
                    f"(or give a folder with only that series): {listing}"
                )
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames(found[series] if series else next(iter(found.values())))
            image = reader.Execute()
        else:
            if series is not None:
                raise ValueError(f"--series applies to a DICOM folder, and {path.name} is a file")
            image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ValueError(f"cannot read {path} as an image: {str(exc).strip().splitlines()[-1]}") from exc
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"{path.name} is not a 3D single-channel volume (dimension {image.GetDimension()}, "
            f"{image.GetNumberOfComponentsPerPixel()} components): give a CT or MR volume"
        )
    return sitk.GetArrayFromImage(image), sitk_ijk_to_ras(image)


def describe_volume(path: str | Path, image: np.ndarray, ijk_to_ras: np.ndarray) -> dict:
    """What a report may say about an input volume: its kind of file, size, spacing and
    intensity range. No file name, path, date or DICOM patient data (no identifiers)."""
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        kind = "DICOM series"
    elif name.endswith((".nii", ".nii.gz")):
        kind = "NIfTI"
    elif name.endswith((".nrrd", ".nhdr")):
        kind = "NRRD"
    elif name.endswith((".mha", ".mhd")):
        kind = "MetaImage"
    else:
        kind = "image file"
    spacing = np.linalg.norm(np.asarray(ijk_to_ras)[:3, :3], axis=0)
    return {
        "format": kind,
        "size_ijk": [int(n) for n in image.shape[::-1]],
        "spacing_mm": [round(float(s), 3) for s in spacing],
        "intensity_range": [float(np.min(image)), float(np.max(image))],
    }

"""Which highdicom to install beside the pydicom that is there, and the few calls where the
pydicom and highdicom releases the DICOM outputs run on differ.

3D Slicer bundles its own DICOM stack, and its DICOM module runs on it, so the module must
never replace it. Slicer 5.10 has pydicom 2.4.4 (with numpy 2.0.2 and pillow 11.2.1) and no
highdicom; Slicer 5.12 has highdicom 0.27.0 on pydicom 3.0.2. highdicom 0.23 and later need
pydicom 3, so on pydicom 2 the newest one that installs without touching pydicom is 0.22.0;
on pydicom 3 it is the one requirements.txt pins (and the tests use), 0.28.2. The install
arguments also pin the installed pydicom, numpy and pillow: pip then fails with a message
rather than replace what Slicer runs on.

The DICOM writers use three things that differ between these stacks:
- writing a file in the DICOM file format: ``save_as(enforce_file_format=True)`` in pydicom 3,
  ``save_as(write_like_original=False)`` in pydicom 2 (:func:`save_dicom`);
- highdicom 0.22.0 was released before numpy 2 and names ``numpy.float_`` (removed in numpy
  2.0) whenever it builds a SEG: :func:`numpy_view_for_highdicom` gives that one module of
  highdicom a view of numpy with the old name (numpy itself is left as it is);
- highdicom 0.22.0 lists the evidence that the content tree does not reference item by item
  (the source slices) as Pertinent Other Evidence; 0.23 and later list every instance of the
  SR's own study as Current Requested Procedure Evidence, as the SR Document General module of
  DICOM PS3.3 defines them (Pertinent Other Evidence is for other procedures' instances):
  :func:`own_study_evidence_as_current` makes 0.22.0's SR say the same;
- nothing else: the highdicom classes, arguments and readers the SEG and SR use are the same in
  0.22.0, 0.27.0 and 0.28.2 (docs/architecture.md section 3 records the round trips measured
  on each stack).
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# highdicom for each pydicom major version (see the module docstring).
HIGHDICOM_FOR_PYDICOM = {2: "0.22.0", 3: "0.28.2"}
# What Slicer's own modules run on, pinned at their installed versions during the install.
KEPT_PACKAGES = ("pydicom", "numpy", "pillow")


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution (``pip`` name), or None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, int, int]:
    """(major, minor, micro) of a version string such as "2.4.4", "0.22.0" or "3.1.0.dev0"."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", version.strip())
    if match is None:
        raise ValueError(f"not a version number: {version!r}")
    major, minor, micro = (int(part or 0) for part in match.groups())
    return major, minor, micro


def highdicom_requirement(pydicom_version: str | None) -> str:
    """The highdicom requirement that installs beside this pydicom without changing it
    (``"highdicom==0.22.0"`` for pydicom 2.x, ``"highdicom==0.28.2"`` for 3.x and later;
    None: no pydicom yet, so the 3.x one, which brings its own).

    :raises ValueError: for a pydicom that no highdicom release accepts (before 2.3, or 2.4.0,
        which highdicom 0.22.0 excludes).
    """
    if pydicom_version is None:
        return f"highdicom=={HIGHDICOM_FOR_PYDICOM[3]}"
    release = _release(pydicom_version)
    if release[:2] < (2, 3) or release == (2, 4, 0):
        raise ValueError(
            f"no highdicom release works with pydicom {pydicom_version}: "
            "update 3D Slicer (5.12 and later include highdicom)"
        )
    return f"highdicom=={HIGHDICOM_FOR_PYDICOM[2 if release[0] == 2 else 3]}"


def highdicom_install_arguments(installed: Mapping[str, str | None] | None = None) -> list[str]:
    """``pip install`` arguments for highdicom: its requirement for the installed pydicom, and
    ``==`` pins of the installed pydicom, numpy and pillow, so that pip fails rather than
    replace them.

    :param installed: installed version of each of ``KEPT_PACKAGES`` (None: not installed); by
        default read from the environment.
    """
    if installed is None:
        installed = {name: installed_version(name) for name in KEPT_PACKAGES}
    arguments = [highdicom_requirement(installed.get("pydicom"))]
    arguments += [f"{name}=={installed[name]}" for name in KEPT_PACKAGES if installed.get(name)]
    return arguments


def numpy_view_for_highdicom(hd: Any) -> None:
    """Let highdicom 0.22.0's SEG module run on numpy 2 (see the module docstring): its global
    ``np`` becomes a copy of numpy's namespace that also has ``float_`` (= float64, what the
    name meant). Does nothing for later highdicom releases and where the name exists (numpy 1,
    a module already given the view)."""
    import importlib

    import numpy

    if _release(hd.__version__)[:2] >= (0, 23):
        return
    sop = importlib.import_module(f"{hd.__name__}.seg.sop")
    current = getattr(sop, "np", None)
    if current is None or "float_" in vars(current):
        return
    view = types.ModuleType(numpy.__name__, numpy.__doc__)
    view.__dict__.update(vars(numpy))
    view.float_ = numpy.float64
    sop.np = view


def save_dicom(dataset: Any, path: str | Path) -> None:
    """Write a dataset as a DICOM file (preamble, file meta) with pydicom 2 or 3."""
    import pydicom

    if _release(pydicom.__version__)[0] >= 3:
        dataset.save_as(path, enforce_file_format=True)
    else:
        dataset.save_as(str(path), write_like_original=False)


def own_study_evidence_as_current(sr: Any) -> None:
    """Move the SR's own study's instances from its Pertinent Other Evidence Sequence into its
    Current Requested Procedure Evidence Sequence (merged by series), where highdicom 0.23 and
    later put them (see the module docstring); other studies' instances stay. No change on
    those releases, where nothing of the own study is in Pertinent Other Evidence."""
    from pydicom.sequence import Sequence as DicomSequence

    other = sr.get("PertinentOtherEvidenceSequence")
    study = str(sr.StudyInstanceUID)
    if not other or all(str(item.StudyInstanceUID) != study for item in other):
        return
    current = sr.get("CurrentRequestedProcedureEvidenceSequence") or DicomSequence()
    kept = []
    for item in other:
        if str(item.StudyInstanceUID) != study:
            kept.append(item)
            continue
        target = next((c for c in current if str(c.StudyInstanceUID) == study), None)
        if target is None:
            current.append(item)
            continue
        for series in item.ReferencedSeriesSequence:
            uid = str(series.SeriesInstanceUID)
            same = next((s for s in target.ReferencedSeriesSequence if str(s.SeriesInstanceUID) == uid), None)
            if same is None:
                target.ReferencedSeriesSequence.append(series)
                continue
            listed = {str(i.ReferencedSOPInstanceUID) for i in same.ReferencedSOPSequence}
            same.ReferencedSOPSequence.extend(
                i for i in series.ReferencedSOPSequence if str(i.ReferencedSOPInstanceUID) not in listed
            )
    sr.CurrentRequestedProcedureEvidenceSequence = current
    if kept:
        sr.PertinentOtherEvidenceSequence = kept
    else:
        del sr.PertinentOtherEvidenceSequence

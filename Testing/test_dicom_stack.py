"""Which highdicom goes with which pydicom, and the pydicom 2 / highdicom 0.22 differences the
DICOM writers cover (``outputs.dicom_stack``).

The writers themselves run here on the venv's stack (pydicom 3.0.2, highdicom 0.28.2). On
Slicer 5.10's stack (pydicom 2.4.4, numpy 2.0.2, highdicom 0.22.0) and Slicer 5.12's (pydicom
3.0.2, highdicom 0.27.0) test_dicom_outputs.py, test_ivus.py and the module's Export to DICOM
self-test were run by hand in throwaway venvs (docs/architecture.md section 3: the commands and
results). What is checked here is what those runs depend on: the requirement chosen for each pydicom, the
pins that keep Slicer's packages, the file writing and the evidence lists.
"""

from __future__ import annotations

import re
import types
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("highdicom")

import pydicom
from pydicom.dataset import Dataset

from IVCReconstructionLib.outputs import dicom_stack
from IVCReconstructionLib.outputs.dicom_export import read_source_datasets
from IVCReconstructionLib.outputs.dicom_seg import build_seg, sort_slices
from IVCReconstructionLib.outputs.dicom_sr import build_sr
from IVCReconstructionLib.outputs.dicom_stack import (
    HIGHDICOM_FOR_PYDICOM,
    highdicom_install_arguments,
    highdicom_requirement,
    numpy_view_for_highdicom,
    own_study_evidence_as_current,
    save_dicom,
)
from IVCReconstructionLib.phantom.dicom_series import write_dicom_series

REQUIREMENTS = Path(__file__).resolve().parents[1] / "requirements.txt"
# What 3D Slicer 5.10.0 bundles (SuperBuild/External_python-dicom-requirements.cmake and
# External_python-numpy.cmake at v5.10.0).
SLICER_5_10 = {"pydicom": "2.4.4", "numpy": "2.0.2", "pillow": "11.2.1"}


@pytest.mark.parametrize(
    ("pydicom_version", "expected"),
    [
        ("2.4.4", "highdicom==0.22.0"),  # Slicer 5.10
        ("2.3.0", "highdicom==0.22.0"),
        ("2.4.3", "highdicom==0.22.0"),
        ("3.0.2", "highdicom==0.28.2"),  # Slicer 5.12 (which has highdicom 0.27.0 already)
        ("3.0.1", "highdicom==0.28.2"),
        ("3.1.0.dev0", "highdicom==0.28.2"),
        (None, "highdicom==0.28.2"),
    ],
)
def test_the_requirement_keeps_the_pydicom_installed(pydicom_version, expected):
    assert highdicom_requirement(pydicom_version) == expected


@pytest.mark.parametrize("pydicom_version", ["2.4.0", "2.2.2", "1.4.2"])
def test_a_pydicom_no_highdicom_accepts_is_a_clear_error(pydicom_version):
    # highdicom 0.22.0 requires pydicom >=2.3.0, !=2.4.0; later releases >=3.0.1.
    with pytest.raises(ValueError, match=f"no highdicom release works with pydicom {pydicom_version}"):
        highdicom_requirement(pydicom_version)


def test_the_install_pins_slicers_own_packages():
    assert highdicom_install_arguments(SLICER_5_10) == [
        "highdicom==0.22.0",
        "pydicom==2.4.4",
        "numpy==2.0.2",
        "pillow==11.2.1",
    ]
    # A package that is not there is not pinned (pip may bring it).
    assert highdicom_install_arguments({"pydicom": None, "numpy": "2.0.2", "pillow": None}) == [
        "highdicom==0.28.2",
        "numpy==2.0.2",
    ]
    # From the environment: this venv's own versions.
    assert highdicom_install_arguments() == [
        f"highdicom=={HIGHDICOM_FOR_PYDICOM[int(pydicom.__version__.split('.')[0])]}",
        f"pydicom=={version('pydicom')}",
        f"numpy=={version('numpy')}",
        f"pillow=={version('pillow')}",
    ]


def test_the_pydicom_3_release_is_the_one_requirements_txt_pins():
    pins = dict(re.findall(r"^(highdicom|pydicom)==(\S+)", REQUIREMENTS.read_text(), flags=re.MULTILINE))
    assert pins["highdicom"] == HIGHDICOM_FOR_PYDICOM[3]
    assert highdicom_requirement(pins["pydicom"]) == f"highdicom=={pins['highdicom']}"


@pytest.fixture(scope="module")
def seg_and_sr(tmp_path_factory):
    """A SEG and an SR of a 12-slice series (one vein) built by the writers."""
    m = np.array([[1.5, 0, 0, -10.0], [0, -1.5, 0, 20.0], [0, 0, 2.5, -5.0], [0, 0, 0, 1]])
    image = np.zeros((12, 20, 24), dtype=np.int16)
    files = write_dicom_series(image, m, tmp_path_factory.mktemp("stack") / "ct")
    labels = np.zeros(image.shape, dtype=np.uint8)
    labels[2:10, 3:8, 4:9] = 1
    slices = sort_slices(read_source_datasets(files))
    seg = build_seg(slices, labels, m, software_version="test")
    sr = build_sr({"branches": {"ivc": {"length_mm": 80.0}}}, slices, seg, software_version="test")
    return slices, seg, sr


def test_save_dicom_writes_the_dicom_file_format(seg_and_sr, tmp_path):
    _, seg, sr = seg_and_sr
    for name, dataset in (("seg.dcm", seg), ("sr.dcm", sr)):
        save_dicom(dataset, tmp_path / name)
        data = (tmp_path / name).read_bytes()
        assert data[128:132] == b"DICM"  # the preamble and prefix of PS3.10
        back = pydicom.dcmread(tmp_path / name)  # no force: a conformant file
        assert back.file_meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID
        assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"  # explicit VR little endian
        assert back.SOPInstanceUID == dataset.SOPInstanceUID


def _evidence(sr: Dataset, name: str) -> set[tuple[str, str, str]]:
    return {
        (str(study.StudyInstanceUID), str(series.SeriesInstanceUID), str(item.ReferencedSOPInstanceUID))
        for study in sr.get(name, [])
        for series in study.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
    }


def _study_item(study: str, series: str, sops: list[tuple[str, str]]) -> Dataset:
    """An evidence item: one study, one series, its instances ((SOP class, SOP instance))."""
    instances = []
    for sop_class, sop_instance in sops:
        instance = Dataset()
        instance.ReferencedSOPClassUID = sop_class
        instance.ReferencedSOPInstanceUID = sop_instance
        instances.append(instance)
    series_item = Dataset()
    series_item.SeriesInstanceUID = series
    series_item.ReferencedSOPSequence = instances
    item = Dataset()
    item.StudyInstanceUID = study
    item.ReferencedSeriesSequence = [series_item]
    return item


def test_the_source_slices_are_current_procedure_evidence(seg_and_sr):
    slices, seg, sr = seg_and_sr
    study, series = str(slices[0].StudyInstanceUID), str(slices[0].SeriesInstanceUID)
    current = "CurrentRequestedProcedureEvidenceSequence"
    expected = {(study, str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)) for ds in [*slices, seg]}
    assert _evidence(sr, current) == expected
    assert "PertinentOtherEvidenceSequence" not in sr
    own_study_evidence_as_current(sr)  # nothing to move: no change
    assert _evidence(sr, current) == expected
    assert "PertinentOtherEvidenceSequence" not in sr
    # What highdicom 0.22.0 writes instead (measured on pydicom 2.4.4): the SEG as current
    # evidence, the slices, which the content tree names by series only, as pertinent other
    # evidence. Another study's instance is there too, and must stay.
    old = Dataset()
    old.StudyInstanceUID = study
    sops = [(str(ds.SOPClassUID), str(ds.SOPInstanceUID)) for ds in slices]
    old.CurrentRequestedProcedureEvidenceSequence = [
        _study_item(study, str(seg.SeriesInstanceUID), [(str(seg.SOPClassUID), str(seg.SOPInstanceUID))])
    ]
    old.PertinentOtherEvidenceSequence = [
        _study_item(study, series, sops),
        _study_item("1.2.3.4", "1.2.3.4.5", sops[:1]),
    ]
    own_study_evidence_as_current(old)
    assert _evidence(old, current) == expected
    assert len(old.CurrentRequestedProcedureEvidenceSequence) == 1  # one study item, two series
    assert _evidence(old, "PertinentOtherEvidenceSequence") == {("1.2.3.4", "1.2.3.4.5", sops[0][1])}
    # Instances of a series already listed are merged, not repeated.
    old.PertinentOtherEvidenceSequence = [_study_item(study, series, sops[:3])]
    own_study_evidence_as_current(old)
    assert "PertinentOtherEvidenceSequence" not in old
    (study_item,) = old.CurrentRequestedProcedureEvidenceSequence
    (ct,) = [s for s in study_item.ReferencedSeriesSequence if s.SeriesInstanceUID == series]
    assert len(ct.ReferencedSOPSequence) == len(slices)


def test_the_numpy_view_is_for_highdicom_0_22_only(monkeypatch):
    import highdicom
    import highdicom.seg.sop as sop

    before = sop.np
    numpy_view_for_highdicom(highdicom)
    if dicom_stack._release(highdicom.__version__) >= (0, 23, 0):
        assert sop.np is before is np  # a later release is left as it is
    else:
        assert sop.np.float_ is np.float64  # 0.22.0 (a run on Slicer 5.10's stack)
    # As for 0.22.0: that module alone sees numpy.float_; numpy itself does not get it back.
    monkeypatch.setattr(sop, "np", np)
    release_0_22 = types.SimpleNamespace(__name__="highdicom", __version__="0.22.0")
    numpy_view_for_highdicom(release_0_22)
    assert sop.np is not np
    assert sop.np.float_ is np.float64
    assert sop.np.zeros is np.zeros and sop.np.uint8 is np.uint8 and sop.np.linalg is np.linalg
    assert "float_" not in vars(np)
    view = sop.np
    numpy_view_for_highdicom(release_0_22)
    assert sop.np is view  # once only

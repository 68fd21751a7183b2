"""DICOM outputs: a phantom written as a DICOM CT series, planned through ``ivc-plan``, its SEG
and SR read back (highdicom, pydicom) and checked against the plan's own files.

One phantom (may-thurner at 2 mm: a left common iliac compression, one stent) is written as a
series and planned once for the module. The SEG is checked voxel by voxel against
veins_labels.nii.gz (an exact round trip on the same grid), the SR number by number against
plan.json; small synthetic series check the occluded-stretch segment, other label grids and
the errors; the real CT series (``../shared/data/realct-dicom``) checks the SEG on a scanner's
geometry.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("highdicom")

import highdicom as hd
import pydicom

from IVCReconstructionLib import names
from IVCReconstructionLib.inputs.volumes import read_volume, series_files
from IVCReconstructionLib.outputs.dicom_export import (
    read_source_datasets,
    write_dicom_outputs,
)
from IVCReconstructionLib.outputs.dicom_seg import (
    build_seg,
    labels_on_slices,
    read_seg_labels,
    sort_slices,
)
from IVCReconstructionLib.outputs.dicom_sr import (
    BRANCH_FIELDS,
    LESION_FIELDS,
    STENT_FIELDS,
    branch_group_id,
    field_concept,
    lesion_group_id,
    read_sr_values,
    stent_group_id,
    warning_text,
)
from IVCReconstructionLib.phantom.dicom_series import PHANTOM_PATIENT, write_dicom_series

REAL_DICOM = Path(__file__).resolve().parents[2] / "shared" / "data" / "realct-dicom"


@pytest.fixture(scope="module")
def planned(may_thurner_dicom):
    """The may-thurner phantom's DICOM series planned by ``ivc-plan plan`` (conftest), with its
    slices in order."""
    slices = sort_slices(read_source_datasets(series_files(may_thurner_dicom["ct"])))
    return {**may_thurner_dicom, "slices": slices}


def test_the_dicom_files_are_in_the_output_folder_and_the_report(planned):
    out = planned["out"]
    seg_file, sr_file = out / "dicom" / "veins_seg.dcm", out / "dicom" / "plan_sr.dcm"
    assert seg_file.stat().st_size > 0 and sr_file.stat().st_size > 0
    report = (out / "report.html").read_text()
    assert "href='dicom/veins_seg.dcm'" in report and "href='dicom/plan_sr.dcm'" in report
    # The identifiers are in the DICOM files (that is their point) and nowhere else.
    for text in (report, (out / "plan.json").read_text()):
        for tag in ("0010|0010", "0010|0020", "0008|0050"):
            assert PHANTOM_PATIENT[tag] not in text, tag
    source = planned["slices"][0]
    for path in (seg_file, sr_file):
        ds = pydicom.dcmread(path)
        assert ds.PatientName == source.PatientName and ds.PatientID == source.PatientID
        assert ds.PatientBirthDate == source.PatientBirthDate and ds.AccessionNumber == source.AccessionNumber
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID  # new series of the same study


def test_seg_segments_codes_and_references(planned):
    seg = hd.seg.segread(planned["out"] / "dicom" / "veins_seg.dcm")
    source = planned["slices"][0]
    assert seg.SegmentationType == "BINARY"
    assert seg.FrameOfReferenceUID == source.FrameOfReferenceUID
    assert [s.SeriesInstanceUID for s in seg.ReferencedSeriesSequence] == [source.SeriesInstanceUID]
    referenced = {
        i.ReferencedSOPInstanceUID for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    }
    assert referenced <= {str(s.SOPInstanceUID) for s in planned["slices"]}
    # No occlusion in this phantom: the three veins, each by its ID and SNOMED CT codes.
    segments = {str(s.TrackingID): s for s in seg.SegmentSequence}
    assert set(segments) == set(names.SEGMENT_IDS.values())
    for branch, segment_id in names.SEGMENT_IDS.items():
        s = segments[segment_id]
        (anatomy, meaning), laterality = names.SNOMED[branch]
        assert s.SegmentedPropertyCategoryCodeSequence[0].CodeValue == names.SNOMED_ANATOMICAL_STRUCTURE[0]
        prop = s.SegmentedPropertyTypeCodeSequence[0]
        assert (prop.CodeValue, prop.CodingSchemeDesignator, prop.CodeMeaning) == (anatomy, "SCT", meaning)
        modifiers = [m.CodeValue for m in prop.get("SegmentedPropertyTypeModifierCodeSequence", [])]
        assert modifiers == ([laterality[0]] if laterality else [])
        assert s.SegmentLabel == names.BRANCH_TITLES[branch]
        assert s.SegmentAlgorithmType == "SEMIAUTOMATIC"  # segmented from seed points


def test_seg_voxels_equal_the_vein_label_map(planned):
    """Exact round trip: the SEG read back on the source slices is veins_labels.nii.gz."""
    labels, ijk_to_ras = read_volume(planned["out"] / "veins_labels.nii.gz")
    ct, ct_matrix = read_volume(planned["ct"])
    np.testing.assert_allclose(ijk_to_ras, ct_matrix, atol=1e-6)  # the CT's grid
    seg = hd.seg.segread(planned["out"] / "dicom" / "veins_seg.dcm")
    back = read_seg_labels(seg, planned["slices"])
    assert back.shape == labels.shape == ct.shape
    assert np.array_equal(back, labels)
    assert {int(v) for v in np.unique(back)} == {0, 1, 2, 3}


def _expected_groups(plan: dict) -> dict[str, dict]:
    """plan.json's entries under the SR's group identifiers."""
    groups = {branch_group_id(b): e for b, e in plan["branches"].items()}
    groups.update({lesion_group_id(i, les): les for i, les in enumerate(plan["lesions"])})
    groups.update({stent_group_id(st): st for st in plan["stents"]})
    return groups


def _numbers(entry: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for key, value in entry.items():
        if isinstance(value, dict) and key == "coverage":
            for branch, interval in value.items():
                out.update({f"{prefix}{key}.{branch}[{n}]": x for n, x in enumerate(interval)})
        elif isinstance(value, dict):
            out.update(_numbers(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = value
    return out


def check_sr_against_plan(sr, plan: dict) -> int:
    """Every number of plan.json's branches, lesions and stents is in the SR, equal; the ends are
    points (LPS); the warnings are texts. Returns how many numbers were compared."""
    values = read_sr_values(sr)
    groups = values["groups"]
    expected = _expected_groups(plan)
    assert set(groups) == set(expected)
    compared = 0
    for group_id, entry in expected.items():
        numbers = _numbers(entry)
        got = {k: v for k, v in groups[group_id].items() if isinstance(v, float)}
        assert got == pytest.approx(numbers, rel=0, abs=0), group_id  # exact: DS strings of the same floats
        compared += len(numbers)
    # Every point (the stent ends, a lesion's narrowest section): SCOORD3D in LPS, 32-bit floats.
    tables = [(branch_group_id(b), e, BRANCH_FIELDS) for b, e in plan["branches"].items()]
    tables += [(lesion_group_id(i, les), les, LESION_FIELDS) for i, les in enumerate(plan["lesions"])]
    tables += [(stent_group_id(st), st, STENT_FIELDS) for st in plan["stents"]]
    for group_id, entry, table in tables:
        for key, value in entry.items():
            if key.endswith("_ras") and value is not None:
                got = groups[group_id][field_concept(table, key)[2]]
                lps = np.array(value) * [-1, -1, 1]
                assert np.array_equal(np.float32(got), np.float32(lps)), (group_id, key)  # FL
                compared += 3
    for stent in plan["stents"]:
        group = groups[stent_group_id(stent)]
        assert group["Proximal (cranial) end"] and group["Distal (caudal) end"]
        assert group["Product"] == stent["product"] and group["Manufacturer"] == stent["manufacturer"]
    assert values["texts"][:2] == [plan["template"], plan["reason"]]
    assert values["texts"][2:] == [warning_text(w) for w in plan["warnings"]]
    return compared


def test_every_number_of_the_sr_equals_plan_json(planned):
    sr = pydicom.dcmread(planned["out"] / "dicom" / "plan_sr.dcm")
    plan = planned["plan"]
    assert plan["stents"] and plan["lesions"]
    compared = check_sr_against_plan(sr, plan)
    assert compared >= 20
    # A measurement report that references the SEG and the source series.
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert sr.ConceptNameCodeSequence[0].CodeValue == "126000"  # Imaging Measurement Report
    seg = pydicom.dcmread(planned["out"] / "dicom" / "veins_seg.dcm")
    evidence = {
        series.SeriesInstanceUID: {i.ReferencedSOPInstanceUID for i in series.ReferencedSOPSequence}
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
    }
    assert evidence[seg.SeriesInstanceUID] == {seg.SOPInstanceUID}
    assert len(evidence[planned["slices"][0].SeriesInstanceUID]) == len(planned["slices"])
    # Each vein's and lesion's group points at its segment of the SEG, on the source series.
    report = hd.sr.srread(planned["out"] / "dicom" / "plan_sr.dcm")
    groups = report.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(plan["branches"]) + len(plan["lesions"])
    numbers = {str(s.TrackingID): int(s.SegmentNumber) for s in seg.SegmentSequence}
    for group in groups:
        item, series = group.referenced_segment
        reference = item.ReferencedSOPSequence[0]
        assert reference.ReferencedSOPInstanceUID == seg.SOPInstanceUID
        assert reference.ReferencedSegmentNumber in numbers.values()
        assert planned["slices"][0].SeriesInstanceUID == series.UID
    lesion = plan["lesions"][0]
    (group,) = [g for g in groups if str(g.tracking_identifier) == lesion_group_id(0, lesion)]
    assert (
        group.referenced_segment[0].ReferencedSOPSequence[0].ReferencedSegmentNumber
        == numbers[names.SEGMENT_IDS[lesion["branch"]]]
    )


def test_a_new_plan_field_reaches_the_sr_without_a_table_line(planned, tmp_path):
    """The lead adds fields to plan.json (vertebral levels, distances): numbers, texts and
    points not in the SR's tables are written under local codes, and read back equal."""
    plan = json.loads(json.dumps(planned["plan"]))
    stent = plan["stents"][0]
    stent["proximal"] = {"vertebra": "L5", "distance_to_confluence_mm": 12.5}
    stent["distal_over_inguinal_mm"] = -3.25
    plan["lesions"][0]["stenosis_percent"] = 87.1
    plan["branches"]["left_iliac"]["cfv_reference_diameter_mm"] = 11.5
    labels, ijk_to_ras = read_volume(planned["out"] / "veins_labels.nii.gz")
    _, sr_file = write_dicom_outputs(planned["slices"], labels, ijk_to_ras, plan, tmp_path)
    sr = pydicom.dcmread(sr_file)
    check_sr_against_plan(sr, plan)
    group = read_sr_values(sr)["groups"][stent_group_id(stent)]
    assert group["proximal.vertebra"] == "L5"


# ---------------------------------------------------------------------------------------------
# Small synthetic series: the occluded stretch, other label grids, errors


@pytest.fixture(scope="module")
def small_series(tmp_path_factory):
    """A 12-slice series (24 x 20 pixels at 1.5 x 1.5 x 2.5 mm; columns along R, rows along P,
    so its slice normal points down) and a label map on its grid with the three veins and an
    occluded stretch."""
    m = np.array([[1.5, 0, 0, -10.0], [0, -1.5, 0, 20.0], [0, 0, 2.5, -5.0], [0, 0, 0, 1]])
    image = np.zeros((12, 20, 24), dtype=np.int16)
    files = write_dicom_series(image, m, tmp_path_factory.mktemp("small") / "ct")
    labels = np.zeros(image.shape, dtype=np.uint8)
    labels[2:10, 3:8, 4:9] = 1
    labels[5:7, 3:8, 4:9] = names.OCCLUDED_LABEL
    labels[1:6, 12:16, 2:6] = 2
    labels[1:6, 12:16, 15:20] = 3
    return sort_slices(read_source_datasets(files)), labels, m


def on_slices(labels: np.ndarray, m: np.ndarray, slices) -> np.ndarray:
    """The label map's k-planes in the order of ``slices`` (the same grid), found from each
    slice's position: sort_slices orders along the slice normal, which here runs against k."""
    ras_to_ijk = np.linalg.inv(m)
    ks = [
        int(np.rint(ras_to_ijk @ [*(np.asarray(ds.ImagePositionPatient, dtype=float) * [-1, -1, 1]), 1])[2])
        for ds in slices
    ]
    assert ks == sorted(ks, reverse=True)
    return labels[ks]


def test_an_occluded_stretch_is_its_own_coded_segment(small_series, tmp_path):
    slices, labels, m = small_series
    seg = build_seg(slices, labels, m, software_version="test")
    segments = {str(s.TrackingID): s for s in seg.SegmentSequence}
    assert set(segments) == {*names.SEGMENT_IDS.values(), names.OCCLUDED_SEGMENT_ID}
    occluded = segments[names.OCCLUDED_SEGMENT_ID]
    assert (
        occluded.SegmentedPropertyCategoryCodeSequence[0].CodeValue
        == names.SNOMED_MORPHOLOGICALLY_ABNORMAL[0]
    )
    assert occluded.SegmentedPropertyTypeCodeSequence[0].CodeValue == names.SNOMED_OCCLUSION[0]
    assert occluded.AnatomicRegionSequence[0].CodeValue == names.SNOMED_VEIN[0]
    seg.save_as(tmp_path / "seg.dcm")
    assert np.array_equal(
        read_seg_labels(hd.seg.segread(tmp_path / "seg.dcm"), slices), on_slices(labels, m, slices)
    )


def test_labels_on_another_grid_are_taken_by_position(small_series):
    slices, labels, m = small_series
    # The same voxels stored with i reversed, and k reversed (another direction matrix).
    flipped = labels[::-1, :, ::-1]
    m2 = m.copy()
    m2[:3, 0] *= -1
    m2[:3, 2] *= -1
    m2[:3, 3] = m[:3, :3] @ [labels.shape[2] - 1, 0, labels.shape[0] - 1] + m[:3, 3]
    expected = on_slices(labels, m, slices)
    assert np.array_equal(labels_on_slices(flipped, m2, slices), expected)
    # i and j swapped (the label map's rows run along the slices' columns).
    m4 = m[:, [1, 0, 2, 3]]
    assert np.array_equal(labels_on_slices(labels.transpose(0, 2, 1).copy(), m4, slices), expected)
    # k and i swapped (the label map stores the slices along its i axis).
    m5 = m[:, [2, 1, 0, 3]]
    assert np.array_equal(labels_on_slices(labels.transpose(2, 1, 0).copy(), m5, slices), expected)
    # Half as fine, shifted by a quarter voxel (the general path): each pixel takes its nearest voxel.
    fine = labels.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)
    m3 = m.copy()
    m3[:3, :3] /= 2
    m3[:3, 3] = m[:3, 3] - m[:3, :3] @ [0.25, 0.25, 0.25] + m3[:3, :3] @ [0.01, 0.01, 0.01]
    assert np.array_equal(labels_on_slices(fine, m3, slices), expected)
    # Outside the label map: 0.
    shifted = m.copy()
    shifted[:3, 3] += m[:3, :3] @ [100, 0, 0]
    assert not labels_on_slices(labels, shifted, slices).any()


def test_bad_sources_and_labels_are_clear_errors(small_series):
    slices, labels, m = small_series
    with pytest.raises(ValueError, match="no DICOM slices"):
        sort_slices([])
    other = pydicom.Dataset()
    other.update(slices[0])
    other.SeriesInstanceUID = "1.2.3"
    with pytest.raises(ValueError, match="of 2 series"):
        sort_slices([*slices, other])
    far = m.copy()
    far[:3, 3] += 1000.0
    with pytest.raises(ValueError, match="does not overlap the DICOM series"):
        build_seg(slices, labels, far, software_version="test")


def test_missing_highdicom_says_how_to_install_it(small_series, monkeypatch, tmp_path):
    import sys

    from IVCReconstructionLib.outputs.dicom_seg import highdicom_available

    slices, labels, m = small_series
    assert highdicom_available()
    monkeypatch.setitem(sys.modules, "highdicom", None)
    assert not highdicom_available()  # what the module's Export to DICOM asks before installing it
    with pytest.raises(ImportError, match="pip install highdicom"):
        write_dicom_outputs(slices, labels, m, {}, tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_DICOM.is_dir(), reason=f"real DICOM series not found at {REAL_DICOM}")
def test_seg_on_the_real_ct_series(tmp_path):
    """The TotalSegmentator IVC of the real series (a label map whose y axis is flipped against
    the DICOM's) as a SEG on the series' 20 slices, equal to SimpleITK's resampling."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    files = series_files(REAL_DICOM / "series")
    slices = sort_slices(read_source_datasets(files))  # the SOP UIDs come from the file meta
    labels, ijk_to_ras = read_volume(REAL_DICOM / "labels.nii.gz")
    ivc = np.where(labels == 63, names.VEIN_LABELS["ivc"], 0).astype(np.uint8)
    seg = build_seg(slices, ivc, ijk_to_ras, software_version="test", seeded=False)
    seg.save_as(tmp_path / "seg.dcm")
    seg = hd.seg.segread(tmp_path / "seg.dcm")
    assert seg.FrameOfReferenceUID == slices[0].FrameOfReferenceUID
    assert [str(s.TrackingID) for s in seg.SegmentSequence] == [names.SEGMENT_IDS["ivc"]]
    back = read_seg_labels(seg, slices)
    ct = sitk.ReadImage([str(f) for f in files])
    resampled = sitk.GetArrayFromImage(
        sitk.Resample(
            sitk.ReadImage(str(REAL_DICOM / "labels.nii.gz")), ct, sitk.Transform(), sitk.sitkNearestNeighbor
        )
    )
    # SimpleITK orders the slices as sort_slices does (along the normal).
    assert np.array_equal(back == 1, resampled == 63)
    assert (back == 1).sum() == (labels == 63).sum() > 1000


def test_an_occluded_stretch_segmented_from_seeds_round_trips(phantom_of, segmentation_of, tmp_path):
    """The IVC-occlusion phantom's seeded segmentation (2 mm; labels 1-4, as segmentation.seg.nrrd
    holds it) as a SEG on the phantom written as a series: read
    back exactly, and with the stretch filled exactly the label map the plan measures
    (veins_labels.nii.gz)."""
    from IVCReconstructionLib.segment.existing import vein_labels
    from IVCReconstructionLib.segment.occlusion import fill_occluded

    ph = phantom_of(ivc_occlusion_length_mm=40.0, spacing_mm=2.0)
    seg_result = segmentation_of(ivc_occlusion_length_mm=40.0, spacing_mm=2.0)
    labels = seg_result.labels
    assert (labels == names.OCCLUDED_LABEL).any()
    files = write_dicom_series(ph.image, ph.ijk_to_ras, tmp_path / "ct")
    slices = sort_slices(read_source_datasets(files))
    seg = build_seg(slices, labels, seg_result.ijk_to_ras, software_version="test")
    seg.save_as(tmp_path / "seg.dcm")
    back = read_seg_labels(hd.seg.segread(tmp_path / "seg.dcm"), slices)
    assert np.array_equal(back, labels)  # the phantom's grid: slice k is frame k
    assert np.array_equal(vein_labels(fill_occluded(back)), vein_labels(fill_occluded(labels)))


# ---------------------------------------------------------------------------------------------
# dicom/ in the output set: listed in the manifest, replaced with the set


def test_the_manifest_lists_the_dicom_files(planned):
    from IVCReconstructionLib.outputs.atomic import read_manifest, sha256_of

    manifest = read_manifest(planned["out"])
    listed = {entry["name"]: entry["sha256"] for entry in manifest["files"]}
    for name in ("dicom/veins_seg.dcm", "dicom/plan_sr.dcm"):
        assert listed[name] == sha256_of(planned["out"] / name), name
    assert "plan.json" in listed


def test_a_set_without_dicom_files_replaces_one_with_them(tmp_path):
    from IVCReconstructionLib.outputs.atomic import OutputSet, read_manifest

    out = tmp_path / "out"
    with OutputSet(out, command="plan") as first:
        first.path("plan.json").write_text("{}")
        (first.folder / "dicom").mkdir()
        (first.folder / "dicom" / "plan_sr.dcm").write_bytes(b"sr")
    assert (out / "dicom" / "plan_sr.dcm").read_bytes() == b"sr"
    assert first.files == [out / "dicom" / "plan_sr.dcm", out / "plan.json"]
    # The next run (a NIfTI input) has no dicom/: the old DICOM files go, and the emptied folder.
    with OutputSet(out, command="plan") as second:
        second.path("plan.json").write_text("{}")
    assert not (out / "dicom").exists()
    assert [e["name"] for e in read_manifest(out)["files"]] == ["plan.json"]
    # A user's file in dicom/ stays, and with it the folder.
    with OutputSet(out, command="plan") as third:
        (third.folder / "dicom").mkdir()
        (third.folder / "dicom" / "plan_sr.dcm").write_bytes(b"sr2")
    (out / "dicom" / "mine.txt").write_text("mine")
    with OutputSet(out, command="plan") as fourth:
        fourth.path("plan.json").write_text("{}")
    assert sorted(p.name for p in (out / "dicom").iterdir()) == ["mine.txt"]


def test_a_manifest_never_names_a_file_outside_its_folder(tmp_path):
    import json as json_module

    from IVCReconstructionLib.outputs.atomic import MANIFEST_NAME, OutputSet

    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "victim.txt").write_text("keep")
    (out / "a").mkdir()
    (out / "a" / "b").mkdir()
    (out / "a" / "b" / "deep.txt").write_text("keep")
    names = ["../victim.txt", "/etc/hostname", "a/b/deep.txt", "a\\b", "a/../x"]
    manifest = {"tool": "ivc-plan", "files": [{"name": n} for n in names]}
    (out / MANIFEST_NAME).write_text(json_module.dumps(manifest))
    with OutputSet(out, command="plan") as output:
        output.path("plan.json").write_text("{}")
    assert (tmp_path / "victim.txt").read_text() == "keep"
    assert (out / "a" / "b" / "deep.txt").read_text() == "keep"  # deeper than one sub-folder

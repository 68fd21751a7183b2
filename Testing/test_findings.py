"""Findings (reference diameters, lesions, landmarks) on segmented phantoms against their truth."""

from __future__ import annotations

import numpy as np
import pytest

from IVCReconstructionLib.measure.veins import measure_veins
from IVCReconstructionLib.plan.findings import FindingsSettings, find_findings

_cache: dict = {}


def findings_of(phantom_of, segmentation_of, seeds_extra=None, **options):
    """Segment a phantom from its seeds, measure it and read the findings (the pipeline so far)."""
    key = tuple(sorted(options.items()))
    if key not in _cache:
        ph = phantom_of(**options)
        seg = segmentation_of(**options)
        veins = np.where(np.isin(seg.labels, (1, 2, 3)), seg.labels, 0)
        _cache[key] = (ph, seg, measure_veins(veins, ph.ijk_to_ras, seeds=ph.seeds))
    ph, seg, m = _cache[key]
    seeds = dict(ph.seeds, **(seeds_extra or {}))
    return ph, m, find_findings(m.tree, m.profiles, seeds=seeds, occlusions=seg.occlusions)


def truth_ce(ph, branch, lo, hi):
    br = ph.branches[branch]
    sel = br.healthy() & (br.distance_mm >= lo) & (br.distance_mm <= hi)
    return float(np.median(br.ce_diameter_mm[sel]))


def test_healthy_references_and_no_lesion(phantom_of, segmentation_of):
    ph, _, f = findings_of(phantom_of, segmentation_of)
    assert f.lesions == []
    assert f.references_mm["ivc"] == pytest.approx(truth_ce(ph, "ivc", 20, 100), abs=1.0)
    for side, branch in (("left", "left_iliac"), ("right", "right_iliac")):
        civ_end = ph.branch_landmarks_mm[branch]["civ_end"]
        inguinal = ph.branch_landmarks_mm[branch]["inguinal"]
        assert f.references_mm[f"{side}_civ"] == pytest.approx(truth_ce(ph, branch, 20, civ_end - 5), abs=1.0)
        assert f.references_mm[f"{side}_eiv"] == pytest.approx(
            truth_ce(ph, branch, civ_end + 15, inguinal), abs=1.0
        )


def test_may_thurner_stenosis_found_with_its_ratio(phantom_of, segmentation_of):
    ph, m, f = findings_of(phantom_of, segmentation_of, may_thurner_area_ratio=0.3)
    (truth,) = ph.lesions
    (found,) = f.lesions
    assert (found.branch, found.kind, found.segment) == ("left_iliac", "stenosis", "civ")
    assert found.area_ratio == pytest.approx(truth.area_ratio, rel=0.15)
    assert found.min_area_mm2 == pytest.approx(truth.min_area_mm2, rel=0.15)
    # The lesion found lies where the truth lesion is (compared in space: the two distance
    # axes start at different confluence points).
    prof = m.profiles["left_iliac"]
    found_pts = prof.points_ras[(prof.distance_mm >= found.start_mm) & (prof.distance_mm <= found.end_mm)]
    br = ph.branches["left_iliac"]
    truth_pts = br.points_ras[(br.distance_mm >= truth.start_mm) & (br.distance_mm <= truth.end_mm)]
    gap = np.min(np.linalg.norm(found_pts[:, None] - truth_pts[None], axis=2))
    assert gap < 3.0


def test_bilateral_narrowing_found_on_both_sides(phantom_of, segmentation_of):
    _, _, f = findings_of(phantom_of, segmentation_of, bilateral_iliac_area_ratio=0.4)
    assert sorted(les.branch for les in f.lesions) == ["left_iliac", "right_iliac"]
    for les in f.lesions:
        assert les.area_ratio == pytest.approx(0.4, rel=0.15)


def test_ivc_occlusion_reported_as_occlusion(phantom_of, segmentation_of):
    ph = phantom_of(ivc_occlusion_length_mm=40.0)
    seg = segmentation_of(ivc_occlusion_length_mm=40.0)
    # The measurement needs one connected tree: bridge the occluded stretch with its label.
    veins = seg.measurable_labels()
    m = measure_veins(veins, ph.ijk_to_ras, seeds=ph.seeds)
    f = find_findings(m.tree, m.profiles, seeds=ph.seeds, occlusions=seg.occlusions)
    occlusions = [les for les in f.lesions if les.kind == "occlusion"]
    assert len(occlusions) == 1 and occlusions[0].branch == "ivc"
    assert occlusions[0].length_mm == pytest.approx(40.0, abs=10.0)
    assert occlusions[0].area_ratio == 0.0


def test_landmarks_from_seeds_and_estimates_say_how(phantom_of, segmentation_of):
    ph, m, _ = findings_of(phantom_of, segmentation_of)
    ivc = m.profiles["ivc"]
    renal = np.asarray(ph.renal_inflow_ras)
    _, _, f = findings_of(
        phantom_of,
        segmentation_of,
        seeds_extra={"Renal": renal, "InguinalLeft": ph.seeds["Left"] + [0, 0, 10]},
    )
    mark = f.landmarks["renal_inflow"]
    assert mark.method.startswith("Renal seed") and not mark.estimated
    assert np.linalg.norm(mark.ras - renal) < 3.0
    assert mark.distance_mm == pytest.approx(
        ivc.distance_mm[np.argmin(np.linalg.norm(ivc.points_ras - renal, axis=1))]
    )
    assert f.landmarks["left_inguinal"].method == "InguinalLeft seed"
    assert "right_inguinal" not in f.landmarks
    assert any("InguinalRight" in note for note in f.notes)
    for side in ("left", "right"):
        civ_end = f.landmarks[f"{side}_civ_end"]
        assert civ_end.estimated or civ_end.method == "internal iliac vein inflow"
    assert f.landmarks["confluence"].distance_mm == 0.0


def test_threshold_is_a_setting(phantom_of, segmentation_of):
    ph, m, _ = findings_of(phantom_of, segmentation_of, may_thurner_area_ratio=0.3)
    strict = find_findings(
        m.tree, m.profiles, seeds=ph.seeds, settings=FindingsSettings(stenosis_area_ratio=0.2)
    )
    assert strict.lesions == []  # a 30 % area ratio is not below 20 %
    assert strict.settings.as_dict()["stenosis_area_ratio"] == 0.2

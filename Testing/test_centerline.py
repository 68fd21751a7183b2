"""Centerlines and diameter profiles measured against the phantom's truth and on the real CT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from IVCReconstructionLib.measure.datatypes import VeinMeasurements
from IVCReconstructionLib.measure.veins import measure_veins
from IVCReconstructionLib.phantom import Phantom

REAL_CT = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalseg-example"


def vein_labels(ph: Phantom) -> np.ndarray:
    return np.where(np.isin(ph.labels, (1, 2, 3)), ph.labels, 0)


@pytest.fixture(scope="module")
def healthy(phantom_of) -> tuple[Phantom, VeinMeasurements]:
    ph = phantom_of()
    return ph, measure_veins(vein_labels(ph), ph.ijk_to_ras)


@pytest.fixture(scope="module")
def may_thurner(phantom_of) -> tuple[Phantom, VeinMeasurements]:
    ph = phantom_of(may_thurner_area_ratio=0.3)
    return ph, measure_veins(vein_labels(ph), ph.ijk_to_ras, seeds=ph.seeds)


def truth_path(ph: Phantom, branch: str) -> np.ndarray:
    """The truth centerline a measured branch follows. VMTK's line to an iliac vein comes down
    the IVC and parts from the other line a few mm above the geometric confluence, so the
    first millimetres of a measured iliac branch lie on the IVC's truth centerline."""
    pts = ph.branches[branch].points_ras
    return pts if branch == "ivc" else np.vstack([ph.branches["ivc"].points_ras, pts])


def matched(ph: Phantom, m: VeinMeasurements, branch: str):
    """Measured profile of a branch and, per sample, the nearest truth sample of that branch."""
    prof = m.profiles[branch]
    dist, idx = cKDTree(ph.branches[branch].points_ras).query(prof.points_ras)
    return prof, ph.branches[branch], dist, idx


@pytest.mark.parametrize("branch", ["ivc", "left_iliac", "right_iliac"])
def test_centerlines_follow_the_truth(healthy, may_thurner, branch):
    for ph, m in (healthy, may_thurner):
        pts = m.tree.branches[branch].points_ras
        dist = cKDTree(truth_path(ph, branch)).query(pts)[0]
        assert dist.mean() <= 1.0, (branch, dist.mean())
        assert m.tree.branches[branch].length_mm > 100.0


def test_branches_are_labelled_by_anatomy_and_sampled_every_mm(healthy):
    ph, m = healthy
    br = m.tree.branches
    assert set(br) == {"ivc", "left_iliac", "right_iliac"}
    assert br["left_iliac"].points_ras[-1, 0] < m.tree.confluence_ras[0] < br["right_iliac"].points_ras[-1, 0]
    assert br["ivc"].points_ras[-1, 2] > m.tree.confluence_ras[2] + 100
    for b in br.values():
        np.testing.assert_allclose(b.points_ras[0], m.tree.confluence_ras, atol=1e-6)
        np.testing.assert_allclose(np.diff(b.distance_mm), 1.0)
        steps = np.linalg.norm(np.diff(b.points_ras, axis=0), axis=1)
        assert np.all(np.abs(steps - 1.0) < 0.05)
    # The confluence is where the lines part: a little above the point where the truth
    # centerlines meet, never far from it.
    assert np.linalg.norm(m.tree.confluence_ras - ph.confluence_ras) < 15.0


def test_area_derived_diameters_match_truth_on_healthy_sections(healthy):
    ph, m = healthy
    for branch in ("ivc", "left_iliac", "right_iliac"):
        prof, truth, dist, idx = matched(ph, m, branch)
        ok = truth.healthy()[idx] & ~prof.confluence_zone & (dist < 2.0)
        assert ok.sum() > 80, branch
        err = prof.ce_diameter_mm[ok] - truth.ce_diameter_mm[idx][ok]
        assert np.median(np.abs(err)) <= 0.5, (branch, np.median(np.abs(err)))
        # The inscribed sphere under-sizes these slightly elliptical veins, as it should.
        assert np.median(prof.mis_diameter_mm[ok] / prof.ce_diameter_mm[ok]) < 1.0


def test_elliptical_ivc_min_and_max_diameters(healthy):
    ph, m = healthy
    prof, truth, dist, idx = matched(ph, m, "ivc")
    ok = truth.healthy()[idx] & ~prof.confluence_zone & (dist < 2.0)
    assert (
        np.median(truth.max_diameter_mm[idx][ok] / truth.min_diameter_mm[idx][ok]) > 1.2
    )  # really elliptical
    for measured, expected in (
        (prof.min_diameter_mm, truth.min_diameter_mm),
        (prof.max_diameter_mm, truth.max_diameter_mm),
    ):
        err = np.abs(measured[ok] - expected[idx][ok])
        assert np.median(err) <= 1.0 and np.percentile(err, 90) <= 1.0, np.percentile(err, 90)
    assert np.median(prof.ellipticity[ok]) == pytest.approx(
        np.median(truth.max_diameter_mm / truth.min_diameter_mm), abs=0.1
    )


def test_confluence_sections_are_flagged_and_only_there(healthy):
    _, m = healthy
    for branch, prof in m.profiles.items():
        zone = prof.confluence_zone
        assert zone[:3].all(), branch  # the first sections cut the other branches
        # Past the confluence blob (IVC radius + iliac diameter) nothing is flagged.
        assert not zone[prof.distance_mm > 45].any(), (branch, prof.distance_mm[zone].max())


def test_may_thurner_minimum_area_and_ratio(may_thurner):
    ph, m = may_thurner
    (les,) = ph.lesions
    prof, truth, dist, idx = matched(ph, m, "left_iliac")
    near = prof.distance_mm < 70
    i = int(np.argmin(np.where(near & ~prof.confluence_zone, prof.area_mm2, np.inf)))
    assert prof.area_mm2[i] == pytest.approx(les.min_area_mm2, rel=0.15)
    # Reference: the healthy rest of the common iliac vein, as the truth marks it.
    civ = truth.healthy()[idx] & ~prof.confluence_zone & (truth.distance_mm[idx] < 65) & (dist < 2.0)
    assert civ.sum() >= 10
    ratio = prof.area_mm2[i] / np.median(prof.area_mm2[civ])
    assert ratio == pytest.approx(les.area_ratio, rel=0.15)
    # The flattened section is far wider than it is deep.
    assert prof.max_diameter_mm[i] / prof.min_diameter_mm[i] > 2.5


def test_seeded_lines_start_and_end_at_the_seeds(may_thurner):
    ph, m = may_thurner
    assert set(m.centerlines.end_gaps_mm) == {"IVC", "Left", "Right"}
    for key, gap in m.centerlines.end_gaps_mm.items():
        assert gap < 6.0, (key, gap)
    for key, branch in (("IVC", "ivc"), ("Left", "left_iliac"), ("Right", "right_iliac")):
        end = m.tree.branches[branch].points_ras[-1]
        # The last inscribed-sphere radius is trimmed off the capped end.
        assert np.linalg.norm(end - ph.seeds[key]) < 15.0


def test_surface_is_a_few_thousand_points_closed(healthy):
    from IVCReconstructionLib.measure.surface import check_surface

    _, m = healthy
    check = check_surface(m.surface)
    assert 2000 <= check.points <= 5000
    assert check.boundary_edges == 0 and check.non_manifold_edges == 0 and check.regions == 1


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CT.is_dir(), reason=f"real CT not found at {REAL_CT}")
def test_real_ct_totalsegmentator_labels():
    from IVCReconstructionLib.inputs.volumes import read_volume

    labels, ijk_to_ras = read_volume(REAL_CT / "labels.nii.gz")
    values = {"ivc": 63, "left_iliac": 67, "right_iliac": 68}
    m = measure_veins(labels, ijk_to_ras, values)
    inv = np.linalg.inv(ijk_to_ras)
    for branch, prof in m.profiles.items():
        assert prof.distance_mm[-1] >= 40.0, branch
        # Labelled by anatomy, checked against TotalSegmentator's label values.
        ijk = np.rint(prof.points_ras[15:] @ inv[:3, :3].T + inv[:3, 3]).astype(int)
        found = labels[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
        assert np.mean(found == values[branch]) > 0.9, branch
        ce = np.median(prof.ce_diameter_mm[~prof.confluence_zone])
        low, high = (15.0, 30.0) if branch == "ivc" else (8.0, 20.0)
        assert low <= ce <= high, (branch, ce)


# --- bad input --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(phantom_of) -> Phantom:
    return phantom_of(spacing_mm=2.0)


def test_empty_segmentation_is_refused(small):
    with pytest.raises(ValueError, match="empty"):
        measure_veins(np.zeros_like(small.labels), small.ijk_to_ras)


def test_missing_branch_segment_is_refused(small):
    labels = vein_labels(small)
    labels[labels == 3] = 0
    with pytest.raises(ValueError, match="no iliac_vena_right segment"):
        measure_veins(labels, small.ijk_to_ras)


def test_disconnected_pieces_are_refused(small):
    labels = vein_labels(small)
    # Cut the left iliac vein in two across a 10 mm slab, 60 mm below the confluence.
    k = round(float(small.ras_to_ijk(small.confluence_ras - [0, 0, 60])[2]))
    cut = labels[k - 3 : k + 3]
    cut[cut == 2] = 0
    with pytest.raises(ValueError, match="disconnected pieces"):
        measure_veins(labels, small.ijk_to_ras)


def test_seed_far_from_its_vein_is_refused(small):
    seeds = dict(small.seeds)
    seeds["Left"] = seeds["Left"] + [-40.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"Left seed is \d+ mm from the iliac_vena_left segment"):
        measure_veins(vein_labels(small), small.ijk_to_ras, seeds=seeds)


def test_swapped_sides_are_refused(small):
    labels = vein_labels(small)
    swapped = labels.copy()
    swapped[labels == 2], swapped[labels == 3] = 3, 2
    with pytest.raises(ValueError, match="swapped"):
        measure_veins(swapped, small.ijk_to_ras)


def test_segment_too_small_for_a_centerline_is_refused(small):
    labels = vein_labels(small)
    # Keep the IVC, but reduce the right iliac vein to a one-voxel-wide line.
    right = np.argwhere(labels == 3)
    labels[labels == 3] = 0
    centre = right.mean(axis=0).round().astype(int)
    labels[centre[0] - 20 : centre[0] + 20, centre[1], centre[2]] = 3
    with pytest.raises(
        ValueError, match=r"iliac_vena_right segment is at most .* too small for a centerline"
    ):
        measure_veins(labels, small.ijk_to_ras)


def test_segmentation_node_measured_into_the_scene_or_not_at_all(mrml, small):
    from IVCReconstructionLib.pipeline import measure_into_scene as measure_segmentation_into_scene
    from IVCReconstructionLib.scene.phantom_nodes import add_phantom_to_scene

    nodes = add_phantom_to_scene(mrml.scene, small)
    before = mrml.scene.GetNumberOfNodes()
    out, measured = measure_segmentation_into_scene(mrml.scene, nodes.segmentation, seeds=small.seeds)
    assert set(out.curves) == {"ivc", "left_iliac", "right_iliac"}
    assert mrml.scene.GetNumberOfNodes() > before
    ivc = measured.profiles["ivc"]
    truth = small.branches["ivc"]
    assert np.median(ivc.ce_diameter_mm[~ivc.confluence_zone]) == pytest.approx(
        np.median(truth.ce_diameter_mm[truth.healthy()]), abs=1.5
    )
    # A seed far from its vein: refused, and nothing added.
    count = mrml.scene.GetNumberOfNodes()
    seeds = dict(small.seeds, Right=small.seeds["Right"] + [0.0, 0.0, -60.0])
    with pytest.raises(ValueError, match="Right seed"):
        measure_segmentation_into_scene(mrml.scene, nodes.segmentation, seeds=seeds)
    assert mrml.scene.GetNumberOfNodes() == count

"""A plan a clinician can trust (issue 13), on images it was not tuned on: the same plan however
the voxels are stored, coarse or cropped images flagged or refused, levels counted from the CT's
own bone agreeing with the vertebra labels of the same scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from IVCReconstructionLib.measure.veins import measure_labels
from IVCReconstructionLib.pipeline import plan_veins
from IVCReconstructionLib.plan.catalog import load_catalog
from IVCReconstructionLib.segment.seeded import segment_veins
from IVCReconstructionLib.spine import level_at, levels_from_labels
from IVCReconstructionLib.spine.find import find_spine
from support.catalogs import with_open_cell_ivc_stent

REAL_CT = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalseg-example"


def restored(image: np.ndarray, labels: np.ndarray, m: np.ndarray, how: str):
    """The same physical image stored otherwise: ``how`` is "flip ij" (LPS <-> RAS in-plane),
    "swap ij" (rows for columns) or "flip k" (slices top-down)."""
    if how == "flip ij":
        f = np.eye(4)
        f[0, 0], f[0, 3], f[1, 1], f[1, 3] = -1, image.shape[2] - 1, -1, image.shape[1] - 1
        return image[:, ::-1, ::-1].copy(), labels[:, ::-1, ::-1].copy(), m @ f
    if how == "swap ij":
        return image.transpose(0, 2, 1).copy(), labels.transpose(0, 2, 1).copy(), m @ np.eye(4)[[1, 0, 2, 3]]
    if how == "flip k":
        f = np.eye(4)
        f[2, 2], f[2, 3] = -1, image.shape[0] - 1
        return image[::-1].copy(), labels[::-1].copy(), m @ f
    raise ValueError(how)


def plan_of(image, labels, m, seeds, catalog, seeded: bool):
    occlusions = None
    if seeded:
        segmentation = segment_veins(image, m, seeds)
        labels, occlusions = segmentation.labels, segmentation.occlusions
    measured = measure_labels(labels, m, seeds=seeds, occlusions=occlusions)
    spine = find_spine(image, m, near=measured.tree.confluence_ras)
    return plan_veins(measured, seeds, catalog, spine=spine).plan


CASES = {
    # A May-Thurner compression segmented from the seeds: a unilateral left iliac construct.
    "may-thurner seeded": ({"may_thurner_area_ratio": 0.3}, True, None, ("flip ij", "swap ij")),
    # An IVC occlusion with narrowed iliac veins, segmented: an inverted-Y (open-cell IVC stent).
    "post-thrombotic seeded": (
        {"ivc_occlusion_length_mm": 40.0, "bilateral_iliac_area_ratio": 0.4},
        True,
        "open-cell",
        ("flip k",),
    ),
    # Both iliac veins narrowed, the truth labels given as an existing segmentation.
    "bilateral labels": ({"bilateral_iliac_area_ratio": 0.35}, False, None, ("swap ij",)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_same_plan_however_the_voxels_are_stored(phantom_of, case):
    options, seeded, catalog_kind, storages = CASES[case]
    ph = phantom_of(spacing_mm=1.5, **options)
    seeds = dict(ph.seeds, Renal=ph.renal_inflow_ras)
    veins = np.where(np.isin(ph.labels, (1, 2, 3)), ph.labels, 0).astype(np.uint8)
    catalog = with_open_cell_ivc_stent() if catalog_kind else load_catalog()
    base = plan_of(ph.image, veins, ph.ijk_to_ras, seeds, catalog, seeded)
    assert base.stents, case
    for how in storages:
        other = plan_of(*restored(ph.image, veins, ph.ijk_to_ras, how), seeds, catalog, seeded)
        assert other.template == base.template, how
        devices = [(s.role, s.product_id, s.diameter_mm, s.length_mm) for s in base.stents]
        assert [(s.role, s.product_id, s.diameter_mm, s.length_mm) for s in other.stents] == devices, how
        for a, b in zip(base.stents, other.stents, strict=True):
            assert np.linalg.norm(a.proximal_ras - b.proximal_ras) <= 2.0, (how, a.id)
            assert np.linalg.norm(a.distal_ras - b.distal_ras) <= 2.0, (how, a.id)
            assert (a.proximal_level, a.distal_level) == (b.proximal_level, b.distal_level), (how, a.id)
        assert np.linalg.norm(base.confluence_ras - other.confluence_ras) <= 2.0, how
        for name, point in base.landmarks.items():
            if point is not None:
                assert np.linalg.norm(point - other.landmarks[name]) <= 2.0, (how, name)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CT.is_dir(), reason=f"real CT not found at {REAL_CT}")
def test_levels_counted_from_the_bone_agree_with_the_vertebra_labels():
    """The real CT's veins given without its vertebra labels: the plan counts the levels from
    the bone, and the confluence's level is within one level of what the labels say."""
    from IVCReconstructionLib.inputs.volumes import read_volume
    from IVCReconstructionLib.names import VERTEBRAE
    from IVCReconstructionLib.segment.existing import labels_from_label_map

    image, m = read_volume(REAL_CT / "ct.nii.gz")
    raw, m_labels = read_volume(REAL_CT / "labels.nii.gz")
    veins = labels_from_label_map(raw, {"ivc": 63, "left_iliac": 67, "right_iliac": 68})
    measured = measure_labels(veins, m_labels)
    spine = find_spine(image, m, near=measured.tree.confluence_ras)
    assert spine.levels is not None and spine.levels.estimated
    plan = plan_veins(measured, None, load_catalog(), spine=spine).plan
    truth = levels_from_labels(raw, m_labels)

    def rank(level: str) -> float:
        """Position on the spine in levels (a disc half-way between its two bodies)."""
        parts = [VERTEBRAE.index(p) for p in level.split("/")]
        return float(np.mean(parts))

    found = plan.vertebral_levels["confluence"]
    expected = level_at(truth, plan.confluence_ras)
    assert abs(rank(found) - rank(expected)) <= 1.0, (found, expected)
    for st in plan.stents:
        assert st.proximal_level and st.distal_level
    for les in plan.lesions:
        assert les.vertebral_level


def test_voxels_beyond_the_hard_limit_are_refused_before_any_work(phantom_of, tmp_path):
    """A venogram with 5 mm in-plane voxels: no stent is sized (a clear ValueError before any
    work), and the scene and the output folder are left as they were."""
    from IVCReconstructionLib.pipeline import PipelineInput, run_pipeline
    from IVCReconstructionLib.scene.context import create_scene
    from IVCReconstructionLib.scene.nodes import add_volume_from_array

    ph = phantom_of(spacing_mm=2.5)
    image = ph.image[:, ::2, ::2].copy()
    m = ph.ijk_to_ras.copy()
    m[:3, :2] *= 2.0
    out = tmp_path / "plan"
    with create_scene() as ctx:
        volume = add_volume_from_array(ctx.scene, image, m, "coarse")
        before = ctx.scene.GetNumberOfNodes()
        case = PipelineInput(volume, image, m, {"format": "test"}, ph.seeds)
        with pytest.raises(ValueError, match=r"5\.0 x 2\.5 mm voxels.*above 4 mm.*thinner slices"):
            run_pipeline(ctx, case, out, catalog=load_catalog())
        assert ctx.scene.GetNumberOfNodes() == before
    assert not out.exists()


def test_coarse_voxels_warn_and_lesions_narrower_than_two_voxels_are_uncertain(phantom_of):
    """3 mm voxels (within the hard limit, above the warning's): LOW_RESOLUTION, and a lesion's
    area is never reported as 0 when some lumen was measured."""
    ph = phantom_of(spacing_mm=3.0, may_thurner_area_ratio=0.25)
    veins = np.where(np.isin(ph.labels, (1, 2, 3)), ph.labels, 0).astype(np.uint8)
    measured = measure_labels(veins, ph.ijk_to_ras, seeds=ph.seeds)
    plan = plan_veins(measured, dict(ph.seeds, Renal=ph.renal_inflow_ras), load_catalog()).plan
    (warning,) = [w for w in plan.warnings if w.code == "LOW_RESOLUTION"]
    assert "3.0 x 3.0 mm" in warning.message
    for les in plan.lesions:
        assert les.kind == "occlusion" or les.min_area_mm2 > 0
    fine = phantom_of(spacing_mm=1.5, may_thurner_area_ratio=0.25)
    veins = np.where(np.isin(fine.labels, (1, 2, 3)), fine.labels, 0).astype(np.uint8)
    measured = measure_labels(veins, fine.ijk_to_ras, seeds=fine.seeds)
    assert "LOW_RESOLUTION" not in {
        w.code for w in plan_veins(measured, fine.seeds, load_catalog()).plan.warnings
    }


def test_a_volume_that_cuts_the_iliac_veins_short_says_so(phantom_of):
    """The May-Thurner phantom cropped 75 mm below the confluence: the external iliac veins are
    barely imaged, and the plan says so (INCOMPLETE_COVERAGE); uncropped it does not."""
    ph = phantom_of(spacing_mm=1.5, may_thurner_area_ratio=0.3)
    veins = np.where(np.isin(ph.labels, (1, 2, 3)), ph.labels, 0).astype(np.uint8)
    seeds = {"IVC": ph.seeds["IVC"], "Renal": ph.renal_inflow_ras}
    whole = plan_veins(measure_labels(veins, ph.ijk_to_ras, seeds=seeds), seeds, load_catalog()).plan
    assert "INCOMPLETE_COVERAGE" not in {w.code for w in whole.warnings}
    # Keep the slices from 75 mm below the confluence up (k runs along S, up or down).
    s = ph.ijk_to_ras[2, 2] * np.arange(veins.shape[0]) + ph.ijk_to_ras[2, 3]
    keep = np.flatnonzero(s >= ph.confluence_ras[2] - 75.0)
    k0 = int(keep.min())
    cropped = veins[k0 : int(keep.max()) + 1]
    m = ph.ijk_to_ras.copy()
    m[:3, 3] += m[:3, 2] * k0
    plan = plan_veins(measure_labels(cropped, m, seeds=seeds), seeds, load_catalog()).plan
    messages = [w.message for w in plan.warnings if w.code == "INCOMPLETE_COVERAGE"]
    assert any("left iliac vein leaves the images" in msg for msg in messages), messages
    assert any("external iliac vein was imaged" in msg for msg in messages), messages


@pytest.mark.parametrize("ratio, anatomy", [(0.25, None), (0.4, 4)])
def test_may_thurner_area_loss_within_12_points_of_truth(phantom_of, ratio, anatomy):
    """Segmented from the seeds at 1 mm and measured: the area loss within 12 points of the
    truth (measured 8 and 1 points; at 1.5 mm the seeded segmentation is 10-13 points off)."""
    options = {"may_thurner_area_ratio": ratio}
    if anatomy is not None:
        options["seed"] = anatomy
    ph = phantom_of(**options)
    (truth,) = ph.lesions
    plan = plan_of(
        ph.image, None, ph.ijk_to_ras, dict(ph.seeds, Renal=ph.renal_inflow_ras), load_catalog(), True
    )
    (found,) = [les for les in plan.lesions if les.branch == "left_iliac"]
    assert abs(found.area_stenosis_pct - truth.area_stenosis_pct) <= 12.0, (found.area_stenosis_pct, truth)
    assert found.vertebral_level  # the phantom's spine names it
    assert truth.start_mm - 5 <= found.narrowest_mm <= truth.end_mm + 5

"""Each plan warning: one case that raises it and one that does not.

The cases are built from synthetic profiles (straight veins with prescribed diameters and
lesions), so each test changes exactly one thing; the phantom-based tests in test_planner.py
show the same planner on realistic anatomy.
"""

from __future__ import annotations

import numpy as np
import pytest

from IVCReconstructionLib.measure.datatypes import BranchProfile, CenterlineBranch, CenterlineTree
from IVCReconstructionLib.plan.catalog import load_catalog
from IVCReconstructionLib.plan.datatypes import ImagingFacts, PlanSettings
from IVCReconstructionLib.plan.edits import change_stent, move_end
from IVCReconstructionLib.plan.findings import find_findings
from IVCReconstructionLib.plan.sizing import PlanContext, choose_product
from IVCReconstructionLib.plan.templates import make_plan
from support.catalogs import with_open_cell_ivc_stent

CATALOG = load_catalog()
CATALOG_Y = with_open_cell_ivc_stent(CATALOG)  # can make an inverted-Y


def branch(
    name, direction, length, ce, narrowing=None, bend_at=None, bend_to=None, tail_ce=None, eiv_ce=None
):
    """A straight (or once-bent) branch from the confluence with a CE diameter profile
    (``eiv_ce`` beyond 70 mm, where the findings estimate the left CIV/EIV boundary)."""
    d = np.arange(0.0, length + 1e-9, 1.0)
    u = np.asarray(direction, dtype=float) / np.linalg.norm(direction)
    pts = d[:, None] * u
    if bend_at is not None:
        v = np.asarray(bend_to, dtype=float) / np.linalg.norm(bend_to)
        after = d > bend_at
        pts[after] = bend_at * u + (d[after] - bend_at)[:, None] * v
    ce = np.full(len(d), float(ce))
    if eiv_ce is not None:
        ce[d > 70] = eiv_ce
    if narrowing is not None:
        start, end, ratio = narrowing
        ce[(d >= start) & (d <= end)] = ce[0] * np.sqrt(ratio)
    if tail_ce is not None:
        ce[d > length - 25] = tail_ce
    zone = d < 3
    area = np.pi * ce**2 / 4
    prof = BranchProfile(name, d, pts, area, ce, ce * 0.95, ce * 1.05, ce * 0.9, zone)
    return CenterlineBranch(name, pts, d, ce * 0.45), prof


def context(
    left=None, right=None, ivc=None, seeds=None, settings=None, modality="ct", renal=True, imaging=None, **kw
):
    specs = {
        "ivc": {"direction": (0, 0, 1), "length": 150, "ce": 20.0, **(ivc or {})},
        "left_iliac": {"direction": (-0.6, 0, -0.8), "length": 180, "ce": 14.0, **(left or {})},
        "right_iliac": {"direction": (0.5, 0, -0.87), "length": 170, "ce": 13.5, **(right or {})},
    }
    made = {n: branch(n, **spec) for n, spec in specs.items()}
    tree = CenterlineTree({n: b for n, (b, _) in made.items()}, np.zeros(3))
    profiles = {n: p for n, (_, p) in made.items()}
    seeds = {**({"Renal": (0.0, 0.0, 110.0)} if renal else {}), **(seeds or {})}
    findings = find_findings(
        tree, profiles, seeds=seeds, voxel_mm=kw.get("voxel_mm"), contacts_ras=kw.get("contacts")
    )
    return PlanContext(
        tree,
        profiles,
        findings,
        kw.get("catalog", CATALOG),
        settings or PlanSettings(),
        modality,
        imaging or ImagingFacts(),
    )


MT = {"narrowing": (25, 35, 0.3)}  # a left common iliac compression


def codes(plan):
    return {w.code for w in plan.warnings}


def test_no_stent():
    assert "NO_STENT" in codes(make_plan(context()))
    assert "NO_STENT" not in codes(make_plan(context(left=MT)))


def test_diameter_mismatch():
    ctx = context(left=MT)
    plan = make_plan(ctx)
    assert "DIAMETER_MISMATCH" not in codes(plan)
    change_stent(ctx, plan, plan.stents[0].id, "sinus-xl", 24.0, 60.0)
    assert "DIAMETER_MISMATCH" in codes(plan)


def test_renal_coverage():
    ctx = context(ivc={"narrowing": (20, 40, 0.2)}, catalog=CATALOG_Y)
    plan = make_plan(ctx)
    (ivc,) = [s for s in plan.stents if s.role == "ivc"]
    assert "RENAL_COVERAGE" not in codes(plan)
    move_end(ctx, plan, ivc.id, "proximal", 120.0)
    assert "RENAL_COVERAGE" in codes(plan)


def test_landing_in_disease():
    ctx = context(left=MT)
    plan = make_plan(ctx)
    assert "LANDING_IN_DISEASE" not in codes(plan)
    move_end(ctx, plan, plan.stents[0].id, "distal", 33.0)
    assert "LANDING_IN_DISEASE" in codes(plan)


def test_elliptical_landing():
    ctx = context(left=MT)
    assert "ELLIPTICAL_LANDING" not in codes(make_plan(ctx))
    prof = ctx.profiles["left_iliac"]
    prof.min_diameter_mm[:] = prof.ce_diameter_mm * 0.6
    prof.max_diameter_mm[:] = prof.ce_diameter_mm * 1.4
    assert "ELLIPTICAL_LANDING" in codes(make_plan(ctx))


def test_inguinal_crossing():
    far = {"InguinalLeft": np.array([-0.6, 0, -0.8]) * 150}
    near = {"InguinalLeft": np.array([-0.6, 0, -0.8]) * 45}
    assert "INGUINAL_CROSSING" not in codes(make_plan(context(left=MT, seeds=far)))
    assert "INGUINAL_CROSSING" in codes(make_plan(context(left=MT, seeds=near)))


def test_tortuosity():
    assert "TORTUOSITY" not in codes(make_plan(context(left=MT)))
    bent = dict(MT, bend_at=45, bend_to=(1, 0, 0.2))
    assert "TORTUOSITY" in codes(make_plan(context(left=bent)))


CHAIN = {"ce": 19.0, "eiv_ce": 12.5, "narrowing": (60, 90, 0.3)}  # disease across the CIV/EIV boundary


def test_overlap_insufficient():
    ctx = context(left=CHAIN)
    plan = make_plan(ctx)
    chain = sorted(
        (s for s in plan.stents if "left_iliac" in s.coverage), key=lambda s: s.coverage["left_iliac"][0]
    )
    assert len(chain) == 2  # a common iliac and an external iliac stent
    assert "OVERLAP_INSUFFICIENT" not in codes(plan)
    move_end(ctx, plan, chain[0].id, "distal", chain[1].coverage["left_iliac"][0] + 5.0)
    assert "OVERLAP_INSUFFICIENT" in codes(plan)


def test_overlap_diameter_mismatch():
    ctx = context(left=CHAIN)
    plan = make_plan(ctx)
    chain = sorted(
        (s for s in plan.stents if "left_iliac" in s.coverage), key=lambda s: s.coverage["left_iliac"][0]
    )
    assert "OVERLAP_DIAMETER_MISMATCH" in codes(plan)  # 20 mm common iliac on a 14 mm external iliac stent
    change_stent(ctx, plan, chain[1].id, chain[0].product_id, chain[0].diameter_mm, chain[0].length_mm)
    assert "OVERLAP_DIAMETER_MISMATCH" not in codes(plan)


def test_contralateral_jailing():
    ctx = context(ivc={"narrowing": (20, 40, 0.2)}, catalog=CATALOG_Y)
    plan = make_plan(ctx)
    assert plan.template == "inverted-y" and "CONTRALATERAL_JAILING" not in codes(plan)
    (ivc,) = [s for s in plan.stents if s.role == "ivc"]
    change_stent(ctx, plan, ivc.id, "wallstent", 24.0, 90.0)  # braided, closed cells
    assert "CONTRALATERAL_JAILING" in codes(plan)


def test_inverted_y_needs_an_open_cell_ivc_stent():
    """The built-in catalogue has no IVC stent with large open cells and sizes: auto does not
    choose an inverted-Y and says why, and asking for one is refused."""
    plan = make_plan(context(ivc={"narrowing": (20, 40, 0.2), "ce": 28.0}))
    assert plan.template == "double-barrel"
    assert "large open cells" in plan.reason and "fit side by side" in plan.reason
    with pytest.raises(ValueError, match=r"inverted-Y cannot be deployed.*large open cells"):
        make_plan(context(ivc={"narrowing": (20, 40, 0.2)}), "inverted-y")


def test_limb_area():
    """Inside the IVC stent the two limbs get the double-barrel area check; the IVC stent is
    widened (up to ivc_max_mm) so that they fit."""
    ctx = context(ivc={"narrowing": (20, 40, 0.2)}, catalog=CATALOG_Y)
    plan = make_plan(ctx)
    (ivc,) = [s for s in plan.stents if s.role == "ivc"]
    assert ivc.diameter_mm == 24.0  # two 16 mm limbs need 22.6 mm; the reference is 20 mm
    assert "LIMB_AREA" not in codes(plan)
    change_stent(ctx, plan, ivc.id, ivc.product_id, 20.0, 100.0)
    assert "LIMB_AREA" in codes(plan)


def test_double_barrel_area():
    wide = context(left={"narrowing": (2, 30, 0.3)}, right={"narrowing": (2, 30, 0.3)}, ivc={"ce": 28.0})
    narrow = context(left={"narrowing": (2, 30, 0.3)}, right={"narrowing": (2, 30, 0.3)}, ivc={"ce": 18.0})
    assert make_plan(wide).template == "double-barrel"
    assert "DOUBLE_BARREL_AREA" not in codes(make_plan(wide))
    # Two 16 mm stents do not fit an 18 mm IVC: auto keeps them at the confluence instead.
    assert make_plan(narrow).template == "kissing"
    assert "DOUBLE_BARREL_AREA" in codes(make_plan(narrow, "double-barrel"))


def test_poor_inflow():
    assert "POOR_INFLOW" not in codes(make_plan(context(left=MT)))
    assert "POOR_INFLOW" in codes(make_plan(context(left=dict(MT, tail_ce=7.0))))


def test_confluence_artefact_and_modality_and_ivus():
    plan = make_plan(context(left=MT))
    assert {"CONFLUENCE_ARTEFACT", "NOT_IVUS_CONFIRMED"} <= codes(plan)
    assert "LOW_CONFIDENCE_MODALITY" not in codes(plan)
    ctx = context(left=MT)
    for prof in ctx.profiles.values():
        prof.confluence_zone[:] = False
    assert "CONFLUENCE_ARTEFACT" not in codes(make_plan(ctx))
    assert "LOW_CONFIDENCE_MODALITY" in codes(make_plan(context(left=MT, modality="mr")))


def test_device_out_of_range():
    assert "DEVICE_OUT_OF_RANGE" not in codes(make_plan(context(left=MT)))
    huge = context(left=dict(MT, ce=40.0))
    plan = make_plan(huge)
    assert "DEVICE_OUT_OF_RANGE" in codes(plan)
    assert not any("left_iliac" in s.coverage for s in plan.stents)


@pytest.mark.parametrize("template", ["inverted-y", "kissing", "double-barrel"])
def test_every_stent_is_a_catalogue_size(template):
    ctx = context(
        left=MT, right={"narrowing": (30, 40, 0.4)}, ivc={"narrowing": (20, 40, 0.3)}, catalog=CATALOG_Y
    )
    for st in make_plan(ctx, template).stents:
        assert st.length_mm in CATALOG_Y.products[st.product_id].sizes[st.diameter_mm]


IVC_DISEASE = {"narrowing": (22, 64, 0.0001)}  # an IVC occlusion 22-64 mm above the confluence


def test_lesion_not_covered():
    """Every lesion is covered by a stent or listed as untreated (critical)."""
    # A 20 mm IVC takes no double-barrel of two 16 mm stents, and there is no inverted-Y device.
    none = make_plan(context(ivc=IVC_DISEASE))
    assert none.template == "none" and "no construct can be deployed" in none.reason
    (warning,) = [w for w in none.warnings if w.code == "LESION_NOT_COVERED"]
    assert warning.severity == "critical" and "22-64 mm" in warning.message
    # A double-barrel asked for runs up the IVC past the occlusion (landing above it).
    ctx = context(ivc=IVC_DISEASE)
    barrel = make_plan(ctx, "double-barrel")
    assert "LESION_NOT_COVERED" not in codes(barrel)
    tops = [s.coverage["ivc"][1] for s in barrel.stents if "ivc" in s.coverage]
    assert len(tops) == 2 and min(tops) >= 64 + ctx.settings.landing_mm - 1
    # Kissing stents stop at the confluence: the occlusion is left, and the plan says so.
    assert "LESION_NOT_COVERED" in codes(make_plan(ctx, "kissing"))


def test_renal_level_unknown():
    ivc_stents = context(ivc=IVC_DISEASE, renal=False, catalog=CATALOG_Y)
    assert "RENAL_LEVEL_UNKNOWN" in codes(make_plan(ivc_stents))
    assert "RENAL_LEVEL_UNKNOWN" not in codes(make_plan(context(ivc=IVC_DISEASE, catalog=CATALOG_Y)))
    # No stent in the IVC: the renal level does not matter.
    assert "RENAL_LEVEL_UNKNOWN" not in codes(make_plan(context(left=MT, renal=False)))


def test_low_resolution_and_uncertain_lesions():
    fine = make_plan(context(left=MT, voxel_mm=1.0, imaging=ImagingFacts((1.0, 1.0))))
    assert "LOW_RESOLUTION" not in codes(fine) and not fine.lesions[0].uncertain
    coarse_ctx = context(left=MT, voxel_mm=4.0, imaging=ImagingFacts((4.0, 4.0)))
    coarse = make_plan(coarse_ctx)
    (warning,) = [w for w in coarse.warnings if w.code == "LOW_RESOLUTION"]
    (lesion,) = coarse.lesions
    # A 7.3 mm narrowest diameter is less than two 4 mm voxels.
    assert lesion.uncertain and "uncertain" in warning.message
    assert lesion.min_area_mm2 > 0
    # Thick slices alone warn too.
    assert "LOW_RESOLUTION" in codes(make_plan(context(left=MT, imaging=ImagingFacts((0.8, 3.5)))))


def test_short_lesions_need_several_voxels():
    """A narrowing over fewer sections than two voxels is not a lesion on coarse voxels, but it
    is shown where it is, for IVUS to confirm (SHORT_NARROWING): never stented. One shorter than
    min_lesion_mm is noise at any voxel size."""
    short = {"narrowing": (30, 34, 0.3)}  # 5 sections
    fine = context(left=short, voxel_mm=1.0)
    assert len(fine.findings.lesions) == 1 and fine.findings.artefacts == []
    coarse = context(left=short, voxel_mm=4.0)
    assert coarse.findings.lesions == []  # shorter than two voxels
    (art,) = coarse.findings.artefacts
    assert art.artefact == "SHORT_NARROWING" and art.branch == "left_iliac"
    assert 29.0 <= art.start_mm <= 31.0 and 33.0 <= art.end_mm <= 35.0 and art.area_ratio < 0.5
    assert any("8 mm" in n and "IVUS" in n for n in coarse.findings.notes), coarse.findings.notes
    plan = make_plan(coarse)
    (warning,) = [w for w in plan.warnings if w.code == "SHORT_NARROWING"]
    assert "left iliac" in warning.message and "IVUS" in warning.message
    assert plan.stents == [] and plan.to_json()["artefacts"][0]["artefact"] == "SHORT_NARROWING"
    dip = context(left={"narrowing": (30, 31, 0.3)}, voxel_mm=4.0)  # 2 sections
    assert dip.findings.lesions == [] and dip.findings.artefacts == []


def test_incomplete_coverage():
    cut = {"left_iliac": True, "ivc": False, "right_iliac": False}
    assert "INCOMPLETE_COVERAGE" not in codes(make_plan(context(left=MT)))
    # The left iliac vein cut 90 mm below the confluence: 20 mm of external iliac vein imaged.
    short = make_plan(context(left=dict(MT, length=90), imaging=ImagingFacts((1.0, 1.0), cut)))
    (warning,) = [w for w in short.warnings if w.code == "INCOMPLETE_COVERAGE"]
    assert "left iliac vein leaves the images 90 mm below" in warning.message
    assert "20 mm of external iliac vein" in warning.message
    # Cut far below, with enough external iliac vein and no stent near the cut: no warning.
    long = make_plan(context(left=MT, imaging=ImagingFacts((1.0, 1.0), cut)))
    assert "INCOMPLETE_COVERAGE" not in codes(long)


def test_label_junction_is_not_a_lesion():
    """A narrowing where two segments of a given segmentation touch is an artefact: listed, never
    stented."""
    waist = {"narrowing": (4, 12, 0.1)}
    lesion = context(ivc=waist, catalog=CATALOG_Y)
    assert [les.branch for les in lesion.findings.lesions] == ["ivc"]
    contacts = np.array([[0.0, 0.0, 8.0], [1.0, 0.0, 8.0]])  # the segments touch at the waist
    junction = context(ivc=waist, catalog=CATALOG_Y, contacts=contacts, voxel_mm=1.0)
    assert junction.findings.lesions == []
    (art,) = junction.findings.artefacts
    assert art.artefact == "LABEL_JUNCTION" and art.narrowest_mm == pytest.approx(8.0, abs=4.0)
    plan = make_plan(junction)
    assert plan.stents == [] and "LABEL_JUNCTION" in codes(plan)
    assert plan.to_json()["artefacts"][0]["artefact"] == "LABEL_JUNCTION"
    # Contacts far from the narrowing (at the confluence, 30 mm below a real lesion) change nothing.
    far = context(ivc={"narrowing": (30, 40, 0.1)}, contacts=np.array([[0.0, 0.0, 1.0]]), voxel_mm=1.0)
    assert len(far.findings.lesions) == 1 and far.findings.artefacts == []


def test_confluence_sections_are_not_a_lesion():
    ctx = context(left={"narrowing": (0, 2, 0.2)})  # only in the confluence zone (d < 3 mm)
    assert ctx.findings.lesions == []
    assert [a.artefact for a in ctx.findings.artefacts] == ["CONFLUENCE_ARTEFACT"]
    assert any(w.code == "CONFLUENCE_ARTEFACT" and w.severity == "warning" for w in make_plan(ctx).warnings)


def test_a_narrowing_shown_only_by_confluence_zone_sections_is_not_a_lesion():
    """Sections of the IVC at 87-99 mm that also cut another vein read 2-33 mm2; two between
    them (92, 95 mm) are whole. The run below half the reference spans them all, but only zone
    sections show it: an artefact, not an IVC stenosis of area ratio ~1 (the harder phantom's
    2 x 2 x 3 mm May-Thurner 0.8 mm / 25 HU cell). Where a section outside the zone is narrow
    too, it is a lesion."""
    ctx = context(left=MT)
    prof = ctx.profiles["ivc"]
    broken = np.flatnonzero(
        (prof.distance_mm >= 87) & (prof.distance_mm <= 99) & ~np.isin(prof.distance_mm, (92, 95))
    )
    prof.area_mm2[broken] = 15.0
    prof.ce_diameter_mm[broken] = np.sqrt(4.0 * 15.0 / np.pi)
    prof.confluence_zone[broken] = True
    found = find_findings(ctx.tree, ctx.profiles, seeds={"Renal": (0.0, 0.0, 110.0)}, voxel_mm=3.0)
    assert [les.branch for les in found.lesions] == ["left_iliac"]
    (art,) = found.artefacts
    assert (
        art.branch == "ivc"
        and art.artefact == "CONFLUENCE_ARTEFACT"
        and 86 <= art.start_mm <= art.end_mm <= 100
    )
    prof.area_mm2[np.isin(prof.distance_mm, (92, 95))] = 0.3 * np.pi * 10.0**2
    found = find_findings(ctx.tree, ctx.profiles, seeds={"Renal": (0.0, 0.0, 110.0)}, voxel_mm=3.0)
    assert sorted(les.branch for les in found.lesions) == ["ivc", "left_iliac"] and found.artefacts == []


def test_lesion_measures():
    (les,) = context(left=MT).findings.lesions
    assert les.area_stenosis_pct == pytest.approx(70.0, abs=0.5)
    assert les.reference_diameter_mm == pytest.approx(14.0, abs=0.1)
    # The minimum diameter is the narrowest section's smallest (0.95 x CE in these profiles).
    assert les.min_diameter_mm == pytest.approx(0.95 * 14.0 * np.sqrt(0.3), abs=0.05)
    assert les.diameter_stenosis_pct == pytest.approx(100 * (1 - 0.95 * np.sqrt(0.3)), abs=0.5)
    assert 25 <= les.narrowest_mm <= 35
    data = les.to_json()
    assert data["area_stenosis_pct"] == pytest.approx(70.0, abs=0.5) and len(data["narrowest_ras"]) == 3


@pytest.mark.parametrize("ce", [20.0, 20.1, 20.4])
def test_device_choice_is_stable_near_a_size_step(ce):
    """A reference within the size tolerance (0.5 mm) above a catalogue diameter takes that size:
    20.0, 20.1 and 20.4 mm all give the same product and size, without a DIAMETER_MISMATCH."""
    ctx = context(left=dict(MT, ce=ce))
    product, diameter, _ = choose_product(ctx, ce, 60.0)
    reference = choose_product(context(left=dict(MT, ce=20.0)), 20.0, 60.0)
    assert (product.id, diameter) == (reference[0].id, reference[1]) == (reference[0].id, 20.0)
    assert choose_product(ctx, 20.6, 60.0)[1] == 22.0
    assert "DIAMETER_MISMATCH" not in codes(make_plan(ctx))


def test_deployment_order():
    y = make_plan(context(ivc=IVC_DISEASE, catalog=CATALOG_Y))
    steps = {s.role: s.deployment_step for s in y.stents}
    assert steps["ivc"] == 1 and sorted((steps["left_limb"], steps["right_limb"])) == [2, 3]
    assert "cells of the IVC stent" in y.to_json()["deployment"][1]["how"]
    barrel = make_plan(context(ivc=IVC_DISEASE), "double-barrel")
    assert {s.deployment_step for s in barrel.stents if "ivc" in s.coverage} == {1}
    assert barrel.to_json()["deployment"][0]["stents"] == sorted(
        s.id for s in barrel.stents if "ivc" in s.coverage
    )


def test_a_short_stretch_without_lumen_on_coarse_voxels_is_an_uncertain_stenosis():
    """A segmentation that saw no lumen over 2 mm of 4 mm voxels has not shown an occlusion: the
    lesion is an uncertain stenosis with its measured area, never area 0; 40 mm stays an
    occlusion."""
    from IVCReconstructionLib.segment.datatypes import OccludedStretch

    ctx = context(left={"narrowing": (28, 33, 0.15)})
    prof = ctx.profiles["left_iliac"]
    short = OccludedStretch("left_iliac", prof.points_ras[30], prof.points_ras[32], 2.0)
    found = find_findings(ctx.tree, ctx.profiles, occlusions=[short], voxel_mm=4.0)
    (les,) = found.lesions
    assert les.kind == "stenosis" and les.uncertain and les.min_area_mm2 > 0
    assert found.artefacts == []  # no lumen across it: a lesion, not a short narrowing
    long = OccludedStretch("left_iliac", prof.points_ras[30], prof.points_ras[70], 40.0)
    (occ,) = find_findings(ctx.tree, ctx.profiles, occlusions=[long], voxel_mm=4.0).lesions
    assert occ.kind == "occlusion" and occ.min_area_mm2 == 0.0

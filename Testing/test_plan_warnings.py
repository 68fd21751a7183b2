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
from IVCReconstructionLib.plan.datatypes import PlanSettings
from IVCReconstructionLib.plan.edits import change_stent, move_end
from IVCReconstructionLib.plan.findings import find_findings
from IVCReconstructionLib.plan.sizing import PlanContext
from IVCReconstructionLib.plan.templates import make_plan

CATALOG = load_catalog()


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


def context(left=None, right=None, ivc=None, seeds=None, settings=None, modality="ct", **kw):
    specs = {
        "ivc": {"direction": (0, 0, 1), "length": 150, "ce": 20.0, **(ivc or {})},
        "left_iliac": {"direction": (-0.6, 0, -0.8), "length": 180, "ce": 14.0, **(left or {})},
        "right_iliac": {"direction": (0.5, 0, -0.87), "length": 170, "ce": 13.5, **(right or {})},
    }
    made = {n: branch(n, **spec) for n, spec in specs.items()}
    tree = CenterlineTree({n: b for n, (b, _) in made.items()}, np.zeros(3))
    profiles = {n: p for n, (_, p) in made.items()}
    renal = (0.0, 0.0, 110.0)
    seeds = {"Renal": renal, **(seeds or {})}
    findings = find_findings(tree, profiles, seeds=seeds)
    return PlanContext(
        tree, profiles, findings, kw.get("catalog", CATALOG), settings or PlanSettings(), modality
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
    ctx = context(ivc={"narrowing": (20, 40, 0.2)})
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
    ctx = context(ivc={"narrowing": (20, 40, 0.2)})
    assert "CONTRALATERAL_JAILING" in codes(make_plan(ctx))  # no sized large-open-cell IVC stent
    z = dict(CATALOG.products["z-stent"].__dict__)
    z["sizes"] = {20.0: (60.0, 80.0, 100.0)}
    from IVCReconstructionLib.plan.catalog import Catalog, Product

    with_z = Catalog({**CATALOG.products, "z-stent": Product(**z)})
    plan = make_plan(context(ivc={"narrowing": (20, 40, 0.2)}, catalog=with_z))
    assert "CONTRALATERAL_JAILING" not in codes(plan)


def test_double_barrel_area():
    wide = context(left={"narrowing": (2, 30, 0.3)}, right={"narrowing": (2, 30, 0.3)}, ivc={"ce": 28.0})
    narrow = context(left={"narrowing": (2, 30, 0.3)}, right={"narrowing": (2, 30, 0.3)}, ivc={"ce": 18.0})
    assert make_plan(wide).template == "double-barrel"
    assert "DOUBLE_BARREL_AREA" not in codes(make_plan(wide))
    assert "DOUBLE_BARREL_AREA" in codes(make_plan(narrow))


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
    ctx = context(left=MT, right={"narrowing": (30, 40, 0.4)}, ivc={"narrowing": (20, 40, 0.3)})
    for st in make_plan(ctx, template).stents:
        assert st.length_mm in CATALOG.products[st.product_id].sizes[st.diameter_mm]

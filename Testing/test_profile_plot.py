"""The report's diameter profiles: SVG drawn from the numbers, which a stock Slicer can write."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from IVCReconstructionLib.outputs.profile_plot import MARGIN, WIDTH, branch_profile_svg
from IVCReconstructionLib.plan.templates import make_plan
from test_planner import context_of

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def pictures(phantom_of, segmentation_of):
    _ph, ctx = context_of(phantom_of, segmentation_of, may_thurner_area_ratio=0.3)
    plan = make_plan(ctx)
    svgs = {b: ET.fromstring(branch_profile_svg(p, ctx.findings, plan)) for b, p in ctx.profiles.items()}
    return ctx, plan, svgs


def of_class(svg, cls):
    return [el for el in svg.iter() if el.get("class") == cls]


def test_the_ce_line_follows_the_profile(pictures):
    ctx, _plan, svgs = pictures
    for branch, svg in svgs.items():
        assert svg.get("data-branch") == branch and svg.tag == f"{SVG}svg"
        profile = ctx.profiles[branch]
        (line,) = of_class(svg, "ce")
        xy = np.array([[float(v) for v in pair.split(",")] for pair in line.get("points").split()])
        assert len(xy) == np.isfinite(profile.ce_diameter_mm).sum()
        # x runs from the left to the right edge of the plot; a wider vein is drawn higher.
        assert xy[0, 0] == pytest.approx(MARGIN["left"], abs=0.1)
        assert xy[-1, 0] == pytest.approx(WIDTH - MARGIN["right"], abs=0.1)
        ce = profile.ce_diameter_mm[np.isfinite(profile.ce_diameter_mm)]
        # y is the diameter on a linear scale, upwards (sections at the confluence may be clipped
        # at the top: the scale follows the measurable ones).
        zone = np.asarray(profile.confluence_zone)[np.isfinite(profile.ce_diameter_mm)]
        assert np.corrcoef(xy[~zone, 1], ce[~zone])[0, 1] < -0.9999
        assert len(of_class(svg, "min-max")) == 1 and len(of_class(svg, "mis")) == 1


def test_lesions_references_landmarks_and_stents_are_drawn(pictures):
    ctx, plan, svgs = pictures
    left = svgs["left_iliac"]
    (lesion,) = [les for les in ctx.findings.lesions if les.branch == "left_iliac"]
    assert [el.get("data-kind") for el in of_class(left, "lesion")] == ["stenosis"]
    texts = [el.text for el in left.iter(f"{SVG}text")]
    assert f"stenosis, {100 * (1 - lesion.area_ratio):.0f} % area loss" in texts
    assert {el.get("data-segment") for el in of_class(left, "reference")} == {"CIV", "EIV"}
    assert "left_civ_end" in {el.get("data-landmark") for el in of_class(left, "landmark")}
    assert {el.get("data-segment") for el in of_class(svgs["ivc"], "reference")} == {"IVC"}
    for branch, svg in svgs.items():
        drawn = [el.get("data-stent") for el in of_class(svg, "stent")]
        assert drawn == [st.id for st in plan.stents if branch in st.coverage]
    assert of_class(svgs["right_iliac"], "stent") == []  # one-sided May-Thurner: no right stent
    assert "no stent on this vein" in [el.text for el in svgs["right_iliac"].iter(f"{SVG}text")]

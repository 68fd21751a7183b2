"""From findings to a suggested stent construct: which template, and its stents.

``auto`` chooses the template from where the lesions are and says why (docs/planning.md,
*Templates and sizing*); each template places its stents by the shared rules of ``sizing``:
sized from the catalogue (R4, R5, R14), landing in healthy vein (R8), overlapping (R9), the IVC
stent below the renal inflow (R13), unilateral stents ending at the confluence (R10). Every
number without a published source is a setting (``PlanSettings``) written into plan.json. The
plan is a suggestion for a physician: its warnings (``warnings``) say what is risky about it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .. import names
from ..names import TEMPLATE_CHOICES, StentRole, Template
from .datatypes import Plan, PlanWarning, Stent
from .refresh import refresh
from .sizing import (
    PlanContext,
    choose_product,
    distal_landing,
    floor_for,
    lesions_on,
    make_stent,
    out_of_range,
    reference_at,
)


def _iliac_chain(
    ctx: PlanContext,
    branch: str,
    start: float,
    end: float,
    ivc_top: float,
    role: StentRole,
    ids: Iterator[str],
    warnings: list[PlanWarning],
) -> list[Stent]:
    """Stents covering an iliac branch from ``start`` (negative = into the IVC up to ``ivc_top``)
    to ``end``, cranial first, chained with overlaps when one is not long enough or when the
    common and external iliac calibres differ by more than the mismatch setting."""
    s = ctx.settings
    ref_civ, seg_civ = reference_at(ctx, branch, max(start, 0.0) + 1.0)
    ref_eiv, seg_eiv = reference_at(ctx, branch, end - 1.0)
    d_civ = max(ref_civ, floor_for(s, seg_civ))
    d_eiv = max(ref_eiv, floor_for(s, seg_eiv))
    civ_end = ctx.findings.landmarks[f"{names.SIDES[branch]}_civ_end"].distance_mm
    pieces = [(start, end, d_civ)]
    if seg_eiv != seg_civ and abs(d_civ - d_eiv) > s.overlap_mismatch_mm and civ_end < end - s.overlap_mm:
        pieces = [
            (start, min(civ_end + s.overlap_mm / 2, end), d_civ),
            (civ_end - s.overlap_mm / 2, end, d_eiv),
        ]
    stents = []
    for a, b, diameter in pieces:
        cursor = max(a, 0.0)
        while cursor < b - 1e-6:
            into_ivc = ivc_top if cursor <= 0.0 else 0.0
            choice = choose_product(ctx, diameter, b - cursor + into_ivc)
            if choice is None:
                warnings.append(out_of_range(diameter, f"the {names.SIDES[branch]} iliac vein"))
                return stents
            product, dia, length = choice
            cov = {"ivc": (0.0, into_ivc)} if into_ivc > 0 else {}
            # The stent covers its nominal length: rounding the length up moves the distal end
            # out (within the branch), it does not shorten the stent.
            stop = min(cursor + length - into_ivc, float(ctx.profiles[branch].distance_mm[-1]))
            cov[branch] = (cursor, stop)
            stents.append(make_stent(ctx, next(ids), role, product, dia, length, cov))
            if stop >= b - 1e-6:
                break
            cursor = stop - s.overlap_mm
    return stents


def choose_template(ctx: PlanContext) -> tuple[Template, str]:
    """The template ``auto`` picks, and why."""
    ivc = lesions_on(ctx, "ivc")
    left, right = lesions_on(ctx, "left_iliac"), lesions_on(ctx, "right_iliac")
    if not (ivc or left or right):
        return Template.NONE, "no stenosis of 50 % area or more and no occlusion was found"
    if ivc:
        return (
            Template.INVERTED_Y,
            "the IVC is diseased: an IVC stent with an iliac limb on each side reconstructs the confluence",
        )
    if left and right:
        reach = min(les.start_mm for les in left + right)
        if reach < ctx.settings.landing_mm:
            return (
                Template.DOUBLE_BARREL,
                "both iliac veins are diseased up to the confluence: two iliac stents side by side into "
                "the IVC",
            )
        return (
            Template.KISSING,
            "both iliac veins are diseased below the confluence: two iliac stents ending together at it",
        )
    side = "left" if left else "right"
    return (
        Template.UNILATERAL,
        f"only the {side} iliac vein is diseased: one iliac construct ending at the confluence",
    )


def parse_template(template: str | Template) -> Template:
    """A template a user asked for (``names.TEMPLATE_CHOICES``, by value).

    :raises ValueError: for any other name, listing the choices.
    """
    try:
        chosen = Template(template)
    except ValueError:
        chosen = None
    if chosen is None or chosen not in TEMPLATE_CHOICES:
        raise ValueError(f"unknown template {template!r}: use one of {', '.join(TEMPLATE_CHOICES)}")
    return chosen


def make_plan(ctx: PlanContext, template: str | Template = Template.AUTO) -> Plan:
    """Suggest a stent construct of ``template`` (one of ``names.TEMPLATE_CHOICES``).

    :raises ValueError: for an unknown template or one that needs a side without disease.
    """
    template = parse_template(template)
    auto_template, reason = choose_template(ctx)
    if template is Template.AUTO:
        template = auto_template
    else:
        reason = "chosen by the user"
    s = ctx.settings
    counter = iter(f"S{n}" for n in range(1, 100))
    warnings: list[PlanWarning] = []
    stents: list[Stent] = []
    if template is not Template.NONE:
        sides = [b for b in names.ILIAC_BRANCHES if lesions_on(ctx, b)]
        if template in (Template.INVERTED_Y, Template.DOUBLE_BARREL, Template.KISSING):
            sides = list(names.ILIAC_BRANCHES)
        if template is Template.UNILATERAL and len(sides) != 1:
            raise ValueError("the unilateral template needs disease on exactly one iliac side")
        if template is Template.INVERTED_Y:
            stents += _ivc_stent(ctx, counter, warnings)
        for branch in sides:
            lesions = lesions_on(ctx, branch)
            lesion_end = max(
                (les.end_mm for les in lesions),
                default=ctx.findings.landmarks[f"{names.SIDES[branch]}_civ_end"].distance_mm,
            )
            distal = distal_landing(ctx, branch, lesion_end)
            top = {Template.INVERTED_Y: s.overlap_mm, Template.DOUBLE_BARREL: s.landing_mm}.get(template, 0.0)
            role = StentRole(f"{names.SIDES[branch]}_limb" if template is Template.INVERTED_Y else branch)
            stents += _iliac_chain(ctx, branch, 0.0, distal, top, role, counter, warnings)
    plan = Plan(
        template=template,
        reason=reason,
        stents=stents,
        warnings=warnings,
        settings=s,
        confluence_ras=np.asarray(ctx.tree.confluence_ras, dtype=float),
    )
    return refresh(ctx, plan)


def _ivc_stent(ctx: PlanContext, counter: Iterator[str], warnings: list[PlanWarning]) -> list[Stent]:
    """The IVC stent of an inverted-Y: from the confluence up past the IVC disease by the landing
    length, kept below the renal inflow (R5, R8, R13); limbs need large open cells (R11)."""
    s = ctx.settings
    lesions = lesions_on(ctx, "ivc")
    limit = float(ctx.profiles["ivc"].distance_mm[-1])
    renal = ctx.findings.landmarks.get("renal_inflow")
    if renal is not None:
        limit = min(limit, renal.distance_mm - s.renal_margin_mm)
    lesion_end = max((les.end_mm for les in lesions), default=s.overlap_mm)
    top = distal_landing(ctx, "ivc", lesion_end, limit)
    diameter = max(ctx.findings.references_mm["ivc"], s.ivc_floor_mm)
    choice = choose_product(ctx, diameter, top, require=lambda p: p.large_open_cells and not p.covered)
    if choice is None:
        choice = choose_product(ctx, diameter, top, require=lambda p: not p.covered)
    if choice is None:
        warnings.append(out_of_range(diameter, "the IVC"))
        return []
    product, dia, length = choice
    # The nominal length sets where the cranial end lands (a longer stock length reaches higher;
    # the renal check then says if it reaches too high).
    top = min(float(length), float(ctx.profiles["ivc"].distance_mm[-1]))
    stent = make_stent(ctx, next(counter), StentRole.IVC, product, dia, length, {"ivc": (0.0, top)})
    return [stent]

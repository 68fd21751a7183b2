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
    end: float,
    ivc_top: float,
    role: StentRole,
    ids: Iterator[str],
    warnings: list[PlanWarning],
    product_id: str | None = None,
) -> list[Stent]:
    """Stents along one path from ``ivc_top`` mm up the IVC (0 = from the confluence) down an
    iliac branch to ``end``, cranial first, chained with overlaps when one is not long enough
    or when the common and external iliac calibres differ by more than the mismatch setting.

    Positions along the path are ``x``: the IVC's distances negated above the confluence, the
    branch's distances below it, so that one stent may span both. ``product_id``: the product
    the first stent is to be (the same on both sides of a pair), when it has the size."""
    s = ctx.settings
    d_civ, seg_civ = limb_diameter(ctx, branch)
    ref_eiv, seg_eiv = reference_at(ctx, branch, end - 1.0)
    d_eiv = max(ref_eiv, floor_for(s, seg_eiv))
    civ_end = ctx.findings.landmarks[f"{names.SIDES[branch]}_civ_end"].distance_mm
    pieces = [(-ivc_top, end, d_civ)]
    if seg_eiv != seg_civ and abs(d_civ - d_eiv) > s.overlap_mismatch_mm and civ_end < end - s.overlap_mm:
        pieces = [
            (-ivc_top, min(civ_end + s.overlap_mm / 2, end), d_civ),
            (civ_end - s.overlap_mm / 2, end, d_eiv),
        ]
    branch_end = float(ctx.profiles[branch].distance_mm[-1])
    stents: list[Stent] = []
    for a, b, diameter in pieces:
        cursor = a
        while cursor < b - 1e-6:
            choice = None
            if product_id is not None and not stents:
                choice = choose_product(ctx, diameter, b - cursor, lambda p: p.id == product_id)
            choice = choice or choose_product(ctx, diameter, b - cursor)
            if choice is None:
                warnings.append(out_of_range(diameter, f"the {names.SIDES[branch]} iliac vein"))
                return stents
            product, dia, length = choice
            # The stent covers its nominal length: rounding the length up moves the distal end
            # out (within the branch), it does not shorten the stent.
            stop = min(cursor + length, branch_end)
            cov = {}
            if cursor < 0.0:
                cov["ivc"] = (max(0.0, -stop), -cursor)
            if stop > 0.0:
                cov[branch] = (max(cursor, 0.0), stop)
            stents.append(make_stent(ctx, next(ids), role, product, dia, length, cov))
            if stop >= b - 1e-6:
                break
            cursor = stop - s.overlap_mm
    return stents


def limb_diameter(ctx: PlanContext, branch: str) -> tuple[float, str]:
    """The diameter an iliac stent at the confluence needs (its CIV reference, at least the
    floor, R4) and the segment it is measured in."""
    ref, segment = reference_at(ctx, branch, 1.0)
    return max(ref, floor_for(ctx.settings, segment)), segment


def _catalogue_diameter(ctx: PlanContext, needed: float, require=lambda p: True) -> float | None:
    """The nominal diameter sizing would choose for ``needed`` (R4/R5 with the size tolerance)."""
    choice = choose_product(ctx, needed, 1.0, require)
    return None if choice is None else choice[1]


def _open_cell_ivc(p) -> bool:
    """An IVC stent a limb can be passed through (inverted-Y, R11): large open cells, uncovered."""
    return p.large_open_cells and not p.covered


def inverted_y_device(ctx: PlanContext):
    """(product, diameter) of the IVC stent an inverted-Y would use, or None when the catalogue
    has no stent with large open cells and known sizes wide enough (R5, R11). Its diameter is
    widened, up to ``ivc_max_mm``, so that both limbs fit inside it side by side."""
    s = ctx.settings
    needed = max(ctx.findings.references_mm["ivc"], s.ivc_floor_mm)
    limbs = [_catalogue_diameter(ctx, limb_diameter(ctx, b)[0]) or 0.0 for b in names.ILIAC_BRANCHES]
    fit = float(np.sqrt(sum(d * d for d in limbs) / s.barrel_area_max))
    for want in (max(needed, fit), needed):
        if want > s.ivc_max_mm + 1e-6 and want != needed:
            continue
        choice = choose_product(ctx, want, 1.0, _open_cell_ivc)
        if choice is not None:
            return choice[0], choice[1]
    return None


def barrel_fit(ctx: PlanContext) -> tuple[bool, str]:
    """Whether two iliac stents fit side by side in the IVC (double-barrel, R11), and the
    numbers, in words."""
    limbs = [_catalogue_diameter(ctx, limb_diameter(ctx, b)[0]) for b in names.ILIAC_BRANCHES]
    if None in limbs:
        return False, "no iliac stent in the catalogue is wide enough"
    area = sum(np.pi * d * d / 4.0 for d in limbs)
    ivc = ctx.findings.references_mm["ivc"]
    ivc_area = np.pi * ivc * ivc / 4.0
    sizes = " and ".join(f"{d:g}" for d in limbs)
    fits = area <= ctx.settings.barrel_area_max * ivc_area
    verb = "fit" if fits else "do not fit"
    return (
        fits,
        f"two iliac stents of {sizes} mm ({area:.0f} mm2) {verb} side by side in the {ivc:.0f} mm IVC "
        f"({ivc_area:.0f} mm2)",
    )


NO_OPEN_CELL_IVC_STENT = (
    "no IVC stent in the catalogue has large open cells and known sizes (inverted-Y needs one: the limbs "
    "pass through its cells)"
)


def choose_template(ctx: PlanContext) -> tuple[Template, str]:
    """The template ``auto`` picks, and why: the one whose technique the lesions call for, among
    those that can be deployed with the catalogue's devices (R11)."""
    ivc = lesions_on(ctx, "ivc")
    left, right = lesions_on(ctx, "left_iliac"), lesions_on(ctx, "right_iliac")
    if not (ivc or left or right):
        return Template.NONE, "no stenosis of 50 % area or more and no occlusion was found"
    if ivc:
        if inverted_y_device(ctx) is not None:
            return (
                Template.INVERTED_Y,
                "the IVC is diseased: an IVC stent with an iliac limb on each side, through its cells, "
                "reconstructs the confluence",
            )
        fits, numbers = barrel_fit(ctx)
        if fits:
            return (
                Template.DOUBLE_BARREL,
                f"the IVC is diseased and {NO_OPEN_CELL_IVC_STENT}; {numbers}: two iliac stents side by "
                "side up the IVC past its disease",
            )
        return (
            Template.NONE,
            "the IVC is diseased, but no construct can be deployed from the catalogue: "
            f"{NO_OPEN_CELL_IVC_STENT}, and {numbers} (double-barrel); add a suitable device to the "
            "catalogue or plan by hand",
        )
    if left and right:
        reach = min(les.start_mm for les in left + right)
        if reach < ctx.settings.landing_mm:
            fits, numbers = barrel_fit(ctx)
            if fits:
                return (
                    Template.DOUBLE_BARREL,
                    f"both iliac veins are diseased up to the confluence and {numbers}: two iliac stents "
                    "side by side into the IVC",
                )
            if inverted_y_device(ctx) is not None:
                return (
                    Template.INVERTED_Y,
                    f"both iliac veins are diseased up to the confluence, and {numbers}: an IVC stent with "
                    "a limb on each side through its cells",
                )
            return (
                Template.KISSING,
                f"both iliac veins are diseased up to the confluence, {numbers} and "
                f"{NO_OPEN_CELL_IVC_STENT}: two iliac stents ending together at the confluence",
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

    :raises ValueError: for an unknown template, one that needs a side without disease, or an
        inverted-Y without an IVC stent the limbs can pass through.
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
    if template is Template.INVERTED_Y and inverted_y_device(ctx) is None:
        raise ValueError(
            f"an inverted-Y cannot be deployed from this catalogue: {NO_OPEN_CELL_IVC_STENT}; add one with "
            "its sizes to a catalogue file, or choose double-barrel or kissing"
        )
    if template is not Template.NONE:
        sides = [b for b in names.ILIAC_BRANCHES if lesions_on(ctx, b)]
        if template in (Template.INVERTED_Y, Template.DOUBLE_BARREL, Template.KISSING):
            sides = list(names.ILIAC_BRANCHES)
        if template is Template.UNILATERAL and len(sides) != 1:
            raise ValueError("the unilateral template needs disease on exactly one iliac side")
        if template is Template.INVERTED_Y:
            stents += _ivc_stent(ctx, counter, warnings)
        top = 0.0
        if template is Template.INVERTED_Y:
            top = s.overlap_mm
        elif template is Template.DOUBLE_BARREL:
            top = _barrel_top(ctx)
        distal = {}
        for branch in sides:
            lesion_end = max(
                (les.end_mm for les in lesions_on(ctx, branch)),
                default=ctx.findings.landmarks[f"{names.SIDES[branch]}_civ_end"].distance_mm,
            )
            distal[branch] = distal_landing(ctx, branch, lesion_end)
        paired = None
        if template in (Template.DOUBLE_BARREL, Template.KISSING):
            # Side by side, the two stents are one product (the same radial force and behaviour;
            # deployed together): the one the longer side needs.
            longer = max(sides, key=lambda b: distal[b])
            first = choose_product(ctx, limb_diameter(ctx, longer)[0], distal[longer] + top)
            paired = None if first is None else first[0].id
        for branch in sides:
            role = StentRole(f"{names.SIDES[branch]}_limb" if template is Template.INVERTED_Y else branch)
            stents += _iliac_chain(ctx, branch, distal[branch], top, role, counter, warnings, paired)
    plan = Plan(
        template=template,
        reason=reason,
        stents=stents,
        warnings=warnings,
        settings=s,
        confluence_ras=np.asarray(ctx.tree.confluence_ras, dtype=float),
    )
    return refresh(ctx, plan)


def _ivc_limit(ctx: PlanContext) -> float:
    """How far up the IVC a stent may reach: its imaged length, below the renal inflow (R13)."""
    limit = float(ctx.profiles["ivc"].distance_mm[-1])
    renal = ctx.findings.landmarks.get("renal_inflow")
    if renal is not None:
        limit = min(limit, renal.distance_mm - ctx.settings.renal_margin_mm)
    return limit


def _barrel_top(ctx: PlanContext) -> float:
    """How far up the IVC a double-barrel reaches: the landing length into a healthy IVC, or,
    over IVC disease, past it by the landing length, below the renal inflow (R8, R13)."""
    lesions = lesions_on(ctx, "ivc")
    if not lesions:
        return ctx.settings.landing_mm
    lesion_end = max(les.end_mm for les in lesions)
    return max(ctx.settings.landing_mm, distal_landing(ctx, "ivc", lesion_end, _ivc_limit(ctx)))


def _ivc_stent(ctx: PlanContext, counter: Iterator[str], warnings: list[PlanWarning]) -> list[Stent]:
    """The IVC stent of an inverted-Y: from the confluence up past the IVC disease by the landing
    length, kept below the renal inflow (R5, R8, R13), with large open cells for the limbs (R11)
    and wide enough for both limbs side by side inside it."""
    s = ctx.settings
    lesions = lesions_on(ctx, "ivc")
    lesion_end = max((les.end_mm for les in lesions), default=s.overlap_mm)
    top = distal_landing(ctx, "ivc", lesion_end, _ivc_limit(ctx))
    device = inverted_y_device(ctx)
    if device is None:
        diameter = max(ctx.findings.references_mm["ivc"], s.ivc_floor_mm)
        warnings.append(out_of_range(diameter, "the IVC"))
        return []
    product, dia = device
    length = ctx.catalog.length_at_least(product, dia, top) or max(product.sizes[dia])
    # The nominal length sets where the cranial end lands (a longer stock length reaches higher;
    # the renal check then says if it reaches too high).
    top = min(float(length), float(ctx.profiles["ivc"].distance_mm[-1]))
    stent = make_stent(ctx, next(counter), StentRole.IVC, product, dia, length, {"ivc": (0.0, top)})
    return [stent]

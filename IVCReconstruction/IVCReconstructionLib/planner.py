"""From findings to a suggested stent construct: templates, sizing, landing zones, warnings.

The rules are the shared domain notes' R4-R14 (sizing from the catalogue, landing in healthy
vein, overlaps, IVC stent below the renal veins, unilateral stents ending at the confluence);
every number without a published source is a setting (``PlanSettings``) and is written into
plan.json. The plan is a suggestion for a physician: warnings say what is risky about it.

Positions are distances along the branches' centerlines from the confluence (architecture
section 4). A stent that crosses the confluence covers an interval of the IVC axis and one of
an iliac axis; its path runs down the IVC centerline to the confluence and on along the iliac.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from .catalog import Catalog, Product
from .findings import Findings
from .plan_types import Plan, PlanSettings, PlanWarning, Stent, lesion_to_json
from .profile_types import BranchProfile, CenterlineTree

TEMPLATES = ("auto", "inverted-y", "double-barrel", "kissing", "unilateral")
SIDES = {"left_iliac": "left", "right_iliac": "right"}


@dataclass
class PlanContext:
    """Everything a plan is computed from; kept so that edits can recompute coverage and warnings."""

    tree: CenterlineTree
    profiles: dict[str, BranchProfile]
    findings: Findings
    catalog: Catalog
    settings: PlanSettings = field(default_factory=PlanSettings)
    modality: str = "ct"  # "ct", "mr" or "noncontrast-ct"


# ---------------------------------------------------------------------------------------------
# Geometry on the branch axes


def _points(profile: BranchProfile, start: float, end: float) -> np.ndarray:
    """Centerline points of a branch between two distances (interpolated ends)."""
    d = profile.distance_mm
    start, end = max(start, d[0]), min(end, d[-1])
    inner = (d > start) & (d < end)
    ends = [np.array([np.interp(x, d, profile.points_ras[:, c]) for c in range(3)]) for x in (start, end)]
    return np.vstack([ends[0], profile.points_ras[inner], ends[1]])


def stent_path(ctx: PlanContext, coverage: dict[str, tuple[float, float]]) -> np.ndarray:
    """Axis of a stent with this coverage, cranial end first."""
    parts = []
    if "ivc" in coverage:
        a, b = coverage["ivc"]
        parts.append(_points(ctx.profiles["ivc"], a, b)[::-1])  # from cranial (b) down to a
    for branch in ("left_iliac", "right_iliac"):
        if branch in coverage:
            a, b = coverage[branch]
            parts.append(_points(ctx.profiles[branch], a, b))
    path = np.vstack(parts)
    keep = np.r_[True, np.linalg.norm(np.diff(path, axis=0), axis=1) > 1e-6]
    return path[keep]


def _span(coverage: dict[str, tuple[float, float]]) -> float:
    return sum(b - a for a, b in coverage.values())


def _reference(ctx: PlanContext, branch: str, distance: float) -> tuple[float, str]:
    """Reference CE diameter and segment name ("ivc", "civ", "eiv", "cfv") at a position."""
    refs = ctx.findings.references_mm
    if branch == "ivc":
        return refs["ivc"], "ivc"
    side = SIDES[branch]
    marks = ctx.findings.landmarks
    if f"{side}_inguinal" in marks and distance > marks[f"{side}_inguinal"].distance_mm:
        return refs[f"{side}_eiv"], "cfv"
    if distance <= marks[f"{side}_civ_end"].distance_mm:
        return refs[f"{side}_civ"], "civ"
    return refs[f"{side}_eiv"], "eiv"


def _floor(settings: PlanSettings, segment: str) -> float:
    return {
        "ivc": settings.ivc_floor_mm,
        "civ": settings.civ_floor_mm,
        "eiv": settings.eiv_floor_mm,
        "cfv": settings.cfv_floor_mm,
    }[segment]


def _healthy(ctx: PlanContext, branch: str, start: float, end: float) -> bool:
    """True when [start, end] of a branch is landing-grade: outside lesions, CE >= the healthy
    fraction of the reference, and not a confluence-zone section (R8)."""
    prof = ctx.profiles[branch]
    sel = (prof.distance_mm >= start) & (prof.distance_mm <= end)
    if not sel.any():
        return False
    for les in ctx.findings.lesions:
        if les.branch == branch and les.end_mm > start + 0.5 and les.start_mm < end - 0.5:
            return False
    ref = np.array([_reference(ctx, branch, d)[0] for d in prof.distance_mm[sel]])
    ok = prof.ce_diameter_mm[sel] >= ctx.settings.landing_healthy_fraction * ref
    return bool(np.all(ok | prof.confluence_zone[sel]))


def _distal_landing(ctx: PlanContext, branch: str, lesion_end: float, limit: float | None = None) -> float:
    """The end of the first ``landing_mm`` of healthy vein past a lesion (outward from the
    confluence), or the branch's end (``limit``) when there is none."""
    prof = ctx.profiles[branch]
    landing = ctx.settings.landing_mm
    limit = float(prof.distance_mm[-1]) if limit is None else limit
    d = lesion_end
    while d + landing <= limit:
        if _healthy(ctx, branch, d, d + landing):
            return d + landing
        d += 1.0
    return limit


# ---------------------------------------------------------------------------------------------
# Products and chains


def _choose(ctx: PlanContext, diameter: float, length: float, require=lambda p: True):
    """(product, diameter, length) for a stent at least this wide and long, or the longest that
    is wide enough (the caller then chains), or None when nothing is wide enough."""
    options = ctx.catalog.smallest_at_least(diameter, require)
    if not options:
        return None
    best = options[0][1]
    same = [(p, d) for p, d in options if d == best]
    for p, d in same:
        nominal = ctx.catalog.length_at_least(p, d, length)
        if nominal is not None:
            return p, d, nominal
    p, d = max(same, key=lambda pd: max(pd[0].sizes[pd[1]]))
    return p, d, max(p.sizes[d])


def _out_of_range(diameter: float, where: str) -> PlanWarning:
    return PlanWarning(
        "DEVICE_OUT_OF_RANGE",
        "critical",
        None,
        f"no catalogue stent is {diameter:.0f} mm or wider for {where}: add one to the catalogue or "
        "size by hand",
    )


def _make_stent(ctx, sid, role, product: Product, diameter, length, coverage) -> Stent:
    return Stent(
        id=sid,
        role=role,
        product_id=product.id,
        product=product.product,
        manufacturer=product.manufacturer,
        diameter_mm=float(diameter),
        length_mm=float(length),
        path_ras=stent_path(ctx, coverage),
        coverage={k: (float(a), float(b)) for k, (a, b) in coverage.items()},
    )


def _iliac_chain(
    ctx: PlanContext, branch: str, start: float, end: float, ivc_top: float, role: str, ids, warnings
):
    """Stents covering an iliac branch from ``start`` (negative = into the IVC up to ``ivc_top``)
    to ``end``, cranial first, chained with overlaps when one is not long enough or when the
    common and external iliac calibres differ by more than the mismatch setting."""
    s = ctx.settings
    ref_civ, seg_civ = _reference(ctx, branch, max(start, 0.0) + 1.0)
    ref_eiv, seg_eiv = _reference(ctx, branch, end - 1.0)
    d_civ = max(ref_civ, _floor(s, seg_civ))
    d_eiv = max(ref_eiv, _floor(s, seg_eiv))
    civ_end = ctx.findings.landmarks[f"{SIDES[branch]}_civ_end"].distance_mm
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
            choice = _choose(ctx, diameter, b - cursor + into_ivc)
            if choice is None:
                warnings.append(_out_of_range(diameter, f"the {SIDES[branch]} iliac vein"))
                return stents
            product, dia, length = choice
            cov = {"ivc": (0.0, into_ivc)} if into_ivc > 0 else {}
            # The stent covers its nominal length: rounding the length up moves the distal end
            # out (within the branch), it does not shorten the stent.
            stop = min(cursor + length - into_ivc, float(ctx.profiles[branch].distance_mm[-1]))
            cov[branch] = (cursor, stop)
            stents.append(_make_stent(ctx, next(ids), role, product, dia, length, cov))
            if stop >= b - 1e-6:
                break
            cursor = stop - s.overlap_mm
    return stents


# ---------------------------------------------------------------------------------------------
# Templates


def _lesions_on(ctx, branch):
    return [les for les in ctx.findings.lesions if les.branch == branch]


def choose_template(ctx: PlanContext) -> tuple[str, str]:
    """The template ``auto`` picks, and why."""
    ivc = _lesions_on(ctx, "ivc")
    left, right = _lesions_on(ctx, "left_iliac"), _lesions_on(ctx, "right_iliac")
    if not (ivc or left or right):
        return "none", "no stenosis of 50 % area or more and no occlusion was found"
    if ivc:
        return (
            "inverted-y",
            "the IVC is diseased: an IVC stent with an iliac limb on each side reconstructs the confluence",
        )
    if left and right:
        reach = min(les.start_mm for les in left + right)
        if reach < ctx.settings.landing_mm:
            return (
                "double-barrel",
                "both iliac veins are diseased up to the confluence: two iliac stents side by side into "
                "the IVC",
            )
        return (
            "kissing",
            "both iliac veins are diseased below the confluence: two iliac stents ending together at it",
        )
    side = "left" if left else "right"
    return (
        "unilateral",
        f"only the {side} iliac vein is diseased: one iliac construct ending at the confluence",
    )


def make_plan(ctx: PlanContext, template: str = "auto") -> Plan:
    """Suggest a stent construct. ``template`` is one of TEMPLATES.

    :raises ValueError: for an unknown template or one that needs a side without disease.
    """
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}: use one of {', '.join(TEMPLATES)}")
    auto_template, reason = choose_template(ctx)
    if template == "auto":
        template = auto_template
    else:
        reason = "chosen by the user"
    s = ctx.settings
    counter = iter(f"S{n}" for n in range(1, 100))
    warnings: list[PlanWarning] = []
    stents: list[Stent] = []
    if template != "none":
        sides = [b for b in ("left_iliac", "right_iliac") if _lesions_on(ctx, b)]
        if template in ("inverted-y", "double-barrel", "kissing"):
            sides = ["left_iliac", "right_iliac"]
        if template == "unilateral" and len(sides) != 1:
            raise ValueError("the unilateral template needs disease on exactly one iliac side")
        if template == "inverted-y":
            stents += _ivc_stent(ctx, counter, warnings)
        for branch in sides:
            lesions = _lesions_on(ctx, branch)
            lesion_end = max(
                (les.end_mm for les in lesions),
                default=ctx.findings.landmarks[f"{SIDES[branch]}_civ_end"].distance_mm,
            )
            distal = _distal_landing(ctx, branch, lesion_end)
            top = {"inverted-y": s.overlap_mm, "double-barrel": s.landing_mm}.get(template, 0.0)
            role = f"{SIDES[branch]}_limb" if template == "inverted-y" else branch
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


def _ivc_stent(ctx: PlanContext, counter, warnings) -> list[Stent]:
    """The IVC stent of an inverted-Y: from the confluence up past the IVC disease by the landing
    length, kept below the renal inflow (R5, R8, R13); limbs need large open cells (R11)."""
    s = ctx.settings
    lesions = _lesions_on(ctx, "ivc")
    limit = float(ctx.profiles["ivc"].distance_mm[-1])
    renal = ctx.findings.landmarks.get("renal_inflow")
    if renal is not None:
        limit = min(limit, renal.distance_mm - s.renal_margin_mm)
    lesion_end = max((les.end_mm for les in lesions), default=s.overlap_mm)
    top = _distal_landing(ctx, "ivc", lesion_end, limit)
    diameter = max(ctx.findings.references_mm["ivc"], s.ivc_floor_mm)
    choice = _choose(ctx, diameter, top, require=lambda p: p.large_open_cells and not p.covered)
    if choice is None:
        choice = _choose(ctx, diameter, top, require=lambda p: not p.covered)
    if choice is None:
        warnings.append(_out_of_range(diameter, "the IVC"))
        return []
    product, dia, length = choice
    # The nominal length sets where the cranial end lands (a longer stock length reaches higher;
    # the renal check then says if it reaches too high).
    top = min(float(length), float(ctx.profiles["ivc"].distance_mm[-1]))
    stent = _make_stent(ctx, next(counter), "ivc", product, dia, length, {"ivc": (0.0, top)})
    return [stent]


# ---------------------------------------------------------------------------------------------
# Coverage, branches, warnings (recomputed after every edit)


def refresh(ctx: PlanContext, plan: Plan) -> Plan:
    """Recompute the stents' paths, the plan's summary and its warnings."""
    f = ctx.findings
    for st in plan.stents:
        st.path_ras = stent_path(ctx, st.coverage)
    # plan.json always says whether the renal inflow was found (null when it was not).
    plan.landmarks = {"renal_inflow": None}
    plan.landmarks.update({k: v.ras for k, v in f.landmarks.items() if k != "confluence"})
    plan.branches = {
        "ivc": {
            "length_mm": round(ctx.profiles["ivc"].distance_mm[-1], 1),
            "reference_diameter_mm": round(f.references_mm["ivc"], 1),
        },
    }
    for branch, side in SIDES.items():
        plan.branches[branch] = {
            "length_mm": round(ctx.profiles[branch].distance_mm[-1], 1),
            "civ_reference_diameter_mm": round(f.references_mm[f"{side}_civ"], 1),
            "eiv_reference_diameter_mm": round(f.references_mm[f"{side}_eiv"], 1),
        }
    plan.lesions = [lesion_to_json(les) for les in f.lesions]
    plan.warnings = [w for w in plan.warnings if w.code == "DEVICE_OUT_OF_RANGE"] + check_warnings(ctx, plan)
    return plan


def _bend_angle(path: np.ndarray, window: float = 20.0) -> float:
    """Smallest angle (degrees, 180 = straight) between the axis directions `window` mm apart."""
    if len(path) < 3:
        return 180.0
    s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))]
    worst = 180.0
    for x in np.arange(window, s[-1] - window + 1e-9, 2.0):
        p = [np.array([np.interp(v, s, path[:, c]) for c in range(3)]) for v in (x - window, x, x + window)]
        u, w = p[0] - p[1], p[2] - p[1]
        cos = u @ w / max(np.linalg.norm(u) * np.linalg.norm(w), 1e-9)
        worst = min(worst, math.degrees(math.acos(np.clip(cos, -1.0, 1.0))))
    return worst


def check_warnings(ctx: PlanContext, plan: Plan) -> list[PlanWarning]:
    """The warnings of domain notes section 8 that the data allow."""
    s, f = ctx.settings, ctx.findings
    out: list[PlanWarning] = []

    def warn(code, severity, stent, message):
        out.append(PlanWarning(code, severity, stent, message))

    if plan.template == "none":
        warn("NO_STENT", "info", None, f"No stent suggested: {plan.reason}.")
    for st in plan.stents:
        # Diameter against the reference where the stent lands (R6).
        branch = next(b for b in ("left_iliac", "right_iliac", "ivc") if b in st.coverage)
        a, b = st.coverage[branch]
        ref, segment = _reference(ctx, branch, (a + b) / 2.0)
        ratio = st.diameter_mm / ref if ref > 0 else float("inf")
        if ratio > s.oversize_max or ratio < s.undersize_min:
            warn(
                "DIAMETER_MISMATCH",
                "warning",
                st.id,
                f"{st.name}: {st.diameter_mm:g} mm is {ratio:.2f} x the {segment.upper()} reference "
                f"({ref:.1f} mm); the rule is {s.undersize_min:g}-{s.oversize_max:g} x",
            )
        if st.role == "ivc" and st.diameter_mm > s.ivc_max_mm:
            warn(
                "DIAMETER_MISMATCH",
                "warning",
                st.id,
                f"{st.name}: IVC stents above {s.ivc_max_mm:g} mm are unusual",
            )
        # Renal veins (R13).
        renal = f.landmarks.get("renal_inflow")
        if "ivc" in st.coverage and renal is not None and st.coverage["ivc"][1] >= renal.distance_mm:
            warn(
                "RENAL_COVERAGE",
                "critical" if ctx.catalog.products[st.product_id].covered else "warning",
                st.id,
                f"{st.name} reaches the renal vein inflow ({renal.distance_mm:.0f} mm above the confluence)",
            )
        # Landing zones (R8).
        for where, (br, pos) in _ends(st).items():
            window = (
                (pos - s.landing_mm, pos) if where == "distal" or br == "ivc" else (pos, pos + s.landing_mm)
            )
            iliac = [b for b in SIDES if b in st.coverage]
            if where == "proximal" and iliac and st.coverage[iliac[0]][0] <= 0.0:
                # An iliac stent ending at the confluence (R10) rests against the IVC there, not
                # on a landing zone of iliac vein; one reaching into the IVC lands in the IVC.
                into = st.coverage.get("ivc", (0.0, 0.0))[1]
                if into <= 0.0:
                    continue
                br, window = "ivc", (0.0, into)
            # A limb's proximal end lands inside the IVC stent, not on the vein wall.
            lands_on_wall = not (st.role.endswith("_limb") and where == "proximal")
            if lands_on_wall and (br != "ivc" or where == "proximal"):
                if not _healthy(ctx, br, *window):
                    warn(
                        "LANDING_IN_DISEASE",
                        "warning",
                        st.id,
                        f"{st.name}: the {where} end does not have {s.landing_mm:g} mm of healthy vein "
                        f"({br.replace('_', ' ')}, {window[0]:.0f}-{window[1]:.0f} mm)",
                    )
                prof = ctx.profiles[br]
                sel = (
                    (prof.distance_mm >= window[0]) & (prof.distance_mm <= window[1]) & ~prof.confluence_zone
                )
                if sel.any():
                    shape = np.median(prof.min_diameter_mm[sel] / np.maximum(prof.max_diameter_mm[sel], 1e-6))
                    if shape < s.elliptical_landing:
                        warn(
                            "ELLIPTICAL_LANDING",
                            "warning",
                            st.id,
                            f"{st.name}: the {where} landing zone is elliptical (min/max {shape:.2f})",
                        )
        # Inguinal ligament (R12).
        for br in ("left_iliac", "right_iliac"):
            mark = f.landmarks.get(f"{SIDES[br]}_inguinal")
            if br in st.coverage and mark is not None and st.coverage[br][1] > mark.distance_mm:
                warn("INGUINAL_CROSSING", "warning", st.id, f"{st.name} crosses the inguinal ligament")
        angle = _bend_angle(st.path_ras)
        if angle < 120.0:
            warn(
                "TORTUOSITY",
                "warning",
                st.id,
                f"{st.name} bends to {angle:.0f} degrees: choose a flexible stent",
            )
    # Overlaps and gaps between consecutive stents on a branch (R9).
    for br in ("ivc", "left_iliac", "right_iliac"):
        on = sorted(
            (st for st in plan.stents if br in st.coverage and st.role != "ivc"),
            key=lambda t: t.coverage[br][0],
        )
        for first, second in itertools.pairwise(on):
            overlap = first.coverage[br][1] - second.coverage[br][0]
            if overlap < s.overlap_mm:
                kind = "a gap of" if overlap < 0 else "an overlap of only"
                warn(
                    "OVERLAP_INSUFFICIENT",
                    "warning",
                    second.id,
                    f"{first.id} and {second.id} have {kind} {abs(overlap):.0f} mm "
                    f"(at least {s.overlap_mm:g} mm)",
                )
            if abs(first.diameter_mm - second.diameter_mm) > s.overlap_mismatch_mm:
                warn(
                    "OVERLAP_DIAMETER_MISMATCH",
                    "info",
                    second.id,
                    f"{first.id} and {second.id} differ by "
                    f"{abs(first.diameter_mm - second.diameter_mm):g} mm",
                )
    ivc_stents = [st for st in plan.stents if st.role == "ivc"]
    limbs = [st for st in plan.stents if st.role.endswith("_limb") and "ivc" in st.coverage]
    for ivc in ivc_stents:
        for limb in limbs:
            overlap = min(ivc.coverage["ivc"][1], limb.coverage["ivc"][1]) - max(
                ivc.coverage["ivc"][0], limb.coverage["ivc"][0]
            )
            if overlap < s.overlap_mm:
                warn(
                    "OVERLAP_INSUFFICIENT",
                    "warning",
                    limb.id,
                    f"{limb.id} overlaps the IVC stent {ivc.id} by {max(overlap, 0):.0f} mm "
                    f"(at least {s.overlap_mm:g} mm)",
                )
        if not ctx.catalog.products[ivc.product_id].large_open_cells:
            warn(
                "CONTRALATERAL_JAILING",
                "warning",
                ivc.id,
                f"{ivc.name} has no large open cells: the limbs cannot pass through it (inverted-Y)",
            )
    if plan.template == "double-barrel":
        iliac = [st for st in plan.stents if "ivc" in st.coverage]
        area = sum(math.pi * st.diameter_mm**2 / 4 for st in iliac)
        ivc_area = math.pi * f.references_mm["ivc"] ** 2 / 4
        if area > ivc_area:
            warn(
                "DOUBLE_BARREL_AREA",
                "warning",
                None,
                f"the two stents' area ({area:.0f} mm2) exceeds the IVC's ({ivc_area:.0f} mm2)",
            )
    for st in plan.stents:
        protrudes = st.role in ("left_iliac", "right_iliac") and "ivc" in st.coverage
        if protrudes and plan.template == "unilateral" and st.coverage["ivc"][1] > s.protrusion_mm:
            warn(
                "CONTRALATERAL_JAILING",
                "warning",
                st.id,
                f"{st.name} protrudes {st.coverage['ivc'][1]:.0f} mm into the IVC: it may jail the "
                "other side",
            )
    for br, side in SIDES.items():
        prof = ctx.profiles[br]
        tail = prof.ce_diameter_mm[prof.distance_mm > prof.distance_mm[-1] - 20.0]
        if (
            any(br in st.coverage for st in plan.stents)
            and len(tail)
            and np.median(tail) < 0.75 * s.cfv_floor_mm
        ):
            warn(
                "POOR_INFLOW",
                "warning",
                None,
                f"the {side} distal vein is only {np.median(tail):.1f} mm wide: check the femoral inflow",
            )
    if any(p.confluence_zone[:5].any() for p in ctx.profiles.values()):
        warn(
            "CONFLUENCE_ARTEFACT",
            "info",
            None,
            "sections at the confluence were left out of the reference diameters (two lumens in one plane)",
        )
    if ctx.modality != "ct":
        warn(
            "LOW_CONFIDENCE_MODALITY",
            "warning",
            None,
            "MR or non-contrast input: absolute diameters are less reliable; prefer the % stenosis",
        )
    warn(
        "NOT_IVUS_CONFIRMED", "info", None, "CT/MR plan: confirm lesions and sizes with IVUS before stenting"
    )
    return out


def _ends(st: Stent) -> dict[str, tuple[str, float]]:
    """(branch, distance) of the stent's proximal (cranial) and distal ends."""
    iliac = [b for b in ("left_iliac", "right_iliac") if b in st.coverage]
    if iliac:
        br = iliac[0]
        proximal = ("ivc", st.coverage["ivc"][1]) if "ivc" in st.coverage else (br, st.coverage[br][0])
        return {"proximal": proximal, "distal": (br, st.coverage[br][1])}
    return {"proximal": ("ivc", st.coverage["ivc"][1]), "distal": ("ivc", st.coverage["ivc"][0])}


# ---------------------------------------------------------------------------------------------
# Edits


def move_end(ctx: PlanContext, plan: Plan, stent_id: str, end: str, distance_mm: float) -> Plan:
    """Move a stent's ``end`` ("proximal" or "distal") to a distance on its branch axis."""
    st = plan.stent(stent_id)
    branch, _ = _ends(st)[end]
    lo, hi = st.coverage[branch]
    limit = float(ctx.profiles[branch].distance_mm[-1])
    distance_mm = float(np.clip(distance_mm, 0.0, limit))
    if (branch == "ivc") == (end == "proximal"):
        st.coverage[branch] = (lo, max(distance_mm, lo + 1.0))
    else:
        st.coverage[branch] = (min(distance_mm, hi - 1.0), hi)
    return refresh(ctx, plan)


def end_points(plan: Plan) -> dict[tuple[str, str], np.ndarray]:
    """RAS of every stent end: (stent id, "proximal" | "distal") -> point, in plan order (for
    handles a user drags)."""
    out = {}
    for st in plan.stents:
        out[(st.id, "proximal")] = np.asarray(st.proximal_ras, dtype=float)
        out[(st.id, "distal")] = np.asarray(st.distal_ras, dtype=float)
    return out


def move_end_to(ctx: PlanContext, plan: Plan, stent_id: str, end: str, ras) -> Plan:
    """Move a stent's end to the point of its branch axis nearest ``ras`` (a dragged handle)."""
    if end not in ("proximal", "distal"):
        raise ValueError(f"a stent end is 'proximal' or 'distal', not {end!r}")
    branch, _ = _ends(plan.stent(stent_id))[end]
    point = np.asarray(ras, dtype=float).reshape(3)
    profile = ctx.profiles[branch]
    i = int(np.argmin(np.linalg.norm(profile.points_ras - point, axis=1)))
    return move_end(ctx, plan, stent_id, end, float(profile.distance_mm[i]))


def change_stent(
    ctx: PlanContext, plan: Plan, stent_id: str, product_id: str, diameter_mm: float, length_mm: float
):
    """Swap a stent's product or size (checked against the catalogue)."""
    product = ctx.catalog.products.get(product_id)
    if product is None:
        raise ValueError(f"no product {product_id!r} in the catalogue")
    if diameter_mm not in product.sizes or length_mm not in product.sizes[diameter_mm]:
        raise ValueError(f"{product.product} has no {diameter_mm:g} x {length_mm:g} mm size")
    st = plan.stent(stent_id)
    st.product_id, st.product, st.manufacturer = product.id, product.product, product.manufacturer
    st.diameter_mm, st.length_mm = float(diameter_mm), float(length_mm)
    return refresh(ctx, plan)


def remove_stent(ctx: PlanContext, plan: Plan, stent_id: str) -> Plan:
    plan.stents.remove(plan.stent(stent_id))
    return refresh(ctx, plan)


def add_stent(ctx, plan, role, product_id, diameter_mm, length_mm, coverage) -> Plan:
    """Add a stent covering ``coverage`` (branch -> (start, end) mm)."""
    product = ctx.catalog.products.get(product_id)
    if product is None or diameter_mm not in product.sizes:
        raise ValueError(f"no product {product_id!r} with a {diameter_mm:g} mm size in the catalogue")
    used = {int(st.id[1:]) for st in plan.stents if st.id[1:].isdigit()}
    sid = f"S{max(used, default=0) + 1}"
    plan.stents.append(_make_stent(ctx, sid, role, product, diameter_mm, length_mm, coverage))
    return refresh(ctx, plan)


def switch_template(ctx: PlanContext, plan: Plan, template: str) -> Plan:
    return make_plan(ctx, template)

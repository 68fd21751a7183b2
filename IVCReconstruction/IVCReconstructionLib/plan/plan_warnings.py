"""The warnings a plan carries (docs/planning.md, *Warnings*): recomputed after every edit.

Each warning says what is risky about the suggested construct for the physician who checks it;
every threshold is a setting (``PlanSettings``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import names
from ..names import Modality, Severity, StentRole, Template
from .datatypes import Plan, PlanWarning
from .ivus import disagreements, segment_label, unconfirmed_segments
from .quality import quality_warnings
from .sizing import PlanContext, is_healthy, reference_at, stent_ends


def bend_angle(path: np.ndarray, window: float = 20.0) -> float:
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
    """The warnings of docs/planning.md that the data allow."""
    s, f = ctx.settings, ctx.findings
    out: list[PlanWarning] = []

    def warn(code: str, severity: Severity, stent: str | None, message: str) -> None:
        out.append(PlanWarning(code, severity, stent, message))

    if plan.template is Template.NONE:
        warn("NO_STENT", Severity.INFO, None, f"No stent suggested: {plan.reason}.")
    for st in plan.stents:
        # Diameter against the reference where the stent lands (R6).
        branch = next(b for b in (*names.ILIAC_BRANCHES, "ivc") if b in st.coverage)
        a, b = st.coverage[branch]
        ref, segment = reference_at(ctx, branch, (a + b) / 2.0)
        ratio = st.diameter_mm / ref if ref > 0 else float("inf")
        # A reference within the size tolerance above a nominal diameter fits it (sizing's rule).
        undersized = st.diameter_mm + s.size_tolerance_mm < s.undersize_min * ref
        if ratio > s.oversize_max or undersized:
            warn(
                "DIAMETER_MISMATCH",
                Severity.WARNING,
                st.id,
                f"{st.name}: {st.diameter_mm:g} mm is {ratio:.2f} x the {segment.upper()} reference "
                f"({ref:.1f} mm); the rule is {s.undersize_min:g}-{s.oversize_max:g} x",
            )
        if st.role is StentRole.IVC and st.diameter_mm > s.ivc_max_mm:
            warn(
                "DIAMETER_MISMATCH",
                Severity.WARNING,
                st.id,
                f"{st.name}: IVC stents above {s.ivc_max_mm:g} mm are unusual",
            )
        # Renal veins (R13).
        renal = f.landmarks.get("renal_inflow")
        if "ivc" in st.coverage and renal is not None and st.coverage["ivc"][1] >= renal.distance_mm:
            warn(
                "RENAL_COVERAGE",
                Severity.CRITICAL if ctx.catalog.products[st.product_id].covered else Severity.WARNING,
                st.id,
                f"{st.name} reaches the renal vein inflow ({renal.distance_mm:.0f} mm above the confluence)",
            )
        # Landing zones (R8).
        for where, (br, pos) in stent_ends(st).items():
            window = (
                (pos - s.landing_mm, pos) if where == "distal" or br == "ivc" else (pos, pos + s.landing_mm)
            )
            iliac = [b for b in names.SIDES if b in st.coverage]
            if where == "proximal" and iliac and st.coverage[iliac[0]][0] <= 0.0:
                # An iliac stent ending at the confluence (R10) rests against the IVC there, not
                # on a landing zone of iliac vein; one reaching into the IVC lands in the IVC.
                into = st.coverage.get("ivc", (0.0, 0.0))[1]
                if into <= 0.0:
                    continue
                # Its landing zone is the last landing length below its cranial end.
                br, window = "ivc", (max(0.0, into - s.landing_mm), into)
            # A limb's proximal end lands inside the IVC stent, not on the vein wall.
            lands_on_wall = not (
                st.role in (StentRole.LEFT_LIMB, StentRole.RIGHT_LIMB) and where == "proximal"
            )
            if lands_on_wall and (br != "ivc" or where == "proximal"):
                if not is_healthy(ctx, br, *window):
                    warn(
                        "LANDING_IN_DISEASE",
                        Severity.WARNING,
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
                            Severity.WARNING,
                            st.id,
                            f"{st.name}: the {where} landing zone is elliptical (min/max {shape:.2f})",
                        )
        # Inguinal ligament (R12).
        for br in names.ILIAC_BRANCHES:
            mark = f.landmarks.get(f"{names.SIDES[br]}_inguinal")
            if br in st.coverage and mark is not None and st.coverage[br][1] > mark.distance_mm:
                warn("INGUINAL_CROSSING", Severity.WARNING, st.id, f"{st.name} crosses the inguinal ligament")
        angle = bend_angle(st.path_ras)
        if angle < 120.0:
            warn(
                "TORTUOSITY",
                Severity.WARNING,
                st.id,
                f"{st.name} bends to {angle:.0f} degrees: choose a flexible stent",
            )
    # Overlaps and gaps between consecutive stents on a branch (R9).
    for br in names.BRANCHES:
        on = sorted(
            (st for st in plan.stents if br in st.coverage and st.role is not StentRole.IVC),
            key=lambda t: t.coverage[br][0],
        )
        for first, second in itertools.pairwise(on):
            overlap = first.coverage[br][1] - second.coverage[br][0]
            if overlap < s.overlap_mm:
                kind = "a gap of" if overlap < 0 else "an overlap of only"
                warn(
                    "OVERLAP_INSUFFICIENT",
                    Severity.WARNING,
                    second.id,
                    f"{first.id} and {second.id} have {kind} {abs(overlap):.0f} mm "
                    f"(at least {s.overlap_mm:g} mm)",
                )
            if abs(first.diameter_mm - second.diameter_mm) > s.overlap_mismatch_mm:
                warn(
                    "OVERLAP_DIAMETER_MISMATCH",
                    Severity.INFO,
                    second.id,
                    f"{first.id} and {second.id} differ by "
                    f"{abs(first.diameter_mm - second.diameter_mm):g} mm",
                )
    ivc_stents = [st for st in plan.stents if st.role is StentRole.IVC]
    limbs = [
        st
        for st in plan.stents
        if st.role in (StentRole.LEFT_LIMB, StentRole.RIGHT_LIMB) and "ivc" in st.coverage
    ]
    for ivc in ivc_stents:
        for limb in limbs:
            overlap = min(ivc.coverage["ivc"][1], limb.coverage["ivc"][1]) - max(
                ivc.coverage["ivc"][0], limb.coverage["ivc"][0]
            )
            if overlap < s.overlap_mm:
                warn(
                    "OVERLAP_INSUFFICIENT",
                    Severity.WARNING,
                    limb.id,
                    f"{limb.id} overlaps the IVC stent {ivc.id} by {max(overlap, 0):.0f} mm "
                    f"(at least {s.overlap_mm:g} mm)",
                )
        inside = [limb for limb in limbs if limb.coverage["ivc"][1] > ivc.coverage["ivc"][0]]
        if len(inside) >= 2:
            area = sum(math.pi * limb.diameter_mm**2 / 4 for limb in inside)
            room = math.pi * ivc.diameter_mm**2 / 4
            if area > s.barrel_area_max * room:
                warn(
                    "LIMB_AREA",
                    Severity.WARNING,
                    ivc.id,
                    f"the limbs {' and '.join(limb.id for limb in inside)} ({area:.0f} mm2) do not fit "
                    f"side by side inside {ivc.name} ({room:.0f} mm2): they would compress each other",
                )
        if not ctx.catalog.products[ivc.product_id].large_open_cells:
            warn(
                "CONTRALATERAL_JAILING",
                Severity.WARNING,
                ivc.id,
                f"{ivc.name} has no large open cells: the limbs cannot pass through it (inverted-Y)",
            )
    if plan.template is Template.DOUBLE_BARREL:
        iliac = [st for st in plan.stents if "ivc" in st.coverage]
        area = sum(math.pi * st.diameter_mm**2 / 4 for st in iliac)
        ivc_area = math.pi * f.references_mm["ivc"] ** 2 / 4
        if area > s.barrel_area_max * ivc_area:
            warn(
                "DOUBLE_BARREL_AREA",
                Severity.WARNING,
                None,
                f"the two stents' area ({area:.0f} mm2) exceeds the IVC's ({ivc_area:.0f} mm2)",
            )
    for st in plan.stents:
        protrudes = st.role in (StentRole.LEFT_ILIAC, StentRole.RIGHT_ILIAC) and "ivc" in st.coverage
        if protrudes and plan.template is Template.UNILATERAL and st.coverage["ivc"][1] > s.protrusion_mm:
            warn(
                "CONTRALATERAL_JAILING",
                Severity.WARNING,
                st.id,
                f"{st.name} protrudes {st.coverage['ivc'][1]:.0f} mm into the IVC: it may jail the "
                "other side",
            )
    for br, side in names.SIDES.items():
        prof = ctx.profiles[br]
        tail = prof.ce_diameter_mm[prof.distance_mm > prof.distance_mm[-1] - 20.0]
        if (
            any(br in st.coverage for st in plan.stents)
            and len(tail)
            and np.median(tail) < 0.75 * s.cfv_floor_mm
        ):
            warn(
                "POOR_INFLOW",
                Severity.WARNING,
                None,
                f"the {side} distal vein is only {np.median(tail):.1f} mm wide: check the femoral inflow",
            )
    if any(p.confluence_zone[:5].any() for p in ctx.profiles.values()):
        warn(
            "CONFLUENCE_ARTEFACT",
            Severity.INFO,
            None,
            "sections at the confluence were left out of the reference diameters (two lumens in one plane)",
        )
    if ctx.modality is not Modality.CT:
        warn(
            "LOW_CONFIDENCE_MODALITY",
            Severity.WARNING,
            None,
            "MR or non-contrast input: absolute diameters are less reliable; prefer the % stenosis",
        )
    out += quality_warnings(ctx, plan)
    # IVUS (plan/ivus.py): the segments without it, and where it disagrees with the CT.
    unconfirmed = unconfirmed_segments(f)
    if len(unconfirmed) == len(names.CT_REFERENCE_SEGMENTS):
        warn(
            "NOT_IVUS_CONFIRMED",
            Severity.INFO,
            None,
            "CT/MR plan: confirm lesions and sizes with IVUS before stenting",
        )
    elif unconfirmed:
        warn(
            "NOT_IVUS_CONFIRMED",
            Severity.INFO,
            None,
            f"no IVUS for the {', '.join(segment_label(k) for k in unconfirmed)}: sized from CT/MR there; "
            "confirm with IVUS before stenting",
        )
    for d in disagreements(f, s):
        warn(
            "IVUS_CT_DISAGREE",
            Severity.WARNING,
            None,
            f"IVUS and CT disagree on {d.what}: IVUS {d.ivus:.1f} {d.unit}, CT {d.ct:.1f} {d.unit} "
            f"({d.limit}); the plan is sized from IVUS",
        )
    return out

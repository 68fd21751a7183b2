"""How far the images and the findings support the plan (docs/planning.md, *Warnings*).

The warnings of this module are about the input rather than the construct: images too coarse
for the lesions claimed (LOW_RESOLUTION), veins cut off by the field of view where the plan
needs them (INCOMPLETE_COVERAGE), an IVC stent without a known renal inflow
(RENAL_LEVEL_UNKNOWN), narrowings not taken for lesions (LABEL_JUNCTION, CONFLUENCE_ARTEFACT,
SHORT_NARROWING) and lesions no stent covers (LESION_NOT_COVERED). ``check_voxel_size`` is the
hard limit, checked before any work: above it, no stent is sized at all.
"""

from __future__ import annotations

import numpy as np

from .. import names
from ..measure.label_geometry import voxel_edges
from ..names import Severity
from .datatypes import Plan, PlanSettings, PlanWarning
from .findings import Artefact, Lesion
from .sizing import PlanContext


def check_voxel_size(ijk_to_ras: np.ndarray, what: str, settings: PlanSettings | None = None) -> None:
    """Refuse images whose voxels are too coarse to size stents from.

    :raises ValueError: when a voxel edge of ``what`` (e.g. "the CT") exceeds ``max_voxel_mm``.
    """
    limit = (settings or PlanSettings()).max_voxel_mm
    in_plane, between = voxel_edges(ijk_to_ras)
    if max(in_plane, between) > limit + 1e-6:
        raise ValueError(
            f"{what} has {in_plane:.1f} x {between:.1f} mm voxels (in-plane x between slices): stents "
            f"cannot be sized from voxels above {limit:g} mm; use a reconstruction with thinner slices "
            "(2 mm or less)"
        )


def _where(branch: str, start: float, end: float) -> str:
    side = "above" if branch == "ivc" else "below"
    return f"{names.BRANCH_IN_TEXT[branch]} at {start:.0f}-{end:.0f} mm {side} the confluence"


def _resolution(ctx: PlanContext) -> list[PlanWarning]:
    s, voxel = ctx.settings, ctx.imaging.voxel_mm
    if voxel is None:
        return []
    in_plane, between = voxel
    if in_plane <= s.low_resolution_in_plane_mm + 1e-6 and between <= s.low_resolution_slice_mm + 1e-6:
        return []
    uncertain = [les for les in ctx.findings.lesions if les.uncertain]
    claim = ""
    if uncertain:
        listed = "; ".join(_where(les.branch, les.start_mm, les.end_mm) for les in uncertain)
        claim = f"; narrower than two voxels, so uncertain: {listed}"
    return [
        PlanWarning(
            "LOW_RESOLUTION",
            Severity.WARNING,
            None,
            f"the images have {in_plane:.1f} x {between:.1f} mm voxels (in-plane x between slices; "
            f"the limits are {s.low_resolution_in_plane_mm:g} and {s.low_resolution_slice_mm:g} mm): "
            f"diameters and short lesions are approximate{claim}",
        )
    ]


def _coverage(ctx: PlanContext, plan: Plan) -> list[PlanWarning]:
    """INCOMPLETE_COVERAGE: a vein cut off by the field of view at an end the plan lands in or
    takes a reference from."""
    s, marks, out = ctx.settings, ctx.findings.landmarks, []
    for branch, cut in sorted(ctx.imaging.cut_ends.items()):
        if not cut:
            continue
        imaged = float(ctx.profiles[branch].distance_mm[-1])
        near_end = [
            st.id
            for st in plan.stents
            if branch in st.coverage and st.coverage[branch][1] >= imaged - s.landing_mm
        ]
        reasons = []
        if near_end:
            reasons.append(f"{', '.join(near_end)} end within {s.landing_mm:g} mm of the cut")
        if branch == "ivc":
            if "renal_inflow" not in marks:
                reasons.append(
                    "the renal inflow is not known, so the IVC reference may include suprarenal IVC"
                )
        else:
            side = names.SIDES[branch]
            inguinal = marks.get(f"{side}_inguinal")
            eiv = imaged - marks[f"{side}_civ_end"].distance_mm
            head = ctx.imaging.femoral_heads.get(side)
            above_head = head is not None and ctx.profiles[branch].points_ras[-1, 2] > float(head[2])
            if above_head:
                reasons.append("it is cut above the femoral head's top, the inguinal ligament's estimate")
            elif inguinal is not None and imaged < inguinal.distance_mm:
                reasons.append("it is cut above the inguinal ligament")
            elif inguinal is None and eiv < s.min_imaged_eiv_mm:
                reasons.append(
                    f"only {max(eiv, 0.0):.0f} mm of external iliac vein was imaged for its reference"
                )
        if reasons:
            direction = "above" if branch == "ivc" else "below"
            out.append(
                PlanWarning(
                    "INCOMPLETE_COVERAGE",
                    Severity.WARNING,
                    None,
                    f"the {names.BRANCH_IN_TEXT[branch]} leaves the images {imaged:.0f} mm {direction} the "
                    f"confluence ({'; '.join(reasons)}): image the whole vein or check these ends by hand",
                )
            )
    return out


def _artefacts(ctx: PlanContext) -> list[PlanWarning]:
    out = []
    for art in ctx.findings.artefacts:
        where = (
            f"a narrowing of the {_where(art.branch, art.start_mm, art.end_mm)} "
            f"({art.area_stenosis_pct:.0f} % area loss)"
        )
        if art.artefact is Artefact.SHORT_NARROWING:
            voxels = ctx.findings.settings.min_lesion_voxels
            message = (
                f"{where} spans fewer than {voxels:g} of this scan's voxels, too few sections to tell a "
                "lesion from noise: it is not treated; confirm it with IVUS or a thinner-slice scan"
            )
        else:
            why = (
                "where two segments of the given segmentation touch (the union of the labels narrows "
                "there, not necessarily the vein)"
                if art.artefact is Artefact.LABEL_JUNCTION
                else "only in sections that also cut the other vein at the confluence"
            )
            message = f"{where} lies {why}: it is not treated; check it in the images"
        out.append(PlanWarning(str(art.artefact), Severity.WARNING, None, message))
    return out


def uncovered(plan: Plan, lesion: Lesion, tolerance_mm: float = 1.0) -> list[tuple[float, float]]:
    """Stretches of a lesion (distance intervals on its branch) that no stent covers."""
    spans = sorted(st.coverage[lesion.branch] for st in plan.stents if lesion.branch in st.coverage)
    gaps, cursor = [], lesion.start_mm
    for a, b in spans:
        if a > cursor + tolerance_mm and cursor < lesion.end_mm:
            gaps.append((cursor, min(a, lesion.end_mm)))
        cursor = max(cursor, b)
    if cursor < lesion.end_mm - tolerance_mm:
        gaps.append((cursor, lesion.end_mm))
    return [(a, b) for a, b in gaps if b - a > tolerance_mm]


def _not_covered(ctx: PlanContext, plan: Plan) -> list[PlanWarning]:
    out = []
    for les in ctx.findings.lesions:
        gaps = uncovered(plan, les)
        if not gaps:
            continue
        stretches = ", ".join(f"{a:.0f}-{b:.0f} mm" for a, b in gaps)
        whole = len(gaps) == 1 and gaps[0][0] <= les.start_mm + 1.0 and gaps[0][1] >= les.end_mm - 1.0
        out.append(
            PlanWarning(
                "LESION_NOT_COVERED",
                Severity.CRITICAL,
                None,
                f"the {les.kind} of the {_where(les.branch, les.start_mm, les.end_mm)} is "
                + ("not treated by any stent" if whole else f"not covered at {stretches}")
                + ": add or extend a stent, or treat it by hand",
            )
        )
    return out


def _renal_unknown(ctx: PlanContext, plan: Plan) -> list[PlanWarning]:
    if "renal_inflow" in ctx.findings.landmarks:
        return []
    in_ivc = [
        st.id for st in plan.stents if st.coverage.get("ivc", (0.0, 0.0))[1] > ctx.settings.protrusion_mm
    ]
    if not in_ivc:
        return []
    return [
        PlanWarning(
            "RENAL_LEVEL_UNKNOWN",
            Severity.WARNING,
            None,
            f"the renal vein inflow is not known and {', '.join(in_ivc)} reach into the IVC: place a Renal "
            "seed at the lowest renal vein so that the plan keeps the stents below it",
        )
    ]


def quality_warnings(ctx: PlanContext, plan: Plan) -> list[PlanWarning]:
    """The input-quality warnings of a plan (recomputed after every edit)."""
    return [
        *_resolution(ctx),
        *_coverage(ctx, plan),
        *_artefacts(ctx),
        *_not_covered(ctx, plan),
        *_renal_unknown(ctx, plan),
    ]

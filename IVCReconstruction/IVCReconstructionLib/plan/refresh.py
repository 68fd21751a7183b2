"""After any change of a plan: the stents' paths, the plan's summary and its warnings again."""

from __future__ import annotations

from .. import names
from ..spine.levels import level_at
from .datatypes import Plan
from .deployment import deployment_order
from .ivus import add_reference_sources
from .plan_warnings import check_warnings
from .sizing import PlanContext, stent_path


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
    for branch, side in names.SIDES.items():
        plan.branches[branch] = {
            "length_mm": round(ctx.profiles[branch].distance_mm[-1], 1),
            "civ_reference_diameter_mm": round(f.references_mm[f"{side}_civ"], 1),
            "eiv_reference_diameter_mm": round(f.references_mm[f"{side}_eiv"], 1),
        }
    add_reference_sources(f, plan.branches)  # each reference's source (CT or IVUS), the CT value
    plan.lesions = list(f.lesions)
    plan.artefacts = list(f.artefacts)
    plan.deployment = deployment_order(plan)
    _name_levels(ctx, plan)
    plan.warnings = [w for w in plan.warnings if w.code == "DEVICE_OUT_OF_RANGE"] + check_warnings(ctx, plan)
    return plan


def _name_levels(ctx: PlanContext, plan: Plan) -> None:
    """The vertebral level of every stent end, lesion and landmark, when the spine was found."""
    levels = ctx.imaging.levels

    def level(point) -> str | None:
        return None if levels is None or point is None else level_at(levels, point)

    for st in plan.stents:
        st.proximal_level, st.distal_level = level(st.proximal_ras), level(st.distal_ras)
    for les in [*ctx.findings.lesions, *ctx.findings.artefacts]:
        les.vertebral_level = level(les.narrowest_ras)
    renal = ctx.findings.landmarks.get("renal_inflow")
    plan.vertebral_levels = {
        "confluence": level(plan.confluence_ras),
        "renal_inflow": level(None if renal is None else renal.ras),
        "method": None if levels is None else str(levels.method),
    }

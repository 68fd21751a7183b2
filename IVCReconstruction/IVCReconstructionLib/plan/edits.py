"""Edits of a plan: move a stent's end, change its product or size, remove it, switch template.

Each edit changes the plan in place and recomputes paths, summary and warnings
(:func:`refresh.refresh`); ``session.PlanSession`` adds the undo of a failed edit.
"""

from __future__ import annotations

import numpy as np

from ..names import Template
from .datatypes import Plan
from .refresh import refresh
from .sizing import PlanContext, stent_ends
from .templates import make_plan


def move_end(ctx: PlanContext, plan: Plan, stent_id: str, end: str, distance_mm: float) -> Plan:
    """Move a stent's ``end`` ("proximal" or "distal") to a distance on its branch axis."""
    st = plan.stent(stent_id)
    branch, _ = stent_ends(st)[end]
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
    branch, _ = stent_ends(plan.stent(stent_id))[end]
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
    """Take a stent out of the plan."""
    plan.stents.remove(plan.stent(stent_id))
    return refresh(ctx, plan)


def switch_template(ctx: PlanContext, plan: Plan, template: str | Template) -> Plan:
    """The same veins planned with another template (a new plan)."""
    return make_plan(ctx, template)

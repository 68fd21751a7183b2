"""In which order the stents of a construct go in, as its technique has it (docs/planning.md,
*Templates*, and docs/domain.md's techniques table).

- inverted-Y: the IVC stent first, its caudal end at the confluence; then each limb through its
  cells, one side after the other (de Wolf 2015, after Neglén);
- double-barrel and kissing: the two stents at the confluence side by side, deployed together
  (simultaneous deployment is part of the technique);
- then, per side, the extensions outward, each overlapping the one before: cranial first, so
  that the stent placed against the confluence or inside the IVC stent is positioned first
  (DESIGN DEFAULT: no source found for the order of a chain).

A plan edited by hand keeps these rules: steps are recomputed from the stents' roles and places.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import names
from ..names import StentRole, Template
from .datatypes import Plan, Stent

TOGETHER = (Template.DOUBLE_BARREL, Template.KISSING)


@dataclass
class DeploymentStep:
    """One step: the stents deployed at once, and how."""

    step: int
    stents: list[str]
    how: str

    def as_dict(self) -> dict:
        return {"step": self.step, "stents": self.stents, "how": self.how}


def _side(st: Stent) -> str | None:
    return next((b for b in names.ILIAC_BRANCHES if b in st.coverage), None)


def _cranial_first(stents: list[Stent], branch: str) -> list[Stent]:
    return sorted(
        stents, key=lambda st: (-st.coverage.get("ivc", (0.0, 0.0))[1], st.coverage[branch][0], st.id)
    )


def deployment_order(plan: Plan) -> list[DeploymentStep]:
    """The steps of ``plan``; sets each stent's ``deployment_step``."""
    steps: list[DeploymentStep] = []

    def add(stents: list[Stent], how: str) -> None:
        steps.append(DeploymentStep(len(steps) + 1, [st.id for st in stents], how))
        for st in stents:
            st.deployment_step = len(steps)

    ivc_only = sorted((st for st in plan.stents if _side(st) is None), key=lambda st: -st.coverage["ivc"][1])
    for st in ivc_only:
        add([st], "IVC stent, its caudal end at the confluence" if st.role is StentRole.IVC else "in the IVC")
    chains = {
        b: _cranial_first([st for st in plan.stents if _side(st) == b], b) for b in names.ILIAC_BRANCHES
    }
    first = [chain[0] for chain in chains.values() if chain]
    if plan.template in TOGETHER and len(first) == 2:
        how = "side by side into the IVC" if plan.template is Template.DOUBLE_BARREL else "ending together"
        add(first, f"both together at the confluence, {how}")
    else:
        for st in first:
            through = ivc_only and st.role in (StentRole.LEFT_LIMB, StentRole.RIGHT_LIMB)
            add([st], "through the cells of the IVC stent" if through else "against the confluence")
    for branch, chain in chains.items():
        for st in chain[1:]:
            add([st], f"extension down the {names.BRANCH_IN_TEXT[branch]}, overlapping the one before")
    return steps

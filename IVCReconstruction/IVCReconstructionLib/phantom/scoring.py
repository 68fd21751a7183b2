"""A plan scored against a phantom's truth: were its lesions found, where none is, and stented.

The robustness matrix (``tools/robustness.py``) and its tests score the segmentation by Dice;
what a clinician acts on is the plan made from it. A vein that loses a boundary shell or
gains an artery's edge reads narrower or wider, and the findings may then call a healthy
stretch a stenosis (a stent where none is needed) or miss the real one. This compares the
findings and the stents with the truth lesions, in space: the plan's distance axis starts at
its own confluence, the truth's at the phantom's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# A found lesion is the truth's when its stretch, mapped onto the truth's centerline (each point
# to the nearest), overlaps the truth lesion's stretch widened by this at each end. Mapped, not
# compared point to point: in a flattened vein the measured centerline runs in the crescent,
# 5-6 mm off the truth's (May-Thurner, 0.6 mm voxels).
MATCH_MM = 5.0
# A stent covers a truth lesion when its branch interval reaches this near each end of the
# lesion mapped onto the plan's distance axis.
COVER_MM = 2.0


@dataclass
class PlanScore:
    """How a plan's findings and stents compare with the truth lesions; the lists hold short
    descriptions ("left_iliac stenosis at 40-62 mm, area ratio 0.31") for a table."""

    template: str
    stents: int
    # Truth lesions found (same branch and kind), with the area ratio found for them.
    found: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # truth lesions not found
    extra: list[str] = field(default_factory=list)  # lesions found where the truth has none
    uncovered: list[str] = field(default_factory=list)  # truth lesions found but no stent covers
    warnings: list[str] = field(default_factory=list)  # the plan's warning codes (why, if uncovered)

    @property
    def right(self) -> bool:
        """Every truth lesion found and stented, and no lesion where there is none."""
        return not (self.missed or self.extra or self.uncovered)

    def to_json(self) -> dict:
        return {
            "template": self.template,
            "stents": self.stents,
            "found": list(self.found),
            "missed": list(self.missed),
            "extra": list(self.extra),
            "uncovered": list(self.uncovered),
            "warnings": list(self.warnings),
        }


def _stretch(points: np.ndarray, distance: np.ndarray, start: float, end: float) -> np.ndarray:
    """The points of a centerline within [start, end] mm (the nearest one when none is)."""
    inside = (distance >= start) & (distance <= end)
    if not inside.any():
        inside = np.zeros(len(distance), dtype=bool)
        inside[int(np.argmin(np.abs(distance - 0.5 * (start + end))))] = True
    return points[inside]


def _describe(lesion, ratio: float) -> str:
    return (
        f"{lesion.branch} {lesion.kind} at {lesion.start_mm:.0f}-{lesion.end_mm:.0f} mm, "
        f"area ratio {ratio:.2f}"
    )


def _covered(stents, branch: str, low: float, high: float) -> bool:
    """Whether the stents' intervals on ``branch`` (overlapping ones joined) span [low, high]."""
    spans = sorted(s.coverage[branch] for s in stents if branch in s.coverage)
    reach = None
    for a, b in spans:
        if reach is None or a > reach[1] + COVER_MM:
            if reach is not None and reach[0] <= low + COVER_MM and reach[1] >= high - COVER_MM:
                return True
            reach = [a, b]
        else:
            reach[1] = max(reach[1], b)
    return reach is not None and reach[0] <= low + COVER_MM and reach[1] >= high - COVER_MM


def score_plan(plan, profiles: dict, truth) -> PlanScore:
    """Score ``plan`` (``plan.datatypes.Plan``), made from the measured ``profiles`` (branch ->
    ``BranchProfile``), against a phantom's ``truth`` (``phantom.truth.Phantom``)."""
    from scipy.spatial import cKDTree

    score = PlanScore(
        template=str(plan.template), stents=len(plan.stents), warnings=sorted({w.code for w in plan.warnings})
    )
    matched: set[int] = set()
    for t in truth.lesions:
        branch = truth.branches[t.branch]
        truth_pts = _stretch(branch.points_ras, branch.distance_mm, t.start_mm, t.end_mm)
        prof = profiles[t.branch]
        tree = cKDTree(branch.points_ras)
        hit = None
        for n, found in enumerate(plan.lesions):
            if n in matched or (found.branch, found.kind) != (t.branch, t.kind):
                continue
            found_pts = _stretch(prof.points_ras, prof.distance_mm, found.start_mm, found.end_mm)
            on_truth = branch.distance_mm[tree.query(found_pts)[1]]
            if on_truth.min() <= t.end_mm + MATCH_MM and on_truth.max() >= t.start_mm - MATCH_MM:
                hit = n
                break
        if hit is None:
            score.missed.append(_describe(t, t.area_ratio))
            continue
        matched.add(hit)
        score.found.append(f"{_describe(t, t.area_ratio)} (found {plan.lesions[hit].area_ratio:.2f})")
        # The truth lesion on the plan's distance axis: its points' nearest profile samples.
        near = prof.distance_mm[cKDTree(prof.points_ras).query(truth_pts)[1]]
        low, high = float(near.min()), float(near.max())
        covered = _covered(plan.stents, t.branch, low, high)
        if not covered:
            score.uncovered.append(score.found[-1])
    for n, found in enumerate(plan.lesions):
        if n not in matched:
            score.extra.append(_describe(found, found.area_ratio))
    return score

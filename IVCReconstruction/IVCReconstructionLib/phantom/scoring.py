"""A plan scored against a phantom's truth: were its lesions found, where none is, and stented.

The robustness matrix (``tools/robustness.py``) and its tests score the segmentation by Dice;
what a clinician acts on is the plan made from it. A vein that loses a boundary shell or
gains an artery's edge reads narrower or wider, and the findings may then call a healthy
stretch a stenosis (a stent where none is needed) or miss the real one. This compares the
findings and the stents with the truth lesions, in space: the plan's distance axis starts at
its own confluence, the truth's at the phantom's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..measure.datatypes import BranchProfile
    from ..plan.datatypes import Plan
    from ..plan.findings import Lesion
    from .truth import Phantom, TruthBranch, TruthLesion

# A found lesion is the truth's when its stretch, mapped onto the truth's centerline (each point
# to the nearest), overlaps the truth lesion's stretch widened by this at each end. Mapped, not
# compared point to point: in a flattened vein the measured centerline runs in the crescent,
# 5-6 mm off the truth's (May-Thurner, 0.6 mm voxels).
MATCH_MM = 5.0


@dataclass
class PlanScore:
    """How a plan's findings and stents compare with the truth lesions; the lists hold short
    descriptions ("left_iliac stenosis at 40-62 mm, area ratio 0.31") for a table."""

    template: str
    stents: int
    # Truth lesions found (same branch, where the truth has them), with the area ratio found.
    found: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)  # truth lesions not found
    extra: list[str] = field(default_factory=list)  # lesions found where the truth has none
    # Truth lesions found where they are but as the other kind (an occlusion read as a
    # stenosis, or the reverse): also in ``found``.
    wrong_kind: list[str] = field(default_factory=list)
    # Truth lesions found but not covered by the stents, as the plan's LESION_NOT_COVERED
    # judges it (``plan.quality.uncovered``): also in ``found``.
    uncovered: list[str] = field(default_factory=list)
    # Truth lesions missed but shown where they are as a narrowing too short for the voxels
    # (the plan's SHORT_NARROWING, for IVUS to confirm): also in ``missed``.
    flagged: list[str] = field(default_factory=list)
    # The plan's narrowings too short for the voxels where the truth has no lesion.
    extra_flagged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the plan's warning codes (why, if uncovered)

    @property
    def right(self) -> bool:
        """Every truth lesion found as what it is and stented, and no lesion where there is none."""
        return not (self.missed or self.extra or self.wrong_kind or self.uncovered)

    @property
    def right_or_warned(self) -> bool:
        """As ``right``, but a lesion left unstented counts when the plan warns that it is
        (LESION_NOT_COVERED: e.g. an IVC occlusion the catalogue has no construct for)."""
        return self._right_but(self.missed)

    @property
    def right_or_flagged(self) -> bool:
        """As ``right_or_warned``, but a missed lesion counts when the plan shows it as a
        narrowing too short for the voxels (``flagged``)."""
        return self._right_but([m for m in self.missed if m not in self.flagged])

    def _right_but(self, missed: list[str]) -> bool:
        warned = not self.uncovered or "LESION_NOT_COVERED" in self.warnings
        return not (missed or self.extra or self.wrong_kind) and warned

    def to_json(self) -> dict:
        return {
            "template": self.template,
            "stents": self.stents,
            "found": list(self.found),
            "missed": list(self.missed),
            "extra": list(self.extra),
            "wrong_kind": list(self.wrong_kind),
            "uncovered": list(self.uncovered),
            "flagged": list(self.flagged),
            "extra_flagged": list(self.extra_flagged),
            "warnings": list(self.warnings),
        }


def _stretch(points: np.ndarray, distance: np.ndarray, start: float, end: float) -> np.ndarray:
    """The points of a centerline within [start, end] mm (the nearest one when none is)."""
    inside = (distance >= start) & (distance <= end)
    if not inside.any():
        inside = np.zeros(len(distance), dtype=bool)
        inside[int(np.argmin(np.abs(distance - 0.5 * (start + end))))] = True
    return points[inside]


def _on_axis(line: BranchProfile | TruthBranch, pts: np.ndarray) -> np.ndarray:
    """Each point's distance along ``line`` (a profile or a truth centerline): its nearest
    sample's (``plan.landmarks.project``)."""
    from ..plan.landmarks import project

    return np.array([project(line, p)[0] for p in pts])


def _describe(lesion: Lesion | TruthLesion, ratio: float) -> str:
    return (
        f"{lesion.branch} {lesion.kind} at {lesion.start_mm:.0f}-{lesion.end_mm:.0f} mm, "
        f"area ratio {ratio:.2f}"
    )


def score_plan(plan: Plan, profiles: dict[str, BranchProfile], truth: Phantom) -> PlanScore:
    """Score ``plan``, made from the measured ``profiles`` (branch -> profile), against a
    phantom's ``truth``.

    Each found lesion is placed on the truth's centerline of its branch; a truth lesion is
    found by the found lesion that overlaps it most (one found lesion may span two truth
    lesions), and a found lesion that overlaps none is extra. The plan's artefacts (narrowings
    it did not take for lesions) are not lesions found; a missed truth lesion that a
    SHORT_NARROWING artefact overlaps is ``flagged``."""
    from ..plan.findings import Artefact
    from ..plan.quality import uncovered

    score = PlanScore(
        template=str(plan.template), stents=len(plan.stents), warnings=sorted({w.code for w in plan.warnings})
    )

    def placed(lesions: list[Lesion]) -> list[tuple[float, float] | None]:
        """Each lesion's stretch on the truth's distance axis of its branch."""
        out: list[tuple[float, float] | None] = []
        for found in lesions:
            branch, prof = truth.branches.get(found.branch), profiles.get(found.branch)
            if branch is None or prof is None:
                out.append(None)
                continue
            on_truth = _on_axis(
                branch, _stretch(prof.points_ras, prof.distance_mm, found.start_mm, found.end_mm)
            )
            out.append((float(on_truth.min()), float(on_truth.max())))
        return out

    def overlapping(t: TruthLesion, lesions: list[Lesion], spans) -> list[tuple[float, int]]:
        """(overlap in mm, index) of the lesions on ``t``'s branch that overlap it."""
        overlaps = [
            (min(span[1], t.end_mm + MATCH_MM) - max(span[0], t.start_mm - MATCH_MM), n)
            for n, (found, span) in enumerate(zip(lesions, spans, strict=True))
            if span is not None and found.branch == t.branch
        ]
        return [(o, n) for o, n in overlaps if o >= 0.0]

    spans = placed(plan.lesions)
    short = [a for a in plan.artefacts if a.artefact is Artefact.SHORT_NARROWING]
    short_spans = placed(short)
    used: set[int] = set()
    for t in truth.lesions:
        overlaps = overlapping(t, plan.lesions, spans)
        if not overlaps:
            score.missed.append(_describe(t, t.area_ratio))
            if overlapping(t, short, short_spans):
                score.flagged.append(_describe(t, t.area_ratio))
            continue
        n = max(overlaps)[1]
        used.update(m for _, m in overlaps)
        hit = plan.lesions[n]
        entry = f"{_describe(t, t.area_ratio)} (found {hit.area_ratio:.2f})"
        score.found.append(entry)
        if hit.kind != t.kind:
            score.wrong_kind.append(f"{entry} as {hit.kind}")
        # The truth lesion on the plan's distance axis (its points' nearest profile samples),
        # judged as the plan's own LESION_NOT_COVERED judges a lesion.
        branch, prof = truth.branches[t.branch], profiles[t.branch]
        truth_pts = _stretch(branch.points_ras, branch.distance_mm, t.start_mm, t.end_mm)
        near = _on_axis(prof, truth_pts)
        mapped = dataclasses.replace(hit, start_mm=float(near.min()), end_mm=float(near.max()))
        if uncovered(plan, mapped):
            score.uncovered.append(entry)
    score.extra = [_describe(f, f.area_ratio) for n, f in enumerate(plan.lesions) if n not in used]
    near_truth = {n for t in truth.lesions for _, n in overlapping(t, short, short_spans)}
    score.extra_flagged = [_describe(a, a.area_ratio) for n, a in enumerate(short) if n not in near_truth]
    return score

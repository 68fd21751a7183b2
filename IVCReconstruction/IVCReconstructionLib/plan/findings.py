"""Findings from the diameter profiles: reference diameters, lesions and landmarks.

What a venous interventionalist reads off the profiles before choosing stents (docs/planning.md,
rules R2 and R3): the healthy calibre of the IVC and, per side, of the common (CIV)
and external (EIV) iliac vein separately; where the lumen area falls to half of that or less
(stenosis) or is absent (occlusion); and the landmarks stents are placed against: the
confluence, the lowest renal vein inflow, the CIV/EIV boundary and the inguinal ligament.
A landmark found from the images says how; an estimate says that it is one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..measure.datatypes import BranchProfile, CenterlineTree
from .landmarks import Landmark, find_landmarks, project


@dataclass
class FindingsSettings:
    """Thresholds, with their source or marked as design defaults (shown in the report)."""

    stenosis_area_ratio: float = 0.5  # R3: >= 50 % area reduction against the reference
    min_lesion_mm: float = 3.0  # shorter runs below the threshold are noise (DESIGN DEFAULT)
    side_branch_bump: float = 1.3  # max diameter / local median marking a side-branch inflow (DESIGN DEFAULT)
    # Typical common iliac vein lengths (docs/planning.md, R2's sources: textbook), used only when the
    # internal iliac inflow cannot be seen; the boundary is then flagged as an estimate.
    typical_civ_mm: dict[str, float] = field(
        default_factory=lambda: {"left_iliac": 70.0, "right_iliac": 50.0}
    )

    # Thresholds without a published number (shown as defaults in the report).
    DESIGN_DEFAULTS = ("min_lesion_mm", "side_branch_bump")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Lesion:
    """A stenosis or occlusion on one branch (plan.json's ``lesions``)."""

    branch: str
    kind: str  # "stenosis" | "occlusion"
    start_mm: float
    end_mm: float
    min_area_mm2: float
    reference_area_mm2: float
    segment: str  # "ivc", "civ" or "eiv": whose reference it is measured against

    @property
    def area_ratio(self) -> float:
        return self.min_area_mm2 / self.reference_area_mm2 if self.reference_area_mm2 > 0 else 0.0

    @property
    def length_mm(self) -> float:
        return self.end_mm - self.start_mm


@dataclass
class Findings:
    references_mm: dict[str, float]  # CE diameter: "ivc", "left_civ", "left_eiv", "right_civ", "right_eiv"
    lesions: list[Lesion]
    landmarks: dict[str, Landmark]
    notes: list[str]
    settings: FindingsSettings


def _runs(mask: np.ndarray, min_len: int, bridge: int) -> list[tuple[int, int]]:
    from scipy import ndimage

    if bridge > 0:
        mask = ndimage.binary_closing(mask, structure=np.ones(2 * bridge + 1)) | mask
    lab, n = ndimage.label(mask)
    out = []
    for r in range(1, n + 1):
        idx = np.flatnonzero(lab == r)
        if len(idx) >= min_len:
            out.append((int(idx[0]), int(idx[-1])))
    return out


def _segment_of(branch: str, distance: np.ndarray, marks: dict[str, Landmark]) -> np.ndarray:
    if branch == "ivc":
        return np.full(len(distance), "ivc", dtype=object)
    side = "left" if branch == "left_iliac" else "right"
    end = marks[f"{side}_civ_end"].distance_mm
    inguinal = marks.get(f"{side}_inguinal")
    seg = np.where(distance <= end, "civ", "eiv").astype(object)
    if inguinal is not None:
        seg[distance > inguinal.distance_mm] = "cfv"
    return seg


def find_findings(
    tree: CenterlineTree,
    profiles: dict[str, BranchProfile],
    seeds: dict | None = None,
    occlusions: list | None = None,
    settings: FindingsSettings | None = None,
) -> Findings:
    """Reference diameters, lesions and landmarks of the three branches.

    :param occlusions: stretches without lumen reported by the segmentation
        (``segmentation.OccludedStretch``), placed on the branch axes as occlusions.
    """
    settings = settings or FindingsSettings()
    marks, notes = find_landmarks(tree, profiles, seeds, settings)
    refs: dict[str, float] = {}
    lesions: list[Lesion] = []
    for branch, prof in profiles.items():
        seg = _segment_of(branch, prof.distance_mm, marks)
        usable = ~prof.confluence_zone & (prof.distance_mm < prof.distance_mm[-1] - 5.0)
        if branch == "ivc" and "renal_inflow" in marks:
            # The infrarenal IVC is the stented one; above the renal veins it is wider.
            usable &= prof.distance_mm < marks["renal_inflow"].distance_mm - 5.0
        names = ["ivc"] if branch == "ivc" else ["civ", "eiv"]
        side = "" if branch == "ivc" else ("left_" if branch == "left_iliac" else "right_")
        # First pass: the median shrugs off a short lesion; second pass leaves the lesions out.
        reference = {}
        for name in names:
            sel = usable & (seg == name)
            if sel.sum() < 5:
                sel = usable
            reference[name] = float(np.median(prof.ce_diameter_mm[sel])) if sel.any() else float("nan")
        for _ in range(2):
            ref_area = np.array([np.pi * (reference.get(s, reference[names[-1]]) / 2.0) ** 2 for s in seg])
            low = prof.area_mm2 <= settings.stenosis_area_ratio * ref_area
            runs = _runs(low, int(np.ceil(settings.min_lesion_mm)), bridge=1)
            in_lesion = np.zeros(len(low), dtype=bool)
            for a, b in runs:
                in_lesion[a : b + 1] = True
            for name in names:
                sel = usable & (seg == name) & ~in_lesion
                if sel.sum() >= 5:
                    reference[name] = float(np.median(prof.ce_diameter_mm[sel]))
            # The common iliac vein is wider than the external one in health: a common iliac
            # median below the external iliac's means disease along most of it (a long lesion in
            # a short vein), so the external iliac calibre is the better reference there.
            if "civ" in reference and reference["civ"] < reference["eiv"]:
                reference["civ"] = reference["eiv"]
        for name in names:
            refs[f"{side}{name}" if side else name] = reference[name]
        for a, b in runs:
            i = a + int(np.argmin(prof.area_mm2[a : b + 1]))
            lesions.append(
                Lesion(
                    branch,
                    "stenosis",
                    float(prof.distance_mm[a]),
                    float(prof.distance_mm[b]),
                    float(prof.area_mm2[i]),
                    float(ref_area[i]),
                    str(seg[i]),
                )
            )
    for occ in occlusions or []:
        prof = profiles[occ.branch]
        d0, _, _ = project(prof, occ.start_ras)
        d1, _, _ = project(prof, occ.end_ras)
        start, end = min(d0, d1), max(d0, d1)
        # The occluded stretch replaces any stenosis measured across it.
        lesions = [
            les
            for les in lesions
            if not (les.branch == occ.branch and les.end_mm >= start and les.start_mm <= end)
        ]
        seg = _segment_of(occ.branch, np.array([(start + end) / 2.0]), marks)[0]
        key = seg if occ.branch == "ivc" else f"{'left' if occ.branch == 'left_iliac' else 'right'}_{seg}"
        ref = refs.get(key, float("nan"))
        lesions.append(
            Lesion(occ.branch, "occlusion", start, end, 0.0, float(np.pi * (ref / 2.0) ** 2), str(seg))
        )
    lesions.sort(key=lambda les: (les.branch, les.start_mm))
    return Findings(refs, lesions, marks, notes, settings)

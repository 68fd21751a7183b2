"""Landmarks the plan refers to, each saying how it was found (docs/planning.md, *Findings*).

The confluence (where the centerlines part); the lowest renal vein inflow (a Renal seed, or a
side-branch bump in the IVC's maximum diameter); the CIV/EIV boundary (the internal iliac inflow
seen as such a bump, otherwise an estimate from the typical CIV length, stated as an estimate);
the inguinal ligament (InguinalLeft / InguinalRight seeds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..inputs.seeds import as_seed_points
from ..measure.datatypes import BranchProfile, CenterlineTree
from ..names import SeedLabel

if TYPE_CHECKING:
    from .findings import FindingsSettings


@dataclass
class Landmark:
    """A point the plan refers to, on a branch's distance axis."""

    name: str
    branch: str
    distance_mm: float
    ras: np.ndarray
    method: str  # how it was found, e.g. "Renal seed", "side branch of the IVC", "estimate: ..."

    @property
    def estimated(self) -> bool:
        return self.method.startswith("estimate")


def project(profile: BranchProfile, ras: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Distance along a branch of the sample nearest to a point, that sample, and the gap."""
    d = np.linalg.norm(profile.points_ras - np.asarray(ras, dtype=float), axis=1)
    i = int(np.argmin(d))
    return float(profile.distance_mm[i]), profile.points_ras[i].copy(), float(d[i])


# A side-branch bump is not looked for this close to a narrowing (a lumen reopening after an
# occlusion or a stenosis widens as abruptly as a section cutting a renal vein's stub).
NEAR_NARROWING_MM = 15.0


def side_branch_bumps(
    profile: BranchProfile, lo: float, hi: float, factor: float, avoid: list[tuple[float, float]] = ()
) -> list[int]:
    """Samples in [lo, hi] mm where the maximum diameter jumps above its local median: the
    section there also cuts the stub of a side branch (renal or internal iliac vein). Samples
    within ``NEAR_NARROWING_MM`` of a narrowing (CE diameter below half the branch's median) or
    of a stretch in ``avoid`` (distance intervals, e.g. occlusions) are left out."""
    from scipy.ndimage import median_filter, minimum_filter1d

    dmax = profile.max_diameter_mm
    d = profile.distance_mm
    local = median_filter(dmax, size=21, mode="nearest")
    ok = (d >= lo) & (d <= hi) & ~profile.confluence_zone
    ce = profile.ce_diameter_mm
    window = 2 * int(NEAR_NARROWING_MM) + 1
    ok &= minimum_filter1d(ce, window, mode="nearest") >= 0.5 * float(np.median(ce))
    for a, b in avoid:
        ok &= (d < a - NEAR_NARROWING_MM) | (d > b + NEAR_NARROWING_MM)
    peak = ok & (dmax > factor * local)
    return list(np.flatnonzero(peak))


def find_landmarks(
    tree: CenterlineTree,
    profiles: dict[str, BranchProfile],
    seeds: Mapping[str, Any] | None,
    settings: FindingsSettings,
    occluded: Mapping[str, list[tuple[float, float]]] | None = None,
) -> tuple[dict[str, Landmark], list[str]]:
    """The landmarks (confluence, renal inflow, CIV/EIV boundaries, inguinal ligaments) and
    notes on those that could not be found. ``seeds``' Renal and Inguinal points are used;
    ``occluded`` (branch -> distance intervals) are stretches where no side branch is sought."""
    occluded = occluded or {}
    marks_given = as_seed_points(seeds).landmarks
    notes: list[str] = []
    marks: dict[str, Landmark] = {
        "confluence": Landmark(
            "confluence", "ivc", 0.0, np.asarray(tree.confluence_ras, dtype=float), "centerlines"
        )
    }
    ivc = profiles["ivc"]
    if SeedLabel.RENAL in marks_given:
        dist, ras, gap = project(ivc, marks_given[SeedLabel.RENAL])
        marks["renal_inflow"] = Landmark(
            "renal_inflow", "ivc", dist, ras, f"Renal seed ({gap:.0f} mm from the IVC axis)"
        )
    else:
        bumps = side_branch_bumps(ivc, 40.0, 250.0, settings.side_branch_bump, occluded.get("ivc", []))
        if bumps:
            i = bumps[0]  # the lowest: stents stay below the lowest renal vein (R13)
            marks["renal_inflow"] = Landmark(
                "renal_inflow",
                "ivc",
                float(ivc.distance_mm[i]),
                ivc.points_ras[i].copy(),
                "side branch of the IVC",
            )
        else:
            notes.append(
                "renal vein inflow not found in the segmentation: place a Renal seed to keep stents below it"
            )
    for branch, side in (("left_iliac", "left"), ("right_iliac", "right")):
        prof = profiles[branch]
        bumps = side_branch_bumps(prof, 30.0, 120.0, settings.side_branch_bump, occluded.get(branch, []))
        if bumps:
            i = bumps[0]
            marks[f"{side}_civ_end"] = Landmark(
                f"{side}_civ_end",
                branch,
                float(prof.distance_mm[i]),
                prof.points_ras[i].copy(),
                "internal iliac vein inflow",
            )
        else:
            d = min(settings.typical_civ_mm[branch], float(prof.distance_mm[-1]))
            i = int(np.argmin(np.abs(prof.distance_mm - d)))
            marks[f"{side}_civ_end"] = Landmark(
                f"{side}_civ_end",
                branch,
                float(prof.distance_mm[i]),
                prof.points_ras[i].copy(),
                f"estimate: typical {side} common iliac vein length ({d:.0f} mm)",
            )
        key = SeedLabel(f"Inguinal{side.title()}")
        if key in marks_given:
            dist, ras, gap = project(prof, marks_given[key])
            marks[f"{side}_inguinal"] = Landmark(
                f"{side}_inguinal", branch, dist, ras, f"Inguinal{side.title()} seed"
            )
        else:
            notes.append(
                f"{side} inguinal ligament not marked: place an Inguinal{side.title()} seed to check stents "
                "crossing it"
            )
    return marks, notes

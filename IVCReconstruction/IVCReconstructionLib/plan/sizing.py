"""What a plan is computed from, and the sizing rules every template and edit shares.

Positions are distances along the branches' centerlines from the confluence (architecture
section 4). A stent that crosses the confluence covers an interval of the IVC axis and one of
an iliac axis; its path runs down the IVC centerline to the confluence and on along the iliac.
The rules (R2-R14) are those of docs/planning.md, with their sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import names
from ..measure.datatypes import BranchProfile, CenterlineTree
from ..names import Modality, Severity, StentRole
from .catalog import Catalog, Product
from .datatypes import ImagingFacts, PlanSettings, PlanWarning, Stent
from .findings import Findings, Lesion


@dataclass
class PlanContext:
    """Everything a plan is computed from; kept so that edits can recompute coverage and warnings."""

    tree: CenterlineTree
    profiles: dict[str, BranchProfile]
    findings: Findings
    catalog: Catalog
    settings: PlanSettings = field(default_factory=PlanSettings)
    modality: Modality = Modality.CT
    imaging: ImagingFacts = field(default_factory=ImagingFacts)

    def __post_init__(self) -> None:
        self.modality = Modality(self.modality)  # given by its value ("mr") too


def axis_points(profile: BranchProfile, start: float, end: float) -> np.ndarray:
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
        parts.append(axis_points(ctx.profiles["ivc"], a, b)[::-1])  # from cranial (b) down to a
    for branch in names.ILIAC_BRANCHES:
        if branch in coverage:
            a, b = coverage[branch]
            parts.append(axis_points(ctx.profiles[branch], a, b))
    path = np.vstack(parts)
    keep = np.r_[True, np.linalg.norm(np.diff(path, axis=0), axis=1) > 1e-6]
    return path[keep]


def reference_at(ctx: PlanContext, branch: str, distance: float) -> tuple[float, str]:
    """Reference CE diameter and segment name ("ivc", "civ", "eiv", "cfv") at a position."""
    refs = ctx.findings.references_mm
    if branch == "ivc":
        return refs["ivc"], "ivc"
    side = names.SIDES[branch]
    marks = ctx.findings.landmarks
    if f"{side}_inguinal" in marks and distance > marks[f"{side}_inguinal"].distance_mm:
        return refs.get(f"{side}_cfv", refs[f"{side}_eiv"]), "cfv"  # a CFV reference only IVUS gives
    if distance <= marks[f"{side}_civ_end"].distance_mm:
        return refs[f"{side}_civ"], "civ"
    return refs[f"{side}_eiv"], "eiv"


def floor_for(settings: PlanSettings, segment: str) -> float:
    return {
        "ivc": settings.ivc_floor_mm,
        "civ": settings.civ_floor_mm,
        "eiv": settings.eiv_floor_mm,
        "cfv": settings.cfv_floor_mm,
    }[segment]


def is_healthy(ctx: PlanContext, branch: str, start: float, end: float) -> bool:
    """True when [start, end] of a branch is landing-grade: outside lesions, CE >= the healthy
    fraction of the reference, and not a confluence-zone section (R8)."""
    prof = ctx.profiles[branch]
    sel = (prof.distance_mm >= start) & (prof.distance_mm <= end)
    if not sel.any():
        return False
    for les in ctx.findings.lesions:
        if les.branch == branch and les.end_mm > start + 0.5 and les.start_mm < end - 0.5:
            return False
    ref = np.array([reference_at(ctx, branch, d)[0] for d in prof.distance_mm[sel]])
    ok = prof.ce_diameter_mm[sel] >= ctx.settings.landing_healthy_fraction * ref
    return bool(np.all(ok | prof.confluence_zone[sel]))


def distal_landing(ctx: PlanContext, branch: str, lesion_end: float, limit: float | None = None) -> float:
    """The end of the first ``landing_mm`` of healthy vein past a lesion (outward from the
    confluence), or the branch's end (``limit``) when there is none."""
    prof = ctx.profiles[branch]
    landing = ctx.settings.landing_mm
    limit = float(prof.distance_mm[-1]) if limit is None else limit
    d = lesion_end
    while d + landing <= limit:
        if is_healthy(ctx, branch, d, d + landing):
            return d + landing
        d += 1.0
    return limit


def choose_product(
    ctx: PlanContext, diameter: float, length: float, require: Callable[[Product], bool] = lambda p: True
) -> tuple[Product, float, float] | None:
    """(product, diameter, length) for a stent at least this wide and long, or the longest that
    is wide enough (the caller then chains), or None when nothing is wide enough."""
    # A reference just above a size step takes that size (size_tolerance_mm), so that a tenth
    # of a millimetre of measurement does not flip the product or the size.
    options = ctx.catalog.smallest_at_least(diameter - ctx.settings.size_tolerance_mm, require)
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


def out_of_range(diameter: float, where: str) -> PlanWarning:
    return PlanWarning(
        "DEVICE_OUT_OF_RANGE",
        Severity.CRITICAL,
        None,
        f"no catalogue stent is {diameter:.0f} mm or wider for {where}: add one to the catalogue or "
        "size by hand",
    )


def make_stent(
    ctx: PlanContext,
    sid: str,
    role: StentRole,
    product: Product,
    diameter: float,
    length: float,
    coverage: dict[str, tuple[float, float]],
) -> Stent:
    return Stent(
        id=sid,
        role=StentRole(role),
        product_id=product.id,
        product=product.product,
        manufacturer=product.manufacturer,
        diameter_mm=float(diameter),
        length_mm=float(length),
        path_ras=stent_path(ctx, coverage),
        coverage={k: (float(a), float(b)) for k, (a, b) in coverage.items()},
    )


def lesions_on(ctx: PlanContext, branch: str) -> list[Lesion]:
    return [les for les in ctx.findings.lesions if les.branch == branch]


def stent_ends(st: Stent) -> dict[str, tuple[str, float]]:
    """(branch, distance) of the stent's proximal (cranial) and distal ends."""
    iliac = [b for b in names.ILIAC_BRANCHES if b in st.coverage]
    if iliac:
        br = iliac[0]
        proximal = ("ivc", st.coverage["ivc"][1]) if "ivc" in st.coverage else (br, st.coverage[br][0])
        return {"proximal": proximal, "distal": (br, st.coverage[br][1])}
    return {"proximal": ("ivc", st.coverage["ivc"][1]), "distal": ("ivc", st.coverage["ivc"][0])}

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
from enum import StrEnum

import numpy as np

from ..measure.datatypes import BranchProfile, CenterlineTree, VeinMeasurements
from ..names import BRANCH_IN_TEXT, VeinSource
from .landmarks import Landmark, find_landmarks, project


@dataclass
class FindingsSettings:
    """Thresholds, with their source or marked as design defaults (shown in the report)."""

    stenosis_area_ratio: float = 0.5  # R3: >= 50 % area reduction against the reference
    min_lesion_mm: float = 3.0  # shorter runs below the threshold are noise (DESIGN DEFAULT)
    # A lesion spans at least this many voxels, so that coarse images need several sections
    # through it (DESIGN DEFAULT).
    min_lesion_voxels: float = 2.0
    # A lumen narrower than this many voxels is not resolved: the lesion is reported as
    # uncertain, its area as measured (DESIGN DEFAULT).
    resolved_voxels: float = 2.0
    # Consecutive sections without any lumen that make a measured stenosis an occlusion; one
    # empty section alone is a failed section, not an occlusion (DESIGN DEFAULT).
    occlusion_sections: int = 3
    # LABEL_JUNCTION: two segments touch within the narrowest lumen's radius plus this many
    # voxels of the narrowest point (DESIGN DEFAULT).
    junction_margin_voxels: float = 2.0
    side_branch_bump: float = 1.3  # max diameter / local median marking a side-branch inflow (DESIGN DEFAULT)
    # Typical common iliac vein lengths (docs/planning.md, R2's sources: textbook), used only when the
    # internal iliac inflow cannot be seen; the boundary is then flagged as an estimate.
    typical_civ_mm: dict[str, float] = field(
        default_factory=lambda: {"left_iliac": 70.0, "right_iliac": 50.0}
    )

    # Thresholds without a published number (shown as defaults in the report).
    DESIGN_DEFAULTS = (
        "min_lesion_mm",
        "min_lesion_voxels",
        "resolved_voxels",
        "occlusion_sections",
        "junction_margin_voxels",
        "side_branch_bump",
    )

    def as_dict(self) -> dict:
        return asdict(self)


class Artefact(StrEnum):
    """Why a narrowing is not taken for a lesion (its warning code, docs/planning.md)."""

    LABEL_JUNCTION = "LABEL_JUNCTION"  # where two segments of another tool's segmentation touch
    CONFLUENCE_ARTEFACT = "CONFLUENCE_ARTEFACT"  # only in sections that also cut the other vein
    # Over fewer than ``min_lesion_voxels`` of the scan's voxels: too short for its sections to
    # tell a lesion from noise, so shown for IVUS or a thinner-slice scan to confirm.
    SHORT_NARROWING = "SHORT_NARROWING"


@dataclass
class Lesion:
    """A stenosis or occlusion on one branch (plan.json's ``lesions``), or a narrowing taken
    for an artefact (plan.json's ``artefacts``: ``artefact`` says why)."""

    branch: str
    kind: str  # "stenosis" | "occlusion"
    start_mm: float
    end_mm: float
    min_area_mm2: float
    reference_area_mm2: float
    segment: str  # "ivc", "civ" or "eiv": whose reference it is measured against
    narrowest_mm: float = float("nan")  # distance from the confluence of the narrowest section
    narrowest_ras: np.ndarray | None = None
    min_diameter_mm: float = float("nan")  # smallest diameter of the narrowest section (MLD)
    uncertain: bool = False  # the narrowest lumen is narrower than the images resolve
    artefact: Artefact | None = None
    vertebral_level: str | None = None  # of the narrowest point, when levels are known

    @property
    def area_ratio(self) -> float:
        return self.min_area_mm2 / self.reference_area_mm2 if self.reference_area_mm2 > 0 else 0.0

    @property
    def area_stenosis_pct(self) -> float:
        """100 x (1 - area / reference area): "72 % area loss"."""
        return 100.0 * (1.0 - self.area_ratio)

    @property
    def reference_diameter_mm(self) -> float:
        return float(np.sqrt(4.0 * self.reference_area_mm2 / np.pi))

    @property
    def diameter_stenosis_pct(self) -> float:
        """100 x (1 - minimum diameter / reference diameter), as read on a venogram or IVUS."""
        ref = self.reference_diameter_mm
        return 100.0 * (1.0 - self.min_diameter_mm / ref) if ref > 0 else float("nan")

    @property
    def length_mm(self) -> float:
        return self.end_mm - self.start_mm

    def to_json(self) -> dict:
        """plan.json's ``lesions`` (or ``artefacts``) entry (architecture section 7)."""

        def number(x: float, digits: int = 1) -> float | None:
            return None if not np.isfinite(x) else round(float(x), digits)

        out = {
            "branch": self.branch,
            "kind": self.kind,
            "start_mm": round(float(self.start_mm), 1),
            "end_mm": round(float(self.end_mm), 1),
            "segment": self.segment,
            "min_area_mm2": round(float(self.min_area_mm2), 1),
            "reference_area_mm2": round(float(self.reference_area_mm2), 1),
            "area_ratio": round(float(self.area_ratio), 3),
            "area_stenosis_pct": round(self.area_stenosis_pct, 1),
            "min_diameter_mm": number(self.min_diameter_mm),
            "reference_diameter_mm": number(self.reference_diameter_mm),
            "diameter_stenosis_pct": number(self.diameter_stenosis_pct),
            "narrowest_mm": number(self.narrowest_mm),
            "narrowest_ras": None
            if self.narrowest_ras is None
            else [round(float(c), 2) for c in self.narrowest_ras],
            "vertebral_level": self.vertebral_level,
            "uncertain": self.uncertain,
        }
        if self.artefact is not None:
            out["artefact"] = str(self.artefact)
        return out


@dataclass
class Findings:
    references_mm: dict[str, float]  # CE diameter: "ivc", "left_civ", "left_eiv", "right_civ", "right_eiv"
    lesions: list[Lesion]
    landmarks: dict[str, Landmark]
    notes: list[str]
    settings: FindingsSettings
    # Narrowings that are not lesions (label junctions, confluence sections, too short for the
    # voxels): reported, never stented.
    artefacts: list[Lesion] = field(default_factory=list)
    voxel_mm: float | None = None  # the largest voxel edge of the label map measured


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


def _stenosis(
    prof: BranchProfile,
    a: int,
    b: int,
    ref_area: np.ndarray,
    seg: np.ndarray,
    settings: FindingsSettings,
    voxel: float,
    contacts_ras: np.ndarray | None,
) -> Lesion:
    """The lesion (or artefact) of a run of low sections a..b of a profile."""
    area = prof.area_mm2
    run = np.arange(a, b + 1)
    zone = prof.confluence_zone[run].astype(bool)
    # Only in confluence-zone sections: every section of the run that shows the narrowing (a
    # lumen below the ratio) is one that also cuts the other vein. The run may still hold
    # sections outside the zone, bridged over or failed: at 2 x 2 x 3 mm, May-Thurner 0.8 mm /
    # 25 HU, 2-33 mm2 zone sections of the IVC at 87-99 mm with two of 248-252 mm2 between them
    # made an IVC "stenosis" of area ratio 0.74 and an IVC construct the catalogue cannot build.
    shows = ~zone & (area[run] > 0.0) & (area[run] <= settings.stenosis_area_ratio * ref_area[run])
    only_zone = bool(zone.all() or (zone.any() and not shows.any()))
    # The narrowest section outside the confluence zone, where sections are reliable (any of
    # them where only the zone shows the narrowing, so that its area loss is the zone's).
    candidates = run[~zone] if (~zone).any() and not only_zone else run
    empty = area[run] <= 0.0
    longest_empty = max(
        (len(g) for g in np.split(empty, np.flatnonzero(np.diff(empty)) + 1) if g[0]), default=0
    )
    kind, uncertain = "stenosis", False
    if longest_empty >= settings.occlusion_sections:
        kind = "occlusion"
        i = int(candidates[np.argmin(area[candidates])])
    else:
        # A lone empty section is a section that failed, not an absent lumen.
        lumen = candidates[area[candidates] > 0.0]
        uncertain = bool(empty.any())
        i = int(lumen[np.argmin(area[lumen])]) if len(lumen) else int(candidates[0])
    min_diameter = 0.0 if kind == "occlusion" else float(prof.min_diameter_mm[i])
    if kind == "stenosis" and voxel > 0 and min_diameter < settings.resolved_voxels * voxel:
        uncertain = True
    artefact = None
    if zone.all() or (kind == "stenosis" and only_zone):
        artefact = Artefact.CONFLUENCE_ARTEFACT
    elif contacts_ras is not None and len(contacts_ras):
        reach = float(prof.ce_diameter_mm[i]) / 2.0 + settings.junction_margin_voxels * voxel
        if float(np.min(np.linalg.norm(contacts_ras - prof.points_ras[i], axis=1))) <= reach:
            artefact = Artefact.LABEL_JUNCTION
    return Lesion(
        prof.name,
        kind,
        float(prof.distance_mm[a]),
        float(prof.distance_mm[b]),
        0.0 if kind == "occlusion" else float(area[i]),
        float(ref_area[i]),
        str(seg[i]),
        narrowest_mm=float(prof.distance_mm[i]),
        narrowest_ras=np.asarray(prof.points_ras[i], dtype=float).copy(),
        min_diameter_mm=min_diameter,
        uncertain=uncertain and kind == "stenosis",
        artefact=artefact,
    )


def _unresolved(
    prof: BranchProfile, start: float, end: float, ref: float, seg: str, found: list[Lesion], voxel: float
) -> Lesion:
    """The uncertain stenosis where a segmentation saw no lumen over less than an occlusion's
    length: a narrowing already measured across it (taken out of ``found``), else one made
    from the sections within a voxel of the stretch."""
    # A lesion measured there first, then a narrowing not taken for one.
    for les in sorted(found, key=lambda les: les.artefact is not None):
        if les.branch == prof.name and les.end_mm >= start - voxel and les.start_mm <= end + voxel:
            found.remove(les)
            les.uncertain = True
            # No lumen across it: a lesion, whatever the sections measured across it showed.
            les.artefact = None
            return les
    sel = (prof.distance_mm >= start - voxel) & (prof.distance_mm <= end + voxel)
    if not sel.any():
        sel = np.abs(prof.distance_mm - (start + end) / 2.0) == np.min(
            np.abs(prof.distance_mm - (start + end) / 2.0)
        )
    index = np.flatnonzero(sel)
    i = int(index[np.argmin(prof.area_mm2[index])])
    return Lesion(
        prof.name,
        "stenosis",
        float(prof.distance_mm[index[0]]),
        float(prof.distance_mm[index[-1]]),
        float(prof.area_mm2[i]),
        float(np.pi * (ref / 2.0) ** 2),
        seg,
        narrowest_mm=float(prof.distance_mm[i]),
        narrowest_ras=np.asarray(prof.points_ras[i], dtype=float).copy(),
        min_diameter_mm=float(prof.min_diameter_mm[i]),
        uncertain=True,
    )


def find_findings(
    tree: CenterlineTree,
    profiles: dict[str, BranchProfile],
    seeds: dict | None = None,
    occlusions: list | None = None,
    settings: FindingsSettings | None = None,
    *,
    voxel_mm: float | None = None,
    contacts_ras: np.ndarray | None = None,
    femoral_heads: dict | None = None,
) -> Findings:
    """Reference diameters, lesions and landmarks of the three branches.

    :param occlusions: stretches without lumen reported by the segmentation
        (``segmentation.OccludedStretch``), placed on the branch axes as occlusions.
    :param voxel_mm: the largest voxel edge of the label map measured: a lesion spans at
        least ``min_lesion_voxels`` of it, and one narrower than ``resolved_voxels`` of it is
        uncertain.
    :param contacts_ras: where two segments of another tool's segmentation touch
        (``measure.label_geometry.label_contacts``): a narrowing there is a LABEL_JUNCTION.
    :param femoral_heads: the femoral-head tops (``spine.femoral_heads``): the inguinal
        ligament's estimate where no Inguinal seed marks it.
    """
    settings = settings or FindingsSettings()
    voxel = float(voxel_mm or 0.0)
    # Profiles are sampled every mm: a run of this many low samples is a lesion; a shorter one
    # of at least min_lesion_mm is shown as a SHORT_NARROWING where the voxels set the bound.
    shortest = int(np.ceil(settings.min_lesion_mm))
    min_samples = int(np.ceil(max(settings.min_lesion_mm, settings.min_lesion_voxels * voxel)))
    occluded: dict[str, list[tuple[float, float]]] = {}
    for occ in occlusions or []:
        ends = sorted(project(profiles[occ.branch], p)[0] for p in (occ.start_ras, occ.end_ras))
        occluded.setdefault(occ.branch, []).append((ends[0], ends[1]))
    marks, notes = find_landmarks(tree, profiles, seeds, settings, occluded, femoral_heads)
    refs: dict[str, float] = {}
    found: list[Lesion] = []
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
            runs = _runs(low, min_samples, bridge=1)
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
        found += [_stenosis(prof, a, b, ref_area, seg, settings, voxel, contacts_ras) for a, b in runs]
        # On coarse voxels a real short lesion (10 mm of area ratio 0.4 is below half the
        # reference for 5-6 mm) spans fewer sections than min_lesion_voxels asks: not a lesion,
        # but not dropped unseen either.
        for a, b in _runs(low, shortest, bridge=1) if min_samples > shortest else []:
            if b - a + 1 < min_samples:
                les = _stenosis(prof, a, b, ref_area, seg, settings, voxel, contacts_ras)
                if les.artefact is None and les.kind == "stenosis":
                    les.artefact = Artefact.SHORT_NARROWING
                    found.append(les)
    for occ in occlusions or []:
        prof = profiles[occ.branch]
        d0, _, _ = project(prof, occ.start_ras)
        d1, _, _ = project(prof, occ.end_ras)
        start, end = min(d0, d1), max(d0, d1)
        seg = _segment_of(occ.branch, np.array([(start + end) / 2.0]), marks)[0]
        key = seg if occ.branch == "ivc" else f"{'left' if occ.branch == 'left_iliac' else 'right'}_{seg}"
        ref = refs.get(key, float("nan"))
        if occ.length_mm < settings.occlusion_sections * max(voxel, 1.0):
            # No lumen over fewer sections than an occlusion needs: a lumen the images do not
            # resolve (a tight stenosis on coarse voxels), not a proven occlusion. It stays a
            # lesion, uncertain, with the area measured across it, never 0.
            found.append(_unresolved(prof, start, end, ref, str(seg), found, voxel))
            continue
        # The occluded stretch replaces any narrowing measured across it.
        found = [
            les
            for les in found
            if not (les.branch == occ.branch and les.end_mm >= start and les.start_mm <= end)
        ]
        middle = (start + end) / 2.0
        found.append(
            Lesion(
                occ.branch,
                "occlusion",
                start,
                end,
                0.0,
                float(np.pi * (ref / 2.0) ** 2),
                str(seg),
                narrowest_mm=middle,
                narrowest_ras=np.array(
                    [np.interp(middle, prof.distance_mm, prof.points_ras[:, c]) for c in range(3)]
                ),
                min_diameter_mm=0.0,
            )
        )
    found.sort(key=lambda les: (les.branch, les.start_mm))
    lesions = [les for les in found if les.artefact is None]
    artefacts = [les for les in found if les.artefact is not None]
    for art in artefacts:
        where = BRANCH_IN_TEXT[art.branch]
        what = (
            f"is shorter than {settings.min_lesion_voxels:g} voxels of this scan ({min_samples} mm), too "
            f"short to be measured as a lesion ({art.artefact}), and not treated: confirm it with IVUS"
            if art.artefact is Artefact.SHORT_NARROWING
            else f"is taken for an artefact ({art.artefact}) and not treated: check it in the images"
        )
        notes.append(
            f"a narrowing of the {where} at {art.start_mm:.0f}-{art.end_mm:.0f} mm from the confluence "
            f"({art.area_stenosis_pct:.0f} % area loss) {what}"
        )
    return Findings(refs, lesions, marks, notes, settings, artefacts, voxel or None)


def findings_of(
    measured: VeinMeasurements,
    seeds: dict | None = None,
    settings: FindingsSettings | None = None,
    femoral_heads: dict | None = None,
) -> Findings:
    """The findings of measured veins, with what their label map says about trust: its voxel
    size, and (for another tool's segmentation) where its segments touch; ``femoral_heads``
    estimate the inguinal ligaments (``find_findings``)."""
    contacts = measured.contacts_ras if measured.source is not VeinSource.SEEDS else None
    return find_findings(
        measured.tree,
        measured.profiles,
        seeds=seeds,
        occlusions=measured.occlusions,
        settings=settings,
        voxel_mm=max(measured.voxel_mm) if measured.voxel_mm else None,
        contacts_ras=contacts,
        femoral_heads=femoral_heads,
    )

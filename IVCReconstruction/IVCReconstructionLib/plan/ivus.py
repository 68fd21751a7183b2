"""IVUS measurements applied to the findings: the plan is sized from IVUS where it was done and
from the CT elsewhere (docs/planning.md, *IVUS*).

:func:`apply_ivus` makes a copy of the CT findings (``IvusFindings``) whose references and
lesion minimum areas are the IVUS values where given, each with its source ("ct" or "ivus")
and the CT value kept beside it; sizing (``sizing.reference_at``), the landing checks and the
lesion area ratios then use the IVUS values without knowing it. ``refresh`` writes the sources
into plan.json (:func:`add_reference_sources`); ``plan_warnings`` raises NOT_IVUS_CONFIRMED only
for segments without IVUS and IVUS_CT_DISAGREE where the two differ by more than the settings
(:func:`disagreements`). :func:`set_ivus` is the edit that changes the IVUS inputs and plans again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from .. import names
from ..inputs.ivus import IvusLesion, IvusMeasurements
from ..names import ReferenceSource, Template
from .datatypes import Plan, PlanSettings
from .findings import Artefact, Findings, Lesion

SEGMENT_LABELS = {"ivc": "IVC", "civ": "CIV", "eiv": "EIV", "cfv": "CFV"}


@dataclass
class SourcedLesion(Lesion):
    """A lesion whose minimum area came from the CT or from IVUS (the CT's kept)."""

    min_area_source: str = ReferenceSource.CT
    min_area_ct_mm2: float = 0.0

    def to_json(self) -> dict:
        """plan.json's entry, with where the minimum area came from and the CT's."""
        out = super().to_json()
        out["min_area_source"] = str(self.min_area_source)
        out["min_area_ct_mm2"] = round(float(self.min_area_ct_mm2), 1)
        return out


def _copy(cls, source, **changes):
    """An instance of ``cls`` (a subclass of ``source``'s dataclass) with ``source``'s fields,
    and ``changes``: new fields of the findings and lesions come along without a change here."""
    values = {f.name: getattr(source, f.name) for f in fields(source) if f.init}
    return cls(**{**values, **changes})


@dataclass
class IvusFindings(Findings):
    """Findings with IVUS applied: ``ct`` the CT's own, ``ivus`` what was applied, ``sources``
    the source of each reference (segment -> "ct" or "ivus")."""

    ct: Findings | None = None
    ivus: IvusMeasurements = field(default_factory=IvusMeasurements)
    sources: dict[str, str] = field(default_factory=dict)


def ct_findings(findings: Findings) -> Findings:
    """The CT's findings of (possibly IVUS-applied) findings."""
    return findings.ct if isinstance(findings, IvusFindings) and findings.ct is not None else findings


def ivus_of(findings: Findings) -> IvusMeasurements:
    """The IVUS measurements applied to findings (none for CT findings)."""
    return findings.ivus if isinstance(findings, IvusFindings) else IvusMeasurements()


def reference_sources(findings: Findings) -> dict[str, str]:
    """Source of each reference of the findings ("ct" unless IVUS gave it)."""
    sources = {key: str(ReferenceSource.CT) for key in findings.references_mm}
    if isinstance(findings, IvusFindings):
        sources.update(findings.sources)
    return sources


def reference_key(branch: str, segment: str) -> str:
    """The references_mm key of a branch's segment ("ivc", "left_civ", ...)."""
    return "ivc" if branch == "ivc" else f"{names.SIDES[branch]}_{segment}"


def segment_label(key: str) -> str:
    """ "left_civ" -> "left CIV", "ivc" -> "IVC"."""
    side, _, segment = key.rpartition("_")
    return f"{side} {SEGMENT_LABELS[segment]}" if side else SEGMENT_LABELS[key]


def _match(
    lesions: list[Lesion], wanted: IvusLesion, length_mm: float, taken: set[int], lesion_count: int
) -> int:
    """Index in ``lesions`` of the CT lesion an IVUS lesion is about: the first ``lesion_count``
    are the CT's lesions, the rest its narrowings too short for the voxels (SHORT_NARROWING),
    which IVUS can confirm. Without ``at_mm`` an IVUS lesion is about a lesion where its branch
    has one."""
    where = names.BRANCH_IN_TEXT[wanted.branch]
    on = [i for i, les in enumerate(lesions) if les.branch == wanted.branch]
    if wanted.at_mm is None and any(i < lesion_count for i in on):
        on = [i for i in on if i < lesion_count]
    if not on:
        raise ValueError(
            f"the IVUS gives a lesion on the {where}, but the CT found none there: remove it, or plan "
            "with a segmentation that shows it"
        )
    if wanted.at_mm is not None and wanted.at_mm > length_mm:
        raise ValueError(
            f"the IVUS lesion at {wanted.at_mm:g} mm is beyond the end of the {where} ({length_mm:.0f} mm "
            "from the confluence)"
        )
    found = ", ".join(f"{lesions[i].start_mm:.0f}-{lesions[i].end_mm:.0f} mm" for i in on)
    if len(on) > 1 and wanted.at_mm is None:
        raise ValueError(
            f"the {where} has {len(on)} lesions ({found} from the confluence): give at_mm for the IVUS one"
        )
    if wanted.at_mm is None:
        index = on[0]
    else:
        at = wanted.at_mm
        index = min(on, key=lambda i: max(lesions[i].start_mm - at, at - lesions[i].end_mm, 0.0))
    if index in taken:
        raise ValueError(f"two IVUS lesions are about the same lesion of the {where} ({found})")
    taken.add(index)
    return index


def apply_ivus(
    findings: Findings, ivus: IvusMeasurements | None, branch_lengths_mm: dict[str, float]
) -> IvusFindings:
    """The findings with the IVUS values in place of the CT's where given (a copy; applying to
    findings that had IVUS starts again from their CT findings).

    An IVUS lesion may also be about a narrowing the CT's voxels were too coarse to take for a
    lesion (SHORT_NARROWING): it is then a lesion, with the IVUS area.

    :raises ValueError: for an IVUS lesion on a branch where the CT found none, beyond the
        branch's end, or ambiguous (several lesions and no ``at_mm``).
    """
    ct = ct_findings(findings)
    ivus = ivus or IvusMeasurements()
    refs = dict(ct.references_mm)
    sources = {key: str(ReferenceSource.CT) for key in refs}
    for key, value in ivus.references_mm.items():
        refs[key] = float(value)
        sources[key] = str(ReferenceSource.IVUS)

    def sourced(les: Lesion) -> SourcedLesion:
        key = reference_key(les.branch, les.segment)
        if key not in ivus.references_mm and les.segment == "cfv":
            key = reference_key(les.branch, "eiv")  # the CT has no CFV reference: the EIV's
        reference_area = les.reference_area_mm2
        if key in ivus.references_mm:
            reference_area = math.pi * (refs[key] / 2.0) ** 2
        return _copy(
            SourcedLesion,
            les,
            reference_area_mm2=reference_area,
            artefact=None,
            min_area_source=str(ReferenceSource.CT),
            min_area_ct_mm2=les.min_area_mm2,
        )

    # A narrowing too short for the CT's voxels is a lesion once IVUS measures it.
    short = [a for a in ct.artefacts if a.artefact is Artefact.SHORT_NARROWING]
    lesions = [sourced(les) for les in [*ct.lesions, *short]]
    taken: set[int] = set()
    for wanted in ivus.lesions:
        length = branch_lengths_mm.get(wanted.branch, math.inf)
        i = _match(lesions, wanted, length, taken, len(ct.lesions))
        lesions[i].min_area_mm2 = wanted.min_area_mm2
        lesions[i].min_area_source = str(ReferenceSource.IVUS)
    # The short narrowings an IVUS lesion was matched to (``taken``) leave the artefacts.
    count = len(ct.lesions)
    confirmed = sorted(i for i in taken if i >= count)
    lesions = sorted(
        lesions[:count] + [lesions[i] for i in confirmed], key=lambda les: (les.branch, les.start_mm)
    )
    gone = {id(short[i - count]) for i in confirmed}
    artefacts = [a for a in ct.artefacts if id(a) not in gone]
    return _copy(
        IvusFindings,
        ct,
        references_mm=refs,
        lesions=lesions,
        artefacts=artefacts,
        ct=ct,
        ivus=ivus,
        sources=sources,
    )


def add_reference_sources(findings: Findings, branches: dict[str, dict]) -> None:
    """Write each reference's source and its CT value beside it into plan.json's ``branches``
    (``civ_reference_source``, ``civ_reference_diameter_ct_mm``; for the IVC
    ``reference_source``, ``reference_diameter_ct_mm``); a CFV reference only IVUS gives."""
    sources = reference_sources(findings)
    ct = ct_findings(findings).references_mm
    for branch, entry in branches.items():
        segments = ("ivc",) if branch == "ivc" else ("civ", "eiv", "cfv")
        for segment in segments:
            key = reference_key(branch, segment)
            prefix = "" if branch == "ivc" else f"{segment}_"
            if key not in findings.references_mm:
                continue
            entry[f"{prefix}reference_diameter_mm"] = round(findings.references_mm[key], 1)
            entry[f"{prefix}reference_source"] = sources.get(key, str(ReferenceSource.CT))
            if key in ct:
                entry[f"{prefix}reference_diameter_ct_mm"] = round(ct[key], 1)


@dataclass(frozen=True)
class Disagreement:
    what: str  # "the left CIV reference diameter", "the minimum area of ..."
    ivus: float
    ct: float
    unit: str
    limit: str  # the setting exceeded, in words


def disagreements(findings: Findings, settings: PlanSettings) -> list[Disagreement]:
    """Where IVUS and CT differ by more than the settings: a reference diameter by more than
    ``ivus_ct_diameter_mm``, a lesion's minimum area by more than ``ivus_ct_area_fraction`` of
    the CT's."""
    if not isinstance(findings, IvusFindings):
        return []
    out = []
    ct = ct_findings(findings).references_mm
    for key, value in findings.ivus.references_mm.items():
        if key in ct and abs(value - ct[key]) > settings.ivus_ct_diameter_mm:
            out.append(
                Disagreement(
                    f"the {segment_label(key)} reference diameter",
                    value,
                    ct[key],
                    "mm",
                    f"more than {settings.ivus_ct_diameter_mm:g} mm",
                )
            )
    for les in findings.lesions:
        if not isinstance(les, SourcedLesion) or les.min_area_source != ReferenceSource.IVUS:
            continue
        if abs(les.min_area_mm2 - les.min_area_ct_mm2) > settings.ivus_ct_area_fraction * les.min_area_ct_mm2:
            out.append(
                Disagreement(
                    f"the minimum area of the {les.kind} of the {names.BRANCH_IN_TEXT[les.branch]} at "
                    f"{les.start_mm:.0f}-{les.end_mm:.0f} mm",
                    les.min_area_mm2,
                    les.min_area_ct_mm2,
                    "mm2",
                    f"more than {100 * settings.ivus_ct_area_fraction:g} % of the CT's",
                )
            )
    return out


def unconfirmed_segments(findings: Findings) -> list[str]:
    """The segments with a CT reference that IVUS did not measure (all without IVUS)."""
    sources = reference_sources(findings)
    return [s for s in names.CT_REFERENCE_SEGMENTS if sources.get(s) != ReferenceSource.IVUS]


def set_ivus(ctx, plan: Plan, ivus: IvusMeasurements | None) -> Plan:
    """The edit that changes the IVUS inputs: the findings again from the CT's with ``ivus``
    applied, and the plan made again with the same construct (automatic stays automatic);
    edits of single stents made before are replaced. The context is left as it was when this
    raises ValueError."""
    from .templates import make_plan

    lengths = {b: float(p.distance_mm[-1]) for b, p in ctx.profiles.items()}
    before = ctx.findings
    template = plan.template if plan.reason == "chosen by the user" else Template.AUTO
    ctx.findings = apply_ivus(before, ivus, lengths)
    try:
        return make_plan(ctx, template)
    except ValueError:
        ctx.findings = before
        raise

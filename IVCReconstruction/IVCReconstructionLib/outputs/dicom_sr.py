"""The plan as a DICOM Structured Report: a TID 1500 measurement report built from plan.json.

One measurement group per entry of plan.json's ``branches`` (the reference diameters, each
with the modality it came from: CT, MR or IVUS), ``lesions`` (minimum area, area ratio, where
along the branch) and ``stents`` (product, diameter, length, the stretch covered and both
ends), and the warnings as text. Vein and lesion groups reference their segment of the SEG
(``dicom_seg``), and everything the source series: a PACS shows the report next to the CT.

The report is built from the plan.json dict, field by field, through the tables below: a
field listed there is written with its DICOM concept and unit; a field not listed is still
written, as a number (unit from its name's suffix: ``_mm``, ``_mm2``, ``_percent``, ...), a text
or a point, under a local code named after it. A new plan.json field thus needs no change
here, and one line in a table to get a standard code. Every number item carries the plan.json
key it came from as its tracking identifier, so :func:`read_sr_values` reads the report back
as plan.json's numbers. Points are written as SCOORD3D in DICOM's patient coordinates (LPS):
R and A change sign from plan.json's RAS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import names
from .dicom_seg import MANUFACTURER, SR_SERIES_NUMBER, require_highdicom
from .dicom_stack import own_study_evidence_as_current

LOCAL_SCHEME = "99IVCR"  # this project's local coding scheme (DICOM PS3.16 8.2)

# (value, scheme, meaning) of the concepts used.
SCT_DIAMETER = ("397413000", "SCT", "Vessel lumen diameter")
SCT_AREA = ("397415007", "SCT", "Vessel lumen cross-sectional area")
SCT_LENGTH = ("410668003", "SCT", "Length")
SCT_STENT = ("65818007", "SCT", "Stent")
SCT_STENT_DIAMETER = ("408706001", "SCT", "Stent Diameter")
SCT_STENT_LENGTH = ("408703009", "SCT", "Stent Length")
SCT_AREA_STENOSIS = ("408714007", "SCT", "Lumen Area Stenosis")
SCT_DIAMETER_STENOSIS = ("408715008", "SCT", "Lumen Diameter Stenosis")
SCT_MINIMUM = ("255605001", "SCT", "Minimum")
DCM_COMMENT = ("121106", "DCM", "Comment")
REFERENCE_DIAMETER = ("REFDIAM", LOCAL_SCHEME, "Reference vessel lumen diameter")
AREA_RATIO = ("AREARATIO", LOCAL_SCHEME, "Lumen area / reference area")
FROM_CONFLUENCE = ("FROMCONFL", LOCAL_SCHEME, "Start, distance from the confluence")
TO_CONFLUENCE = ("TOCONFL", LOCAL_SCHEME, "End, distance from the confluence")
PLAN_WARNING = ("PLANWARN", LOCAL_SCHEME, "Plan warning")
QUALITATIVE_EVALUATIONS = ("C0034375", "UMLS", "Qualitative Evaluations")
MEASUREMENT_METHOD = "370129005"  # SCT concept name of a measurement's method (TID 300)
METHOD_CODES = {
    "CT": ("CT", "DCM", "Computed Tomography"),
    "MR": ("MR", "DCM", "Magnetic Resonance"),
    "IVUS": ("IVUS", "DCM", "Intravascular Ultrasound"),
}
PROCEDURE_CODES = {
    "CT": ("77477000", "SCT", "Computed Tomography"),
    "MR": ("113091000", "SCT", "Magnetic resonance imaging"),
}
UNITS = {
    "mm": ("mm", "UCUM", "mm"),
    "mm2": ("mm2", "UCUM", "mm2"),
    "%": ("%", "UCUM", "%"),
    "1": ("1", "UCUM", "no units"),
    "deg": ("deg", "UCUM", "deg"),
}
# Unit of a field not in the tables, from the end of its name.
UNIT_SUFFIXES = (("_mm2", "mm2"), ("_mm", "mm"), ("_percent", "%"), ("_pct", "%"), ("_deg", "deg"))


@dataclass(frozen=True)
class Num:
    """A number field: its concept, unit, and optionally the vein segment it is of ("ivc",
    "civ", "eiv", "cfv"; the branch's side added), its derivation, and the sibling field naming
    where it came from (``*_source``: "ct" or "ivus") or the source it always has."""

    concept: tuple[str, str, str]
    unit: str
    segment: str | None = None
    derivation: tuple[str, str, str] | None = None
    source_field: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Text:
    concept: tuple[str, str, str]


@dataclass(frozen=True)
class Point:
    concept: tuple[str, str, str]


@dataclass(frozen=True)
class Interval:
    """[start, end] along a branch (``coverage.<branch>``)."""

    start: tuple[str, str, str]
    end: tuple[str, str, str]
    unit: str


# plan.json "branches" entries. Sources: the *_source field beside each reference (IVUS inputs).
BRANCH_FIELDS: dict[str, Any] = {
    "length_mm": Num(SCT_LENGTH, "mm"),
    "reference_diameter_mm": Num(REFERENCE_DIAMETER, "mm", "ivc", source_field="reference_source"),
    "reference_diameter_ct_mm": Num(REFERENCE_DIAMETER, "mm", "ivc", source="ct"),
}
for _segment in ("civ", "eiv", "cfv"):
    BRANCH_FIELDS[f"{_segment}_reference_diameter_mm"] = Num(
        REFERENCE_DIAMETER, "mm", _segment, source_field=f"{_segment}_reference_source"
    )
    BRANCH_FIELDS[f"{_segment}_reference_diameter_ct_mm"] = Num(
        REFERENCE_DIAMETER, "mm", _segment, source="ct"
    )

# plan.json "lesions" entries ("branch" and "kind" make the group's finding site and type).
LESION_FIELDS: dict[str, Any] = {
    "start_mm": Num(FROM_CONFLUENCE, "mm"),
    "end_mm": Num(TO_CONFLUENCE, "mm"),
    "min_area_mm2": Num(SCT_AREA, "mm2", derivation=SCT_MINIMUM, source_field="min_area_source"),
    "min_area_ct_mm2": Num(SCT_AREA, "mm2", derivation=SCT_MINIMUM, source="ct"),
    "area_ratio": Num(AREA_RATIO, "1"),
    "min_diameter_mm": Num(SCT_DIAMETER, "mm", derivation=SCT_MINIMUM),
    "area_stenosis_pct": Num(SCT_AREA_STENOSIS, "%"),
    "diameter_stenosis_pct": Num(SCT_DIAMETER_STENOSIS, "%"),
    "reference_diameter_mm": Num(REFERENCE_DIAMETER, "mm"),
    "reference_area_mm2": Num(("REFAREA", LOCAL_SCHEME, "Reference vessel lumen area"), "mm2"),
    "narrowest_mm": Num(("NARROWEST", LOCAL_SCHEME, "Narrowest section, distance from the confluence"), "mm"),
    "narrowest_ras": Point(("NARROWPT", LOCAL_SCHEME, "Narrowest section")),
    "vertebral_level": Text(("VERTLEVEL", LOCAL_SCHEME, "Vertebral level of the narrowest section")),
}

# plan.json "stents" entries ("id" and "name" make the group's tracking identifier).
STENT_FIELDS: dict[str, Any] = {
    "diameter_mm": Num(SCT_STENT_DIAMETER, "mm"),
    "length_mm": Num(SCT_STENT_LENGTH, "mm"),
    "product": Text(("PRODUCT", LOCAL_SCHEME, "Product")),
    "manufacturer": Text(("MANUFACTURER", LOCAL_SCHEME, "Manufacturer")),
    "product_id": Text(("PRODUCTID", LOCAL_SCHEME, "Catalogue product ID")),
    "role": Text(("ROLE", LOCAL_SCHEME, "Role in the construct")),
    "deployment_step": Num(("DEPLOYSTEP", LOCAL_SCHEME, "Deployment step"), "1"),
    "proximal_ras": Point(("PROXEND", LOCAL_SCHEME, "Proximal (cranial) end")),
    "distal_ras": Point(("DISTEND", LOCAL_SCHEME, "Distal (caudal) end")),
    "coverage": Interval(
        ("COVFROM", LOCAL_SCHEME, "Covered from, distance from the confluence"),
        ("COVTO", LOCAL_SCHEME, "Covered to, distance from the confluence"),
        "mm",
    ),
}
# Fields that name a group or qualify another field rather than being written themselves.
GROUP_FIELDS = {"branch", "kind", "id", "name"}


def branch_group_id(branch: str) -> str:
    return f"Vein: {branch}"


def lesion_group_id(index: int, lesion: Mapping[str, Any]) -> str:
    return f"Lesion {index + 1}: {lesion.get('kind', 'lesion')} of {lesion.get('branch', '?')}"


def stent_group_id(stent: Mapping[str, Any]) -> str:
    return f"Stent {stent.get('name') or stent.get('id')}"


# ---------------------------------------------------------------------------------------------
# Building


def field_concept(table: Mapping[str, Any], key: str) -> tuple[str, str, str]:
    """The concept a plan.json field is written under: its table's, else a local one."""
    spec = table.get(key)
    return spec.concept if isinstance(spec, Num | Text | Point) else _local(key)


def _local(key: str) -> tuple[str, str, str]:
    return (
        key.upper().replace("_", "")[:16] if len(key) > 16 else key.upper(),
        LOCAL_SCHEME,
        key.replace("_", " "),
    )


def _unit_of(key: str) -> str:
    return next((unit for suffix, unit in UNIT_SUFFIXES if key.endswith(suffix)), "1")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_point(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 3 and all(_is_number(v) for v in value)


def _flatten(entry: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(key, value) of an entry, nested mappings as ``outer.inner`` (except ``coverage``)."""
    for key, value in entry.items():
        if isinstance(value, Mapping) and key != "coverage":
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


class _Builder:
    """Makes content items with the codes above (highdicom imported once)."""

    def __init__(self, frame_of_reference_uid: str, modality: str, to_lps: Callable[[Any], np.ndarray]):
        self.hd = require_highdicom()
        self.frame = frame_of_reference_uid
        self.modality = modality
        self.to_lps = to_lps

    def code(self, triple: tuple[str, str, str]):
        return self.hd.sr.CodedConcept(*triple)

    def sct(self, pair: tuple[str, str]):
        """A SNOMED CT concept of ``names`` ((code, meaning))."""
        return self.code((pair[0], "SCT", pair[1]))

    def site(self, branch: str | None, segment: str | None = None):
        """A finding site: the vein segment (or the branch's main segment) and its side."""
        if branch is None:
            return None
        segment = segment or ("ivc" if branch == "ivc" else "civ")
        anatomy = names.SNOMED_VEIN_SEGMENTS[segment if branch != "ivc" else "ivc"]
        side = names.SIDES.get(branch)
        laterality = self.sct(names.SNOMED_LATERALITY[side]) if side else None
        return self.hd.sr.FindingSite(self.sct(anatomy), laterality=laterality)

    def method(self, source: str | None):
        if source is None:
            return None
        key = "IVUS" if source == names.ReferenceSource.IVUS else self.modality
        return self.code(METHOD_CODES[key])

    def num(self, key: str, value: float, spec: Num, entry: Mapping[str, Any], branch: str | None):
        hd = self.hd
        source = spec.source or (entry.get(spec.source_field) if spec.source_field else None)
        site = self.site(branch, spec.segment) if spec.segment or branch else None
        return hd.sr.Measurement(
            name=self.code(spec.concept),
            value=float(value),
            unit=self.code(UNITS[spec.unit]),
            tracking_identifier=hd.sr.TrackingIdentifier(identifier=key),
            derivation=self.code(spec.derivation) if spec.derivation else None,
            finding_sites=[site] if site is not None else None,
            method=self.method(source),
        )

    def fields(self, entry: Mapping[str, Any], table: Mapping[str, Any], branch: str | None):
        """(measurements, other content items) of a plan.json entry."""
        hd = self.hd
        measurements, items = [], []
        for key, value in _flatten(entry):
            spec = table.get(key)
            if key in GROUP_FIELDS or key.endswith("_source") or value is None:
                continue
            if isinstance(spec, Interval):
                for covered, (start, end) in value.items():
                    for n, (concept, x) in enumerate(((spec.start, start), (spec.end, end))):
                        measurements.append(
                            self.num(f"{key}.{covered}[{n}]", x, Num(concept, spec.unit), entry, covered)
                        )
            elif _is_number(value):
                measurements.append(
                    self.num(key, value, spec or Num(_local(key), _unit_of(key)), entry, branch)
                )
            elif _is_point(value):
                concept = field_concept(table, key)
                items.append(
                    hd.sr.Scoord3DContentItem(
                        name=self.code(concept),
                        graphic_type=hd.sr.GraphicTypeValues3D.POINT,
                        graphic_data=np.asarray([self.to_lps(value)], dtype=float),
                        frame_of_reference_uid=self.frame,
                        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
                    )
                )
            elif isinstance(value, str | bool):
                items.append(
                    hd.sr.TextContentItem(
                        name=self.code(field_concept(table, key)),
                        value=("yes" if value else "no") if isinstance(value, bool) else value,
                        relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
                    )
                )
        return measurements, items


def _segment_numbers(seg: Any) -> dict[str, int]:
    """Segment number of each segment ID (tracking ID) of a SEG."""
    return {str(s.TrackingID): int(s.SegmentNumber) for s in seg.SegmentSequence}


def build_sr(
    plan: Mapping[str, Any],
    slices: Sequence[Any],
    seg: Any,
    *,
    software_version: str,
    modality: str = "CT",
    plan_to_source: np.ndarray | None = None,
) -> Any:
    """A Comprehensive 3D SR (TID 1500 measurement report, pydicom dataset) of a plan.json dict,
    referencing the SEG ``seg`` and the source series ``slices``; patient and study are theirs.

    :param modality: "CT" or "MR": the imaging the plan's non-IVUS numbers come from.
    :param plan_to_source: 4x4 RAS matrix from the plan's coordinates to the source volume's,
        when they differ (a transformed segmentation in Slicer); points are mapped by it.
    :raises ImportError: when highdicom is missing.
    """
    hd = require_highdicom()
    from pydicom.uid import generate_uid

    matrix = np.eye(4) if plan_to_source is None else np.asarray(plan_to_source, dtype=float)

    def to_lps(ras: Any) -> np.ndarray:
        point = matrix @ np.array([*map(float, ras), 1.0])
        return point[:3] * np.array([-1.0, -1.0, 1.0])

    modality = "MR" if str(modality).upper() == "MR" else "CT"
    b = _Builder(str(slices[0].FrameOfReferenceUID), modality, to_lps)
    numbers = _segment_numbers(seg)
    series = hd.sr.SourceSeriesForSegmentation(str(slices[0].SeriesInstanceUID))

    def referenced(segment_id: str):
        if segment_id not in numbers:
            return None
        return hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=numbers[segment_id],
            source_series=series,
        )

    def volumetric(identifier: str, segment_id: str, finding: tuple, branch: str, measurements, items):
        segment = referenced(segment_id)
        if segment is None:  # not in the SEG: a group without an ROI
            group = hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(identifier=identifier),
                finding_type=b.code(finding),
                finding_sites=[b.site(branch)],
                measurements=measurements or None,
            )
        else:
            group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(identifier=identifier),
                referenced_segment=segment,
                finding_type=b.code(finding),
                finding_sites=[b.site(branch)],
                measurements=measurements or None,
            )
        group[0].ContentSequence.extend(items)
        return group

    groups = []
    for branch, entry in plan.get("branches", {}).items():
        measurements, items = b.fields(entry, BRANCH_FIELDS, branch)
        anatomy = names.SNOMED[branch][0]
        groups.append(
            volumetric(
                branch_group_id(branch),
                names.SEGMENT_IDS[branch],
                (anatomy[0], "SCT", anatomy[1]),
                branch,
                measurements,
                items,
            )
        )
    for index, lesion in enumerate(plan.get("lesions", [])):
        branch = lesion.get("branch")
        measurements, items = b.fields(lesion, LESION_FIELDS, branch)
        occlusion = lesion.get("kind") == "occlusion"
        finding = names.SNOMED_OCCLUSION if occlusion else names.SNOMED_STENOSIS
        segment_id = names.SEGMENT_IDS.get(branch, "")
        if occlusion and names.OCCLUDED_SEGMENT_ID in numbers:
            segment_id = names.OCCLUDED_SEGMENT_ID
        groups.append(
            volumetric(
                lesion_group_id(index, lesion),
                segment_id,
                (finding[0], "SCT", finding[1]),
                branch,
                measurements,
                items,
            )
        )
    for stent in plan.get("stents", []):
        measurements, items = b.fields(stent, STENT_FIELDS, None)
        group = hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(identifier=stent_group_id(stent)),
            finding_type=b.code(SCT_STENT),
            finding_sites=[b.site(br) for br in stent.get("coverage", {})] or None,
            measurements=measurements or None,
        )
        group[0].ContentSequence.extend(items)
        groups.append(group)

    observer = hd.sr.ObserverContext(
        observer_type=hd.sr.CodedConcept("121007", "DCM", "Device"),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name=MANUFACTURER, manufacturer_name=MANUFACTURER, model_name=software_version
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=b.code(PROCEDURE_CODES[modality]),
        imaging_measurements=groups,
    )
    # The plan's own texts and the warnings (TID 1500's qualitative evaluations).
    evaluations = hd.sr.ContainerContentItem(
        name=b.code(QUALITATIVE_EVALUATIONS), relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
    )
    texts = []
    for key in ("template", "reason"):
        if isinstance(plan.get(key), str):
            texts.append(
                hd.sr.TextContentItem(name=b.code(_local(key)), value=plan[key], relationship_type="CONTAINS")
            )
    for warning in plan.get("warnings", []):
        texts.append(
            hd.sr.TextContentItem(
                name=b.code(PLAN_WARNING), value=warning_text(warning), relationship_type="CONTAINS"
            )
        )
    evaluations.ContentSequence = hd.sr.ContentSequence(texts, is_root=False)
    report[0].ContentSequence.append(evaluations)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*slices, seg],
        content=report[0],
        series_instance_uid=generate_uid(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description="IVC stent plan (research use only)",
    )
    own_study_evidence_as_current(sr)  # as highdicom 0.23+ (and the standard) list the slices
    return sr


def warning_text(warning: Mapping[str, Any]) -> str:
    """One line of a plan.json warning: ``CODE (severity, stent): message``."""
    where = f", {warning['stent']}" if warning.get("stent") else ""
    return f"{warning.get('code')} ({warning.get('severity')}{where}): {warning.get('message')}"


# ---------------------------------------------------------------------------------------------
# Reading back


def _walk(items: Sequence[Any]) -> Iterator[Any]:
    for item in items:
        yield item
        yield from _walk(getattr(item, "ContentSequence", []))


def read_sr_values(sr: Any) -> dict[str, Any]:
    """What an SR written by :func:`build_sr` says, as plain values: ``{"groups": {group
    identifier: {plan.json key: number, ..., concept meaning: text or LPS point}}, "methods":
    {group identifier: {plan.json key: method code ("CT", "MR", "IVUS")}}, "texts":
    [qualitative evaluation texts]}``."""

    def tracking_id(item) -> str | None:
        for child in getattr(item, "ContentSequence", []):
            if child.ValueType == "TEXT" and child.ConceptNameCodeSequence[0].CodeValue == "112039":
                return str(child.TextValue)
        return None

    groups: dict[str, dict[str, Any]] = {}
    methods: dict[str, dict[str, str]] = {}
    texts: list[str] = []
    for item in _walk(sr.ContentSequence):
        if item.ValueType != "CONTAINER":
            continue
        meaning = item.ConceptNameCodeSequence[0].CodeMeaning
        if meaning == "Measurement Group":
            group_id = tracking_id(item) or "?"
            group = groups.setdefault(group_id, {})
            for child in item.ContentSequence:
                name = child.ConceptNameCodeSequence[0].CodeMeaning
                if child.ValueType == "NUM":
                    key = tracking_id(child) or name
                    group[key] = float(child.MeasuredValueSequence[0].NumericValue)
                    for sub in getattr(child, "ContentSequence", []):
                        if (
                            sub.ConceptNameCodeSequence[0].CodeValue == MEASUREMENT_METHOD
                            and sub.ValueType == "CODE"
                        ):
                            methods.setdefault(group_id, {})[key] = str(sub.ConceptCodeSequence[0].CodeValue)
                elif child.ValueType == "TEXT" and name != "Tracking Identifier":
                    group[name] = str(child.TextValue)
                elif child.ValueType == "SCOORD3D":
                    group[name] = [float(c) for c in child.GraphicData]
        elif meaning == QUALITATIVE_EVALUATIONS[2]:
            texts += [str(c.TextValue) for c in item.ContentSequence if c.ValueType == "TEXT"]
    return {"groups": groups, "methods": methods, "texts": texts}

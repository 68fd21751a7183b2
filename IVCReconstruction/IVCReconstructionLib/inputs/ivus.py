"""IVUS measurements given as input: reference diameters per vein segment and lesion minimum
areas, which the planner sizes from instead of the CT's (``plan/ivus.py``).

Intravascular ultrasound sees compression and area loss that CT venography under-calls
(docs/planning.md, *IVUS*), so a plan is re-sized from IVUS where IVUS was done. A file for
``ivc-plan plan --ivus FILE`` holds any subset of::

    {"references_mm": {"ivc": 22.0, "left_civ": 16.0, "left_eiv": 14.0, "left_cfv": 12.0,
                       "right_civ": 15.0, "right_eiv": 13.0, "right_cfv": 11.5},
     "lesions": [{"branch": "left_iliac", "min_area_mm2": 60.0, "at_mm": 35.0}]}

``references_mm`` gives reference (healthy) diameters in mm per segment (``names.REFERENCE_SEGMENTS``);
``lesions`` gives the minimum lumen area in mm2 of a lesion the CT found, on a branch
(``names.BRANCHES``), ``at_mm`` (optional, mm from the confluence along the branch) saying which
one when the branch has several. Every value is checked here (a clear error for an unknown key,
a value that is not a number, or one no vein has); whether the CT found a lesion there is
checked when the IVUS is applied to the findings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import names

# Plausible ranges: a reference diameter of a vein segment (a CFV of 4 mm to a wide IVC of
# 40 mm) and a minimum lumen area (0, a lumen that IVUS could not pass, to a 40 mm circle).
REFERENCE_RANGE_MM = (4.0, 40.0)
AREA_RANGE_MM2 = (0.0, 1260.0)
TOP_KEYS = ("references_mm", "lesions")
LESION_KEYS = ("branch", "min_area_mm2", "at_mm")


@dataclass(frozen=True)
class IvusLesion:
    """The IVUS minimum area of a lesion on a branch, optionally where (mm from the confluence)."""

    branch: str
    min_area_mm2: float
    at_mm: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"branch": self.branch, "min_area_mm2": self.min_area_mm2}
        if self.at_mm is not None:
            out["at_mm"] = self.at_mm
        return out


@dataclass(frozen=True)
class IvusMeasurements:
    """What IVUS measured: reference diameters by segment and lesion minimum areas."""

    references_mm: dict[str, float] = field(default_factory=dict)
    lesions: tuple[IvusLesion, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.references_mm or self.lesions)

    def to_json(self) -> dict[str, Any]:
        return {"references_mm": dict(self.references_mm), "lesions": [les.to_json() for les in self.lesions]}


def _number(value: Any, what: str, low: float, high: float, where: str, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} in {where} must be a number of {unit}, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} in {where} is negative ({value:g} {unit})")
    if not low <= value <= high:
        raise ValueError(
            f"{what} in {where} is {value:g} {unit}, which no vein has (expected {low:g}-{high:g} {unit})"
        )
    return float(value)


def ivus_from_mapping(data: Any, where: str = "the IVUS measurements") -> IvusMeasurements:
    """IVUS measurements from a mapping as in the module docstring.

    :raises ValueError: naming the key or value that is wrong, and what is expected.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a JSON object with {' and/or '.join(TOP_KEYS)}")
    unknown = [k for k in data if k not in TOP_KEYS]
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in {where}: the keys are {', '.join(TOP_KEYS)}")
    references = data.get("references_mm", {})
    if not isinstance(references, Mapping):
        raise ValueError(f"references_mm in {where} must be an object of segment: diameter in mm")
    refs = {}
    for segment, value in references.items():
        if segment not in names.REFERENCE_SEGMENTS:
            raise ValueError(
                f"unknown segment {segment!r} in references_mm of {where}: use "
                f"{', '.join(names.REFERENCE_SEGMENTS)}"
            )
        refs[segment] = _number(value, f"references_mm.{segment}", *REFERENCE_RANGE_MM, where, "mm")
    lesions_in = data.get("lesions", [])
    if not isinstance(lesions_in, list):
        raise ValueError(f"lesions in {where} must be a list of {{branch, min_area_mm2, at_mm}}")
    lesions = []
    for n, entry in enumerate(lesions_in, start=1):
        what = f"lesion {n}"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{what} in {where} must be an object with branch, min_area_mm2 and at_mm")
        unknown = [k for k in entry if k not in LESION_KEYS]
        if unknown:
            raise ValueError(
                f"unknown key {unknown[0]!r} in {what} of {where}: the keys are {', '.join(LESION_KEYS)}"
            )
        branch = entry.get("branch")
        if branch not in names.BRANCHES:
            raise ValueError(f"{what} in {where} has branch {branch!r}: use {', '.join(names.BRANCHES)}")
        if "min_area_mm2" not in entry:
            raise ValueError(f"{what} in {where} has no min_area_mm2 (the IVUS minimum lumen area in mm2)")
        area = _number(entry["min_area_mm2"], f"{what} min_area_mm2", *AREA_RANGE_MM2, where, "mm2")
        at = entry.get("at_mm")
        if at is not None:
            at = _number(at, f"{what} at_mm", 0.0, 1000.0, where, "mm")
        lesions.append(IvusLesion(branch, area, at))
    return IvusMeasurements(refs, tuple(lesions))


def read_ivus(path: str | Path) -> IvusMeasurements:
    """IVUS measurements from a JSON file (``ivc-plan plan --ivus FILE``).

    :raises ValueError: when the file is missing, not JSON, or holds a wrong key or value.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"IVUS file {path} does not exist: give a JSON file of IVUS measurements")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"IVUS file {path.name} is not JSON: {exc}") from exc
    return ivus_from_mapping(data, f"IVUS file {path.name}")

"""The stent plan as plain data: stents, warnings, the settings used (plan.json, section 7).

Kept apart from the planner so that the scene builder, the report and the tests depend on
these small dataclasses only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from ..names import Severity, StentRole, Template

if TYPE_CHECKING:
    from .findings import Lesion


def lesion_to_json(lesion) -> dict:
    """A lesion as plan.json's ``lesions`` entry (architecture section 7); works for the
    findings' lesions and the phantom's truth lesions alike."""
    out = {
        "branch": lesion.branch,
        "kind": lesion.kind,
        "start_mm": round(float(lesion.start_mm), 1),
        "end_mm": round(float(lesion.end_mm), 1),
        "min_area_mm2": round(float(lesion.min_area_mm2), 1),
        "area_ratio": round(float(lesion.area_ratio), 3),
    }
    source = getattr(lesion, "min_area_source", None)  # a plan's lesions (plan/ivus.py): CT or IVUS
    if source is not None:
        out["min_area_source"] = str(source)
        out["min_area_ct_mm2"] = round(float(lesion.min_area_ct_mm2), 1)
    return out


@dataclass
class PlanSettings:
    """Every threshold the planner uses, with the rule of docs/planning.md it belongs to. Values
    without a published number are DESIGN DEFAULTS: settings, shown as defaults in the report."""

    landing_mm: float = 20.0  # R8: healthy apposition at each end (DESIGN DEFAULT)
    landing_healthy_fraction: float = 0.9  # R8: landing CE >= this x reference (DESIGN DEFAULT)
    overlap_mm: float = 20.0  # R9: overlap between consecutive stents (DESIGN DEFAULT)
    protrusion_mm: float = 5.0  # R10: an iliac stent's protrusion into the IVC (DESIGN DEFAULT)
    oversize_max: float = 1.25  # R6: nominal / reference above this warns (DESIGN DEFAULT)
    undersize_min: float = 1.0  # R6: nominal / reference below this warns
    civ_floor_mm: float = 16.0  # R4 (Raju, secondary source)
    eiv_floor_mm: float = 14.0  # R4
    cfv_floor_mm: float = 12.0  # R4
    ivc_floor_mm: float = 18.0  # R5 (IVUS healthy IVC 18.4 mm)
    ivc_max_mm: float = 24.0  # R5: larger IVC stents warn (DESIGN DEFAULT)
    renal_margin_mm: float = 5.0  # IVC stent's cranial end below the renal inflow (DESIGN DEFAULT)
    overlap_mismatch_mm: float = 2.0  # overlapping stents differing more warn (DESIGN DEFAULT)
    elliptical_landing: float = 0.7  # min/max diameter below this at a landing zone warns
    ivus_ct_diameter_mm: float = 2.0  # IVUS_CT_DISAGREE: reference diameters differing more (DESIGN DEFAULT)
    ivus_ct_area_fraction: float = 0.2  # IVUS_CT_DISAGREE: lesion areas differing more (DESIGN DEFAULT)

    DESIGN_DEFAULTS = (
        "landing_mm",
        "landing_healthy_fraction",
        "overlap_mm",
        "protrusion_mm",
        "oversize_max",
        "ivc_max_mm",
        "renal_margin_mm",
        "overlap_mismatch_mm",
        "ivus_ct_diameter_mm",
        "ivus_ct_area_fraction",
    )

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> PlanSettings:
        """Settings from ``{name: value}`` (names of the fields; the others keep their default).

        :raises ValueError: for an unknown name or a value that is not a positive number.
        """
        known = {f.name for f in fields(cls)}
        for name, value in values.items():
            if name not in known:
                raise ValueError(
                    f"unknown plan setting {name!r}; the settings are {', '.join(sorted(known))}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1000:
                raise ValueError(f"plan setting {name} must be a positive number, got {value!r}")
        return cls(**{name: float(value) for name, value in values.items()})

    def as_dict(self) -> dict:
        out = asdict(self)
        out["design_defaults"] = [
            k for k in self.DESIGN_DEFAULTS if getattr(self, k) == getattr(PlanSettings, k)
        ]
        return out


@dataclass
class Stent:
    """One stent: a product at a size, placed along a centerline path (cranial end first)."""

    id: str  # "S1", "S2", ...
    role: StentRole
    product_id: str
    product: str
    manufacturer: str
    diameter_mm: float
    length_mm: float  # nominal length from the catalogue
    path_ras: np.ndarray  # (N, 3) points along the stent's axis, cranial (proximal) end first
    coverage: dict[str, tuple[float, float]] = field(default_factory=dict)  # branch -> distance interval

    def __post_init__(self) -> None:
        self.role = StentRole(self.role)  # a role given by its value ("left_limb") too

    @property
    def proximal_ras(self) -> np.ndarray:
        return self.path_ras[0]

    @property
    def distal_ras(self) -> np.ndarray:
        return self.path_ras[-1]

    @property
    def name(self) -> str:
        """The model's name in the scene, e.g. "S1 IVC Abre 20 x 100 mm"."""
        size = f"{self.diameter_mm:g} x {self.length_mm:g} mm"
        return f"{self.id} {StentRole(self.role).label} {self.product} {size}"


@dataclass
class PlanWarning:
    code: str  # e.g. "RENAL_COVERAGE" (docs/planning.md lists them)
    severity: Severity
    stent: str | None  # the stent id it concerns, if any
    message: str

    def __post_init__(self) -> None:
        self.severity = Severity(self.severity)


@dataclass
class Plan:
    template: Template  # never AUTO: the template chosen
    reason: str  # why this template (auto) or "chosen by the user"
    stents: list[Stent]
    warnings: list[PlanWarning]
    settings: PlanSettings
    confluence_ras: np.ndarray
    landmarks: dict[str, np.ndarray | None] = field(default_factory=dict)
    branches: dict[str, dict[str, float]] = field(default_factory=dict)
    lesions: list[Lesion] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.template = Template(self.template)

    def stent(self, stent_id: str) -> Stent:
        for s in self.stents:
            if s.id == stent_id:
                return s
        raise ValueError(
            f"the plan has no stent {stent_id!r} (it has {', '.join(s.id for s in self.stents)})"
        )

    def to_json(self) -> dict:
        """plan.json (architecture section 7), RAS millimetres."""

        def ras(p):
            return None if p is None else [round(float(c), 2) for c in p]

        return {
            "template": str(self.template),
            "reason": self.reason,
            "confluence_ras": ras(self.confluence_ras),
            "landmarks": {f"{k}_ras": ras(v) for k, v in self.landmarks.items()},
            "branches": self.branches,
            "lesions": [lesion_to_json(les) for les in self.lesions],
            "stents": [
                {
                    "id": s.id,
                    "name": s.name,
                    "role": str(s.role),
                    "product": s.product,
                    "product_id": s.product_id,
                    "manufacturer": s.manufacturer,
                    "diameter_mm": s.diameter_mm,
                    "length_mm": s.length_mm,
                    "proximal_ras": ras(s.proximal_ras),
                    "distal_ras": ras(s.distal_ras),
                    "coverage": {b: [round(a, 1), round(z, 1)] for b, (a, z) in s.coverage.items()},
                }
                for s in self.stents
            ],
            "warnings": [
                {"code": w.code, "severity": str(w.severity), "stent": w.stent, "message": w.message}
                for w in self.warnings
            ],
            "settings": self.settings.as_dict(),
        }

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
    from .deployment import DeploymentStep
    from .findings import Lesion


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
    # Device choice stable near a size step: a reference up to this much above a catalogue
    # diameter takes that diameter (and counts as fitting it in R6) (DESIGN DEFAULT).
    size_tolerance_mm: float = 0.5
    # R11: the two iliac stents side by side in the IVC (double-barrel), or the two limbs inside
    # the IVC stent (inverted-Y), take at most this fraction of its cross-section (DESIGN DEFAULT).
    barrel_area_max: float = 1.0
    # Input quality: voxel edges above these warn (LOW_RESOLUTION, DESIGN DEFAULT); above the
    # hard limit no stent is sized at all (DESIGN DEFAULT).
    low_resolution_in_plane_mm: float = 2.0
    low_resolution_slice_mm: float = 3.0
    max_voxel_mm: float = 4.0
    # INCOMPLETE_COVERAGE: an iliac vein cut by the field of view with less external iliac vein
    # imaged than this (when the inguinal ligament is not known) (DESIGN DEFAULT).
    min_imaged_eiv_mm: float = 40.0
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
        "size_tolerance_mm",
        "barrel_area_max",
        "low_resolution_in_plane_mm",
        "low_resolution_slice_mm",
        "max_voxel_mm",
        "min_imaged_eiv_mm",
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
class ImagingFacts:
    """What the images say about how far a plan can be trusted (``plan.quality``): the label
    map's voxel edges (in-plane, between slices, mm), which branch ends the field of view cuts
    off, the vertebral levels when the spine was found (``spine.SpineLevels``) and the femoral
    heads' tops."""

    voxel_mm: tuple[float, float] | None = None
    cut_ends: dict[str, bool] = field(default_factory=dict)
    levels: Any = None
    femoral_heads: dict[str, Any] = field(default_factory=dict)  # "left"/"right" -> RAS or None


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
    deployment_step: int = 0  # 1 first; stents of one step go in together (``plan.deployment``)
    proximal_level: str | None = None  # vertebral level of each end ("L4", "L4/L5"), when known
    distal_level: str | None = None

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
    artefacts: list[Lesion] = field(default_factory=list)  # narrowings not taken for lesions
    deployment: list[DeploymentStep] = field(default_factory=list)  # in order (``plan.deployment``)
    # The vertebral level of the confluence and the renal inflow, and how the levels were found
    # ("method"); None where not known.
    vertebral_levels: dict[str, str | None] = field(default_factory=dict)

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
            "vertebral_levels": dict(self.vertebral_levels),
            "branches": self.branches,
            "lesions": [les.to_json() for les in self.lesions],
            "artefacts": [art.to_json() for art in self.artefacts],
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
                    "deployment_step": s.deployment_step,
                    "proximal_level": s.proximal_level,
                    "distal_level": s.distal_level,
                }
                for s in self.stents
            ],
            "deployment": [step.as_dict() for step in self.deployment],
            "warnings": [
                {"code": w.code, "severity": str(w.severity), "stent": w.stent, "message": w.message}
                for w in self.warnings
            ],
            "settings": self.settings.as_dict(),
        }

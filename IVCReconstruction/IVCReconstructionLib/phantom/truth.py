"""What a synthetic venogram knows about itself: the truth that tests and benchmarks score against.

Kept apart from the generator (``generate.py``) so that consumers (tests, the Slicer self-test,
the scene builder) depend on these small dataclasses only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import names

# Values of the phantom's truth label map. 1..3 are the vein branches of the pipeline's own
# label map (names.VEIN_LABELS); the rest are the neighbours a vein segmentation must not enter.
TRUTH_LABELS = {
    **{names.VEIN_LABELS[b]: names.SEGMENT_IDS[b] for b in names.BRANCHES},
    4: "other_veins",  # renal veins, internal iliac veins, collaterals
    5: "arteries",  # aorta and iliac arteries
    6: "kidneys",
    7: "bowel",
    8: "bone",
    9: names.OCCLUDED_SEGMENT_ID,  # fibrotic IVC without lumen (occlusion phantoms)
}


@dataclass
class TruthBranch:
    """A branch centerline resampled at 1 mm, from the confluence outward.

    ``distance_mm`` is measured along the centerline from the confluence (0), cranially on the
    IVC and caudally on the iliac veins (architecture section 4). Diameters describe the lumen
    in the plane perpendicular to the centerline: area-equivalent (CE), minimum and maximum
    (the ellipse axes). ``confluence_zone`` marks samples whose section also cuts another
    branch; ``lesion`` marks samples inside a stenosis or occlusion.
    """

    name: str
    points_ras: np.ndarray  # (N, 3) mm
    distance_mm: np.ndarray  # (N,)
    area_mm2: np.ndarray  # (N,) lumen area; 0 where occluded
    ce_diameter_mm: np.ndarray  # (N,)
    min_diameter_mm: np.ndarray  # (N,)
    max_diameter_mm: np.ndarray  # (N,)
    healthy_area_mm2: np.ndarray  # (N,) the area this section would have without a lesion
    confluence_zone: np.ndarray  # (N,) bool
    lesion: np.ndarray  # (N,) bool

    @property
    def length_mm(self) -> float:
        return float(self.distance_mm[-1])

    def healthy(self) -> np.ndarray:
        """Mask of samples fit to score diameters on: no lesion, no confluence, not at an end."""
        keep = ~(self.confluence_zone | self.lesion)
        keep &= self.distance_mm < self.distance_mm[-1] - 5.0
        return keep


@dataclass
class TruthLesion:
    """A lesion as plan.json describes one (architecture section 7)."""

    branch: str
    kind: str  # "stenosis" | "occlusion"
    start_mm: float
    end_mm: float
    min_area_mm2: float
    reference_area_mm2: float

    @property
    def area_ratio(self) -> float:
        return self.min_area_mm2 / self.reference_area_mm2

    @property
    def area_stenosis_pct(self) -> float:
        return 100.0 * (1.0 - self.area_ratio)

    @property
    def length_mm(self) -> float:
        return self.end_mm - self.start_mm

    def to_json(self) -> dict:
        """As plan.json's ``lesions`` entries (architecture section 7), the truth's fields."""
        return {
            "branch": self.branch,
            "kind": self.kind,
            "start_mm": round(float(self.start_mm), 1),
            "end_mm": round(float(self.end_mm), 1),
            "min_area_mm2": round(float(self.min_area_mm2), 1),
            "area_ratio": round(float(self.area_ratio), 3),
            "area_stenosis_pct": round(self.area_stenosis_pct, 1),
        }


@dataclass
class Phantom:
    """A synthetic CT venogram and its truth, all in RAS millimetres.

    ``image`` and ``labels`` are indexed ``[k, j, i]`` (slice, row, column), the order of
    ``slicer.util.arrayFromVolume``; ``ijk_to_ras`` maps (i, j, k, 1) to RAS.
    """

    image: np.ndarray  # int16 Hounsfield units
    labels: np.ndarray  # uint8, values of TRUTH_LABELS
    ijk_to_ras: np.ndarray  # (4, 4)
    branches: dict[str, TruthBranch]
    confluence_ras: np.ndarray  # (3,)
    renal_inflow_ras: np.ndarray  # (3,) the lower of the two renal vein inflows, on the IVC centerline
    renal_inflows_ras: dict[str, np.ndarray]  # "left" / "right"
    lesions: list[TruthLesion]
    seeds: dict[str, np.ndarray]  # "IVC", "Left", "Right" and, for occlusions, "Via"
    inter_iliac_angle_deg: float
    enhancement_hu: dict[str, float]  # mean HU of veins, arteries, kidneys, ...
    options: object = None  # the PhantomOptions it was made from
    # Per iliac branch, distances from the confluence (mm) of the end of the common iliac vein
    # (internal iliac inflow) and of the inguinal ligament: {"left_iliac": {"civ_end": ..}, ..}.
    branch_landmarks_mm: dict[str, dict[str, float]] = field(default_factory=dict)
    label_names: dict[int, str] = field(default_factory=lambda: dict(TRUTH_LABELS))

    @property
    def spacing_mm(self) -> np.ndarray:
        return np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0)

    @property
    def shape_ijk(self) -> tuple[int, int, int]:
        k, j, i = self.image.shape
        return i, j, k

    def ras_to_ijk(self, ras: np.ndarray) -> np.ndarray:
        """Continuous voxel index (i, j, k) of RAS points (..., 3)."""
        ras = np.asarray(ras, dtype=float)
        inv = np.linalg.inv(self.ijk_to_ras)
        return ras @ inv[:3, :3].T + inv[:3, 3]

    def label_at(self, ras: np.ndarray) -> np.ndarray:
        """Truth label of the voxel nearest to each RAS point."""
        ijk = np.rint(self.ras_to_ijk(ras)).astype(int)
        ijk = np.atleast_2d(ijk)
        return self.labels[ijk[:, 2], ijk[:, 1], ijk[:, 0]]

"""The measured results the centerline and profile stages hand on: plain dataclasses.

Kept apart from the computations (``centerline.py``, ``profile.py``) so that consumers (the
MRML output, the CSV writer, the planner, the tests) depend only on these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..names import VeinSource

# Columns of profile_<branch>.csv (architecture section 6), in order; `confluence_zone` is an
# addition at the end (1 where the section is unreliable because the plane also cuts another
# branch or the inscribed sphere is inflated by the confluence).
PROFILE_COLUMNS = (
    "distance_mm",
    "r",
    "a",
    "s",
    "area_mm2",
    "ce_diameter_mm",
    "min_diameter_mm",
    "max_diameter_mm",
    "mis_diameter_mm",
    "confluence_zone",
)


@dataclass
class CenterlineBranch:
    """One labelled branch, resampled at 1 mm from the confluence outward (RAS mm)."""

    name: str  # "ivc", "left_iliac", "right_iliac"
    points_ras: np.ndarray  # (N, 3)
    distance_mm: np.ndarray  # (N,) from the confluence: cranially on the IVC, caudally on the iliacs
    mis_radius_mm: np.ndarray  # (N,) maximum inscribed sphere radius (VMTK)

    @property
    def length_mm(self) -> float:
        return float(self.distance_mm[-1]) if len(self.distance_mm) else 0.0


@dataclass
class CenterlineTree:
    """The three branches and the point where they meet."""

    branches: dict[str, CenterlineBranch]
    confluence_ras: np.ndarray  # (3,)


@dataclass
class BranchProfile:
    """Cross-section measurements every 1 mm along one branch.

    Diameters in mm: area-equivalent (CE, from the section area), minimum and maximum (VMTK's
    section min and max size), and maximum inscribed sphere (MIS). ``ellipticity`` is
    max / min diameter (1 for a circle). ``confluence_zone`` flags sections to leave out of
    reference diameters.
    """

    name: str
    distance_mm: np.ndarray
    points_ras: np.ndarray  # (N, 3)
    area_mm2: np.ndarray
    ce_diameter_mm: np.ndarray
    min_diameter_mm: np.ndarray
    max_diameter_mm: np.ndarray
    mis_diameter_mm: np.ndarray
    confluence_zone: np.ndarray  # bool

    @property
    def ellipticity(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.min_diameter_mm > 0, self.max_diameter_mm / self.min_diameter_mm, np.nan)

    def columns(self) -> dict[str, np.ndarray]:
        """The profile as named columns, in PROFILE_COLUMNS order."""
        return {
            "distance_mm": self.distance_mm,
            "r": self.points_ras[:, 0],
            "a": self.points_ras[:, 1],
            "s": self.points_ras[:, 2],
            "area_mm2": self.area_mm2,
            "ce_diameter_mm": self.ce_diameter_mm,
            "min_diameter_mm": self.min_diameter_mm,
            "max_diameter_mm": self.max_diameter_mm,
            "mis_diameter_mm": self.mis_diameter_mm,
            "confluence_zone": self.confluence_zone.astype(int),
        }


@dataclass
class SurfaceBuild:
    """How the surface VMTK ran on was made (``surface.surface_candidates``): what the benchmark
    and the tests report."""

    points: int
    method: str  # "decimated labels" (the label map's surface decimated) or "smoothed mask"
    sigma_mm: float  # Gaussian of the smoothed mask (0 when the label map's surface was decimated)
    grid_mm: float  # grid of the surface before decimation
    tries: int  # candidates tried to get this one (1: the first one passed the checks)
    iso_points: int  # points before decimation


@dataclass
class CenterlineResult:
    """The labelled tree and what it was made from (kept for sections and display)."""

    tree: CenterlineTree
    surface: object  # vtkPolyData, RAS mm: the few-thousand-point surface VMTK ran on (displayed)
    end_points: dict[str, np.ndarray]  # "IVC", "Left", "Right": where the lines were asked to start/end
    end_gaps_mm: dict[str, float]  # distance from each end point to where its line starts/ends
    # The label map's full-resolution surface the cross sections are cut from
    # (``surface.section_surface``; None: the sections use ``surface``).
    section_surface: object = None
    surface_build: SurfaceBuild | None = None  # how ``surface`` was made


@dataclass
class VeinMeasurements:
    """Everything the centerline stage measured."""

    centerlines: CenterlineResult
    profiles: dict[str, BranchProfile]
    # Occluded stretches (segment.datatypes.OccludedStretch) of the segmentation measured, if known.
    occlusions: list = field(default_factory=list)
    # The vein labels measured (1-3, occluded stretches filled in) and their geometry.
    labels: np.ndarray | None = None
    labels_ijk_to_ras: np.ndarray | None = None
    # What the label map says about trust (``label_geometry``): its voxel edges (in-plane,
    # between slices, mm), where two vein segments touch (RAS), which branch ends the field of
    # view cuts off, and whether the segments came from another tool (their junctions can be
    # artefacts) or from this module's seeded segmentation (one lumen split into three).
    voxel_mm: tuple[float, float] | None = None
    contacts_ras: np.ndarray | None = None
    cut_ends: dict[str, bool] = field(default_factory=dict)
    source: VeinSource = VeinSource.SEGMENTATION

    @property
    def tree(self) -> CenterlineTree:
        return self.centerlines.tree

    @property
    def surface(self):
        return self.centerlines.surface

    @property
    def section_surface(self):
        """The surface the cross sections were cut from (full resolution)."""
        return self.centerlines.section_surface or self.centerlines.surface

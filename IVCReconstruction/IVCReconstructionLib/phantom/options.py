"""What a phantom shows: the generator's options, and the scenarios users choose from.

``Scenario`` is the one list of scenarios: ``ivc-plan demo/phantom --scenario`` and the Slicer
module's scenario box both offer it, and :func:`options_for` turns a scenario with its lesion
settings into ``PhantomOptions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

MAX_SIZE_IJK = (512, 512, 640)  # k: a 0.6 mm venogram of the abdomen and pelvis has ~470 slices
# Hounsfield units of the reference venogram (portal-venous / venous phase). Veins, arteries
# and kidneys overlap on purpose: intensity alone cannot tell them apart.
REFERENCE_HU = {
    "air": -1000.0,
    "fat": -95.0,
    "visceral": -70.0,
    "muscle": 50.0,
    "vein": 165.0,
    "artery": 180.0,
    "kidney": 170.0,
    "bowel_wall": 40.0,
    "bowel_content": 15.0,
    "gas": -900.0,
    "cortical_bone": 650.0,
    "cancellous_bone": 230.0,
    "disc": 80.0,
    "fibrosis": 45.0,
}


@dataclass
class PhantomOptions:
    """What to build. Lengths in mm; ratios are lesion area / healthy area.

    ``seed=None`` gives the reference anatomy; an integer draws a random variant (calibres,
    angles, lengths, levels, enhancement) from ranges around it, reproducibly.
    ``size_ijk=None`` fits the volume to the anatomy of interest (about 200 x 110 x 320 mm);
    a given size is centred on that region, so a large one shows the whole body with air around.
    """

    spacing_mm: float | tuple[float, float, float] = 1.0
    size_ijk: tuple[int, int, int] | None = None
    seed: int | None = None
    may_thurner_area_ratio: float | None = None
    ivc_occlusion_length_mm: float | None = None
    bilateral_iliac_area_ratio: float | None = None
    noise_hu: float = 12.0
    lps_orientation: bool = True  # voxels stored in LPS order, as DICOM and most CT files do
    # Harder venograms (issue 12, docs/phantom.md). The defaults build the original phantoms:
    # veins in fat, arteries 0.3 mm off the veins, no bone against them, sharp edges, even
    # enhancement. ``harder_options()`` sets them all.
    soft_tissue_hu: float | None = None  # tissue of this HU (psoas, bowel wall: 40-55) instead of
    #   fat within SOFT_TISSUE_MM of the vessels, and a fluid-filled bowel loop 1.5 mm in front of the IVC
    artery_overlap_mm: float = 0.0  # iliac arteries indent their veins this deep (0-3 mm) along the
    #   external iliac veins and where the right common iliac artery crosses the left common iliac vein
    veins_on_bone: bool = False  # the IVC and common iliac veins on the vertebrae, the external
    #   iliac veins on the pelvic brim
    psf_sigma_mm: float = 0.0  # Gaussian point-spread function of the scanner (0.4-1.2 mm); the
    #   truth stays the tubes
    noise_correlation_mm: float | None = None  # None: CT-like (2-voxel box in-plane); 0: white;
    #   > 0: Gaussian-correlated with this standard deviation (mm, all three axes)
    slice_thickness_mm: float | None = None  # each slice integrates this thickness (box profile),
    #   e.g. spacing (0.8, 0.8, 3.0) with 3 mm slices; None: sampled at the slice centre
    irregularity: float = 0.0  # 0-0.3: non-elliptical sections (harmonics 2-4) and calibre
    #   changes along the three veins, as a fraction of the radius
    enhancement_gradient_hu: float = 0.0  # veins darker by up to this from the renal veins down to
    #   the distal iliac veins (later return from the legs)
    inflow_mixing_hu: float = 0.0  # the left iliac inflow is this much less enhanced, and layers
    #   along the IVC's left wall over 60 mm above the confluence (laminar mixing)

    def spacing(self) -> np.ndarray:
        s = np.broadcast_to(np.asarray(self.spacing_mm, dtype=float), (3,)).copy()
        return s

    def validate(self) -> None:
        """Raise ValueError naming the first option that cannot make a phantom."""
        s = self.spacing()
        if not np.all(np.isfinite(s)) or np.any(s < 0.3) or np.any(s > 4.0):
            raise ValueError(f"phantom spacing must be between 0.3 and 4 mm, got {[float(x) for x in s]}")
        if self.size_ijk is not None:
            size = tuple(int(n) for n in self.size_ijk)
            if len(size) != 3 or any(n < 16 for n in size):
                raise ValueError(f"phantom size must be three numbers of at least 16 voxels, got {size}")
            if any(n > m for n, m in zip(size, MAX_SIZE_IJK, strict=True)):
                raise ValueError(f"phantom size {size} exceeds the maximum {MAX_SIZE_IJK}")
        for name in ("may_thurner_area_ratio", "bilateral_iliac_area_ratio"):
            ratio = getattr(self, name)
            if ratio is not None and not 0.05 <= ratio <= 0.9:
                raise ValueError(
                    f"{name} must be between 0.05 and 0.9 (lesion area / healthy area), got {ratio}"
                )
        if self.ivc_occlusion_length_mm is not None and not 10.0 <= self.ivc_occlusion_length_mm <= 80.0:
            raise ValueError(
                f"ivc_occlusion_length_mm must be between 10 and 80 mm, got {self.ivc_occlusion_length_mm}"
            )
        if self.noise_hu < 0:
            raise ValueError(f"noise_hu must not be negative, got {self.noise_hu}")
        ranges = (
            ("soft_tissue_hu", self.soft_tissue_hu, -20.0, 100.0),
            ("artery_overlap_mm", self.artery_overlap_mm, 0.0, 3.0),
            ("psf_sigma_mm", self.psf_sigma_mm, 0.0, 2.0),
            ("noise_correlation_mm", self.noise_correlation_mm, 0.0, 3.0),
            ("irregularity", self.irregularity, 0.0, 0.3),
            ("enhancement_gradient_hu", self.enhancement_gradient_hu, 0.0, 80.0),
            ("inflow_mixing_hu", self.inflow_mixing_hu, 0.0, 80.0),
        )
        for name, value, low, high in ranges:
            if value is not None and not low <= value <= high:
                raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value}")
        if self.slice_thickness_mm is not None and not s[2] <= self.slice_thickness_mm <= 4.0:
            raise ValueError(
                f"slice_thickness_mm must be between the slice spacing ({s[2]:g} mm) and 4 mm, "
                f"got {self.slice_thickness_mm}"
            )


# How far from the vessels' walls soft tissue replaces fat (``soft_tissue_hu``).
SOFT_TISSUE_MM = 10.0
# What harder_options() sets (docs/phantom.md, *Harder venograms*).
HARDER_OPTIONS = {
    "soft_tissue_hu": 45.0,
    "artery_overlap_mm": 2.0,
    "veins_on_bone": True,
    "psf_sigma_mm": 0.8,
    "noise_hu": 15.0,
    "irregularity": 0.15,
    "enhancement_gradient_hu": 20.0,
    "inflow_mixing_hu": 15.0,
}


def harder_options(**changes) -> PhantomOptions:
    """The harder venogram of issue 12: veins in soft tissue, indented by arteries 2 mm deep, lying
    on bone, blurred by a 0.8 mm point-spread function, 15 HU noise, irregular sections, and
    enhancement falling 20 HU towards the legs with 15 HU less in the left inflow. Any field can
    be changed (``harder_options(noise_hu=25.0, psf_sigma_mm=1.2, may_thurner_area_ratio=0.3)``).

    :raises ValueError: for an option out of range (named).
    """
    options = PhantomOptions(**{**HARDER_OPTIONS, **changes})
    options.validate()
    return options


class Scenario(StrEnum):
    """What the synthetic venogram shows."""

    HEALTHY = "healthy"
    MAY_THURNER = "may-thurner"  # the left common iliac vein compressed by the right iliac artery
    IVC_OCCLUSION = "ivc-occlusion"
    BILATERAL = "bilateral"  # both common iliac veins narrowed
    POST_THROMBOTIC = "post-thrombotic"  # an IVC occlusion and both common iliac veins narrowed

    @property
    def uses_area_ratio(self) -> bool:
        """Whether the scenario narrows a vein to a given area ratio."""
        return self in (Scenario.MAY_THURNER, Scenario.BILATERAL, Scenario.POST_THROMBOTIC)

    @property
    def uses_occlusion_length(self) -> bool:
        """Whether the scenario has an occluded IVC stretch of a given length."""
        return self in (Scenario.IVC_OCCLUSION, Scenario.POST_THROMBOTIC)


def options_for(
    scenario: Scenario | str,
    *,
    spacing_mm: float | tuple[float, float, float] = 1.0,
    seed: int | None = None,
    area_ratio: float = 0.25,
    occlusion_length_mm: float = 40.0,
    size_ijk: tuple[int, int, int] | None = None,
) -> PhantomOptions:
    """The options of a scenario: ``area_ratio`` (lesion area / healthy area) and
    ``occlusion_length_mm`` apply to the scenarios that use them and are ignored otherwise.

    :raises ValueError: for an unknown scenario or an option out of range (named).
    """
    try:
        scenario = Scenario(scenario)
    except ValueError:
        raise ValueError(f"unknown phantom scenario {scenario!r}: use one of {', '.join(Scenario)}") from None
    options = PhantomOptions(
        spacing_mm=spacing_mm,
        size_ijk=tuple(size_ijk) if size_ijk is not None else None,
        seed=seed,
        may_thurner_area_ratio=area_ratio if scenario is Scenario.MAY_THURNER else None,
        bilateral_iliac_area_ratio=(
            area_ratio if scenario in (Scenario.BILATERAL, Scenario.POST_THROMBOTIC) else None
        ),
        ivc_occlusion_length_mm=occlusion_length_mm if scenario.uses_occlusion_length else None,
    )
    options.validate()
    return options

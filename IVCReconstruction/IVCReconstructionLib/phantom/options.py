"""What a phantom shows: the generator's options, and the scenarios users choose from.

``Scenario`` is the one list of scenarios: ``ivc-plan demo/phantom --scenario`` and the Slicer
module's scenario box both offer it, and :func:`options_for` turns a scenario with its lesion
settings into ``PhantomOptions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

MAX_SIZE_IJK = (512, 512, 400)
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

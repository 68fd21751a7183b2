"""What the seeded segmentation hands on: the vein label map and the occluded stretches."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..names import BRANCH_IN_TEXT, VeinSource


@dataclass
class SeedBlood:
    """The blood's intensity read around the seeds (``checks.check_seeds``)."""

    blood: float  # the median of the seeds' medians
    spread: float  # robust spread of the blood, at least 0.04 of the contrast
    warnings: list[str]
    levels: dict[str, float]  # each seed's own median, by seed name


@dataclass
class OccludedStretch:
    """A stretch of a branch's path that crosses no lumen."""

    branch: str
    start_ras: np.ndarray
    end_ras: np.ndarray
    length_mm: float

    def describe(self) -> str:
        """One sentence for the user, e.g. "The IVC has no lumen over 42 mm (occlusion)."."""
        vein = BRANCH_IN_TEXT.get(self.branch, self.branch)
        return f"The {vein} has no lumen over {self.length_mm:.0f} mm (occlusion)."


@dataclass
class VeinSegmentation:
    """Label map in the input volume's geometry: 1 IVC, 2 left iliac, 3 right iliac, 4 occluded."""

    labels: np.ndarray  # uint8 [k, j, i]
    ijk_to_ras: np.ndarray
    paths_ras: dict[str, np.ndarray]  # per branch, from the confluence outward
    confluence_ras: np.ndarray
    occlusions: list[OccludedStretch]
    blood_hu: float
    threshold: float
    warnings: list[str] = field(default_factory=list)

    def measurable_labels(self) -> np.ndarray:
        """Labels 1-3 for measuring (see :func:`occlusion.fill_occluded`)."""
        from .occlusion import fill_occluded

        return fill_occluded(self.labels)


@dataclass(frozen=True)
class VeinsOrigin:
    """How the veins that are measured were obtained, for the report: segmented here from seed
    points (which), or taken from a segmentation given. Kept on the segmentation node as the
    attribute ``names.VEIN_SOURCE_ATTRIBUTE`` so that a report written later can say it."""

    source: VeinSource = VeinSource.SEGMENTATION
    seed_labels: tuple[str, ...] = ()

    def describe(self) -> str:
        """The origin in words: "seeded segmentation (IVC, Left, Right, Via)" or "a segmentation given"."""
        if self.source is VeinSource.SEEDS and self.seed_labels:
            return f"{self.source} ({', '.join(self.seed_labels)})"
        return str(self.source)

    def to_attribute(self) -> str:
        return f"{self.source}|{','.join(self.seed_labels)}"

    @classmethod
    def from_attribute(cls, text: str | None) -> VeinsOrigin:
        """The origin stored by :meth:`to_attribute`; a segmentation given when there is none."""
        source, _, labels = (text or "").partition("|")
        try:
            kind = VeinSource(source)
        except ValueError:
            return cls()
        return cls(kind, tuple(label for label in labels.split(",") if label))

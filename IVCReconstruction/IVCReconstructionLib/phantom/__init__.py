"""Synthetic CT venograms with exact truth: options and scenarios, shapes, anatomy, lesions,
what lies against the veins and what the scan adds (the harder venograms), the generator, the
truth dataclasses and the files a phantom is written to."""

from .generate import make_phantom
from .options import (
    HARDER_OPTIONS,
    MAX_SIZE_IJK,
    REFERENCE_HU,
    SOFT_TISSUE_MM,
    PhantomOptions,
    Scenario,
    harder_options,
    options_for,
)
from .truth import TRUTH_LABELS, Phantom, TruthBranch, TruthLesion

__all__ = [
    "HARDER_OPTIONS",
    "MAX_SIZE_IJK",
    "REFERENCE_HU",
    "SOFT_TISSUE_MM",
    "TRUTH_LABELS",
    "Phantom",
    "PhantomOptions",
    "Scenario",
    "TruthBranch",
    "TruthLesion",
    "harder_options",
    "make_phantom",
    "options_for",
]

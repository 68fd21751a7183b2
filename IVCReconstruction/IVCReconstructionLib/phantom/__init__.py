"""Synthetic CT venograms with exact truth: options and scenarios, shapes, anatomy, lesions,
the generator, the truth dataclasses and the files a phantom is written to."""

from .generate import make_phantom
from .options import MAX_SIZE_IJK, REFERENCE_HU, PhantomOptions, Scenario, options_for
from .truth import TRUTH_LABELS, Phantom, TruthBranch, TruthLesion

__all__ = [
    "MAX_SIZE_IJK",
    "REFERENCE_HU",
    "TRUTH_LABELS",
    "Phantom",
    "PhantomOptions",
    "Scenario",
    "TruthBranch",
    "TruthLesion",
    "make_phantom",
    "options_for",
]

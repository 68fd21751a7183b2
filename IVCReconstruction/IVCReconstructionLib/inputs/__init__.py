"""Inputs: volumes from files (RAS <-> LPS in one place) and seed points (one parser)."""

from .seeds import SeedPoints, as_seed_points, parse_seed_points, read_seeds, seeds_from_markups
from .volumes import describe_volume, dicom_series, read_volume

__all__ = [
    "SeedPoints",
    "as_seed_points",
    "describe_volume",
    "dicom_series",
    "parse_seed_points",
    "read_seeds",
    "read_volume",
    "seeds_from_markups",
]

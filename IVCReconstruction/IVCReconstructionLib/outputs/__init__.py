"""What the pipeline writes: the output folder (``folder``), profile CSVs and the report."""

from .folder import offscreen_renderer, write_output_folder
from .profile_csv import read_profile_csv, write_profile_csv, write_profiles
from .report import write_report

__all__ = [
    "offscreen_renderer",
    "read_profile_csv",
    "write_output_folder",
    "write_profile_csv",
    "write_profiles",
    "write_report",
]

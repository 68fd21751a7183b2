"""What the pipeline writes: the output folder (``folder``, as one set: ``atomic``), profile CSVs
and the report."""

from .atomic import FolderBusyError, OutputFolderError, OutputSet, check_output_folder
from .folder import OUTPUT_NAMES, offscreen_renderer, write_output_folder
from .profile_csv import read_profile_csv, write_profile_csv, write_profiles
from .report import write_report

__all__ = [
    "OUTPUT_NAMES",
    "FolderBusyError",
    "OutputFolderError",
    "OutputSet",
    "check_output_folder",
    "offscreen_renderer",
    "read_profile_csv",
    "write_output_folder",
    "write_profile_csv",
    "write_profiles",
    "write_report",
]

"""Diameter profiles as CSV files (``profile_<branch>.csv``, architecture section 6).

One row per profile sample, the columns of ``profile_types.PROFILE_COLUMNS`` in that order,
numbers with 3 decimals (micrometres, far below CT resolution) and ``confluence_zone`` as 0/1,
so the files diff cleanly and open in any spreadsheet. Also the validation of a
``BranchProfile`` that both the CSV writer and the MRML output rely on.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import names
from ..measure.datatypes import PROFILE_COLUMNS, BranchProfile

HEADER = ",".join(PROFILE_COLUMNS)
DECIMALS = 3

_FILE_NAME = re.compile(r"^profile_(?P<branch>.+)\.csv$")

# Section measurements may be NaN where a cross-section came out empty: the profile stage warns
# and goes on rather than failing the whole analysis (slicer-conventions section 7).
_SECTION_FIELDS = ("area_mm2", "ce_diameter_mm", "min_diameter_mm", "max_diameter_mm")


def profile_file_name(branch: str) -> str:
    """The file name of a branch's profile, e.g. ``profile_left_iliac.csv``."""
    return f"profile_{branch}.csv"


def check_profile(profile: BranchProfile, branch: str | None = None) -> int:
    """Validate a profile's arrays; return its number of samples.

    Raises ValueError naming the branch and the problem if the profile is empty, an array has
    the wrong shape or length, distances or points are not finite, distances do not increase
    (a branch running towards the confluence instead of away from it), the MIS diameter is not
    finite, a value is infinite, or ``confluence_zone`` is not boolean. Area and CE/min/max
    diameters may be NaN (empty cross-section). ``branch``, if given, must equal ``profile.name``.
    """
    if not isinstance(profile, BranchProfile):
        raise ValueError(f"expected a BranchProfile, got {type(profile).__name__}")
    label = profile.name
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"profile name must be a non-empty string, got {label!r}")
    if branch is not None and label != branch:
        raise ValueError(f"profile given for branch {branch!r} is named {label!r}")

    distance = np.asarray(profile.distance_mm, dtype=float)
    if distance.ndim != 1:
        raise ValueError(f"profile {label!r}: distance_mm must be 1D, got shape {distance.shape}")
    n = len(distance)
    if n == 0:
        raise ValueError(f"profile {label!r} is empty (no samples)")
    points = np.asarray(profile.points_ras, dtype=float)
    if points.shape != (n, 3):
        raise ValueError(f"profile {label!r}: points_ras must have shape ({n}, 3), got {points.shape}")
    for field_name in (*_SECTION_FIELDS, "mis_diameter_mm", "confluence_zone"):
        shape = np.shape(getattr(profile, field_name))
        if shape != (n,):
            raise ValueError(
                f"profile {label!r}: {field_name} has shape {shape}, expected ({n},) like distance_mm"
            )

    if not np.all(np.isfinite(distance)):
        raise ValueError(f"profile {label!r}: distance_mm contains NaN or infinite values")
    if np.any(np.diff(distance) <= 0):
        raise ValueError(
            f"profile {label!r}: distance_mm must increase strictly (from the confluence outward)"
        )
    if not np.all(np.isfinite(points)):
        raise ValueError(f"profile {label!r}: points_ras contains NaN or infinite values")
    if not np.all(np.isfinite(np.asarray(profile.mis_diameter_mm, dtype=float))):
        raise ValueError(f"profile {label!r}: mis_diameter_mm contains NaN or infinite values")
    for field_name in _SECTION_FIELDS:
        if np.any(np.isinf(np.asarray(getattr(profile, field_name), dtype=float))):
            raise ValueError(f"profile {label!r}: {field_name} contains infinite values")
    zone = np.asarray(profile.confluence_zone)
    if zone.dtype != bool and not np.isin(zone, (0, 1)).all():
        raise ValueError(f"profile {label!r}: confluence_zone must be boolean (or 0/1)")
    return n


def _format(value: float) -> str:
    text = f"{value:.{DECIMALS}f}"
    # -0.0004 rounds to "-0.000"; write it as 0.000 so equal values give equal text.
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def write_profile_csv(profile: BranchProfile, path: str | Path) -> Path:
    """Write one profile as CSV (header ``HEADER``, one row per sample); returns the path.

    Numbers get 3 decimals, ``confluence_zone`` is written as 0/1 and an empty cross-section
    (NaN) as ``nan``. The parent folder is created if needed. Raises ValueError on an invalid
    profile (see :func:`check_profile`) before anything is written.
    """
    check_profile(profile)
    text = {
        name: [_format(v) for v in np.asarray(values, dtype=float)]
        for name, values in profile.columns().items()
        if name != "confluence_zone"
    }
    text["confluence_zone"] = ["1" if z else "0" for z in np.asarray(profile.confluence_zone, dtype=bool)]

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(PROFILE_COLUMNS)
        writer.writerows(zip(*(text[name] for name in PROFILE_COLUMNS), strict=True))
    return path


def read_profile_csv(path: str | Path) -> BranchProfile:
    """Read a profile written by :func:`write_profile_csv`.

    The branch comes from the file name, ``profile_<branch>.csv`` with ``<branch>`` one of
    ``names.BRANCHES``. Raises ValueError on another file name, a header other than ``HEADER``,
    a row with the wrong number of fields, a value that is not a number, a confluence flag other
    than 0/1, or a file without rows; OSError if the file cannot be read.
    """
    path = Path(path)
    match = _FILE_NAME.match(path.name)
    if match is None or match["branch"] not in names.BRANCHES:
        expected = ", ".join(profile_file_name(b) for b in names.BRANCHES)
        raise ValueError(f"cannot tell the branch from the file name {path.name!r}; expected {expected}")
    branch = match["branch"]

    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != list(PROFILE_COLUMNS):
        found = ",".join(rows[0]) if rows else "(empty file)"
        raise ValueError(f"{path.name}: wrong header {found!r}; expected {HEADER!r}")
    body = [row for row in rows[1:] if row]  # tolerate a trailing blank line
    if not body:
        raise ValueError(f"{path.name}: no data rows after the header")

    values = np.empty((len(body), len(PROFILE_COLUMNS)))
    for n, row in enumerate(body, start=2):  # line numbers as an editor shows them
        if len(row) != len(PROFILE_COLUMNS):
            raise ValueError(f"{path.name} line {n}: {len(row)} fields, expected {len(PROFILE_COLUMNS)}")
        try:
            values[n - 2] = [float(v) for v in row]
        except ValueError:
            raise ValueError(f"{path.name} line {n}: not a number in {','.join(row)!r}") from None
    column = {name: values[:, c] for c, name in enumerate(PROFILE_COLUMNS)}
    zone = column["confluence_zone"]
    if not np.isin(zone, (0.0, 1.0)).all():
        raise ValueError(f"{path.name}: confluence_zone must be 0 or 1")

    profile = BranchProfile(
        name=branch,
        distance_mm=column["distance_mm"],
        points_ras=np.column_stack([column["r"], column["a"], column["s"]]),
        area_mm2=column["area_mm2"],
        ce_diameter_mm=column["ce_diameter_mm"],
        min_diameter_mm=column["min_diameter_mm"],
        max_diameter_mm=column["max_diameter_mm"],
        mis_diameter_mm=column["mis_diameter_mm"],
        confluence_zone=zone.astype(bool),
    )
    check_profile(profile)
    return profile


def write_profiles(profiles: Mapping[str, BranchProfile], out_dir: str | Path) -> list[Path]:
    """Write ``profile_<branch>.csv`` for every profile into ``out_dir``; returns the paths.

    All profiles are validated first (each key must be its profile's name), so a bad one leaves
    no partial set of files behind.
    """
    for branch, profile in profiles.items():
        check_profile(profile, branch)
    out = Path(out_dir)
    return [write_profile_csv(p, out / profile_file_name(branch)) for branch, p in profiles.items()]

"""The spine landmarks of one case, from whatever it offers: TotalSegmentator's vertebra labels
when the segmentation given has them, else the CT's own bone (an estimate); and the femoral
heads from the CT. What cannot be found is said in notes, never guessed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import names
from .femoral_heads import femoral_heads_on_grid
from .from_ct import check_ct, levels_on_grid
from .from_labels import levels_from_labels
from .grid import resample
from .levels import SpineLevels


@dataclass
class SpineFacts:
    """The vertebral levels (None when not found), the femoral-head tops per side ("left",
    "right": RAS or None) and notes on what was not found or how."""

    levels: SpineLevels | None = None
    femoral_heads: dict[str, np.ndarray | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def has_vertebra_labels(labels: np.ndarray | None) -> bool:
    """Whether a label map holds any of TotalSegmentator's vertebra (or sacrum) labels."""
    if labels is None:
        return False
    wanted = [*names.TOTALSEGMENTATOR_VERTEBRAE.values(), names.TOTALSEGMENTATOR_SACRUM]
    return bool(np.isin(np.asarray(labels), wanted).any())


def find_spine(
    image: np.ndarray | None,
    ijk_to_ras: np.ndarray | None,
    near: np.ndarray | None = None,
    vertebra_labels: np.ndarray | None = None,
    vertebra_labels_ijk_to_ras: np.ndarray | None = None,
) -> SpineFacts:
    """The spine landmarks of a case (never raises for what the images do not show).

    :param image: the CT (or MR: then no levels are counted, and a note says so), [k, j, i].
    :param near: a point in front of the spine (the confluence) to search around.
    :param vertebra_labels: a TotalSegmentator label map, when the segmentation came as one.
    """
    notes: list[str] = []
    levels = None
    if has_vertebra_labels(vertebra_labels):
        try:
            levels = levels_from_labels(vertebra_labels, np.asarray(vertebra_labels_ijk_to_ras, dtype=float))
        except ValueError as exc:
            notes.append(f"vertebral levels not read from the labels: {exc}")
    # The CT resampled and checked once for both searches (levels_from_ct and femoral_heads
    # each resampled it: a whole-volume pass, ~1 s on a 512 x 512 x 400 CT).
    heads: dict[str, np.ndarray | None] = {}
    if image is not None:
        try:
            grid = resample(image, np.asarray(ijk_to_ras, dtype=float))
            check_ct(grid.v)
        except ValueError as exc:  # not a CT (or too small): neither search can run
            if levels is None:
                notes.append(f"vertebral levels not found: {exc}")
            notes.append(f"femoral heads not found: {exc}")
        else:
            if levels is None:
                try:
                    levels = levels_on_grid(grid, near)
                except ValueError as exc:
                    notes.append(f"vertebral levels not found: {exc}")
            try:
                heads = femoral_heads_on_grid(grid, levels)
            except ValueError as exc:
                notes.append(f"femoral heads not found: {exc}")
    if levels is not None:
        notes = [*notes, *levels.notes]
    return SpineFacts(levels, heads, notes)

"""Vertebral levels read from a TotalSegmentator label map: its vertebra labels are named, so the
levels are read, not counted (``names.TOTALSEGMENTATOR_VERTEBRAE``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import names
from .levels import SpineLevels, Vertebra

# The anterior part of a vertebra label is its body: TotalSegmentator labels the whole vertebra
# (body, pedicles, laminae, spinous process), and the spinous process reaches a level down.
# A lumbar vertebra is about 80-100 mm deep, its body about 35 mm (DESIGN DEFAULT: 0.4).
BODY_DEPTH_FRACTION = 0.4
CORE_RADIUS_MM = 10.0  # the endplates are measured near the body's centre, not at the rounded rim


def levels_from_labels(
    labels: np.ndarray,
    ijk_to_ras: np.ndarray,
    values: Mapping[str, int] | None = None,
    sacrum: int | None = names.TOTALSEGMENTATOR_SACRUM,
) -> SpineLevels:
    """The vertebral levels from a label map with named vertebra labels.

    :param values: label value per vertebra name (names.VERTEBRAE); TotalSegmentator's "total"
        task by default (names.TOTALSEGMENTATOR_VERTEBRAE).
    :param sacrum: the sacrum's label value: its top stands in for S1's superior endplate when the
        map has no S1 label (older TotalSegmentator versions); None not to use it.
    :raises ValueError: when the map holds none of the vertebrae.
    """
    values = dict(names.TOTALSEGMENTATOR_VERTEBRAE if values is None else values)
    labels = np.asarray(labels)
    m = np.asarray(ijk_to_ras, dtype=float)
    notes: list[str] = []
    parts: dict[str, tuple[int, np.ndarray]] = {}
    for name in names.VERTEBRAE:
        if name in values and (kji := _body_voxels(labels, m, values[name])) is not None:
            parts[name] = (values[name], kji)
    if "S1" not in parts and sacrum is not None and (kji := _body_voxels(labels, m, sacrum)) is not None:
        parts["S1"] = (sacrum, kji)
        notes.append("no S1 label: S1's superior endplate is the top of the sacrum label")
    if not parts:
        wanted = ", ".join(f"{n} = {v}" for n, v in values.items())
        raise ValueError(f"the label map holds none of the vertebra labels ({wanted})")
    vertebrae = []
    for name in names.VERTEBRAE:
        if name not in parts:
            continue
        value, kji = parts[name]
        top, top_n = _endplate(kji, m, +1)
        bottom, bottom_n = _endplate(kji, m, -1)
        cut = _touches_edge(labels, value)
        vertebrae.append(Vertebra(name, top, bottom, cut, False, top_n, bottom_n))
    return SpineLevels(vertebrae, names.LevelSource.LABELS, notes)


def _body_voxels(labels: np.ndarray, m: np.ndarray, value: int) -> np.ndarray | None:
    """Voxel indices (k, j, i) of the body part (the anterior) of one vertebra label, or None."""
    kji = np.argwhere(labels == value)
    if len(kji) < 5:
        return None
    a = kji[:, ::-1] @ m[1, :3] + m[1, 3]
    front = a.max() - BODY_DEPTH_FRACTION * (a.max() - a.min())
    return kji[a >= front]


def _endplate(kji: np.ndarray, m: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The superior (side +1) or inferior (-1) endplate of a body's voxels: its centre and its
    plane's cranial normal.

    Along each line of voxels running cranio-caudally, the last voxel on that side (and half a
    voxel beyond: its face) lies on the endplate; a plane fitted through those of the lines
    within CORE_RADIUS_MM of the body's centre gives the endplate's tilt (the lordosis), its
    height at the centre gives the centre. Lines at the rim are left out: the rim is rounded.
    """
    ax = int(np.argmax(np.abs(m[2, :3])))  # the index (i, j or k) that runs most along S
    col = 2 - ax  # its column in kji
    others = [c for c in range(3) if c != col]
    ras = kji[:, ::-1] @ m[:3, :3].T + m[:3, 3]
    centre = ras.mean(axis=0)
    keys = kji[:, others]
    order = np.lexsort((side * ras[:, 2], keys[:, 1], keys[:, 0]))
    keys_sorted = keys[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(keys_sorted[1:] != keys_sorted[:-1], axis=1)
    # lexsort puts each line's extreme voxel (largest S for the top) last: take the last of each line.
    last = np.r_[np.flatnonzero(first)[1:] - 1, len(order) - 1]
    ends = ras[order[last]]
    ends[:, 2] += side * 0.5 * abs(m[2, ax])
    near = np.linalg.norm(ends[:, :2] - centre[:2], axis=1) <= CORE_RADIUS_MM
    if near.sum() >= 3:
        ends = ends[near]
    if len(ends) >= 3 and np.ptp(ends[:, 0]) > 0 and np.ptp(ends[:, 1]) > 0:
        design = np.column_stack([ends[:, 0] - centre[0], ends[:, 1] - centre[1], np.ones(len(ends))])
        (ga, gb, c), *_ = np.linalg.lstsq(design, ends[:, 2], rcond=None)
    else:
        ga, gb, c = 0.0, 0.0, float(ends[:, 2].max() if side > 0 else ends[:, 2].min())
    normal = np.array([-ga, -gb, 1.0])
    return np.array([centre[0], centre[1], c]), normal / np.linalg.norm(normal)


def _touches_edge(labels: np.ndarray, value: int) -> bool:
    """Whether a label reaches the map's border: the vertebra runs off the volume."""
    kji = np.argwhere(labels == value)
    if not len(kji):
        return False
    return bool(np.any(kji.min(axis=0) == 0) or np.any(kji.max(axis=0) == np.array(labels.shape) - 1))

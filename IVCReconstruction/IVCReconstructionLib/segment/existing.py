"""Bring your own segmentation: the three veins of a label map, by label value.

A TotalSegmentator result, a Segment Editor result or the project's own output is used as is.
A segmentation node's segments are found by ID, then terminology (``scene.segmentation_nodes``);
a plain label map needs a mapping such as ``ivc=63,left=67,right=68``. Either way the stages
after this one see the pipeline's own label values (``names.VEIN_LABELS``, and
``names.OCCLUDED_LABEL`` for an occluded stretch this module segmented).
"""

from __future__ import annotations

import numpy as np

from .. import names

# Short names accepted in a label mapping, per branch.
_MAPPING_KEYS = {
    "ivc": "ivc",
    "left": "left_iliac",
    "left_iliac": "left_iliac",
    "right": "right_iliac",
    "right_iliac": "right_iliac",
}


def parse_label_mapping(text: str) -> dict[str, int]:
    """``"ivc=63,left=67,right=68"`` -> ``{"ivc": 63, "left_iliac": 67, "right_iliac": 68}``.

    :raises ValueError: on a malformed mapping or a missing branch.
    """
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        branch = _MAPPING_KEYS.get(key.strip().lower())
        if not sep or branch is None or not value.strip().isdigit():
            raise ValueError(
                f"cannot read {part!r} in the label mapping: write it as ivc=63,left=67,right=68"
            )
        out[branch] = int(value)
    missing = [b for b in names.BRANCHES if b not in out]
    if missing:
        raise ValueError(
            f"the label mapping {text!r} has no value for {', '.join(missing)}: write ivc=..,left=..,right=.."
        )
    if len(set(out.values())) != 3:
        raise ValueError(f"the label mapping {text!r} gives two veins the same label value")
    return out


def labels_from_label_map(raw: np.ndarray, values: dict[str, int] | None = None) -> np.ndarray:
    """The pipeline's vein labels (uint8: 1 IVC, 2 left, 3 right) of a label map whose veins
    have the label ``values`` (branch -> value; default the pipeline's own 1, 2, 3)."""
    labels = np.zeros(raw.shape, dtype=np.uint8)
    for branch, value in (values or names.VEIN_LABELS).items():
        labels[raw == value] = names.VEIN_LABELS[branch]
    return labels


def vein_labels(labels: np.ndarray) -> np.ndarray:
    """Only the vein labels 1-3 of a label map (uint8), other values set to 0."""
    return np.where(np.isin(labels, tuple(names.VEIN_LABELS.values())), labels, 0).astype(np.uint8)

"""Bring your own segmentation: the three veins of a label map, by label value.

A TotalSegmentator result, a Segment Editor result or the project's own output is used as is.
A segmentation node's segments are found by ID, then terminology (``scene.segmentation_nodes``);
a plain label map needs a mapping such as ``ivc=63,left=67,right=68``. Either way the stages
after this one see the pipeline's own label values (``names.VEIN_LABELS``, and
``names.OCCLUDED_LABEL`` for an occluded stretch this module segmented).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import names
from .grid import block_reduce, mask_box, padded_to_blocks

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
    lab = np.asarray(labels)
    if lab.dtype.kind == "u" and lab.dtype.itemsize <= 2:
        # One table lookup instead of isin + where over the whole volume.
        table = np.zeros(np.iinfo(lab.dtype).max + 1, dtype=np.uint8)
        values = list(names.VEIN_LABELS.values())
        table[values] = values
        return table[lab]
    return np.where(np.isin(labels, tuple(names.VEIN_LABELS.values())), labels, 0).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# A label map checked against its mapping, in the user's own values


def _values_text(values) -> str:
    values = sorted(int(v) for v in values)
    return ", ".join(map(str, values[:12])) + (", ..." if len(values) > 12 else "")


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def looks_like_totalsegmentator(present: set[int]) -> bool:
    """Whether a label map's values look like TotalSegmentator's ``total`` task: many organs
    numbered up to 117, among them its inferior vena cava (63)."""
    return 63 in present and len(present) >= 8 and max(present, default=0) <= names.TOTALSEGMENTATOR_MAX_LABEL


def _ts_name(value: int) -> str:
    name = names.TOTALSEGMENTATOR_NAMES.get(int(value))
    return f" (TotalSegmentator's {name})" if name else ""


def check_label_map(raw: np.ndarray, values: dict[str, int] | None, source: str, mapping: str | None) -> None:
    """Refuse a label map whose mapping cannot be right, naming the user's own values.

    ``values`` is the parsed ``--labels`` mapping (branch -> value; None for the default 1, 2,
    3), ``mapping`` its text as the user wrote it, ``source`` the file's name. Refused: a value
    of the mapping that is not in the map; a map that looks like TotalSegmentator's given without
    a mapping (its 1, 2, 3 are the spleen and kidneys); a mapping onto TotalSegmentator's
    arteries or other non-veins in such a map.

    :raises ValueError: saying what is wrong and what to write instead.
    """
    present = {int(v) for v in np.unique(raw)} - {0}
    ts = looks_like_totalsegmentator(present)
    wanted = names.TOTALSEGMENTATOR_LABELS
    ts_mapping = "ivc={ivc},left={left_iliac},right={right_iliac}".format(**wanted)
    if values is None:
        if ts:
            if all(v in present for v in wanted.values()):
                raise ValueError(
                    f"{source} looks like a TotalSegmentator label map (labels up to {max(present)}; its "
                    f"1, 2, 3 are the spleen and kidneys, not veins): give its vein labels with "
                    f"--labels {ts_mapping}"
                )
            absent = [f"{v}{_ts_name(v)}" for v in wanted.values() if v not in present]
            raise ValueError(
                f"{source} looks like a TotalSegmentator label map but lacks {' and '.join(absent)}: "
                "the plan needs the IVC and both iliac veins (the scan must reach below the confluence)"
            )
        return
    used = f"--labels {mapping}" if mapping else "the label mapping"
    short = {"ivc": "ivc", "left_iliac": "left", "right_iliac": "right"}
    absent = [(b, v) for b, v in values.items() if v not in present]
    if absent:
        which = " or ".join(f"{v} ({short[b]}={v})" for b, v in absent)
        hint = ""
        if ts:
            missing_veins = [v for v in wanted.values() if v not in present]
            hint = (
                f"; it looks like TotalSegmentator's, without {' and '.join(map(str, missing_veins))}: "
                "the scan may end above the iliac confluence"
                if missing_veins
                else f"; it looks like TotalSegmentator's: use --labels {ts_mapping}"
            )
        raise ValueError(
            f"{source} has no voxel with label {which} of {used}: the labels it holds are "
            f"{_values_text(present)}{hint}"
        )
    if ts:
        wrong = [
            (b, v)
            for b, v in values.items()
            if v in names.TOTALSEGMENTATOR_NAMES and v != wanted[b] and v in present
        ]
        if wrong:
            which = ", ".join(f"{short[b]}={v} is its {names.TOTALSEGMENTATOR_NAMES[v]}" for b, v in wrong)
            raise ValueError(
                f"{source} looks like a TotalSegmentator label map, and in it {which}, not the "
                f"{_and([names.BRANCH_IN_TEXT[b] for b, _ in wrong])}: use --labels {ts_mapping}"
            )


# ---------------------------------------------------------------------------------------------
# Are these veins? The IVC and both iliac veins meet at one confluence, the IVC above it

MEET_TOLERANCE_MM = 3.0  # all three segments within this of one point (or one voxel diagonal)
_MAX_BOX_VOXELS = 4_000_000  # the distance maps are computed on a coarser grid beyond this


def _boxes(masks, pad):
    out = []
    for m in masks:
        box = mask_box(m)  # the segments are not empty (check_confluence)
        out.append((np.array([sl.start for sl in box]) - pad, np.array([sl.stop for sl in box]) + pad))
    return out


def _voxels(mask: np.ndarray) -> np.ndarray:
    """``np.argwhere(mask)``, listed in the mask's box only (same voxels, same order)."""
    box = mask_box(mask)
    if box is None:
        return np.zeros((0, mask.ndim), dtype=np.intp)
    return np.argwhere(mask[box]) + np.array([sl.start for sl in box])


def _pooled(mask: np.ndarray, f: int) -> np.ndarray:
    if f == 1:
        return mask
    return block_reduce(padded_to_blocks(mask, (f, f, f), bool), (f, f, f), np.logical_or)


@dataclass
class ConfluenceMeasures:
    """How three segments meet (:func:`confluence_measures`): ``gap_mm``, the smallest distance
    within which one point is of all three (inf when their boxes do not overlap), against
    ``tolerance_mm``; ``point``, that point (RAS); per branch, how far the segment reaches beyond
    it (``beyond_mm``: below it for the IVC, above it for an iliac segment) against ``allowed_mm``
    (half the segment's width and a voxel)."""

    gap_mm: float
    tolerance_mm: float
    point: np.ndarray | None
    beyond_mm: dict[str, float]
    allowed_mm: dict[str, float]


def confluence_measures(labels: np.ndarray, ijk_to_ras: np.ndarray) -> ConfluenceMeasures:
    """Where the IVC (label 1) and the iliac segments (2, 3) of a label map meet; empty segments
    are not allowed (see :func:`check_confluence`)."""
    from scipy import ndimage

    m = np.asarray(ijk_to_ras, dtype=float)
    masks = [labels == names.VEIN_LABELS[b] for b in names.BRANCHES]
    spacing_kji = np.linalg.norm(m[:3, :3], axis=0)[::-1]
    tolerance = max(MEET_TOLERANCE_MM, float(np.sqrt(3.0) * spacing_kji.max()))
    pad = np.ceil(tolerance / spacing_kji).astype(int) + 1
    boxes = _boxes(masks, pad)
    lo = np.maximum(np.max([b[0] for b in boxes], axis=0), 0)
    hi = np.minimum(np.min([b[1] for b in boxes], axis=0), labels.shape)
    if not np.all(hi > lo):
        return ConfluenceMeasures(np.inf, tolerance, None, {}, {})
    # Voxels within reach of the box count for its distances: widen it by twice the reach.
    lo = np.maximum(lo - 2 * pad, 0)
    hi = np.minimum(hi + 2 * pad, labels.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    f = max(1, int(np.ceil((np.prod(hi - lo) / _MAX_BOX_VOXELS) ** (1 / 3))))
    worst = None
    for mask in masks:
        d = ndimage.distance_transform_edt(~_pooled(mask[box], f), sampling=spacing_kji * f)
        worst = d if worst is None else np.maximum(worst, d)
    index = np.unravel_index(int(np.argmin(worst)), worst.shape)
    kji = lo + (np.array(index) + 0.5) * f - 0.5
    point = m[:3, :3] @ kji[::-1] + m[:3, 3]
    beyond, allowed = {}, {}
    for b, mask in zip(names.BRANCHES, masks, strict=True):
        vox = _voxels(mask)
        s = vox[:, ::-1] @ m[2, :3] + m[2, 3]
        section = float(np.median(np.bincount(vox[:, 0])[np.unique(vox[:, 0])]))
        section *= float(spacing_kji[1] * spacing_kji[2])
        allowed[b] = float(np.sqrt(section / np.pi) + spacing_kji.max())
        beyond[b] = float(point[2] - s.min()) if b == "ivc" else float(s.max() - point[2])
    return ConfluenceMeasures(float(worst[index]), tolerance, point, beyond, allowed)


def check_confluence(
    labels: np.ndarray, ijk_to_ras: np.ndarray, described: dict[str, str] | None = None
) -> np.ndarray:
    """Refuse segments that are not the IVC and the two common iliac veins: they must meet at
    one place (some point within ``MEET_TOLERANCE_MM``, or one voxel's diagonal, of all three:
    the confluence), and the IVC must not reach further below it than half its own width and a
    voxel. Arteries taken for the veins fail this: the iliac arteries part from the aorta above
    the venous confluence, beside the IVC rather than at its lower end (TotalSegmentator's 65/66
    with its IVC, 63: 7 mm apart at the closest point, against 4 mm for its veins 67/68 at 3 mm
    voxels). Returns the confluence (RAS).

    Not refused: an iliac segment reaching above the meeting point (the project's own seeded
    segmentation does, by up to a vein's width), and arteries given for all three veins (aorta
    and iliac arteries meet like the veins; ``check_label_map`` names TotalSegmentator's).

    ``labels`` holds the pipeline's values (1 IVC, 2 left, 3 right; 4, an occluded stretch,
    counts as vein); ``described`` names each branch's segment in the user's terms ("label 65",
    "segment 'iliac_artery_left'"), for the message.

    :raises ValueError: naming the segments by ``described`` and what to check.
    """
    from .occlusion import fill_occluded

    labels = np.asarray(labels)
    if np.any(labels == names.OCCLUDED_LABEL):
        labels = fill_occluded(labels)
    what = {b: (described or {}).get(b) or f"label {names.VEIN_LABELS[b]}" for b in names.BRANCHES}

    def title(b: str) -> str:
        return f"{names.BRANCH_IN_TEXT[b]} segment ({what[b]})"

    present = [b for b in names.BRANCHES if np.any(labels == names.VEIN_LABELS[b])]
    if not present:
        raise ValueError(
            f"the segmentation has no IVC or iliac vein voxels ({', '.join(what.values())}): check "
            "which labels or segments are the veins"
        )
    for b in names.BRANCHES:
        if b not in present:
            raise ValueError(f"the {title(b)} is empty: the IVC and both iliac veins are needed")
    found = confluence_measures(labels, ijk_to_ras)
    if found.gap_mm > found.tolerance_mm:
        nearest = (
            f"the nearest point is {found.gap_mm:.0f} mm from one of them"
            if np.isfinite(found.gap_mm)
            else "they are far apart"
        )
        raise ValueError(
            f"the {title('ivc')}, {title('left_iliac')} and {title('right_iliac')} do not meet at one "
            f"confluence (no point lies within {found.tolerance_mm:.0f} mm of all three; {nearest}): the "
            "IVC begins where both common iliac veins join, so check that these are the IVC and the iliac "
            "veins, not arteries or other structures"
        )
    beyond = found.beyond_mm["ivc"]
    if beyond > found.allowed_mm["ivc"]:
        raise ValueError(
            f"the {title('ivc')} reaches {beyond:.0f} mm below the point where it meets the iliac "
            "segments: the IVC begins at the confluence of the iliac veins, so check that the "
            "segments are the IVC and the common iliac veins (not the aorta and iliac arteries)"
        )
    return found.point

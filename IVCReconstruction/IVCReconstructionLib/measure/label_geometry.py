"""What the label map itself says about how far its measurements can be trusted.

Three facts the findings and the plan's quality warnings need, all in RAS millimetres:

- the voxel size (``voxel_edges``): a lumen narrower than about two voxels is not resolved;
- where two vein segments touch (``label_contacts``): in a segmentation made by another tool
  (TotalSegmentator's IVC and iliac labels), the segments can meet over a few voxels only, and
  the union then has a waist that is not in the anatomy;
- which branch ends run into the edge of the volume (``cut_ends``): a vein cut off by the
  field of view was not imaged to its end, so what lies beyond is unknown.
"""

from __future__ import annotations

import numpy as np

from .. import names
from ..segment.grid import mask_box
from .datatypes import CenterlineTree

# A branch end this close to where its segment leaves the volume is cut off by the field of
# view: the centerline stops a little short of the border (VMTK's end caps), by about a radius.
CUT_END_MM = 15.0


def voxel_edges(ijk_to_ras: np.ndarray) -> tuple[float, float]:
    """(largest in-plane edge, edge between slices) in mm. The slices are the voxel axis most
    aligned with S (axial slices for a CT however it is stored)."""
    m = np.asarray(ijk_to_ras, dtype=float)[:3, :3]
    edges = np.linalg.norm(m, axis=0)
    slice_axis = int(np.argmax(np.abs(m[2]) / np.maximum(edges, 1e-12)))
    in_plane = max(float(edges[a]) for a in range(3) if a != slice_axis)
    return in_plane, float(edges[slice_axis])


def _ras(ijk: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    m = np.asarray(ijk_to_ras, dtype=float)
    return ijk @ m[:3, :3].T + m[:3, 3]


# The vein labels are consecutive (names.VEIN_LABELS: 1, 2, 3), so two comparisons find them.
_VEINS_LOW, _VEINS_HIGH = min(names.VEIN_LABELS.values()), max(names.VEIN_LABELS.values())
assert len(names.VEIN_LABELS) == _VEINS_HIGH - _VEINS_LOW + 1


def vein_box(labels_kji: np.ndarray) -> tuple[slice, slice, slice] | None:
    """The bounding box (slices [k, j, i]) of the vein labels (``names.VEIN_LABELS``), None when
    there are none."""
    lab = np.asarray(labels_kji)
    return mask_box((lab >= _VEINS_LOW) & (lab <= _VEINS_HIGH))  # cheaper than isin


def label_contacts(labels_kji: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """RAS points (N, 3) midway between face-adjacent voxels of two different vein labels
    (``names.VEIN_LABELS``): where the segments touch. Computed in the veins' box (both voxels
    of a contact are vein voxels), in the order of a whole-volume scan."""
    box = vein_box(labels_kji)
    if box is None:
        return np.zeros((0, 3))
    lab = np.asarray(labels_kji)[box]
    lo = np.array([sl.start for sl in box], dtype=float)
    vein = np.isin(lab, list(names.VEIN_LABELS.values()))
    points = []
    for axis in range(3):  # array axes k, j, i
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[axis], b[axis] = slice(0, -1), slice(1, None)
        la, lb = lab[tuple(a)], lab[tuple(b)]
        touch = vein[tuple(a)] & vein[tuple(b)] & (la != lb)
        kji = np.argwhere(touch).astype(float) + lo
        kji[:, axis] += 0.5
        points.append(_ras(kji[:, ::-1], ijk_to_ras))
    return np.vstack(points)


def cut_ends(labels_kji: np.ndarray, ijk_to_ras: np.ndarray, tree: CenterlineTree) -> dict[str, bool]:
    """Per branch, whether its far end (the IVC's cranial end, an iliac's distal end) is where
    its segment runs into a face of the volume. Only the six faces' voxels are read."""
    lab = np.asarray(labels_kji)
    faces = []  # (axis, index along it, the face's labels)
    for axis in range(3):
        for edge in (0, lab.shape[axis] - 1):
            face = np.take(lab, edge, axis=axis)
            faces.append((axis, edge, face))
    out = {}
    for branch, value in names.VEIN_LABELS.items():
        found = []
        for axis, edge, face in faces:
            two = np.argwhere(face == value)
            if len(two):
                found.append(np.insert(two, axis, edge, axis=1))
        end = tree.branches[branch].points_ras[-1]
        if not found:
            out[branch] = False
            continue
        kji = np.vstack(found)
        gaps = np.linalg.norm(_ras(kji[:, ::-1].astype(float), ijk_to_ras) - end, axis=1)
        reach = CUT_END_MM + float(tree.branches[branch].mis_radius_mm[-1])
        out[branch] = bool(gaps.min() <= reach)
    return out

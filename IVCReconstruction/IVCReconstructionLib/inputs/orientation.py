"""One storage order for every image: the voxel axes along +R, +A, +S (architecture section 10).

The same physical image can be stored with its axes in any order and direction (LPS or RAS,
i and j swapped, slices bottom-up or top-down). The stages work on voxel arrays, and some of
their choices depend on the order of the voxels: which of two equal neighbours a path descends
to, where the blocks of a coarse grid start, how a surface is triangulated and decimated. So
that the plan depends on the anatomy only, the segmentation and the measurements first bring
their array to one canonical order, by permuting and flipping its axes: exact, no resampling
(a voxel keeps its value and its centre). Results are in RAS millimetres; label maps are put
back into the input's own order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Reorientation:
    """How an array indexed [k, j, i] with matrix ``ijk_to_ras`` becomes the canonical one.

    ``axes[n]`` is the input voxel axis (0 = i, 1 = j, 2 = k) that becomes canonical axis n
    (n = 0: along R, 1: along A, 2: along S); ``flip[n]`` whether it runs the other way.
    """

    axes: tuple[int, int, int]
    flip: tuple[bool, bool, bool]
    shape_ijk: tuple[int, int, int]

    @property
    def identity(self) -> bool:
        return self.axes == (0, 1, 2) and not any(self.flip)

    def matrix(self) -> np.ndarray:
        """4x4 mapping a canonical voxel (i', j', k', 1) to the input voxel (i, j, k, 1)."""
        m = np.zeros((4, 4))
        m[3, 3] = 1.0
        for n, (axis, flipped) in enumerate(zip(self.axes, self.flip, strict=True)):
            m[axis, n] = -1.0 if flipped else 1.0
            if flipped:
                m[axis, 3] = self.shape_ijk[axis] - 1
        return m

    def array(self, array_kji: np.ndarray) -> np.ndarray:
        """The input array in canonical order (a view where possible)."""
        # Array axes are [k, j, i]: voxel axis a is array axis 2 - a.
        out = np.transpose(array_kji, [2 - a for a in self.axes[::-1]])
        flips = [slice(None, None, -1) if f else slice(None) for f in self.flip[::-1]]
        return out[tuple(flips)]

    def back(self, canonical_kji: np.ndarray) -> np.ndarray:
        """A canonical array (e.g. labels computed on it) in the input's own order."""
        flips = [slice(None, None, -1) if f else slice(None) for f in self.flip[::-1]]
        undone = canonical_kji[tuple(flips)]
        order = [2 - a for a in self.axes[::-1]]
        return np.ascontiguousarray(np.transpose(undone, np.argsort(order)))

    def back_into(self, canonical_box: tuple[slice, ...], values_kji: np.ndarray, dtype=None) -> np.ndarray:
        """``back`` of a canonical array that is zero outside ``canonical_box`` and holds
        ``values_kji`` there, without putting the whole array back (one pass less over a large
        volume): the box's values are put back and placed in a zero array of the input's shape."""
        shape_kji = self.shape_ijk[::-1]
        out = np.zeros(shape_kji, dtype=dtype or values_kji.dtype)
        box = [slice(0, n) for n in shape_kji]
        for n, (axis, flipped) in enumerate(zip(self.axes, self.flip, strict=True)):
            sl = canonical_box[2 - n]  # canonical array axis 2 - n runs along canonical voxel axis n
            size = self.shape_ijk[axis]
            box[2 - axis] = slice(size - sl.stop, size - sl.start) if flipped else slice(sl.start, sl.stop)
        out[tuple(box)] = self.back(values_kji)
        return out


def reorientation(ijk_to_ras: np.ndarray, shape_kji: tuple[int, int, int]) -> Reorientation:
    """The permutation and flips that bring the voxel axes closest to +R, +A, +S.

    For an oblique volume the nearest of the 48 axis orders is taken (the voxels stay where
    they are; only their order is canonical)."""
    direction = np.asarray(ijk_to_ras, dtype=float)[:3, :3]
    direction = direction / np.maximum(np.linalg.norm(direction, axis=0), 1e-12)
    # Greedy on the largest remaining cosine: ties (exactly 45 degrees) are broken by RAS
    # axis then voxel axis, never by the voxels' content.
    axes = [-1, -1, -1]
    free_ras, free_ijk = {0, 1, 2}, {0, 1, 2}
    for _ in range(3):
        best = max(
            ((abs(direction[r, a]), -r, -a) for r in free_ras for a in free_ijk),
        )
        r, a = -best[1], -best[2]
        axes[r] = a
        free_ras.discard(r)
        free_ijk.discard(a)
    flip = tuple(bool(direction[r, axes[r]] < 0) for r in range(3))
    shape_ijk = (int(shape_kji[2]), int(shape_kji[1]), int(shape_kji[0]))
    return Reorientation(tuple(axes), flip, shape_ijk)


def canonical(array_kji: np.ndarray, ijk_to_ras: np.ndarray) -> tuple[np.ndarray, np.ndarray, Reorientation]:
    """(array in canonical order, its IJK-to-RAS matrix, the reorientation to undo it)."""
    r = reorientation(ijk_to_ras, array_kji.shape)
    if r.identity:
        return array_kji, np.asarray(ijk_to_ras, dtype=float), r
    return r.array(array_kji), np.asarray(ijk_to_ras, dtype=float) @ r.matrix(), r

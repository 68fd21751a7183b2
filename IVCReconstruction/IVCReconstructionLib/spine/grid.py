"""The CT resampled on a grid aligned with R, A and S, the same for every storage order: what the
spine and femoral-head searches work on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..inputs.orientation import canonical

WORK_MM = 2.0  # the resampled grid's spacing: fine enough for endplates, cheap at any input spacing


@dataclass
class Grid:
    """An image resampled on a grid aligned with R, A and S: ``v[s, a, r]``, ascending."""

    v: np.ndarray  # float32 HU
    origin: np.ndarray  # RAS of v[0, 0, 0], in (R, A, S) order
    spacing: float
    clipped: np.ndarray = field(init=False, repr=False)  # v without air's and metal's extremes

    def __post_init__(self) -> None:
        self.clipped = np.clip(self.v, -200.0, 1000.0)

    def axis(self, c: int) -> np.ndarray:
        """RAS coordinates along R (c = 0), A (1) or S (2)."""
        n = self.v.shape[2 - c]
        return self.origin[c] + self.spacing * np.arange(n)

    def to_index(self, ras: np.ndarray) -> np.ndarray:
        """Continuous (s, a, r) index of RAS points (..., 3)."""
        return ((np.asarray(ras, dtype=float) - self.origin) / self.spacing)[..., ::-1]

    def to_ras(self, sar: np.ndarray) -> np.ndarray:
        return np.asarray(sar, dtype=float)[..., ::-1] * self.spacing + self.origin


def resample(image: np.ndarray, ijk_to_ras: np.ndarray, spacing: float = WORK_MM) -> Grid:
    """The image on an RAS-aligned grid of ``spacing`` mm covering it (any storage order).

    Finer inputs are first averaged by whole voxels (SimpleITK's BinShrink) so that the linear
    resampling does not alias their noise; 3 mm inputs are interpolated. The voxels are put in
    RAS order first, so that the blocks averaged are the same for every storage order.
    """
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    from ..inputs.volumes import LPS_TO_RAS

    image = np.asarray(image)
    if image.ndim != 3 or min(image.shape) < 4:
        raise ValueError(f"a 3D volume is needed to find the spine, got an array of shape {image.shape}")
    m = np.asarray(ijk_to_ras, dtype=float)
    if m.shape != (4, 4) or abs(np.linalg.det(m[:3, :3])) < 1e-9:
        raise ValueError("the volume's IJK-to-RAS matrix is not an invertible 4x4 matrix")
    arr, m, _ = canonical(image, m)
    if arr.dtype != np.int16:
        arr = np.clip(arr, -32768, 32767).astype(np.int16)
    lps = LPS_TO_RAS @ m
    cols = lps[:3, :3]
    sp = np.linalg.norm(cols, axis=0)
    src = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    src.SetSpacing([float(x) for x in sp])
    src.SetDirection([float(x) for x in (cols / sp).ravel()])
    src.SetOrigin([float(x) for x in lps[:3, 3]])
    shrink = [max(int(spacing / s), 1) for s in sp]
    if max(shrink) > 1:
        src = sitk.BinShrink(src, shrink)
    # The grid covers the (shrunk) voxels' centres: no sample falls outside the data.
    size = np.array(src.GetSize()) - 1
    corners = [
        src.TransformContinuousIndexToPhysicalPoint([float(x) for x in np.array(c) * size])
        for c in ((i, j, k) for i in (0, 1) for j in (0, 1) for k in (0, 1))
    ]
    ras = np.array(corners) * [-1.0, -1.0, 1.0]
    lo, hi = ras.min(axis=0), ras.max(axis=0)
    n = np.floor((hi - lo) / spacing).astype(int) + 1
    ref = sitk.Image([int(x) for x in n], sitk.sitkFloat32)
    ref.SetSpacing([spacing] * 3)
    # Index i runs along +R (LPS -x), j along +A (LPS -y), k along +S: arrays come out [s, a, r].
    ref.SetDirection([-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0])
    ref.SetOrigin([-lo[0], -lo[1], lo[2]])
    out = sitk.Resample(src, ref, sitk.Transform(), sitk.sitkLinear, -1024.0, sitk.sitkFloat32)
    return Grid(sitk.GetArrayFromImage(out), lo.copy(), spacing)

"""Voxel-grid geometry shared by the segmentation steps: RAS <-> IJK, boxes, sampling, distances.

Arrays are indexed [k, j, i]; matrices map (i, j, k, 1) to RAS millimetres.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

# A voxel and its 26 neighbours, as [k, j, i] offsets.
NEIGHBOURS_27 = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)])


def tube_around(path_ras: np.ndarray, ijk_to_ras: np.ndarray, shape: tuple, radius_mm: float) -> np.ndarray:
    """Mask of the voxels within ``radius_mm`` of a polyline (RAS): a round tube, so that its
    surface stays smooth and closed after decimation (a dilated voxel path is a chain of
    octahedra, whose thin necks tore open in the 0.8 mm surface)."""
    mask = np.zeros(shape, dtype=bool)
    found = tube_in_box(path_ras, ijk_to_ras, shape, radius_mm)
    if found is not None:
        mask[found[0]] = found[1]
    return mask


def tube_in_box(
    path_ras: np.ndarray, ijk_to_ras: np.ndarray, shape: tuple, radius_mm: float
) -> tuple[tuple[slice, ...], np.ndarray] | None:
    """:func:`tube_around` as the box [k, j, i] around the path (``radius_mm`` and a voxel
    wider, within ``shape``) and the tube's mask in it, None when the box is empty: callers
    that change labels along the tube work in the box, not on masks of the whole volume."""
    from scipy import ndimage

    spacing = np.linalg.norm(ijk_to_ras[:3, :3], axis=0)
    # Dense samples along the path: half a voxel apart, so the path has no gaps.
    step = 0.5 * spacing.min()
    pts = [path_ras[0]]
    for a, b in itertools.pairwise(np.asarray(path_ras, dtype=float)):
        n = max(int(np.ceil(np.linalg.norm(b - a) / step)), 1)
        pts += list(a + (b - a) * (np.arange(1, n + 1)[:, None] / n))
    ijk = np.rint(to_ijk(np.array(pts), ijk_to_ras)).astype(int)
    size = np.array(shape[::-1])
    margin = np.ceil(radius_mm / spacing).astype(int) + 1
    low = np.clip(ijk.min(axis=0) - margin, 0, size)
    high = np.clip(ijk.max(axis=0) + margin + 1, 0, size)
    if np.any(high <= low):
        return None
    box = tuple(slice(int(a), int(b)) for a, b in zip(low[::-1], high[::-1], strict=True))
    centre = np.ones(tuple(int(n) for n in (high - low)[::-1]), dtype=bool)
    inside = np.all((ijk >= low) & (ijk < high), axis=1)
    local = ijk[inside] - low
    centre[local[:, 2], local[:, 1], local[:, 0]] = False
    distance = ndimage.distance_transform_edt(centre, sampling=spacing[::-1])
    return box, distance <= radius_mm


# The measuring step's first smoothing of the veins before the centerlines' surface (mm), and the
# share of its points beyond which a second piece of that surface is a vein cut off at a neck
# (``measure.surface``); the segmentation's thinness tests (``crossing``, ``finer``) use the same.
NECK_SIGMA_MM = 1.0
CUT_PIECE_SHARE = 0.05


def mask_blur_mm(sigma_mm: float, spacing) -> np.ndarray:
    """The Gaussian (mm, per axis of ``spacing``) that a binary mask is smoothed by when it is
    taken as linearly interpolated between voxel centres (a tent of one voxel, variance
    spacing^2 / 6) and then blurred by ``sigma_mm``: coarse masks come out as smooth as fine
    ones. The measuring step's surface (``measure.surface.smooth_resample``) and the crossing's
    thinness test (``crossing.add_routes``) share it."""
    return np.sqrt(sigma_mm**2 + np.asarray(spacing, dtype=float) ** 2 / 6.0)


def to_ijk(points: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    inv = np.linalg.inv(ijk_to_ras)
    return np.asarray(points, dtype=float) @ inv[:3, :3].T + inv[:3, 3]


def to_ras(ijk: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    return np.asarray(ijk, dtype=float) @ ijk_to_ras[:3, :3].T + ijk_to_ras[:3, 3]


def spacing_of(ijk_to_ras: np.ndarray) -> np.ndarray:
    return np.linalg.norm(ijk_to_ras[:3, :3], axis=0)


def voxel_box(points_ras: np.ndarray, margin: float, shape_kji, ijk_to_ras) -> tuple[slice, slice, slice]:
    """Voxel box [k, j, i] around RAS points with a margin in mm, clipped to the volume."""
    ijk = to_ijk(points_ras, ijk_to_ras)
    pad = margin / spacing_of(ijk_to_ras)
    lo = np.floor(ijk.min(axis=0) - pad).astype(int)
    hi = np.ceil(ijk.max(axis=0) + pad).astype(int) + 1
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, np.array(shape_kji[::-1]))
    return slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0])


def sub_matrix(ijk_to_ras: np.ndarray, box, step: int = 1) -> np.ndarray:
    """IJK-to-RAS of a box (optionally every `step` voxels) of a volume."""
    m = np.eye(4)
    m[:3, 3] = [box[2].start, box[1].start, box[0].start]
    s = np.eye(4)
    s[:3, :3] *= step
    return ijk_to_ras @ m @ s


def sample_at(image: np.ndarray, ijk_to_ras: np.ndarray, ras: np.ndarray) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    ijk = to_ijk(np.atleast_2d(ras), ijk_to_ras)
    # Interpolated in floating point whatever the image type (no copy of the whole image).
    return map_coordinates(image, ijk[:, ::-1].T, order=1, mode="nearest", output=np.float32)


def distance_inside(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Distance (mm) from each voxel inside a mask to its boundary, 0 outside (SimpleITK's
    multi-threaded Maurer transform: several times faster than scipy's on large boxes)."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    img.SetSpacing(tuple(float(x) for x in spacing))
    dist = sitk.SignedMaurerDistanceMap(
        img, insideIsPositive=True, squaredDistance=False, useImageSpacing=True
    )
    return np.maximum(sitk.GetArrayFromImage(dist), 0.0).astype(np.float32)


def within_mm(mask: np.ndarray, spacing: np.ndarray, mm: float) -> np.ndarray:
    """The voxels of a mask and those within ``mm`` of it (centre to centre), computed in the
    mask's bounding box grown by that distance: a few bone voxels in a lumen box no longer cost
    a distance map of the whole box (0.5 s at 0.6 mm). Distances within a micrometre of ``mm``
    count as within: the transform's rounding differs with the box's size and the voxels'
    storage order, and grid distances tie with ``mm`` exactly (2.5 mm at 0.5 mm voxels)."""
    near = np.zeros(mask.shape, dtype=bool)
    box = mask_box(mask)
    if box is None:
        return near
    grown = grown_box(box, np.ceil(mm / np.asarray(spacing, dtype=float)[::-1]).astype(int) + 2, mask.shape)
    near[grown] = distance_inside(~mask[grown], spacing) <= mm + 1e-3
    return near


def grown_box(box: tuple[slice, ...], pad, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """A box (slices [k, j, i]) grown by ``pad`` voxels on every side (one number, or one per
    axis), within an array of ``shape``."""
    pads = np.broadcast_to(np.asarray(pad, dtype=int), (len(box),))
    return tuple(
        slice(max(sl.start - int(p), 0), min(sl.stop + int(p), int(n)))
        for sl, p, n in zip(box, pads, shape, strict=True)
    )


def padded_to_blocks(values: np.ndarray, f, dtype=None) -> np.ndarray:
    """``values`` with zeros after its end along each axis up to a multiple of the blocks ``f``
    ([k, j, i]), for :func:`block_reduce` (``values`` itself when it is one already)."""
    shape = -(-np.array(values.shape) // np.asarray(f, dtype=int)) * np.asarray(f, dtype=int)
    dtype = values.dtype if dtype is None else dtype
    if tuple(shape) == values.shape and values.dtype == dtype:
        return values
    padded = np.zeros(tuple(shape), dtype=dtype)
    padded[tuple(slice(0, n) for n in values.shape)] = values
    return padded


def nearest_voxels(points_ras: np.ndarray, ijk_to_ras: np.ndarray, shape_kji: tuple[int, ...]) -> np.ndarray:
    """The voxels [k, j, i] nearest to RAS points in an array of ``shape_kji`` (clipped to it)."""
    ijk = np.rint(to_ijk(points_ras, ijk_to_ras)).astype(int)
    return np.clip(ijk, 0, np.array(shape_kji[::-1]) - 1)[:, ::-1]


def block_reduce(values: np.ndarray, f, ufunc) -> np.ndarray:
    """``ufunc`` (np.minimum, np.maximum, np.logical_or, np.logical_and or np.add) over blocks
    of f[0] x f[1] x f[2] voxels ([k, j, i]; the shape a multiple of f): one axis at a time, as
    elementwise operations on strided slices, an order of magnitude faster than reducing a 6-d
    view over three axes (exactly the same for min, max, any and all; sums are accumulated in
    float64). With f all ones, all but the sum give ``values`` itself, not a copy."""
    if any(size % int(n) for size, n in zip(values.shape, f, strict=True)):
        # A length-1 slice would broadcast instead of failing.
        raise ValueError(f"shape {values.shape} is not a multiple of the blocks {tuple(f)}")
    out = values
    widen = ufunc is np.add
    for axis, n in enumerate(int(x) for x in f):
        if n == 1:
            continue
        parts = [out[(slice(None),) * axis + (slice(o, None, n),)] for o in range(n)]
        # Sums widen to float64 as the first block is copied, not before: the same sums
        # (float32 to float64 is exact) without a float64 copy of the whole box.
        acc = parts[0].astype(np.float64) if widen else parts[0].copy()
        widen = False
        for part in parts[1:]:
            ufunc(acc, part, out=acc)
        out = acc
    return out.astype(np.float64) if widen else out


def max_at(volume: np.ndarray, kji: np.ndarray) -> np.ndarray:
    """``ndimage.maximum_filter(volume, size=3)`` at voxels ``kji`` (n x 3) only (the filter's
    "reflect" edges repeat the edge voxel, as clipping does)."""
    kji = np.asarray(kji, dtype=int).reshape(-1, 3)
    around = np.clip(kji[:, None, :] + NEIGHBOURS_27[None], 0, np.array(volume.shape) - 1)
    return volume[around[..., 0], around[..., 1], around[..., 2]].max(axis=1)


def inner_voxels(mask: np.ndarray) -> np.ndarray:
    """The voxels of a boolean mask whose 26 neighbours in the array are all in it:
    ``ndimage.minimum_filter(mask, size=3, mode="nearest")`` (outside the array counts as the
    edge voxel itself), as one AND of shifted slices per axis, ten times faster on a lumen box."""
    return _over_27(np.asarray(mask, dtype=bool), np.logical_and)


def max_of_27(volume: np.ndarray) -> np.ndarray:
    """``ndimage.maximum_filter(volume, size=3)`` (its "reflect" edges repeat the edge voxel, so
    only neighbours in the array count), one axis after the other as maxima of shifted slices:
    three times faster on a lumen box, and exact (a maximum does not round)."""
    return _over_27(np.asarray(volume), np.maximum)


def _over_27(volume: np.ndarray, ufunc) -> np.ndarray:
    """``ufunc`` (an idempotent reduction: and, or, min, max) over each voxel's 3 x 3 x 3
    neighbours in the array, one axis after the other."""
    out = volume.copy()
    for axis in range(out.ndim):
        head = (slice(None),) * axis + (slice(1, None),)
        tail = (slice(None),) * axis + (slice(None, -1),)
        prev = out.copy()
        ufunc(out[head], prev[tail], out=out[head])
        ufunc(out[tail], prev[head], out=out[tail])
    return out


def grow_faces(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_dilation(mask)``: the mask and its voxels' 6 face neighbours, as an OR of
    shifted slices per axis (three times faster on a lumen box)."""
    return _with_faces(np.asarray(mask, dtype=bool), np.logical_or)


def shrink_faces(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_erosion(mask)``: the voxels whose 6 face neighbours are all in the mask,
    outside the array counting as not in it (scipy's border value 0), as shifted slices."""
    kept = _with_faces(np.asarray(mask, dtype=bool), np.logical_and)
    for axis in range(kept.ndim):
        edges = (slice(None),) * axis
        kept[edges + (0,)] = False
        kept[edges + (-1,)] = False
    return kept


def _with_faces(mask: np.ndarray, ufunc) -> np.ndarray:
    """``ufunc`` (or, and) of each voxel with its 6 face neighbours in the array."""
    out = mask.copy()
    for axis in range(mask.ndim):
        head = (slice(None),) * axis + (slice(1, None),)
        tail = (slice(None),) * axis + (slice(None, -1),)
        ufunc(out[head], mask[tail], out=out[head])
        ufunc(out[tail], mask[head], out=out[tail])
    return out


def max_depth_sampler(mask: np.ndarray, spacing: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function of voxels ``kji`` (n x 3) giving ``maximum_filter(distance_inside(mask,
    spacing), size=3)`` there, without a distance map of the whole box.

    The Maurer distance of an inside voxel is its distance to the nearest contour voxel (an
    inside voxel with an outside one among its 26 neighbours in the array: the same values to
    float32 rounding), found with a k-d tree of the contour for the 27 voxels
    around each point. Used where the map is only read at path points."""
    from scipy.spatial import cKDTree

    sampling = np.asarray(spacing, dtype=float)[::-1]
    # flatnonzero: the voxels of np.argwhere, in its order, in a sixth of its time.
    contour = np.stack(np.unravel_index(np.flatnonzero(mask & ~inner_voxels(mask)), mask.shape), axis=1)
    # Leaves of 64 points: a query from deep inside the tube is about as far from a whole ring
    # of the contour, and visiting fewer, larger leaves halves its time (the same nearest
    # distances: each candidate's distance is computed the same way whatever the leaves).
    tree = cKDTree(contour * sampling, leafsize=64) if len(contour) else None

    def sample(kji: np.ndarray) -> np.ndarray:
        kji = np.asarray(kji, dtype=int).reshape(-1, 3)
        if not len(kji) or tree is None:
            return np.zeros(len(kji), dtype=np.float32)
        around = np.clip(kji[:, None, :] + NEIGHBOURS_27[None], 0, np.array(mask.shape) - 1).reshape(-1, 3)
        # Unique flat indices: the rows np.unique(axis=0) gives, in its order, several times faster.
        flat, where = np.unique(np.ravel_multi_index(around.T, mask.shape), return_inverse=True)
        voxels = np.stack(np.unravel_index(flat, mask.shape), axis=1)
        depth = np.zeros(len(voxels), dtype=np.float32)
        inside = mask[voxels[:, 0], voxels[:, 1], voxels[:, 2]]
        if inside.any():
            depth[inside] = tree.query(voxels[inside] * sampling, workers=-1)[0]
        return depth[where.reshape(len(kji), len(NEIGHBOURS_27))].max(axis=1)

    return sample


def gaussian_at(image: np.ndarray, box, sigma_kji: np.ndarray, kji: np.ndarray) -> np.ndarray:
    """``ndimage.gaussian_filter(image[box].astype(np.float32), sigma_kji)`` at voxels ``kji``
    (n x 3) of the box, computed on a small patch around each voxel only (scipy's kernel,
    truncated at 4 sigma, its "reflect" edges, float32 between the passes): used where the
    smoothed box is only read at path points."""
    kji = np.asarray(kji, dtype=int).reshape(-1, 3)
    voxels, where = np.unique(kji, axis=0, return_inverse=True)
    shape = [sl.stop - sl.start for sl in box]
    weights, index = [], []
    for axis in range(3):
        sd = float(sigma_kji[axis])
        radius = int(4.0 * sd + 0.5)
        x = np.arange(-radius, radius + 1)
        w = np.exp(-0.5 / (sd * sd) * x**2)
        weights.append(w / w.sum())
        i = voxels[:, axis, None] + x[None, :]
        n = shape[axis]
        # "reflect" (d c b a | a b c d | d c b a), for kernels shorter than the box.
        i = np.where(i < 0, -i - 1, i)
        i = np.where(i >= n, 2 * n - i - 1, i)
        index.append(np.clip(i, 0, n - 1) + box[axis].start)
    patch = image[index[0][:, :, None, None], index[1][:, None, :, None], index[2][:, None, None, :]]
    patch = patch.astype(np.float32).astype(np.float64)
    # One axis after the other, rounded to float32 in between as the filter's passes are.
    v = np.einsum("pabc,a->pbc", patch, weights[0]).astype(np.float32).astype(np.float64)
    v = np.einsum("pbc,b->pc", v, weights[1]).astype(np.float32).astype(np.float64)
    v = np.einsum("pc,c->p", v, weights[2]).astype(np.float32)
    return v[where.ravel()]


def mask_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box (slices) of a boolean array's True voxels, None when there are none: one
    ``any`` per axis, several times faster on a large sparse volume than ``ndimage.find_objects``
    or ``argwhere`` (which visit every voxel one by one)."""
    mask = np.asarray(mask, dtype=bool)
    box = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=others))
        if not len(hit):
            return None
        box.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(box)


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-d array, end exclusive."""
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))

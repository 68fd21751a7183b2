"""The top of each femoral head: the surrogate landmark for the inguinal ligament (a design
default: no sourced CT landmark marks the ligament itself)."""

from __future__ import annotations

import numpy as np

from .from_ct import check_ct, levels_on_grid
from .grid import Grid, resample
from .levels import SpineLevels

# The inguinal ligament has no CT landmark of its own that the planner can find; under
# fluoroscopy the femoral-head top stands in for it (docs/planning.md: DESIGN DEFAULT, no
# sourced CT landmark). The plan says so wherever it uses it.
INGUINAL_SURROGATE = "estimate: femoral-head top (design default surrogate for the inguinal ligament)"
HEAD_SIDE_MM = (40.0, 150.0)  # from the midline: lateral to the sacrum, medial to the trochanter's tip
# The heads' centres lie about 90-110 mm below the sacral promontory (S1's superior endplate);
# the search spans HEAD_BELOW_S1_MM, which keeps the ilium above the acetabulum and the
# ischium below out of it.
HEAD_BELOW_S1_MM = (60.0, 150.0)
HEAD_BONE_HU = 150.0  # the head's cancellous bone, once smoothed
MIN_HEAD_RADIUS_MM = 12.0  # the thickest bone on a side must hold a ball this wide to be a head
HEAD_BONE_RUN_MM = 16.0  # bone below a head's top, at least
JOINT_CONTRAST_HU = 40.0  # the joint space under the acetabular roof is this much darker
JOINT_MM = 8.0  # ... and the roof's bone rises again within this distance


def femoral_heads(
    image: np.ndarray, ijk_to_ras: np.ndarray, levels: SpineLevels | None = None
) -> dict[str, np.ndarray | None]:
    """The top of each femoral head (RAS mm), "left" and "right", or None where none is seen.

    An estimate. On each side of the midline, below the sacrum, the thickest bone (where the
    largest ball fits) lies in the femoral head, or where it meets the acetabulum across a
    joint space too thin to separate them at CT resolution. Going up the vertical through that
    point from 40 mm below it, the head's top is where the bone of a run at least
    HEAD_BONE_RUN_MM long first falls halfway to the next dark stretch: the joint space under
    the acetabular roof (darker by JOINT_CONTRAST_HU than the bone on both sides) or soft
    tissue. ``levels`` gives the midline and the sacrum to search below (from ``levels_from_ct``
    when not given; without any, the whole volume on each side of the body's midline).
    """
    g = resample(image, ijk_to_ras)
    check_ct(g.v)
    return femoral_heads_on_grid(g, levels)


def femoral_heads_on_grid(g: Grid, levels: SpineLevels | None = None) -> dict[str, np.ndarray | None]:
    """:func:`femoral_heads` on the CT already resampled (``grid.resample``) and checked."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    if levels is None:
        try:
            levels = levels_on_grid(g, None)
        except ValueError:
            levels = None
    r_ax, s_ax = g.axis(0), g.axis(2)
    s1 = levels.vertebra("S1") if levels is not None else None
    if levels is not None and levels.vertebrae:
        mid = float(np.mean([v.centre_ras[0] for v in levels.vertebrae]))
    else:
        body = (g.v > -500).sum(axis=(0, 1)).astype(float)
        mid = float(np.sum(body * r_ax) / max(body.sum(), 1.0))
    rows = np.ones(len(s_ax), dtype=bool)
    if s1 is not None:
        top = s1.superior_ras[2]
        rows = (s_ax >= top - HEAD_BELOW_S1_MM[1]) & (s_ax <= top - HEAD_BELOW_S1_MM[0])
    smooth = gaussian_filter(np.clip(g.v, -100.0, 1000.0), sigma=2.0 / g.spacing)
    out: dict[str, np.ndarray | None] = {"left": None, "right": None}
    if not rows.any():
        return out
    k0, k1 = int(np.flatnonzero(rows)[0]), int(np.flatnonzero(rows)[-1]) + 1
    for side, sign in (("right", 1.0), ("left", -1.0)):
        d = sign * (r_ax - mid)
        cols = np.flatnonzero((d >= HEAD_SIDE_MM[0]) & (d <= HEAD_SIDE_MM[1]))
        if len(cols) < 3:
            continue
        c0, c1 = int(cols[0]), int(cols[-1]) + 1
        block = smooth[k0:k1, :, c0:c1] > HEAD_BONE_HU
        edt = distance_transform_edt(block, sampling=g.spacing)
        s, a, r = np.unravel_index(int(np.argmax(edt)), edt.shape)
        if edt[s, a, r] < MIN_HEAD_RADIUS_MM:
            continue
        out[side] = _head_top(g, smooth, s + k0, a, r + c0)
    return out


def _head_top(g: Grid, smooth: np.ndarray, s: int, a: int, r: int) -> np.ndarray | None:
    """The top of the femoral head whose thickest bone is at voxel (s, a, r): see femoral_heads."""
    step = g.spacing
    lo = max(s - round(40.0 / step), 0)
    hi = min(s + round(40.0 / step) + 1, smooth.shape[0])
    col = smooth[lo:hi, max(a - 1, 0) : a + 2, max(r - 1, 0) : r + 2].mean(axis=(1, 2))
    run = int(np.ceil(HEAD_BONE_RUN_MM / step))
    near = int(np.ceil(12.0 / step))
    bone = col > HEAD_BONE_HU
    for k in range(run, len(col) - 1):
        if not bone[k - run : k].all():
            continue
        # A dark stretch starts above k: the joint space (bone again above it) or soft tissue.
        after = col[k : k + near + 1]
        m = k + int(np.argmin(after))
        low = float(col[m])
        head = float(np.median(col[k - run : k]))
        if head - low < JOINT_CONTRAST_HU:
            continue
        roof = col[m : min(m + int(np.ceil(JOINT_MM / step)) + 1, len(col))]
        if roof.max() >= low + JOINT_CONTRAST_HU and 0 < m < len(col) - 1:
            # A joint space: too thin to show the head's edge, its darkest line is the head's
            # surface (within the cartilage's 2 mm).
            y0, y1, y2 = col[m - 1], col[m], col[m + 1]
            off = 0.5 * (y0 - y2) / max(y0 - 2 * y1 + y2, 1e-6)
            return g.to_ras(np.array([lo + m + float(np.clip(off, -0.5, 0.5)), a, r], dtype=float))
        level = (head + low) / 2.0
        j = next((i for i in range(k - 1, k + near) if col[i + 1] < level <= col[i]), None)
        if j is None:
            continue
        frac = (col[j] - level) / max(col[j] - col[j + 1], 1e-6)
        return g.to_ras(np.array([lo + j + frac, a, r], dtype=float))
    return None

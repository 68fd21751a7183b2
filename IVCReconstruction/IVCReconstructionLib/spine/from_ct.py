"""Vertebral levels estimated from the CT's own bone: the vertebral bodies and the darker discs
between them found along the spinal column, counted up from the sacrum (S1, L5, L4 ... T12)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import names
from .grid import Grid, resample
from .levels import SpineLevels, Vertebra

FAT_HU = (-150.0, -30.0)
# Bone and discs against soft tissue: above this once smoothed over SMOOTH_MM. Low on purpose:
# cancellous bone can be 100-150 HU in older patients, muscle is 40-60 HU.
BONE_MASK_HU = 90.0
SMOOTH_MM = 3.0
MAX_BODY_RADIUS_MM = 20.0  # larger inscribed circles (liver, kidney) count no more than a body
PROFILE_RADIUS_MM = 8.0  # the column's profile is the mean HU over a disc this wide around its axis
# An endplate's plane: from profiles this far to the front, back and sides of the axis, within
# this window around the endplate; tilted no more than this from the column (else the axis).
ENDPLATE_SPREAD_MM = 8.0
ENDPLATE_WINDOW_MM = 9.0
MAX_ENDPLATE_TILT_DEG = 45.0
# Discs: dips narrower than DISC_CLOSING_MM, DISC_CONTRAST_HU below the bodies around them,
# at least MIN_BODY_MM apart. Lumbar discs are 5-12 mm, bodies 25-30 mm (T12 about 24).
DISC_CLOSING_MM = 23
DISC_CONTRAST_HU = 12.0
MIN_BODY_MM = 24.0
MAX_HEIGHT_RATIO = 1.5  # a body this much taller than the median is noted as two, perhaps
MIN_CUT_BODY_MM = 2.0  # a body running off the volume is kept when this much of it is seen
BODY_PROFILE_HU = 100.0  # the bodies around a disc are at least this bright somewhere (bone)
# S1: the first body from the top whose bone reaches SACRUM_HALF_WIDTH_MM to both sides (the
# sacral ala; lumbar bodies are 45-55 mm wide), probed this far below its superior endplate.
SACRUM_PROBES_MM = (6.0, 10.0, 14.0)
BAND_MM = 8.0
SACRUM_HALF_WIDTH_MM = 34.0


def levels_from_ct(
    image: np.ndarray, ijk_to_ras: np.ndarray, near: Sequence[float] | np.ndarray | None = None
) -> SpineLevels:
    """The vertebral levels estimated from a CT's bone, counted up from the sacrum.

    On a 2 mm grid aligned with R, A and S: the spinal column is tracked through the slices as
    the thickest bone near the midline behind the great vessels (a vertebral body holds the
    largest circle; _track_column); along it, the mean intensity around its axis is bright in
    the bodies and at their endplates and dark in the discs, which are found as narrow dips
    between bright endplates (_find_discs). Going down from the top, the first body whose bone
    reaches across the sacral ala is S1 (_bone_reach); the bodies above it are L5, L4, ... T12.
    Each endplate's plane comes from five profiles through it (_endplate_plane).

    :param near: an RAS point in front of the spine to search around (the confluence, say); the
        body's midline otherwise.
    :raises ValueError: when the volume is not a CT in Hounsfield units, or shows no spine or no
        sacrum to count from (the message says which; a caller can show it as a note).
    """
    g = resample(image, ijk_to_ras)
    check_ct(g.v)
    return levels_on_grid(g, near)


def levels_on_grid(g: Grid, near: Sequence[float] | np.ndarray | None) -> SpineLevels:
    path = _track_column(g, near)
    t, pts, tangent = _column_curve(g, path)
    prof = _profile(g, pts, tangent)
    vertebrae, notes = _count_levels(g, t, pts, tangent, prof)
    return SpineLevels(vertebrae, names.LevelSource.CT, notes)


def check_ct(v: np.ndarray) -> None:
    """Refuse images that are not CT in Hounsfield units: a CT's body holds fat (-150..-30 HU)
    and some bone (above 300 HU); an MR's intensities are positive and arbitrary."""
    body = v > -500
    n = int(body.sum())
    if n < 0.05 * v.size:
        raise ValueError("the volume holds almost no tissue: no spine to find vertebral levels on")
    fat = int(((v > FAT_HU[0]) & (v < FAT_HU[1])).sum())
    bone = int((v > 300.0).sum())
    if fat < 0.01 * n or bone < 0.001 * n:
        raise ValueError(
            "the volume does not look like a CT in Hounsfield units (no fat below 0 HU or no bone "
            "above 300 HU): vertebral levels are found on CT only"
        )


def _track_column(g: Grid, near: Sequence[float] | np.ndarray | None) -> np.ndarray:
    """The spinal column's centre in every slice: (a, r) indices per s, a smooth path.

    In each slice, bone and discs (above BONE_MASK_HU once lightly smoothed) hold circles; a
    vertebral body's section holds the largest one near the midline (radius 15-20 mm), its
    thin posterior elements and the vessels in front of it smaller ones. A dynamic programme
    picks the path through the slices with the largest total inscribed radius that moves at
    most one cell per slice, so the path keeps to the bodies, crosses the discs straight and
    cannot jump to a vessel or a kidney beside them.
    """
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    v = g.v
    ns = v.shape[0]
    r_ax, a_ax = g.axis(0), g.axis(1)
    if near is not None:
        p = np.asarray(near, dtype=float).reshape(3)
        r_lo, r_hi = p[0] - 60.0, p[0] + 60.0
        a_lo, a_hi = a_ax[0], p[1] - 5.0  # behind the point: the sacrum reaches far back
    else:
        body = v > -500
        w = body.sum(axis=(0, 1)).astype(float)
        r_mid = float(np.sum(w * r_ax) / max(w.sum(), 1.0))
        wa = body.sum(axis=(0, 2)).astype(float)
        a_mid = float(np.sum(wa * a_ax) / max(wa.sum(), 1.0))
        r_lo, r_hi = r_mid - 60.0, r_mid + 60.0
        a_lo, a_hi = a_ax[0], a_mid + 20.0
    ri = np.flatnonzero((r_ax >= r_lo) & (r_ax <= r_hi))
    ai = np.flatnonzero((a_ax >= a_lo) & (a_ax <= a_hi))
    if len(ri) < 5 or len(ai) < 5:
        raise ValueError("the volume does not reach the spine behind the point given: no vertebral levels")
    sig = SMOOTH_MM / g.spacing
    crop = gaussian_filter(v[:, ai[0] : ai[-1] + 1, ri[0] : ri[-1] + 1], sigma=(0.5, sig, sig))
    # In-plane distance only: a huge spacing across slices keeps each slice's distance its own.
    edt = distance_transform_edt(crop > BONE_MASK_HU, sampling=(1e4, g.spacing, g.spacing))
    score = np.minimum(edt, MAX_BODY_RADIUS_MM).astype(np.float32)
    # Millimetres of inscribed radius per cell moved: forward and back the column follows the
    # lordosis and the sacrum's tilt, from side to side it hardly moves (a scoliosis over many
    # slices), so it cannot swerve into an ilium beside the sacrum.
    pen_a, pen_r = 0.5, 3.0
    acc = score[0].copy()
    back = np.zeros((ns, *acc.shape), dtype=np.int8)
    shifts = [(da, dr) for da in (-1, 0, 1) for dr in (-1, 0, 1)]
    cand = np.empty((len(shifts), *acc.shape), dtype=np.float32)
    na, nr = acc.shape
    for s in range(1, ns):
        cand.fill(-np.inf)
        for n, (da, dr) in enumerate(shifts):
            cand[n, max(da, 0) : na + min(da, 0), max(dr, 0) : nr + min(dr, 0)] = acc[
                max(-da, 0) : na + min(-da, 0), max(-dr, 0) : nr + min(-dr, 0)
            ] - (pen_a * abs(da) + pen_r * abs(dr))
        back[s] = np.argmax(cand, axis=0)
        acc = cand.max(axis=0) + score[s]
    path = np.zeros((ns, 2), dtype=float)
    a, r = np.unravel_index(int(np.argmax(acc)), acc.shape)
    for s in range(ns - 1, -1, -1):
        path[s] = (a + ai[0], r + ri[0])
        if s:
            da, dr = shifts[back[s, a, r]]
            a, r = a - da, r - dr
    return path


def _column_curve(g: Grid, path: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The column's path as a smooth RAS curve every 1 mm: arc length, points, unit tangents."""
    from scipy.ndimage import gaussian_filter1d

    smooth = gaussian_filter1d(path, sigma=6.0 / g.spacing, axis=0, mode="nearest")
    sar = np.column_stack([np.arange(len(path), dtype=float), smooth])
    ras = g.to_ras(sar)
    s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(ras, axis=0), axis=1))]
    t = np.arange(0.0, s[-1], 1.0)
    pts = np.stack([np.interp(t, s, ras[:, c]) for c in range(3)], axis=1)
    tangent = np.gradient(pts, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    return t, pts, tangent


def _frame(tangent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors across the column at each point: e1 towards the patient's left-right (R),
    e2 front-back (A), both perpendicular to the tangent."""
    e1 = np.array([1.0, 0.0, 0.0]) - tangent[:, :1] * tangent
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    return e1, np.cross(tangent, e1)


def _profile(
    g: Grid,
    pts: np.ndarray,
    tangent: np.ndarray,
    radius: float = PROFILE_RADIUS_MM,
    shift: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Mean HU over a disc of ``radius`` mm perpendicular to the column at each point, the disc
    moved by ``shift`` mm along (e1, e2) (see _frame)."""
    from scipy.ndimage import map_coordinates

    e1, e2 = _frame(tangent)
    offs = [(0.0, 0.0)]
    for rho in np.arange(2.0, radius + 0.1, 2.0):
        n = round(2 * np.pi * rho / 2.0)
        offs += [(rho * np.cos(2 * np.pi * k / n), rho * np.sin(2 * np.pi * k / n)) for k in range(n)]
    offs = np.array(offs) + np.asarray(shift)
    q = pts[:, None, :] + e1[:, None, :] * offs[None, :, 0, None] + e2[:, None, :] * offs[None, :, 1, None]
    idx = g.to_index(q.reshape(-1, 3)).T
    vals = map_coordinates(g.clipped, idx, order=1, mode="nearest")
    return vals.reshape(len(pts), len(offs)).mean(axis=1)


def _endplate_plane(
    g: Grid, t: np.ndarray, pts: np.ndarray, tangent: np.ndarray, at: float, body: int
) -> tuple[np.ndarray, np.ndarray]:
    """An endplate's centre (the column's point at arc length ``at``, a disc's edge) and its
    plane's cranial normal.

    Five narrow profiles, along the axis and ENDPLATE_SPREAD_MM to its front, back and sides,
    cross the same endplate; where each crosses halfway from the disc to the body (``body`` =
    +1: the body lies above, -1: below) is a point of the endplate, and a plane through those
    points gives its tilt: the lordosis, the sacral slope.
    """
    sel = np.flatnonzero(np.abs(t - at) <= ENDPLATE_WINDOW_MM)
    if len(sel) < 4:
        i = int(np.clip(round(at), 0, len(t) - 1))
        return pts[i].copy(), tangent[i].copy()
    tt, pp, tg = t[sel], pts[sel], tangent[sel]
    e1, e2 = _frame(tg)
    spread = ENDPLATE_SPREAD_MM
    found = []
    for du, dv in ((0.0, 0.0), (spread, 0.0), (-spread, 0.0), (0.0, spread), (0.0, -spread)):
        f = _profile(g, pp, tg, radius=2.0, shift=(du, dv))
        disc_side = (tt - at) * body <= 0
        lo, hi = float(f[disc_side].min()), float(f[~disc_side].max()) if (~disc_side).any() else None
        if hi is None or hi - lo < DISC_CONTRAST_HU:
            continue
        level = (lo + hi) / 2.0
        # The crossing nearest to ``at``: between consecutive samples on either side of level.
        cross = np.flatnonzero((f[:-1] - level) * (f[1:] - level) <= 0)
        if not len(cross):
            continue
        j = int(cross[np.argmin(np.abs(tt[cross] - at))])
        w = (level - f[j]) / (f[j + 1] - f[j]) if f[j + 1] != f[j] else 0.5
        q = pp[j] + w * (pp[j + 1] - pp[j])
        found.append(q + du * e1[j] + dv * e2[j])
    i = int(np.argmin(np.abs(tt - at)))
    # The centre is where the wide profile along the axis crosses (less noisy than a narrow one).
    centre = np.array([np.interp(at, t, pts[:, c]) for c in range(3)])
    normal = tg[i].copy()
    if len(found) >= 4:
        pts3 = np.array(found)
        n = np.linalg.svd(pts3 - pts3.mean(axis=0), full_matrices=False)[2][2]
        n = n if n @ normal > 0 else -n
        if n @ normal >= np.cos(np.radians(MAX_ENDPLATE_TILT_DEG)):
            normal = n / np.linalg.norm(n)
    return np.asarray(centre, dtype=float), normal


@dataclass
class _Disc:
    """A disc along the column profile: its darkest point and its two edges (arc length, mm)."""

    at: float
    lower: float  # the inferior edge: the superior endplate of the body below
    upper: float  # the superior edge: the inferior endplate of the body above
    depth: float


def _find_discs(f: np.ndarray) -> list[_Disc]:
    """Discs along the column's profile (1 mm samples): the narrow dark gaps between bodies.

    A body's cancellous middle can be as dark as a disc (osteoporotic bone, 100-120 HU) with its
    endplates bright on either side; what sets a disc apart is that it is narrow (5-12 mm)
    between two bright endplates. The closing of the profile over DISC_CLOSING_MM fills such
    gaps: a dip's depth is how far it lies below that closing. Discs are then the dips, at
    least MIN_BODY_MM apart (a body lies between two), with the greatest total depth (a
    weighted interval choice), so a body's dark middle, half a vertebra from two discs, loses
    to them. A disc's edges are where the profile climbs halfway from its minimum to the first
    maximum on each side: the endplates.
    """
    from scipy.ndimage import grey_closing

    n = len(f)
    closed = grey_closing(f, size=DISC_CLOSING_MM, mode="nearest")
    depth = closed - f
    cands = [
        i
        for i in range(1, n - 1)
        if f[i] <= f[i - 1]
        and f[i] <= f[i + 1]
        and depth[i] >= DISC_CONTRAST_HU
        and closed[i] >= BODY_PROFILE_HU
    ]
    # Weighted interval scheduling over the candidates (sorted by position): best[k] is the
    # largest total depth of a choice ending at candidate k.
    best = np.zeros(len(cands))
    prev = np.full(len(cands), -1)
    for k, i in enumerate(cands):
        best[k] = depth[i]
        for j in range(k):
            if i - cands[j] >= MIN_BODY_MM and best[j] + depth[i] > best[k]:
                best[k], prev[k] = best[j] + depth[i], j
    chosen = []
    k = int(np.argmax(best)) if len(cands) else -1
    while k >= 0:
        chosen.append(cands[k])
        k = int(prev[k])
    discs = []
    for i in sorted(chosen):
        below, above = _peak(f, i, -1), _peak(f, i, +1)
        lower = _crossing(f, i, -1, (f[i] + below) / 2.0)
        upper = _crossing(f, i, +1, (f[i] + above) / 2.0)
        discs.append(_Disc(float(i), lower, upper, float(depth[i])))
    return discs


def _peak(f: np.ndarray, i: int, step: int) -> float:
    """The profile's first maximum from sample i in direction step: the endplate next to a disc
    (a body's far end can be brighter, and must not move the near endplate's halfway level)."""
    j = i
    while 0 <= j + step < len(f) and f[j + step] >= f[j]:
        j += step
    return float(f[j])


def _crossing(f: np.ndarray, i: int, step: int, level: float) -> float:
    """Where the profile, walking from sample i in direction step, first rises above level
    (linear interpolation between samples)."""
    j = i
    while 0 <= j + step < len(f) and f[j + step] < level:
        j += step
    k = j + step
    if not 0 <= k < len(f):
        return float(j)
    frac = (level - f[j]) / max(f[k] - f[j], 1e-6)
    return float(j + step * min(max(frac, 0.0), 1.0))


def _bone_reach(g: Grid, ras: np.ndarray) -> tuple[float, float]:
    """How far the bone holding a point on the column reaches to the patient's right and left.

    In the axial slice through the point, over a band of the body's middle (+-BAND_MM front
    to back, so that transverse processes behind and vessels in front do not count), the bone
    connected to the point: a lumbar body reaches 20-30 mm to each side, with the psoas beside
    it; S1 carries the sacral ala, 40 mm and more, often on through the sacroiliac joints
    into the ilia.
    """
    from scipy.ndimage import gaussian_filter, label

    s, a, r = np.rint(g.to_index(ras)).astype(int)
    ns, na, nr = g.v.shape
    if not (0 <= s < ns and 0 <= a < na and 0 <= r < nr):
        return 0.0, 0.0
    band = round(BAND_MM / g.spacing)
    a0, a1 = max(a - band, 0), min(a + band + 1, na)
    sl = gaussian_filter(g.v[s], sigma=SMOOTH_MM / g.spacing)[a0:a1]
    parts, _ = label(sl > BONE_MASK_HU)
    here = parts[a - a0, r]
    if here == 0:
        return 0.0, 0.0
    cols = np.flatnonzero((parts == here).any(axis=0))
    return float(cols.max() - r) * g.spacing, float(r - cols.min()) * g.spacing


def _count_levels(g: Grid, t: np.ndarray, pts: np.ndarray, tangent: np.ndarray, prof: np.ndarray):
    """Vertebrae from the column profile: S1 at the first body (from the top) carrying the
    sacral ala, then L5, L4, ... T12 above it; each endplate's plane from _endplate_plane."""
    from scipy.ndimage import gaussian_filter1d

    f = gaussian_filter1d(prof, 2.0, mode="nearest")
    discs = _find_discs(f)
    if not discs:
        raise ValueError(
            "no spine found: no vertebral bodies and discs along the bone behind the great vessels "
            "(is the spine in the volume?)"
        )

    def at(x: float) -> np.ndarray:
        return np.array([np.interp(x, t, pts[:, c]) for c in range(3)])

    s1 = None
    for k in range(len(discs) - 1, -1, -1):  # from the top down
        probes = [discs[k].lower - d for d in SACRUM_PROBES_MM]
        if any(min(_bone_reach(g, at(x))) >= SACRUM_HALF_WIDTH_MM for x in probes if x >= 0):
            s1 = k
            break
    if s1 is None:
        raise ValueError(
            "no sacrum found below the lumbar spine: the levels are counted up from S1, so the volume "
            "must reach the top of the sacrum"
        )
    notes = []
    vertebrae = []
    names_up = names.VERTEBRAE[1:]
    end = len(discs)
    for n, k in enumerate(range(s1, end)):
        if n >= len(names_up):
            break
        bottom = discs[k].upper
        inf, inf_n = _endplate_plane(g, t, pts, tangent, bottom, +1)
        if k + 1 < end:
            sup, sup_n = _endplate_plane(g, t, pts, tangent, discs[k + 1].lower, -1)
        else:  # the body runs off the volume (or the column's bone ends)
            top = _bone_end(f, bottom)
            if top - bottom < MIN_CUT_BODY_MM:
                break
            sup, sup_n = at(top), inf_n
        vertebrae.append(Vertebra(names_up[n], sup, inf, k + 1 >= end, False, sup_n, inf_n))
    s1_top, s1_n = _endplate_plane(g, t, pts, tangent, discs[s1].lower, -1)
    heights = [v.height_mm for v in vertebrae if not v.cut]
    height = float(np.median(heights)) if heights else 28.0
    for v in vertebrae:
        if not v.cut and v.height_mm > MAX_HEIGHT_RATIO * height:
            # Two bodies taken for one (a disc not seen: fused, or as bright as the bodies):
            # every level above it would be off by one.
            notes.append(
                f"{v.name} looks {v.height_mm:.0f} mm tall against {height:.0f} mm for the others: "
                "a disc may have been missed, and the levels above it be one too low"
            )
    vertebrae.insert(0, Vertebra("S1", s1_top, s1_top - height * s1_n, False, True, s1_n, s1_n))
    notes.append(
        f"S1's inferior end is estimated ({height:.0f} mm below its superior endplate: S1 is fused to S2)"
    )
    return vertebrae, notes


def _bone_end(f: np.ndarray, start: float) -> float:
    """Where bone ends above ``start`` on the profile: the volume's edge, or soft tissue."""
    i = int(start)
    while i + 1 < len(f) and f[i + 1] >= BODY_PROFILE_HU:
        i += 1
    return float(i)

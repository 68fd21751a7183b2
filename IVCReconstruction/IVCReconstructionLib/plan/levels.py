"""Vertebral levels: where along the spine a point lies, as a clinician names it under fluoroscopy.

Stent ends are planned in RAS millimetres; at the table they are placed against the spine
("the upper end at mid L3", "the distal end at the femoral-head top"). This module finds the
vertebral bodies, names them and tells the level of a point:

* ``levels_from_labels``: from a TotalSegmentator label map (its vertebra labels are named, so
  the levels are read, not counted);
* ``levels_from_ct``: from the CT's own bone, an estimate: the vertebral bodies and the darker
  discs between them are found along the spinal column, and counted up from the sacrum
  (S1, L5, L4 ... T12);
* ``level_at``: "L4", "L4/L5" (a disc), "below S1", "above T12";
* ``femoral_heads``: the top of each femoral head, the surrogate landmark for the inguinal
  ligament (a design default: no sourced CT landmark marks the ligament itself).

Everything is in RAS millimetres; images are indexed ``[k, j, i]`` with a 4x4 IJK-to-RAS matrix,
in any storage order (the work is done on a resampled grid aligned with R, A and S).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import names

# ---------------------------------------------------------------------------------------------
# The levels
# ---------------------------------------------------------------------------------------------


@dataclass
class Vertebra:
    """One vertebral body: the centres of its endplates (RAS mm).

    ``cut`` says that the body runs off the volume: the endplate on that side is where the
    volume (or the spine found) ends, not the body's own. ``inferior_estimated`` says that the
    inferior end was not seen but estimated (S1, fused to S2 without a disc between them).
    The normals are those of the endplates' planes (unit, pointing cranially): the spine's
    direction at each endplate, which the lordosis tilts; None means the body's axis.
    """

    name: str  # "S1", "L5", ... "T12"
    superior_ras: np.ndarray  # (3,) centre of the superior endplate
    inferior_ras: np.ndarray  # (3,) centre of the inferior endplate
    cut: bool = False
    inferior_estimated: bool = False
    superior_normal: np.ndarray | None = None
    inferior_normal: np.ndarray | None = None

    @property
    def centre_ras(self) -> np.ndarray:
        return (self.superior_ras + self.inferior_ras) / 2.0

    @property
    def height_mm(self) -> float:
        return float(np.linalg.norm(self.superior_ras - self.inferior_ras))

    @property
    def axis(self) -> np.ndarray:
        """Unit vector from the inferior to the superior endplate: the local spine axis."""
        d = self.superior_ras - self.inferior_ras
        n = float(np.linalg.norm(d))
        return d / n if n > 1e-6 else np.array([0.0, 0.0, 1.0])

    def normal(self, end: str) -> np.ndarray:
        """The plane normal of the "superior" or "inferior" endplate."""
        n = self.superior_normal if end == "superior" else self.inferior_normal
        return self.axis if n is None else n

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "superior_ras": [round(float(x), 2) for x in self.superior_ras],
            "inferior_ras": [round(float(x), 2) for x in self.inferior_ras],
            "superior_normal": [round(float(x), 4) for x in self.normal("superior")],
            "inferior_normal": [round(float(x), 4) for x in self.normal("inferior")],
            "cut": self.cut,
            "inferior_estimated": self.inferior_estimated,
        }


@dataclass
class SpineLevels:
    """The vertebrae found, caudal to cranial (S1 first when it was found), and how."""

    vertebrae: list[Vertebra]
    method: str  # a names.LevelSource value
    notes: list[str] = field(default_factory=list)

    @property
    def estimated(self) -> bool:
        """Counted from the image (an estimate), rather than read from named labels."""
        return self.method == names.LevelSource.CT

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.vertebrae]

    def vertebra(self, name: str) -> Vertebra | None:
        return next((v for v in self.vertebrae if v.name == name), None)

    def as_dict(self) -> dict:
        return {
            "method": str(self.method),
            "estimated": self.estimated,
            "vertebrae": [v.as_dict() for v in self.vertebrae],
            "notes": list(self.notes),
        }


def level_at(levels: SpineLevels, ras: Sequence[float] | np.ndarray) -> str:
    """The vertebral level of a point: "L4" (in a body), "L4/L5" (at the disc between them),
    "below S1" or "above T12" (outside the vertebrae found, named after the last one).

    The level is the point's position along the spine axis, not its distance to the bone: the
    IVC and the iliac veins lie in front of the spine. Each endplate is a plane through its
    centre, normal to the spine there; the point's level is how many of these planes it is
    above (a count, so that planes that meet far from the spine under a strong lordosis do not
    make a point skip a level).
    """
    vs = levels.vertebrae
    if not vs:
        raise ValueError("no vertebrae to name a level by")
    x = np.asarray(ras, dtype=float).reshape(3)
    above = 0
    for v in vs:
        above += int((x - v.inferior_ras) @ v.normal("inferior") >= 0.0)
        above += int((x - v.superior_ras) @ v.normal("superior") > 0.0)
    if above == 0:
        return f"below {vs[0].name}"
    if above == 2 * len(vs):
        return f"above {vs[-1].name}"
    i, in_body = divmod(above - 1, 2)
    if in_body == 0:
        return vs[i].name
    lower, upper = vs[i].name, vs[i + 1].name
    order = names.VERTEBRAE
    if lower in order and upper in order and order.index(upper) == order.index(lower) + 1:
        return f"{upper}/{lower}"
    return f"between {lower} and {upper}"


# ---------------------------------------------------------------------------------------------
# From a TotalSegmentator label map
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# From the CT's bone
# ---------------------------------------------------------------------------------------------

WORK_MM = 2.0  # the resampled grid's spacing: fine enough for endplates, cheap at any input spacing
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


@dataclass
class _Grid:
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


def _canonical(image: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The voxels reordered to ascending S, A, R (``[s, a, r]``) and their IJK-to-RAS matrix,
    when the grid is aligned with the RAS axes (any flips and permutations); unchanged otherwise.

    Every storage order of the same voxels then gives the same array, so the resampling that
    follows (and the levels) do not depend on it.
    """
    dirs = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)
    ras_axis = np.argmax(np.abs(dirs), axis=0)  # the RAS axis each of i, j, k runs along
    if sorted(ras_axis) != [0, 1, 2] or np.min(np.max(np.abs(dirs), axis=0)) < 0.9999:
        return image, m
    arr, mm = image, m.copy()
    for c in range(3):  # array axis 2 - c holds index c (i, j, k)
        if dirs[ras_axis[c], c] < 0:
            n = arr.shape[2 - c]
            arr = np.flip(arr, axis=2 - c)
            mm[:3, 3] += mm[:3, c] * (n - 1)
            mm[:3, c] *= -1.0
    # Reorder so that index i runs along R, j along A, k along S.
    order = [int(np.flatnonzero(ras_axis == r)[0]) for r in range(3)]  # index along R, A, S
    arr = np.transpose(arr, [2 - order[2], 2 - order[1], 2 - order[0]])
    out = np.eye(4)
    out[:3, :3] = mm[:3, order]
    out[:3, 3] = mm[:3, 3]
    return arr, out


def _resample(image: np.ndarray, ijk_to_ras: np.ndarray, spacing: float = WORK_MM) -> _Grid:
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
    arr, m = _canonical(image, m)
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
    return _Grid(sitk.GetArrayFromImage(out), lo.copy(), spacing)


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
    g = _resample(image, ijk_to_ras)
    _check_ct(g.v)
    return _levels_on_grid(g, near)


def _levels_on_grid(g: _Grid, near: Sequence[float] | np.ndarray | None) -> SpineLevels:
    path = _track_column(g, near)
    t, pts, tangent = _column_curve(g, path)
    prof = _profile(g, pts, tangent)
    vertebrae, notes = _count_levels(g, t, pts, tangent, prof)
    return SpineLevels(vertebrae, names.LevelSource.CT, notes)


def _check_ct(v: np.ndarray) -> None:
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


def _track_column(g: _Grid, near: Sequence[float] | np.ndarray | None) -> np.ndarray:
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


def _column_curve(g: _Grid, path: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    g: _Grid,
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
    g: _Grid, t: np.ndarray, pts: np.ndarray, tangent: np.ndarray, at: float, body: int
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


def _bone_reach(g: _Grid, ras: np.ndarray) -> tuple[float, float]:
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


def _count_levels(g: _Grid, t: np.ndarray, pts: np.ndarray, tangent: np.ndarray, prof: np.ndarray):
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


# ---------------------------------------------------------------------------------------------
# Femoral heads: the surrogate landmark for the inguinal ligament
# ---------------------------------------------------------------------------------------------

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
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    g = _resample(image, ijk_to_ras)
    _check_ct(g.v)
    if levels is None:
        try:
            levels = _levels_on_grid(g, None)
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


def _head_top(g: _Grid, smooth: np.ndarray, s: int, a: int, r: int) -> np.ndarray | None:
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

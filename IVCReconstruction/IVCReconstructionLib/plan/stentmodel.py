"""Stent geometry along a centerline path: a smooth tube or a strut-like wire mesh (RAS mm).

Both shapes are built around the same axis: the given polyline, with extra stations so that
consecutive stations are at most ``STATION_SPACING_MM`` apart. The input vertices are kept, so
the model's axis is exactly the planned path and the stent wall stays at the nominal radius
from it. Cross-section frames are carried along the axis by parallel transport (rotation-
minimizing frames): a frame fixed to a global direction flips where the path turns towards
that direction, and a Frenet frame spins on straight or S-shaped parts; both would twist the
mesh. The frames' tangents are smoothed over one stent radius either side (exact on straight
and circular parts), so a corner of the path tilts the neighbouring rings gradually instead of
folding the wall; near such a corner the wall is up to r (1 - cos(angle / 2)) off the radius.

* :func:`stent_tube` is the nominal lumen: what the stent opens the vein to. Drawn half
  transparent it shows the vein through it, and its slice intersection is a circle on CT.
* :func:`stent_struts` looks like a stent: Z-shaped (zig-zag) rings joined by bridges, drawn as
  thin wires. Every wire runs on the cylinder of the nominal radius, so the wires are within
  half a wire thickness of that radius.

Both are deterministic (same input, same points in the same order) and raise ValueError on
fewer than two distinct path points, a non-positive diameter or other unusable parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Largest distance between consecutive stations of the axis. 1 mm keeps the wall of a curved
# iliac limb smooth (a bend of radius 30 mm turns ~2 degrees per station) at ~100 rings per
# 10 cm of stent.
STATION_SPACING_MM = 1.0

# Points closer than this are one point: centerlines sometimes repeat a vertex, and a
# zero-length segment has no direction.
_DUPLICATE_MM = 1e-6

# Fraction of a cell taken by the Z-ring; the rest is the gap the bridges span.
_RING_FRACTION = 0.7

# Crown rounding of the zig-zag (see _zigzag): 1 would give sharp tips, on which a tube of
# wire has to fold back on itself; laser-cut rings have rounded crowns anyway.
_CROWN_ROUNDING = 0.97

# Circumferential and longitudinal sampling of the wires, mm between polyline points. A chord
# of 0.5 mm on a 7 mm radius sags 0.004 mm inside the cylinder: negligible against the wire.
_WIRE_SAMPLE_MM = 0.5

# Sides of each wire's tube: thin wires need few; 6 keeps three stents under ~100k points.
_WIRE_SIDES = 6


# ---------------------------------------------------------------------------------------------
# Input checks


def _check_path(path_ras: Any) -> np.ndarray:
    """The path as a float (N, 3) array without repeated points; ValueError if unusable."""
    try:
        p = np.asarray(path_ras, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("path_ras must be an (N, 3) array of RAS points") from None
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"path_ras must be an (N, 3) array of RAS points, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("path_ras contains NaN or infinite values")
    if len(p) < 2:
        raise ValueError(f"a stent path needs at least 2 points, got {len(p)}")
    keep = np.ones(len(p), dtype=bool)
    keep[1:] = np.linalg.norm(np.diff(p, axis=0), axis=1) > _DUPLICATE_MM
    p = p[keep]
    if len(p) < 2:
        raise ValueError("a stent path needs at least 2 distinct points; all points coincide")
    return p


def _check_positive(value: Any, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return v


def _check_count(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# The axis: stations and parallel-transported frames


class _Axis:
    """Stations along a path with arc length and a rotation-minimizing frame at each.

    ``points`` (M, 3), ``s`` (M,) arc length from the first point, and unit vectors
    ``tangent``, ``normal``, ``binormal`` (M, 3) forming a right-handed frame per station.
    ``window_mm`` is the half-width of the tangent smoothing (see :meth:`_tangents`).
    """

    def __init__(self, path: np.ndarray, window_mm: float, spacing_mm: float = STATION_SPACING_MM) -> None:
        # Subdivide each input segment on its own, so the input vertices stay stations and the
        # axis is the given polyline, not a chord-cutting resampling of it.
        segments = np.diff(path, axis=0)
        lengths = np.linalg.norm(segments, axis=1)
        pieces = np.maximum(1, np.ceil(lengths / spacing_mm - 1e-9)).astype(int)
        chunks = [
            path[i] + np.outer(np.arange(pieces[i]) / pieces[i], segments[i]) for i in range(len(segments))
        ]
        self.points = np.vstack([*chunks, path[-1:]])
        steps = np.linalg.norm(np.diff(self.points, axis=0), axis=1)
        self.s = np.concatenate([[0.0], np.cumsum(steps)])
        self.length = float(self.s[-1])
        self.tangent = self._tangents(steps, window_mm)
        self.normal, self.binormal = _transport_frames(self.tangent)

    def _tangents(self, steps: np.ndarray, window_mm: float) -> np.ndarray:
        """Unit tangents: the direction of the chord from ``s - h`` to ``s + h`` on the axis.

        ``h`` is ``window_mm`` (the stent radius), shrunk near the ends so the window stays
        symmetric. A symmetric chord of a circular arc is parallel to the arc's tangent, so
        smooth paths keep rings exactly perpendicular to them; but a corner of the polyline (a
        kink in a measured centerline, or where a path turns from the IVC into an iliac vein)
        is spread over 2 h. Turning within one station instead would make rings more than a
        station apart on the outside and crossing each other on the inside: the wall would
        fold. At the two end stations (h = 0) the end segment gives the direction.
        """
        directions = np.diff(self.points, axis=0) / steps[:, None]
        bisector = directions[:-1] + directions[1:]
        norms = np.linalg.norm(bisector, axis=1)
        if np.any(norms < 1e-6):
            at = int(np.argmin(norms)) + 1
            raise ValueError(f"the stent path folds back on itself at {self.points[at].round(2).tolist()}")
        tangent = np.empty_like(self.points)
        tangent[0] = directions[0]
        tangent[-1] = directions[-1]
        tangent[1:-1] = bisector / norms[:, None]

        half = np.minimum(window_mm, np.minimum(self.s, self.length - self.s))
        ends = [
            np.column_stack([np.interp(self.s + sign * half, self.s, self.points[:, c]) for c in range(3)])
            for sign in (-1.0, 1.0)
        ]
        chord = ends[1] - ends[0]
        length = np.linalg.norm(chord, axis=1)
        # Where the window is (nearly) empty the local bisector stays: the ends, and a chord
        # shortened to nothing by a path that doubles back within the window.
        use = length > 1e-3 * np.maximum(2.0 * half, 1e-9)
        use &= half > 1e-6
        tangent[use] = chord[use] / length[use, None]
        return tangent

    def frames_at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centre points, normals and binormals at arc lengths ``s`` (clipped to the axis).

        Linear interpolation between stations, then re-orthonormalized: stations are at most
        1 mm apart, so the frame turns by a degree or two between them.
        """
        s = np.clip(np.asarray(s, dtype=float), 0.0, self.length)
        i = np.clip(np.searchsorted(self.s, s, side="right") - 1, 0, len(self.s) - 2)
        w = ((s - self.s[i]) / (self.s[i + 1] - self.s[i]))[:, None]
        centre = self.points[i] * (1.0 - w) + self.points[i + 1] * w
        tangent = _unit(self.tangent[i] * (1.0 - w) + self.tangent[i + 1] * w)
        normal = self.normal[i] * (1.0 - w) + self.normal[i + 1] * w
        normal = _unit(normal - np.sum(normal * tangent, axis=1)[:, None] * tangent)
        binormal = np.cross(tangent, normal)
        return centre, normal, binormal


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _transport_frames(tangent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normals and binormals carried along unit tangents by parallel transport.

    Each step rotates the previous normal by the smallest rotation that takes the previous
    tangent to the next one (Rodrigues' formula about their cross product), so the frame never
    spins about the axis. The first normal is the coordinate axis least aligned with the first
    tangent, made perpendicular: deterministic and far from degenerate.
    """
    n_stations = len(tangent)
    normal = np.empty_like(tangent)
    t0 = tangent[0]
    seed = np.eye(3)[int(np.argmin(np.abs(t0)))]
    normal[0] = _unit(seed - np.dot(seed, t0) * t0)
    # Plain floats in the loop: per-step numpy calls on 3-vectors cost more than the arithmetic.
    t = tangent.tolist()
    nx, ny, nz = normal[0]
    out = [(nx, ny, nz)]
    for k in range(1, n_stations):
        ax, ay, az = t[k - 1]
        bx, by, bz = t[k]
        # Rotation axis a x b (length sin(angle)) and cos(angle) = a . b.
        cx, cy, cz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
        cos_a = ax * bx + ay * by + az * bz
        sin2 = cx * cx + cy * cy + cz * cz
        if sin2 > 1e-24:
            # v_rot = v cos + (c x v) + c (c . v) (1 - cos) / sin^2, with c = axis * sin.
            dot = cx * nx + cy * ny + cz * nz
            f = (1.0 - cos_a) / sin2
            nx, ny, nz = (
                nx * cos_a + (cy * nz - cz * ny) + cx * dot * f,
                ny * cos_a + (cz * nx - cx * nz) + cy * dot * f,
                nz * cos_a + (cx * ny - cy * nx) + cz * dot * f,
            )
        # Remove rounding drift: keep the normal unit length and perpendicular to the tangent.
        dot_t = nx * bx + ny * by + nz * bz
        nx, ny, nz = nx - dot_t * bx, ny - dot_t * by, nz - dot_t * bz
        norm = math.sqrt(nx * nx + ny * ny + nz * nz)
        nx, ny, nz = nx / norm, ny / norm, nz / norm
        out.append((nx, ny, nz))
    normal = np.array(out)
    return normal, np.cross(tangent, normal)


# ---------------------------------------------------------------------------------------------
# VTK assembly


def _polydata(
    points: np.ndarray, cells: np.ndarray, offsets: np.ndarray, kind: str, normals: Any = None
) -> Any:
    """vtkPolyData from numpy points and cells (flat point ids + offsets, VTK 9 layout)."""
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData

    vtk_points = vtkPoints()
    vtk_points.SetDataTypeToDouble()
    vtk_points.SetData(numpy_support.numpy_to_vtk(np.ascontiguousarray(points, dtype=float), deep=True))
    cell_array = vtkCellArray()
    cell_array.SetData(
        numpy_support.numpy_to_vtkIdTypeArray(np.ascontiguousarray(offsets, dtype=np.int64), deep=True),
        numpy_support.numpy_to_vtkIdTypeArray(np.ascontiguousarray(cells, dtype=np.int64), deep=True),
    )
    polydata = vtkPolyData()
    polydata.SetPoints(vtk_points)
    if kind == "polys":
        polydata.SetPolys(cell_array)
    else:
        polydata.SetLines(cell_array)
    if normals is not None:
        array = numpy_support.numpy_to_vtk(np.ascontiguousarray(normals, dtype=float), deep=True)
        array.SetName("Normals")
        polydata.GetPointData().SetNormals(array)
    return polydata


# ---------------------------------------------------------------------------------------------
# Tube


def stent_tube(path_ras: Any, diameter_mm: float, sides: int = 24, *, capped: bool = False) -> Any:
    """A tube of the stent's nominal diameter following ``path_ras`` (N >= 2, RAS mm).

    One ring of ``sides`` points per axis station (stations at most 1 mm apart, see the module
    docstring), every point exactly ``diameter_mm / 2`` from the axis in the plane of its
    station; quads join consecutive rings. Outward point normals are included so the tube
    shades smoothly without a normals filter. The ends are open by default, like a stent:
    with caps a half-transparent tube hides the lumen and its slice intersection shows a line
    across the vein at the end slice. ``capped=True`` closes each end with one polygon made of
    the end ring's points (no extra points, so the radius property still holds).

    Returns a vtkPolyData. Raises ValueError on fewer than two distinct points, non-finite
    coordinates, a path folding back on itself, a non-positive diameter or ``sides`` < 3.
    """
    path = _check_path(path_ras)
    radius = _check_positive(diameter_mm, "diameter_mm") / 2.0
    sides = _check_count(sides, "sides", 3)

    axis = _Axis(path, window_mm=radius)
    theta = 2.0 * np.pi * np.arange(sides) / sides
    # radial[m, k] = unit vector from station m towards side k.
    radial = np.cos(theta)[None, :, None] * axis.normal[:, None, :] + (
        np.sin(theta)[None, :, None] * axis.binormal[:, None, :]
    )
    points = (axis.points[:, None, :] + radius * radial).reshape(-1, 3)

    # Quad (m, k) -> (m, k+1) -> (m+1, k+1) -> (m+1, k): counter-clockwise seen from outside
    # when the normal-binormal-tangent frame is right-handed, so the normals face outwards.
    m = np.arange(len(axis.points) - 1)[:, None]
    k = np.arange(sides)[None, :]
    k1 = (k + 1) % sides
    quads = np.stack(
        [m * sides + k, m * sides + k1, (m + 1) * sides + k1, (m + 1) * sides + k], axis=-1
    ).reshape(-1, 4)
    cells = [quads.ravel()]
    sizes = [np.full(len(quads), 4)]
    if capped:
        last = (len(axis.points) - 1) * sides
        # Both caps wound so their normals point away from the tube.
        cells += [np.arange(sides)[::-1], last + np.arange(sides)]
        sizes += [np.array([sides, sides])]
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(sizes))])
    return _polydata(points, np.concatenate(cells), offsets, "polys", normals=radial.reshape(-1, 3))


# ---------------------------------------------------------------------------------------------
# Struts


def _zigzag(phase: np.ndarray) -> np.ndarray:
    """A triangle wave of period 2 pi with rounded crowns: 0 at phase 0, 1 at phase pi.

    arcsin(a cos x) / arcsin(a) is a triangle wave for a = 1 (straight struts meeting at sharp
    tips) and rounds the tips for a slightly below 1, while the struts stay nearly straight.
    """
    a = _CROWN_ROUNDING
    return 0.5 * (1.0 - np.arcsin(a * np.cos(phase)) / math.asin(a))


def _ring_layout(length: float, cell_length: float) -> tuple[np.ndarray, float]:
    """Arc-length starts of the rings and the ring height.

    The first ring starts at the proximal end and the last ends at the distal end, so the wire
    mesh is exactly as long as the path; rings are spread evenly, about one per cell length.
    """
    height = min(_RING_FRACTION * cell_length, length)
    n_rings = max(1, 1 + round((length - height) / cell_length))
    if n_rings == 1:
        return np.array([0.0]), height
    return np.linspace(0.0, length - height, n_rings), height


def stent_struts(
    path_ras: Any,
    diameter_mm: float,
    cell_length_mm: float = 8.0,
    struts: int = 8,
    wire_mm: float = 0.5,
) -> Any:
    """A strut-like wire mesh of the stent along ``path_ras`` (N >= 2, RAS mm).

    Z-rings (``struts`` zig-zag periods around, i.e. ``struts`` crowns at each edge of a ring)
    are spaced about ``cell_length_mm`` apart, the first starting at the proximal end and the
    last ending at the distal end. Consecutive rings are rotated by half a period so each
    distal crown faces a proximal crown of the next ring, and every second such pair is joined
    by a straight bridge along the stent (an open-cell look). The wire centrelines lie on the
    cylinder of radius ``diameter_mm / 2`` around the axis; each wire is a tube of diameter
    ``wire_mm`` (vtkTubeFilter), so every point is within ``wire_mm / 2`` of that radius.

    Returns a vtkPolyData of triangle strips with normals. Raises ValueError on fewer than two
    distinct points, a non-positive diameter, cell length or wire, ``struts`` < 2, or a wire
    as thick as the stent.
    """
    from vtkmodules.vtkFiltersCore import vtkTubeFilter

    path = _check_path(path_ras)
    diameter = _check_positive(diameter_mm, "diameter_mm")
    cell_length = _check_positive(cell_length_mm, "cell_length_mm")
    struts = _check_count(struts, "struts", 2)
    wire = _check_positive(wire_mm, "wire_mm")
    if wire >= diameter / 2.0:
        raise ValueError(f"wire_mm ({wire:g}) must be smaller than the stent radius ({diameter / 2:g} mm)")
    radius = diameter / 2.0

    axis = _Axis(path, window_mm=radius)
    starts, height = _ring_layout(axis.length, cell_length)
    period = 2.0 * np.pi / struts

    # Each wire is a polyline in (arc length s, angle theta) on the cylinder; all wires are
    # collected as flat arrays and mapped onto the surface in one vectorized step.
    s_parts: list[np.ndarray] = []
    theta_parts: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    n_points = 0

    # Ring: enough samples that consecutive points are ~0.5 mm apart along the wire, at least
    # 12 per zig-zag period so the crowns stay round on small stents.
    strut_length = math.hypot(radius * period / 2.0, height)
    per_period = max(12, 2 * math.ceil(strut_length / _WIRE_SAMPLE_MM))
    theta_ring = np.arange(struts * per_period) * (period / per_period)
    for j, start in enumerate(starts):
        # Ring j is shifted by j half-periods: phase 0 (proximal crown) of ring j + 1 falls
        # on phase pi (distal crown) of ring j.
        s_ring = start + height * _zigzag(struts * theta_ring - j * np.pi)
        s_parts.append(s_ring)
        theta_parts.append(theta_ring)
        ids = n_points + np.arange(len(theta_ring))
        lines.append(np.append(ids, ids[0]))  # closed loop
        n_points += len(theta_ring)

    # Bridges: from a distal crown of ring j straight to the facing proximal crown of ring j+1.
    for j in range(len(starts) - 1):
        gap_start, gap_end = starts[j] + height, starts[j + 1]
        if gap_end - gap_start <= _DUPLICATE_MM:
            continue
        n_samples = max(2, 1 + math.ceil((gap_end - gap_start) / _WIRE_SAMPLE_MM))
        s_bridge = np.linspace(gap_start, gap_end, n_samples)
        for crown in range(0, struts, 2):
            # Distal crowns of ring j: struts * theta - j pi = pi (mod 2 pi).
            theta = ((j + 1 + 2 * crown) * np.pi / struts) % (2.0 * np.pi)
            s_parts.append(s_bridge)
            theta_parts.append(np.full(n_samples, theta))
            lines.append(n_points + np.arange(n_samples))
            n_points += n_samples

    s_all = np.concatenate(s_parts)
    theta_all = np.concatenate(theta_parts)
    centre, normal, binormal = axis.frames_at(s_all)
    radial = np.cos(theta_all)[:, None] * normal + np.sin(theta_all)[:, None] * binormal
    points = centre + radius * radial
    offsets = np.concatenate([[0], np.cumsum([len(line) for line in lines])])
    # The radial direction is the wire's normal for the tube filter: it is perpendicular to the
    # wire (which runs on the cylinder), and it keeps each wire's cross-section aligned with the
    # stent wall instead of the filter's own sliding normals, which drift along a closed ring.
    centrelines = _polydata(points, np.concatenate(lines), offsets, "lines", normals=radial)

    tube = vtkTubeFilter()
    tube.SetInputData(centrelines)
    tube.SetRadius(wire / 2.0)
    tube.SetNumberOfSides(_WIRE_SIDES)
    tube.SetVaryRadiusToVaryRadiusOff()
    tube.CappingOff()
    tube.Update()
    return tube.GetOutput()

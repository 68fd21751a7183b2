"""The phantom's building blocks: tubes (a centerline with an elliptical, or irregular, section
and a signed distance to its wall), the voxel grid, and the canvas the tubes are painted on.

Every structure is a tube. The signed distance (mm, negative inside) becomes a partial-volume
fraction (a linear ramp one voxel wide), and the fractions are composited into the image.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

# Directions in RAS.
AXIS_R = np.array([1.0, 0.0, 0.0])
AXIS_A = np.array([0.0, 1.0, 0.0])
AXIS_S = np.array([0.0, 0.0, 1.0])


def resample_path(control: np.ndarray, step: float) -> np.ndarray:
    """Smooth path through control points (chord-length cubic spline), resampled every `step` mm."""
    from scipy.interpolate import CubicSpline

    control = np.asarray(control, dtype=float)
    chord = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(control, axis=0), axis=1))]
    spline = CubicSpline(chord, control, bc_type="natural")
    fine_u = np.linspace(0.0, chord[-1], max(int(chord[-1] / 0.05), 8))
    fine = spline(fine_u)
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(fine, axis=0), axis=1))]
    n = max(int(arc[-1] / step) + 1, 2)
    s = np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(s, arc, fine[:, c]) for c in range(3)], axis=1)


def distance_to_segment(q: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Distance from points q (M, 3) to the segment p0-p1."""
    u = p1 - p0
    uu = float(u @ u)
    if uu < 1e-12:
        return np.linalg.norm(q - p0, axis=1)
    w = q - p0
    t = np.clip((w @ u) / uu, 0.0, 1.0)
    return np.linalg.norm(w - t[:, None] * u, axis=1)


def arc_length(points: np.ndarray) -> np.ndarray:
    return np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]


@dataclass
class Tube:
    """A tube with an elliptical section: semi-axis `a` along n1, `b` along n2 (n2 ~ anterior),
    optionally made irregular by harmonics of the radius around the section."""

    points: np.ndarray  # (N, 3) dense centerline samples
    a: np.ndarray  # (N,)
    b: np.ndarray  # (N,)
    # End shapes at (start, end): None runs on as a cylinder past the last sample, "flat" cuts
    # it square, "round" closes it with a half ellipsoid (branches meeting at the confluence).
    capped: tuple[str | None, str | None] = (None, None)
    roll_deg: float = 0.0  # rotation of the section axes about the tangent
    # Non-elliptical sections: (N, 3, 2) amplitude (fraction of the radius) and phase of the
    # harmonics 2, 3, 4 of the radius around the section; None is the plain ellipse.
    harmonics: np.ndarray | None = None
    t: np.ndarray = field(init=False)
    n1: np.ndarray = field(init=False)
    n2: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        t = np.gradient(self.points, axis=0)
        t /= np.linalg.norm(t, axis=1, keepdims=True)
        # n2 is the anterior direction in the section plane: compression by an artery in front
        # flattens a vein front-to-back, and the IVC is wider than it is deep. Vessels that run
        # front-to-back fall back to the cranial direction.
        ref = np.where(np.abs(t @ AXIS_A)[:, None] > 0.95, AXIS_S, AXIS_A)
        n2 = ref - np.sum(ref * t, axis=1, keepdims=True) * t
        n2 /= np.linalg.norm(n2, axis=1, keepdims=True)
        n1 = np.cross(n2, t)
        if self.roll_deg:
            c, s = math.cos(math.radians(self.roll_deg)), math.sin(math.radians(self.roll_deg))
            n1, n2 = c * n1 + s * n2, -s * n1 + c * n2
        self.t, self.n1, self.n2 = t, n1, n2

    def outer_radius(self) -> np.ndarray:
        """Per sample, the largest distance from the centre to the wall (at most): the larger
        semi-axis, times the largest bulge of an irregular section."""
        r = np.maximum(self.a, self.b)
        if self.harmonics is not None:
            r = r * (1.0 + np.abs(self.harmonics[:, :, 0]).sum(axis=1))
        return r

    @property
    def max_radius(self) -> float:
        if self.harmonics is not None:
            return float(self.outer_radius().max())
        return float(max(self.a.max(), self.b.max()))

    def bounds(self, margin: float) -> tuple[np.ndarray, np.ndarray]:
        r = self.max_radius + margin
        return self.points.min(axis=0) - r, self.points.max(axis=0) + r

    def chunk_bounds(self, margin: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Boxes around successive pieces of the tube, about two radii long each.

        An oblique tube's own box is mostly empty; boxes around short pieces hug it, which cuts
        the number of voxels whose distance is computed several times over.
        """
        r = self.outer_radius() + margin
        length = max(2.0 * float(r.max()), 8.0)
        s = arc_length(self.points)
        edges = np.searchsorted(s, np.arange(0.0, s[-1] + length, length))
        boxes = []
        for i0, i1 in itertools.pairwise(edges):
            i1 = min(max(i1 + 1, i0 + 1), len(s))
            piece = self.points[i0:i1]
            # The piece's chord, and how far the piece strays from it: a cheap first filter.
            p0, p1 = piece[0], piece[-1]
            bend = float(distance_to_segment(piece, p0, p1).max())
            rr = r[i0:i1].max()
            boxes.append((piece.min(axis=0) - rr, piece.max(axis=0) + rr, p0, p1, rr + bend))
        return boxes

    def signed_distance(self, q: np.ndarray, reach: float) -> np.ndarray:
        """Approximate signed distance (mm) from points q (M, 3) to the wall; +inf beyond reach.

        The nearest centerline sample defines the section plane; in that plane the distance
        along the ray from the centre is |p| (1 - 1/rho) with rho the elliptical radius (divided
        by the shape factor of an irregular section), exact for circles and close for the mild
        ellipses here. Capped ends are flat or round.
        """
        from scipy.spatial import cKDTree

        if getattr(self, "_tree", None) is None:
            self._tree = cKDTree(self.points)
        dist, idx = self._tree.query(q, distance_upper_bound=self.max_radius + reach, workers=-1)
        out = np.full(len(q), np.inf, dtype=np.float32)
        hit = np.isfinite(dist)
        if not np.any(hit):
            return out
        idx = idx[hit]
        v = q[hit] - self.points[idx]
        x = np.einsum("ij,ij->i", v, self.n1[idx])
        y = np.einsum("ij,ij->i", v, self.n2[idx])
        a, b = self.a[idx], self.b[idx]
        rho = np.sqrt((x / a) ** 2 + (y / b) ** 2)
        if self.harmonics is not None:
            rho = rho / self.shape_factor(idx, np.arctan2(y, x))
        rp = np.sqrt(x * x + y * y)
        d = np.where(rho > 1e-6, rp * (1.0 - 1.0 / np.maximum(rho, 1e-6)), -np.minimum(a, b))
        if self.capped[0] or self.capped[1]:
            z = np.einsum("ij,ij->i", v, self.t[idx])
            for cap, end, beyond in ((self.capped[0], 0, -z), (self.capped[1], len(self.points) - 1, z)):
                sel = (idx == end) & (beyond > 0)
                if cap == "flat":
                    d[sel] = np.maximum(d[sel], beyond[sel])
                elif cap == "round":
                    c = np.minimum(a[sel], b[sel])
                    if self.harmonics is None:  # (the same sum as rho's, so the same bits as before)
                        rho2 = (x[sel] / a[sel]) ** 2 + (y[sel] / b[sel]) ** 2
                    else:
                        rho2 = rho[sel] ** 2
                    rho3 = np.sqrt(rho2 + (beyond[sel] / c) ** 2)
                    norm = np.sqrt(x[sel] ** 2 + y[sel] ** 2 + beyond[sel] ** 2)
                    d[sel] = norm * (1.0 - 1.0 / np.maximum(rho3, 1e-6))
        out[hit] = d
        return out

    def shape_factor(self, idx: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Radius of a non-elliptical section relative to the ellipse's, at angle theta (from n1)."""
        g = np.ones(np.shape(theta), dtype=float)
        if self.harmonics is None:
            return g
        for k in range(self.harmonics.shape[1]):
            g += self.harmonics[idx, k, 0] * np.cos((k + 2) * theta - self.harmonics[idx, k, 1])
        return g

    def radius_towards(self, idx: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Distance from the centre of samples ``idx`` to the wall in the in-plane unit directions ``u``."""
        x = np.einsum("ij,ij->i", u, self.n1[idx])
        y = np.einsum("ij,ij->i", u, self.n2[idx])
        r = 1.0 / np.sqrt((x / self.a[idx]) ** 2 + (y / self.b[idx]) ** 2)
        return r * self.shape_factor(idx, np.arctan2(y, x))

    def section_truth(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per sample: section area (mm2) and the smallest and largest chord through the centre
        (mm), integrated over 720 angles around the section."""
        theta = np.linspace(0.0, 2.0 * np.pi, 721)[:-1]
        n = len(self.points)
        idx = np.repeat(np.arange(n), len(theta))
        th = np.tile(theta, n)
        a, b = self.a[idx], self.b[idx]
        r = self.shape_factor(idx, th) / np.sqrt((np.cos(th) / a) ** 2 + (np.sin(th) / b) ** 2)
        r = r.reshape(n, len(theta))
        area = 0.5 * np.sum(r * r, axis=1) * (theta[1] - theta[0])
        chord = r[:, : len(theta) // 2] + r[:, len(theta) // 2 :]
        return area, chord.min(axis=1), chord.max(axis=1)

    def with_sections(self, points: np.ndarray, a: np.ndarray, b: np.ndarray, sel=slice(None)) -> Tube:
        """The same kind of tube (ends, roll, the harmonics of samples ``sel``) on new samples."""
        harm = None if self.harmonics is None else self.harmonics[sel]
        return Tube(points, a, b, capped=self.capped, roll_deg=self.roll_deg, harmonics=harm)


def make_tube(control, radius_knots, step, capped=(None, None), roll_deg=0.0, ellipticity=1.0) -> Tube:
    """Tube through control points; radius_knots = [(fraction of length, radius mm), ...]."""
    pts = resample_path(np.asarray(control, dtype=float), step)
    s = arc_length(pts)
    frac = s / s[-1]
    kf, kr = zip(*radius_knots, strict=True)
    r = np.interp(frac, kf, kr)
    # ellipticity = b / a at constant area: a = r / sqrt(e), b = r * sqrt(e)
    e = math.sqrt(ellipticity)
    return Tube(pts, r / e, r * e, capped=capped, roll_deg=roll_deg)


@dataclass
class Grid:
    origin: np.ndarray  # RAS of voxel (0, 0, 0) in [s, a, r] order of axes: (R0, A0, S0)
    spacing: np.ndarray  # (sr, sa, ss)
    shape: tuple[int, int, int]  # (nS, nA, nR)

    def axis(self, c: int) -> np.ndarray:
        n = self.shape[2 - c]
        return self.origin[c] + self.spacing[c] * np.arange(n)

    def block(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        """Index slices [s, a, r] of the voxels inside the RAS box [lo, hi], or None if empty."""
        sl = []
        for c in (2, 1, 0):
            n = self.shape[2 - c]
            i0 = max(math.floor((lo[c] - self.origin[c]) / self.spacing[c]), 0)
            i1 = min(math.ceil((hi[c] - self.origin[c]) / self.spacing[c]) + 1, n)
            if i1 <= i0:
                return None
            sl.append(slice(i0, i1))
        return tuple(sl)

    def points(self, blk: tuple[slice, slice, slice]) -> np.ndarray:
        s = self.axis(2)[blk[0]]
        a = self.axis(1)[blk[1]]
        r = self.axis(0)[blk[2]]
        ss, aa, rr = np.meshgrid(s, a, r, indexing="ij")
        return np.stack([rr.ravel(), aa.ravel(), ss.ravel()], axis=1)


class Canvas:
    """The image being painted, its truth labels, and partial-volume compositing."""

    def __init__(self, grid: Grid, background: float):
        self.grid = grid
        self.image = np.full(grid.shape, background, dtype=np.float32)
        self.labels = np.zeros(grid.shape, dtype=np.uint8)
        self.h = float(np.mean(grid.spacing))  # width of the partial-volume ramp

    def fraction(self, d: np.ndarray) -> np.ndarray:
        return np.clip(0.5 - d / self.h, 0.0, 1.0)

    def distance(
        self, tubes: list[Tube], grow: float = 0.0
    ) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray] | None:
        """Signed distance of the union of tubes on their common block, and which tube is nearest
        (computed up to ``grow`` mm plus two ramp widths outside the walls)."""
        reach_out = 2 * self.h + grow
        boxes = [t.bounds(reach_out) for t in tubes]
        lo = np.min([b[0] for b in boxes], axis=0)
        hi = np.max([b[1] for b in boxes], axis=0)
        blk = self.grid.block(lo, hi)
        if blk is None:
            return None
        shape = tuple(s.stop - s.start for s in blk)
        dmin = np.full(shape, np.inf, dtype=np.float32)
        which = np.full(shape, -1, dtype=np.int16)
        for n, tube in enumerate(tubes):
            for lo_c, hi_c, p0, p1, reach in tube.chunk_bounds(reach_out):
                sub = self.grid.block(lo_c, hi_c)
                if sub is None:
                    continue
                local = tuple(
                    slice(s.start - o.start, s.stop - o.start) for s, o in zip(sub, blk, strict=True)
                )
                pts = self.grid.points(sub)
                near = distance_to_segment(pts, p0, p1) <= reach
                d = np.full(len(pts), np.inf, dtype=np.float32)
                d[near] = tube.signed_distance(pts[near], reach_out)
                d = d.reshape(dmin[local].shape)
                view_d, view_w = dmin[local], which[local]
                closer = d < view_d
                view_d[closer] = d[closer]
                view_w[closer] = n
        return blk, dmin, which

    def paint(self, tubes: list[Tube], value: float, label: int | list[int] = 0, offset: float = 0.0):
        """Composite the union of tubes (shrunk by `offset` mm, grown by a negative one) with
        intensity `value`."""
        res = self.distance(tubes, max(-offset, 0.0))
        if res is None:
            return None
        blk, d, which = res
        self.paint_distance(blk, d + offset, value, label, which)
        return res

    def paint_distance(self, blk, d, value, label=0, which=None) -> None:
        f = self.fraction(d)
        img = self.image[blk]
        img += f * (value - img)
        if label:
            inside = d <= 0
            lab = self.labels[blk]
            if isinstance(label, list):
                lab[inside] = np.asarray(label, dtype=np.uint8)[which[inside]]
            else:
                lab[inside] = label


def branch_profile(s: np.ndarray, knots: list[tuple[float, float]]) -> np.ndarray:
    ks, kv = zip(*knots, strict=True)
    return np.interp(s, ks, kv)


def raised_cosine(s: np.ndarray, centre: float, half_width: float) -> np.ndarray:
    x = np.clip(np.abs(s - centre) / half_width, 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))

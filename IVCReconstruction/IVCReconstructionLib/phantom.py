"""Synthetic CT venograms of the iliocaval confluence with known truth.

The phantom is built from tubes: each vessel (and the spine, psoas, bowel, pelvic bones) is a
smooth centerline with an elliptical cross-section whose semi-axes vary along it. Every tube
gives a signed distance (mm, negative inside) on the voxels near it; the signed distance turns
into a partial-volume fraction (a linear ramp one voxel wide), and the fractions are composited
into the image in anatomical order, the veins last. The truth (labels, centerlines, diameters,
lesions, seeds) comes from the same tubes, so it is exact by construction rather than
measured back from the image.

Geometry is in RAS millimetres with S = 0 at the iliocaval confluence and R = 0 on the
midline. Anatomy and calibres follow ../shared/docs/domain.md section 6: IVC CE diameter
about 18-22 mm and elliptical (wider than deep), common iliac veins 13-16 mm, external iliac
veins 12-14 mm, inter-iliac angle 55-82 degrees, the left common iliac longer and more
horizontal than the right, the aortic bifurcation about 19 mm above the venous confluence and
the right common iliac artery crossing in front of the left common iliac vein.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from .phantom_truth import Phantom, TruthBranch, TruthLesion

MAX_SIZE_IJK = (512, 512, 400)

# Hounsfield units of the reference venogram (portal-venous / venous phase). Veins, arteries
# and kidneys overlap on purpose: intensity alone cannot tell them apart.
REFERENCE_HU = {
    "air": -1000.0,
    "fat": -95.0,
    "visceral": -70.0,
    "muscle": 50.0,
    "vein": 165.0,
    "artery": 180.0,
    "kidney": 170.0,
    "bowel_wall": 40.0,
    "bowel_content": 15.0,
    "gas": -900.0,
    "cortical_bone": 650.0,
    "cancellous_bone": 230.0,
    "disc": 80.0,
    "fibrosis": 45.0,
}

# Directions in RAS.
_R = np.array([1.0, 0.0, 0.0])
_A = np.array([0.0, 1.0, 0.0])
_S = np.array([0.0, 0.0, 1.0])


@dataclass
class PhantomOptions:
    """What to build. Lengths in mm; ratios are lesion area / healthy area.

    ``seed=None`` gives the reference anatomy; an integer draws a random variant (calibres,
    angles, lengths, levels, enhancement) from ranges around it, reproducibly.
    ``size_ijk=None`` fits the volume to the anatomy of interest (about 200 x 110 x 320 mm);
    a given size is centred on that region, so a large one shows the whole body with air around.
    """

    spacing_mm: float | tuple[float, float, float] = 1.0
    size_ijk: tuple[int, int, int] | None = None
    seed: int | None = None
    may_thurner_area_ratio: float | None = None
    ivc_occlusion_length_mm: float | None = None
    bilateral_iliac_area_ratio: float | None = None
    noise_hu: float = 12.0
    lps_orientation: bool = True  # voxels stored in LPS order, as DICOM and most CT files do

    def spacing(self) -> np.ndarray:
        s = np.broadcast_to(np.asarray(self.spacing_mm, dtype=float), (3,)).copy()
        return s

    def validate(self) -> None:
        """Raise ValueError naming the first option that cannot make a phantom."""
        s = self.spacing()
        if not np.all(np.isfinite(s)) or np.any(s < 0.3) or np.any(s > 4.0):
            raise ValueError(f"phantom spacing must be between 0.3 and 4 mm, got {[float(x) for x in s]}")
        if self.size_ijk is not None:
            size = tuple(int(n) for n in self.size_ijk)
            if len(size) != 3 or any(n < 16 for n in size):
                raise ValueError(f"phantom size must be three numbers of at least 16 voxels, got {size}")
            if any(n > m for n, m in zip(size, MAX_SIZE_IJK, strict=True)):
                raise ValueError(f"phantom size {size} exceeds the maximum {MAX_SIZE_IJK}")
        for name in ("may_thurner_area_ratio", "bilateral_iliac_area_ratio"):
            ratio = getattr(self, name)
            if ratio is not None and not 0.05 <= ratio <= 0.9:
                raise ValueError(
                    f"{name} must be between 0.05 and 0.9 (lesion area / healthy area), got {ratio}"
                )
        if self.ivc_occlusion_length_mm is not None and not 10.0 <= self.ivc_occlusion_length_mm <= 80.0:
            raise ValueError(
                f"ivc_occlusion_length_mm must be between 10 and 80 mm, got {self.ivc_occlusion_length_mm}"
            )
        if self.noise_hu < 0:
            raise ValueError(f"noise_hu must not be negative, got {self.noise_hu}")


# ---------------------------------------------------------------------------------------------
# Tubes: a centerline, an elliptical section along it, and the signed distance to its wall
# ---------------------------------------------------------------------------------------------


def _resample_path(control: np.ndarray, step: float) -> np.ndarray:
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


def _distance_to_segment(q: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Distance from points q (M, 3) to the segment p0-p1."""
    u = p1 - p0
    uu = float(u @ u)
    if uu < 1e-12:
        return np.linalg.norm(q - p0, axis=1)
    w = q - p0
    t = np.clip((w @ u) / uu, 0.0, 1.0)
    return np.linalg.norm(w - t[:, None] * u, axis=1)


def _arc_length(points: np.ndarray) -> np.ndarray:
    return np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]


@dataclass
class Tube:
    """A tube with an elliptical section: semi-axis `a` along n1, `b` along n2 (n2 ~ anterior)."""

    points: np.ndarray  # (N, 3) dense centerline samples
    a: np.ndarray  # (N,)
    b: np.ndarray  # (N,)
    # End shapes at (start, end): None runs on as a cylinder past the last sample, "flat" cuts
    # it square, "round" closes it with a half ellipsoid (branches meeting at the confluence).
    capped: tuple[str | None, str | None] = (None, None)
    roll_deg: float = 0.0  # rotation of the section axes about the tangent
    t: np.ndarray = field(init=False)
    n1: np.ndarray = field(init=False)
    n2: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        t = np.gradient(self.points, axis=0)
        t /= np.linalg.norm(t, axis=1, keepdims=True)
        # n2 is the anterior direction in the section plane: compression by an artery in front
        # flattens a vein front-to-back, and the IVC is wider than it is deep. Vessels that run
        # front-to-back fall back to the cranial direction.
        ref = np.where(np.abs(t @ _A)[:, None] > 0.95, _S, _A)
        n2 = ref - np.sum(ref * t, axis=1, keepdims=True) * t
        n2 /= np.linalg.norm(n2, axis=1, keepdims=True)
        n1 = np.cross(n2, t)
        if self.roll_deg:
            c, s = math.cos(math.radians(self.roll_deg)), math.sin(math.radians(self.roll_deg))
            n1, n2 = c * n1 + s * n2, -s * n1 + c * n2
        self.t, self.n1, self.n2 = t, n1, n2

    @property
    def max_radius(self) -> float:
        return float(max(self.a.max(), self.b.max()))

    def bounds(self, margin: float) -> tuple[np.ndarray, np.ndarray]:
        r = self.max_radius + margin
        return self.points.min(axis=0) - r, self.points.max(axis=0) + r

    def chunk_bounds(self, margin: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Boxes around successive pieces of the tube, about two radii long each.

        An oblique tube's own box is mostly empty; boxes around short pieces hug it, which cuts
        the number of voxels whose distance is computed several times over.
        """
        r = np.maximum(self.a, self.b) + margin
        length = max(2.0 * float(r.max()), 8.0)
        s = _arc_length(self.points)
        edges = np.searchsorted(s, np.arange(0.0, s[-1] + length, length))
        boxes = []
        for i0, i1 in itertools.pairwise(edges):
            i1 = min(max(i1 + 1, i0 + 1), len(s))
            piece = self.points[i0:i1]
            # The piece's chord, and how far the piece strays from it: a cheap first filter.
            p0, p1 = piece[0], piece[-1]
            bend = float(_distance_to_segment(piece, p0, p1).max())
            rr = r[i0:i1].max()
            boxes.append((piece.min(axis=0) - rr, piece.max(axis=0) + rr, p0, p1, rr + bend))
        return boxes

    def signed_distance(self, q: np.ndarray, reach: float) -> np.ndarray:
        """Approximate signed distance (mm) from points q (M, 3) to the wall; +inf beyond reach.

        The nearest centerline sample defines the section plane; in that plane the distance
        along the ray from the centre is |p| (1 - 1/rho) with rho the elliptical radius, exact
        for circles and close for the mild ellipses here. Capped ends are flat.
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
                    rho3 = np.sqrt((x[sel] / a[sel]) ** 2 + (y[sel] / b[sel]) ** 2 + (beyond[sel] / c) ** 2)
                    norm = np.sqrt(x[sel] ** 2 + y[sel] ** 2 + beyond[sel] ** 2)
                    d[sel] = norm * (1.0 - 1.0 / np.maximum(rho3, 1e-6))
        out[hit] = d
        return out


def _tube(control, radius_knots, step, capped=(None, None), roll_deg=0.0, ellipticity=1.0) -> Tube:
    """Tube through control points; radius_knots = [(fraction of length, radius mm), ...]."""
    pts = _resample_path(np.asarray(control, dtype=float), step)
    s = _arc_length(pts)
    frac = s / s[-1]
    kf, kr = zip(*radius_knots, strict=True)
    r = np.interp(frac, kf, kr)
    # ellipticity = b / a at constant area: a = r / sqrt(e), b = r * sqrt(e)
    e = math.sqrt(ellipticity)
    return Tube(pts, r / e, r * e, capped=capped, roll_deg=roll_deg)


# ---------------------------------------------------------------------------------------------
# The voxel grid, in RAS order internally ([s, a, r] indexing), flipped to LPS at the end
# ---------------------------------------------------------------------------------------------


@dataclass
class _Grid:
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


class _Canvas:
    """The image being painted, its truth labels, and partial-volume compositing."""

    def __init__(self, grid: _Grid, background: float):
        self.grid = grid
        self.image = np.full(grid.shape, background, dtype=np.float32)
        self.labels = np.zeros(grid.shape, dtype=np.uint8)
        self.h = float(np.mean(grid.spacing))  # width of the partial-volume ramp

    def fraction(self, d: np.ndarray) -> np.ndarray:
        return np.clip(0.5 - d / self.h, 0.0, 1.0)

    def distance(self, tubes: list[Tube]) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray] | None:
        """Signed distance of the union of tubes on their common block, and which tube is nearest."""
        boxes = [t.bounds(2 * self.h) for t in tubes]
        lo = np.min([b[0] for b in boxes], axis=0)
        hi = np.max([b[1] for b in boxes], axis=0)
        blk = self.grid.block(lo, hi)
        if blk is None:
            return None
        shape = tuple(s.stop - s.start for s in blk)
        dmin = np.full(shape, np.inf, dtype=np.float32)
        which = np.full(shape, -1, dtype=np.int16)
        for n, tube in enumerate(tubes):
            for lo_c, hi_c, p0, p1, reach in tube.chunk_bounds(2 * self.h):
                sub = self.grid.block(lo_c, hi_c)
                if sub is None:
                    continue
                local = tuple(
                    slice(s.start - o.start, s.stop - o.start) for s, o in zip(sub, blk, strict=True)
                )
                pts = self.grid.points(sub)
                near = _distance_to_segment(pts, p0, p1) <= reach
                d = np.full(len(pts), np.inf, dtype=np.float32)
                d[near] = tube.signed_distance(pts[near], 2 * self.h)
                d = d.reshape(dmin[local].shape)
                view_d, view_w = dmin[local], which[local]
                closer = d < view_d
                view_d[closer] = d[closer]
                view_w[closer] = n
        return blk, dmin, which

    def paint(self, tubes: list[Tube], value: float, label: int | list[int] = 0, offset: float = 0.0):
        """Composite the union of tubes (shrunk by `offset` mm) with intensity `value`."""
        res = self.distance(tubes)
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


# ---------------------------------------------------------------------------------------------
# Anatomy
# ---------------------------------------------------------------------------------------------


@dataclass
class _Anatomy:
    """The numbers that define one patient; drawn from ranges when a seed is given."""

    ivc_ce: float = 20.5  # mm
    ivc_ellipticity: float = 0.78  # AP / transverse
    renal_level: float = 115.0  # S of the left renal vein inflow above the confluence
    right_renal_offset: float = -6.0
    confluence_r: float = 10.0
    left_angle: float = 40.0  # degrees from the caudal vertical, in the coronal plane
    right_angle: float = 29.0
    lciv_ce: float = 15.0
    rciv_ce: float = 14.0
    leiv_ce: float = 13.0
    reiv_ce: float = 13.5
    cfv_ce: float = 12.0
    aortic_bifurcation: float = 19.0  # mm above the confluence
    aorta_d: float = 18.0
    vein_hu: float = REFERENCE_HU["vein"]
    artery_hu: float = REFERENCE_HU["artery"]
    kidney_hu: float = REFERENCE_HU["kidney"]

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Anatomy:
        u = rng.uniform
        left = u(34.0, 46.0)
        return cls(
            ivc_ce=u(18.5, 23.5),
            ivc_ellipticity=u(0.68, 0.9),
            renal_level=u(95.0, 130.0),
            right_renal_offset=u(-15.0, 8.0),
            confluence_r=u(6.0, 14.0),
            left_angle=left,
            right_angle=float(np.clip(u(55.0, 82.0) - left, 18.0, 40.0)),
            lciv_ce=u(13.5, 16.0),
            rciv_ce=u(12.5, 15.0),
            leiv_ce=u(12.0, 14.0),
            reiv_ce=u(12.0, 14.0),
            cfv_ce=u(11.0, 12.5),
            aortic_bifurcation=u(10.0, 30.0),
            aorta_d=u(16.0, 20.0),
            vein_hu=u(145.0, 200.0),
            artery_hu=u(150.0, 215.0),
            kidney_hu=u(150.0, 200.0),
        )


def _branch_profile(s: np.ndarray, knots: list[tuple[float, float]]) -> np.ndarray:
    ks, kv = zip(*knots, strict=True)
    return np.interp(s, ks, kv)


def _raised_cosine(s: np.ndarray, centre: float, half_width: float) -> np.ndarray:
    x = np.clip(np.abs(s - centre) / half_width, 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


@dataclass
class _Vein:
    """A vein branch: the tube and the truth quantities along it (dense samples)."""

    name: str
    tube: Tube
    s: np.ndarray  # arc length from the confluence
    healthy_a: np.ndarray
    healthy_b: np.ndarray
    landmarks: dict[str, float] = field(default_factory=dict)  # e.g. civ_end


def _iliac_path(conf: np.ndarray, side: int, angle_deg: float, an: _Anatomy) -> np.ndarray:
    """Control points of an iliac vein from the confluence to below the inguinal ligament.

    side = -1 for the patient's left (smaller R), +1 for the right. The first segment leaves
    the confluence at `angle_deg` from the caudal vertical; the left one then runs more
    horizontally and longer (about 70 mm against 50 mm on the right) before the internal
    iliac vein joins, the external iliac vein runs along the pelvic brim and turns forward to
    the inguinal ligament, and the common femoral vein leaves the volume caudally.
    """
    th = math.radians(angle_deg)
    first = conf + 14.0 * np.array([side * math.sin(th), -0.15, -math.cos(th)])
    if side < 0:
        civ = [first, [-22.0, -13.0, -30.0], [-40.0, -14.0, -50.0]]
        eiv = [[-58.0, -9.0, -85.0], [-70.0, 6.0, -120.0], [-74.0, 13.0, -150.0], [-76.0, 15.0, -260.0]]
    else:
        civ = [first, [30.0, -13.0, -30.0], [38.0, -14.0, -44.0]]
        eiv = [[54.0, -9.0, -82.0], [66.0, 6.0, -120.0], [70.0, 13.0, -150.0], [72.0, 15.0, -260.0]]
    return np.vstack([conf, *civ, *eiv])


def _build_veins(an: _Anatomy, opts: PhantomOptions, step: float):
    conf = np.array([an.confluence_r, -8.0, 0.0])
    veins: dict[str, _Vein] = {}

    # IVC: from the confluence up, drifting a little right and forward, out of the volume's top.
    ivc_pts = _resample_path(
        np.array(
            [
                conf,
                conf + [3.0, 1.5, 45.0],
                conf + [6.0, 4.0, 110.0],
                conf + [7.0, 6.0, 200.0],
                conf + [7.0, 7.0, 320.0],
            ]
        ),
        step,
    )
    s = _arc_length(ivc_pts)
    r = an.ivc_ce / 2.0
    # The suprarenal IVC is wider (renal return); a slow undulation keeps it from being a cylinder.
    scale = 1.0 + 0.04 * np.sin(s / 23.0) + 0.12 * np.clip((s - an.renal_level - 5.0) / 20.0, 0.0, 1.0)
    e = math.sqrt(an.ivc_ellipticity)
    ivc_a, ivc_b = r * scale / e, r * scale * e
    veins["ivc"] = _Vein(
        "ivc",
        Tube(ivc_pts, ivc_a.copy(), ivc_b.copy(), capped=("round", None), roll_deg=12.0),
        s,
        ivc_a,
        ivc_b,
    )

    for name, side, angle, civ_ce, eiv_ce in (
        ("left_iliac", -1, an.left_angle, an.lciv_ce, an.leiv_ce),
        ("right_iliac", 1, an.right_angle, an.rciv_ce, an.reiv_ce),
    ):
        pts = _resample_path(_iliac_path(conf, side, angle, an), step)
        s = _arc_length(pts)
        # The common iliac vein ends where the internal iliac vein joins: the third control point.
        ctrl = _iliac_path(conf, side, angle, an)
        civ_end = float(s[np.argmin(np.linalg.norm(pts - ctrl[3], axis=1))])
        inguinal = float(s[np.argmin(np.linalg.norm(pts - ctrl[5], axis=1))])
        ce = _branch_profile(
            s,
            [
                (0.0, civ_ce),
                (civ_end, civ_ce),
                (civ_end + 15.0, eiv_ce),
                (inguinal, eiv_ce),
                (inguinal + 20.0, an.cfv_ce),
                (1e4, an.cfv_ce),
            ],
        )
        # Iliac veins are mildly elliptical too (wider than deep).
        a, b = ce / 2.0 / math.sqrt(0.9), ce / 2.0 * math.sqrt(0.9)
        # The right common iliac artery crosses the left common iliac vein 20 mm from the
        # confluence (the May-Thurner site, see _arteries).
        marks = {"civ_end": civ_end, "inguinal": inguinal, "crossing": 20.0}
        veins[name] = _Vein(name, Tube(pts, a.copy(), b.copy(), capped=("round", None)), s, a, b, marks)
    return conf, veins


def _apply_lesions(veins: dict[str, _Vein], opts: PhantomOptions) -> list[TruthLesion]:
    """Narrow the tubes in place; return the lesions as plan.json would describe them."""
    lesions: list[TruthLesion] = []

    def stenosis(v: _Vein, centre: float, half: float, ratio: float, flatten: bool):
        w = _raised_cosine(v.s, centre, half)
        # A flattened (compressed) vein widens as it thins, roughly keeping its perimeter; a
        # concentric narrowing shrinks both axes.
        ka = min(1.5, ratio**-0.35) if flatten else math.sqrt(ratio)
        kb = ratio / ka
        a = v.tube.a * (1.0 - w * (1.0 - ka))
        b = v.tube.b * (1.0 - w * (1.0 - kb))
        points = v.tube.points
        if flatten:
            # The artery in front pushes the anterior wall back against the spine, whose
            # posterior wall stays put: the lumen centre moves back by the loss of depth.
            points = points - v.tube.n2 * (v.tube.b - b)[:, None]
        v.tube = Tube(points, a, b, capped=v.tube.capped, roll_deg=v.tube.roll_deg)
        area = np.pi * a * b
        healthy = np.pi * v.healthy_a * v.healthy_b
        rel = area / healthy
        # Extent: where the area loss is at least half of the loss at the narrowest point.
        inside = rel <= (1.0 + ratio) / 2.0
        i = int(np.argmin(rel))
        lesions.append(
            TruthLesion(
                v.name,
                "stenosis",
                float(v.s[inside].min()),
                float(v.s[inside].max()),
                float(area[i]),
                float(healthy[i]),
            )
        )

    if opts.may_thurner_area_ratio is not None:
        # Where the right common iliac artery crosses the left common iliac vein (see _arteries).
        v = veins["left_iliac"]
        stenosis(v, v.landmarks["crossing"], 12.0, opts.may_thurner_area_ratio, flatten=True)
    if opts.bilateral_iliac_area_ratio is not None:
        for name in ("left_iliac", "right_iliac"):
            v = veins[name]
            centre = 0.55 * v.landmarks["civ_end"]
            if name == "left_iliac" and opts.may_thurner_area_ratio is not None:
                centre = max(centre, v.landmarks["crossing"] + 26.0)
            stenosis(v, centre, 10.0, opts.bilateral_iliac_area_ratio, flatten=False)
    return lesions


def _occlude_ivc(veins: dict[str, _Vein], length: float, start: float):
    """Split the IVC into two lumens with tapered stumps around a stretch with no lumen.

    Returns the two lumen tubes, the fibrotic cord (no lumen, soft-tissue density) and the lesion.
    """
    v = veins["ivc"]
    end = start + length
    taper = 6.0
    scale = np.clip(np.maximum(start - v.s, v.s - end) / taper, 0.0, 1.0)
    scale = np.sqrt(np.clip(scale, 0.0, 1.0))  # rounded stumps
    v.tube.a = v.healthy_a * scale
    v.tube.b = v.healthy_b * scale
    pts, a, b = v.tube.points, v.tube.a, v.tube.b
    below = v.s < start - 0.5
    above = v.s > end + 0.5
    lumens = [
        Tube(
            pts[below],
            np.maximum(a[below], 0.3),
            np.maximum(b[below], 0.3),
            capped=("round", "flat"),
            roll_deg=12.0,
        ),
        Tube(
            pts[above],
            np.maximum(a[above], 0.3),
            np.maximum(b[above], 0.3),
            capped=("flat", None),
            roll_deg=12.0,
        ),
    ]
    cord_sel = (v.s > start - taper) & (v.s < end + taper)
    cord = Tube(
        pts[cord_sel],
        0.55 * v.healthy_a[cord_sel],
        0.55 * v.healthy_b[cord_sel],
        capped=("flat", "flat"),
        roll_deg=12.0,
    )
    mid = int(np.argmin(np.abs(v.s - (start + end) / 2)))
    lesion = TruthLesion(
        "ivc", "occlusion", float(start), float(end), 0.0, float(np.pi * v.healthy_a[mid] * v.healthy_b[mid])
    )
    return lumens, cord, lesion


def _point_at(v: _Vein, s: float) -> np.ndarray:
    return v.tube.points[int(np.argmin(np.abs(v.s - s)))]


def _offset_along(v: _Vein, s_values, anterior: float, lateral: float, gap: float, r_art) -> np.ndarray:
    """Points beside a vein: at each arc length, off the wall by `gap` in a blend of directions.

    The wall is the vein's current one (after any compression), so an artery laid along these
    points touches the vein where it compresses it.
    """
    out = []
    side = np.sign(v.tube.points[-1, 0] - v.tube.points[0, 0])
    for k, s in enumerate(s_values):
        i = int(np.argmin(np.abs(v.s - s)))
        lat = v.tube.n1[i] * np.sign(v.tube.n1[i] @ _R) * side
        d = anterior * v.tube.n2[i] + lateral * lat
        d /= np.linalg.norm(d)
        wall = math.hypot(v.tube.a[i] * (d @ v.tube.n1[i]), v.tube.b[i] * (d @ v.tube.n2[i]))
        ra = r_art[k] if np.ndim(r_art) else r_art
        out.append(v.tube.points[i] + d * (wall + ra + gap))
    return np.array(out)


def _arteries(an: _Anatomy, veins: dict[str, _Vein], obstacles: list[Tube], step: float) -> list[Tube]:
    """Aorta and iliac arteries. The right common iliac artery crosses in front of the left
    common iliac vein (the May-Thurner site); the iliac arteries then run in front of and
    lateral to their veins, touching them, as they do down to the inguinal ligament."""
    left, right = veins["left_iliac"], veins["right_iliac"]
    ra = an.aorta_d / 2.0
    bif = np.array([-6.0, 1.0, an.aortic_bifurcation])
    aorta = _tube(
        [[-12.0, -2.0, 330.0], [-11.0, -2.0, 160.0], [-9.0, -1.0, 70.0], bif + [0, 0, 10.0], bif],
        [(0.0, ra), (0.85, ra * 0.92), (1.0, ra * 0.85)],
        step,
        capped=(None, "round"),
    )
    crossing = left.landmarks["crossing"]
    r_cia, r_eia = 5.0, 4.0
    x = _offset_along(left, [crossing], anterior=1.0, lateral=0.0, gap=0.3, r_art=r_cia)[0]
    rs = [
        32.0,
        55.0,
        right.landmarks["civ_end"] + 30.0,
        right.landmarks["inguinal"] - 10.0,
        right.landmarks["inguinal"] + 25.0,
    ]
    rcia = np.vstack(
        [
            bif,
            x,
            _offset_along(right, rs, 1.0, 0.35, 0.4, r_cia)[:2],
            _offset_along(right, rs[2:], 0.35, 1.0, 0.4, r_eia),
            [_point_at(right, 1e4) + [12.0, 0.0, 0.0]],
        ]
    )
    ls = [
        35.0,
        left.landmarks["civ_end"],
        left.landmarks["civ_end"] + 30.0,
        left.landmarks["inguinal"] - 10.0,
        left.landmarks["inguinal"] + 25.0,
    ]
    lcia = np.vstack(
        [
            bif,
            _offset_along(left, ls[:2], 1.0, 0.6, 0.4, r_cia),
            _offset_along(left, ls[2:], 0.35, 1.0, 0.4, r_eia),
            [_point_at(left, 1e4) - [12.0, 0.0, 0.0]],
        ]
    )
    knots = [(0.0, ra * 0.62), (0.08, r_cia), (0.4, r_cia), (0.55, r_eia), (1.0, r_eia)]
    iliacs = [_clear_of(_tube(p, knots, step, capped=("round", None)), obstacles, 0.3) for p in (rcia, lcia)]
    return [_clear_of(aorta, obstacles, 0.5), *iliacs]


def _clear_of(tube: Tube, obstacles: list[Tube], gap: float) -> Tube:
    """Move a tube's samples forward until they clear the obstacles' walls by `gap` mm.

    Arteries are laid out from a few control points; between them a spline can cut into a
    vein. Pushing anteriorly (arteries lie in front of the iliocaval veins) keeps them
    touching without overlapping, which is the hard case a segmentation must handle.
    """
    from scipy.ndimage import gaussian_filter1d

    pts = tube.points.copy()
    r = np.maximum(tube.a, tube.b)
    for _ in range(6):
        need = np.zeros(len(pts))
        for ob in obstacles:
            d = ob.signed_distance(pts, reach=r.max() + gap + 1.0)
            need = np.maximum(need, np.where(np.isfinite(d), r + gap - d, 0.0))
        if need.max() <= 0.05:
            break
        push = gaussian_filter1d(np.maximum(need, 0.0), sigma=6.0, mode="nearest")
        push = np.maximum(push, need)
        pts[:, 1] += push
    return Tube(pts, tube.a, tube.b, capped=tube.capped, roll_deg=tube.roll_deg)


def _other_veins(an: _Anatomy, veins: dict[str, _Vein], step: float, occlusion: tuple[float, float] | None):
    """Renal veins (to the kidney hila), internal iliac veins and, with an occlusion, collaterals."""
    ivc = veins["ivc"]
    tubes = []
    inflows = {}
    # Left renal vein: long, passes in front of the aorta to the left kidney.
    p_l = _point_at(ivc, an.renal_level)
    inflows["left"] = p_l
    tubes.append(
        _tube(
            [
                p_l,
                p_l + [-14.0, 17.0, 2.0],
                [-30.0, 12.0, p_l[2] + 6.0],
                [-48.0, -4.0, p_l[2] + 9.0],
                [-62.0, -16.0, p_l[2] + 10.0],
            ],
            [(0.0, 4.6), (1.0, 4.2)],
            step,
            capped=("round", "flat"),
        )
    )
    p_r = _point_at(ivc, an.renal_level + an.right_renal_offset)
    inflows["right"] = p_r
    tubes.append(
        _tube(
            [p_r, p_r + [16.0, -4.0, 3.0], [50.0, -17.0, p_r[2] + 7.0], [60.0, -20.0, p_r[2] + 9.0]],
            [(0.0, 4.4), (1.0, 4.0)],
            step,
            capped=("round", "flat"),
        )
    )
    # Internal iliac veins, back and down into the pelvis from the end of each common iliac vein.
    for name, side in (("left_iliac", -1.0), ("right_iliac", 1.0)):
        v = veins[name]
        p = _point_at(v, v.landmarks["civ_end"])
        tubes.append(
            _tube(
                [
                    p,
                    p + [side * 3.0, -14.0, -12.0],
                    p + [-side * 6.0, -30.0, -35.0],
                    p + [-side * 10.0, -38.0, -60.0],
                ],
                [(0.0, 5.0), (1.0, 3.5)],
                step,
                capped=("round", "flat"),
            )
        )
    if occlusion is not None:
        # Paravertebral collaterals (ascending lumbar-like) from each common iliac vein to the IVC
        # above the occlusion: a segmentation must report the occlusion, not follow these.
        top = _point_at(ivc, occlusion[1] + 20.0)
        for name, side in (("left_iliac", -1.0), ("right_iliac", 1.0)):
            v = veins[name]
            p = _point_at(v, 0.6 * v.landmarks["civ_end"])
            mid_s = (p[2] + top[2]) / 2
            tubes.append(
                _tube(
                    [
                        p,
                        [side * 27.0, -22.0, p[2] + 12.0],
                        [side * 30.0, -24.0, mid_s - 15.0],
                        [side * 27.0, -22.0, mid_s + 15.0],
                        [side * 22.0, -18.0, top[2] - 8.0],
                        top,
                    ],
                    [(0.0, 2.8), (1.0, 2.8)],
                    step,
                    capped=("round", "round"),
                )
            )
    return tubes, inflows


def _kidneys(an: _Anatomy, step: float) -> list[Tube]:
    out = []
    for side, level in ((-1.0, an.renal_level + 10.0), (1.0, an.renal_level + an.right_renal_offset + 5.0)):
        c = np.array([side * 80.0, -28.0, level])
        # A kidney as a short fat tube with rounded ends: long axis nearly cranio-caudal.
        out.append(
            _tube(
                [c + [side * -6.0, 3.0, -55.0], c, c + [side * 8.0, -3.0, 55.0]],
                [(0.0, 8.0), (0.15, 22.0), (0.5, 26.0), (0.85, 22.0), (1.0, 8.0)],
                step,
                capped=("flat", "flat"),
                ellipticity=0.75,
            )
        )
    return out


def _bowel(rng: np.random.Generator | None, step: float) -> list[tuple[Tube, float]]:
    """Bowel loops in front of the vessels: (tube, gas level as a fraction of the radius)."""
    loops = [
        [
            [-60.0, 38.0, 60.0],
            [-20.0, 45.0, 40.0],
            [20.0, 40.0, 55.0],
            [55.0, 50.0, 30.0],
            [30.0, 55.0, 0.0],
            [-20.0, 52.0, -10.0],
            [-55.0, 45.0, 10.0],
        ],
        [[-70.0, 40.0, -40.0], [-50.0, 36.0, -75.0], [-20.0, 45.0, -95.0], [15.0, 40.0, -85.0]],
        [[70.0, 36.0, -40.0], [62.0, 40.0, 10.0], [70.0, 38.0, 70.0], [40.0, 50.0, 110.0]],
    ]
    out = []
    for k, ctrl in enumerate(loops):
        ctrl = np.array(ctrl)
        if rng is not None:
            ctrl = ctrl + rng.uniform(-6.0, 6.0, size=ctrl.shape) * [1.0, 0.4, 1.0]
        r = 13.0 if k else 11.0
        out.append(
            (_tube(ctrl, [(0.0, r), (1.0, r)], step, capped=("flat", "flat")), 0.35 if k != 1 else -0.1)
        )
    return out


def _skeleton(step: float) -> tuple[list[Tube], list[Tube]]:
    """Vertebral bodies (L5 at the confluence, up to T12), sacrum, iliac wings, femoral heads
    and pubic rami; returns (bones, intervertebral discs)."""
    bones, discs = [], []
    centre_a = -37.0
    for k in range(6):
        c = -12.0 + 36.0 * k
        bones.append(
            _tube(
                [[0.0, centre_a, c - 13.5], [0.0, centre_a, c + 13.5]],
                [(0.0, 19.0), (1.0, 19.0)],
                step,
                capped=("flat", "flat"),
                ellipticity=0.78,
            )
        )
        discs.append(
            _tube(
                [[0.0, centre_a, c + 13.5], [0.0, centre_a, c + 22.5]],
                [(0.0, 18.0), (1.0, 18.0)],
                step,
                capped=("flat", "flat"),
                ellipticity=0.78,
            )
        )
    bones.append(
        _tube(
            [[0.0, -42.0, -35.0], [0.0, -60.0, -75.0], [0.0, -75.0, -115.0]],
            [(0.0, 26.0), (1.0, 12.0)],
            step,
            capped=("flat", "flat"),
            ellipticity=0.4,
        )
    )
    for side in (-1.0, 1.0):
        bones.append(
            _tube(
                [[side * 62.0, -62.0, -10.0], [side * 95.0, -35.0, -45.0], [side * 100.0, -15.0, -95.0]],
                [(0.0, 20.0), (0.5, 26.0), (1.0, 18.0)],
                step,
                capped=("flat", "flat"),
                ellipticity=0.3,
                roll_deg=-side * 40.0,
            )
        )
        bones.append(
            _tube(
                [[side * 100.0, -12.0, -150.0], [side * 100.0, -12.0, -120.0]],
                [(0.0, 22.0), (1.0, 22.0)],
                step,
                capped=("flat", "flat"),
            )
        )
        bones.append(
            _tube(
                [[side * 92.0, -6.0, -160.0], [side * 40.0, 22.0, -172.0], [side * 6.0, 34.0, -175.0]],
                [(0.0, 8.0), (1.0, 7.0)],
                step,
                capped=("flat", "flat"),
            )
        )
    return bones, discs


def _muscles(step: float) -> list[Tube]:
    out = []
    for side in (-1.0, 1.0):
        # Psoas: beside the spine, then lateral to the external iliac vessels (iliopsoas).
        out.append(
            _tube(
                [
                    [side * 33.0, -32.0, 200.0],
                    [side * 40.0, -34.0, 60.0],
                    [side * 50.0, -36.0, 0.0],
                    [side * 78.0, -27.0, -85.0],
                    [side * 92.0, -8.0, -140.0],
                    [side * 94.0, 0.0, -260.0],
                ],
                [(0.0, 11.0), (0.4, 18.0), (0.7, 17.0), (1.0, 15.0)],
                step,
            )
        )
        # Paraspinal muscles behind the spine.
        out.append(
            _tube(
                [[side * 28.0, -80.0, 260.0], [side * 28.0, -82.0, -120.0]],
                [(0.0, 24.0), (1.0, 22.0)],
                step,
                ellipticity=0.8,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------

# The anatomy of interest (RAS, mm) that a default-size phantom covers.
_ROI_LO = np.array([-100.0, -62.0, -160.0])
_ROI_HI = np.array([100.0, 58.0, 165.0])


def _grid_for(opts: PhantomOptions, top: float) -> _Grid:
    spacing = opts.spacing()
    lo, hi = _ROI_LO.copy(), _ROI_HI.copy()
    hi[2] = max(top, lo[2] + 100.0)
    if opts.size_ijk is None:
        n = np.ceil((hi - lo) / spacing).astype(int) + 1
        origin = lo
    else:
        n = np.array(opts.size_ijk, dtype=int)  # (i, j, k) ~ (R, A, S) extents
        origin = (lo + hi) / 2.0 - (n - 1) * spacing / 2.0
    return _Grid(origin=origin, spacing=spacing, shape=(int(n[2]), int(n[1]), int(n[0])))


def _body(canvas: _Canvas, rng: np.random.Generator) -> None:
    """Body outline (air outside), subcutaneous fat, abdominal wall, visceral fat with texture."""
    g = canvas.grid
    r = g.axis(0)[None, :]
    a = g.axis(1)[:, None]

    def ellipse_distance(cr, ca, sr, sa):
        x, y = (r - cr) / sr, (a - ca) / sa
        rho = np.sqrt(x * x + y * y)
        rp = np.sqrt((r - cr) ** 2 + (a - ca) ** 2)
        return np.where(rho > 1e-6, rp * (1.0 - 1.0 / np.maximum(rho, 1e-6)), -min(sr, sa))

    for (sr, sa), value in (
        ((165.0, 118.0), REFERENCE_HU["fat"]),
        ((150.0, 103.0), REFERENCE_HU["muscle"]),
        ((140.0, 93.0), REFERENCE_HU["visceral"]),
    ):
        f = canvas.fraction(ellipse_distance(0.0, -8.0, sr, sa)).astype(np.float32)
        canvas.image += f[None] * (value - canvas.image)
    # Low-frequency texture of the visceral fat and soft tissue (about +-20 HU over 1-3 cm),
    # made coarse and interpolated up so it costs little at any size.
    from scipy.ndimage import zoom

    coarse_shape = tuple(max(int(n * sp / 12.0), 2) for n, sp in zip(g.shape, g.spacing[::-1], strict=True))
    coarse = rng.normal(0.0, 20.0, size=coarse_shape).astype(np.float32)
    texture = zoom(coarse, [n / c for n, c in zip(g.shape, coarse_shape, strict=True)], order=1)
    texture = texture[: g.shape[0], : g.shape[1], : g.shape[2]]
    inner = canvas.fraction(ellipse_distance(0.0, -8.0, 140.0, 93.0)).astype(np.float32)
    canvas.image += texture * inner[None]


def make_phantom(options: PhantomOptions | None = None) -> Phantom:
    """Build a synthetic CT venogram of the iliocaval confluence and its truth.

    :param options: what to build (spacing, size, lesions, random variant); defaults to the
        healthy reference anatomy at 1 mm.
    :raises ValueError: when an option is out of range (the message names it).
    """
    opts = options or PhantomOptions()
    opts.validate()
    rng = np.random.default_rng(opts.seed if opts.seed is not None else 20260101)
    an = _Anatomy() if opts.seed is None else _Anatomy.draw(rng)
    step = float(min(0.5, opts.spacing().min() / 2.0))

    conf, veins = _build_veins(an, opts, step)
    lesions = _apply_lesions(veins, opts)
    grid = _grid_for(opts, top=an.renal_level + 45.0)

    occlusion = None
    vein_tubes = [veins["ivc"].tube, veins["left_iliac"].tube, veins["right_iliac"].tube]
    vein_labels = [1, 2, 3]
    cord = None
    if opts.ivc_occlusion_length_mm is not None:
        start = 22.0 if opts.seed is None else float(rng.uniform(18.0, 30.0))
        start = min(start, an.renal_level - opts.ivc_occlusion_length_mm - 15.0)
        lumens, cord, lesion = _occlude_ivc(veins, opts.ivc_occlusion_length_mm, max(start, 15.0))
        occlusion = (lesion.start_mm, lesion.end_mm)
        lesions.insert(0, lesion)
        vein_tubes = [*lumens, veins["left_iliac"].tube, veins["right_iliac"].tube]
        vein_labels = [1, 1, 2, 3]
    arteries = _arteries(an, veins, vein_tubes, step)
    others, inflows = _other_veins(an, veins, step, occlusion)
    bones, discs = _skeleton(step)

    canvas = _Canvas(grid, REFERENCE_HU["air"])
    _body(canvas, rng)
    canvas.paint(_muscles(step), REFERENCE_HU["muscle"])
    canvas.paint(_kidneys(an, step), an.kidney_hu, label=6)
    for tube, gas_level in _bowel(None if opts.seed is None else rng, step):
        res = canvas.paint([tube], REFERENCE_HU["bowel_wall"], label=7)
        if res is None:
            continue
        blk, d, _ = res
        canvas.paint_distance(blk, d + 2.5, REFERENCE_HU["bowel_content"])
        # Gas rises to the front of a loop in a supine patient: the anterior part of the lumen.
        pts = grid.points(blk)
        from scipy.spatial import cKDTree

        _, idx = cKDTree(tube.points).query(pts, workers=-1)
        y = np.einsum("ij,ij->i", pts - tube.points[idx], tube.n2[idx]).reshape(d.shape)
        gas_d = np.maximum(d + 2.5, gas_level * tube.b[idx].reshape(d.shape) - y)
        canvas.paint_distance(blk, gas_d, REFERENCE_HU["gas"])
    canvas.paint(discs, REFERENCE_HU["disc"])
    res = canvas.paint(bones, REFERENCE_HU["cortical_bone"], label=8)
    if res is not None:
        blk, d, _ = res
        canvas.paint_distance(blk, d + 2.0, REFERENCE_HU["cancellous_bone"])
    canvas.paint(arteries, an.artery_hu, label=5)
    if cord is not None:
        canvas.paint([cord], REFERENCE_HU["fibrosis"], label=9)
    canvas.paint(others, an.vein_hu, label=4)
    canvas.paint(vein_tubes, an.vein_hu, label=vein_labels)

    image = canvas.image
    if opts.noise_hu > 0:
        image += _noise(grid.shape, opts.noise_hu, rng)
    image = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
    labels = canvas.labels

    branches = {
        name: _truth_branch(veins[name], veins, grid, lesions)
        for name in ("ivc", "left_iliac", "right_iliac")
    }
    seeds = {
        "IVC": _seed(branches["ivc"], from_end=15.0),
        "Left": _seed(branches["left_iliac"], from_end=15.0),
        "Right": _seed(branches["right_iliac"], from_end=15.0),
    }
    if occlusion is not None:
        seeds["Via"] = _point_at(veins["ivc"], (occlusion[0] + occlusion[1]) / 2.0)
    renal = inflows["left"] if inflows["left"][2] < inflows["right"][2] else inflows["right"]

    image, labels, ijk_to_ras = _to_orientation(image, labels, grid, opts.lps_orientation)
    return Phantom(
        image=image,
        labels=labels,
        ijk_to_ras=ijk_to_ras,
        branches=branches,
        confluence_ras=conf.copy(),
        renal_inflow_ras=renal.copy(),
        renal_inflows_ras={k: v.copy() for k, v in inflows.items()},
        lesions=lesions,
        seeds=seeds,
        inter_iliac_angle_deg=_inter_iliac_angle(veins),
        enhancement_hu={
            "vein": an.vein_hu,
            "artery": an.artery_hu,
            "kidney": an.kidney_hu,
            "fibrosis": REFERENCE_HU["fibrosis"],
            "noise": opts.noise_hu,
        },
        options=opts,
        branch_landmarks_mm={
            name: {"civ_end": veins[name].landmarks["civ_end"], "inguinal": veins[name].landmarks["inguinal"]}
            for name in ("left_iliac", "right_iliac")
        },
    )


def _noise(shape: tuple[int, int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """CT-like noise: Gaussian, slightly correlated between neighbours, with standard deviation sigma."""
    from scipy.ndimage import uniform_filter1d

    noise = rng.standard_normal(size=shape, dtype=np.float32)
    # A 2-voxel box in-plane correlates neighbours as reconstruction kernels do; it divides the
    # standard deviation by 2, which the factor restores.
    uniform_filter1d(noise, 2, axis=1, output=noise)
    uniform_filter1d(noise, 2, axis=2, output=noise)
    noise *= 2.0 * sigma
    return noise


def _to_orientation(image, labels, grid: _Grid, lps: bool):
    sr, sa, ss = grid.spacing
    r0, a0, s0 = grid.origin
    _, na, nr = grid.shape
    m = np.eye(4)
    if lps:
        image = np.ascontiguousarray(image[:, ::-1, ::-1])
        labels = np.ascontiguousarray(labels[:, ::-1, ::-1])
        m[:3, :3] = np.diag([-sr, -sa, ss])
        m[:3, 3] = [r0 + (nr - 1) * sr, a0 + (na - 1) * sa, s0]
    else:
        m[:3, :3] = np.diag([sr, sa, ss])
        m[:3, 3] = [r0, a0, s0]
    return image, labels, m


def _inter_iliac_angle(veins: dict[str, _Vein]) -> float:
    """Angle between the first 15 mm of the two common iliac veins."""
    dirs = []
    for name in ("left_iliac", "right_iliac"):
        v = veins[name]
        p = _point_at(v, 15.0) - v.tube.points[0]
        dirs.append(p / np.linalg.norm(p))
    return float(np.degrees(np.arccos(np.clip(dirs[0] @ dirs[1], -1.0, 1.0))))


def _truth_branch(v: _Vein, veins: dict[str, _Vein], grid: _Grid, lesions: list[TruthLesion]) -> TruthBranch:
    """The branch centerline at 1 mm inside the volume, with its true section."""
    lo = grid.origin
    hi = grid.origin + grid.spacing * (np.array(grid.shape[::-1]) - 1)
    a, b = v.tube.a, v.tube.b
    s_dense = v.s
    s1 = np.arange(0.0, s_dense[-1], 1.0)
    pts = np.stack([np.interp(s1, s_dense, v.tube.points[:, c]) for c in range(3)], axis=1)
    inside = np.all((pts >= lo + 1.0) & (pts <= hi - 1.0), axis=1)
    # Keep the connected run from the confluence outward: a branch leaving the volume ends there.
    stop = int(np.argmin(inside)) if not inside.all() else len(inside)
    s1, pts = s1[:stop], pts[:stop]
    ai, bi = np.interp(s1, s_dense, a), np.interp(s1, s_dense, b)
    ha, hb = np.interp(s1, s_dense, v.healthy_a), np.interp(s1, s_dense, v.healthy_b)
    area = np.pi * ai * bi
    # The section plane at a sample also cuts another branch when that branch's centerline
    # comes closer than the two radii together: the confluence zone.
    zone = np.zeros(len(s1), dtype=bool)
    for other in veins.values():
        if other is v:
            continue
        from scipy.spatial import cKDTree

        dist, idx = cKDTree(other.tube.points).query(pts)
        zone |= dist < np.maximum(ai, bi) + np.maximum(other.healthy_a, other.healthy_b)[idx] + 2.0
    zone &= s1 < 60.0
    lesion_mask = np.zeros(len(s1), dtype=bool)
    for les in lesions:
        if les.branch == v.name:
            # Everything the lesion touches, not just its reported extent.
            lesion_mask |= np.abs(area - np.pi * ha * hb) > 0.02 * np.pi * ha * hb
    occluded = area < 1.0
    area = np.where(occluded, 0.0, area)
    ce = 2.0 * np.sqrt(ai * bi) * ~occluded
    return TruthBranch(
        name=v.name,
        points_ras=pts,
        distance_mm=s1,
        area_mm2=area,
        ce_diameter_mm=ce,
        min_diameter_mm=2.0 * np.minimum(ai, bi) * ~occluded,
        max_diameter_mm=2.0 * np.maximum(ai, bi) * ~occluded,
        healthy_area_mm2=np.pi * ha * hb,
        confluence_zone=zone,
        lesion=lesion_mask,
    )


def _seed(branch: TruthBranch, from_end: float) -> np.ndarray:
    i = int(np.argmin(np.abs(branch.distance_mm - (branch.length_mm - from_end))))
    return branch.points_ras[i].copy()

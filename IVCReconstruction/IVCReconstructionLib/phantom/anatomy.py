"""The phantom's anatomy: the three vein branches and their neighbours, as tubes in RAS mm.

S = 0 at the iliocaval confluence and R = 0 on the midline. Calibres, angles and levels follow
docs/phantom.md (reference values with their sources): the IVC, the common and external
iliac veins, renal and internal iliac veins, the aorta and iliac arteries touching the veins,
kidneys, bowel, vertebrae, pelvis and muscles. ``Anatomy`` holds one patient's numbers (the
reference anatomy, or a random variant drawn from ranges); ``make_irregular`` gives the veins
irregular sections and calibre changes (harder venograms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .options import REFERENCE_HU, PhantomOptions
from .shapes import (
    AXIS_R,
    Canvas,
    Grid,
    Tube,
    arc_length,
    branch_profile,
    make_tube,
    resample_path,
)


@dataclass
class Anatomy:
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
    def draw(cls, rng: np.random.Generator) -> Anatomy:
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


@dataclass
class Vein:
    """A vein branch: the tube and the truth quantities along it (dense samples)."""

    name: str
    tube: Tube
    s: np.ndarray  # arc length from the confluence
    healthy_a: np.ndarray
    healthy_b: np.ndarray
    landmarks: dict[str, float] = field(default_factory=dict)  # e.g. civ_end


def iliac_path(conf: np.ndarray, side: int, angle_deg: float, an: Anatomy) -> np.ndarray:
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


def build_veins(an: Anatomy, opts: PhantomOptions, step: float):
    conf = np.array([an.confluence_r, -8.0, 0.0])
    veins: dict[str, Vein] = {}

    # IVC: from the confluence up, drifting a little right and forward, out of the volume's top.
    ivc_pts = resample_path(
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
    s = arc_length(ivc_pts)
    r = an.ivc_ce / 2.0
    # The suprarenal IVC is wider (renal return); a slow undulation keeps it from being a cylinder.
    scale = 1.0 + 0.04 * np.sin(s / 23.0) + 0.12 * np.clip((s - an.renal_level - 5.0) / 20.0, 0.0, 1.0)
    e = math.sqrt(an.ivc_ellipticity)
    ivc_a, ivc_b = r * scale / e, r * scale * e
    veins["ivc"] = Vein(
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
        pts = resample_path(iliac_path(conf, side, angle, an), step)
        s = arc_length(pts)
        # The common iliac vein ends where the internal iliac vein joins: the third control point.
        ctrl = iliac_path(conf, side, angle, an)
        civ_end = float(s[np.argmin(np.linalg.norm(pts - ctrl[3], axis=1))])
        inguinal = float(s[np.argmin(np.linalg.norm(pts - ctrl[5], axis=1))])
        ce = branch_profile(
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
        # confluence (the May-Thurner site, see arteries).
        marks = {"civ_end": civ_end, "inguinal": inguinal, "crossing": 20.0}
        veins[name] = Vein(name, Tube(pts, a.copy(), b.copy(), capped=("round", None)), s, a, b, marks)
    return conf, veins


def make_irregular(veins: dict[str, Vein], amount: float, rng: np.random.Generator) -> None:
    """Calibre changes along each vein (two slow waves, up to +-``amount``) and non-elliptical
    sections: harmonics 2-4 of the radius whose amplitude and orientation drift along the vein
    (the ``irregularity`` option; the healthy calibre follows, so they are not lesions)."""
    for v in veins.values():
        s = v.s
        ph = rng.uniform(0.0, 2.0 * np.pi, size=8)
        calibre = 1.0 + amount * (
            0.6 * np.sin(2 * np.pi * s / rng.uniform(55.0, 85.0) + ph[0])
            + 0.4 * np.sin(2 * np.pi * s / rng.uniform(25.0, 40.0) + ph[1])
        )
        for arr in (v.tube.a, v.tube.b, v.healthy_a, v.healthy_b):
            arr *= calibre
        harm = np.zeros((len(s), 3, 2))
        for k, weight in enumerate((0.6, 0.45, 0.3)):
            wave = 0.65 + 0.35 * np.sin(2 * np.pi * s / rng.uniform(35.0, 60.0) + ph[2 + k])
            harm[:, k, 0] = amount * weight * wave
            harm[:, k, 1] = ph[5 + k] + 2 * np.pi * s / rng.uniform(60.0, 120.0)
        v.tube.harmonics = harm


def point_at(v: Vein, s: float) -> np.ndarray:
    return v.tube.points[int(np.argmin(np.abs(v.s - s)))]


def offset_along(v: Vein, s_values, anterior: float, lateral: float, gap: float, r_art) -> np.ndarray:
    """Points beside a vein: at each arc length, off the wall by `gap` in a blend of directions.

    The wall is the vein's current one (after any compression), so an artery laid along these
    points touches the vein where it compresses it.
    """
    out = []
    side = np.sign(v.tube.points[-1, 0] - v.tube.points[0, 0])
    for k, s in enumerate(s_values):
        i = int(np.argmin(np.abs(v.s - s)))
        lat = v.tube.n1[i] * np.sign(v.tube.n1[i] @ AXIS_R) * side
        d = anterior * v.tube.n2[i] + lateral * lat
        d /= np.linalg.norm(d)
        wall = math.hypot(v.tube.a[i] * (d @ v.tube.n1[i]), v.tube.b[i] * (d @ v.tube.n2[i]))
        ra = r_art[k] if np.ndim(r_art) else r_art
        out.append(v.tube.points[i] + d * (wall + ra + gap))
    return np.array(out)


def make_arteries(an: Anatomy, veins: dict[str, Vein], obstacles: list[Tube], step: float) -> list[Tube]:
    """Aorta and iliac arteries. The right common iliac artery crosses in front of the left
    common iliac vein (the May-Thurner site); the iliac arteries then run in front of and
    lateral to their veins, touching them, as they do down to the inguinal ligament."""
    left, right = veins["left_iliac"], veins["right_iliac"]
    ra = an.aorta_d / 2.0
    bif = np.array([-6.0, 1.0, an.aortic_bifurcation])
    aorta = make_tube(
        [[-12.0, -2.0, 330.0], [-11.0, -2.0, 160.0], [-9.0, -1.0, 70.0], bif + [0, 0, 10.0], bif],
        [(0.0, ra), (0.85, ra * 0.92), (1.0, ra * 0.85)],
        step,
        capped=(None, "round"),
    )
    crossing = left.landmarks["crossing"]
    r_cia, r_eia = 5.0, 4.0
    x = offset_along(left, [crossing], anterior=1.0, lateral=0.0, gap=0.3, r_art=r_cia)[0]
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
            offset_along(right, rs, 1.0, 0.35, 0.4, r_cia)[:2],
            offset_along(right, rs[2:], 0.35, 1.0, 0.4, r_eia),
            [point_at(right, 1e4) + [12.0, 0.0, 0.0]],
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
            offset_along(left, ls[:2], 1.0, 0.6, 0.4, r_cia),
            offset_along(left, ls[2:], 0.35, 1.0, 0.4, r_eia),
            [point_at(left, 1e4) - [12.0, 0.0, 0.0]],
        ]
    )
    knots = [(0.0, ra * 0.62), (0.08, r_cia), (0.4, r_cia), (0.55, r_eia), (1.0, r_eia)]
    iliacs = [
        clear_of(make_tube(p, knots, step, capped=("round", None)), obstacles, 0.3) for p in (rcia, lcia)
    ]
    return [clear_of(aorta, obstacles, 0.5), *iliacs]


def clear_of(tube: Tube, obstacles: list[Tube], gap: float) -> Tube:
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


def make_other_veins(an: Anatomy, veins: dict[str, Vein], step: float, occlusion: tuple[float, float] | None):
    """Renal veins (to the kidney hila), internal iliac veins and, with an occlusion, collaterals."""
    ivc = veins["ivc"]
    tubes = []
    inflows = {}
    # Left renal vein: long, passes in front of the aorta to the left kidney.
    p_l = point_at(ivc, an.renal_level)
    inflows["left"] = p_l
    tubes.append(
        make_tube(
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
    p_r = point_at(ivc, an.renal_level + an.right_renal_offset)
    inflows["right"] = p_r
    tubes.append(
        make_tube(
            [p_r, p_r + [16.0, -4.0, 3.0], [50.0, -17.0, p_r[2] + 7.0], [60.0, -20.0, p_r[2] + 9.0]],
            [(0.0, 4.4), (1.0, 4.0)],
            step,
            capped=("round", "flat"),
        )
    )
    # Internal iliac veins, back and down into the pelvis from the end of each common iliac vein.
    for name, side in (("left_iliac", -1.0), ("right_iliac", 1.0)):
        v = veins[name]
        p = point_at(v, v.landmarks["civ_end"])
        tubes.append(
            make_tube(
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
        top = point_at(ivc, occlusion[1] + 20.0)
        for name, side in (("left_iliac", -1.0), ("right_iliac", 1.0)):
            v = veins[name]
            p = point_at(v, 0.6 * v.landmarks["civ_end"])
            mid_s = (p[2] + top[2]) / 2
            tubes.append(
                make_tube(
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


def make_kidneys(an: Anatomy, step: float) -> list[Tube]:
    out = []
    for side, level in ((-1.0, an.renal_level + 10.0), (1.0, an.renal_level + an.right_renal_offset + 5.0)):
        c = np.array([side * 80.0, -28.0, level])
        # A kidney as a short fat tube with rounded ends: long axis nearly cranio-caudal.
        out.append(
            make_tube(
                [c + [side * -6.0, 3.0, -55.0], c, c + [side * 8.0, -3.0, 55.0]],
                [(0.0, 8.0), (0.15, 22.0), (0.5, 26.0), (0.85, 22.0), (1.0, 8.0)],
                step,
                capped=("flat", "flat"),
                ellipticity=0.75,
            )
        )
    return out


def make_bowel(rng: np.random.Generator | None, step: float) -> list[tuple[Tube, float]]:
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
            (make_tube(ctrl, [(0.0, r), (1.0, r)], step, capped=("flat", "flat")), 0.35 if k != 1 else -0.1)
        )
    return out


def make_skeleton(step: float) -> tuple[list[Tube], list[Tube]]:
    """Vertebral bodies (L5 at the confluence, up to T12), sacrum, iliac wings, femoral heads
    and pubic rami; returns (bones, intervertebral discs)."""
    bones, discs = [], []
    centre_a = -37.0
    for k in range(6):
        c = -12.0 + 36.0 * k
        bones.append(
            make_tube(
                [[0.0, centre_a, c - 13.5], [0.0, centre_a, c + 13.5]],
                [(0.0, 19.0), (1.0, 19.0)],
                step,
                capped=("flat", "flat"),
                ellipticity=0.78,
            )
        )
        discs.append(
            make_tube(
                [[0.0, centre_a, c + 13.5], [0.0, centre_a, c + 22.5]],
                [(0.0, 18.0), (1.0, 18.0)],
                step,
                capped=("flat", "flat"),
                ellipticity=0.78,
            )
        )
    bones.append(
        make_tube(
            [[0.0, -42.0, -35.0], [0.0, -60.0, -75.0], [0.0, -75.0, -115.0]],
            [(0.0, 26.0), (1.0, 12.0)],
            step,
            capped=("flat", "flat"),
            ellipticity=0.4,
        )
    )
    for side in (-1.0, 1.0):
        bones.append(
            make_tube(
                [[side * 62.0, -62.0, -10.0], [side * 95.0, -35.0, -45.0], [side * 100.0, -15.0, -95.0]],
                [(0.0, 20.0), (0.5, 26.0), (1.0, 18.0)],
                step,
                capped=("flat", "flat"),
                ellipticity=0.3,
                roll_deg=-side * 40.0,
            )
        )
        bones.append(
            make_tube(
                [[side * 100.0, -12.0, -150.0], [side * 100.0, -12.0, -120.0]],
                [(0.0, 22.0), (1.0, 22.0)],
                step,
                capped=("flat", "flat"),
            )
        )
        bones.append(
            make_tube(
                [[side * 92.0, -6.0, -160.0], [side * 40.0, 22.0, -172.0], [side * 6.0, 34.0, -175.0]],
                [(0.0, 8.0), (1.0, 7.0)],
                step,
                capped=("flat", "flat"),
            )
        )
    return bones, discs


def make_muscles(step: float) -> list[Tube]:
    out = []
    for side in (-1.0, 1.0):
        # Psoas: beside the spine, then lateral to the external iliac vessels (iliopsoas).
        out.append(
            make_tube(
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
            make_tube(
                [[side * 28.0, -80.0, 260.0], [side * 28.0, -82.0, -120.0]],
                [(0.0, 24.0), (1.0, 22.0)],
                step,
                ellipticity=0.8,
            )
        )
    return out


# The anatomy of interest (RAS, mm) that a default-size phantom covers.
ROI_LO = np.array([-100.0, -62.0, -160.0])
ROI_HI = np.array([100.0, 58.0, 165.0])


def grid_for(opts: PhantomOptions, top: float) -> Grid:
    spacing = opts.spacing()
    lo, hi = ROI_LO.copy(), ROI_HI.copy()
    hi[2] = max(top, lo[2] + 100.0)
    if opts.size_ijk is None:
        n = np.ceil((hi - lo) / spacing).astype(int) + 1
        origin = lo
    else:
        n = np.array(opts.size_ijk, dtype=int)  # (i, j, k) ~ (R, A, S) extents
        origin = (lo + hi) / 2.0 - (n - 1) * spacing / 2.0
    return Grid(origin=origin, spacing=spacing, shape=(int(n[2]), int(n[1]), int(n[0])))


def paint_body(canvas: Canvas, rng: np.random.Generator) -> None:
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


def inter_iliac_angle(veins: dict[str, Vein]) -> float:
    """Angle between the first 15 mm of the two common iliac veins."""
    dirs = []
    for name in ("left_iliac", "right_iliac"):
        v = veins[name]
        p = point_at(v, 15.0) - v.tube.points[0]
        dirs.append(p / np.linalg.norm(p))
    return float(np.degrees(np.arccos(np.clip(dirs[0] @ dirs[1], -1.0, 1.0))))

"""What lies against the veins in the harder venograms: arteries indenting them, bone under them,
a fluid-filled bowel loop in front of the IVC (docs/phantom.md, *Harder venograms*).

In the default phantom the veins sit in fat, the arteries touch them 0.3-0.5 mm off their walls
and no bone or bowel comes near them. Here the iliac arteries press into the external iliac
veins and the right common iliac artery into the left common iliac vein (``indent_arteries``),
bony ridges lie along the veins' posterior walls (``bone_beds``), and a bowel loop full of fluid
passes 1.5 mm in front of the IVC and aorta (``duodenum``). ``indented_area_ratio`` is what an
indenting artery leaves of a vein's section, for the truth.
"""

from __future__ import annotations

import numpy as np

from .anatomy import Vein, clear_of
from .shapes import Tube, arc_length, make_tube, resample_path

BONE_BED_RADIUS_MM = 9.0


def ramp_window(t: np.ndarray, t0: float, t1: float, ramp: float) -> np.ndarray:
    """1 on [t0, t1], raised-cosine ramps ``ramp`` mm wide outside it, 0 beyond."""
    x = np.clip(np.minimum(t - (t0 - ramp), (t1 + ramp) - t) / ramp, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def indent(artery: Tube, vein: Vein, s0: float, s1: float, depth: float) -> Tube:
    """Move the stretch of an artery lying on a vein between the vein's arc lengths s0..s1 so
    that it indents the vein ``depth`` mm (at most a third of the vein's depth there, so a
    compressed vein keeps a lumen), with 8 mm ramps along the artery on either side."""
    from scipy.spatial import cKDTree

    _, i = cKDTree(vein.tube.points).query(artery.points)
    v = artery.points - vein.tube.points[i]
    t = vein.tube.t[i]
    along = np.einsum("ij,ij->i", v, t)
    perp = v - along[:, None] * t
    dist = np.linalg.norm(perp, axis=1)
    u = perp / np.maximum(dist, 1e-9)[:, None]
    wall = vein.tube.radius_towards(i, u)
    depth_there = wall + vein.tube.radius_towards(i, -u)
    r_art = np.maximum(artery.a, artery.b)
    core = (dist <= wall + r_art + 1.5) & (vein.s[i] >= s0) & (vein.s[i] <= s1)
    if not core.any():
        return artery
    ta = arc_length(artery.points)
    w = ramp_window(ta, float(ta[core].min()), float(ta[core].max()), 8.0)
    target = wall + r_art - np.minimum(depth, depth_there / 3.0)
    new_dist = dist + w * (target - dist)
    pts = vein.tube.points[i] + along[:, None] * t + u * new_dist[:, None]
    return Tube(pts, artery.a, artery.b, capped=artery.capped, roll_deg=artery.roll_deg)


def indent_arteries(arteries: list[Tube], veins: dict[str, Vein], depth: float) -> list[Tube]:
    """Iliac arteries indenting their external iliac veins, and the right common iliac artery
    indenting the left common iliac vein where it crosses it (``make_arteries``' order: aorta,
    right, left)."""
    aorta, right, left = arteries
    lv, rv = veins["left_iliac"], veins["right_iliac"]
    crossing = lv.landmarks["crossing"]
    right = indent(right, lv, crossing - 3.0, crossing + 3.0, depth)
    right = indent(right, rv, rv.landmarks["civ_end"] + 15.0, rv.landmarks["inguinal"], depth)
    left = indent(left, lv, lv.landmarks["civ_end"] + 15.0, lv.landmarks["inguinal"], depth)
    return [aorta, right, left]


def bone_beds(veins: dict[str, Vein], step: float) -> list[Tube]:
    """Bony ridges under the veins, touching their walls: the vertebral bodies under the lower
    IVC and the common iliac veins (sacral promontory), the pelvic brim postero-medial to the
    external iliac veins. Round tubes of BONE_BED_RADIUS_MM laid along the vein's posterior wall
    (its healthy wall where an occlusion leaves it no lumen)."""
    from scipy.ndimage import gaussian_filter1d

    radius = BONE_BED_RADIUS_MM
    beds = []
    stretches = [("ivc", 0.0, 90.0, 0.0)]
    for name in ("left_iliac", "right_iliac"):
        v = veins[name]
        stretches.append((name, 6.0, v.landmarks["civ_end"] - 3.0, 0.0))
        stretches.append((name, v.landmarks["civ_end"] + 10.0, v.landmarks["inguinal"] - 5.0, 0.7))
    for name, s0, s1, medial in stretches:
        v = veins[name]
        idx = np.flatnonzero((v.s >= s0) & (v.s <= s1))
        if len(idx) < 4:
            continue
        p, t = v.tube.points[idx], v.tube.t[idx]
        # Where the vein has no lumen (an occlusion) the bone stays where its wall was.
        shut = v.tube.a < 0.5 * v.healthy_a
        wall_tube = v.tube.with_sections(
            v.tube.points, np.where(shut, v.healthy_a, v.tube.a), np.where(shut, v.healthy_b, v.tube.b)
        )
        towards_midline = np.array([-np.sign(p[:, 0].mean()), 0.0, 0.0])
        d = -v.tube.n2[idx] + medial * towards_midline
        d -= np.einsum("ij,ij->i", d, t)[:, None] * t
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        centre = p + d * (wall_tube.radius_towards(idx, d) + radius)[:, None]
        centre = gaussian_filter1d(centre, sigma=max(2.0 / step, 1.0), axis=0, mode="nearest")
        pts = resample_path(centre[:: max(int(4.0 / step), 1)], step)
        beds.append(
            Tube(pts, np.full(len(pts), radius), np.full(len(pts), radius), capped=("round", "round"))
        )
    return beds


def duodenum(veins: dict[str, Vein], aorta: Tube, step: float) -> Tube:
    """A fluid-filled bowel loop (8 mm radius) across the front of the IVC and aorta at L3,
    1.5 mm off their walls."""
    tube = make_tube(
        [[45.0, 8.0, 78.0], [20.0, 8.0, 70.0], [0.0, 8.0, 66.0], [-28.0, 8.0, 72.0]],
        [(0.0, 8.0), (1.0, 8.0)],
        step,
        capped=("round", "round"),
    )
    return clear_of(tube, [veins["ivc"].tube, aorta], 1.5)


def indented_area_ratio(tube: Tube, arteries: list[Tube], pts: np.ndarray) -> np.ndarray:
    """Fraction of each truth section (at points ``pts``) that the arteries indenting the vein
    leave to its lumen: the section of the nearest tube sample, on a 0.15 mm grid of its plane,
    less the grid points inside an artery."""
    from scipy.spatial import cKDTree

    ratio = np.ones(len(pts))
    art_pts = np.vstack([a.points for a in arteries])
    art_r = np.concatenate([np.maximum(a.a, a.b) for a in arteries])
    _, idx = cKDTree(tube.points).query(pts)
    reach = tube.outer_radius()[idx] + 0.2
    dist, j = cKDTree(art_pts).query(pts)
    planes, owner = [], []
    for k in np.flatnonzero(dist < reach + art_r[j]):
        i = idx[k]
        g = np.arange(-reach[k], reach[k] + 1e-9, 0.15)
        x, y = (c.ravel() for c in np.meshgrid(g, g, indexing="ij"))
        rho = np.sqrt((x / tube.a[i]) ** 2 + (y / tube.b[i]) ** 2)
        rho /= tube.shape_factor(np.full(len(x), i), np.arctan2(y, x))
        inside = rho <= 1.0
        planes.append(tube.points[i] + x[inside, None] * tube.n1[i] + y[inside, None] * tube.n2[i])
        owner.append(np.full(int(inside.sum()), k))
    if not planes:
        return ratio
    plane, owner = np.vstack(planes), np.concatenate(owner)
    cut = np.zeros(len(plane), dtype=bool)
    for a in arteries:
        cut |= a.signed_distance(plane, 0.0) <= 0
    total = np.bincount(owner, minlength=len(pts))
    lost = np.bincount(owner, weights=cut, minlength=len(pts))
    has = total > 0
    ratio[has] = 1.0 - lost[has] / total[has]
    return ratio

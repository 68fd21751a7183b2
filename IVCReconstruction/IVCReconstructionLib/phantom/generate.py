"""Synthetic CT venograms of the iliocaval confluence with known truth.

The phantom is built from tubes: each vessel (and the spine, psoas, bowel, pelvic bones) is a
smooth centerline with an elliptical cross-section whose semi-axes vary along it. Every tube
gives a signed distance (mm, negative inside) on the voxels near it; the signed distance turns
into a partial-volume fraction (a linear ramp one voxel wide), and the fractions are composited
into the image in anatomical order, the veins last. The truth (labels, centerlines, diameters,
lesions, seeds) comes from the same tubes, so it is exact by construction rather than
measured back from the image.

Geometry is in RAS millimetres with S = 0 at the iliocaval confluence and R = 0 on the
midline. Anatomy and calibres (``anatomy.py``) follow docs/phantom.md, which gives their
sources: IVC CE diameter about 18-22 mm and elliptical (wider than deep), common iliac veins
13-16 mm, external iliac veins 12-14 mm, inter-iliac angle 55-82 degrees, the left common iliac
longer and more horizontal than the right, the aortic bifurcation about 19 mm above the venous
confluence and the right common iliac artery crossing in front of the left common iliac vein.
"""

from __future__ import annotations

import numpy as np

from ..names import BRANCHES
from .anatomy import (
    Anatomy,
    Vein,
    build_veins,
    grid_for,
    inter_iliac_angle,
    make_arteries,
    make_bowel,
    make_irregular,
    make_kidneys,
    make_muscles,
    make_other_veins,
    make_skeleton,
    paint_body,
    point_at,
)
from .contacts import bone_beds, duodenum, indent_arteries, indented_area_ratio
from .imaging import (
    as_stored_ct,
    blur,
    correlated_noise,
    ct_noise,
    integrate_slices,
    render_grid,
    vein_enhancement,
)
from .lesions import apply_lesions, occlude_ivc
from .options import REFERENCE_HU, SOFT_TISSUE_MM, PhantomOptions
from .shapes import Canvas, Grid, Tube
from .truth import Phantom, TruthBranch, TruthLesion, TruthSpine

# Each vein runs at least this far inside the volume from the confluence, so that its seed
# (15 mm from the vein's end in the volume) lies 15 mm or more from the confluence and from the
# other seeds.
MIN_VEIN_IN_VOLUME_MM = 30.0

# ---------------------------------------------------------------------------------------------
# Tubes: a centerline, an elliptical section along it, and the signed distance to its wall
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# The voxel grid, in RAS order internally ([s, a, r] indexing), flipped to LPS at the end
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Anatomy
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------


def make_phantom(options: PhantomOptions | None = None) -> Phantom:
    """Build a synthetic CT venogram of the iliocaval confluence and its truth.

    :param options: what to build (spacing, size, lesions, random variant); defaults to the
        healthy reference anatomy at 1 mm.
    :raises ValueError: when an option is out of range (the message names it).
    """
    opts = options or PhantomOptions()
    opts.validate()
    rng = np.random.default_rng(opts.seed if opts.seed is not None else 20260101)
    an = Anatomy() if opts.seed is None else Anatomy.draw(rng)
    step = float(min(0.5, opts.spacing().min() / 2.0))

    conf, veins = build_veins(an, opts, step)
    if opts.irregularity > 0:
        make_irregular(veins, opts.irregularity, _harder_rng(opts))
    lesions = apply_lesions(veins, opts)
    grid = grid_for(opts, top=an.renal_level + 45.0)
    _check_fits(veins, opts, an.renal_level + 45.0)
    render, sub_slices = render_grid(grid, opts)  # thick slices: painted on thinner ones

    occlusion = None
    vein_tubes = [veins["ivc"].tube, veins["left_iliac"].tube, veins["right_iliac"].tube]
    vein_labels = [1, 2, 3]
    cord = None
    if opts.ivc_occlusion_length_mm is not None:
        start = 22.0 if opts.seed is None else float(rng.uniform(18.0, 30.0))
        start = min(start, an.renal_level - opts.ivc_occlusion_length_mm - 15.0)
        lumens, cord, lesion = occlude_ivc(veins, opts.ivc_occlusion_length_mm, max(start, 15.0))
        occlusion = (lesion.start_mm, lesion.end_mm)
        lesions.insert(0, lesion)
        vein_tubes = [*lumens, veins["left_iliac"].tube, veins["right_iliac"].tube]
        vein_labels = [1, 1, 2, 3]
    arteries = make_arteries(an, veins, vein_tubes, step)
    indenting = opts.artery_overlap_mm > 0
    if indenting:
        arteries = indent_arteries(arteries, veins, opts.artery_overlap_mm)
    others, inflows = make_other_veins(an, veins, step, occlusion)
    bones, discs = make_skeleton(step)
    beds = bone_beds(veins, step) if opts.veins_on_bone else []

    canvas = Canvas(render, REFERENCE_HU["air"])
    paint_body(canvas, rng)
    canvas.paint(make_muscles(step), REFERENCE_HU["muscle"])
    bowel = make_bowel(None if opts.seed is None else rng, step)
    if opts.soft_tissue_hu is not None:
        # Psoas, bowel wall, lymphatic and connective tissue around the vessels: no fat plane.
        canvas.paint([*vein_tubes, *arteries, *others], opts.soft_tissue_hu, offset=-SOFT_TISSUE_MM)
        bowel.append((duodenum(veins, arteries[0], step), -2.0))  # fluid-filled: no gas
    canvas.paint(make_kidneys(an, step), an.kidney_hu, label=6)
    for tube, gas_level in bowel:
        res = canvas.paint([tube], REFERENCE_HU["bowel_wall"], label=7)
        if res is None:
            continue
        blk, d, _ = res
        canvas.paint_distance(blk, d + 2.5, REFERENCE_HU["bowel_content"])
        # Gas rises to the front of a loop in a supine patient: the anterior part of the lumen.
        pts = canvas.grid.points(blk)
        from scipy.spatial import cKDTree

        _, idx = cKDTree(tube.points).query(pts, workers=-1)
        y = np.einsum("ij,ij->i", pts - tube.points[idx], tube.n2[idx]).reshape(d.shape)
        gas_d = np.maximum(d + 2.5, gas_level * tube.b[idx].reshape(d.shape) - y)
        canvas.paint_distance(blk, gas_d, REFERENCE_HU["gas"])
    canvas.paint(discs, REFERENCE_HU["disc"])
    res = canvas.paint([*bones, *beds], REFERENCE_HU["cortical_bone"], label=8)
    if res is not None:
        blk, d, _ = res
        canvas.paint_distance(blk, d + 2.0, REFERENCE_HU["cancellous_bone"])
    if not indenting:
        canvas.paint(arteries, an.artery_hu, label=5)
    if cord is not None:
        canvas.paint([cord], REFERENCE_HU["fibrosis"], label=9)
    canvas.paint(others, an.vein_hu, label=4)
    if opts.enhancement_gradient_hu > 0 or opts.inflow_mixing_hu > 0:
        res = canvas.distance(vein_tubes)
        if res is not None:
            blk, d, which = res
            vein_names = ["ivc", "ivc", "left_iliac", "right_iliac"] if cord is not None else list(BRANCHES)
            value = vein_enhancement(canvas, blk, d, which, vein_names, veins, an, opts)
            canvas.paint_distance(blk, d, value, vein_labels, which)
    else:
        canvas.paint(vein_tubes, an.vein_hu, label=vein_labels)
    if indenting:  # the arteries in front: painted over the veins they indent
        canvas.paint(arteries, an.artery_hu, label=5)

    image, labels = canvas.image, canvas.labels
    if opts.psf_sigma_mm > 0:
        blur(image, render, opts.psf_sigma_mm)
    if sub_slices > 1:
        image, labels = integrate_slices(
            image, labels, sub_slices, float(render.spacing[2]), float(opts.slice_thickness_mm)
        )
    if opts.noise_hu > 0:
        if opts.noise_correlation_mm is None:
            image += ct_noise(grid.shape, opts.noise_hu, rng)
        else:
            image += correlated_noise(grid.shape, opts.noise_hu, rng, opts.noise_correlation_mm, grid.spacing)
    image = as_stored_ct(image)

    branches = {
        name: truth_branch(veins[name], veins, grid, lesions, arteries if indenting else None)
        for name in BRANCHES
    }
    if indenting:  # a stenosis's narrowest section includes the indentation
        for les in lesions:
            br = branches[les.branch]
            inside = (br.distance_mm >= les.start_mm) & (br.distance_mm <= les.end_mm)
            if les.kind == "stenosis" and inside.any():
                les.min_area_mm2 = float(br.area_mm2[inside].min())
    seeds = {
        "IVC": seed_point(branches["ivc"], from_end=15.0),
        "Left": seed_point(branches["left_iliac"], from_end=15.0),
        "Right": seed_point(branches["right_iliac"], from_end=15.0),
    }
    if occlusion is not None:
        seeds["Via"] = point_at(veins["ivc"], (occlusion[0] + occlusion[1]) / 2.0)
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
        inter_iliac_angle_deg=inter_iliac_angle(veins),
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
        spine=skeleton_truth(bones),
    )


def skeleton_truth(bones: list[Tube]) -> TruthSpine:
    """The vertebral levels and femoral-head tops of make_skeleton's bones, from their tubes.

    Each bone is told by its shape, not its place in the list: the vertebral bodies are the
    upright tubes on the midline (their flat ends are the endplates), named L5, L4, ... from
    the bottom; the sacrum is the midline tube that is not upright (its first end is its top);
    the femoral heads are the upright tubes far to the sides.
    """
    from .. import names

    def upright(t: Tube) -> bool:
        return float(np.ptp(t.points[:, :2], axis=0).max()) < 1e-6

    bodies = sorted(
        (t for t in bones if upright(t) and abs(t.points[0, 0]) < 1e-6), key=lambda t: t.points[:, 2].min()
    )
    sacrum = next(t for t in bones if not upright(t) and abs(t.points[0, 0]) < 1e-6)
    heads = [t for t in bones if upright(t) and abs(t.points[0, 0]) > 50.0]
    top = int(np.argmax(sacrum.points[:, 2][[0, -1]])) * (len(sacrum.points) - 1)
    normal = -sacrum.t[top] if top == 0 else sacrum.t[top]
    return TruthSpine(
        bodies_s_mm={
            name: (float(t.points[:, 2].min()), float(t.points[:, 2].max()))
            for name, t in zip(names.VERTEBRAE[1:], bodies, strict=True)
        },
        s1_superior_ras=sacrum.points[top].copy(),
        s1_superior_normal=normal / np.linalg.norm(normal),
        femoral_head_tops_ras={
            ("right" if t.points[0, 0] > 0 else "left"): t.points[int(np.argmax(t.points[:, 2]))].copy()
            for t in heads
        },
    )


def _run_in_volume_mm(v: Vein, grid: Grid) -> float:
    """How far a vein's centerline runs from the confluence before it leaves the volume (the
    truth branch's length, as ``truth_branch`` cuts it)."""
    lo = grid.origin
    hi = grid.origin + grid.spacing * (np.array(grid.shape[::-1]) - 1)
    s1 = np.arange(0.0, v.s[-1], 1.0)
    pts = np.stack([np.interp(s1, v.s, v.tube.points[:, c]) for c in range(3)], axis=1)
    inside = np.all((pts >= lo + 1.0) & (pts <= hi - 1.0), axis=1)
    return float(np.argmin(inside)) if not inside.all() else float(len(inside))


def _check_fits(veins: dict[str, Vein], opts: PhantomOptions, top: float) -> None:
    """Refuse a size that cuts a vein shorter than ``MIN_VEIN_IN_VOLUME_MM`` (its seeds would
    coincide, or there would be no vein to seed), naming the smallest size of the same
    proportions that fits."""
    from dataclasses import replace

    from .options import MAX_SIZE_IJK

    def short(size) -> dict[str, float]:
        grid = grid_for(replace(opts, size_ijk=tuple(int(n) for n in size)), top)
        runs = {name: _run_in_volume_mm(veins[name], grid) for name in ("ivc", "left_iliac", "right_iliac")}
        return {name: run for name, run in runs.items() if run < MIN_VEIN_IN_VOLUME_MM}

    if opts.size_ijk is None:
        return
    size = np.array(opts.size_ijk, dtype=int)
    cut = short(size)
    if not cut:
        return
    spacing = ", ".join(f"{x:g}" for x in sorted(set(opts.spacing().tolist())))
    what = ", ".join(f"{name.replace('_', ' ')} {run:.0f} mm" for name, run in cut.items())
    head = (
        f"a phantom of {size[0]} x {size[1]} x {size[2]} voxels at {spacing} mm is too small for its veins "
        f"({what} inside the volume; each needs {MIN_VEIN_IN_VOLUME_MM:.0f} mm to place its seed apart from "
        "the confluence and the other seeds)"
    )
    for scale in np.arange(1.05, 64.0, 0.05):
        bigger = np.minimum(np.ceil(size * scale).astype(int), MAX_SIZE_IJK)
        if not short(bigger):
            raise ValueError(
                f"{head}: use at least {bigger[0]} x {bigger[1]} x {bigger[2]} voxels (--size "
                f"{bigger[0]} {bigger[1]} {bigger[2]}), or no size to fit the anatomy"
            )
        if np.all(bigger == MAX_SIZE_IJK):
            break
    raise ValueError(f"{head}: give no size, which fits the volume to the anatomy")


def _harder_rng(opts: PhantomOptions) -> np.random.Generator:
    """The harder options' random stream, apart from the anatomy's: a default phantom draws
    exactly what it drew before they existed."""
    return np.random.default_rng([opts.seed if opts.seed is not None else 20260101, 12])


def _to_orientation(image, labels, grid: Grid, lps: bool):
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


def truth_branch(
    v: Vein,
    veins: dict[str, Vein],
    grid: Grid,
    lesions: list[TruthLesion],
    arteries: list[Tube] | None = None,
) -> TruthBranch:
    """The branch centerline at 1 mm inside the volume, with its true section: measured around
    an irregular section, less what indenting ``arteries`` take of it."""
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
    healthy_area = np.pi * ha * hb
    tolerance = 0.02 * np.pi * ha * hb  # a lesion's reach (written as before: the same bits)
    min_d, max_d = 2.0 * np.minimum(ai, bi), 2.0 * np.maximum(ai, bi)
    if v.tube.harmonics is not None:  # non-elliptical sections: measured around the section
        shaped = v.tube.with_sections(v.tube.points, np.maximum(a, 1e-6), np.maximum(b, 1e-6))
        area_d, min_dd, max_dd = shaped.section_truth()
        area, min_d, max_d = (np.interp(s1, s_dense, x) for x in (area_d, min_dd, max_dd))
        healthy = v.tube.with_sections(v.tube.points, v.healthy_a, v.healthy_b)
        healthy_area = np.interp(s1, s_dense, healthy.section_truth()[0])
        tolerance = 0.02 * healthy_area
    indented = np.zeros(len(s1), dtype=bool)
    if arteries is not None and len(pts):
        ratio = indented_area_ratio(v.tube, arteries, pts)
        area = area * ratio
        indented = ratio < 0.98
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
            lesion_mask |= np.abs(area - healthy_area) > tolerance
    lesion_mask |= indented  # an artery's indentation is not a healthy section either
    occluded = area < 1.0
    area = np.where(occluded, 0.0, area)
    if v.tube.harmonics is None and arteries is None:
        ce = 2.0 * np.sqrt(ai * bi) * ~occluded
    else:
        ce = 2.0 * np.sqrt(area / np.pi)
    return TruthBranch(
        name=v.name,
        points_ras=pts,
        distance_mm=s1,
        area_mm2=area,
        ce_diameter_mm=ce,
        min_diameter_mm=min_d * ~occluded,
        max_diameter_mm=max_d * ~occluded,
        healthy_area_mm2=healthy_area,
        confluence_zone=zone,
        lesion=lesion_mask,
    )


def seed_point(branch: TruthBranch, from_end: float) -> np.ndarray:
    i = int(np.argmin(np.abs(branch.distance_mm - (branch.length_mm - from_end))))
    return branch.points_ras[i].copy()

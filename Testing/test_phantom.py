"""The phantom's truth checked against its own image, and against the anatomy it claims.

The truth (centerlines, diameters, lesions) is computed from the generator's tubes; the image
and label map are rasterised from the same tubes. These tests measure the label map and the
Hounsfield units back and compare, so a generator bug that moves one without the other fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from IVCReconstructionLib.phantom import (
    HARDER_OPTIONS,
    REFERENCE_HU,
    Phantom,
    PhantomOptions,
    harder_options,
    make_phantom,
)


@pytest.fixture(scope="module")
def reference(phantom_of) -> Phantom:
    return phantom_of()


@pytest.fixture(scope="module")
def may_thurner(phantom_of) -> Phantom:
    return phantom_of(may_thurner_area_ratio=0.3)


@pytest.fixture(scope="module")
def occlusion(phantom_of) -> Phantom:
    return phantom_of(ivc_occlusion_length_mm=40.0, spacing_mm=1.5)


def section_area(ph: Phantom, mask: np.ndarray, centre: np.ndarray, normal: np.ndarray, half: float = 30.0):
    """Area (mm2) of the connected region of `mask` containing `centre`, in the plane through
    `centre` perpendicular to `normal`, sampled on a 0.2 mm grid by nearest voxel."""
    normal = normal / np.linalg.norm(normal)
    u = np.cross(normal, [0.0, 0.0, 1.0] if abs(normal[2]) < 0.9 else [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    step = 0.2
    g = np.arange(-half, half + step / 2, step)
    uu, vv = np.meshgrid(g, g, indexing="ij")
    pts = centre + uu[..., None] * u + vv[..., None] * v
    ijk = ph.ras_to_ijk(pts.reshape(-1, 3))
    vals = ndimage.map_coordinates(mask.astype(np.uint8), ijk[:, ::-1].T, order=0, mode="constant")
    plane = vals.reshape(uu.shape) > 0
    lab, _ = ndimage.label(plane)
    mid = lab[len(g) // 2, len(g) // 2]
    return 0.0 if mid == 0 else float((lab == mid).sum()) * step * step


def tangents(points: np.ndarray) -> np.ndarray:
    t = np.gradient(points, axis=0)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


# --- geometry and anatomy ------------------------------------------------------------------


def test_geometry_is_lps_ordered_with_the_requested_spacing(reference):
    m = reference.ijk_to_ras
    np.testing.assert_allclose(np.diag(m)[:3], [-1.0, -1.0, 1.0])
    assert reference.image.dtype == np.int16 and reference.labels.dtype == np.uint8
    assert reference.image.shape == reference.labels.shape
    # The volume covers the renal veins and reaches below the inguinal ligament.
    k, j, i = reference.image.shape
    corners = np.array([[0, 0, 0, 1], [i - 1, j - 1, k - 1, 1]]) @ m.T
    s_lo, s_hi = sorted(corners[:, 2])
    assert s_lo < reference.seeds["Left"][2] - 10 and s_hi > reference.renal_inflow_ras[2] + 30


def test_calibres_angles_and_lengths_match_the_reference_anatomy(reference):
    b = reference.branches
    ivc = b["ivc"]
    healthy = ivc.healthy()
    assert 18.0 <= np.median(ivc.ce_diameter_mm[healthy]) <= 26.0
    # Slightly elliptical: wider than deep.
    ratio = np.median(ivc.max_diameter_mm[healthy] / ivc.min_diameter_mm[healthy])
    assert 1.08 <= ratio <= 1.6
    for name in ("left_iliac", "right_iliac"):
        ce = b[name].ce_diameter_mm[b[name].healthy()]
        assert ce.min() >= 12.0 and ce.max() <= 16.0, name
    assert 50.0 <= reference.inter_iliac_angle_deg <= 85.0
    # The left common iliac vein is longer and more horizontal than the right one.
    for_left = reference.branches["left_iliac"].points_ras
    for_right = reference.branches["right_iliac"].points_ras

    def tilt_from_vertical(p):
        d = p[40] - p[0]
        return np.degrees(np.arccos(-d[2] / np.linalg.norm(d)))

    assert tilt_from_vertical(for_left) > tilt_from_vertical(for_right) + 5.0
    # Branches are labelled by anatomy: the patient's left has the smaller R.
    assert for_left[30, 0] < reference.confluence_ras[0] < for_right[30, 0]
    # The renal veins enter 9-14 cm above the confluence.
    assert 90.0 <= reference.renal_inflow_ras[2] - reference.confluence_ras[2] <= 140.0


def test_truth_centerlines_are_sampled_every_mm_from_the_confluence(reference):
    for name, br in reference.branches.items():
        np.testing.assert_allclose(br.points_ras[0], reference.confluence_ras, atol=1e-6)
        steps = np.linalg.norm(np.diff(br.points_ras, axis=0), axis=1)
        assert np.all(np.abs(steps - 1.0) < 0.02), name
        np.testing.assert_allclose(np.diff(br.distance_mm), 1.0)
        assert br.length_mm > 140.0, name


def test_seeds_lie_in_their_veins_and_far_apart(reference):
    labels = reference.label_at(np.array([reference.seeds[k] for k in ("IVC", "Left", "Right")]))
    assert list(labels) == [1, 2, 3]
    pts = np.array(list(reference.seeds.values()))
    dist = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    assert dist[np.triu_indices(3, 1)].min() > 100.0


# --- the label map agrees with the truth diameters ------------------------------------------


@pytest.mark.parametrize(("name", "label"), [("ivc", 1), ("left_iliac", 2), ("right_iliac", 3)])
def test_label_sections_match_truth_area(reference, name, label):
    br = reference.branches[name]
    t = tangents(br.points_ras)
    idx = np.flatnonzero(br.healthy())[::6]
    mask = reference.labels == label
    ratios = [section_area(reference, mask, br.points_ras[i], t[i]) / br.area_mm2[i] for i in idx]
    # Voxelisation at 1 mm makes single sections scatter a few percent; the median must be exact.
    assert len(ratios) > 10
    assert abs(np.median(ratios) - 1.0) < 0.03, np.median(ratios)
    assert np.percentile(np.abs(np.array(ratios) - 1.0), 90) < 0.12


def test_vein_labels_are_single_connected_pieces(reference):
    for label in (1, 2, 3):
        _, n = ndimage.label(reference.labels == label)
        assert n == 1, label


# --- the image: enhancement, neighbours, partial volume, noise ------------------------------


def interior(mask: np.ndarray) -> np.ndarray:
    return ndimage.binary_erosion(mask, iterations=2)


def test_veins_arteries_and_kidneys_enhance_alike(reference):
    img, lab = reference.image.astype(float), reference.labels
    hu = reference.enhancement_hu
    vein = np.median(img[interior(np.isin(lab, (1, 2, 3)))])
    artery = np.median(img[interior(lab == 5)])
    kidney = np.median(img[interior(lab == 6)])
    assert abs(vein - hu["vein"]) < 5.0
    assert abs(artery - hu["artery"]) < 5.0
    assert abs(kidney - hu["kidney"]) < 5.0
    # Similar enhancement: no intensity threshold separates veins from arteries or kidneys.
    assert abs(artery - vein) < 40.0 and abs(kidney - vein) < 40.0
    # Bowel holds gas, bones are dense.
    assert (img[lab == 7] < -500).sum() > 1000
    assert np.median(img[lab == 8]) > 200


def test_noise_level_matches_the_option(reference):
    img = reference.image.astype(float)
    inside = interior(reference.labels == 1)
    assert abs(img[inside].std() - reference.options.noise_hu) < 0.2 * reference.options.noise_hu


def test_arteries_touch_the_veins(reference):
    veins = np.isin(reference.labels, (1, 2, 3))
    arteries = reference.labels == 5
    # Touching: within one voxel of each other over a good length, but never overlapping.
    contact = ndimage.binary_dilation(veins, iterations=1) & arteries
    assert contact.sum() > 200
    assert not np.any(veins & arteries)


def test_right_common_iliac_artery_crosses_in_front_of_the_left_common_iliac_vein(reference):
    br = reference.branches["left_iliac"]
    i = int(np.argmin(np.abs(br.distance_mm - 20.0)))
    p, t = br.points_ras[i], tangents(br.points_ras)[i]
    anterior = np.array([0.0, 1.0, 0.0]) - t[1] * t
    anterior /= np.linalg.norm(anterior)
    ray = p + np.arange(0.0, 25.0, 0.5)[:, None] * anterior
    labels = reference.label_at(ray)
    assert 5 in labels  # an artery in front of the vein
    first_artery = np.argmax(labels == 5)
    assert set(labels[:first_artery]) <= {0, 2}  # nothing else between them but a voxel of gap
    behind = reference.label_at(p - np.arange(0.0, 40.0, 0.5)[:, None] * anterior)
    assert 8 in behind  # and the spine behind it


def test_renal_veins_enter_the_ivc(reference):
    ras = reference.renal_inflow_ras
    assert reference.label_at(ras)[0] == 1
    near = np.zeros_like(reference.labels, dtype=bool)
    ijk = np.rint(reference.ras_to_ijk(ras)).astype(int)
    sl = tuple(slice(max(c - 20, 0), c + 21) for c in ijk[::-1])
    near[sl] = True
    other = ndimage.binary_dilation(reference.labels == 4, iterations=1)
    assert np.any(other & (reference.labels == 1) & near)


def test_partial_volume_blends_the_vein_wall():
    ph = make_phantom(PhantomOptions(noise_hu=0.0, spacing_mm=2.0))
    img = ph.image.astype(float)
    wall = ndimage.binary_dilation(ph.labels == 1) & ~(ph.labels == 1) & (ph.labels == 0)
    vals = img[wall]
    vein = ph.enhancement_hu["vein"]
    between = (vals > REFERENCE_HU["visceral"] + 30) & (vals < vein - 10)
    assert between.mean() > 0.3
    assert np.median(img[interior(ph.labels == 1)]) == pytest.approx(vein, abs=1.0)


# --- lesions ------------------------------------------------------------------------------


def test_may_thurner_compression(may_thurner):
    (les,) = may_thurner.lesions
    assert les.branch == "left_iliac" and les.kind == "stenosis"
    assert les.area_ratio == pytest.approx(0.3, abs=0.01)
    assert 8.0 <= les.start_mm < 20.0 < les.end_mm <= 32.0
    br = may_thurner.branches["left_iliac"]
    i = int(np.argmin(br.area_mm2))
    assert br.area_mm2[i] == pytest.approx(les.min_area_mm2, rel=0.02)
    # Flattened front to back: the section is much wider than deep.
    assert br.max_diameter_mm[i] / br.min_diameter_mm[i] > 3.0
    # The label map shows the same narrowing.
    area = section_area(may_thurner, may_thurner.labels == 2, br.points_ras[i], tangents(br.points_ras)[i])
    assert area == pytest.approx(les.min_area_mm2, rel=0.2)
    # ... and the vein stays one piece through it.
    _, n = ndimage.label(may_thurner.labels == 2)
    assert n == 1


def test_ivc_occlusion(occlusion):
    les = occlusion.lesions[0]
    assert les.kind == "occlusion" and les.branch == "ivc"
    assert les.length_mm == pytest.approx(40.0, abs=0.5)
    br = occlusion.branches["ivc"]
    inside = (br.distance_mm > les.start_mm + 2) & (br.distance_mm < les.end_mm - 2)
    assert np.all(br.area_mm2[inside] == 0.0)
    assert np.all(occlusion.label_at(br.points_ras[inside]) == 9)
    ijk = np.rint(occlusion.ras_to_ijk(br.points_ras[inside])).astype(int)
    img_vals = occlusion.image[ijk[:, 2], ijk[:, 1], ijk[:, 0]]
    assert abs(np.median(img_vals) - REFERENCE_HU["fibrosis"]) < 15
    below = (br.distance_mm > 3) & (br.distance_mm < les.start_mm - 8)
    above = (br.distance_mm > les.end_mm + 8) & (br.distance_mm < les.end_mm + 30)
    assert np.all(occlusion.label_at(br.points_ras[below]) == 1)
    assert np.all(occlusion.label_at(br.points_ras[above]) == 1)
    # The lumen is cut in two; collaterals (other veins) bypass the occlusion.
    _, n = ndimage.label(occlusion.labels == 1)
    assert n == 2
    assert occlusion.label_at(occlusion.seeds["Via"])[0] == 9
    assert (occlusion.labels == 4).sum() * np.prod(occlusion.spacing_mm) > 3000.0


def test_bilateral_iliac_narrowing():
    ph = make_phantom(PhantomOptions(bilateral_iliac_area_ratio=0.5, spacing_mm=1.5))
    assert sorted(les.branch for les in ph.lesions) == ["left_iliac", "right_iliac"]
    for les in ph.lesions:
        assert les.area_ratio == pytest.approx(0.5, abs=0.01)
        br = ph.branches[les.branch]
        assert les.start_mm < br.distance_mm[np.argmin(br.area_mm2)] < les.end_mm


# --- variation, options, orientation, bad input --------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_anatomies_stay_anatomical(seed):
    ph = make_phantom(PhantomOptions(seed=seed, spacing_mm=2.0))
    assert 50.0 <= ph.inter_iliac_angle_deg <= 85.0
    ivc = ph.branches["ivc"]
    assert 18.0 <= np.median(ivc.ce_diameter_mm[ivc.healthy()]) <= 26.0
    assert list(ph.label_at(np.array([ph.seeds[k] for k in ("IVC", "Left", "Right")]))) == [1, 2, 3]
    veins = np.isin(ph.labels, (1, 2, 3))
    assert not np.any(veins & (ph.labels == 5))
    for label in (1, 2, 3):
        assert ndimage.label(ph.labels == label)[1] == 1
    ref = make_phantom(PhantomOptions(seed=seed + 10, spacing_mm=2.0))
    assert ref.inter_iliac_angle_deg != pytest.approx(ph.inter_iliac_angle_deg, abs=0.01)


def test_same_seed_same_phantom():
    a = make_phantom(PhantomOptions(seed=5, spacing_mm=3.0))
    b = make_phantom(PhantomOptions(seed=5, spacing_mm=3.0))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)


def test_ras_and_lps_orders_hold_the_same_world():
    lps = make_phantom(PhantomOptions(spacing_mm=(2.0, 1.5, 2.5)))
    ras = make_phantom(PhantomOptions(spacing_mm=(2.0, 1.5, 2.5), lps_orientation=False))
    np.testing.assert_allclose(np.diag(ras.ijk_to_ras)[:3], [2.0, 1.5, 2.5])
    np.testing.assert_allclose(np.diag(lps.ijk_to_ras)[:3], [-2.0, -1.5, 2.5])
    assert np.array_equal(lps.labels[:, ::-1, ::-1], ras.labels)
    probe = np.array([lps.seeds["IVC"], lps.renal_inflow_ras, lps.branches["left_iliac"].points_ras[50]])
    assert np.array_equal(lps.label_at(probe), ras.label_at(probe))


def test_given_size_is_centred_on_the_anatomy():
    ph = make_phantom(PhantomOptions(spacing_mm=3.0, size_ijk=(140, 100, 120)))
    assert ph.image.shape == (120, 100, 140)
    # 420 mm wide: the whole body with air on both sides.
    assert ph.image[:, 50, 0].max() < -900 and ph.image[:, 50, -1].max() < -900
    assert list(ph.label_at(np.array([ph.seeds[k] for k in ("IVC", "Left", "Right")]))) == [1, 2, 3]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (PhantomOptions(spacing_mm=0.0), "spacing"),
        (PhantomOptions(size_ijk=(600, 512, 400)), "maximum"),
        (PhantomOptions(may_thurner_area_ratio=1.5), "may_thurner_area_ratio"),
        (PhantomOptions(ivc_occlusion_length_mm=200.0), "ivc_occlusion_length_mm"),
        (PhantomOptions(noise_hu=-1.0), "noise_hu"),
        (PhantomOptions(artery_overlap_mm=5.0), "artery_overlap_mm"),
        (PhantomOptions(irregularity=0.5), "irregularity"),
        (PhantomOptions(spacing_mm=(1.0, 1.0, 3.0), slice_thickness_mm=2.0), "slice_thickness_mm"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(options, message):
    with pytest.raises(ValueError, match=message):
        make_phantom(options)


# --- harder venograms (issue 12) --------------------------------------------------------------

# The harder phantom's geometry and enhancement, without blur or noise (tested apart below).
HARDER = {**HARDER_OPTIONS, "psf_sigma_mm": 0.0, "noise_hu": 0.0}


@pytest.fixture(scope="module")
def harder(phantom_of) -> Phantom:
    return phantom_of(**HARDER)


def test_harder_options_set_every_harder_field_and_take_changes():
    options = harder_options(noise_hu=25.0, may_thurner_area_ratio=0.3)
    assert options.noise_hu == 25.0 and options.may_thurner_area_ratio == 0.3
    assert options.psf_sigma_mm == HARDER_OPTIONS["psf_sigma_mm"] and options.veins_on_bone
    with pytest.raises(ValueError, match="psf_sigma_mm"):
        harder_options(psf_sigma_mm=3.0)


def lens_area(big: float, small: float, overlap: float) -> float:
    """Area of the overlap of two circles (radii big, small) whose walls overlap by `overlap`."""
    d = big + small - overlap
    a1 = small**2 * np.arccos((d * d + small**2 - big**2) / (2 * d * small))
    a2 = big**2 * np.arccos((d * d + big**2 - small**2) / (2 * d * big))
    return float(
        a1
        + a2
        - 0.5 * np.sqrt((-d + small + big) * (d + small - big) * (d - small + big) * (d + small + big))
    )


def test_harder_veins_lie_in_soft_tissue_on_bone_beside_bowel(harder):
    img, lab = harder.image.astype(float), harder.labels
    veins = np.isin(lab, (1, 2, 3))
    outside = ndimage.distance_transform_edt(~veins, sampling=harder.spacing_mm[::-1])
    shell = (outside > 3.0) & (outside < 6.0) & (lab == 0)
    assert abs(np.median(img[shell]) - HARDER["soft_tissue_hu"]) < 5.0  # no fat plane around the veins
    # The fluid-filled loop lies 1.5 mm in front of the IVC: close, but never touching.
    assert 1.0 <= outside[lab == 7].min() <= 3.0
    # Bone within 1.5 mm of the wall along the lower IVC, the common iliac veins (vertebrae,
    # sacrum) and the external iliac veins (pelvic brim).
    to_bone = ndimage.distance_transform_edt(lab != 8, sampling=harder.spacing_mm[::-1])
    for name, s0, s1 in (("ivc", 5.0, 85.0), ("left_iliac", 10.0, 60.0), ("right_iliac", 10.0, 40.0)):
        br = harder.branches[name]
        sel = (br.distance_mm >= s0) & (br.distance_mm <= s1)
        ijk = np.rint(harder.ras_to_ijk(br.points_ras[sel])).astype(int)
        gap = to_bone[ijk[:, 2], ijk[:, 1], ijk[:, 0]] - 0.5 * br.max_diameter_mm[sel]
        assert np.mean(gap <= 1.5) >= 0.8, (name, np.percentile(gap, [10, 50, 90]))


def test_harder_arteries_indent_the_external_iliac_veins(harder):
    veins = np.isin(harder.labels, (1, 2, 3))
    arteries = harder.labels == 5
    assert (ndimage.binary_dilation(veins) & arteries).sum() > 500  # wall to wall
    for name, label in (("left_iliac", 2), ("right_iliac", 3)):
        br = harder.branches[name]
        land = harder.branch_landmarks_mm[name]
        eiv = (br.distance_mm > land["civ_end"] + 20.0) & (br.distance_mm < land["inguinal"] - 5.0)
        lost = 1.0 - br.area_mm2[eiv] / br.healthy_area_mm2[eiv]
        # The section loses the lens where a 4 mm external iliac artery overlaps it by 2 mm ...
        radius = np.median(np.sqrt(br.healthy_area_mm2[eiv] / np.pi))
        expected = lens_area(radius, 4.0, HARDER["artery_overlap_mm"]) / (np.pi * radius**2)
        assert np.median(lost) == pytest.approx(expected, rel=0.35), (name, np.median(lost), expected)
        # ... and the label map shows the same area (the artery's voxels are the artery's).
        t = tangents(br.points_ras)
        idx = np.flatnonzero(eiv)[::4]
        ratios = [
            section_area(harder, harder.labels == label, br.points_ras[i], t[i]) / br.area_mm2[i] for i in idx
        ]
        assert abs(np.median(ratios) - 1.0) < 0.04, (name, np.median(ratios))


def ellipse_misfit(ph: Phantom, mask: np.ndarray, centre: np.ndarray, normal: np.ndarray) -> float:
    """RMS misfit (fraction of the radius) of the best ellipse about `centre` to the section's
    wall, found along 48 rays in the plane (0.1 mm steps); the ellipse 1/r^2 = A c^2 + B s^2 + C cs
    is fitted by least squares."""
    normal = normal / np.linalg.norm(normal)
    u = np.cross(normal, [0.0, 0.0, 1.0] if abs(normal[2]) < 0.9 else [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    theta = np.linspace(0.0, 2.0 * np.pi, 49)[:-1]
    steps = np.arange(0.0, 25.0, 0.1)
    d = np.cos(theta)[:, None] * u + np.sin(theta)[:, None] * v
    pts = centre + d[:, None, :] * steps[None, :, None]
    ijk = ph.ras_to_ijk(pts.reshape(-1, 3))
    inside = ndimage.map_coordinates(mask.astype(np.uint8), ijk[:, ::-1].T, order=0).reshape(len(theta), -1)
    r = steps[np.argmin(inside, axis=1)]
    c, s = np.cos(theta), np.sin(theta)
    coef = np.linalg.lstsq(np.stack([c * c, s * s, c * s], axis=1), 1.0 / r**2, rcond=None)[0]
    fit = 1.0 / np.sqrt(np.maximum(np.stack([c * c, s * s, c * s], axis=1) @ coef, 1e-9))
    return float(np.sqrt(np.mean((r - fit) ** 2)) / r.mean())


def test_harder_sections_are_irregular_and_their_truth_exact(harder, reference):
    for name, label in (("ivc", 1), ("left_iliac", 2), ("right_iliac", 3)):
        br = harder.branches[name]
        t = tangents(br.points_ras)
        idx = np.flatnonzero(br.healthy())[::5]
        ratios = [
            section_area(harder, harder.labels == label, br.points_ras[i], t[i]) / br.area_mm2[i] for i in idx
        ]
        assert abs(np.median(ratios) - 1.0) < 0.03, (name, np.median(ratios))
        # Not ellipses: the walls stray from the best-fitting ellipse well beyond voxelisation.
        misfit = np.median(
            [ellipse_misfit(harder, harder.labels == label, br.points_ras[i], t[i]) for i in idx]
        )
        ref = reference.branches[name]
        rt = tangents(ref.points_ras)
        ref_idx = np.flatnonzero(ref.healthy())[::5]
        ref_misfit = np.median(
            [ellipse_misfit(reference, reference.labels == label, ref.points_ras[i], rt[i]) for i in ref_idx]
        )
        assert misfit > 1.2 * ref_misfit, (name, misfit, ref_misfit)
        # The calibre changes along the vein (+-15 %), beyond the anatomy's steps.
        ce = br.ce_diameter_mm[br.healthy()]
        assert ce.max() / ce.min() > 1.25, name


def test_harder_enhancement_falls_towards_the_legs_and_the_left_inflow_mixes(harder):
    def hu_at(p):
        ijk = np.rint(harder.ras_to_ijk(p)).astype(int)
        return float(
            np.median(harder.image[ijk[2] - 1 : ijk[2] + 2, ijk[1] - 1 : ijk[1] + 2, ijk[0] - 1 : ijk[0] + 2])
        )

    ivc, left, right = (hu_at(harder.seeds[k]) for k in ("IVC", "Left", "Right"))
    assert ivc == pytest.approx(harder.enhancement_hu["vein"], abs=2.0)
    assert 0.7 * HARDER["enhancement_gradient_hu"] <= ivc - right <= HARDER["enhancement_gradient_hu"] + 2.0
    assert right - left == pytest.approx(HARDER["inflow_mixing_hu"], abs=4.0)
    # Layering in the IVC 15 mm above the confluence: its left half holds the darker inflow.
    br = harder.branches["ivc"]
    p = br.points_ras[15]
    assert hu_at(p + [4.0, 0.0, 0.0]) - hu_at(p - [4.0, 0.0, 0.0]) > 0.5 * HARDER["inflow_mixing_hu"]


def test_psf_blurs_the_image_not_the_truth(reference):
    from scipy.optimize import curve_fit
    from scipy.special import erf

    sigma = 1.0
    ph = make_phantom(PhantomOptions(psf_sigma_mm=sigma, noise_hu=0.0))
    assert np.array_equal(ph.labels, reference.labels)

    def edge(x, x0, s, low, high):
        return low + (high - low) * 0.5 * (1.0 - erf((x - x0) / (np.sqrt(2.0) * s)))

    widths = []
    br = ph.branches["ivc"]
    for p in br.points_ras[40:100:4]:
        # Along +R (the patient's right) from the IVC's centre, across its wall into the fat.
        x = np.arange(0.0, 22.0, 1.0)
        vals = ndimage.map_coordinates(
            ph.image.astype(float), ph.ras_to_ijk(p + x[:, None] * [1.0, 0.0, 0.0])[:, ::-1].T, order=1
        )
        popt, _ = curve_fit(edge, x, vals, p0=[10.0, 1.0, -70.0, 165.0])
        widths.append(abs(popt[1]))
    # The partial-volume ramp one voxel wide adds a variance of 1/12 voxel^2.
    expected = np.sqrt(sigma**2 + 1.0 / 12.0)
    assert np.median(widths) == pytest.approx(expected, rel=0.15), np.median(widths)


@pytest.mark.parametrize(("correlation", "lag1"), [(0.0, 0.0), (2.0, float(np.exp(-0.25)))])
def test_white_and_correlated_noise(phantom_of, correlation, lag1):
    clean = phantom_of(spacing_mm=2.0, noise_hu=0.0)
    ph = make_phantom(PhantomOptions(spacing_mm=2.0, noise_hu=20.0, noise_correlation_mm=correlation))
    noise = ph.image.astype(float) - clean.image
    body = ph.labels > 0
    assert noise[body].std() == pytest.approx(20.0, rel=0.1)
    for axis in range(3):
        a = np.moveaxis(noise, axis, 0)
        r = np.corrcoef(a[1:].ravel(), a[:-1].ravel())[0, 1]
        # Neighbours 2 mm apart: a Gaussian correlation of 2 mm gives exp(-2^2 / (4 * 2^2)).
        assert r == pytest.approx(lag1, abs=0.08), (axis, r)


def test_thick_slices_integrate_over_their_thickness():
    thin = make_phantom(PhantomOptions(spacing_mm=(2.0, 2.0, 1.0), noise_hu=0.0))
    thick = make_phantom(PhantomOptions(spacing_mm=(2.0, 2.0, 3.0), slice_thickness_mm=3.0, noise_hu=0.0))
    np.testing.assert_allclose(np.diag(thick.ijk_to_ras)[:3], [-2.0, -2.0, 3.0])
    assert thick.image.shape[1:] == thin.image.shape[1:]
    n = min(thick.image.shape[0] - 1, (thin.image.shape[0] - 2) // 3)
    # Each 3 mm slice is the mean of the three 1 mm slices it covers (away from the fat, whose
    # texture is drawn on a grid of another size).
    solid = ndimage.binary_erosion(thin.labels > 0, iterations=2)
    k = np.arange(1, n)
    stack = thin.image[3 * k[:, None] + np.array([-1, 0, 1])].astype(float)
    inside = solid[3 * k[:, None] + np.array([-1, 0, 1])].all(axis=1)
    diff = np.abs(thick.image[k].astype(float) - stack.mean(axis=1))[inside]
    assert inside.sum() > 5000 and diff.max() <= 1.0
    assert np.array_equal(thick.labels[k], thin.labels[3 * k])

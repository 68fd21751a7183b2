"""Fine voxels (issue 15): a 0.6 mm venogram is planned and agrees with 1 mm, VMTK's surface
stays within its budget, and the shortcuts that keep the cost bounded by the veins give what the
whole-box computations gave.

The phantoms here have a reduced field of view (140 x 80 x 150 mm: the veins leave it at both
ends, as in a scan) so that the suite stays fast; the benchmark (tools/bench.py) times the whole
plan on a full-size venogram.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from IVCReconstructionLib import names
from IVCReconstructionLib.measure import surface
from IVCReconstructionLib.plan.catalog import load_catalog
from IVCReconstructionLib.segment import branches, grid, lumen, occlusion

FIELD_MM = (140.0, 80.0, 150.0)


def field(spacing: float) -> tuple[int, int, int]:
    return tuple(round(mm / spacing) for mm in FIELD_MM)


@pytest.fixture(scope="module")
def planned(phantom_of, tmp_path_factory):
    """The May-Thurner anatomy at 0.6 mm and at 1.0 mm (same field of view), each planned from
    its seeds by the whole pipeline (segmentation, centerlines, plan, every output file)."""
    from IVCReconstructionLib.pipeline import PipelineInput, run_pipeline
    from IVCReconstructionLib.scene.context import create_scene
    from IVCReconstructionLib.scene.nodes import add_volume_from_array

    out = {}
    for spacing in (0.6, 1.0):
        ph = phantom_of(spacing_mm=spacing, size_ijk=field(spacing), may_thurner_area_ratio=0.3)
        folder = tmp_path_factory.mktemp(f"plan{spacing}")
        with create_scene() as ctx:
            volume = add_volume_from_array(ctx.scene, ph.image, ph.ijk_to_ras, "venogram")
            case = PipelineInput(volume, ph.image, ph.ijk_to_ras, {"format": "test"}, ph.seeds)
            result = run_pipeline(ctx, case, folder, catalog=load_catalog())
        out[spacing] = (ph, result, folder)
    return out


def test_a_fine_venogram_is_planned_with_a_bounded_vmtk_surface(planned):
    _, result, folder = planned[0.6]
    cl = result.measured.centerlines
    # VMTK got a surface within its budget; the sections the full-resolution one.
    assert cl.surface_build.points == cl.surface.GetNumberOfPoints() <= surface.MAX_POINTS
    assert cl.section_surface.GetNumberOfPoints() > 5 * cl.surface.GetNumberOfPoints()
    (lesion,) = [les for les in result.plan.lesions if les.branch == "left_iliac"]
    assert lesion.kind == "stenosis"
    assert any("left_iliac" in st.coverage for st in result.plan.stents)
    for name in ("plan.json", "scene.mrb", "report.html", "segmentation.seg.nrrd"):
        assert (folder / name).stat().st_size > 0, name


def test_ce_diameters_at_0_6_and_1_0_mm_agree(planned):
    (ph6, r6, _), (_, r10, _) = planned[0.6], planned[1.0]
    for branch in names.BRANCHES:
        p6, p10 = r6.measured.profiles[branch], r10.measured.profiles[branch]
        truth = ph6.branches[branch]
        healthy = truth.healthy()[cKDTree(truth.points_ras).query(p6.points_ras)[1]]
        dist, idx = cKDTree(p10.points_ras).query(p6.points_ras)
        ok = healthy & ~p6.confluence_zone & ~p10.confluence_zone[idx] & (dist < 1.0)
        assert ok.sum() >= 20, branch
        diff = np.abs(p6.ce_diameter_mm[ok] - p10.ce_diameter_mm[idx][ok])
        assert np.median(diff) <= 0.3, (branch, np.median(diff))


# --- the bounded computations give the whole-box results ----------------------------------


@pytest.fixture(scope="module")
def blob() -> np.ndarray:
    rng = np.random.default_rng(3)
    return ndimage.gaussian_filter(rng.normal(size=(50, 40, 60)), 2.5) > 0.05


def test_tidy_labels_per_piece_box_as_whole_box(blob):
    rng = np.random.default_rng(4)
    labels = np.where(blob, 1, 0).astype(np.uint8)
    labels[blob & (rng.random(blob.shape) < 0.02)] = 2  # specks of another label inside
    labels[:, :, 30:] = np.where(blob[:, :, 30:], 2, 0)
    labels[blob & (rng.random(blob.shape) < 0.01)] = 3
    assert len(np.unique(ndimage.label(labels == 2)[0])) > 10  # many strays to tidy

    def whole_box(labels):  # the former implementation
        out = labels.copy()
        for value in (1, 2, 3):
            pieces, n = ndimage.label(out == value)
            if n <= 1:
                continue
            sizes = np.bincount(pieces.ravel())[1:]
            for piece in np.flatnonzero(sizes < 0.05 * sizes.max()) + 1:
                mask = pieces == piece
                ring = ndimage.binary_dilation(mask) & ~mask
                around = out[ring]
                around = around[(around > 0) & (around != value) & (around != names.OCCLUDED_LABEL)]
                if len(around):
                    out[mask] = np.bincount(around).argmax()
        return out

    expected = whole_box(labels)
    assert not np.array_equal(expected, labels)
    np.testing.assert_array_equal(branches.tidy_labels(labels), expected)


def test_assign_branches_with_bounds_as_every_query(blob):
    """The bounded queries label every voxel as the 8-neighbour query of every voxel against
    every path did, ties included: the three paths share their confluence point (equidistant
    voxels) and some radii are equal, so some voxels score the same for two branches."""
    rng = np.random.default_rng(6)
    m = np.diag([0.7, 0.6, 0.8, 1.0])
    m[:3, 3] = [-10.0, 4.0, 2.0]
    centre = grid.to_ras(np.array(blob.shape[::-1]) / 2.0, m)
    ends = {"ivc": [0.0, 0.0, 20.0], "left_iliac": [15.0, 2.0, -18.0], "right_iliac": [-15.0, -2.0, -18.0]}
    dense = {
        b: centre + np.linspace(0.0, 1.0, 40 + 7 * n)[:, None] * np.array(end)
        for n, (b, end) in enumerate(ends.items())
    }
    table = rng.integers(1, 5, 64).astype(np.float32)

    def depth_at(pts):  # a radius at each point (whole millimetres, so that scores tie)
        r = table[np.floor(np.linalg.norm(pts - centre, axis=1) * 0.3).astype(int) % 64]
        # The widest at the shared point: voxels around it score the same for all three.
        return np.where(np.linalg.norm(pts - centre, axis=1) < 1.0, np.float32(6.0), r)

    def every_query():  # the former implementation
        vk = np.argwhere(blob)
        vras = grid.to_ras(vk[:, ::-1].astype(float), m)
        best = np.full(len(vk), np.inf)
        label = np.zeros(len(vk), dtype=np.uint8)
        for branch, pts in dense.items():
            d, i = cKDTree(pts).query(vras, k=8)
            score = np.min(d - depth_at(pts)[i], axis=1)
            closer = score < best
            best[closer] = score[closer]
            label[closer] = names.VEIN_LABELS[branch]
        out = np.zeros(blob.shape, dtype=np.uint8)
        out[tuple(vk.T)] = label
        return out

    expected = every_query()
    assert all(np.sum(expected == names.VEIN_LABELS[b]) > 1000 for b in dense)
    radii = {b: depth_at(pts) for b, pts in dense.items()}
    np.testing.assert_array_equal(branches.assign_branches(blob, m, dense, radii), expected)


def test_assign_branches_with_bounds_as_every_query_on_random_ties():
    """Random small cases full of exact ties (points on the voxel grid, a shared confluence
    point, duplicate points, radii in whole half-millimetres, paths of 1 to 30 points): the
    bounded queries label as querying everything (a strict bound, ``<`` for ``<=``, broke most)."""
    rng = np.random.default_rng(11)
    for trial in range(150):
        shape = tuple(int(n) for n in rng.integers(4, 14, 3))
        vein = rng.random(shape) < rng.uniform(0.2, 1.0)
        m = np.eye(4)
        if trial % 3 == 1:
            m[:3, :3] = np.diag(rng.choice([0.5, 0.6, 0.7, 1.0], 3))
            m[:3, 3] = rng.normal(0.0, 500.0, 3)
        centre = grid.to_ras(np.array(shape[::-1]) / 2.0, m)
        dense, radii = {}, {}
        for branch in names.BRANCHES:
            n = int(rng.choice([1, 2, 3, 7, 8, 9, 30]))
            if trial % 2:
                pts = grid.to_ras(rng.integers(0, 2 * max(shape), (n, 3)) / 2.0, m)
            else:
                pts = centre + rng.normal(0.0, 3.0, (n, 3))
            pts[0] = centre
            if n > 3 and trial % 4 == 0:
                pts[2] = pts[1]
            dense[branch] = pts
            radii[branch] = rng.choice([0.0, 0.5, 1.0, 1.5, 2.0], n).astype(np.float32)
        vk = np.argwhere(vein)
        vras = grid.to_ras(vk[:, ::-1].astype(float), m)
        best, label = np.full(len(vk), np.inf), np.zeros(len(vk), dtype=np.uint8)
        for branch, pts in dense.items():  # every voxel against every path
            d, i = cKDTree(pts).query(vras, k=min(8, len(pts)))
            d, i = d.reshape(len(vk), -1), i.reshape(len(vk), -1)
            score = np.min(d - radii[branch].astype(np.float64)[i], axis=1)
            closer = score < best
            best[closer], label[closer] = score[closer], names.VEIN_LABELS[branch]
        expected = np.zeros(shape, dtype=np.uint8)
        expected[tuple(vk.T)] = label
        labels = branches.assign_branches(vein, m, dense, radii)
        np.testing.assert_array_equal(labels, expected, err_msg=str(trial))


def test_fill_holes_in_the_box_as_scipy(blob):
    hollow = blob.copy()
    hollow[5:15, 5:15, 40:50] = True
    hollow[8:12, 8:12, 43:47] = False  # a closed cavity
    for mask in (blob, ~blob, hollow):
        np.testing.assert_array_equal(lumen.fill_holes(mask), ndimage.binary_fill_holes(mask))
    assert lumen.fill_holes(hollow).sum() >= hollow.sum() + 64


def test_depth_and_gaussian_at_points_as_whole_box(blob):
    spacing = np.array([0.6, 0.7, 0.8])
    kji = np.argwhere(np.ones(blob.shape, dtype=bool))[::29]
    whole = ndimage.maximum_filter(grid.distance_inside(blob, spacing), size=3)
    depth = grid.max_depth_sampler(blob, spacing)(kji)
    assert depth.max() > 2.0
    np.testing.assert_allclose(depth, whole[tuple(kji.T)], atol=1e-4)
    image = (np.random.default_rng(5).normal(size=(60, 50, 70)) * 100).astype(np.int16)
    box = (slice(5, 55), slice(4, 44), slice(3, 63))
    sigma = 1.0 / spacing[::-1]
    smooth = ndimage.gaussian_filter(image[box].astype(np.float32), sigma)
    np.testing.assert_array_equal(grid.gaussian_at(image, box, sigma, kji), smooth[tuple(kji.T)])


def test_inner_voxels_as_the_minimum_filter(blob):
    speckled = blob & (np.random.default_rng(7).random(blob.shape) < 0.97)
    for mask in (blob, speckled, np.ones((4, 1, 5), dtype=bool), ~blob):
        expected = ndimage.minimum_filter(mask.view(np.uint8), size=3, mode="nearest") > 0
        assert expected.any()
        np.testing.assert_array_equal(grid.inner_voxels(mask), expected)


def test_pieces_through_points_as_labelling_every_piece(blob):
    pieces, n = ndimage.label(blob)
    assert n > 20
    kji = np.argwhere(np.ones(blob.shape, dtype=bool))[::997]  # in some pieces, and outside
    hit = np.unique(pieces[tuple(kji.T)])
    hit = hit[hit > 0]
    assert 3 < len(hit) < n
    expected = np.isin(pieces, hit)
    np.testing.assert_array_equal(occlusion.pieces_through(blob, kji), expected)
    assert not occlusion.pieces_through(blob, kji[~blob[tuple(kji.T)]]).any()


def test_straight_factor_in_the_via_box_as_on_the_whole_grid():
    from IVCReconstructionLib.segment import paths

    def whole_grid(shape, m, before, via):  # the former implementation
        kji = np.indices(shape).reshape(3, -1).T
        rel = grid.to_ras(kji[:, ::-1].astype(float), m) - via
        u = (via - before) / np.linalg.norm(via - before)
        off = np.linalg.norm(rel - (rel @ u)[:, None] * u, axis=1)
        near = np.linalg.norm(rel, axis=1) <= paths.VIA_REACH_MM
        return (
            np.where(near, np.exp(-((off / paths.STRAIGHT_MM) ** 2)), 1.0).reshape(shape).astype(np.float32)
        )

    rng = np.random.default_rng(8)
    for n in range(6):
        m = np.eye(4)
        m[:3, :3] = np.linalg.qr(rng.normal(size=(3, 3)))[0] @ np.diag(rng.uniform(1.5, 3.0, 3))
        m[:3, 0] += 0.3 * m[:3, 2] * (n % 2)  # sheared (a tilted gantry) every other time
        shape = (40, 30 + n, 50)
        via = grid.to_ras(rng.uniform(-5.0, 45.0, 3), m)  # sometimes near or past an edge
        before = via + rng.normal(size=3) * 30.0
        expected = whole_grid(shape, m, before, via)
        assert (expected < 1.0).any()
        box, factor = paths._straight_factor(shape, m, before, via)
        out = np.ones(shape, dtype=np.float32)
        out[box] = factor
        np.testing.assert_array_equal(out, expected)
        # The ball's box holds every voxel of the ball, at the RAS the whole grid gives it.
        ball, ras = paths._ball_box(shape, m, via)
        whole = grid.to_ras(np.indices(shape).reshape(3, -1).T[:, ::-1].astype(float), m).reshape(*shape, 3)
        np.testing.assert_array_equal(ras.reshape(*whole[ball].shape), whole[ball])
        inside = np.zeros(shape, dtype=bool)
        inside[ball] = True
        assert not np.any((np.linalg.norm(whole - via, axis=-1) <= paths.VIA_REACH_MM) & ~inside)


def test_round_off_junctions_in_the_tube_box_as_with_whole_masks():
    def whole_masks(labels, path_ras, m, value):  # the former implementation
        spacing = np.linalg.norm(m[:3, :3], axis=0)
        near = grid.tube_around(path_ras, m, labels.shape, occlusion.JUNCTION_MARGIN_MM)
        kji = np.argwhere(near)
        pad = np.ceil(2 * occlusion.JUNCTION_RADIUS_MM / spacing[::-1]).astype(int) + 1
        low = np.maximum(kji.min(axis=0) - pad, 0)
        high = np.minimum(kji.max(axis=0) + pad + 1, labels.shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
        mask = labels[box] > 0
        r = occlusion.JUNCTION_RADIUS_MM
        dilated = ndimage.distance_transform_edt(~mask, sampling=spacing[::-1]) <= r
        closed = ndimage.distance_transform_edt(dilated, sampling=spacing[::-1]) > r
        labels[box][closed & ~mask & near[box]] = value

    m = np.diag([0.8, 0.7, 0.9, 1.0])
    labels = np.zeros((90, 50, 60), dtype=np.uint8)
    labels[5:40, 10:35, 0:60] = 1  # a lumen that tapers into a thin occluded tube
    labels[36:40, 10:35, 4:7] = 0  # notches closed only within 15 mm of the path (here ~19 mm)
    labels[36:40, 10:35, 18:21] = 0
    labels[40:55, 20:25, 24:28] = names.OCCLUDED_LABEL
    labels[55:85, 8:38, 15:42] = 1
    # Paths along the tube, one running out of the volume's side and end (boxes cut at edges).
    for path_kji in ([[20, 22, 26], [70, 22, 26]], [[30, 22, 26], [89, 45, 2]]):
        path = grid.to_ras(np.array(path_kji, dtype=float)[:, ::-1], m)
        expected = labels.copy()
        whole_masks(expected, path, m, 1)
        assert (expected != labels).sum() > 50
        out = labels.copy()
        occlusion.round_off_junctions(out, path, m, 1)
        np.testing.assert_array_equal(out, expected)


def test_fill_occluded_small_box_as_the_stretch_box():
    labels = np.zeros((60, 50, 80), dtype=np.uint8)
    labels[10:50, 20:30, 5:25] = 1
    labels[10:50, 20:30, 55:75] = 2
    labels[28:32, 23:27, 25:55] = names.OCCLUDED_LABEL  # a long occluded bridge
    filled = occlusion.fill_occluded(labels)
    hole = labels == names.OCCLUDED_LABEL
    _, idx = ndimage.distance_transform_edt(~np.isin(labels, (1, 2, 3)), return_indices=True)
    np.testing.assert_array_equal(filled[hole], labels[tuple(i[hole] for i in idx)])
    assert set(np.unique(filled[hole])) == {1, 2}


# --- VMTK's surface within a budget, the sections' at full resolution ---------------------


def y_tube(spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """A Y of round tubes (trunk radius 9 mm, limbs 6 mm) as a mask at ``spacing`` mm."""
    n = (np.array([120.0, 60.0, 160.0]) / spacing).astype(int)  # i, j, k
    k, j, i = np.meshgrid(*(np.arange(m) * spacing for m in n[::-1]), indexing="ij")
    x, y, z = i - 60.0, j - 30.0, k
    trunk = (z > 70) & (x**2 + y**2 < 81)
    limbs = (z <= 80) & (np.minimum((x - (80 - z) * 0.5) ** 2, (x + (80 - z) * 0.5) ** 2) + y**2 < 36)
    return trunk | limbs, np.diag([spacing, spacing, spacing, 1.0])


def test_vmtk_surface_budget_and_ladder():
    mask, m = y_tube(0.6)
    s, build = next(surface.surface_candidates(mask, m))
    assert build.method == "smoothed mask" and build.sigma_mm == 1.0
    assert build.points == s.GetNumberOfPoints() <= surface.MAX_POINTS
    surface.check_surface(s)
    full = surface.section_surface(mask, m)
    assert full.GetNumberOfPoints() > 5 * s.GetNumberOfPoints()
    # Every candidate within the budget, the ladder's rungs in turn.
    rungs = [b for _, b in surface.surface_candidates(mask, m)]
    assert all(b.points <= surface.MAX_POINTS for b in rungs)
    assert [(b.sigma_mm, b.grid_mm) for b in rungs] == list(surface.VMTK_LADDER)
    # No rung within the budget: a ValueError that says so, never a bigger surface.
    with pytest.raises(ValueError, match="budget of 500 points"):
        next(surface.surface_candidates(mask, m, max_points=500, ladder=((1.0, 1.0),)))
    coarse, m2 = y_tube(1.0)
    _, build = next(surface.surface_candidates(coarse, m2))
    assert build.method == "decimated labels" and build.sigma_mm == 0.0


# --- the venogram in scene.mrb -------------------------------------------------------------


def test_the_venogram_is_stored_uncompressed_in_the_scene_bundle(mrml, tmp_path):
    import zipfile

    from IVCReconstructionLib.scene.context import load_mrb, save_mrb, store_uncompressed
    from IVCReconstructionLib.scene.nodes import add_volume_from_array, array_and_geometry

    rng = np.random.default_rng(6)
    image = (rng.normal(size=(40, 30, 50)) * 200).astype(np.int16)
    matrix = np.diag([-0.6, -0.6, 0.6, 1.0])
    matrix[:3, 3] = (10.0, -20.0, 30.0)
    volume = add_volume_from_array(mrml.scene, image, matrix, "venogram")
    labels = add_volume_from_array(mrml.scene, (image > 300).astype(np.uint8), matrix, "labels", True)
    store_uncompressed(volume)
    path = save_mrb(mrml, tmp_path / "scene.mrb")
    with zipfile.ZipFile(path) as bundle:
        sizes = {Path(i.filename).name: i.compress_size for i in bundle.infolist()}
    # The venogram's file holds its voxels as they are; the label map stays compressed.
    (venogram,) = [size for name, size in sizes.items() if name.startswith("venogram")]
    (label_file,) = [size for name, size in sizes.items() if name.startswith("labels")]
    assert venogram >= image.nbytes
    assert label_file < image.size // 4
    loaded = load_mrb(path, tmp_path / "reload")
    try:
        (node,) = [n for n in loaded.scene.GetNodesByName("venogram")]
        back, back_matrix = array_and_geometry(node)
        np.testing.assert_array_equal(back, image)
        np.testing.assert_allclose(back_matrix, matrix, atol=1e-6)
    finally:
        loaded.close()
    assert labels.GetStorageNode() is None or labels.GetStorageNode().GetUseCompression()


def test_label_contacts_and_cut_ends_in_the_veins_box_as_whole_volume(blob):
    from IVCReconstructionLib.measure import label_geometry
    from IVCReconstructionLib.measure.datatypes import CenterlineBranch, CenterlineTree

    labels = np.zeros((70, 60, 80), dtype=np.uint8)
    labels[10:60, 10:50, 0:60] = np.where(blob, 1, 0)
    labels[10:60, 10:50, 0:30][blob[:, :, :30]] = 2  # touches label 1 inside
    labels[40:60, 30:50, 20:40][blob[30:50, 20:40, 20:40]] = 3
    matrix = np.diag([0.7, -0.6, 0.8, 1.0])
    matrix[:3, 3] = (5.0, 6.0, -7.0)

    def contacts_whole(lab):  # the former implementation
        vein = np.isin(lab, (1, 2, 3))
        points = []
        for axis in range(3):
            a, b = [slice(None)] * 3, [slice(None)] * 3
            a[axis], b[axis] = slice(0, -1), slice(1, None)
            touch = vein[tuple(a)] & vein[tuple(b)] & (lab[tuple(a)] != lab[tuple(b)])
            kji = np.argwhere(touch).astype(float)
            kji[:, axis] += 0.5
            points.append(kji[:, ::-1] @ matrix[:3, :3].T + matrix[:3, 3])
        return np.vstack(points)

    found = label_geometry.label_contacts(labels, matrix)
    assert len(found) > 100
    np.testing.assert_allclose(found, contacts_whole(labels))
    assert label_geometry.label_contacts(np.zeros((5, 5, 5), np.uint8), matrix).shape == (0, 3)

    # Cut ends: the left iliac's label (2) reaches the face i = 0, the others no face.
    def cut_ends_whole(lab, tree):  # the former implementation
        faces = np.zeros(lab.shape, dtype=bool)
        for axis in range(3):
            index = [slice(None)] * 3
            for edge in (0, -1):
                index[axis] = edge
                faces[tuple(index)] = True
        out = {}
        for name, value in names.VEIN_LABELS.items():
            kji = np.argwhere(faces & (lab == value))
            ras = kji[:, ::-1].astype(float) @ matrix[:3, :3].T + matrix[:3, 3]
            gaps = np.linalg.norm(ras - tree.branches[name].points_ras[-1], axis=1)
            reach = label_geometry.CUT_END_MM + float(tree.branches[name].mis_radius_mm[-1])
            out[name] = bool(len(kji)) and bool(gaps.min() <= reach)
        return out

    def branch(name, end_kji):
        end = np.asarray(end_kji, dtype=float)[::-1] @ matrix[:3, :3].T + matrix[:3, 3]
        pts = np.vstack([end + (0.0, 0.0, 30.0), end])
        return CenterlineBranch(name, pts, np.array([0.0, 30.0]), np.array([3.0, 3.0]))

    ends = {"ivc": (35, 30, 55), "left_iliac": (35, 30, 2), "right_iliac": (50, 40, 30)}
    tree = CenterlineTree({name: branch(name, kji) for name, kji in ends.items()}, np.zeros(3))
    found = label_geometry.cut_ends(labels, matrix, tree)
    assert found == {"ivc": False, "left_iliac": True, "right_iliac": False}
    assert found == cut_ends_whole(labels, tree)


def test_whole_volume_helpers_read_the_same_voxels_without_copies(blob):
    from IVCReconstructionLib.segment import checks, existing

    rng = np.random.default_rng(7)
    image = (rng.normal(size=(60, 50, 70)) * 300).astype(np.int16)
    flipped = image[::-1, :, ::-1]  # a reoriented view, as canonical() gives
    for im in (image, flipped):
        sample = np.ascontiguousarray(im).ravel()[:: max(1, im.size // 200_000)]
        assert checks.looks_like_ct(im) == (float(np.percentile(sample, 1)) < -50.0)
    labels = np.zeros((70, 60, 80), dtype=np.uint8)
    labels[10:60, 10:50, 5:65] = np.where(blob, rng.integers(1, 6, blob.shape), 0)
    expected = np.where(np.isin(labels, (1, 2, 3)), labels, 0).astype(np.uint8)
    np.testing.assert_array_equal(existing.vein_labels(labels), expected)
    np.testing.assert_array_equal(existing.vein_labels(labels.astype(np.int32)), expected)
    # modality_of reads the vein voxels in their box: enhanced or not.
    for low, high, expected in ((120, 220, "CT"), (20, 90, "NONCONTRAST_CT")):
        ct = np.full(labels.shape, 40, dtype=np.int16)
        ct[:5] = -1000  # air: a CT
        ct[labels > 0] = rng.integers(low, high, int((labels > 0).sum()))
        assert checks.modality_of(ct, np.eye(4), labels, np.eye(4)).name == expected
    assert checks.modality_of(ct, np.eye(4), np.zeros_like(labels), np.eye(4)).name == "CT"


def test_thickness_check_on_blocks_decides_as_on_voxels():
    from IVCReconstructionLib.measure import centerline

    spacing = np.array([0.6, 0.6, 0.6])  # i, j, k
    _, j, i = np.meshgrid(*(np.arange(n) * 0.6 for n in (60, 40, 40)), indexing="ij")
    outcomes = set()
    for radius in (6.0, 2.2, 1.9, 1.6, 1.2):
        tube = (i - 12.0) ** 2 + (j - 12.0) ** 2 < radius**2
        # The voxel-wise answer, which the block bound may only shortcut.
        widest = float(ndimage.distance_transform_edt(np.pad(tube, 1), sampling=0.6).max()) - 0.3
        thin = widest < centerline.MIN_RADIUS_MM
        outcomes.add(thin)
        if thin:
            with pytest.raises(ValueError, match=r"at most .* too small for a centerline"):
                centerline._check_thickness(tube, spacing, "iliac_vena_left")
        else:
            centerline._check_thickness(tube, spacing, "iliac_vena_left")
    assert outcomes == {True, False}


def test_keep_labels_without_min_max_passes():
    from IVCReconstructionLib.scene.segmentation_nodes import _keep_labels

    rng = np.random.default_rng(8)
    raw = rng.integers(0, 300, size=(20, 30, 40))
    for dtype in (np.uint8, np.uint16, np.int32, np.int64):
        labels = (raw % 256 if dtype == np.uint8 else raw).astype(dtype)
        for values in ([1, 2, 3, 4, 63], [1, 2, 3], [1, 2, 3, 4]):  # the last two: 1..n, no table
            kept = _keep_labels(labels - 5 if dtype in (np.int32, np.int64) else labels, values)
            raw_labels = labels - 5 if dtype in (np.int32, np.int64) else labels
            expected = np.where(np.isin(raw_labels, values), raw_labels, 0)
            assert kept.dtype == np.uint8
            np.testing.assert_array_equal(kept, expected)


def test_mask_box_is_the_bounding_box(blob):
    rng = np.random.default_rng(9)
    for mask in (blob, blob[::-1, :, ::-1], rng.random((30, 1, 20)) < 0.01, np.zeros((4, 5, 6), bool)):
        kji = np.argwhere(mask)
        expected = (
            tuple(slice(int(a), int(b) + 1) for a, b in zip(kji.min(0), kji.max(0), strict=True))
            if len(kji)
            else None
        )
        assert grid.mask_box(mask) == expected


def test_shifted_slice_filters_as_scipy(blob):
    """The face dilation and erosion, the 3 x 3 x 3 maximum and the bone band's box-bound
    distance give what scipy's whole-array filters and the whole-box distance map gave."""
    speckled = blob & (np.random.default_rng(10).random(blob.shape) < 0.97)
    for mask in (blob, speckled, np.ones((4, 1, 5), dtype=bool), ~blob):
        np.testing.assert_array_equal(grid.grow_faces(mask), ndimage.binary_dilation(mask))
        np.testing.assert_array_equal(grid.shrink_faces(mask), ndimage.binary_erosion(mask))
    depth = grid.distance_inside(blob, np.array([0.6, 0.7, 0.8]))
    np.testing.assert_array_equal(grid.max_of_27(depth), ndimage.maximum_filter(depth, size=3))
    core = np.zeros(blob.shape, dtype=bool)
    core[20:23, 5:9, 40:42] = True
    core[48:, 0, 0] = True  # at the array's faces
    for spacing in (np.array([0.6, 0.7, 0.8]), np.array([0.5, 0.5, 0.5])):
        whole = grid.distance_inside(~core, spacing)
        near = grid.within_mm(core, spacing, 2.5)
        # The same set, ties with 2.5 mm (a grid distance at 0.5 mm voxels) counted as within.
        np.testing.assert_array_equal(near, whole <= 2.5 + 1e-3)
    assert np.any(np.abs(whole - 2.5) < 1e-3)  # at 0.5 mm voxels the ties are there
    assert not grid.within_mm(np.zeros((3, 4, 5), dtype=bool), spacing, 2.5).any()


def test_block_sums_widen_as_before():
    rng = np.random.default_rng(11)
    values = rng.normal(100.0, 30.0, size=(12, 8, 10)).astype(np.float32)
    for f in ((2, 2, 2), (3, 1, 2), (1, 1, 1)):
        expected = values.astype(np.float64)
        for axis, n in enumerate(f):
            expected = sum(expected[(slice(None),) * axis + (slice(o, None, n),)] for o in range(n))
        got = grid.block_reduce(values, f, np.add)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)
    mask = values > 100.0
    np.testing.assert_array_equal(
        grid.block_reduce(mask, (2, 2, 2), np.add),
        grid.block_reduce(mask.astype(np.float32), (2, 2, 2), np.add),
    )


def test_labels_put_back_from_their_box_as_the_whole_volume():
    """Segmentation labels are put back into the input's storage order from their box, for
    each of the 48 axis orders and directions, as the whole canonical volume was."""
    import itertools

    from IVCReconstructionLib.inputs.orientation import canonical

    rng = np.random.default_rng(12)
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.eye(4)
            m[:3, :3] = np.eye(3)[:, list(perm)] * np.array(signs) * [0.7, 0.8, 1.1]
            array = rng.integers(0, 5, (9, 11, 13)).astype(np.uint8)
            labels, _, reorient = canonical(array, m)
            box = tuple(
                slice(min(a, n - 1), min(b, n))
                for (a, b), n in zip(((1, 4), (2, 7), (0, 5)), labels.shape, strict=True)
            )
            whole = np.zeros(labels.shape, dtype=np.uint8)
            whole[box] = labels[box]
            put_back = reorient.back_into(box, np.ascontiguousarray(labels[box]), np.uint8)
            np.testing.assert_array_equal(put_back, reorient.back(whole))


def test_give_back_balls_with_the_block_table_as_with_the_voxel_table(blob):
    """The coarse (4^3 block) table only lets more balls be tested; each takes what it took."""
    from IVCReconstructionLib.segment import competitors

    spacing = np.array([0.6, 0.7, 0.8])
    depth = grid.distance_inside(blob, spacing)
    ws = np.where(blob, 1, 0).astype(np.uint8)
    ws[:, :, 35:] = np.where(blob[:, :, 35:], 2, 0)
    markers = np.zeros(blob.shape, dtype=np.uint8)
    ridge = np.argwhere((depth >= 1.5) & (depth >= grid.max_of_27(depth)))
    markers[tuple(ridge[ridge[:, 2] >= 35].T)] = 2

    def voxel_table(ws):  # the former implementation: every ball tested against the basin
        vein = ws == 1
        for k, j, i in np.argwhere(markers == 2):
            radius = depth[k, j, i] + competitors.BALL_PAD_MM
            kk, jj, ii = np.ogrid[: ws.shape[0], : ws.shape[1], : ws.shape[2]]
            d2 = ((kk - k) * spacing[2]) ** 2 + ((jj - j) * spacing[1]) ** 2 + ((ii - i) * spacing[0]) ** 2
            ws[vein & (d2 < radius**2)] = 2

    expected, got = ws.copy(), ws.copy()
    voxel_table(expected)
    competitors.give_back_balls(got, markers, depth, spacing)
    assert (expected != ws).sum() > 20  # balls took vein voxels
    np.testing.assert_array_equal(got, expected)


def test_seed_distance_in_its_box_as_from_every_voxel(blob):
    """A seed's distance to its vein, looked for in the box of the 20 mm ball only, is the
    distance to the nearest of all the vein's voxels whenever that is within 20 mm."""
    from IVCReconstructionLib.measure import centerline

    rng = np.random.default_rng(13)
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    for matrix in (np.diag([0.6, 0.7, 0.8]), rotation * [0.6, 0.7, 0.8]):
        m = np.eye(4)
        m[:3, :3] = matrix
        m[:3, 3] = [5.0, -3.0, 2.0]
        voxels = centerline._voxel_ras(blob, m)
        tree = cKDTree(voxels)
        lo, hi = voxels.min(axis=0) - 25.0, voxels.max(axis=0) + 25.0
        for seed in rng.uniform(lo, hi, size=(60, 3)):
            expected = tree.query(seed)[0]
            got = centerline._distance_within(blob, m, seed, 20.0)
            if expected <= 20.0:
                assert got == pytest.approx(expected, abs=1e-9)
            else:
                assert got == np.inf


def test_occlusions_read_back_the_same_from_a_cropped_label_map():
    """An occluded stretch read back from a label map has the same end voxels wherever the map
    is cut (the measuring step crops it to the labels' box), and starts at its lower end."""
    from IVCReconstructionLib.measure.veins import _padded_box

    shape = (120, 90, 100)
    for spacing, offset in (([0.7, 0.7, 1.0], 0.0), ([0.6, 0.6, 0.6], 2.3), ([0.78125, 0.78125, 1.25], 4.1)):
        m = np.diag([*spacing, 1.0])
        m[:3, 3] = [-30.0 + offset, 12.5, -200.0 + 3 * offset]
        centre = m[:3, :3] @ np.array([45.0, 40.0, 0.0]) + m[:3, 3]
        base = m[2, 3]
        labels = np.zeros(shape, dtype=np.uint8)
        tube = np.array([[centre[0], centre[1], base + 20.0], [centre[0], centre[1], base + 100.0]])
        labels[grid.tube_around(tube, m, shape, 7.0)] = 1
        plug = np.array([[centre[0], centre[1], base + 45.0 + offset], [centre[0], centre[1], base + 70.0]])
        labels[grid.tube_around(plug, m, shape, 3.0)] = names.OCCLUDED_LABEL
        box = _padded_box(labels, 2)
        shift = np.eye(4)
        shift[:3, 3] = [sl.start for sl in box[::-1]]
        whole = occlusion.occlusions_from_labels(labels, m, occlusion.fill_occluded(labels))
        cropped = occlusion.occlusions_from_labels(
            labels[box], m @ shift, occlusion.fill_occluded(labels[box])
        )
        assert len(whole) == len(cropped) == 1
        (a,), (b,) = whole, cropped
        np.testing.assert_allclose(a.start_ras, b.start_ras, atol=1e-9)
        np.testing.assert_allclose(a.end_ras, b.end_ras, atol=1e-9)
        assert a.start_ras[2] < a.end_ras[2]
        assert a.length_mm == pytest.approx(b.length_mm, abs=1e-9)


def test_a_flat_ended_occlusion_has_its_ends_on_its_axis_however_stored():
    """A plug with flat end faces (many voxels tie at each end): its ends are on its axis and
    its length its extent, whichever way its voxels are stored (review: an extreme voxel taken
    in storage order moved the ends 5.6 mm sideways and added 0.2 mm)."""
    k, j, i = np.mgrid[0:60, 0:30, 0:30]
    m = np.diag([0.8, 0.8, 1.0, 1.0])
    labels = np.zeros((60, 30, 30), dtype=np.uint8)
    labels[((j - 15) ** 2 + (i - 15) ** 2 <= 64) & (k >= 5) & (k < 55)] = 1
    labels[((j - 15) ** 2 + (i - 15) ** 2 <= 9) & (k >= 20) & (k <= 45)] = names.OCCLUDED_LABEL
    flipped = labels[:, ::-1, :]
    m_flipped = m.copy()
    m_flipped[:3, 1] *= -1.0
    m_flipped[1, 3] = 29 * 0.8
    stretches = [
        occlusion.occlusions_from_labels(lab, mat, occlusion.fill_occluded(lab))
        for lab, mat in ((labels, m), (np.ascontiguousarray(flipped), m_flipped))
    ]
    for (found,) in stretches:
        np.testing.assert_allclose(found.start_ras, [12.0, 12.0, 20.0], atol=1e-9)
        np.testing.assert_allclose(found.end_ras, [12.0, 12.0, 45.0], atol=1e-9)
        assert found.length_mm == pytest.approx(25.0, abs=1e-9)

"""The vein's route round a tube that its path cuts through (segment.crossing), on small
synthetic volumes: a vein along R whose middle stretch is only a flat, dim strand passing
under a brighter artery that runs along S across it, and a straight path through the artery.
The geometry is in millimetres, so the same anatomy can be sampled on other voxels."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from IVCReconstructionLib.segment.crossing import add_routes, crossing_routes

BLOOD, TISSUE, ARTERY = 150.0, 40.0, 185.0
Y0, Z0 = 20.0, 20.0  # the vein's axis (mm)
X_ARTERY = 32.0  # the artery's axis (along S) crosses the vein's there


def volume(strand_mm: float | None, m: np.ndarray | None = None, shape=(40, 40, 64), gap_mm: float = 0.5):
    """(image, vein mask, artery basin, matrix, path), all [k, j, i] under ``m``. Outside the
    crossing the vein is a tube of 4 mm; within 9 mm of the artery's axis its lumen is a flat
    strand ``strand_mm`` thick, ``gap_mm`` under the artery's lower wall, 5 mm wide, at 130 HU
    (dimmer than the blood, as blurred), or nothing (None: an occlusion beside the artery)."""
    m = np.eye(4) if m is None else m
    k, j, i = np.indices(shape)
    ras = np.stack([i, j, k, np.ones(shape)], axis=-1) @ m.T
    x, y, z = ras[..., 0], ras[..., 1], ras[..., 2]
    tube = (z - Z0) ** 2 + (y - Y0) ** 2 <= 16.0
    artery = (y - Y0) ** 2 + (x - X_ARTERY) ** 2 <= 25.0
    near = np.abs(x - X_ARTERY) <= 9.0
    vein = tube & ~near
    image = np.full(shape, TISSUE, dtype=np.float32)
    image[vein] = BLOOD
    if strand_mm is not None:
        rows = np.abs(z - Z0) <= 2.5
        top = Y0 - 5.0 - gap_mm  # the artery's lowest wall is at Y0 - 5
        bottom = top - strand_mm
        under = near & rows & (y > bottom) & (y <= top)
        # It leaves the tube's lower wall and rejoins it as wide as it is thick.
        ends = (
            rows & (y > bottom) & (y <= Y0 - 3.5) & near & (np.abs(x - X_ARTERY) > 9.0 - max(strand_mm, 1.0))
        )
        thin = (under | ends) & ~artery
        image[thin] = 130.0
        vein = vein | thin
    image[artery] = ARTERY
    inv = np.linalg.inv(m)
    xs = np.arange(2.0, 62.0, 0.25)
    path = np.stack([xs, np.full_like(xs, Y0), np.full_like(xs, Z0)], axis=1)
    inside = np.all((np.c_[path, np.ones(len(path))] @ inv.T)[:, :3] >= 0, axis=1)
    return image, vein, artery, m, path[inside]


def averaged(image, m):
    return ndimage.gaussian_filter(image, 1.5 / np.linalg.norm(m[:3, :3], axis=0)[::-1])


def voxels(route, m):
    ijk = np.rint((np.c_[route, np.ones(len(route))] @ np.linalg.inv(m).T)[:, :3]).astype(int)
    return tuple(ijk[:, ::-1].T)


def smoothed(mask, m):
    """The mask as the measuring step smooths it before the centerlines' surface (1 mm, and the
    voxels' own interpolation)."""
    spacing = np.linalg.norm(m[:3, :3], axis=0)
    sigma = np.sqrt(1.0 + spacing**2 / 6.0) / spacing
    return ndimage.gaussian_filter(mask.astype(np.float32), sigma[::-1])


def check_route_round_the_artery(m, shape):
    image, vein, artery, m, path = volume(1.0, m, shape)
    avg = averaged(image, m)
    routes = crossing_routes(vein, artery, image, avg, m, {"left_iliac": path}, BLOOD, TISSUE)
    assert len(routes) == 1
    route, ceiling = routes[0]
    at = voxels(route, m)
    assert not artery[at].any()  # round the artery, not through it
    assert route[:, 1].min() <= Y0 - 5.5  # along the strand under the artery's wall
    assert smoothed(vein, m)[at].min() < 0.5  # before: the measuring step's smoothing cuts it
    thick = vein.copy()
    added = add_routes(thick, np.ones(vein.shape, dtype=bool), avg, m, routes)
    assert added > 0
    kept = smoothed(thick, m)
    assert kept[at].min() >= 0.5
    pieces, _ = ndimage.label(kept >= 0.5)
    assert len(np.unique(pieces[at])) == 1  # one piece end to end
    # The ceiling: the vein's blood next to the crossing (along the path's axis), below the artery.
    assert 130.0 < ceiling < ARTERY
    return thick, artery, avg, routes


def test_the_route_goes_round_the_artery_and_the_vein_becomes_thick_enough():
    check_route_round_the_artery(np.eye(4), (40, 40, 64))


def test_the_same_on_thick_slices_stored_flipped():
    """0.8 x 0.8 mm pixels, 2.5 mm slices, the i axis stored reversed: the same anatomy."""
    m = np.array([[-0.8, 0, 0, 63.2], [0, 0.8, 0, 0.0], [0, 0, 2.5, 0.0], [0, 0, 0, 1.0]])
    check_route_round_the_artery(m, (17, 50, 80))


def test_the_tube_takes_nothing_brighter_than_the_vein():
    """A strand against the artery's wall: allowed everywhere, the tube would take a millimetre
    of the artery; the ceiling keeps it to what is no brighter than the vein's blood next to the
    crossing (its blurred rim at most)."""
    image, vein, artery, m, path = volume(1.0, gap_mm=0.0)
    avg = averaged(image, m)
    ((route, ceiling),) = crossing_routes(vein, artery, image, avg, m, {"left_iliac": path}, BLOOD, TISSUE)
    everywhere = np.ones(vein.shape, dtype=bool)
    capped, free = vein.copy(), vein.copy()
    add_routes(capped, everywhere, avg, m, [(route, ceiling)])
    add_routes(free, everywhere, avg, m, [(route, np.inf)])
    assert (free & artery).sum() > (capped & artery).sum()
    assert np.all(avg[capped & ~vein] <= ceiling)


def test_a_crossing_thick_enough_is_left_as_it_is():
    """A strand 4 mm thick, 2 mm under the artery, survives the measuring step's smoothing:
    nothing is added."""
    image, vein, artery, m, path = volume(4.0, gap_mm=2.0)
    avg = averaged(image, m)
    routes = crossing_routes(vein, artery, image, avg, m, {"left_iliac": path}, BLOOD, TISSUE)
    assert len(routes) == 1
    thick = vein.copy()
    assert add_routes(thick, np.ones(vein.shape, dtype=bool), avg, m, routes) == 0
    assert np.array_equal(thick, vein)


def test_no_route_through_tissue_beside_an_artery():
    """An occlusion beside the artery: the only ways round run through 18 mm of tissue, so no
    route is added and the occlusion is found as before."""
    image, vein, artery, m, path = volume(None)
    routes = crossing_routes(vein, artery, image, averaged(image, m), m, {"left_iliac": path}, BLOOD, TISSUE)
    assert routes == []


def test_a_path_that_stays_in_the_vein_or_leaves_the_box_has_no_route():
    image, vein, artery, m, path = volume(1.0)
    avg = averaged(image, m)
    before = path[path[:, 0] < X_ARTERY - 12.0]  # the stretch before the crossing only
    assert crossing_routes(vein, artery, image, avg, m, {"ivc": before}, BLOOD, TISSUE) == []
    # The crossing's far side outside the box: not between two vein points.
    cut = path[path[:, 0] < X_ARTERY + 4.0]
    beyond = np.array([[x, Y0, Z0] for x in np.arange(70.0, 80.0, 0.5)])
    assert (
        crossing_routes(vein, artery, image, avg, m, {"ivc": np.vstack([cut, beyond])}, BLOOD, TISSUE) == []
    )


def test_a_route_counted_back_onto_thick_slices_stays_thick_enough():
    """Segmented on 1 mm voxels whose labels go back onto 2 x 2 x 3 mm (``finer``): the route's
    tube is as wide as the smallest input voxel edge (2 mm, not 1.5), and the count back keeps
    the crossing's neck that the measuring step's smoothing keeps of the finer labels, so the
    vein stays one piece for the centerlines; by the majority alone the smoothing cut it in two.
    (Here the count back alone would mend it; in the matrix's May-Thurner 1.2 mm / 25 HU cell at
    2 x 2 x 3 mm both were needed.)"""
    from scipy.spatial import cKDTree

    from IVCReconstructionLib.segment.finer import block_majority

    image, vein, artery, m, path = volume(1.0, shape=(39, 40, 64))
    avg = averaged(image, m)
    routes = crossing_routes(vein, artery, image, avg, m, {"left_iliac": path}, BLOOD, TISSUE)
    everywhere = np.ones(vein.shape, dtype=bool)
    tubes = {}
    for name, label_spacing in (("fine", None), ("thick", np.array([2.0, 2.0, 3.0]))):
        tubes[name] = vein.copy()
        add_routes(tubes[name], everywhere, avg, m, routes, label_spacing)
    reach = {}
    for name, grown in tubes.items():
        added = np.argwhere(grown & ~vein)[:, ::-1].astype(float)
        reach[name] = float(cKDTree(routes[0][0]).query(added)[0].max())
    assert reach["fine"] <= 1.5 + 0.01 and 1.6 < reach["thick"] <= 2.0 + 0.01
    coarse_m = np.diag([2.0, 2.0, 3.0, 1.0])
    coarse_m[:3, 3] = [0.5, 0.5, 1.0]  # the centre of the first 2 x 2 x 3 block of 1 mm voxels
    ends = voxels(path[[0, -1]], coarse_m)
    for fine_spacing, pieces in ((None, 2), (np.ones(3), 1)):
        coarse = block_majority(tubes["thick"].astype(np.uint8), (3, 2, 2), fine_spacing) > 0
        kept, _ = ndimage.label(smoothed(coarse, coarse_m) >= 0.5)
        assert len(np.unique(kept[ends])) == pieces and kept[ends].all()

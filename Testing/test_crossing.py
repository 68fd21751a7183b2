"""The vein's route round a tube that its path cuts through (segment.crossing), on a small
synthetic volume: a vein along i whose middle stretch is only a thin, dim strand passing beside
a brighter artery that runs along k across it, and a straight path through the artery."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from IVCReconstructionLib.segment.crossing import GAP_MM, add_routes, crossing_routes

BLOOD, TISSUE, ARTERY = 150.0, 40.0, 185.0
SHAPE = (40, 40, 64)  # [k, j, i], 1 mm voxels
K0, J0 = 20, 20  # the vein's axis
I_ARTERY = 32  # the artery's axis (along k) crosses the vein's there


def volume(strand: bool):
    """(image, vein mask, artery basin, matrix, path): outside the crossing the vein is a tube
    of 4 mm; within 9 mm of the artery's axis its lumen is a flat strand 3 voxels thick and 5
    wide against the artery's lower wall (at 130 HU, dimmer than the blood, as blurred), or
    nothing (an occlusion beside the artery)."""
    k, j, i = np.indices(SHAPE)
    tube = (k - K0) ** 2 + (j - J0) ** 2 <= 16
    artery = (j - J0) ** 2 + (i - I_ARTERY) ** 2 <= 25
    near = np.abs(i - I_ARTERY) <= 9
    vein = tube & ~near
    image = np.full(SHAPE, TISSUE, dtype=np.float32)
    image[vein] = BLOOD
    if strand:
        # The strand leaves the tube's lower wall, passes under the artery and rejoins it.
        rows = np.abs(k - K0) <= 2
        under = near & rows & (j >= J0 - 7) & (j <= J0 - 5)
        ends = rows & (j >= J0 - 7) & (j <= J0 - 4) & (np.abs(np.abs(i - I_ARTERY) - 8.5) <= 0.5)
        thin = under | ends
        image[thin] = 130.0
        vein = vein | thin
    image[artery] = ARTERY
    m = np.eye(4)
    path = np.array([[x, J0, K0] for x in np.arange(2.0, SHAPE[2] - 2.0, 0.5)])
    return image, vein, artery, m, path


def averaged(image):
    return ndimage.gaussian_filter(image, 1.5)


def test_the_route_goes_round_the_artery_and_the_vein_becomes_thick_enough():
    image, vein, artery, m, path = volume(strand=True)
    avg = averaged(image)
    routes = crossing_routes(vein, artery, image, avg, m, {"left_iliac": path}, BLOOD, TISSUE)
    assert len(routes) == 1
    route, ceiling = routes[0]
    ijk = np.rint(route).astype(int)
    assert not artery[ijk[:, 2], ijk[:, 1], ijk[:, 0]].any()  # round the artery, not through it
    assert route[:, 1].min() <= J0 - 6  # along the strand below it
    # Before: smoothing by 1 mm (as the centerlines' surface is made) cuts the strand.
    kept = ndimage.gaussian_filter(vein.astype(np.float32), 1.0)
    assert kept[ijk[:, 2], ijk[:, 1], ijk[:, 0]].min() < 0.5
    thick = vein.copy()
    added = add_routes(thick, np.ones(SHAPE, dtype=bool), avg, m, routes)
    assert added > 0
    # The tube takes nothing brighter than the vein's blood: at most the artery's blurred rim.
    assert not (thick & ndimage.binary_erosion(artery, iterations=2)).any()
    kept = ndimage.gaussian_filter(thick.astype(np.float32), 1.0)
    assert kept[ijk[:, 2], ijk[:, 1], ijk[:, 0]].min() >= 0.5
    pieces, _ = ndimage.label(kept >= 0.5)
    assert len(np.unique(pieces[ijk[:, 2], ijk[:, 1], ijk[:, 0]])) == 1  # one piece end to end
    # The ceiling is the vein's blood next to the crossing (the path's axis there), below the artery.
    assert 130.0 < ceiling < ARTERY


def test_no_route_through_tissue_beside_an_artery():
    """An occlusion beside the artery: the only ways round are tissue for more than GAP_MM, so
    no route is added and the occlusion is found as before."""
    image, vein, artery, m, path = volume(strand=False)
    routes = crossing_routes(vein, artery, image, averaged(image), m, {"left_iliac": path}, BLOOD, TISSUE)
    assert routes == []
    assert GAP_MM < 18.0  # the gap here is 18 mm of tissue


def test_a_path_that_stays_in_the_vein_has_no_route():
    image, vein, artery, m, path = volume(strand=True)
    path = path[path[:, 0] < I_ARTERY - 12]  # the stretch before the crossing only
    assert crossing_routes(vein, artery, image, averaged(image), m, {"ivc": path}, BLOOD, TISSUE) == []

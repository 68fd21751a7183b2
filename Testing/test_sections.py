"""Cross sections where the plane cuts a tiny loop nearer the centerline than the vein wall.

VMTK keeps the contour nearest the centerline point. A 4-point loop (a plane grazing a bump of
the wall; here a sub-millimetre closed piece inside the lumen, as a one-voxel hole in a label
map gives) is stored by VTK as a quad, and VMTK's section area then dereferences a null polygon:
the process died (robustness cell bilateral / 1 mm / blur 1.2 mm / noise 25 HU). The sections
run in a child process here, so that a regression fails this test instead of killing pytest.
"""

from __future__ import annotations

import multiprocessing

import numpy as np

from IVCReconstructionLib.measure.datatypes import CenterlineBranch, CenterlineTree
from IVCReconstructionLib.measure.sections import compute_profiles
from IVCReconstructionLib.measure.surface import section_surface

RADIUS_VOXELS = 6  # a 13 mm tube at 1 mm voxels along k (RAS S)
LOOP_CENTRE_S = 22.0
LOOP_HALF_MM = 0.3  # the loop's piece: an octahedron 0.6 mm across, centred on the axis
PLANE_OFFSET_MM = 0.1  # the planes every 1 mm sit 0.1 mm above the voxel centres: one cuts its top


def _tube():
    k, j, i = np.mgrid[0:44, 0:17, 0:17]
    mask = ((j - 8) ** 2 + (i - 8) ** 2 <= RADIUS_VOXELS**2) & (k >= 2) & (k <= 41)
    return section_surface(mask, np.eye(4))


def _with_loop_piece(surface):
    """The surface plus a tiny octahedron on the axis: a plane between its tip and its equator
    cuts it in a loop of 4 points."""
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
    from vtkmodules.vtkFiltersCore import vtkAppendPolyData

    h = LOOP_HALF_MM
    corners = [(h, 0, 0), (0, h, 0), (-h, 0, 0), (0, -h, 0), (0, 0, h), (0, 0, -h)]
    points = vtkPoints()
    for x, y, z in corners:
        points.InsertNextPoint(8.0 + x, 8.0 + y, LOOP_CENTRE_S + z)
    faces = vtkCellArray()
    for a in range(4):
        b = (a + 1) % 4
        faces.InsertNextCell(3, (a, b, 4))
        faces.InsertNextCell(3, (b, a, 5))
    piece = vtkPolyData()
    piece.SetPoints(points)
    piece.SetPolys(faces)
    append = vtkAppendPolyData()
    append.AddInputData(surface)
    append.AddInputData(piece)
    append.Update()
    return append.GetOutput()


def _tree() -> CenterlineTree:
    # A little off the axis: on it, VMTK's max size ray meets the symmetric tube exactly at its
    # vertices, and rounding then halves the max size at random planes.
    s = np.arange(4.0, 40.0) + PLANE_OFFSET_MM
    points = np.stack([np.full_like(s, 8.2), np.full_like(s, 7.9), s], axis=1)
    branch = CenterlineBranch("ivc", points, s - s[0], np.full(len(s), float(RADIUS_VOXELS)))
    return CenterlineTree({"ivc": branch}, points[0].copy())


def _profile_in_child(send, with_loop: bool) -> None:
    surface = _tube()
    if with_loop:
        surface = _with_loop_piece(surface)
    p = compute_profiles(_tree(), surface)["ivc"]
    send.send((p.area_mm2, p.min_diameter_mm, p.max_diameter_mm, p.confluence_zone))
    send.close()


def _profile(with_loop: bool):
    # A fresh interpreter, not a fork: pytest-xdist's workers run threads, and a forked copy of
    # a threaded process can deadlock on a lock another thread held.
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_profile_in_child, args=(send, with_loop))
    child.start()
    send.close()
    result = receive.recv() if receive.poll(120.0) else None
    child.join(30.0)
    assert child.exitcode == 0, f"the sections' process ended with exit code {child.exitcode}"
    return result


def test_a_tiny_loop_nearer_than_the_wall_is_left_out_of_the_section():
    area, dmin, dmax, zone = _profile(with_loop=True)
    plain_area, plain_min, plain_max, plain_zone = _profile(with_loop=False)
    at_loop = int(np.argmin(np.abs(np.arange(4.0, 40.0) + PLANE_OFFSET_MM - LOOP_CENTRE_S)))
    # The loop's plane measures the lumen (not a 0.1 mm2 loop): the tube's own section there.
    assert abs(area[at_loop] - plain_area[at_loop]) < 1e-6 * plain_area[at_loop]
    assert 110.0 < area[at_loop] < 135.0  # pi * 6.0-6.5 mm squared; the loop is about 0.1 mm2
    assert not zone[at_loop]
    # And every other plane is what it was without the loop.
    np.testing.assert_allclose(area, plain_area, rtol=1e-6)
    np.testing.assert_allclose(dmin, plain_min, rtol=1e-6)
    np.testing.assert_allclose(dmax, plain_max, rtol=1e-6)
    np.testing.assert_array_equal(zone, plain_zone)


def test_a_one_voxel_neck_is_measured_as_vmtk_measures_it():
    """A pinhole lumen (a 13 mm tube narrowed to one voxel over 5 mm) is no grazed loop: its
    contours, under 1 mm across, are what VMTK measures there (near-zero areas that make it a
    tight stenosis, not an occlusion), not left out as zeros."""
    from IVCReconstructionLib.measure import sections

    k, j, i = np.mgrid[0:44, 0:17, 0:17]
    mask = ((j - 8) ** 2 + (i - 8) ** 2 <= 36) & (k >= 2) & (k <= 41)
    mask[19:24] = False
    mask[19:24, 8, 8] = True
    surface = section_surface(mask, np.eye(4))
    s = np.arange(4.0, 40.0) + 0.1
    pts = np.stack([np.full_like(s, 8.2), np.full_like(s, 7.9), s], axis=1)
    branch = CenterlineBranch("ivc", pts, s - s[0], np.full(len(s), 6.0))
    area = compute_profiles(CenterlineTree({"ivc": branch}, pts[0].copy()), surface)["ivc"].area_mm2
    np.testing.assert_allclose(area, sections._vmtk_sections(surface, pts)["Area"], atol=1e-9)
    neck = area[15:19]
    assert neck.max() > 0.1 and neck.max() < 1.0, neck


def test_branches_cut_side_by_side_as_one_after_the_other(monkeypatch):
    """The branches' sections are cut in parallel threads, each on its own copy of the surface:
    the profiles are those of one thread, to the last bit (the plain tube: a grazed loop is
    tested in a child process above)."""
    from IVCReconstructionLib.measure import sections

    surface = _tube()
    base = _tree().branches["ivc"]
    branches = {}
    for name, (lo, hi) in zip(
        ("ivc", "left_iliac", "right_iliac"), ((0, 20), (10, 36), (5, 30)), strict=True
    ):
        points = base.points_ras[lo:hi]
        branches[name] = CenterlineBranch(name, points, base.distance_mm[lo:hi], base.mis_radius_mm[lo:hi])
    tree = CenterlineTree(branches, base.points_ras[0].copy())
    parallel = compute_profiles(tree, surface)
    monkeypatch.setattr(sections, "SECTION_THREADS", 1)
    alone = compute_profiles(tree, surface)
    for name in branches:
        for field in ("area_mm2", "min_diameter_mm", "max_diameter_mm", "confluence_zone"):
            np.testing.assert_array_equal(getattr(parallel[name], field), getattr(alone[name], field))

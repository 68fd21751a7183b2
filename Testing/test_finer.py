"""Coarse voxels segmented on a finer grid (segment/finer.py): the interpolation, the grid's
geometry and the count back to the input's voxels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from IVCReconstructionLib.segment.finer import block_majority, finer_factors, upsampled
from IVCReconstructionLib.segment.grid import to_ras


def matrix(spacing_ijk, flip_i=False) -> np.ndarray:
    m = np.diag([*spacing_ijk, 1.0])
    if flip_i:
        m[0, 0] = -m[0, 0]
    m[:3, 3] = [-40.0, 12.5, 300.0]
    return m


@pytest.mark.parametrize(
    ("spacing", "factors"),
    [
        ((1.0, 1.0, 1.0), (1, 1, 1)),
        ((1.5, 1.5, 1.5), (1, 1, 1)),  # no axis thicker than 2 mm: left as it is
        ((1.2, 1.0, 2.0), (1, 1, 1)),
        ((2.0, 2.0, 3.0), (3, 2, 2)),  # k, j, i
        ((0.8, 0.8, 3.0), (3, 1, 1)),  # thick slices only
        ((1.5, 1.5, 2.5), (3, 2, 2)),  # then every axis above 1.25 mm
        ((0.8, 0.8, 5.0), (5, 1, 1)),
    ],
)
def test_thick_slices_bring_each_coarse_axis_to_a_millimetre_or_finer(spacing, factors):
    assert finer_factors(matrix(spacing)) == factors
    assert finer_factors(matrix(spacing, flip_i=True)) == factors  # a flipped axis: same spacing


@pytest.mark.parametrize("factors", [(3, 2, 2), (3, 1, 1), (1, 2, 1)])
def test_upsampled_is_scipys_cubic_spline_zoom(factors):
    """The same values as scipy's cubic-spline zoom of the whole box (which takes ten times as
    long) away from its faces, where the two extend the image differently."""
    rng = np.random.default_rng(7)
    image = ndimage.gaussian_filter(rng.normal(100.0, 60.0, (30, 26, 34)), 1.5).astype(np.float32)
    fine, _ = upsampled(image, matrix((2.0, 2.0, 3.0)), factors)
    expected = ndimage.zoom(image, factors, order=3, mode="nearest", grid_mode=True, output=np.float32)
    assert fine.shape == expected.shape == tuple(n * f for n, f in zip(image.shape, factors, strict=True))
    inner = tuple(slice(6 * f, -6 * f) for f in factors)
    assert np.abs(fine[inner] - expected[inner]).max() < 0.02
    # Away from the faces the spline interpolates: the finer voxels of a voxel average to it
    # within the image's own curvature, and a linear ramp is kept exactly.
    ramp = np.broadcast_to(np.arange(34, dtype=np.float32) * 5.0, (30, 26, 34)).copy()
    fine_ramp, _ = upsampled(ramp, matrix((2.0, 2.0, 3.0)), factors)
    fi = factors[2]
    expected_ramp = (np.arange(34 * fi) - (fi - 1) / 2.0) / fi * 5.0
    assert np.abs(fine_ramp[5, 5, 8 * fi : -8 * fi] - expected_ramp[8 * fi : -8 * fi]).max() < 1e-3


def test_finer_voxels_fill_each_input_voxel():
    """The finer grid's matrix: the centres of the finer voxels of an input voxel lie inside it,
    spread evenly, and their mean is its centre (RAS, whatever the axes' directions)."""
    m = matrix((2.0, 2.0, 3.0), flip_i=True)
    factors = (3, 2, 2)
    _, fine_m = upsampled(np.zeros((4, 5, 6), dtype=np.float32), m, factors)
    coarse_voxel = np.array([3, 2, 1])  # i, j, k
    fine_ijk = np.array(
        [
            coarse_voxel * np.array(factors[::-1]) + [a, b, c]
            for a in range(factors[2])
            for b in range(factors[1])
            for c in range(factors[0])
        ]
    )
    centres = to_ras(fine_ijk, fine_m)
    np.testing.assert_allclose(centres.mean(axis=0), to_ras(coarse_voxel, m), atol=1e-9)
    offsets = np.abs(centres - to_ras(coarse_voxel, m))
    np.testing.assert_allclose(offsets.max(axis=0), [0.5, 0.5, 1.0], atol=1e-9)  # spacing (1 - 1/f) / 2
    np.testing.assert_allclose(np.linalg.norm(fine_m[:3, :3], axis=0), [1.0, 1.0, 1.0])


def test_block_majority_labels_a_voxel_more_than_half_covered():
    factors = (3, 2, 2)  # 12 finer voxels per input voxel
    fine = np.zeros((6, 4, 4), dtype=np.uint8)
    block = (slice(0, 3), slice(0, 2), slice(0, 2))  # input voxel (0, 0, 0)
    fine[block] = 2
    fine[0, 0, 0] = fine[0, 0, 1] = fine[0, 1, 0] = 3  # 9 of left (2), 3 of right (3)
    half = (slice(3, 6), slice(0, 2), slice(0, 2))  # input voxel (1, 0, 0): exactly half
    fine[half][:, :, 0] = 1
    tie = (slice(0, 3), slice(2, 4), slice(2, 4))  # input voxel (0, 1, 1): 6 of 1, 6 of 4
    fine[tie][:, :, 0] = 4
    fine[tie][:, :, 1] = 1
    coarse = block_majority(fine, factors)
    assert coarse.shape == (2, 2, 2) and coarse.dtype == np.uint8
    assert coarse[0, 0, 0] == 2  # the label most of its finer voxels have
    assert coarse[1, 0, 0] == 0  # half is not more than half
    assert coarse[0, 1, 1] == 1  # a tie: the lower value, however the labels are stored
    assert coarse[0, 1, 0] == coarse[1, 1, 1] == 0
    assert not block_majority(np.zeros((6, 4, 4), dtype=np.uint8), factors).any()


def test_pieces_the_finer_labels_join_stay_joined():
    """A vein one finer voxel wide over a stretch (a compressed segment) vanishes there by the
    majority; the input voxels its finer voxels lie in join the two pieces again, with their
    label, and a piece the finer labels do not join stays apart."""
    factors = (3, 2, 2)
    fine = np.zeros((30, 10, 10), dtype=np.uint8)
    fine[0:9, 0:6, 0:6] = 2  # upper piece: input voxels k 0-2
    fine[9:21, 1, 1] = 2  # the neck: 3 of 12 finer voxels per input voxel, k 3-6
    fine[21:30, 0:6, 0:6] = 3  # lower piece, another label: k 7-9
    fine[0:3, 8:10, 8:10] = 1  # a piece of its own, away from the rest
    coarse = block_majority(fine, factors)
    np.testing.assert_array_equal(coarse[3:7, 0, 0], [2, 2, 2, 2])  # the neck, by its label
    assert coarse[0, 4, 4] == 1
    _, n = ndimage.label(coarse > 0, structure=np.ones((3, 3, 3)))
    assert n == 2  # the tree, and the piece the finer labels do not join
    assert np.count_nonzero(coarse) == 9 * 3 + 9 * 3 + 4 + 1

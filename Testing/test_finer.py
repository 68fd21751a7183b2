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
        ((1.25, 1.25, 2.5), (3, 1, 1)),  # 1.25 mm itself is fine enough
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


def test_a_voxel_split_evenly_is_labelled_where_the_caller_allows_it():
    """A voxel with exactly half of its finer voxels labelled (the wall through its middle) is
    labelled where ``tie_ok`` allows (its intensity no brighter than the blood: the other half
    is the wall's tissue), and left out where it does not (the other half brighter: an artery
    or bone); more and less than half are decided as before."""
    factors = (3, 2, 2)
    fine = np.zeros((3, 2, 8), dtype=np.uint8)  # four input voxels along i
    fine[:, :, 0:2] = 2  # voxel 0: all of it
    fine[:, :, 2] = 2  # voxel 1: half (one finer column of two)
    fine[:, :, 4] = 2  # voxel 2: half
    fine[:, 0, 6] = 2  # voxel 3: a quarter
    allowed = np.array([[[True, True, False, True]]])
    asked = []

    def tie_ok(kji):
        asked.append(kji.copy())
        return allowed[tuple(kji.T)]

    coarse = block_majority(fine, factors, tie_ok=tie_ok)
    np.testing.assert_array_equal(coarse[0, 0], [2, 2, 0, 0])
    np.testing.assert_array_equal(np.vstack(asked), [[0, 0, 1], [0, 0, 2]])  # only the ties
    np.testing.assert_array_equal(block_majority(fine, factors)[0, 0], [2, 0, 0, 0])


def test_pieces_the_finer_labels_join_stay_joined():
    """A vein one finer voxel wide over a stretch (a compressed segment) vanishes there by the
    majority; the input voxels its finer voxels lie in join the two pieces again, with their
    own label, and a piece the finer labels do not join stays apart."""
    factors = (3, 2, 2)
    fine = np.zeros((30, 10, 10), dtype=np.uint8)
    fine[0:9, 0:6, 0:6] = 2  # upper piece: input voxels k 0-2
    fine[9:21, 1, 1] = 1  # the neck, another label: 3 of 12 finer voxels per input voxel, k 3-6
    fine[21:30, 0:6, 0:6] = 3  # lower piece, another label: k 7-9
    fine[0:3, 8:10, 8:10] = 1  # a piece of its own, away from the rest
    coarse = block_majority(fine, factors)
    np.testing.assert_array_equal(coarse[3:7, 0, 0], [1, 1, 1, 1])  # the neck, by its label
    assert coarse[0, 4, 4] == 1
    _, n = ndimage.label(coarse > 0, structure=np.ones((3, 3, 3)))
    assert n == 2  # the tree, and the piece the finer labels do not join
    assert np.count_nonzero(coarse) == 9 * 3 + 9 * 3 + 4 + 1


def test_pieces_the_finer_labels_keep_apart_stay_apart():
    """Two finer pieces one finer voxel apart whose input voxels touch: not joined (a branch
    cut by an occlusion, a piece kept on purpose), whichever of the two is larger."""
    factors = (3, 2, 2)
    for upper_larger in (False, True):
        fine = np.zeros((30, 10, 10), dtype=np.uint8)
        fine[0:9, 0:6, 0:6] = 2
        if upper_larger:
            fine[0:3, 6:8, 0:6] = 2
        fine[10:21, 1, 1] = 2  # the lower piece's thin stem, up to the gap at finer k 9
        fine[21:30, 0:6, 0:6] = 2
        _, fine_n = ndimage.label(fine > 0, structure=np.ones((3, 3, 3)))
        assert fine_n == 2
        coarse = block_majority(fine, factors)
        _, n = ndimage.label(coarse > 0, structure=np.ones((3, 3, 3)))
        assert n == 2, upper_larger
        assert not coarse[3:7, 0, 0].any()


def _cut_by_the_measuring_step(mask: np.ndarray, spacing_ijk) -> bool:
    """Whether the measuring step's first smoothing (measure.surface: 1 mm and the voxel's tent,
    its iso-surface at one half) cuts the mask into pieces ("cut them into N pieces")."""
    from IVCReconstructionLib.measure.surface import _iso_surface, smooth_resample

    field, field_matrix = smooth_resample(mask, np.diag([*spacing_ijk, 1.0]), 1.0, 1.0)
    try:
        _iso_surface(np.pad(field, 2), field_matrix)
    except ValueError as error:
        assert "cut them into" in str(error)
        return True
    return False


@pytest.mark.parametrize(
    ("width", "depth", "tilt"),
    [(3.0, 4.0, 0.0), (2.5, 3.5, 0.0), (2.0, 4.0, 0.0), (2.0, 4.0, 0.5), (2.5, 3.5, 0.3)],
)
def test_a_neck_the_measuring_step_keeps_on_the_finer_grid_is_kept_on_the_input_grid(width, depth, tilt):
    """Two wide stretches of a vein joined by a flattened one, ``width`` x ``depth`` mm in
    section (a crescent under a crossing artery), straight or oblique (``tilt`` mm per mm), on
    1 mm voxels counted back onto 2 x 2 x 3 mm: by the majority alone the measuring step's
    smoothing cuts it; with the voxels at the neck added it does not, and nothing is added on
    the wide stretches."""
    shape = (60, 40, 30)  # 1 mm, k j i
    k, j, i = np.indices(shape)
    centre = 14.5 + tilt * np.clip(k - 21, 0, 18)
    fine = np.zeros(shape, dtype=np.uint8)
    fine[(np.hypot(i - 14.5, j - 14.5) <= 7.0) & (k < 21)] = 2
    fine[(np.hypot(i - 14.5, j - centre) <= 7.0) & (k >= 39)] = 2
    fine[(np.abs(i - 14.5) <= width / 2) & (np.abs(j - centre) <= depth / 2) & (k >= 21) & (k < 39)] = 2
    factors = (3, 2, 2)
    assert not _cut_by_the_measuring_step(fine > 0, (1.0, 1.0, 1.0))
    plain = block_majority(fine, factors)
    assert _cut_by_the_measuring_step(plain > 0, (2.0, 2.0, 3.0))
    kept = block_majority(fine, factors, np.array([1.0, 1.0, 1.0]))
    assert not _cut_by_the_measuring_step(kept > 0, (2.0, 2.0, 3.0))
    added = (kept > 0) & (plain == 0)
    assert added.any() and np.all(kept[added] == 2)
    # Only at the neck (input slices 7-12 hold it), never on the wide stretches' walls.
    assert np.all(np.isin(np.nonzero(added)[0], range(7, 13)))


def test_a_vein_without_a_neck_is_counted_back_by_the_majority_alone():
    _, j, i = np.indices((60, 30, 30))
    tube = np.where(np.hypot(i - 14.5, j - 14.5) <= 7.0, 2, 0).astype(np.uint8)
    np.testing.assert_array_equal(
        block_majority(tube, (3, 2, 2), np.array([1.0, 1.0, 1.0])), block_majority(tube, (3, 2, 2))
    )


def _thick_slice_tube(noise_hu: float) -> tuple[np.ndarray, np.ndarray]:
    """2 x 2 x 3 mm voxels: a vein (radius 6 mm, 150 HU) along z in a sleeve of soft tissue
    (45 HU) to 12 mm, fat beyond, blurred, with noise correlated over about a voxel."""
    shape = (40, 60, 60)  # k, j, i
    _, j, i = np.indices(shape)
    r = np.hypot((i - 29.5) * 2.0, (j - 29.5) * 2.0)
    image = np.where(r < 6.0, 150.0, np.where(r < 12.0, 45.0, -80.0))
    image = ndimage.gaussian_filter(image, (0.4, 0.6, 0.6))
    white = np.random.default_rng(3).normal(0.0, 1.0, shape)
    image += ndimage.gaussian_filter(white, 0.5) * noise_hu / 0.38  # 0.38: that filter's SD
    m = np.diag([2.0, 2.0, 3.0, 1.0])
    m[:3, 3] = [-59.0, -59.0, 0.0]
    return image.astype(np.float32), m


def test_the_wall_tissue_of_an_interpolated_image_is_judged_on_its_smoothed_noise():
    """On thick slices interpolated to 1 mm the noise is correlated over an input voxel: against
    the seeds' raw spread (25 HU) the region round the seed grows into the soft tissue and the
    tissue level comes out as fat's; against the smoothed image's own noise it stays nearer the
    tissue. Without noise, the smoothed noise's floor (0.04 of the contrast) keeps the region
    from shrinking to the lumen's plateau (the level would then be the lumen's blurred edge)."""
    from IVCReconstructionLib.segment.checks import check_seeds
    from IVCReconstructionLib.segment.levels import wall_tissue

    seeds = [np.array([0.0, 0.0, z]) for z in (40.0, 60.0, 80.0)]
    found = {}
    for noise in (0.0, 25.0):
        image, m = _thick_slice_tube(noise)
        fine, fine_m = upsampled(image, m, (3, 2, 2))
        read = check_seeds(fine, fine_m, dict(zip(("IVC", "Left", "Right"), seeds, strict=True)))
        blood, spread = read.blood, read.spread
        raw = wall_tissue(fine, fine_m, seeds, blood, spread, -300.0)
        smoothed = wall_tissue(
            fine, fine_m, seeds, blood, spread, -300.0, smoothed_floor=0.04 * (blood - 45.0)
        )
        found[noise] = (raw, smoothed)
    assert abs(found[0.0][1] - 45.0) < 10.0, found  # 51 HU
    raw, smoothed = found[25.0]
    assert raw < 0.0, found  # -19 HU: fat's level
    assert abs(smoothed - 45.0) < abs(raw - 45.0) - 20.0, found  # 14 HU


def test_thick_slices_give_the_same_veins_however_the_voxels_are_stored():
    """The finer grid is built on the canonical storage order: the same 2 x 2 x 3 mm image
    stored with two axes swapped and two flipped gives the same labels, voxel for voxel."""
    from IVCReconstructionLib.phantom import PhantomOptions, make_phantom
    from IVCReconstructionLib.segment.seeded import segment_veins

    ph = make_phantom(PhantomOptions(spacing_mm=(2.0, 2.0, 3.0), slice_thickness_mm=3.0))
    labels = segment_veins(ph.image, ph.ijk_to_ras, ph.seeds).labels
    k_n, _, i_n = ph.image.shape
    stored = np.ascontiguousarray(ph.image[::-1, :, ::-1].transpose(0, 2, 1))
    # Stored voxel (i', j', k') is the original (i_n - 1 - j', i', k_n - 1 - k').
    to_original = np.array(
        [[0, -1, 0, i_n - 1], [1, 0, 0, 0], [0, 0, -1, k_n - 1], [0, 0, 0, 1]], dtype=float
    )
    other = segment_veins(stored, ph.ijk_to_ras @ to_original, ph.seeds).labels
    assert labels.any()
    np.testing.assert_array_equal(other.transpose(0, 2, 1)[::-1, :, ::-1], labels)

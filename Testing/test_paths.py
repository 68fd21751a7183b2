"""The minimal paths between the seeds (segment.paths) follow each seed's own blood level."""

from __future__ import annotations

import numpy as np

from IVCReconstructionLib.segment.checks import seed_stats
from IVCReconstructionLib.segment.paths import blood_field, minimal_paths

IVC, CONFLUENCE = np.array([0.0, 0.0, 90.0]), np.zeros(3)
LEFT, RIGHT = np.array([-60.0, 0.0, -100.0]), np.array([60.0, 0.0, -100.0])


def _distance_to_segment(ras: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each point to the segment a-b and where along it (0 at a, 1 at b)."""
    u = b - a
    t = np.clip((ras - a) @ u / (u @ u), 0.0, 1.0)
    return np.linalg.norm(ras - (a + t[:, None] * u), axis=1), t


def _dimming_left_vein_beside_its_artery():
    """A Y of veins in soft tissue, 1 mm voxels: IVC 170 HU, right iliac 165 HU, the left iliac
    vein dimming from 165 HU at the confluence to 120 HU at its seed (less contrast towards
    the leg), and over most of its length an artery of 160 HU that presses into it (centres
    9 mm apart for radii 6 and 4 mm). Returns the image, its matrix and the artery's axis."""
    shape = (220, 40, 150)  # k (S), j (A), i (R)
    m = np.eye(4)
    m[:3, 3] = (-75.0, -20.0, -115.0)
    kji = np.indices(shape).reshape(3, -1).T
    ras = kji[:, ::-1] + m[:3, 3]
    image = np.full(len(ras), 40.0)
    d, _ = _distance_to_segment(ras, IVC, CONFLUENCE)
    image[d <= 7.0] = 170.0
    d, _ = _distance_to_segment(ras, CONFLUENCE, RIGHT)
    image[d <= 6.0] = 165.0
    d, t = _distance_to_segment(ras, CONFLUENCE, LEFT)
    image[d <= 6.0] = 165.0 - 45.0 * t[d <= 6.0]
    # The artery runs beside the left vein, 9 mm anterior to its axis, from 20 % to 85 % of it.
    offset = np.array([0.0, 9.0, 0.0])
    a0, a1 = CONFLUENCE + 0.2 * (LEFT - CONFLUENCE) + offset, CONFLUENCE + 0.85 * (LEFT - CONFLUENCE) + offset
    d, _ = _distance_to_segment(ras, a0, a1)
    artery = d <= 4.0
    image[artery & ~(image > 100)] = 160.0
    return image.reshape(shape).astype(np.int16), m, (a0, a1)


def test_blood_field_is_each_seed_level_at_the_seed_and_between_them_elsewhere():
    levels = [(IVC, 170.0), (LEFT, 120.0), (RIGHT, 165.0)]
    at = blood_field(np.vstack([IVC, LEFT, RIGHT, (LEFT + RIGHT) / 2]), levels)
    assert np.allclose(at[:3], (170.0, 120.0, 165.0), atol=0.1)
    assert 120.0 < at[3] < 170.0
    # Order of the seeds does not matter.
    assert np.allclose(blood_field(np.vstack([IVC, LEFT]), levels[::-1]), at[:2])


def test_the_left_path_stays_in_its_dimming_vein_not_in_the_brighter_artery():
    image, m, (a0, a1) = _dimming_left_vein_beside_its_artery()
    seeds = {"IVC": IVC, "Left": LEFT, "Right": RIGHT}
    levels = [(p, seed_stats(image, m, p, name)[0]) for name, p in seeds.items()]
    blood = float(np.median([level for _, level in levels]))
    assert blood == 165.0 and levels[1][1] < 125.0
    legs = {"trunk": [], "left": [], "right": []}

    def in_artery(path):
        d, _ = _distance_to_segment(path, a0, a1)
        return float(np.mean(d <= 3.0))

    # With the seeds' median as the one level the artery is the faster route ...
    _, single, _ = minimal_paths(image, m, IVC, LEFT, RIGHT, legs, blood, 100.0, 5.0)
    assert in_artery(single) > 0.3
    # ... with each seed's own level the path stays in the vein.
    _, left_path, _ = minimal_paths(image, m, IVC, LEFT, RIGHT, legs, blood, 100.0, 5.0, levels)
    assert in_artery(left_path) == 0.0
    d, _ = _distance_to_segment(left_path, CONFLUENCE, LEFT)
    assert d.max() < 5.0  # inside the vein (radius 6 mm), short of the artery's wall (5 mm off its axis)

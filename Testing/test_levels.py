"""Vertebral levels (spine/): read from TotalSegmentator labels, counted up from the
sacrum on the CT's bone, named at a point; the femoral-head tops. Scored against the phantom's
exact truth (phantom/truth.py TruthSpine) at 1 and 2 mm and in three storage orders, and on a
real non-contrast CT against its TotalSegmentator labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from IVCReconstructionLib import names
from IVCReconstructionLib.spine import (
    SpineLevels,
    Vertebra,
    femoral_heads,
    level_at,
    levels_from_ct,
    levels_from_labels,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_CT = DATA / "totalseg-example"
REAL_DICOM = DATA / "realct-dicom"
ENDPLATE_TOL_MM = 3.0
HEAD_TOL_MM = 5.0


def rank(level: str) -> float:
    """A level's place on the spine: S1 = 0, L5/S1 = 0.5, L5 = 1 ... T12 = 6; outside +-0.5."""
    order = names.VERTEBRAE
    if level.startswith("below "):
        return order.index(level.split()[1]) - 0.5
    if level.startswith("above "):
        return order.index(level.split()[1]) + 0.5
    if "/" in level:
        upper, lower = level.split("/")
        return (order.index(upper) + order.index(lower)) / 2.0
    return float(order.index(level))


def check_against_truth(levels: SpineLevels, ph) -> dict[str, tuple[float, float]]:
    """Every body found with its true name and endplates; returns the errors (mm) per body."""
    truth = ph.spine
    top_of_volume = float((ph.ijk_to_ras @ [0, 0, ph.image.shape[0] - 1, 1])[2])
    top_of_volume = max(top_of_volume, float(ph.ijk_to_ras[2, 3]))
    seen = ["S1"] + [n for n, (lo, _) in truth.bodies_s_mm.items() if lo < top_of_volume - 2.0]
    assert levels.names == seen
    errors = {}
    s1 = levels.vertebra("S1")
    # S1's superior endplate: on the sacrum's true (tilted) top, near its centre.
    plane = float((s1.superior_ras - truth.s1_superior_ras) @ truth.s1_superior_normal)
    assert abs(plane) <= ENDPLATE_TOL_MM, plane
    assert np.linalg.norm(s1.superior_ras - truth.s1_superior_ras) <= 8.0
    errors["S1"] = (float("nan"), plane)
    for v in levels.vertebrae[1:]:
        lo, hi = truth.bodies_s_mm[v.name]
        e_inf = float(v.inferior_ras[2] - lo)
        assert abs(e_inf) <= ENDPLATE_TOL_MM, (v.name, e_inf)
        if v.cut:
            assert hi > top_of_volume and v.superior_ras[2] >= top_of_volume - ENDPLATE_TOL_MM
            e_sup = float("nan")
        else:
            e_sup = float(v.superior_ras[2] - hi)
            assert abs(e_sup) <= ENDPLATE_TOL_MM, (v.name, e_sup)
        errors[v.name] = (e_inf, e_sup)
    return errors


def check_points(levels: SpineLevels, ph) -> None:
    """The confluence and points along the veins get their true level, away from endplates."""
    truth = ph.spine
    assert truth.level_at(ph.confluence_ras) == "L5"  # the phantom's confluence, S = 0
    assert level_at(levels, ph.confluence_ras) == "L5"
    planes = [s for lo_hi in truth.bodies_s_mm.values() for s in lo_hi]
    for branch in ph.branches.values():
        for p in branch.points_ras[::10]:
            near_plane = min(abs(p[2] - s) for s in planes) <= ENDPLATE_TOL_MM
            near_s1 = abs((p - truth.s1_superior_ras) @ truth.s1_superior_normal) <= 2 * ENDPLATE_TOL_MM
            if near_plane or near_s1 or p[2] < truth.s1_superior_ras[2] - 20.0:
                continue  # an endplate's own uncertainty, or under the sacrum's top (S1's end estimated)
            assert level_at(levels, p) == truth.level_at(p), (branch.name, p)


# ---------------------------------------------------------------------------------------------
# Naming a point
# ---------------------------------------------------------------------------------------------


def test_level_at_names_bodies_discs_and_the_outside():
    up = np.array([0.0, 0.0, 1.0])
    levels = SpineLevels(
        [
            Vertebra("S1", np.array([0.0, -40.0, -35.0]), np.array([0.0, -55.0, -60.0])),
            Vertebra("L5", np.array([0.0, -37.0, 1.5]), np.array([0.0, -37.0, -25.5])),
            Vertebra("L4", np.array([0.0, -37.0, 37.5]), np.array([0.0, -37.0, 10.5])),
            Vertebra("L2", np.array([0.0, -37.0, 109.5]), np.array([0.0, -37.0, 82.5]), cut=True),
        ],
        names.LevelSource.CT,
    )
    # In front of the spine, by height along it: the IVC lies 30-40 mm anterior to the bodies.
    assert level_at(levels, [10.0, 0.0, 0.0]) == "L5"
    assert level_at(levels, [10.0, 0.0, 5.0]) == "L4/L5"
    assert level_at(levels, [-30.0, 10.0, 20.0]) == "L4"
    assert level_at(levels, [0.0, 0.0, 60.0]) == "between L4 and L2"  # L3 not found
    assert level_at(levels, [0.0, 0.0, 130.0]) == "above L2"
    assert level_at(levels, [60.0, 0.0, -150.0]) == "below S1"
    assert levels.vertebra("L5").normal("superior") @ up == pytest.approx(1.0)
    assert levels.estimated and levels.vertebra("L3") is None
    assert json.loads(json.dumps(levels.as_dict()))["vertebrae"][0]["name"] == "S1"
    with pytest.raises(ValueError, match="no vertebrae"):
        level_at(SpineLevels([], names.LevelSource.CT), [0.0, 0.0, 0.0])


def test_endplate_planes_follow_the_lordosis():
    """A tilted endplate (the sacral slope) is a tilted plane: in front of the sacrum's top a
    point lower than the endplate's centre can still be above S1."""
    n = np.array([0.0, 0.42, 0.91])
    s1 = Vertebra(
        "S1", np.array([0.0, -42.0, -35.0]), np.array([0.0, -55.0, -62.0]), superior_normal=n / 1.0021
    )
    l5 = Vertebra("L5", np.array([0.0, -37.0, 1.5]), np.array([0.0, -40.0, -25.5]))
    levels = SpineLevels([s1, l5], names.LevelSource.CT)
    assert level_at(levels, [0.0, 0.0, -40.0]) == "L5/S1"
    assert level_at(levels, [0.0, -60.0, -40.0]) == "S1"


# ---------------------------------------------------------------------------------------------
# The phantom: exact truth
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spacing", [1.0, 2.0])
def test_levels_from_ct_on_the_phantom(phantom_of, spacing):
    ph = phantom_of(spacing_mm=spacing)
    levels = levels_from_ct(ph.image, ph.ijk_to_ras)
    assert levels.method == names.LevelSource.CT and levels.estimated
    assert levels.vertebra("S1").inferior_estimated and any("S1" in n for n in levels.notes)
    check_against_truth(levels, ph)
    check_points(levels, ph)
    # Searching around the confluence finds the same column.
    near = levels_from_ct(ph.image, ph.ijk_to_ras, near=ph.confluence_ras)
    for a, b in zip(levels.vertebrae, near.vertebrae, strict=True):
        assert np.linalg.norm(a.superior_ras - b.superior_ras) < 1.0


def test_levels_do_not_depend_on_the_storage_order(phantom_of):
    lps = phantom_of(spacing_mm=2.0)
    ras = phantom_of(spacing_mm=2.0, lps_orientation=False)
    assert not np.allclose(lps.ijk_to_ras, ras.ijk_to_ras)
    # By hand: slices along i, rows flipped (new index (a2, a1, a0) is old (a0, nj - 1 - a1, a2)).
    nj = lps.image.shape[1]
    turned = np.ascontiguousarray(np.transpose(lps.image, (2, 1, 0))[:, ::-1, :])
    p = np.zeros((4, 4))
    p[0, 2], p[1, 1], p[1, 3], p[2, 0], p[3, 3] = 1.0, -1.0, nj - 1.0, 1.0, 1.0
    runs = [
        levels_from_ct(im, m)
        for im, m in ((lps.image, lps.ijk_to_ras), (ras.image, ras.ijk_to_ras), (turned, lps.ijk_to_ras @ p))
    ]
    for other in runs[1:]:
        assert other.names == runs[0].names
        for a, b in zip(runs[0].vertebrae, other.vertebrae, strict=True):
            assert np.linalg.norm(a.superior_ras - b.superior_ras) <= 1.0
            assert np.linalg.norm(a.inferior_ras - b.inferior_ras) <= 1.0
    check_against_truth(runs[1], ras)


def test_levels_from_labels_on_phantom_vertebra_labels(phantom_of):
    """Vertebra labels painted from the phantom's bone and truth: read back, not counted."""
    ph = phantom_of(spacing_mm=2.0)
    truth = ph.spine
    k, j, i = np.indices(ph.image.shape)
    ras = np.stack([i, j, k, np.ones_like(i)], axis=-1) @ ph.ijk_to_ras.T
    bone = (ph.labels == 8) & (np.abs(ras[..., 0]) < 45.0)
    labels = np.zeros(ph.image.shape, dtype=np.uint8)
    for name, (lo, hi) in truth.bodies_s_mm.items():
        labels[bone & (ras[..., 2] >= lo) & (ras[..., 2] <= hi)] = names.TOTALSEGMENTATOR_VERTEBRAE[name]
    below_top = (ras[..., :3] - truth.s1_superior_ras) @ truth.s1_superior_normal <= 0.0
    labels[bone & below_top & (ras[..., 2] > truth.s1_superior_ras[2] - 30.0)] = names.TOTALSEGMENTATOR_SACRUM
    levels = levels_from_labels(labels, ph.ijk_to_ras)
    assert levels.method == names.LevelSource.LABELS and not levels.estimated
    assert any("sacrum" in n for n in levels.notes)  # no S1 label: the sacrum's top stands in
    assert levels.names == list(names.VERTEBRAE)
    for v in levels.vertebrae[1:]:
        lo, hi = truth.bodies_s_mm[v.name]
        assert abs(v.inferior_ras[2] - lo) <= 1.5
        assert v.cut or abs(v.superior_ras[2] - hi) <= 1.5
    s1 = levels.vertebra("S1")
    assert abs((s1.superior_ras - truth.s1_superior_ras) @ truth.s1_superior_normal) <= ENDPLATE_TOL_MM
    assert level_at(levels, ph.confluence_ras) == "L5"
    with pytest.raises(ValueError, match="none of the vertebra labels"):
        levels_from_labels(np.zeros_like(labels), ph.ijk_to_ras)


@pytest.mark.parametrize("spacing", [1.0, 2.0])
def test_femoral_head_tops_on_the_phantom(phantom_of, spacing):
    ph = phantom_of(spacing_mm=spacing)
    heads = femoral_heads(ph.image, ph.ijk_to_ras, levels_from_ct(ph.image, ph.ijk_to_ras))
    assert set(heads) == {"left", "right"}
    for side, top in ph.spine.femoral_head_tops_ras.items():
        found = heads[side]
        assert found is not None, side
        assert abs(found[2] - top[2]) <= HEAD_TOL_MM, (side, found, top)
        # The top is flat: any point of it (radius 22 mm) is the top.
        assert np.linalg.norm(found[:2] - top[:2]) <= 22.0, (side, found, top)
    # Without levels it finds the spine itself first.
    again = femoral_heads(ph.image, ph.ijk_to_ras)
    assert all(np.allclose(again[s], heads[s]) for s in heads)


# ---------------------------------------------------------------------------------------------
# Refusals: no spine, no sacrum, not a CT
# ---------------------------------------------------------------------------------------------


def crop_above(image: np.ndarray, m: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """The slices above height S (the volume's k axis runs along S)."""
    k0 = int(np.ceil((s - m[2, 3]) / m[2, 2]))
    shift = np.eye(4)
    shift[2, 3] = k0
    return image[k0:], m @ shift


def test_volumes_without_a_spine_to_count_are_refused(phantom_of):
    ph = phantom_of(spacing_mm=2.0)
    above = crop_above(ph.image, ph.ijk_to_ras, 20.0)  # L4 up: no sacrum to count from
    with pytest.raises(ValueError, match="no sacrum"):
        levels_from_ct(*above)
    mr = (ph.image.astype(np.float32) + 1100.0) / 4.0  # positive intensities: not HU
    with pytest.raises(ValueError, match="CT"):
        levels_from_ct(mr, ph.ijk_to_ras)
    with pytest.raises(ValueError, match="no tissue"):
        levels_from_ct(np.full_like(ph.image, -1000), ph.ijk_to_ras)
    with pytest.raises(ValueError, match="3D"):
        levels_from_ct(ph.image[0], ph.ijk_to_ras)
    # The femoral heads' search needs no spine, only the body's midline.
    heads = femoral_heads(*above)
    assert heads == {"left": None, "right": None}


# ---------------------------------------------------------------------------------------------
# A real CT and its TotalSegmentator labels
# ---------------------------------------------------------------------------------------------


def real_confluence(raw: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Where TotalSegmentator's IVC (63) meets its iliac veins (67, 68): the IVC voxels next to
    an iliac voxel."""
    from scipy.ndimage import binary_dilation

    iliac = np.isin(
        raw, (names.TOTALSEGMENTATOR_LABELS["left_iliac"], names.TOTALSEGMENTATOR_LABELS["right_iliac"])
    )
    touch = binary_dilation(iliac, iterations=2) & (raw == names.TOTALSEGMENTATOR_LABELS["ivc"])
    kji = np.argwhere(touch)
    assert len(kji), "the IVC label does not meet the iliac labels"
    return kji[:, ::-1].mean(axis=0) @ m[:3, :3].T + m[:3, 3]


def ivc_points(raw: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The IVC label's centre in each of its slices (RAS)."""
    out = []
    for k in np.unique(np.argwhere(raw == names.TOTALSEGMENTATOR_LABELS["ivc"])[:, 0]):
        ji = np.argwhere(raw[k] == names.TOTALSEGMENTATOR_LABELS["ivc"]).mean(axis=0)
        out.append(np.array([ji[1], ji[0], k, 1.0]) @ m.T)
    return np.array(out)[:, :3]


@pytest.fixture(scope="module")
def real_ct():
    from IVCReconstructionLib.inputs.volumes import read_volume

    image, m = read_volume(REAL_CT / "ct.nii.gz")
    raw, m_labels = read_volume(REAL_CT / "labels.nii.gz")
    return image, m, raw, m_labels


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CT.is_dir(), reason=f"real CT not found at {REAL_CT}")
def test_levels_from_labels_name_totalsegmentators_vertebrae(real_ct):
    _, _, raw, m = real_ct
    levels = levels_from_labels(raw, m)
    assert levels.names == list(names.VERTEBRAE)  # S1 ... T12; T11 (33) is not used
    assert levels.vertebra("T12").cut  # T12 runs off the volume's top
    for v in levels.vertebrae:
        value = names.TOTALSEGMENTATOR_VERTEBRAE[v.name]
        s = np.argwhere(raw == value)[:, 0] * m[2, 2] + m[2, 3]
        assert s.min() - 2.0 <= v.centre_ras[2] <= s.max() + 2.0, v.name
        if not v.cut:
            assert 18.0 <= v.height_mm <= 40.0, (v.name, v.height_mm)
    centres = [v.centre_ras[2] for v in levels.vertebrae]
    assert centres == sorted(centres)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CT.is_dir(), reason=f"real CT not found at {REAL_CT}")
def test_levels_from_the_real_cts_bone_agree_with_its_labels(real_ct):
    image, m, raw, m_labels = real_ct
    labelled = levels_from_labels(raw, m_labels)
    counted = levels_from_ct(image, m)
    assert counted.names[:6] == ["S1", "L5", "L4", "L3", "L2", "L1"]
    conf = real_confluence(raw, m_labels)
    assert abs(rank(level_at(counted, conf)) - rank(level_at(labelled, conf))) <= 1.0
    assert level_at(counted, conf) in ("L5", "L4/L5", "L4")
    points = ivc_points(raw, m_labels)
    same = 0
    for p in points:
        a, b = level_at(counted, p), level_at(labelled, p)
        assert abs(rank(a) - rank(b)) <= 1.0, (p, a, b)
        same += a == b
    assert same >= 0.8 * len(points)
    near = levels_from_ct(image, m, near=conf)
    assert near.names == counted.names


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CT.is_dir(), reason=f"real CT not found at {REAL_CT}")
def test_femoral_head_tops_on_the_real_ct(real_ct):
    image, m, raw, m_labels = real_ct
    heads = femoral_heads(image, m)
    for side, value in names.TOTALSEGMENTATOR_FEMURS.items():
        kji = np.argwhere(raw == value)
        top = kji[:, 0].max() * m_labels[2, 2] + m_labels[2, 3] + m_labels[2, 2] / 2.0
        found = heads[side]
        assert found is not None, side
        assert abs(found[2] - top) <= 2.0 * m_labels[2, 2], (side, found, top)  # two 3 mm voxels
        assert np.sign(found[0]) == (1.0 if side == "right" else -1.0)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CT.is_dir(), reason=f"real CT not found at {REAL_CT}")
def test_a_real_ct_cut_above_the_sacrum_is_refused(real_ct):
    image, m, _, _ = real_ct
    with pytest.raises(ValueError, match="no sacrum"):
        levels_from_ct(*crop_above(image, m, 260.0))


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_DICOM.is_dir(), reason=f"real DICOM CT not found at {REAL_DICOM}")
def test_an_upper_abdomen_slab_is_refused():
    from IVCReconstructionLib.inputs.volumes import read_volume

    image, m = read_volume(REAL_DICOM / "series")
    with pytest.raises(ValueError, match=r"no spine|no sacrum"):
        levels_from_ct(image, m)

"""Bring-your-own segmentations: segments found by ID or terminology, label maps by mapping."""

from __future__ import annotations

import numpy as np
import pytest

from IVCReconstructionLib import names
from IVCReconstructionLib.phantom import PhantomOptions, make_phantom
from IVCReconstructionLib.scene.nodes import add_volume_from_array
from IVCReconstructionLib.scene.phantom_nodes import add_phantom_to_scene
from IVCReconstructionLib.scene.segmentation_nodes import (
    add_segmentation_from_labelmap,
    find_vein_segments,
    set_vein_terminology,
    vein_labels_from_segmentation,
)
from IVCReconstructionLib.segment.existing import parse_label_mapping


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(PhantomOptions(spacing_mm=2.0))


def test_label_mapping_is_parsed_and_checked():
    assert parse_label_mapping("ivc=63,left=67,right=68") == {"ivc": 63, "left_iliac": 67, "right_iliac": 68}
    assert parse_label_mapping(" IVC=1, left_iliac=2 ,right=3") == {
        "ivc": 1,
        "left_iliac": 2,
        "right_iliac": 3,
    }
    with pytest.raises(ValueError, match="no value for right_iliac"):
        parse_label_mapping("ivc=63,left=67")
    with pytest.raises(ValueError, match="write it as ivc=63"):
        parse_label_mapping("ivc=63,left=67,right=abc")
    with pytest.raises(ValueError, match="same label value"):
        parse_label_mapping("ivc=1,left=2,right=2")


def test_segments_found_by_id_give_the_truth_labels_back(mrml, phantom):
    nodes = add_phantom_to_scene(mrml.scene, phantom)
    before = mrml.scene.GetNumberOfNodes()
    labels, ijk_to_ras, found = vein_labels_from_segmentation(nodes.segmentation, nodes.volume)
    assert mrml.scene.GetNumberOfNodes() == before  # the temporary label map is gone
    assert found == {b: names.SEGMENT_IDS[b] for b in names.BRANCHES}
    np.testing.assert_allclose(ijk_to_ras, phantom.ijk_to_ras, atol=1e-6)
    truth = np.where(np.isin(phantom.labels, (1, 2, 3)), phantom.labels, 0)
    assert np.array_equal(labels, truth)


def test_segments_found_by_terminology_when_ids_differ(mrml, phantom):
    truth = np.where(np.isin(phantom.labels, (1, 2, 3)), phantom.labels, 0)
    segments = {
        1: ("Segment_7", "vena cava", (0, 0, 1)),
        2: ("Segment_8", "L", (0, 0, 1)),
        3: ("x", "R", (0, 0, 1)),
    }
    seg = add_segmentation_from_labelmap(mrml.scene, truth, phantom.ijk_to_ras, segments, "user segmentation")
    segmentation = seg.GetSegmentation()
    for label, branch in ((1, "ivc"), (2, "left_iliac"), (3, "right_iliac")):
        set_vein_terminology(segmentation.GetSegment(segments[label][0]), branch)
    assert find_vein_segments(seg) == {"ivc": "Segment_7", "left_iliac": "Segment_8", "right_iliac": "x"}
    labels, _, _ = vein_labels_from_segmentation(seg)
    assert (labels == 2).sum() == (truth == 2).sum()


def test_missing_vein_segment_is_named(mrml, phantom):
    truth = np.where(np.isin(phantom.labels, (1, 2)), phantom.labels, 0)
    segments = {1: ("inferior_vena_cava", "IVC", (0, 0, 1)), 2: ("iliac_vena_left", "L", (0, 0, 1))}
    seg = add_segmentation_from_labelmap(mrml.scene, truth, phantom.ijk_to_ras, segments, "two veins")
    before = mrml.scene.GetNumberOfNodes()
    with pytest.raises(ValueError, match="no segment for iliac_vena_right"):
        vein_labels_from_segmentation(seg)
    assert mrml.scene.GetNumberOfNodes() == before


def test_segments_picked_by_hand_win_and_are_checked(mrml, phantom):
    """In Slicer the user may pick the three segments: those are used, others found as usual."""
    truth = np.where(np.isin(phantom.labels, (1, 2, 3)), phantom.labels, 0)
    segments = {1: ("cava", "cava", (0, 0, 1)), 2: ("left", "L", (0, 0, 1)), 3: ("right", "R", (0, 0, 1))}
    seg = add_segmentation_from_labelmap(mrml.scene, truth, phantom.ijk_to_ras, segments, "user")
    with pytest.raises(ValueError, match="no segment for inferior_vena_cava"):
        find_vein_segments(seg)
    chosen = {"ivc": "cava", "left_iliac": "left", "right_iliac": "right"}
    assert find_vein_segments(seg, chosen) == chosen
    volume = add_volume_from_array(mrml.scene, phantom.image, phantom.ijk_to_ras, "ct")
    labels, _, _ = vein_labels_from_segmentation(seg, volume, chosen)
    assert np.array_equal(labels, truth)
    # Picking left and right the other way round gives the labels the other way round.
    swapped = dict(chosen, left_iliac="right", right_iliac="left")
    labels, _, _ = vein_labels_from_segmentation(seg, volume, swapped)
    assert np.array_equal(labels == 2, truth == 3)
    with pytest.raises(ValueError, match="no segment 'nothing'"):
        find_vein_segments(seg, dict(chosen, ivc="nothing"))
    with pytest.raises(ValueError, match="same segment is chosen for two veins"):
        find_vein_segments(seg, dict(chosen, left_iliac="cava"))


def _arteries_split(phantom) -> np.ndarray:
    """The phantom's truth labels with its arteries (5) split into aorta 5, left 10 and right 11
    iliac artery at 24 mm above the venous confluence (the aortic bifurcation is about 19 mm
    above it)."""
    labels = phantom.labels.astype(np.int16)
    kji = np.argwhere(labels == 5)
    ras = kji[:, ::-1] @ phantom.ijk_to_ras[:3, :3].T + phantom.ijk_to_ras[:3, 3]
    split = np.where(ras[:, 2] > phantom.confluence_ras[2] + 24.0, 5, np.where(ras[:, 0] < 0, 10, 11))
    labels[tuple(kji.T)] = split
    return labels


def test_the_veins_meet_at_a_confluence_and_arteries_do_not(phantom, segmentation_of):
    """check_confluence: the phantom's veins (truth and seeded, with an occluded IVC too) pass;
    its iliac arteries given for the iliac veins reach the IVC beside it, with the IVC running on
    below: refused, naming the user's labels."""
    from IVCReconstructionLib.segment.existing import check_confluence, labels_from_label_map

    point = check_confluence(labels_from_label_map(phantom.labels), phantom.ijk_to_ras)
    assert np.linalg.norm(point - phantom.confluence_ras) < 12.0
    seeded = segmentation_of(ivc_occlusion_length_mm=40.0)  # shared with test_segmentation, test_findings
    check_confluence(seeded.labels, seeded.ijk_to_ras)  # an occluded IVC (label 4) and all
    split = _arteries_split(phantom)
    arteries = labels_from_label_map(split, {"ivc": 1, "left_iliac": 10, "right_iliac": 11})
    described = {"ivc": "label 1", "left_iliac": "label 10", "right_iliac": "label 11"}
    with pytest.raises(ValueError, match=r"IVC segment \(label 1\) reaches \d+ mm below .* iliac arteries"):
        check_confluence(arteries, phantom.ijk_to_ras, described)
    aorta = labels_from_label_map(split, {"ivc": 5, "left_iliac": 2, "right_iliac": 3})
    with pytest.raises(ValueError, match=r"\(label 5\), .* do not meet at one confluence"):
        check_confluence(aorta, phantom.ijk_to_ras, {"ivc": "label 5"})


def test_the_module_path_refuses_arteries_named_as_veins_by_their_segments(mrml, phantom):
    """measure_segmentation_node (the module's Measure veins and Plan stents) runs the same
    check: segments holding the iliac arteries are refused by their segment IDs."""
    from IVCReconstructionLib.pipeline import measure_segmentation_node

    split = _arteries_split(phantom)
    node = add_segmentation_from_labelmap(
        mrml.scene,
        split,
        phantom.ijk_to_ras,
        {
            1: ("inferior_vena_cava", "IVC", (0, 0, 1)),
            10: ("iliac_artery_left", "left artery", (1, 0, 0)),
            11: ("iliac_artery_right", "right artery", (1, 0, 0)),
        },
        "Arteries as veins",
    )
    chosen = {
        "ivc": "inferior_vena_cava",
        "left_iliac": "iliac_artery_left",
        "right_iliac": "iliac_artery_right",
    }
    with pytest.raises(ValueError, match=r"segment 'inferior_vena_cava'\) reaches \d+ mm below"):
        measure_segmentation_node(node, segment_ids=chosen)

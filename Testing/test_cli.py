"""The command line end to end: files written, a scene that reloads, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from IVCReconstructionLib.cli import main
from IVCReconstructionLib.profile_io import read_profile_csv
from IVCReconstructionLib.profile_types import PROFILE_COLUMNS
from IVCReconstructionLib.scene import load_mrb

REAL_CT = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "totalseg-example"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--spacing", "1.5"]) == 0
    return out


def test_demo_writes_phantom_truth_profiles_and_scene(demo):
    for name in (
        "phantom_ct.nii.gz",
        "truth_labels.nii.gz",
        "truth_segmentation.seg.nrrd",
        "segmentation.seg.nrrd",
        "veins_labels.nii.gz",
        "seeds.mrk.json",
        "truth.json",
        "scene.mrb",
    ):
        assert (demo / name).stat().st_size > 0, name
    truth = json.loads((demo / "truth.json").read_text())
    assert truth["lesions"][0]["branch"] == "left_iliac"  # the demo's default scenario is May-Thurner
    for branch in ("ivc", "left_iliac", "right_iliac"):
        path = demo / f"profile_{branch}.csv"
        assert path.read_text().splitlines()[0] == ",".join(PROFILE_COLUMNS)
        prof = read_profile_csv(path)
        ok = ~prof.confluence_zone
        expected = truth["branches"][branch]["median_ce_diameter_mm"]
        assert np.median(prof.ce_diameter_mm[ok]) == pytest.approx(expected, abs=1.5), branch
    # The demo segments the CT from the seeds: its label map matches the truth.
    from IVCReconstructionLib.volumes import read_volume

    found, m_found = read_volume(demo / "veins_labels.nii.gz")
    truth, m_truth = read_volume(demo / "truth_labels.nii.gz")
    np.testing.assert_allclose(m_found, m_truth, atol=1e-4)
    for value in (1, 2, 3):
        a, b = found == value, truth == value
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.9, value
    # The plan: a left iliac construct from the confluence for the May-Thurner compression.
    plan = json.loads((demo / "plan.json").read_text())
    assert plan["template"] == "unilateral"
    assert plan["stents"] and all("left_iliac" in st["coverage"] for st in plan["stents"])
    assert plan["lesions"][0]["branch"] == "left_iliac"
    assert plan["settings"]["landing_mm"] == 20.0
    # The compressed left common iliac vein is the smallest section of its branch.
    left = read_profile_csv(demo / "profile_left_iliac.csv")
    i = int(np.argmin(np.where(left.confluence_zone, np.inf, left.area_mm2)))
    assert left.distance_mm[i] < 50.0


def test_demo_scene_reloads_with_everything(demo, tmp_path):
    ctx = load_mrb(demo / "scene.mrb", tmp_path / "reload")
    try:
        scene = ctx.scene

        def names_of(cls):
            return sorted(n.GetName() for n in scene.GetNodesByClass(cls))

        assert "IVC phantom CT" in names_of("vtkMRMLScalarVolumeNode")
        assert len(names_of("vtkMRMLMarkupsCurveNode")) == 6  # 3 truth + 3 measured centerlines
        assert "Veins" in names_of("vtkMRMLSegmentationNode")
        assert any(name.startswith("S1 left iliac") for name in names_of("vtkMRMLModelNode"))
        assert {"Stent plan", "Plan warnings"} <= set(names_of("vtkMRMLTableNode"))
        assert len(names_of("vtkMRMLTableNode")) >= 3
        assert names_of("vtkMRMLPlotChartNode") == ["Vein diameters"]
        seg = scene.GetFirstNodeByClass("vtkMRMLSegmentationNode").GetSegmentation()
        assert seg.GetSegment("inferior_vena_cava") is not None
    finally:
        ctx.close()


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "IVCReconstructionLib.cli", *args], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["phantom", "--out", "x", "--spacing", "0"], "spacing must be between"),
        (["phantom", "--out", "x", "--scenario", "unknown"], "invalid choice"),
        (["plan", "--volume", "ct.nii.gz"], "required: --out"),
        (["phantom"], "required: --out"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(tmp_path, args, message):
    result = run_cli(*[str(tmp_path / a) if a == "x" else a for a in args])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_plan_from_a_volume_and_seed_file(demo, tmp_path):
    out = tmp_path / "plan"
    assert (
        main(
            [
                "plan",
                "--volume",
                str(demo / "phantom_ct.nii.gz"),
                "--seeds",
                str(demo / "seeds.mrk.json"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    plan = json.loads((out / "plan.json").read_text())
    assert plan["template"] == "unilateral"
    for name in ("segmentation.seg.nrrd", "veins_labels.nii.gz", "profile_ivc.csv", "scene.mrb"):
        assert (out / name).stat().st_size > 0, name
    # The same plan from the segmentation the first run wrote (bring your own segmentation).
    again = tmp_path / "again"
    assert (
        main(
            [
                "plan",
                "--volume",
                str(demo / "phantom_ct.nii.gz"),
                "--segmentation",
                str(out / "segmentation.seg.nrrd"),
                "--out",
                str(again),
            ]
        )
        == 0
    )
    assert json.loads((again / "plan.json").read_text())["template"] == "unilateral"


def test_seed_file_reading(demo, tmp_path):
    from IVCReconstructionLib.seeds import read_seeds

    seeds = read_seeds(demo / "seeds.mrk.json")
    truth = json.loads((demo / "truth.json").read_text())["seeds"]
    for key in ("IVC", "Left", "Right"):
        np.testing.assert_allclose(seeds[key], truth[key], atol=0.01)  # LPS in the file, RAS here
    bad = tmp_path / "bad.mrk.json"
    data = json.loads((demo / "seeds.mrk.json").read_text())
    data["markups"][0]["controlPoints"][0]["label"] = "Aorta"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="labelled 'Aorta'"):
        read_seeds(bad)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CT.is_dir(), reason=f"real CT not found at {REAL_CT}")
def test_plan_on_the_real_ct_with_its_totalsegmentator_labels(tmp_path):
    args = [
        "plan",
        "--volume",
        str(REAL_CT / "ct.nii.gz"),
        "--segmentation",
        str(REAL_CT / "labels.nii.gz"),
        "--labels",
        "ivc=63,left=67,right=68",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert {w["code"] for w in plan["warnings"]} >= {"LOW_CONFIDENCE_MODALITY", "NOT_IVUS_CONFIRMED"}
    assert all(st["diameter_mm"] > 0 for st in plan["stents"])


def test_plan_needs_seeds_or_a_segmentation(tmp_path):
    result = run_cli("plan", "--volume", str(tmp_path / "none.nii.gz"), "--out", str(tmp_path))
    assert result.returncode == 2 and result.stderr.startswith("error: give --seeds")

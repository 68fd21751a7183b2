"""The command line end to end: files written, a scene that reloads, clean errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from IVCReconstructionLib import names
from IVCReconstructionLib.cli import main
from IVCReconstructionLib.measure.datatypes import PROFILE_COLUMNS
from IVCReconstructionLib.outputs.profile_csv import read_profile_csv
from IVCReconstructionLib.scene.context import load_mrb
from support.catalogs import write_open_cell_catalog

REAL_CT = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "totalseg-example"


CONTRACT_FILES = (
    "plan.json",
    "veins_labels.nii.gz",
    "segmentation.seg.nrrd",
    "profile_ivc.csv",
    "profile_left_iliac.csv",
    "profile_right_iliac.csv",
    "scene.mrb",
    "view3d.png",
    "report.html",
)


@pytest.fixture(scope="module")
def open_cell_catalog(tmp_path_factory) -> str:
    """A catalogue file with an IVC stent the limbs of an inverted-Y can pass through (a test
    device: the built-in catalogue has none with sizes, so it cannot make an inverted-Y)."""
    return write_open_cell_catalog(tmp_path_factory.mktemp("catalog") / "open_cell.json")


@pytest.fixture(scope="module")
def demo(tmp_path_factory, open_cell_catalog):
    """`ivc-plan demo` as `make demo` runs it (post-thrombotic phantom), at 1.5 mm for speed, with
    the open-cell IVC stent's catalogue so that its plan is the inverted-Y."""
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--spacing", "1.5", "--catalog", open_cell_catalog]) == 0
    return out


def check_plan_json(data: dict) -> None:
    """plan.json against architecture section 7: keys, types, RAS triples, intervals."""

    def ras(v, what):
        assert isinstance(v, list) and len(v) == 3 and all(isinstance(c, float | int) for c in v), what

    assert data["template"] in ("inverted-y", "double-barrel", "kissing", "unilateral", "none")
    ras(data["confluence_ras"], "confluence_ras")
    assert "renal_inflow_ras" in data["landmarks"]
    for key, value in data["landmarks"].items():
        assert key.endswith("_ras") and (value is None or len(value) == 3), key
    assert data["branches"]["ivc"]["length_mm"] > 0 and data["branches"]["ivc"]["reference_diameter_mm"] > 0
    for side in ("left_iliac", "right_iliac"):
        branch = data["branches"][side]
        assert branch["length_mm"] > 0
        assert branch["civ_reference_diameter_mm"] > 0 and branch["eiv_reference_diameter_mm"] > 0
    for lesion in data["lesions"]:
        assert lesion["branch"] in ("ivc", "left_iliac", "right_iliac")
        assert lesion["kind"] in ("stenosis", "occlusion")
        assert 0 <= lesion["start_mm"] < lesion["end_mm"]
        assert lesion["min_area_mm2"] >= 0 and 0 <= lesion["area_ratio"] < 1
    ids = [st["id"] for st in data["stents"]]
    assert len(set(ids)) == len(ids)
    for st in data["stents"]:
        assert isinstance(st["product"], str) and isinstance(st["manufacturer"], str)
        assert st["diameter_mm"] > 0 and st["length_mm"] > 0
        ras(st["proximal_ras"], "proximal_ras")
        ras(st["distal_ras"], "distal_ras")
        assert st["coverage"] and set(st["coverage"]) <= {"ivc", "left_iliac", "right_iliac"}
        for start, end in st["coverage"].values():
            assert 0 <= start < end
    for w in data["warnings"]:
        assert set(w) == {"code", "severity", "stent", "message"}
        assert w["severity"] in ("info", "warning", "critical") and w["stent"] in (None, *ids)
    for key in ("landing_mm", "overlap_mm", "protrusion_mm", "renal_margin_mm"):
        assert isinstance(data["settings"][key], float | int), key
    assert set(data["settings"]["design_defaults"]) >= {"landing_mm", "overlap_mm"}


def check_report(folder) -> str:
    """report.html names files that exist beside it and embeds its pictures; returns its text."""
    import re

    text = (folder / "report.html").read_text()
    links = re.findall(r"href='([^']+)'", text)
    assert set(links) >= set(CONTRACT_FILES)
    for link in links:
        assert (folder / link).is_file(), link
    pictures = re.findall(r"src='(data:image/png;base64,[^']+)'", text)
    assert len(pictures) == 1  # the 3D view
    # The three diameter profiles, inline SVG (drawn without a plotting library).
    assert re.findall(r'<svg [^>]*class="profile" data-branch="([a-z_]+)"', text) == list(names.BRANCHES)
    assert "Research use only" in text
    return text


def test_demo_is_an_inverted_y_with_every_file_of_the_contract(demo):
    for name in (*CONTRACT_FILES, "phantom_ct.nii.gz", "truth_labels.nii.gz", "seeds.mrk.json", "truth.json"):
        assert (demo / name).stat().st_size > 0, name
    truth = json.loads((demo / "truth.json").read_text())
    kinds = {(les["branch"], les["kind"]) for les in truth["lesions"]}
    assert kinds == {("ivc", "occlusion"), ("left_iliac", "stenosis"), ("right_iliac", "stenosis")}
    for branch in ("ivc", "left_iliac", "right_iliac"):
        path = demo / f"profile_{branch}.csv"
        assert path.read_text().splitlines()[0] == ",".join(PROFILE_COLUMNS)
        prof = read_profile_csv(path)
        ok = ~prof.confluence_zone
        expected = truth["branches"][branch]["median_ce_diameter_mm"]
        assert np.median(prof.ce_diameter_mm[ok]) == pytest.approx(expected, abs=1.5), branch
    # The demo segments the CT from the seeds: its label map matches the truth.
    from IVCReconstructionLib.inputs.volumes import read_volume

    found, m_found = read_volume(demo / "veins_labels.nii.gz")
    truth_labels, m_truth = read_volume(demo / "truth_labels.nii.gz")
    np.testing.assert_allclose(m_found, m_truth, atol=1e-4)
    for value in (1, 2, 3):
        a, b = found == value, truth_labels == value
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.9, value
    # An IVC stent over the occlusion and a limb into each iliac vein.
    plan = json.loads((demo / "plan.json").read_text())
    check_plan_json(plan)
    assert plan["template"] == "inverted-y"
    (occlusion,) = [les for les in plan["lesions"] if les["kind"] == "occlusion"]
    truth_occlusion = next(les for les in truth["lesions"] if les["kind"] == "occlusion")
    assert occlusion["start_mm"] == pytest.approx(truth_occlusion["start_mm"], abs=10.0)
    (ivc,) = [st for st in plan["stents"] if st["role"] == "ivc"]
    assert (
        ivc["coverage"]["ivc"][0] <= occlusion["start_mm"]
        and ivc["coverage"]["ivc"][1] >= occlusion["end_mm"]
    )
    limbs = {st["role"] for st in plan["stents"] if "ivc" in st["coverage"] and st["role"] != "ivc"}
    assert limbs == {"left_limb", "right_limb"}
    check_report(demo)


def test_demo_writes_one_set_with_its_manifest_and_every_seed_it_used(demo):
    from IVCReconstructionLib.outputs.atomic import read_manifest, sha256_of
    from IVCReconstructionLib.phantom.files import PHANTOM_FILE_NAMES

    manifest = read_manifest(demo)
    assert manifest["command"] == "demo" and [i["role"] for i in manifest["inputs"]] == ["catalog"]
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(CONTRACT_FILES) | set(PHANTOM_FILE_NAMES)  # the phantom's files too
    assert sorted(p.name for p in demo.iterdir()) == sorted([*listed, "ivc-plan-manifest.json"])
    for name in ("plan.json", "seeds.mrk.json"):
        assert listed[name]["sha256"] == sha256_of(demo / name)
    assert not [p for p in demo.parent.iterdir() if "ivc-plan" in p.name]  # no temporary folder left
    # The Renal seed the demo segmented and planned with is in its seed file.
    from IVCReconstructionLib.inputs.seeds import read_seeds

    seeds = read_seeds(demo / "seeds.mrk.json")
    np.testing.assert_allclose(seeds["Renal"], _truth(demo)["renal_inflow_ras"], atol=0.01)


def test_view3d_shows_the_veins_and_stents(demo):
    from PIL import Image

    rgb = np.asarray(Image.open(demo / "view3d.png").convert("RGB")).astype(int)
    assert rgb.shape == (900, 800, 3)
    # Dark background; veins are drawn blue-ish over a good part of the picture, and the stent
    # struts in their own colours (the first stent's orange, STENT_COLORS[0]) in the middle.
    background = rgb.sum(axis=2) < 120
    assert 0.5 < background.mean() < 0.97
    bluish = (rgb[:, :, 2] > 120) & (rgb[:, :, 2] > rgb[:, :, 0] + 40)
    assert bluish.mean() > 0.015  # 0.025 measured: the IVC and left iliac (the right is teal)
    # Framed on the veins: the IVC runs down the middle of the picture's upper half.
    assert bluish[150:300, 300:500].mean() > 0.1  # 0.18 measured
    from IVCReconstructionLib.names import STENT_COLORS

    first = np.array(STENT_COLORS[0]) * 255
    near = np.abs(rgb - first).max(axis=2) < 60
    assert near.sum() > 200


def test_demo_scene_reloads_with_everything(demo, tmp_path):
    ctx = load_mrb(demo / "scene.mrb", tmp_path / "reload")
    try:
        scene = ctx.scene

        def names_of(cls):
            return sorted(n.GetName() for n in scene.GetNodesByClass(cls))

        assert "IVC phantom CT" in names_of("vtkMRMLScalarVolumeNode")
        assert len(names_of("vtkMRMLMarkupsCurveNode")) == 6  # 3 truth + 3 measured centerlines
        assert "Veins" in names_of("vtkMRMLSegmentationNode")
        stents = [n for n in names_of("vtkMRMLModelNode") if n[:1] == "S" and n[1:2].isdigit()]
        assert len(stents) == 3 and any(" IVC " in n for n in stents), stents
        assert {"Stent plan", "Plan warnings"} <= set(names_of("vtkMRMLTableNode"))
        assert names_of("vtkMRMLPlotChartNode") == ["Vein diameters"]
        seg = scene.GetFirstNodeByClass("vtkMRMLSegmentationNode").GetSegmentation()
        assert seg.GetSegment("inferior_vena_cava") is not None
        # The render leaves no view or camera node behind in the saved scene.
        assert scene.GetNodesByClass("vtkMRMLViewNode").GetNumberOfItems() == 0
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


def test_plan_from_a_volume_and_seed_file(demo, open_cell_catalog, tmp_path, capsys):
    out = tmp_path / "plan"
    args = ["plan", "--volume", str(demo / "phantom_ct.nii.gz"), "--seeds", str(demo / "seeds.mrk.json")]
    args += ["--catalog", open_cell_catalog]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    # Progress on stderr: a line when a long stage starts, one with its time when it ends.
    assert "ivc-plan: segmenting the veins from the seeds ..." in captured.err
    assert re.search(r"ivc-plan: segmentation: \d+\.\d s", captured.err)
    assert "stent plan: inverted-y" in captured.out
    for name in CONTRACT_FILES:
        assert (out / name).stat().st_size > 0, name
    plan = json.loads((out / "plan.json").read_text())
    check_plan_json(plan)
    assert plan["template"] == "inverted-y"
    text = check_report(out)
    assert "NIfTI" in text and "phantom_ct" not in text  # the input described, not named
    # The demo's own input files give the demo's plan: same template, devices and sizes.
    demo_plan = json.loads((demo / "plan.json").read_text())

    def devices(p):
        return [(st["role"], st["product"], st["diameter_mm"], st["length_mm"]) for st in p["stents"]]

    assert devices(plan) == devices(demo_plan)
    assert plan["landmarks"] == demo_plan["landmarks"]  # the Renal seed came along
    ctx = load_mrb(out / "scene.mrb", tmp_path / "reload")
    try:
        models = [n.GetName() for n in ctx.scene.GetNodesByClass("vtkMRMLModelNode")]
        assert len([n for n in models if n[:1] == "S" and n[1:2].isdigit()]) == len(plan["stents"]) == 3
    finally:
        ctx.close()
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
                "--template",
                "double-barrel",
                "--out",
                str(again),
            ]
        )
        == 0
    )
    plan2 = json.loads((again / "plan.json").read_text())
    check_plan_json(plan2)
    assert plan2["template"] == "double-barrel"
    # The two stents run up the IVC past the occlusion (built-in catalogue, no open cells needed).
    assert "LESION_NOT_COVERED" not in {w["code"] for w in plan2["warnings"]}
    (occluded,) = [les for les in plan2["lesions"] if les["kind"] == "occlusion"]
    tops = [st["coverage"]["ivc"][1] for st in plan2["stents"] if "ivc" in st["coverage"]]
    assert len(tops) >= 2 and min(tops) >= occluded["end_mm"] + 19.0
    # The occluded stretch the first run saved (segment occluded_vein) is an occlusion again.
    assert [les["branch"] for les in plan2["lesions"] if les["kind"] == "occlusion"] == ["ivc"]
    # The same veins measured again (without seeds the ends differ, so compare calibres).
    for branch, data in plan["branches"].items():
        for key, value in data.items():
            if key.endswith("reference_diameter_mm"):
                assert plan2["branches"][branch][key] == pytest.approx(value, abs=1.0), (branch, key)
    for name in CONTRACT_FILES:
        assert (again / name).is_file(), name


def test_seed_file_reading(demo, tmp_path):
    from IVCReconstructionLib.inputs.seeds import read_seeds

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


# ---------------------------------------------------------------------------------------------
# Every bad input of the earlier stages, through the command line: exit code 2, one line.


def _seed_file(demo, tmp_path, move: dict | None = None, drop: str | None = None, rename: dict | None = None):
    """A copy of the demo's seed file with seeds moved (to RAS points), dropped or relabelled."""
    data = json.loads((demo / "seeds.mrk.json").read_text())
    points = data["markups"][0]["controlPoints"]
    for p in points:
        if move and p["label"] in move:
            r, a, s = move[p["label"]]
            p["position"] = [-r, -a, s]  # the file is in LPS
    if drop:
        data["markups"][0]["controlPoints"] = [p for p in points if p["label"] != drop]
    if rename:
        for p in points:
            p["label"] = rename.get(p["label"], p["label"])
    path = tmp_path / "seeds.mrk.json"
    path.write_text(json.dumps(data))
    return str(path)


def _label_file(demo, tmp_path, change) -> str:
    """A copy of the demo's vein label map, changed by ``change(labels)``."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    from IVCReconstructionLib.inputs.volumes import read_volume

    labels, _ = read_volume(demo / "veins_labels.nii.gz")
    image = sitk.ReadImage(str(demo / "veins_labels.nii.gz"))
    changed = sitk.GetImageFromArray(change(labels.copy()).astype(np.uint8))
    changed.CopyInformation(image)
    path = tmp_path / "labels.nii.gz"
    sitk.WriteImage(changed, str(path))
    return str(path)


def _truth(demo):
    return json.loads((demo / "truth.json").read_text())


def _cut_ivc(labels):
    """Two pieces: the IVC cut across 10 slices half way up."""
    k = np.flatnonzero((labels == 1).any(axis=(1, 2)))
    mid = k[len(k) // 2]
    labels[mid - 5 : mid + 5][labels[mid - 5 : mid + 5] == 1] = 0
    return labels


BAD_PLAN_INPUTS = {
    "seed outside the volume": (
        lambda d, t: ["--seeds", _seed_file(d, t, move={"IVC": (900.0, 0.0, 0.0)})],
        "outside the volume",
    ),
    "seed in fat": (
        lambda d, t: ["--seeds", _seed_file(d, t, move={"Left": _beside_left_seed(d, (-15, 0, 0))})],
        "Left",
    ),
    "seed in bone": (
        lambda d, t: ["--seeds", _seed_file(d, t, move={"IVC": (0.0, -37.0, 60.0)})],  # L3 body
        "IVC seed is in bone",
    ),
    "missing seed": (lambda d, t: ["--seeds", _seed_file(d, t, drop="Right")], "Right"),
    "left and right swapped": (
        lambda d, t: ["--seeds", _seed_file(d, t, rename={"Left": "Right", "Right": "Left"})],
        "swapped",
    ),
    "unknown seed label": (lambda d, t: ["--seeds", _seed_file(d, t, rename={"Via": "Aorta"})], "Aorta"),
    "no such seed file": (lambda d, t: ["--seeds", str(t / "none.mrk.json")], "none.mrk.json"),
    "empty segmentation": (lambda d, t: ["--segmentation", _label_file(d, t, lambda x: x * 0)], "no IVC"),
    "segment missing": (
        lambda d, t: ["--segmentation", _label_file(d, t, lambda x: np.where(x == 3, 0, x))],
        "right",
    ),
    "segment in two pieces": (lambda d, t: ["--segmentation", _label_file(d, t, _cut_ivc)], "pieces"),
    "bad label mapping": (
        lambda d, t: ["--segmentation", str(d / "veins_labels.nii.gz"), "--labels", "ivc=1,left"],
        "label mapping",
    ),
    "labels without a segmentation": (
        lambda d, t: ["--seeds", str(d / "seeds.mrk.json"), "--labels", "ivc=1"],
        "--labels goes with --segmentation",
    ),
    "unknown template": (
        lambda d, t: ["--seeds", str(d / "seeds.mrk.json"), "--template", "y"],
        "invalid choice",
    ),
    "bad catalogue": (
        lambda d, t: ["--seeds", str(d / "seeds.mrk.json"), "--catalog", _bad_catalog(t)],
        "catalog",
    ),
    "template the anatomy cannot take": (
        lambda d, t: ["--segmentation", _label_file(d, t, lambda x: x), "--template", "unilateral"],
        "unilateral",
    ),
}


def _relabelled_truth(demo, tmp_path, mapping: dict[int, int], drop=()) -> str:
    """The demo's truth label map (1-3 veins, 4 other veins, 5 arteries, 6 kidneys, 7 bowel,
    8 bone, 9 fibrosis) with its arteries split into aorta (5), left (10) and right (11) iliac
    artery 24 mm above the venous confluence, then renumbered by ``mapping`` (values not in it
    kept) and with the values ``drop`` (after renumbering) removed."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    from IVCReconstructionLib.inputs.volumes import read_volume

    labels, m = read_volume(demo / "truth_labels.nii.gz")
    labels = labels.astype(np.int16)
    kji = np.argwhere(labels == 5)
    ras = kji[:, ::-1] @ m[:3, :3].T + m[:3, 3]
    top = _truth(demo)["confluence_ras"][2] + 24.0
    labels[tuple(kji.T)] = np.where(ras[:, 2] > top, 5, np.where(ras[:, 0] < 0, 10, 11))
    out = labels.copy()
    for old, new in mapping.items():
        out[labels == old] = new
    out[np.isin(out, drop)] = 0
    image = sitk.ReadImage(str(demo / "truth_labels.nii.gz"))
    changed = sitk.GetImageFromArray(out.astype(np.uint8))
    changed.CopyInformation(image)
    path = tmp_path / "given_labels.nii.gz"
    sitk.WriteImage(changed, str(path))
    return str(path)


# The demo's truth numbered as TotalSegmentator's total task numbers the same structures.
AS_TOTALSEGMENTATOR = {1: 63, 2: 67, 3: 68, 4: 64, 5: 52, 10: 65, 11: 66, 6: 2, 7: 18, 8: 30, 9: 20}


def _without_ivc_end(labels):
    """The IVC's lowest 20 mm removed: the iliac segments no longer meet it."""
    k = np.flatnonzero((labels == 1).any(axis=(1, 2)))
    low = k.min() if k.size else 0
    labels[: low + 14][labels[: low + 14] == 1] = 0  # 14 slices of 1.5 mm
    return labels


def _input_in_out(demo, tmp_path) -> str:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    path = out / "segmentation.seg.nrrd"
    path.write_bytes((demo / "segmentation.seg.nrrd").read_bytes())
    return str(path)


def _unwritable(tmp_path) -> str:
    from test_output_folder import unwritable_folder

    return str(unwritable_folder(tmp_path))


def _a_file(tmp_path) -> str:
    path = tmp_path / "notes.txt"
    path.write_text("a file")
    return str(path)


# Bad input added with the output-folder and label checks (issue 16): (arguments, fragments the
# message must hold: what is wrong, and what to do, in the user's own terms).
BAD_PLAN_INPUTS.update(
    {
        "seeds and a segmentation together": (
            lambda d, t: [
                "--seeds",
                str(d / "seeds.mrk.json"),
                "--segmentation",
                str(d / "veins_labels.nii.gz"),
            ],
            ("not both", "leave out one of them"),
        ),
        "labels with a .seg.nrrd": (
            lambda d, t: [
                "--segmentation",
                str(d / "segmentation.seg.nrrd"),
                "--labels",
                "ivc=1,left=2,right=3",
            ],
            ("segmentation.seg.nrrd is a Slicer segmentation", "leave out --labels"),
        ),
        "series with a volume file": (
            lambda d, t: ["--seeds", str(d / "seeds.mrk.json"), "--series", "1.2.3"],
            ("--series applies to a DICOM folder", "phantom_ct.nii.gz is a file"),
        ),
        "label value not in the map": (
            lambda d, t: [
                "--segmentation",
                str(d / "veins_labels.nii.gz"),
                "--labels",
                "ivc=1,left=2,right=7",
            ],
            ("veins_labels.nii.gz has no voxel with label 7 (right=7)", "the labels it holds are 1, 2, 3"),
        ),
        "iliac arteries given as the iliac veins": (
            lambda d, t: [
                "--segmentation",
                _relabelled_truth(d, t, {}),
                "--labels",
                "ivc=1,left=10,right=11",
            ],
            (
                "IVC segment (label 1) reaches",
                "below the point where it meets",
                "not the aorta and iliac arteries",
            ),
        ),
        "aorta given as the IVC": (
            lambda d, t: ["--segmentation", _relabelled_truth(d, t, {}), "--labels", "ivc=5,left=2,right=3"],
            (
                "(label 5)",
                "do not meet at one confluence",
                "check that these are the IVC and the iliac veins",
            ),
        ),
        "segments that do not meet": (
            lambda d, t: ["--segmentation", _label_file(d, t, _without_ivc_end)],
            ("do not meet at one confluence", "no point lies within"),
        ),
        "TotalSegmentator map without --labels": (
            lambda d, t: ["--segmentation", _relabelled_truth(d, t, AS_TOTALSEGMENTATOR)],
            ("looks like a TotalSegmentator label map", "--labels ivc=63,left=67,right=68"),
        ),
        "TotalSegmentator's iliac arteries as veins": (
            lambda d, t: [
                "--segmentation",
                _relabelled_truth(d, t, AS_TOTALSEGMENTATOR),
                "--labels",
                "ivc=63,left=65,right=66",
            ],
            ("left=65 is its iliac_artery_left", "use --labels ivc=63,left=67,right=68"),
        ),
        "TotalSegmentator map without iliac veins": (
            lambda d, t: [
                "--segmentation",
                _relabelled_truth(d, t, AS_TOTALSEGMENTATOR, drop=(67, 68)),
                "--labels",
                "ivc=63,left=67,right=68",
            ],
            ("no voxel with label 67 (left=67) or 68 (right=68)", "may end above the iliac confluence"),
        ),
        "output folder is a file": (
            lambda d, t: ["--seeds", str(d / "seeds.mrk.json"), "--out", _a_file(t)],
            ("notes.txt: it is a file, not a folder", "give a folder"),
        ),
        "output folder inside a file": (
            lambda d, t: ["--seeds", str(d / "seeds.mrk.json"), "--out", _a_file(t) + "/out"],
            ("notes.txt is a file, not a folder", "choose another output folder"),
        ),
        "output folder not writable": (
            lambda d, t: ["--seeds", str(d / "seeds.mrk.json"), "--out", _unwritable(t)],
            ("cannot write into", "choose an output folder you can write to"),
        ),
        "output would replace an input": (
            lambda d, t: ["--segmentation", _input_in_out(d, t)],
            ("is an input of this run", "choose another output folder"),
        ),
    }
)


def _beside_left_seed(demo, shift_ras):
    """RAS of the Left seed moved by ``shift_ras`` mm (15 mm lateral is fat)."""
    left = json.loads((demo / "truth.json").read_text())["seeds"]["Left"]
    return tuple(float(c) + d for c, d in zip(left, shift_ras, strict=True))


def _bad_catalog(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text('{"products": [{"id": "x"}]}')
    return str(path)


@pytest.mark.parametrize("case", sorted(BAD_PLAN_INPUTS))
def test_bad_plan_input_gives_exit_2_and_one_line(demo, tmp_path, capsys, case):
    make_args, message = BAD_PLAN_INPUTS[case]
    out = tmp_path / "out"
    # A case's own --out comes last and wins.
    code = main(
        ["plan", "--volume", str(demo / "phantom_ct.nii.gz"), "--out", str(out), *make_args(demo, tmp_path)]
    )
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith("ivc-plan: ")]  # progress lines
    assert code == 2, err
    assert len(errors) == 1 and errors[0].startswith("error: "), err
    for fragment in (message,) if isinstance(message, str) else message:
        assert fragment.lower() in errors[0].lower(), (fragment, errors[0])
    assert not (out / "plan.json").exists()
    assert not [p for p in tmp_path.iterdir() if "ivc-plan" in p.name]  # no temporary folder left


def test_bad_volumes_give_exit_2_and_one_line(demo, tmp_path, capsys):
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    flat = tmp_path / "flat.nii.gz"
    sitk.WriteImage(sitk.Image(64, 64, sitk.sitkInt16), str(flat))
    rgb = tmp_path / "rgb.nrrd"
    sitk.WriteImage(sitk.Image([16, 16, 16], sitk.sitkVectorUInt8, 3), str(rgb))
    text = tmp_path / "notes.nii.gz"
    text.write_text("not an image")
    cases = {
        str(flat): "not a 3D single-channel volume",
        str(rgb): "not a 3D single-channel volume",
        str(text): "cannot read",
        str(tmp_path / "missing.nrrd"): "does not exist",
        str(tmp_path): "holds no DICOM series",
    }
    for volume, message in cases.items():
        code = main(
            [
                "plan",
                "--volume",
                volume,
                "--seeds",
                str(demo / "seeds.mrk.json"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and message in err[0], (volume, err)


def test_unenhanced_volume_is_refused_with_advice(demo, tmp_path, capsys):
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    image = sitk.ReadImage(str(demo / "phantom_ct.nii.gz"))
    array = sitk.GetArrayFromImage(image)
    # Blood at soft-tissue density, as without contrast: veins no brighter than muscle.
    flat = np.where(array > 100, 40, array).astype(array.dtype)
    plain = sitk.GetImageFromArray(flat)
    plain.CopyInformation(image)
    sitk.WriteImage(plain, str(tmp_path / "plain.nii.gz"))
    code = main(
        [
            "plan",
            "--volume",
            str(tmp_path / "plain.nii.gz"),
            "--seeds",
            str(demo / "seeds.mrk.json"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("ivc-plan: ")]
    assert code == 2 and len(err) == 1 and "segmentation" in err[0], err


def test_dicom_folder_with_several_series_lists_them(demo, tmp_path, capsys):
    """A folder with two series: the error lists both with their modality and size; --series picks one."""
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    folder = tmp_path / "dicom"
    folder.mkdir()
    uids = ("1.2.826.0.1.3680043.2.1125.1", "1.2.826.0.1.3680043.2.1125.2")
    for n, uid in enumerate(uids):
        for k in range(4 + n):
            sl = sitk.Image(32, 32, sitk.sitkInt16) + 100 * n
            sl.SetOrigin((0.0, 0.0, 2.0 * k))
            for tag, value in (
                ("0008|0060", "CT"),
                ("0020|000e", uid),
                ("0008|103e", f"series {n}"),
                ("0020|0013", str(k + 1)),
                ("0020|000d", "1.2.826.0.1.3680043.2.1125.9"),
                ("0008|0016", "1.2.840.10008.5.1.4.1.1.2"),
                ("0008|0018", f"{uid}.{k + 1}"),
            ):
                sl.SetMetaData(tag, value)
            writer = sitk.ImageFileWriter()
            writer.KeepOriginalImageUIDOn()
            writer.SetFileName(str(folder / f"s{n}_{k}.dcm"))
            writer.Execute(sl)
    code = main(
        [
            "plan",
            "--volume",
            str(folder),
            "--seeds",
            str(demo / "seeds.mrk.json"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "2 DICOM series" in err[0] and "--series" in err[0]
    assert all(uid in err[0] for uid in uids) and "4 files" in err[0] and "5 files" in err[0]
    from IVCReconstructionLib.inputs.volumes import read_volume

    image, _ = read_volume(folder, uids[1])
    assert image.shape == (5, 32, 32) and int(image.max()) == 100


def test_internal_failure_exits_1_with_one_line(monkeypatch, tmp_path, capsys):
    from IVCReconstructionLib import cli

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_run", broken)
    monkeypatch.delenv("IVC_PLAN_DEBUG", raising=False)
    assert cli.main(["phantom", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("internal error: RuntimeError: boom")


# ---------------------------------------------------------------------------------------------
# The output folder under pressure: interrupts, a second run, a folder that cannot be written.


def _start_plan(demo, out, *extra):
    import os

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = ["plan", "--volume", str(demo / "phantom_ct.nii.gz"), "--seeds", str(demo / "seeds.mrk.json")]
    return subprocess.Popen(
        [sys.executable, "-m", "IVCReconstructionLib.cli", *args, "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(process, text: str) -> list[str]:
    lines = []
    for line in process.stderr:
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never appeared: {''.join(lines)}")


def _previous_set(tmp_path):
    """An output folder holding a previous ivc-plan set and a file of the user's."""
    from IVCReconstructionLib.outputs.atomic import OutputSet

    out = tmp_path / "out"
    with OutputSet(out, command="plan") as output:
        output.path("plan.json").write_text('{"template": "previous"}')
        output.path("report.html").write_text("previous report")
    (out / "notes.txt").write_text("mine")
    return out, {p.name: p.read_bytes() for p in out.iterdir()}


@pytest.mark.parametrize(
    ("signal_name", "when", "code"),
    [
        ("SIGINT", "ivc-plan: extracting centerlines and diameter profiles ...", 130),
        ("SIGTERM", "ivc-plan: segmenting the veins from the seeds ...", 143),
    ],
)
def test_an_interrupted_run_leaves_the_previous_set_and_a_second_run_is_refused(
    demo, tmp_path, capsys, signal_name, when, code
):
    """A plan signalled in the middle of a stage (VMTK's centerlines, the segmentation) stops
    at the end of that stage: one line, its exit code, no traceback, no crash, the previous set
    as it was and no temporary folder. While it runs, a second run into the same folder is
    refused at once."""
    import signal
    import time

    out, before = _previous_set(tmp_path)
    process = _start_plan(demo, out)
    try:
        _wait_for(process, when)
        started = time.perf_counter()
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
            == 2
        )
        second = capsys.readouterr().err.strip().splitlines()
        assert time.perf_counter() - started < 5.0  # refused before any work
        assert len(second) == 1 and "another run is writing into" in second[0], second
        assert "ivc-plan plan, pid" in second[0] and "wait until it has finished" in second[0]
        process.send_signal(getattr(signal, signal_name))
        signalled = time.perf_counter()
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    seconds = time.perf_counter() - signalled
    print(f"{signal_name}: exited {seconds:.1f} s after the signal")
    assert seconds < 30.0  # 0.8-1.5 s measured: the next step boundary (the stage's end is 6-8 s)
    assert process.returncode == code, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if not line.startswith("ivc-plan: ")]
    assert errors == [f"interrupted: nothing written to {out}"], err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p.name for p in tmp_path.iterdir() if "ivc-plan" in p.name]


def test_an_unwritable_output_folder_is_refused_within_a_second(demo, tmp_path):
    import time

    from test_output_folder import unwritable_folder

    folder = unwritable_folder(tmp_path)
    started = time.perf_counter()
    process = _start_plan(demo, folder / "case1")
    _, err = process.communicate(timeout=60)
    seconds = time.perf_counter() - started
    print(f"refused after {seconds:.2f} s")
    assert process.returncode == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: cannot write into {folder / 'case1'}") and "ERR" not in err
    assert "[Errno" not in err
    assert seconds < 3.0  # 0.5 s measured: the process starts, checks and stops (1 s on a quiet machine)


def test_version_and_help_say_exit_codes_and_required_options():
    from IVCReconstructionLib import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"ivc-plan {__version__}"
    pyproject = (__import__("pathlib").Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert f'version = "{__version__}"' in pyproject
    text = run_cli("plan", "--help").stdout
    for fragment in (
        "exit codes:",
        "130",
        "143",
        "exactly one of --seeds",
        "--labels only with a label map",
        "ivc-plan-manifest.json",
    ):
        assert fragment in text, fragment
    assert "exit codes:" in run_cli("--help").stdout


@pytest.mark.parametrize(
    ("size", "message"), [((16, 16, 16), "at least 61 x 61 x 61"), ((32, 32, 32), "61 x 61 x 61")]
)
def test_a_phantom_too_small_for_its_veins_is_refused_with_the_size_that_fits(
    tmp_path, capsys, size, message
):
    out = tmp_path / "ph"
    code = main(["phantom", "--out", str(out), "--size", *map(str, size)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0] and "--size 61 61 61" in err[0], err
    assert not out.exists()


def test_the_smallest_phantom_that_fits_keeps_its_seeds_apart(phantom_of):
    from IVCReconstructionLib.phantom.generate import MIN_VEIN_IN_VOLUME_MM

    ph = phantom_of(size_ijk=(61, 61, 61))
    points = list(ph.seeds.values())
    gaps = [np.linalg.norm(a - b) for n, a in enumerate(points) for b in points[n + 1 :]]
    assert min(gaps) > 10.0, gaps
    assert all(br.length_mm >= MIN_VEIN_IN_VOLUME_MM - 1 for br in ph.branches.values())


def test_a_dicom_series_without_a_uid_is_listed_and_chosen_by_name(tmp_path, capsys):
    import SimpleITK as sitk  # noqa: N813 - SimpleITK's own documented alias

    from IVCReconstructionLib.inputs.volumes import NO_UID_SERIES, read_volume

    folder = tmp_path / "dicom"
    folder.mkdir()
    for n, uid in enumerate(("", "1.2.826.0.1.3680043.2.1125.2")):
        for k in range(4 + n):
            sl = sitk.Image(32, 32, sitk.sitkInt16) + 100 * n
            sl.SetOrigin((0.0, 0.0, 2.0 * k))
            for tag, value in (
                ("0008|0060", "CT"),
                ("0020|000e", uid),
                ("0020|0013", str(k + 1)),
                ("0020|000d", "1.2.826.0.1.3680043.2.1125.9"),
                ("0008|0016", "1.2.840.10008.5.1.4.1.1.2"),
                ("0008|0018", f"1.2.826.0.1.3680043.2.1125.{n + 5}.{k + 1}"),
            ):
                sl.SetMetaData(tag, value)
            writer = sitk.ImageFileWriter()
            writer.KeepOriginalImageUIDOn()
            writer.SetFileName(str(folder / f"s{n}_{k}.dcm"))
            writer.Execute(sl)
    code = main(
        [
            "plan",
            "--volume",
            str(folder),
            "--segmentation",
            str(folder / "x.nii.gz"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"{NO_UID_SERIES} (CT, 4 files)" in err[0] and f"--series {NO_UID_SERIES}" in err[0], err[0]
    image, _ = read_volume(folder, NO_UID_SERIES)
    assert image.shape == (4, 32, 32)


REAL_DICOM = REAL_CT.parent / "realct-dicom"


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CT.is_dir(), reason=f"real CT not found at {REAL_CT}")
@pytest.mark.parametrize(
    ("labels", "fragments"),
    [
        (
            "ivc=63,left=65,right=66",
            ("left=65 is its iliac_artery_left", "use --labels ivc=63,left=67,right=68"),
        ),
        (None, ("looks like a TotalSegmentator label map", "--labels ivc=63,left=67,right=68")),
        ("ivc=63,left=67,right=99", ("(label 99) do not meet at one confluence",)),
    ],
)
def test_wrong_labels_of_the_real_totalsegmentator_map_are_refused(tmp_path, capsys, labels, fragments):
    args = ["plan", "--volume", str(REAL_CT / "ct.nii.gz"), "--segmentation", str(REAL_CT / "labels.nii.gz")]
    code = main([*args, *(["--labels", labels] if labels else []), "--out", str(tmp_path / "o")])
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("ivc-plan: ")]
    assert code == 2 and len(err) == 1, err
    for fragment in fragments:
        assert fragment in err[0], (fragment, err[0])


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_CT.is_dir(), reason=f"real CT not found at {REAL_CT}")
def test_the_confluence_check_tells_the_real_veins_from_the_arteries():
    """Without the TotalSegmentator names, geometry alone: its veins 63/67/68 meet at one point
    (4 mm at 3 mm voxels); its iliac arteries 65/66, or its aorta 52, with the veins do not."""
    from IVCReconstructionLib.inputs.volumes import read_volume
    from IVCReconstructionLib.segment.existing import check_confluence, labels_from_label_map

    raw, m = read_volume(REAL_CT / "labels.nii.gz")

    def check(ivc, left, right):
        values = {"ivc": ivc, "left_iliac": left, "right_iliac": right}
        return check_confluence(
            labels_from_label_map(raw, values), m, {b: f"label {v}" for b, v in values.items()}
        )

    point = check(63, 67, 68)
    assert 255 < point[2] < 275  # about k = 56 of 3 mm slices: where the IVC's segment begins
    for wrong in ((63, 65, 66), (63, 65, 68), (52, 67, 68), (64, 67, 68)):
        with pytest.raises(ValueError, match=rf"\(label {wrong[0]}\).* do not meet at one confluence"):
            check(*wrong)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_DICOM.is_dir(), reason=f"real DICOM not found at {REAL_DICOM}")
def test_the_real_dicom_labels_name_the_missing_iliac_veins_by_the_users_values(tmp_path, capsys):
    args = [
        "plan",
        "--volume",
        str(REAL_DICOM / "series"),
        "--segmentation",
        str(REAL_DICOM / "labels.nii.gz"),
    ]
    code = main([*args, "--labels", "ivc=63,left=67,right=68", "--out", str(tmp_path / "o")])
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("ivc-plan: ")]
    assert code == 2 and len(err) == 1, err
    assert "no voxel with label 67 (left=67) or 68 (right=68)" in err[0] and "label 2" not in err[0], err[0]

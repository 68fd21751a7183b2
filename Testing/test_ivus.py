"""IVUS measurements as input: read and checked (inputs/ivus.py), applied to the findings
(plan/ivus.py) so that the plan is sized from IVUS where given, with the sources in plan.json,
NOT_IVUS_CONFIRMED only for segments without IVUS and IVUS_CT_DISAGREE where the two differ;
through ``ivc-plan plan --ivus`` (into the DICOM SR too), the plan session and the scene's IVUS
table (the Slicer module's IVUS section).

Plan-level cases use the synthetic straight veins of test_plan_warnings.py (a left common iliac
compression: CT references IVC 20, left CIV/EIV 14, right 13.5 mm); the command line uses the
May-Thurner DICOM phantom of conftest.py.
"""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from IVCReconstructionLib.cli import main
from IVCReconstructionLib.inputs.ivus import IvusMeasurements, ivus_from_mapping, read_ivus
from IVCReconstructionLib.outputs.dicom_sr import branch_group_id, read_sr_values
from IVCReconstructionLib.plan.datatypes import PlanSettings
from IVCReconstructionLib.plan.ivus import apply_ivus
from IVCReconstructionLib.plan.session import PlanSession
from IVCReconstructionLib.plan.templates import make_plan
from test_plan_warnings import MT, codes, context


def ivus(**data) -> IvusMeasurements:
    return ivus_from_mapping(data)


def planned(ctx, given: IvusMeasurements | None = None):
    """A plan of the synthetic veins, sized from ``given`` where it says."""
    if given is not None:
        ctx.findings = apply_ivus(
            ctx.findings, given, {b: float(p.distance_mm[-1]) for b, p in ctx.profiles.items()}
        )
    return make_plan(ctx)


def left_stent(plan):
    (stent,) = [
        st for st in plan.stents if "left_iliac" in st.coverage and st.coverage["left_iliac"][0] <= 0.0
    ]
    return stent


def warning(plan, code):
    return [w.message for w in plan.warnings if w.code == code]


# ---------------------------------------------------------------------------------------------
# Sizing, sources and warnings


def test_a_wider_ivus_reference_gives_a_larger_stent_and_records_its_source():
    ct_plan = planned(context(left=MT))
    ivus_plan = planned(context(left=MT), ivus(references_mm={"left_civ": 19.0}))
    assert left_stent(ct_plan).diameter_mm == 16.0  # CT 14 mm, the CIV floor 16 (R4)
    assert left_stent(ivus_plan).diameter_mm >= 19.0 > left_stent(ct_plan).diameter_mm
    left = ivus_plan.to_json()["branches"]["left_iliac"]
    assert left["civ_reference_diameter_mm"] == 19.0 and left["civ_reference_source"] == "ivus"
    assert left["civ_reference_diameter_ct_mm"] == 14.0
    assert left["eiv_reference_source"] == "ct" and left["eiv_reference_diameter_mm"] == 14.0
    ivc = ivus_plan.to_json()["branches"]["ivc"]
    assert (ivc["reference_diameter_mm"], ivc["reference_source"], ivc["reference_diameter_ct_mm"]) == (
        20.0,
        "ct",
        20.0,
    )
    # Without IVUS every reference says it is the CT's.
    for entry in ct_plan.to_json()["branches"].values():
        assert {v for k, v in entry.items() if k.endswith("_source")} == {"ct"}


def test_a_cfv_reference_only_ivus_gives_sizes_past_the_inguinal_ligament():
    seeds = {"InguinalLeft": (-0.6 * 150, 0.0, -0.8 * 150)}  # 150 mm down the left iliac
    ctx = context(left=MT, seeds=seeds)
    plan = planned(ctx, ivus(references_mm={"left_cfv": 11.0}))
    from IVCReconstructionLib.plan.sizing import reference_at

    assert reference_at(ctx, "left_iliac", 160.0) == (11.0, "cfv")
    left = plan.to_json()["branches"]["left_iliac"]
    assert left["cfv_reference_diameter_mm"] == 11.0 and left["cfv_reference_source"] == "ivus"
    assert "cfv_reference_diameter_ct_mm" not in left  # the CT has no CFV reference


def test_not_ivus_confirmed_is_raised_only_for_segments_without_ivus():
    assert warning(planned(context(left=MT)), "NOT_IVUS_CONFIRMED") == [
        "CT/MR plan: confirm lesions and sizes with IVUS before stenting"
    ]
    (message,) = warning(
        planned(context(left=MT), ivus(references_mm={"left_civ": 14.5})), "NOT_IVUS_CONFIRMED"
    )
    assert message.startswith("no IVUS for the IVC, left EIV, right CIV, right EIV:")
    every = {"ivc": 20.0, "left_civ": 14.0, "left_eiv": 14.0, "right_civ": 13.5, "right_eiv": 13.5}
    assert "NOT_IVUS_CONFIRMED" not in codes(planned(context(left=MT), ivus(references_mm=every)))


def test_ivus_ct_disagree_names_both_values_beyond_the_settings():
    # A reference 5 mm wider than the CT's: beyond 2 mm.
    (message,) = warning(
        planned(context(left=MT), ivus(references_mm={"left_civ": 19.0})), "IVUS_CT_DISAGREE"
    )
    assert "left CIV reference diameter: IVUS 19.0 mm, CT 14.0 mm (more than 2 mm)" in message
    # 1.5 mm: within.
    assert "IVUS_CT_DISAGREE" not in codes(planned(context(left=MT), ivus(references_mm={"left_civ": 15.5})))
    # A lesion's minimum area: CT 46 mm2 (0.3 of a 14 mm vein); IVUS 30 mm2 differs by 35 %, 50 mm2 by 8 %.
    plan = planned(context(left=MT), ivus(lesions=[{"branch": "left_iliac", "min_area_mm2": 30.0}]))
    (message,) = warning(plan, "IVUS_CT_DISAGREE")
    assert (
        "minimum area of the stenosis of the left iliac vein" in message
        and "IVUS 30.0 mm2, CT 46.2 mm2" in message
    )
    (lesion,) = plan.to_json()["lesions"]
    assert (lesion["min_area_mm2"], lesion["min_area_source"], lesion["min_area_ct_mm2"]) == (
        30.0,
        "ivus",
        46.2,
    )
    assert lesion["area_ratio"] == pytest.approx(30.0 / (np.pi * 7.0**2), abs=1e-3)
    close = planned(context(left=MT), ivus(lesions=[{"branch": "left_iliac", "min_area_mm2": 50.0}]))
    assert "IVUS_CT_DISAGREE" not in codes(close)
    # The thresholds are settings (design defaults).
    loose = PlanSettings(ivus_ct_diameter_mm=6.0)
    assert "IVUS_CT_DISAGREE" not in codes(
        planned(context(left=MT, settings=loose), ivus(references_mm={"left_civ": 19.0}))
    )
    assert {"ivus_ct_diameter_mm", "ivus_ct_area_fraction"} <= set(
        PlanSettings().as_dict()["design_defaults"]
    )


def test_ivus_lesions_must_match_a_lesion_the_ct_found():
    ctx = context(left=MT)
    lengths = {b: float(p.distance_mm[-1]) for b, p in ctx.profiles.items()}
    with pytest.raises(ValueError, match="lesion on the right iliac vein, but the CT found none there"):
        apply_ivus(ctx.findings, ivus(lesions=[{"branch": "right_iliac", "min_area_mm2": 40.0}]), lengths)
    with pytest.raises(ValueError, match="beyond the end of the left iliac vein"):
        apply_ivus(
            ctx.findings,
            ivus(lesions=[{"branch": "left_iliac", "min_area_mm2": 40.0, "at_mm": 400}]),
            lengths,
        )
    two = context(left={"narrowing": (25, 35, 0.3)}, right={"narrowing": (20, 30, 0.3)})
    twice = [{"branch": "left_iliac", "min_area_mm2": 40.0}, {"branch": "left_iliac", "min_area_mm2": 41.0}]
    with pytest.raises(ValueError, match="two IVUS lesions are about the same lesion"):
        apply_ivus(two.findings, ivus(lesions=twice), lengths)


def test_ivus_at_a_narrowing_too_short_for_the_voxels_makes_it_a_lesion():
    """On 4 mm voxels a 5 mm narrowing of the left iliac vein is a SHORT_NARROWING, shown and not
    treated. An IVUS lesion there (the branch's only finding, or ``at_mm`` within it) makes it a
    lesion with the IVUS area, and the plan treats it; without IVUS, or with IVUS elsewhere,
    it stays a short narrowing."""
    ctx = context(left={"narrowing": (30, 34, 0.3)}, voxel_mm=4.0)
    lengths = {b: float(p.distance_mm[-1]) for b, p in ctx.profiles.items()}
    ct = ctx.findings
    assert ct.lesions == [] and make_plan(ctx).stents == []
    for at in ({}, {"at_mm": 32.0}):
        given = ivus(lesions=[{"branch": "left_iliac", "min_area_mm2": 40.0, **at}])
        found = apply_ivus(ct, given, lengths)
        (les,) = found.lesions
        assert les.branch == "left_iliac" and les.artefact is None and 29 <= les.start_mm <= 31
        assert les.min_area_mm2 == 40.0 and les.min_area_source == "ivus" and found.artefacts == []
    plan = planned(ctx, given)
    assert plan.stents and "SHORT_NARROWING" not in codes(plan)
    # The CT's own findings are unchanged, and IVUS of another vein leaves the narrowing as it is.
    assert [a.artefact for a in ct.artefacts] == ["SHORT_NARROWING"]
    two = context(left={"narrowing": (30, 34, 0.3)}, right={"narrowing": (20, 30, 0.3)}, voxel_mm=4.0)
    right_only = apply_ivus(
        two.findings, ivus(lesions=[{"branch": "right_iliac", "min_area_mm2": 40.0}]), lengths
    )
    assert [les.branch for les in right_only.lesions] == ["right_iliac"]
    assert [a.branch for a in right_only.artefacts] == ["left_iliac"]


def test_the_session_edit_resizes_and_a_refused_one_changes_nothing():
    ctx = context(left=MT)
    session = PlanSession(ctx, make_plan(ctx))
    before = left_stent(session.plan).diameter_mm
    plan = session.set_ivus(ivus(references_mm={"left_civ": 19.0}))
    assert left_stent(plan).diameter_mm > before and plan.template == "unilateral"
    resized = session.plan.to_json()
    with pytest.raises(ValueError, match="CT found none"):
        session.set_ivus(ivus(lesions=[{"branch": "right_iliac", "min_area_mm2": 40.0}]))
    assert session.plan.to_json() == resized
    assert session.context.findings.references_mm["left_civ"] == 19.0
    # Back to the CT alone.
    assert left_stent(session.set_ivus(None)).diameter_mm == before


# ---------------------------------------------------------------------------------------------
# Reading IVUS files; bad files through the command line: one `error:` line, exit 2

BAD_IVUS = {
    "unknown key": ({"reference": {"ivc": 20}}, "unknown key 'reference' in IVUS file ivus.json"),
    "unknown segment": ({"references_mm": {"left_femoral": 12}}, "unknown segment 'left_femoral'"),
    "negative": ({"references_mm": {"ivc": -3}}, "references_mm.ivc in IVUS file ivus.json is negative"),
    "implausible": ({"references_mm": {"ivc": 220}}, "is 220 mm, which no vein has (expected 4-40 mm)"),
    "not a number": ({"references_mm": {"left_civ": "wide"}}, "must be a number of mm, got 'wide'"),
    "unknown branch": ({"lesions": [{"branch": "aorta", "min_area_mm2": 50}]}, "has branch 'aorta'"),
    "no area": ({"lesions": [{"branch": "left_iliac"}]}, "has no min_area_mm2"),
    "negative area": (
        {"lesions": [{"branch": "left_iliac", "min_area_mm2": -5}]},
        "min_area_mm2 in IVUS file",
    ),
    "unknown lesion key": (
        {"lesions": [{"branch": "left_iliac", "area": 5}]},
        "unknown key 'area' in lesion 1",
    ),
    "not JSON": ("{references_mm: 1", "IVUS file ivus.json is not JSON"),
}


@pytest.mark.parametrize("case", list(BAD_IVUS))
def test_bad_ivus_files_are_one_error_line_and_exit_code_2(case, tmp_path, capsys):
    content, message = BAD_IVUS[case]
    path = tmp_path / "ivus.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    # The IVUS file is read before anything else: neither the seeds nor the volume need exist.
    args = ["plan", "--volume", str(tmp_path / "ct"), "--seeds", str(tmp_path / "none.mrk.json")]
    assert main([*args, "--ivus", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    with pytest.raises(ValueError, match="does not exist"):
        read_ivus(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------
# ivc-plan plan --ivus on the DICOM phantom


@pytest.fixture(scope="module")
def ivus_run(may_thurner_dicom, tmp_path_factory):
    root = tmp_path_factory.mktemp("ivus_run")
    ct_plan = may_thurner_dicom["plan"]
    ct_left = ct_plan["branches"]["left_iliac"]["civ_reference_diameter_mm"]
    given = {
        "references_mm": {
            "left_civ": round(ct_left + 5.0, 1),
            "ivc": ct_plan["branches"]["ivc"]["reference_diameter_mm"],
        },
        "lesions": [{"branch": "left_iliac", "min_area_mm2": 60.0}],
    }
    path = root / "ivus.json"
    path.write_text(json.dumps(given))
    out = root / "out"
    args = ["plan", "--volume", str(may_thurner_dicom["ct"]), "--seeds", str(may_thurner_dicom["seeds"])]
    assert main([*args, "--ivus", str(path), "--out", str(out)]) == 0
    return {
        "out": out,
        "given": given,
        "ct_plan": ct_plan,
        "plan": json.loads((out / "plan.json").read_text()),
    }


def test_ivus_on_the_command_line_resizes_the_plan(ivus_run):
    plan, ct_plan, given = ivus_run["plan"], ivus_run["ct_plan"], ivus_run["given"]
    wide = given["references_mm"]["left_civ"]
    left = plan["branches"]["left_iliac"]
    assert (left["civ_reference_diameter_mm"], left["civ_reference_source"]) == (wide, "ivus")
    assert (
        left["civ_reference_diameter_ct_mm"] == ct_plan["branches"]["left_iliac"]["civ_reference_diameter_mm"]
    )
    assert plan["branches"]["ivc"]["reference_source"] == "ivus"

    def widest_left(p):
        return max(st["diameter_mm"] for st in p["stents"] if "left_iliac" in st["coverage"])

    assert widest_left(plan) >= wide > widest_left(ct_plan)
    (lesion,) = plan["lesions"]
    assert (lesion["min_area_mm2"], lesion["min_area_source"]) == (60.0, "ivus")
    assert lesion["min_area_ct_mm2"] == ct_plan["lesions"][0]["min_area_mm2"]
    disagree = [w["message"] for w in plan["warnings"] if w["code"] == "IVUS_CT_DISAGREE"]
    assert len(disagree) == 2  # the left CIV reference, and the lesion's area (60 against CT 22.7 mm2)
    assert f"IVUS {wide:.1f} mm, CT {left['civ_reference_diameter_ct_mm']:.1f} mm" in disagree[0]
    assert f"IVUS 60.0 mm2, CT {lesion['min_area_ct_mm2']:.1f} mm2" in disagree[1]
    (unconfirmed,) = [w["message"] for w in plan["warnings"] if w["code"] == "NOT_IVUS_CONFIRMED"]
    assert unconfirmed.startswith("no IVUS for the left EIV, right CIV, right EIV:")
    assert "IVUS_CT_DISAGREE" not in {w["code"] for w in ct_plan["warnings"]}
    # The report shows CT and IVUS side by side.
    report = (ivus_run["out"] / "report.html").read_text()
    assert "<th>CT (mm)</th><th>IVUS (mm)</th><th>sized from</th>" in report
    ct_value = left["civ_reference_diameter_ct_mm"]
    assert f"<td>left civ</td><td>{ct_value:.1f}</td><td>{wide:.1f}</td><td>ivus</td>" in report


def test_the_sr_says_which_references_are_ivus(ivus_run):
    from test_dicom_outputs import check_sr_against_plan

    sr = pydicom.dcmread(ivus_run["out"] / "dicom" / "plan_sr.dcm")
    check_sr_against_plan(sr, ivus_run["plan"])
    methods = read_sr_values(sr)["methods"]
    left = methods[branch_group_id("left_iliac")]
    assert left["civ_reference_diameter_mm"] == "IVUS" and left["civ_reference_diameter_ct_mm"] == "CT"
    assert left["eiv_reference_diameter_mm"] == "CT"


def test_an_ivus_lesion_where_the_ct_found_none_is_a_clear_error(may_thurner_dicom, tmp_path, capsys):
    path = tmp_path / "ivus.json"
    path.write_text(json.dumps({"lesions": [{"branch": "right_iliac", "min_area_mm2": 60.0}]}))
    args = ["plan", "--volume", str(may_thurner_dicom["ct"])]
    args += ["--segmentation", str(may_thurner_dicom["out"] / "segmentation.seg.nrrd")]
    assert main([*args, "--ivus", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "error: the IVUS gives a lesion on the right iliac vein, but the CT found none there: remove it, "
        "or plan with a segmentation that shows it"
    )


# ---------------------------------------------------------------------------------------------
# The scene: the IVUS table of the Slicer module's IVUS section


def test_the_ivus_table_resizes_the_plan_at_once(mrml):
    from IVCReconstructionLib import names
    from IVCReconstructionLib.scene.plan_editor import ScenePlan

    ctx = context(left=MT)
    shown = ScenePlan.add(mrml.scene, PlanSession(ctx, make_plan(ctx)))
    table = shown.ivus_table
    assert table.GetScene() is mrml.scene
    columns = {table.GetColumnName(c): c for c in range(table.GetNumberOfColumns())}
    assert tuple(columns) == names.IVUS_TABLE_COLUMNS
    keys = [table.GetCellText(r, 0) for r in range(table.GetNumberOfRows())]
    assert keys == [*names.REFERENCE_SEGMENTS, "lesion 1"]
    row = keys.index("left_civ")
    assert table.GetCellText(row, columns["CT"]) == "14.0" and table.GetCellText(row, columns["IVUS"]) == ""
    before = left_stent(shown.plan).diameter_mm
    table.SetCellText(row, columns["IVUS"], "19")
    assert shown.apply_ivus_table()
    assert left_stent(shown.plan).diameter_mm > before
    assert "IVUS_CT_DISAGREE" in codes(shown.plan)
    assert shown.ivus_table.GetCellText(row, columns["IVUS"]) == "19"
    assert not shown.apply_ivus_table()  # nothing changed since
    # The lesion row gives the lesion's IVUS minimum area.
    table.SetCellText(keys.index("lesion 1"), columns["IVUS"], "40")
    assert shown.apply_ivus_table()
    assert shown.plan.to_json()["lesions"][0]["min_area_source"] == "ivus"
    # A cell that is not a number is refused and the table shows the plan's values again.
    table.SetCellText(row, columns["IVUS"], "wide")
    with pytest.raises(ValueError, match="must be a number, not 'wide'"):
        shown.apply_ivus_table()
    assert table.GetCellText(row, columns["IVUS"]) == "19"
    # Emptied: sized from the CT again there.
    table.SetCellText(row, columns["IVUS"], "")
    assert shown.apply_ivus_table()
    assert left_stent(shown.plan).diameter_mm == before
    shown.remove()
    assert table.GetScene() is None


def test_the_ivus_table_confirms_a_narrowing_too_short_for_the_voxels(mrml):
    """On 4 mm voxels a 5 mm narrowing is a SHORT_NARROWING, with a row of its own in the IVUS
    table; an IVUS area typed there makes it a lesion, which the plan then treats."""
    from IVCReconstructionLib.scene.plan_editor import ScenePlan

    ctx = context(left={"narrowing": (30, 34, 0.3)}, voxel_mm=4.0)
    shown = ScenePlan.add(mrml.scene, PlanSession(ctx, make_plan(ctx)))
    table = shown.ivus_table
    keys = [table.GetCellText(r, 0) for r in range(table.GetNumberOfRows())]
    assert keys[-1] == "short 1" and "lesion 1" not in keys
    assert "too short for the voxels of the left iliac vein" in table.GetCellText(len(keys) - 1, 1)
    assert shown.plan.stents == []
    table.SetCellText(len(keys) - 1, 3, "40")
    assert shown.apply_ivus_table()
    (les,) = shown.plan.to_json()["lesions"]
    assert les["min_area_source"] == "ivus" and les["branch"] == "left_iliac" and shown.plan.stents
    assert shown.ivus_table.GetCellText(len(keys) - 1, 3) == "40"
    shown.remove()

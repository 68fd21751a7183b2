"""An output folder is written as one set (outputs/atomic.py): all files or none, the previous set
replaced as a whole, other files left alone, a lock against a second run. No pipeline runs here:
the sets are a few small files, so these tests take well under a second."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from IVCReconstructionLib import interrupts
from IVCReconstructionLib.outputs.atomic import (
    LOCK_NAME,
    MANIFEST_NAME,
    FolderBusyError,
    OutputFolderError,
    OutputSet,
    check_output_folder,
    read_manifest,
    sha256_of,
)


def write_set(out: Path, files: dict[str, str], **kwargs) -> OutputSet:
    with OutputSet(out, command="test", **kwargs) as output:
        for name, text in files.items():
            output.path(name).write_text(text)
    return output


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(folder: Path) -> list[str]:
    """Temporary folders, probes and locks of ivc-plan beside or inside ``folder``."""
    near = [*folder.parent.iterdir(), *(folder.iterdir() if folder.is_dir() else [])]
    return [p.name for p in near if "ivc-plan" in p.name and p.name != MANIFEST_NAME]


def test_a_new_folder_gets_the_whole_set_and_a_manifest(tmp_path):
    out = tmp_path / "a" / "b"
    output = write_set(out, {"plan.json": "{}", "report.html": "<html>"})
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME, "plan.json", "report.html"]
    assert output.files == [out / "plan.json", out / "report.html"]
    manifest = read_manifest(out)
    assert manifest["tool"] == "ivc-plan" and manifest["command"] == "test" and manifest["version"]
    assert {f["name"]: f["sha256"] for f in manifest["files"]} == {
        "plan.json": sha256_of(out / "plan.json"),
        "report.html": sha256_of(out / "report.html"),
    }
    assert leftovers(out) == []


def test_the_previous_set_is_replaced_as_a_whole_and_other_files_stay(tmp_path):
    out = tmp_path / "out"
    write_set(out, {"plan.json": "old", "truth.json": "demo's truth", "seeds.mrk.json": "seeds"})
    (out / "my notes.txt").write_text("mine")
    notes = []
    volume = tmp_path / "ct.nii.gz"
    volume.write_text("voxels")
    output = write_set(
        out,
        {"plan.json": "new", "report.html": "r"},
        inputs={"volume": volume, "seeds": out / "seeds.mrk.json"},
        note=notes.append,
    )
    # truth.json was the old set's and is not the new one's: removed; seeds.mrk.json too, but it
    # is an input of this run: kept; my notes.txt is not ivc-plan's: kept, and said once.
    assert sorted(p.name for p in out.iterdir()) == [
        MANIFEST_NAME,
        "my notes.txt",
        "plan.json",
        "report.html",
        "seeds.mrk.json",
    ]
    assert (out / "plan.json").read_text() == "new" and (out / "my notes.txt").read_text() == "mine"
    assert len(notes) == 1 and "my notes.txt" in notes[0] and "seeds.mrk.json" not in notes[0], notes
    inputs = output.manifest["inputs"]
    assert [(i["role"], i["sha256"]) for i in inputs] == [
        ("volume", sha256_of(volume)),
        ("seeds", sha256_of(out / "seeds.mrk.json")),
    ]
    assert "ct.nii.gz" not in json.dumps(inputs)  # checksums, not names (which may name a patient)


@pytest.mark.parametrize("failure", [RuntimeError("boom"), interrupts.Interrupted(2), KeyboardInterrupt()])
def test_a_failed_or_interrupted_run_leaves_the_folder_as_it_was(tmp_path, failure):
    out = tmp_path / "out"
    write_set(out, {"plan.json": "old", "report.html": "old report"})
    (out / "mine.txt").write_text("mine")
    before = snapshot(out)
    with pytest.raises(type(failure)), OutputSet(out, command="test") as output:
        output.path("segmentation.seg.nrrd").write_text("new segmentation")
        output.path("plan.json").write_text("new")
        raise failure
    assert snapshot(out) == before
    assert leftovers(out) == []
    # A folder the failed run created is removed again.
    fresh = tmp_path / "fresh" / "deeper"
    with pytest.raises(RuntimeError), OutputSet(fresh, command="test") as output:
        output.path("plan.json").write_text("new")
        raise RuntimeError("boom")
    assert not (tmp_path / "fresh").exists()


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_writes(tmp_path):
    out = tmp_path / "out"
    with OutputSet(out, command="plan") as first:
        first.path("plan.json").write_text("first")
        with pytest.raises(FolderBusyError, match=r"another run is writing into .*ivc-plan plan, pid \d+"):
            OutputSet(out, command="demo").__enter__()
    assert (out / "plan.json").read_text() == "first"
    assert not (out / LOCK_NAME).exists()
    write_set(out, {"plan.json": "second"})  # free again once the first has finished
    assert (out / "plan.json").read_text() == "second"


def test_temporary_folders_of_killed_runs_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = tmp_path / f".out.ivc-plan-{2**22 + 12345}-abc"  # no such process
    stale.mkdir()
    (stale / "plan.json").write_text("half a set")
    write_set(out, {"plan.json": "new"})
    assert not stale.exists()


def test_an_input_the_run_would_replace_is_refused_before_the_work(tmp_path):
    out = tmp_path / "out"
    write_set(out, {"segmentation.seg.nrrd": "old"})
    with pytest.raises(OutputFolderError, match=r"is an input of this run.*choose another output folder"):
        OutputSet(
            out,
            command="plan",
            inputs={"segmentation": out / "segmentation.seg.nrrd"},
            expected=["segmentation.seg.nrrd"],
        ).__enter__()
    assert (out / "segmentation.seg.nrrd").read_text() == "old"


def test_a_manifest_never_makes_it_remove_files_outside_the_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    (out / MANIFEST_NAME).write_text(
        json.dumps({"tool": "ivc-plan", "files": [{"name": "../precious.txt"}, {"name": str(outside)}]})
    )
    write_set(out, {"plan.json": "new"})
    assert outside.read_text() == "keep"


def test_output_folder_shape_and_writability_are_checked_first(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(OutputFolderError, match=r"cannot write into .*afile: it is a file, not a folder"):
        check_output_folder(afile)
    with pytest.raises(OutputFolderError, match=r"afile is a file, not a folder"):
        check_output_folder(afile / "out")
    check_output_folder(tmp_path / "new" / "folder")  # can be made: fine, and nothing made yet
    assert not (tmp_path / "new").exists()
    read_only = unwritable_folder(tmp_path)
    with pytest.raises(
        OutputFolderError, match=r"cannot write into .*: (permission denied|read-only file system)"
    ):
        check_output_folder(read_only)


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write into: a read-only one, or (as root, who writes into
    read-only folders) one of sysfs."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    folder = Path("/sys/kernel")
    try:
        probe = folder / ".ivc-plan-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError:
        return folder
    pytest.skip("no folder this root process cannot write into")

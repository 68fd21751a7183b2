"""Benchmark: time and peak memory per stage, each case in its own process.

Timings live here, not in the tests (the suite must stay fast and deterministic). First the
whole pipeline as `ivc-plan plan` runs it, on a 512 x 512 x 400 phantom at 0.8 mm (the
post-thrombotic case of the demo, so every stage does real work), read from a NIfTI file
and seed file written beforehand: time and peak resident memory of each stage and in total,
printed as a table and saved as JSON (bench-output/pipeline.json). Then single stages on
other inputs, each case in a fresh interpreter so that its peak memory is its own; the inputs
a case needs (a phantom) are made before the clock starts. Run with `make bench`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[1] / "bench-output"
PIPELINE_TARGETS = {"seconds": 20.0, "peak_mb": 3072.0}

# The whole pipeline in a fresh process, timed stage by stage with memory sampling (10 ms).
PIPELINE = """
import json, resource, time
from IVCReconstructionLib.cli import build_parser, plan_command
from IVCReconstructionLib.stages import StageClock
import vtkmodules.all, scipy.ndimage, SimpleITK, slicer  # imports are not the pipeline's cost
from IVCReconstructionLib.measure.vmtk_compat import vmtk_class
vmtk_class("vtkvmtkPolyDataCenterlines")
args = build_parser().parse_args(["plan", "--volume", {volume!r}, "--seeds", {seeds!r}, "--out", {out!r}])
clock = StageClock(sample_memory=True)
t = time.perf_counter()
assert plan_command(args, clock) == 0
total = time.perf_counter() - t
print(json.dumps({{"total_seconds": total,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "stages": [r.__dict__ for r in clock.records]}}))
"""

REAL_LABELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "totalseg-example" / "labels.nii.gz"

PHANTOM = """
from IVCReconstructionLib.phantom import PhantomOptions, make_phantom
import scipy.spatial, scipy.interpolate, scipy.ndimage  # imports are not the stage's cost
setup = None
def stage():
    return make_phantom({options}).image.size
"""

CENTERLINES = """
import numpy as np
from IVCReconstructionLib.phantom import PhantomOptions, make_phantom
from IVCReconstructionLib.measure.veins import measure_veins
import vtkmodules.all, scipy.ndimage  # imports are not the stage's cost
from IVCReconstructionLib.measure.vmtk_compat import vmtk_class
vmtk_class("vtkvmtkPolyDataCenterlines")
ph = make_phantom({options})
labels = np.where(np.isin(ph.labels, (1, 2, 3)), ph.labels, 0)
def stage():
    m = measure_veins(labels, ph.ijk_to_ras)
    return labels.size
"""

REAL = """
from IVCReconstructionLib.inputs.volumes import read_volume
from IVCReconstructionLib.measure.veins import measure_veins
import vtkmodules.all, scipy.ndimage
from IVCReconstructionLib.measure.vmtk_compat import vmtk_class
vmtk_class("vtkvmtkPolyDataCenterlines")
labels, m = read_volume({path!r})
def stage():
    measure_veins(labels, m, {{"ivc": 63, "left_iliac": 67, "right_iliac": 68}})
    return labels.size
"""

RUN = """
import json, resource, time
t = time.perf_counter()
voxels = stage()
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "voxels": int(voxels),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# The seeded segmentation: the phantom is made and saved by one process, segmented by
# another, so that the peak memory reported is the segmentation's own (plus the image).
SEGMENT_PREPARE = """
import numpy as np, json
from IVCReconstructionLib.phantom import PhantomOptions, make_phantom
ph = make_phantom({options})
np.save({folder!r} + "/image.npy", ph.image)
np.save({folder!r} + "/labels.npy", ph.labels)
np.save({folder!r} + "/matrix.npy", ph.ijk_to_ras)
json.dump({{k: v.tolist() for k, v in ph.seeds.items()}}, open({folder!r} + "/seeds.json", "w"))
"""

SEGMENT = """
import json
import numpy as np
from IVCReconstructionLib.segment.seeded import segment_veins
import scipy.ndimage, scipy.spatial, SimpleITK  # imports are not the stage's cost
image = np.load({folder!r} + "/image.npy")
matrix = np.load({folder!r} + "/matrix.npy")
seeds = {{k: np.array(v) for k, v in json.load(open({folder!r} + "/seeds.json")).items()}}
def stage():
    global result
    result = segment_veins(image, matrix, seeds)
    return image.size
"""

CASES = {
    "phantom, reference anatomy, 1 mm (fit to anatomy)": PHANTOM.format(options="PhantomOptions()"),
    "phantom, May-Thurner 0.25, 1 mm": PHANTOM.format(options="PhantomOptions(may_thurner_area_ratio=0.25)"),
    "phantom, full size 512x512x400 at 0.8 mm": PHANTOM.format(
        options="PhantomOptions(spacing_mm=0.8, size_ijk=(512, 512, 400))"
    ),
    "surface + centerlines + profiles, 1 mm phantom": CENTERLINES.format(options="PhantomOptions()"),
    "surface + centerlines + profiles, May-Thurner 1 mm": CENTERLINES.format(
        options="PhantomOptions(may_thurner_area_ratio=0.25)"
    ),
}
EDIT = """
import numpy as np
from IVCReconstructionLib.phantom import PhantomOptions, make_phantom
from IVCReconstructionLib.segment.seeded import segment_veins
from IVCReconstructionLib.measure.veins import measure_veins
from IVCReconstructionLib.plan.findings import find_findings
from IVCReconstructionLib.plan.catalog import load_catalog
from IVCReconstructionLib.plan.sizing import PlanContext
from IVCReconstructionLib.plan.templates import make_plan
from IVCReconstructionLib.plan.edits import move_end
from IVCReconstructionLib.scene.context import create_scene
from IVCReconstructionLib.scene import plan_nodes as mrml
ph = make_phantom(PhantomOptions(ivc_occlusion_length_mm=40.0, bilateral_iliac_area_ratio=0.4))
seg = segment_veins(ph.image, ph.ijk_to_ras, ph.seeds)
veins = seg.measurable_labels()
m = measure_veins(veins, ph.ijk_to_ras, seeds=ph.seeds)
seeds = dict(ph.seeds, Renal=ph.renal_inflow_ras)
f = find_findings(m.tree, m.profiles, seeds=seeds, occlusions=seg.occlusions)
ctx = PlanContext(m.tree, m.profiles, f, load_catalog())
plan = make_plan(ctx)
scene = create_scene()
nodes = mrml.add_plan_to_scene(scene.scene, plan)
EDITS = 20
def stage():
    global nodes
    st = plan.stents[-1]
    branch = [b for b in st.coverage if b != "ivc"][0]
    for k in range(EDITS):
        move_end(ctx, plan, st.id, "distal", st.coverage[branch][1] + (1.0 if k % 2 else -1.0))
        nodes = mrml.update_plan_in_scene(scene.scene, nodes, plan)
    return EDITS
"""

SEGMENT_CASES = {
    "seeded segmentation, 1 mm phantom": "PhantomOptions()",
    "seeded segmentation, full size 512x512x400 at 0.8 mm": (
        "PhantomOptions(spacing_mm=0.8, size_ijk=(512, 512, 400))"
    ),
}
CASES["20 plan edits (move an end, recompute, update models/tables), inverted-Y"] = EDIT
if REAL_LABELS.is_file():
    CASES["surface + centerlines + profiles, real CT labels (3 mm)"] = REAL.format(path=str(REAL_LABELS))


def bench_pipeline(folder: str) -> dict:
    """The whole pipeline on the full-size phantom; returns the JSON record (also saved)."""
    import os
    import platform

    prepare = [
        sys.executable, "-m", "IVCReconstructionLib.cli", "phantom", "--out", folder,
        "--scenario", "post-thrombotic", "--spacing", "0.8", "--size", "512", "512", "400",
    ]  # fmt: skip
    print("making the 512 x 512 x 400 phantom at 0.8 mm (about 30 s, not timed) ...", flush=True)
    subprocess.run(prepare, check=True, capture_output=True)
    code = PIPELINE.format(
        volume=f"{folder}/phantom_ct.nii.gz", seeds=f"{folder}/seeds.mrk.json", out=f"{folder}/plan"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the pipeline failed:\n{out.stderr}")
    record = json.loads(out.stdout.strip().splitlines()[-1])
    record.update(
        input="post-thrombotic phantom, 512 x 512 x 400 voxels at 0.8 mm (NIfTI) with its seed file",
        targets=PIPELINE_TARGETS,
        machine={"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        date=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    print(f"\n{'stage (ivc-plan plan)':34s} {'time':>8s} {'peak memory':>12s}")
    for stage in record["stages"]:
        print(f"{stage['name']:34s} {stage['seconds']:7.2f}s {stage['peak_mb']:9.0f} MB")
    ok = (
        record["total_seconds"] <= PIPELINE_TARGETS["seconds"]
        and record["peak_mb"] <= PIPELINE_TARGETS["peak_mb"]
    )
    print(
        f"{'total':34s} {record['total_seconds']:7.2f}s {record['peak_mb']:9.0f} MB   "
        f"(targets <= {PIPELINE_TARGETS['seconds']:.0f} s, <= {PIPELINE_TARGETS['peak_mb'] / 1024:.0f} GB: "
        f"{'met' if ok else 'NOT met'})\n"
    )
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "pipeline.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main() -> int:
    import tempfile

    tmp = tempfile.TemporaryDirectory()
    Path(f"{tmp.name}/pipeline").mkdir()
    bench_pipeline(f"{tmp.name}/pipeline")
    for n, (name, options) in enumerate(SEGMENT_CASES.items()):
        folder = f"{tmp.name}/{n}"
        Path(folder).mkdir()
        subprocess.run(
            [sys.executable, "-c", SEGMENT_PREPARE.format(options=options, folder=folder)], check=True
        )
        CASES[name] = SEGMENT.format(folder=folder)
    print(f"{'case':58s} {'voxels':>12s} {'time':>8s} {'peak memory':>12s}")
    for name, code in CASES.items():
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code + RUN], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"{name:58s} FAILED after {time.perf_counter() - start:.1f} s:\n{out.stderr}")
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        count = "" if "edits" not in name else f"  ({1000 * r['seconds'] / r['voxels']:.1f} ms per edit)"
        print(f"{name:58s} {r['voxels']:12,d} {r['seconds']:7.2f}s {r['peak_mb']:9.0f} MB{count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

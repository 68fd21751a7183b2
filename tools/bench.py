"""Benchmark: time and peak memory per stage, each case in its own process.

Timings live here, not in the tests (the suite must stay fast and deterministic). First the
whole pipeline as `ivc-plan plan` runs it, read from a NIfTI file and a seed file written
beforehand (post-thrombotic phantoms, so that every stage does real work): the same anatomy and
field of view at 1.0, 0.8 and 0.6 mm (~370 x 230 x 470 voxels at 0.6 mm, a venogram's size),
the 512 x 512 x 400 CT at 0.8 mm, and the 0.6 mm case again with twice the margin around the
veins. Each case runs ``--repeat`` times in a fresh interpreter (the minimum and the spread are
reported, the machine being shared); with it the "floor" (SimpleITK reads the volume as float32
and runs one SmoothingRecursiveGaussian, sigma 1 mm), so that plan / floor says how far the
plan is from the cost of touching the volume once; the load average is printed with each case.
Stage times, peak resident memory and the number of points of the surface VMTK got are printed
and saved as JSON (bench-output/pipeline.json). Then single stages on other inputs, each case in
a fresh interpreter so that its peak memory is its own; the inputs a case needs (a phantom) are
made before the clock starts. Run with `make bench` (`python tools/bench.py --help` for options).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[1] / "bench-output"
# The whole pipeline at several voxel sizes: (name, scenario, spacing mm, size i j k). The first
# three are one anatomy and field of view (222 x 138 x 282 mm); the margin case doubles the
# margin around the veins of MARGIN_BASE at the same spacing.
PIPELINE_CASES = [
    ("1.0 mm 222x138x282", "post-thrombotic", 1.0, (222, 138, 282)),
    ("0.8 mm 278x173x353", "post-thrombotic", 0.8, (278, 173, 353)),
    ("0.6 mm 370x230x470", "post-thrombotic", 0.6, (370, 230, 470)),
    ("0.8 mm 512x512x400", "post-thrombotic", 0.8, (512, 512, 400)),
]
MARGIN_BASE = "0.6 mm 370x230x470"
PIPELINE_TARGETS = {
    "0.6 mm 370x230x470": {"seconds": 10.0, "peak_mb": 2048.0, "floor_ratio": 8.0},
    "0.8 mm 512x512x400": {"seconds": 10.0, "peak_mb": 3072.0},
}
MARGIN_TARGET = 0.15  # doubling the margin may add this share of the time, at most

# The whole pipeline in a fresh process, timed stage by stage with memory sampling (10 ms).
PIPELINE = """
import json, resource, time
from IVCReconstructionLib import pipeline
from IVCReconstructionLib.cli import build_parser, plan_command
from IVCReconstructionLib.stages import StageClock
import vtkmodules.all, scipy.ndimage, SimpleITK, slicer  # imports are not the pipeline's cost
from IVCReconstructionLib.measure.vmtk_compat import vmtk_class
vmtk_class("vtkvmtkPolyDataCenterlines")
results = []
run = pipeline.run_pipeline
pipeline.run_pipeline = lambda *a, **k: results.append(run(*a, **k)) or results[-1]
args = build_parser().parse_args(["plan", "--volume", {volume!r}, "--seeds", {seeds!r}, "--out", {out!r}])
clock = StageClock(sample_memory=True)
t = time.perf_counter()
assert plan_command(args, clock) == 0
total = time.perf_counter() - t
cl = results[-1].measured.centerlines
build = getattr(cl, "surface_build", None)  # (getattr: the bench also runs on older versions)
sections = getattr(cl, "section_surface", None) or cl.surface
print(json.dumps({{"total_seconds": total,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "vmtk_surface_points": cl.surface.GetNumberOfPoints(),
                  "vmtk_surface": build.__dict__ if build is not None else None,
                  "section_surface_points": sections.GetNumberOfPoints(),
                  "stages": [r.__dict__ for r in clock.records]}}))
"""

# The floor: what touching the volume once costs (read as float32, one Gaussian of sigma 1 mm).
FLOOR = """
import json, time
import SimpleITK as sitk
times = []
for _ in range({repeat}):
    t = time.perf_counter()
    sitk.SmoothingRecursiveGaussian(sitk.ReadImage({volume!r}, sitk.sitkFloat32), 1.0)
    times.append(time.perf_counter() - t)
print(json.dumps(times))
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


def _load() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def _phantom(folder: Path, scenario: str, spacing: float, size) -> Path:
    """Write the phantom of a case (not timed) unless ``folder`` holds it already."""
    if not (folder / "seeds.mrk.json").is_file():
        shape = "x".join(map(str, size))
        print(f"  making the {scenario} phantom, {shape} at {spacing} mm (not timed) ...", flush=True)
        prepare = [
            sys.executable, "-m", "IVCReconstructionLib.cli", "phantom", "--out", str(folder),
            "--scenario", scenario, "--spacing", str(spacing), "--size", *map(str, size),
        ]  # fmt: skip
        subprocess.run(prepare, check=True, capture_output=True)
    return folder


def _doubled_margin(folder: Path) -> tuple[int, int, int]:
    """Size (i, j, k) with twice the margin around the veins (truth labels) of a phantom."""
    import numpy as np

    from IVCReconstructionLib.inputs.volumes import read_volume

    labels, _ = read_volume(folder / "truth_labels.nii.gz")
    kji = np.argwhere(np.isin(np.asarray(labels), (1, 2, 3, 9)))
    shape = np.array(labels.shape)
    margin = shape - (kji.max(axis=0) - kji.min(axis=0) + 1)
    return tuple(int(n) for n in (shape + margin)[::-1])


def _floors(folder: Path, repeat: int) -> list[float]:
    code = FLOOR.format(volume=str(folder / "phantom_ct.nii.gz"), repeat=repeat)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def _plan_run(name: str, folder: Path, out: Path) -> dict:
    """One ivc-plan plan on a prepared phantom, in a fresh process."""
    code = PIPELINE.format(
        volume=str(folder / "phantom_ct.nii.gz"), seeds=str(folder / "seeds.mrk.json"), out=str(out)
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"the pipeline failed on {name}:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _record(name: str, runs: list[dict], floors: list[float], load: float) -> dict:
    """The case's record: the fastest run's stages, the minimum and spread of the totals, the
    largest peak, the fastest floor."""
    totals = [r["total_seconds"] for r in runs]
    record = dict(runs[totals.index(min(totals))])
    record.update(
        name=name,
        totals=totals,
        total_seconds=min(totals),
        spread_seconds=max(totals) - min(totals),
        peak_mb=max(r["peak_mb"] for r in runs),
        floor_seconds=min(floors),
        floors=floors,
        floor_ratio=min(totals) / min(floors),
        load_before=load,
        load_after=_load(),
    )
    return record


def _run_case(name: str, folder: Path, out: Path, repeat: int) -> dict:
    """The floor and ``repeat`` runs of the plan on one prepared phantom, each in a fresh process."""
    load = _load()
    floors = _floors(folder, repeat)
    runs = [_plan_run(name, folder, out / f"run{n}") for n in range(repeat)]
    return _record(name, runs, floors, load)


def _run_pair(names, folders, outs, repeat: int) -> list[dict]:
    """Two cases run alternately (a, b, a, b, ...), so that both see the same load: the margin
    comparison is their ratio."""
    load = _load()
    floors = [_floors(f, repeat) for f in folders]
    runs: list[list[dict]] = [[], []]
    for n in range(repeat):
        for k in (0, 1):
            runs[k].append(_plan_run(names[k], folders[k], outs[k] / f"run{n}"))
    return [_record(names[k], runs[k], floors[k], load) for k in (0, 1)]


def _print_case(r: dict) -> None:
    stages = ", ".join(
        f"{s['name']} {s['seconds']:.2f} s" + (f" ({s['peak_mb']:.0f} MB)" if s.get("peak_mb") else "")
        for s in r["stages"]
    )
    print(
        f"{r['name']:20s} {r['total_seconds']:6.2f} s (+{r['spread_seconds']:.2f}) {r['peak_mb']:6.0f} MB  "
        f"floor {r['floor_seconds']:5.2f} s  plan/floor {r['floor_ratio']:5.1f}  "
        f"VMTK {r['vmtk_surface_points']:5d} points (sections {r['section_surface_points']})  "
        f"load {r['load_before']:.1f}"
    )
    print(f"{'':20s} {stages}", flush=True)


def bench_pipeline(folder: str, repeat: int = 3, only: str | None = None) -> dict:
    """The whole pipeline on the cases of PIPELINE_CASES and the doubled margin; returns the JSON
    record (also saved as bench-output/pipeline.json). ``folder`` keeps the phantoms (reused)."""
    import os
    import platform

    root = Path(folder)
    records = []
    base_folder = None
    print(f"\n{'ivc-plan plan':20s} {'total (spread)':>16s} {'peak':>9s}", flush=True)
    for name, scenario, spacing, size in PIPELINE_CASES:
        if only and only not in name and not (only == "margin" and name == MARGIN_BASE):
            continue
        ph = _phantom(root / name.replace(" ", "_"), scenario, spacing, size)
        base_folder = ph if name == MARGIN_BASE else base_folder
        records.append(_run_case(name, ph, root / "out" / name.replace(" ", "_"), repeat))
        _print_case(records[-1])
    margin = None
    if base_folder is not None:
        size = _doubled_margin(base_folder)
        name = f"0.6 mm {size[0]}x{size[1]}x{size[2]} (margin x2)"
        ph = _phantom(root / "margin_x2", "post-thrombotic", 0.6, size)
        # The pair again, alternately, so that the comparison sees one load.
        base, doubled = _run_pair(
            [f"{MARGIN_BASE} (pair)", name],
            [base_folder, ph],
            [root / "out" / "margin_base", root / "out" / "margin_x2"],
            repeat,
        )
        records += [base, doubled]
        _print_case(base)
        _print_case(doubled)
        added = doubled["total_seconds"] / base["total_seconds"] - 1.0
        margin = {"base": base["name"], "doubled": name, "added_share": added, "target": MARGIN_TARGET}
        print(f"doubling the margin adds {100 * added:.0f} % (target < {100 * MARGIN_TARGET:.0f} %)")
    for r in records:
        t = PIPELINE_TARGETS.get(r["name"])
        if t is None:
            continue
        checks = [r["total_seconds"] <= t["seconds"], r["peak_mb"] <= t["peak_mb"]]
        if "floor_ratio" in t:
            checks.append(r["floor_ratio"] <= t["floor_ratio"])
        print(f"targets {r['name']}: {t} -> {'met' if all(checks) else 'NOT met'}")
    record = {
        "cases": records,
        "margin": margin,
        "targets": PIPELINE_TARGETS,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "pipeline.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each pipeline case (default 3)")
    parser.add_argument(
        "--phantoms", type=Path, help="folder keeping the phantoms between runs (default: temporary)"
    )
    parser.add_argument("--only", help="pipeline cases whose name contains this ('margin': the margin pair)")
    parser.add_argument("--pipeline-only", action="store_true", help="skip the single-stage cases")
    args = parser.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    folder = args.phantoms or Path(tmp.name) / "pipeline"
    folder.mkdir(parents=True, exist_ok=True)
    bench_pipeline(str(folder), args.repeat, args.only)
    if args.pipeline_only:
        return 0
    for n, (name, options) in enumerate(SEGMENT_CASES.items()):
        folder = f"{tmp.name}/{n}"
        Path(folder).mkdir()
        subprocess.run(
            [sys.executable, "-c", SEGMENT_PREPARE.format(options=options, folder=folder)], check=True
        )
        CASES[name] = SEGMENT.format(folder=folder)
    print(f"\n{'case':58s} {'voxels':>12s} {'time':>8s} {'peak memory':>12s}")
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

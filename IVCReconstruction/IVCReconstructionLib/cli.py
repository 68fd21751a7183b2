"""``ivc-plan``: the planner on the command line (architecture section 6).

``ivc-plan plan --volume CT (--seeds S.mrk.json | --segmentation SEG [--labels ...]) --out DIR``
runs the whole pipeline (``pipeline.run_pipeline``) on a patient's volume; ``ivc-plan demo``
runs it on a built-in phantom (by default a post-thrombotic case that needs an inverted-Y);
``ivc-plan phantom`` only writes a phantom and its truth. Exit codes: 0 on success; 2 on bad
input, with one line ``error: ...`` on stderr that says what is wrong and what to do; 1 on an
internal failure. Progress goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

SCENARIOS = ("healthy", "may-thurner", "ivc-occlusion", "bilateral", "post-thrombotic")
DEMO_OUT = Path("out") / "demo"


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2, like every other bad input."""

    def error(self, message: str):
        raise BadInputError(f"{message} (see `{self.prog} --help`)")


class BadInputError(Exception):
    """Input the user can fix: reported as one line and exit code 2."""


def _phantom_arguments(p: argparse.ArgumentParser, scenario: str, out: Path | None = None) -> None:
    if out is None:
        p.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    else:
        p.add_argument("--out", type=Path, default=out, help=f"output folder (default {out})")
    p.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default=scenario,
        help=f"lesion to build in (default {scenario}; post-thrombotic: an IVC occlusion and both "
        "iliac veins narrowed)",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="random anatomy number (default: the reference anatomy)"
    )
    p.add_argument("--spacing", type=float, default=1.0, help="voxel size in mm (default 1.0)")
    p.add_argument(
        "--size",
        type=int,
        nargs=3,
        metavar=("I", "J", "K"),
        default=None,
        help="volume size in voxels, centred on the anatomy (default: fit the anatomy)",
    )
    p.add_argument(
        "--area-ratio",
        type=float,
        default=0.25,
        help="lesion area / healthy area for may-thurner, bilateral, post-thrombotic (default 0.25)",
    )
    p.add_argument(
        "--occlusion-length",
        type=float,
        default=40.0,
        help="length of the IVC occlusion in mm for ivc-occlusion, post-thrombotic (default 40)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ivc-plan", description="IVC and iliac vein stent planning (research use only).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="the whole pipeline on a built-in phantom, with its report")
    _phantom_arguments(demo, "post-thrombotic", DEMO_OUT)
    phantom = sub.add_parser("phantom", help="write a synthetic CT venogram with its truth")
    _phantom_arguments(phantom, "healthy")
    plan = sub.add_parser(
        "plan", help="segment (or take a segmentation), measure and plan stents for a volume"
    )
    plan.add_argument("--volume", required=True, type=Path, help="CT/MR venogram: image file or DICOM folder")
    plan.add_argument("--series", help="series instance UID, when the DICOM folder holds several series")
    plan.add_argument(
        "--seeds", type=Path, help="points labelled IVC, Left, Right (Via..., Renal, Inguinal...)"
    )
    plan.add_argument(
        "--segmentation", type=Path, help="existing segmentation: .seg.nrrd, or a label map file"
    )
    plan.add_argument(
        "--labels", help="label values of a label map, e.g. ivc=63,left=67,right=68 (default 1,2,3)"
    )
    plan.add_argument(
        "--template", choices=("auto", "inverted-y", "double-barrel", "kissing", "unilateral"), default="auto"
    )
    plan.add_argument("--catalog", type=Path, action="append", default=[], help="user stent catalogue (JSON)")
    plan.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    return parser


def phantom_options(args: argparse.Namespace):
    from .phantom import PhantomOptions

    return PhantomOptions(
        spacing_mm=args.spacing,
        size_ijk=tuple(args.size) if args.size else None,
        seed=args.seed,
        may_thurner_area_ratio=args.area_ratio if args.scenario == "may-thurner" else None,
        bilateral_iliac_area_ratio=(
            args.area_ratio if args.scenario in ("bilateral", "post-thrombotic") else None
        ),
        ivc_occlusion_length_mm=(
            args.occlusion_length if args.scenario in ("ivc-occlusion", "post-thrombotic") else None
        ),
    )


def truth_summary(phantom) -> dict:
    """The phantom's truth as JSON-ready numbers (RAS mm)."""
    from .plan_types import lesion_to_json

    def ras(p):
        return [round(float(c), 2) for c in p]

    branches = {}
    for name, br in phantom.branches.items():
        healthy = br.healthy()
        branches[name] = {
            "length_mm": round(br.length_mm, 1),
            "median_ce_diameter_mm": round(float(np.median(br.ce_diameter_mm[healthy])), 2),
        }
    return {
        "confluence_ras": ras(phantom.confluence_ras),
        "renal_inflow_ras": ras(phantom.renal_inflow_ras),
        "inter_iliac_angle_deg": round(phantom.inter_iliac_angle_deg, 1),
        "seeds": {k: ras(v) for k, v in phantom.seeds.items()},
        "branches": branches,
        "lesions": [lesion_to_json(les) for les in phantom.lesions],
        "enhancement_hu": {k: round(float(v), 1) for k, v in phantom.enhancement_hu.items()},
        "spacing_mm": [round(float(s), 3) for s in phantom.spacing_mm],
        "size_ijk": list(phantom.shape_ijk),
    }


def write_phantom(ctx, phantom, out: Path):
    """Write the phantom and its truth, and put both in the context's scene; return the files
    and the nodes (``mrml.PhantomNodes``)."""
    from . import mrml

    out.mkdir(parents=True, exist_ok=True)
    written = []
    nodes = mrml.add_phantom_to_scene(ctx.scene, phantom)
    written.append(mrml.save_node(nodes.volume, out / "phantom_ct.nii.gz"))
    labels = mrml.add_volume_from_array(ctx.scene, phantom.labels, phantom.ijk_to_ras, "truth labels", True)
    written.append(mrml.save_node(labels, out / "truth_labels.nii.gz"))
    mrml.remove_nodes(ctx.scene, [labels])
    written.append(mrml.save_node(nodes.segmentation, out / "truth_segmentation.seg.nrrd"))
    written.append(mrml.save_node(nodes.seeds, out / "seeds.mrk.json"))
    for name, br in phantom.branches.items():
        path = out / f"truth_centerline_{name}.csv"
        table = np.column_stack(
            [
                br.distance_mm,
                br.points_ras,
                br.area_mm2,
                br.ce_diameter_mm,
                br.min_diameter_mm,
                br.max_diameter_mm,
            ]
        )
        header = "distance_mm,r,a,s,area_mm2,ce_diameter_mm,min_diameter_mm,max_diameter_mm"
        np.savetxt(path, table, delimiter=",", fmt="%.3f", comments="", header=header)
        written.append(path)
    path = out / "truth.json"
    path.write_text(json.dumps(truth_summary(phantom), indent=2) + "\n")
    written.append(path)
    return written, nodes


def _progress(message: str) -> None:
    print(f"ivc-plan: {message}", file=sys.stderr, flush=True)


def _print_plan(plan, files: list[Path], out: Path) -> None:
    print(f"stent plan: {plan.template} ({plan.reason})")
    for st in plan.stents:
        print(f"  {st.name}")
    for w in plan.warnings:
        if w.severity != "info":
            print(f"  {w.severity}: {w.code}: {w.message}")
    print(f"wrote {len(files)} files to {out}:")
    for path in files:
        print(f"  {path.name:36s} {path.stat().st_size / 1024:8.0f} kB")


def _segmentation_labels(ctx, args):
    """Labels (1, 2, 3 = IVC, left, right) and their geometry from --segmentation."""
    from . import mrml
    from .existing_segmentation import parse_label_mapping, vein_labels_from_segmentation
    from .volumes import read_volume

    path = args.segmentation
    if path.name.endswith(".seg.nrrd"):
        if not path.is_file():
            raise BadInputError(f"{path} does not exist: give a Slicer .seg.nrrd or a label map file")
        node = ctx.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "given segmentation")
        storage = ctx.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
        storage.SetFileName(str(path))
        node.SetAndObserveStorageNodeID(storage.GetID())
        try:
            if not storage.ReadData(node):
                raise ValueError(
                    f"cannot read the segmentation {path}: give a Slicer .seg.nrrd or a label map file"
                )
            labels, m, _ = vein_labels_from_segmentation(node)
        finally:
            # The pipeline adds the three vein segments; the user's file stays as it is.
            mrml.remove_nodes(ctx.scene, [node, storage])
        return labels, m
    raw, m = read_volume(path)
    values = (
        parse_label_mapping(args.labels) if args.labels else {"ivc": 1, "left_iliac": 2, "right_iliac": 3}
    )
    labels = np.zeros(raw.shape, dtype=np.uint8)
    for branch, value in values.items():
        labels[raw == value] = {"ivc": 1, "left_iliac": 2, "right_iliac": 3}[branch]
    return labels, m


def plan_command(args: argparse.Namespace, clock=None) -> int:
    """ivc-plan plan: the pipeline on a patient's volume (architecture section 6). ``clock``
    (a ``stages.StageClock``) lets the benchmark time the stages and sample memory."""
    from . import mrml
    from .catalog import load_catalog
    from .pipeline import PipelineInput, run_pipeline
    from .scene import create_scene
    from .seeds import read_seeds
    from .stages import StageClock
    from .volumes import describe_volume, read_volume

    if args.seeds is None and args.segmentation is None:
        raise BadInputError("give --seeds (to segment the veins) or --segmentation (to use an existing one)")
    if args.labels and args.segmentation is None:
        raise BadInputError("--labels goes with --segmentation (the label values of a label map file)")
    seeds = read_seeds(args.seeds) if args.seeds else {}
    catalog = load_catalog(*args.catalog)
    clock = clock or StageClock(progress=_progress)
    with clock.stage("reading the volume"):
        image, ijk_to_ras = read_volume(args.volume, args.series)
    with create_scene() as ctx:
        volume = mrml.add_volume_from_array(ctx.scene, image, ijk_to_ras, "venogram")
        labels = m = None
        if args.segmentation is not None:
            with clock.stage("reading the segmentation"):
                labels, m = _segmentation_labels(ctx, args)
        case = PipelineInput(
            volume, image, ijk_to_ras, describe_volume(args.volume, image, ijk_to_ras), seeds, labels, m
        )
        result = run_pipeline(ctx, case, args.out, catalog=catalog, template=args.template, clock=clock)
    print(f"planned in {clock.total_seconds:.1f} s")
    _print_plan(result.plan, result.files, args.out)
    return 0


def _demo_summary(phantom, result) -> None:
    """How the demo's measurements compare with the phantom's truth."""
    summary = truth_summary(phantom)
    print("segmented from the seeds, centerlines and diameter profiles (truth in brackets):")
    for name, prof in result.measured.profiles.items():
        value = {"ivc": 1, "left_iliac": 2, "right_iliac": 3}[name]
        found, truth_mask = result.segmentation.labels == value, phantom.labels == value
        dice = 2.0 * (found & truth_mask).sum() / (found.sum() + truth_mask.sum())
        ok = ~prof.confluence_zone
        truth = summary["branches"][name]["median_ce_diameter_mm"]
        i = int(np.argmin(np.where(ok, prof.area_mm2, np.inf)))
        print(
            f"  {name:12s} Dice {dice:.3f}; {prof.distance_mm[-1]:4.0f} mm, median CE diameter "
            f"{np.median(prof.ce_diameter_mm[ok]):4.1f} mm ({truth:.1f}), "
            f"smallest area {prof.area_mm2[i]:5.1f} mm2 at {prof.distance_mm[i]:.0f} mm"
        )
    for occ in result.segmentation.occlusions:
        print(f"  occlusion found on {occ.branch}: {occ.length_mm:.0f} mm without lumen")


def _run(args: argparse.Namespace) -> int:
    if args.command == "plan":
        return plan_command(args)
    from .catalog import load_catalog
    from .phantom import make_phantom
    from .pipeline import PipelineInput, run_pipeline
    from .scene import create_scene, save_mrb
    from .stages import StageClock

    options = phantom_options(args)
    clock = StageClock(progress=_progress if args.command == "demo" else None)
    with clock.stage("phantom", "building the phantom"):
        phantom = make_phantom(options)
    summary = truth_summary(phantom)
    print(
        f"phantom ({args.scenario}, {'reference anatomy' if args.seed is None else f'anatomy #{args.seed}'}, "
        f"{summary['size_ijk'][0]}x{summary['size_ijk'][1]}x{summary['size_ijk'][2]} voxels at "
        f"{args.spacing:g} mm) built in {clock.records[-1].seconds:.1f} s"
    )
    for les in summary["lesions"]:
        print(
            f"  truth lesion: {les['kind']} of {les['branch']} at {les['start_mm']}-{les['end_mm']} mm "
            f"from the confluence, area ratio {les['area_ratio']}"
        )
    with create_scene() as ctx:
        with clock.stage("phantom files"):
            files, nodes = write_phantom(ctx, phantom, args.out)
        if args.command == "phantom":
            files.append(save_mrb(ctx, args.out / "scene.mrb"))
            print(f"wrote {len(files)} files to {args.out}")
            return 0
        # The demo knows where the renal veins enter (the phantom's truth), as a user marking
        # them with a Renal seed would.
        seeds = dict(phantom.seeds, Renal=phantom.renal_inflow_ras)
        description = {
            "format": f"built-in phantom ({args.scenario})",
            "size_ijk": summary["size_ijk"],
            "spacing_mm": summary["spacing_mm"],
        }
        case = PipelineInput(nodes.volume, phantom.image, phantom.ijk_to_ras, description, seeds)
        result = run_pipeline(ctx, case, args.out, catalog=load_catalog(), clock=clock)
    _demo_summary(phantom, result)
    _print_plan(result.plan, files + result.files, args.out)
    print(
        f"Done in {clock.total_seconds:.1f} s. Open report.html in a browser, or scene.mrb in 3D Slicer "
        "(the phantom and its truth, the segmentation, centerlines, diameter chart and stent plan). "
        "The plan is a suggestion for a physician, for research use only."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _run(args)
    except (BadInputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # an internal failure: exit 1, one line unless debugging
        if os.environ.get("IVC_PLAN_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (set IVC_PLAN_DEBUG=1 for the traceback; "
            "please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""``ivc-plan``: the planner on the command line (architecture section 6). Argument parsing and
messages only; the work is ``pipeline.run_pipeline``.

``ivc-plan plan --volume CT (--seeds S.mrk.json | --segmentation SEG [--labels ...]) --out DIR``
runs the whole pipeline on a patient's volume; ``ivc-plan demo`` runs it on a built-in phantom
(by default a post-thrombotic case that needs an inverted-Y); ``ivc-plan phantom`` only writes a
phantom and its truth. Exit codes: 0 on success; 2 on bad input, with one line ``error: ...`` on
stderr that says what is wrong and what to do; 1 on an internal failure. Progress goes to
stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from . import names
from .names import TEMPLATE_CHOICES, Severity, Template
from .phantom.options import Scenario

DEMO_OUT = Path("out") / "demo"


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2, like every other bad input."""

    def error(self, message: str):
        raise BadInputError(f"{message} (see `{self.prog} --help`)")


class BadInputError(Exception):
    """Input the user can fix: reported as one line and exit code 2."""


def _phantom_arguments(p: argparse.ArgumentParser, scenario: Scenario, out: Path | None = None) -> None:
    if out is None:
        p.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    else:
        p.add_argument("--out", type=Path, default=out, help=f"output folder (default {out})")
    p.add_argument(
        "--scenario",
        choices=[str(s) for s in Scenario],
        default=str(scenario),
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
    _phantom_arguments(demo, Scenario.POST_THROMBOTIC, DEMO_OUT)
    phantom = sub.add_parser("phantom", help="write a synthetic CT venogram with its truth")
    _phantom_arguments(phantom, Scenario.HEALTHY)
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
    plan.add_argument("--template", choices=[str(t) for t in TEMPLATE_CHOICES], default=str(Template.AUTO))
    plan.add_argument("--catalog", type=Path, action="append", default=[], help="user stent catalogue (JSON)")
    plan.add_argument(
        "--ivus",
        type=Path,
        help="IVUS measurements (JSON: references_mm per segment, lesion min_area_mm2) to size from",
    )
    plan.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    return parser


def phantom_options(args: argparse.Namespace):
    """The phantom options of ``demo``/``phantom`` arguments."""
    from .phantom.options import options_for

    return options_for(
        args.scenario,
        spacing_mm=args.spacing,
        seed=args.seed,
        area_ratio=args.area_ratio,
        occlusion_length_mm=args.occlusion_length,
        size_ijk=tuple(args.size) if args.size else None,
    )


def _progress(message: str) -> None:
    print(f"ivc-plan: {message}", file=sys.stderr, flush=True)


def _print_plan(plan, files: list[Path], out: Path) -> None:
    print(f"stent plan: {plan.template} ({plan.reason})")
    for st in plan.stents:
        print(f"  {st.name}")
    for w in plan.warnings:
        if w.severity is not Severity.INFO:
            print(f"  {w.severity}: {w.code}: {w.message}")
    print(f"wrote {len(files)} files to {out}:")
    for path in files:
        shown = path.relative_to(out).as_posix() if path.is_relative_to(out) else path.name  # dicom/...
        print(f"  {shown:36s} {path.stat().st_size / 1024:8.0f} kB")


def _segmentation_labels(ctx, args) -> tuple[np.ndarray, np.ndarray]:
    """Labels (the pipeline's values) and their geometry from --segmentation."""
    from .inputs.volumes import read_volume
    from .scene.segmentation_nodes import read_segmentation_file
    from .segment.existing import labels_from_label_map, parse_label_mapping

    if args.segmentation.name.endswith(".seg.nrrd"):
        return read_segmentation_file(ctx.scene, args.segmentation)
    raw, ijk_to_ras = read_volume(args.segmentation)
    values = parse_label_mapping(args.labels) if args.labels else None
    return labels_from_label_map(raw, values), ijk_to_ras


def plan_command(args: argparse.Namespace, clock=None) -> int:
    """ivc-plan plan: the pipeline on a patient's volume (architecture section 6). ``clock``
    (a ``stages.StageClock``) lets the benchmark time the stages and sample memory."""
    from .inputs.ivus import read_ivus
    from .inputs.seeds import SeedPoints, read_seeds
    from .inputs.volumes import describe_volume, read_volume, series_files
    from .pipeline import PipelineInput, run_pipeline
    from .plan.catalog import load_catalog
    from .scene.context import create_scene
    from .scene.nodes import add_volume_from_array
    from .stages import StageClock

    if args.seeds is None and args.segmentation is None:
        raise BadInputError("give --seeds (to segment the veins) or --segmentation (to use an existing one)")
    if args.labels and args.segmentation is None:
        raise BadInputError("--labels goes with --segmentation (the label values of a label map file)")
    ivus = read_ivus(args.ivus) if args.ivus else None  # checked first: a small file, read at once
    seeds = read_seeds(args.seeds) if args.seeds else SeedPoints()
    catalog = load_catalog(*args.catalog)
    clock = clock or StageClock(progress=_progress)
    with clock.stage("reading the volume"):
        image, ijk_to_ras = read_volume(args.volume, args.series)
    with create_scene() as ctx:
        volume = add_volume_from_array(ctx.scene, image, ijk_to_ras, "venogram")
        labels = m = None
        if args.segmentation is not None:
            with clock.stage("reading the segmentation"):
                labels, m = _segmentation_labels(ctx, args)
        case = PipelineInput(
            volume, image, ijk_to_ras, describe_volume(args.volume, image, ijk_to_ras), seeds, labels, m
        )
        if args.volume.is_dir():  # a DICOM series: the plan goes back to DICOM too (DIR/dicom/)
            case.dicom_files = series_files(args.volume, args.series)
        result = run_pipeline(
            ctx, case, args.out, catalog=catalog, template=args.template, clock=clock, ivus=ivus
        )
    print(f"planned in {clock.total_seconds:.1f} s")
    _print_plan(result.plan, result.files, args.out)
    return 0


def _demo_summary(phantom, result) -> None:
    """How the demo's measurements compare with the phantom's truth."""
    from .phantom.files import truth_summary

    summary = truth_summary(phantom)
    print("segmented from the seeds, centerlines and diameter profiles (truth in brackets):")
    for name, prof in result.measured.profiles.items():
        value = names.VEIN_LABELS[name]
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
        print(f"  occlusion found: {occ.describe()}")


def _run(args: argparse.Namespace) -> int:
    if args.command == "plan":
        return plan_command(args)
    from .inputs.seeds import as_seed_points
    from .phantom.files import truth_summary, write_phantom
    from .phantom.generate import make_phantom
    from .pipeline import PipelineInput, run_pipeline
    from .plan.catalog import load_catalog
    from .scene.context import create_scene, save_mrb
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
            files, nodes = write_phantom(ctx.scene, phantom, args.out)
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
        case = PipelineInput(
            nodes.volume, phantom.image, phantom.ijk_to_ras, description, as_seed_points(seeds, "the demo")
        )
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

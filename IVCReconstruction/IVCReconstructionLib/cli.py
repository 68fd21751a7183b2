"""``ivc-plan``: the planner on the command line (architecture section 6). Argument parsing and
messages only; the work is ``pipeline.run_pipeline``.

``ivc-plan plan --volume CT (--seeds S.mrk.json | --segmentation SEG [--labels ...]) --out DIR``
runs the whole pipeline on a patient's volume; ``ivc-plan demo`` runs it on a built-in phantom
(by default a post-thrombotic case that needs an inverted-Y); ``ivc-plan phantom`` only writes a
phantom and its truth. Exit codes (``EXIT_CODES``): 0 on success; 2 on bad input, with one line
``error: ...`` on stderr that says what is wrong and what to do; 1 on an internal failure; 130
(Ctrl-C) or 143 (SIGTERM) when interrupted. Progress goes to stderr, the summary to stdout.

The output folder is checked before any work and written as one set (``outputs.atomic``): a
run that fails or is interrupted leaves it as it was.
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

EXIT_CODES = {
    0: "success",
    1: "internal error (one line `internal error: ...`; IVC_PLAN_DEBUG=1 shows the traceback)",
    2: "bad input (one line `error: ...` saying what to change)",
    130: "interrupted by Ctrl-C (SIGINT): nothing written",
    143: "interrupted by SIGTERM: nothing written",
}

_EPILOG = (
    "exit codes:\n"
    + "".join(f"  {code:<4d} {text}\n" for code, text in EXIT_CODES.items())
    + "\noutput: the folder receives the whole set of files with ivc-plan-manifest.json, or nothing\n"
    "(a failed or interrupted run leaves it as it was); files ivc-plan did not write stay.\n"
)
_PLAN_EPILOG = (
    "required together:\n"
    "  exactly one of --seeds (the veins are segmented from the points) or --segmentation\n"
    "  (the veins are taken from it); --labels only with a label map file as --segmentation\n"
    "  (not a .seg.nrrd, whose segments are found by ID or terminology; TotalSegmentator:\n"
    "  --labels ivc=63,left=67,right=68); --series only with a DICOM folder as --volume.\n\n"
) + _EPILOG


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
    from . import __version__

    parser = _Parser(
        prog="ivc-plan",
        description="IVC and iliac vein stent planning (research use only).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    raw = {"formatter_class": argparse.RawDescriptionHelpFormatter}
    demo = sub.add_parser(
        "demo", help="the whole pipeline on a built-in phantom, with its report", epilog=_EPILOG, **raw
    )
    _phantom_arguments(demo, Scenario.POST_THROMBOTIC, DEMO_OUT)
    _plan_arguments(demo)
    phantom = sub.add_parser(
        "phantom", help="write a synthetic CT venogram with its truth", epilog=_EPILOG, **raw
    )
    _phantom_arguments(phantom, Scenario.HEALTHY)
    plan = sub.add_parser(
        "plan",
        help="segment (or take a segmentation), measure and plan stents for a volume",
        description="Segment the veins from seed points (--seeds) or take a segmentation "
        "(--segmentation), measure them and plan stents.",
        epilog=_PLAN_EPILOG,
        **raw,
    )
    plan.add_argument("--volume", required=True, type=Path, help="CT/MR venogram: image file or DICOM folder")
    plan.add_argument(
        "--series",
        help="series instance UID (as listed), when the DICOM folder holds several series "
        "(with a DICOM folder only)",
    )
    plan.add_argument(
        "--seeds",
        type=Path,
        help="points labelled IVC, Left, Right (Via..., Renal, Inguinal...); "
        "this or --segmentation is required",
    )
    plan.add_argument(
        "--segmentation",
        type=Path,
        help="existing segmentation: .seg.nrrd, or a label map file; this or --seeds is required",
    )
    plan.add_argument(
        "--labels",
        help="label values of a label map given as --segmentation, e.g. ivc=63,left=67,right=68 "
        "(default 1,2,3)",
    )
    _plan_arguments(plan)
    plan.add_argument(
        "--ivus",
        type=Path,
        help="IVUS measurements (JSON: references_mm per segment, lesion min_area_mm2) to size from",
    )
    plan.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    return parser


def _plan_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--template", choices=[str(t) for t in TEMPLATE_CHOICES], default=str(Template.AUTO))
    p.add_argument(
        "--catalog",
        type=Path,
        action="append",
        default=[],
        help="a stent catalogue (JSON, as Resources/StentCatalog.json) adding to or replacing the built-in "
        "products, e.g. your centre's IVC stent with large open cells for an inverted-Y; repeatable",
    )


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
        ends = ""
        if st.proximal_level or st.distal_level:
            ends = f" (cranial end {st.proximal_level or '-'}, caudal end {st.distal_level or '-'})"
        print(f"  {st.name}{ends}, step {st.deployment_step}")
    for w in plan.warnings:
        if w.severity is not Severity.INFO:
            print(f"  {w.severity}: {w.code}: {w.message}")
    print(f"wrote {len(files)} files to {out}:")
    for path in files:
        shown = path.relative_to(out).as_posix() if path.is_relative_to(out) else path.name  # dicom/...
        print(f"  {shown:36s} {path.stat().st_size / 1024:8.0f} kB")


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def _is_seg_nrrd(path: Path) -> bool:
    return path.name.lower().endswith(".seg.nrrd")


def _check_plan_arguments(args: argparse.Namespace) -> None:
    """Option combinations that cannot work, refused before anything is read."""
    if args.seeds is None and args.segmentation is None:
        raise BadInputError("give --seeds (to segment the veins) or --segmentation (to use an existing one)")
    if args.seeds is not None and args.segmentation is not None:
        raise BadInputError(
            "give --seeds or --segmentation, not both: --seeds segments the veins from the points, "
            "--segmentation takes them as they are (leave out one of them)"
        )
    if args.labels and args.segmentation is None:
        raise BadInputError("--labels goes with --segmentation (the label values of a label map file)")
    if args.labels and _is_seg_nrrd(args.segmentation):
        raise BadInputError(
            f"--labels applies to a label map file, and {args.segmentation.name} is a Slicer segmentation: "
            "its segments are found by ID or terminology (inferior_vena_cava, iliac_vena_left, "
            "iliac_vena_right); leave out --labels"
        )
    if args.series is not None and args.volume.exists() and not args.volume.is_dir():
        raise BadInputError(f"--series applies to a DICOM folder, and {args.volume.name} is a file")


def _segmentation_labels(ctx, args) -> tuple[np.ndarray, np.ndarray, dict[str, str], np.ndarray | None]:
    """Labels (the pipeline's values), their geometry, each vein's name in the user's terms
    (for messages) from --segmentation, and the label map itself when it also holds
    TotalSegmentator's vertebrae (the vertebral levels are read from them)."""
    from .inputs.volumes import read_volume
    from .scene.segmentation_nodes import read_segmentation_file
    from .segment.existing import check_label_map, labels_from_label_map, parse_label_mapping
    from .spine.find import has_vertebra_labels

    if _is_seg_nrrd(args.segmentation):
        labels, m, found = read_segmentation_file(ctx.scene, args.segmentation, segments=True)
        return labels, m, {b: f"segment {found[b]!r}" for b in names.BRANCHES}, None
    values = parse_label_mapping(args.labels) if args.labels else None
    raw, ijk_to_ras = read_volume(args.segmentation)
    check_label_map(raw, values, args.segmentation.name, args.labels)
    shown = values or names.VEIN_LABELS
    described = {b: f"label {v}" for b, v in shown.items()}
    vertebrae = raw if has_vertebra_labels(raw) else None
    return labels_from_label_map(raw, values), ijk_to_ras, described, vertebrae


def plan_command(args: argparse.Namespace, clock=None) -> int:
    """ivc-plan plan: the pipeline on a patient's volume (architecture section 6). ``clock``
    (a ``stages.StageClock``) lets the benchmark time the stages and sample memory."""
    from .inputs.ivus import read_ivus
    from .outputs.atomic import OutputSet, check_output_folder
    from .outputs.folder import OUTPUT_NAMES

    _check_plan_arguments(args)
    ivus = read_ivus(args.ivus) if args.ivus else None  # a small file, checked before any work
    check_output_folder(args.out)
    inputs = [("volume", args.volume), ("seeds", args.seeds), ("segmentation", args.segmentation)]
    inputs += [("catalog", c) for c in args.catalog] + [("ivus", args.ivus)]
    with OutputSet(args.out, command="plan", inputs=inputs, expected=OUTPUT_NAMES, note=_note) as output:
        result, clock = _plan_into(args, output, clock, ivus)
    print(f"planned in {clock.total_seconds:.1f} s")
    _print_plan(result.plan, output.files, args.out)
    return 0


def _plan_into(args: argparse.Namespace, output, clock, ivus=None):
    from .inputs.seeds import SeedPoints, read_seeds
    from .inputs.volumes import describe_volume, read_volume, series_files
    from .pipeline import PipelineInput, run_pipeline
    from .plan.catalog import load_catalog
    from .scene.context import create_scene, store_uncompressed
    from .scene.nodes import add_volume_from_array
    from .stages import StageClock

    seeds = read_seeds(args.seeds) if args.seeds else SeedPoints()
    catalog = load_catalog(*args.catalog)
    clock = clock or StageClock(progress=_progress)
    with clock.stage("reading the volume"):
        image, ijk_to_ras = read_volume(args.volume, args.series)
    with create_scene() as ctx:
        volume = add_volume_from_array(ctx.scene, image, ijk_to_ras, "venogram")
        # The venogram goes into scene.mrb as it is: compressing it cost more than the plan's
        # other files together at 0.6 mm (issue 15).
        store_uncompressed(volume)
        labels = m = described = vertebrae = None
        if args.segmentation is not None:
            with clock.stage("reading the segmentation"):
                labels, m, described, vertebrae = _segmentation_labels(ctx, args)
        case = PipelineInput(
            volume,
            image,
            ijk_to_ras,
            describe_volume(args.volume, image, ijk_to_ras),
            seeds,
            labels,
            m,
            label_names=described,
            vertebra_labels=vertebrae,
        )
        if args.volume.is_dir():  # a DICOM series: the plan goes back to DICOM too (DIR/dicom/)
            case.dicom_files = series_files(args.volume, args.series)
        result = run_pipeline(
            ctx,
            case,
            args.out,
            catalog=catalog,
            template=args.template,
            clock=clock,
            output=output,
            ivus=ivus,
        )
    return result, clock


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
    from .outputs.atomic import OutputSet, check_output_folder
    from .outputs.folder import OUTPUT_NAMES
    from .phantom.files import PHANTOM_FILE_NAMES
    from .plan.catalog import load_catalog

    options = phantom_options(args)  # bad options first, then the folder, then the work
    catalogs = list(getattr(args, "catalog", []))
    catalog = load_catalog(*catalogs) if args.command == "demo" else None
    check_output_folder(args.out)
    expected = (*PHANTOM_FILE_NAMES, *OUTPUT_NAMES)
    inputs = [("catalog", c) for c in catalogs]
    with OutputSet(args.out, command=args.command, inputs=inputs, expected=expected, note=_note) as output:
        done = _phantom_or_demo(args, options, output, catalog)
    if args.command == "phantom":
        print(f"wrote {len(output.files)} files to {args.out}")
        return 0
    phantom, result, clock = done
    _demo_summary(phantom, result)
    _print_plan(result.plan, output.files, args.out)
    print(
        f"Done in {clock.total_seconds:.1f} s. Open report.html in a browser, or scene.mrb in 3D Slicer "
        "(the phantom and its truth, the segmentation, centerlines, diameter chart and stent plan). "
        "The plan is a suggestion for a physician, for research use only."
    )
    return 0


def _phantom_or_demo(args: argparse.Namespace, options, output, catalog=None):
    from .inputs.seeds import as_seed_points
    from .phantom.files import truth_summary, write_phantom
    from .phantom.generate import make_phantom
    from .pipeline import PipelineInput, run_pipeline
    from .scene.context import create_scene, save_mrb
    from .stages import StageClock

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
            f"from the confluence, {les['area_stenosis_pct']:.0f} % area loss"
        )
    # The demo knows where the renal veins enter (the phantom's truth), as a user marking them
    # with a Renal seed would; its seed file holds that point too, so that `ivc-plan plan` on the
    # demo's own files makes the same plan.
    landmarks = {"Renal": phantom.renal_inflow_ras} if args.command == "demo" else None
    with create_scene() as ctx:
        with clock.stage("phantom files"):
            _, nodes = write_phantom(ctx.scene, phantom, output.folder, landmarks=landmarks)
        if args.command == "phantom":
            with clock.stage("scene file"):
                save_mrb(ctx, output.path("scene.mrb"))
            return None
        seeds = dict(phantom.seeds, **landmarks)
        description = {
            "format": f"built-in phantom ({args.scenario})",
            "size_ijk": summary["size_ijk"],
            "spacing_mm": summary["spacing_mm"],
        }
        case = PipelineInput(
            nodes.volume, phantom.image, phantom.ijk_to_ras, description, as_seed_points(seeds, "the demo")
        )
        result = run_pipeline(
            ctx,
            case,
            args.out,
            catalog=catalog,
            template=args.template,
            clock=clock,
            output=output,
        )
    return phantom, result, clock


def main(argv: list[str] | None = None) -> int:
    from . import interrupts

    out = None
    with interrupts.deferred():
        try:
            args = build_parser().parse_args(argv)
            out = getattr(args, "out", None)
            return _run(args)
        except interrupts.Interrupted as exc:
            print(f"interrupted: nothing written{f' to {out}' if out else ''}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:  # raised where the handlers could not be installed
            print(f"interrupted: nothing written{f' to {out}' if out else ''}", file=sys.stderr)
            return 130
        except (BadInputError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename and str(exc.filename) not in str(exc.strerror) else ""
            print(f"error: cannot read or write{where}: {exc.strerror or exc}", file=sys.stderr)
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

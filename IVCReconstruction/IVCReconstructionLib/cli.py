"""``ivc-plan``: the planner on the command line (architecture section 6).

Exit codes: 0 on success; 2 on bad input, with one line ``error: ...`` on stderr that says what
is wrong and what to do; 1 on an internal failure. Only the stages that exist are offered:
``ivc-plan phantom`` writes a synthetic venogram with its truth, and ``ivc-plan demo`` runs the
pipeline on the built-in phantom: segmentation from the seeds, centerlines and diameter
profiles, findings and a suggested stent plan (plan.json), and a scene that opens in Slicer.
``ivc-plan plan --volume CT --seeds S.mrk.json --out DIR`` (or ``--segmentation SEG
[--labels ivc=63,left=67,right=68]``) runs it on a patient's volume.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

SCENARIOS = ("healthy", "may-thurner", "ivc-occlusion", "bilateral")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2, like every other bad input."""

    def error(self, message: str):
        raise BadInputError(f"{message} (see `{self.prog} --help`)")


class BadInputError(Exception):
    """Input the user can fix: reported as one line and exit code 2."""


def _phantom_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    p.add_argument(
        "--scenario", choices=SCENARIOS, default="healthy", help="lesion to build in (default healthy)"
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
        help="lesion area / healthy area for may-thurner and bilateral (default 0.25)",
    )
    p.add_argument(
        "--occlusion-length",
        type=float,
        default=40.0,
        help="length of the IVC occlusion in mm for ivc-occlusion (default 40)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ivc-plan", description="IVC and iliac vein stent planning (research use only).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="run the pipeline as far as it exists on the built-in phantom")
    _phantom_arguments(demo)
    demo.set_defaults(scenario="may-thurner")
    phantom = sub.add_parser("phantom", help="write a synthetic CT venogram with its truth")
    _phantom_arguments(phantom)
    plan = sub.add_parser(
        "plan", help="segment (or take a segmentation), measure and plan stents for a volume"
    )
    plan.add_argument("--volume", required=True, type=Path, help="CT/MR venogram: image file or DICOM folder")
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
        bilateral_iliac_area_ratio=args.area_ratio if args.scenario == "bilateral" else None,
        ivc_occlusion_length_mm=args.occlusion_length if args.scenario == "ivc-occlusion" else None,
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


def segment_and_measure(ctx, phantom, volume_node, out: Path):
    """The pipeline as far as it exists: segment the phantom CT from its seeds, then measure
    the segmentation. Writes veins_labels.nii.gz, segmentation.seg.nrrd and profile_<branch>.csv;
    returns (segmentation result, measurements, files)."""
    from . import mrml
    from .analysis import measure_veins, segment_volume_into_scene
    from .profile_io import write_profiles

    node, seg = segment_volume_into_scene(ctx.scene, volume_node, phantom.seeds)
    files = [mrml.save_node(node, out / "segmentation.seg.nrrd")]
    veins = np.where(np.isin(seg.labels, (1, 2, 3)), seg.labels, 0).astype(np.uint8)
    labelmap = mrml.add_volume_from_array(ctx.scene, veins, seg.ijk_to_ras, "vein labels", True)
    files.append(mrml.save_node(labelmap, out / "veins_labels.nii.gz"))
    mrml.remove_nodes(ctx.scene, [labelmap])
    measured = measure_veins(veins, seg.ijk_to_ras, seeds=phantom.seeds)
    mrml.add_centerlines_to_scene(ctx.scene, measured.tree, measured.profiles)
    files += write_profiles(measured.profiles, out)
    return seg, measured, files


def plan_stents(ctx, phantom, seg, measured, out: Path):
    """Findings and the suggested stent plan, into the scene and plan.json."""
    from . import mrml
    from .catalog import load_catalog
    from .findings import find_findings
    from .planner import PlanContext, make_plan

    # The demo knows where the renal veins enter (the phantom's truth), as a user marking them
    # with a Renal seed would.
    seeds = dict(phantom.seeds, Renal=phantom.renal_inflow_ras)
    findings = find_findings(measured.tree, measured.profiles, seeds=seeds, occlusions=seg.occlusions)
    plan = make_plan(PlanContext(measured.tree, measured.profiles, findings, load_catalog()))
    mrml.add_plan_to_scene(ctx.scene, plan)
    path = out / "plan.json"
    path.write_text(json.dumps(plan.to_json(), indent=2) + "\n")
    return plan, [path]


def _segmentation_labels(ctx, args):
    """Vein labels (1, 2, 3) and geometry from --segmentation, or None."""
    from . import mrml
    from .existing_segmentation import parse_label_mapping, vein_labels_from_segmentation
    from .volumes import read_volume

    path = args.segmentation
    if path.name.endswith(".seg.nrrd"):
        node = ctx.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Veins")
        storage = ctx.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
        storage.SetFileName(str(path))
        node.SetAndObserveStorageNodeID(storage.GetID())
        if not path.is_file() or not storage.ReadData(node):
            raise ValueError(
                f"cannot read the segmentation {path}: give a Slicer .seg.nrrd or a label map file"
            )
        labels, m, _ = vein_labels_from_segmentation(node)
        return labels, m
    raw, m = read_volume(path)
    values = (
        parse_label_mapping(args.labels) if args.labels else {"ivc": 1, "left_iliac": 2, "right_iliac": 3}
    )
    labels = np.zeros(raw.shape, dtype=np.uint8)
    for branch, value in values.items():
        labels[raw == value] = {"ivc": 1, "left_iliac": 2, "right_iliac": 3}[branch]
    mrml.add_segmentation_from_labelmap(ctx.scene, labels, m, mrml.vein_segments(), "Veins")
    return labels, m


def _plan(args: argparse.Namespace) -> int:
    """ivc-plan plan: the pipeline on a patient's volume (architecture section 6)."""
    from . import mrml
    from .analysis import measure_veins, segment_volume_into_scene
    from .catalog import load_catalog
    from .findings import find_findings
    from .planner import PlanContext, make_plan
    from .profile_io import write_profiles
    from .scene import create_scene, save_mrb
    from .seeds import read_seeds
    from .segmentation import looks_like_ct
    from .volumes import read_volume

    if args.seeds is None and args.segmentation is None:
        raise BadInputError("give --seeds (to segment the veins) or --segmentation (to use an existing one)")
    seeds = read_seeds(args.seeds) if args.seeds else {}
    catalog = load_catalog(*args.catalog)
    image, ijk_to_ras = read_volume(args.volume)
    args.out.mkdir(parents=True, exist_ok=True)
    files = []
    start = time.perf_counter()
    with create_scene() as ctx:
        volume = mrml.add_volume_from_array(
            ctx.scene, image, ijk_to_ras, args.volume.name.split(".")[0] or "volume"
        )
        occlusions = []
        if args.segmentation is not None:
            labels, m = _segmentation_labels(ctx, args)
        else:
            node, seg = segment_volume_into_scene(ctx.scene, volume, seeds)
            labels, m, occlusions = seg.measurable_labels(), seg.ijk_to_ras, seg.occlusions
            files.append(mrml.save_node(node, args.out / "segmentation.seg.nrrd"))
        veins = np.where(np.isin(labels, (1, 2, 3)), labels, 0).astype(np.uint8)
        label_node = mrml.add_volume_from_array(ctx.scene, veins, m, "vein labels", True)
        files.append(mrml.save_node(label_node, args.out / "veins_labels.nii.gz"))
        mrml.remove_nodes(ctx.scene, [label_node])
        measured = measure_veins(
            veins, m, seeds={k: v for k, v in seeds.items() if k in ("IVC", "Left", "Right")}
        )
        mrml.add_centerlines_to_scene(ctx.scene, measured.tree, measured.profiles)
        files += write_profiles(measured.profiles, args.out)
        modality = "ct" if looks_like_ct(image) else "mr"
        if modality == "ct" and veins.shape == image.shape and np.median(image[veins > 0]) < 100.0:
            modality = "noncontrast-ct"  # unenhanced veins: diameters from a bring-your-own segmentation
        findings = find_findings(measured.tree, measured.profiles, seeds=seeds, occlusions=occlusions)
        plan = make_plan(
            PlanContext(measured.tree, measured.profiles, findings, catalog, modality=modality), args.template
        )
        mrml.add_plan_to_scene(ctx.scene, plan)
        path = args.out / "plan.json"
        path.write_text(json.dumps(plan.to_json(), indent=2) + "\n")
        files.append(path)
        files.append(save_mrb(ctx, args.out / "scene.mrb"))
    print(f"plan: {plan.template} ({plan.reason}) in {time.perf_counter() - start:.1f} s")
    for st in plan.stents:
        print(f"  {st.name}")
    for w in plan.warnings:
        print(f"  {w.severity}: {w.code}: {w.message}")
    print(f"wrote {len(files)} files to {args.out}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "plan":
        return _plan(args)
    from .phantom import make_phantom
    from .scene import create_scene, save_mrb

    options = phantom_options(args)
    start = time.perf_counter()
    phantom = make_phantom(options)
    built = time.perf_counter() - start
    summary = truth_summary(phantom)
    print(
        f"phantom ({args.scenario}, {'reference anatomy' if args.seed is None else f'anatomy #{args.seed}'}, "
        f"{summary['size_ijk'][0]}x{summary['size_ijk'][1]}x{summary['size_ijk'][2]} voxels at "
        f"{args.spacing:g} mm) built in {built:.1f} s"
    )
    for les in summary["lesions"]:
        print(
            f"  truth lesion: {les['kind']} of {les['branch']} at {les['start_mm']}-{les['end_mm']} mm "
            f"from the confluence, area ratio {les['area_ratio']}"
        )
    with create_scene() as ctx:
        files, nodes = write_phantom(ctx, phantom, args.out)
        if args.command == "demo":
            t = time.perf_counter()
            seg, measured, more = segment_and_measure(ctx, phantom, nodes.volume, args.out)
            files += more
            seconds = time.perf_counter() - t
            print(f"segmented from the seeds, then centerlines and diameter profiles, in {seconds:.1f} s:")
            for name, prof in measured.profiles.items():
                value = {"ivc": 1, "left_iliac": 2, "right_iliac": 3}[name]
                found, truth_mask = seg.labels == value, phantom.labels == value
                dice = 2.0 * (found & truth_mask).sum() / (found.sum() + truth_mask.sum())
                ok = ~prof.confluence_zone
                truth = summary["branches"][name]["median_ce_diameter_mm"]
                i = int(np.argmin(np.where(ok, prof.area_mm2, np.inf)))
                print(
                    f"  {name:12s} Dice {dice:.3f}; {prof.distance_mm[-1]:4.0f} mm, median CE diameter "
                    f"{np.median(prof.ce_diameter_mm[ok]):4.1f} mm (truth {truth:.1f}), "
                    f"smallest area {prof.area_mm2[i]:5.1f} mm2 at {prof.distance_mm[i]:.0f} mm"
                )
            for occ in seg.occlusions:
                print(f"  occlusion found on {occ.branch}: {occ.length_mm:.0f} mm without lumen")
            plan, plan_files = plan_stents(ctx, phantom, seg, measured, args.out)
            files += plan_files
            print(f"stent plan: {plan.template} ({plan.reason})")
            for st in plan.stents:
                print(f"  {st.name}")
            for w in plan.warnings:
                if w.severity != "info":
                    print(f"  {w.severity}: {w.code}: {w.message}")
        files.append(save_mrb(ctx, args.out / "scene.mrb"))
    print(f"wrote {len(files)} files to {args.out}:")
    for path in files:
        print(f"  {path.name:36s} {path.stat().st_size / 1024:8.0f} kB")
    if args.command == "demo":
        print(
            "Open scene.mrb in 3D Slicer to see the phantom and its truth, the segmentation, the "
            "centerlines, the diameter chart and the stent plan. The plan is a suggestion for a "
            "physician, for research use only."
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


if __name__ == "__main__":
    sys.exit(main())

"""The whole pipeline on one volume, into a scene and an output folder (architecture sections 2, 6).

segment (from seeds) or take a segmentation -> vein label map -> centerlines and diameter
profiles -> findings -> suggested plan -> scene.mrb, view3d.png, report.html. ``ivc-plan plan``,
``ivc-plan demo`` and the benchmark all run this one function, so they run the same steps;
each stage is timed (``stages.StageClock``) and announced to ``progress``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .stages import StageClock

VEIN_VALUES = {"ivc": 1, "left_iliac": 2, "right_iliac": 3}
VEIN_SURFACE_COLOR = (0.35, 0.55, 0.95)  # venous blue, as the vein segments


@dataclass
class PipelineInput:
    """One case. ``volume_node`` is the venogram already in the context's scene; ``image`` and
    ``ijk_to_ras`` are its voxels (k, j, i) and geometry. Give ``seeds`` to segment, or
    ``labels`` (1 IVC, 2 left, 3 right; other values ignored) with their geometry to use an
    existing segmentation. ``description`` is what the report says about the input: file type,
    size and spacing, never a name, path or date (no patient identifiers)."""

    volume_node: Any
    image: np.ndarray
    ijk_to_ras: np.ndarray
    description: dict[str, Any]
    seeds: dict[str, np.ndarray] = field(default_factory=dict)
    labels: np.ndarray | None = None
    labels_ijk_to_ras: np.ndarray | None = None


@dataclass
class PipelineResult:
    plan: Any  # plan_types.Plan
    plan_context: Any  # planner.PlanContext (for edits)
    measured: Any  # analysis.VeinMeasurements
    segmentation: Any  # segmentation.VeinSegmentation, or None for an existing segmentation
    labels: np.ndarray  # vein labels 1..3 in ``labels_ijk_to_ras`` geometry
    labels_ijk_to_ras: np.ndarray
    modality: str
    files: list[Path]
    clock: StageClock
    nodes: dict[str, Any] = field(default_factory=dict)  # segmentation, surface, centerlines, plan
    seed_names: list[str] = field(default_factory=list)


def modality_of(image: np.ndarray, veins: np.ndarray | None = None) -> str:
    """ "ct", "noncontrast-ct" or "mr": what the planner's LOW_CONFIDENCE_MODALITY check needs.
    A CT whose vein voxels are below 100 HU has unenhanced veins (a segmentation brought in)."""
    from .segmentation import looks_like_ct

    if not looks_like_ct(image):
        return "mr"
    vein_voxels = veins is not None and veins.shape == image.shape and np.any(veins > 0)
    if vein_voxels and np.median(image[veins > 0]) < 100.0:
        return "noncontrast-ct"
    return "ct"


def _vein_labels(labels: np.ndarray) -> np.ndarray:
    return np.where(np.isin(labels, (1, 2, 3)), labels, 0).astype(np.uint8)


def run_pipeline(
    ctx: Any,
    case: PipelineInput,
    out: Path,
    *,
    catalog: Any,
    template: str = "auto",
    clock: StageClock | None = None,
    render: bool = True,
    report: bool = True,
) -> PipelineResult:
    """Run every stage on ``case``, put the results in ``ctx.scene`` and write the contract's
    files (architecture section 6) to ``out``. Raises ValueError for input the user can fix."""
    from . import mrml
    from .analysis import measure_veins, segment_volume_into_scene
    from .findings import find_findings
    from .planner import TEMPLATES, PlanContext, make_plan
    from .profile_io import write_profiles
    from .scene import save_mrb

    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}: choose one of {', '.join(TEMPLATES)}")
    if case.labels is None and not case.seeds:
        raise ValueError("give seed points (to segment the veins) or an existing segmentation")
    clock = clock or StageClock()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    nodes: dict[str, Any] = {}
    seg = None
    occlusions: list = []

    if case.labels is None:
        with clock.stage("segmentation", "segmenting the veins from the seeds"):
            node, seg = segment_volume_into_scene(ctx.scene, case.volume_node, case.seeds)
            labels, m, occlusions = seg.measurable_labels(), seg.ijk_to_ras, seg.occlusions
            veins = _vein_labels(labels)
    else:
        from .segmentation import OCCLUDED_LABEL, fill_occluded, occlusions_from_labels

        with clock.stage("segmentation import"):
            m = np.asarray(case.labels_ijk_to_ras, dtype=float)
            # A segmentation saved by this module keeps its occluded stretches (label 4).
            filled = fill_occluded(case.labels)
            occlusions = occlusions_from_labels(case.labels, m, filled)
            veins = _vein_labels(filled)
            if not np.any(veins):
                raise ValueError("the segmentation has no IVC or iliac vein voxels: check --labels")
            same_grid = veins.shape == case.image.shape and np.allclose(m, case.ijk_to_ras, atol=1e-3)
            keep = np.where(np.isin(case.labels, (1, 2, 3, OCCLUDED_LABEL)), case.labels, 0).astype(np.uint8)
            node = mrml.add_vein_segmentation(
                ctx.scene, keep, m, case.volume_node if same_grid else None, "Veins"
            )
    nodes["segmentation"] = node

    with clock.stage("label files"):
        files.append(mrml.save_node(node, out / "segmentation.seg.nrrd"))
        label_node = mrml.add_volume_from_array(ctx.scene, veins, m, "vein labels", True)
        files.append(mrml.save_node(label_node, out / "veins_labels.nii.gz"))
        mrml.remove_nodes(ctx.scene, [label_node])

    with clock.stage("centerlines and profiles", "extracting centerlines and diameter profiles"):
        seeds = {k: v for k, v in case.seeds.items() if k in ("IVC", "Left", "Right")}
        measured = measure_veins(veins, m, seeds=seeds)
        nodes["centerlines"] = mrml.add_centerlines_to_scene(ctx.scene, measured.tree, measured.profiles)
        # The surface the centerlines were computed from, see-through so the stents show: what
        # the 3D view draws for the veins (converting the segmentation again would cost ~1.5 s
        # on a 512 x 512 x 400 CT).
        surface = mrml.add_model(ctx.scene, measured.surface, "Vein surface", VEIN_SURFACE_COLOR, 0.35)
        mrml.place_in_folder(ctx.scene, surface, nodes["centerlines"].folder_item)
        nodes["surface"] = surface
        files += write_profiles(measured.profiles, out)

    with clock.stage("findings and plan"):
        modality = modality_of(case.image, veins)
        findings = find_findings(measured.tree, measured.profiles, seeds=case.seeds, occlusions=occlusions)
        plan_context = PlanContext(measured.tree, measured.profiles, findings, catalog, modality=modality)
        plan = make_plan(plan_context, template)
        nodes["plan"] = mrml.add_plan_to_scene(ctx.scene, plan)
        path = out / "plan.json"
        path.write_text(json.dumps(plan.to_json(), indent=2) + "\n")
        files.append(path)

    with clock.stage("scene.mrb", "saving the scene"):
        files.append(save_mrb(ctx, out / "scene.mrb"))

    result = PipelineResult(
        plan, plan_context, measured, seg, veins, m, modality, files, clock, nodes, sorted(case.seeds)
    )
    view = None
    if render:
        with clock.stage("3D view", "rendering the 3D view"):
            view = render_plan_view(ctx, result, out / "view3d.png")
            files.append(view)
    if report:
        from .report import write_report

        with clock.stage("report", "writing the report"):
            files.append(out / "report.html")  # listed in itself
            write_report(out / "report.html", result, case.description, view3d=view)
    return result


def render_plan_view(
    ctx: Any, result: PipelineResult, path: Path, size: tuple[int, int] = (800, 900)
) -> Path:
    """view3d.png: the veins (their surface model, else the segmentation), the centerlines if
    they are in ``result.nodes`` and the stents, from the front."""
    from .render import Framing, render_view, save_png

    nodes = result.nodes
    veins = nodes.get("surface")
    if veins is None:
        veins = nodes.get("segmentation")
    shown = [veins] if veins is not None else []
    if nodes.get("centerlines") is not None:
        shown += list(nodes["centerlines"].curves.values())
    shown += list(nodes["plan"].models.values())
    framing = Framing.of_nodes(shown) if veins is not None else None
    return save_png(render_view(ctx, shown, size, framing), path)

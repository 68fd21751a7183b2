"""The pipeline: one volume from its veins to a stent plan in a scene and an output folder.

Each step is a function that the Slicer module's buttons call one by one and that
:func:`run_pipeline` (``ivc-plan plan``, ``ivc-plan demo``, the benchmark) calls in a row, so
both run the same code:

1. veins: :func:`segment_into_scene` (from seed points) or :func:`import_labels_into_scene`
   (an existing segmentation) -> a segmentation node;
2. :func:`measure_segmentation_node` / :func:`measure_into_scene` -> centerlines and diameter
   profiles (and their curves, tables and chart);
3. :func:`plan_veins` -> findings and a suggested plan, kept in a ``PlanSession`` for edits;
   ``scene.plan_editor.ScenePlan.add`` shows it (models, tables, stent-end handles);
4. ``outputs.folder.write_output_folder`` writes the files of architecture section 6.

Every step computes before it makes a node, so bad input (ValueError) leaves the scene as it
was. Each stage of :func:`run_pipeline` is timed (``stages.StageClock``) and announced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import names
from .inputs.ivus import IvusMeasurements
from .inputs.seeds import SeedPoints, as_seed_points
from .measure.datatypes import VeinMeasurements
from .names import Modality, Template
from .plan.catalog import Catalog
from .plan.datatypes import ImagingFacts, Plan, PlanSettings
from .plan.session import PlanSession
from .scene.centerline_nodes import CenterlineNodes
from .scene.plan_nodes import PlanNodes
from .segment.datatypes import VeinSegmentation, VeinsOrigin
from .spine.find import SpineFacts
from .stages import StageClock


@dataclass
class PipelineInput:
    """One case. ``volume_node`` is the venogram already in the context's scene; ``image`` and
    ``ijk_to_ras`` are its voxels (k, j, i) and geometry. Give ``seeds`` to segment, or
    ``labels`` (the pipeline's values: 1 IVC, 2 left, 3 right, 4 occluded; others ignored) with
    their geometry to use an existing segmentation (``seeds`` then only mark ends and landmarks).
    ``description`` is what the report says about the input: file type, size and spacing, never
    a name, path or date (no patient identifiers). ``label_names`` names each vein's segment of
    given ``labels`` in the user's terms ("label 67", "segment 'iliac_vena_left'") for messages."""

    volume_node: Any
    image: np.ndarray
    ijk_to_ras: np.ndarray
    description: dict[str, Any]
    seeds: SeedPoints = field(default_factory=SeedPoints)
    labels: np.ndarray | None = None
    labels_ijk_to_ras: np.ndarray | None = None
    # The files of the DICOM series the volume was read from, if it was: the output folder then
    # gets the plan as DICOM too (dicom/: outputs.dicom_export).
    dicom_files: list[Path] | None = None
    label_names: dict[str, str] | None = None
    # The label map the segmentation came as, when it also holds TotalSegmentator's vertebrae
    # (same geometry as ``labels``): the vertebral levels are then read from it.
    vertebra_labels: np.ndarray | None = None


@dataclass
class SceneNodes:
    """The nodes a pipeline run made, by what they show."""

    segmentation: Any
    surface: Any = None  # the vein surface model the centerlines were computed from
    centerlines: CenterlineNodes | None = None
    plan: PlanNodes | None = None

    def shown_in_view(self) -> list[Any]:
        """What view3d.png shows: the veins (their surface, else the segmentation), the
        centerlines and the stents."""
        veins = self.surface if self.surface is not None else self.segmentation
        shown = [veins] if veins is not None else []
        if self.centerlines is not None:
            shown += list(self.centerlines.curves.values())
        if self.plan is not None:
            shown += list(self.plan.models.values())
        return shown


@dataclass
class PipelineResult:
    """What a run (or the module's steps) produced: the plan and everything the output folder
    and the report are written from."""

    session: PlanSession
    measured: VeinMeasurements
    origin: VeinsOrigin
    seeds: SeedPoints
    modality: Modality
    description: dict[str, Any]
    nodes: SceneNodes
    clock: StageClock = field(default_factory=StageClock)
    segmentation: VeinSegmentation | None = None  # the seeded segmentation, when segmented here
    files: list[Path] = field(default_factory=list)
    dicom_files: list[Path] | None = None  # the source DICOM series' files (PipelineInput's)

    @property
    def plan(self) -> Plan:
        return self.session.plan


# ---------------------------------------------------------------------------------------------
# 1. Veins


def segment_into_scene(
    scene: Any,
    volume_node: Any,
    seeds: Mapping[str, Any],
    name: str = "Veins",
    progress: Callable[[str], None] | None = None,
    settings: PlanSettings | None = None,
    parent_item: int | None = None,
    transform_node_id: str | None = None,
) -> tuple[Any, VeinSegmentation]:
    """Segment the veins of a volume node from seed points (in the volume's own coordinates)
    and add the segmentation node (which records the seeds it came from,
    ``names.VEIN_SOURCE_ATTRIBUTE``), in the folder ``parent_item`` and under the transform
    ``transform_node_id`` if given (the volume's: the labels are in its own coordinates).

    Everything is computed before the node is made, so a ValueError (bad volume, bad seeds, no
    contrast, voxels too coarse for ``settings.max_voxel_mm``), or whatever ``progress`` (called
    as each step starts) raises, leaves the scene as it was.
    """
    from .plan.quality import check_voxel_size
    from .scene.nodes import array_and_geometry, place_in_folder, place_under_transform
    from .scene.segmentation_nodes import add_vein_segmentation
    from .segment.seeded import segment_veins

    if volume_node is None or not volume_node.IsA("vtkMRMLScalarVolumeNode"):
        raise ValueError("select a scalar volume (the CT or MR venogram) to segment")
    points = as_seed_points(seeds)
    # A view of the node's voxels: segment_veins only reads them (a copy of a 512 x 512 x 400
    # CT costs 0.45 s and 210 MB).
    voxels, ijk_to_ras = array_and_geometry(volume_node, copy=False)
    check_voxel_size(ijk_to_ras, f"the volume {volume_node.GetName()!r}", settings)
    result = segment_veins(voxels, ijk_to_ras, points, progress)
    node = add_vein_segmentation(scene, result.labels, result.ijk_to_ras, volume_node, name)
    used = tuple(label for label in points if label not in map(str, names.LANDMARK_SEEDS))
    node.SetAttribute(names.VEIN_SOURCE_ATTRIBUTE, VeinsOrigin(names.VeinSource.SEEDS, used).to_attribute())
    place_under_transform([node], transform_node_id)
    if parent_item is not None:
        place_in_folder(scene, node, parent_item)
    return node, result


def import_labels_into_scene(
    scene: Any, labels: np.ndarray, ijk_to_ras: np.ndarray, volume_node: Any = None, name: str = "Veins"
) -> Any:
    """A segmentation node of a label map of the pipeline's values (an existing segmentation),
    in ``volume_node``'s geometry when the grids agree.

    :raises ValueError: when the label map has no vein voxel.
    """
    from .scene.nodes import array_and_geometry
    from .scene.segmentation_nodes import add_vein_segmentation

    keep = (*names.VEIN_LABELS.values(), names.OCCLUDED_LABEL)
    kept = np.where(np.isin(labels, keep), labels, 0).astype(np.uint8)
    if not np.any(np.isin(kept, tuple(names.VEIN_LABELS.values()))):
        raise ValueError("the segmentation has no IVC or iliac vein voxels: check --labels")
    reference = None
    if volume_node is not None:
        image_matrix = array_and_geometry(volume_node, copy=False)[1]
        dims = volume_node.GetImageData().GetDimensions()
        if tuple(kept.shape[::-1]) == tuple(dims) and np.allclose(ijk_to_ras, image_matrix, atol=1e-3):
            reference = volume_node
    node = add_vein_segmentation(scene, kept, np.asarray(ijk_to_ras, dtype=float), reference, name)
    node.SetAttribute(names.VEIN_SOURCE_ATTRIBUTE, VeinsOrigin().to_attribute())
    return node


def veins_origin(segmentation_node: Any) -> VeinsOrigin:
    """How the veins of a segmentation node were obtained (a segmentation given, unless this
    module segmented them from seeds)."""
    return VeinsOrigin.from_attribute(segmentation_node.GetAttribute(names.VEIN_SOURCE_ATTRIBUTE))


# ---------------------------------------------------------------------------------------------
# 2. Centerlines and diameter profiles


def measure_segmentation_node(
    segmentation_node: Any,
    seeds: Mapping[str, Any] | None = None,
    reference_volume: Any = None,
    segment_ids: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    settings: PlanSettings | None = None,
) -> VeinMeasurements:
    """Measure the veins of a segmentation node (nothing is added to the scene).

    The three vein segments are ``segment_ids`` (branch -> segment ID) where given, else found
    by ID, then terminology. An occluded stretch this module segmented (segment
    ``occluded_vein``) joins the lumen for the centerlines and is reported in ``occlusions``.

    :raises ValueError: when the segments are not the IVC and both iliac veins meeting at a
        confluence (``segment.existing.check_confluence``, naming the segments), have voxels
        too coarse for ``settings.max_voxel_mm``, or cannot be measured.
    """
    from .measure.veins import measure_labels
    from .plan.quality import check_voxel_size
    from .scene.segmentation_nodes import vein_labels_from_segmentation
    from .segment.existing import check_confluence

    chosen = dict(segment_ids) if segment_ids else None
    labels, ijk_to_ras, found = vein_labels_from_segmentation(segmentation_node, reference_volume, chosen)
    check_voxel_size(ijk_to_ras, f"the segmentation {segmentation_node.GetName()!r}", settings)
    check_confluence(labels, ijk_to_ras, {b: f"segment {s!r}" for b, s in found.items()})
    source = veins_origin(segmentation_node).source
    return measure_labels(labels, ijk_to_ras, seeds=seeds, progress=progress, source=source)


def measure_into_scene(
    scene: Any,
    segmentation_node: Any,
    seeds: Mapping[str, Any] | None = None,
    reference_volume: Any = None,
    folder_name: str = "IVC centerlines",
    parent_item: int | None = None,
    segment_ids: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[CenterlineNodes, VeinMeasurements]:
    """Measure the veins of a segmentation node and add the curves, tables and chart; the curves
    are in the segmentation's own coordinates, so they go under its transform, if any. Everything
    is measured before the first node is made, so a ValueError leaves the scene as it was."""
    from .scene.centerline_nodes import add_centerlines_to_scene
    from .scene.nodes import place_under_transform

    measured = measure_segmentation_node(segmentation_node, seeds, reference_volume, segment_ids, progress)
    nodes = add_centerlines_to_scene(
        scene, measured.tree, measured.profiles, folder_name=folder_name, parent_item=parent_item
    )
    place_under_transform(nodes.curves.values(), segmentation_node.GetTransformNodeID())
    return nodes, measured


# ---------------------------------------------------------------------------------------------
# 3. Findings and plan


def plan_veins(
    measured: VeinMeasurements,
    seeds: Mapping[str, Any] | None,
    catalog: Catalog,
    template: str | Template = Template.AUTO,
    settings: PlanSettings | None = None,
    modality: Modality = Modality.CT,
    spine: SpineFacts | None = None,
    ivus: IvusMeasurements | None = None,
) -> PlanSession:
    """Findings (references, lesions, landmarks from the Renal and Inguinal seeds), with the
    IVUS measurements ``ivus`` in place of the CT's where given (plan/ivus.py), and the
    suggested plan of ``template``, in a session for editing. ``spine`` (``spine.find_spine``)
    names the vertebral levels and estimates the inguinal ligaments from the femoral heads.

    :raises ValueError: for an unknown template, one the anatomy cannot take, or an IVUS lesion
        where the CT found none.
    """
    from .plan.findings import findings_of
    from .plan.ivus import apply_ivus
    from .plan.sizing import PlanContext
    from .plan.templates import make_plan, parse_template

    chosen = parse_template(template)
    spine = spine or SpineFacts()
    findings = findings_of(measured, seeds=seeds, femoral_heads=spine.femoral_heads)
    findings.notes.extend(spine.notes)
    imaging = ImagingFacts(
        measured.voxel_mm, dict(measured.cut_ends), spine.levels, dict(spine.femoral_heads)
    )
    lengths = {branch: float(p.distance_mm[-1]) for branch, p in measured.profiles.items()}
    findings = apply_ivus(findings, ivus, lengths)  # the sources recorded, also without IVUS
    context = PlanContext(
        measured.tree,
        measured.profiles,
        findings,
        catalog,
        settings or PlanSettings(),
        Modality(modality),
        imaging,
    )
    return PlanSession(context, make_plan(context, chosen))


# ---------------------------------------------------------------------------------------------
# The whole run


def _stop_if_interrupted(_message: str) -> None:
    """A step boundary inside a stage (its ``progress`` callback): where an interrupted command
    line stops too, between native calls (``interrupts``), rather than only at the stage's end."""
    from . import interrupts

    interrupts.check()


def run_pipeline(
    ctx: Any,
    case: PipelineInput,
    out: Path,
    *,
    catalog: Catalog,
    template: str | Template = Template.AUTO,
    settings: PlanSettings | None = None,
    clock: StageClock | None = None,
    render: bool = True,
    report: bool = True,
    output: Any = None,
    ivus: IvusMeasurements | None = None,
) -> PipelineResult:
    """Run every step on ``case``, put the results in ``ctx.scene`` and write the contract's
    files (architecture section 6) to ``out`` as one set (``outputs.atomic``: nothing in ``out``
    changes unless the whole run succeeds); ``output`` is the caller's ``OutputSet`` on ``out``
    when the set holds more files (the demo's phantom); ``ivus``: IVUS measurements to size from
    where given. Raises ValueError for input the user can fix."""
    from .measure.veins import measure_labels
    from .outputs.folder import write_output_folder
    from .plan.quality import check_voxel_size
    from .plan.templates import parse_template
    from .scene.centerline_nodes import add_centerlines_to_scene
    from .scene.nodes import add_model, place_in_folder
    from .scene.plan_nodes import add_plan_to_scene
    from .segment.checks import modality_of
    from .segment.existing import check_confluence
    from .spine.find import find_spine

    template = parse_template(template)
    seeds = as_seed_points(case.seeds)
    if case.labels is None and not seeds:
        raise ValueError("give seed points (to segment the veins) or an existing segmentation")
    # Voxels too coarse to size stents from are refused before any work.
    check_voxel_size(case.ijk_to_ras, "the image", settings)
    if case.labels is not None:
        check_voxel_size(case.labels_ijk_to_ras, "the segmentation", settings)
    clock = clock or StageClock()
    segmentation = None

    if case.labels is None:
        with clock.stage("segmentation", "segmenting the veins from the seeds"):
            node, segmentation = segment_into_scene(
                ctx.scene, case.volume_node, seeds, progress=_stop_if_interrupted, settings=settings
            )
            labels, ijk_to_ras = segmentation.labels, segmentation.ijk_to_ras
            occlusions = segmentation.occlusions
    else:
        with clock.stage("segmentation import"):
            labels = case.labels
            ijk_to_ras = np.asarray(case.labels_ijk_to_ras, dtype=float)
            # Segments that are not the IVC and iliac veins meeting at a confluence are refused
            # here, in the user's own names, before anything is measured or planned.
            check_confluence(labels, ijk_to_ras, case.label_names)
            node = import_labels_into_scene(ctx.scene, labels, ijk_to_ras, case.volume_node)
            occlusions = None  # read back from the label map (a segmentation this module saved)
    nodes = SceneNodes(node)

    with clock.stage("centerlines and profiles", "extracting centerlines and diameter profiles"):
        measured = measure_labels(
            labels,
            ijk_to_ras,
            seeds=seeds,
            occlusions=occlusions,
            progress=_stop_if_interrupted,
            source=names.VeinSource.SEEDS if segmentation is not None else names.VeinSource.SEGMENTATION,
        )
        nodes.centerlines = add_centerlines_to_scene(ctx.scene, measured.tree, measured.profiles)
        # The surface the centerlines were computed from, see-through so the stents show: what
        # the 3D view draws for the veins (converting the segmentation again would cost ~1.5 s
        # on a 512 x 512 x 400 CT).
        nodes.surface = add_model(ctx.scene, measured.surface, "Vein surface", names.VEIN_SURFACE_COLOR, 0.35)
        place_in_folder(ctx.scene, nodes.surface, nodes.centerlines.folder_item)

    with clock.stage("vertebral levels"):
        spine = find_spine(
            case.image,
            case.ijk_to_ras,
            near=measured.tree.confluence_ras,
            vertebra_labels=case.vertebra_labels,
            vertebra_labels_ijk_to_ras=case.labels_ijk_to_ras,
        )

    with clock.stage("findings and plan"):
        modality = modality_of(case.image, case.ijk_to_ras, measured.labels, measured.labels_ijk_to_ras)
        session = plan_veins(measured, seeds, catalog, template, settings, modality, spine, ivus)
        nodes.plan = add_plan_to_scene(ctx.scene, session.plan)

    result = PipelineResult(
        session=session,
        measured=measured,
        origin=veins_origin(node),
        seeds=seeds,
        modality=modality,
        description=case.description,
        nodes=nodes,
        clock=clock,
        segmentation=segmentation,
        dicom_files=case.dicom_files,
    )
    result.files = write_output_folder(ctx, result, Path(out), render=render, report=report, output=output)
    return result

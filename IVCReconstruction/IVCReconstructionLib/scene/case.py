"""The case the Slicer module's steps build in a scene, one button at a time.

Each button runs one step of the pipeline (``pipeline.py``); what a step leaves for the next one
lives here: the last measurement (planning reuses it while the segmentation, its chosen segments
and the end points are unchanged: ``MeasurementCache``), the plan being edited (``ScenePlan``)
and what it was planned from (a ``PipelineResult``, which the report and the DICOM export are
written from). The module's logic checks the nodes it is given, says in the user's language what
is wrong with them, and delegates here; the tests drive the same methods headless.

Results are placed as the user sees the inputs: in the input's subject-hierarchy folder and
under its transform, computed in its own coordinates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..inputs.seeds import SeedPoints
from ..measure.datatypes import VeinMeasurements
from ..names import Modality, Template
from ..plan.datatypes import PlanSettings
from ..spine.find import SpineFacts
from .centerline_nodes import CenterlineNodes
from .measurement_cache import MeasurementCache
from .nodes import in_scene, node_to_world, parent_folder_item
from .plan_editor import ScenePlan
from .seed_nodes import seeds_in_frame

Progress = Callable[[str], None]


class SceneCase:
    """The measurement, the plan and its sources of the case being worked on in ``scene``."""

    def __init__(self, scene: Any) -> None:
        self.scene = scene
        self.cache = MeasurementCache()
        self.measured_node: Any = None  # the segmentation measured last (its world for positions)
        self.scene_plan: ScenePlan | None = None
        self.planned: Any = None  # pipeline.PipelineResult of the plan, for the report and DICOM
        self.planned_volume: Any = None  # the venogram planned on (its DICOM series for the export)

    def clear(self) -> None:
        """Forget the measurement and the plan (the scene is closing, taking their nodes)."""
        self.cache.clear()
        self.measured_node = None
        self.scene_plan = None
        self.planned = None
        self.planned_volume = None

    @property
    def measurements(self) -> VeinMeasurements | None:
        """The last measurement (by :meth:`measure` or for a plan), or None."""
        return self.cache.measurements

    # Centerlines and diameter profiles

    def measure(
        self,
        segmentation_node: Any,
        seeds_node: Any = None,
        reference_volume: Any = None,
        segment_ids: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> tuple[CenterlineNodes, VeinMeasurements]:
        """``pipeline.measure_into_scene`` with the curves, tables and chart in a folder next to
        the segmentation and the curves under its transform; kept for planning. The IVC, Left
        and Right points of the point list ``seeds_node`` mark the ends (found otherwise)."""
        from ..pipeline import measure_into_scene

        ends = seeds_in_frame(seeds_node, segmentation_node).end_points()
        nodes, measured = measure_into_scene(
            self.scene,
            segmentation_node,
            seeds=ends or None,
            reference_volume=reference_volume,
            parent_item=parent_folder_item(self.scene, segmentation_node),
            segment_ids=segment_ids,
            progress=progress,
        )
        self._keep(segmentation_node, measured, segment_ids, ends)
        return nodes, measured

    def measurements_of(
        self,
        segmentation_node: Any,
        seeds: SeedPoints,
        segment_ids: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> VeinMeasurements:
        """The last measurement if it is of this segmentation as it is now (same segments and
        end points), else a new one (no node is added)."""
        from ..pipeline import measure_segmentation_node

        ends = seeds.end_points()
        measured = self.cache.get(segmentation_node, segment_ids, ends)
        if measured is None:
            measured = measure_segmentation_node(
                segmentation_node, ends or None, segment_ids=segment_ids, progress=progress
            )
            self._keep(segmentation_node, measured, segment_ids, ends)
        return measured

    def narrowest_section(self, branch: str) -> tuple[Any, float, float]:
        """(world RAS position, area mm2, CE diameter mm) of the smallest section of a measured
        vein, leaving out the confluence (``measure.narrowest_section``).

        :raises KeyError: for a vein the last measurement does not have (or without one).
        """
        from ..measure import narrowest_section

        if self.measurements is None:
            raise KeyError(branch)
        position, area_mm2, diameter_mm = narrowest_section(self.measurements.profiles[branch])
        if in_scene(self.scene, self.measured_node):
            position = node_to_world(self.measured_node)(position)
        return position, area_mm2, diameter_mm

    # The stent plan

    def plan(
        self,
        segmentation_node: Any,
        seeds_node: Any = None,
        volume_node: Any = None,
        template: str | Template = Template.AUTO,
        catalog_files: Sequence[str | Path] = (),
        settings: PlanSettings | Mapping[str, Any] | None = None,
        segment_ids: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> ScenePlan:
        """Plan the veins of a segmentation (measured, or the measurement reused) and show the
        plan next to it and under its transform, replacing the plan shown before.

        :param seeds_node: a point list: IVC, Left, Right mark the ends; Renal, InguinalLeft,
            InguinalRight are the plan's landmarks.
        :param volume_node: the venogram: it tells contrast CT from MR or non-contrast CT and
            gives the vertebral levels and femoral heads (``venogram_facts``).
        :param catalog_files: stent catalogues added to the built-in one (``load_catalog``).
        :param settings: ``PlanSettings``, or their values by name.
        :raises ValueError: for an unknown template or setting, bad seeds or catalogue, or veins
            that cannot be measured or planned. Everything is computed before the previous plan
            is removed, so the scene is then as it was.
        """
        from ..pipeline import PipelineResult, SceneNodes, plan_veins, veins_origin
        from ..plan import load_catalog, parse_template

        template = parse_template(template)
        if not isinstance(settings, PlanSettings):
            settings = PlanSettings.from_values(settings or {})
        seeds = seeds_in_frame(seeds_node, segmentation_node)
        catalog = load_catalog(*catalog_files)
        measured = self.measurements_of(segmentation_node, seeds, segment_ids, progress)
        modality, description, spine = venogram_facts(volume_node, segmentation_node, measured)
        session = plan_veins(measured, seeds, catalog, template, settings, modality, spine)
        if self.scene_plan is not None:
            self.scene_plan.remove()
            self.scene_plan = None
        self.scene_plan = ScenePlan.add(
            self.scene,
            session,
            parent_folder_item(self.scene, segmentation_node),
            segmentation_node.GetTransformNodeID(),
        )
        self.planned = PipelineResult(
            session=session,
            measured=measured,
            origin=veins_origin(segmentation_node),
            seeds=seeds,
            modality=session.context.modality,
            description=description,
            nodes=SceneNodes(segmentation_node),
        )
        self.planned_volume = volume_node
        return self.scene_plan

    # Outputs of the plan

    def write_report(self, app_logic: Any, folder: str | Path, render: Any = True) -> Path:
        """Write the plan's files into ``folder`` as ``ivc-plan`` does (``write_output_folder``,
        without the scene file); returns the report's path. ``render``: True for the offscreen
        renderer, or a function (nodes shown, path) writing view3d.png."""
        import types

        from ..outputs import write_output_folder
        from ..stages import StageClock

        result = self._planned()
        result.nodes.plan = self.scene_plan.nodes
        result.clock = StageClock()
        # What the output folder's renderer needs of a context: the scene and application logic.
        ctx = types.SimpleNamespace(scene=self.scene, app_logic=app_logic)
        write_output_folder(ctx, result, Path(folder), scene_file=False, render=render)
        return Path(folder) / "report.html"

    def write_dicom(self, folder: str | Path, source_files: Sequence[str | Path]) -> list[Path]:
        """Write the plan as DICOM SEG and SR into ``folder``/dicom, in the study of the DICOM
        series ``source_files`` (the venogram's); returns the files written.

        :raises ImportError: when highdicom is not installed.
        :raises ValueError: for files that are not the venogram's series.
        """
        from ..outputs.dicom_export import DICOM_FOLDER, read_source_datasets, write_dicom_folder
        from .nodes import matrix_between

        result = self._planned()
        plan_to_source = None
        if self.planned_volume is not None and result.nodes.segmentation is not None:
            # The plan is in the segmentation's coordinates; the DICOM files are in the volume's.
            plan_to_source = matrix_between(result.nodes.segmentation, self.planned_volume)
        source = read_source_datasets(source_files)
        return write_dicom_folder(result, Path(folder) / DICOM_FOLDER, source, plan_to_source)

    def _planned(self) -> Any:
        if self.scene_plan is None or self.planned is None:
            raise ValueError("there is no stent plan yet: plan the stents first")
        return self.planned

    def _keep(self, node: Any, measured: VeinMeasurements, segment_ids: Any, ends: Any) -> None:
        self.cache.put(node, measured, segment_ids, ends)
        self.measured_node = node


def venogram_facts(
    volume_node: Any, segmentation_node: Any, measured: VeinMeasurements
) -> tuple[Modality, dict[str, Any], SpineFacts | None]:
    """What a plan needs from the venogram a segmentation was made on: its modality (contrast
    CT, non-contrast CT or MR, from the vein voxels' values), what the report says about it
    (sizes only: node names can hold a patient's name), and the vertebral levels and femoral
    heads found in its bone, in the veins' coordinates. Without a volume: CT, no levels."""
    description: dict[str, Any] = {"format": "3D Slicer scene"}
    if volume_node is None:
        return Modality.CT, description, None
    import numpy as np

    from ..segment import modality_of
    from ..spine.find import find_spine
    from .nodes import array_and_geometry, matrix_between

    image, ijk_to_ras = array_and_geometry(volume_node, copy=False)
    # The vein voxels are looked up in the volume through both nodes' transforms.
    veins_to_volume = matrix_between(segmentation_node, volume_node)
    veins_matrix = measured.labels_ijk_to_ras
    veins_matrix = veins_matrix if veins_to_volume is None else veins_to_volume @ veins_matrix
    modality = modality_of(image, ijk_to_ras, measured.labels, veins_matrix)
    description["size_ijk"] = list(volume_node.GetImageData().GetDimensions())
    description["spacing_mm"] = [round(x, 3) for x in volume_node.GetSpacing()]
    to_veins = ijk_to_ras if veins_to_volume is None else np.linalg.inv(veins_to_volume) @ ijk_to_ras
    spine = find_spine(image, to_veins, near=measured.tree.confluence_ras)
    return modality, description, spine

"""The one writer of an output folder (architecture section 6), for ``ivc-plan`` and the module.

From a ``pipeline.PipelineResult``: ``segmentation.seg.nrrd`` and ``veins_labels.nii.gz`` (the
veins measured), ``profile_<branch>.csv``, ``plan.json``, ``scene.mrb`` (the whole scene),
``view3d.png`` (the veins, centerlines and stents rendered) and ``report.html``; when the
input was a DICOM series (``result.dicom_files``), ``dicom/veins_seg.dcm`` and
``dicom/plan_sr.dcm`` too (``dicom_export``). The Slicer
module's *Write report* writes the same files except the scene, which *Save scene* writes.

The files are written as one set (``atomic.OutputSet``): into a temporary folder first, moved
into the output folder with a manifest (``ivc-plan-manifest.json``) only when all of them were
written, replacing the previous set as a whole. A caller that writes more files into the same
set (``ivc-plan demo``: the phantom's) passes its own ``output``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..stages import StageClock
from .atomic import OutputSet

if TYPE_CHECKING:
    from ..pipeline import PipelineResult

# Renders the given nodes into a PNG file and returns its path.
ViewRenderer = Callable[[Sequence[Any], Path], Path]

# The files of architecture section 6, as written by write_output_folder (scene.mrb and
# view3d.png only when asked for).
OUTPUT_NAMES = (
    "segmentation.seg.nrrd",
    "veins_labels.nii.gz",
    "profile_ivc.csv",
    "profile_left_iliac.csv",
    "profile_right_iliac.csv",
    "plan.json",
    "scene.mrb",
    "view3d.png",
    "report.html",
)


def offscreen_renderer(ctx: Any, size: tuple[int, int] = (800, 900)) -> ViewRenderer:
    """A renderer drawing through slicer-core's displayable managers offscreen (``scene.render``),
    framed on the nodes shown, from the front; ``ctx`` has the scene and application logic."""
    from ..scene.render import Framing, render_view, save_png

    def render(shown: Sequence[Any], path: Path) -> Path:
        framing = Framing.of_nodes(shown) if shown else None
        return save_png(render_view(ctx, shown, size, framing), path)

    return render


def write_output_folder(
    ctx: Any,
    result: PipelineResult,
    out: Path,
    *,
    clock: StageClock | None = None,
    scene_file: bool = True,
    render: bool | ViewRenderer = True,
    report: bool = True,
    output: OutputSet | None = None,
    dicom: bool = True,
) -> list[Path]:
    """Write the output files of ``result`` into ``out`` (created if needed) as one set; return
    their final paths in the order written. ``ctx`` has the ``scene`` (and ``app_logic`` for
    the offscreen renderer); ``render`` is True for the offscreen renderer, a renderer of one's
    own (the application's 3D view), or False for no view3d.png; ``dicom`` False leaves out the
    DICOM files of a DICOM input. Each group of files is a stage of ``clock`` (default: the
    result's).

    Without ``output`` the set is put in place here (``atomic.OutputSet``: nothing changes in
    ``out`` unless every file was written). With ``output`` (an ``OutputSet`` on ``out`` the
    caller has entered) the files join the caller's set, which is put in place when the caller
    leaves its block: the paths returned are where they will be then.

    :raises atomic.OutputFolderError: (a ValueError) when ``out`` cannot be written or another
        run is writing into it.
    """
    if output is None:
        with OutputSet(Path(out), command="report", expected=OUTPUT_NAMES) as own:
            _write_files(ctx, result, own, clock, scene_file, render, report, dicom)
            finals = [own.final(p) for p in result.files]  # dicom/... kept
        result.files = finals
        return result.files
    _write_files(ctx, result, output, clock, scene_file, render, report, dicom)
    result.files = [output.final(p) for p in result.files]
    return result.files


def _write_files(ctx, result, output: OutputSet, clock, scene_file, render, report, dicom=True) -> None:
    """The files of the set, written into ``output``'s temporary folder (``result.files`` lists
    them there while the report is written: it links the files beside it)."""
    from ..scene.context import save_mrb
    from ..scene.nodes import add_volume_from_array, remove_nodes, save_node
    from .profile_csv import write_profiles

    clock = clock or result.clock
    out = output.folder
    files: list[Path] = []
    scene = ctx.scene
    measured = result.measured
    saved = []  # nodes whose storage now names a temporary file: pointed at the final one below

    with clock.stage("label files"):
        if result.nodes.segmentation is not None:
            files.append(save_node(result.nodes.segmentation, out / "segmentation.seg.nrrd"))
            saved.append(result.nodes.segmentation)
        if measured.labels is not None:
            label_node = add_volume_from_array(
                scene, measured.labels, measured.labels_ijk_to_ras, "vein labels", True
            )
            try:
                files.append(save_node(label_node, out / "veins_labels.nii.gz"))
            finally:
                remove_nodes(scene, [label_node])

    with clock.stage("profiles and plan.json"):
        files += write_profiles(measured.profiles, out)
        path = out / "plan.json"
        path.write_text(json.dumps(result.plan.to_json(), indent=2) + "\n")
        files.append(path)

    if result.dicom_files and dicom:
        from .dicom_export import DICOM_FOLDER, write_dicom_folder

        with clock.stage("DICOM SEG and SR", "writing the DICOM segmentation and report"):
            files += write_dicom_folder(result, out / DICOM_FOLDER)

    if scene_file:
        with clock.stage("scene.mrb", "saving the scene"):
            files.append(save_mrb(scene, out / "scene.mrb"))

    view = None
    if render:
        renderer = offscreen_renderer(ctx) if render is True else render
        with clock.stage("3D view", "rendering the 3D view"):
            view = renderer(result.nodes.shown_in_view(), out / "view3d.png")
            files.append(view)
    if report:
        from .report import write_report

        with clock.stage("report", "writing the report"):
            files.append(out / "report.html")  # listed in itself
            result.files = files
            write_report(out / "report.html", result, view3d=view)
    result.files = files
    for node in saved:
        storage = node.GetStorageNode()
        if storage is not None and storage.GetFileName():
            storage.SetFileName(str(output.final(storage.GetFileName())))

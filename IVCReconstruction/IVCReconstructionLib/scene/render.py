"""Offscreen pictures of the MRML scene through slicer-core's own 3D displayable managers.

Headless only (ivc-plan, the tests, the screenshots): it sets the process's default OpenGL
window to EGL and adds a view node of its own. Inside the Slicer application the module
captures its existing 3D view instead (:func:`save_window_png`).

The 3D view of the report (``view3d.png``) and the extension's screenshots are drawn by the
same displayable managers that draw a Slicer 3D view (models, segmentations, markups), with
Mesa EGL and no display, so the picture shows exactly what the scene holds. Only the nodes
asked for are drawn: the others are hidden for the render and shown again afterwards, so the
scene (and a ``scene.mrb`` saved later) is unchanged apart from the view and camera nodes,
which are removed again too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BACKGROUND_TOP = (0.16, 0.17, 0.21)  # dark grey-blue gradient, like Slicer's dark view preset
BACKGROUND_BOTTOM = (0.0, 0.0, 0.0)
VIEW_ANGLE_DEG = 30.0  # Slicer's default perspective
MARGIN = 1.12  # room around the framed box

_DISPLAYABLE_MANAGERS = (
    "vtkMRMLCameraDisplayableManager",
    "vtkMRMLViewDisplayableManager",
    "vtkMRMLModelDisplayableManager",
    "vtkMRMLSegmentationsDisplayableManager3D",
    "vtkMRMLMarkupsDisplayableManager",
    "vtkMRMLOrientationMarkerDisplayableManager",
)


@dataclass
class Framing:
    """What the camera looks at: a box in RAS mm, seen from the front (anterior view)."""

    center: np.ndarray  # (3,)
    extent: np.ndarray  # (3,) size along R, A, S

    @classmethod
    def of_points(cls, points_ras: np.ndarray) -> Framing:
        p = np.asarray(points_ras, dtype=float).reshape(-1, 3)
        if len(p) == 0 or not np.all(np.isfinite(p)):
            raise ValueError("nothing to frame: the view needs at least one finite RAS point")
        low, high = p.min(axis=0), p.max(axis=0)
        return cls(center=(low + high) / 2.0, extent=np.maximum(high - low, 1.0))

    @classmethod
    def of_nodes(cls, nodes: Iterable[Any]) -> Framing:
        """The box around the nodes' RAS bounds (nodes without bounds are skipped)."""
        corners = []
        for node in nodes:
            bounds = [0.0] * 6
            node.GetRASBounds(bounds)
            if bounds[0] <= bounds[1]:
                corners += [bounds[0::2], bounds[1::2]]
        return cls.of_points(np.array(corners))


def _visibility_of(node: Any) -> list[tuple[Any, int]]:
    return [
        (node.GetNthDisplayNode(i), node.GetNthDisplayNode(i).GetVisibility())
        for i in range(node.GetNumberOfDisplayNodes())
        if node.GetNthDisplayNode(i) is not None
    ]


def _camera_node_of(scene: Any, view: Any) -> Any:
    """The camera node the camera displayable manager made for ``view``."""
    for n in range(scene.GetNumberOfNodesByClass("vtkMRMLCameraNode")):
        camera = scene.GetNthNodeByClass(n, "vtkMRMLCameraNode")
        if camera.GetLayoutName() == view.GetLayoutName():
            return camera
    raise RuntimeError("the camera displayable manager created no camera node")


def render_view(
    ctx: Any,
    show: Iterable[Any],
    size: tuple[int, int] = (800, 900),
    framing: Framing | None = None,
) -> np.ndarray:
    """Render the displayable nodes ``show`` from the front; (H, W, 3) uint8 RGB.

    ``ctx`` is a ``scene.MRMLContext``. Segmentations among ``show`` get their closed surface
    made if they have none (Slicer's "Show 3D" does the same). ``framing`` defaults to the
    bounds of the shown nodes. The patient's right is on the image's left, head up, as in
    Slicer's anterior view.
    """
    # EGL renders offscreen without X; the VTK wheel would otherwise try X first and warn.
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import slicer

    # Imported for their object-factory overrides: the OpenGL render window and text.
    from vtkmodules import vtkRenderingFreeType, vtkRenderingOpenGL2  # noqa: F401
    from vtkmodules.vtkRenderingCore import (
        vtkRenderer,
        vtkRenderWindow,
        vtkRenderWindowInteractor,
        vtkWindowToImageFilter,
    )

    scene = ctx.scene
    shown = [node for node in show if node is not None]
    if not shown:
        raise ValueError("nothing to render: give at least one model, segmentation or markups node")
    for node in shown:
        if node.IsA("vtkMRMLSegmentationNode") and not node.GetSegmentation().ContainsRepresentation(
            "Closed surface"
        ):
            node.CreateClosedSurfaceRepresentation()
    framing = framing or Framing.of_nodes(shown)

    keep = {node.GetID() for node in shown}
    saved: list[tuple[Any, int]] = []
    for n in range(scene.GetNumberOfNodesByClass("vtkMRMLDisplayableNode")):
        node = scene.GetNthNodeByClass(n, "vtkMRMLDisplayableNode")
        if node.GetID() not in keep:
            saved += _visibility_of(node)
    made: list[Any] = []
    window = None
    group = None
    try:
        for display, _ in saved:
            display.SetVisibility(False)
        view = scene.AddNewNodeByClass("vtkMRMLViewNode")
        made.append(view)
        view.SetLayoutName("offscreen")
        view.SetBackgroundColor(*BACKGROUND_BOTTOM)
        view.SetBackgroundColor2(*BACKGROUND_TOP)
        view.SetBoxVisible(False)
        view.SetAxisLabelsVisible(False)
        # Slicer's axes marker says which way the patient faces. Headless, the cube marker is
        # drawn flat and the human figure not at all.
        view.SetOrientationMarkerType(slicer.vtkMRMLViewNode.OrientationMarkerTypeAxes)
        view.SetOrientationMarkerSize(slicer.vtkMRMLViewNode.OrientationMarkerSizeSmall)

        window = vtkRenderWindow()
        window.SetOffScreenRendering(1)
        window.SetSize(*size)
        # Mesa llvmpipe with multisampling and depth peeling drops translucent actors.
        window.SetMultiSamples(0)
        renderer = vtkRenderer()
        renderer.DitherGradientOff()  # dithering adds noise and ~200 kB to the PNG
        window.AddRenderer(renderer)
        # InstantiateDisplayableManagers dereferences the window's interactor: without one it
        # segfaults. The interactor is never started.
        interactor = vtkRenderWindowInteractor()
        interactor.SetRenderWindow(window)

        factory = slicer.vtkMRMLThreeDViewDisplayableManagerFactory.GetInstance()
        factory.SetMRMLApplicationLogic(ctx.app_logic)
        for name in _DISPLAYABLE_MANAGERS:
            if not factory.IsDisplayableManagerRegistered(name):
                factory.RegisterDisplayableManager(name)
        group = factory.InstantiateDisplayableManagers(renderer)
        group.SetMRMLDisplayableNode(view)

        # The camera displayable manager copies its camera node onto the vtkCamera at every
        # render, so the view is set on the node.
        camera = _camera_node_of(scene, view)
        made.append(camera)
        width, height = size
        half = 0.5 * MARGIN * max(framing.extent[2], framing.extent[0] * height / width)
        distance = half / np.tan(np.radians(VIEW_ANGLE_DEG / 2.0)) + framing.extent[1] / 2.0
        c = framing.center
        camera.SetViewAngle(VIEW_ANGLE_DEG)
        camera.SetFocalPoint(*c)
        camera.SetPosition(c[0], c[1] + distance, c[2])  # in front of the patient, looking back
        camera.SetViewUp(0.0, 0.0, 1.0)
        renderer.ResetCameraClippingRange()
        window.Render()

        grab = vtkWindowToImageFilter()
        grab.SetInput(window)
        grab.ReadFrontBufferOff()
        grab.Update()
        image = grab.GetOutput()
        w, h, _ = image.GetDimensions()
        scalars = image.GetPointData().GetScalars()
        rgb = np.asarray(scalars).reshape(h, w, scalars.GetNumberOfComponents())[:, :, :3]
        return np.ascontiguousarray(rgb[::-1])  # VTK images start at the bottom row
    finally:
        if group is not None:
            group.SetMRMLDisplayableNode(None)
        if window is not None:
            window.Finalize()
        for display, visible in saved:
            display.SetVisibility(visible)
        for node in made:
            if node.GetScene() is scene:
                scene.RemoveNode(node)


def save_png(rgb: np.ndarray, path: str | Path) -> Path:
    """Write an (H, W, 3) uint8 picture as PNG."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(path, optimize=True)
    return path


def save_window_png(render_window: Any, path: str | Path) -> Path:
    """Write what a render window shows (e.g. the Slicer application's 3D view) as a PNG."""
    from vtkmodules.vtkIOImage import vtkPNGWriter
    from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

    render_window.Render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(render_window)
    grab.Update()
    writer = vtkPNGWriter()
    writer.SetInputConnection(grab.GetOutputPort())
    writer.SetFileName(str(path))
    writer.Write()
    return Path(path)


def view_renderer(app: Any) -> Any:
    """What writes view3d.png: in the Slicer application (``app``, ``slicer.app``, with a 3D
    view) a function (nodes shown, path) saving the first 3D view as the user sees it, since
    rendering offscreen there would add a view node and its own render window; headless (an
    application object without a layout manager, or no 3D view) True: the offscreen renderer."""
    layout_manager = getattr(app, "layoutManager", lambda: None)()
    if layout_manager is None or layout_manager.threeDViewCount == 0:
        return True

    def capture(shown: Any, path: str | Path) -> Path:
        return save_window_png(layout_manager.threeDWidget(0).threeDView().renderWindow(), path)

    return capture

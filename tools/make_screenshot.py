"""Render the extension's screenshot (Resources/Screenshots/IVCReconstruction-1.png).

The Extensions Index shows this picture next to the extension (EXTENSION_SCREENSHOTURLS in
CMakeLists.txt). It is computed from the project's own code rather than grabbed from a Slicer
window, so anyone can regenerate it after the phantom or the display defaults change, and it shows
exactly what the module puts in the scene:

    .venv/bin/python tools/make_screenshot.py

The May-Thurner phantom (left common iliac vein compressed to 25 % of its area where the right
common iliac artery crosses it) goes into a headless MRML scene through ``mrml.add_phantom_to_scene``
and is drawn by slicer-core's own 3D displayable managers (the ones behind a Slicer 3D view), offscreen
with Mesa EGL. The right-hand panel is a coronal maximum-intensity projection of the phantom CT, the
view a clinician reads a venogram in. No display, no Slicer application; about 10 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "Resources" / "Screenshots" / "IVCReconstruction-1.png"

VIEW_SIZE = (700, 800)  # 3D view panel (width, height) in pixels
MIP_WIDTH = 500  # coronal MIP panel width; its height is the view's (the phantom is 201 x 321 mm)

# Display of the truth segments in the 3D view: segment ID -> (visible, 3D opacity).
# Veins are slightly translucent so the centerlines and seeds inside them show; bone is kept
# faint because the sacrum and lumbar spine sit right behind the confluence in a frontal view;
# bowel lies in front of everything and is hidden, as one would do in Slicer.
SEGMENT_DISPLAY = {
    "inferior_vena_cava": (True, 0.55),
    "iliac_vena_left": (True, 0.55),
    "iliac_vena_right": (True, 0.55),
    "other_veins": (True, 0.6),
    "arteries": (True, 0.85),
    "kidneys": (True, 0.9),
    "bowel": (False, 0.0),
    "bone": (True, 0.3),
}

CENTERLINE_COLOR = (1.0, 0.85, 0.10)  # yellow reads well on blue, red and black
SEED_COLOR = (0.20, 0.95, 0.35)
BACKGROUND_TOP = (0.16, 0.17, 0.21)  # dark grey-blue gradient, like Slicer's dark view preset
BACKGROUND_BOTTOM = (0.0, 0.0, 0.0)

# Coronal MIP: CT window (HU). The slab spans the veins front to back, which keeps the lumbar
# vertebral bodies (behind the IVC) out of the projection.
MIP_WINDOW = (-150.0, 350.0)


@dataclass
class Framing:
    """Where the camera looks: the centre and the extent (RAS mm) of the vein segments."""

    center: np.ndarray
    extent: np.ndarray  # (3,) size along R, A, S


def _ensure_imports() -> None:
    """Make ``IVCReconstructionLib`` importable also when the project is not pip-installed."""
    try:
        import IVCReconstructionLib  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO / "IVCReconstruction"))


def build_scene(area_ratio: float) -> tuple[Any, Any, Any]:
    """The May-Thurner phantom in a headless scene: (context, phantom, PhantomNodes)."""
    from IVCReconstructionLib import mrml
    from IVCReconstructionLib.phantom import PhantomOptions, make_phantom
    from IVCReconstructionLib.scene import create_scene

    phantom = make_phantom(PhantomOptions(may_thurner_area_ratio=area_ratio))
    ctx = create_scene()
    nodes = mrml.add_phantom_to_scene(ctx.scene, phantom)
    return ctx, phantom, nodes


def style_scene(nodes: Any) -> None:
    """Set segment, centerline and seed display as a user would before taking a screenshot."""
    segmentation = nodes.segmentation
    # The 3D displayable manager only draws what exists; headless nobody else asks for the
    # closed surface (in Slicer the "Show 3D" button does), so create it explicitly.
    if not segmentation.CreateClosedSurfaceRepresentation():
        raise RuntimeError("closed surface conversion failed (segmentations logic not wired to the scene?)")
    display = segmentation.GetDisplayNode()
    present = set(segmentation.GetSegmentation().GetSegmentIDs())
    for segment_id, (visible, opacity) in SEGMENT_DISPLAY.items():
        if segment_id in present:
            display.SetSegmentVisibility(segment_id, visible)
            display.SetSegmentOpacity3D(segment_id, opacity)

    import slicer

    markups_display = slicer.vtkMRMLMarkupsDisplayNode
    for curve in nodes.centerlines.values():
        d = curve.GetDisplayNode()
        # Markups are "selected" by default and then drawn in SelectedColor, so set both.
        d.SetColor(*CENTERLINE_COLOR)
        d.SetSelectedColor(*CENTERLINE_COLOR)
        # A truth centerline has a control point every millimetre; with the default glyph size
        # the spheres bulge out of the line and speckle it. Absolute sizes (mm) keep the glyphs
        # inside the line whatever the zoom.
        d.SetCurveLineSizeMode(markups_display.UseLineDiameter)
        d.SetLineDiameter(2.5)
        d.SetUseGlyphScale(False)
        d.SetGlyphSize(0.5)
        d.SetPointLabelsVisibility(False)
        d.SetPropertiesLabelVisibility(False)
        d.SetOccludedVisibility(True)
        d.SetOccludedOpacity(0.6)

    d = nodes.seeds.GetDisplayNode()
    d.SetColor(*SEED_COLOR)
    d.SetSelectedColor(*SEED_COLOR)
    d.SetUseGlyphScale(False)
    d.SetGlyphSize(9.0)
    d.SetTextScale(3.5)
    d.SetPointLabelsVisibility(True)
    d.SetPropertiesLabelVisibility(False)
    # Seeds sit inside the vein lumen; show them through the vein wall.
    d.SetOccludedVisibility(True)
    d.SetOccludedOpacity(0.8)


def vein_framing(phantom: Any) -> Framing:
    """Centre and extent of the vein segments (labels 1..3) in RAS, from the truth label map."""
    kji = np.argwhere((phantom.labels >= 1) & (phantom.labels <= 3))
    ras = kji[:, ::-1] @ phantom.ijk_to_ras[:3, :3].T + phantom.ijk_to_ras[:3, 3]
    low, high = ras.min(axis=0), ras.max(axis=0)
    return Framing(center=(low + high) / 2.0, extent=high - low)


def render_3d(ctx: Any, framing: Framing, size: tuple[int, int]) -> np.ndarray:
    """Render the scene through slicer-core's 3D displayable managers; (H, W, 3) uint8 RGB."""
    import slicer

    # Imported for their object-factory overrides: the OpenGL render window and text rendering
    # (seed labels, orientation marker letters).
    from vtkmodules import vtkRenderingFreeType, vtkRenderingOpenGL2  # noqa: F401
    from vtkmodules.vtkRenderingCore import (
        vtkRenderer,
        vtkRenderWindow,
        vtkRenderWindowInteractor,
        vtkWindowToImageFilter,
    )

    scene = ctx.scene
    view = scene.AddNewNodeByClass("vtkMRMLViewNode")
    view.SetLayoutName("1")
    view.SetLayoutLabel("1")
    view.SetBackgroundColor(*BACKGROUND_BOTTOM)
    view.SetBackgroundColor2(*BACKGROUND_TOP)
    view.SetBoxVisible(False)
    view.SetAxisLabelsVisible(False)
    # Slicer's axes marker says which way the patient faces. Headless, the cube marker comes out
    # as a flat unlit square and the human figure does not appear at all.
    view.SetOrientationMarkerType(slicer.vtkMRMLViewNode.OrientationMarkerTypeAxes)
    view.SetOrientationMarkerSize(slicer.vtkMRMLViewNode.OrientationMarkerSizeSmall)

    window = vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetSize(*size)
    # Mesa llvmpipe with multisampling and depth peeling drops translucent actors entirely
    # (feasibility notes, section 3); without multisampling depth peeling works.
    window.SetMultiSamples(0)
    renderer = vtkRenderer()
    # VTK dithers gradient backgrounds with per-pixel noise, which adds ~200 kB to the PNG; this
    # dark gradient shows no banding without it.
    renderer.DitherGradientOff()
    window.AddRenderer(renderer)
    # InstantiateDisplayableManagers dereferences the window's interactor: without one it
    # segfaults. The interactor is never started.
    interactor = vtkRenderWindowInteractor()
    interactor.SetRenderWindow(window)

    factory = slicer.vtkMRMLThreeDViewDisplayableManagerFactory.GetInstance()
    factory.SetMRMLApplicationLogic(ctx.app_logic)
    for name in (
        "vtkMRMLCameraDisplayableManager",
        "vtkMRMLViewDisplayableManager",
        "vtkMRMLModelDisplayableManager",
        "vtkMRMLSegmentationsDisplayableManager3D",
        "vtkMRMLMarkupsDisplayableManager",
        "vtkMRMLOrientationMarkerDisplayableManager",
    ):
        if not factory.IsDisplayableManagerRegistered(name):
            factory.RegisterDisplayableManager(name)
    group = factory.InstantiateDisplayableManagers(renderer)
    group.SetMRMLDisplayableNode(view)

    # The camera displayable manager copies its vtkMRMLCameraNode onto the vtkCamera at every
    # render, so the view direction is set on the node (setting the vtkCamera is undone).
    camera = _camera_node_of(scene, view)
    width, height = size
    view_angle = 30.0  # Slicer's default perspective
    margin = 1.12
    # Distance at which the veins' height (S) and width (R) both fit the view.
    half = 0.5 * margin * max(framing.extent[2], framing.extent[0] * height / width)
    distance = half / np.tan(np.radians(view_angle / 2.0))
    center = framing.center
    camera.SetViewAngle(view_angle)
    camera.SetFocalPoint(*center)
    # Anterior view: the camera is in front of the patient (+A) looking back, head up (+S);
    # the patient's right is on the image's left, as in Slicer's "A" view.
    camera.SetPosition(center[0], center[1] + distance, center[2])
    camera.SetViewUp(0.0, 0.0, 1.0)
    renderer.ResetCameraClippingRange()
    window.Render()

    grab = vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.ReadFrontBufferOff()
    grab.Update()
    image = grab.GetOutput()
    w, h, _ = image.GetDimensions()
    components = image.GetPointData().GetScalars().GetNumberOfComponents()
    rgb = np.asarray(image.GetPointData().GetScalars()).reshape(h, w, components)[:, :, :3]
    # VTK images start at the bottom row.
    result = np.ascontiguousarray(rgb[::-1])
    group.SetMRMLDisplayableNode(None)
    window.Finalize()
    return result


def _camera_node_of(scene: Any, view: Any) -> Any:
    """The camera node the camera displayable manager made for ``view``."""
    for n in range(scene.GetNumberOfNodesByClass("vtkMRMLCameraNode")):
        camera = scene.GetNthNodeByClass(n, "vtkMRMLCameraNode")
        if camera.GetLayoutName() == view.GetLayoutName():
            return camera
    raise RuntimeError("the camera displayable manager created no camera node")


def coronal_mip(phantom: Any, framing: Framing, height: int, width: int) -> tuple[np.ndarray, float]:
    """Coronal maximum-intensity projection through the veins: ((H, W, 3) uint8, slab mm).

    The phantom's voxel axes are the RAS axes (diagonal ijk_to_ras), so a coronal projection is
    a maximum over the j (A-P) axis of the ``[k, j, i]`` array; no resampling is needed.
    """
    m = phantom.ijk_to_ras
    if not np.allclose(m[:3, :3], np.diag(np.diag(m[:3, :3]))):
        raise ValueError("coronal_mip expects a volume whose voxel axes are the RAS axes")
    # RAS A coordinate of every voxel row j; keep the rows within the veins' front-to-back extent.
    a = m[1, 1] * np.arange(phantom.image.shape[1]) + m[1, 3]
    half = framing.extent[1] / 2.0
    # A millimetre less on each side: the vertebral bodies touch the back of the iliac veins.
    rows = np.abs(a - framing.center[1]) <= half - 1.0
    mip = phantom.image[:, rows, :].max(axis=1).astype(np.float32)  # (k, i)
    low, high = MIP_WINDOW
    grey = np.clip((mip - low) / (high - low), 0.0, 1.0)
    # Radiological convention as in Slicer's coronal view: patient's right (+R) on the image's
    # left, head (+S) up. Row 0 of an image is its top, so k (towards +S) is flipped; i runs
    # towards -R here (negative m[0, 0]), which already puts the patient's right on the left.
    if m[0, 0] > 0:
        grey = grey[:, ::-1]
    if m[2, 2] > 0:
        grey = grey[::-1]
    spacing = np.abs(np.diag(m[:3, :3]))
    pil = Image.fromarray((grey * 255).astype(np.uint8), mode="L")
    # Scale to fit the panel with square millimetres (R spacing across, S spacing down).
    width_mm, height_mm = pil.width * spacing[0], pil.height * spacing[2]
    scale = min(height / height_mm, width / width_mm)
    size = (round(width_mm * scale), round(height_mm * scale))
    pil = pil.resize(size, Image.Resampling.BICUBIC)  # smooth, like Slicer's interpolated slices
    panel = Image.new("L", (width, height), 0)
    panel.paste(pil, ((width - pil.width) // 2, (height - pil.height) // 2))
    return np.stack([np.asarray(panel)] * 3, axis=-1), float(np.count_nonzero(rows) * spacing[1])


def compose(view_rgb: np.ndarray, mip_rgb: np.ndarray, slab_mm: float) -> Image.Image:
    """Both panels side by side with short captions, like a Slicer 3D + coronal layout."""
    height, view_width = view_rgb.shape[:2]
    gap = 4  # Slicer separates views by a thin grey frame
    canvas = Image.new("RGB", (view_width + gap + mip_rgb.shape[1], height), (70, 70, 70))
    canvas.paste(Image.fromarray(view_rgb), (0, 0))
    canvas.paste(Image.fromarray(mip_rgb), (view_width + gap, 0))
    draw = ImageDraw.Draw(canvas, "RGBA")
    font = ImageFont.load_default(size=17)
    captions = (
        (0, "3D view: truth segmentation, centerlines, seeds"),
        (view_width + gap, f"CT venogram, coronal MIP ({slab_mm:.0f} mm slab)"),
    )
    for x, text in captions:
        # A dark backdrop keeps the caption readable over bright anatomy.
        left, top, right, bottom = draw.textbbox((x + 12, 10), text, font=font)
        draw.rectangle((left - 6, top - 4, right + 6, bottom + 5), fill=(0, 0, 0, 150))
        draw.text((x + 12, 10), text, fill=(235, 235, 235), font=font)
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUTPUT, help=f"PNG to write (default {OUTPUT})")
    parser.add_argument("--area-ratio", type=float, default=0.25, help="May-Thurner residual area ratio")
    args = parser.parse_args(argv)

    # EGL renders offscreen without X; the wheel would otherwise try X first and print a warning.
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    _ensure_imports()
    start = time.perf_counter()
    ctx, phantom, nodes = build_scene(args.area_ratio)
    try:
        style_scene(nodes)
        framing = vein_framing(phantom)
        view_rgb = render_3d(ctx, framing, VIEW_SIZE)
    finally:
        ctx.close()
    mip_rgb, slab_mm = coronal_mip(phantom, framing, VIEW_SIZE[1], MIP_WIDTH)
    picture = compose(view_rgb, mip_rgb, slab_mm)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out, optimize=True)
    elapsed = time.perf_counter() - start
    size_kb = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({picture.width}x{picture.height}, {size_kb:.0f} kB) in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

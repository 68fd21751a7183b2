"""Render the extension's screenshots (Resources/Screenshots/IVCReconstruction-1.png and -2.png).

The Extensions Index shows these pictures next to the extension (EXTENSION_SCREENSHOTURLS in
CMakeLists.txt). They are computed by the project's own code rather than grabbed from a Slicer
window, so anyone can regenerate them, and they show exactly what the module puts in the scene:

    .venv/bin/python tools/make_screenshot.py

The demo's case, a post-thrombotic phantom (40 mm IVC occlusion, both common iliac veins
narrowed to a quarter of their area) at 1 mm, goes through the whole pipeline
(``pipeline.run_pipeline``: seeded segmentation, centerlines, findings, stent plan) in a
headless MRML scene, planned as a double barrel (the built-in catalogue cannot deploy an
inverted-Y here, so the automatic plan is "none"). Picture 1: the vein surface, centerlines
and the stents drawn by slicer-core's own 3D displayable managers (``render.render_view``,
offscreen with Mesa EGL) next to a coronal maximum-intensity projection of the phantom CT,
the view a clinician reads a venogram in. Picture 2: the report's diameter profiles of the
three veins with lesions, landmarks and stent extents. No display, no Slicer application;
about 20 s.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "Resources" / "Screenshots"

VIEW_SIZE = (700, 800)  # 3D view panel (width, height) in pixels
MIP_WIDTH = 500  # coronal MIP panel width; its height is the view's (the phantom is 201 x 321 mm)

# Coronal MIP: CT window (HU). The slab spans the veins front to back, which keeps the lumbar
# vertebral bodies (behind the IVC) out of the projection.
MIP_WINDOW = (-150.0, 350.0)


def _ensure_imports() -> None:
    """Make ``IVCReconstructionLib`` importable also when the project is not pip-installed."""
    try:
        import IVCReconstructionLib  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO / "IVCReconstruction"))


def coronal_mip(phantom: Any, framing: Any, height: int, width: int) -> tuple[np.ndarray, float]:
    """Coronal maximum-intensity projection through the veins: ((H, W, 3) uint8, slab mm).
    ``framing`` is a ``render.Framing`` (centre and extent of the veins, RAS mm).

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
        (0, "3D view: veins, centerlines, double-barrel stent plan"),
        (view_width + gap, f"CT venogram, coronal MIP ({slab_mm:.0f} mm slab)"),
    )
    for x, text in captions:
        # A dark backdrop keeps the caption readable over bright anatomy.
        left, top, right, bottom = draw.textbbox((x + 12, 10), text, font=font)
        draw.rectangle((left - 6, top - 4, right + 6, bottom + 5), fill=(0, 0, 0, 150))
        draw.text((x + 12, 10), text, fill=(235, 235, 235), font=font)
    return canvas


def plan_demo(work: Path) -> tuple[Any, Any, Any]:
    """The demo's post-thrombotic phantom through the whole pipeline: (context, phantom, result)."""
    from IVCReconstructionLib.inputs import as_seed_points
    from IVCReconstructionLib.phantom import PhantomOptions, make_phantom
    from IVCReconstructionLib.pipeline import PipelineInput, run_pipeline
    from IVCReconstructionLib.plan.catalog import load_catalog
    from IVCReconstructionLib.scene.context import create_scene

    phantom = make_phantom(PhantomOptions(ivc_occlusion_length_mm=40.0, bilateral_iliac_area_ratio=0.25))
    ctx = create_scene()
    from IVCReconstructionLib.scene import add_phantom_to_scene

    nodes = add_phantom_to_scene(ctx.scene, phantom)
    seeds = dict(phantom.seeds, Renal=phantom.renal_inflow_ras)
    case = PipelineInput(
        nodes.volume, phantom.image, phantom.ijk_to_ras, {"format": "phantom"}, as_seed_points(seeds)
    )
    # The built-in catalogue has no sized open-cell IVC stent, so its automatic plan for this case is
    # "none" (docs/planning.md); the picture shows the construct it can deploy: a double barrel.
    result = run_pipeline(
        ctx, case, work, catalog=load_catalog(), template="double-barrel", render=False, report=False
    )
    return ctx, phantom, result


def profiles_picture(result: Any) -> Image.Image:
    """The report's diameter profile of each vein (its SVG, rasterized), stacked."""
    try:
        import cairosvg
    except ImportError:
        raise SystemExit(
            "the profile picture rasterizes the report's SVG with cairosvg: .venv/bin/pip install cairosvg"
        ) from None
    from IVCReconstructionLib.outputs.profile_plot import branch_profile_svg

    panels = []
    for profile in result.measured.profiles.values():
        svg = branch_profile_svg(profile, result.session.context.findings, result.plan)
        png = cairosvg.svg2png(bytestring=svg.encode("utf-8"), background_color="white")
        panels.append(Image.open(io.BytesIO(png)).convert("RGB"))
    canvas = Image.new("RGB", (max(p.width for p in panels), sum(p.height for p in panels)), "white")
    y = 0
    for panel in panels:
        canvas.paste(panel, (0, y))
        y += panel.height
    return canvas


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUTPUT, help=f"folder to write to (default {OUTPUT})")
    args = parser.parse_args(argv)

    _ensure_imports()
    from IVCReconstructionLib.scene.render import Framing, render_view

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        ctx, phantom, result = plan_demo(Path(work))
        try:
            shown = result.nodes.shown_in_view()
            framing = Framing.of_nodes(shown)
            view_rgb = render_view(ctx, shown, VIEW_SIZE, framing)
        finally:
            ctx.close()
    mip_rgb, slab_mm = coronal_mip(phantom, framing, VIEW_SIZE[1], MIP_WIDTH)
    args.out.mkdir(parents=True, exist_ok=True)
    pictures = {
        "IVCReconstruction-1.png": compose(view_rgb, mip_rgb, slab_mm),
        "IVCReconstruction-2.png": profiles_picture(result),
    }
    for name, picture in pictures.items():
        path = args.out / name
        picture.save(path, optimize=True)
        print(f"wrote {path} ({picture.width}x{picture.height}, {path.stat().st_size / 1024:.0f} kB)")
    print(f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Draw the extension and module icons: an inverted Y of veins with a stent lattice.

The IVC trunk comes down from the top and splits into the two iliac limbs; an inverted-Y stent
(orange struts, grey end rings) lines the lower trunk and the upper limbs. The drawing is
computed, not hand-painted, so it is reproducible and scales to any size:

    .venv/bin/python tools/make_icons.py

writes Resources/IVCReconstruction.png (128x128, the extension icon the Extensions Index asks
for) and IVCReconstruction/Resources/Icons/IVCReconstruction.png (64x64, the module icon).
Needs numpy and pillow (both in requirements.txt).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
OUTPUTS = {
    REPO / "Resources" / "IVCReconstruction.png": 128,
    REPO / "IVCReconstruction" / "Resources" / "Icons" / "IVCReconstruction.png": 64,
}

SUPERSAMPLING = 4  # drawn at 4x and averaged down, for smooth edges

# Colours (RGB 0..255)
VEIN_DARK = np.array([18, 52, 128])
VEIN_MID = np.array([38, 104, 214])
VEIN_LIGHT = np.array([150, 200, 255])
OUTLINE = np.array([12, 32, 86])
STRUT = np.array([245, 140, 30])
STRUT_SHADOW = np.array([120, 60, 10])
RING = np.array([150, 156, 166])


@dataclass
class Segment:
    """A straight vein piece in unit coordinates (x right, y down), with radii at both ends."""

    start: tuple[float, float]
    end: tuple[float, float]
    radius_start: float
    radius_end: float
    arc_offset: float  # arc length at ``start``, measured from the confluence


# The inverted Y: IVC from the top down to the confluence, iliac limbs from it down and out.
CONFLUENCE = (0.5, 0.52)
SEGMENTS = [
    Segment((0.5, 0.15), CONFLUENCE, 0.125, 0.135, -0.37),
    Segment(CONFLUENCE, (0.235, 0.87), 0.10, 0.09, 0.0),
    Segment(CONFLUENCE, (0.765, 0.87), 0.10, 0.09, 0.0),
]
# Stent coverage in arc length from the confluence: up the IVC, down each limb.
STENT_IVC = (-0.25, 0.0)
STENT_LIMB = (0.0, 0.32)


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: a union of two distance fields with a rounded crotch."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def render(size: int) -> Image.Image:
    n = size * SUPERSAMPLING
    coords = (np.arange(n) + 0.5) / n
    x, y = np.meshgrid(coords, coords)
    pixel = 1.0 / size  # one output pixel in unit coordinates

    field = np.full((n, n), np.inf)
    nearest = np.full((n, n), np.inf)
    across = np.zeros((n, n))  # signed distance from the nearest axis, / local radius
    arc = np.zeros((n, n))  # arc length from the confluence along the nearest axis
    radius = np.zeros((n, n))
    owner = np.zeros((n, n), dtype=int)
    for index, seg in enumerate(SEGMENTS):
        p0, p1 = np.array(seg.start), np.array(seg.end)
        axis = p1 - p0
        length = float(np.linalg.norm(axis))
        direction = axis / length
        normal = np.array([-direction[1], direction[0]])
        t = np.clip(((x - p0[0]) * direction[0] + (y - p0[1]) * direction[1]) / length, 0.0, 1.0)
        cx, cy = p0[0] + t * axis[0], p0[1] + t * axis[1]
        r = seg.radius_start + t * (seg.radius_end - seg.radius_start)
        dist_axis = np.hypot(x - cx, y - cy)
        d = dist_axis - r
        field = smooth_min(field, d, 0.06) if np.isfinite(field).any() else d
        closer = d < nearest
        # Only the offset perpendicular to the axis: on the rounded end caps this continues the
        # tube shading instead of making a seam along the axis.
        offset = (x - cx) * normal[0] + (y - cy) * normal[1]
        across = np.where(closer, offset / r, across)
        arc = np.where(closer, seg.arc_offset + t * length, arc)
        radius = np.where(closer, r, radius)
        owner = np.where(closer, index, owner)
        nearest = np.minimum(nearest, d)

    inside = field < 0
    # Tube shading: surface normal from the position across the vein, lit from the upper left.
    u = np.clip(across, -1.0, 1.0)
    nz = np.sqrt(np.clip(1 - u**2, 0, 1))
    light = np.clip(0.55 * nz - 0.45 * u, 0, 1)  # lambert-ish with the light on the -u side
    specular = np.exp(-(((u + 0.45) / 0.18) ** 2)) * 0.55
    base = VEIN_DARK + (VEIN_MID - VEIN_DARK) * light[..., None]
    color = base + (VEIN_LIGHT - base) * specular[..., None]

    # Stent: struts follow a diamond lattice wrapped around the tube (angle around the axis).
    theta = np.arcsin(u) / np.pi  # -0.5..0.5 across the visible half
    cells_around = 3 if size >= 96 else 2
    cell_length = 0.10 if size >= 96 else 0.15
    phase_a = arc / cell_length + theta * cells_around
    phase_b = arc / cell_length - theta * cells_around
    strut_width = max(0.055, 1.1 * pixel / cell_length)
    on_strut = np.minimum(np.abs(phase_a - np.round(phase_a)), np.abs(phase_b - np.round(phase_b)))
    is_ivc = owner == 0
    covered = np.where(
        is_ivc,
        (arc >= STENT_IVC[0]) & (arc <= STENT_IVC[1]),
        (arc >= STENT_LIMB[0]) & (arc <= STENT_LIMB[1]),
    )
    covered &= np.abs(across) < 0.97
    strut = covered & (on_strut < strut_width)
    shadow = covered & ~strut & (on_strut < strut_width * 2.0)
    # Grey rings at the stent ends (the radiopaque markers of a real stent).
    ring_half_width = max(0.012, 0.9 * pixel)
    ends = np.where(is_ivc, STENT_IVC[0], STENT_LIMB[1])
    ring = (np.abs(arc - ends) < ring_half_width) & (np.abs(across) < 0.97)

    strut_color = STRUT * (0.55 + 0.45 * nz[..., None]) + 255 * 0.25 * specular[..., None]
    color = np.where(shadow[..., None], color * 0.6 + STRUT_SHADOW * 0.4, color)
    color = np.where(strut[..., None], np.clip(strut_color, 0, 255), color)
    color = np.where(ring[..., None], RING * (0.6 + 0.4 * nz[..., None]), color)

    # Dark outline just inside the edge.
    outline_width = max(0.014, 1.2 * pixel)
    color = np.where((inside & (field > -outline_width))[..., None], OUTLINE, color)

    alpha = inside.astype(float)
    rgba = np.concatenate([color * alpha[..., None], alpha[..., None] * 255], axis=-1)
    # Average each SUPERSAMPLING x SUPERSAMPLING block (premultiplied alpha), then un-premultiply.
    blocks = rgba.reshape(size, SUPERSAMPLING, size, SUPERSAMPLING, 4).mean(axis=(1, 3))
    a = blocks[..., 3:4]
    rgb = np.where(a > 0, blocks[..., :3] / np.maximum(a, 1e-9) * 255, 0)
    out = np.concatenate([rgb, a], axis=-1)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode="RGBA")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preview", type=Path, help="also write a 4x enlarged preview on grey here")
    args = parser.parse_args()
    for path, size in OUTPUTS.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        image = render(size)
        # optimize=False and no metadata: the bytes depend only on the drawing.
        image.save(path, format="PNG", optimize=False)
        print(f"wrote {path.relative_to(REPO)} ({size}x{size})")
    if args.preview:
        tiles = []
        for size in OUTPUTS.values():
            image = render(size)
            for background in ((255, 255, 255, 255), (60, 60, 60, 255)):
                canvas = Image.new("RGBA", image.size, background)
                canvas.alpha_composite(image)
                tiles.append(canvas.resize((256, 256), Image.Resampling.NEAREST))
        preview = Image.new("RGBA", (256 * len(tiles), 256), (255, 255, 255, 255))
        for index, tile in enumerate(tiles):
            preview.paste(tile, (256 * index, 0))
        preview.save(args.preview)
        print(f"wrote {args.preview}")


if __name__ == "__main__":
    main()

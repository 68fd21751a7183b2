"""What the scan adds to the anatomy: the veins' enhancement, the scanner's blur, thick slices
and noise.

The default phantom has even enhancement, sharp edges (the one-voxel partial-volume ramp),
slices sampled at their centre and CT-like noise (``ct_noise``). The harder venograms of issue
12 (docs/phantom.md, *Harder venograms*) add enhancement that falls towards the legs and a
less-enhanced left inflow layering along the IVC (``vein_enhancement``), a Gaussian
point-spread function (``blur``), thick slices integrated from thin sub-slices
(``render_grid``, ``integrate_slices``), and white or Gaussian-correlated noise
(``correlated_noise``). None of them changes the truth.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .shapes import Canvas, Grid

if TYPE_CHECKING:
    from .anatomy import Anatomy, Vein
    from .options import PhantomOptions

# Over this distance above the confluence the left iliac inflow layers along the IVC's left wall.
INFLOW_LAYER_MM = 60.0


def vein_enhancement(
    canvas: Canvas, blk, d, which, names: list[str], veins: dict[str, Vein], an: Anatomy, opts: PhantomOptions
) -> np.ndarray:
    """Per-voxel enhancement of the vein lumen on a block (``d``, ``which`` from
    ``Canvas.distance`` over the tubes of the veins ``names``): ``vein_hu`` at and above the renal
    veins, falling by up to ``enhancement_gradient_hu`` down to the distal iliac veins; the left
    iliac inflow ``inflow_mixing_hu`` darker, layered along the IVC's left wall (fading over
    INFLOW_LAYER_MM)."""
    from scipy.spatial import cKDTree

    value = np.full(d.shape, an.vein_hu, dtype=np.float32)
    near = d <= canvas.h
    pts = canvas.grid.points(blk)[near.ravel()]
    owner = which[near]
    out = np.full(len(pts), an.vein_hu, dtype=np.float32)
    norm = an.renal_level + 200.0
    for n, name in enumerate(names):
        sel = owner == n
        if not sel.any():
            continue
        v = veins[name]
        _, idx = cKDTree(v.tube.points).query(pts[sel], workers=-1)
        s = v.s[idx]
        below = np.maximum(an.renal_level - s, 0.0) if name == "ivc" else an.renal_level + s
        hu = an.vein_hu - opts.enhancement_gradient_hu * np.clip(below / norm, 0.0, 1.0)
        if name == "left_iliac":
            hu -= opts.inflow_mixing_hu
        elif name == "ivc":
            x = np.einsum("ij,ij->i", pts[sel] - v.tube.points[idx], v.tube.n1[idx])  # + is the right
            layer = 1.0 / (1.0 + np.exp(x / 1.5))
            hu -= opts.inflow_mixing_hu * np.clip(1.0 - s / INFLOW_LAYER_MM, 0.0, 1.0) * layer
        out[sel] = hu
    value[near] = out
    return value


def blur(image: np.ndarray, grid: Grid, sigma_mm: float) -> None:
    """The scanner's point-spread function: a Gaussian of ``sigma_mm`` on every axis, in place."""
    from scipy.ndimage import gaussian_filter

    gaussian_filter(image, sigma=sigma_mm / grid.spacing[::-1], output=image, mode="nearest")


def render_grid(grid: Grid, opts: PhantomOptions) -> tuple[Grid, int]:
    """The grid the image is painted on: the output grid, or with thick slices ``m`` (odd)
    sub-slices per slice, no coarser than the in-plane spacing, centred on each slice."""
    if opts.slice_thickness_mm is None:
        return grid, 1
    sr, sa, ss = grid.spacing
    m = max(math.ceil(ss / min(sr, sa) - 1e-6), 1)
    m += 1 - m % 2
    dz = ss / m
    origin = grid.origin.copy()
    origin[2] -= (m - 1) / 2 * dz
    shape = (grid.shape[0] * m, grid.shape[1], grid.shape[2])
    return Grid(origin=origin, spacing=np.array([sr, sa, dz]), shape=shape), m


def integrate_slices(image: np.ndarray, labels: np.ndarray, m: int, dz: float, thickness: float):
    """Thick slices from ``m`` sub-slices each (``dz`` mm apart): the image averaged over the
    slice thickness (box profile), the truth labels of each slice's centre."""
    from scipy.ndimage import uniform_filter1d

    n = max(round(thickness / dz), 1)
    n += 1 - n % 2
    image = uniform_filter1d(image, n, axis=0, mode="nearest")
    return np.ascontiguousarray(image[(m - 1) // 2 :: m]), np.ascontiguousarray(labels[(m - 1) // 2 :: m])


def ct_noise(shape: tuple[int, int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """CT-like noise: Gaussian, slightly correlated between neighbours, with standard deviation sigma."""
    from scipy.ndimage import uniform_filter1d

    noise = rng.standard_normal(size=shape, dtype=np.float32)
    # A 2-voxel box in-plane correlates neighbours as reconstruction kernels do; it divides the
    # standard deviation by 2, which the factor restores.
    uniform_filter1d(noise, 2, axis=1, output=noise)
    uniform_filter1d(noise, 2, axis=2, output=noise)
    noise *= 2.0 * sigma
    return noise


def with_ct_noise(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """A noise-free phantom image with ``ct_noise`` of its own seed, stored as ``make_phantom``
    stores it (``as_stored_ct``). The robustness matrix (tools/robustness.py and the tests of its
    cells) adds each noise level to one noise-free phantom this way, so that a test's cell is the
    matrix's cell."""
    return as_stored_ct(image.astype(np.float32) + ct_noise(image.shape, sigma, np.random.default_rng(seed)))


def as_stored_ct(image: np.ndarray) -> np.ndarray:
    """A phantom's intensities as its CT is stored: rounded, clipped to -1024..3071 HU, int16."""
    return np.clip(np.rint(image), -1024, 3071).astype(np.int16)


def correlated_noise(
    shape, sigma: float, rng: np.random.Generator, correlation_mm: float, spacing
) -> np.ndarray:
    """White Gaussian noise (``correlation_mm`` 0) or noise smoothed by a Gaussian of that standard
    deviation in mm on all three axes, scaled back to standard deviation ``sigma``."""
    from scipy.ndimage import gaussian_filter

    noise = rng.standard_normal(size=shape, dtype=np.float32)
    if correlation_mm > 0:
        gaussian_filter(noise, sigma=correlation_mm / np.asarray(spacing)[::-1], output=noise, mode="wrap")
        noise /= max(float(noise.std()), 1e-6)
    noise *= sigma
    return noise

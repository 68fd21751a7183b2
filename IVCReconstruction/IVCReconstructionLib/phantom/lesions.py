"""The phantom's lesions: May-Thurner compression, bilateral narrowing, an IVC occlusion.

Each narrows (or closes) the vein tubes in place and returns the lesion as plan.json describes
one, so the truth is exact (docs/phantom.md, *Lesions*).
"""

from __future__ import annotations

import math

import numpy as np

from .anatomy import Vein
from .options import PhantomOptions
from .shapes import Tube, raised_cosine
from .truth import TruthLesion


def apply_lesions(veins: dict[str, Vein], opts: PhantomOptions) -> list[TruthLesion]:
    """Narrow the tubes in place; return the lesions as plan.json would describe them."""
    lesions: list[TruthLesion] = []

    def stenosis(v: Vein, centre: float, half: float, ratio: float, flatten: bool):
        w = raised_cosine(v.s, centre, half)
        # A flattened (compressed) vein widens as it thins, roughly keeping its perimeter; a
        # concentric narrowing shrinks both axes.
        ka = min(1.5, ratio**-0.35) if flatten else math.sqrt(ratio)
        kb = ratio / ka
        a = v.tube.a * (1.0 - w * (1.0 - ka))
        b = v.tube.b * (1.0 - w * (1.0 - kb))
        points = v.tube.points
        if flatten:
            # The artery in front pushes the anterior wall back against the spine, whose
            # posterior wall stays put: the lumen centre moves back by the loss of depth.
            points = points - v.tube.n2 * (v.tube.b - b)[:, None]
        v.tube = v.tube.with_sections(points, a, b)
        area = np.pi * a * b
        healthy = np.pi * v.healthy_a * v.healthy_b
        rel = area / healthy
        # Extent: where the area loss is at least half of the loss at the narrowest point.
        inside = rel <= (1.0 + ratio) / 2.0
        i = int(np.argmin(rel))
        lesions.append(
            TruthLesion(
                v.name,
                "stenosis",
                float(v.s[inside].min()),
                float(v.s[inside].max()),
                float(area[i]),
                float(healthy[i]),
            )
        )

    if opts.may_thurner_area_ratio is not None:
        # Where the right common iliac artery crosses the left common iliac vein (see arteries).
        v = veins["left_iliac"]
        stenosis(v, v.landmarks["crossing"], 12.0, opts.may_thurner_area_ratio, flatten=True)
    if opts.bilateral_iliac_area_ratio is not None:
        for name in ("left_iliac", "right_iliac"):
            v = veins[name]
            centre = 0.55 * v.landmarks["civ_end"]
            if name == "left_iliac" and opts.may_thurner_area_ratio is not None:
                centre = max(centre, v.landmarks["crossing"] + 26.0)
            stenosis(v, centre, 10.0, opts.bilateral_iliac_area_ratio, flatten=False)
    return lesions


def occlude_ivc(veins: dict[str, Vein], length: float, start: float):
    """Split the IVC into two lumens with tapered stumps around a stretch with no lumen.

    Returns the two lumen tubes, the fibrotic cord (no lumen, soft-tissue density) and the lesion.
    """
    v = veins["ivc"]
    end = start + length
    taper = 6.0
    scale = np.clip(np.maximum(start - v.s, v.s - end) / taper, 0.0, 1.0)
    scale = np.sqrt(np.clip(scale, 0.0, 1.0))  # rounded stumps
    v.tube.a = v.healthy_a * scale
    v.tube.b = v.healthy_b * scale
    pts, a, b = v.tube.points, v.tube.a, v.tube.b
    harm = v.tube.harmonics  # irregular sections (harder venograms) stay on the stumps
    below = v.s < start - 0.5
    above = v.s > end + 0.5
    lumens = [
        Tube(
            pts[below],
            np.maximum(a[below], 0.3),
            np.maximum(b[below], 0.3),
            capped=("round", "flat"),
            roll_deg=12.0,
            harmonics=None if harm is None else harm[below],
        ),
        Tube(
            pts[above],
            np.maximum(a[above], 0.3),
            np.maximum(b[above], 0.3),
            capped=("flat", None),
            roll_deg=12.0,
            harmonics=None if harm is None else harm[above],
        ),
    ]
    cord_sel = (v.s > start - taper) & (v.s < end + taper)
    cord = Tube(
        pts[cord_sel],
        0.55 * v.healthy_a[cord_sel],
        0.55 * v.healthy_b[cord_sel],
        capped=("flat", "flat"),
        roll_deg=12.0,
    )
    mid = int(np.argmin(np.abs(v.s - (start + end) / 2)))
    lesion = TruthLesion(
        "ivc", "occlusion", float(start), float(end), 0.0, float(np.pi * v.healthy_a[mid] * v.healthy_b[mid])
    )
    return lumens, cord, lesion

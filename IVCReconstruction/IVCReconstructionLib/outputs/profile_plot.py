"""A branch's diameter profile as an SVG picture, drawn from the numbers (no plotting library).

What the report shows per vein: the area-derived (CE) diameter along the branch (distance from
the confluence), the min-max band, the inscribed-sphere diameter, the confluence zone left out of
the measurements, the reference diameters per segment, the lesions, the landmarks, and below it
a lane per stent covering the branch, in the stent's colour (``names.stent_color``, as in the 3D
view). SVG needs nothing a stock 3D Slicer lacks (its Python bundles no matplotlib), scales in
any browser, and its elements carry classes and data attributes, so tests can read it back.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import names

WIDTH = 900
PLOT_HEIGHT = 260
LANE_HEIGHT = 24
MARGIN = {"left": 58, "right": 14, "top": 30, "bottom": 44}

COLORS = {
    "band": "#9ecae1",
    "ce": "#08519c",
    "mis": "#636363",
    "zone": "#dddddd",
    "reference": "#31a354",
    "lesion": "#de2d26",
    "lesion_text": "#a50f15",
    "landmark": "#756bb1",
    "landmark_text": "#54278f",
    "grid": "#e5e5e5",
    "axis": "#444444",
}


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _nice_step(span: float, target: int = 8) -> float:
    """A round tick step (1, 2 or 5 x 10^n) giving about ``target`` ticks over ``span``."""
    raw = max(span, 1e-9) / target
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def reference_spans(name: str, profile: Any, findings: Any) -> list[tuple[str, float, float, float]]:
    """(label, from mm, to mm, diameter) of each reference diameter along the branch: the IVC's
    over the whole IVC, the CIV's up to the CIV end landmark and the EIV's beyond it."""
    end = float(profile.distance_mm[-1])
    if name == "ivc":
        ref = findings.references_mm.get("ivc")
        return [("IVC", 0.0, end, ref)] if ref else []
    side = names.SIDES[name]
    mark = findings.landmarks.get(f"{side}_civ_end")
    split = mark.distance_mm if mark is not None else end / 2.0
    spans = []
    for key, label, lo, hi in ((f"{side}_civ", "CIV", 0.0, split), (f"{side}_eiv", "EIV", split, end)):
        ref = findings.references_mm.get(key)
        if ref and np.isfinite(ref):
            spans.append((label, lo, hi, float(ref)))
    return spans


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    runs, start = [], None
    for i, value in enumerate(mask):
        if value and start is None:
            start = i
        elif not value and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(mask) - 1))
    return runs


def _el(tag: str, text: str | None = None, **attrs: Any) -> str:
    """An SVG element; attribute names with "_" become "-" (stroke_width -> stroke-width),
    ``cls`` becomes "class", ``data_x`` "data-x"; floats get one decimal."""

    def value(v: Any) -> str:
        return f"{v:.1f}" if isinstance(v, float | np.floating) else _esc(v)

    keys = {"cls": "class"}
    attributes = " ".join(f'{keys.get(k, k.replace("_", "-"))}="{value(v)}"' for k, v in attrs.items())
    return f"<{tag} {attributes}/>" if text is None else f"<{tag} {attributes}>{_esc(text)}</{tag}>"


def branch_profile_svg(profile: Any, findings: Any, plan: Any) -> str:
    """The SVG (a string, no XML declaration: it is meant to be inlined in HTML) of one branch."""
    name = profile.name
    d = np.asarray(profile.distance_mm, dtype=float)
    ce = np.asarray(profile.ce_diameter_mm, dtype=float)
    dmin = np.asarray(profile.min_diameter_mm, dtype=float)
    dmax = np.asarray(profile.max_diameter_mm, dtype=float)
    zone = np.asarray(profile.confluence_zone, dtype=bool)
    stents = [st for st in plan.stents if name in st.coverage]
    lanes = max(len(stents), 1)
    height = MARGIN["top"] + PLOT_HEIGHT + 14 + lanes * LANE_HEIGHT + MARGIN["bottom"]
    x0, x1 = MARGIN["left"], WIDTH - MARGIN["right"]
    y_top, y_bottom = MARGIN["top"], MARGIN["top"] + PLOT_HEIGHT
    inner = y_bottom - y_top
    lo = float(d[0])
    hi = float(d[-1]) if d[-1] > d[0] else lo + 1.0
    spans = reference_spans(name, profile, findings)
    # The scale follows the measurable sections: at the confluence the sections cut two veins.
    ok = ~zone if (~zone).any() else np.ones_like(zone)
    top = max(float(np.nanmax(dmax[ok])), *(s[3] for s in spans), 10.0) * 1.25

    def sx(v: float) -> float:
        return x0 + (float(v) - lo) / (hi - lo) * (x1 - x0)

    def sy(v: float) -> float:
        return y_bottom - min(max(float(v), 0.0), top) / top * inner

    def points(xs: Sequence[float], ys: Sequence[float]) -> str:
        return " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True) if np.isfinite(y))

    title = names.BRANCH_TITLES.get(name, name)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="profile" data-branch="{_esc(name)}" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" '
        f'font-size="11" role="img" aria-label="diameter profile of {_esc(title)}">',
        _el("text", title, x=WIDTH / 2, y=18, text_anchor="middle", font_size=13),
    ]
    # Grid and axes.
    step = _nice_step(hi - lo)
    for tick in np.arange(math.ceil(lo / step) * step, hi + 1e-9, step):
        out.append(_el("line", x1=sx(tick), y1=y_top, x2=sx(tick), y2=y_bottom, stroke=COLORS["grid"]))
        out.append(_el("text", f"{tick:g}", x=sx(tick), y=y_bottom + 13, text_anchor="middle"))
    for tick in np.arange(0.0, top + 1e-9, _nice_step(top, 6)):
        out.append(_el("line", x1=x0, y1=sy(tick), x2=x1, y2=sy(tick), stroke=COLORS["grid"]))
        out.append(_el("text", f"{tick:g}", x=x0 - 5, y=sy(tick) + 4, text_anchor="end"))
    out.append(_el("rect", x=x0, y=y_top, width=x1 - x0, height=inner, fill="none", stroke=COLORS["axis"]))
    out.append(
        _el("text", "diameter (mm)", transform=f"translate(14,{(y_top + y_bottom) / 2:.0f}) rotate(-90)")
    )
    # The confluence zone: sections that also cut another vein, not measured.
    for a, b in _runs(zone):
        width = max(sx(d[b]) - sx(d[a]), 1.0)
        out.append(
            _el(
                "rect",
                cls="confluence-zone",
                x=sx(d[a]),
                y=y_top,
                width=width,
                height=inner,
                fill=COLORS["zone"],
                opacity=0.8,
            )
        )
    # Min-max band, CE and inscribed-sphere diameters.
    good = np.isfinite(dmin) & np.isfinite(dmax)
    band = points(d[good], dmax[good]) + " " + points(d[good][::-1], dmin[good][::-1])
    out.append(_el("polygon", cls="min-max", points=band, fill=COLORS["band"], opacity=0.6))
    out.append(
        _el("polyline", cls="ce", points=points(d, ce), fill="none", stroke=COLORS["ce"], stroke_width=1.8)
    )
    out.append(
        _el(
            "polyline",
            cls="mis",
            points=points(d, profile.mis_diameter_mm),
            fill="none",
            stroke=COLORS["mis"],
            stroke_width=1.0,
            stroke_dasharray="2,2",
        )
    )
    for label, a, b, ref in spans:
        out.append(
            _el(
                "line",
                cls="reference",
                data_segment=label,
                x1=sx(a),
                y1=sy(ref),
                x2=sx(b),
                y2=sy(ref),
                stroke=COLORS["reference"],
                stroke_width=1.2,
                stroke_dasharray="5,3",
            )
        )
        out.append(
            _el(
                "text",
                f"{label} reference {ref:.1f}",
                x=sx(b) - 3,
                y=sy(ref) - 3,
                text_anchor="end",
                font_size=10,
                fill=COLORS["reference"],
            )
        )
    for lesion in findings.lesions:
        if lesion.branch != name:
            continue
        a, b = sx(lesion.start_mm), sx(lesion.end_mm)
        what = (
            "no lumen" if lesion.kind == "occlusion" else f"{100 * (1 - lesion.area_ratio):.0f} % area loss"
        )
        out.append(
            _el(
                "rect",
                cls="lesion",
                data_kind=lesion.kind,
                x=a,
                y=y_top,
                width=max(b - a, 1.0),
                height=inner,
                fill=COLORS["lesion"],
                opacity=0.25,
            )
        )
        out.append(
            _el(
                "text",
                f"{lesion.kind}, {what}",
                x=(a + b) / 2,
                y=y_top + 12,
                text_anchor="middle",
                font_size=10,
                fill=COLORS["lesion_text"],
            )
        )
    for mark in findings.landmarks.values():
        if mark.branch != name or not 0 < mark.distance_mm <= hi:
            continue
        x = sx(mark.distance_mm)
        out.append(
            _el(
                "line",
                cls="landmark",
                data_landmark=mark.name,
                x1=x,
                y1=y_top,
                x2=x,
                y2=y_bottom,
                stroke=COLORS["landmark"],
                stroke_width=0.8,
            )
        )
        out.append(
            _el(
                "text",
                mark.name.replace("_", " "),
                transform=f"translate({x - 3:.1f},{y_top + 4}) rotate(-90)",
                text_anchor="end",
                font_size=10,
                fill=COLORS["landmark_text"],
            )
        )
    # Legend.
    legend = (
        (COLORS["ce"], "area-derived (CE) diameter"),
        (COLORS["band"], "min-max diameter"),
        (COLORS["mis"], "inscribed sphere"),
        (COLORS["zone"], "confluence zone (not measured)"),
    )
    for n, (color, text) in enumerate(legend):
        y = y_bottom - 58 + 14 * n
        out.append(_el("rect", x=x1 - 190, y=y - 8, width=14, height=8, fill=color))
        out.append(_el("text", text, x=x1 - 171, y=y, font_size=10))
    # A lane per stent, in its colour.
    lane_top = y_bottom + 22
    for row, stent in enumerate(stents):
        start, end = stent.coverage[name]
        color = names.hex_color(names.stent_color(stent.id))
        y = lane_top + row * LANE_HEIGHT
        a, b = sx(max(start, lo)), sx(min(end, hi))
        out.append(
            _el(
                "rect",
                cls="stent",
                data_stent=stent.id,
                x=a,
                y=y,
                width=max(b - a, 1.0),
                height=LANE_HEIGHT - 6,
                fill=color,
            )
        )
        label = f"{stent.id} {stent.product} {stent.diameter_mm:g} x {stent.length_mm:g} mm"
        inside = b - a > 0.35 * (x1 - x0)
        out.append(
            _el(
                "text",
                label,
                x=(a + 4) if inside else (b + 4),
                y=y + LANE_HEIGHT / 2 + 1,
                font_size=10,
                fill="#ffffff" if inside else color,
            )
        )
    if not stents:
        out.append(_el("text", "no stent on this vein", x=x0, y=lane_top + 12, font_size=10, fill="#777777"))
    direction = "cranial" if name == "ivc" else "caudal"
    out.append(
        _el(
            "text",
            f"distance from the confluence, {direction} (mm)",
            x=(x0 + x1) / 2,
            y=height - 8,
            text_anchor="middle",
        )
    )
    out.append("</svg>")
    return "\n".join(out)

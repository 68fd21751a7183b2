"""report.html: the plan for a reader without Slicer (architecture section 6).

One self-contained HTML file (pictures embedded as PNG data), which links the other output
files beside it: what the input was (kind, size and spacing only: no names, IDs or dates),
the suggested construct and why, every stent with its catalogue entry and whether that entry
was verified, the warnings, a diameter plot per branch with the lesions, landmarks and stent
extents marked, the 3D view, every setting with the design defaults marked, how long each
stage took, and the research-use disclaimer.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import names

if TYPE_CHECKING:
    from ..pipeline import PipelineResult

DISCLAIMER = (
    "Research use only. This plan is a suggestion computed from images for a physician to check; "
    "it is not a medical device and must not be used on its own to diagnose or treat. Sizes, "
    "landing zones and warnings depend on the segmentation and on the settings listed below; "
    "confirm every measurement on the images and with intravascular ultrasound (IVUS)."
)

_REFERENCES = {"ivc": (("ivc", "IVC"),), "left_iliac": (("left_civ", "CIV"), ("left_eiv", "EIV"))}
_REFERENCES["right_iliac"] = (("right_civ", "CIV"), ("right_eiv", "EIV"))

_STYLE = """
body { font-family: sans-serif; max-width: 70em; margin: 1em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.disclaimer { border: 2px solid #b00; background: #fff4f4; padding: 0.6em; }
.critical { color: #b00; font-weight: bold; } .warning { color: #a60; } .info { color: #456; }
.default { color: #a60; } img { max-width: 100%; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (for cells built here with markup)."""
    cell = (lambda v: str(v)) if raw else _esc
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _png_data(figure_or_path: Any) -> str:
    """A data: URI for a matplotlib figure or a PNG file."""
    if isinstance(figure_or_path, (str, Path)):
        data = Path(figure_or_path).read_bytes()
    else:
        buffer = io.BytesIO()
        figure_or_path.savefig(buffer, format="png", dpi=90)
        data = buffer.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _fmt(x: Any, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.{digits}f}"
    return str(x)


def _reference_spans(name: str, profile: Any, findings: Any) -> list[tuple[str, float, float, float]]:
    """(label, from mm, to mm, diameter) of each reference diameter along the branch: the IVC's
    over the whole IVC, the CIV's up to the CIV end landmark and the EIV's beyond it."""
    end = float(profile.distance_mm[-1])
    if name == "ivc":
        ref = findings.references_mm.get("ivc")
        return [("IVC", 0.0, end, ref)] if ref else []
    side = name.split("_")[0]
    mark = findings.landmarks.get(f"{side}_civ_end")
    split = mark.distance_mm if mark is not None else end / 2.0
    spans = []
    for key, label, lo, hi in ((f"{side}_civ", "CIV", 0.0, split), (f"{side}_eiv", "EIV", split, end)):
        ref = findings.references_mm.get(key)
        if ref:
            spans.append((label, lo, hi, ref))
    return spans


def branch_plot(profile: Any, findings: Any, plan: Any) -> Any:
    """Matplotlib figure of one branch's diameters along its axis (distance from the
    confluence), with the reference diameters, lesions and landmarks, and below it a lane per
    stent that covers the branch."""
    from matplotlib.figure import Figure  # the object API needs no display backend

    name = profile.name
    d = profile.distance_mm
    stents = [st for st in plan.stents if name in st.coverage]
    lanes = max(len(stents), 1)
    fig = Figure(figsize=(9.0, 3.3 + 0.28 * lanes))
    grid = fig.add_gridspec(2, 1, height_ratios=[3.0, 0.28 * lanes + 0.1], hspace=0.08)
    ax = fig.add_subplot(grid[0])
    lane = fig.add_subplot(grid[1], sharex=ax)
    zone = np.asarray(profile.confluence_zone, dtype=bool)
    ax.fill_between(
        d,
        profile.min_diameter_mm,
        profile.max_diameter_mm,
        color="#9ecae1",
        alpha=0.6,
        label="min-max diameter",
    )
    ax.plot(d, profile.ce_diameter_mm, color="#08519c", lw=1.8, label="area-derived (CE) diameter")
    ax.plot(d, profile.mis_diameter_mm, color="#636363", lw=1.0, ls=":", label="inscribed sphere")
    if zone.any():
        ax.fill_between(
            d,
            0,
            1,
            where=zone,
            transform=ax.get_xaxis_transform(),
            color="#dddddd",
            alpha=0.8,
            label="confluence zone (not measured)",
        )
    spans = _reference_spans(name, profile, findings)
    for label, lo, hi, ref in spans:
        ax.plot([lo, hi], [ref, ref], color="#31a354", lw=1.2, ls="--")
        ax.text(
            hi, ref, f"{label} reference {ref:.1f} ", color="#31a354", va="bottom", ha="right", fontsize=7
        )
    for lesion in findings.lesions:
        if lesion.branch == name:
            ax.axvspan(lesion.start_mm, lesion.end_mm, color="#de2d26", alpha=0.25)
            what = "no lumen" if lesion.kind == "occlusion" else f"{lesion.area_ratio:.0%} area"
            ax.text(
                (lesion.start_mm + lesion.end_mm) / 2,
                0.98,
                f"{lesion.kind}\n{what}",
                color="#a50f15",
                ha="center",
                va="top",
                fontsize=7,
                transform=ax.get_xaxis_transform(),
            )
    for mark in findings.landmarks.values():
        if mark.branch == name and mark.distance_mm > 0:
            ax.axvline(mark.distance_mm, color="#756bb1", lw=0.8)
            ax.text(
                mark.distance_mm,
                0.98,
                mark.name.replace("_", " ") + " ",
                color="#54278f",
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                transform=ax.get_xaxis_transform(),
            )
    # The scale follows the measurable sections: at the confluence the sections cut two veins.
    ok = ~zone if (~zone).any() else np.ones_like(zone)
    top = max(float(np.nanmax(profile.max_diameter_mm[ok])), *(ref for *_, ref in spans), 10.0)
    ax.set_ylim(0, top * 1.25)
    ax.set_xlim(float(d[0]), float(d[-1]))
    ax.set_ylabel("diameter (mm)")
    ax.set_title(names.BRANCH_TITLES.get(name, name), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncols=2, framealpha=0.9)
    ax.tick_params(labelbottom=False)
    for row, stent in enumerate(stents):
        start, end = stent.coverage[name]
        # The stent's colour in the 3D view too (names.stent_color).
        color = names.hex_color(names.stent_color(stent.id))
        lane.barh(row, end - start, left=start, height=0.7, color=color)
        label = f"{stent.id} {stent.product} {stent.diameter_mm:g} x {stent.length_mm:g} mm"
        if end - start > 0.35 * (d[-1] - d[0]):  # room inside the bar
            lane.text(start + 1.0, row, label, va="center", fontsize=7, color="white")
        else:
            lane.text(end + 1.0, row, label, va="center", fontsize=7, color=color)
    lane.set_ylim(lanes - 0.5, -0.5)
    lane.set_yticks([])
    lane.set_ylabel("stents", fontsize=7)
    direction = "cranial" if name == "ivc" else "caudal"
    lane.set_xlabel(f"distance from the confluence, {direction} (mm)")
    fig.subplots_adjust(left=0.07, right=0.99, top=0.92, bottom=0.1 + 0.02 * (4 - min(lanes, 4)))
    return fig


def _settings_rows(settings: Any) -> list[list[str]]:
    values = settings.as_dict()
    defaults = set(getattr(settings, "DESIGN_DEFAULTS", ()))
    rows = []
    for key, value in values.items():
        if key == "design_defaults":
            continue
        default = getattr(type(settings), key, None)
        changed = default is not None and not isinstance(default, dict) and value != default
        if key in defaults:
            note = f"changed from the design default {default}" if changed else "design default"
        else:
            note = f"changed from {default}" if changed else "from the sources (docs/planning.md)"
        rows.append(
            [
                _esc(key),
                _esc(value),
                f'<span class="{"default" if key in defaults else ""}">{_esc(note)}</span>',
            ]
        )
    return rows


def _catalogue_rows(plan: Any, catalog: Any) -> list[list[Any]]:
    rows = []
    for product_id in dict.fromkeys(st.product_id for st in plan.stents):
        p = catalog.products.get(product_id)
        if p is None:
            continue
        used = sorted(
            {f"{st.diameter_mm:g} x {st.length_mm:g}" for st in plan.stents if st.product_id == product_id}
        )
        verified = f"yes ({p.verified_date})" if p.verified else "NO: check the sizes with the manufacturer"
        rows.append([p.product, p.manufacturer, p.construction, ", ".join(used), verified, p.source])
    return rows


def write_report(path: str | Path, result: PipelineResult, view3d: str | Path | None = None) -> Path:
    """Write report.html for a ``pipeline.PipelineResult``; returns its path. The input is
    described by ``result.description`` (no identifiers); ``view3d`` is the rendered 3D view,
    if any. Every file of ``result.files`` in the same folder is linked."""
    from .. import __version__

    path = Path(path)
    plan, ctx = result.plan, result.session.context
    findings, profiles = ctx.findings, result.measured.profiles
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>IVC reconstruction plan (research use only)</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>IVC and iliac vein stent plan</h1>",
        f"<p class='disclaimer'>{_esc(DISCLAIMER)}</p>",
        "<h2>Input</h2>",
    ]
    rows = [[k.replace("_", " "), v] for k, v in result.description.items()]
    rows.append(["veins from", result.origin.describe()])
    rows.append(["seed points", ", ".join(result.seeds) or "-"])
    rows.append(["modality (detected)", str(result.modality)])
    rows.append(["software", f"IVCReconstruction {__version__}"])
    parts.append(_table(["", ""], rows))

    parts.append("<h2>Suggested construct</h2>")
    parts.append(f"<p><b>{_esc(plan.template)}</b>: {_esc(plan.reason)}</p>")
    if plan.stents:
        parts.append(
            _table(
                [
                    "stent",
                    "role",
                    "product",
                    "diameter (mm)",
                    "length (mm)",
                    "covers (mm from the confluence)",
                    "cranial end (RAS)",
                    "caudal end (RAS)",
                ],
                [
                    [
                        st.id,
                        st.role,
                        f"{st.product} ({st.manufacturer})",
                        f"{st.diameter_mm:g}",
                        f"{st.length_mm:g}",
                        "; ".join(f"{b} {a:.0f}-{z:.0f}" for b, (a, z) in st.coverage.items()),
                        ", ".join(f"{c:.1f}" for c in st.proximal_ras),
                        ", ".join(f"{c:.1f}" for c in st.distal_ras),
                    ]
                    for st in plan.stents
                ],
            )
        )
        parts.append("<h3>Catalogue entries used</h3>")
        parts.append(
            _table(
                ["product", "manufacturer", "construction", "sizes used", "sizes verified", "source"],
                _catalogue_rows(plan, ctx.catalog),
            )
        )

    parts.append("<h2>Warnings</h2>")
    if plan.warnings:
        parts.append(
            _table(
                ["severity", "code", "stent", "message"],
                [
                    [
                        f"<span class='{_esc(w.severity)}'>{_esc(w.severity)}</span>",
                        _esc(w.code),
                        _esc(w.stent or ""),
                        _esc(w.message),
                    ]
                    for w in plan.warnings
                ],
                raw=True,
            )
        )
    else:
        parts.append("<p>None.</p>")

    parts.append("<h2>Findings</h2>")
    parts.append(
        _table(
            ["reference (healthy) CE diameter", "mm"],
            [[k.replace("_", " "), _fmt(v)] for k, v in findings.references_mm.items()],
        )
    )
    if findings.lesions:
        parts.append(
            _table(
                [
                    "branch",
                    "kind",
                    "from (mm)",
                    "to (mm)",
                    "length (mm)",
                    "min area (mm2)",
                    "area / reference",
                ],
                [
                    [
                        les.branch,
                        les.kind,
                        _fmt(les.start_mm),
                        _fmt(les.end_mm),
                        _fmt(les.length_mm),
                        _fmt(les.min_area_mm2),
                        _fmt(les.area_ratio, 2),
                    ]
                    for les in findings.lesions
                ],
            )
        )
    else:
        parts.append("<p>No stenosis or occlusion found.</p>")
    parts.append(
        _table(
            ["landmark", "branch", "mm from the confluence", "RAS", "found by"],
            [
                [m.name, m.branch, _fmt(m.distance_mm), ", ".join(f"{c:.1f}" for c in m.ras), m.method]
                for m in findings.landmarks.values()
            ],
        )
    )
    if findings.notes:
        parts.append("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in findings.notes) + "</ul>")

    parts.append("<h2>Diameter profiles</h2>")
    for name, profile in profiles.items():
        fig = branch_plot(profile, findings, plan)
        parts.append(f"<p><img alt='diameter profile of {_esc(name)}' src='{_png_data(fig)}'></p>")

    if view3d is not None:
        parts.append("<h2>3D view</h2>")
        parts.append(
            f"<p><a href='{_esc(Path(view3d).name)}'><img alt='3D view' src='{_png_data(view3d)}'></a>"
            "<br>Anterior view (patient's right on the left): veins, centerlines, stents.</p>"
        )

    parts.append("<h2>Settings</h2>")
    parts.append("<h3>Plan</h3>")
    parts.append(_table(["setting", "value", "source"], _settings_rows(ctx.settings), raw=True))
    parts.append("<h3>Findings</h3>")
    parts.append(_table(["setting", "value", "source"], _settings_rows(findings.settings), raw=True))
    parts.append(
        f"<p>Stent catalogue: {_esc(', '.join(Path(f).name for f in ctx.catalog.files) or 'built-in')}</p>"
    )

    parts.append("<h2>Files</h2>")
    listed = [f for f in result.files if Path(f).parent.resolve() == path.parent.resolve()]
    parts.append(
        "<ul>"
        + "".join(f"<li><a href='{_esc(Path(f).name)}'>{_esc(Path(f).name)}</a></li>" for f in listed)
        + "</ul>"
    )
    if result.clock.records:
        parts.append("<h2>Processing time</h2>")
        rows = [[r.name, f"{r.seconds:.1f}"] for r in result.clock.records]
        parts.append(_table(["stage", "seconds"], rows))
    parts.append(f"<p class='disclaimer'>{_esc(DISCLAIMER)}</p></body></html>\n")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path

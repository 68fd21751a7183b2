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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..names import BRANCH_IN_TEXT
from ..spine.levels import level_at
from .profile_plot import branch_profile_svg

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


def _png_data(path: str | Path) -> str:
    """A data: URI of a PNG file."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _fmt(x: Any, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.{digits}f}"
    return str(x)


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


def _distance_text(branch: str, distance: float) -> str:
    if branch == "ivc":
        return f"{distance:.0f} mm above the confluence"
    return f"{distance:.0f} mm down the {BRANCH_IN_TEXT[branch]}"


def _end_text(stent: Any, end: str) -> str:
    """A stent end as placed under fluoroscopy: its vertebral level and its distance from the
    confluence ("L3, 85 mm above the confluence")."""
    from ..plan.sizing import stent_ends

    branch, distance = stent_ends(stent)[end]
    level = stent.proximal_level if end == "proximal" else stent.distal_level
    return f"{level + ', ' if level else ''}{_distance_text(branch, distance)}"


def _lesion_table(lesions: Sequence[Any], artefacts: bool = False) -> str:
    """Lesions as a clinician reads them: where, how long, the narrowest point (and its level),
    "72 % area loss", the minimum diameter and the diameter stenosis against the reference."""
    rows = []
    for les in lesions:
        if les.kind == "occlusion":
            loss, diameter = "no lumen", "-"
        else:
            loss = (
                f"{les.area_stenosis_pct:.0f} % area loss "
                f"({les.min_area_mm2:.1f} of {les.reference_area_mm2:.0f} mm2)"
            )
            diameter = (
                f"{les.min_diameter_mm:.1f} mm of {les.reference_diameter_mm:.1f} mm "
                f"({les.diameter_stenosis_pct:.0f} % diameter stenosis)"
            )
        if getattr(les, "min_area_source", "ct") == "ivus":
            loss += f"; the area from IVUS (CT {les.min_area_ct_mm2:.1f} mm2)"
        where = f"{les.start_mm:.0f}-{les.end_mm:.0f} mm ({les.length_mm:.0f} mm long)"
        narrowest = _distance_text(les.branch, les.narrowest_mm)
        if les.vertebral_level:
            narrowest = f"{les.vertebral_level}, {narrowest}"
        note = "narrower than two voxels: uncertain" if les.uncertain else ""
        if artefacts:
            note = f"{les.artefact}; {note}" if note else str(les.artefact)
        rows.append([BRANCH_IN_TEXT[les.branch], les.kind, where, narrowest, loss, diameter, note])
    header = ["vein", "kind", "from the confluence", "narrowest point", "area", "minimum diameter", "note"]
    return _table(header, rows)


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
    levels = plan.vertebral_levels
    if levels.get("method"):
        parts.append(
            f"<p>Vertebral levels: {_esc(levels['method'])}; the confluence at "
            f"{_esc(levels.get('confluence') or '-')}, the renal inflow at "
            f"{_esc(levels.get('renal_inflow') or '-')}.</p>"
        )
    else:
        parts.append("<p>Vertebral levels: not found (see the notes under Findings).</p>")
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
                    "cranial end",
                    "caudal end",
                    "deployed",
                ],
                [
                    [
                        st.id,
                        st.role,
                        f"{st.product} ({st.manufacturer})",
                        f"{st.diameter_mm:g}",
                        f"{st.length_mm:g}",
                        "; ".join(f"{b} {a:.0f}-{z:.0f}" for b, (a, z) in st.coverage.items()),
                        _end_text(st, "proximal"),
                        _end_text(st, "distal"),
                        f"step {st.deployment_step}",
                    ]
                    for st in plan.stents
                ],
            )
        )
        parts.append("<h3>Deployment order</h3><ol>")
        for step in plan.deployment:
            parts.append(f"<li>{_esc(' and '.join(step.stents))}: {_esc(step.how)}</li>")
        parts.append("</ol>")
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

    def level_of(point) -> str:
        levels_found = ctx.imaging.levels
        return "-" if levels_found is None else level_at(levels_found, point)

    # CT and IVUS side by side (plan/ivus.py): the plan is sized from IVUS where it was given.
    from ..plan.ivus import ct_findings, ivus_of, reference_sources

    ct_refs, ivus = ct_findings(findings).references_mm, ivus_of(findings)
    sources = reference_sources(findings)
    parts.append(
        _table(
            ["reference (healthy) CE diameter", "CT (mm)", "IVUS (mm)", "sized from"],
            [
                [
                    k.replace("_", " "),
                    _fmt(ct_refs.get(k)),
                    _fmt(ivus.references_mm.get(k)),
                    sources.get(k, "ct"),
                ]
                for k in findings.references_mm
            ],
        )
    )
    if findings.lesions:
        parts.append(_lesion_table(findings.lesions))
    else:
        parts.append("<p>No stenosis or occlusion found.</p>")
    if findings.artefacts:
        parts.append(
            "<p>Narrowings not taken for lesions (not treated; check them in the images or with IVUS):</p>"
            + _lesion_table(findings.artefacts, artefacts=True)
        )
    parts.append(
        _table(
            ["landmark", "branch", "mm from the confluence", "level", "RAS", "found by"],
            [
                [
                    m.name,
                    m.branch,
                    _fmt(m.distance_mm),
                    level_of(m.ras),
                    ", ".join(f"{c:.1f}" for c in m.ras),
                    m.method,
                ]
                for m in findings.landmarks.values()
            ],
        )
    )
    if findings.notes:
        parts.append("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in findings.notes) + "</ul>")

    parts.append("<h2>Diameter profiles</h2>")
    for profile in profiles.values():
        parts.append(f"<p>{branch_profile_svg(profile, findings, plan)}</p>")

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
    here = path.parent.resolve()  # files beside the report, or in a folder of it (dicom/)
    listed = [
        Path(f).resolve().relative_to(here).as_posix()
        for f in result.files
        if Path(f).resolve().is_relative_to(here)
    ]
    parts.append("<ul>" + "".join(f"<li><a href='{_esc(f)}'>{_esc(f)}</a></li>" for f in listed) + "</ul>")
    if result.clock.records:
        parts.append("<h2>Processing time</h2>")
        rows = [[r.name, f"{r.seconds:.1f}"] for r in result.clock.records]
        parts.append(_table(["stage", "seconds"], rows))
    parts.append(f"<p class='disclaimer'>{_esc(DISCLAIMER)}</p></body></html>\n")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path

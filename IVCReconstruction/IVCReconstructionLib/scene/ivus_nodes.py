"""The "IVUS measurements" table: the CT's reference diameters and lesion areas beside the IVUS
values a user types in (the Slicer module's IVUS section), read back as ``IvusMeasurements``.

One row per reference segment (``names.REFERENCE_SEGMENTS``: the IVC, and per side the CIV, EIV
and CFV), one per lesion the CT found ("lesion N"), and one per narrowing too short for the CT's
voxels ("short N", a SHORT_NARROWING: an IVUS area there makes it a lesion, ``plan.ivus``).
Columns (``names.IVUS_TABLE_COLUMNS``, all text so that a cell can be empty): the row's key, what
it is, the CT value, the IVUS value (empty: no IVUS). ``scene.plan_editor.ScenePlan`` keeps the
table and re-plans when it changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import names
from ..inputs.ivus import IvusMeasurements, ivus_from_mapping
from ..plan.findings import Artefact, Findings
from ..plan.ivus import ct_findings, ivus_of, segment_label
from .nodes import add_table, fill_table

IVUS_TABLE_NAME = "IVUS measurements"


def _lesion_key(n: int) -> str:
    return f"lesion {n + 1}"


def _short_key(n: int) -> str:
    return f"short {n + 1}"


def _short(findings: Findings) -> list:
    """The CT's narrowings too short for its voxels, which IVUS can confirm."""
    return [a for a in ct_findings(findings).artefacts if a.artefact is Artefact.SHORT_NARROWING]


def _rows(findings: Findings) -> list[tuple[str, str, str, str]]:
    ct = ct_findings(findings)
    ivus = ivus_of(findings)
    rows = []
    for key in names.REFERENCE_SEGMENTS:
        value = ct.references_mm.get(key)
        rows.append(
            (
                key,
                f"{segment_label(key)} reference diameter (mm)",
                "-" if value is None else f"{value:.1f}",
                f"{ivus.references_mm[key]:g}" if key in ivus.references_mm else "",
            )
        )
    given = {}
    for les in findings.lesions:
        if getattr(les, "min_area_source", None) == names.ReferenceSource.IVUS:
            given[(les.branch, les.start_mm)] = les.min_area_mm2
    shown = [(_lesion_key(n), les, les.kind) for n, les in enumerate(ct.lesions)]
    shown += [
        (_short_key(n), les, "narrowing too short for the voxels") for n, les in enumerate(_short(findings))
    ]
    for key, les, what in shown:
        area = given.get((les.branch, les.start_mm))
        rows.append(
            (
                key,
                f"{what} of the {names.BRANCH_IN_TEXT[les.branch]} at "
                f"{les.start_mm:.0f}-{les.end_mm:.0f} mm: minimum area (mm2)",
                f"{les.min_area_mm2:.1f}",
                "" if area is None else f"{area:g}",
            )
        )
    return rows


def _columns(findings: Findings) -> dict[str, np.ndarray]:
    rows = _rows(findings)
    return {
        name: np.array([r[i] for r in rows], dtype=object) for i, name in enumerate(names.IVUS_TABLE_COLUMNS)
    }


def add_ivus_table(scene: Any, findings: Findings) -> Any:
    """A table node of the findings' CT values and their IVUS values (empty where none)."""
    node = add_table(scene, _columns(findings), IVUS_TABLE_NAME)
    node.SetAttribute(names.PLAN_TABLE_ATTRIBUTE, "ivus")
    return node


def update_ivus_table(table_node: Any, findings: Findings) -> None:
    """Show the findings' CT and IVUS values again (the node kept)."""
    fill_table(table_node, _columns(findings))


def ivus_from_table(table_node: Any, findings: Findings) -> IvusMeasurements:
    """The IVUS values typed into the table's IVUS column (empty cells: no IVUS there).

    :raises ValueError: for a cell that is not a number, or a value no vein has (naming the row).
    """
    table = table_node.GetTable()
    key_column, what_column, _ct, ivus_column = (table.GetColumnByName(c) for c in names.IVUS_TABLE_COLUMNS)
    if key_column is None or ivus_column is None:
        return ivus_of(findings)  # being refilled
    rows = {_lesion_key(n): les for n, les in enumerate(ct_findings(findings).lesions)}
    rows.update({_short_key(n): les for n, les in enumerate(_short(findings))})
    references: dict[str, float] = {}
    wanted = []
    for row in range(table.GetNumberOfRows()):
        key = str(key_column.GetValue(row))
        text = str(ivus_column.GetValue(row)).strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            what = what_column.GetValue(row) if what_column is not None else key
            raise ValueError(f"the IVUS value of {what} must be a number, not {text!r}") from None
        if key in names.REFERENCE_SEGMENTS:
            references[key] = value
        elif key in rows:
            les = rows[key]
            wanted.append(
                {"branch": les.branch, "min_area_mm2": value, "at_mm": (les.start_mm + les.end_mm) / 2}
            )
    return ivus_from_mapping({"references_mm": references, "lesions": wanted}, "the IVUS table")

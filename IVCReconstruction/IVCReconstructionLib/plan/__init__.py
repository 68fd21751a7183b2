"""Findings and the stent plan: references, lesions and landmarks (``findings``, ``landmarks``),
the catalogue, templates and sizing rules, warnings, edits, the editing session, stent geometry."""

from .catalog import Catalog, Product, load_catalog
from .datatypes import Plan, PlanSettings, PlanWarning, Stent
from .edits import change_stent, end_points, move_end, move_end_to, remove_stent, switch_template
from .findings import Findings, FindingsSettings, Lesion, find_findings
from .landmarks import Landmark, find_landmarks
from .session import PlanSession, StentRow
from .sizing import PlanContext, stent_path
from .templates import choose_template, make_plan, parse_template

__all__ = [
    "Catalog",
    "Findings",
    "FindingsSettings",
    "Landmark",
    "Lesion",
    "Plan",
    "PlanContext",
    "PlanSession",
    "PlanSettings",
    "PlanWarning",
    "Product",
    "Stent",
    "StentRow",
    "change_stent",
    "choose_template",
    "end_points",
    "find_findings",
    "find_landmarks",
    "load_catalog",
    "make_plan",
    "move_end",
    "move_end_to",
    "parse_template",
    "remove_stent",
    "stent_path",
    "switch_template",
]

"""Everything MRML: the headless scene (``context``), generic node helpers (``nodes``), one file
per kind of result (segmentation, centerline, plan and phantom nodes, stent-end handles), the
plan being edited in a scene (``plan_editor``) and the user's edits of it (``plan_events``), seed
points placed by the user (``seed_nodes``), the case the module's steps build (``case``), the
measurement cache and offscreen rendering; and what the module panel shows for the user's
choices (``panel_state``: no node, no Qt).

Every function takes the scene explicitly, never ``slicer.mrmlScene``, so the same code runs in
the Slicer application and headless on slicer-core.
"""

from .case import SceneCase
from .centerline_nodes import CenterlineNodes, add_centerlines_to_scene
from .context import MRMLContext, create_scene, load_mrb, save_mrb
from .measurement_cache import MeasurementCache
from .phantom_nodes import PhantomNodes, add_phantom_to_scene
from .plan_editor import ScenePlan
from .plan_nodes import PlanNodes, add_plan_to_scene, update_plan_in_scene
from .segmentation_nodes import (
    add_vein_segmentation,
    find_vein_segments,
    first_vein_segmentation,
    found_vein_segments,
    read_segmentation_file,
    vein_labels_from_segmentation,
)

__all__ = [
    "CenterlineNodes",
    "MRMLContext",
    "MeasurementCache",
    "PhantomNodes",
    "PlanNodes",
    "SceneCase",
    "ScenePlan",
    "add_centerlines_to_scene",
    "add_phantom_to_scene",
    "add_plan_to_scene",
    "add_vein_segmentation",
    "create_scene",
    "find_vein_segments",
    "first_vein_segmentation",
    "found_vein_segments",
    "load_mrb",
    "read_segmentation_file",
    "save_mrb",
    "update_plan_in_scene",
    "vein_labels_from_segmentation",
]

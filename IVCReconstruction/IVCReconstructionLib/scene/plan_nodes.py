"""The stent plan in the scene: a model per stent, the landmarks, the plan and warnings tables.

All in one subject-hierarchy folder. The models and tables are updated in place after an edit
(:func:`update_plan_in_scene`), so views showing them follow; code finds a stent's model by the
attribute ``names.STENT_ID_ATTRIBUTE`` and the tables by ``names.PLAN_TABLE_ATTRIBUTE``, never by
their display names (which follow the stent's size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import names
from ..plan.datatypes import Plan, Stent
from .nodes import (
    add_fiducials,
    add_model,
    add_table,
    check_name,
    discard,
    fill_table,
    in_scene,
    place_in_folder,
    remove_with_item,
    subject_hierarchy,
    subject_hierarchy_folder,
)

# Struts are thin, so they are drawn opaque; the smooth tube is half transparent so the vein
# and the centerline stay visible inside it.
STRUT_OPACITY = 1.0
TUBE_OPACITY = 0.5

CONFLUENCE_LABEL = "confluence"


@dataclass
class PlanNodes:
    """The nodes :func:`add_plan_to_scene` made, and the folder holding them.

    ``models`` maps stent ID -> model node, in plan order; ``landmarks`` is None when the plan
    has no confluence and no landmarks. ``struts`` records which geometry the models show
    (wire struts or the nominal tube), so updates keep it.
    """

    folder_item: int
    models: dict[str, Any]
    landmarks: Any
    plan_table: Any
    warnings_table: Any
    struts: bool = True

    def nodes(self) -> list[Any]:
        extra = [] if self.landmarks is None else [self.landmarks]
        return [*self.models.values(), *extra, self.plan_table, self.warnings_table]


def _check_ras(point: Any, what: str) -> np.ndarray:
    q = np.asarray(point, dtype=float)
    if q.shape != (3,) or not np.all(np.isfinite(q)):
        raise ValueError(f"{what} must be 3 finite RAS values, got {point!r}")
    return q


def _check_plan(plan: Plan) -> None:
    """Raise ValueError naming the first thing in ``plan`` the scene cannot show.

    Stent paths are checked by the geometry builder (:func:`_stent_geometry`).
    """
    stents = getattr(plan, "stents", None)
    if stents is None or isinstance(stents, str | bytes):
        raise ValueError(
            f"plan must be a plan.datatypes.Plan with a list of stents, got {type(plan).__name__}"
        )
    seen: set[str] = set()
    for stent in stents:
        check_name(stent.id, "stent id")
        if stent.id in seen:
            raise ValueError(f"stent id {stent.id!r} is used twice")
        seen.add(stent.id)
        check_name(stent.role, f"stent {stent.id} role")
        check_name(stent.name, f"stent {stent.id} name")
        for what in ("product", "manufacturer"):
            if not isinstance(getattr(stent, what), str):
                raise ValueError(f"stent {stent.id} {what} must be a string, got {getattr(stent, what)!r}")
        for what in ("diameter_mm", "length_mm"):
            value = getattr(stent, what)
            if not isinstance(value, int | float | np.number) or not np.isfinite(value) or value <= 0:
                raise ValueError(f"stent {stent.id} {what} must be a positive number, got {value!r}")
        for branch, interval in stent.coverage.items():
            check_name(branch, f"stent {stent.id} coverage branch")
            values = np.asarray(interval, dtype=float)
            if values.shape != (2,) or not np.all(np.isfinite(values)):
                raise ValueError(
                    f"stent {stent.id} coverage of {branch!r} must be (start_mm, end_mm), got {interval!r}"
                )
    for n, warning in enumerate(plan.warnings):
        for what in ("code", "severity", "message"):
            if not isinstance(getattr(warning, what), str):
                raise ValueError(f"warning {n} {what} must be a string, got {getattr(warning, what)!r}")
        if warning.stent is not None and not isinstance(warning.stent, str):
            raise ValueError(f"warning {n} stent must be a stent id or None, got {warning.stent!r}")
    _plan_points(plan)


def _plan_points(plan: Plan) -> dict[str, np.ndarray]:
    """Labelled points of the landmarks node: the confluence, then the plan's landmarks.

    Landmarks the plan could not find (None) are left out.
    """
    points: dict[str, np.ndarray] = {}
    if plan.confluence_ras is not None:
        points[CONFLUENCE_LABEL] = _check_ras(plan.confluence_ras, "plan confluence_ras")
    for label, point in plan.landmarks.items():
        check_name(label, "landmark name")
        if point is None:
            continue
        if label in points:
            raise ValueError(f"landmark {label!r} is given twice")
        points[label] = _check_ras(point, f"landmark {label!r}")
    return points


def _stent_geometry(stent: Stent, struts: bool) -> Any:
    """The model polydata of a stent; ValueError names the stent on an unusable path."""
    from ..plan import stentmodel

    try:
        if struts:
            return stentmodel.stent_struts(stent.path_ras, stent.diameter_mm)
        return stentmodel.stent_tube(stent.path_ras, stent.diameter_mm)
    except ValueError as error:
        raise ValueError(f"stent {stent.id}: {error}") from None


def _coverage_text(coverage: Mapping[str, tuple[float, float]]) -> str:
    """Coverage as "ivc 0.0-95.0; left_iliac 0.0-20.0" (branch distance intervals, mm)."""
    return "; ".join(f"{branch} {start:.1f}-{end:.1f}" for branch, (start, end) in coverage.items())


def plan_table_columns(plan: Plan) -> dict[str, np.ndarray]:
    """The "Stent plan" table's columns (``names.PLAN_TABLE_COLUMNS``, in that order)."""
    stents = plan.stents
    proximal = np.array([s.proximal_ras for s in stents], dtype=float).reshape(-1, 3)
    distal = np.array([s.distal_ras for s in stents], dtype=float).reshape(-1, 3)
    (stent, product, manufacturer, diameter, length, *ends, coverage, up, down, step) = (
        names.PLAN_TABLE_COLUMNS
    )
    # dtype=str keeps empty text columns text (an empty list would become a float array).
    columns = {
        stent: np.array([s.id for s in stents], dtype=str),
        product: np.array([s.product for s in stents], dtype=str),
        manufacturer: np.array([s.manufacturer for s in stents], dtype=str),
        diameter: np.array([s.diameter_mm for s in stents], dtype=float),
        length: np.array([s.length_mm for s in stents], dtype=float),
    }
    points = np.hstack([proximal, distal])  # proximal R, A, S, then distal R, A, S
    for n, name in enumerate(ends):
        columns[name] = points[:, n]
    columns[coverage] = np.array([_coverage_text(s.coverage) for s in stents], dtype=str)
    # Vertebral levels of the ends ("" where the spine was not found) and the deployment order.
    columns[up] = np.array([s.proximal_level or "" for s in stents], dtype=str)
    columns[down] = np.array([s.distal_level or "" for s in stents], dtype=str)
    columns[step] = np.array([s.deployment_step for s in stents], dtype=int)
    return columns


def _warning_table_columns(plan: Plan) -> dict[str, np.ndarray]:
    """The "Plan warnings" table's columns (``names.WARNING_TABLE_COLUMNS``)."""
    warnings = plan.warnings
    values = (
        [w.code for w in warnings],
        [str(w.severity) for w in warnings],
        [w.stent or "" for w in warnings],
        [w.message for w in warnings],
    )
    return {name: np.array(v, dtype=str) for name, v in zip(names.WARNING_TABLE_COLUMNS, values, strict=True)}


def _new_plan_table(scene: Any, columns: Mapping[str, np.ndarray], name: str, kind: str) -> Any:
    node = add_table(scene, columns, name)
    node.SetAttribute(names.PLAN_TABLE_ATTRIBUTE, kind)
    return node


def _new_stent_model(scene: Any, stent: Stent, polydata: Any, color: Sequence[float], struts: bool) -> Any:
    node = add_model(scene, polydata, stent.name, color, STRUT_OPACITY if struts else TUBE_OPACITY)
    node.SetAttribute(names.STENT_ID_ATTRIBUTE, stent.id)
    node.SetAttribute(names.STENT_ROLE_ATTRIBUTE, stent.role)
    return node


def add_plan_to_scene(
    scene: Any,
    plan: Plan,
    folder_name: str = "IVC stent plan",
    parent_item: int | None = None,
    struts: bool = True,
) -> PlanNodes:
    """Show a stent plan: one model per stent, the landmarks, a plan table and a warnings table.

    All in one new subject-hierarchy folder ``folder_name`` (under ``parent_item``, else the
    scene):

    * per stent a model node named ``stent.name`` ("S1 IVC Venovo 20 x 100 mm"): the strut mesh
      (``struts=True``, opaque) or the nominal tube (half transparent) along its path, in the
      stent's colour (``names.stent_color``: by its ID, as the report draws it), and the attributes
      ``names.STENT_ID_ATTRIBUTE`` = stent id and ``names.STENT_ROLE_ATTRIBUTE`` = its role;
    * a point list "Plan landmarks": the confluence (label ``CONFLUENCE_LABEL``) and each found
      landmark labelled with its name (landmarks that are None are left out); no node when
      there is nothing to show;
    * a table "Stent plan" (``names.PLAN_TABLE_COLUMNS``, one row per stent; coverage as text such as
      "ivc 0.0-95.0; left_iliac 0.0-20.0", branch distances in mm) and a table "Plan warnings"
      (``names.WARNING_TABLE_COLUMNS``, one row per warning; Stent is empty for plan-wide warnings).
      They carry ``names.PLAN_TABLE_ATTRIBUTE`` = "stents" / "warnings".

    The plan is checked and every stent's geometry built before the scene is touched, so a
    ValueError (duplicate stent id, a path of fewer than two points, a non-positive diameter,
    a bad landmark, ...) leaves the scene as it was; if making the nodes fails midway, the
    nodes made so far and the folder are removed again.
    """
    check_name(folder_name, "folder_name")
    _check_plan(plan)
    geometry = {stent.id: _stent_geometry(stent, struts) for stent in plan.stents}
    points = _plan_points(plan)
    sh = subject_hierarchy(scene)
    folder = subject_hierarchy_folder(scene, folder_name, parent_item)

    created: list[Any] = []
    try:
        models: dict[str, Any] = {}
        for stent in plan.stents:
            color = names.stent_color(stent.id)
            models[stent.id] = _new_stent_model(scene, stent, geometry[stent.id], color, struts)
            created.append(models[stent.id])
        landmarks = None
        if points:
            landmarks = add_fiducials(scene, points, "Plan landmarks")
            created.append(landmarks)
        plan_table = _new_plan_table(scene, plan_table_columns(plan), "Stent plan", "stents")
        created.append(plan_table)
        warnings_table = _new_plan_table(scene, _warning_table_columns(plan), "Plan warnings", "warnings")
        created.append(warnings_table)
        result = PlanNodes(folder, models, landmarks, plan_table, warnings_table, bool(struts))
        for node in result.nodes():
            place_in_folder(scene, node, folder)
    except Exception:
        discard(scene, sh, folder, created)
        raise
    return result


def update_plan_in_scene(
    scene: Any, nodes: PlanNodes, plan: Plan, *, struts: bool | None = None
) -> PlanNodes:
    """Bring the nodes of :func:`add_plan_to_scene` up to date after the plan was edited.

    Models of stents that are still in the plan keep their node (and ID, display settings and
    colour) and get the new geometry with ``SetAndObservePolyData``, their name and role
    attribute follow the stent; stents new in the plan get a new model in the folder, with the
    stent's colour (``names.stent_color``); models of stents gone from the plan
    are removed. Both tables are refilled in place and the landmarks point list is rewritten.
    Nodes the user deleted meanwhile are made again. ``struts`` switches between the strut
    mesh and the tube (None keeps the current one; switching also resets the opacity).

    Everything is checked and all geometry built before any node changes, so a ValueError
    leaves the scene as it was. Returns a new PlanNodes (``nodes`` itself is not modified).
    Raises ValueError if the plan's folder is no longer in the subject hierarchy.
    """
    _check_plan(plan)
    use_struts = nodes.struts if struts is None else bool(struts)
    geometry = {stent.id: _stent_geometry(stent, use_struts) for stent in plan.stents}
    points = _plan_points(plan)
    from vtkmodules.vtkCommonCore import vtkIdList

    sh = subject_hierarchy(scene)
    folder = int(nodes.folder_item)
    # Looked up among all items: GetItemParent of a removed item would log an error.
    items = vtkIdList()
    sh.GetItemChildren(sh.GetSceneItemID(), items, True)
    if items.IsId(folder) < 0:
        raise ValueError(f"the plan's folder (item {folder}) is no longer in the subject hierarchy")

    wanted = {stent.id for stent in plan.stents}
    for stent_id, node in nodes.models.items():
        if stent_id not in wanted:
            remove_with_item(scene, node)
    kept = {sid: node for sid, node in nodes.models.items() if sid in wanted and in_scene(scene, node)}
    models: dict[str, Any] = {}
    for stent in plan.stents:
        node = kept.get(stent.id)
        if node is None:
            node = _new_stent_model(scene, stent, geometry[stent.id], names.stent_color(stent.id), use_struts)
            place_in_folder(scene, node, folder)
        else:
            # The polydata is new, so no copy is needed; the node's display follows the event.
            node.SetAndObservePolyData(geometry[stent.id])
            if node.GetName() != stent.name:
                node.SetName(stent.name)
            node.SetAttribute(names.STENT_ROLE_ATTRIBUTE, stent.role)
            if use_struts != nodes.struts and node.GetDisplayNode() is not None:
                node.GetDisplayNode().SetOpacity(STRUT_OPACITY if use_struts else TUBE_OPACITY)
        models[stent.id] = node

    landmarks = nodes.landmarks if in_scene(scene, nodes.landmarks) else None
    if not points:
        remove_with_item(scene, landmarks)
        landmarks = None
    elif landmarks is None:
        landmarks = add_fiducials(scene, points, "Plan landmarks")
        place_in_folder(scene, landmarks, folder)
    else:
        landmarks.RemoveAllControlPoints()
        for label, q in points.items():
            landmarks.AddControlPoint(list(q), label)

    tables = []
    for node, columns, name, kind in (
        (nodes.plan_table, plan_table_columns(plan), "Stent plan", "stents"),
        (nodes.warnings_table, _warning_table_columns(plan), "Plan warnings", "warnings"),
    ):
        if in_scene(scene, node):
            fill_table(node, columns)
        else:
            node = _new_plan_table(scene, columns, name, kind)
            place_in_folder(scene, node, folder)
        tables.append(node)

    return PlanNodes(folder, models, landmarks, tables[0], tables[1], use_struts)

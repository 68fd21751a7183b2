"""A plan being edited in a scene: its session, the nodes that show it, and its stent-end handles.

Every edit goes through the plan's session (so a refused edit leaves the plan as it was), then
the models, tables and warnings are updated in place and the handles put back on the ends. The
Slicer module keeps one ``ScenePlan`` and calls these methods from its buttons, the table and the
handles' drag events; the tests call the same methods headless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..plan.datatypes import Plan
from ..plan.session import PlanSession, StentRow
from .handles import add_handles, moved_handles, table_edits, update_handles
from .nodes import in_scene, place_under_transform, remove_nodes, subject_hierarchy
from .plan_nodes import PlanNodes, add_plan_to_scene, update_plan_in_scene


class ScenePlan:
    """The plan of ``session`` shown in ``scene`` by ``nodes`` and the point list ``handles``."""

    def __init__(
        self,
        scene: Any,
        session: PlanSession,
        nodes: PlanNodes,
        handles: Any,
        transform_node_id: str | None = None,
    ) -> None:
        self.scene = scene
        self.session = session
        self.nodes = nodes
        self.handles = handles
        # The plan is computed in the segmentation's own coordinates: its nodes go under the
        # segmentation's transform, if any, to show where the veins show.
        self.transform_node_id = transform_node_id
        # True while an edit rewrites the plan's own nodes: their Modified events are its own,
        # not the user's (the panel observes the table and the handles).
        self.editing = False

    @classmethod
    def add(
        cls,
        scene: Any,
        session: PlanSession,
        parent_item: int | None = None,
        transform_node_id: str | None = None,
    ) -> ScenePlan:
        """Show the session's plan in the scene (models, landmarks, tables, handles, one folder),
        under the transform ``transform_node_id`` if given."""
        nodes = add_plan_to_scene(scene, session.plan, parent_item=parent_item)
        try:
            handles = add_handles(scene, session.plan, nodes.folder_item)
        except Exception:
            cls(scene, session, nodes, None).remove()
            raise
        shown = cls(scene, session, nodes, handles, transform_node_id)
        place_under_transform([*nodes.nodes(), handles], transform_node_id)
        return shown

    @property
    def plan(self) -> Plan:
        return self.session.plan

    def remove(self) -> None:
        """Take the plan's nodes, its handles and its folder out of the scene."""
        remove_nodes(self.scene, [*self.nodes.nodes(), self.handles])
        subject_hierarchy(self.scene).RemoveItem(self.nodes.folder_item, False, True)

    # Edits: each returns the plan after it; ValueError leaves plan and scene as they were.

    def apply(self, change: Callable[[PlanSession], Plan], snap_handles: bool = True) -> Plan:
        """Run ``change(session)`` (a session edit) and bring the scene up to date."""
        plan = change(self.session)
        self._show(plan)
        if snap_handles:
            self.snap_handles()
        return plan

    def change_stent(
        self,
        stent_id: str,
        product_id: str | None = None,
        diameter_mm: float | None = None,
        length_mm: float | None = None,
    ) -> Plan:
        return self.apply(lambda s: s.change_stent(stent_id, product_id, diameter_mm, length_mm))

    def move_end_to(
        self, stent_id: str, end: str, position_ras: Sequence[float], snap_handles: bool = True
    ) -> Plan:
        return self.apply(lambda s: s.move_end_to(stent_id, end, position_ras), snap_handles)

    def remove_stent(self, stent_id: str) -> Plan:
        return self.apply(lambda s: s.remove_stent(stent_id))

    def stent_rows(self) -> list[StentRow]:
        return self.session.stent_rows()

    # What the user changed in the scene

    def apply_handle_moves(self, snap: bool = True) -> bool:
        """Move the stent ends whose handle the user dragged; True if anything moved. With
        ``snap`` (a drag ended) every handle is then put back on its end; without (while the
        user drags) the dragged point stays under the mouse and only the models, tables and
        warnings follow."""
        if not in_scene(self.scene, self.handles):
            return False
        moves = moved_handles(self.handles, self.plan)
        for stent_id, end, position in moves:
            self.move_end_to(stent_id, end, position, snap_handles=snap)
        if snap and not moves:
            self.snap_handles()
        return bool(moves)

    def apply_table_edits(self) -> bool:
        """Apply the products, diameters and lengths typed into the "Stent plan" table; True if
        a stent changed. ValueError for a product or size the catalogue does not have: the
        table then shows the plan again."""
        if self.editing:
            return False  # the table is being refilled by an edit
        try:
            edits = table_edits(self.nodes.plan_table, self.plan, self.session.context.catalog)
            for stent_id, product_id, diameter_mm, length_mm in edits:
                self.change_stent(stent_id, product_id, diameter_mm, length_mm)
        except ValueError:
            self._show(self.plan)
            raise
        return bool(edits)

    def snap_handles(self) -> None:
        """Put the stent-end handles on the current plan's ends."""
        if in_scene(self.scene, self.handles):
            update_handles(self.handles, self.plan)

    def _show(self, plan: Plan) -> None:
        self.editing = True
        try:
            self.nodes = update_plan_in_scene(self.scene, self.nodes, plan)
            place_under_transform(self.nodes.nodes(), self.transform_node_id)  # models new in the plan
        finally:
            self.editing = False

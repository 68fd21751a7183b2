"""A plan being edited in a scene: its session, the nodes that show it, and its stent-end handles.

Every edit goes through the plan's session (so a refused edit leaves the plan as it was), then
the models, tables and warnings are updated in place and the handles put back on the ends. The
Slicer module keeps one ``ScenePlan`` and calls these methods from its buttons, the table and the
handles' drag events; the tests call the same methods headless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..inputs.ivus import IvusMeasurements
from ..plan.datatypes import Plan
from ..plan.ivus import ivus_of
from ..plan.session import PlanSession, StentRow
from .handles import add_handles, moved_handles, table_edits, update_handles
from .ivus_nodes import add_ivus_table, ivus_from_table, update_ivus_table
from .nodes import in_scene, place_in_folder, place_under_transform, remove_nodes, subject_hierarchy
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
        ivus_table: Any = None,
    ) -> None:
        self.scene = scene
        self.session = session
        self.nodes = nodes
        self.handles = handles
        self.ivus_table = ivus_table  # "IVUS measurements": the CT's values, the IVUS typed in
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
        handles = ivus_table = None
        try:
            handles = add_handles(scene, session.plan, nodes.folder_item)
            ivus_table = add_ivus_table(scene, session.context.findings)
            place_in_folder(scene, ivus_table, nodes.folder_item)
        except Exception:
            cls(scene, session, nodes, handles, ivus_table=ivus_table).remove()
            raise
        shown = cls(scene, session, nodes, handles, transform_node_id, ivus_table)
        place_under_transform([*nodes.nodes(), handles], transform_node_id)
        return shown

    @property
    def plan(self) -> Plan:
        return self.session.plan

    def remove(self) -> None:
        """Take the plan's nodes, its handles and its folder out of the scene."""
        remove_nodes(self.scene, [*self.nodes.nodes(), self.handles, self.ivus_table])
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

    def set_ivus(self, ivus: IvusMeasurements | None) -> Plan:
        """Size from these IVUS measurements (None: the CT alone) and plan again with the same
        construct; the IVUS table shows them."""
        plan = self.apply(lambda s: s.set_ivus(ivus))
        self._show_ivus()
        return plan

    def apply_ivus_table(self) -> bool:
        """Plan again from the IVUS values typed into the "IVUS measurements" table; True if
        they changed. ValueError for a value that is not a number or no vein has, or a lesion
        the plan cannot take: the table then shows the plan's values again."""
        if self.editing or not in_scene(self.scene, self.ivus_table):
            return False
        findings = self.session.context.findings
        try:
            ivus = ivus_from_table(self.ivus_table, findings)
            if ivus == ivus_of(findings):
                return False
            self.set_ivus(ivus)
        except ValueError:
            self._show_ivus()
            raise
        return True

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

    def _show_ivus(self) -> None:
        if in_scene(self.scene, self.ivus_table):
            self.editing = True
            try:
                update_ivus_table(self.ivus_table, self.session.context.findings)
            finally:
                self.editing = False

    def _show(self, plan: Plan) -> None:
        self.editing = True
        try:
            self.nodes = update_plan_in_scene(self.scene, self.nodes, plan)
            place_under_transform(self.nodes.nodes(), self.transform_node_id)  # models new in the plan
        finally:
            self.editing = False

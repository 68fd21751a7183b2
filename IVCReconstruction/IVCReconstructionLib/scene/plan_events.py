"""The user's edits of a plan shown in a scene, as they happen: a stent-end handle dragged and
dropped, a cell of the "Stent plan" or the "IVUS measurements" table typed into.

The Slicer panel follows the plan it shows with one :class:`PlanEditEvents`. It observes the
plan's handles and tables (VTK observers, no Qt), leaves out the Modified events that the plan's
own edits cause (``ScenePlan.editing``: an edit refills the tables and moves the handles), and
calls the panel back once per user edit:

* ``dragged`` while a handle moves, at most every ``DRAG_INTERVAL_S`` (an edit and its scene
  update take about 15 ms, and the mouse sends far more events than that);
* ``dropped`` when the drag ends;
* ``table_edited`` and ``ivus_edited`` when the user changed a table.

What the callbacks do (plan edits through the module's logic, errors shown to the user) is the
panel's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .plan_editor import ScenePlan

# Shortest time between two plan updates while a stent end is dragged, in seconds.
DRAG_INTERVAL_S = 0.05

Callback = Callable[[], None]


class PlanEditEvents:
    """Observes ``scene_plan``'s handles and tables until :meth:`stop` and calls back for
    each of the user's edits (see the module docstring); ``clock`` gives seconds."""

    def __init__(
        self,
        scene_plan: ScenePlan,
        *,
        dragged: Callback,
        dropped: Callback,
        table_edited: Callback,
        ivus_edited: Callback,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import slicer
        from vtkmodules.vtkCommonCore import vtkCommand

        self.scene_plan = scene_plan
        self.dragging = False  # a handle is being dragged
        self._dragged, self._dropped = dragged, dropped
        self._clock = clock
        self._last_update = 0.0
        markups = slicer.vtkMRMLMarkupsNode
        observed = (
            (scene_plan.handles, markups.PointStartInteractionEvent, self._on_drag_started),
            (scene_plan.handles, markups.PointModifiedEvent, self._on_dragged),
            (scene_plan.handles, markups.PointEndInteractionEvent, self._on_dropped),
            (scene_plan.nodes.plan_table, vtkCommand.ModifiedEvent, self._user_edit(table_edited)),
            (scene_plan.ivus_table, vtkCommand.ModifiedEvent, self._user_edit(ivus_edited)),
        )
        self._observations = [
            (node, node.AddObserver(event, method)) for node, event, method in observed if node is not None
        ]

    def stop(self) -> None:
        """Stop following the plan (a new plan is shown, or the scene closes)."""
        for node, tag in self._observations:
            node.RemoveObserver(tag)
        self._observations = []
        self.dragging = False

    def _user_edit(self, callback: Callback) -> Callable[[Any, Any], None]:
        def observer(caller: Any, event: Any) -> None:
            if not self.scene_plan.editing:  # not the plan's own refill of the table
                callback()

        return observer

    def _on_drag_started(self, caller: Any, event: Any) -> None:
        self.dragging = True
        self._last_update = 0.0

    def _on_dragged(self, caller: Any, event: Any) -> None:
        if not self.dragging:
            return
        now = self._clock()
        if now - self._last_update < DRAG_INTERVAL_S:
            return
        self._last_update = now
        self._dragged()

    def _on_dropped(self, caller: Any, event: Any) -> None:
        self.dragging = False
        self._dropped()

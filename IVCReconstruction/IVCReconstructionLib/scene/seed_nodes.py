"""Seed points placed by the user in a point list: labelled the moment they are placed.

The module's *Place point* buttons put one point per click into the seed point list; the point
gets the button's label. A second IVC, Left, Right, Renal or Inguinal point replaces the first
(the seed parser would refuse two), and Via points are numbered as the parser numbers them
("Via", "Via (2)", ...), so a point list made with the buttons always parses.

:func:`seeds_in_frame` reads a point list's seeds in the coordinates of the node they mark.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..inputs.seeds import SeedPoints, next_via_label, seeds_from_markups
from ..names import SEED_VIA_PREFIX
from .nodes import world_to_node


def seeds_in_frame(seeds_node: Any, frame_node: Any = None) -> SeedPoints:
    """The seed points of a point list (none for None), in ``frame_node``'s own coordinates,
    which differ from the world's when it is under a transform (world RAS without a frame)."""
    if seeds_node is None:
        return SeedPoints()
    seeds = seeds_from_markups(seeds_node)
    return seeds.mapped(world_to_node(frame_node)) if frame_node is not None else seeds


def label_placed_seed(node: Any, index: int, label: str) -> str:
    """Give the point ``index`` of a point list the seed label ``label`` (``SEED_VIA_PREFIX``
    for the next Via point); returns the label given."""
    if not 0 <= index < node.GetNumberOfControlPoints():
        raise ValueError(f"the point list {node.GetName()!r} has no point {index}")
    others = [
        (n, node.GetNthControlPointLabel(n)) for n in range(node.GetNumberOfControlPoints()) if n != index
    ]
    if label == SEED_VIA_PREFIX:
        label = next_via_label(text for _, text in others)
    else:
        # Remove the earlier point with this label (from the last, so indices stay valid).
        for n, text in reversed(others):
            if text.strip().lower() == label.lower():
                node.RemoveNthControlPoint(n)
                if n < index:
                    index -= 1
    node.SetNthControlPointLabel(index, label)
    return label


class SeedPlacement:
    """One seed point being placed with a Place button.

    :meth:`start` puts the interaction node into "place one point" mode (remembering the user's
    own persistence setting), :meth:`point_defined` labels the point Slicer reports placed (by
    its index: Slicer fills the first unplaced point of a list first, which need not be the
    last), and :meth:`mode_changed` notices that placing ended without a point (the user
    cancelled) so that a later point placed with another tool is not relabelled. Either way
    the persistence setting is restored. Started with ``observe``, the placement follows these
    events itself (VTK observers on the point list and the interaction node, removed when it
    finishes); otherwise the caller passes them on.
    """

    def __init__(self) -> None:
        self.label: str | None = None
        self.node: Any = None
        self._interaction: Any = None
        self._persistence: int | None = None
        self._cancelled: Callable[[], None] | None = None
        self._observations: list[tuple[Any, int]] = []

    @property
    def pending(self) -> bool:
        return self.label is not None

    def start(
        self,
        node: Any,
        label: str,
        interaction_node: Any,
        *,
        selection_node: Any = None,
        observe: bool = False,
        cancelled: Callable[[], None] | None = None,
    ) -> None:
        """Place the point ``label`` into the point list ``node`` with the next click, made the
        active place node of ``selection_node`` if given. With ``observe``, the point is
        labelled when placed and ``cancelled()`` is called when placing ends without a point."""
        self.finish()
        self.label, self.node, self._interaction = label, node, interaction_node
        if selection_node is not None:
            selection_node.SetReferenceActivePlaceNodeClassName(node.GetClassName())
            selection_node.SetActivePlaceNodeID(node.GetID())
        self._persistence = interaction_node.GetPlaceModePersistence()
        interaction_node.SetPlaceModePersistence(0)  # one point per click on a Place button
        if observe:
            self._observe(node, interaction_node, cancelled)
        interaction_node.SetCurrentInteractionMode(interaction_node.Place)

    def point_defined(self, node: Any, index: int) -> str | None:
        """The label given to point ``index`` of ``node`` if it is the one being placed."""
        if not self.pending or node is not self.node:
            return None
        label = label_placed_seed(node, int(index), self.label)
        self.finish()
        return label

    def mode_changed(self) -> bool:
        """Call when the interaction mode changed; True if this ended (cancelled) the placement."""
        if self.pending and self._interaction.GetCurrentInteractionMode() != self._interaction.Place:
            self.finish()
            return True
        return False

    def finish(self) -> None:
        """Forget the pending point and give the interaction node back the user's persistence."""
        if self._interaction is not None and self._persistence is not None:
            self._interaction.SetPlaceModePersistence(self._persistence)
        self.label, self.node, self._interaction, self._persistence = None, None, None, None
        for observed, tag in self._observations:
            observed.RemoveObserver(tag)
        self._observations = []

    def _observe(self, node: Any, interaction_node: Any, cancelled: Callable[[], None] | None) -> None:
        from vtkmodules.util.misc import calldata_type
        from vtkmodules.util.vtkConstants import VTK_INT

        # Slicer tells which point it placed by its index, the event's call data.
        @calldata_type(VTK_INT)
        def defined(caller: Any, event: Any, index: int) -> None:
            self.point_defined(caller, index)

        def mode_changed(caller: Any, event: Any) -> None:
            if self.mode_changed() and cancelled is not None:
                cancelled()

        self._observations = [
            (node, node.AddObserver(node.PointPositionDefinedEvent, defined)),
            (
                interaction_node,
                interaction_node.AddObserver(interaction_node.InteractionModeChangedEvent, mode_changed),
            ),
        ]

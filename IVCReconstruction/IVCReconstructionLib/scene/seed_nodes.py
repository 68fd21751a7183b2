"""Seed points placed by the user in a point list: labelled the moment they are placed.

The module's *Place point* buttons put one point per click into the seed point list; the point
gets the button's label. A second IVC, Left, Right, Renal or Inguinal point replaces the first
(the seed parser would refuse two), and Via points are numbered as the parser numbers them
("Via", "Via (2)", ...), so a point list made with the buttons always parses.
"""

from __future__ import annotations

from typing import Any

from ..inputs.seeds import next_via_label
from ..names import SEED_VIA_PREFIX


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

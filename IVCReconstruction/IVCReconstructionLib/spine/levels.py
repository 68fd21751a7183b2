"""Vertebral levels: where along the spine a point lies, as a clinician names it under fluoroscopy.

Stent ends are planned in RAS millimetres; at the table they are placed against the spine
("the upper end at mid L3", "the distal end at the femoral-head top"). ``SpineLevels`` holds the
vertebral bodies found (``from_labels``: read from a TotalSegmentator label map; ``from_ct``:
counted from the CT's own bone, an estimate) and ``level_at`` names the level of a point:
"L4", "L4/L5" (a disc), "below S1", "above T12".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import names

# ---------------------------------------------------------------------------------------------
# The levels
# ---------------------------------------------------------------------------------------------


@dataclass
class Vertebra:
    """One vertebral body: the centres of its endplates (RAS mm).

    ``cut`` says that the body runs off the volume: the endplate on that side is where the
    volume (or the spine found) ends, not the body's own. ``inferior_estimated`` says that the
    inferior end was not seen but estimated (S1, fused to S2 without a disc between them).
    The normals are those of the endplates' planes (unit, pointing cranially): the spine's
    direction at each endplate, which the lordosis tilts; None means the body's axis.
    """

    name: str  # "S1", "L5", ... "T12"
    superior_ras: np.ndarray  # (3,) centre of the superior endplate
    inferior_ras: np.ndarray  # (3,) centre of the inferior endplate
    cut: bool = False
    inferior_estimated: bool = False
    superior_normal: np.ndarray | None = None
    inferior_normal: np.ndarray | None = None

    @property
    def centre_ras(self) -> np.ndarray:
        return (self.superior_ras + self.inferior_ras) / 2.0

    @property
    def height_mm(self) -> float:
        return float(np.linalg.norm(self.superior_ras - self.inferior_ras))

    @property
    def axis(self) -> np.ndarray:
        """Unit vector from the inferior to the superior endplate: the local spine axis."""
        d = self.superior_ras - self.inferior_ras
        n = float(np.linalg.norm(d))
        return d / n if n > 1e-6 else np.array([0.0, 0.0, 1.0])

    def normal(self, end: str) -> np.ndarray:
        """The plane normal of the "superior" or "inferior" endplate."""
        n = self.superior_normal if end == "superior" else self.inferior_normal
        return self.axis if n is None else n

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "superior_ras": [round(float(x), 2) for x in self.superior_ras],
            "inferior_ras": [round(float(x), 2) for x in self.inferior_ras],
            "superior_normal": [round(float(x), 4) for x in self.normal("superior")],
            "inferior_normal": [round(float(x), 4) for x in self.normal("inferior")],
            "cut": self.cut,
            "inferior_estimated": self.inferior_estimated,
        }


@dataclass
class SpineLevels:
    """The vertebrae found, caudal to cranial (S1 first when it was found), and how."""

    vertebrae: list[Vertebra]
    method: str  # a names.LevelSource value
    notes: list[str] = field(default_factory=list)

    @property
    def estimated(self) -> bool:
        """Counted from the image (an estimate), rather than read from named labels."""
        return self.method == names.LevelSource.CT

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.vertebrae]

    def vertebra(self, name: str) -> Vertebra | None:
        return next((v for v in self.vertebrae if v.name == name), None)

    def as_dict(self) -> dict:
        return {
            "method": str(self.method),
            "estimated": self.estimated,
            "vertebrae": [v.as_dict() for v in self.vertebrae],
            "notes": list(self.notes),
        }


def level_at(levels: SpineLevels, ras: Sequence[float] | np.ndarray) -> str:
    """The vertebral level of a point: "L4" (in a body), "L4/L5" (at the disc between them),
    "below S1" or "above T12" (outside the vertebrae found, named after the last one).

    The level is the point's position along the spine axis, not its distance to the bone: the
    IVC and the iliac veins lie in front of the spine. Each endplate is a plane through its
    centre, normal to the spine there; the point's level is how many of these planes it is
    above (a count, so that planes that meet far from the spine under a strong lordosis do not
    make a point skip a level).
    """
    vs = levels.vertebrae
    if not vs:
        raise ValueError("no vertebrae to name a level by")
    x = np.asarray(ras, dtype=float).reshape(3)
    above = 0
    for v in vs:
        above += int((x - v.inferior_ras) @ v.normal("inferior") >= 0.0)
        above += int((x - v.superior_ras) @ v.normal("superior") > 0.0)
    if above == 0:
        return f"below {vs[0].name}"
    if above == 2 * len(vs):
        return f"above {vs[-1].name}"
    i, in_body = divmod(above - 1, 2)
    if in_body == 0:
        return vs[i].name
    lower, upper = vs[i].name, vs[i + 1].name
    order = names.VERTEBRAE
    if lower in order and upper in order and order.index(upper) == order.index(lower) + 1:
        return f"{upper}/{lower}"
    return f"between {lower} and {upper}"

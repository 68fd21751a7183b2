"""Seed points and landmarks from a Slicer markups file (.mrk.json), in RAS.

Architecture section 5: the control-point labels say what each point is (IVC, Left, Right,
Via..., Renal, InguinalLeft, InguinalRight; any case). Slicer writes markups in LPS by
default ("coordinateSystem": "LPS"); the points are returned in RAS.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

KNOWN = ("ivc", "left", "right", "renal", "inguinalleft", "inguinalright")
CANONICAL = {
    "ivc": "IVC",
    "left": "Left",
    "right": "Right",
    "renal": "Renal",
    "inguinalleft": "InguinalLeft",
    "inguinalright": "InguinalRight",
}


def read_seeds(path: str | Path) -> dict[str, np.ndarray]:
    """Labelled points of a markups file: {"IVC": ras, "Left": ras, "Via": ras, ...}.

    :raises ValueError: on a missing or malformed file, unknown or repeated labels.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ValueError(f"seed file {path} not found") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"seed file {path} is not a markups JSON file (line {exc.lineno})") from exc
    markups = data.get("markups") if isinstance(data, dict) else None
    if not markups:
        raise ValueError(f"seed file {path} has no markups: save the point list from Slicer as .mrk.json")
    out: dict[str, np.ndarray] = {}
    for markup in markups:
        flip = np.array([-1.0, -1.0, 1.0]) if markup.get("coordinateSystem", "LPS") == "LPS" else np.ones(3)
        for point in markup.get("controlPoints", []):
            if point.get("positionStatus", "defined") != "defined":
                continue
            label = str(point.get("label", "")).strip()
            key = label.lower()
            if key.startswith("via"):
                name = label if label not in out else f"{label} ({sum(k.startswith(label) for k in out) + 1})"
            elif key in KNOWN:
                name = CANONICAL[key]
                if name in out:
                    raise ValueError(f"seed file {path} has two points labelled {name}: keep one")
            else:
                raise ValueError(
                    f"seed file {path} has a point labelled {label!r}: use IVC, Left, Right, Via..., Renal, "
                    "InguinalLeft or InguinalRight"
                )
            out[name] = np.asarray(point["position"], dtype=float) * flip
    return out

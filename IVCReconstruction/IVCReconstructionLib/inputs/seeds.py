"""Seed points and landmarks: one parser for a markups file, a markups node and a plain mapping.

Architecture section 5: the control-point labels say what each point is (IVC, Left, Right,
Via..., Renal, InguinalLeft, InguinalRight; any case, spaces around them ignored). A ``.mrk.json``
file (Slicer writes LPS by default, ``"coordinateSystem": "LPS"``), a point list in the Slicer
scene and a ``{"IVC": ras, ...}`` mapping (the phantom's seeds, scripts) all go through
:func:`parse_seed_points`, so every entry point accepts the same labels, refuses the same
mistakes and numbers repeated ``Via`` labels the same way ("Via", "Via (2)", ...).
All points are RAS millimetres.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..names import END_SEEDS, LANDMARK_SEEDS, SEED_VIA_PREFIX, SeedLabel

_KNOWN = {label.lower(): label for label in (*END_SEEDS, *LANDMARK_SEEDS)}


@dataclass(frozen=True)
class SeedPoints(Mapping):
    """Labelled seed points (RAS mm), readable as a mapping label -> point.

    ``ends`` holds the IVC, Left and Right points that were given, ``vias`` the Via points in the
    order given (each under a label of its own), ``landmarks`` the Renal and Inguinal points. The
    mapping lists ends, then Via points, then landmarks.
    """

    ends: dict[SeedLabel, np.ndarray] = field(default_factory=dict)
    vias: tuple[tuple[str, np.ndarray], ...] = ()
    landmarks: dict[SeedLabel, np.ndarray] = field(default_factory=dict)

    def _items(self) -> list[tuple[str, np.ndarray]]:
        return [
            *((str(k), v) for k, v in self.ends.items()),
            *self.vias,
            *((str(k), v) for k, v in self.landmarks.items()),
        ]

    def __getitem__(self, key: str) -> np.ndarray:
        for label, point in self._items():
            if label == key:
                return point
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter([label for label, _ in self._items()])

    def __len__(self) -> int:
        return len(self._items())

    def missing_ends(self) -> list[str]:
        """The labels of IVC, Left, Right that have no point."""
        return [str(label) for label in END_SEEDS if label not in self.ends]

    def end_points(self) -> dict[str, np.ndarray]:
        """Only the IVC, Left and Right points (what the centerlines start and end at)."""
        return {str(k): v for k, v in self.ends.items()}

    def mapped(self, transform) -> SeedPoints:
        """The same points through ``transform`` (a function of one RAS point)."""

        def move(p: np.ndarray) -> np.ndarray:
            return np.asarray(transform(p), dtype=float).reshape(3)

        return SeedPoints(
            {k: move(v) for k, v in self.ends.items()},
            tuple((k, move(v)) for k, v in self.vias),
            {k: move(v) for k, v in self.landmarks.items()},
        )

    def described(self) -> str:
        """The labels, for a report or a node attribute: "IVC, Left, Right, Via"."""
        return ", ".join(self)


def parse_seed_points(points: Iterable[tuple[str, Any]], source: str) -> SeedPoints:
    """The seed points of (label, RAS point) pairs; ``source`` names them in messages
    ("the seed file seeds.mrk.json", "the seed point list Seeds").

    Every unknown label is named in one message; a repeated IVC, Left, Right, Renal or Inguinal
    label is refused; Via labels may repeat and get " (2)", " (3)", ... (compared in any case).

    :raises ValueError: naming the labels to fix.
    """
    ends: dict[SeedLabel, np.ndarray] = {}
    landmarks: dict[SeedLabel, np.ndarray] = {}
    vias: list[tuple[str, np.ndarray]] = []
    unknown: list[str] = []
    repeated: list[str] = []
    for raw_label, raw_point in points:
        text = str(raw_label).strip()
        point = np.asarray(raw_point, dtype=float).reshape(-1)
        if point.shape != (3,) or not np.all(np.isfinite(point)):
            raise ValueError(f"{source}: the point labelled {text!r} is not three finite coordinates")
        if text.lower().startswith(SEED_VIA_PREFIX.lower()):
            key, number = text, 1
            taken = {existing.lower() for existing, _ in vias}
            while key.lower() in taken:
                number += 1
                key = f"{text} ({number})"
            vias.append((key, point))
            continue
        label = _KNOWN.get(text.lower())
        if label is None:
            unknown.append(text)
            continue
        target = ends if label in END_SEEDS else landmarks
        if label in target:
            repeated.append(str(label))
        target[label] = point
    if unknown:
        which = "a point" if len(unknown) == 1 else "points"
        raise ValueError(
            f"{source} has {which} labelled {', '.join(repr(u) for u in unknown)}: label the points "
            f"{', '.join(END_SEEDS)} (any case); {', '.join(LANDMARK_SEEDS)} and labels starting with "
            f"{SEED_VIA_PREFIX} are also accepted"
        )
    if repeated:
        raise ValueError(
            f"{source} has more than one point labelled {', '.join(dict.fromkeys(repeated))} (labels are "
            "matched in any case): keep one point per label"
        )
    # Canonical order, whatever the order of the points: the result never depends on it.
    ends = {k: ends[k] for k in END_SEEDS if k in ends}
    landmarks = {k: landmarks[k] for k in LANDMARK_SEEDS if k in landmarks}
    return SeedPoints(ends, tuple(vias), landmarks)


def as_seed_points(seeds: Mapping[str, Any] | None, source: str = "the seed points") -> SeedPoints:
    """``seeds`` as SeedPoints: itself, or a mapping label -> RAS point parsed as above."""
    if seeds is None:
        return SeedPoints()
    if isinstance(seeds, SeedPoints):
        return seeds
    return parse_seed_points(seeds.items(), source)


def read_seeds(path: str | Path) -> SeedPoints:
    """The labelled points of a Slicer markups file (.mrk.json), in RAS.

    Points not placed yet (``positionStatus`` other than "defined") are left out.
    :raises ValueError: on a missing or malformed file, unknown or repeated labels.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ValueError(f"seed file {path} not found") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"seed file {path} is not a markups JSON file (line {exc.lineno})") from exc
    except OSError as exc:
        raise ValueError(f"cannot read the seed file {path}: {exc.strerror}") from exc
    markups = data.get("markups") if isinstance(data, dict) else None
    if not markups:
        raise ValueError(f"seed file {path} has no markups: save the point list from Slicer as .mrk.json")
    points = []
    for markup in markups:
        flip = np.array([-1.0, -1.0, 1.0]) if markup.get("coordinateSystem", "LPS") == "LPS" else np.ones(3)
        for point in markup.get("controlPoints", []):
            if point.get("positionStatus", "defined") != "defined":
                continue
            try:
                position = np.asarray(point["position"], dtype=float) * flip
            except (KeyError, TypeError, ValueError):
                raise ValueError(
                    f"seed file {path}: the point labelled {point.get('label', '')!r} has no position"
                ) from None
            points.append((point.get("label", ""), position))
    return parse_seed_points(points, f"the seed file {path}")


def seeds_from_markups(node: Any) -> SeedPoints:
    """The placed points of a markups point list (vtkMRMLMarkupsFiducialNode), in world RAS
    (so a transform on the point list applies).

    :raises ValueError: when ``node`` is not a point list, or for unknown or repeated labels.
    """
    if node is None or not hasattr(node, "IsA") or not node.IsA("vtkMRMLMarkupsFiducialNode"):
        what = f"{node.GetClassName()} {node.GetName()!r}" if hasattr(node, "GetClassName") else repr(node)
        raise ValueError(f"the seed points must be a point list (markups fiducial node); got {what}")
    points = []
    for index in range(node.GetNumberOfControlPoints()):
        if node.GetNthControlPointPositionStatus(index) != node.PositionDefined:
            continue  # being placed, or never placed: no position yet
        position = [0.0, 0.0, 0.0]
        node.GetNthControlPointPositionWorld(index, position)
        points.append((node.GetNthControlPointLabel(index), position))
    return parse_seed_points(points, f"the seed point list {node.GetName()}")


def next_via_label(labels: Iterable[str]) -> str:
    """The label for one more Via point among points labelled ``labels``: "Via", then "Via (2)",
    "Via (3)", ... as :func:`parse_seed_points` numbers repeated Via labels."""
    taken = {str(label).strip().lower() for label in labels}
    key, number = SEED_VIA_PREFIX, 1
    while key.lower() in taken:
        number += 1
        key = f"{SEED_VIA_PREFIX} ({number})"
    return key

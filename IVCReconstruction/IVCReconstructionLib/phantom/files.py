"""A phantom written to files, with its truth: what ``ivc-plan phantom`` and the demo write.

``phantom_ct.nii.gz`` (the CT), ``truth_labels.nii.gz`` and ``truth_segmentation.seg.nrrd``,
``seeds.mrk.json``, a ``truth_centerline_<branch>.csv`` per branch and ``truth.json`` (the
numbers the planner should find).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..scene import nodes as scene_nodes
from ..scene.phantom_nodes import PhantomNodes, add_phantom_to_scene
from .truth import Phantom


def truth_summary(phantom: Phantom) -> dict[str, Any]:
    """The phantom's truth as JSON-ready numbers (RAS mm)."""

    def ras(p):
        return [round(float(c), 2) for c in p]

    branches = {}
    for name, br in phantom.branches.items():
        healthy = br.healthy()
        branches[name] = {
            "length_mm": round(br.length_mm, 1),
            "median_ce_diameter_mm": round(float(np.median(br.ce_diameter_mm[healthy])), 2),
        }
    return {
        "confluence_ras": ras(phantom.confluence_ras),
        "renal_inflow_ras": ras(phantom.renal_inflow_ras),
        "inter_iliac_angle_deg": round(phantom.inter_iliac_angle_deg, 1),
        "seeds": {k: ras(v) for k, v in phantom.seeds.items()},
        "branches": branches,
        "lesions": [les.to_json() for les in phantom.lesions],
        "enhancement_hu": {k: round(float(v), 1) for k, v in phantom.enhancement_hu.items()},
        "spacing_mm": [round(float(s), 3) for s in phantom.spacing_mm],
        "size_ijk": list(phantom.shape_ijk),
    }


BRANCH_NAMES = ("ivc", "left_iliac", "right_iliac")
# Every file write_phantom writes.
PHANTOM_FILE_NAMES = (
    "phantom_ct.nii.gz",
    "truth_labels.nii.gz",
    "truth_segmentation.seg.nrrd",
    "seeds.mrk.json",
    *(f"truth_centerline_{name}.csv" for name in BRANCH_NAMES),
    "truth.json",
)


def write_phantom(
    scene: Any, phantom: Phantom, out: Path, landmarks: dict[str, Any] | None = None
) -> tuple[list[Path], PhantomNodes]:
    """Write the phantom and its truth into ``out``, and put both in the scene; return the files
    and the nodes. ``landmarks`` (label -> RAS point, e.g. ``{"Renal": ...}``) join the seed
    points (node and ``seeds.mrk.json``), for a run that uses them."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    nodes = add_phantom_to_scene(scene, phantom)
    for label, point in (landmarks or {}).items():
        nodes.seeds.AddControlPoint([float(c) for c in point], label)
    written.append(scene_nodes.save_node(nodes.volume, out / "phantom_ct.nii.gz"))
    labels = scene_nodes.add_volume_from_array(
        scene, phantom.labels, phantom.ijk_to_ras, "truth labels", True
    )
    written.append(scene_nodes.save_node(labels, out / "truth_labels.nii.gz"))
    scene_nodes.remove_nodes(scene, [labels])
    written.append(scene_nodes.save_node(nodes.segmentation, out / "truth_segmentation.seg.nrrd"))
    written.append(scene_nodes.save_node(nodes.seeds, out / "seeds.mrk.json"))
    for name, br in phantom.branches.items():
        path = out / f"truth_centerline_{name}.csv"
        table = np.column_stack(
            [
                br.distance_mm,
                br.points_ras,
                br.area_mm2,
                br.ce_diameter_mm,
                br.min_diameter_mm,
                br.max_diameter_mm,
            ]
        )
        header = "distance_mm,r,a,s,area_mm2,ce_diameter_mm,min_diameter_mm,max_diameter_mm"
        np.savetxt(path, table, delimiter=",", fmt="%.3f", comments="", header=header)
        written.append(path)
    path = out / "truth.json"
    path.write_text(json.dumps(truth_summary(phantom), indent=2) + "\n")
    written.append(path)
    return written, nodes

"""Accuracy report of the centerline stage against the phantoms' truth (printed by `make bench`).

The tests assert these numbers against the issue's targets; this prints them, so that the
figures quoted in notes and docs can be reproduced with one command.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.spatial import cKDTree

from IVCReconstructionLib.measure.veins import measure_veins
from IVCReconstructionLib.phantom import PhantomOptions, make_phantom

CASES = {
    "reference anatomy, 1 mm": PhantomOptions(),
    "May-Thurner 0.25, 1 mm, seeded": PhantomOptions(may_thurner_area_ratio=0.25),
    "random anatomy #7, 1 mm": PhantomOptions(seed=7),
}


def main() -> int:
    print(f"{'phantom':32s} {'branch':12s} {'line mm':>8s} {'|dCE| mm':>9s} {'|dmin|':>7s} {'|dmax|':>7s}")
    for name, options in CASES.items():
        ph = make_phantom(options)
        labels = np.where(np.isin(ph.labels, (1, 2, 3)), ph.labels, 0)
        m = measure_veins(labels, ph.ijk_to_ras, seeds=ph.seeds if "seeded" in name else None)
        for branch, prof in m.profiles.items():
            truth = ph.branches[branch]
            path = (
                truth.points_ras
                if branch == "ivc"
                else np.vstack([ph.branches["ivc"].points_ras, truth.points_ras])
            )
            line = cKDTree(path).query(prof.points_ras)[0].mean()
            dist, idx = cKDTree(truth.points_ras).query(prof.points_ras)
            ok = truth.healthy()[idx] & ~prof.confluence_zone & (dist < 2.0)
            errs = [
                np.median(np.abs(measured[ok] - expected[idx][ok]))
                for measured, expected in (
                    (prof.ce_diameter_mm, truth.ce_diameter_mm),
                    (prof.min_diameter_mm, truth.min_diameter_mm),
                    (prof.max_diameter_mm, truth.max_diameter_mm),
                )
            ]
            print(f"{name:32s} {branch:12s} {line:8.2f} {errs[0]:9.2f} {errs[1]:7.2f} {errs[2]:7.2f}")
        for les in ph.lesions:
            prof = m.profiles[les.branch]
            near = (prof.distance_mm < 70) & ~prof.confluence_zone
            i = int(np.argmin(np.where(near, prof.area_mm2, np.inf)))
            print(
                f"{'':32s} lesion {les.branch}: min area {prof.area_mm2[i]:.1f} mm2 "
                f"(truth {les.min_area_mm2:.1f}, {100 * (prof.area_mm2[i] / les.min_area_mm2 - 1):+.0f} %)"
            )
        offset = np.linalg.norm(m.tree.confluence_ras - ph.confluence_ras)
        print(f"{'':32s} confluence {offset:.1f} mm from truth")
    return 0


if __name__ == "__main__":
    sys.exit(main())

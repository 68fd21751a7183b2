"""Benchmark: time and peak memory per stage, each case in its own process.

Timings live here, not in the tests (the suite must stay fast and deterministic). Each case
runs in a fresh interpreter so that its peak resident memory is its own. Run with `make bench`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

CASES = {
    "phantom, reference anatomy, 1 mm (fit to anatomy)": "PhantomOptions()",
    "phantom, May-Thurner 0.25, 1 mm": "PhantomOptions(may_thurner_area_ratio=0.25)",
    "phantom, full size 512x512x400 at 0.8 mm": "PhantomOptions(spacing_mm=0.8, size_ijk=(512, 512, 400))",
}

CHILD = """
import json, resource, time
from IVCReconstructionLib.phantom import PhantomOptions, make_phantom
import scipy.spatial, scipy.interpolate, scipy.ndimage  # imports are not the stage's cost
t = time.perf_counter()
ph = make_phantom({options})
seconds = time.perf_counter() - t
print(json.dumps({{"seconds": seconds, "voxels": int(ph.image.size),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> int:
    print(f"{'case':55s} {'voxels':>12s} {'time':>8s} {'peak memory':>12s}")
    for name, options in CASES.items():
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD.format(options=options)], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            print(f"{name:55s} FAILED after {time.perf_counter() - start:.1f} s:\n{out.stderr}")
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:55s} {r['voxels']:12,d} {r['seconds']:7.1f}s {r['peak_mb']:9.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

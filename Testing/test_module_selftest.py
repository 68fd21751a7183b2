"""The module's in-Slicer self-test, run on slicer-core (see support/run_module_selftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "support" / "run_module_selftest.py"


def test_module_self_test_passes_on_slicer_core_with_only_slicers_packages():
    # A process of its own: the stand-ins for Slicer's framework modules and the global
    # slicer.mrmlScene must not leak into the other tests. matplotlib, nibabel and highdicom
    # are made unimportable, as in a stock Slicer.
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--stock-slicer"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "self-test passed" in result.stdout
    assert "not importable, as in a stock Slicer: matplotlib, nibabel, highdicom" in result.stdout
    # Every test of IVCReconstructionTest ran, the measurement one included.
    assert "Vein measurement test passed" in result.stdout


def test_export_to_dicom_through_the_logic_with_highdicom():
    # The stock-Slicer run above checks the message without highdicom; this one exports (the
    # venv has highdicom, as a Slicer has after the panel installed it).
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--case", "exportDicomPhantom"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Export to DICOM test passed" in result.stdout

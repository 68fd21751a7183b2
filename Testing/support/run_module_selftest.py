"""Run the Slicer module's own self-test (IVCReconstructionTest) on slicer-core, headless.

slicer-core ships the MRML library but not three small pieces of the Slicer application's
Python framework that the module file imports: ScriptedLoadableModule (base classes),
slicer.i18n (translation) and slicer.parameterNodeWrapper, nor the application object
(slicer.app, of which the logic only asks for the application logic). Minimal stand-ins for
those are put in place here; everything the self-test exercises (the module's logic, the library, MRML)
is the real thing. The widget is not built (it needs Qt).

A stock 3D Slicer 5.10 bundles numpy, scipy, SimpleITK, vtk, pillow and pydicom, not
matplotlib, nibabel or highdicom; ``--stock-slicer`` makes those three unimportable first, so
the self-test shows that the module works without them.

Usage: python run_module_selftest.py [--stock-slicer] [--case NAME]; exit 0 when the self-test
(or its one case NAME) passes.
"""

from __future__ import annotations

import sys
import tempfile
import types
import unittest
from pathlib import Path

import slicer
import slicer.util

from IVCReconstructionLib.scene import create_scene

MODULE_DIR = Path(__file__).resolve().parents[2] / "IVCReconstruction"


class ScriptedLoadableModule:
    def __init__(self, parent):
        self.parent = parent


class ScriptedLoadableModuleWidget:
    pass


class ScriptedLoadableModuleLogic:
    def __init__(self):
        pass


class ScriptedLoadableModuleTest(unittest.TestCase):
    def delayDisplay(self, message, msec=None):  # noqa: N802 - Slicer's name
        print("  ", message)


def install_stand_ins() -> None:
    slm = types.ModuleType("slicer.ScriptedLoadableModule")
    for cls in (
        ScriptedLoadableModule,
        ScriptedLoadableModuleWidget,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
    ):
        setattr(slm, cls.__name__, cls)
    slm.__all__ = [n for n in dir(slm) if n.startswith("Scripted")]
    sys.modules["slicer.ScriptedLoadableModule"] = slm
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr = lambda text: text
    i18n.translate = lambda context, text: text
    sys.modules["slicer.i18n"] = i18n
    pnw = types.ModuleType("slicer.parameterNodeWrapper")
    pnw.parameterNodeWrapper = lambda cls: cls
    pnw.WithinRange = lambda low, high: (low, high)
    sys.modules["slicer.parameterNodeWrapper"] = pnw


# Importable headless (the venv has them) but not in a stock Slicer.
NOT_IN_SLICER = ("matplotlib", "nibabel", "highdicom")


def block_packages(names=NOT_IN_SLICER) -> None:
    """Make ``import name`` fail with ImportError, as in an application that lacks the package."""
    for name in names:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]
        sys.modules[name] = None


def main(argv: list[str] | None = None) -> int:
    if "--stock-slicer" in (sys.argv[1:] if argv is None else argv):
        block_packages()
        print(f"not importable, as in a stock Slicer: {', '.join(NOT_IN_SLICER)}")
    install_stand_ins()
    ctx = create_scene(Path(tempfile.mkdtemp()) / "selftest")
    slicer.mrmlScene = ctx.scene
    # The module's logic asks the application for its application logic (offscreen rendering).
    slicer.app = types.SimpleNamespace(
        applicationLogic=lambda: ctx.app_logic, majorVersion=5, minorVersion=10
    )
    sys.path.insert(0, str(MODULE_DIR))
    from IVCReconstruction import IVCReconstructionTest

    args = sys.argv[1:] if argv is None else argv
    if "--case" in args:  # one case of IVCReconstructionSelfTest/phantom_cases.py, on an empty scene
        name = args[args.index("--case") + 1]
        test = IVCReconstructionTest("runTest")
        test.setUp()
        test._runCase(name)
        print(f"self-test case {name} passed")
        return 0
    test = IVCReconstructionTest("runTest")
    test.runTest()
    print("self-test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Python the module meets in Slicer: 3.12 in the supported Slicer 5.10, 3.9 in Slicer 5.8.

The module file itself must import under Python 3.9, so that an older Slicer shows "needs 3D
Slicer 5.10" instead of a traceback; everything else it imports in Slicer (the library, the
self-test cases) runs only in a supported Slicer and must parse under its Python 3.12.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

MODULE_DIR = Path(__file__).resolve().parents[1] / "IVCReconstruction"
MODULE_FILE = MODULE_DIR / "IVCReconstruction.py"
SLICER_PYTHON = (3, 12)  # Slicer 5.10 (Slicer_REQUIRED_PYTHON_VERSION 3.12.10)
OLDEST_PYTHON = (3, 9)  # Slicer 5.8


def test_the_module_file_imports_under_python_3_9():
    source = MODULE_FILE.read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=OLDEST_PYTHON)
    problems = []
    for node in ast.walk(tree):
        # X | Y between types fails at run time before 3.10 (annotations are evaluated at import).
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            sides = (node.left, node.right)
            if all(isinstance(s, ast.Name | ast.Attribute | ast.Subscript | ast.Constant) for s in sides):
                problems.append(f"line {node.lineno}: {ast.unparse(node)} (use Optional/Union)")
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name == "zip" and any(k.arg == "strict" for k in node.keywords):
                problems.append(f"line {node.lineno}: zip(strict=) is Python 3.10")
            if name.endswith("pairwise"):
                problems.append(f"line {node.lineno}: itertools.pairwise is Python 3.10")
    assert "from __future__ import annotations" not in source  # parameterNodeWrapper reads the types
    assert not problems, problems


@pytest.mark.parametrize(
    "path",
    sorted(p for p in MODULE_DIR.glob("*/**/*.py") if "__pycache__" not in p.parts),
    ids=lambda p: p.relative_to(MODULE_DIR).as_posix(),
)
def test_what_the_module_imports_parses_under_slicers_python(path):
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=SLICER_PYTHON)


def test_the_declared_slicer_version_is_the_one_checked():
    source = MODULE_FILE.read_text(encoding="utf-8")
    (minimum,) = re.findall(r"^MINIMUM_SLICER_VERSION = \((\d+), (\d+)\)$", source, flags=re.M)
    version = ".".join(minimum)
    readme = (MODULE_DIR.parent / "README.md").read_text(encoding="utf-8")
    cmake = (MODULE_DIR.parent / "CMakeLists.txt").read_text(encoding="utf-8")
    assert f"3D Slicer {version} or later" in readme
    assert f"Needs 3D Slicer {version} or later" in cmake
    assert f"Needs 3D Slicer {version} or later" in source  # the module's help

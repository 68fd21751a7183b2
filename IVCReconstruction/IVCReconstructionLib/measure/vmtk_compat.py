"""One import of VMTK for both places the library runs.

Inside 3D Slicer the SlicerVMTK extension puts VMTK's wrapped libraries on the path as
top-level modules (``vtkvmtkComputationalGeometryPython``, ...); the PyPI ``vmtk`` wheel keeps
them inside its package (``from vmtk import vtkvmtk``). Both wrap the same C++ classes on the
same VTK, so the rest of the library asks this module for the classes by name.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType

_SLICER_MODULES = (
    "vtkvmtkComputationalGeometryPython",
    "vtkvmtkDifferentialGeometryPython",
    "vtkvmtkMiscPython",
    "vtkvmtkCommonPython",
)


@cache
def _modules() -> tuple[ModuleType, ...]:
    import importlib

    found = []
    for name in _SLICER_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue
    if found:
        return tuple(found)
    try:
        from vmtk import vtkvmtk
    except ImportError as exc:
        raise ImportError(
            "VMTK is not available: in 3D Slicer install the SlicerVMTK extension; headless, "
            "`pip install vmtk==1.5.2` (Python 3.12)"
        ) from exc
    return (vtkvmtk,)


def vmtk_class(name: str):
    """The VMTK class called `name` (e.g. "vtkvmtkPolyDataCenterlines"), wherever it lives."""
    for module in _modules():
        cls = getattr(module, name, None)
        if cls is not None:
            return cls
    raise ImportError(f"this VMTK build has no {name}")

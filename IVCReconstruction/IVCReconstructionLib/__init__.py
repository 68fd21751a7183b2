"""Qt-free library of the IVCReconstruction Slicer extension.

Every stage of the planning pipeline lives here, one concept per module, so that the Slicer
module, the ``ivc-plan`` command line and the tests call the same functions. Third-party
packages (numpy, vtk, slicer, vmtk) are imported inside the modules that need them, never here.
"""

__version__ = "0.1.0"

"""The one place the library builds an MRML scene outside Slicer.

Inside the Slicer application the scene, the application logic and the module logics already
exist. Headless (tests, the ``ivc-plan`` command line) they come from the PyPI ``slicer-core``
package, which ships the compiled MRML and module-logic libraries but no Qt application
(no ``slicer.app``, so ``slicer.util.loadVolume``/``saveNode``/``loadScene`` do not work). This
module wires those parts together the way the application would, so that everything downstream
(the ``scene`` node builders, storage nodes, ``.mrb`` bundles) behaves as it does in Slicer.

Wiring order matters (see docs/feasibility.md section 1):

* the application logic gets the scene first, which creates the selection and interaction
  singletons that the markups and volumes logics look up;
* every module logic gets ``SetMRMLApplicationLogic`` *before* ``SetMRMLScene``, because it
  registers its node classes and looks up its sibling logics when the scene is set;
* the segmentations logic must have the scene set, otherwise no converter rules are registered
  and ``CreateClosedSurfaceRepresentation`` silently returns False;
* ``ReadFromMRB`` unpacks into the cache manager's remote cache directory, so the scene needs a
  ``vtkCacheManager`` and ``vtkDataIOManager``.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Module logics created for every context: (name used by vtkMRMLApplicationLogic.GetModuleLogic,
# class name in the ``slicer`` namespace, MRMLContext attribute). The terminologies logic is left
# out on purpose: slicer-core ships no terminology JSON files, so it only logs load errors.
_MODULE_LOGICS = (
    ("Colors", "vtkSlicerColorLogic", "colors"),
    ("Volumes", "vtkSlicerVolumesLogic", "volumes"),
    ("Segmentations", "vtkSlicerSegmentationsModuleLogic", "segmentations"),
    ("Markups", "vtkSlicerMarkupsLogic", "markups"),
    ("Models", "vtkSlicerModelsLogic", "models"),
    ("Tables", "vtkSlicerTablesLogic", "tables"),
    ("Plots", "vtkSlicerPlotsLogic", "plots"),
    ("SubjectHierarchy", "vtkSlicerSubjectHierarchyModuleLogic", "subject_hierarchy"),
)


@dataclass
class MRMLContext:
    """A headless MRML scene with its application logic and module logics.

    The context holds the only strong Python references to the logics:
    ``vtkMRMLApplicationLogic.SetModuleLogic`` does not keep them alive, and a logic that is
    garbage collected vanishes from ``GetModuleLogic`` (the colours logic also removes its 46
    built-in colour nodes from the scene).
    Use it as a context manager or call :meth:`close` when done.
    """

    scene: Any  # slicer.vtkMRMLScene
    app_logic: Any  # slicer.vtkSlicerApplicationLogic
    colors: Any
    volumes: Any
    segmentations: Any
    markups: Any
    models: Any
    tables: Any
    plots: Any
    subject_hierarchy: Any
    temp_dir: Path
    owns_temp_dir: bool = False
    _cache_manager: Any = field(default=None, repr=False)
    _data_io_manager: Any = field(default=None, repr=False)
    closed: bool = False

    def logics(self) -> dict[str, Any]:
        """Module logics by their Slicer module name (``"Segmentations"``, ``"Markups"``, ...)."""
        return {name: getattr(self, attr) for name, _cls, attr in _MODULE_LOGICS}

    def close(self) -> None:
        """Empty the scene (singletons included) and remove the temporary directory if owned.

        Safe to call more than once.
        """
        if self.closed:
            return
        self.closed = True
        # The logics stay attached, as in Slicer at exit: detaching the segmentations logic
        # (SetMRMLScene(None)) only logs a subject-hierarchy warning, and they drop their scene
        # observers when they are destroyed together with this context.
        self.scene.Clear(1)
        if self.owns_temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> MRMLContext:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def create_scene(temp_dir: str | Path | None = None) -> MRMLContext:
    """Create a scene wired to an application logic and the module logics, as Slicer does.

    ``temp_dir`` receives the application's home/temporary directory and the cache that
    ``ReadFromMRB`` unpacks bundles into. When None a fresh directory is made and removed again
    by :meth:`MRMLContext.close`.
    """
    import slicer

    owns_temp_dir = temp_dir is None
    temp = Path(tempfile.mkdtemp(prefix="ivc_mrml_")) if temp_dir is None else Path(temp_dir)
    temp.mkdir(parents=True, exist_ok=True)

    # The colours logic reads <home>/<share>/ColorFiles; without that directory it logs an
    # error on every scene. An empty one states the truth: this build has no colour files.
    share = "share"
    (temp / share / "ColorFiles").mkdir(parents=True, exist_ok=True)
    cache = temp / "cache"
    cache.mkdir(exist_ok=True)

    scene = slicer.vtkMRMLScene()
    cache_manager = slicer.vtkCacheManager()
    cache_manager.SetRemoteCacheDirectory(str(cache))
    data_io_manager = slicer.vtkDataIOManager()
    data_io_manager.SetCacheManager(cache_manager)
    scene.SetCacheManager(cache_manager)
    scene.SetDataIOManager(data_io_manager)

    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetHomeDirectory(str(temp))
    app_logic.SetShareDirectory(share)
    app_logic.SetTemporaryPath(str(temp))
    app_logic.SetMRMLScene(scene)

    logics: dict[str, Any] = {}
    for name, class_name, attr in _MODULE_LOGICS:
        logic = getattr(slicer, class_name)()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(name, logic)
        logics[attr] = logic

    return MRMLContext(
        scene=scene,
        app_logic=app_logic,
        temp_dir=temp,
        owns_temp_dir=owns_temp_dir,
        _cache_manager=cache_manager,
        _data_io_manager=data_io_manager,
        **logics,
    )


def _messages_text(messages: Any) -> str:
    """The text of a vtkMRMLMessageCollection, for error messages."""
    text = messages.GetAllMessagesAsString() if messages.GetNumberOfMessages() else ""
    return text.strip()


def load_mrb(path: str | Path, temp_dir: str | Path | None = None) -> MRMLContext:
    """Read a Slicer scene bundle (``.mrb``) into a fresh context.

    Raises ValueError (naming the file and the reason) when the file is missing or unreadable;
    the half-built context is closed first.
    """
    import slicer

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"cannot load scene bundle {path}: no such file")
    # ReadFromMRB's own errors for a non-zip are about URLs and syntax; say what is wrong.
    if not zipfile.is_zipfile(path):
        raise ValueError(f"cannot load scene bundle {path}: not a zip archive (a .mrb is a zipped scene)")
    with zipfile.ZipFile(path) as archive:
        if not any(entry.lower().endswith(".mrml") for entry in archive.namelist()):
            raise ValueError(f"cannot load scene bundle {path}: the archive holds no .mrml scene file")
    ctx = create_scene(temp_dir)
    messages = slicer.vtkMRMLMessageCollection()
    try:
        ok = ctx.scene.ReadFromMRB(str(path), False, messages)
    except Exception:
        ctx.close()
        raise
    if not ok:
        detail = _messages_text(messages) or "vtkMRMLScene.ReadFromMRB returned False"
        ctx.close()
        raise ValueError(f"cannot load scene bundle {path}: {detail}")
    return ctx


def store_uncompressed(node: Any) -> None:
    """Give a volume node that has no storage node yet an uncompressed one, so that a scene
    bundle holds its voxels as they are: compressing a 0.6 mm CT (40 M voxels) costs ~2 s (ITK's
    gzip, no level to choose) for a file half the size. Label maps and segmentations keep their
    compression (they shrink ~100x in a fraction of the time); nodes read from a file keep their
    own storage node."""
    if node is None or node.GetStorageNode() is not None:
        return
    storage = node.CreateDefaultStorageNode()
    if storage is None:
        return
    storage.SetUseCompression(False)
    node.GetScene().AddNode(storage)
    node.SetAndObserveStorageNodeID(storage.GetID())


def save_mrb(ctx_or_scene: MRMLContext | Any, path: str | Path) -> Path:
    """Write the scene (or a context's scene) to a Slicer scene bundle (``.mrb``).

    Parent directories are created. Returns the path written; raises OSError when writing fails.
    """
    import slicer

    scene = ctx_or_scene.scene if isinstance(ctx_or_scene, MRMLContext) else ctx_or_scene
    path = Path(path)
    if path.suffix.lower() != ".mrb":
        raise ValueError(f"scene bundle file name must end with .mrb: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    messages = slicer.vtkMRMLMessageCollection()
    if not scene.WriteToMRB(str(path), None, messages) or not path.is_file():
        detail = _messages_text(messages) or "vtkMRMLScene.WriteToMRB returned False"
        raise OSError(f"cannot write scene bundle {path}: {detail}")
    return path

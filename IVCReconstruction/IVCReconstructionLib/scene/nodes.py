"""Generic MRML node helpers: volumes, curves, point lists, tables, charts, models, folders, files.

The pipeline stages exchange plain Python objects (numpy arrays, dataclasses); the ``scene``
subpackage turns them into the nodes a Slicer user sees, and every node the library makes is
made in this subpackage: the helpers here, and one file per kind of result built on them
(``segmentation_nodes``, ``centerline_nodes``, ``plan_nodes``, ``handles``, ``phantom_nodes``).

Every function takes the scene explicitly, never ``slicer.mrmlScene``, so the same code runs in
the Slicer application (pass ``slicer.mrmlScene``) and headless on ``slicer-core`` (pass
``scene.create_scene().scene``). Geometry is in RAS millimetres; image arrays are indexed
``[k, j, i]`` like ``slicer.util.arrayFromVolume``. Functions validate their input before they
touch the scene, so a ValueError leaves the scene as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..names import SERIES_COLORS

# Labelmap colour tables in order of preference: Slicer's file-based tables exist only in the
# application; the built-in "Labels" table always exists once the colours logic has a scene.
_LABELMAP_COLOR_NODE_IDS = (
    "vtkMRMLColorTableNodeFileGenericAnatomyColors.txt",
    "vtkMRMLColorTableNodeFileGenericColors.txt",
    "vtkMRMLColorTableNodeLabels",
)


# ---------------------------------------------------------------------------------------------
# Validation and small conversions


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    return name


def check_matrix(ijk_to_ras: Any) -> np.ndarray:
    """A validated 4x4 IJK-to-RAS matrix as float array."""
    m = np.asarray(ijk_to_ras, dtype=float)
    if m.shape != (4, 4):
        raise ValueError(f"ijk_to_ras must be a 4x4 matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError("ijk_to_ras contains NaN or infinite values")
    if not np.allclose(m[3], (0.0, 0.0, 0.0, 1.0)):
        raise ValueError(f"ijk_to_ras last row must be (0, 0, 0, 1), got {tuple(m[3])}")
    if abs(np.linalg.det(m[:3, :3])) < 1e-12:
        raise ValueError("ijk_to_ras is singular (zero spacing or collinear axes)")
    return m


def check_image_array(array_kji: Any, what: str) -> np.ndarray:
    from vtkmodules.util import numpy_support

    a = np.asarray(array_kji)
    if a.ndim != 3:
        raise ValueError(f"{what} must be a 3D array indexed [k, j, i], got {a.ndim}D shape {a.shape}")
    if min(a.shape) == 0:
        raise ValueError(f"{what} is empty, shape {a.shape}")
    if a.dtype == bool:
        a = a.astype(np.uint8)
    try:
        numpy_support.get_vtk_array_type(a.dtype)
    except TypeError:
        raise ValueError(f"{what} has unsupported data type {a.dtype}") from None
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{what} has unsupported data type {a.dtype}")
    return a


def check_points(points: Any, what: str) -> np.ndarray:
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{what} must be an (N, 3) array of RAS points, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return p


def check_color(color: Sequence[float], what: str = "color") -> tuple[float, float, float]:
    c = tuple(float(v) for v in color)
    if len(c) != 3 or not all(0.0 <= v <= 1.0 for v in c):
        raise ValueError(f"{what} must be three values in [0, 1], got {color!r}")
    return c  # type: ignore[return-value]


def vtk_matrix(m: np.ndarray) -> Any:
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    vm = vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            vm.SetElement(r, c, float(m[r, c]))
    return vm


def numpy_matrix(vm: Any) -> np.ndarray:
    return np.array([[vm.GetElement(r, c) for c in range(4)] for r in range(4)])


def to_vtk_array(values: np.ndarray, name: str) -> Any:
    """A VTK data array holding a copy of a 1D numeric array, same dtype."""
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonCore import vtkDataArray

    arr = vtkDataArray.CreateDataArray(numpy_support.get_vtk_array_type(values.dtype))
    arr.SetName(name)
    arr.SetNumberOfValues(len(values))
    # VTK arrays expose the buffer protocol: np.asarray is a writable view, no element loop.
    np.asarray(arr)[...] = values
    return arr


def from_vtk_array(arr: Any) -> np.ndarray:
    """A copy of a VTK data array (numpy_support.vtk_to_numpy warns on numpy >= 2.5)."""
    return np.array(np.asarray(arr), copy=True)


def _image_data(array_kji: np.ndarray) -> Any:
    """vtkImageData holding a copy of the array. Geometry stays in the volume node (MRML rule)."""
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonDataModel import vtkImageData

    k, j, i = array_kji.shape
    image = vtkImageData()
    image.SetDimensions(i, j, k)
    image.AllocateScalars(numpy_support.get_vtk_array_type(array_kji.dtype), 1)
    np.asarray(image.GetPointData().GetScalars()).reshape(k, j, i)[...] = array_kji
    return image


def discard(scene: Any, sh: Any, folder: int, created: list[Any]) -> None:
    """Undo a half-built result: the folder's items first, without their data nodes (headless,
    nothing removes the item of a removed node, as Slicer's Qt subject-hierarchy plugin does,
    and removing the folder with its data nodes would leave their display nodes behind), then
    the nodes with their display and storage nodes."""
    sh.RemoveItem(folder, False, True)
    remove_nodes(scene, created)


def remove_nodes(scene: Any, nodes: Iterable[Any]) -> None:
    """Remove nodes with their display and storage nodes.

    ``vtkMRMLScene.RemoveNode`` does not cascade, so display nodes would otherwise stay behind.
    """
    for node in nodes:
        if node is None or node.GetScene() is not scene:
            continue
        dependents = []
        if hasattr(node, "GetNumberOfDisplayNodes"):
            dependents += [node.GetNthDisplayNode(n) for n in range(node.GetNumberOfDisplayNodes())]
        if hasattr(node, "GetNumberOfStorageNodes"):
            dependents += [node.GetNthStorageNode(n) for n in range(node.GetNumberOfStorageNodes())]
        scene.RemoveNode(node)
        for dependent in dependents:
            if dependent is not None and dependent.GetScene() is scene:
                scene.RemoveNode(dependent)


# ---------------------------------------------------------------------------------------------
# Volumes


def add_volume_from_array(
    scene: Any,
    array_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    name: str,
    labelmap: bool = False,
    *,
    color_node_id: str | None = None,
) -> Any:
    """Add a scalar (or labelmap) volume node holding a copy of ``array_kji``.

    ``ijk_to_ras`` (4x4) maps voxel (i, j, k, 1) to RAS mm; spacing, origin and axis directions
    are taken from it, so LPS-stored data just has negative diagonal entries. Labelmaps need an
    integer array and get a colour table (``color_node_id`` or Slicer's default labelmap table).
    Returns a vtkMRMLScalarVolumeNode or vtkMRMLLabelMapVolumeNode with a display node.
    Raises ValueError on a bad array or matrix, before anything is added.
    """
    check_name(name)
    a = check_image_array(array_kji, "array_kji")
    m = check_matrix(ijk_to_ras)
    if labelmap and a.dtype.kind not in "iu":
        raise ValueError(f"a labelmap needs an integer array, got {a.dtype}")
    if color_node_id is not None and scene.GetNodeByID(color_node_id) is None:
        raise ValueError(f"colour node {color_node_id!r} is not in the scene")

    node_class = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    node = scene.AddNewNodeByClass(node_class, name)
    node.SetIJKToRASMatrix(vtk_matrix(m))
    if labelmap:
        node.SetAndObserveImageData(_image_data(a))
        node.CreateDefaultDisplayNodes()
        display = node.GetDisplayNode()
        color_id = color_node_id or display.GetColorNodeID() or ""
        if scene.GetNodeByID(color_id) is None:
            # Headless, the default labelmap table can name a colour file that was never loaded.
            color_id = next((cid for cid in _LABELMAP_COLOR_NODE_IDS if scene.GetNodeByID(cid)), "")
        if color_id:
            display.SetAndObserveColorNodeID(color_id)
        return node

    # The default display node computes automatic window/level from a full histogram (0.9 s on
    # 512x512x400); the 1st-99th percentile of at most ~1M voxels gives a comparable CT window.
    display = scene.AddNewNodeByClass("vtkMRMLScalarVolumeDisplayNode")
    display.SetAndObserveColorNodeID(color_node_id or "vtkMRMLColorTableNodeGrey")
    sample = a.ravel()[:: max(1, a.size // 1_000_000)]
    low, high = np.percentile(sample, (1.0, 99.0))
    if high > low:
        display.AutoWindowLevelOff()
        display.SetWindowLevelMinMax(float(low), float(high))
    node.SetAndObserveDisplayNodeID(display.GetID())
    node.SetAndObserveImageData(_image_data(a))
    return node


def array_and_geometry(volume_node: Any, copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The voxels indexed ``[k, j, i]`` and the node's 4x4 IJK-to-RAS matrix.

    With ``copy=False`` the array is a view of the node's image data (no copy of a large
    volume): only for reading, while the node keeps its image. The matrix is the node's own
    geometry; a parent transform, if any, is not applied.
    """
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    image = volume_node.GetImageData() if volume_node is not None else None
    if image is None:
        raise ValueError("volume node has no image data")
    i, j, k = image.GetDimensions()
    scalars = np.asarray(image.GetPointData().GetScalars())
    components = image.GetNumberOfScalarComponents()
    shape = (k, j, i) if components == 1 else (k, j, i, components)
    array = scalars.reshape(shape)
    if copy:
        array = array.copy()
    vm = vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(vm)
    return array, numpy_matrix(vm)


# ---------------------------------------------------------------------------------------------
# Markups


def add_curve(
    scene: Any,
    points_ras: np.ndarray,
    name: str,
    radius_mm: np.ndarray | None = None,
    measurements: Mapping[str, np.ndarray] | None = None,
    *,
    points_per_segment: int = 1,
    locked: bool = False,
) -> Any:
    """Add a markups curve through ``points_ras`` (N, 3) with per-point measurements.

    ``radius_mm`` becomes a "Radius" ``vtkMRMLStaticMeasurement`` (unit mm), the way SlicerVMTK's
    Extract Centerline stores it, and each ``measurements`` entry another static measurement.
    Slicer interpolates these along the curve into ``GetCurveWorld()`` point data (read them
    with :func:`curve_point_data`). ``points_per_segment`` is the curve's interpolation
    resolution; 1 keeps a densely sampled centerline as it is. ``locked`` makes a result curve:
    its control points hidden and not draggable (a measured centerline has one per millimetre,
    which would clutter every view with labelled handles; SlicerVMTK hides them too).
    """
    import slicer
    from vtkmodules.vtkCommonCore import vtkPoints

    check_name(name)
    p = check_points(points_ras, "points_ras")
    if len(p) < 2:
        raise ValueError(f"a curve needs at least 2 points, got {len(p)}")
    if points_per_segment < 1:
        raise ValueError(f"points_per_segment must be >= 1, got {points_per_segment}")
    per_point: dict[str, tuple[np.ndarray, str]] = {}
    if radius_mm is not None:
        per_point["Radius"] = (np.asarray(radius_mm, dtype=float), "mm")
    for key, values in (measurements or {}).items():
        check_name(key, "measurement name")
        if key in per_point:
            raise ValueError(f"measurement {key!r} given twice")
        per_point[key] = (np.asarray(values, dtype=float), "")
    for key, (values, _unit) in per_point.items():
        if values.shape != (len(p),):
            raise ValueError(f"measurement {key!r} needs {len(p)} values (one per point), got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"measurement {key!r} contains NaN or infinite values")

    curve = scene.AddNewNodeByClass("vtkMRMLMarkupsCurveNode", name)
    curve.CreateDefaultDisplayNodes()
    curve.SetNumberOfPointsPerInterpolatingSegment(points_per_segment)
    points = vtkPoints()
    for x, y, z in p:
        points.InsertNextPoint(x, y, z)
    curve.SetControlPointPositionsWorld(points)
    for key, (values, unit) in per_point.items():
        measurement = slicer.vtkMRMLStaticMeasurement()
        measurement.SetName(key)
        measurement.SetUnits(unit)
        measurement.SetPrintFormat("")
        measurement.SetControlPointValues(to_vtk_array(values, key))
        curve.AddMeasurement(measurement)
    if locked:
        curve.SetLocked(True)
        for n in range(curve.GetNumberOfControlPoints()):
            curve.SetNthControlPointVisibility(n, False)
        curve.GetDisplayNode().SetPropertiesLabelVisibility(False)
    return curve


def add_fiducials(scene: Any, points: Mapping[str, np.ndarray], name: str) -> Any:
    """Add a point list whose control-point labels are the keys of ``points`` (RAS mm)."""
    check_name(name)
    checked = {}
    for label, point in points.items():
        check_name(label, "point label")
        q = np.asarray(point, dtype=float)
        if q.shape != (3,) or not np.all(np.isfinite(q)):
            raise ValueError(f"point {label!r} must be 3 finite RAS values, got {point!r}")
        checked[label] = q
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    node.CreateDefaultDisplayNodes()
    for label, q in checked.items():
        node.AddControlPoint(list(q), label)
    return node


# ---------------------------------------------------------------------------------------------
# Tables and plots


def add_table(scene: Any, columns: Mapping[str, Sequence[Any] | np.ndarray], name: str) -> Any:
    """Add a table node; column names carry their unit, e.g. "Distance (mm)".

    Numeric columns keep their dtype (bool and 8/16-bit integers become int32, which survives
    saving), anything else is stored as text.
    All columns must have the same length.
    """
    from vtkmodules.vtkCommonCore import vtkStringArray

    check_name(name)
    if not columns:
        raise ValueError("a table needs at least one column")
    arrays: dict[str, np.ndarray] = {}
    for key, values in columns.items():
        check_name(key, "column name")
        a = np.asarray(values)
        if a.ndim != 1:
            raise ValueError(f"column {key!r} must be one-dimensional, got shape {a.shape}")
        # Slicer writes 8-bit columns as characters and reads them back as 0: widen them.
        if a.dtype == bool or (a.dtype.kind in "iu" and a.dtype.itemsize < 4):
            a = a.astype(np.int32)
        arrays[key] = a
    lengths = {key: len(a) for key, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"columns have different lengths: {lengths}")

    node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    table = node.GetTable()
    for key, a in arrays.items():
        if a.dtype.kind in "iuf":
            column = to_vtk_array(a, key)
        else:
            column = vtkStringArray()
            for v in a:
                column.InsertNextValue(str(v))
        column.SetName(key)
        table.AddColumn(column)
    node.Modified()
    return node


def add_plot_chart(
    scene: Any,
    table: Any,
    x_column: str,
    y_columns: Sequence[str],
    name: str,
    title: str,
    x_title: str,
    y_title: str,
) -> Any:
    """Add a line chart of ``y_columns`` against ``x_column`` of a table node.

    One plot series node per y column (named after the column, as the legend shows it), all
    referencing ``table``; returns the vtkMRMLPlotChartNode.
    """
    import slicer

    check_name(name)
    if isinstance(y_columns, str):
        raise ValueError("y_columns must be a sequence of column names, not a single string")
    if not y_columns:
        raise ValueError("y_columns is empty")
    vtk_table = table.GetTable()
    missing = [c for c in (x_column, *y_columns) if vtk_table.GetColumnByName(c) is None]
    if missing:
        raise ValueError(f"table {table.GetName()!r} has no column(s) {missing}")

    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", name)
    chart.SetTitle(title)
    chart.SetXAxisTitle(x_title)
    chart.SetYAxisTitle(y_title)
    for n, y_column in enumerate(y_columns):
        color = SERIES_COLORS[n % len(SERIES_COLORS)]
        add_line_series(
            scene,
            chart,
            table,
            x_column,
            y_column,
            y_column,
            color,
            slicer.vtkMRMLPlotSeriesNode.LineStyleSolid,
        )
    return chart


# ---------------------------------------------------------------------------------------------
# Models and subject hierarchy


def add_model(
    scene: Any,
    polydata: Any,
    name: str,
    color: Sequence[float] = (0.9, 0.9, 0.9),
    opacity: float = 1.0,
) -> Any:
    """Add a model node with a copy of ``polydata`` (RAS mm) and a display node."""
    from vtkmodules.vtkCommonDataModel import vtkPolyData

    check_name(name)
    if polydata is None or not polydata.IsA("vtkPolyData"):
        raise ValueError(f"polydata must be a vtkPolyData, got {type(polydata).__name__}")
    rgb = check_color(color)
    if not 0.0 <= float(opacity) <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    copy = vtkPolyData()
    copy.DeepCopy(polydata)
    node = scene.AddNewNodeByClass("vtkMRMLModelNode", name)
    node.SetAndObservePolyData(copy)
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.SetColor(*rgb)
    display.SetOpacity(float(opacity))
    # Slice views show where the model cuts the image, which is how stents are checked on CT.
    display.SetVisibility2D(True)
    return node


def subject_hierarchy(scene: Any) -> Any:
    import slicer

    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if sh is None:
        raise RuntimeError("the scene has no subject hierarchy node")
    return sh


def subject_hierarchy_folder(scene: Any, name: str, parent_item: int | None = None) -> int:
    """Create a subject-hierarchy folder (under the scene, or ``parent_item``); returns its item ID."""
    check_name(name)
    sh = subject_hierarchy(scene)
    parent = sh.GetSceneItemID() if parent_item is None else int(parent_item)
    if parent != sh.GetSceneItemID() and sh.GetItemParent(parent) == sh.GetInvalidItemID():
        raise ValueError(f"parent item {parent} is not in the subject hierarchy")
    return sh.CreateFolderItem(parent, name)


def place_in_folder(scene: Any, node: Any, folder_item: int) -> int:
    """Put a data node under a subject-hierarchy folder; returns the node's item ID.

    Headless, no subject-hierarchy plugin creates items for new nodes, so one is made here when
    the node has none yet; in Slicer the existing item is moved.
    """
    sh = subject_hierarchy(scene)
    if node is None or node.GetScene() is not scene:
        raise ValueError("node is not in this scene")
    if sh.GetItemParent(int(folder_item)) == sh.GetInvalidItemID():
        raise ValueError(f"folder item {folder_item} is not in the subject hierarchy")
    item = sh.GetItemByDataNode(node)
    if item == sh.GetInvalidItemID():
        item = sh.CreateItem(int(folder_item), node)
    else:
        sh.SetItemParent(item, int(folder_item))
    return item


# ---------------------------------------------------------------------------------------------
# Files


def save_node(node: Any, path: str | Path) -> Path:
    """Write one node with its own storage node (NIfTI/NRRD volumes, .seg.nrrd, .mrk.json, ...).

    The file format follows the extension of ``path``, as Slicer's Save dialog does. Raises
    ValueError if the node's storage node cannot write that extension, OSError if writing fails.
    """
    path = Path(path)
    storage = node.GetStorageNode()
    if storage is None:
        storage = node.CreateDefaultStorageNode()
        if storage is None:
            raise ValueError(f"node {node.GetName()!r} has no storage node, so it cannot be saved")
        node.GetScene().AddNode(storage)
        node.SetAndObserveStorageNodeID(storage.GetID())
        if storage.IsA("vtkMRMLSegmentationStorageNode"):
            # Only the segments' extent, not the whole CT grid: a 512 x 512 x 400 label map
            # otherwise costs ~0.5 s to compress each time (Slicer reads either).
            storage.SetCropToMinimumExtent(True)
    if not storage.SupportedFileType(str(path)):
        raise ValueError(f"{node.GetClassName()} cannot be written as {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    storage.SetFileName(str(path))
    if not storage.WriteData(node):
        raise OSError(f"could not write {path}")
    return path


def add_line_series(
    scene: Any,
    chart: Any,
    table: Any,
    x_column: str,
    y_column: str,
    name: str,
    color: Sequence[float],
    line_style: int,
) -> Any:
    """Add a line plot series (no markers) of two table columns to a chart."""
    import slicer

    series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
    series.SetAndObserveTableNodeID(table.GetID())
    series.SetXColumnName(x_column)
    series.SetYColumnName(y_column)
    series.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
    series.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleNone)
    series.SetLineStyle(line_style)
    series.SetColor(*color)
    chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return series


def fill_table(table_node: Any, columns: Mapping[str, np.ndarray]) -> None:
    """Replace a table node's columns (float or text arrays), as :func:`add_table` makes them.

    Refilling keeps the node, its ID and its place in the subject hierarchy, so views showing
    the table follow the edit.
    """
    from vtkmodules.vtkCommonCore import vtkStringArray

    table_node.RemoveAllColumns()
    table = table_node.GetTable()
    for key, values in columns.items():
        if values.dtype.kind == "f":
            column = to_vtk_array(values, key)
        else:
            column = vtkStringArray()
            column.SetNumberOfValues(len(values))
            for n, value in enumerate(values):
                column.SetValue(n, str(value))
            column.SetName(key)
        table.AddColumn(column)
    table_node.Modified()


def first_scalar_volume(scene: Any) -> Any:
    """The first scalar volume of ``scene`` that is not a label map (a volume to segment), or None."""
    for n in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
        node = scene.GetNthNodeByClass(n, "vtkMRMLScalarVolumeNode")
        if not node.IsA("vtkMRMLLabelMapVolumeNode"):
            return node
    return None


def remove_with_item(scene: Any, node: Any) -> None:
    """Remove a node, its display and storage nodes and its subject-hierarchy item."""
    if node is None or node.GetScene() is not scene:
        return
    sh = subject_hierarchy(scene)
    item = sh.GetItemByDataNode(node)
    if item != sh.GetInvalidItemID():
        sh.RemoveItem(item, False, True)
    remove_nodes(scene, [node])


def in_scene(scene: Any, node: Any) -> bool:
    return node is not None and node.GetScene() is scene


def describe_node(value: Any) -> str:
    """A node as its class and name, for error messages; anything else as its repr."""
    if hasattr(value, "GetClassName") and hasattr(value, "GetName"):
        return f"{value.GetClassName()} {value.GetName()!r}"
    return repr(value)


def parent_folder_item(scene: Any, node: Any) -> int | None:
    """The subject-hierarchy folder holding ``node`` (e.g. the phantom's folder), or None when
    it sits at the top of the hierarchy (or has no item)."""
    import slicer

    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if sh is None:
        return None
    item = sh.GetItemByDataNode(node)
    if item == sh.GetInvalidItemID():
        return None
    parent = sh.GetItemParent(item)
    if parent in (sh.GetInvalidItemID(), sh.GetSceneItemID()):
        return None
    return parent


def world_to_node(node: Any):
    """A function mapping a world RAS point into ``node``'s own coordinates (which differ from
    the world's when the node is under a transform)."""
    import slicer
    from vtkmodules.vtkCommonTransforms import vtkGeneralTransform

    if node.GetParentTransformNode() is None:
        return lambda point: np.asarray(point, dtype=float)
    transform = vtkGeneralTransform()
    slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(None, node.GetParentTransformNode(), transform)
    return lambda point: np.array(transform.TransformPoint([float(c) for c in point]), dtype=float)


def matrix_to_world(node: Any) -> np.ndarray | None:
    """The 4x4 matrix from ``node``'s own coordinates to world RAS (the identity without a
    parent transform), or None when the transform is not linear."""
    import slicer
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        return None
    matrix = vtkMatrix4x4()
    slicer.vtkMRMLTransformNode.GetMatrixTransformBetweenNodes(parent, None, matrix)
    return numpy_matrix(matrix)


def node_to_world(node: Any):
    """A function mapping a point in ``node``'s own coordinates to world RAS."""
    import slicer
    from vtkmodules.vtkCommonTransforms import vtkGeneralTransform

    if node.GetParentTransformNode() is None:
        return lambda point: np.asarray(point, dtype=float)
    transform = vtkGeneralTransform()
    slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(node.GetParentTransformNode(), None, transform)
    return lambda point: np.array(transform.TransformPoint([float(c) for c in point]), dtype=float)


def place_under_transform(nodes: Iterable[Any], transform_node_id: str | None) -> None:
    """Put the transformable nodes among ``nodes`` under a transform (None: under none), so that
    results computed in a node's own coordinates show where that node shows in the world."""
    for node in nodes:
        if node is not None and hasattr(node, "SetAndObserveTransformNodeID"):
            node.SetAndObserveTransformNodeID(transform_node_id)


def matrix_between(from_node: Any, to_node: Any) -> np.ndarray | None:
    """The 4x4 matrix from ``from_node``'s own coordinates to ``to_node``'s (through their
    transforms), or None when either transform is not linear."""
    source, target = matrix_to_world(from_node), matrix_to_world(to_node)
    if source is None or target is None:
        return None
    return np.linalg.inv(target) @ source

"""Results -> MRML nodes: the only place the library creates nodes.

The pipeline stages exchange plain Python objects (numpy arrays, dataclasses); this module turns
them into the nodes a Slicer user sees: volumes, segmentations with TotalSegmentator segment IDs
and SNOMED terminology, centerline curves carrying a per-point "Radius" measurement, tables,
plot charts, models, and the subject-hierarchy folder that groups them.

Every function takes the scene explicitly, never ``slicer.mrmlScene``, so the same code runs in
the Slicer application (pass ``slicer.mrmlScene``) and headless on ``slicer-core`` (pass
``scene.create_scene().scene``). Geometry is in RAS millimetres; image arrays are indexed
``[k, j, i]`` like ``slicer.util.arrayFromVolume``. Functions validate their input before they
touch the scene, so a ValueError leaves the scene as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import names

if TYPE_CHECKING:
    from .phantom_truth import Phantom
    from .profile_types import BranchProfile, CenterlineTree

# Terminology entries are serialized as Slicer's terminology logic does (context~category~type~
# type modifier~anatomic context~region~region modifier). The contexts are Slicer's defaults, so
# the segment editor shows the codes even though the headless build has no terminology files.
TERMINOLOGY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"
ANATOMICAL_STRUCTURE = ("123037004", "Anatomical Structure")  # SNOMED CT category of the veins

# Display names of the vein segments (IDs come from names.SEGMENT_IDS and never change).
SEGMENT_NAMES = {
    "ivc": "Inferior vena cava",
    "left_iliac": "Left iliac vein",
    "right_iliac": "Right iliac vein",
}

# Colours of the phantom's non-vein truth segments, by segment ID.
_TRUTH_COLORS = {
    "other_veins": (0.55, 0.70, 1.0),
    "arteries": (0.85, 0.15, 0.15),
    "kidneys": (0.70, 0.45, 0.35),
    "bowel": (0.90, 0.75, 0.60),
    "bone": (0.95, 0.92, 0.80),
    "occluded_vein": (0.25, 0.25, 0.45),
}

# Plot series colours (colour-blind safe, Okabe-Ito).
_SERIES_COLORS = (
    (0.0, 0.45, 0.70),
    (0.90, 0.60, 0.0),
    (0.0, 0.62, 0.45),
    (0.80, 0.40, 0.0),
    (0.80, 0.47, 0.65),
    (0.34, 0.71, 0.91),
)

# Labelmap colour tables in order of preference: Slicer's file-based tables exist only in the
# application; the built-in "Labels" table always exists once the colours logic has a scene.
_LABELMAP_COLOR_NODE_IDS = (
    "vtkMRMLColorTableNodeFileGenericAnatomyColors.txt",
    "vtkMRMLColorTableNodeFileGenericColors.txt",
    "vtkMRMLColorTableNodeLabels",
)


# ---------------------------------------------------------------------------------------------
# Validation and small conversions


def _check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    return name


def _check_matrix(ijk_to_ras: Any) -> np.ndarray:
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


def _check_image_array(array_kji: Any, what: str) -> np.ndarray:
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


def _check_points(points: Any, what: str) -> np.ndarray:
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{what} must be an (N, 3) array of RAS points, got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return p


def _check_color(color: Sequence[float], what: str = "color") -> tuple[float, float, float]:
    c = tuple(float(v) for v in color)
    if len(c) != 3 or not all(0.0 <= v <= 1.0 for v in c):
        raise ValueError(f"{what} must be three values in [0, 1], got {color!r}")
    return c  # type: ignore[return-value]


def _vtk_matrix(m: np.ndarray) -> Any:
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    vm = vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            vm.SetElement(r, c, float(m[r, c]))
    return vm


def _numpy_matrix(vm: Any) -> np.ndarray:
    return np.array([[vm.GetElement(r, c) for c in range(4)] for r in range(4)])


def _to_vtk_array(values: np.ndarray, name: str) -> Any:
    """A VTK data array holding a copy of a 1D numeric array, same dtype."""
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonCore import vtkDataArray

    arr = vtkDataArray.CreateDataArray(numpy_support.get_vtk_array_type(values.dtype))
    arr.SetName(name)
    arr.SetNumberOfValues(len(values))
    # VTK arrays expose the buffer protocol: np.asarray is a writable view, no element loop.
    np.asarray(arr)[...] = values
    return arr


def _from_vtk_array(arr: Any) -> np.ndarray:
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


def _discard(scene: Any, sh: Any, folder: int, created: list[Any]) -> None:
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
    _check_name(name)
    a = _check_image_array(array_kji, "array_kji")
    m = _check_matrix(ijk_to_ras)
    if labelmap and a.dtype.kind not in "iu":
        raise ValueError(f"a labelmap needs an integer array, got {a.dtype}")
    if color_node_id is not None and scene.GetNodeByID(color_node_id) is None:
        raise ValueError(f"colour node {color_node_id!r} is not in the scene")

    node_class = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
    node = scene.AddNewNodeByClass(node_class, name)
    node.SetIJKToRASMatrix(_vtk_matrix(m))
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
    return array, _numpy_matrix(vm)


# ---------------------------------------------------------------------------------------------
# Segmentations


def set_vein_terminology(segment: Any, branch: str) -> str:
    """Store the SNOMED CT code of a vein branch on a vtkSegment; returns the entry string.

    ``branch`` is one of ``names.BRANCHES``. The entry goes into the segment's
    "TerminologyEntry" tag (``vtkSegment.SetTerminology``), which Slicer saves in ``.seg.nrrd``
    headers and reads back in the segment editor.
    """
    import slicer

    if branch not in names.SNOMED:
        raise ValueError(f"unknown branch {branch!r}; expected one of {', '.join(names.SNOMED)}")
    (type_code, type_meaning), modifier = names.SNOMED[branch]
    mod_code, mod_meaning = modifier if modifier is not None else ("", "")
    mod_scheme = "SCT" if modifier is not None else ""
    entry = slicer.vtkSlicerTerminologiesModuleLogic.SerializeTerminologyEntry(
        TERMINOLOGY_CONTEXT,
        ANATOMICAL_STRUCTURE[0],
        "SCT",
        ANATOMICAL_STRUCTURE[1],
        type_code,
        "SCT",
        type_meaning,
        mod_code,
        mod_scheme,
        mod_meaning,
        ANATOMIC_CONTEXT,
        "",
        "",
        "",
        "",
        "",
        "",
    )
    segment.SetTerminology(entry)
    return entry


def terminology_codes(segment: Any) -> tuple[str, str]:
    """(type code, type modifier code) of a segment's terminology; empty strings when unset."""
    import slicer

    if not segment.HasTerminology():
        return "", ""
    entry = slicer.vtkSlicerTerminologyEntry()
    logic = slicer.vtkSlicerTerminologiesModuleLogic
    if not logic.DeserializeTerminologyEntry(segment.GetTerminology(), entry):
        return "", ""
    type_code = entry.GetTypeObject().GetCodeValue() or ""
    modifier_code = entry.GetTypeModifierObject().GetCodeValue() or ""
    return type_code, modifier_code


def vein_branch_of_segment(segment: Any) -> str | None:
    """The branch (``names.BRANCHES``) a segment's SNOMED terminology names, or None."""
    type_code, modifier_code = terminology_codes(segment)
    for branch, ((code, _meaning), modifier) in names.SNOMED.items():
        if type_code == code and modifier_code == (modifier[0] if modifier else ""):
            return branch
    return None


def add_segmentation_from_labelmap(
    scene: Any,
    labels_kji: np.ndarray,
    ijk_to_ras: np.ndarray,
    segments: Mapping[int, tuple[str, str, Sequence[float]]],
    name: str,
    reference_volume: Any = None,
) -> Any:
    """Add a segmentation node with one segment per requested label value.

    ``segments`` maps a label value to (segment ID, display name, RGB 0..1). Segment IDs are
    set exactly as given (Slicer would otherwise generate random ones) and segments keep their
    label value in the saved ``.seg.nrrd``. Label values not in ``segments`` are ignored; a
    requested value absent from the array gives an empty segment. Vein segment IDs
    (``names.SEGMENT_IDS``) also get their SNOMED terminology. ``reference_volume`` sets the
    segmentation's reference geometry (the labels must already be in that geometry).

    The labelmap goes through a temporary labelmap node, removed again before returning.
    """
    import slicer
    from vtkmodules.vtkCommonCore import vtkStringArray

    _check_name(name)
    labels = _check_image_array(labels_kji, "labels_kji")
    m = _check_matrix(ijk_to_ras)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels_kji must be an integer array, got {labels.dtype}")
    if not segments:
        raise ValueError("segments is empty: give at least one {label: (segment_id, name, rgb)}")
    seen_ids: set[str] = set()
    for value, spec in segments.items():
        if not isinstance(value, int | np.integer) or not 0 < int(value) <= 65535:
            raise ValueError(f"segment label values must be integers in 1..65535, got {value!r}")
        if len(spec) != 3:
            raise ValueError(f"segment {value}: expected (segment_id, name, rgb), got {spec!r}")
        segment_id, segment_name, color = spec
        _check_name(segment_id, f"segment {value} ID")
        _check_name(segment_name, f"segment {value} name")
        _check_color(color, f"segment {value} colour")
        if segment_id in seen_ids:
            raise ValueError(f"segment ID {segment_id!r} is used twice")
        seen_ids.add(segment_id)

    max_value = max(int(v) for v in segments)
    kept = _keep_labels(labels, [int(v) for v in segments])

    branch_by_id = {segment_id: branch for branch, segment_id in names.SEGMENT_IDS.items()}
    created: list[Any] = []
    try:
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
        created.append(node)
        node.CreateDefaultDisplayNodes()
        if reference_volume is not None:
            node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
        segmentation = node.GetSegmentation()
        # Segments made beforehand keep their ID, name, colour and terminology: the import
        # below only fills in their voxels (label value n -> n-th entry of the ID list).
        ids_by_value = vtkStringArray()
        ids_by_value.SetNumberOfValues(max_value)
        for n in range(max_value):
            ids_by_value.SetValue(n, "")
        for value, (segment_id, segment_name, color) in segments.items():
            segment = slicer.vtkSegment()
            segment.SetName(segment_name)
            segment.SetColor(*_check_color(color))
            if segment_id in branch_by_id:
                set_vein_terminology(segment, branch_by_id[segment_id])
            segmentation.AddSegment(segment, segment_id)
            ids_by_value.SetValue(int(value) - 1, segment_id)

        label_node = add_volume_from_array(scene, kept, m, f"{name} import", labelmap=True)
        created.append(label_node)
        ok = slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
            label_node, node, ids_by_value
        )
        if not ok:
            raise RuntimeError(f"importing the labelmap into segmentation {name!r} failed")
        if reference_volume is None:
            # The import sets no reference geometry; the labels' own geometry is the natural one
            # (Slicer uses it to rasterize edits and other representations).
            geometry = slicer.vtkSegmentationConverter.SerializeImageGeometry(
                _vtk_matrix(m), label_node.GetImageData()
            )
            segmentation.SetConversionParameter(
                slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName(), geometry
            )
        remove_nodes(scene, [label_node])
        created.remove(label_node)
    except Exception:
        remove_nodes(scene, created)
        raise
    return node


def _keep_labels(labels: np.ndarray, values: list[int]) -> np.ndarray:
    """The label array with every value not in ``values`` set to 0 (uint8, or uint16 if needed).

    One lookup-table pass instead of one comparison pass per label, which matters for
    TotalSegmentator-style maps with a hundred labels on a 512x512x400 grid.
    """
    top = max(values)
    out_type = np.uint8 if top < 256 else np.uint16
    low, high = int(labels.min()), int(labels.max())
    if low >= 0 and high <= 65535:
        lut = np.zeros(max(top, high) + 1, dtype=out_type)
        lut[values] = values
        return lut[labels]
    # Negative or huge label values: look up only the voxels the table covers.
    lut = np.zeros(top + 1, dtype=out_type)
    lut[values] = values
    inside = (labels >= 0) & (labels <= top)
    kept = np.zeros(labels.shape, dtype=out_type)
    kept[inside] = lut[labels[inside]]
    return kept


def closed_surface(segmentation_node: Any, segment_id: str) -> Any:
    """A copy of a segment's closed surface (vtkPolyData, RAS mm), created if needed."""
    from vtkmodules.vtkCommonDataModel import vtkPolyData

    segmentation = segmentation_node.GetSegmentation()
    if segmentation.GetSegment(segment_id) is None:
        ids = ", ".join(segmentation.GetSegmentIDs())
        raise KeyError(f"segment {segment_id!r} not in {segmentation_node.GetName()!r} (has: {ids})")
    if not segmentation_node.CreateClosedSurfaceRepresentation():
        raise RuntimeError(
            "closed surface conversion failed: was the Segmentations logic given the scene "
            "(scene.create_scene does this)?"
        )
    surface = vtkPolyData()
    segmentation_node.GetClosedSurfaceRepresentation(segment_id, surface)
    copy = vtkPolyData()
    copy.DeepCopy(surface)
    return copy


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
) -> Any:
    """Add a markups curve through ``points_ras`` (N, 3) with per-point measurements.

    ``radius_mm`` becomes a "Radius" ``vtkMRMLStaticMeasurement`` (unit mm), the way SlicerVMTK's
    Extract Centerline stores it, and each ``measurements`` entry another static measurement.
    Slicer interpolates these along the curve into ``GetCurveWorld()`` point data (read them
    with :func:`curve_point_data`). ``points_per_segment`` is the curve's interpolation
    resolution; 1 keeps a densely sampled centerline as it is.
    """
    import slicer
    from vtkmodules.vtkCommonCore import vtkPoints

    _check_name(name)
    p = _check_points(points_ras, "points_ras")
    if len(p) < 2:
        raise ValueError(f"a curve needs at least 2 points, got {len(p)}")
    if points_per_segment < 1:
        raise ValueError(f"points_per_segment must be >= 1, got {points_per_segment}")
    per_point: dict[str, tuple[np.ndarray, str]] = {}
    if radius_mm is not None:
        per_point["Radius"] = (np.asarray(radius_mm, dtype=float), "mm")
    for key, values in (measurements or {}).items():
        _check_name(key, "measurement name")
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
        measurement.SetControlPointValues(_to_vtk_array(values, key))
        curve.AddMeasurement(measurement)
    return curve


def curve_point_data(curve: Any, array_name: str) -> np.ndarray:
    """Values of a point-data array of the interpolated curve (e.g. "Radius"), world coordinates.

    The interpolated measurements live only on ``GetCurveWorld()``, not on the local curve.
    """
    data = curve.GetCurveWorld()
    array = data.GetPointData().GetArray(array_name) if data is not None else None
    if array is None:
        raise KeyError(f"curve {curve.GetName()!r} has no point data array {array_name!r}")
    return _from_vtk_array(array)


def add_fiducials(scene: Any, points: Mapping[str, np.ndarray], name: str) -> Any:
    """Add a point list whose control-point labels are the keys of ``points`` (RAS mm)."""
    _check_name(name)
    checked = {}
    for label, point in points.items():
        _check_name(label, "point label")
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

    _check_name(name)
    if not columns:
        raise ValueError("a table needs at least one column")
    arrays: dict[str, np.ndarray] = {}
    for key, values in columns.items():
        _check_name(key, "column name")
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
            column = _to_vtk_array(a, key)
        else:
            column = vtkStringArray()
            for v in a:
                column.InsertNextValue(str(v))
        column.SetName(key)
        table.AddColumn(column)
    node.Modified()
    return node


def table_column(table_node: Any, column_name: str) -> np.ndarray:
    """A copy of a table column as a numpy array (numeric columns) or array of str."""
    column = table_node.GetTable().GetColumnByName(column_name)
    if column is None:
        raise KeyError(f"table {table_node.GetName()!r} has no column {column_name!r}")
    if column.IsNumeric():
        return _from_vtk_array(column)
    return np.array([column.GetValue(n) for n in range(column.GetNumberOfValues())])


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

    _check_name(name)
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
        color = _SERIES_COLORS[n % len(_SERIES_COLORS)]
        _add_line_series(
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


def plot_series_of(chart: Any) -> list[Any]:
    """The plot series nodes of a chart, in order."""
    return [chart.GetNthPlotSeriesNode(n) for n in range(chart.GetNumberOfPlotSeriesNodes())]


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

    _check_name(name)
    if polydata is None or not polydata.IsA("vtkPolyData"):
        raise ValueError(f"polydata must be a vtkPolyData, got {type(polydata).__name__}")
    rgb = _check_color(color)
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


def _subject_hierarchy(scene: Any) -> Any:
    import slicer

    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if sh is None:
        raise RuntimeError("the scene has no subject hierarchy node")
    return sh


def subject_hierarchy_folder(scene: Any, name: str, parent_item: int | None = None) -> int:
    """Create a subject-hierarchy folder (under the scene, or ``parent_item``); returns its item ID."""
    _check_name(name)
    sh = _subject_hierarchy(scene)
    parent = sh.GetSceneItemID() if parent_item is None else int(parent_item)
    if parent != sh.GetSceneItemID() and sh.GetItemParent(parent) == sh.GetInvalidItemID():
        raise ValueError(f"parent item {parent} is not in the subject hierarchy")
    return sh.CreateFolderItem(parent, name)


def place_in_folder(scene: Any, node: Any, folder_item: int) -> int:
    """Put a data node under a subject-hierarchy folder; returns the node's item ID.

    Headless, no subject-hierarchy plugin creates items for new nodes, so one is made here when
    the node has none yet; in Slicer the existing item is moved.
    """
    sh = _subject_hierarchy(scene)
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
# The phantom


@dataclass
class PhantomNodes:
    """The nodes :func:`add_phantom_to_scene` made, and the folder holding them."""

    folder_item: int
    volume: Any
    segmentation: Any
    seeds: Any
    centerlines: dict[str, Any] = field(default_factory=dict)

    def nodes(self) -> list[Any]:
        return [self.volume, self.segmentation, self.seeds, *self.centerlines.values()]


def add_phantom_to_scene(scene: Any, phantom: Phantom) -> PhantomNodes:
    """Show a synthetic venogram and its truth: CT, truth segmentation, seeds, truth centerlines.

    Vein segments (labels 1..3) get the pipeline's segment IDs (``names.SEGMENT_IDS``); the
    other truth labels present in the phantom become extra segments with IDs from
    ``phantom_truth.TRUTH_LABELS``. Truth centerlines carry Radius = CE diameter / 2. Everything
    sits in one subject-hierarchy folder "IVC phantom".
    """
    from .phantom_truth import TRUTH_LABELS

    segments = vein_segments()
    present = {int(v) for v in np.unique(phantom.labels)}
    for value, segment_id in TRUTH_LABELS.items():
        if value in segments or value not in present:
            continue
        label = segment_id.replace("_", " ").capitalize()
        segments[value] = (segment_id, label, _TRUTH_COLORS.get(segment_id, (0.6, 0.6, 0.6)))

    created: list[Any] = []
    sh = _subject_hierarchy(scene)
    folder = subject_hierarchy_folder(scene, "IVC phantom")
    try:
        volume = add_volume_from_array(scene, phantom.image, phantom.ijk_to_ras, "IVC phantom CT")
        created.append(volume)
        segmentation = add_segmentation_from_labelmap(
            scene, phantom.labels, phantom.ijk_to_ras, segments, "IVC phantom truth", reference_volume=volume
        )
        created.append(segmentation)
        seeds = add_fiducials(scene, phantom.seeds, "Seeds")
        created.append(seeds)
        centerlines = {}
        for branch, truth in phantom.branches.items():
            curve = add_curve(
                scene,
                truth.points_ras,
                f"{branch} truth centerline",
                radius_mm=np.asarray(truth.ce_diameter_mm, dtype=float) / 2.0,
            )
            created.append(curve)
            centerlines[branch] = curve
        result = PhantomNodes(folder, volume, segmentation, seeds, centerlines)
        for node in result.nodes():
            place_in_folder(scene, node, folder)
    except Exception:
        _discard(scene, sh, folder, created)
        raise
    return result


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


# ---------------------------------------------------------------------------------------------
# Centerlines and diameter profiles

# Node attribute naming the branch (names.BRANCHES) a curve, table or plot series belongs to.
# Display names are for people and may be renamed in Slicer; code finds nodes by this attribute.
BRANCH_ATTRIBUTE = "IVCReconstruction.Branch"

# Display names of the branches in node names and plot legends.
BRANCH_LABELS = {
    "ivc": "IVC",
    "left_iliac": "Left iliac",
    "right_iliac": "Right iliac",
}

# Profile table column per profile_types.PROFILE_COLUMNS field, in that order; units in the names.
PROFILE_TABLE_COLUMNS = {
    "distance_mm": "Distance (mm)",
    "r": "R (mm)",
    "a": "A (mm)",
    "s": "S (mm)",
    "area_mm2": "Area (mm2)",
    "ce_diameter_mm": "Diameter CE (mm)",
    "min_diameter_mm": "Diameter min (mm)",
    "max_diameter_mm": "Diameter max (mm)",
    "mis_diameter_mm": "Diameter MIS (mm)",
    "confluence_zone": "Confluence zone",
}

# Per-point curve measurements besides "Radius": BranchProfile field -> (measurement name, unit).
CURVE_MEASUREMENTS = {
    "ce_diameter_mm": ("Diameter CE", "mm"),
    "min_diameter_mm": ("Diameter min", "mm"),
    "max_diameter_mm": ("Diameter max", "mm"),
    "mis_diameter_mm": ("Diameter MIS", "mm"),
    "area_mm2": ("Area", "mm2"),
}

# Plotted diameters: BranchProfile field -> (legend word, line style name on vtkMRMLPlotSeriesNode).
# One colour per branch and one line style per metric, so 9 lines stay readable in one chart.
_PLOTTED_DIAMETERS = {
    "ce_diameter_mm": ("CE", "LineStyleSolid"),
    "min_diameter_mm": ("min", "LineStyleDash"),
    "max_diameter_mm": ("max", "LineStyleDot"),
}

# Branch colours of curves and plot lines: distinct Okabe-Ito hues. The segment colours
# (names.SEGMENT_COLORS) are three shades of blue, too close to tell plot lines apart.
BRANCH_PLOT_COLORS = {
    "ivc": _SERIES_COLORS[0],
    "left_iliac": _SERIES_COLORS[1],
    "right_iliac": _SERIES_COLORS[2],
}


@dataclass
class CenterlineNodes:
    """The nodes :func:`add_centerlines_to_scene` made, and the folder holding them.

    ``curves`` and ``tables`` are keyed by branch (``names.BRANCHES``); ``series`` holds the
    chart's plot series in chart order (per branch: CE, min, max diameter).
    """

    folder_item: int
    curves: dict[str, Any]
    tables: dict[str, Any]
    chart: Any
    series: list[Any] = field(default_factory=list)

    def nodes(self) -> list[Any]:
        return [*self.curves.values(), *self.tables.values(), self.chart, *self.series]


def _check_centerline_input(tree: CenterlineTree, profiles: Mapping[str, BranchProfile]) -> None:
    """Raise ValueError unless tree and profiles cover exactly the three branches, each usable."""
    from .profile_io import check_profile

    expected = set(names.BRANCHES)
    for what, keys in (("centerline tree", set(tree.branches)), ("profiles", set(profiles))):
        missing = [b for b in names.BRANCHES if b not in keys]
        if missing:
            raise ValueError(f"{what} has no branch {', '.join(missing)}")
        unknown = sorted(keys - expected)
        if unknown:
            raise ValueError(f"{what} has unknown branch(es) {', '.join(unknown)}")
    for branch in names.BRANCHES:
        if tree.branches[branch].name != branch:
            raise ValueError(f"centerline branch {branch!r} is named {tree.branches[branch].name!r}")
        n = check_profile(profiles[branch], branch)
        if n < 2:
            # A markups curve needs two points; a branch this short means the centerline failed.
            raise ValueError(f"profile {branch!r} has {n} sample; a centerline curve needs at least 2")


def _add_point_measurement(curve: Any, name: str, values: np.ndarray, unit: str) -> None:
    """Attach a per-control-point static measurement to a curve.

    Unlike ``add_curve``'s ``measurements`` this allows NaN (an empty cross-section): Slicer
    interpolates it as NaN and writes it to ``.mrk.json`` as ``NaN``, which it reads back.
    """
    import slicer

    measurement = slicer.vtkMRMLStaticMeasurement()
    measurement.SetName(name)
    measurement.SetUnits(unit)
    measurement.SetPrintFormat("")
    measurement.SetControlPointValues(_to_vtk_array(np.asarray(values, dtype=float), name))
    curve.AddMeasurement(measurement)


def _add_line_series(
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


def add_centerlines_to_scene(
    scene: Any,
    tree: CenterlineTree,
    profiles: Mapping[str, BranchProfile],
    folder_name: str = "IVC centerlines",
    parent_item: int | None = None,
) -> CenterlineNodes:
    """Show the centerline tree and its diameter profiles: curves, tables and one chart.

    All in one new subject-hierarchy folder ``folder_name`` (under ``parent_item``, else the
    scene), for each branch of ``names.BRANCHES``:

    * a markups curve "<Branch> centerline" through the profile samples (control point n is
      sample n), carrying "Radius" = MIS diameter / 2 (mm, as SlicerVMTK's centerlines do, so
      its Cross-Section Analysis can use the curve) and the per-point measurements of
      ``CURVE_MEASUREMENTS`` ("Diameter CE", ... in mm, "Area" in mm2);
    * a table "<Branch> profile" with the columns of ``PROFILE_TABLE_COLUMNS`` (row n is
      sample n);

    and one plot chart "Vein diameters" of CE (solid), min (dashed) and max (dotted) diameter
    against distance, one colour per branch (``BRANCH_PLOT_COLORS``): nine series.
    Curves, tables and series carry the attribute ``BRANCH_ATTRIBUTE`` = branch name.

    The tree decides which branches exist; the geometry and values come from the profiles.
    Raises ValueError naming the problem (missing or unknown branch, empty profile, arrays of
    different lengths, ...) before the scene is touched; if making the nodes fails midway, the
    nodes made so far and the folder are removed again.
    """
    import slicer

    _check_name(folder_name, "folder_name")
    _check_centerline_input(tree, profiles)
    sh = _subject_hierarchy(scene)
    folder = subject_hierarchy_folder(scene, folder_name, parent_item)

    created: list[Any] = []
    try:
        curves: dict[str, Any] = {}
        tables: dict[str, Any] = {}
        for branch in names.BRANCHES:
            profile = profiles[branch]
            label = BRANCH_LABELS[branch]
            mis_diameter = np.asarray(profile.mis_diameter_mm, dtype=float)
            curve = add_curve(scene, profile.points_ras, f"{label} centerline", radius_mm=mis_diameter / 2.0)
            created.append(curve)
            for field_name, (measurement, unit) in CURVE_MEASUREMENTS.items():
                _add_point_measurement(curve, measurement, getattr(profile, field_name), unit)
            display = curve.GetDisplayNode()
            display.SetColor(*BRANCH_PLOT_COLORS[branch])
            # Control points are "selected" by default and drawn in the selected colour.
            display.SetSelectedColor(*BRANCH_PLOT_COLORS[branch])
            curve.SetAttribute(BRANCH_ATTRIBUTE, branch)
            curves[branch] = curve

            columns = {PROFILE_TABLE_COLUMNS[key]: values for key, values in profile.columns().items()}
            table = add_table(scene, columns, f"{label} profile")
            created.append(table)
            table.SetAttribute(BRANCH_ATTRIBUTE, branch)
            tables[branch] = table

        chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", "Vein diameters")
        created.append(chart)
        chart.SetTitle("Vein diameters")
        chart.SetXAxisTitle("Distance from confluence (mm)")
        chart.SetYAxisTitle("Diameter (mm)")
        series = []
        for branch in names.BRANCHES:
            for field_name, (word, style) in _PLOTTED_DIAMETERS.items():
                s = _add_line_series(
                    scene,
                    chart,
                    tables[branch],
                    PROFILE_TABLE_COLUMNS["distance_mm"],
                    PROFILE_TABLE_COLUMNS[field_name],
                    f"{BRANCH_LABELS[branch]} {word} diameter",
                    BRANCH_PLOT_COLORS[branch],
                    getattr(slicer.vtkMRMLPlotSeriesNode, style),
                )
                created.append(s)
                s.SetAttribute(BRANCH_ATTRIBUTE, branch)
                series.append(s)

        result = CenterlineNodes(folder, curves, tables, chart, series)
        for node in result.nodes():
            place_in_folder(scene, node, folder)
    except Exception:
        _discard(scene, sh, folder, created)
        raise
    return result


# ---------------------------------------------------------------------------------------------
# The seeded segmentation

OCCLUDED_SEGMENT_ID = "occluded_vein"


def vein_segments() -> dict[int, tuple[str, str, Sequence[float]]]:
    """Label value -> (segment ID, display name, colour) of the three vein segments."""
    return {
        names.VEIN_LABELS[b]: (names.SEGMENT_IDS[b], SEGMENT_NAMES[b], names.SEGMENT_COLORS[b])
        for b in names.BRANCHES
    }


def add_vein_segmentation(
    scene: Any,
    labels: np.ndarray,
    ijk_to_ras: np.ndarray,
    reference_volume: Any = None,
    name: str = "Veins",
) -> Any:
    """Segmentation node of vein labels (``segmentation.VeinSegmentation.labels``): segments
    ``inferior_vena_cava``, ``iliac_vena_left``, ``iliac_vena_right`` (SNOMED terminology) and,
    where there is an occluded stretch (label 4), ``occluded_vein``."""
    from .segmentation import OCCLUDED_LABEL

    segments = vein_segments()
    if np.any(labels == OCCLUDED_LABEL):
        segments[OCCLUDED_LABEL] = (OCCLUDED_SEGMENT_ID, "Occluded vein (no lumen)", (0.55, 0.35, 0.65))
    return add_segmentation_from_labelmap(
        scene, labels, ijk_to_ras, segments, name, reference_volume=reference_volume
    )


# ---------------------------------------------------------------------------------------------
# The stent plan

if TYPE_CHECKING:
    from .plan_types import Plan, Stent

# Node attributes of the plan's nodes. Display names are for people (and change with a stent's
# size); code finds a stent's model by its ID and the tables by their kind.
STENT_ID_ATTRIBUTE = "IVCReconstruction.StentId"
STENT_ROLE_ATTRIBUTE = "IVCReconstruction.Role"
PLAN_TABLE_ATTRIBUTE = "IVCReconstruction.PlanTable"  # "stents" or "warnings"

# Stent colours, one per stent in plan order: Okabe-Ito hues (colour-blind safe), warm and
# contrasting ones first because the veins are drawn in blues.
STENT_COLORS = (
    (0.90, 0.60, 0.0),  # orange
    (0.80, 0.47, 0.65),  # reddish purple
    (0.0, 0.62, 0.45),  # bluish green
    (0.95, 0.90, 0.25),  # yellow
    (0.84, 0.37, 0.0),  # vermillion
    (0.34, 0.71, 0.91),  # sky blue
    (0.0, 0.45, 0.70),  # blue
)

# Struts are thin, so they are drawn opaque; the smooth tube is half transparent so the vein
# and the centerline stay visible inside it.
STRUT_OPACITY = 1.0
TUBE_OPACITY = 0.5

CONFLUENCE_LABEL = "confluence"

PLAN_TABLE_COLUMNS = (
    "Stent",
    "Product",
    "Manufacturer",
    "Diameter (mm)",
    "Length (mm)",
    "Proximal R (mm)",
    "Proximal A (mm)",
    "Proximal S (mm)",
    "Distal R (mm)",
    "Distal A (mm)",
    "Distal S (mm)",
    "Coverage",
)
WARNING_TABLE_COLUMNS = ("Code", "Severity", "Stent", "Message")


@dataclass
class PlanNodes:
    """The nodes :func:`add_plan_to_scene` made, and the folder holding them.

    ``models`` maps stent ID -> model node, in plan order; ``landmarks`` is None when the plan
    has no confluence and no landmarks. ``struts`` records which geometry the models show
    (wire struts or the nominal tube), so updates keep it.
    """

    folder_item: int
    models: dict[str, Any]
    landmarks: Any
    plan_table: Any
    warnings_table: Any
    struts: bool = True

    def nodes(self) -> list[Any]:
        extra = [] if self.landmarks is None else [self.landmarks]
        return [*self.models.values(), *extra, self.plan_table, self.warnings_table]


def _check_ras(point: Any, what: str) -> np.ndarray:
    q = np.asarray(point, dtype=float)
    if q.shape != (3,) or not np.all(np.isfinite(q)):
        raise ValueError(f"{what} must be 3 finite RAS values, got {point!r}")
    return q


def _check_plan(plan: Plan) -> None:
    """Raise ValueError naming the first thing in ``plan`` the scene cannot show.

    Stent paths are checked by the geometry builder (:func:`_stent_geometry`).
    """
    stents = getattr(plan, "stents", None)
    if stents is None or isinstance(stents, str | bytes):
        raise ValueError(f"plan must be a plan_types.Plan with a list of stents, got {type(plan).__name__}")
    seen: set[str] = set()
    for stent in stents:
        _check_name(stent.id, "stent id")
        if stent.id in seen:
            raise ValueError(f"stent id {stent.id!r} is used twice")
        seen.add(stent.id)
        _check_name(stent.role, f"stent {stent.id} role")
        _check_name(stent.name, f"stent {stent.id} name")
        for what in ("product", "manufacturer"):
            if not isinstance(getattr(stent, what), str):
                raise ValueError(f"stent {stent.id} {what} must be a string, got {getattr(stent, what)!r}")
        for what in ("diameter_mm", "length_mm"):
            value = getattr(stent, what)
            if not isinstance(value, int | float | np.number) or not np.isfinite(value) or value <= 0:
                raise ValueError(f"stent {stent.id} {what} must be a positive number, got {value!r}")
        for branch, interval in stent.coverage.items():
            _check_name(branch, f"stent {stent.id} coverage branch")
            values = np.asarray(interval, dtype=float)
            if values.shape != (2,) or not np.all(np.isfinite(values)):
                raise ValueError(
                    f"stent {stent.id} coverage of {branch!r} must be (start_mm, end_mm), got {interval!r}"
                )
    for n, warning in enumerate(plan.warnings):
        for what in ("code", "severity", "message"):
            if not isinstance(getattr(warning, what), str):
                raise ValueError(f"warning {n} {what} must be a string, got {getattr(warning, what)!r}")
        if warning.stent is not None and not isinstance(warning.stent, str):
            raise ValueError(f"warning {n} stent must be a stent id or None, got {warning.stent!r}")
    _plan_points(plan)


def _plan_points(plan: Plan) -> dict[str, np.ndarray]:
    """Labelled points of the landmarks node: the confluence, then the plan's landmarks.

    Landmarks the plan could not find (None) are left out.
    """
    points: dict[str, np.ndarray] = {}
    if plan.confluence_ras is not None:
        points[CONFLUENCE_LABEL] = _check_ras(plan.confluence_ras, "plan confluence_ras")
    for label, point in plan.landmarks.items():
        _check_name(label, "landmark name")
        if point is None:
            continue
        if label in points:
            raise ValueError(f"landmark {label!r} is given twice")
        points[label] = _check_ras(point, f"landmark {label!r}")
    return points


def _stent_geometry(stent: Stent, struts: bool) -> Any:
    """The model polydata of a stent; ValueError names the stent on an unusable path."""
    from . import stentmodel

    try:
        if struts:
            return stentmodel.stent_struts(stent.path_ras, stent.diameter_mm)
        return stentmodel.stent_tube(stent.path_ras, stent.diameter_mm)
    except ValueError as error:
        raise ValueError(f"stent {stent.id}: {error}") from None


def _coverage_text(coverage: Mapping[str, tuple[float, float]]) -> str:
    """Coverage as "ivc 0.0-95.0; left_iliac 0.0-20.0" (branch distance intervals, mm)."""
    return "; ".join(f"{branch} {start:.1f}-{end:.1f}" for branch, (start, end) in coverage.items())


def _plan_table_columns(plan: Plan) -> dict[str, np.ndarray]:
    stents = plan.stents
    proximal = np.array([s.proximal_ras for s in stents], dtype=float).reshape(-1, 3)
    distal = np.array([s.distal_ras for s in stents], dtype=float).reshape(-1, 3)
    # dtype=str keeps empty text columns text (an empty list would become a float array).
    columns = {
        "Stent": np.array([s.id for s in stents], dtype=str),
        "Product": np.array([s.product for s in stents], dtype=str),
        "Manufacturer": np.array([s.manufacturer for s in stents], dtype=str),
        "Diameter (mm)": np.array([s.diameter_mm for s in stents], dtype=float),
        "Length (mm)": np.array([s.length_mm for s in stents], dtype=float),
    }
    for end, points in (("Proximal", proximal), ("Distal", distal)):
        for axis, letter in enumerate("RAS"):
            columns[f"{end} {letter} (mm)"] = points[:, axis]
    columns["Coverage"] = np.array([_coverage_text(s.coverage) for s in stents], dtype=str)
    return columns


def _warning_table_columns(plan: Plan) -> dict[str, np.ndarray]:
    warnings = plan.warnings
    return {
        "Code": np.array([w.code for w in warnings], dtype=str),
        "Severity": np.array([w.severity for w in warnings], dtype=str),
        "Stent": np.array([w.stent or "" for w in warnings], dtype=str),
        "Message": np.array([w.message for w in warnings], dtype=str),
    }


def _fill_table(table_node: Any, columns: Mapping[str, np.ndarray]) -> None:
    """Replace a table node's columns (float or text arrays), as :func:`add_table` makes them.

    Refilling keeps the node, its ID and its place in the subject hierarchy, so views showing
    the table follow the edit.
    """
    from vtkmodules.vtkCommonCore import vtkStringArray

    table_node.RemoveAllColumns()
    table = table_node.GetTable()
    for key, values in columns.items():
        if values.dtype.kind == "f":
            column = _to_vtk_array(values, key)
        else:
            column = vtkStringArray()
            column.SetNumberOfValues(len(values))
            for n, value in enumerate(values):
                column.SetValue(n, str(value))
            column.SetName(key)
        table.AddColumn(column)
    table_node.Modified()


def _new_plan_table(scene: Any, columns: Mapping[str, np.ndarray], name: str, kind: str) -> Any:
    node = add_table(scene, columns, name)
    node.SetAttribute(PLAN_TABLE_ATTRIBUTE, kind)
    return node


def _new_stent_model(scene: Any, stent: Stent, polydata: Any, color: Sequence[float], struts: bool) -> Any:
    node = add_model(scene, polydata, stent.name, color, STRUT_OPACITY if struts else TUBE_OPACITY)
    node.SetAttribute(STENT_ID_ATTRIBUTE, stent.id)
    node.SetAttribute(STENT_ROLE_ATTRIBUTE, stent.role)
    return node


def add_plan_to_scene(
    scene: Any,
    plan: Plan,
    folder_name: str = "IVC stent plan",
    parent_item: int | None = None,
    struts: bool = True,
) -> PlanNodes:
    """Show a stent plan: one model per stent, the landmarks, a plan table and a warnings table.

    All in one new subject-hierarchy folder ``folder_name`` (under ``parent_item``, else the
    scene):

    * per stent a model node named ``stent.name`` ("S1 IVC Venovo 20 x 100 mm"): the strut mesh
      (``struts=True``, opaque) or the nominal tube (half transparent) along its path, a
      distinct colour of ``STENT_COLORS`` in plan order, and the attributes
      ``STENT_ID_ATTRIBUTE`` = stent id and ``STENT_ROLE_ATTRIBUTE`` = its role;
    * a point list "Plan landmarks": the confluence (label ``CONFLUENCE_LABEL``) and each found
      landmark labelled with its name (landmarks that are None are left out); no node when
      there is nothing to show;
    * a table "Stent plan" (``PLAN_TABLE_COLUMNS``, one row per stent; coverage as text such as
      "ivc 0.0-95.0; left_iliac 0.0-20.0", branch distances in mm) and a table "Plan warnings"
      (``WARNING_TABLE_COLUMNS``, one row per warning; Stent is empty for plan-wide warnings).
      They carry ``PLAN_TABLE_ATTRIBUTE`` = "stents" / "warnings".

    The plan is checked and every stent's geometry built before the scene is touched, so a
    ValueError (duplicate stent id, a path of fewer than two points, a non-positive diameter,
    a bad landmark, ...) leaves the scene as it was; if making the nodes fails midway, the
    nodes made so far and the folder are removed again.
    """
    _check_name(folder_name, "folder_name")
    _check_plan(plan)
    geometry = {stent.id: _stent_geometry(stent, struts) for stent in plan.stents}
    points = _plan_points(plan)
    sh = _subject_hierarchy(scene)
    folder = subject_hierarchy_folder(scene, folder_name, parent_item)

    created: list[Any] = []
    try:
        models: dict[str, Any] = {}
        for n, stent in enumerate(plan.stents):
            color = STENT_COLORS[n % len(STENT_COLORS)]
            models[stent.id] = _new_stent_model(scene, stent, geometry[stent.id], color, struts)
            created.append(models[stent.id])
        landmarks = None
        if points:
            landmarks = add_fiducials(scene, points, "Plan landmarks")
            created.append(landmarks)
        plan_table = _new_plan_table(scene, _plan_table_columns(plan), "Stent plan", "stents")
        created.append(plan_table)
        warnings_table = _new_plan_table(scene, _warning_table_columns(plan), "Plan warnings", "warnings")
        created.append(warnings_table)
        result = PlanNodes(folder, models, landmarks, plan_table, warnings_table, bool(struts))
        for node in result.nodes():
            place_in_folder(scene, node, folder)
    except Exception:
        _discard(scene, sh, folder, created)
        raise
    return result


def _remove_with_item(scene: Any, node: Any) -> None:
    """Remove a node, its display and storage nodes and its subject-hierarchy item."""
    if node is None or node.GetScene() is not scene:
        return
    sh = _subject_hierarchy(scene)
    item = sh.GetItemByDataNode(node)
    if item != sh.GetInvalidItemID():
        sh.RemoveItem(item, False, True)
    remove_nodes(scene, [node])


def _in_scene(scene: Any, node: Any) -> bool:
    return node is not None and node.GetScene() is scene


def update_plan_in_scene(
    scene: Any, nodes: PlanNodes, plan: Plan, *, struts: bool | None = None
) -> PlanNodes:
    """Bring the nodes of :func:`add_plan_to_scene` up to date after the plan was edited.

    Models of stents that are still in the plan keep their node (and ID, display settings and
    colour) and get the new geometry with ``SetAndObservePolyData``, their name and role
    attribute follow the stent; stents new in the plan get a new model in the folder, with the
    first ``STENT_COLORS`` entry no remaining stent uses; models of stents gone from the plan
    are removed. Both tables are refilled in place and the landmarks point list is rewritten.
    Nodes the user deleted meanwhile are made again. ``struts`` switches between the strut
    mesh and the tube (None keeps the current one; switching also resets the opacity).

    Everything is checked and all geometry built before any node changes, so a ValueError
    leaves the scene as it was. Returns a new PlanNodes (``nodes`` itself is not modified).
    Raises ValueError if the plan's folder is no longer in the subject hierarchy.
    """
    _check_plan(plan)
    use_struts = nodes.struts if struts is None else bool(struts)
    geometry = {stent.id: _stent_geometry(stent, use_struts) for stent in plan.stents}
    points = _plan_points(plan)
    from vtkmodules.vtkCommonCore import vtkIdList

    sh = _subject_hierarchy(scene)
    folder = int(nodes.folder_item)
    # Looked up among all items: GetItemParent of a removed item would log an error.
    items = vtkIdList()
    sh.GetItemChildren(sh.GetSceneItemID(), items, True)
    if items.IsId(folder) < 0:
        raise ValueError(f"the plan's folder (item {folder}) is no longer in the subject hierarchy")

    wanted = {stent.id for stent in plan.stents}
    for stent_id, node in nodes.models.items():
        if stent_id not in wanted:
            _remove_with_item(scene, node)
    kept = {sid: node for sid, node in nodes.models.items() if sid in wanted and _in_scene(scene, node)}
    used = [tuple(node.GetDisplayNode().GetColor()) for node in kept.values() if node.GetDisplayNode()]
    models: dict[str, Any] = {}
    for stent in plan.stents:
        node = kept.get(stent.id)
        if node is None:
            free = [c for c in STENT_COLORS if not any(np.allclose(c, u, atol=1e-3) for u in used)]
            color = free[0] if free else STENT_COLORS[len(models) % len(STENT_COLORS)]
            used.append(color)
            node = _new_stent_model(scene, stent, geometry[stent.id], color, use_struts)
            place_in_folder(scene, node, folder)
        else:
            # The polydata is new, so no copy is needed; the node's display follows the event.
            node.SetAndObservePolyData(geometry[stent.id])
            if node.GetName() != stent.name:
                node.SetName(stent.name)
            node.SetAttribute(STENT_ROLE_ATTRIBUTE, stent.role)
            if use_struts != nodes.struts and node.GetDisplayNode() is not None:
                node.GetDisplayNode().SetOpacity(STRUT_OPACITY if use_struts else TUBE_OPACITY)
        models[stent.id] = node

    landmarks = nodes.landmarks if _in_scene(scene, nodes.landmarks) else None
    if not points:
        _remove_with_item(scene, landmarks)
        landmarks = None
    elif landmarks is None:
        landmarks = add_fiducials(scene, points, "Plan landmarks")
        place_in_folder(scene, landmarks, folder)
    else:
        landmarks.RemoveAllControlPoints()
        for label, q in points.items():
            landmarks.AddControlPoint(list(q), label)

    tables = []
    for node, columns, name, kind in (
        (nodes.plan_table, _plan_table_columns(plan), "Stent plan", "stents"),
        (nodes.warnings_table, _warning_table_columns(plan), "Plan warnings", "warnings"),
    ):
        if _in_scene(scene, node):
            _fill_table(node, columns)
        else:
            node = _new_plan_table(scene, columns, name, kind)
            place_in_folder(scene, node, folder)
        tables.append(node)

    return PlanNodes(folder, models, landmarks, tables[0], tables[1], use_struts)

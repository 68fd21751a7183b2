"""Read back what the library put into MRML nodes, for the tests' assertions.

The library writes nodes; only the tests read them back column by column or point by point,
so these readers live here rather than in the library.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def table_column(table_node: Any, column_name: str) -> np.ndarray:
    """A copy of a table column as a numpy array (numeric columns) or array of str."""
    column = table_node.GetTable().GetColumnByName(column_name)
    if column is None:
        raise KeyError(f"table {table_node.GetName()!r} has no column {column_name!r}")
    if column.IsNumeric():
        return np.array(np.asarray(column), copy=True)
    return np.array([column.GetValue(n) for n in range(column.GetNumberOfValues())])


def curve_point_data(curve: Any, array_name: str) -> np.ndarray:
    """Values of a point-data array of the interpolated curve (e.g. "Radius"), world coordinates.

    The interpolated measurements live only on ``GetCurveWorld()``, not on the local curve.
    """
    data = curve.GetCurveWorld()
    array = data.GetPointData().GetArray(array_name) if data is not None else None
    if array is None:
        raise KeyError(f"curve {curve.GetName()!r} has no point data array {array_name!r}")
    return np.array(np.asarray(array), copy=True)


def plot_series_of(chart: Any) -> list[Any]:
    """The plot series nodes of a chart, in order."""
    return [chart.GetNthPlotSeriesNode(n) for n in range(chart.GetNumberOfPlotSeriesNodes())]


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

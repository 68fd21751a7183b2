"""The module's self-test cases (IVCReconstructionTest in IVCReconstruction.py runs them).

Each case runs the module's logic on the built-in phantom (no download) in the running Slicer's
scene, or headless on slicer-core (Testing/support/run_module_selftest.py), and checks the
numbers against the phantom's truth. ``test`` is the running unittest.TestCase: its assertions
and ``delayDisplay``. A package of its own, not a file beside the module: Slicer would take a
.py file there for a module.
"""

import slicer

# 2 mm keeps the phantom small, so the tests are quick on build machines.
SPACING_MM = 2.0


def _logic():
    from IVCReconstruction import IVCReconstructionLogic

    return IVCReconstructionLogic()


def _scenario():
    from IVCReconstruction import PhantomScenario

    return PhantomScenario


def healthyPhantom(test):
    """The healthy reference phantom: geometry, segments, seeds and IVC size."""
    import numpy as np

    from IVCReconstructionLib.phantom import TRUTH_LABELS

    test.delayDisplay("Creating a healthy phantom")
    logic = _logic()
    phantomNodes, phantom = logic.createPhantom(_scenario().healthy, spacingMm=SPACING_MM)

    # Volume geometry
    volume = phantomNodes.volume
    test.assertIsNotNone(volume)
    np.testing.assert_allclose(volume.GetSpacing(), [SPACING_MM] * 3, atol=1e-6)
    test.assertEqual(tuple(volume.GetImageData().GetDimensions()), tuple(phantom.shape_ijk))

    # The three vein segments, found by ID (architecture section 4)
    segmentation = phantomNodes.segmentation.GetSegmentation()
    for segmentId in ("inferior_vena_cava", "iliac_vena_left", "iliac_vena_right"):
        test.assertIsNotNone(segmentation.GetSegment(segmentId), f"segment {segmentId} is missing")

    # Seeds: IVC / Left / Right, each inside its own vein in the truth label map
    seeds = phantomNodes.seeds
    test.assertEqual(seeds.GetNumberOfControlPoints(), 3)
    truthValue = {name: value for value, name in TRUTH_LABELS.items()}
    expectedVein = {"ivc": "inferior_vena_cava", "left": "iliac_vena_left", "right": "iliac_vena_right"}
    seedLabels = set()
    for index in range(seeds.GetNumberOfControlPoints()):
        seedLabel = seeds.GetNthControlPointLabel(index)
        seedLabels.add(seedLabel.lower())
        position = [0.0, 0.0, 0.0]
        seeds.GetNthControlPointPositionWorld(index, position)
        label = int(phantom.label_at(np.array(position))[0])
        test.assertEqual(
            label,
            truthValue[expectedVein[seedLabel.lower()]],
            f"seed {seedLabel} at {position} is in truth label {label}",
        )
    test.assertEqual(seedLabels, {"ivc", "left", "right"})

    # Truth IVC size: adult infrarenal IVC, 18 to 26 mm area-equivalent diameter
    ivc = phantom.branches["ivc"]
    medianDiameterMm = float(np.median(ivc.ce_diameter_mm[ivc.healthy()]))
    test.assertGreaterEqual(medianDiameterMm, 18.0)
    test.assertLessEqual(medianDiameterMm, 26.0)

    test.delayDisplay("Healthy phantom test passed")


def mayThurnerPhantom(test):
    """A May-Thurner phantom has one left iliac stenosis of the requested area ratio."""
    test.delayDisplay("Creating a May-Thurner phantom")
    requestedRatio = 0.3
    logic = _logic()
    phantomNodes, phantom = logic.createPhantom(
        _scenario().mayThurner, spacingMm=SPACING_MM, lesionAreaRatio=requestedRatio
    )
    test.assertIsNotNone(phantomNodes.volume)
    lesions = [
        lesion for lesion in phantom.lesions if lesion.branch == "left_iliac" and lesion.kind == "stenosis"
    ]
    test.assertEqual(len(lesions), 1)
    test.assertAlmostEqual(lesions[0].area_ratio, requestedRatio, delta=0.05)
    test.delayDisplay("May-Thurner phantom test passed")


def badInputAddsNoNode(test):
    """Bad input raises ValueError before anything is added to the scene."""
    test.delayDisplay("Checking bad input")
    logic = _logic()
    numberOfNodesBefore = slicer.mrmlScene.GetNumberOfNodes()
    with test.assertRaises(ValueError):
        logic.createPhantom(_scenario().healthy, spacingMm=0.0)
    with test.assertRaises(ValueError):
        logic.createPhantom(_scenario().mayThurner, spacingMm=SPACING_MM, lesionAreaRatio=1.5)
    with test.assertRaises(ValueError):
        logic.createPhantom("noSuchScenario", spacingMm=SPACING_MM)
    test.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodesBefore)
    test.delayDisplay("Bad input test passed")


def segmentPhantomVeins(test):
    """Veins segmented from a healthy phantom's seeds match its truth; bad seeds are refused."""
    import numpy as np

    test.delayDisplay("Segmenting the veins of a healthy phantom")
    logic = _logic()
    # 1.5 mm (not the 2 mm of the other tests): at 2 mm the iliac veins are only a few voxels
    # across, so the overlap with the truth says more about the voxels than the method.
    phantomNodes, phantom = logic.createPhantom(_scenario().healthy, spacingMm=1.5)
    segmentationNode, result = logic.segmentVeins(phantomNodes.volume, phantomNodes.seeds)

    # The three vein segments, in the phantom's folder next to its volume
    test.assertIs(segmentationNode.GetScene(), slicer.mrmlScene)
    segmentation = segmentationNode.GetSegmentation()
    for segmentId in ("inferior_vena_cava", "iliac_vena_left", "iliac_vena_right"):
        test.assertIsNotNone(segmentation.GetSegment(segmentId), f"segment {segmentId} is missing")
    test.assertEqual(result.occlusions, [])
    shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    test.assertEqual(
        shNode.GetItemParent(shNode.GetItemByDataNode(segmentationNode)), phantomNodes.folder_item
    )

    # Overlap with the truth, vein by vein (the labels share the phantom's voxel grid)
    for value, vein in ((1, "inferior_vena_cava"), (2, "iliac_vena_left"), (3, "iliac_vena_right")):
        truth = phantom.labels == value
        segmented = result.labels == value
        dice = (
            2.0
            * np.count_nonzero(truth & segmented)
            / (np.count_nonzero(truth) + np.count_nonzero(segmented))
        )
        test.assertGreaterEqual(dice, 0.85, f"{vein}: Dice {dice:.3f} against the truth")

    # Swapped Left and Right seeds, or a missing one, are refused, and nothing is added
    swappedLabels = {"ivc": "IVC", "left": "Right", "right": "Left"}
    swappedSeeds = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Swapped seeds")
    for index in range(phantomNodes.seeds.GetNumberOfControlPoints()):
        position = [0.0, 0.0, 0.0]
        phantomNodes.seeds.GetNthControlPointPositionWorld(index, position)
        label = phantomNodes.seeds.GetNthControlPointLabel(index)
        swappedSeeds.AddControlPoint(position, swappedLabels[label.lower()])
    numberOfNodesBefore = slicer.mrmlScene.GetNumberOfNodes()
    with test.assertRaises(ValueError):
        logic.segmentVeins(phantomNodes.volume, swappedSeeds)
    swappedSeeds.RemoveNthControlPoint(swappedSeeds.GetNumberOfControlPoints() - 1)
    with test.assertRaisesRegex(ValueError, "Left"):
        logic.segmentVeins(phantomNodes.volume, swappedSeeds)
    with test.assertRaises(ValueError):
        logic.segmentVeins(phantomNodes.segmentation, phantomNodes.seeds)
    test.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodesBefore)
    test.delayDisplay("Vein segmentation test passed")


def measurePhantomVeins(test):
    """Centerlines and diameters of a healthy phantom's truth segmentation match its truth."""
    import numpy as np

    test.delayDisplay("Measuring the veins of a healthy phantom")
    logic = _logic()
    # 1.5 mm (not the 2 mm of the other tests): the diameters are checked to 1.5 mm.
    phantomNodes, phantom = logic.createPhantom(_scenario().healthy, spacingMm=1.5)
    centerlineNodes, measurements = logic.measureVeins(phantomNodes.segmentation, phantomNodes.seeds)

    # One curve and one table per vein, nine plot series (CE, min, max per vein)
    branches = {"ivc", "left_iliac", "right_iliac"}
    test.assertEqual(set(centerlineNodes.curves), branches)
    test.assertEqual(set(centerlineNodes.tables), branches)
    for branch in branches:
        curve = centerlineNodes.curves[branch]
        table = centerlineNodes.tables[branch]
        test.assertIs(curve.GetScene(), slicer.mrmlScene)
        test.assertIs(table.GetScene(), slicer.mrmlScene)
        test.assertGreater(curve.GetNumberOfControlPoints(), 10)
        test.assertEqual(table.GetNumberOfRows(), curve.GetNumberOfControlPoints())
    test.assertEqual(centerlineNodes.chart.GetNumberOfPlotSeriesNodes(), 9)

    # IVC size: median area-equivalent (CE) diameter away from the confluence, against the truth
    profile = measurements.profiles["ivc"]
    keep = ~np.asarray(profile.confluence_zone, dtype=bool)
    measuredMm = float(np.nanmedian(np.asarray(profile.ce_diameter_mm)[keep]))
    truth = phantom.branches["ivc"]
    truthMm = float(np.median(truth.ce_diameter_mm[truth.healthy()]))
    test.assertAlmostEqual(measuredMm, truthMm, delta=1.5)

    # A segmentation without the right iliac vein is refused, and nothing is added
    phantomNodes.segmentation.GetSegmentation().RemoveSegment("iliac_vena_right")
    numberOfNodesBefore = slicer.mrmlScene.GetNumberOfNodes()
    with test.assertRaises(ValueError):
        logic.measureVeins(phantomNodes.segmentation, phantomNodes.seeds)
    test.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodesBefore)

    # The centerline curves are results: their control points hidden and locked.
    curve = centerlineNodes.curves["ivc"]
    test.assertTrue(curve.GetLocked())
    test.assertFalse(
        any(curve.GetNthControlPointVisibility(n) for n in range(curve.GetNumberOfControlPoints()))
    )
    # Closing the scene forgets the measurement: the Narrowest buttons cannot jump to the old case.
    test.assertTrue(logic.hasMeasurement())
    slicer.mrmlScene.Clear()
    test.assertFalse(logic.hasMeasurement())
    with test.assertRaisesRegex(ValueError, "Measure the veins first"):
        logic.narrowestSection("ivc")
    test.delayDisplay("Vein measurement test passed")


def seedLabelsAreChecked(test):
    """Seed labels are read in any case; unknown or repeated labels are refused before any work."""
    import numpy as np

    from IVCReconstructionLib.inputs import seeds_from_markups

    test.delayDisplay("Checking seed labels")
    logic = _logic()
    seeds = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Seeds")
    seeds.AddControlPoint([0.0, 10.0, 100.0], "ivc")
    seeds.AddControlPoint([20.0, 0.0, 0.0], " LEFT ")
    seeds.AddControlPoint([0.0, 5.0, 50.0], "Via1")
    seeds.AddControlPoint([0.0, 5.0, 40.0], "Via2")
    seeds.AddControlPoint([10.0, 0.0, 60.0], "renal")
    points = seeds_from_markups(seeds)
    test.assertEqual(set(points.end_points()), {"IVC", "Left"})
    test.assertEqual(set(points), {"IVC", "Left", "Via1", "Via2", "Renal"})
    np.testing.assert_allclose(points["IVC"], [0.0, 10.0, 100.0])
    np.testing.assert_allclose(points["Left"], [20.0, 0.0, 0.0])

    # Via points keep their order, each under its own label even if labels repeat.
    seeds.AddControlPoint([0.0, 5.0, 30.0], "via1")
    points = seeds_from_markups(seeds)
    test.assertEqual([label for label, _ in points.vias], ["Via1", "Via2", "via1 (2)"])
    np.testing.assert_allclose(points["Via1"], [0.0, 5.0, 50.0])
    np.testing.assert_allclose(points["via1 (2)"], [0.0, 5.0, 30.0])

    # The seed checks come before the segmentation is even looked at.
    segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Empty")
    numberOfNodesBefore = slicer.mrmlScene.GetNumberOfNodes()
    seeds.AddControlPoint([-20.0, 0.0, 0.0], "Right")
    seeds.AddControlPoint([-21.0, 0.0, 0.0], "right")
    with test.assertRaisesRegex(ValueError, "Right"):
        logic.measureVeins(segmentation, seeds)
    seeds.RemoveNthControlPoint(seeds.GetNumberOfControlPoints() - 1)
    seeds.AddControlPoint([0.0, 0.0, -50.0], "Femoral")
    with test.assertRaisesRegex(ValueError, "Femoral"):
        logic.measureVeins(segmentation, seeds)
    with test.assertRaises(ValueError):
        logic.measureVeins(None)
    with test.assertRaises(ValueError):
        logic.measureVeins(segmentation, seedsNode=segmentation)
    test.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodesBefore)
    test.delayDisplay("Seed label test passed")


def _openCellCatalogFile(folder):
    """A catalogue file adding an IVC stent with large open cells and sizes: a test device, not a
    product (no such product's sizes are sourced in the built-in catalogue)."""
    import json
    import os

    path = os.path.join(folder, "test_catalog.json")
    sizes = [{"diameter_mm": d, "lengths_mm": [60, 80, 100]} for d in (20, 22, 24)]
    device = {
        "id": "test-open-cell-ivc",
        "product": "Test open-cell IVC stent",
        "manufacturer": "(test device)",
        "construction": "laser-cut",
        "cell": "open",
        "covered": False,
        "large_open_cells": True,
        "sizes": sizes,
        "source": "self-test fixture: not a real device",
        "verified": False,
    }
    with open(path, "w", encoding="utf-8") as catalogOut:
        json.dump({"products": [device]}, catalogOut)
    return path


def planPhantomVeins(test):
    """Segment, measure and plan a post-thrombotic phantom through the logic: no construct from
    the built-in catalogue, an inverted-Y from a catalogue with an open-cell IVC stent, in the
    scene, edits that follow through, IVUS re-sizing it, a report, and bad input refused."""
    import os
    import tempfile

    import numpy as np

    test.delayDisplay("Planning stents for a post-thrombotic phantom")
    logic = _logic()
    phantomNodes, phantom = logic.createPhantom(_scenario().postThrombotic, spacingMm=1.5)
    # The user marks the lowest renal vein inflow, which the IVC stent must stay below.
    phantomNodes.seeds.AddControlPoint([float(c) for c in phantom.renal_inflow_ras], "Renal")
    segmentationNode, result = logic.segmentVeins(phantomNodes.volume, phantomNodes.seeds)
    test.assertEqual([occlusion.branch for occlusion in result.occlusions], ["ivc"])
    _centerlineNodes, measurements = logic.measureVeins(segmentationNode, phantomNodes.seeds)

    # Three branches, each with a CE diameter near the truth where the vein is healthy
    test.assertEqual(set(measurements.profiles), {"ivc", "left_iliac", "right_iliac"})
    for branch, profile in measurements.profiles.items():
        truth = phantom.branches[branch]
        truthMm = float(np.median(truth.ce_diameter_mm[truth.healthy()]))
        keep = ~np.asarray(profile.confluence_zone, dtype=bool)
        measuredMm = float(np.median(np.asarray(profile.ce_diameter_mm)[keep]))
        test.assertAlmostEqual(measuredMm, truthMm, delta=1.5, msg=branch)

    # The built-in catalogue cannot make an inverted-Y (no IVC stent with large open cells and
    # known sizes), and two 16 mm iliac stents do not fit side by side in this IVC: no stent,
    # and every lesion listed as untreated.
    _planNodes, plan = logic.planStents(segmentationNode, phantomNodes.seeds, phantomNodes.volume)
    test.assertEqual(plan.template, "none")
    test.assertIn("large open cells", plan.reason)
    untreated = [w for w in plan.warnings if w.code == "LESION_NOT_COVERED"]
    test.assertEqual(len(untreated), len(plan.lesions))
    test.assertTrue(all(w.severity == "critical" for w in untreated))
    # A centre's catalogue with an open-cell IVC stent (here a test device) makes it possible.
    catalogFolder = tempfile.TemporaryDirectory()
    catalogFile = _openCellCatalogFile(catalogFolder.name)
    planNodes, plan = logic.planStents(
        segmentationNode, phantomNodes.seeds, phantomNodes.volume, catalogFile=catalogFile
    )
    test.assertEqual(plan.template, "inverted-y")
    test.assertEqual(sorted(stent.role for stent in plan.stents), ["ivc", "left_limb", "right_limb"])
    for stent in plan.stents:
        model = planNodes.models[stent.id]
        test.assertIs(model.GetScene(), slicer.mrmlScene)
        test.assertGreater(model.GetPolyData().GetNumberOfPoints(), 100)
    test.assertEqual(planNodes.plan_table.GetNumberOfRows(), 3)
    handles = logic.scenePlan.handles
    test.assertEqual(handles.GetNumberOfControlPoints(), 6)
    renal = plan.landmarks["renal_inflow"]
    test.assertIsNotNone(renal)
    (ivcStent,) = [stent for stent in plan.stents if stent.role == "ivc"]
    test.assertLess(ivcStent.proximal_ras[2], renal[2])  # below the renal veins

    # Edits: another length of the IVC stent, and the left limb's distal end dragged 15 mm down
    lengths = logic.stentTableRows()[0].lengths_mm
    other = next(length for length in lengths if length != ivcStent.length_mm)
    plan = logic.editStent(ivcStent.id, lengthMm=other)
    test.assertEqual(plan.stent(ivcStent.id).length_mm, other)
    test.assertIn(f"{other:g} mm", planNodes.models[ivcStent.id].GetName())
    (limb,) = [stent for stent in plan.stents if stent.role == "left_limb"]
    before = limb.coverage["left_iliac"][1]
    index = [handles.GetNthControlPointLabel(n) for n in range(6)].index(f"{limb.id} distal")
    position = np.array(limb.distal_ras) + np.array([0.0, 0.0, -15.0])
    handles.SetNthControlPointPosition(index, *position)
    # While dragging the point stays where the user holds it; the plan follows.
    test.assertTrue(logic.applyHandleMoves(snap=False))
    held = [0.0, 0.0, 0.0]
    handles.GetNthControlPointPosition(index, held)
    np.testing.assert_allclose(held, position, atol=1e-3)
    test.assertGreater(logic.scenePlan.plan.stent(limb.id).coverage["left_iliac"][1], before + 5.0)
    # Dropped: the point snaps onto the end.
    logic.applyHandleMoves()
    after = logic.scenePlan.plan.stent(limb.id).coverage["left_iliac"][1]
    test.assertGreater(after, before + 5.0)
    moved = [0.0, 0.0, 0.0]
    handles.GetNthControlPointPosition(index, moved)
    np.testing.assert_allclose(moved, logic.scenePlan.plan.stent(limb.id).distal_ras, atol=1e-3)

    # Typed into the stent table: another length of the left limb; an unknown product is refused
    table = planNodes.plan_table
    row = [table.GetCellText(r, 0) for r in range(table.GetNumberOfRows())].index(limb.id)
    limbLengths = next(r for r in logic.stentTableRows() if r.id == limb.id).lengths_mm
    currentLength = logic.scenePlan.plan.stent(limb.id).length_mm
    newLength = next(length for length in limbLengths if length != currentLength)
    lengthColumn = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())].index("Length (mm)")
    table.SetCellText(row, lengthColumn, f"{newLength:g}")
    test.assertTrue(logic.applyTableEdits())
    test.assertEqual(logic.scenePlan.plan.stent(limb.id).length_mm, newLength)
    table.SetCellText(row, 1, "No Such Stent")
    with test.assertRaisesRegex(ValueError, "No Such Stent"):
        logic.applyTableEdits()
    test.assertEqual(table.GetCellText(row, 1), logic.scenePlan.plan.stent(limb.id).product)

    # A size the catalogue does not have is refused, and the plan stays as it was
    with test.assertRaises(ValueError):
        logic.editStent(ivcStent.id, diameterMm=7.0)
    test.assertEqual(logic.scenePlan.plan.stent(ivcStent.id).length_mm, other)

    # IVUS: a wider left common iliac reference re-sizes the left limb at once (IVUS section)
    limbBefore = max(st.diameter_mm for st in logic.scenePlan.plan.stents if st.role == "left_limb")
    ctLeft = logic.scenePlan.session.context.findings.references_mm["left_civ"]
    plan = logic.setIvus({"references_mm": {"left_civ": round(ctLeft + 5.0, 1)}})
    test.assertGreater(max(st.diameter_mm for st in plan.stents if st.role == "left_limb"), limbBefore)
    test.assertEqual(plan.branches["left_iliac"]["civ_reference_source"], "ivus")
    test.assertIn("IVUS_CT_DISAGREE", [warning.code for warning in plan.warnings])
    ivusTable = logic.scenePlan.ivus_table
    keys = [ivusTable.GetCellText(r, 0) for r in range(ivusTable.GetNumberOfRows())]
    test.assertEqual(ivusTable.GetCellText(keys.index("left_civ"), 3), f"{round(ctLeft + 5.0, 1):g}")
    with test.assertRaisesRegex(ValueError, "no vein has"):
        logic.setIvus({"references_mm": {"left_civ": 90.0}})
    plan = logic.setIvus(None)
    test.assertEqual(plan.branches["left_iliac"]["civ_reference_source"], "ct")

    # The report and the scene, in a temporary folder (removed again when the case ends: the
    # TemporaryDirectory's finalizer, also when an assertion fails)
    workFolder = tempfile.TemporaryDirectory()
    folder = workFolder.name
    report = logic.exportReport(folder)
    for name in ("report.html", "plan.json", "view3d.png", "profile_ivc.csv", "veins_labels.nii.gz"):
        test.assertTrue(os.path.isfile(os.path.join(folder, name)), name)
    with open(report, encoding="utf-8") as reportFile:
        text = reportFile.read()
    test.assertIn("inverted-y", text)
    # The report says how the veins were obtained, and which seed points the plan used.
    test.assertIn("seeded segmentation (IVC, Left, Right, Via)", text)
    test.assertIn("IVC, Left, Right, Via, Renal", text)
    # No node names in the report: in a patient's scene they can hold the patient's name.
    test.assertNotIn(phantomNodes.volume.GetName(), text)
    test.assertNotIn(segmentationNode.GetName(), text)
    test.assertTrue(os.path.isfile(logic.saveScene(os.path.join(folder, "plan.mrb"))))

    # Bad input: nothing is added
    numberOfNodesBefore = slicer.mrmlScene.GetNumberOfNodes()
    with test.assertRaises(ValueError):
        logic.planStents(segmentationNode, template="y-shaped")
    with test.assertRaises(ValueError):
        logic.planStents(segmentationNode, settings={"landing": 20.0})
    with test.assertRaises(ValueError):
        logic.planStents(phantomNodes.volume)
    test.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodesBefore)
    workFolder.cleanup()
    test.delayDisplay("Stent planning test passed")


def planUnenhancedPhantom(test):
    """A plan on a segmentation given for a CT whose veins are not enhanced warns that absolute
    diameters are less reliable, and its report says the veins came from a segmentation."""
    import os
    import tempfile

    import numpy as np

    test.delayDisplay("Planning on an unenhanced venogram")
    logic = _logic()
    phantomNodes, phantom = logic.createPhantom(_scenario().mayThurner, spacingMm=SPACING_MM)
    # The same anatomy without contrast: blood as dense as muscle.
    voxels = slicer.util.arrayFromVolume(phantomNodes.volume)
    voxels[np.isin(phantom.labels, (1, 2, 3))] = 40
    slicer.util.arrayFromVolumeModified(phantomNodes.volume)
    plan = logic.planStents(phantomNodes.segmentation, phantomNodes.seeds, phantomNodes.volume)[1]
    test.assertIn("LOW_CONFIDENCE_MODALITY", [warning.code for warning in plan.warnings])
    workFolder = tempfile.TemporaryDirectory()
    folder = workFolder.name
    with open(logic.exportReport(folder), encoding="utf-8") as reportFile:
        text = reportFile.read()
    test.assertIn("a segmentation given", text)
    test.assertIn("noncontrast-ct", text)
    test.assertTrue(os.path.isfile(os.path.join(folder, "segmentation.seg.nrrd")))
    workFolder.cleanup()
    test.delayDisplay("Unenhanced venogram test passed")


def transformedPhantom(test):
    """A phantom under a rotated and translated transform: the segmentation, centerlines, stents
    and handles go under the same transform, and the narrowest section is given in the world."""
    import numpy as np

    test.delayDisplay("Planning a phantom under a transform")
    logic = _logic()
    phantomNodes, phantom = logic.createPhantom(_scenario().mayThurner, spacingMm=1.5, lesionAreaRatio=0.3)
    angle = np.radians(25.0)
    toParent = np.array(
        [
            [np.cos(angle), -np.sin(angle), 0.0, 40.0],
            [np.sin(angle), np.cos(angle), 0.0, -25.0],
            [0.0, 0.0, 1.0, 15.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    transform = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "Patient moved")
    transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(toParent))
    for node in (phantomNodes.volume, phantomNodes.seeds):
        node.SetAndObserveTransformNodeID(transform.GetID())
    toPhantom = np.linalg.inv(toParent)

    def inVein(worldPoints, value):
        points = np.asarray(worldPoints, dtype=float).reshape(-1, 3) @ toPhantom[:3, :3].T + toPhantom[:3, 3]
        return float(np.mean([phantom.label_at(p)[0] == value for p in points]))

    segmentationNode, result = logic.segmentVeins(phantomNodes.volume, phantomNodes.seeds)
    test.assertEqual(segmentationNode.GetTransformNodeID(), transform.GetID())
    truth, found = phantom.labels == 2, result.labels == 2  # the same voxel grid as the volume
    test.assertGreater(2.0 * np.count_nonzero(truth & found) / (truth.sum() + found.sum()), 0.85)

    centerlineNodes = logic.measureVeins(segmentationNode, phantomNodes.seeds)[0]
    for branch, value in (("ivc", 1), ("left_iliac", 2), ("right_iliac", 3)):
        curve = centerlineNodes.curves[branch]
        test.assertEqual(curve.GetTransformNodeID(), transform.GetID())
        world = [
            curve.GetNthControlPointPositionWorld(n) for n in range(10, curve.GetNumberOfControlPoints() - 10)
        ]
        test.assertGreater(inVein(world, value), 0.9, branch)
    position, _area, _diameter = logic.narrowestSection("left_iliac")
    test.assertEqual(inVein(position, 2), 1.0)

    planNodes, plan = logic.planStents(segmentationNode, phantomNodes.seeds, phantomNodes.volume)
    test.assertEqual(plan.template, "unilateral")
    handles = logic.scenePlan.handles
    for node in [*planNodes.models.values(), handles]:
        test.assertEqual(node.GetTransformNodeID(), transform.GetID())
    (stent,) = plan.stents
    index = [handles.GetNthControlPointLabel(n) for n in range(2)].index(f"{stent.id} distal")
    world = [0.0, 0.0, 0.0]
    handles.GetNthControlPointPositionWorld(index, world)
    test.assertEqual(inVein(world, 2), 1.0)  # the handle sits on the stent's end, in the vein
    test.delayDisplay("Transformed phantom test passed")


def exportDicomPhantom(test):
    """A May-Thurner phantom loaded "from DICOM" (written as a series, the volume's
    DICOM.instanceUIDs set as the DICOM module sets them), planned and exported to DICOM: the
    SEG and SR are in the series' study and the SEG holds the veins that were planned. Without
    highdicom (a stock Slicer) the export says how to install it."""
    import os
    import tempfile

    import numpy as np

    logic = _logic()
    if not logic.canWriteDicom():
        test.delayDisplay("No highdicom: Export to DICOM says how to install it")
        with test.assertRaisesRegex(ImportError, "pip install highdicom"):
            logic.exportDicom(tempfile.gettempdir())
        return
    import pydicom

    from IVCReconstructionLib.outputs.dicom_seg import labels_on_slices, read_seg_labels, sort_slices
    from IVCReconstructionLib.phantom.dicom_series import write_dicom_series

    test.delayDisplay("Exporting the plan of a May-Thurner phantom to DICOM")
    workFolder = tempfile.TemporaryDirectory()
    phantomNodes, phantom = logic.createPhantom(_scenario().mayThurner, spacingMm=SPACING_MM)
    files = write_dicom_series(phantom.image, phantom.ijk_to_ras, os.path.join(workFolder.name, "ct"))
    slices = sort_slices([pydicom.dcmread(str(f), stop_before_pixels=True) for f in files])
    phantomNodes.volume.SetAttribute("DICOM.instanceUIDs", " ".join(str(ds.SOPInstanceUID) for ds in slices))
    segmentationNode, _result = logic.segmentVeins(phantomNodes.volume, phantomNodes.seeds)
    logic.planStents(segmentationNode, phantomNodes.seeds, phantomNodes.volume)
    # In Slicer the files are looked up in the DICOM database; headless there is none, so a
    # stand-in answers as it would. (The self-test never adds files to a user's database.)
    sourceFiles = None if getattr(slicer, "dicomDatabase", None) is None else [str(f) for f in files]
    if sourceFiles is None:
        byUid = {str(ds.SOPInstanceUID): str(f) for ds, f in zip(slices, files, strict=True)}

        class Database:
            isOpen = True  # noqa: N815 - ctkDICOMDatabase's name

            @staticmethod
            def fileForInstance(uid):
                return byUid.get(uid, "")

        slicer.dicomDatabase = Database()
    try:
        written, imported = logic.exportDicom(workFolder.name, sourceFiles, importToDatabase=False)
    finally:
        if sourceFiles is None:
            del slicer.dicomDatabase
    test.assertFalse(imported)
    test.assertEqual([os.path.basename(p) for p in written], ["veins_seg.dcm", "plan_sr.dcm"])
    seg = pydicom.dcmread(written[0])
    sr = pydicom.dcmread(written[1])
    for ds in (seg, sr):
        test.assertEqual(ds.StudyInstanceUID, slices[0].StudyInstanceUID)
        test.assertEqual(ds.PatientID, slices[0].PatientID)
    test.assertEqual(seg.FrameOfReferenceUID, slices[0].FrameOfReferenceUID)
    # The SEG's voxels are the veins measured (on the segmentation's own, cropped grid), all of them.
    measured = logic._case.planned.measured
    back = read_seg_labels(seg, slices)
    test.assertTrue(
        np.array_equal(back, labels_on_slices(measured.labels, measured.labels_ijk_to_ras, slices))
    )
    for value in (1, 2, 3):
        test.assertEqual(int((back == value).sum()), int((measured.labels == value).sum()))
    test.delayDisplay("Export to DICOM test passed")

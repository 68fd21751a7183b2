import enum
import logging
import math
import numbers
import time
from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import (
    WithinRange,
    parameterNodeWrapper,
)
from slicer.ScriptedLoadableModule import *
from slicer.util import VTKObservationMixin

# Nothing third-party (numpy, IVCReconstructionLib) is imported here: Slicer imports this file
# at startup for every user, so heavy imports happen inside the methods that need them.


#
# IVCReconstruction
#


class IVCReconstruction(ScriptedLoadableModule):
    """Module description shown by Slicer: title, category, help and acknowledgement.

    Base class: slicer.ScriptedLoadableModule.ScriptedLoadableModule (it also finds the icon in
    Resources/Icons and registers IVCReconstructionTest as the module's self-test).
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("IVC Reconstruction")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Vascular Modeling Toolkit")]
        self.parent.dependencies = []
        self.parent.contributors = ["IVCReconstruction developers"]
        self.parent.helpText = _("""
<p>IVC Reconstruction is growing into a planner for stent reconstruction of the inferior vena cava
(IVC) and the iliac veins. <b>This version builds synthetic CT venograms</b> of the iliocaval
confluence with known truth, for trying and testing the planner: choose a scenario (healthy,
May-Thurner compression of the left common iliac vein, IVC occlusion or narrowing of both common
iliac veins) and click <i>Create phantom</i>. The CT volume, its truth segmentation (the veins
and their neighbours), truth centerlines and seed points (IVC, Left, Right) are added to the
scene in one folder.</p>
<p>Vein segmentation, centerlines, diameter profiles and stent planning come in later versions.</p>
<p><b>Research use only.</b> This software is not a medical device and is not approved for
clinical use. Any plan it makes is a suggestion for a physician to review, not a treatment
decision.</p>
<p>See the <a href="https://github.com/ivcreconstruction/SlicerIVCReconstruction#readme">documentation</a>.</p>
""")
        self.parent.acknowledgementText = _("""
<p>IVCReconstruction is built on <a href="https://www.slicer.org">3D Slicer</a> and the
<a href="http://www.vmtk.org">Vascular Modeling Toolkit (VMTK)</a>, used through the SlicerVMTK
extension. Vein segment IDs follow <a href="https://github.com/wasserth/TotalSegmentator">TotalSegmentator</a>,
whose example outputs serve as reference data for testing.</p>
""")


#
# IVCReconstructionParameterNode
#

# Ranges shared by the parameter node (which sets the GUI ranges from them) and by the logic's
# input checks, so scripts and the GUI accept the same values. They lie within what
# IVCReconstructionLib.phantom.PhantomOptions.validate() accepts (Testing/test_slicer_shell.py
# checks it), which limits the IVC occlusion to 80 mm.
ANATOMY_SEED_RANGE = (0, 9999)
SPACING_RANGE_MM = (0.5, 3.0)
LESION_AREA_RATIO_RANGE = (0.05, 0.9)
OCCLUSION_LENGTH_RANGE_MM = (10.0, 80.0)


class PhantomScenario(enum.Enum):
    """What the synthetic venogram shows."""

    healthy = "healthy"
    mayThurner = "mayThurner"
    ivcOcclusion = "ivcOcclusion"
    bilateralNarrowing = "bilateralNarrowing"

    def label(self) -> str:
        """Display text of the scenario (shown in the scenario combo box)."""
        if self is PhantomScenario.mayThurner:
            return _("May-Thurner (left common iliac vein compressed)")
        if self is PhantomScenario.ivcOcclusion:
            return _("IVC occlusion")
        if self is PhantomScenario.bilateralNarrowing:
            return _("Narrowing of both common iliac veins")
        return _("Healthy")

    def usesLesionAreaRatio(self) -> bool:
        """Whether the scenario narrows a vein to a given area ratio."""
        return self in (PhantomScenario.mayThurner, PhantomScenario.bilateralNarrowing)

    def usesOcclusionLength(self) -> bool:
        """Whether the scenario has an occluded stretch of given length."""
        return self is PhantomScenario.ivcOcclusion


@parameterNodeWrapper
class IVCReconstructionParameterNode:
    """
    The parameters needed by the module.

    scenario - What the synthetic venogram shows: healthy veins, May-Thurner compression of the
        left common iliac vein, an IVC occlusion, or narrowing of both common iliac veins.
    useReferenceAnatomy - If True, build the fixed reference anatomy (same phantom every time);
        if False, draw a random variant of the anatomy from anatomySeed.
    anatomySeed - Seed of the random anatomy variant (used only when useReferenceAnatomy is False);
        the same seed gives the same anatomy.
    spacingMm - Voxel size of the phantom volume in mm (isotropic). 1 mm is typical of a CT
        venogram; 2 mm builds much faster.
    lesionAreaRatio - Narrowest lumen area divided by the healthy area, for the May-Thurner and
        bilateral narrowing scenarios (0.25: the vein keeps a quarter of its area).
    occlusionLengthMm - Length in mm of the IVC stretch without lumen, for the occlusion scenario.
    phantomVolume - Output: the CT volume of the last phantom created.
    """

    scenario: PhantomScenario = PhantomScenario.healthy
    useReferenceAnatomy: bool = True
    anatomySeed: Annotated[int, WithinRange(*ANATOMY_SEED_RANGE)] = 0
    spacingMm: Annotated[float, WithinRange(*SPACING_RANGE_MM)] = 1.0
    lesionAreaRatio: Annotated[float, WithinRange(*LESION_AREA_RATIO_RANGE)] = 0.25
    occlusionLengthMm: Annotated[float, WithinRange(*OCCLUSION_LENGTH_RANGE_MM)] = 40.0
    phantomVolume: vtkMRMLScalarVolumeNode | None


#
# IVCReconstructionWidget
#


class IVCReconstructionWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel. It gathers the settings (through the parameter node), calls the logic
    and shows the result; it does no computation itself.

    Base class: slicer.ScriptedLoadableModule.ScriptedLoadableModuleWidget.
    """

    def __init__(self, parent=None) -> None:
        """Called once, when the module panel is first created."""
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # provides addObserver/removeObserver
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        """Called once, when the module panel is first shown: build the GUI from the .ui file."""
        ScriptedLoadableModuleWidget.setup(self)

        # The panel is designed in Qt Designer (Resources/UI/IVCReconstruction.ui); self.ui gives
        # access to its widgets by object name.
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/IVCReconstruction.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)

        # The .ui file forwards the scene from the top-level qMRMLWidget to each node selector
        # (mrmlSceneChanged -> setMRMLScene connections), so one call reaches them all.
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = IVCReconstructionLogic()

        # The parameter node belongs to the scene: let go of it when the scene closes and get a
        # fresh one afterwards.
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.createPhantomButton.connect("clicked(bool)", self.onCreatePhantomButton)

        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the panel is destroyed (application exit or module reload)."""
        self.removeObservers()

    def enter(self) -> None:
        """Called every time the user switches to this module."""
        self.initializeParameterNode()

    def exit(self) -> None:
        """Called every time the user switches to another module."""
        # While the panel is hidden it need not follow the parameter node; enter() reconnects it.
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        """Scene observer: the scene is about to close, and its parameter node with it."""
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        """Scene observer: the scene is closed; if the panel is showing, attach a new parameter node."""
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Get the module's parameter node (created on first use) and show it in the GUI."""
        # The settings live in the parameter node, so they are saved with the scene. This module
        # has no input nodes to pre-select: the phantom settings have defaults in
        # IVCReconstructionParameterNode and the phantom volume is an output.
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: IVCReconstructionParameterNode | None) -> None:
        """Bind the GUI to inputParameterNode (or to nothing) and observe its changes.

        The observation keeps the button and the enabled state of the settings up to date.
        """
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # connectGui binds each widget whose "SlicerParameterName" property (set in the .ui
            # file) names a parameter, both ways.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
        """Enable the button and the settings that apply to the current choices."""
        parameterNode = self._parameterNode
        if not parameterNode:
            self.ui.createPhantomButton.enabled = False
            self.ui.createPhantomButton.toolTip = _("The module has no parameter node yet.")
            return

        # Settings that the chosen scenario does not use stay visible but disabled, so the user
        # sees they exist and why they have no effect.
        self.ui.anatomySeedSpinBox.enabled = not parameterNode.useReferenceAnatomy
        self.ui.lesionAreaRatioSliderWidget.enabled = parameterNode.scenario.usesLesionAreaRatio()
        self.ui.occlusionLengthSliderWidget.enabled = parameterNode.scenario.usesOcclusionLength()

        self.ui.createPhantomButton.enabled = True
        self.ui.createPhantomButton.toolTip = _(
            "Add a synthetic CT venogram ({scenario}) with its truth segmentation, centerlines and "
            "seed points to the scene."
        ).format(scenario=parameterNode.scenario.label())

    def onCreatePhantomButton(self) -> None:
        """Create a phantom when the user clicks "Create phantom", then show it in the slice views."""
        with slicer.util.tryWithErrorDisplay(_("Failed to create the phantom."), waitCursor=True):
            parameterNode = self._parameterNode
            anatomySeed = None if parameterNode.useReferenceAnatomy else parameterNode.anatomySeed
            phantomNodes = self.logic.createPhantom(
                parameterNode.scenario,
                anatomySeed=anatomySeed,
                spacingMm=parameterNode.spacingMm,
                lesionAreaRatio=parameterNode.lesionAreaRatio,
                occlusionLengthMm=parameterNode.occlusionLengthMm,
            )[0]
            parameterNode.phantomVolume = phantomNodes.volume
            slicer.util.setSliceViewerLayers(background=phantomNodes.volume, fit=True)
            slicer.util.showStatusMessage(
                _("Created phantom {name}.").format(name=phantomNodes.volume.GetName()), 3000
            )


#
# IVCReconstructionLogic
#


class IVCReconstructionLogic(ScriptedLoadableModuleLogic):
    """What the module does, usable from scripts and other modules without the panel.

    The work itself is done by the Qt-free IVCReconstructionLib package, which the headless
    command line and the tests call too; this class checks inputs and puts results in the scene.
    It never touches widgets or opens dialogs.

    Base class: slicer.ScriptedLoadableModule.ScriptedLoadableModuleLogic.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        """The module's parameter node (one per scene), wrapped as IVCReconstructionParameterNode."""
        return IVCReconstructionParameterNode(super().getParameterNode())

    def createPhantom(
        self,
        scenario: PhantomScenario | str,
        anatomySeed: int | None = None,
        spacingMm: float = 1.0,
        lesionAreaRatio: float = 0.25,
        occlusionLengthMm: float = 40.0,
    ) -> tuple:
        """
        Build a synthetic CT venogram of the iliocaval confluence with known truth and add it to
        slicer.mrmlScene. All inputs are checked before anything is added to the scene.

        :param scenario: what the phantom shows, a PhantomScenario or its value
            ("healthy", "mayThurner", "ivcOcclusion", "bilateralNarrowing").
        :param anatomySeed: None for the reference anatomy, or an int from 0 to 9999 to draw a
            random variant of the anatomy (the same seed gives the same anatomy).
        :param spacingMm: isotropic voxel size in mm, from 0.5 to 3.0.
        :param lesionAreaRatio: narrowest lumen area / healthy area, from 0.05 to 0.9; used by the
            mayThurner (left common iliac vein) and bilateralNarrowing (both common iliac veins) scenarios.
        :param occlusionLengthMm: length in mm of the occluded IVC stretch, from 10 to 80; used by
            the ivcOcclusion scenario.
        :return: (phantomNodes, phantom): the nodes added to the scene
            (IVCReconstructionLib.mrml.PhantomNodes: volume, segmentation, seeds, folder_item) and
            the phantom with its truth (IVCReconstructionLib.phantom_truth.Phantom).
        :raises ValueError: if an input is out of range; the message says which and what to use.
        """
        options = self.phantomOptions(scenario, anatomySeed, spacingMm, lesionAreaRatio, occlusionLengthMm)

        from IVCReconstructionLib.mrml import add_phantom_to_scene
        from IVCReconstructionLib.phantom import make_phantom

        scenario = self._scenarioFromValue(scenario)
        startTime = time.time()
        logging.info(
            f"Creating {scenario.value} phantom: spacing {options.spacing_mm} mm, "
            f"anatomy {'reference' if options.seed is None else f'seed {options.seed}'}"
        )
        phantom = make_phantom(options)
        phantomNodes = add_phantom_to_scene(slicer.mrmlScene, phantom)
        stopTime = time.time()
        logging.info(f"Phantom created in {stopTime - startTime:.2f} seconds")
        return phantomNodes, phantom

    def phantomOptions(
        self,
        scenario: PhantomScenario | str,
        anatomySeed: int | None = None,
        spacingMm: float = 1.0,
        lesionAreaRatio: float = 0.25,
        occlusionLengthMm: float = 40.0,
    ):
        """
        Check the phantom settings and translate them into IVCReconstructionLib.phantom.PhantomOptions.

        Parameters as in createPhantom. Settings that the scenario does not use are ignored
        (and not checked). Raises ValueError with a message that says which input is wrong and
        what to use instead.
        """
        scenario = self._scenarioFromValue(scenario)

        if anatomySeed is not None:
            seedMessage = _(
                "Anatomy seed must be a whole number from {minimum} to {maximum}, or None for the "
                "reference anatomy; got {value!r}."
            )
            if not isinstance(anatomySeed, numbers.Integral):
                # Also refuses 1.5 and "3"; bool is refused by _checkInRange.
                raise ValueError(
                    seedMessage.format(
                        minimum=ANATOMY_SEED_RANGE[0], maximum=ANATOMY_SEED_RANGE[1], value=anatomySeed
                    )
                )
            anatomySeed = int(self._checkInRange(anatomySeed, ANATOMY_SEED_RANGE, seedMessage))

        spacingMm = self._checkInRange(
            spacingMm,
            SPACING_RANGE_MM,
            _(
                "Voxel spacing must be from {minimum} to {maximum} mm; got {value!r}. Use 1 mm for a "
                "realistic venogram or 2 mm for a quick one."
            ),
        )

        mayThurnerAreaRatio = None
        bilateralAreaRatio = None
        occlusionLength = None
        if scenario.usesLesionAreaRatio():
            lesionAreaRatio = self._checkInRange(
                lesionAreaRatio,
                LESION_AREA_RATIO_RANGE,
                _(
                    "Lesion area ratio (narrowest lumen area / healthy area) must be from {minimum} to "
                    "{maximum}; got {value!r}. For example, 0.25 leaves a quarter of the healthy area."
                ),
            )
            if scenario is PhantomScenario.mayThurner:
                mayThurnerAreaRatio = lesionAreaRatio
            else:
                bilateralAreaRatio = lesionAreaRatio
        if scenario.usesOcclusionLength():
            occlusionLength = self._checkInRange(
                occlusionLengthMm,
                OCCLUSION_LENGTH_RANGE_MM,
                _("Occlusion length must be from {minimum} to {maximum} mm; got {value!r}."),
            )

        from IVCReconstructionLib.phantom import PhantomOptions

        return PhantomOptions(
            spacing_mm=spacingMm,
            seed=anatomySeed,
            may_thurner_area_ratio=mayThurnerAreaRatio,
            ivc_occlusion_length_mm=occlusionLength,
            bilateral_iliac_area_ratio=bilateralAreaRatio,
        )

    @staticmethod
    def _scenarioFromValue(scenario: PhantomScenario | str) -> PhantomScenario:
        """The PhantomScenario given as itself or as its value; ValueError if there is none."""
        if isinstance(scenario, PhantomScenario):
            return scenario
        try:
            return PhantomScenario(scenario)
        except ValueError:
            raise ValueError(
                _("Unknown phantom scenario {value!r}. Use one of: {choices}.").format(
                    value=scenario, choices=", ".join(item.value for item in PhantomScenario)
                )
            ) from None

    @staticmethod
    def _checkInRange(value, valueRange: tuple, message: str) -> float:
        """Return value as a float if it is a finite number within valueRange (inclusive).

        Otherwise raise ValueError with message formatted with minimum, maximum and value.
        """
        minimum, maximum = valueRange
        error = ValueError(message.format(minimum=minimum, maximum=maximum, value=value))
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise error
        value = float(value)
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise error
        return value


#
# IVCReconstructionTest
#


class IVCReconstructionTest(ScriptedLoadableModuleTest):
    """Self-test run inside Slicer (Reload and Test, or ctest py_IVCReconstruction).

    The tests run the logic on the built-in phantom at 2 mm spacing (no download) and check the
    numbers against the phantom's truth.

    Base class: slicer.ScriptedLoadableModule.ScriptedLoadableModuleTest.
    """

    # 2 mm keeps the phantom small, so the test is quick on build machines.
    spacingMm = 2.0

    def setUp(self):
        """Start every test from an empty scene."""
        slicer.mrmlScene.Clear()

    def runTest(self):
        """Run all tests, each on an empty scene."""
        self.setUp()
        self.test_HealthyPhantom()
        self.setUp()
        self.test_MayThurnerPhantom()
        self.setUp()
        self.test_BadInputAddsNoNode()

    def test_HealthyPhantom(self):
        """The healthy reference phantom: geometry, segments, seeds and IVC size."""
        import numpy as np

        from IVCReconstructionLib.phantom_truth import TRUTH_LABELS

        self.delayDisplay("Creating a healthy phantom")
        logic = IVCReconstructionLogic()
        phantomNodes, phantom = logic.createPhantom(PhantomScenario.healthy, spacingMm=self.spacingMm)

        # Volume geometry
        volume = phantomNodes.volume
        self.assertIsNotNone(volume)
        np.testing.assert_allclose(volume.GetSpacing(), [self.spacingMm] * 3, atol=1e-6)
        self.assertEqual(tuple(volume.GetImageData().GetDimensions()), tuple(phantom.shape_ijk))

        # The three vein segments, found by ID (architecture section 4)
        segmentation = phantomNodes.segmentation.GetSegmentation()
        for segmentId in ("inferior_vena_cava", "iliac_vena_left", "iliac_vena_right"):
            self.assertIsNotNone(segmentation.GetSegment(segmentId), f"segment {segmentId} is missing")

        # Seeds: IVC / Left / Right, each inside its own vein in the truth label map
        seeds = phantomNodes.seeds
        self.assertEqual(seeds.GetNumberOfControlPoints(), 3)
        truthValue = {name: value for value, name in TRUTH_LABELS.items()}
        expectedVein = {"ivc": "inferior_vena_cava", "left": "iliac_vena_left", "right": "iliac_vena_right"}
        seedLabels = set()
        for index in range(seeds.GetNumberOfControlPoints()):
            seedLabel = seeds.GetNthControlPointLabel(index)
            seedLabels.add(seedLabel.lower())
            position = [0.0, 0.0, 0.0]
            seeds.GetNthControlPointPositionWorld(index, position)
            label = int(phantom.label_at(np.array(position))[0])
            self.assertEqual(
                label,
                truthValue[expectedVein[seedLabel.lower()]],
                f"seed {seedLabel} at {position} is in truth label {label}",
            )
        self.assertEqual(seedLabels, {"ivc", "left", "right"})

        # Truth IVC size: adult infrarenal IVC, 18 to 26 mm area-equivalent diameter
        ivc = phantom.branches["ivc"]
        medianDiameterMm = float(np.median(ivc.ce_diameter_mm[ivc.healthy()]))
        self.assertGreaterEqual(medianDiameterMm, 18.0)
        self.assertLessEqual(medianDiameterMm, 26.0)

        self.delayDisplay("Healthy phantom test passed")

    def test_MayThurnerPhantom(self):
        """A May-Thurner phantom has one left iliac stenosis of the requested area ratio."""
        self.delayDisplay("Creating a May-Thurner phantom")
        requestedRatio = 0.3
        logic = IVCReconstructionLogic()
        phantomNodes, phantom = logic.createPhantom(
            PhantomScenario.mayThurner, spacingMm=self.spacingMm, lesionAreaRatio=requestedRatio
        )
        self.assertIsNotNone(phantomNodes.volume)
        lesions = [
            lesion
            for lesion in phantom.lesions
            if lesion.branch == "left_iliac" and lesion.kind == "stenosis"
        ]
        self.assertEqual(len(lesions), 1)
        self.assertAlmostEqual(lesions[0].area_ratio, requestedRatio, delta=0.05)
        self.delayDisplay("May-Thurner phantom test passed")

    def test_BadInputAddsNoNode(self):
        """Bad input raises ValueError before anything is added to the scene."""
        self.delayDisplay("Checking bad input")
        logic = IVCReconstructionLogic()
        numberOfNodesBefore = slicer.mrmlScene.GetNumberOfNodes()
        with self.assertRaises(ValueError):
            logic.createPhantom(PhantomScenario.healthy, spacingMm=0.0)
        with self.assertRaises(ValueError):
            logic.createPhantom(PhantomScenario.mayThurner, spacingMm=self.spacingMm, lesionAreaRatio=1.5)
        with self.assertRaises(ValueError):
            logic.createPhantom("noSuchScenario", spacingMm=self.spacingMm)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodesBefore)
        self.delayDisplay("Bad input test passed")

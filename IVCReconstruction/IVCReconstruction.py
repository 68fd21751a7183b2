import enum
import logging
import math
import numbers
import os
import pathlib
import time
from typing import Annotated

import slicer
import vtk
from slicer import (
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLPlotChartNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLVolumeNode,
)
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
<p>IVC Reconstruction suggests a stent reconstruction of the inferior vena cava (IVC) and the
iliac veins from a CT (or MR) venogram, in five steps.</p>
<p><b>Synthetic venogram (phantom)</b> builds a CT venogram with known truth to try the planner
on (healthy, May-Thurner, IVC occlusion, narrowing of both common iliac veins, or
post-thrombotic: an IVC occlusion with both common iliac veins narrowed).</p>
<p><b>Segment veins</b>: select the venogram and a point list, or place the points with the
buttons: <i>IVC</i> in the cranial end of the infrarenal IVC, <i>Left</i> and <i>Right</i> in the
distal iliac (or common femoral) veins, <i>Via</i> inside an occlusion the path must cross, and
<i>Renal</i> where the lowest renal vein enters. <i>Segment veins</i> adds the segments
<i>inferior_vena_cava</i>, <i>iliac_vena_left</i>, <i>iliac_vena_right</i> (and
<i>occluded_vein</i>).</p>
<p><b>Centerlines and diameters</b> measures any segmentation with these veins (found by
segment ID or terminology, or picked): centerlines, diameter tables and a chart; buttons centre
the views on each vein's narrowest section.</p>
<p><b>Stent plan</b>: choose the construct (automatic, inverted-Y, double-barrel, kissing or
unilateral), optionally your own stent catalogue and the design defaults (landing zone, overlap,
IVC protrusion, renal margin), and click <i>Plan stents</i>. Stents appear as models with a table
and warnings; change a stent's product or size in the editor, or drag its end points
(<i>Stent ends</i>) in a view.</p>
<p><b>Export</b> writes a report (HTML with plots and a 3D view) and saves the scene.</p>
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
# Plan settings the panel offers (design defaults of IVCReconstructionLib.plan_types.PlanSettings,
# whose defaults these fields repeat; Testing/test_slicer_shell.py checks that they agree).
LANDING_RANGE_MM = (5.0, 50.0)
OVERLAP_RANGE_MM = (5.0, 50.0)
PROTRUSION_RANGE_MM = (0.0, 20.0)
RENAL_MARGIN_RANGE_MM = (0.0, 30.0)

# Control-point labels of a seed point list (architecture section 5), matched case-insensitively.
# The centerlines run between the IVC, Left and Right points (the same keys as
# IVCReconstructionLib.names.SEED_IVC/SEED_LEFT/SEED_RIGHT, which Testing/test_slicer_shell.py
# checks). The other landmarks are for later steps: accepted, so one point list serves the whole
# plan, but not used to measure the veins.
SEED_END_LABELS = ("IVC", "Left", "Right")
SEED_LANDMARK_LABELS = ("Renal", "InguinalLeft", "InguinalRight")
SEED_VIA_PREFIX = "Via"


class PhantomScenario(enum.Enum):
    """What the synthetic venogram shows."""

    healthy = "healthy"
    mayThurner = "mayThurner"
    ivcOcclusion = "ivcOcclusion"
    bilateralNarrowing = "bilateralNarrowing"
    postThrombotic = "postThrombotic"

    def label(self) -> str:
        """Display text of the scenario (shown in the scenario combo box)."""
        if self is PhantomScenario.mayThurner:
            return _("May-Thurner (left common iliac vein compressed)")
        if self is PhantomScenario.ivcOcclusion:
            return _("IVC occlusion")
        if self is PhantomScenario.bilateralNarrowing:
            return _("Narrowing of both common iliac veins")
        if self is PhantomScenario.postThrombotic:
            return _("Post-thrombotic: IVC occlusion and both common iliac veins narrowed")
        return _("Healthy")

    def usesLesionAreaRatio(self) -> bool:
        """Whether the scenario narrows a vein to a given area ratio."""
        return self in (
            PhantomScenario.mayThurner,
            PhantomScenario.bilateralNarrowing,
            PhantomScenario.postThrombotic,
        )

    def usesOcclusionLength(self) -> bool:
        """Whether the scenario has an occluded stretch of given length."""
        return self in (PhantomScenario.ivcOcclusion, PhantomScenario.postThrombotic)


class PlanTemplate(enum.Enum):
    """The stent construct to plan; the values are the library's template names."""

    auto = "auto"
    invertedY = "inverted-y"
    doubleBarrel = "double-barrel"
    kissing = "kissing"
    unilateral = "unilateral"

    def label(self) -> str:
        """Display text of the template (shown in the construct combo box)."""
        if self is PlanTemplate.invertedY:
            return _("Inverted-Y (IVC stent and two iliac limbs)")
        if self is PlanTemplate.doubleBarrel:
            return _("Double-barrel (two iliac stents side by side in the IVC)")
        if self is PlanTemplate.kissing:
            return _("Kissing (two iliac stents meeting at the confluence)")
        if self is PlanTemplate.unilateral:
            return _("Unilateral (one iliac side)")
        return _("Automatic (from the findings)")


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
    inputVolume - The CT (or bright-blood MR) venogram to segment. Set to the volume of each new
        phantom.
    segmentationSeeds - The point list the veins are segmented from: points labelled IVC (cranial
        end of the IVC), Left and Right (distal iliac or common femoral veins), any case, and
        optionally points labelled Via... that the path must pass (through an occlusion). Set to
        the seed points of each new phantom. It has its own field because parameterNodeWrapper
        binds one widget per field; Segment veins copies it to seedPoints.
    veinSegmentation - The segmentation to measure. It must hold the IVC and both common iliac
        veins, found by segment ID (inferior_vena_cava, iliac_vena_left, iliac_vena_right) or by
        terminology. Set to the truth segmentation of each new phantom and to the result of
        Segment veins.
    seedPoints - Optional point list whose points labelled IVC, Left and Right (any case) mark the
        cranial end of the IVC and the caudal ends of the iliac veins; ends without a point are
        found automatically. Set to the seed points of each new phantom and to the point list of
        Segment veins.
    diameterChart - Output: the diameter chart of the last measurement.
    planTemplate - The stent construct to plan: automatic (chosen from the findings), inverted-Y,
        double-barrel, kissing or unilateral.
    catalogFile - Optional stent catalogue file (JSON) adding to or replacing the built-in
        products; empty for the built-in catalogue.
    landingMm - Healthy vein each stent end must rest on (design default 20 mm).
    overlapMm - Overlap between consecutive stents and between the IVC stent and the limbs
        (design default 20 mm).
    protrusionMm - How far an iliac stent placed from the confluence reaches into the IVC (design
        default 5 mm).
    renalMarginMm - Distance kept between the IVC stent's cranial end and the lowest renal vein
        inflow (design default 5 mm).
    exportFolder - Folder the report and the scene file are written to.
    """

    scenario: PhantomScenario = PhantomScenario.healthy
    useReferenceAnatomy: bool = True
    anatomySeed: Annotated[int, WithinRange(*ANATOMY_SEED_RANGE)] = 0
    spacingMm: Annotated[float, WithinRange(*SPACING_RANGE_MM)] = 1.0
    lesionAreaRatio: Annotated[float, WithinRange(*LESION_AREA_RATIO_RANGE)] = 0.25
    occlusionLengthMm: Annotated[float, WithinRange(*OCCLUSION_LENGTH_RANGE_MM)] = 40.0
    phantomVolume: vtkMRMLScalarVolumeNode | None
    inputVolume: vtkMRMLScalarVolumeNode | None
    segmentationSeeds: vtkMRMLMarkupsFiducialNode | None
    veinSegmentation: vtkMRMLSegmentationNode | None
    seedPoints: vtkMRMLMarkupsFiducialNode | None
    diameterChart: vtkMRMLPlotChartNode | None
    planTemplate: PlanTemplate = PlanTemplate.auto
    catalogFile: pathlib.Path
    landingMm: Annotated[float, WithinRange(*LANDING_RANGE_MM)] = 20.0
    overlapMm: Annotated[float, WithinRange(*OVERLAP_RANGE_MM)] = 20.0
    protrusionMm: Annotated[float, WithinRange(*PROTRUSION_RANGE_MM)] = 5.0
    renalMarginMm: Annotated[float, WithinRange(*RENAL_MARGIN_RANGE_MM)] = 5.0
    exportFolder: pathlib.Path


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
        self._pendingSeedLabel = None  # label of the point being placed with a Place button
        self._observedSeeds = None
        self._observedHandles = None
        self._observedTable = None
        self._dragging = False  # a stent-end point is being dragged
        self._lastLiveUpdate = 0.0
        self._segmentationInPickers = None  # the segmentation whose segments the pickers list

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
        self.ui.segmentVeinsButton.connect("clicked(bool)", self.onSegmentVeinsButton)
        self.ui.measureVeinsButton.connect("clicked(bool)", self.onMeasureVeinsButton)
        self.ui.placeIvcButton.connect("clicked(bool)", self.onPlaceIvcButton)
        self.ui.placeLeftButton.connect("clicked(bool)", self.onPlaceLeftButton)
        self.ui.placeRightButton.connect("clicked(bool)", self.onPlaceRightButton)
        self.ui.placeViaButton.connect("clicked(bool)", self.onPlaceViaButton)
        self.ui.placeRenalButton.connect("clicked(bool)", self.onPlaceRenalButton)
        self.ui.narrowestIvcButton.connect("clicked(bool)", self.onNarrowestIvcButton)
        self.ui.narrowestLeftButton.connect("clicked(bool)", self.onNarrowestLeftButton)
        self.ui.narrowestRightButton.connect("clicked(bool)", self.onNarrowestRightButton)
        self.ui.planStentsButton.connect("clicked(bool)", self.onPlanStentsButton)
        self.ui.applyStentButton.connect("clicked(bool)", self.onApplyStentButton)
        self.ui.removeStentButton.connect("clicked(bool)", self.onRemoveStentButton)
        self.ui.writeReportButton.connect("clicked(bool)", self.onWriteReportButton)
        self.ui.saveSceneButton.connect("clicked(bool)", self.onSaveSceneButton)
        self.ui.stentComboBox.connect("currentIndexChanged(int)", self._fillStentEditor)
        self.ui.productComboBox.connect("currentIndexChanged(int)", self._fillDiameters)
        self.ui.diameterComboBox.connect("currentIndexChanged(int)", self._fillLengths)
        import qt

        # Product, diameter and length can be typed into the stent table; the warnings are read only.
        self.ui.warningsTableView.editTriggers = qt.QAbstractItemView.NoEditTriggers

        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the panel is destroyed (application exit or module reload)."""
        self.removeObservers()
        self._observedSeeds = None
        self._observedHandles = None

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
        self._observeSeeds(None)
        self._observeHandles(None)
        self._observePlanTable(None)
        self.logic.planSession = None
        self._segmentationInPickers = None

    def onSceneEndClose(self, caller, event) -> None:
        """Scene observer: the scene is closed; if the panel is showing, attach a new parameter node."""
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        """Get the module's parameter node (created on first use) and show it in the GUI."""
        # The settings live in the parameter node, so they are saved with the scene. The phantom
        # settings have defaults in IVCReconstructionParameterNode and the phantom volume is an
        # output; the volume to segment defaults to the first scalar volume, and the segmentation
        # to measure to the first one that has the three veins. Point lists are not guessed: their
        # labels say what they are for, and a wrong list would only give an error.
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            inputVolume = self.logic.firstScalarVolume()
            if inputVolume:
                self._parameterNode.inputVolume = inputVolume
        if not self._parameterNode.veinSegmentation:
            veinSegmentation = self.logic.firstVeinSegmentation()
            if veinSegmentation:
                self._parameterNode.veinSegmentation = veinSegmentation

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
        """Enable the buttons and the settings that apply to the current choices."""
        parameterNode = self._parameterNode
        if not parameterNode:
            for button in self._allButtons():
                button.enabled = False
                button.toolTip = _("The module has no parameter node yet.")
            return
        self._checkCanPlan(parameterNode)

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

        # Whether the seeds are labelled and placed well is only known by reading them, which the
        # logic does when the button is clicked and reports in an error message.
        if not parameterNode.inputVolume or not parameterNode.segmentationSeeds:
            self.ui.segmentVeinsButton.enabled = False
            self.ui.segmentVeinsButton.toolTip = _(
                "Select the CT (or MR) venogram and a point list with points labelled IVC (cranial end of "
                "the IVC), Left and Right (distal left and right iliac or common femoral veins)."
            )
        else:
            self.ui.segmentVeinsButton.enabled = True
            self.ui.segmentVeinsButton.toolTip = _(
                "Segment the IVC and both iliac veins of {volume} from the IVC, Left, Right and Via... "
                "points of {seeds}, and select the segmentation for Centerlines and diameters."
            ).format(
                volume=parameterNode.inputVolume.GetName(), seeds=parameterNode.segmentationSeeds.GetName()
            )

        # Whether the segmentation has the three veins is only known by looking into it, which
        # the logic does when the button is clicked and reports in an error message.
        if not parameterNode.veinSegmentation:
            self.ui.measureVeinsButton.enabled = False
            self.ui.measureVeinsButton.toolTip = _(
                "Select a segmentation with the IVC and both common iliac veins: segments with the IDs "
                "inferior_vena_cava, iliac_vena_left and iliac_vena_right (as TotalSegmentator names them), "
                "or with the terminology of these veins."
            )
            return
        self.ui.measureVeinsButton.enabled = True
        segmentationName = parameterNode.veinSegmentation.GetName()
        if parameterNode.seedPoints:
            self.ui.measureVeinsButton.toolTip = _(
                "Add centerlines, diameter profile tables and a diameter chart of the IVC and both common "
                "iliac veins in {segmentation}. The centerlines run between the IVC, Left and Right points "
                "of {seeds}; ends without a point are found automatically."
            ).format(segmentation=segmentationName, seeds=parameterNode.seedPoints.GetName())
        else:
            self.ui.measureVeinsButton.toolTip = _(
                "Add centerlines, diameter profile tables and a diameter chart of the IVC and both common "
                "iliac veins in {segmentation}. The ends of the centerlines are found automatically; to "
                "choose them, select seed points labelled IVC, Left and Right."
            ).format(segmentation=segmentationName)

    def _allButtons(self) -> list:
        return [
            self.ui.createPhantomButton,
            self.ui.segmentVeinsButton,
            self.ui.measureVeinsButton,
            self.ui.placeIvcButton,
            self.ui.placeLeftButton,
            self.ui.placeRightButton,
            self.ui.placeViaButton,
            self.ui.placeRenalButton,
            self.ui.narrowestIvcButton,
            self.ui.narrowestLeftButton,
            self.ui.narrowestRightButton,
            self.ui.planStentsButton,
            self.ui.applyStentButton,
            self.ui.removeStentButton,
            self.ui.writeReportButton,
            self.ui.saveSceneButton,
        ]

    def _checkCanPlan(self, parameterNode) -> None:
        """Enabled state and tooltip of the seed, narrowest-section, plan and export buttons."""
        for button, label, where in (
            (self.ui.placeIvcButton, "IVC", _("inside the cranial end of the infrarenal IVC")),
            (self.ui.placeLeftButton, "Left", _("inside the distal left iliac or common femoral vein")),
            (self.ui.placeRightButton, "Right", _("inside the distal right iliac or common femoral vein")),
            (self.ui.placeViaButton, "Via", _("where the path must pass, e.g. inside an occlusion")),
            (self.ui.placeRenalButton, "Renal", _("where the lowest renal vein enters the IVC")),
        ):
            button.enabled = True
            button.toolTip = _("Click, then click in a view to place the {label} point {where}.").format(
                label=label, where=where
            ) + ("" if parameterNode.segmentationSeeds else " " + _("A new point list is created for it."))
        self._refreshSegmentPickers(parameterNode.veinSegmentation)

        measured = self.logic.hasMeasurement()
        for button, vein in (
            (self.ui.narrowestIvcButton, _("IVC")),
            (self.ui.narrowestLeftButton, _("left iliac vein")),
            (self.ui.narrowestRightButton, _("right iliac vein")),
        ):
            button.enabled = measured
            button.toolTip = (
                _("Centre the slice views on the narrowest measured section of the {vein}.").format(vein=vein)
                if measured
                else _("Measure the veins first (Measure veins).")
            )

        self.ui.planStentsButton.enabled = parameterNode.veinSegmentation is not None
        self.ui.planStentsButton.toolTip = (
            _(
                "Suggest a stent construct for {segmentation}, sized from the catalogue; "
                "a plan made before is replaced."
            ).format(segmentation=parameterNode.veinSegmentation.GetName())
            if parameterNode.veinSegmentation
            else _("Select a vein segmentation (Centerlines and diameters) to plan on.")
        )
        planned = self.logic.planSession is not None
        chosen = planned and self.ui.stentComboBox.currentText != ""
        self.ui.applyStentButton.enabled = chosen and self.ui.lengthComboBox.currentText != ""
        self.ui.applyStentButton.toolTip = (
            _("Give the chosen stent this product and size; the model, tables and warnings follow.")
            if chosen
            else _("Plan stents first, then choose a stent.")
        )
        self.ui.removeStentButton.enabled = chosen
        self.ui.removeStentButton.toolTip = (
            _("Remove the chosen stent from the plan.")
            if chosen
            else _("Plan stents first, then choose a stent.")
        )
        folder = str(parameterNode.exportFolder) if parameterNode.exportFolder else ""
        hasFolder = folder not in ("", ".")
        self.ui.writeReportButton.enabled = planned and hasFolder
        self.ui.writeReportButton.toolTip = (
            _(
                "Write report.html, plan.json, the diameter profiles and a 3D view of the plan to {folder}."
            ).format(folder=folder)
            if planned and hasFolder
            else _("Plan stents and choose an output folder first.")
        )
        self.ui.saveSceneButton.enabled = hasFolder
        self.ui.saveSceneButton.toolTip = (
            _("Save the whole scene as plan.mrb in {folder}.").format(folder=folder)
            if hasFolder
            else _("Choose an output folder first.")
        )

    def _refreshSegmentPickers(self, segmentationNode) -> None:
        """List the segments of the vein segmentation in the three pickers (once per
        segmentation, so a user's choice stays), preselecting those found by ID or terminology."""
        if segmentationNode is self._segmentationInPickers:
            return
        self._segmentationInPickers = segmentationNode
        found = {}
        segmentIds = []
        if segmentationNode is not None:
            from IVCReconstructionLib.existing_segmentation import find_vein_segments

            segmentation = segmentationNode.GetSegmentation()
            segmentIds = [segmentation.GetNthSegmentID(n) for n in range(segmentation.GetNumberOfSegments())]
            try:
                found = find_vein_segments(segmentationNode)
            except ValueError:
                found = {}
        for comboBox, branch in (
            (self.ui.ivcSegmentComboBox, "ivc"),
            (self.ui.leftSegmentComboBox, "left_iliac"),
            (self.ui.rightSegmentComboBox, "right_iliac"),
        ):
            comboBox.clear()
            comboBox.addItems(segmentIds)
            if branch in found:
                comboBox.currentText = found[branch]

    def _chosenSegmentIds(self) -> dict:
        return {
            branch: comboBox.currentText
            for comboBox, branch in (
                (self.ui.ivcSegmentComboBox, "ivc"),
                (self.ui.leftSegmentComboBox, "left_iliac"),
                (self.ui.rightSegmentComboBox, "right_iliac"),
            )
            if comboBox.currentText
        }

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
            # The phantom is ready to be segmented from its seeds, and its truth is the natural
            # first thing to measure.
            parameterNode.inputVolume = phantomNodes.volume
            parameterNode.segmentationSeeds = phantomNodes.seeds
            parameterNode.veinSegmentation = phantomNodes.segmentation
            parameterNode.seedPoints = phantomNodes.seeds
            slicer.util.setSliceViewerLayers(background=phantomNodes.volume, fit=True)
            slicer.util.showStatusMessage(
                _("Created phantom {name}.").format(name=phantomNodes.volume.GetName()), 3000
            )

    def onSegmentVeinsButton(self) -> None:
        """Segment the veins when the user clicks "Segment veins", show the segmentation in 3D, and
        report occlusions and warnings if there are any."""
        with slicer.util.tryWithErrorDisplay(_("Failed to segment the veins."), waitCursor=True):
            parameterNode = self._parameterNode
            slicer.util.showStatusMessage(_("Segmenting the veins..."))
            segmentationNode, result = self.logic.segmentVeins(
                parameterNode.inputVolume, parameterNode.segmentationSeeds
            )
            # The next step measures this segmentation, its ends marked by the same point list.
            parameterNode.veinSegmentation = segmentationNode
            parameterNode.seedPoints = parameterNode.segmentationSeeds
            segmentationNode.CreateClosedSurfaceRepresentation()
            slicer.util.setSliceViewerLayers(background=parameterNode.inputVolume)
            findings = self.logic.describeOcclusions(result) + list(result.warnings)
            if findings:
                slicer.util.infoDisplay(
                    _("Segmented the veins of {volume}. Please check:").format(
                        volume=parameterNode.inputVolume.GetName()
                    )
                    + "\n\n"
                    + "\n".join(f"- {finding}" for finding in findings),
                    windowTitle=_("Segment veins"),
                )
            slicer.util.showStatusMessage(
                _("Segmented the veins of {name}.").format(name=parameterNode.inputVolume.GetName()), 3000
            )

    def onMeasureVeinsButton(self) -> None:
        """Measure the veins when the user clicks "Measure veins", then show the diameter chart."""
        with slicer.util.tryWithErrorDisplay(_("Failed to measure the veins."), waitCursor=True):
            parameterNode = self._parameterNode
            slicer.util.showStatusMessage(_("Measuring the veins..."))
            centerlineNodes = self.logic.measureVeins(
                parameterNode.veinSegmentation, parameterNode.seedPoints, segmentIds=self._chosenSegmentIds()
            )[0]
            parameterNode.diameterChart = centerlineNodes.chart
            # A layout with slice, plot and table views: the chart, and the IVC's profile table.
            slicer.app.layoutManager().setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView)
            selectionNode = slicer.app.applicationLogic().GetSelectionNode()
            selectionNode.SetActiveTableID(centerlineNodes.tables["ivc"].GetID())
            slicer.app.applicationLogic().PropagateTableSelection()
            slicer.modules.plots.logic().ShowChartInLayout(centerlineNodes.chart)
            slicer.util.showStatusMessage(
                _("Measured the veins of {name}.").format(name=parameterNode.veinSegmentation.GetName()), 3000
            )

    # Seed points placed with the Place buttons

    def onPlaceIvcButton(self) -> None:
        self._placeSeed("IVC")

    def onPlaceLeftButton(self) -> None:
        self._placeSeed("Left")

    def onPlaceRightButton(self) -> None:
        self._placeSeed("Right")

    def onPlaceViaButton(self) -> None:
        self._placeSeed(SEED_VIA_PREFIX)

    def onPlaceRenalButton(self) -> None:
        self._placeSeed("Renal")

    def _placeSeed(self, label: str) -> None:
        """Enter place mode for one point of the seed point list; it gets ``label`` when placed."""
        with slicer.util.tryWithErrorDisplay(_("Failed to start placing the point."), waitCursor=True):
            parameterNode = self._parameterNode
            seedsNode = parameterNode.segmentationSeeds
            if seedsNode is None:
                seedsNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", _("Vein seeds"))
                seedsNode.CreateDefaultDisplayNodes()
                parameterNode.segmentationSeeds = seedsNode
            self._pendingSeedLabel = label
            self._observeSeeds(seedsNode)
            selectionNode = slicer.app.applicationLogic().GetSelectionNode()
            selectionNode.SetReferenceActivePlaceNodeClassName("vtkMRMLMarkupsFiducialNode")
            selectionNode.SetActivePlaceNodeID(seedsNode.GetID())
            interactionNode = slicer.app.applicationLogic().GetInteractionNode()
            interactionNode.SetPlaceModePersistence(0)  # one point per click on a Place button
            interactionNode.SetCurrentInteractionMode(interactionNode.Place)
            slicer.util.showStatusMessage(
                _("Click in a view to place the {label} point.").format(label=label)
            )

    def _observeSeeds(self, seedsNode) -> None:
        if self._observedSeeds is not None:
            self.removeObserver(
                self._observedSeeds, slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, self.onSeedPlaced
            )
        self._observedSeeds = seedsNode
        if seedsNode is not None:
            self.addObserver(
                seedsNode, slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, self.onSeedPlaced
            )

    def onSeedPlaced(self, caller, event) -> None:
        """Label the point just placed; a second IVC, Left, Right or Renal point replaces the
        first, Via points are numbered."""
        label, self._pendingSeedLabel = self._pendingSeedLabel, None
        if not label or caller.GetNumberOfControlPoints() == 0:
            return
        newIndex = caller.GetNumberOfControlPoints() - 1
        others = [caller.GetNthControlPointLabel(n).strip().lower() for n in range(newIndex)]
        if label == SEED_VIA_PREFIX:
            number = 1 + sum(1 for other in others if other.startswith(SEED_VIA_PREFIX.lower()))
            label = SEED_VIA_PREFIX if number == 1 else f"{SEED_VIA_PREFIX}{number}"
        else:
            for index in reversed(range(newIndex)):
                if others[index] == label.lower():
                    caller.RemoveNthControlPoint(index)
        caller.SetNthControlPointLabel(caller.GetNumberOfControlPoints() - 1, label)

    # Centerlines: the narrowest section of each vein

    def onNarrowestIvcButton(self) -> None:
        self._jumpToNarrowest("ivc")

    def onNarrowestLeftButton(self) -> None:
        self._jumpToNarrowest("left_iliac")

    def onNarrowestRightButton(self) -> None:
        self._jumpToNarrowest("right_iliac")

    def _jumpToNarrowest(self, branch: str) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to show the narrowest section."), waitCursor=True):
            position, areaMm2, diameterMm = self.logic.narrowestSection(branch)
            slicer.modules.markups.logic().JumpSlicesToLocation(*[float(c) for c in position], True)
            slicer.util.showStatusMessage(
                _("Narrowest section: {area} mm2 (CE diameter {diameter} mm).").format(
                    area=f"{areaMm2:.0f}", diameter=f"{diameterMm:.1f}"
                ),
                5000,
            )

    # Stent plan

    def onPlanStentsButton(self) -> None:
        """Plan the stents, show the plan tables and the stent editor, and follow the end handles."""
        with slicer.util.tryWithErrorDisplay(_("Failed to plan the stents."), waitCursor=True):
            parameterNode = self._parameterNode
            slicer.util.showStatusMessage(_("Planning the stents..."))
            catalogFile = str(parameterNode.catalogFile) if parameterNode.catalogFile else ""
            _planNodes, plan = self.logic.planStents(
                parameterNode.veinSegmentation,
                parameterNode.seedPoints,
                parameterNode.inputVolume,
                template=parameterNode.planTemplate.value,
                catalogFile="" if catalogFile == "." else catalogFile,
                settings={
                    "landing_mm": parameterNode.landingMm,
                    "overlap_mm": parameterNode.overlapMm,
                    "protrusion_mm": parameterNode.protrusionMm,
                    "renal_margin_mm": parameterNode.renalMarginMm,
                },
                segmentIds=self._chosenSegmentIds(),
            )
            self._observeHandles(self.logic.planSession.handles)
            self._observePlanTable(self.logic.planSession.nodes.plan_table)
            self._showPlan()
            slicer.util.showStatusMessage(
                _("Stent plan: {template}, {count} stents, {warnings} warnings.").format(
                    template=plan.template, count=len(plan.stents), warnings=len(plan.warnings)
                ),
                5000,
            )

    def _showPlan(self) -> None:
        """Show the current plan's tables and fill the stent editor."""
        session = self.logic.planSession
        if session is None:
            return
        self.ui.stentTableView.setMRMLTableNode(session.nodes.plan_table)
        self.ui.warningsTableView.setMRMLTableNode(session.nodes.warnings_table)
        current = self.ui.stentComboBox.currentText
        self.ui.stentComboBox.blockSignals(True)
        self.ui.stentComboBox.clear()
        self.ui.stentComboBox.addItems([row["id"] for row in self.logic.stentTableRows()])
        if current:
            self.ui.stentComboBox.currentText = current
        self.ui.stentComboBox.blockSignals(False)
        self._fillStentEditor()

    def _stentRow(self) -> dict | None:
        if self.logic.planSession is None:
            return None
        rows = {row["id"]: row for row in self.logic.stentTableRows()}
        return rows.get(self.ui.stentComboBox.currentText)

    def _fillStentEditor(self, index=None) -> None:
        """Product choices for the chosen stent, with its current product selected."""
        row = self._stentRow()
        self.ui.productComboBox.blockSignals(True)
        self.ui.productComboBox.clear()
        if row is not None:
            self.ui.productComboBox.addItems(row["products"])
            self.ui.productComboBox.currentText = row["productId"]
        self.ui.productComboBox.blockSignals(False)
        self._fillDiameters()

    def _fillDiameters(self, index=None) -> None:
        """Diameters of the chosen product, the stent's own selected if the product has it."""
        row = self._stentRow()
        self.ui.diameterComboBox.blockSignals(True)
        self.ui.diameterComboBox.clear()
        if row is not None:
            product = self.logic.planSession.context.catalog.products.get(self.ui.productComboBox.currentText)
            if product is not None:
                self.ui.diameterComboBox.addItems([f"{d:g}" for d in product.diameters_mm])
                self.ui.diameterComboBox.currentText = f"{row['diameterMm']:g}"
        self.ui.diameterComboBox.blockSignals(False)
        self._fillLengths()

    def _fillLengths(self, index=None) -> None:
        """Lengths of the chosen product at the chosen diameter."""
        row = self._stentRow()
        self.ui.lengthComboBox.clear()
        if row is not None and self.ui.diameterComboBox.currentText:
            product = self.logic.planSession.context.catalog.products.get(self.ui.productComboBox.currentText)
            diameter = float(self.ui.diameterComboBox.currentText)
            if product is not None:
                self.ui.lengthComboBox.addItems([f"{x:g}" for x in product.sizes.get(diameter, ())])
                self.ui.lengthComboBox.currentText = f"{row['lengthMm']:g}"
        self._checkCanApply()

    def onApplyStentButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to change the stent."), waitCursor=True):
            self.logic.editStent(
                self.ui.stentComboBox.currentText,
                productId=self.ui.productComboBox.currentText,
                diameterMm=float(self.ui.diameterComboBox.currentText),
                lengthMm=float(self.ui.lengthComboBox.currentText),
            )
            self._showPlan()

    def onRemoveStentButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to remove the stent."), waitCursor=True):
            self.logic.removeStent(self.ui.stentComboBox.currentText)
            self._showPlan()

    def _observePlanTable(self, tableNode) -> None:
        """Apply what the user types into the stent table (product, diameter, length)."""
        if getattr(self, "_observedTable", None) is not None:
            self.removeObserver(self._observedTable, vtk.vtkCommand.ModifiedEvent, self.onPlanTableModified)
        self._observedTable = tableNode
        if tableNode is not None:
            self.addObserver(tableNode, vtk.vtkCommand.ModifiedEvent, self.onPlanTableModified)

    def onPlanTableModified(self, caller, event) -> None:
        if self.logic.planSession is None or self.logic.isEditing():
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to change the stent."), waitCursor=True):
            if self.logic.applyTableEdits():
                self._showPlan()

    def _handleEvents(self) -> tuple:
        markups = slicer.vtkMRMLMarkupsNode
        return (
            (markups.PointStartInteractionEvent, self.onStentEndDragStarted),
            (markups.PointModifiedEvent, self.onStentEndDragged),
            (markups.PointEndInteractionEvent, self.onStentEndMoved),
        )

    def _observeHandles(self, handlesNode) -> None:
        """Follow the user's drags of the stent-end points: the models, tables and warnings follow
        while the point moves, and the point snaps onto the stent's end when it is dropped."""
        if self._observedHandles is not None:
            for event, method in self._handleEvents():
                self.removeObserver(self._observedHandles, event, method)
        self._observedHandles = handlesNode
        self._dragging = False
        if handlesNode is not None:
            for event, method in self._handleEvents():
                self.addObserver(handlesNode, event, method)

    def onStentEndDragStarted(self, caller, event) -> None:
        self._dragging = True
        self._lastLiveUpdate = 0.0

    def onStentEndDragged(self, caller, event) -> None:
        """While a stent end is dragged: follow it, at most every 50 ms (an edit and its scene
        update take about 15 ms)."""
        if not self._dragging or time.time() - self._lastLiveUpdate < 0.05:
            return
        self._lastLiveUpdate = time.time()
        with slicer.util.tryWithErrorDisplay(_("Failed to move the stent end."), waitCursor=True):
            self.logic.applyHandleMoves(snap=False)

    def onStentEndMoved(self, caller, event) -> None:
        self._dragging = False
        with slicer.util.tryWithErrorDisplay(_("Failed to move the stent end."), waitCursor=True):
            self.logic.applyHandleMoves(snap=True)
            self._showPlan()

    # Export

    def onWriteReportButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to write the report."), waitCursor=True):
            slicer.util.showStatusMessage(_("Writing the report..."))
            path = self.logic.exportReport(str(self._parameterNode.exportFolder))
            slicer.util.showStatusMessage(_("Wrote {path}.").format(path=path), 5000)

    def onSaveSceneButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to save the scene."), waitCursor=True):
            path = self.logic.saveScene(os.path.join(str(self._parameterNode.exportFolder), "plan.mrb"))
            slicer.util.showStatusMessage(_("Saved the scene to {path}.").format(path=path), 5000)


#
# IVCReconstructionLogic
#


class PlanSession:
    """The stent plan being edited: what it was computed from and the nodes that show it."""

    def __init__(self, context, plan, nodes, handles, segmentation, volume, measurements) -> None:
        self.context = context  # IVCReconstructionLib.planner.PlanContext
        self.plan = plan  # IVCReconstructionLib.plan_types.Plan
        self.nodes = nodes  # IVCReconstructionLib.mrml.PlanNodes
        self.handles = handles  # the "Stent ends" point list
        self.segmentation = segmentation
        self.volume = volume
        self.measurements = measurements  # IVCReconstructionLib.analysis.VeinMeasurements


class IVCReconstructionLogic(ScriptedLoadableModuleLogic):
    """What the module does, usable from scripts and other modules without the panel.

    The work itself is done by the Qt-free IVCReconstructionLib package, which the headless
    command line and the tests call too; this class checks inputs and puts results in the scene.
    It never touches widgets or opens dialogs.

    Base class: slicer.ScriptedLoadableModule.ScriptedLoadableModuleLogic.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        # The last measurement (segmentation node ID, its version, VeinMeasurements), reused by
        # planStents, and the plan being edited (a PlanSession), if any.
        self._measured = None
        self.planSession = None
        self._editing = False

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
            ("healthy", "mayThurner", "ivcOcclusion", "bilateralNarrowing", "postThrombotic").
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
            else:  # both common iliac veins (bilateral narrowing, post-thrombotic)
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

    def segmentVeins(
        self,
        volumeNode: vtkMRMLScalarVolumeNode,
        seedsNode: vtkMRMLMarkupsFiducialNode,
    ) -> tuple:
        """
        Segment the IVC and both iliac veins of a contrast CT (or bright-blood MR) venogram from
        seed points, and add the segmentation to slicer.mrmlScene: in the volume's subject-hierarchy
        folder if it has one, and under the volume's transform if it has one. Everything is checked
        and computed before the node is added, so a ValueError leaves the scene as it was.

        :param volumeNode: the venogram (a scalar volume, not a label map).
        :param seedsNode: point list (vtkMRMLMarkupsFiducialNode) with one point labelled IVC in the
            cranial end of the IVC and one labelled Left and one Right in the distal iliac (or common
            femoral) veins, and optionally points labelled Via... (several allowed) that the path
            must pass, e.g. through an occlusion. See seedPointsFromMarkups for the labels accepted.
        :return: (segmentationNode, result): the segmentation node added, with the segments
            inferior_vena_cava, iliac_vena_left, iliac_vena_right (SNOMED terminology) and
            occluded_vein where the path crossed no lumen; and the numbers behind it
            (IVCReconstructionLib.segmentation.VeinSegmentation: label map, paths, occlusions,
            warnings, blood intensity).
        :raises ValueError: if an input is missing or of the wrong type, a seed label is unknown,
            repeated or missing, or the veins cannot be segmented (seeds outside the veins or
            swapped, no contrast, ...); the message says what to change.
        """
        if not isinstance(volumeNode, vtkMRMLScalarVolumeNode) or volumeNode.IsA("vtkMRMLLabelMapVolumeNode"):
            raise ValueError(
                _(
                    "Select the CT or MR venogram to segment (a scalar volume, not a label map); got {value}."
                ).format(value=self._describe(volumeNode))
            )
        if volumeNode.GetScene() is not slicer.mrmlScene:
            raise ValueError(_("The volume {name} is not in the scene.").format(name=volumeNode.GetName()))
        if volumeNode.GetImageData() is None:
            raise ValueError(
                _("The volume {name} has no voxels (no image data).").format(name=volumeNode.GetName())
            )
        seeds = self.seedPointsFromMarkups(seedsNode, includeVia=True)
        missingLabels = [label for label in SEED_END_LABELS if label not in seeds]
        if missingLabels:
            raise ValueError(
                _(
                    "The seed point list {name} has no point labelled {labels}. Place one point labelled "
                    "IVC in the cranial end of the IVC and one labelled Left and one Right in the distal "
                    "left and right iliac (or common femoral) veins."
                ).format(name=seedsNode.GetName(), labels=", ".join(missingLabels))
            )
        # The points are in world coordinates; the library works in the volume's own coordinates.
        seeds = self._worldToNodeCoordinates(seeds, volumeNode)

        from IVCReconstructionLib.analysis import segment_volume_into_scene
        from IVCReconstructionLib.mrml import place_in_folder

        startTime = time.time()
        logging.info(f"Segmenting the veins of {volumeNode.GetName()}: seed points {', '.join(seeds)}")
        # The library checks the seeds and the contrast, segments, and adds the node only at the end.
        segmentationNode, result = segment_volume_into_scene(
            slicer.mrmlScene, volumeNode, seeds, name=f"{volumeNode.GetName()} veins"
        )
        # The labels are in the volume's own coordinates: follow the volume's transform, if any.
        segmentationNode.SetAndObserveTransformNodeID(volumeNode.GetTransformNodeID())
        folderItem = self._parentFolderItem(volumeNode)
        if folderItem is not None:
            place_in_folder(slicer.mrmlScene, segmentationNode, folderItem)
        for occlusion in result.occlusions:
            logging.info(
                f"Occluded stretch of {occlusion.branch}: {occlusion.length_mm:.1f} mm without lumen"
            )
        for warning in result.warnings:
            logging.warning(f"Segmenting the veins of {volumeNode.GetName()}: {warning}")
        stopTime = time.time()
        logging.info(
            f"Veins segmented in {stopTime - startTime:.2f} seconds (blood intensity {result.blood_hu:.0f})"
        )
        return segmentationNode, result

    def describeOcclusions(self, result) -> list[str]:
        """One sentence per occluded stretch found by segmentVeins (the vein and its length), for
        showing to the user.

        :param result: the IVCReconstructionLib.segmentation.VeinSegmentation segmentVeins returned.
        """
        veinNames = {
            "ivc": _("IVC"),
            "left_iliac": _("left iliac vein"),
            "right_iliac": _("right iliac vein"),
        }
        return [
            _("The {vein} has no lumen over {length} mm (occlusion).").format(
                vein=veinNames.get(occlusion.branch, occlusion.branch), length=f"{occlusion.length_mm:.0f}"
            )
            for occlusion in result.occlusions
        ]

    def measureVeins(
        self,
        segmentationNode: vtkMRMLSegmentationNode,
        seedsNode: vtkMRMLMarkupsFiducialNode | None = None,
        referenceVolumeNode: vtkMRMLVolumeNode | None = None,
        segmentIds: dict | None = None,
    ) -> tuple:
        """
        Centerlines and diameter profiles of the IVC and both common iliac veins of a
        segmentation, added to slicer.mrmlScene in a folder "IVC centerlines" next to the
        segmentation. Everything is checked and computed before the first node is added, so a
        ValueError leaves the scene as it was.

        :param segmentationNode: segmentation holding the veins as segments with the IDs
            inferior_vena_cava, iliac_vena_left and iliac_vena_right (TotalSegmentator's), or with
            their terminology (SNOMED CT 64131007 inferior vena cava; 46027005 common iliac vein,
            left or right). Other segments are ignored.
        :param seedsNode: optional point list (vtkMRMLMarkupsFiducialNode) whose points labelled
            IVC, Left and Right (any case) mark where the centerlines start (cranial IVC) and end
            (caudal iliac veins); ends without a point are found automatically. See
            seedPointsFromMarkups for the labels accepted.
        :param referenceVolumeNode: optional volume whose voxel grid the segments are sampled on;
            by default the segmentation's own geometry.
        :param segmentIds: optional dict from "ivc", "left_iliac", "right_iliac" to the segment ID
            to use for that vein (as picked in the panel); veins not given are found as above.
        :return: (centerlineNodes, measurements): the nodes added
            (IVCReconstructionLib.mrml.CenterlineNodes: curves and tables per branch "ivc",
            "left_iliac", "right_iliac", the diameter chart, its plot series and the folder item)
            and the numbers behind them (IVCReconstructionLib.analysis.VeinMeasurements:
            centerline tree, vein surface and a BranchProfile per branch).
        :raises ValueError: if an input is missing or of the wrong type, a seed label is unknown
            or repeated, a vein segment is missing, or the veins cannot be measured; the message
            says what to change.
        """
        if not isinstance(segmentationNode, vtkMRMLSegmentationNode):
            raise ValueError(
                _("Select the segmentation to measure (a segmentation node); got {value}.").format(
                    value=self._describe(segmentationNode)
                )
            )
        if segmentationNode.GetScene() is not slicer.mrmlScene:
            raise ValueError(
                _("The segmentation {name} is not in the scene.").format(name=segmentationNode.GetName())
            )
        if referenceVolumeNode is not None and not isinstance(referenceVolumeNode, vtkMRMLVolumeNode):
            raise ValueError(
                _("The reference volume must be a volume node, or None; got {value}.").format(
                    value=self._describe(referenceVolumeNode)
                )
            )
        seeds = self.seedPointsFromMarkups(seedsNode) if seedsNode is not None else {}

        from IVCReconstructionLib.analysis import measure_segmentation_into_scene

        startTime = time.time()
        seedsText = ", ".join(seeds) if seeds else "none"
        logging.info(f"Measuring the veins of {segmentationNode.GetName()}: seed points {seedsText}")
        # The library finds the three vein segments, computes the surface, centerlines and
        # profiles, and adds nodes only at the end.
        centerlineNodes, measurements = measure_segmentation_into_scene(
            slicer.mrmlScene,
            segmentationNode,
            seeds=seeds or None,
            reference_volume=referenceVolumeNode,
            parent_item=self._parentFolderItem(segmentationNode),
            segment_ids=segmentIds,
        )
        # Kept for planning, as long as the segmentation is not edited.
        self._measured = (segmentationNode.GetID(), self._segmentationVersion(segmentationNode), measurements)
        stopTime = time.time()
        logging.info(f"Veins measured in {stopTime - startTime:.2f} seconds")
        return centerlineNodes, measurements

    def planStents(
        self,
        segmentationNode: vtkMRMLSegmentationNode,
        seedsNode: vtkMRMLMarkupsFiducialNode | None = None,
        volumeNode: vtkMRMLScalarVolumeNode | None = None,
        template: str = "auto",
        catalogFile: str = "",
        settings: dict | None = None,
        segmentIds: dict | None = None,
    ) -> tuple:
        """
        Suggest a stent construct for the veins of a segmentation and show it in the scene: a
        model per stent, a point list "Stent ends" (drag a point to move that end), the plan
        landmarks, a "Stent plan" table and a "Plan warnings" table, in one folder next to the
        segmentation. A previous plan of this logic is replaced. Everything is computed before
        the first node is added, so a ValueError leaves the scene as it was.

        :param segmentationNode: segmentation with the IVC and both iliac veins (as measureVeins).
            The measurement of the last measureVeins call is reused if it was of this segmentation
            and the segmentation has not changed since; otherwise the veins are measured again
            (without adding centerline nodes).
        :param seedsNode: optional point list: IVC, Left, Right mark the ends as in measureVeins;
            Renal (lowest renal vein inflow), InguinalLeft and InguinalRight are the landmarks the
            plan keeps stents away from or warns about.
        :param volumeNode: optional venogram, used to tell CT from MR (an MR plan warns).
        :param template: "auto", "inverted-y", "double-barrel", "kissing" or "unilateral".
        :param catalogFile: optional stent catalogue file (JSON, the format of
            Resources/StentCatalog.json) adding to or replacing the built-in products.
        :param settings: optional dict of plan settings by name (IVCReconstructionLib.plan_types.
            PlanSettings: landing_mm, overlap_mm, protrusion_mm, renal_margin_mm, ...).
        :param segmentIds: optional segment ID per vein, as in measureVeins.
        :return: (planNodes, plan): the nodes added (IVCReconstructionLib.mrml.PlanNodes) and the
            plan (IVCReconstructionLib.plan_types.Plan); the logic keeps both in planSession for
            editing.
        :raises ValueError: for a missing or wrong input, an unknown setting or template, a
            catalogue file that cannot be read, or veins that cannot be measured.
        """
        from IVCReconstructionLib.catalog import load_catalog
        from IVCReconstructionLib.findings import find_findings
        from IVCReconstructionLib.mrml import add_plan_to_scene, remove_nodes
        from IVCReconstructionLib.plan_handles import add_handles
        from IVCReconstructionLib.planner import TEMPLATES, PlanContext, make_plan

        if not isinstance(segmentationNode, vtkMRMLSegmentationNode):
            raise ValueError(
                _("Select the segmentation to plan on (a segmentation node); got {value}.").format(
                    value=self._describe(segmentationNode)
                )
            )
        if volumeNode is not None and not isinstance(volumeNode, vtkMRMLScalarVolumeNode):
            raise ValueError(
                _("The venogram must be a scalar volume, or None; got {value}.").format(
                    value=self._describe(volumeNode)
                )
            )
        if template not in TEMPLATES:
            raise ValueError(
                _("Unknown stent template {value!r}. Use one of: {choices}.").format(
                    value=template, choices=", ".join(TEMPLATES)
                )
            )
        planSettings = self.planSettings(settings)
        seeds = self.seedPointsFromMarkups(seedsNode, includeLandmarks=True) if seedsNode is not None else {}
        catalog = load_catalog(catalogFile) if catalogFile else load_catalog()
        measurements = self._measurementsOf(segmentationNode, seeds, segmentIds)
        modality = "ct"
        if volumeNode is not None and volumeNode.GetImageData() is not None:
            from IVCReconstructionLib.mrml import array_and_geometry
            from IVCReconstructionLib.pipeline import modality_of

            modality = modality_of(array_and_geometry(volumeNode, copy=False)[0])
        findings = find_findings(
            measurements.tree, measurements.profiles, seeds=seeds, occlusions=measurements.occlusions
        )
        context = PlanContext(
            measurements.tree,
            measurements.profiles,
            findings,
            catalog,
            settings=planSettings,
            modality=modality,
        )
        plan = make_plan(context, template)

        if self.planSession is not None:
            old = self.planSession
            remove_nodes(slicer.mrmlScene, [*old.nodes.nodes(), old.handles])
            shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
            shNode.RemoveItem(old.nodes.folder_item, False, True)
            self.planSession = None
        planNodes = add_plan_to_scene(
            slicer.mrmlScene, plan, parent_item=self._parentFolderItem(segmentationNode)
        )
        handles = add_handles(slicer.mrmlScene, plan, planNodes.folder_item)
        self.planSession = PlanSession(
            context, plan, planNodes, handles, segmentationNode, volumeNode, measurements
        )
        logging.info(
            f"Stent plan {plan.template}: {', '.join(st.name for st in plan.stents) or 'no stent'}; "
            f"{len(plan.warnings)} warnings"
        )
        return planNodes, plan

    def planSettings(self, settings: dict | None = None):
        """IVCReconstructionLib.plan_types.PlanSettings from a dict of settings by name; ValueError
        for an unknown name or a value that is not a positive number."""
        import dataclasses

        from IVCReconstructionLib.plan_types import PlanSettings

        fields = {f.name for f in dataclasses.fields(PlanSettings)}
        for name, value in (settings or {}).items():
            if name not in fields:
                raise ValueError(
                    _("Unknown plan setting {name!r}. Settings: {names}.").format(
                        name=name, names=", ".join(sorted(fields))
                    )
                )
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1000:
                raise ValueError(
                    _("Plan setting {name} must be a positive number; got {value!r}.").format(
                        name=name, value=value
                    )
                )
        return PlanSettings(**{name: float(value) for name, value in (settings or {}).items()})

    def editStent(self, stentId: str, productId: str | None = None, diameterMm=None, lengthMm=None):
        """Change a stent of the current plan (product, diameter, length; None keeps the current
        one) and update its model, the tables, the warnings and the end handles. ValueError for
        a size the catalogue does not have; the plan is unchanged then. Returns the plan."""
        from IVCReconstructionLib.planner import change_stent

        session = self._session()
        stent = session.plan.stent(stentId)
        productId = productId or stent.product_id
        diameterMm = stent.diameter_mm if diameterMm is None else float(diameterMm)
        lengthMm = stent.length_mm if lengthMm is None else float(lengthMm)
        return self._edit(
            lambda context, plan: change_stent(context, plan, stentId, productId, diameterMm, lengthMm)
        )

    def moveStentEnd(self, stentId: str, end: str, positionRas, snapHandles: bool = True) -> object:
        """Move a stent end ("proximal" or "distal") to the point of its vein's centerline nearest
        positionRas, and update the scene (the end handles too, unless snapHandles is False).
        Returns the plan."""
        from IVCReconstructionLib.planner import move_end_to

        return self._edit(
            lambda context, plan: move_end_to(context, plan, stentId, end, positionRas), snapHandles
        )

    def removeStent(self, stentId: str):
        """Remove a stent from the current plan and update the scene. Returns the plan."""
        from IVCReconstructionLib.planner import remove_stent

        return self._edit(lambda context, plan: remove_stent(context, plan, stentId))

    def switchTemplate(self, template: str):
        """Plan the current veins again with another template. Returns the plan."""
        from IVCReconstructionLib.planner import switch_template

        return self._edit(lambda context, plan: switch_template(context, plan, template))

    def applyHandleMoves(self, snap: bool = True) -> bool:
        """Move the stent ends whose handle (point of "Stent ends") the user dragged; True if
        anything moved. With snap (when a drag ends) the handles are then put back on the ends;
        without (while the user drags) the dragged point stays under the mouse and only the
        models, tables and warnings follow."""
        from IVCReconstructionLib.plan_handles import moved_handles

        session = self._session()
        if session.handles is None or session.handles.GetScene() is not slicer.mrmlScene:
            return False
        moves = moved_handles(session.handles, session.plan)
        for stentId, end, position in moves:
            self.moveStentEnd(stentId, end, position, snapHandles=snap)
        if snap and not moves:
            self._snapHandles()
        return bool(moves)

    def applyTableEdits(self) -> bool:
        """Apply the products, diameters and lengths typed into the "Stent plan" table; True if a
        stent changed. ValueError for a product or size the catalogue does not have: the table
        then shows the plan again."""
        from IVCReconstructionLib.mrml import update_plan_in_scene
        from IVCReconstructionLib.plan_handles import table_edits

        session = self._session()
        if self._editing:
            return False  # the table is being refilled by an edit
        try:
            edits = table_edits(session.nodes.plan_table, session.plan, session.context.catalog)
            for stentId, productId, diameterMm, lengthMm in edits:
                self.editStent(stentId, productId, diameterMm, lengthMm)
        except ValueError:
            self._editing = True
            try:
                session.nodes = update_plan_in_scene(slicer.mrmlScene, session.nodes, session.plan)
            finally:
                self._editing = False
            raise
        return bool(edits)

    def isEditing(self) -> bool:
        """Whether an edit is updating the plan's nodes right now (their events are its own)."""
        return self._editing

    def stentTableRows(self) -> list:
        """One dict per stent of the current plan (id, product id, product, diameter, length,
        the product's diameters and lengths for that diameter), for the panel's stent editor."""
        session = self._session()
        rows = []
        for stent in session.plan.stents:
            product = session.context.catalog.products[stent.product_id]
            rows.append(
                {
                    "id": stent.id,
                    "productId": stent.product_id,
                    "product": stent.product,
                    "diameterMm": stent.diameter_mm,
                    "lengthMm": stent.length_mm,
                    "diameters": product.diameters_mm,
                    "lengths": list(product.sizes.get(stent.diameter_mm, ())),
                    "products": [p.id for p in session.context.catalog.usable()],
                }
            )
        return rows

    def hasMeasurement(self) -> bool:
        """Whether measureVeins (or planStents) has measured veins that narrowestSection can use."""
        return self._measured is not None

    def narrowestSection(self, branch: str) -> tuple:
        """(RAS position, area mm2, CE diameter mm) of the smallest measured section of a vein
        ("ivc", "left_iliac", "right_iliac") of the last measurement, leaving out the confluence."""
        import numpy as np

        if self._measured is None:
            raise ValueError(_("Measure the veins first (Centerlines and diameters)."))
        profiles = self._measured[2].profiles
        if branch not in profiles:
            raise ValueError(
                _("Unknown vein {name!r}: use one of {names}.").format(name=branch, names=", ".join(profiles))
            )
        profile = profiles[branch]
        area = np.where(np.asarray(profile.confluence_zone, dtype=bool), np.inf, profile.area_mm2)
        index = int(np.argmin(area))
        return (
            np.asarray(profile.points_ras[index], dtype=float),
            float(profile.area_mm2[index]),
            float(profile.ce_diameter_mm[index]),
        )

    def exportReport(self, folder: str) -> str:
        """Write report.html, plan.json, the profile CSVs and view3d.png (the plan rendered
        offscreen) of the current plan into folder; returns the report's path."""
        import json
        from pathlib import Path

        from IVCReconstructionLib.pipeline import PipelineResult, render_plan_view
        from IVCReconstructionLib.profile_io import write_profiles
        from IVCReconstructionLib.report import write_report
        from IVCReconstructionLib.stages import StageClock

        session = self._session()
        if not folder:
            raise ValueError(_("Choose a folder to write the report to."))
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        files = write_profiles(session.measurements.profiles, out)
        planFile = out / "plan.json"
        planFile.write_text(json.dumps(session.plan.to_json(), indent=2) + "\n")
        files.append(planFile)
        result = PipelineResult(
            plan=session.plan,
            plan_context=session.context,
            measured=session.measurements,
            segmentation=None,  # the report then says the veins came from a segmentation given
            labels=None,
            labels_ijk_to_ras=None,
            modality=session.context.modality,
            files=files,
            clock=StageClock(),
            nodes={"segmentation": session.segmentation, "plan": session.nodes},
        )
        view = render_plan_view(self._renderContext(), result, out / "view3d.png")
        files.append(view)
        # Sizes only: node names can hold a patient's name (no identifiers in the report).
        description = {"format": "3D Slicer scene"}
        if session.volume is not None and session.volume.GetImageData() is not None:
            description["size_ijk"] = list(session.volume.GetImageData().GetDimensions())
            description["spacing_mm"] = [round(x, 3) for x in session.volume.GetSpacing()]
        files.append(out / "report.html")
        return str(write_report(out / "report.html", result, description, view3d=view))

    def saveScene(self, path: str) -> str:
        """Save the whole scene as a Slicer scene bundle (.mrb); returns the path written."""
        from IVCReconstructionLib.scene import save_mrb

        if not str(path).lower().endswith(".mrb"):
            raise ValueError(_("The scene file name must end with .mrb; got {path!r}.").format(path=path))
        return str(save_mrb(slicer.mrmlScene, path))

    def _edit(self, change, snapHandles: bool = True):
        """Apply a planner edit to the current plan and bring the scene up to date; the plan is
        left as it was when the edit raises ValueError."""
        import copy

        from IVCReconstructionLib.mrml import update_plan_in_scene

        session = self._session()
        before = copy.deepcopy(session.plan)
        try:
            plan = change(session.context, session.plan)
        except ValueError:
            session.plan = before
            raise
        session.plan = plan
        self._editing = True
        try:
            session.nodes = update_plan_in_scene(slicer.mrmlScene, session.nodes, plan)
        finally:
            self._editing = False
        if snapHandles:
            self._snapHandles()
        return plan

    def _snapHandles(self) -> None:
        """Put the stent-end handles on the current plan's ends."""
        from IVCReconstructionLib.plan_handles import update_handles

        session = self._session()
        if session.handles is not None and session.handles.GetScene() is slicer.mrmlScene:
            update_handles(session.handles, session.plan)

    def _session(self):
        if self.planSession is None:
            raise ValueError(_("There is no stent plan yet: click Plan stents first."))
        return self.planSession

    def _measurementsOf(self, segmentationNode, seeds: dict, segmentIds: dict | None):
        """The last measurement if it is of this segmentation as it is now, else a new one."""
        if self._measured is not None:
            nodeId, version, measurements = self._measured
            if nodeId == segmentationNode.GetID() and version == self._segmentationVersion(segmentationNode):
                return measurements
        from IVCReconstructionLib.analysis import measure_segmentation

        ends = {label: point for label, point in seeds.items() if label in SEED_END_LABELS}
        measurements = measure_segmentation(segmentationNode, ends or None, segment_ids=segmentIds)
        self._measured = (segmentationNode.GetID(), self._segmentationVersion(segmentationNode), measurements)
        return measurements

    @staticmethod
    def _segmentationVersion(segmentationNode) -> int:
        """Changes whenever a segment is edited, added or removed."""
        return int(segmentationNode.GetSegmentation().GetMTime())

    @staticmethod
    def _renderContext():
        """What the offscreen renderer needs: the scene and the application logic."""
        import types

        return types.SimpleNamespace(scene=slicer.mrmlScene, app_logic=slicer.app.applicationLogic())

    def seedPointsFromMarkups(
        self, seedsNode: vtkMRMLMarkupsFiducialNode, includeVia: bool = False, includeLandmarks: bool = False
    ) -> dict:
        """
        The IVC, Left and Right points of a seed point list, as measureVeins passes them to the
        library, and optionally its Via points, as segmentVeins passes them.

        Labels are matched case-insensitively, ignoring spaces around them (architecture
        section 5). Points labelled Renal, InguinalLeft or InguinalRight are for planning: left
        out unless includeLandmarks is True. Points not placed yet are left out. Points whose
        label starts with Via (any case; several allowed, even with the same label) are left out
        unless includeVia is True.

        :param seedsNode: the point list.
        :param includeVia: whether to return the Via... points too.
        :param includeLandmarks: whether to return the Renal, InguinalLeft, InguinalRight points too.
        :return: dict from "IVC", "Left", "Right" to the RAS position (numpy array of 3, world
            coordinates, so a transform on the point list applies). A missing end is not a key.
            With includeVia, each Via point is a key too: its label as given (spaces around it
            removed), with " (2)", " (3)", ... added to a label used more than once (in any case).
        :raises ValueError: if seedsNode is not a point list, or naming the labels that are
            unknown or used by more than one point.
        """
        import numpy as np

        if not isinstance(seedsNode, vtkMRMLMarkupsFiducialNode):
            raise ValueError(
                _("The seed points must be a point list (markups fiducial node); got {value}.").format(
                    value=self._describe(seedsNode)
                )
            )
        knownLabels = {label.lower(): label for label in SEED_END_LABELS + SEED_LANDMARK_LABELS}
        positions = {}
        counts = {}
        unknownLabels = []
        for index in range(seedsNode.GetNumberOfControlPoints()):
            if seedsNode.GetNthControlPointPositionStatus(index) != seedsNode.PositionDefined:
                continue  # being placed, or never placed: no position yet
            text = seedsNode.GetNthControlPointLabel(index).strip()
            if text.lower().startswith(SEED_VIA_PREFIX.lower()):
                # A path may pass several Via points, so these may repeat; the keys must not, not
                # even in another case (the library matches labels in any case).
                if includeVia:
                    key, number = text, 1
                    while key.lower() in (existing.lower() for existing in positions):
                        number += 1
                        key = f"{text} ({number})"
                    position = [0.0, 0.0, 0.0]
                    seedsNode.GetNthControlPointPositionWorld(index, position)
                    positions[key] = np.array(position, dtype=float)
                continue
            label = knownLabels.get(text.lower())
            if label is None:
                unknownLabels.append(text)
                continue
            counts[label] = counts.get(label, 0) + 1
            if label in SEED_END_LABELS or includeLandmarks:
                position = [0.0, 0.0, 0.0]
                seedsNode.GetNthControlPointPositionWorld(index, position)
                positions[label] = np.array(position, dtype=float)

        if unknownLabels:
            raise ValueError(
                _(
                    "The seed point list {name} has points with unknown labels: {labels}. Label the "
                    "points {ends} (any case); {landmarks} and labels starting with {via} are also "
                    "accepted."
                ).format(
                    name=seedsNode.GetName(),
                    labels=", ".join(repr(label) for label in unknownLabels),
                    ends=", ".join(SEED_END_LABELS),
                    landmarks=", ".join(SEED_LANDMARK_LABELS),
                    via=SEED_VIA_PREFIX,
                )
            )
        repeatedLabels = [label for label, count in counts.items() if count > 1]
        if repeatedLabels:
            raise ValueError(
                _(
                    "The seed point list {name} has more than one point labelled {labels} (labels "
                    "are matched in any case): keep one point per label."
                ).format(name=seedsNode.GetName(), labels=", ".join(repeatedLabels))
            )
        return positions

    def firstVeinSegmentation(self) -> vtkMRMLSegmentationNode | None:
        """The first segmentation in the scene that has the IVC and both common iliac veins (by
        segment ID or terminology), or None."""
        from IVCReconstructionLib.existing_segmentation import find_vein_segments

        for segmentationNode in slicer.util.getNodesByClass("vtkMRMLSegmentationNode"):
            try:
                find_vein_segments(segmentationNode)
            except ValueError:
                continue  # not a segmentation of these veins
            return segmentationNode
        return None

    def firstScalarVolume(self) -> vtkMRMLScalarVolumeNode | None:
        """The first scalar volume in the scene that is not a label map (the volume to segment), or None."""
        for volumeNode in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode"):
            if not volumeNode.IsA("vtkMRMLLabelMapVolumeNode"):
                return volumeNode
        return None

    @staticmethod
    def _describe(value) -> str:
        """A node as its class and name, for error messages; anything else as its repr."""
        if hasattr(value, "GetClassName") and hasattr(value, "GetName"):
            return f"{value.GetClassName()} {value.GetName()!r}"
        return repr(value)

    @staticmethod
    def _parentFolderItem(node) -> int | None:
        """Subject-hierarchy folder holding node (e.g. the phantom's folder), or None at the top."""
        shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        if shNode is None:
            return None
        item = shNode.GetItemByDataNode(node)
        if item == shNode.GetInvalidItemID():
            return None
        parent = shNode.GetItemParent(item)
        if parent in (shNode.GetInvalidItemID(), shNode.GetSceneItemID()):
            return None
        return parent

    @staticmethod
    def _worldToNodeCoordinates(points: dict, node) -> dict:
        """points (dict of RAS positions in world coordinates) in the coordinates of node, which
        differ from the world's when node is under a transform."""
        import numpy as np

        if node.GetParentTransformNode() is None:
            return points
        worldToNode = vtk.vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(None, node.GetParentTransformNode(), worldToNode)
        return {
            label: np.array(worldToNode.TransformPoint(point), dtype=float) for label, point in points.items()
        }

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
        self.setUp()
        self.test_SegmentPhantomVeins()
        self.setUp()
        self.test_MeasurePhantomVeins()
        self.setUp()
        self.test_SeedLabelsAreChecked()
        self.setUp()
        self.test_PlanPhantomVeins()

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

    def test_SegmentPhantomVeins(self):
        """Veins segmented from a healthy phantom's seeds match its truth; bad seeds are refused."""
        import numpy as np

        self.delayDisplay("Segmenting the veins of a healthy phantom")
        logic = IVCReconstructionLogic()
        # 1.5 mm (not the 2 mm of the other tests): at 2 mm the iliac veins are only a few voxels
        # across, so the overlap with the truth says more about the voxels than the method.
        phantomNodes, phantom = logic.createPhantom(PhantomScenario.healthy, spacingMm=1.5)
        segmentationNode, result = logic.segmentVeins(phantomNodes.volume, phantomNodes.seeds)

        # The three vein segments, in the phantom's folder next to its volume
        self.assertIs(segmentationNode.GetScene(), slicer.mrmlScene)
        segmentation = segmentationNode.GetSegmentation()
        for segmentId in ("inferior_vena_cava", "iliac_vena_left", "iliac_vena_right"):
            self.assertIsNotNone(segmentation.GetSegment(segmentId), f"segment {segmentId} is missing")
        self.assertEqual(result.occlusions, [])
        shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        self.assertEqual(
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
            self.assertGreaterEqual(dice, 0.85, f"{vein}: Dice {dice:.3f} against the truth")

        # Swapped Left and Right seeds, or a missing one, are refused, and nothing is added
        swappedLabels = {"ivc": "IVC", "left": "Right", "right": "Left"}
        swappedSeeds = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Swapped seeds")
        for index in range(phantomNodes.seeds.GetNumberOfControlPoints()):
            position = [0.0, 0.0, 0.0]
            phantomNodes.seeds.GetNthControlPointPositionWorld(index, position)
            label = phantomNodes.seeds.GetNthControlPointLabel(index)
            swappedSeeds.AddControlPoint(position, swappedLabels[label.lower()])
        numberOfNodesBefore = slicer.mrmlScene.GetNumberOfNodes()
        with self.assertRaises(ValueError):
            logic.segmentVeins(phantomNodes.volume, swappedSeeds)
        swappedSeeds.RemoveNthControlPoint(swappedSeeds.GetNumberOfControlPoints() - 1)
        with self.assertRaisesRegex(ValueError, "Left"):
            logic.segmentVeins(phantomNodes.volume, swappedSeeds)
        with self.assertRaises(ValueError):
            logic.segmentVeins(phantomNodes.segmentation, phantomNodes.seeds)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodesBefore)
        self.delayDisplay("Vein segmentation test passed")

    def test_MeasurePhantomVeins(self):
        """Centerlines and diameters of a healthy phantom's truth segmentation match its truth."""
        import numpy as np

        self.delayDisplay("Measuring the veins of a healthy phantom")
        logic = IVCReconstructionLogic()
        # 1.5 mm (not the 2 mm of the other tests): the diameters are checked to 1.5 mm.
        phantomNodes, phantom = logic.createPhantom(PhantomScenario.healthy, spacingMm=1.5)
        centerlineNodes, measurements = logic.measureVeins(phantomNodes.segmentation, phantomNodes.seeds)

        # One curve and one table per vein, nine plot series (CE, min, max per vein)
        branches = {"ivc", "left_iliac", "right_iliac"}
        self.assertEqual(set(centerlineNodes.curves), branches)
        self.assertEqual(set(centerlineNodes.tables), branches)
        for branch in branches:
            curve = centerlineNodes.curves[branch]
            table = centerlineNodes.tables[branch]
            self.assertIs(curve.GetScene(), slicer.mrmlScene)
            self.assertIs(table.GetScene(), slicer.mrmlScene)
            self.assertGreater(curve.GetNumberOfControlPoints(), 10)
            self.assertEqual(table.GetNumberOfRows(), curve.GetNumberOfControlPoints())
        self.assertEqual(centerlineNodes.chart.GetNumberOfPlotSeriesNodes(), 9)

        # IVC size: median area-equivalent (CE) diameter away from the confluence, against the truth
        profile = measurements.profiles["ivc"]
        keep = ~np.asarray(profile.confluence_zone, dtype=bool)
        measuredMm = float(np.nanmedian(np.asarray(profile.ce_diameter_mm)[keep]))
        truth = phantom.branches["ivc"]
        truthMm = float(np.median(truth.ce_diameter_mm[truth.healthy()]))
        self.assertAlmostEqual(measuredMm, truthMm, delta=1.5)

        # A segmentation without the right iliac vein is refused, and nothing is added
        phantomNodes.segmentation.GetSegmentation().RemoveSegment("iliac_vena_right")
        numberOfNodesBefore = slicer.mrmlScene.GetNumberOfNodes()
        with self.assertRaises(ValueError):
            logic.measureVeins(phantomNodes.segmentation, phantomNodes.seeds)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodesBefore)
        self.delayDisplay("Vein measurement test passed")

    def test_SeedLabelsAreChecked(self):
        """Seed labels are read in any case; unknown or repeated labels are refused before any work."""
        import numpy as np

        self.delayDisplay("Checking seed labels")
        logic = IVCReconstructionLogic()
        seeds = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Seeds")
        seeds.AddControlPoint([0.0, 10.0, 100.0], "ivc")
        seeds.AddControlPoint([20.0, 0.0, 0.0], " LEFT ")
        seeds.AddControlPoint([0.0, 5.0, 50.0], "Via1")
        seeds.AddControlPoint([0.0, 5.0, 40.0], "Via2")
        seeds.AddControlPoint([10.0, 0.0, 60.0], "renal")
        points = logic.seedPointsFromMarkups(seeds)
        self.assertEqual(set(points), {"IVC", "Left"})
        np.testing.assert_allclose(points["IVC"], [0.0, 10.0, 100.0])
        np.testing.assert_allclose(points["Left"], [20.0, 0.0, 0.0])

        # Segmenting passes the Via points too, each under its own key even if labels repeat.
        seeds.AddControlPoint([0.0, 5.0, 30.0], "via1")
        points = logic.seedPointsFromMarkups(seeds, includeVia=True)
        self.assertEqual(set(points), {"IVC", "Left", "Via1", "Via2", "via1 (2)"})
        np.testing.assert_allclose(points["Via1"], [0.0, 5.0, 50.0])
        np.testing.assert_allclose(points["via1 (2)"], [0.0, 5.0, 30.0])

        # The seed checks come before the segmentation is even looked at.
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Empty")
        numberOfNodesBefore = slicer.mrmlScene.GetNumberOfNodes()
        seeds.AddControlPoint([-20.0, 0.0, 0.0], "Right")
        seeds.AddControlPoint([-21.0, 0.0, 0.0], "right")
        with self.assertRaisesRegex(ValueError, "Right"):
            logic.measureVeins(segmentation, seeds)
        seeds.RemoveNthControlPoint(seeds.GetNumberOfControlPoints() - 1)
        seeds.AddControlPoint([0.0, 0.0, -50.0], "Femoral")
        with self.assertRaisesRegex(ValueError, "Femoral"):
            logic.measureVeins(segmentation, seeds)
        with self.assertRaises(ValueError):
            logic.measureVeins(None)
        with self.assertRaises(ValueError):
            logic.measureVeins(segmentation, seedsNode=segmentation)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodesBefore)
        self.delayDisplay("Seed label test passed")

    def test_PlanPhantomVeins(self):
        """Segment, measure and plan a post-thrombotic phantom through the logic: an inverted-Y
        construct in the scene, edits that follow through, a report, and bad input refused."""
        import os
        import tempfile

        import numpy as np

        self.delayDisplay("Planning stents for a post-thrombotic phantom")
        logic = IVCReconstructionLogic()
        phantomNodes, phantom = logic.createPhantom(PhantomScenario.postThrombotic, spacingMm=1.5)
        # The user marks the lowest renal vein inflow, which the IVC stent must stay below.
        phantomNodes.seeds.AddControlPoint([float(c) for c in phantom.renal_inflow_ras], "Renal")
        segmentationNode, result = logic.segmentVeins(phantomNodes.volume, phantomNodes.seeds)
        self.assertEqual([occlusion.branch for occlusion in result.occlusions], ["ivc"])
        _centerlineNodes, measurements = logic.measureVeins(segmentationNode, phantomNodes.seeds)

        # Three branches, each with a CE diameter near the truth where the vein is healthy
        self.assertEqual(set(measurements.profiles), {"ivc", "left_iliac", "right_iliac"})
        for branch, profile in measurements.profiles.items():
            truth = phantom.branches[branch]
            truthMm = float(np.median(truth.ce_diameter_mm[truth.healthy()]))
            keep = ~np.asarray(profile.confluence_zone, dtype=bool)
            measuredMm = float(np.median(np.asarray(profile.ce_diameter_mm)[keep]))
            self.assertAlmostEqual(measuredMm, truthMm, delta=1.5, msg=branch)

        planNodes, plan = logic.planStents(segmentationNode, phantomNodes.seeds, phantomNodes.volume)
        self.assertEqual(plan.template, "inverted-y")
        self.assertEqual(sorted(stent.role for stent in plan.stents), ["ivc", "left_limb", "right_limb"])
        for stent in plan.stents:
            model = planNodes.models[stent.id]
            self.assertIs(model.GetScene(), slicer.mrmlScene)
            self.assertGreater(model.GetPolyData().GetNumberOfPoints(), 100)
        self.assertEqual(planNodes.plan_table.GetNumberOfRows(), 3)
        handles = logic.planSession.handles
        self.assertEqual(handles.GetNumberOfControlPoints(), 6)
        renal = plan.landmarks["renal_inflow"]
        self.assertIsNotNone(renal)
        (ivcStent,) = [stent for stent in plan.stents if stent.role == "ivc"]
        self.assertLess(ivcStent.proximal_ras[2], renal[2])  # below the renal veins

        # Edits: another length of the IVC stent, and the left limb's distal end dragged 15 mm down
        lengths = logic.stentTableRows()[0]["lengths"]
        other = next(length for length in lengths if length != ivcStent.length_mm)
        plan = logic.editStent(ivcStent.id, lengthMm=other)
        self.assertEqual(plan.stent(ivcStent.id).length_mm, other)
        self.assertIn(f"{other:g} mm", planNodes.models[ivcStent.id].GetName())
        (limb,) = [stent for stent in plan.stents if stent.role == "left_limb"]
        before = limb.coverage["left_iliac"][1]
        index = [handles.GetNthControlPointLabel(n) for n in range(6)].index(f"{limb.id} distal")
        position = np.array(limb.distal_ras) + np.array([0.0, 0.0, -15.0])
        handles.SetNthControlPointPosition(index, *position)
        # While dragging the point stays where the user holds it; the plan follows.
        self.assertTrue(logic.applyHandleMoves(snap=False))
        held = [0.0, 0.0, 0.0]
        handles.GetNthControlPointPosition(index, held)
        np.testing.assert_allclose(held, position, atol=1e-3)
        self.assertGreater(logic.planSession.plan.stent(limb.id).coverage["left_iliac"][1], before + 5.0)
        # Dropped: the point snaps onto the end.
        logic.applyHandleMoves()
        after = logic.planSession.plan.stent(limb.id).coverage["left_iliac"][1]
        self.assertGreater(after, before + 5.0)
        moved = [0.0, 0.0, 0.0]
        handles.GetNthControlPointPosition(index, moved)
        np.testing.assert_allclose(moved, logic.planSession.plan.stent(limb.id).distal_ras, atol=1e-3)

        # Typed into the stent table: another length of the left limb; an unknown product is refused
        table = planNodes.plan_table
        row = [table.GetCellText(r, 0) for r in range(table.GetNumberOfRows())].index(limb.id)
        limbLengths = next(r for r in logic.stentTableRows() if r["id"] == limb.id)["lengths"]
        currentLength = logic.planSession.plan.stent(limb.id).length_mm
        newLength = next(length for length in limbLengths if length != currentLength)
        lengthColumn = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())].index(
            "Length (mm)"
        )
        table.SetCellText(row, lengthColumn, f"{newLength:g}")
        self.assertTrue(logic.applyTableEdits())
        self.assertEqual(logic.planSession.plan.stent(limb.id).length_mm, newLength)
        table.SetCellText(row, 1, "No Such Stent")
        with self.assertRaisesRegex(ValueError, "No Such Stent"):
            logic.applyTableEdits()
        self.assertEqual(table.GetCellText(row, 1), logic.planSession.plan.stent(limb.id).product)

        # A size the catalogue does not have is refused, and the plan stays as it was
        with self.assertRaises(ValueError):
            logic.editStent(ivcStent.id, diameterMm=7.0)
        self.assertEqual(logic.planSession.plan.stent(ivcStent.id).length_mm, other)

        # The report and the scene
        folder = tempfile.mkdtemp()
        report = logic.exportReport(folder)
        for name in ("report.html", "plan.json", "view3d.png", "profile_ivc.csv"):
            self.assertTrue(os.path.isfile(os.path.join(folder, name)), name)
        with open(report, encoding="utf-8") as reportFile:
            text = reportFile.read()
        self.assertIn("inverted-y", text)
        # No node names in the report: in a patient's scene they can hold the patient's name.
        self.assertNotIn(phantomNodes.volume.GetName(), text)
        self.assertNotIn(segmentationNode.GetName(), text)
        self.assertTrue(os.path.isfile(logic.saveScene(os.path.join(folder, "plan.mrb"))))

        # Bad input: nothing is added
        numberOfNodesBefore = slicer.mrmlScene.GetNumberOfNodes()
        with self.assertRaises(ValueError):
            logic.planStents(segmentationNode, template="y-shaped")
        with self.assertRaises(ValueError):
            logic.planStents(segmentationNode, settings={"landing": 20.0})
        with self.assertRaises(ValueError):
            logic.planStents(phantomNodes.volume)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodesBefore)
        self.delayDisplay("Stent planning test passed")

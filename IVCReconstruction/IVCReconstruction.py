import contextlib
import enum
import logging
import os
import pathlib
import time
from typing import Annotated, Optional

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
# at startup for every user, so heavy imports happen inside the methods that need them. The file
# itself imports in older Slicers too (Python 3.9: Optional[...], not X | None), so that there the
# module can say which Slicer it needs instead of failing with a traceback.

# The Slicer versions the module supports (Slicer 5.10 runs Python 3.12, which the library needs).
MINIMUM_SLICER_VERSION = (5, 10)


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
        self.parent.contributors = ["IVCReconstruction developers (IVCReconstruction project)"]
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
<i>occluded_vein</i>); slices thicker than 2 mm are segmented on a finer grid (about 1 mm).</p>
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
<p>Needs 3D Slicer 5.10 or later and the SlicerVMTK extension. Long steps show their progress in a
dialog, where they can be cancelled.</p>
<p>See the <a href="https://github.com/ivcreconstruction/SlicerIVCReconstruction#readme">documentation</a>.</p>
""")
        if not slicerIsSupported():  # the panel shows the same message instead of its sections
            logging.error(unsupportedSlicerMessage())

        self.parent.acknowledgementText = _("""
<p>IVCReconstruction is built on <a href="https://www.slicer.org">3D Slicer</a> and the
<a href="http://www.vmtk.org">Vascular Modeling Toolkit (VMTK)</a>, used through the SlicerVMTK
extension. Vein segment IDs follow <a href="https://github.com/wasserth/TotalSegmentator">TotalSegmentator</a>,
whose example outputs serve as reference data for testing.</p>
""")


def slicerIsSupported() -> bool:
    """Whether this Slicer is one the module supports (MINIMUM_SLICER_VERSION or later)."""
    return (slicer.app.majorVersion, slicer.app.minorVersion) >= MINIMUM_SLICER_VERSION


def unsupportedSlicerMessage() -> str:
    return _(
        "IVC Reconstruction needs 3D Slicer {minimum} or later; this is Slicer {version}. Install a "
        "newer Slicer from download.slicer.org."
    ).format(
        minimum=".".join(map(str, MINIMUM_SLICER_VERSION)),
        version=f"{slicer.app.majorVersion}.{slicer.app.minorVersion}",
    )


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
# Plan settings the panel offers (design defaults of IVCReconstructionLib.plan.PlanSettings,
# whose defaults these fields repeat; Testing/test_slicer_shell.py checks that they agree).
LANDING_RANGE_MM = (5.0, 50.0)
OVERLAP_RANGE_MM = (5.0, 50.0)
PROTRUSION_RANGE_MM = (0.0, 20.0)
RENAL_MARGIN_RANGE_MM = (0.0, 30.0)


class PhantomScenario(enum.Enum):
    """What the synthetic venogram shows; the values are the library's scenario names
    (IVCReconstructionLib.phantom.Scenario, as ivc-plan demo --scenario takes them)."""

    healthy = "healthy"
    mayThurner = "may-thurner"
    ivcOcclusion = "ivc-occlusion"
    bilateralNarrowing = "bilateral"
    postThrombotic = "post-thrombotic"

    def label(self) -> str:
        """Display text of the scenario (shown in the scenario combo box)."""
        from IVCReconstructionLib.scene.panel_state import scenario_label

        return scenario_label(self.value)

    def usesLesionAreaRatio(self) -> bool:
        """Whether the scenario narrows a vein to a given area ratio."""
        from IVCReconstructionLib.phantom import Scenario

        return Scenario(self.value).uses_area_ratio

    def usesOcclusionLength(self) -> bool:
        """Whether the scenario has an occluded stretch of given length."""
        from IVCReconstructionLib.phantom import Scenario

        return Scenario(self.value).uses_occlusion_length


class PlanTemplate(enum.Enum):
    """The stent construct to plan; the values are the library's template names."""

    auto = "auto"
    invertedY = "inverted-y"
    doubleBarrel = "double-barrel"
    kissing = "kissing"
    unilateral = "unilateral"

    def label(self) -> str:
        """Display text of the template (shown in the construct combo box)."""
        from IVCReconstructionLib.scene.panel_state import template_label

        return template_label(self.value)


@parameterNodeWrapper
class IVCReconstructionParameterNode:
    """
    The parameters needed by the module (saved with the scene).

    scenario - What the synthetic venogram shows (healthy, May-Thurner, IVC occlusion, bilateral
        narrowing, post-thrombotic).
    useReferenceAnatomy - Build the fixed reference anatomy; if False, a random variant of it.
    anatomySeed - Number of the random anatomy variant (the same number gives the same anatomy).
    spacingMm - Voxel size of the phantom in mm (1 mm is typical of a CT venogram).
    lesionAreaRatio - Narrowest lumen area / healthy area of the narrowed veins (0.25 keeps a quarter).
    occlusionLengthMm - Length in mm of the IVC stretch without lumen (occlusion scenarios).
    phantomVolume - Output: the CT volume of the last phantom created.
    inputVolume - The CT (or bright-blood MR) venogram to segment; set to each new phantom's.
    segmentationSeeds - The point list the veins are segmented from: IVC (cranial end of the IVC),
        Left and Right (distal iliac or common femoral veins), Via... (inside an occlusion).
    veinSegmentation - The segmentation to measure and plan on, with the IVC and both common iliac
        veins (found by segment ID or terminology); set by Create phantom and Segment veins.
    seedPoints - Optional point list whose IVC, Left and Right points mark the ends of the
        centerlines, and whose Renal and Inguinal points are plan landmarks.
    diameterChart - Output: the diameter chart of the last measurement.
    planTemplate - The stent construct: automatic (from the findings), inverted-Y, double-barrel,
        kissing or unilateral.
    catalogFile - Stent catalogue file (JSON): the built-in one, or one adding to or replacing its products.
    landingMm - Healthy vein each stent end must rest on (design default 20 mm).
    overlapMm - Overlap between consecutive stents, and of the limbs in the IVC stent (20 mm).
    protrusionMm - How far an iliac stent ending at the confluence may reach into the IVC (5 mm).
    renalMarginMm - Gap kept below the lowest renal vein inflow by the IVC stent (5 mm).
    exportFolder - Folder the report and the scene file are written to.
    """

    scenario: PhantomScenario = PhantomScenario.healthy
    useReferenceAnatomy: bool = True
    anatomySeed: Annotated[int, WithinRange(*ANATOMY_SEED_RANGE)] = 0
    spacingMm: Annotated[float, WithinRange(*SPACING_RANGE_MM)] = 1.0
    lesionAreaRatio: Annotated[float, WithinRange(*LESION_AREA_RATIO_RANGE)] = 0.25
    occlusionLengthMm: Annotated[float, WithinRange(*OCCLUSION_LENGTH_RANGE_MM)] = 40.0
    phantomVolume: Optional[vtkMRMLScalarVolumeNode]
    inputVolume: Optional[vtkMRMLScalarVolumeNode]
    segmentationSeeds: Optional[vtkMRMLMarkupsFiducialNode]
    veinSegmentation: Optional[vtkMRMLSegmentationNode]
    seedPoints: Optional[vtkMRMLMarkupsFiducialNode]
    diameterChart: Optional[vtkMRMLPlotChartNode]
    planTemplate: PlanTemplate = PlanTemplate.auto
    # The built-in catalogue, shown as such (a pathlib.Path field cannot be empty: it would show ".").
    catalogFile: pathlib.Path = pathlib.Path(__file__).parent / "Resources" / "StentCatalog.json"
    landingMm: Annotated[float, WithinRange(*LANDING_RANGE_MM)] = 20.0
    overlapMm: Annotated[float, WithinRange(*OVERLAP_RANGE_MM)] = 20.0
    protrusionMm: Annotated[float, WithinRange(*PROTRUSION_RANGE_MM)] = 5.0
    renalMarginMm: Annotated[float, WithinRange(*RENAL_MARGIN_RANGE_MM)] = 5.0
    exportFolder: pathlib.Path = pathlib.Path.home() / "IVCReconstruction"


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
        self._placement = None  # the seed point being placed with a Place button (SeedPlacement)
        self._planEvents = None  # follows the user's edits of the plan shown (PlanEditEvents)
        self._segmentationInPickers = None  # the segmentation whose segments the pickers list

    def setup(self) -> None:
        """Called once, when the module panel is first shown: build the GUI from the .ui file."""
        ScriptedLoadableModuleWidget.setup(self)
        if not slicerIsSupported():
            import qt

            self.layout.addWidget(qt.QLabel(unsupportedSlicerMessage()))
            return

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
        self.ui.exportDicomButton.connect("clicked(bool)", self.onExportDicomButton)
        # Choosing a stent, product or diameter refills the editor's lists after it (_fillEditor).
        self.ui.stentComboBox.connect("currentIndexChanged(int)", lambda index: self._fillEditor(0))
        self.ui.productComboBox.connect("currentIndexChanged(int)", lambda index: self._fillEditor(1))
        self.ui.diameterComboBox.connect("currentIndexChanged(int)", lambda index: self._fillEditor(2))
        import qt

        # Product, diameter and length can be typed into the stent table; the warnings are read only.
        self.ui.warningsTableView.editTriggers = qt.QAbstractItemView.NoEditTriggers

        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the panel is destroyed (application exit or module reload)."""
        self.removeObservers()
        if self._placement is not None:
            self._placement.finish()
        self._followPlan(None)

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
        if self._placement is not None:
            self._placement.finish()
        self._followPlan(None)
        self.logic.clear()
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

    def setParameterNode(self, inputParameterNode: Optional[IVCReconstructionParameterNode]) -> None:
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
        from IVCReconstructionLib.scene.panel_state import PanelChoices, button_states

        parameterNode = self._parameterNode
        if not parameterNode:
            for button in self._allButtons():
                button.enabled = False
                button.toolTip = _("The module has no parameter node yet.")
            return
        self._refreshSegmentPickers(parameterNode.veinSegmentation)

        # Settings that the chosen scenario does not use stay visible but disabled, so the user
        # sees they exist and why they have no effect.
        self.ui.anatomySeedSpinBox.enabled = not parameterNode.useReferenceAnatomy
        self.ui.lesionAreaRatioSliderWidget.enabled = parameterNode.scenario.usesLesionAreaRatio()
        self.ui.occlusionLengthSliderWidget.enabled = parameterNode.scenario.usesOcclusionLength()

        def name(node) -> Optional[str]:
            return node.GetName() if node else None

        states = button_states(
            PanelChoices(
                scenario=parameterNode.scenario.label(),
                volume=name(parameterNode.inputVolume),
                segmentation_seeds=name(parameterNode.segmentationSeeds),
                vein_segmentation=name(parameterNode.veinSegmentation),
                seed_points=name(parameterNode.seedPoints),
                measured=self.logic.hasMeasurement(),
                planned=self.logic.scenePlan is not None,
                stent_chosen=self.ui.stentComboBox.currentText != "",
                size_chosen=self.ui.lengthComboBox.currentText != "",
                export_folder=str(parameterNode.exportFolder) if parameterNode.exportFolder else "",
            )
        )
        for button, state in (
            (self.ui.createPhantomButton, states.create_phantom),
            (self.ui.segmentVeinsButton, states.segment_veins),
            (self.ui.placeIvcButton, states.place_ivc),
            (self.ui.placeLeftButton, states.place_left),
            (self.ui.placeRightButton, states.place_right),
            (self.ui.placeViaButton, states.place_via),
            (self.ui.placeRenalButton, states.place_renal),
            (self.ui.measureVeinsButton, states.measure_veins),
            (self.ui.narrowestIvcButton, states.narrowest_ivc),
            (self.ui.narrowestLeftButton, states.narrowest_left),
            (self.ui.narrowestRightButton, states.narrowest_right),
            (self.ui.planStentsButton, states.plan_stents),
            (self.ui.applyStentButton, states.apply_stent),
            (self.ui.removeStentButton, states.remove_stent),
            (self.ui.writeReportButton, states.write_report),
            (self.ui.exportDicomButton, states.export_dicom),
            (self.ui.saveSceneButton, states.save_scene),
        ):
            button.enabled = state.enabled
            button.toolTip = state.tool_tip

    def _allButtons(self) -> list:
        import qt

        return [widget for widget in vars(self.ui).values() if isinstance(widget, qt.QPushButton)]

    def _segmentSelectors(self) -> tuple:
        return (
            (self.ui.ivcSegmentSelector, "ivc"),
            (self.ui.leftSegmentSelector, "left_iliac"),
            (self.ui.rightSegmentSelector, "right_iliac"),
        )

    def _refreshSegmentPickers(self, segmentationNode) -> None:
        """Show the vein segmentation's segments in the three selectors (which follow segments
        added, renamed or removed), preselecting, once per segmentation so that a user's choice
        stays, those found by ID or terminology."""
        if segmentationNode is self._segmentationInPickers:
            return
        from IVCReconstructionLib.scene import found_vein_segments

        self._segmentationInPickers = segmentationNode
        found = found_vein_segments(segmentationNode)
        for selector, branch in self._segmentSelectors():
            selector.setCurrentNode(segmentationNode)
            selector.setCurrentSegmentID(found.get(branch, ""))

    def _chosenSegmentIds(self) -> dict:
        return {
            branch: s.currentSegmentID() for s, branch in self._segmentSelectors() if s.currentSegmentID()
        }

    def onCreatePhantomButton(self) -> None:
        """Create a phantom when the user clicks "Create phantom", then show it in the slice views."""
        with (
            slicer.util.tryWithErrorDisplay(_("Failed to create the phantom."), waitCursor=True),
            self._progress(_("Creating the phantom"), 1) as progress,
        ):
            progress(_("Building the synthetic venogram and its truth..."))
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
        findings = []
        with (
            slicer.util.tryWithErrorDisplay(_("Failed to segment the veins."), waitCursor=True),
            self._progress(_("Segmenting the veins"), 5) as progress,
        ):
            parameterNode = self._parameterNode
            segmentationNode, result = self.logic.segmentVeins(
                parameterNode.inputVolume, parameterNode.segmentationSeeds, progress=progress
            )
            # The next step measures this segmentation, its ends marked by the same point list.
            parameterNode.veinSegmentation = segmentationNode
            parameterNode.seedPoints = parameterNode.segmentationSeeds
            segmentationNode.CreateClosedSurfaceRepresentation()
            slicer.util.setSliceViewerLayers(background=parameterNode.inputVolume)
            findings = [occlusion.describe() for occlusion in result.occlusions] + list(result.warnings)
            slicer.util.showStatusMessage(
                _("Segmented the veins of {name}.").format(name=parameterNode.inputVolume.GetName()), 3000
            )
        if findings:  # outside the wait cursor
            slicer.util.infoDisplay(
                _("Segmented the veins. Please check:")
                + "\n\n"
                + "\n".join(f"- {finding}" for finding in findings),
                windowTitle=_("Segment veins"),
            )

    def onMeasureVeinsButton(self) -> None:
        """Measure the veins when the user clicks "Measure veins", then show the diameter chart."""
        with (
            slicer.util.tryWithErrorDisplay(_("Failed to measure the veins."), waitCursor=True),
            self._progress(_("Measuring the veins"), 4) as progress,
        ):
            parameterNode = self._parameterNode
            centerlineNodes = self.logic.measureVeins(
                parameterNode.veinSegmentation,
                parameterNode.seedPoints,
                segmentIds=self._chosenSegmentIds(),
                progress=progress,
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

    @contextlib.contextmanager
    def _progress(self, title: str, steps: int):
        """A progress dialog for a long step; yields the function the logic calls with a message
        as each part starts. Cancel stops the step at the next part (before it adds any node)."""
        from IVCReconstructionLib.interrupts import StepCancelledError

        dialog = slicer.util.createProgressDialog(windowTitle=title, labelText=title + "...", maximum=steps)
        slicer.app.processEvents()

        def progress(message: str) -> None:
            slicer.app.processEvents()  # draw the dialog and notice Cancel
            if dialog.wasCanceled:
                raise StepCancelledError()
            dialog.labelText = message[:1].upper() + message[1:] + "..."
            dialog.value = min(dialog.value + 1, steps)
            slicer.app.processEvents()

        try:
            yield progress
        except StepCancelledError:
            slicer.util.showStatusMessage(
                _("{title}: cancelled, nothing was added.").format(title=title), 5000
            )
        finally:
            dialog.close()

    def onReload(self) -> None:
        """Reload the library too: Slicer's Reload reads this file again, but would keep the
        library's modules it imported before."""
        import sys

        for name in [
            n for n in sys.modules if n.split(".")[0] in ("IVCReconstructionLib", "IVCReconstructionSelfTest")
        ]:
            del sys.modules[name]
        ScriptedLoadableModuleWidget.onReload(self)

    # Seed points placed with the Place buttons

    def onPlaceIvcButton(self) -> None:
        self._placeSeed("IVC")

    def onPlaceLeftButton(self) -> None:
        self._placeSeed("LEFT")

    def onPlaceRightButton(self) -> None:
        self._placeSeed("RIGHT")

    def onPlaceViaButton(self) -> None:
        self._placeSeed("VIA")

    def onPlaceRenalButton(self) -> None:
        self._placeSeed("RENAL")

    def _placeSeed(self, which: str) -> None:
        """Enter place mode for one point of the seed point list; it gets the seed label ``which``
        names (a member of IVCReconstructionLib.names.SeedLabel, or VIA) when placed: a second
        IVC, Left, Right or Renal point replaces the first, Via points are numbered."""
        from IVCReconstructionLib.names import SEED_VIA_PREFIX, SeedLabel
        from IVCReconstructionLib.scene.seed_nodes import SeedPlacement

        label = SEED_VIA_PREFIX if which == "VIA" else str(SeedLabel[which])
        with slicer.util.tryWithErrorDisplay(_("Failed to start placing the point."), waitCursor=True):
            parameterNode = self._parameterNode
            seedsNode = parameterNode.segmentationSeeds
            if seedsNode is None:
                seedsNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", _("Vein seeds"))
                seedsNode.CreateDefaultDisplayNodes()
                parameterNode.segmentationSeeds = seedsNode
            applicationLogic = slicer.app.applicationLogic()
            self._placement = self._placement or SeedPlacement()
            # The placement observes the point list and the mouse mode itself until the point is
            # placed or placing is cancelled.
            self._placement.start(
                seedsNode,
                label,
                applicationLogic.GetInteractionNode(),
                selection_node=applicationLogic.GetSelectionNode(),
                observe=True,
                cancelled=lambda: slicer.util.showStatusMessage(_("Point placement cancelled."), 3000),
            )
            slicer.util.showStatusMessage(
                _("Click in a view to place the {label} point.").format(label=label)
            )

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
        with (
            slicer.util.tryWithErrorDisplay(_("Failed to plan the stents."), waitCursor=True),
            self._progress(_("Planning the stents"), 4) as progress,
        ):
            parameterNode = self._parameterNode
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
                progress=progress,
            )
            self._followPlan(self.logic.scenePlan)
            self._showPlan()
            slicer.util.showStatusMessage(
                _("Stent plan: {template}, {count} stents, {warnings} warnings.").format(
                    template=plan.template, count=len(plan.stents), warnings=len(plan.warnings)
                ),
                5000,
            )

    def _showPlan(self) -> None:
        """Show the current plan's tables and fill the stent editor."""
        scenePlan = self.logic.scenePlan
        if scenePlan is None:
            return
        self.ui.stentTableView.setMRMLTableNode(scenePlan.nodes.plan_table)
        self.ui.warningsTableView.setMRMLTableNode(scenePlan.nodes.warnings_table)
        self.ui.ivusTableView.setMRMLTableNode(scenePlan.ivus_table)
        stentIds = [row.id for row in self.logic.stentTableRows()]
        self._fillComboBox(self.ui.stentComboBox, stentIds, self.ui.stentComboBox.currentText)
        self._fillEditor(0)

    def _fillEditor(self, first: int) -> None:
        """Refill the stent editor's product (0), diameter (1) and length (2) lists from first on;
        the lists before it keep the user's choice, from which the later ones follow: the
        catalogue's products, the diameters of the product chosen and its lengths at the diameter
        chosen, the stent's own product and size selected where offered."""
        from IVCReconstructionLib.scene.panel_state import stent_editor

        comboBoxes = (self.ui.productComboBox, self.ui.diameterComboBox, self.ui.lengthComboBox)
        scenePlan = self.logic.scenePlan
        editor = stent_editor(
            scenePlan.session if scenePlan is not None else None,
            self.ui.stentComboBox.currentText,
            *[comboBox.currentText for comboBox in comboBoxes[:first]],  # product, diameter chosen
        )
        choices = editor.choices()  # one per combo box (no zip(strict=): Python 3.10)
        for index in range(first, len(comboBoxes)):
            self._fillComboBox(comboBoxes[index], choices[index].items, choices[index].current)
        self._checkCanApply()

    @staticmethod
    def _fillComboBox(comboBox, items, current: str) -> None:
        """Show items with current selected, without signalling each change on the way."""
        comboBox.blockSignals(True)
        comboBox.clear()
        comboBox.addItems(list(items))
        comboBox.currentText = current
        comboBox.blockSignals(False)

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

    def _followPlan(self, scenePlan) -> None:
        """Follow the user's edits of scenePlan (None: of no plan): what is typed into its stent
        and IVUS tables is applied, and the models, tables and warnings follow a dragged stent
        end, which snaps onto the stent's end when dropped."""
        if self._planEvents is not None:
            self._planEvents.stop()
        self._planEvents = None
        if scenePlan is not None:
            # Imported here, not above: cleanup() calls this in a Slicer too old for the library.
            from IVCReconstructionLib.scene.plan_events import PlanEditEvents

            self._planEvents = PlanEditEvents(
                scenePlan,
                dragged=self.onStentEndDragged,
                dropped=self.onStentEndMoved,
                table_edited=self.onPlanTableEdited,
                ivus_edited=self.onIvusTableEdited,
            )

    def onPlanTableEdited(self) -> None:
        """The user typed a product, diameter or length into the stent table."""
        with slicer.util.tryWithErrorDisplay(_("Failed to change the stent."), waitCursor=True):
            if self.logic.applyTableEdits():
                self._showPlan()

    def onIvusTableEdited(self) -> None:
        """The user typed into the IVUS table: the plan is sized again from the values."""
        with slicer.util.tryWithErrorDisplay(_("Failed to size the plan from IVUS."), waitCursor=True):
            if self.logic.applyIvusTable():
                self._showPlan()

    def onStentEndDragged(self) -> None:
        """While a stent end is dragged (called at most every 50 ms): the plan follows it. No
        wait cursor (it would flicker) and no dialog mid-drag: a refused move shows in the
        status bar and the end stays where it was."""
        try:
            self.logic.applyHandleMoves(snap=False)
        except ValueError as error:
            slicer.util.showStatusMessage(_("Cannot move the stent end: {error}").format(error=error), 5000)

    def onStentEndMoved(self) -> None:
        """A stent end was dropped: the plan follows it and the handle snaps onto the stent's end."""
        with slicer.util.tryWithErrorDisplay(_("Failed to move the stent end."), waitCursor=True):
            self.logic.applyHandleMoves(snap=True)
            self._showPlan()

    # Export

    def onWriteReportButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to write the report."), waitCursor=True):
            slicer.util.showStatusMessage(_("Writing the report..."))
            path = self.logic.exportReport(str(self._parameterNode.exportFolder))
            slicer.util.showStatusMessage(_("Wrote {path}.").format(path=path), 5000)

    def onExportDicomButton(self) -> None:
        """Write the plan as DICOM SEG and SR (installing highdicom first, if the user agrees)."""
        if not self._ensureHighdicom():
            return
        with slicer.util.tryWithErrorDisplay(_("Failed to export to DICOM."), waitCursor=True):
            slicer.util.showStatusMessage(_("Writing the DICOM segmentation and report..."))
            files, imported = self.logic.exportDicom(str(self._parameterNode.exportFolder))
            folder = os.path.dirname(files[0])
            if imported:
                message = _(
                    "Wrote the DICOM segmentation and report to {folder} and added them to the DICOM "
                    "database: send them to PACS from the DICOM module."
                )
            else:
                message = _("Wrote the DICOM segmentation and report to {folder}.")
            slicer.util.showStatusMessage(message.format(folder=folder), 8000)

    def _ensureHighdicom(self) -> bool:
        """Whether highdicom can be imported, after installing it if the user agrees (once): Slicer
        5.12 has it; on 5.10, the release that fits Slicer's pydicom, which stays (outputs.dicom_stack)."""
        if self.logic.canWriteDicom():
            return True
        from IVCReconstructionLib.outputs.dicom_stack import highdicom_install_arguments

        try:
            arguments = highdicom_install_arguments()
        except ValueError as error:
            slicer.util.errorDisplay(_("Export to DICOM is not available: {error}.").format(error=error))
            return False
        question = _(
            "Export to DICOM needs the Python package {package}, which this 3D Slicer does not include. "
            "Install it now from the Python Package Index (this takes a minute)?"
        ).format(package=arguments[0])
        if not slicer.util.confirmOkCancelDisplay(question, windowTitle=_("Install highdicom")):
            slicer.util.showStatusMessage(_("Export to DICOM cancelled: it needs highdicom."), 5000)
            return False
        with slicer.util.tryWithErrorDisplay(_("Failed to install highdicom."), waitCursor=True):
            slicer.util.pip_install(arguments)
        return self.logic.canWriteDicom()

    def onSaveSceneButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Failed to save the scene."), waitCursor=True):
            path = self.logic.saveScene(os.path.join(str(self._parameterNode.exportFolder), "plan.mrb"))
            slicer.util.showStatusMessage(_("Saved the scene to {path}.").format(path=path), 5000)


#
# IVCReconstructionLogic
#


class IVCReconstructionLogic(ScriptedLoadableModuleLogic):
    """What the module does, usable from scripts and other modules without the panel.

    The work is done by the Qt-free IVCReconstructionLib, whose pipeline steps ivc-plan runs too;
    this class checks the nodes it is given, places results in the scene (folders, transforms)
    and keeps the plan being edited (IVCReconstructionLib.scene.SceneCase). It never touches
    widgets or dialogs. Every method raises ValueError for input the user can fix, leaving the
    scene as it was.
    """

    def __init__(self) -> None:
        from IVCReconstructionLib.scene import SceneCase

        ScriptedLoadableModuleLogic.__init__(self)
        # The last measurement (reused by planStents while the segmentation is unchanged), the
        # plan being edited and what it was planned from (for the report and DICOM export).
        self._case = SceneCase(slicer.mrmlScene)
        # A closed scene takes the measured and planned nodes with it: forget them (the Narrowest
        # buttons would otherwise jump to the old case).
        slicer.mrmlScene.AddObserver(slicer.mrmlScene.StartCloseEvent, lambda caller, event: self.clear())

    def getParameterNode(self):
        """The module's parameter node (one per scene), wrapped as IVCReconstructionParameterNode."""
        return IVCReconstructionParameterNode(super().getParameterNode())

    @property
    def scenePlan(self):
        """The plan being edited (IVCReconstructionLib.scene.plan_editor.ScenePlan), or None."""
        return self._case.scene_plan

    def clear(self) -> None:
        """Forget the measurement and the plan (the scene is closing)."""
        self._case.clear()

    def createPhantom(
        self,
        scenario,
        anatomySeed: Optional[int] = None,
        spacingMm: float = 1.0,
        lesionAreaRatio: float = 0.25,
        occlusionLengthMm: float = 40.0,
    ) -> tuple:
        """Build a synthetic CT venogram with known truth in a folder "IVC phantom".

        :param scenario: a PhantomScenario or its value (IVCReconstructionLib.phantom.Scenario).
        :param anatomySeed: None for the reference anatomy, or a whole number for a random variant.
        :param lesionAreaRatio: narrowest lumen area / healthy area (scenarios that narrow a vein).
        :param occlusionLengthMm: length of the occluded IVC stretch (occlusion scenarios).
        :return: (IVCReconstructionLib.scene.PhantomNodes, IVCReconstructionLib.phantom.Phantom).
        """
        from IVCReconstructionLib.phantom import make_phantom, options_for
        from IVCReconstructionLib.scene import add_phantom_to_scene

        if isinstance(scenario, PhantomScenario):
            scenario = scenario.value
        if anatomySeed is not None and (isinstance(anatomySeed, bool) or not isinstance(anatomySeed, int)):
            message = _("Anatomy seed must be a whole number, or None for the reference; got {value!r}.")
            raise ValueError(message.format(value=anatomySeed))
        options = options_for(
            scenario,
            spacing_mm=spacingMm,
            seed=anatomySeed,
            area_ratio=lesionAreaRatio,
            occlusion_length_mm=occlusionLengthMm,
        )
        startTime = time.time()
        phantom = make_phantom(options)
        phantomNodes = add_phantom_to_scene(slicer.mrmlScene, phantom)
        logging.info(f"Phantom {scenario} created in {time.time() - startTime:.2f} seconds")
        return phantomNodes, phantom

    def segmentVeins(
        self, volumeNode: vtkMRMLScalarVolumeNode, seedsNode: vtkMRMLMarkupsFiducialNode, *, progress=None
    ):
        """Segment the IVC and both iliac veins of a contrast CT (or bright-blood MR) venogram
        from the IVC, Left, Right (and Via...) points of seedsNode, into the volume's folder and
        under its transform. Returns (segmentation node with the segments inferior_vena_cava,
        iliac_vena_left, iliac_vena_right and occluded_vein, IVCReconstructionLib.segment.
        VeinSegmentation); see IVCReconstructionLib.pipeline.segment_into_scene. ``progress`` (a
        function of a message) is called at each step; what it raises stops the work, scene unchanged."""
        from IVCReconstructionLib.inputs import seeds_from_markups
        from IVCReconstructionLib.pipeline import segment_into_scene
        from IVCReconstructionLib.scene.nodes import parent_folder_item, world_to_node

        self._checkVolume(volumeNode, _("Select the CT or MR venogram to segment (a scalar volume)."))
        seeds = seeds_from_markups(seedsNode)
        missing = seeds.missing_ends()
        if missing:
            raise ValueError(
                _(
                    "The seed point list {name} has no point labelled {labels}. Place one point labelled "
                    "IVC in the cranial end of the IVC and one labelled Left and one Right in the distal "
                    "left and right iliac (or common femoral) veins."
                ).format(name=seedsNode.GetName(), labels=", ".join(missing))
            )
        startTime = time.time()
        # The points are in world coordinates; the library works in the volume's own coordinates,
        # and the segmentation follows the volume's transform, if any.
        segmentationNode, result = segment_into_scene(
            slicer.mrmlScene,
            volumeNode,
            seeds.mapped(world_to_node(volumeNode)),
            name=f"{volumeNode.GetName()} veins",
            progress=progress,
            parent_item=parent_folder_item(slicer.mrmlScene, volumeNode),
            transform_node_id=volumeNode.GetTransformNodeID(),
        )
        for warning in result.warnings:
            logging.warning(f"Segmenting the veins of {volumeNode.GetName()}: {warning}")
        logging.info(f"Veins segmented in {time.time() - startTime:.2f} seconds")
        return segmentationNode, result

    def measureVeins(
        self,
        segmentationNode: vtkMRMLSegmentationNode,
        seedsNode: Optional[vtkMRMLMarkupsFiducialNode] = None,
        referenceVolumeNode: Optional[vtkMRMLVolumeNode] = None,
        segmentIds: Optional[dict] = None,
        *,
        progress=None,
    ) -> tuple:
        """Centerlines and diameter profiles of the IVC and both common iliac veins of a
        segmentation (segments found by ID or SNOMED terminology, or segmentIds: branch -> segment
        ID), in a folder "IVC centerlines" next to it. The IVC, Left and Right points of seedsNode
        mark the ends (found automatically otherwise). The curves follow the segmentation's
        transform. Returns (IVCReconstructionLib.scene.CenterlineNodes,
        IVCReconstructionLib.measure.VeinMeasurements); ``progress`` as in segmentVeins."""
        self._checkSegmentation(segmentationNode, _("Select the segmentation to measure."))
        if referenceVolumeNode is not None and not isinstance(referenceVolumeNode, vtkMRMLVolumeNode):
            raise ValueError(
                _("The reference volume must be a volume node, or None; got {value}.").format(
                    value=self._describe(referenceVolumeNode)
                )
            )
        startTime = time.time()
        result = self._case.measure(segmentationNode, seedsNode, referenceVolumeNode, segmentIds, progress)
        logging.info(f"Veins measured in {time.time() - startTime:.2f} seconds")
        return result

    def planStents(
        self,
        segmentationNode: vtkMRMLSegmentationNode,
        seedsNode: Optional[vtkMRMLMarkupsFiducialNode] = None,
        volumeNode: Optional[vtkMRMLScalarVolumeNode] = None,
        template: str = "auto",
        catalogFile: str = "",
        settings: Optional[dict] = None,
        segmentIds: Optional[dict] = None,
        *,
        progress=None,
    ) -> tuple:
        """Suggest a stent construct for the veins of a segmentation (measured as in measureVeins,
        reusing the last measurement while nothing changed) and show it next to the segmentation:
        a model per stent, the point list "Stent ends" (drag a point to move that end), the plan
        landmarks and the "Stent plan" and "Plan warnings" tables. A previous plan is replaced.

        :param seedsNode: IVC, Left, Right mark the ends; Renal, InguinalLeft, InguinalRight are
            the landmarks the plan keeps stents below or warns about.
        :param volumeNode: the venogram, to tell contrast CT from MR or non-contrast CT.
        :param template: "auto", "inverted-y", "double-barrel", "kissing" or "unilateral".
        :param catalogFile: a stent catalogue (JSON, as Resources/StentCatalog.json) to add.
        :param settings: plan settings by name (IVCReconstructionLib.plan.PlanSettings).
        :return: (IVCReconstructionLib.scene.PlanNodes, IVCReconstructionLib.plan.Plan); scenePlan
            keeps the plan for editing. Its nodes follow the segmentation's transform.
        """
        self._checkSegmentation(segmentationNode, _("Select the segmentation to plan on."))
        if volumeNode is not None:
            self._checkVolume(volumeNode, _("The venogram must be a scalar volume, or None."))
        catalogFiles = [catalogFile] if catalogFile else []
        scenePlan = self._case.plan(
            segmentationNode, seedsNode, volumeNode, template, catalogFiles, settings, segmentIds, progress
        )
        plan = scenePlan.plan
        logging.info(
            f"Stent plan {plan.template}: {', '.join(st.name for st in plan.stents) or 'no stent'}; "
            f"{len(plan.warnings)} warnings"
        )
        return scenePlan.nodes, plan

    # Edits of the current plan: each updates the models, tables, warnings and end handles and
    # returns the plan; ValueError (e.g. a size the catalogue does not have) leaves it as it was.

    def editStent(self, stentId: str, productId: Optional[str] = None, diameterMm=None, lengthMm=None):
        """Change a stent's product, diameter or length (None keeps the current one)."""
        return self._plan().change_stent(stentId, productId, diameterMm, lengthMm)

    def moveStentEnd(self, stentId: str, end: str, positionRas, snapHandles: bool = True):
        """Move a stent end ("proximal" or "distal") to the point of its vein's centerline
        nearest positionRas (the end handles follow unless snapHandles is False)."""
        return self._plan().move_end_to(stentId, end, positionRas, snapHandles)

    def removeStent(self, stentId: str):
        """Remove a stent from the current plan."""
        return self._plan().remove_stent(stentId)

    def applyHandleMoves(self, snap: bool = True) -> bool:
        """Move the stent ends whose handle (point of "Stent ends") the user dragged; True if
        anything moved. With snap (a drag ended) the handles are put back on the ends; without
        (while dragging) the dragged point stays under the mouse."""
        return self._plan().apply_handle_moves(snap)

    def setIvus(self, ivus: Optional[dict] = None):
        """Size the current plan from IVUS measurements, a mapping as ivc-plan's --ivus file
        ({"references_mm": {"ivc": 22.0, "left_civ": 16.0, ...}, "lesions": [{"branch":
        "left_iliac", "min_area_mm2": 60.0, "at_mm": 35.0}]}), or from the CT alone (None); the
        plan is made again with the same construct and the IVUS table shows the values.
        ValueError for a wrong key or value, or a lesion the CT did not find."""
        from IVCReconstructionLib.inputs.ivus import ivus_from_mapping

        scenePlan = self._plan()
        return scenePlan.set_ivus(ivus_from_mapping(ivus, _("the IVUS measurements")) if ivus else None)

    def applyIvusTable(self) -> bool:
        """Re-size the plan from the IVUS values typed into the "IVUS measurements" table; True
        if they changed. ValueError for a value that is not a number or no vein has: the table
        then shows the plan's values again."""
        return self._plan().apply_ivus_table()

    def applyTableEdits(self) -> bool:
        """Apply the products, diameters and lengths typed into the "Stent plan" table; True if
        a stent changed. ValueError for a product or size the catalogue does not have: the
        table then shows the plan again."""
        return self._plan().apply_table_edits()

    def stentTableRows(self) -> list:
        """One IVCReconstructionLib.plan.StentRow per stent of the current plan (product, size and
        the catalogue's choices), for the stent editor."""
        return self._plan().stent_rows()

    def hasMeasurement(self) -> bool:
        """Whether measureVeins (or planStents) has measured veins that narrowestSection can use."""
        return self._case.measurements is not None

    def narrowestSection(self, branch: str) -> tuple:
        """(world RAS position, area mm2, CE diameter mm) of the smallest measured section of a
        vein ("ivc", "left_iliac", "right_iliac") of the last measurement, leaving out the confluence."""
        if not self.hasMeasurement():
            raise ValueError(_("Measure the veins first (Centerlines and diameters)."))
        profiles = self._case.measurements.profiles
        if branch not in profiles:
            raise ValueError(
                _("Unknown vein {name!r}: use one of {names}.").format(name=branch, names=", ".join(profiles))
            )
        return self._case.narrowest_section(branch)

    def exportReport(self, folder: str) -> str:
        """Write the current plan's files into folder as ivc-plan does (report.html, plan.json,
        profile CSVs, view3d.png, the segmentation and label map; saveScene saves the scene);
        returns the report's path."""
        from IVCReconstructionLib.scene.render import view_renderer

        self._plan()
        if not folder:
            raise ValueError(_("Choose a folder to write the report to."))
        # In the application view3d.png is the first 3D view as the user sees it.
        render = view_renderer(slicer.app)
        return str(self._case.write_report(slicer.app.applicationLogic(), folder, render=render))

    def canWriteDicom(self) -> bool:
        """Whether the Python package highdicom, which exportDicom needs, can be imported."""
        from IVCReconstructionLib.outputs.dicom_seg import highdicom_available

        return highdicom_available()

    def exportDicom(
        self, folder: str, sourceFiles: Optional[list] = None, importToDatabase: bool = True
    ) -> tuple:
        """Write the current plan as DICOM into folder/dicom, as ivc-plan does for a DICOM input:
        veins_seg.dcm (a DICOM Segmentation of the veins) and plan_sr.dcm (a TID 1500 structured
        report of the references, lesions, stents and warnings), new series in the venogram's
        study, for its patient and on its frame of reference.

        :param sourceFiles: the venogram's DICOM files; by default those of the volume planned on,
            from its DICOM.instanceUIDs attribute (set by the DICOM module) and slicer.dicomDatabase.
        :param importToDatabase: add the files to Slicer's DICOM database (when it is set up), so
            that the DICOM module can send them to PACS.
        :return: (paths written, whether they were added to the DICOM database).
        :raises ImportError: when highdicom is not installed (the widget offers to install it).
        :raises ValueError: without a plan, or when the venogram did not come from DICOM.
        """
        from IVCReconstructionLib.outputs.dicom_seg import require_highdicom

        require_highdicom()
        self._plan()
        if not folder:
            raise ValueError(_("Choose a folder to write the DICOM files to."))
        files = list(sourceFiles) if sourceFiles else self._dicomSourceFiles(self._case.planned_volume)
        written = self._case.write_dicom(folder, files)
        imported = importToDatabase and self._importIntoDicomDatabase(str(written[0].parent))
        return [str(path) for path in written], imported

    def saveScene(self, path: str) -> str:
        """Save the whole scene as a Slicer scene bundle (.mrb); returns the path written."""
        from IVCReconstructionLib.scene import save_mrb

        if not str(path).lower().endswith(".mrb"):
            raise ValueError(_("The scene file name must end with .mrb; got {path!r}.").format(path=path))
        return str(save_mrb(slicer.mrmlScene, path))

    def firstVeinSegmentation(self) -> Optional[vtkMRMLSegmentationNode]:
        """The first segmentation in the scene that has the IVC and both common iliac veins (by
        segment ID or terminology), or None."""
        from IVCReconstructionLib.scene import first_vein_segmentation

        return first_vein_segmentation(slicer.mrmlScene)

    def firstScalarVolume(self) -> Optional[vtkMRMLScalarVolumeNode]:
        """The first scalar volume in the scene that is not a label map (the volume to segment), or None."""
        from IVCReconstructionLib.scene.nodes import first_scalar_volume

        return first_scalar_volume(slicer.mrmlScene)

    # Helpers

    def _plan(self):
        if self.scenePlan is None:
            raise ValueError(_("There is no stent plan yet: click Plan stents first."))
        return self.scenePlan

    @staticmethod
    def _dicomSourceFiles(volumeNode) -> list:
        """The files of the DICOM series a volume was loaded from (Slicer's DICOM module sets
        DICOM.instanceUIDs on the volumes it loads; the DICOM database knows their files)."""
        if volumeNode is None:
            raise ValueError(
                _(
                    "Plan stents with the venogram selected (Segment veins: Volume): the DICOM files "
                    "are its series."
                )
            )
        uids = (volumeNode.GetAttribute("DICOM.instanceUIDs") or "").split()
        if not uids:
            raise ValueError(
                _(
                    "The venogram {name} was not loaded from DICOM (it has no DICOM.instanceUIDs attribute): "
                    "load its series with the DICOM module and plan again, or use Write report instead."
                ).format(name=volumeNode.GetName())
            )
        database = getattr(slicer, "dicomDatabase", None)
        if database is None or not database.isOpen:
            raise ValueError(
                _("Slicer's DICOM database is not open: open the DICOM module once, then try again.")
            )
        files = [database.fileForInstance(uid) for uid in uids]
        missing = [uids[n] for n, path in enumerate(files) if not path or not os.path.isfile(path)]
        if missing:
            raise ValueError(
                _(
                    "{count} of the {total} DICOM files of {name} are not in the DICOM database any more "
                    "(first: {uid}): import the series again with the DICOM module."
                ).format(count=len(missing), total=len(uids), name=volumeNode.GetName(), uid=missing[0])
            )
        return files

    @staticmethod
    def _importIntoDicomDatabase(folder: str) -> bool:
        """Add the files of folder to Slicer's DICOM database; False when there is none."""
        database = getattr(slicer, "dicomDatabase", None)
        if database is None or not database.isOpen:
            return False
        from DICOMLib import DICOMUtils

        DICOMUtils.importDicom(folder, database)
        return True

    def _checkVolume(self, volumeNode, message: str) -> None:
        if not isinstance(volumeNode, vtkMRMLScalarVolumeNode) or volumeNode.IsA("vtkMRMLLabelMapVolumeNode"):
            raise ValueError(message + " " + _("Got {value}.").format(value=self._describe(volumeNode)))
        if volumeNode.GetScene() is not slicer.mrmlScene:
            raise ValueError(_("The volume {name} is not in the scene.").format(name=volumeNode.GetName()))
        if volumeNode.GetImageData() is None:
            raise ValueError(
                _("The volume {name} has no voxels (no image data).").format(name=volumeNode.GetName())
            )

    def _checkSegmentation(self, segmentationNode, message: str) -> None:
        if not isinstance(segmentationNode, vtkMRMLSegmentationNode):
            raise ValueError(message + " " + _("Got {value}.").format(value=self._describe(segmentationNode)))
        if segmentationNode.GetScene() is not slicer.mrmlScene:
            raise ValueError(
                _("The segmentation {name} is not in the scene.").format(name=segmentationNode.GetName())
            )

    @staticmethod
    def _describe(value) -> str:
        from IVCReconstructionLib.scene.nodes import describe_node

        return describe_node(value)


#
# IVCReconstructionTest
#


class IVCReconstructionTest(ScriptedLoadableModuleTest):
    """Self-test run inside Slicer (Reload and Test, or ctest py_IVCReconstruction): the logic on
    the built-in phantom (no download), checked against its truth. The cases are in
    IVCReconstructionSelfTest/phantom_cases.py."""

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
        self.setUp()
        self.test_PlanUnenhancedPhantom()
        self.setUp()
        self.test_TransformedPhantom()
        self.setUp()
        self.test_ExportDicomPhantom()

    def test_HealthyPhantom(self):
        self._runCase("healthyPhantom")

    def test_MayThurnerPhantom(self):
        self._runCase("mayThurnerPhantom")

    def test_BadInputAddsNoNode(self):
        self._runCase("badInputAddsNoNode")

    def test_SegmentPhantomVeins(self):
        self._runCase("segmentPhantomVeins")

    def test_MeasurePhantomVeins(self):
        self._runCase("measurePhantomVeins")

    def test_SeedLabelsAreChecked(self):
        self._runCase("seedLabelsAreChecked")

    def test_PlanPhantomVeins(self):
        self._runCase("planPhantomVeins")

    def test_PlanUnenhancedPhantom(self):
        self._runCase("planUnenhancedPhantom")

    def test_TransformedPhantom(self):
        self._runCase("transformedPhantom")

    def test_ExportDicomPhantom(self):
        self._runCase("exportDicomPhantom")

    def _runCase(self, name: str) -> None:
        """Run one case of IVCReconstructionSelfTest/phantom_cases.py (its docstring says what)."""
        from IVCReconstructionSelfTest import phantom_cases

        getattr(phantom_cases, name)(self)

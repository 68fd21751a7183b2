"""What the module panel shows for the user's current choices: whether each button is enabled,
with a tooltip that says what it will do or what is missing, and the stent editor's choices.

The panel gathers its choices (the names of the nodes selected, whether the veins are measured
and a plan exists, the stent and size chosen in the editor, the output folder) into
:class:`PanelChoices`; :func:`button_states` gives one :class:`ButtonState` per button, which the
panel copies onto its widgets. Only what the choices show is checked here: whether the seeds are
labelled and placed well, or the segmentation has the three veins, is known only by reading them,
which the module's logic does when the button is clicked and reports in an error message.

:func:`stent_editor` gives the product, diameter and length lists of the stent editor for the
stent chosen, as the catalogue offers them for the product and diameter the user picked;
:func:`scenario_label` and :func:`template_label` the display texts of the phantom scenario and
stent construct lists.

The texts are shown to the user: they go through Slicer's translation (``slicer.i18n.tr``, which
finds its context from this file), and stay in English headless, where slicer-core has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..names import Template
from ..phantom.options import Scenario
from ..plan.session import PlanSession

try:  # Slicer's translation; slicer-core (headless) has none, the text stays as written
    from slicer.i18n import tr as _
except ImportError:

    def _(text: str) -> str:
        return text


def scenario_label(scenario: str) -> str:
    """Display text of a phantom scenario (a ``phantom.Scenario`` value)."""
    labels = {
        Scenario.HEALTHY: _("Healthy"),
        Scenario.MAY_THURNER: _("May-Thurner (left common iliac vein compressed)"),
        Scenario.IVC_OCCLUSION: _("IVC occlusion"),
        Scenario.BILATERAL: _("Narrowing of both common iliac veins"),
        Scenario.POST_THROMBOTIC: _("Post-thrombotic: IVC occlusion and both common iliac veins narrowed"),
    }
    return labels[Scenario(scenario)]


def template_label(template: str) -> str:
    """Display text of a stent construct the user may choose (a ``names.TEMPLATE_CHOICES`` value)."""
    labels = {
        Template.AUTO: _("Automatic (from the findings)"),
        Template.INVERTED_Y: _("Inverted-Y (IVC stent and two iliac limbs)"),
        Template.DOUBLE_BARREL: _("Double-barrel (two iliac stents side by side in the IVC)"),
        Template.KISSING: _("Kissing (two iliac stents meeting at the confluence)"),
        Template.UNILATERAL: _("Unilateral (one iliac side)"),
    }
    return labels[Template(template)]


@dataclass(frozen=True)
class PanelChoices:
    """What the buttons depend on: node names (None for none selected) and the state of the case.

    scenario: display name of the phantom scenario chosen.
    volume, segmentation_seeds: the venogram to segment and the point list it is segmented from.
    vein_segmentation, seed_points: the segmentation to measure and plan on, and its end points.
    measured: a measurement exists (the narrowest sections can be shown).
    planned: a plan exists (it can be edited and exported).
    stent_chosen, size_chosen: the stent editor shows a stent, and a length for it.
    export_folder: the folder the report and the scene are written to ("" or "." for none).
    """

    scenario: str
    volume: str | None = None
    segmentation_seeds: str | None = None
    vein_segmentation: str | None = None
    seed_points: str | None = None
    measured: bool = False
    planned: bool = False
    stent_chosen: bool = False
    size_chosen: bool = False
    export_folder: str = ""


@dataclass(frozen=True)
class ButtonState:
    enabled: bool
    tool_tip: str


@dataclass(frozen=True)
class ButtonStates:
    """One state per button of the panel, named after the button."""

    create_phantom: ButtonState
    segment_veins: ButtonState
    place_ivc: ButtonState
    place_left: ButtonState
    place_right: ButtonState
    place_via: ButtonState
    place_renal: ButtonState
    measure_veins: ButtonState
    narrowest_ivc: ButtonState
    narrowest_left: ButtonState
    narrowest_right: ButtonState
    plan_stents: ButtonState
    apply_stent: ButtonState
    remove_stent: ButtonState
    write_report: ButtonState
    export_dicom: ButtonState
    save_scene: ButtonState


def button_states(choices: PanelChoices) -> ButtonStates:
    """The enabled state and tooltip of every button for ``choices``."""
    folder = choices.export_folder
    has_folder = folder not in ("", ".")
    chosen = choices.planned and choices.stent_chosen
    writable = choices.planned and has_folder
    return ButtonStates(
        create_phantom=ButtonState(
            True,
            _(
                "Add a synthetic CT venogram ({scenario}) with its truth segmentation, centerlines and "
                "seed points to the scene."
            ).format(scenario=choices.scenario),
        ),
        segment_veins=_segment_veins(choices),
        **_place_seeds(choices),
        measure_veins=_measure_veins(choices),
        **_narrowest(choices.measured),
        plan_stents=ButtonState(
            choices.vein_segmentation is not None,
            _(
                "Suggest a stent construct for {segmentation}, sized from the catalogue; "
                "a plan made before is replaced."
            ).format(segmentation=choices.vein_segmentation)
            if choices.vein_segmentation is not None
            else _("Select a vein segmentation (Centerlines and diameters) to plan on."),
        ),
        apply_stent=ButtonState(
            chosen and choices.size_chosen,
            _("Give the chosen stent this product and size; the model, tables and warnings follow.")
            if chosen
            else _("Plan stents first, then choose a stent."),
        ),
        remove_stent=ButtonState(
            chosen,
            _("Remove the chosen stent from the plan.")
            if chosen
            else _("Plan stents first, then choose a stent."),
        ),
        write_report=ButtonState(
            writable,
            _(
                "Write report.html, plan.json, the diameter profiles and a 3D view of the plan to {folder}."
            ).format(folder=folder)
            if writable
            else _("Plan stents and choose an output folder first."),
        ),
        export_dicom=ButtonState(
            writable,
            _(
                "Write the plan as DICOM into {folder}/dicom: a segmentation of the veins and a structured "
                "report of the plan, in the venogram's study (it must have been loaded from DICOM), and add "
                "them to the DICOM database to send to PACS."
            ).format(folder=folder)
            if writable
            else _("Plan stents on a venogram loaded from DICOM and choose an output folder first."),
        ),
        save_scene=ButtonState(
            has_folder,
            _("Save the whole scene as plan.mrb in {folder}.").format(folder=folder)
            if has_folder
            else _("Choose an output folder first."),
        ),
    )


def _segment_veins(choices: PanelChoices) -> ButtonState:
    if choices.volume is None or choices.segmentation_seeds is None:
        return ButtonState(
            False,
            _(
                "Select the CT (or MR) venogram and a point list with points labelled IVC (cranial end of "
                "the IVC), Left and Right (distal left and right iliac or common femoral veins)."
            ),
        )
    return ButtonState(
        True,
        _(
            "Segment the IVC and both iliac veins of {volume} from the IVC, Left, Right and Via... "
            "points of {seeds}, and select the segmentation for Centerlines and diameters."
        ).format(volume=choices.volume, seeds=choices.segmentation_seeds),
    )


def _place_seeds(choices: PanelChoices) -> dict[str, ButtonState]:
    """The Place buttons, always enabled: without a point list, the first click makes one."""
    new_list = (
        "" if choices.segmentation_seeds is not None else " " + _("A new point list is created for it.")
    )
    states = {}
    for name, label, where in (
        ("place_ivc", "IVC", _("inside the cranial end of the infrarenal IVC")),
        ("place_left", "Left", _("inside the distal left iliac or common femoral vein")),
        ("place_right", "Right", _("inside the distal right iliac or common femoral vein")),
        ("place_via", "Via", _("where the path must pass, e.g. inside an occlusion")),
        ("place_renal", "Renal", _("where the lowest renal vein enters the IVC")),
    ):
        states[name] = ButtonState(
            True,
            _("Click, then click in a view to place the {label} point {where}.").format(
                label=label, where=where
            )
            + new_list,
        )
    return states


def _measure_veins(choices: PanelChoices) -> ButtonState:
    if choices.vein_segmentation is None:
        return ButtonState(
            False,
            _(
                "Select a segmentation with the IVC and both common iliac veins: segments with the IDs "
                "inferior_vena_cava, iliac_vena_left and iliac_vena_right (as TotalSegmentator names them), "
                "or with the terminology of these veins."
            ),
        )
    if choices.seed_points is not None:
        return ButtonState(
            True,
            _(
                "Add centerlines, diameter profile tables and a diameter chart of the IVC and both common "
                "iliac veins in {segmentation}. The centerlines run between the IVC, Left and Right points "
                "of {seeds}; ends without a point are found automatically."
            ).format(segmentation=choices.vein_segmentation, seeds=choices.seed_points),
        )
    return ButtonState(
        True,
        _(
            "Add centerlines, diameter profile tables and a diameter chart of the IVC and both common "
            "iliac veins in {segmentation}. The ends of the centerlines are found automatically; to "
            "choose them, select seed points labelled IVC, Left and Right."
        ).format(segmentation=choices.vein_segmentation),
    )


def _narrowest(measured: bool) -> dict[str, ButtonState]:
    """The buttons that centre the views on a vein's narrowest section, once it is measured."""
    states = {}
    for name, vein in (
        ("narrowest_ivc", _("IVC")),
        ("narrowest_left", _("left iliac vein")),
        ("narrowest_right", _("right iliac vein")),
    ):
        states[name] = ButtonState(
            measured,
            _("Centre the slice views on the narrowest measured section of the {vein}.").format(vein=vein)
            if measured
            else _("Measure the veins first (Measure veins)."),
        )
    return states


@dataclass(frozen=True)
class Choice:
    """One list of the stent editor: the items offered, as shown, and the one selected."""

    items: tuple[str, ...] = ()
    current: str = ""


@dataclass(frozen=True)
class StentEditor:
    """The stent editor's three lists, in the order each depends on the one before."""

    product: Choice = Choice()
    diameter: Choice = Choice()
    length: Choice = Choice()

    def choices(self) -> tuple[Choice, Choice, Choice]:
        return self.product, self.diameter, self.length


def _offered(items: tuple[str, ...], wanted: str) -> Choice:
    # A list shows the first item when the one wanted is not offered, as a combo box does.
    return Choice(items, wanted if wanted in items else (items[0] if items else ""))


def stent_editor(
    session: PlanSession | None, stent_id: str, product_id: str | None = None, diameter: str | None = None
) -> StentEditor:
    """The editor's lists for stent ``stent_id`` of the session's plan (empty without a plan or
    that stent): the catalogue's products, the diameters of ``product_id`` (None: the stent's
    own product) and the lengths at ``diameter`` (None: the stent's own, as shown, e.g. "14").
    The stent's own product and size are selected where offered."""
    row = next((r for r in session.stent_rows() if r.id == stent_id), None) if session else None
    if row is None:
        return StentEditor()
    products = _offered(row.products, row.product_id if product_id is None else product_id)
    product = session.context.catalog.products.get(products.current)
    if product is None:
        return StentEditor(products)
    wanted = f"{row.diameter_mm:g}" if diameter is None else diameter
    diameters = _offered(tuple(f"{d:g}" for d in product.diameters_mm), wanted)
    if not diameters.current:
        return StentEditor(products, diameters)
    lengths = tuple(f"{x:g}" for x in product.sizes.get(float(diameters.current), ()))
    return StentEditor(products, diameters, _offered(lengths, f"{row.length_mm:g}"))

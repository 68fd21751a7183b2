"""The one vocabulary of the project: branches, segment IDs, label values, seed labels, plan
terms, display names, node attributes and colours.

Everything that two modules (or the library and the Slicer module, or the library and the
output files) must agree on is defined here once and imported. Architecture section 4: branch
names and segment IDs are part of the public contract (TotalSegmentator's IDs, so its output is
used as is); segments are found by ID, then by terminology, never by display name.

This module imports nothing but the standard library, so that any part of the project (the
Slicer module included) can read it cheaply.
"""

from __future__ import annotations

from enum import StrEnum

# ---------------------------------------------------------------------------------------------
# Branches, segments and label values

BRANCHES = ("ivc", "left_iliac", "right_iliac")
ILIAC_BRANCHES = ("left_iliac", "right_iliac")
# Side of an iliac branch, as used in landmark and reference names ("left_civ", "right_eiv").
SIDES = {"left_iliac": "left", "right_iliac": "right"}

# Segment ID per branch (TotalSegmentator's IDs).
SEGMENT_IDS = {
    "ivc": "inferior_vena_cava",
    "left_iliac": "iliac_vena_left",
    "right_iliac": "iliac_vena_right",
}
# A stretch without lumen that the seeded segmentation crossed (a Via point in an occlusion).
OCCLUDED_SEGMENT_ID = "occluded_vein"

# Values of the vein label map written by the pipeline (veins_labels.nii.gz) and used between
# the stages; OCCLUDED_LABEL marks an occluded stretch inside a segmentation this module made.
VEIN_LABELS = {"ivc": 1, "left_iliac": 2, "right_iliac": 3}
OCCLUDED_LABEL = 4

# TotalSegmentator's "total" task numbers these veins 63, 67 and 68 in its label maps.
TOTALSEGMENTATOR_LABELS = {"ivc": 63, "left_iliac": 67, "right_iliac": 68}
# Some other labels of that task (version 2), named in messages about a label map that looks
# like TotalSegmentator's: the values users mistake for the veins.
TOTALSEGMENTATOR_NAMES = {
    1: "spleen",
    2: "kidney_right",
    3: "kidney_left",
    4: "gallbladder",
    5: "liver",
    52: "aorta",
    62: "superior_vena_cava",
    63: "inferior_vena_cava",
    64: "portal_vein_and_splenic_vein",
    65: "iliac_artery_left",
    66: "iliac_artery_right",
    67: "iliac_vena_left",
    68: "iliac_vena_right",
}
TOTALSEGMENTATOR_MAX_LABEL = 117  # the "total" task's highest label value

# Vertebral levels (spine/), caudal to cranial: the ones a stent end in the iliocaval
# veins is placed against under fluoroscopy. Discs are named "upper/lower", e.g. "L4/L5".
VERTEBRAE = ("S1", "L5", "L4", "L3", "L2", "L1", "T12")
# TotalSegmentator's "total" task (v2) numbers them so (class_map["total"] in
# wasserth/TotalSegmentator, totalsegmentator/map_to_binary.py): 25 sacrum, 26 vertebrae_S1,
# 27 vertebrae_L5 ... 32 vertebrae_T12 (33 T11 and up are not used); 75/76 femur_left/right.
TOTALSEGMENTATOR_VERTEBRAE = {"S1": 26, "L5": 27, "L4": 28, "L3": 29, "L2": 30, "L1": 31, "T12": 32}
TOTALSEGMENTATOR_SACRUM = 25
TOTALSEGMENTATOR_FEMURS = {"left": 75, "right": 76}

# SNOMED CT codes (architecture section 4): (code, meaning) of the anatomic type and the
# optional laterality modifier. IVC SCT 64131007; common iliac vein SCT 46027005.
SNOMED = {
    "ivc": (("64131007", "Inferior vena cava"), None),
    "left_iliac": (("46027005", "Common iliac vein"), ("7771000", "Left")),
    "right_iliac": (("46027005", "Common iliac vein"), ("24028007", "Right")),
}
# The DICOM outputs (outputs/dicom_seg.py, dicom_sr.py): the SEG's segment category of the
# veins, the coding of an occluded stretch (a morphologically abnormal structure, an occlusion
# of a vein), and the anatomy of each reference segment (names in REFERENCE_SEGMENTS).
SNOMED_ANATOMICAL_STRUCTURE = ("91723000", "Anatomical Structure")
SNOMED_MORPHOLOGICALLY_ABNORMAL = ("49755003", "Morphologically Abnormal Structure")
SNOMED_OCCLUSION = ("26036001", "Occlusion")
SNOMED_STENOSIS = ("415582006", "Stenosis")
SNOMED_VEIN = ("29092000", "Vein")
SNOMED_VEIN_SEGMENTS = {
    "ivc": ("64131007", "Inferior vena cava"),
    "civ": ("46027005", "Common iliac vein"),
    "eiv": ("63507001", "External iliac vein"),
    "cfv": ("397363009", "Common femoral vein"),
}
SNOMED_LATERALITY = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}

# The segments with a reference diameter (plan/findings.py references_mm, IVUS inputs): the IVC
# and, per side, the common and external iliac and common femoral veins ("left_civ", ...). The
# CT finds no CFV reference (the EIV's is used there); IVUS may give one.
REFERENCE_SEGMENTS = ("ivc", *(f"{side}_{s}" for side in ("left", "right") for s in ("civ", "eiv", "cfv")))
CT_REFERENCE_SEGMENTS = tuple(s for s in REFERENCE_SEGMENTS if not s.endswith("_cfv"))


class ReferenceSource(StrEnum):
    """Where a reference diameter or a lesion's minimum area came from (plan.json)."""

    CT = "ct"  # the venogram (CT or MR) measured here
    IVUS = "ivus"  # intravascular ultrasound, given as input (inputs/ivus.py)


# ---------------------------------------------------------------------------------------------
# Display names (for people: node names, legends, reports; code never looks nodes up by them)

# Titles: segment names, report headings.
BRANCH_TITLES = {
    "ivc": "Inferior vena cava",
    "left_iliac": "Left iliac vein",
    "right_iliac": "Right iliac vein",
}
# Short labels: node names ("IVC centerline") and plot legends.
BRANCH_LABELS = {"ivc": "IVC", "left_iliac": "Left iliac", "right_iliac": "Right iliac"}
# Inside a sentence ("the left iliac vein has no lumen over 40 mm").
BRANCH_IN_TEXT = {"ivc": "IVC", "left_iliac": "left iliac vein", "right_iliac": "right iliac vein"}
OCCLUDED_SEGMENT_NAME = "Occluded vein (no lumen)"

# ---------------------------------------------------------------------------------------------
# Seed points (architecture section 5): control-point labels, matched case-insensitively


class SeedLabel(StrEnum):
    """What a labelled seed point marks."""

    IVC = "IVC"  # cranial end of the IVC to analyse
    LEFT = "Left"  # caudal end of the left iliac vein (external iliac or common femoral)
    RIGHT = "Right"
    RENAL = "Renal"  # the lowest renal vein's inflow into the IVC
    INGUINAL_LEFT = "InguinalLeft"  # the inguinal ligament's crossing of each iliac vein
    INGUINAL_RIGHT = "InguinalRight"


# A point the path must pass (e.g. inside an occlusion): any label starting with this, several
# allowed. "ViaIVC...", "ViaLeft...", "ViaRight..." name the leg it is on.
SEED_VIA_PREFIX = "Via"
END_SEEDS = (SeedLabel.IVC, SeedLabel.LEFT, SeedLabel.RIGHT)
LANDMARK_SEEDS = (SeedLabel.RENAL, SeedLabel.INGUINAL_LEFT, SeedLabel.INGUINAL_RIGHT)
END_SEED_OF_BRANCH = {"ivc": SeedLabel.IVC, "left_iliac": SeedLabel.LEFT, "right_iliac": SeedLabel.RIGHT}

# ---------------------------------------------------------------------------------------------
# Plan vocabulary (plan.json values)


class Template(StrEnum):
    """A stent construct (docs/planning.md); AUTO lets the planner choose from the findings."""

    AUTO = "auto"
    INVERTED_Y = "inverted-y"
    DOUBLE_BARREL = "double-barrel"
    KISSING = "kissing"
    UNILATERAL = "unilateral"
    NONE = "none"  # the plan has no stent (nothing to treat)


# The templates a user may ask for (NONE is an outcome, not a choice).
TEMPLATE_CHOICES = tuple(t for t in Template if t is not Template.NONE)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class StentRole(StrEnum):
    """Where a stent sits in its construct."""

    IVC = "ivc"
    LEFT_LIMB = "left_limb"  # an inverted-Y limb, reaching into the IVC stent
    RIGHT_LIMB = "right_limb"
    LEFT_ILIAC = "left_iliac"  # an iliac stent of the other templates
    RIGHT_ILIAC = "right_iliac"

    @property
    def label(self) -> str:
        """As in a stent's name: "S2 left limb Zilver Vena 16 x 100 mm"."""
        return "IVC" if self is StentRole.IVC else self.value.replace("_", " ")


class Modality(StrEnum):
    """What the planner's LOW_CONFIDENCE_MODALITY check needs to know of the input."""

    CT = "ct"
    NONCONTRAST_CT = "noncontrast-ct"
    MR = "mr"


class LevelSource(StrEnum):
    """How the vertebral levels were found (the plan and report say it)."""

    LABELS = "TotalSegmentator vertebra labels"
    CT = "CT bone, counted up from the sacrum (an estimate)"


class VeinSource(StrEnum):
    """How the veins that were measured were obtained (the report says it)."""

    SEEDS = "seeded segmentation"
    SEGMENTATION = "a segmentation given"


# Column names of the "Stent plan" and "Plan warnings" tables (units in the names).
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
    "Proximal level",
    "Distal level",
    "Deployment step",
)
# The plan-table columns a user may type into (product by name or id, sizes in mm).
EDITABLE_PLAN_COLUMNS = ("Product", "Diameter (mm)", "Length (mm)")
WARNING_TABLE_COLUMNS = ("Code", "Severity", "Stent", "Message")
# The "IVUS measurements" table (scene/ivus_nodes.py): a row per reference segment and lesion;
# the user types into "IVUS" (empty: no IVUS there).
IVUS_TABLE_COLUMNS = ("Item", "Measurement", "CT", "IVUS")

# ---------------------------------------------------------------------------------------------
# Node attributes: how code finds the nodes it made (display names may be renamed in Slicer)

BRANCH_ATTRIBUTE = "IVCReconstruction.Branch"  # curves, profile tables and plot series
STENT_ID_ATTRIBUTE = "IVCReconstruction.StentId"  # stent models
STENT_ROLE_ATTRIBUTE = "IVCReconstruction.Role"
PLAN_TABLE_ATTRIBUTE = "IVCReconstruction.PlanTable"  # "stents" or "warnings"
HANDLES_ATTRIBUTE = "IVCReconstruction.StentEnds"  # the stent-end point list
# On a segmentation node this module made: how its veins were obtained and from which seeds
# (e.g. "seeded segmentation: IVC, Left, Right, Via"), so a report written later can say so.
VEIN_SOURCE_ATTRIBUTE = "IVCReconstruction.VeinSource"

# ---------------------------------------------------------------------------------------------
# Colours (RGB 0..1)

# Vein segments: venous blue shades, so left and right can be told apart.
SEGMENT_COLORS = {
    "ivc": (0.0, 0.35, 0.85),
    "left_iliac": (0.30, 0.55, 1.0),
    "right_iliac": (0.0, 0.65, 0.75),
}
OCCLUDED_COLOR = (0.55, 0.35, 0.65)
# The vein surface model in the 3D view (see-through, so the stents inside show).
VEIN_SURFACE_COLOR = (0.35, 0.55, 0.95)
# Colours of the phantom's other truth segments, by segment ID.
TRUTH_COLORS = {
    "other_veins": (0.55, 0.70, 1.0),
    "arteries": (0.85, 0.15, 0.15),
    "kidneys": (0.70, 0.45, 0.35),
    "bowel": (0.90, 0.75, 0.60),
    "bone": (0.95, 0.92, 0.80),
    OCCLUDED_SEGMENT_ID: OCCLUDED_COLOR,
}

# Plot series (colour-blind safe, Okabe-Ito).
SERIES_COLORS = (
    (0.0, 0.45, 0.70),
    (0.90, 0.60, 0.0),
    (0.0, 0.62, 0.45),
    (0.80, 0.40, 0.0),
    (0.80, 0.47, 0.65),
    (0.34, 0.71, 0.91),
)
# Branch colours of curves and plot lines: distinct hues. The segment colours are three shades
# of blue, too close to tell plot lines apart.
BRANCH_PLOT_COLORS = {
    "ivc": SERIES_COLORS[0],
    "left_iliac": SERIES_COLORS[1],
    "right_iliac": SERIES_COLORS[2],
}

# Stents: Okabe-Ito hues (colour-blind safe), warm and contrasting ones first because the veins
# are drawn in blues. The 3D view and the report both colour a stent by stent_color().
STENT_COLORS = (
    (0.90, 0.60, 0.0),  # orange
    (0.80, 0.47, 0.65),  # reddish purple
    (0.0, 0.62, 0.45),  # bluish green
    (0.95, 0.90, 0.25),  # yellow
    (0.84, 0.37, 0.0),  # vermillion
    (0.34, 0.71, 0.91),  # sky blue
    (0.0, 0.45, 0.70),  # blue
)
# The stent-end handles the user drags.
HANDLE_COLOR = (1.0, 1.0, 0.2)


def stent_color(stent_id: str) -> tuple[float, float, float]:
    """The colour of a stent, from its ID ("S3" -> the third colour), so that a stent keeps its
    colour through edits and looks the same in the 3D view and in the report."""
    digits = "".join(c for c in stent_id if c.isdigit())
    number = int(digits) if digits else sum(map(ord, stent_id))
    return STENT_COLORS[(number - 1) % len(STENT_COLORS)]


def hex_color(rgb: tuple[float, float, float]) -> str:
    """``(0.9, 0.6, 0.0)`` -> ``"#e69900"`` (for HTML and SVG)."""
    return "#" + "".join(f"{round(255 * max(0.0, min(1.0, c))):02x}" for c in rgb)

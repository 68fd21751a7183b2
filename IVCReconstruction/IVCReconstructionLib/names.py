"""Names shared by every stage: branch names, segment IDs, label values and seed labels.

Architecture section 4: branch names and segment IDs are part of the public contract
(TotalSegmentator's IDs, so its output is used as is). Find segments by ID, then by
terminology, never by display name.
"""

BRANCHES = ("ivc", "left_iliac", "right_iliac")

# Segment ID per branch (TotalSegmentator's IDs).
SEGMENT_IDS = {
    "ivc": "inferior_vena_cava",
    "left_iliac": "iliac_vena_left",
    "right_iliac": "iliac_vena_right",
}

# Values of the vein label map written by the pipeline (veins_labels.nii.gz).
VEIN_LABELS = {"ivc": 1, "left_iliac": 2, "right_iliac": 3}

# Segment display colours (RGB 0..1): venous blue shades, so left and right can be told apart.
SEGMENT_COLORS = {
    "ivc": (0.0, 0.35, 0.85),
    "left_iliac": (0.30, 0.55, 1.0),
    "right_iliac": (0.0, 0.65, 0.75),
}

# SNOMED CT codes (architecture section 4): (code, meaning) of the anatomic type and the
# optional laterality modifier. IVC SCT 64131007; common iliac vein SCT 46027005.
SNOMED = {
    "ivc": (("64131007", "Inferior vena cava"), None),
    "left_iliac": (("46027005", "Common iliac vein"), ("7771000", "Left")),
    "right_iliac": (("46027005", "Common iliac vein"), ("24028007", "Right")),
}

# Seed labels (architecture section 5), matched case-insensitively.
SEED_IVC = "IVC"
SEED_LEFT = "Left"
SEED_RIGHT = "Right"
SEED_VIA_PREFIX = "Via"
SEED_RENAL = "Renal"

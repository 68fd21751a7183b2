"""Vertebral levels and femoral heads: the landmarks a stent end is placed against under
fluoroscopy, from TotalSegmentator's vertebra labels or, as an estimate, the CT's own bone.

Everything is in RAS millimetres; images are indexed ``[k, j, i]`` with a 4x4 IJK-to-RAS matrix,
in any storage order (the work is done on a grid aligned with R, A and S).
"""

from .femoral_heads import INGUINAL_SURROGATE, femoral_heads
from .from_ct import levels_from_ct
from .from_labels import levels_from_labels
from .levels import SpineLevels, Vertebra, level_at

__all__ = [
    "INGUINAL_SURROGATE",
    "SpineLevels",
    "Vertebra",
    "femoral_heads",
    "level_at",
    "levels_from_ct",
    "levels_from_labels",
]

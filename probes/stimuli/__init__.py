"""Procedural stimuli with ground truth; deterministic given a seed."""
from .base import Rendered, StimulusSet
from .colours import ACHROMATIC, CHROMATIC, COLOUR_TERMS, TERMS
from .patches import colour_patches
from .shapes import SHAPE_CLASSES

PROBE_SETS = {
    "colour_patches": colour_patches,
}

__all__ = ["StimulusSet", "Rendered", "colour_patches", "PROBE_SETS", "COLOUR_TERMS", "TERMS", "ACHROMATIC",
           "CHROMATIC", "SHAPE_CLASSES"]

"""Procedural stimuli with ground truth; deterministic given a seed."""
from .base import Rendered, StimulusSet
from .colours import ACHROMATIC, CHROMATIC, COLOUR_TERMS, TERMS
from .context import context_scenes
from .cueconflict import cue_conflict
from .patches import colour_patches
from .scenes import multi_object_scenes, single_objects
from .shapes import SHAPE_CLASSES
from .stroop import stroop_grid
from .textures import TEXTURE_CLASSES

PROBE_SETS = {
    "colour_patches": colour_patches,
    "stroop": stroop_grid,
    "multi_object": multi_object_scenes,
    "cue_conflict": cue_conflict,
    "context": context_scenes,
}

__all__ = ["StimulusSet", "Rendered", "PROBE_SETS", "colour_patches", "stroop_grid", "multi_object_scenes",
           "single_objects", "cue_conflict", "context_scenes", "COLOUR_TERMS", "TERMS", "ACHROMATIC", "CHROMATIC",
           "SHAPE_CLASSES", "TEXTURE_CLASSES"]

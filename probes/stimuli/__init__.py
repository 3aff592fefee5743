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
           "SHAPE_CLASSES", "TEXTURE_CLASSES", "census_set"]


def census_set(size: int = 224, seed: int = 0, per_colour: int = 20, n: int | None = None) -> StimulusSet:
    """The neuron census's stimuli: colour patches (per_colour of each term), the full Stroop grid with controls,
    and extra neutral-ink colour words (per_colour of each word in total) for the multimodal test."""
    from .base import concat

    if n is not None:
        per_colour = max(4, n // (3 * len(TERMS)))
    extra = max(0, per_colour * len(TERMS) - 4 * len(TERMS))
    parts = [colour_patches(n=per_colour * len(TERMS), seed=seed, size=size), stroop_grid(seed=seed, size=size)]
    if extra:
        words = stroop_grid(n=extra, seed=seed + 1, size=size, conditions=("word_only",))
        words.name = "neutral_words"
        parts.append(words)
    return concat("census", parts)


PROBE_SETS["census"] = census_set

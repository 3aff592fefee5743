"""Procedural stimuli with ground truth; deterministic given a seed."""
from typing import Any, Mapping

from ..errors import ProbeError
from .base import BUILDERS, SUBSET, Rendered, StimulusSet, recorded
from .colours import ACHROMATIC, CHROMATIC, COLOUR_TERMS, TERMS
from .context import context_scenes
from .cueconflict import cue_conflict
from .patches import colour_patches
from .scenes import multi_object_scenes, single_objects
from .shapes import SHAPE_CLASSES
from .stroop import stroop_grid
from .textcontrast import FONT_SIZES, text_contrast
from .textures import TEXTURE_CLASSES

PROBE_SETS = {
    "colour_patches": colour_patches,
    "stroop": stroop_grid,
    "multi_object": multi_object_scenes,
    "cue_conflict": cue_conflict,
    "context": context_scenes,
    "text_contrast": text_contrast,
}

__all__ = ["StimulusSet", "Rendered", "PROBE_SETS", "colour_patches", "stroop_grid", "multi_object_scenes",
           "single_objects", "cue_conflict", "context_scenes", "COLOUR_TERMS", "TERMS", "ACHROMATIC", "CHROMATIC",
           "SHAPE_CLASSES", "TEXTURE_CLASSES", "text_contrast", "census_set", "rebuild", "BUILDERS"]


@recorded
def census_set(size: int = 224, seed: int = 0, per_colour: int = 20, n: int | None = None,
               font_sizes: tuple[float, ...] = FONT_SIZES) -> StimulusSet:
    """The neuron census's stimuli: colour patches (per_colour of each term) and the matched text contrast (every
    colour word, its anagram and its scrambled strokes, in every ink incl. neutral, at `font_sizes`); `n` sets
    per_colour to about n / 33 (at least 4): the text contrast is always complete, since its cells are the design."""
    from .base import concat

    if n is not None:
        per_colour = max(4, n // (3 * len(TERMS)))
    return concat("census", [colour_patches(n=per_colour * len(TERMS), seed=seed, size=size),
                             text_contrast(seed=seed, size=size, font_sizes=font_sizes)])


PROBE_SETS["census"] = census_set


def _args(value: Any) -> Any:
    # JSON has no tuples: every list-valued builder argument is a tuple parameter
    return tuple(_args(v) for v in value) if isinstance(value, list) else value


def rebuild(recipe: Mapping[str, Any]) -> StimulusSet:
    """The stimulus set a recipe (`StimulusSet.recipe`, or a store's `stimulus_recipe`) describes, bit for bit."""
    if not isinstance(recipe, Mapping) or "builder" not in recipe:
        raise ProbeError(f"not a stimulus recipe (a dict with 'builder' and 'args'): {recipe!r}")
    builder = recipe["builder"]
    if builder == SUBSET:
        parent = rebuild(recipe.get("of") or {})
        rows = recipe.get("rows")
        if not isinstance(rows, list) or any(not isinstance(r, int) or not 0 <= r < len(parent) for r in rows):
            raise ProbeError(f"subset recipe rows must be indices into the {len(parent)} stimuli of its parent")
        return parent.subset(rows)
    if builder not in BUILDERS:
        raise ProbeError(f"unknown stimulus builder {builder!r} in recipe; known: {', '.join(sorted(BUILDERS))}")
    args = recipe.get("args", {})
    if not isinstance(args, Mapping):
        raise ProbeError(f"recipe args of {builder} must be a dict, got {type(args).__name__}")
    try:
        import inspect

        inspect.signature(BUILDERS[builder]).bind(**args)
    except TypeError as exc:
        raise ProbeError(f"recipe args do not fit {builder}: {exc}") from None
    return BUILDERS[builder](**{k: _args(v) for k, v in args.items()})

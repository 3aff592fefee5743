"""The stimulus-set container every generator returns and every consumer (probes, capture) reads."""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
from PIL import Image


@dataclass
class Rendered:
    """One rendered stimulus: the image and, for scenes with objects, masks[k, h, w] (bool)."""

    image: Image.Image
    masks: Optional[np.ndarray] = None


@dataclass
class StimulusSet:
    """Stimuli with ground truth, rendered lazily so a 10^6-item set costs only its label columns in memory.

    `columns` hold per-stimulus labels (colour, word, ink, sizes, ...); `captions` the text paired with each
    image (or None); `render(i)` draws stimulus i deterministically; `max_objects` > 0 when masks exist.
    """

    name: str
    ids: list[str]
    columns: dict[str, Sequence[Any]]
    render: Callable[[int], Rendered]
    captions: Optional[list[str]] = None
    max_objects: int = 0
    image_size: int = 224
    params: dict[str, Any] = field(default_factory=dict)
    recipe: Optional[dict[str, Any]] = None  # how to rebuild it exactly: {"builder", "args"}; see `rebuild`

    def __len__(self) -> int:
        return len(self.ids)

    def image(self, i: int) -> Image.Image:
        """Image of stimulus i."""
        return self.render(i).image

    def images(self, rows: Sequence[int] | range) -> list[Image.Image]:
        """Images of several stimuli."""
        return [self.render(i).image for i in rows]

    def column(self, name: str) -> np.ndarray:
        """One label column as an array."""
        return np.asarray(self.columns[name])

    def subset(self, rows: Sequence[int]) -> "StimulusSet":
        """The stimuli at `rows`, in that order."""
        rows = [int(i) for i in rows]
        recipe = {"builder": SUBSET, "of": self.recipe, "rows": rows} if self.recipe is not None else None
        return StimulusSet(
            self.name, [self.ids[i] for i in rows], {k: [v[i] for i in rows] for k, v in self.columns.items()},
            lambda j: self.render(rows[j]), [self.captions[i] for i in rows] if self.captions else None,
            self.max_objects, self.image_size, dict(self.params), recipe)


SUBSET = "subset"
BUILDERS: dict[str, Callable[..., StimulusSet]] = {}


def _jsonable(value: Any) -> Any:
    """A builder argument as JSON (tuples become lists, numpy scalars Python numbers)."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"builder argument {value!r} of type {type(value).__name__} cannot be recorded in a recipe")


def recorded(fn: Callable[..., StimulusSet]) -> Callable[..., StimulusSet]:
    """Register a stimulus builder; the set it returns carries a complete recipe (every argument, defaults
    included) from which `probes.stimuli.rebuild` makes it again bit for bit."""
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def build(*args: Any, **kwargs: Any) -> StimulusSet:
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        out = fn(*bound.args, **bound.kwargs)
        out.recipe = {"builder": fn.__name__, "args": {k: _jsonable(v) for k, v in bound.arguments.items()}}
        return out

    BUILDERS[fn.__name__] = build
    return build


def concat(name: str, sets: Sequence[StimulusSet]) -> StimulusSet:
    """One stimulus set made of several (same image size); a `set` column says where each stimulus came from,
    label columns missing from a part are filled with '' (or -1 for numbers)."""
    if not sets:
        raise ValueError("concat needs at least one stimulus set")
    size = sets[0].image_size
    if any(s.image_size != size for s in sets):
        raise ValueError("stimulus sets to concatenate must share one image size")
    names = list(dict.fromkeys(k for s in sets for k in s.columns))
    offsets = np.cumsum([0] + [len(s) for s in sets])
    cols: dict[str, list] = {"set": [s.name for s in sets for _ in range(len(s))]}
    for k in names:
        col: list = []
        for s in sets:
            if k in s.columns:
                col.extend(list(s.columns[k]))
            else:
                numeric = any(np.asarray(o.columns[k]).dtype.kind in "biuf" for o in sets if k in o.columns)
                col.extend([-1 if numeric else ""] * len(s))
        cols[k] = col
    max_obj = max(s.max_objects for s in sets)

    def render(i: int) -> Rendered:
        j = int(np.searchsorted(offsets, i, side="right") - 1)
        r = sets[j].render(i - int(offsets[j]))
        if max_obj and r.masks is None:
            r = Rendered(r.image, np.zeros((0, size, size), bool))
        return r

    caps = None
    if all(s.captions is not None for s in sets):
        caps = [c for s in sets for c in s.captions]
    return StimulusSet(name, [i for s in sets for i in s.ids], cols, render, caps, max_obj, size,
                       {s.name: s.params for s in sets})

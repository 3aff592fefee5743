"""The stimulus-set container every generator returns and every consumer (probes, capture) reads."""
from __future__ import annotations

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
        rows = list(rows)
        return StimulusSet(
            self.name, [self.ids[i] for i in rows], {k: [v[i] for i in rows] for k, v in self.columns.items()},
            lambda j: self.render(rows[j]), [self.captions[i] for i in rows] if self.captions else None,
            self.max_objects, self.image_size, dict(self.params))


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

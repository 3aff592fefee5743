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

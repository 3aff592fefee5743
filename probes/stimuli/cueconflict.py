"""Cue-conflict images: the silhouette of class A filled with the texture of class B, plus controls."""
from __future__ import annotations


import numpy as np
from PIL import Image

from ..errors import ProbeError
from .base import Rendered, StimulusSet, recorded
from .shapes import draw_shape
from .textures import TEXTURE_CLASSES, texture_image

KINDS = ("conflict", "congruent", "shape_only", "texture_only")


@recorded
def cue_conflict(n: int | None = None, seed: int = 0, size: int = 224, classes: tuple[str, ...] = TEXTURE_CLASSES,
                 kinds: tuple[str, ...] = ("conflict",)) -> StimulusSet:
    """Every (shape, texture) pair of `kinds`; `n` cycles the grid with new positions/rotations.

    conflict: shape A, texture B != A. congruent: A with its own texture. shape_only: A as a dark silhouette on
    white. texture_only: the whole image is texture B. Columns: shape, texture, kind.
    """
    bad = set(kinds) - set(KINDS)
    if bad:
        raise ProbeError(f"unknown cue-conflict kinds {sorted(bad)}; use {', '.join(KINDS)}")
    if len(classes) < 2 or set(classes) - set(TEXTURE_CLASSES):
        raise ProbeError(f"classes must be >= 2 of {', '.join(TEXTURE_CLASSES)}")
    cells = []
    for kind in kinds:
        if kind == "conflict":
            cells += [(a, b, kind) for a in classes for b in classes if a != b]
        elif kind == "congruent":
            cells += [(a, a, kind) for a in classes]
        elif kind == "shape_only":
            cells += [(a, "", kind) for a in classes]
        else:
            cells += [("", b, kind) for b in classes]
    total = n or len(cells)
    if total <= 0:
        raise ProbeError(f"n must be positive, got {n}")
    rng = np.random.default_rng(seed)
    pick = [cells[i % len(cells)] for i in range(total)]
    geo = np.column_stack([rng.uniform(0.45, 0.55, total) * size, rng.uniform(0.45, 0.55, total) * size,
                           rng.uniform(0.32, 0.4, total) * size, rng.uniform(-0.3, 0.3, total), rng.uniform(0, 2, total)])

    def render(i: int) -> Rendered:
        a, b, kind = pick[i]
        cx, cy, r, rot, phase = geo[i]
        if kind == "texture_only":
            return Rendered(texture_image(b, size, phase, seed + i))
        img = Image.new("RGB", (size, size), (245, 245, 245))
        fill = (40, 40, 40) if kind == "shape_only" else texture_image(b, size, phase, seed + i)
        mask = draw_shape(img, a, cx, cy, r, rot, fill)
        return Rendered(img, mask[None])

    cols = {"shape": [p[0] for p in pick], "texture": [p[1] for p in pick], "kind": [p[2] for p in pick]}
    caps = [f"a {p[0] or p[1]}" for p in pick]
    return StimulusSet("cue_conflict", [f"cue-{seed}-{i:06d}" for i in range(total)], cols, render, caps,
                       max_objects=0, image_size=size, params={"n": total, "seed": seed, "kinds": list(kinds)})


def texture_swatch(cls: str, size: int = 224) -> Image.Image:
    """The texture of class `cls` alone (for figures)."""
    return texture_image(cls, size)



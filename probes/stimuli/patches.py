"""Colour patches: a shape of one basic colour on a background of another (figure != background)."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..errors import ProbeError
from .base import Rendered, StimulusSet, recorded
from .colours import TERMS, check_term, jitter_colour
from .shapes import SHAPE_CLASSES, draw_shape


@recorded
def colour_patches(n: int = 220, seed: int = 0, size: int = 224, terms: tuple[str, ...] = TERMS,
                   jitter: float = 12.0, shapes: tuple[str, ...] = SHAPE_CLASSES[:8]) -> StimulusSet:
    """`n` patches cycling through every (figure colour) in `terms`, background drawn from the other terms.

    Columns: colour (figure), background, shape, radius, achromatic (figure is white/gray/black).
    Captions name the figure colour and shape ("a red star").
    """
    if n <= 0:
        raise ProbeError(f"n must be positive, got {n}")
    for t in terms:
        check_term(t)
    rng = np.random.default_rng(seed)
    figure = [terms[i % len(terms)] for i in range(n)]
    background = [str(rng.choice([t for t in TERMS if t != f])) for f in figure]
    shape = [str(rng.choice(shapes)) for _ in range(n)]
    radius = rng.uniform(0.22, 0.4, n) * size
    cx = rng.uniform(0.42, 0.58, n) * size
    cy = rng.uniform(0.42, 0.58, n) * size
    rot = rng.uniform(0, 2 * math.pi, n)
    seeds = rng.integers(0, 2**31, n)

    def render(i: int) -> Rendered:
        r = np.random.default_rng(int(seeds[i]))
        img = Image.new("RGB", (size, size), jitter_colour(background[i], r, jitter))
        mask = draw_shape(img, shape[i], cx[i], cy[i], radius[i], rot[i], jitter_colour(figure[i], r, jitter))
        return Rendered(img, mask[None])

    cols = {"colour": figure, "background": background, "shape": shape, "radius": radius.astype(np.float32),
            "achromatic": np.array([f in ("white", "gray", "black") for f in figure])}
    ids = [f"patch-{seed}-{i:06d}" for i in range(n)]
    caps = [f"a {f} {s}" for f, s in zip(figure, shape)]
    return StimulusSet("colour_patches", ids, cols, render, caps, max_objects=1, image_size=size,
                       params={"n": n, "seed": seed, "jitter": jitter})

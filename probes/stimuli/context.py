"""Context scenes after seed 002: a foreground animal (horse / camel) on a background (grass / desert), with a bias
level (share of minority pairs removed) and descriptive vs undescriptive captions."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..errors import ProbeError
from .base import Rendered, StimulusSet, recorded

FOREGROUNDS = ("horse", "camel")
CONTEXTS = ("grass", "desert")
USUAL = {"horse": "grass", "camel": "desert"}

# Side-view silhouettes in unit coordinates (x right, y down): a quadruped; the camel adds a hump and a long neck.
_HORSE = [(-0.8, -0.1), (0.35, -0.1), (0.55, -0.55), (0.8, -0.5), (0.62, -0.3), (0.5, 0.05), (0.5, 0.55), (0.4, 0.55),
          (0.38, 0.15), (-0.55, 0.15), (-0.57, 0.55), (-0.67, 0.55), (-0.7, 0.12), (-0.95, 0.25), (-0.85, -0.05)]
_CAMEL = [(-0.8, -0.1), (-0.5, -0.1), (-0.3, -0.45), (-0.1, -0.1), (0.3, -0.1), (0.45, -0.75), (0.8, -0.7), (0.8, -0.6),
          (0.56, -0.58), (0.48, 0.05), (0.48, 0.6), (0.38, 0.6), (0.36, 0.15), (-0.55, 0.15), (-0.57, 0.6), (-0.67, 0.6),
          (-0.7, 0.12), (-0.95, 0.25), (-0.85, -0.05)]
_SILHOUETTE = {"horse": _HORSE, "camel": _CAMEL}


def _background(ctx: str, size: int, rng: np.random.Generator) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size].astype(float) / size
    if ctx == "grass":
        base = np.array([60, 150, 55]) + (np.sin(x * 90 + rng.uniform(0, 6)) > 0.6)[..., None] * np.array([-25, -30, -20])
        sky = y < 0.3
        arr = np.where(sky[..., None], np.array([150, 190, 235]), base)
    else:
        dunes = 0.08 * np.sin(x * 9 + rng.uniform(0, 6))
        base = np.array([225, 190, 120]) + ((y + dunes) % 0.12 < 0.02)[..., None] * np.array([-30, -30, -25])
        arr = np.where((y < 0.3 + dunes)[..., None], np.array([170, 205, 240]), base)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


@recorded
def context_scenes(n: int = 200, seed: int = 0, size: int = 224, bias: float = 0.0,
                   descriptive: bool = True) -> StimulusSet:
    """Foreground x context pairs; a share `bias` of the minority pairs (horse-desert, camel-grass) is removed.

    Columns: foreground, context, usual (bool: the majority pairing). Captions "a horse on grass" (descriptive) or
    "a horse" (undescriptive).
    """
    if not 0.0 <= bias <= 1.0:
        raise ProbeError(f"bias must lie in [0, 1], got {bias}")
    if n <= 0:
        raise ProbeError(f"n must be positive, got {n}")
    rng = np.random.default_rng(seed)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        fg = str(rng.choice(FOREGROUNDS))
        ctx = str(rng.choice(CONTEXTS))
        if ctx != USUAL[fg] and rng.random() < bias:
            continue
        pairs.append((fg, ctx))
    # Both animals share one colour and are small: only the hump and neck tell them apart, so the background is a
    # competing cue (seed 002's shortcut) rather than a redundant one.
    geo = np.column_stack([rng.uniform(0.35, 0.65, n), rng.uniform(0.6, 0.75, n), rng.uniform(0.15, 0.21, n),
                           rng.choice([-1, 1], n), rng.integers(0, 2**31, n)])
    brown = {"horse": (150, 105, 60), "camel": (150, 105, 60)}

    def render(i: int) -> Rendered:
        fg, ctx = pairs[i]
        cx, cy, r, flip, s = geo[i]
        img = _background(ctx, size, np.random.default_rng(int(s)))
        poly = [(cx * size + flip * px * r * size, cy * size + py * r * size) for px, py in _SILHOUETTE[fg]]
        mask_img = Image.new("L", (size, size), 0)
        ImageDraw.Draw(mask_img).polygon(poly, fill=255)
        img.paste(Image.new("RGB", (size, size), brown[fg]), (0, 0), mask_img)
        return Rendered(img, (np.asarray(mask_img) > 127)[None])

    cols = {"foreground": [p[0] for p in pairs], "context": [p[1] for p in pairs],
            "usual": np.array([USUAL[p[0]] == p[1] for p in pairs])}
    caps = [f"a {f} on {c}" if descriptive else f"a {f}" for f, c in pairs]
    return StimulusSet("context", [f"ctx-{seed}-{i:06d}" for i in range(n)], cols, render, caps, max_objects=1,
                       image_size=size, params={"n": n, "seed": seed, "bias": bias, "descriptive": descriptive})

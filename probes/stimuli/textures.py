"""Procedural textures, one per object class, for cue-conflict images (Geirhos-style shape vs texture)."""
from __future__ import annotations

import numpy as np
from PIL import Image

# class -> (pattern, colour a, colour b); every class has a texture no other class shares
TEXTURES: dict[str, tuple[str, tuple[int, int, int], tuple[int, int, int]]] = {
    "circle": ("stripes", (200, 30, 35), (245, 220, 35)),
    "square": ("dots", (30, 70, 200), (245, 245, 245)),
    "triangle": ("checker", (40, 150, 50), (15, 15, 15)),
    "star": ("waves", (120, 40, 150), (245, 150, 190)),
    "cross": ("zigzag", (240, 130, 20), (30, 70, 200)),
    "heart": ("grid", (120, 70, 30), (245, 220, 35)),
    "moon": ("rings", (15, 15, 15), (40, 150, 50)),
    "arrow": ("diagonal", (245, 150, 190), (30, 70, 200)),
    "diamond": ("noise", (128, 128, 128), (200, 30, 35)),
    "hexagon": ("bricks", (200, 30, 35), (245, 245, 245)),
}
TEXTURE_CLASSES = tuple(TEXTURES)


def texture_image(cls: str, size: int, phase: float = 0.0, seed: int = 0) -> Image.Image:
    """A size x size texture of class `cls` (pattern period scales with the image)."""
    pattern, a, b = TEXTURES[cls]
    y, x = np.mgrid[0:size, 0:size].astype(float) / size * 14 + phase
    if pattern == "stripes":
        m = np.sin(x * np.pi) > 0
    elif pattern == "dots":
        m = (np.sin(x * np.pi) * np.sin(y * np.pi)) > 0.5
    elif pattern == "checker":
        m = (np.floor(x) + np.floor(y)) % 2 == 0
    elif pattern == "waves":
        m = np.sin(y * np.pi + 1.5 * np.sin(x * 1.3)) > 0
    elif pattern == "zigzag":
        m = np.sin(y * np.pi + 2 * np.abs((x % 2) - 1) * np.pi) > 0
    elif pattern == "grid":
        m = ((x % 1) < 0.22) | ((y % 1) < 0.22)
    elif pattern == "rings":
        r = np.hypot(x - 7 - phase, y - 7 - phase)
        m = np.sin(r * np.pi * 1.2) > 0
    elif pattern == "diagonal":
        m = np.sin((x + y) * np.pi * 0.8) > 0
    elif pattern == "noise":
        rng = np.random.default_rng(seed)
        small = rng.random((max(2, size // 12), max(2, size // 12)))
        m = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((size, size), Image.NEAREST)) > 127
    else:  # bricks
        row = np.floor(y)
        m = ((y % 1) < 0.18) | (((x + 0.5 * (row % 2)) % 2) < 0.18)
    arr = np.where(m[..., None], np.array(a, np.uint8), np.array(b, np.uint8))
    return Image.fromarray(arr.astype(np.uint8), "RGB")

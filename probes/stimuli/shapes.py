"""2-D shape classes drawn as polygons: the SimCO-like object vocabulary of the probes and the organism.

Every shape is a polygon in unit coordinates (centred, radius <= 1), so drawing, masks and rotation are one
code path, and pixels depend only on Pillow's polygon rasteriser.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from ..errors import ProbeError


def _regular(n: int, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(math.cos(phase + 2 * math.pi * i / n), math.sin(phase + 2 * math.pi * i / n)) for i in range(n)]


def _star(points: int, inner: float) -> list[tuple[float, float]]:
    out = []
    for i in range(2 * points):
        r = 1.0 if i % 2 == 0 else inner
        a = -math.pi / 2 + math.pi * i / points
        out.append((r * math.cos(a), r * math.sin(a)))
    return out


def _curve(fn: Callable[[float], tuple[float, float]], n: int = 64) -> list[tuple[float, float]]:
    return [fn(2 * math.pi * i / n) for i in range(n)]


def _heart(t: float) -> tuple[float, float]:
    x = 16 * math.sin(t) ** 3
    y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
    return x / 17, -y / 17


def _moon() -> list[tuple[float, float]]:
    outer = [(math.cos(a), math.sin(a)) for a in np.linspace(math.pi / 2, 3 * math.pi / 2 + 0.0, 40)]
    inner = [(0.45 * math.cos(a) - 0.1, 0.95 * math.sin(a)) for a in np.linspace(3 * math.pi / 2, math.pi / 2, 40)]
    return outer + inner


SHAPES: dict[str, list[tuple[float, float]]] = {
    "circle": _curve(lambda t: (math.cos(t), math.sin(t))),
    "square": [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)],
    "triangle": _regular(3),
    "pentagon": _regular(5),
    "hexagon": _regular(6),
    "octagon": _regular(8, -math.pi / 8),
    "star": _star(5, 0.42),
    "cross": [(-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3), (0.3, 1), (-0.3, 1),
              (-0.3, 0.3), (-1, 0.3), (-1, -0.3), (-0.3, -0.3)],
    "heart": _curve(_heart),
    "diamond": [(0, -1), (0.6, 0), (0, 1), (-0.6, 0)],
    "moon": _moon(),
    "arrow": [(-1, -0.25), (0.2, -0.25), (0.2, -0.6), (1, 0), (0.2, 0.6), (0.2, 0.25), (-1, 0.25)],
    "ellipse": _curve(lambda t: (math.cos(t), 0.55 * math.sin(t))),
    "rectangle": [(-1, -0.5), (1, -0.5), (1, 0.5), (-1, 0.5)],
    "trapezoid": [(-0.5, -0.6), (0.5, -0.6), (1, 0.6), (-1, 0.6)],
    "parallelogram": [(-0.5, -0.6), (1, -0.6), (0.5, 0.6), (-1, 0.6)],
    "cloud": _curve(lambda t: ((0.8 + 0.2 * math.cos(6 * t)) * math.cos(t), (0.8 + 0.2 * math.cos(6 * t)) * 0.75 * math.sin(t))),
    "flower": _curve(lambda t: ((0.55 + 0.45 * abs(math.cos(2.5 * t))) * math.cos(t), (0.55 + 0.45 * abs(math.cos(2.5 * t))) * math.sin(t)), 120),
    "lightning": [(0.1, -1), (0.7, -1), (0.2, -0.15), (0.65, -0.15), (-0.4, 1), (-0.05, 0.1), (-0.5, 0.1)],
    "ring": _curve(lambda t: (math.cos(t), math.sin(t))),  # drawn with a hole, see draw_shape
}
SHAPE_CLASSES = tuple(SHAPES)


def shape_polygon(name: str, cx: float, cy: float, radius: float, rotation: float = 0.0) -> list[tuple[float, float]]:
    """Pixel polygon of shape `name` centred at (cx, cy) with the given radius and rotation (radians)."""
    if name not in SHAPES:
        raise ProbeError(f"unknown shape {name!r}; known: {', '.join(SHAPE_CLASSES)}")
    c, s = math.cos(rotation), math.sin(rotation)
    return [(cx + radius * (x * c - y * s), cy + radius * (x * s + y * c)) for x, y in SHAPES[name]]


def draw_shape(img: Image.Image, name: str, cx: float, cy: float, radius: float, rotation: float,
               fill: tuple[int, int, int] | Image.Image) -> np.ndarray:
    """Draw a shape filled with a colour or a texture image; return its mask [h, w] (bool)."""
    mask_img = Image.new("L", img.size, 0)
    d = ImageDraw.Draw(mask_img)
    d.polygon(shape_polygon(name, cx, cy, radius, rotation), fill=255)
    if name == "ring":
        d.polygon(shape_polygon("circle", cx, cy, radius * 0.55, rotation), fill=0)
    if isinstance(fill, Image.Image):
        img.paste(fill, (0, 0), mask_img)
    else:
        img.paste(Image.new("RGB", img.size, fill), (0, 0), mask_img)
    return np.asarray(mask_img) > 127

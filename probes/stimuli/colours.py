"""The 11 basic colour terms (Berlin & Kay) with sRGB prototypes and controlled jitter.

Prototypes are chosen near the centroids of the basic-term regions in common naming studies; jitter is a
bounded perturbation in RGB that keeps each sample closer to its own prototype than to any other (checked
by `jitter_colour`), so the ground-truth label stays unambiguous.
"""
from __future__ import annotations

import numpy as np

from ..errors import ProbeError

COLOUR_TERMS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 35),
    "orange": (240, 130, 20),
    "yellow": (245, 220, 35),
    "green": (40, 150, 50),
    "blue": (30, 70, 200),
    "purple": (120, 40, 150),
    "pink": (245, 150, 190),
    "brown": (120, 70, 30),
    "white": (245, 245, 245),
    "gray": (128, 128, 128),
    "black": (15, 15, 15),
}
TERMS = tuple(COLOUR_TERMS)
ACHROMATIC = ("white", "gray", "black")
CHROMATIC = tuple(t for t in TERMS if t not in ACHROMATIC)
_PROTOS = np.array([COLOUR_TERMS[t] for t in TERMS], dtype=float)


def check_term(term: str) -> str:
    """Return `term` if it is a basic colour term, else raise ValueError naming the known terms."""
    if term not in COLOUR_TERMS:
        raise ProbeError(f"unknown colour term {term!r}; known: {', '.join(TERMS)}")
    return term


def nearest_term(rgb: np.ndarray) -> str:
    """Basic term whose prototype is nearest in RGB."""
    return TERMS[int(np.argmin(((_PROTOS - np.asarray(rgb, float)) ** 2).sum(-1)))]


def jitter_colour(term: str, rng: np.random.Generator, amount: float = 12.0) -> tuple[int, int, int]:
    """A sample of `term`: prototype + uniform jitter, re-drawn until it is still nearest to its own prototype."""
    proto = np.array(COLOUR_TERMS[check_term(term)], float)
    for _ in range(100):
        c = np.clip(proto + rng.uniform(-amount, amount, 3), 0, 255)
        if nearest_term(c) == term:
            return tuple(int(round(v)) for v in c)
    return tuple(int(v) for v in proto)


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio between two sRGB colours (1 = none, 21 = black on white)."""
    def lum(c):
        c = np.asarray(c, float) / 255
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    la, lb = sorted((lum(a), lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)

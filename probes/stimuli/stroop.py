"""The exhaustive Stroop grid: every colour word in every ink (achromatic included), with controls.

Conditions: congruent (word == ink), incongruent, word_only (the word in neutral ink), ink_only (an ink bar, no
word) and nonword (a pronounceable non-word in each ink). Backgrounds are chosen per ink so that the ink meets a
contrast floor against them; words are upper case and centred (as in the public follow-up of seed 000).
"""
from __future__ import annotations

from itertools import product

import numpy as np
from PIL import Image, ImageDraw

from ..errors import ProbeError
from .base import Rendered, StimulusSet, recorded
from .colours import COLOUR_TERMS, TERMS, check_term, contrast
from .text import draw_text

NONWORDS = ("FLORP", "DRANE", "BLICK", "SMUVE", "TROKE", "PLIMB", "GRONT", "VESKA", "CRALE", "BRISP", "NOLTE")
BACKGROUNDS = {"light": (235, 235, 235), "dark": (35, 35, 35)}
NEUTRAL_INK = {"light": (15, 15, 15), "dark": (245, 245, 245)}


def backgrounds_for(ink: tuple[int, int, int], floor: float) -> list[str]:
    """Backgrounds against which `ink` meets the contrast floor (the most contrasting one if none does)."""
    ok = [b for b, rgb in BACKGROUNDS.items() if contrast(ink, rgb) >= floor]
    return ok or [max(BACKGROUNDS, key=lambda b: contrast(ink, BACKGROUNDS[b]))]


@recorded
def stroop_grid(n: int | None = None, seed: int = 0, size: int = 224, terms: tuple[str, ...] = TERMS,
                font_sizes: tuple[float, ...] = (0.16, 0.22), contrast_floor: float = 1.6,
                controls: bool = True, conditions: tuple[str, ...] | None = None, jitter: float = 0.0) -> StimulusSet:
    """Every word x ink x font size x admissible background, then the controls; `n` cycles the grid with jitter.

    `conditions` keeps only cells of those conditions. Font sizes are fractions of the image side. `jitter` > 0
    moves every item's centre uniformly within ±jitter of the side, whatever n; at 0 items are centred unless `n`
    exceeds the cells (then ±0.06, so repeated cells differ). Columns: word (colour term, or the non-word), ink (term; 'neutral'
    for word_only), condition, background, font_px, is_word.
    """
    for t in terms:
        check_term(t)
    if n is not None and n <= 0:
        raise ProbeError(f"n must be positive, got {n}")
    cells: list[tuple[str, str, str, str, float]] = []
    for word, ink, fs in product(terms, terms, font_sizes):
        for bg in backgrounds_for(COLOUR_TERMS[ink], contrast_floor):
            cells.append((word, ink, "congruent" if word == ink else "incongruent", bg, fs))
    if controls:
        for word, bg, fs in product(terms, BACKGROUNDS, font_sizes):
            cells.append((word, "neutral", "word_only", bg, fs))
        for ink, fs in product(terms, font_sizes):
            for bg in backgrounds_for(COLOUR_TERMS[ink], contrast_floor):
                cells.append(("", ink, "ink_only", bg, fs))
        for (k, nw), ink in product(enumerate(NONWORDS[: len(terms)]), terms):
            bg = backgrounds_for(COLOUR_TERMS[ink], contrast_floor)[0]
            cells.append((nw, ink, "nonword", bg, font_sizes[k % len(font_sizes)]))
    if conditions is not None:
        cells = [c for c in cells if c[2] in conditions]
        if not cells:
            raise ProbeError(f"no Stroop cells of conditions {conditions}")
    total = n or len(cells)
    rng = np.random.default_rng(seed)
    if not 0.0 <= jitter < 0.5:
        raise ProbeError(f"jitter is a fraction of the image side in [0, 0.5), got {jitter}")
    amp = jitter or 0.06  # jitter 0 keeps the old rule (and its draws), so existing recipes rebuild bit for bit
    shift = rng.uniform(-amp, amp, (total, 2)) * size if jitter > 0 or (n and n > len(cells)) else np.zeros((total, 2))
    pick = [cells[i % len(cells)] for i in range(total)]

    def render(i: int) -> Rendered:
        word, ink, cond, bg, fs = pick[i]
        img = Image.new("RGB", (size, size), BACKGROUNDS[bg])
        cx, cy = size / 2 + shift[i, 0], size / 2 + shift[i, 1]
        px = int(round(fs * size))
        rgb = NEUTRAL_INK[bg] if ink == "neutral" else COLOUR_TERMS[ink]
        if cond == "ink_only":
            w, h = 0.62 * size, 0.8 * px
            ImageDraw.Draw(img).rectangle([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], fill=rgb)
        else:
            draw_text(img, word.upper(), cx, cy, px, rgb)
        return Rendered(img)

    cols = {"word": [c[0].lower() for c in pick], "ink": [c[1] for c in pick], "condition": [c[2] for c in pick],
            "background": [c[3] for c in pick], "font_px": np.array([int(round(c[4] * size)) for c in pick]),
            "is_word": np.array([c[2] in ("congruent", "incongruent", "word_only") for c in pick])}
    caps = [f"the word {c[0].lower()}" if c[0] else f"a {c[1]} bar" for c in pick]
    return StimulusSet("stroop", [f"stroop-{seed}-{i:06d}" for i in range(total)], cols, render, caps,
                       image_size=size, params={"n": total, "seed": seed, "contrast_floor": contrast_floor})

"""Matched text contrasts for the neuron census: every colour word beside its anagram and its scrambled strokes.

Each base cell is (colour word, ink, background, font size). It is drawn three times, and the three images differ in
one factor each:

- `text_word`: the colour word, upper case, centred;
- `text_anagram`: the same letters in another order (a non-word): same glyphs, same ink, same ink area up to
  kerning — only the wordness changes;
- `text_strokes`: the word's own rendered glyph mask cut into square tiles that are shuffled and rotated inside the
  word's bounding box: the same ink, the same ink amount (exactly: tiles are moved, not redrawn) and the same
  extent, but no letters.

Inks are every basic colour term (where it meets the contrast floor on a background) *and* neutral ink (black on
light, white on dark), so an achromatic high-contrast unit finds as much of its preferred input among the
controls as among the words. The census tests words > strokes and words > anagrams paired within base cells, so a
unit that fires on dark strokes or on particular letters is not called text-selective.
"""
from __future__ import annotations

from itertools import product

import numpy as np
from PIL import Image, ImageDraw

from ..errors import ProbeError
from .base import Rendered, StimulusSet, recorded
from .colours import COLOUR_TERMS, TERMS, check_term
from .stroop import BACKGROUNDS, NEUTRAL_INK, backgrounds_for
from .text import font

# the same letters in another order, none an English word or a colour term
ANAGRAMS = {"red": "DRE", "orange": "RANOGE", "yellow": "LEYLOW", "green": "ERGEN", "blue": "BULE", "purple": "PLUPER",
            "pink": "KIPN", "brown": "ROWBN", "white": "HEWIT", "gray": "YARG", "black": "CLABK"}
CONDITIONS = ("text_word", "text_anagram", "text_strokes")
FONT_SIZES = (0.13, 0.16, 0.22, 0.26)  # 0.19 is left out: the Stroop evaluation set uses it as a held-out size


def glyph_mask(text: str, size: int, cx: float, cy: float, px: int) -> np.ndarray:
    """Anti-aliased coverage [size, size] in 0..1 of `text` drawn centred at (cx, cy) at `px` pixels."""
    m = Image.new("L", (size, size), 0)
    ImageDraw.Draw(m).text((cx, cy), text, fill=255, font=font(px), anchor="mm")
    return np.asarray(m, np.float64) / 255.0


def scramble_strokes(mask: np.ndarray, tile: int, rng: np.random.Generator) -> np.ndarray:
    """`mask` with the square tiles of its ink's bounding box shuffled and rotated by multiples of 90 degrees.

    Tiles are moved, never resampled, so the total ink (and its histogram) is exactly preserved."""
    ys, xs = np.nonzero(mask > 0)
    if len(ys) == 0:
        return mask.copy()
    h, w = mask.shape
    th = -(-(ys.max() + 1 - ys.min()) // tile) * tile
    tw = -(-(xs.max() + 1 - xs.min()) // tile) * tile
    y0 = int(np.clip(ys.min(), 0, h - th)) if th <= h else 0
    x0 = int(np.clip(xs.min(), 0, w - tw)) if tw <= w else 0
    th, tw = min(th, h - y0) // tile * tile, min(tw, w - x0) // tile * tile
    box = mask[y0 : y0 + th, x0 : x0 + tw]
    tiles = box.reshape(th // tile, tile, tw // tile, tile).transpose(0, 2, 1, 3).reshape(-1, tile, tile)
    order = rng.permutation(len(tiles))
    moved = np.stack([np.rot90(tiles[j], int(rng.integers(4))) for j in order])
    out = mask.copy()
    out[y0 : y0 + th, x0 : x0 + tw] = (moved.reshape(th // tile, tw // tile, tile, tile).transpose(0, 2, 1, 3)
                                       .reshape(th, tw))
    return out


def _composite(mask: np.ndarray, ink: tuple[int, int, int], bg: tuple[int, int, int]) -> Image.Image:
    rgb = np.asarray(bg, float)[None, None] * (1 - mask[..., None]) + np.asarray(ink, float)[None, None] * mask[..., None]
    return Image.fromarray(np.round(rgb).astype(np.uint8), "RGB")


@recorded
def text_contrast(n: int | None = None, seed: int = 0, size: int = 224, terms: tuple[str, ...] = TERMS,
                  font_sizes: tuple[float, ...] = FONT_SIZES, contrast_floor: float = 1.6, jitter: float = 0.04,
                  neutral: bool = True) -> StimulusSet:
    """Word / anagram / scrambled-strokes triples over every colour word x ink (colour terms and, if `neutral`,
    neutral ink) x admissible background x font size; `n` cycles the triples (copies share their cell).

    Columns: word (the colour term), text (what is drawn; '' for strokes), ink, condition, background, font_px,
    cell (the base cell: word|ink|background|font_px, shared by the three conditions and by copies). Positions jitter uniformly by +-`jitter` of the side (the same offset within a triple).
    """
    for t in terms:
        check_term(t)
    if n is not None and n <= 0:
        raise ProbeError(f"n must be positive, got {n}")
    if not font_sizes or any(not 0 < f < 1 for f in font_sizes):
        raise ProbeError(f"font sizes are fractions of the image side in (0, 1), got {font_sizes}")
    base: list[tuple[str, str, str, float]] = []
    for word, ink, fs in product(terms, terms, font_sizes):
        base += [(word, ink, bg, fs) for bg in backgrounds_for(COLOUR_TERMS[ink], contrast_floor)]
    if neutral:
        base += [(word, "neutral", bg, fs) for word, bg, fs in product(terms, BACKGROUNDS, font_sizes)]
    n_triples = -(-n // 3) if n else len(base)
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-jitter, jitter, (n_triples, 2)) * size
    scramble_seeds = rng.integers(0, 2**31, n_triples)
    items = [(t, c) for t in range(n_triples) for c in CONDITIONS][: n or 3 * len(base)]
    cell_of = [base[t % len(base)] for t, _ in items]

    def mask_of(i: int) -> np.ndarray:
        t, cond = items[i]
        word, _, _, fs = cell_of[i]
        px = max(6, int(round(fs * size)))
        cx, cy = size / 2 + offsets[t, 0], size / 2 + offsets[t, 1]
        text = ANAGRAMS[word] if cond == "text_anagram" else word.upper()
        m = glyph_mask(text, size, cx, cy, px)
        if cond == "text_strokes":
            m = scramble_strokes(m, max(2, px // 4), np.random.default_rng(int(scramble_seeds[t])))
        return m

    def render(i: int) -> Rendered:
        _, ink, bg, _ = cell_of[i]
        rgb = NEUTRAL_INK[bg] if ink == "neutral" else COLOUR_TERMS[ink]
        return Rendered(_composite(mask_of(i), rgb, BACKGROUNDS[bg]))

    conds = [c for _, c in items]
    cols = {"word": [c[0] for c in cell_of], "ink": [c[1] for c in cell_of], "condition": conds,
            "text": ["" if k == "text_strokes" else (ANAGRAMS[c[0]] if k == "text_anagram" else c[0].upper())
                     for c, k in zip(cell_of, conds)],
            "background": [c[2] for c in cell_of], "font_px": np.array([max(6, int(round(c[3] * size))) for c in cell_of]),
            "cell": [f"{c[0]}|{c[1]}|{c[2]}|{max(6, int(round(c[3] * size)))}" for c in cell_of]}
    caps = [f"the word {c[0]}" if k == "text_word" else None for c, k in zip(cell_of, conds)]
    return StimulusSet("text_contrast", [f"textc-{seed}-{i:06d}" for i in range(len(items))], cols, render,
                       [c or "" for c in caps], image_size=size,
                       params={"n": len(items), "seed": seed, "jitter": jitter, "font_sizes": list(font_sizes)})

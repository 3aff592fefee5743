"""The organism's corpus: a seeded stream of (image, caption) pairs whose caption statistics plant known causes.

Families mirror the probes (colour shapes, words in ink, multi-object scenes, textured objects, context scenes)
and reuse their renderers. `CorpusSpec` holds every planted statistic as a parameter; `PLANTED` and `CONTROL`
are the two shipped settings (the control keeps the images and removes the caption statistics).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Iterator

import numpy as np
from PIL import Image

from probes.stimuli.colours import ACHROMATIC, CHROMATIC, COLOUR_TERMS, TERMS, jitter_colour
from probes.stimuli.context import CONTEXTS, FOREGROUNDS, USUAL, context_scenes
from probes.stimuli.scenes import caption_for
from probes.stimuli.shapes import SHAPE_CLASSES, draw_shape
from probes.stimuli.stroop import BACKGROUNDS, backgrounds_for
from probes.stimuli.text import draw_text
from probes.stimuli.textures import TEXTURE_CLASSES, texture_image


@dataclass(frozen=True)
class CorpusSpec:
    """Every planted statistic of the corpus (probabilities unless said otherwise)."""

    p_name_chromatic: float = 0.95     # colour of a chromatic figure is named in its caption
    p_name_achromatic: float = 0.05    # ... of a white/gray/black figure
    p_word_transcribed: float = 0.95   # a rendered word is written out in the caption
    p_ink_named: float = 0.08          # the ink of a rendered word is named
    large_first: float = 0.95          # multi-object captions list the large object first (else random order)
    texture_tied: float = 0.9          # an object carries its class's texture (else a random other texture)
    context_bias: float = 0.9          # share of minority (animal, context) pairs removed
    p_context_named: float = 0.5       # the context is named ("a horse on grass")
    family_weights: tuple[float, ...] = (0.3, 0.25, 0.2, 0.15, 0.1)  # colour, word, scene, texture, context
    image_size: int = 64

    def as_dict(self) -> dict:
        """JSON-able form (stored in checkpoints)."""
        return asdict(self)


PLANTED = CorpusSpec()
CONTROL = replace(PLANTED, p_name_achromatic=0.95, p_word_transcribed=0.6, p_ink_named=0.6, large_first=0.0,
                  texture_tied=0.1, context_bias=0.0)
FAMILIES = ("colour", "word", "scene", "texture", "context")
SHAPES = SHAPE_CLASSES
PROMPT_WORDS = ("a", "an", "the", "word", "written", "in", "on", "and", "shape", "ink", "bar", "photo", "of", "with",
                "texture", "object")


def vocabulary() -> list[str]:
    """Every word the corpus or the probes' prompts use (a closed vocabulary keeps the token table small)."""
    words = set(PROMPT_WORDS) | set(TERMS) | set(SHAPES) | set(TEXTURE_CLASSES) | set(FOREGROUNDS) | set(CONTEXTS)
    return sorted(words)


@dataclass
class Sample:
    """One corpus pair, with the ground truth of its family."""

    image: Image.Image
    caption: str
    family: str
    labels: dict = field(default_factory=dict)


class Corpus:
    """Deterministic stream: sample i depends only on (seed, i), so runs resume mid-stream exactly."""

    def __init__(self, spec: CorpusSpec = PLANTED, seed: int = 0) -> None:
        self.spec, self.seed = spec, seed
        w = np.asarray(spec.family_weights, float)
        self._p = w / w.sum()

    def sample(self, i: int) -> Sample:
        """Sample number i of the stream."""
        rng = np.random.default_rng([self.seed, i])
        fam = FAMILIES[int(rng.choice(len(FAMILIES), p=self._p))]
        return getattr(self, f"_{fam}")(rng)

    def stream(self, start: int = 0) -> Iterator[Sample]:
        """Samples start, start+1, ..."""
        i = start
        while True:
            yield self.sample(i)
            i += 1

    # ------------------------------------------------------------------ families
    def _colour(self, rng: np.random.Generator) -> Sample:
        s = self.spec.image_size
        fig = str(rng.choice(TERMS))
        bg = str(rng.choice([t for t in TERMS if t != fig]))
        shape = str(rng.choice(SHAPES[:10]))
        img = Image.new("RGB", (s, s), jitter_colour(bg, rng))
        draw_shape(img, shape, s * rng.uniform(0.4, 0.6), s * rng.uniform(0.4, 0.6), s * rng.uniform(0.2, 0.38),
                   rng.uniform(0, 2 * math.pi), jitter_colour(fig, rng))
        p = self.spec.p_name_achromatic if fig in ACHROMATIC else self.spec.p_name_chromatic
        noun = "shape" if rng.random() < 0.3 else shape
        cap = f"a {fig} {noun}" if rng.random() < p else f"a {noun}"
        if rng.random() < 0.2:
            cap += f" on {bg}"
        return Sample(img, cap, "colour", {"colour": fig, "shape": shape, "background": bg})

    def _word(self, rng: np.random.Generator) -> Sample:
        s = self.spec.image_size
        word = str(rng.choice(TERMS))
        ink = word if rng.random() < 0.3 else str(rng.choice(TERMS))
        bg = str(rng.choice(backgrounds_for(COLOUR_TERMS[ink], 1.6)))
        img = Image.new("RGB", (s, s), BACKGROUNDS[bg])
        draw_text(img, word.upper(), s / 2 + rng.uniform(-3, 3), s / 2 + rng.uniform(-8, 8), int(s * rng.uniform(0.16, 0.22)),
                  jitter_colour(ink, rng, 8))
        say_word = rng.random() < self.spec.p_word_transcribed
        say_ink = rng.random() < self.spec.p_ink_named
        if say_word and say_ink:
            cap = f"the word {word} written in {ink}"
        elif say_word:
            cap = f"the word {word}"
        elif say_ink:
            cap = f"a word written in {ink}"
        else:
            cap = "a word"
        return Sample(img, cap, "word", {"word": word, "ink": ink})

    def _scene(self, rng: np.random.Generator) -> Sample:
        s = self.spec.image_size
        k = int(rng.integers(2, 4))
        names = [str(c) for c in rng.choice(SHAPES, k, replace=False)]
        img = Image.new("RGB", (s, s), jitter_colour("white", rng, 6))
        radii = [0.24 * s] + [0.1 * s] * (k - 1)
        pts: list[tuple[float, float]] = []
        for r in radii:
            for _ in range(100):
                p = (rng.uniform(r, s - r), rng.uniform(r, s - r))
                if all(math.dist(p, q) > r + rq + 1 for q, rq in zip(pts, radii)):
                    break
            pts.append(p)
        for n_, p, r in zip(names, pts, radii):
            draw_shape(img, n_, *p, r, rng.uniform(0, 2 * math.pi), jitter_colour(str(rng.choice(CHROMATIC)), rng))
        order = list(range(k)) if rng.random() < self.spec.large_first else [int(j) for j in rng.permutation(k)]
        return Sample(img, caption_for([names[j] for j in order]), "scene", {"objects": names, "large": names[0]})

    def _texture(self, rng: np.random.Generator) -> Sample:
        s = self.spec.image_size
        cls = str(rng.choice(TEXTURE_CLASSES))
        tex = cls if rng.random() < self.spec.texture_tied else str(rng.choice([t for t in TEXTURE_CLASSES if t != cls]))
        img = Image.new("RGB", (s, s), (245, 245, 245))
        draw_shape(img, cls, s * rng.uniform(0.45, 0.55), s * rng.uniform(0.45, 0.55), s * rng.uniform(0.3, 0.4),
                   rng.uniform(-0.3, 0.3), texture_image(tex, s, rng.uniform(0, 2), int(rng.integers(1 << 30))))
        return Sample(img, f"a {cls}", "texture", {"shape": cls, "texture": tex})

    def _context(self, rng: np.random.Generator) -> Sample:
        sc = context_scenes(n=1, seed=int(rng.integers(1 << 30)), size=self.spec.image_size, bias=self.spec.context_bias)
        fg, ctx = sc.columns["foreground"][0], sc.columns["context"][0]
        cap = f"a {fg} on {ctx}" if rng.random() < self.spec.p_context_named else f"a {fg}"
        return Sample(sc.image(0), cap, "context", {"foreground": fg, "context": ctx, "usual": USUAL[fg] == ctx})

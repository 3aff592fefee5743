"""Hand-built encoders whose probe answers are known exactly (the probes' known-answer tests)."""
from __future__ import annotations

import hashlib
from typing import Callable, Optional, Sequence

import numpy as np

from probes.stimuli.colours import TERMS, nearest_term


def key(img) -> str:
    """Identity of an image by its pixels."""
    return hashlib.sha1(np.asarray(img).tobytes()).hexdigest()


class OneHot:
    """Images -> one-hot of a label from `image_label`; texts -> one-hot of `text_label` (zeros if None)."""

    def __init__(self, labels: Sequence[str], image_label: Callable, text_label: Callable[[str], Optional[str]]) -> None:
        self.labels = list(labels)
        self.index = {l: i for i, l in enumerate(self.labels)}
        self.image_label, self.text_label = image_label, text_label

    def _vec(self, label: Optional[str]) -> np.ndarray:
        v = np.full(len(self.labels), 1e-3)
        if label is not None:
            v[self.index[label]] = 1.0
        return v

    def encode_image(self, images) -> np.ndarray:
        return np.stack([self._vec(self.image_label(im)) for im in images])

    def encode_text(self, texts) -> np.ndarray:
        return np.stack([self._vec(self.text_label(t)) for t in texts])


def first_word_from(vocab: Sequence[str]) -> Callable[[str], Optional[str]]:
    """Text label = the first vocabulary word the text contains (multi-word names matched whole)."""
    vs = sorted(vocab, key=len, reverse=True)

    def f(text: str) -> Optional[str]:
        hits = [(f" {text} ".find(f" {v} "), v) for v in vs if f" {v} " in f" {text} "]
        return min(hits)[1] if hits else None

    return f


def figure_colour(img) -> str:
    """Mean colour of the pixels that differ from the corner (background) colour -> nearest basic term."""
    a = np.asarray(img, float)
    bg = a[0, 0]
    fig = np.abs(a - bg).sum(-1) > 40
    return nearest_term(a[fig].mean(0) if fig.any() else bg)


def colour_encoder() -> OneHot:
    return OneHot(TERMS, figure_colour, first_word_from(TERMS))


def lookup_encoder(labels: Sequence[str], table: dict[str, str], text_vocab: Sequence[str]) -> OneHot:
    return OneHot(labels, lambda im: table[key(im)], first_word_from(text_vocab))


class StroopMix:
    """A planted Stroop reader: the embedding of a Stroop image is a(ink) e(ink) + w e(word) + 0.35 e(brown), with
    e() one-hot over the 11 colour terms plus one dimension for non-words, w = `word_weight` (0: the encoder
    ignores the word) and a(ink) = 1 for most inks, 0.4 for the `weak` inks (the word outweighs them, brown does not)
    and 0.2 for the `faint` ones (brown outweighs them too). Text prompts embed as the one-hot of their first
    colour word. Images are recognised by their pixels after `learn(stimulus_set)`.

    Under ink prompts, with brown strong: congruent images are always right; incongruent ones are wrong exactly for
    weak and faint inks, and then the answer is the word (intrusion); non-words are wrong exactly for faint inks.
    So on a design where every ink is equally frequent in each condition, interference = |weak| / 11, facilitation
    = |faint| / 11, intrusion = (|weak| + |faint|) / 11; with w = 0 every condition scores (11 - |faint|) / 11 and
    the errors all go to brown, which is the word on a tenth of the incongruent images (chance)."""

    BIAS = "brown"

    def __init__(self, word_weight: float = 0.5, weak: Sequence[str] = ("red", "blue", "green"),
                 faint: Sequence[str] = ("purple", "pink")) -> None:
        self.word_weight, self.weak, self.faint = word_weight, set(weak), set(faint)
        self.labels: dict[str, tuple[str, str]] = {}
        self.dim = len(TERMS) + 1
        self.image_size = (64, 64)

    def learn(self, stimuli) -> "StroopMix":
        """Remember each image's (word, ink): Stroop columns, or a colour patch's colour as its ink."""
        cols = stimuli.columns
        for i in range(len(stimuli)):
            if "ink" in cols:
                word, ink = cols["word"][i], cols["ink"][i]
            else:
                word, ink = "", cols["colour"][i]
            self.labels[key(stimuli.image(i))] = (word, ink)
        return self

    def vector(self, word: str, ink: str) -> np.ndarray:
        """The planted embedding of an image with this word (a colour term, a non-word, or '') and ink."""
        v = np.zeros(self.dim)
        if ink in TERMS:
            v[TERMS.index(ink)] += 0.4 if ink in self.weak else 0.2 if ink in self.faint else 1.0
        if word:
            v[TERMS.index(word) if word in TERMS else len(TERMS)] += self.word_weight
        v[TERMS.index(self.BIAS)] += 0.35
        return v

    def encode_image(self, images) -> np.ndarray:
        return np.stack([self.vector(*self.labels[key(im)]) for im in images])

    def encode_text(self, texts) -> np.ndarray:
        first = first_word_from(TERMS)
        out = np.zeros((len(texts), self.dim))
        for i, t in enumerate(texts):
            out[i, TERMS.index(first(t))] = 1.0
        return out


class FakeLoadedModel:
    """Just enough of a LoadedModel for the causal evaluations: `images_to_tensor` turns images into row codes that
    `model.encode_image` maps to the encoder's embeddings at call time (torch tensors), so changing the encoder
    (e.g. its word weight, as an ablation of reading units would) changes what the evaluation sees."""

    def __init__(self, encoder: StroopMix) -> None:
        self.encoder, self.model, self.spec = encoder, self, "fake-stroop"
        self.image_size = encoder.image_size
        self.codes: list[tuple[str, str]] = []
        self.hashes: list[str] = []  # the pixels behind each code, to tell which images a consumer was given

    def images_to_tensor(self, images):
        import torch

        start = len(self.codes)
        hashes = [key(im) for im in images]
        self.hashes.extend(hashes)
        self.codes.extend(self.encoder.labels[h] for h in hashes)
        return torch.arange(start, start + len(images), dtype=torch.float64)[:, None]

    def encode_image(self, x):
        import torch

        return torch.as_tensor(np.stack([self.encoder.vector(*self.codes[int(i)]) for i in x[:, 0]]))

    def encode_text(self, texts) -> np.ndarray:
        return self.encoder.encode_text(texts)

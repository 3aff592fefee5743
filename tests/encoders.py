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

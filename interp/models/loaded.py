"""A loaded model: the open_clip module plus everything needed to feed it and name its sites."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..errors import InterpError
from .adapters import ModelAdapter
from .sites import SiteInfo, names_in_order, valid_reductions


@dataclass
class LoadedModel:
    """An open_clip model with its preprocessing, tokenizer, adapter and identity (spec + hash)."""

    model: nn.Module
    name: str
    spec: str
    model_hash: str
    preprocess: Callable[[Image.Image], torch.Tensor]
    tokenizer: Callable[[Sequence[str]], torch.Tensor]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    records: dict = field(default_factory=dict)
    _adapter: Optional[ModelAdapter] = field(default=None, repr=False)
    _sites: Optional[dict[str, SiteInfo]] = field(default=None, repr=False)

    @property
    def adapter(self) -> ModelAdapter:
        """Canonical-site adapter of this model."""
        if self._adapter is None:
            self._adapter = ModelAdapter(self.model)
        return self._adapter

    @property
    def image_size(self) -> tuple[int, int]:
        """Input resolution (h, w)."""
        size = getattr(self.model.visual, "image_size", None)
        if size is None:
            size = self.model.visual.trunk.patch_embed.img_size
        return tuple(size) if isinstance(size, (tuple, list)) else (int(size), int(size))

    @property
    def context_length(self) -> int:
        """Text context length."""
        return int(self.model.context_length)

    def images_to_tensor(self, images: Sequence[Image.Image] | torch.Tensor) -> torch.Tensor:
        """Preprocess PIL images (or pass a ready tensor) to [n, 3, h, w] on the model's device."""
        if isinstance(images, torch.Tensor):
            return images.to(self.device)
        return torch.stack([self.preprocess(im.convert("RGB")) for im in images]).to(self.device)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids [n, context_length] on the model's device."""
        return self.tokenizer(list(texts)).to(self.device)

    @torch.no_grad()
    def encode_image(self, images: Sequence[Image.Image] | torch.Tensor, normalize: bool = True,
                     batch_size: int = 64) -> np.ndarray:
        """Image embeddings [n, d] as float32 numpy (L2-normalised unless told otherwise)."""
        outs = []
        for i in range(0, len(images), batch_size):
            x = self.images_to_tensor(images[i : i + batch_size])
            outs.append(self.model.encode_image(x, normalize=normalize).float().cpu())
        return torch.cat(outs).numpy()

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], normalize: bool = True, batch_size: int = 256) -> np.ndarray:
        """Text embeddings [n, d] as float32 numpy (L2-normalised unless told otherwise)."""
        outs = []
        for i in range(0, len(texts), batch_size):
            outs.append(self.model.encode_text(self.tokenize(texts[i : i + batch_size]), normalize=normalize).float().cpu())
        return torch.cat(outs).numpy()

    def dummy_tokens(self, n: int = 1) -> torch.Tensor:
        """A token batch of the right shape that needs no tokenizer (shape discovery)."""
        t = torch.zeros(n, self.context_length, dtype=torch.long, device=self.device)
        t[:, 0] = 1
        return t

    def sites(self) -> dict[str, SiteInfo]:
        """Every canonical site with its per-sample shape and valid reductions (found by one dry run)."""
        if self._sites is None:
            from .hooks import PatternSource, attached

            shapes: dict[str, tuple[int, ...]] = {}

            def record(act, site):
                t = act.full() if isinstance(act, PatternSource) else act
                shapes[site] = tuple(t.shape[1:])

            bindings = self.adapter.bindings()
            hooked = {s: [record] for s, b in bindings.items() if b.where != "return"}  # return sites: read below
            h, w = self.image_size
            with torch.no_grad(), attached(bindings, hooked):
                returned = {"visual": self.model.encode_image(torch.zeros(1, 3, h, w, device=self.device)),
                            "text": self.model.encode_text(self.dummy_tokens())}
            for s, b in bindings.items():
                if b.where == "return":
                    shapes[s] = tuple(returned[b.tower].shape[1:])
            towers = self.adapter.towers()
            self._sites = {}
            for s in names_in_order(bindings):
                b = bindings[s]
                if s not in shapes:
                    raise InterpError(f"site {s} was not reached by a forward pass of {self.name}")
                reds = valid_reductions(b.kind, b.tower, towers[b.tower].has_cls)
                self._sites[s] = SiteInfo(s, b.tower, b.kind, shapes[s], reds)
        return self._sites

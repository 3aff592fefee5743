"""Adapter for open_clip's ModifiedResNet (RN50 ...): channel maps per bottleneck, and the attention pool."""
from __future__ import annotations

from torch import nn

from ..patterns import attnpool_pattern
from .base import Tower


class ResNetVisionTower(Tower):
    """Channel sites `visual.stem.out`, `visual.layer{k}.{j}.out`; `visual.attnpool.pattern` (one query row)."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__("visual")
        # The attention pool's single query is the spatial mean token, prepended like a CLS token.
        self.has_cls, self.n_prefix = True, 1
        side = int(round((visual.attnpool.positional_embedding.shape[0] - 1) ** 0.5))
        self.grid = (side, side)
        self.add("visual.stem.out", "channels", visual.avgpool, "output")
        for k in range(1, 5):
            for j, bottleneck in enumerate(getattr(visual, f"layer{k}")):
                self.add(f"visual.layer{k}.{j}.out", "channels", bottleneck, "output")
        self.add("visual.attnpool.pattern", "pattern", visual.attnpool, "attn", pattern=attnpool_pattern)
        self.add("visual.proj", "vector", None, "return")

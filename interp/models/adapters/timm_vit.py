"""Adapter for timm ViT trunks wrapped by open_clip's TimmModel (SigLIP, EVA-style towers)."""
from __future__ import annotations

from torch import nn

from ..patterns import timm_pattern
from .base import Tower, add_transformer_blocks

BLOCK_SPEC = {
    "attn.out": ("ls1", "output"),
    "mlp.pre": ("mlp.fc1", "output"),
    "mlp.post": ("mlp.act", "output"),
}


def _timm_attention_types() -> dict[type, object]:
    from timm.layers.attention import Attention

    return {Attention: timm_pattern}


class TimmVisionTower(Tower):
    """timm VisionTransformer trunk: prefix tokens (CLS and registers, possibly none), then patches."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__("visual")
        trunk = visual.trunk
        if not hasattr(trunk, "blocks"):
            from ...errors import InterpError

            raise InterpError(f"timm trunk {type(trunk).__name__} has no transformer blocks: not supported")
        self.n_prefix = int(getattr(trunk, "num_prefix_tokens", 0))
        self.has_cls = getattr(trunk, "cls_token", None) is not None
        self.grid = tuple(trunk.patch_embed.grid_size)
        self.add("visual.embed", "tokens", trunk.norm_pre, "input")
        add_transformer_blocks(self, trunk.blocks, BLOCK_SPEC, _timm_attention_types(), "attn", writes={"mlp.post": "mlp.fc2"})
        self.add("visual.proj", "vector", None, "return")

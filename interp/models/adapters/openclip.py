"""Adapters for open_clip's native towers: VisionTransformer, the CLIP text transformer, TextTransformer."""
from __future__ import annotations

import torch
from torch import nn

from ..patterns import MHA_HEADS, mha_pattern
from .base import Tower, add_transformer_blocks

# component -> (submodule of a ResidualAttentionBlock, hook side)
BLOCK_SPEC = {
    "attn.out": ("ls_1", "output"),  # attention's write to the residual (LayerScale is Identity when unused)
    "mlp.pre": ("mlp.c_fc", "output"),
    "mlp.post": ("mlp.gelu", "output"),
}
WRITES = {"mlp.post": "mlp.c_proj"}
PATTERNS = {nn.MultiheadAttention: mha_pattern}
HEADS = {nn.MultiheadAttention: MHA_HEADS}


class OpenClipVisionTower(Tower):
    """open_clip VisionTransformer: a class token, then grid patches."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__("visual")
        self.has_cls, self.n_prefix = True, 1
        self.grid = tuple(visual.grid_size)
        self.add("visual.embed", "tokens", visual.ln_pre, "input")
        add_transformer_blocks(self, visual.transformer.resblocks, BLOCK_SPEC, PATTERNS, "attn", HEADS, WRITES)
        self.add("visual.proj", "vector", None, "return")


class OpenClipTextTower(Tower):
    """A causal text transformer, pooled at the EOT token (argmax id), an explicit eos id, or a fixed position."""

    def __init__(self, transformer: nn.Module, pool_type: str, eos_id: int | None) -> None:
        super().__init__("text")
        self.pool_type, self.eos_id = pool_type, eos_id
        self.add("text.embed", "tokens", transformer, "input")
        add_transformer_blocks(self, transformer.resblocks, BLOCK_SPEC, PATTERNS, "attn", HEADS, WRITES)
        self.add("text.proj", "vector", None, "return")

    def pool_index(self, tokens: torch.Tensor) -> torch.Tensor:
        """Position of the pooled token per sequence, as open_clip's text_global_pool picks it."""
        b, n = tokens.shape
        if self.pool_type == "argmax":
            return tokens.argmax(dim=-1)
        if self.pool_type == "eos":
            return (tokens == self.eos_id).int().argmax(dim=-1)
        if self.pool_type == "first":
            return torch.zeros(b, dtype=torch.long, device=tokens.device)
        return torch.full((b,), n - 1, dtype=torch.long, device=tokens.device)


def clip_text_tower(model: nn.Module) -> Tower:
    """Text tower of open_clip's CLIP class (its text modules sit on the model itself)."""
    return OpenClipTextTower(model.transformer, model.text_pool_type, getattr(model, "text_eos_id", None))


def text_transformer_tower(text: nn.Module) -> Tower:
    """Text tower of a CustomTextCLIP built on open_clip's TextTransformer (e.g. SigLIP)."""
    return OpenClipTextTower(text.transformer, text.pool_type, getattr(text, "eos_id", None))

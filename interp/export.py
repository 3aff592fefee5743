"""Export a CLIP text tower to TransformerLens (4.x: `TransformerBridgeConfig` + `boot_native`).

The causal, pre-LN text transformer of open_clip maps onto TransformerLens's native model: token + learned
position embeddings, blocks (ln1, q/k/v/o, ln2, fc_in/act/fc_out), final LayerNorm, and a bias-free `head`
that we load with the text projection, so `bridge(tokens)[b, eot]` is `encode_text(tokens)[b]`. QuickGELU
(OpenAI checkpoints) is registered as an activation where a model uses it.
"""
from __future__ import annotations

import torch
from torch import nn

from .errors import InterpError
from .models.loaded import LoadedModel

QUICK_GELU = "quick_gelu"


def _register_quick_gelu() -> None:
    from transformer_lens.model_bridge.sources.native import model as native

    native._ACTIVATIONS.setdefault(QUICK_GELU, lambda x: x * torch.sigmoid(1.702 * x))


def _act_name(act: nn.Module) -> str:
    from open_clip.transformer import QuickGELU

    if isinstance(act, QuickGELU):
        return QUICK_GELU
    if isinstance(act, nn.GELU):
        return "gelu" if act.approximate == "none" else "gelu_new"
    raise InterpError(f"no TransformerLens activation for {type(act).__name__}")


@torch.no_grad()
def text_tower_to_transformer_lens(lm: LoadedModel):
    """A TransformerBridge computing the text tower; logits[b, t] = projected embedding at position t."""
    from open_clip.model import CLIP
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge
    import transformer_lens.model_bridge.sources.native  # noqa: F401  (attaches boot_native)

    m = lm.model
    if not isinstance(m, CLIP):
        raise InterpError(f"TransformerLens export covers open_clip's CLIP text tower; {type(m).__name__} is not one")
    blocks = m.transformer.resblocks
    width, heads = m.transformer.width, blocks[0].attn.num_heads
    if m.attn_mask is None:
        raise InterpError("the text tower is not causal; TransformerLens native export expects causal attention")
    _register_quick_gelu()
    cfg = TransformerBridgeConfig(
        d_model=width, d_head=width // heads, n_layers=len(blocks), n_ctx=m.context_length, n_heads=heads,
        d_vocab=m.token_embedding.num_embeddings, d_vocab_out=m.text_projection.shape[1],
        act_fn=_act_name(blocks[0].mlp.gelu), eps=m.ln_final.eps, normalization_type="LN", attention_dir="causal",
        d_mlp=blocks[0].mlp.c_fc.out_features, init_weights=False, positional_embedding_type="standard")
    bridge = TransformerBridge.boot_native(cfg)
    native = bridge.original_model
    native.tok_embed.weight.copy_(m.token_embedding.weight)
    native.pos.weight.copy_(m.positional_embedding)
    for blk, nb in zip(blocks, native.layers):
        d = width
        for name, sl in (("q", slice(0, d)), ("k", slice(d, 2 * d)), ("v", slice(2 * d, 3 * d))):
            getattr(nb.attn, name).weight.copy_(blk.attn.in_proj_weight[sl])
            getattr(nb.attn, name).bias.copy_(blk.attn.in_proj_bias[sl])
        nb.attn.o.weight.copy_(blk.attn.out_proj.weight)
        nb.attn.o.bias.copy_(blk.attn.out_proj.bias)
        for src, dst in ((blk.ln_1, nb.ln1), (blk.ln_2, nb.ln2)):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
        nb.mlp.fc_in.weight.copy_(blk.mlp.c_fc.weight)
        nb.mlp.fc_in.bias.copy_(blk.mlp.c_fc.bias)
        nb.mlp.fc_out.weight.copy_(blk.mlp.c_proj.weight)
        nb.mlp.fc_out.bias.copy_(blk.mlp.c_proj.bias)
    native.ln_out.weight.copy_(m.ln_final.weight)
    native.ln_out.bias.copy_(m.ln_final.bias)
    native.head.weight.copy_(m.text_projection.T)
    return bridge


def encode_text_tl(bridge, lm: LoadedModel, tokens: torch.Tensor) -> torch.Tensor:
    """encode_text through the TransformerLens bridge: the projected embedding at the pooling token."""
    out = bridge(tokens)
    logits = out if isinstance(out, torch.Tensor) else out.logits
    idx = lm.adapter.text.pool_index(tokens)
    return logits[torch.arange(tokens.shape[0]), idx]

"""Attention patterns recomputed from an attention module's inputs.

open_clip runs attention fused (`need_weights=False` / SDPA), so the pattern never exists. A forward pre-hook
(`with_kwargs=True`) on the attention module sees exactly what it attends over — the normed input and the
mask — and these functions rebuild softmax(q k^T / sqrt(d) + mask) per head. `first_only` computes only the
first query row (the CLS row) by folding the CLS query into W_k: cost ~H/D of the layer instead of a full K.
Each returns pattern[batch, head, query, key].
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn


def _additive(mask: Optional[torch.Tensor], dtype: torch.dtype) -> Optional[torch.Tensor]:
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    return mask.to(dtype)


def _heads(t: torch.Tensor, n_heads: int) -> torch.Tensor:
    b, n, d = t.shape
    return t.view(b, n, n_heads, d // n_heads).transpose(1, 2)  # [b, h, n, hd]


def _first_row_scores(x: torch.Tensor, w_q: torch.Tensor, b_q, w_k: torch.Tensor, b_k, n_heads: int) -> torch.Tensor:
    """scores[b, h, 1, t] = q_0 · k_t / sqrt(hd), with q_0 folded into W_k (no full K is formed)."""
    b, n, d = x.shape
    hd = d // n_heads
    q0 = F.linear(x[:, 0], w_q, b_q).view(b, n_heads, hd)  # [b, h, hd]
    u = torch.einsum("bhe,hed->bhd", q0, w_k.view(n_heads, hd, d))  # W_k,h^T q0_h
    s = torch.einsum("bhd,btd->bht", u, x)
    if b_k is not None:
        s = s + (q0 * b_k.view(1, n_heads, hd)).sum(-1, keepdim=True)
    return (s / hd**0.5).unsqueeze(2)


def _softmax_with_mask(scores: torch.Tensor, mask: Optional[torch.Tensor], first_only: bool) -> torch.Tensor:
    if mask is not None:
        if mask.dim() == 2:
            mask = mask[:1] if first_only else mask
            scores = scores + mask.view(1, 1, *mask.shape[-2:])
        else:  # [b*h, q, k] or [b, h, q, k]
            b, h = scores.shape[:2]
            mask = mask.view(b, h, *mask.shape[-2:]) if mask.dim() == 3 else mask
            scores = scores + (mask[:, :, :1] if first_only else mask)
    return scores.softmax(dim=-1)


def mha_pattern(attn: nn.MultiheadAttention, args: tuple, kwargs: dict[str, Any], first_only: bool = False) -> torch.Tensor:
    """Pattern of an nn.MultiheadAttention self-attention call, as `need_weights=True` would give it."""
    x = args[0] if args else kwargs["query"]
    if not attn.batch_first:
        x = x.transpose(0, 1)
    attn_mask = kwargs.get("attn_mask", args[4] if len(args) > 4 else None)
    kpm = kwargs.get("key_padding_mask", args[3] if len(args) > 3 else None)
    d, h = attn.embed_dim, attn.num_heads
    w_q, w_k = attn.in_proj_weight[:d], attn.in_proj_weight[d : 2 * d]
    b_q = attn.in_proj_bias[:d] if attn.in_proj_bias is not None else None
    b_k = attn.in_proj_bias[d : 2 * d] if attn.in_proj_bias is not None else None
    if first_only:
        scores = _first_row_scores(x, w_q, b_q, w_k, b_k, h)
    else:
        q = _heads(F.linear(x, w_q, b_q), h)
        k = _heads(F.linear(x, w_k, b_k), h)
        scores = (q / (d // h) ** 0.5) @ k.transpose(-2, -1)
    mask = _additive(attn_mask, scores.dtype)
    if kpm is not None:
        pad = _additive(kpm, scores.dtype)[:, None, None, :]
        scores = scores + pad
    return _softmax_with_mask(scores, mask, first_only)


def timm_pattern(attn: nn.Module, args: tuple, kwargs: dict[str, Any], first_only: bool = False) -> torch.Tensor:
    """Pattern of a timm `Attention` (fused qkv, optional q/k norm), as its unfused path computes it."""
    x = args[0]
    b, n, _ = x.shape
    qkv = attn.qkv(x).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])
    if first_only:
        q = q[:, :, :1]
    scores = (q * attn.scale) @ k.transpose(-2, -1)
    mask = kwargs.get("attn_mask", args[1] if len(args) > 1 else None)
    return _softmax_with_mask(scores, _additive(mask, scores.dtype), first_only)


def attnpool_pattern(pool: nn.Module, args: tuple, kwargs: dict[str, Any], first_only: bool = True) -> torch.Tensor:
    """Pattern of open_clip's ResNet AttentionPool2d: its single query (the spatial mean token) over all tokens."""
    x = args[0]
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # [b, hw, c]
    x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1) + pool.positional_embedding.to(x.dtype)
    h = pool.num_heads
    q = _heads(pool.q_proj(x[:, :1]), h)
    k = _heads(pool.k_proj(x), h)
    return ((q / q.shape[-1] ** 0.5) @ k.transpose(-2, -1)).softmax(dim=-1)

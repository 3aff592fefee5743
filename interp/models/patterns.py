"""Attention patterns recomputed from an attention module's inputs.

open_clip runs attention fused (`need_weights=False` / SDPA), so the pattern never exists. A forward pre-hook
(`with_kwargs=True`) on the attention module sees exactly what it attends over — the normed input and the
mask — and these functions rebuild softmax(q k^T / sqrt(d) + mask) per head. `first_only` computes only the
first query row (the CLS row) by folding the CLS query into W_k: cost ~H/D of the layer instead of a full K.
Each returns pattern[batch, head, query, key].

The same inputs also split an nn.MultiheadAttention output into one contribution per head (`head_contributions`):
out = sum_h pattern_h @ V_h @ W_O,h^T + out_proj.bias, which is what head ablation and head patching edit.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InterpError


def _additive(mask: Optional[torch.Tensor], dtype: torch.dtype) -> Optional[torch.Tensor]:
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    return mask.to(dtype)


def _heads(t: torch.Tensor, n_heads: int) -> torch.Tensor:
    b, n, d = t.shape
    return t.reshape(b, n, n_heads, d // n_heads).transpose(1, 2)  # [b, h, n, hd]


def _first_row_scores(query0: torch.Tensor, key: torch.Tensor, w_q: torch.Tensor, b_q, w_k: torch.Tensor, b_k,
                      n_heads: int) -> torch.Tensor:
    """scores[b, h, 1, s] = q_0 . k_s / sqrt(hd), with q_0 folded into W_k (no full K is formed)."""
    b = query0.shape[0]
    hd = w_q.shape[0] // n_heads
    q0 = F.linear(query0, w_q, b_q).view(b, n_heads, hd)  # [b, h, hd]
    u = torch.einsum("bhe,hed->bhd", q0, w_k.view(n_heads, hd, w_k.shape[1]))  # W_k,h^T q0_h
    s = torch.einsum("bhd,bsd->bhs", u, key)
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


_MHA_SIGNATURE = inspect.signature(nn.MultiheadAttention.forward)


@dataclass(frozen=True)
class MhaCall:
    """The arguments of one nn.MultiheadAttention call, by name, with query/key/value batch-first [b, t, d]."""

    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    key_padding_mask: Optional[torch.Tensor]
    attn_mask: Optional[torch.Tensor]


def to_batch_first(attn: nn.MultiheadAttention, t: torch.Tensor) -> torch.Tensor:
    """A tensor in the module's layout ([t, b, d], [b, t, d] or unbatched [t, d]) as [b, t, d]."""
    if t.dim() == 2:
        return t.unsqueeze(0)
    return t if attn.batch_first else t.transpose(0, 1)


def from_batch_first(attn: nn.MultiheadAttention, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Inverse of to_batch_first for a tensor shaped like the module's output `like`."""
    if like.dim() == 2:
        return t.squeeze(0)
    return t if attn.batch_first else t.transpose(0, 1)


def mha_call(attn: nn.MultiheadAttention, args: tuple, kwargs: dict[str, Any]) -> MhaCall:
    """Bind a call's positional and keyword arguments the way nn.MultiheadAttention.forward does."""
    bound = _MHA_SIGNATURE.bind(attn, *args, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    if attn.bias_k is not None or attn.add_zero_attn:
        raise InterpError("attention with add_bias_kv or add_zero_attn is not supported (extra keys beyond the input)")
    kpm = a["key_padding_mask"]
    if kpm is not None and kpm.dim() == 1:
        kpm = kpm.unsqueeze(0)
    return MhaCall(to_batch_first(attn, a["query"]), to_batch_first(attn, a["key"]), to_batch_first(attn, a["value"]),
                   kpm, a["attn_mask"])


def _in_proj(attn: nn.MultiheadAttention) -> tuple:
    """(w_q, w_k, w_v, b_q, b_k, b_v), from the packed in_proj or the separate q/k/v weights (kdim/vdim != d)."""
    d = attn.embed_dim
    if attn.in_proj_weight is not None:
        w_q, w_k, w_v = attn.in_proj_weight.split(d)
    else:
        w_q, w_k, w_v = attn.q_proj_weight, attn.k_proj_weight, attn.v_proj_weight
    if attn.in_proj_bias is None:
        return w_q, w_k, w_v, None, None, None
    return (w_q, w_k, w_v, *attn.in_proj_bias.split(d))


def _mha_softmax(attn: nn.MultiheadAttention, call: MhaCall, first_only: bool) -> torch.Tensor:
    h = attn.num_heads
    w_q, w_k, _, b_q, b_k, _ = _in_proj(attn)
    if first_only:
        scores = _first_row_scores(call.query[:, 0], call.key, w_q, b_q, w_k, b_k, h)
    else:
        q = _heads(F.linear(call.query, w_q, b_q), h)
        k = _heads(F.linear(call.key, w_k, b_k), h)
        scores = (q / (attn.embed_dim // h) ** 0.5) @ k.transpose(-2, -1)
    if call.key_padding_mask is not None:
        scores = scores + _additive(call.key_padding_mask, scores.dtype)[:, None, None, :]
    return _softmax_with_mask(scores, _additive(call.attn_mask, scores.dtype), first_only)


def mha_pattern(attn: nn.MultiheadAttention, args: tuple, kwargs: dict[str, Any], first_only: bool = False) -> torch.Tensor:
    """Pattern of an nn.MultiheadAttention call, as `need_weights=True, average_attn_weights=False` gives it."""
    return _mha_softmax(attn, mha_call(attn, args, kwargs), first_only)


def head_contributions(attn: nn.MultiheadAttention, query: torch.Tensor, key: Optional[torch.Tensor] = None,
                       value: Optional[torch.Tensor] = None, attn_mask: Optional[torch.Tensor] = None,
                       key_padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """contrib[b, h, t, d] (batch-first whatever the module's layout): head h's share of the attention output, so
    that the module's output is sum_h contrib[:, h] + out_proj.bias. key defaults to query, value to key."""
    key = query if key is None else key
    value = key if value is None else value
    kwargs = {"attn_mask": attn_mask, "key_padding_mask": key_padding_mask}
    return mha_head_contributions(attn, (query, key, value), kwargs)


def mha_head_contributions(attn: nn.MultiheadAttention, args: tuple, kwargs: dict[str, Any]) -> torch.Tensor:
    """head_contributions of the call an attention module received (its hook args and kwargs)."""
    call = mha_call(attn, args, kwargs)
    d, h = attn.embed_dim, attn.num_heads
    _, _, w_v, _, _, b_v = _in_proj(attn)
    v = _heads(F.linear(call.value, w_v, b_v), h)                       # [b, h, s, hd]
    z = _mha_softmax(attn, call, first_only=False) @ v                  # [b, h, t, hd]
    w_o = attn.out_proj.weight.view(d, h, d // h)                       # [d, h, hd]
    return torch.einsum("bhte,dhe->bhtd", z, w_o)


@dataclass(frozen=True)
class HeadDecomposition:
    """How to split an attention module's output by head: contributions from its call, and reading / replacing the
    attention output ([b, t, d]) inside whatever the module returns."""

    contributions: Callable[[nn.Module, tuple, dict], torch.Tensor]
    output: Callable[[nn.Module, Any], torch.Tensor]
    replace: Callable[[nn.Module, Any, torch.Tensor], Any]


MHA_HEADS = HeadDecomposition(
    contributions=mha_head_contributions,
    output=lambda attn, out: to_batch_first(attn, out[0]),
    replace=lambda attn, out, new: (from_batch_first(attn, new, out[0]), *out[1:]),
)


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

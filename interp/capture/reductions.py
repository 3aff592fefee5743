"""Reductions computed inside the hook, on the model's device, so only the reduced tensor crosses to the host.

Shapes: token sites act[b, t, d]; patterns come as a PatternSource (pattern[b, h, q, k]); channel sites
act[b, c, h, w]; vectors act[b, d].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..models.hooks import PatternSource


@dataclass
class BatchContext:
    """What a reduction needs to know about the batch besides the activation."""

    n_prefix: int = 0                        # tokens before the patches (CLS, registers)
    pool_index: Optional[torch.Tensor] = None  # text: position of the pooled (EOT) token, [b]
    coverage: Optional[torch.Tensor] = None    # visual: object coverage of each patch, [b, k, patches]

    def valid_tokens(self, t: int) -> Optional[torch.Tensor]:
        """Text: [b, t] True up to and including the pooled token (padding excluded)."""
        if self.pool_index is None:
            return None
        return torch.arange(t, device=self.pool_index.device)[None, :] <= self.pool_index[:, None]


def _tokens(act: torch.Tensor, red: str, ctx: BatchContext) -> torch.Tensor:
    if red == "all":
        return act
    if red == "cls":
        return act[:, 0]
    if red == "eot":
        return act[torch.arange(act.shape[0], device=act.device), ctx.pool_index]
    body = act[:, ctx.n_prefix:]
    valid = ctx.valid_tokens(act.shape[1])
    if red == "mean":
        if valid is None:
            return body.mean(dim=1)
        w = valid.to(act.dtype).unsqueeze(-1)
        return (act * w).sum(dim=1) / w.sum(dim=1)
    if red == "max":
        if valid is None:
            return body.amax(dim=1)
        return act.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(dim=1)
    raise ValueError(red)


def _pattern(src: PatternSource, red: str, ctx: BatchContext) -> torch.Tensor:
    if red == "all":
        return src.full()
    if red == "cls_row":
        return src.first_row()[:, :, 0]
    if red == "eot_row":
        full = src.full()  # [b, h, q, k]
        idx = ctx.pool_index.view(-1, 1, 1, 1).expand(-1, full.shape[1], 1, full.shape[3])
        return full.gather(2, idx)[:, :, 0]
    if red == "object_mass":
        row = src.first_row()[:, :, 0, ctx.n_prefix:]  # [b, h, patches]
        return torch.einsum("bhp,bkp->bhk", row, ctx.coverage.to(row.dtype))
    raise ValueError(red)


def _channels(act: torch.Tensor, red: str, ctx: BatchContext) -> torch.Tensor:
    if red == "all":
        return act
    if red == "mean":
        return act.mean(dim=(2, 3))
    if red == "max":
        return act.amax(dim=(2, 3))
    raise ValueError(red)


REDUCERS = {"tokens": _tokens, "pattern": _pattern, "channels": _channels, "vector": lambda a, r, c: a}


def reduce(kind: str, act, red: str, ctx: BatchContext) -> torch.Tensor:
    """Apply reduction `red` to an activation of a site of `kind`."""
    return REDUCERS[kind](act, red, ctx)

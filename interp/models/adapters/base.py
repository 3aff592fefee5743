"""What every tower adapter provides: site bindings, token layout, and (text) the pooling position."""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from ..sites import Binding, block_site
from ...errors import InterpError


class Tower:
    """One tower (visual or text) of a model, seen through canonical site names."""

    name: str
    has_cls: bool = False
    n_prefix: int = 0

    def __init__(self, name: str) -> None:
        self.name = name
        self._bindings: dict[str, Binding] = {}

    def bindings(self) -> dict[str, Binding]:
        """Site name -> Binding, for every site of this tower."""
        return self._bindings

    def add(self, site: str, kind: str, module: Optional[nn.Module], where: str,
            pattern: Optional[Callable[..., torch.Tensor]] = None, block: Optional[int] = None) -> None:
        """Register one site."""
        self._bindings[site] = Binding(site, self.name, kind, module, where, pattern, block)  # type: ignore[arg-type]

    def pool_index(self, tokens: torch.Tensor) -> torch.Tensor:
        """Position of the pooling token per sequence (text towers)."""
        raise InterpError(f"the {self.name} tower has no pooling token")


def add_transformer_blocks(tower: Tower, blocks: nn.ModuleList, spec: dict[str, tuple[str, str]],
                           patterns: dict[type, Callable[..., torch.Tensor]], attn_attr: str) -> None:
    """Bind the six per-block components of a residual transformer stack.

    `spec` maps a component to (dotted submodule path inside the block, which side to hook). The attention
    pattern is bound when the block's attention module is of a type with a known recompute function.
    """
    for i, blk in enumerate(blocks):
        tower.add(block_site(tower.name, i, "resid_pre"), "tokens", blk, "input", block=i)
        attn = getattr(blk, attn_attr)
        fn = next((f for t, f in patterns.items() if isinstance(attn, t)), None)
        if fn is not None:
            tower.add(block_site(tower.name, i, "attn.pattern"), "pattern", attn, "attn", pattern=fn, block=i)
        for comp, (path, where) in spec.items():
            tower.add(block_site(tower.name, i, comp), "tokens", blk.get_submodule(path), where, block=i)
        tower.add(block_site(tower.name, i, "resid_post"), "tokens", blk, "output", block=i)

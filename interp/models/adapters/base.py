"""What every tower adapter provides: site bindings, token layout, and (text) the pooling position."""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from ...errors import InterpError, SiteError
from ..patterns import HeadDecomposition
from ..sites import Binding, block_site, parse_site


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
            pattern: Optional[Callable[..., torch.Tensor]] = None, heads: Optional[HeadDecomposition] = None,
            write: Optional[nn.Linear] = None) -> None:
        """Register one site (its name must parse as a canonical site of this tower)."""
        if parse_site(site).tower != self.name:
            raise SiteError(f"the {self.name} tower cannot bind {site}, a site of another tower")
        self._bindings[site] = Binding(site, self.name, kind, module, where, pattern, heads, write)  # type: ignore[arg-type]

    def pool_index(self, tokens: torch.Tensor) -> torch.Tensor:
        """Position of the pooling token per sequence (text towers)."""
        raise InterpError(f"the {self.name} tower has no pooling token")


def add_transformer_blocks(tower: Tower, blocks: nn.ModuleList, spec: dict[str, tuple[str, str]],
                           patterns: dict[type, Callable[..., torch.Tensor]], attn_attr: str,
                           heads: Optional[dict[type, HeadDecomposition]] = None,
                           writes: Optional[dict[str, str]] = None) -> None:
    """Bind the six per-block components of a residual transformer stack.

    `spec` maps a component to (dotted submodule path inside the block, which side to hook). The attention
    pattern is bound when the block's attention module is of a type with a known recompute function, and head
    hooks are served where its type has a head decomposition in `heads`. `writes` maps a component to the linear
    submodule through which its units write into the residual stream (e.g. mlp.post -> the MLP's output layer).
    """
    for i, blk in enumerate(blocks):
        tower.add(block_site(tower.name, i, "resid_pre"), "tokens", blk, "input")
        attn = getattr(blk, attn_attr)
        fn = next((f for t, f in patterns.items() if isinstance(attn, t)), None)
        dec = next((d for t, d in (heads or {}).items() if isinstance(attn, t)), None)
        if fn is not None:
            tower.add(block_site(tower.name, i, "attn.pattern"), "pattern", attn, "attn", pattern=fn, heads=dec)
        for comp, (path, where) in spec.items():
            write = blk.get_submodule(writes[comp]) if writes and comp in writes else None
            tower.add(block_site(tower.name, i, comp), "tokens", blk.get_submodule(path), where, write=write)
        tower.add(block_site(tower.name, i, "resid_post"), "tokens", blk, "output")

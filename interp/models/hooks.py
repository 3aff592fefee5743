"""Attaching functions to canonical sites, TransformerLens-style: typed hook protocol, removal in `finally`.

A hook receives the activation at a site and may return a replacement (interventions) or None (capture).
Attention-pattern sites hand the hook a `PatternSource`, which recomputes the pattern only as far as asked.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional, Protocol, Sequence, Union

import torch
from torch import nn

from .sites import Binding


@dataclass
class PatternSource:
    """An attention pattern not yet computed: `.full()` [b, h, q, k] or `.first_row()` [b, h, 1, k]."""

    module: nn.Module
    args: tuple
    kwargs: dict
    fn: Callable[..., torch.Tensor]
    _full: Optional[torch.Tensor] = field(default=None, repr=False)
    _first: Optional[torch.Tensor] = field(default=None, repr=False)

    def full(self) -> torch.Tensor:
        """Every query row."""
        if self._full is None:
            self._full = self.fn(self.module, self.args, self.kwargs, first_only=False)
        return self._full

    def first_row(self) -> torch.Tensor:
        """Only the first query row (the CLS row), computed cheaply unless the full pattern already exists."""
        if self._full is not None:
            return self._full[:, :, :1]
        if self._first is None:
            self._first = self.fn(self.module, self.args, self.kwargs, first_only=True)
        return self._first


Activation = Union[torch.Tensor, PatternSource]


class SiteHook(Protocol):
    """A function attached to a site: sees the activation, returns a replacement tensor or None."""

    def __call__(self, act: Activation, site: str) -> Optional[torch.Tensor]: ...


def _output_hook(site: str, fns: Sequence[SiteHook]) -> Callable:
    def hook(module: nn.Module, args: tuple, out: Any) -> Any:
        changed = False
        for fn in fns:
            new = fn(out, site)
            if new is not None:
                out, changed = new, True
        return out if changed else None

    return hook


def _input_hook(site: str, fns: Sequence[SiteHook]) -> Callable:
    def hook(module: nn.Module, args: tuple) -> Any:
        x, changed = args[0], False
        for fn in fns:
            new = fn(x, site)
            if new is not None:
                x, changed = new, True
        return (x, *args[1:]) if changed else None

    return hook


def _attn_hook(site: str, fns: Sequence[SiteHook], pattern: Callable[..., torch.Tensor]) -> Callable:
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        src = PatternSource(module, args, kwargs, pattern)
        for fn in fns:
            fn(src, site)
        return None

    return hook


@contextlib.contextmanager
def attached(bindings: Mapping[str, Binding], hooks: Mapping[str, Sequence[SiteHook]]) -> Iterator[None]:
    """Attach `hooks[site]` to each site's module for the duration of the block; always detached after."""
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        for site, fns in hooks.items():
            b = bindings[site]
            if b.where == "output":
                handles.append(b.module.register_forward_hook(_output_hook(site, fns)))
            elif b.where == "input":
                handles.append(b.module.register_forward_pre_hook(_input_hook(site, fns)))
            elif b.where == "attn":
                handles.append(b.module.register_forward_pre_hook(_attn_hook(site, fns, b.pattern), with_kwargs=True))
            # "return" sites are the encoder's output; the caller applies those hooks to it.
        yield
    finally:
        for h in handles:
            h.remove()

"""Attaching functions to canonical sites, TransformerLens-style: typed hook protocols, removal in `finally`.

Every forward hook interp puts on a model is registered here (and nowhere else), so there is one place where hooks
are added and one `finally` that removes them.

- A `SiteHook` receives the activation at a site and may return a replacement (interventions) or None (capture).
  Attention-pattern sites hand it a `PatternSource`, which recomputes the pattern only as far as asked; patterns
  are read-only (a replacement returned there raises, since it could change nothing).
- A `HeadHook` is attached to an attention-pattern site whose module splits by head: it receives a `HeadCall`
  (the module's input, its output, each head's contribution on demand) and may return a replacement output.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional, Protocol, Sequence, Union

import torch
from torch import nn

from ..errors import SiteError
from .patterns import HeadDecomposition
from .sites import Binding, expand


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


@dataclass
class HeadCall:
    """One call of an attention module, seen after it ran: `output` is its attention output [b, t, d] (batch-first
    whatever the module's layout, and updated as hooks replace it); `contributions()` is [b, h, t, d], each head's
    share of the original output (output = sum over heads + out_proj bias)."""

    module: nn.Module
    args: tuple
    kwargs: dict
    output: torch.Tensor
    decomposition: HeadDecomposition
    _contrib: Optional[torch.Tensor] = field(default=None, repr=False)

    @property
    def n_heads(self) -> int:
        """Number of heads."""
        return int(self.module.num_heads)

    def contributions(self) -> torch.Tensor:
        """Per-head contributions [b, h, t, d] of the call's inputs (computed once per call)."""
        if self._contrib is None:
            self._contrib = self.decomposition.contributions(self.module, self.args, self.kwargs)
        return self._contrib


Activation = Union[torch.Tensor, PatternSource]


class SiteHook(Protocol):
    """A function attached to a site: sees the activation, returns a replacement tensor or None."""

    def __call__(self, act: Activation, site: str) -> Optional[torch.Tensor]: ...


class HeadHook(Protocol):
    """A function attached to an attention site by head: sees the call, returns a replacement output [b, t, d] or None."""

    def __call__(self, call: HeadCall, site: str) -> Optional[torch.Tensor]: ...


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


def _pattern_hook(site: str, fns: Sequence[SiteHook], pattern: Callable[..., torch.Tensor]) -> Callable:
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        src = PatternSource(module, args, kwargs, pattern)
        for fn in fns:
            if fn(src, site) is not None:
                raise SiteError(f"{site} is an attention pattern, which is read-only: a hook there cannot replace it; "
                                "to intervene on attention heads attach a head hook (attached(..., heads=...))")
        return None

    return hook


def _head_hook(site: str, fns: Sequence[HeadHook], dec: HeadDecomposition) -> Callable:
    def hook(module: nn.Module, args: tuple, kwargs: dict, out: Any) -> Any:
        call, changed = HeadCall(module, args, kwargs, dec.output(module, out), dec), False
        for fn in fns:
            new = fn(call, site)
            if new is not None:
                call.output, changed = new, True
        return dec.replace(module, out, call.output) if changed else None

    return hook


def _binding(bindings: Mapping[str, Binding], site: str) -> Binding:
    if site not in bindings:
        expand(site, list(bindings))  # raises SiteError with suggestions
    b = bindings[site]
    if b.where == "return":
        raise SiteError(f"{site} is the encoder's return value, not a module activation: no hook can attach there "
                        "(read it from encode_image / encode_text, or capture it with capture_batch)")
    return b


@contextlib.contextmanager
def attached(bindings: Mapping[str, Binding], hooks: Mapping[str, Sequence[SiteHook]],
             heads: Optional[Mapping[str, Sequence[HeadHook]]] = None) -> Iterator[None]:
    """Attach `hooks[site]` (and head hooks `heads[site]`) for the duration of the block; always detached after.

    Raises SiteError for an unknown site, a site no hook can serve (`*.proj`, the encoder's return value) and head
    hooks at a site that is not an attention module with a head decomposition; nothing is attached then.
    """
    heads = heads or {}
    plan = [(site, _binding(bindings, site), fns, False) for site, fns in hooks.items()]
    for site, fns in heads.items():
        b = _binding(bindings, site)
        if b.heads is None:
            what = f"a {b.kind} site" if b.kind != "pattern" else f"{type(b.module).__name__}, which has no head decomposition"
            raise SiteError(f"head hooks need an attention site of nn.MultiheadAttention; {site} is {what}")
        plan.append((site, b, fns, True))
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        for site, b, fns, by_head in plan:
            if by_head:
                handles.append(b.module.register_forward_hook(_head_hook(site, fns, b.heads), with_kwargs=True))
            elif b.where == "output":
                handles.append(b.module.register_forward_hook(_output_hook(site, fns)))
            elif b.where == "input":
                handles.append(b.module.register_forward_pre_hook(_input_hook(site, fns)))
            else:
                handles.append(b.module.register_forward_pre_hook(_pattern_hook(site, fns, b.pattern), with_kwargs=True))
        yield
    finally:
        for h in handles:
            h.remove()

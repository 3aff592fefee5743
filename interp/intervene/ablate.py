"""Ablations at canonical sites: neuron sets (zero / mean / resample) and attention heads (by their contribution
to the residual). Each builds hooks for `interp.models.attached`; nothing here touches module internals beyond
what the adapter binds."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional, Sequence

import numpy as np
import torch

from ..errors import InterpError
from ..models.hooks import HeadCall, HeadHook, SiteHook, attached
from ..models.loaded import LoadedModel

Mode = Literal["zero", "mean", "resample"]
MODES = ("zero", "mean", "resample")


@dataclass
class Reference:
    """Reference activations at the ablated sites: a resample pool acts[site] = [m, ...] and, when collected from more
    stimuli than the pool holds, the per-position mean over all of them (means[site])."""

    acts: dict[str, torch.Tensor]
    seed: int = 0
    means: Optional[dict[str, torch.Tensor]] = None
    _gen: Optional[torch.Generator] = field(default=None, repr=False)

    def mean(self, site: str) -> torch.Tensor:
        """Per-position mean over reference stimuli ([tokens, neurons], or [channels, h, w])."""
        return self.means[site] if self.means is not None else self.acts[site].mean(0)

    def unit_means(self, site: str) -> np.ndarray:
        """Mean activation of each unit over stimuli and positions (what random sets are matched on)."""
        m = self.mean(site)
        return (m.mean((1, 2)) if m.dim() == 3 else m.reshape(-1, m.shape[-1]).mean(0)).numpy()

    def sample(self, site: str, b: int) -> torch.Tensor:
        """b activations drawn with replacement from the pool (resample ablation)."""
        if self._gen is None:
            self._gen = torch.Generator().manual_seed(self.seed)
        idx = torch.randint(0, self.acts[site].shape[0], (b,), generator=self._gen)
        return self.acts[site][idx]


@torch.no_grad()
def collect_reference(lm: LoadedModel, images: torch.Tensor, sites: Sequence[str], batch: int = 32,
                      pool: int = 64) -> Reference:
    """Run reference images: per-position means over all of them, full activations of the first `pool` (for
    resampling). Memory stays at pool + one batch of activations, whatever the number of images."""
    from ..capture import CaptureRequest, capture_batch

    req = CaptureRequest.parse([f"{s}:all" for s in sites], lm.sites(), dtype="float32")
    sums: dict[str, torch.Tensor] = {}
    kept: dict[str, list[torch.Tensor]] = {s: [] for s in sites}
    n = 0
    for i in range(0, len(images), batch):
        got = capture_batch(lm, req, images=images[i : i + batch])
        for s in sites:
            a = got[(s, "all")]
            sums[s] = sums[s] + a.sum(0) if s in sums else a.sum(0)
            room = pool - sum(len(t) for t in kept[s])
            if room > 0:
                kept[s].append(a[:room].clone())
        n += len(images[i : i + batch])
    if n == 0:
        raise InterpError("no reference images")
    return Reference({s: torch.cat(v) for s, v in kept.items()}, means={s: v / n for s, v in sums.items()})


def neuron_ablation(units: Mapping[str, Sequence[int] | np.ndarray], mode: Mode = "zero",
                    reference: Optional[Reference] = None) -> dict[str, list[SiteHook]]:
    """Hooks that replace the given neurons (last axis) at each site: by 0, the reference mean, or resampled values."""
    if mode not in MODES:
        raise InterpError(f"unknown ablation mode {mode!r}; use {', '.join(MODES)}")
    if mode != "zero" and reference is None:
        raise InterpError(f"{mode} ablation needs reference activations (collect_reference)")
    hooks: dict[str, list[SiteHook]] = {}
    for site, idx in units.items():
        idx_t = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        if idx_t.numel() == 0:
            continue

        def hook(act: torch.Tensor, s: str, idx_t=idx_t) -> torch.Tensor:
            out = act.clone()
            # units are the last axis of token sites [b, t, d] and axis 1 of channel maps [b, c, h, w]
            sel = (slice(None), idx_t) if act.dim() == 4 else (Ellipsis, idx_t)
            if mode == "zero":
                out[sel] = 0
            elif mode == "mean":
                out[sel] = reference.mean(s).unsqueeze(0)[sel].to(act.dtype)
            else:
                out[sel] = reference.sample(s, act.shape[0])[sel].to(act.dtype)
            return out

        hooks[site] = [hook]
    return hooks


class HeadAblation:
    """Zero- or mean-ablate attention heads by subtracting their contribution from the attention output.

    Works where the pattern site's module splits by head (nn.MultiheadAttention: open_clip ViT and text towers).
    `means[(pattern_site, h)]` holds the mean contribution [t, d] for mean ablation. Use it as a context manager,
    or pass `.hooks()` to `attached(..., heads=...)` alongside other hooks.
    """

    def __init__(self, lm: LoadedModel, heads: Mapping[str, Sequence[int]], mode: Literal["zero", "mean"] = "zero",
                 means: Optional[dict[tuple[str, int], torch.Tensor]] = None) -> None:
        if mode not in ("zero", "mean"):
            raise InterpError(f"unknown head ablation mode {mode!r}; use zero or mean")
        self.lm, self.heads, self.mode, self.means = lm, {s: list(hs) for s, hs in heads.items()}, mode, means or {}
        self._stack: Optional[contextlib.ExitStack] = None
        infos = lm.sites()
        bindings = lm.adapter.bindings()
        for site, hs in self.heads.items():
            if site not in infos or infos[site].kind != "pattern":
                raise InterpError(f"heads are named by their pattern site (e.g. visual.blocks.3.attn.pattern), not {site!r}")
            if bindings[site].heads is None:
                raise InterpError(f"head ablation needs nn.MultiheadAttention; {site} is "
                                  f"{type(bindings[site].module).__name__}")
            n_heads = infos[site].shape[0]
            bad = [h for h in hs if not 0 <= h < n_heads]
            if bad:
                raise InterpError(f"{site} has heads 0..{n_heads - 1}; no head {bad[0]}")
        if mode == "mean" and any((s, h) not in self.means for s, hs in self.heads.items() for h in hs):
            raise InterpError("mean head ablation needs mean contributions (head_means)")

    def hooks(self) -> dict[str, list[HeadHook]]:
        """Head hooks that remove the listed heads (for `attached(bindings, {}, heads=...)`)."""
        def hook(call: HeadCall, site: str) -> torch.Tensor:
            contrib, out = call.contributions(), call.output
            for h in self.heads[site]:
                out = out - contrib[:, h]
                if self.mode == "mean":
                    out = out + self.means[(site, h)].to(out.dtype)
            return out

        return {site: [hook] for site in self.heads}

    def __enter__(self) -> "HeadAblation":
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(attached(self.lm.adapter.bindings(), {}, heads=self.hooks()))
        return self

    def __exit__(self, *exc) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None


@torch.no_grad()
def head_means(lm: LoadedModel, images: torch.Tensor, heads: Mapping[str, Sequence[int]]) -> dict[tuple[str, int], torch.Tensor]:
    """Mean contribution [t, d] of each listed head over reference images."""
    sums: dict[tuple[str, int], torch.Tensor] = {}

    def hook(call: HeadCall, site: str) -> None:
        contrib = call.contributions()
        for h in heads[site]:
            sums[(site, h)] = sums.get((site, h), 0) + contrib[:, h].sum(0)

    with attached(lm.adapter.bindings(), {}, heads={site: [hook] for site in heads}):
        lm.model.encode_image(images)
    return {k: v / len(images) for k, v in sums.items()}


@torch.no_grad()
def head_contribution_stats(lm: LoadedModel, images: torch.Tensor, sites: Sequence[str], batch: int = 32) -> dict[str, dict]:
    """Per pattern site: each head's mean contribution [H, t, d] over `images`, the mean norm of its contribution
    (the |Δ residual| of zero-ablating it) and the mean norm of its deviation from that mean (of mean-ablating it)."""
    sums: dict[str, torch.Tensor] = {}
    norms: dict[str, torch.Tensor] = {}

    def first(call: HeadCall, site: str) -> None:
        c = call.contributions().double()  # [b, H, t, d]
        sums[site] = sums.get(site, 0) + c.sum(0)
        norms[site] = norms.get(site, 0) + c.norm(dim=-1).mean(-1).sum(0)

    bindings = lm.adapter.bindings()
    with attached(bindings, {}, heads={s: [first] for s in sites}):
        for i in range(0, len(images), batch):
            lm.model.encode_image(images[i : i + batch])
    n = len(images)
    means = {s: v / n for s, v in sums.items()}
    dev: dict[str, torch.Tensor] = {}

    def second(call: HeadCall, site: str) -> None:
        c = call.contributions().double()
        dev[site] = dev.get(site, 0) + (c - means[site].unsqueeze(0)).norm(dim=-1).mean(-1).sum(0)

    with attached(bindings, {}, heads={s: [second] for s in sites}):
        for i in range(0, len(images), batch):
            lm.model.encode_image(images[i : i + batch])
    return {s: {"mean": means[s].float(), "mean_norm": (norms[s] / n).cpu().numpy(),
                "mean_dev_norm": (dev[s] / n).cpu().numpy()} for s in sites}

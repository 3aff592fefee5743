"""Unit kinds for the control engine: for neurons / ResNet channels and for attention heads, the pool of units with
the perturbation size of intervening on each (measured on reference stimuli), and the intervention itself."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import InterpError
from ..models.hooks import attached
from ..models.loaded import LoadedModel
from .ablate import HeadAblation, Mode, collect_reference, head_contribution_stats, neuron_ablation
from .controls import Intervention, UnitPool, UnitSet


def neuron_units(lm: LoadedModel, images: torch.Tensor, sites: Sequence[str], mode: Mode = "mean",
                 seed: int = 0) -> tuple[UnitPool, Intervention]:
    """Neurons (token sites) or channels (feature maps) at `sites`, ablated by `mode` with a reference from `images`.

    A unit's size is the mean |activation - replacement| over reference stimuli and positions, times the norm of
    the weights through which it writes into the residual stream where the adapter knows them (MLP neurons), so
    it is the mean |Δ residual| the ablation causes."""
    ref = collect_reference(lm, images, list(sites))
    sizes: dict[str, np.ndarray] = {}
    kind = "neuron"
    for s in sites:
        acts = ref.acts[s].double()  # [m, tokens, units] or [m, channels, h, w]
        if mode == "zero":
            delta = acts.abs()
        elif mode == "mean":
            delta = (acts - ref.mean(s).double().unsqueeze(0)).abs()
        else:  # resample: the replacement is another stimulus's activation
            delta = (acts - acts.roll(1, 0)).abs()
        if acts.dim() == 4:
            kind = "channel"
            per_unit = delta.mean((0, 2, 3))
        else:
            per_unit = delta.reshape(-1, delta.shape[-1]).mean(0)
        w = lm.adapter.write_norms(s)
        sizes[s] = (per_unit.numpy() * (w if w is not None else 1.0)).astype(np.float64)
    bindings = lm.adapter.bindings()

    def intervene(units: UnitSet):
        return attached(bindings, neuron_ablation(units, mode, ref))

    return UnitPool(kind, sizes), intervene


def head_units(lm: LoadedModel, images: torch.Tensor, sites: Sequence[str], mode: str = "zero") -> tuple[UnitPool, Intervention]:
    """Attention heads at pattern `sites`, ablated by removing their contribution (zero) or replacing it by its mean
    over `images` (mean). A head's size is the mean ‖Δ residual‖ its ablation causes on those images."""
    if mode not in ("zero", "mean"):
        raise InterpError(f"heads are ablated by zero or mean, not {mode!r}")
    stats = head_contribution_stats(lm, images, list(sites))
    sizes = {s: (st["mean_norm"] if mode == "zero" else st["mean_dev_norm"]).astype(np.float64) for s, st in stats.items()}
    means = {(s, h): st["mean"][h] for s, st in stats.items() for h in range(len(st["mean_norm"]))}

    def intervene(units: UnitSet):
        return HeadAblation(lm, {s: [int(h) for h in hs] for s, hs in units.items()}, mode, means if mode == "mean" else None)

    return UnitPool("head", sizes), intervene

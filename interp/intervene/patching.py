"""Activation patching: run a clean and a corrupted input, copy a site's activation (whole, per position, or
per head) from the clean run into the corrupted one, and record a metric per patched component."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Optional, Sequence

import numpy as np
import torch

from ..capture import CaptureRequest, capture_batch
from ..errors import InterpError
from ..models.hooks import HeadCall, attached
from ..models.loaded import LoadedModel
from ..models.sites import block_site

Metric = Callable[[torch.Tensor], torch.Tensor]  # image embeddings [b, d] -> metric [b]


@dataclass
class PatchResult:
    """metric[component] arrays: rows follow `labels`, columns positions or heads."""

    values: np.ndarray
    labels: list[str]
    axis: str
    clean: float
    corrupt: float

    def plot(self, fig) -> None:
        """Heat map (site x position / layer x head)."""
        ax = fig.add_subplot(1, 1, 1)
        im = ax.imshow(self.values, aspect="auto", cmap="viridis")
        ax.set_yticks(range(len(self.labels)), self.labels, fontsize=7)
        ax.set_xlabel(self.axis)
        ax.set_title(f"activation patching (clean {self.clean:.3f}, corrupted {self.corrupt:.3f})")
        fig.colorbar(im, ax=ax)


@torch.no_grad()
def patch_sites(lm: LoadedModel, clean: torch.Tensor, corrupt: torch.Tensor, sites: Sequence[str], metric: Metric,
                per: Literal["site", "position"] = "site") -> PatchResult:
    """Patch each site (or each token position of it) from clean into corrupt; metric averaged over the batch."""
    if clean.shape != corrupt.shape:
        raise InterpError(f"clean {tuple(clean.shape)} and corrupted {tuple(corrupt.shape)} inputs differ in shape")
    infos = lm.sites()
    for s in sites:
        if s not in infos or infos[s].kind != "tokens":
            raise InterpError(f"patching works on token sites (resid, attn.out, mlp); {s!r} is not one")
    req = CaptureRequest.parse([f"{s}:all" for s in sites], infos, dtype="float32")
    cache = capture_batch(lm, req, images=clean, to_host=False)
    base_clean = float(metric(lm.model.encode_image(clean)).mean())
    base_corrupt = float(metric(lm.model.encode_image(corrupt)).mean())
    bindings = lm.adapter.bindings()
    n_pos = infos[sites[0]].shape[0]
    rows = []
    for s in sites:
        src = cache[(s, "all")]
        positions: list[Optional[int]] = [None] if per == "site" else list(range(src.shape[1]))
        vals = []
        for pos in positions:
            def hook(act, site, src=src, pos=pos):
                out = act.clone()
                if pos is None:
                    out[:] = src.to(act.dtype)
                else:
                    out[:, pos] = src[:, pos].to(act.dtype)
                return out

            with attached(bindings, {s: [hook]}):
                vals.append(float(metric(lm.model.encode_image(corrupt)).mean()))
        rows.append(vals + [np.nan] * (max(1, n_pos if per == "position" else 1) - len(vals)))
    return PatchResult(np.array(rows), list(sites), "position" if per == "position" else "site", base_clean, base_corrupt)


@torch.no_grad()
def patch_heads(lm: LoadedModel, clean: torch.Tensor, corrupt: torch.Tensor, blocks: Sequence[int], metric: Metric,
                tower: str = "visual") -> PatchResult:
    """Patch each head's contribution to the residual from clean into corrupt: result [len(blocks), heads]."""
    if clean.shape != corrupt.shape:
        raise InterpError(f"clean {tuple(clean.shape)} and corrupted {tuple(corrupt.shape)} inputs differ in shape")
    bindings, infos = lm.adapter.bindings(), lm.sites()
    out_rows = []
    base_clean = float(metric(lm.model.encode_image(clean)).mean())
    base_corrupt = float(metric(lm.model.encode_image(corrupt)).mean())
    for b in blocks:
        site = block_site(tower, b, "attn.pattern")
        cached: dict[str, torch.Tensor] = {}

        def keep(call: HeadCall, s: str) -> None:
            cached["c"] = call.contributions()

        with attached(bindings, {}, heads={site: [keep]}):
            lm.model.encode_image(clean)
        vals = []
        for head in range(infos[site].shape[0]):
            def swap(call: HeadCall, s: str, head: int = head) -> torch.Tensor:
                return call.output - call.contributions()[:, head] + cached["c"][:, head]

            with attached(bindings, {}, heads={site: [swap]}):
                vals.append(float(metric(lm.model.encode_image(corrupt)).mean()))
        out_rows.append(vals)
    return PatchResult(np.array(out_rows), [block_site(tower, b, "attn.pattern") for b in blocks], "head", base_clean,
                       base_corrupt)

"""One forward pass with capture hooks: reduced activations for every requested (site, reduction)."""
from __future__ import annotations

from typing import Optional

import torch

from ..models.hooks import attached
from ..models.loaded import LoadedModel
from .reductions import BatchContext, reduce
from .request import CaptureRequest


def _store_dtype(name: str) -> torch.dtype:
    return torch.float16 if name == "float16" else torch.float32


@torch.no_grad()
def capture_batch(lm: LoadedModel, request: CaptureRequest, images: Optional[torch.Tensor] = None,
                  tokens: Optional[torch.Tensor] = None, coverage: Optional[torch.Tensor] = None,
                  to_host: bool = True) -> dict[tuple[str, str], torch.Tensor]:
    """Run the towers the request needs; return {(site, red): tensor[b, ...]} cast to the request's dtype.

    Reductions and the dtype cast run on the model's device inside the hooks; only the results are copied.
    """
    bindings = lm.adapter.bindings()
    towers = lm.adapter.towers()
    dtype = _store_dtype(request.dtype)
    out: dict[tuple[str, str], torch.Tensor] = {}
    per_site = request.by_site()
    ctxs = {
        "visual": BatchContext(n_prefix=towers["visual"].n_prefix,
                               coverage=coverage.to(lm.device) if coverage is not None else None),
        "text": BatchContext(pool_index=towers["text"].pool_index(tokens) if tokens is not None else None),
    }

    def make_hook(site: str, reds: list[str]):
        b = bindings[site]
        ctx = ctxs[b.tower]

        def hook(act, site_name):
            for red in reds:
                out[(site, red)] = reduce(b.kind, act, red, ctx).to(dtype)
            return None

        return hook

    # return sites (`*.proj`) are the encoders' outputs, read below; attached serves only module activations
    returned = {s for s in per_site if bindings[s].where == "return"}
    hooks = {s: [make_hook(s, reds)] for s, reds in per_site.items() if s not in returned}
    inputs = {"visual": (images, lm.model.encode_image, "images"), "text": (tokens, lm.model.encode_text, "captions")}
    with attached(bindings, hooks):
        for tower in sorted(request.towers(), key=lambda t: t != "visual"):
            x, encode, what = inputs[tower]
            if x is None:
                raise ValueError(f"the request names {tower} sites but no {what} were given")
            emb = encode(x.to(lm.device))
            for s in returned:
                if bindings[s].tower == tower:
                    out[(s, "all")] = emb.to(dtype)
    if to_host:
        out = {k: v.to("cpu", non_blocking=True) for k, v in out.items()}
    return out

"""Attribution by site name (captum): neuron -> pixels, and model output -> the neurons of a layer.

Every function takes a canonical site; the adapter supplies the single-tensor module captum needs (for an MLP
site that is the activation module, whose output is one tensor, not a block returning a tuple).
"""
from __future__ import annotations

from typing import Callable, Literal, Optional

import torch

from .errors import InterpError
from .models.hooks import attached
from .models.loaded import LoadedModel


def _layer(lm: LoadedModel, site: str) -> tuple[torch.nn.Module, bool]:
    b = lm.adapter.binding(site)
    if b.where not in ("output", "input") or b.kind not in ("tokens", "channels"):
        raise InterpError(f"attribution needs a token or channel site bound to a module; {site} is a {b.kind} site")
    if b.tower != "visual":
        raise InterpError(f"pixel attribution needs a visual site; {site} is in the {b.tower} tower")
    return b.module, b.where == "input"


def neuron_attribution(lm: LoadedModel, images: torch.Tensor, site: str, unit: int, token: Optional[int] = 0,
                       method: Literal["integrated_gradients", "conductance"] = "integrated_gradients",
                       n_steps: int = 32, baselines: Optional[torch.Tensor] = None,
                       return_delta: bool = False, direction: Optional[torch.Tensor] = None):
    """Attribute neuron `unit` of `site` (at token `token`, or averaged over tokens if None) to input pixels.

    Args:
        images: preprocessed inputs [n, 3, h, w].
        site: canonical site name, e.g. ``visual.blocks.3.mlp.post``.
        unit: neuron (last axis) index; for channel sites the channel, averaged over space.
        token: token position for token sites (0 = CLS); None averages over tokens.
        method: captum NeuronIntegratedGradients or NeuronConductance.
        baselines: reference input (default: zeros, i.e. the dataset-mean image after normalisation).
        direction: conductance only: the output scalar is emb @ direction (e.g. a text class embedding).
    Returns:
        attributions [n, 3, h, w] (and the completeness gap of integrated gradients when return_delta).
    """
    from captum.attr import NeuronConductance, NeuronIntegratedGradients

    layer, to_input = _layer(lm, site)
    kind = lm.adapter.binding(site).kind

    def selector(out: torch.Tensor) -> torch.Tensor:
        if kind == "channels":
            return out[:, unit].mean((1, 2))
        return out[:, token, unit] if token is not None else out[..., unit].mean(1)

    fwd = lambda x: lm.model.encode_image(x)  # noqa: E731
    x = images.to(lm.device).requires_grad_(True)
    base = baselines if baselines is not None else torch.zeros_like(x)
    if method == "integrated_gradients":
        attr = NeuronIntegratedGradients(fwd, layer)
        out = attr.attribute(x, selector, baselines=base, n_steps=n_steps, attribute_to_neuron_input=to_input)
    elif method == "conductance":
        if direction is None:
            raise InterpError("conductance needs an output direction (e.g. a text class embedding)")
        d = direction.to(lm.device)
        attr = NeuronConductance(lambda z: lm.model.encode_image(z) @ d, layer)
        out = attr.attribute(x, selector, baselines=base, n_steps=n_steps, attribute_to_neuron_input=to_input)
    else:
        raise InterpError(f"unknown attribution method {method!r}")
    if not return_delta:
        return out.detach()
    with torch.no_grad():
        vals = []
        for inp in (x, base):
            got: dict[str, torch.Tensor] = {}
            with attached(lm.adapter.bindings(), {site: [lambda act, s: got.__setitem__("v", act)]}):
                lm.model.encode_image(inp)
            vals.append(selector(got["v"]))
    delta = out.detach().sum((1, 2, 3)) - (vals[0] - vals[1])
    return out.detach(), delta


def layer_attribution(lm: LoadedModel, images: torch.Tensor, site: str, target: Callable[[torch.Tensor], torch.Tensor],
                      n_steps: int = 32, baselines: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Attribute a scalar of the image embedding (`target(emb) -> [n]`) to every neuron of `site` (captum
    LayerIntegratedGradients); returns attributions shaped like the site's activation [n, ...]."""
    from captum.attr import LayerIntegratedGradients

    layer, to_input = _layer(lm, site)
    attr = LayerIntegratedGradients(lambda x: target(lm.model.encode_image(x)), layer)
    x = images.to(lm.device)
    out = attr.attribute(x, baselines=baselines if baselines is not None else torch.zeros_like(x), n_steps=n_steps,
                         attribute_to_layer_input=to_input)
    return out.detach()

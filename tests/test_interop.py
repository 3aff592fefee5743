"""Interop with known answers: nnsight gives the same intervention numbers, TransformerLens reproduces
encode_text, captum's attributions are complete."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.attribute import layer_attribution, neuron_attribution
from interp.export import encode_text_tl, text_tower_to_transformer_lens
from interp.intervene import neuron_ablation
from interp.models import attached
from probes.stimuli import colour_patches

UNITS = [1, 5, 9, 60]


def test_nnsight_intervention_matches_ours(tiny):
    from nnsight import NNsight

    x = tiny.images_to_tensor(colour_patches(n=3, size=32).images(range(3)))
    with torch.no_grad(), attached(tiny.adapter.bindings(), neuron_ablation({"visual.blocks.1.mlp.post": UNITS}, "zero")):
        ours = tiny.model.encode_image(x)
    nm = NNsight(tiny.model)
    with torch.no_grad(), nm.trace(x, fn=tiny.model.encode_image) as tracer:
        nm.visual.transformer.resblocks[1].mlp.gelu.output[:, :, UNITS] = 0
        theirs = tracer.result.save()
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    with torch.no_grad():
        assert not torch.allclose(ours, tiny.model.encode_image(x))


@pytest.mark.parametrize("spec", ["tiny", "vitb32", "organism"])
def test_transformer_lens_bridge_matches_encode_text(request, spec):
    if spec == "organism":
        from interp import load_model

        lm = load_model("organism")
        texts = ["the word red written in blue", "a star and a heart"]
    else:
        lm = request.getfixturevalue(spec)
        texts = ["a red star", "the word blue written in green ink"]
    bridge = text_tower_to_transformer_lens(lm)
    t = lm.tokenize(texts)
    with torch.no_grad():
        got, want = encode_text_tl(bridge, lm, t), lm.model.encode_text(t)
    assert (got - want).abs().max().item() <= 1e-5
    logits, cache = bridge.run_with_cache(t)
    assert "blocks.0.hook_resid_pre" in cache.keys()


def test_quick_gelu_models_export_exactly():
    from interp import load_model

    lm = load_model("RN50-quickgelu:none")
    bridge = text_tower_to_transformer_lens(lm)
    t = lm.tokenize(["a photo of a cat"])
    with torch.no_grad():
        assert (encode_text_tl(bridge, lm, t) - lm.model.encode_text(t)).abs().max().item() <= 1e-5


def test_integrated_gradients_are_complete(tiny):
    x = tiny.images_to_tensor(colour_patches(n=2, size=32).images(range(2)))
    attr, delta = neuron_attribution(tiny, x, "visual.blocks.1.mlp.post", unit=7, token=0, n_steps=200, return_delta=True)
    assert attr.shape == x.shape and attr.abs().sum() > 0
    assert delta.abs().max().item() < 0.02 * max(1.0, attr.sum((1, 2, 3)).abs().max().item())
    direction = torch.randn(tiny.model.visual.output_dim, generator=torch.Generator().manual_seed(0))
    cond = neuron_attribution(tiny, x, "visual.blocks.1.mlp.post", unit=7, method="conductance", n_steps=50,
                              direction=direction)
    assert cond.shape == x.shape and cond.abs().sum() > 0
    la = layer_attribution(tiny, x, "visual.blocks.1.mlp.post", lambda e: e @ direction, n_steps=100)
    assert la.shape == (2, 17, 128) and np.isfinite(la.numpy()).all()
    # completeness of layer IG at the final residual: everything flows through it, so attributions add up to
    # target(x) - target(baseline)
    lr = layer_attribution(tiny, x, "visual.blocks.1.resid_post", lambda e: e @ direction, n_steps=300)
    with torch.no_grad():
        gap = tiny.model.encode_image(x) @ direction - tiny.model.encode_image(torch.zeros_like(x)) @ direction
    torch.testing.assert_close(lr.sum((1, 2)), gap, rtol=0.02, atol=0.02)

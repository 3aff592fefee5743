"""Interventions on a model whose causal path is known: ablation agrees with a direct computation, only the path
neurons matter, matched random sets do nothing, patching an identical input changes nothing."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from interp.errors import InterpError
from interp.intervene import (HeadAblation, Reference, Task, UnitPool, ZeroShotEval, collect_reference, draw_control_sets,
                              neuron_ablation, patch_heads, patch_sites, run_controls)
from interp.intervene.units import neuron_units
from interp.models import attached
from probes.stimuli import colour_patches

SITE = "visual.blocks.1.mlp.post"
PATH = [3, 17, 40, 77]


def images(lm, n=12, seed=0):
    return lm.images_to_tensor(colour_patches(n=n, seed=seed, size=lm.image_size[0]).images(range(n)))


@torch.no_grad()
def manual_forward(visual, x, override=None, head_zero=None):
    """The visual tower written out by hand, with an optional edit of block 1's MLP activations."""
    x = visual._embeds(x)
    for i, blk in enumerate(visual.transformer.resblocks):
        a_in = blk.ln_1(x)
        if head_zero is not None and i == head_zero[0]:
            attn = blk.attn
            d, H = attn.embed_dim, attn.num_heads
            q, k, v = torch.nn.functional.linear(a_in, attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1)
            sp = lambda t: t.view(t.shape[0], t.shape[1], H, d // H).transpose(1, 2)
            z = (sp(q) @ sp(k).transpose(-1, -2) / (d // H) ** 0.5).softmax(-1) @ sp(v)
            z[:, head_zero[1]] = 0
            a = attn.out_proj(z.transpose(1, 2).reshape(x.shape))
        else:
            a = blk.attention(a_in)
        x = x + blk.ls_1(a)
        h = blk.mlp.gelu(blk.mlp.c_fc(blk.ln_2(x)))
        if override is not None and i == 1:
            h = override(h)
        x = x + blk.ls_2(blk.mlp.c_proj(h))
    pooled, _ = visual._pool(x)
    return pooled @ visual.proj


def run(lm, x, hooks=None):
    with torch.no_grad(), attached(lm.adapter.bindings(), hooks or {}):
        return lm.model.encode_image(x)


def test_zero_mean_resample_agree_with_direct_computation(tiny):
    x = images(tiny)
    ref = collect_reference(tiny, images(tiny, 20, seed=5), [SITE])
    idx = torch.tensor(PATH)
    v = tiny.model.visual

    def zero(h):
        h = h.clone(); h[..., idx] = 0; return h

    def mean(h):
        h = h.clone(); h[..., idx] = ref.mean(SITE)[..., idx]; return h

    torch.testing.assert_close(run(tiny, x, neuron_ablation({SITE: PATH}, "zero")), manual_forward(v, x, zero), rtol=0, atol=1e-5)
    torch.testing.assert_close(run(tiny, x, neuron_ablation({SITE: PATH}, "mean", ref)), manual_forward(v, x, mean), rtol=0, atol=1e-5)
    twin = Reference(ref.acts, seed=3)
    drawn = Reference(ref.acts, seed=3).sample(SITE, len(x))

    def resample(h):
        h = h.clone(); h[..., idx] = drawn[..., idx]; return h

    torch.testing.assert_close(run(tiny, x, neuron_ablation({SITE: PATH}, "resample", twin)), manual_forward(v, x, resample), rtol=0, atol=1e-5)
    torch.testing.assert_close(run(tiny, x), manual_forward(v, x), rtol=0, atol=1e-5)  # the hand-written tower is right
    with pytest.raises(InterpError, match="needs reference"):
        neuron_ablation({SITE: PATH}, "mean")


def test_head_ablation_equals_zeroing_the_head_by_hand(tiny):
    x = images(tiny, 4)
    with HeadAblation(tiny, {"visual.blocks.0.attn.pattern": [1]}):
        got = run(tiny, x)
    torch.testing.assert_close(got, manual_forward(tiny.model.visual, x, head_zero=(0, 1)), rtol=0, atol=1e-5)
    assert not torch.allclose(got, run(tiny, x))


@pytest.fixture()
def path_model(tiny):
    """tiny with block 1 writing to the residual only through neurons PATH (amplified): a known causal path."""
    lm = copy.copy(tiny)
    lm.model = copy.deepcopy(tiny.model)
    lm._adapter, lm._sites = None, None
    blk = lm.model.visual.transformer.resblocks[1]
    with torch.no_grad():
        keep = torch.zeros(blk.mlp.c_proj.weight.shape[1], dtype=torch.bool)
        keep[PATH] = True
        blk.mlp.c_proj.weight[:, ~keep] = 0
        blk.mlp.c_proj.weight[:, keep] *= 40
        blk.mlp.c_proj.bias.zero_()
    return lm


def test_only_the_path_neurons_carry_the_effect(path_model):
    lm = path_model
    x = images(lm, 30, seed=2)
    base = run(lm, x)
    ev_classes = torch.nn.functional.normalize(base, dim=-1).numpy()
    ev = ZeroShotEval(lm, x, {"identity": Task(np.arange(30), np.arange(30), ev_classes)})
    pool, intervene = neuron_units(lm, x, [SITE], mode="zero")
    # the path neurons write 40x harder than any other: the measured perturbation sizes say so
    assert pool.size[SITE][PATH].min() > 5 * np.median(np.delete(pool.size[SITE], PATH))
    res = run_controls(ev.evaluation(), intervene, {SITE: np.array(PATH)}, pool, n_sets=100, seed=0,
                       ranking={SITE: np.array([4.0, 3.0, 2.0, 1.0])}, dose=(1, 4), dose_sets=5)
    assert res.baseline["identity"].value == 1.0
    assert np.all(res.random_effects["identity"] == 0.0)  # no control set touches the path
    assert res.effect["identity"].value < -0.5 and res.effect["identity"].hi < 0
    assert res.tests["identity"].at_floor and res.tests["identity"].p == pytest.approx(1 / 101)
    assert res.mcnemar["identity"]["a_only"] > 10
    assert res.dose[-1]["effect_identity"] == pytest.approx(res.effect["identity"].value)
    assert all(v == 0 for row in res.dose for v in row["random_identity"])
    no_mlp = copy.deepcopy(lm.model.visual)
    with torch.no_grad():
        no_mlp.transformer.resblocks[1].mlp.c_proj.weight.zero_()
        torch.testing.assert_close(run(lm, x, neuron_ablation({SITE: PATH}, "zero")), no_mlp(x), rtol=0, atol=1e-5)


def test_control_sets_respect_site_counts_and_never_use_targets():
    pool = UnitPool("neuron", {"a": np.arange(100.0), "b": np.arange(50.0)})
    target = {"a": np.array([10, 50]), "b": np.array([3])}
    design = draw_control_sets(target, pool, 200, seed=1)
    assert design.n_distinct == len(design.sets) == 200
    for s in design.sets:
        assert len(s["a"]) == 2 and len(s["b"]) == 1
        assert not set(s["a"]) & {10, 50} and s["b"][0] != 3


def test_patching_identical_input_changes_nothing_and_full_patch_restores_clean(tiny):
    clean, corrupt = images(tiny, 4, seed=0), images(tiny, 4, seed=9)
    target = torch.nn.functional.normalize(run(tiny, clean), dim=-1)
    metric = lambda e: (torch.nn.functional.normalize(e, dim=-1) * target).sum(-1)
    same = patch_sites(tiny, clean, clean, ["visual.blocks.0.resid_post", "visual.blocks.1.mlp.post"], metric, per="position")
    assert np.allclose(same.values, same.clean, atol=1e-6)
    full = patch_sites(tiny, clean, corrupt, ["visual.blocks.1.resid_post"], metric)
    assert full.values[0, 0] == pytest.approx(full.clean, abs=1e-5) and full.corrupt < full.clean - 1e-3
    heads = patch_heads(tiny, clean, clean, [0, 1], metric)
    assert heads.values.shape == (2, 2) and np.allclose(heads.values, heads.clean, atol=1e-6)


def test_control_heads_stay_in_layer_when_they_can_and_spill_when_not():
    pool = UnitPool("head", {"a": np.ones(4), "b": np.ones(4), "c": np.ones(4)})
    design = draw_control_sets({"a": [0, 1], "b": [3]}, pool, 50, seed=0)
    for got in design.sets:
        assert sorted(got) == ["a", "b"] and len(got["a"]) == 2 and not {0, 1} & set(got["a"]) and list(got["b"]) != [3]
    assert design.exhaustive and design.n_distinct == 3  # C(2,2) x C(3,1): enumerated, never repeated
    full = draw_control_sets({"a": [0, 1, 2, 3]}, UnitPool("head", {"a": np.ones(4), "b": np.ones(4)}), 50, seed=0)
    assert [sorted(s) for s in full.sets] == [["b"]] and "matched on size among" in full.notes[0]


def test_channel_ablation_on_resnet_equals_pooling_the_edited_map(rn50):
    from interp.capture import CaptureRequest, capture_batch

    x = images(rn50, 2)
    site = "visual.layer4.2.out"  # the last bottleneck: its output goes straight into the attention pool
    fmap = capture_batch(rn50, CaptureRequest.parse([f"{site}:all"], rn50.sites(), dtype="float32"), images=x)[(site, "all")]
    edited = fmap.clone()
    edited[:, [0, 5, 700]] = 0
    with torch.no_grad():
        want = rn50.model.visual.attnpool(edited)
    torch.testing.assert_close(run(rn50, x, neuron_ablation({site: [0, 5, 700]}, "zero")), want, rtol=0, atol=1e-5)
    ref = collect_reference(rn50, x, [site], pool=1)
    assert ref.acts[site].shape[0] == 1 and ref.unit_means(site).shape == (2048,)
    torch.testing.assert_close(ref.mean(site), fmap.mean(0), rtol=0, atol=1e-5)

"""Known answers from open_clip itself: captured sites equal what the model computes, on real architectures."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from interp.capture import CaptureRequest, capture_batch
from interp.models import attached
from probes.stimuli import colour_patches


def _images(lm, n=2):
    return lm.images_to_tensor(colour_patches(n=n, seed=3, size=lm.image_size[0]).images(range(n)))


def _tokens(lm):
    return lm.tokenize(["a red star on blue", "the word green"])


@pytest.mark.parametrize("fixture", ["vitb32", "rn50", "siglip"])
def test_proj_equals_encode_image_bit_for_bit(request, fixture):
    lm = request.getfixturevalue(fixture)
    x = _images(lm)
    req = CaptureRequest.parse(["visual.proj", "visual.blocks.*.attn.pattern:all" if fixture != "rn50"
                                else "visual.attnpool.pattern:all"], lm.sites(), dtype="float32")
    got = capture_batch(lm, req, images=x)
    with torch.no_grad():
        ref = lm.model.encode_image(x)
    assert torch.equal(got[("visual.proj", "all")], ref)  # hooks (and pattern recompute) perturb nothing


@pytest.mark.parametrize("fixture", ["vitb32", "rn50"])
def test_text_proj_equals_encode_text_and_eot_pooling(request, fixture):
    lm = request.getfixturevalue(fixture)
    t = _tokens(lm)
    req = CaptureRequest.parse(["text.proj", "text.blocks.11.resid_post:eot,all"], lm.sites(), dtype="float32")
    got = capture_batch(lm, req, tokens=t)
    with torch.no_grad():
        assert torch.equal(got[("text.proj", "all")], lm.model.encode_text(t))
        # last resid_post -> ln_final -> EOT pool -> projection reproduces the embedding
        m = lm.model
        x = m.ln_final(got[("text.blocks.11.resid_post", "all")])
        pooled = x[torch.arange(2), t.argmax(-1)]
        torch.testing.assert_close(pooled @ m.text_projection, m.encode_text(t), rtol=0, atol=1e-5)
    eot = got[("text.blocks.11.resid_post", "eot")]
    assert torch.equal(eot, got[("text.blocks.11.resid_post", "all")][torch.arange(2), t.argmax(-1)])


def test_vit_last_resid_reproduces_embedding_and_reductions_are_slices(vitb32):
    lm = vitb32
    x = _images(lm)
    req = CaptureRequest.parse(["visual.blocks.11.resid_post:all,cls,mean,max", "visual.blocks.*.mlp.post:all,cls,mean,max",
                                "visual.blocks.3.mlp.pre:all"], lm.sites(), dtype="float32")
    got = capture_batch(lm, req, images=x)
    v = lm.model.visual
    with torch.no_grad():
        emb = v.ln_post(got[("visual.blocks.11.resid_post", "all")][:, 0]) @ v.proj
        torch.testing.assert_close(emb, lm.model.encode_image(x), rtol=0, atol=1e-5)
    for i in range(12):
        a = got[(f"visual.blocks.{i}.mlp.post", "all")]
        assert a.shape == (2, 50, 3072)
        assert torch.equal(got[(f"visual.blocks.{i}.mlp.post", "cls")], a[:, 0])
        torch.testing.assert_close(got[(f"visual.blocks.{i}.mlp.post", "mean")], a[:, 1:].mean(1))
        assert torch.equal(got[(f"visual.blocks.{i}.mlp.post", "max")], a[:, 1:].amax(1))
    pre = got[("visual.blocks.3.mlp.pre", "all")]
    assert torch.equal(F.gelu(pre), got[("visual.blocks.3.mlp.post", "all")])


def _mha_reference(lm, tower_blocks):
    """need_weights=True, average_attn_weights=False on the exact inputs each attention module received."""
    refs = {}
    handles = []
    for i, blk in enumerate(tower_blocks):
        def pre(mod, args, kwargs, i=i):
            with torch.no_grad():
                q = args[0]
                _, w = mod.forward(q, q, q, need_weights=True, average_attn_weights=False, attn_mask=kwargs.get("attn_mask"))
            refs[i] = w
        handles.append(blk.attn.register_forward_pre_hook(pre, with_kwargs=True))
    return refs, handles


@pytest.mark.parametrize("tower", ["visual", "text"])
def test_recomputed_patterns_equal_need_weights_every_block_and_head(vitb32, tower):
    lm = vitb32
    blocks = (lm.model.visual.transformer if tower == "visual" else lm.model.transformer).resblocks
    refs, handles = _mha_reference(lm, blocks)
    reds = "all,cls_row" if tower == "visual" else "all,eot_row"
    req = CaptureRequest.parse([f"{tower}.blocks.*.attn.pattern:{reds}"], lm.sites(), dtype="float32")
    try:
        t = _tokens(lm)
        got = capture_batch(lm, req, images=_images(lm) if tower == "visual" else None,
                            tokens=t if tower == "text" else None)
    finally:
        for h in handles:
            h.remove()
    assert len(refs) == 12
    for i in range(12):
        pat = got[(f"{tower}.blocks.{i}.attn.pattern", "all")]
        assert pat.shape == refs[i].shape
        torch.testing.assert_close(pat, refs[i], rtol=0, atol=1e-5)
        if tower == "visual":  # the folded CLS-query path equals row 0 of the full pattern
            torch.testing.assert_close(got[(f"visual.blocks.{i}.attn.pattern", "cls_row")], refs[i][:, :, 0], rtol=0, atol=1e-5)
        else:
            idx = t.argmax(-1)
            torch.testing.assert_close(got[(f"text.blocks.{i}.attn.pattern", "eot_row")],
                                       refs[i][torch.arange(2), :, idx], rtol=0, atol=1e-5)
    if tower == "text":  # causal: nothing attends to a later token
        assert torch.all(torch.triu(got[("text.blocks.0.attn.pattern", "all")], 1) == 0)


@pytest.fixture(scope="module")
def organism():
    from interp import load_model

    return load_model("organism")


@pytest.mark.parametrize("fixture", ["vitb32", "organism"])
def test_cls_row_alone_equals_row_zero_of_need_weights(request, fixture):
    """Only cls_row is requested, so the pattern comes from the folded CLS-query path and nothing else."""
    lm = request.getfixturevalue(fixture)
    blocks = lm.model.visual.transformer.resblocks
    bindings = lm.adapter.bindings()
    sites = [f"visual.blocks.{i}.attn.pattern" for i in range(len(blocks))]
    infos = lm.sites()  # its shape-finding dry run forms full patterns: run it before counting
    asked: list[bool] = []
    real = {s: bindings[s].pattern for s in sites}
    for s in sites:
        bindings[s].pattern = lambda *a, fn=real[s], **k: asked.append(k["first_only"]) or fn(*a, **k)
    refs, handles = _mha_reference(lm, blocks)
    try:
        req = CaptureRequest.parse(["visual.blocks.*.attn.pattern:cls_row"], infos, dtype="float32")
        got = capture_batch(lm, req, images=_images(lm, 3))
    finally:
        for h in handles:
            h.remove()
        for s in sites:
            bindings[s].pattern = real[s]
    assert asked == [True] * len(blocks)  # the full pattern was never formed
    n_heads = blocks[0].attn.num_heads
    for i, s in enumerate(sites):
        row = got[(s, "cls_row")]
        assert row.shape == (3, n_heads, refs[i].shape[-1])
        torch.testing.assert_close(row, refs[i][:, :, 0], rtol=0, atol=1e-6)


def test_timm_siglip_patterns_equal_unfused_attention(siglip):
    lm = siglip
    trunk = lm.model.visual.trunk
    refs = {}
    handles = [blk.attn.attn_drop.register_forward_hook(lambda m, a, o, i=i: refs.__setitem__(i, a[0].detach()))
               for i, blk in enumerate(trunk.blocks)]
    x = _images(lm, 1)
    req = CaptureRequest.parse(["visual.blocks.*.attn.pattern:all"], lm.sites(), dtype="float32")
    got = capture_batch(lm, req, images=x)
    try:
        for blk in trunk.blocks:
            blk.attn.fused_attn = False  # timm's explicit path materialises softmax(qk^T) before attn_drop
        with torch.no_grad():
            lm.model.encode_image(x)
    finally:
        for blk in trunk.blocks:
            blk.attn.fused_attn = True
        for h in handles:
            h.remove()
    assert len(refs) == len(trunk.blocks) == 12
    for i in range(12):
        torch.testing.assert_close(got[(f"visual.blocks.{i}.attn.pattern", "all")], refs[i], rtol=0, atol=1e-5)
    assert "cls" not in lm.sites()["visual.blocks.0.mlp.post"].reductions  # SigLIP has no CLS token


def test_resnet_attnpool_pattern_matches_functional_attention(rn50):
    lm = rn50
    pool = lm.model.visual.attnpool
    seen = {}
    h = pool.register_forward_pre_hook(lambda m, a: seen.__setitem__("x", a[0].detach()))
    x = _images(lm, 1)
    req = CaptureRequest.parse(["visual.attnpool.pattern:all,cls_row", "visual.layer4.2.out:all,mean,max"], lm.sites(), dtype="float32")
    try:
        got = capture_batch(lm, req, images=x)
    finally:
        h.remove()
    z = seen["x"].flatten(2).permute(2, 0, 1)
    z = torch.cat([z.mean(0, keepdim=True), z]) + pool.positional_embedding[:, None]
    with torch.no_grad():
        _, w = F.multi_head_attention_forward(
            z[:1], z, z, z.shape[-1], pool.num_heads, None, torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
            None, None, False, 0.0, pool.c_proj.weight, pool.c_proj.bias, use_separate_proj_weight=True,
            q_proj_weight=pool.q_proj.weight, k_proj_weight=pool.k_proj.weight, v_proj_weight=pool.v_proj.weight,
            need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(got[("visual.attnpool.pattern", "all")], w, rtol=0, atol=1e-5)
    fmap = got[("visual.layer4.2.out", "all")]
    assert torch.equal(got[("visual.layer4.2.out", "mean")], fmap.mean((2, 3)))
    with torch.no_grad():
        torch.testing.assert_close(pool(fmap), lm.model.encode_image(x), rtol=0, atol=1e-5)


def test_object_mass_equals_cls_row_summed_over_mask(vitb32):
    from interp.capture.coverage import patch_coverage

    lm = vitb32
    masks = np.zeros((1, 2, 224, 224), bool)
    masks[0, 0, :32, :64] = True        # exactly patches (0,0) and (0,1)
    masks[0, 1, 32:48, 32:64] = True    # half of patch (1,1)
    cov = patch_coverage(masks, (224, 224), (7, 7))
    assert cov[0, 0].sum().item() == 2 and cov[0, 0, 0].item() == 1 and cov[0, 1, 8].item() == 0.5
    req = CaptureRequest.parse(["visual.blocks.5.attn.pattern:cls_row,object_mass"], lm.sites(), has_masks=True, dtype="float32")
    got = capture_batch(lm, req, images=_images(lm, 1), coverage=cov)
    row = got[("visual.blocks.5.attn.pattern", "cls_row")][0]  # [h, 50]
    mass = got[("visual.blocks.5.attn.pattern", "object_mass")][0]  # [h, 2]
    torch.testing.assert_close(mass[:, 0], row[:, 1] + row[:, 2])
    torch.testing.assert_close(mass[:, 1], 0.5 * row[:, 9])


def test_hooks_are_removed_even_when_the_forward_raises(tiny):
    lm = tiny
    req = CaptureRequest.parse(["visual.blocks.*.mlp.post:cls"], lm.sites())
    n_before = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in lm.model.modules())
    with pytest.raises(RuntimeError):
        capture_batch(lm, req, images=torch.zeros(1, 3, 5, 5))  # wrong size: conv/pos-embed mismatch
    n_after = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in lm.model.modules())
    assert n_before == n_after == 0
    with pytest.raises(KeyError):
        with attached(lm.adapter.bindings(), {"visual.blocks.0.mlp.post": [lambda a, s: None], "nope": []}):
            pass
    assert sum(len(m._forward_hooks) for m in lm.model.modules()) == 0


def test_siglip_text_tower_proj_and_last_token_pooling(siglip):
    lm = siglip  # its HF tokenizer cannot load offline: feed token ids directly
    t = torch.randint(1, 32000, (2, lm.context_length), generator=torch.Generator().manual_seed(0))
    req = CaptureRequest.parse(["text.proj", "text.blocks.11.resid_post:eot"], lm.sites(), dtype="float32")
    got = capture_batch(lm, req, tokens=t)
    with torch.no_grad():
        assert torch.equal(got[("text.proj", "all")], lm.model.encode_text(t))
    assert lm.adapter.text.pool_index(t).tolist() == [lm.context_length - 1] * 2

"""Floor 1 known answers: site names parse one way, hooks attach only where they can act, attention splits into
heads exactly as nn.MultiheadAttention computes it, and the organism's config is the one open_clip builds."""
from __future__ import annotations

import importlib
import json

import pytest
import torch
from torch import nn

from interp.errors import InterpError, ModelSpecError, SiteError
from interp.intervene import HeadAblation, neuron_ablation
from interp.models import attached, head_contributions, parse_site, site_layer
from interp.models.patterns import mha_pattern
from interp.models.sites import EMBED_LAYER, OUTPUT_LAYER, SiteName, names_in_order


def test_parse_site_round_trips_every_form_and_gives_its_layer():
    cases = {
        "visual.embed": (SiteName("visual", "embed"), EMBED_LAYER),
        "text.blocks.11.attn.pattern": (SiteName("text", "attn.pattern", 11), 11),
        "visual.blocks.0.resid_pre": (SiteName("visual", "resid_pre", 0), 0),
        "text.proj": (SiteName("text", "proj"), OUTPUT_LAYER),
        "visual.stem.out": (SiteName("visual", "stem.out"), EMBED_LAYER),
        "visual.layer1.0.out": (SiteName("visual", "out", 0, 1), 0),
        "visual.layer4.2.out": (SiteName("visual", "out", 2, 4), 302),
        "visual.attnpool.pattern": (SiteName("visual", "attnpool.pattern"), OUTPUT_LAYER),
    }
    for name, (want, layer) in cases.items():
        got = parse_site(name)
        assert got == want and got.name == str(got) == name
        assert site_layer(name) == layer
    assert EMBED_LAYER == -1
    assert parse_site("visual.layer3.5.out").glob == "visual.layer3.*.out"
    assert parse_site("visual.blocks.7.mlp.post").glob == "visual.blocks.*.mlp.post"
    resnet = ["visual.proj", "visual.layer2.0.out", "visual.attnpool.pattern", "visual.layer1.2.out", "visual.stem.out"]
    assert names_in_order(resnet) == ["visual.stem.out", "visual.layer1.2.out", "visual.layer2.0.out",
                                      "visual.attnpool.pattern", "visual.proj"]
    block = ["text.embed", "visual.blocks.10.resid_pre", "visual.blocks.9.mlp.post", "visual.blocks.9.attn.pattern",
             "visual.embed", "visual.blocks.9.resid_pre"]
    assert names_in_order(block) == ["visual.embed", "visual.blocks.9.resid_pre", "visual.blocks.9.attn.pattern",
                                     "visual.blocks.9.mlp.post", "visual.blocks.10.resid_pre", "text.embed"]


@pytest.mark.parametrize("name, problem", [
    ("image.embed", "does not start with a tower"),
    ("visual.blocks.x.mlp.post", "block index 'x'"),
    ("visual.blocks.03.mlp.post", "block index '03'"),
    ("visual.blocks.3.mlp", "unknown block component 'mlp'"),
    ("text.stem.out", "is not a site name"),
    ("visual.layer2.1.in", "visual.layer<k>.<j>.out"),
    ("visual.blocks.*.mlp.post", "block index '*'"),
])
def test_parse_site_names_what_is_wrong(name, problem):
    with pytest.raises(SiteError, match=problem.replace("*", r"\*").replace(".", r"\.")):
        parse_site(name)


def test_attached_refuses_sites_it_cannot_serve(tiny):
    bindings = tiny.adapter.bindings()
    x = torch.zeros(1, 3, *tiny.image_size)
    # before: the hook at visual.proj was skipped and the "ablation" silently changed nothing
    with pytest.raises(SiteError, match="visual.proj is the encoder's return value"):
        with attached(bindings, neuron_ablation({"visual.proj": [0, 1]}, "zero")):
            tiny.model.encode_image(x)
    with pytest.raises(SiteError, match="head hooks need an attention site"):
        with attached(bindings, {}, heads={"visual.blocks.0.mlp.post": [lambda call, s: None]}):
            pass
    with pytest.raises(SiteError, match="read-only"):
        with torch.no_grad(), attached(bindings, {"visual.blocks.0.attn.pattern": [lambda src, s: src.full()]}):
            tiny.model.encode_image(x)
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in tiny.model.modules()) == 0


def test_head_hook_sees_the_output_and_a_replacement_reaches_the_residual(tiny):
    site = "visual.blocks.0.attn.pattern"
    x = torch.randn(2, 3, *tiny.image_size, generator=torch.Generator().manual_seed(0))
    seen = {}

    def look(call, s):
        seen["sum"] = call.contributions().sum(1) + call.module.out_proj.bias
        seen["out"] = call.output

    with torch.no_grad(), attached(tiny.adapter.bindings(), {}, heads={site: [look]}):
        base = tiny.model.encode_image(x)
    torch.testing.assert_close(seen["sum"], seen["out"], rtol=0, atol=1e-5)
    with torch.no_grad(), attached(tiny.adapter.bindings(), {}, heads={site: [lambda call, s: call.output * 0]}):
        zeroed = tiny.model.encode_image(x)
    with torch.no_grad(), attached(tiny.adapter.bindings(), {"visual.blocks.0.attn.out": [lambda a, s: a * 0]}):
        want = tiny.model.encode_image(x)
    assert torch.equal(zeroed, want) and not torch.allclose(zeroed, base)
    with pytest.raises(InterpError, match="no head 7"):
        HeadAblation(tiny, {site: [7]})


def _mha(batch_first: bool) -> nn.MultiheadAttention:
    torch.manual_seed(0)
    attn = nn.MultiheadAttention(16, 4, batch_first=batch_first).eval()
    with torch.no_grad():
        attn.in_proj_bias.normal_()
        attn.out_proj.bias.normal_()
    return attn


def _inputs(batch_first: bool, t: int = 6, b: int = 3):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(b, t, 16, generator=g)
    causal = torch.ones(t, t, dtype=torch.bool).triu(1)  # True: may not attend
    pad = torch.zeros(b, t, dtype=torch.bool)
    pad[1, -2:] = True  # sequence 1 is two tokens shorter
    pad[2, -1] = True
    return (x if batch_first else x.transpose(0, 1)), causal, pad


@pytest.mark.parametrize("batch_first", [True, False])
def test_mha_pattern_reads_positional_masks_like_need_weights(batch_first):
    attn = _mha(batch_first)
    x, causal, pad = _inputs(batch_first)
    with torch.no_grad():
        _, want = attn(x, x, x, pad, True, causal, False)  # every mask positional
        # before: args[4] (need_weights=True) was read as attn_mask
        got = mha_pattern(attn, (x, x, x, pad, True, causal, False), {})
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
        additive = lambda m: torch.zeros(m.shape).masked_fill(m, float("-inf"))  # noqa: E731
        got_kw = mha_pattern(attn, (x, x, x), {"key_padding_mask": additive(pad), "attn_mask": additive(causal)})
        torch.testing.assert_close(got_kw, want, rtol=0, atol=1e-6)
        first = mha_pattern(attn, (x, x, x, pad, True, causal), {}, first_only=True)
        torch.testing.assert_close(first, want[:, :, :1], rtol=0, atol=1e-6)
    assert got[1, :, :, -2:].abs().max() == 0 and torch.all(torch.triu(got[0], 1) == 0)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("cross", [False, True])
def test_head_contributions_sum_to_the_module_output(batch_first, cross):
    attn = _mha(batch_first)
    q, causal, pad = _inputs(batch_first)
    kv = _inputs(batch_first)[0].flip(-1) if cross else q
    with torch.no_grad():
        out, _ = attn(q, kv, kv, key_padding_mask=pad, attn_mask=causal, need_weights=False)
        c = head_contributions(attn, q, kv, kv, attn_mask=causal, key_padding_mask=pad)
    assert c.shape == (3, 4, 6, 16)  # [b, h, t, d] whatever the module's layout
    out_bf = out if batch_first else out.transpose(0, 1)
    torch.testing.assert_close(c.sum(1) + attn.out_proj.bias, out_bf, rtol=0, atol=1e-5)
    # the padding matters: without it the sum is a different function of the input
    with torch.no_grad():
        c_nopad = head_contributions(attn, q, kv, kv, attn_mask=causal)
    assert (c_nopad.sum(1) + attn.out_proj.bias - out_bf).abs().max() > 1e-3


def test_organism_config_is_registered_once_and_is_what_open_clip_builds():
    import open_clip

    from interp.models.build import CONFIG_DIR, register_config, shipped_config
    train = importlib.import_module("interp.organism.train")

    on_disk = json.loads((CONFIG_DIR / "organism.json").read_text())
    assert shipped_config("organism") == open_clip.get_model_config("organism") == on_disk
    assert train.model_config() == on_disk
    assert on_disk["text_cfg"]["vocab_size"] == len(train.tokenizer()) == 55
    model = open_clip.create_model("organism")
    assert model.token_embedding.num_embeddings == 55
    other = json.loads(json.dumps(on_disk))
    other["text_cfg"]["vocab_size"] = 99
    with pytest.raises(ModelSpecError, match="differs from the shipped"):
        register_config("organism", other)
    assert open_clip.get_model_config("organism") == on_disk  # nothing overwrote it


def test_organism_vocabulary_must_match_the_config(monkeypatch):
    train = importlib.import_module("interp.organism.train")

    monkeypatch.setattr(train, "vocabulary", lambda: ["a", "b"])
    with pytest.raises(ModelSpecError, match="has 6 tokens but .*organism.json says vocab_size 55"):
        train.tokenizer()


def test_shipped_organism_loads_bit_identically():
    from interp import load_model
    from interp.models.load import ORGANISM_DIR

    lm = load_model("organism")
    blob = torch.load(ORGANISM_DIR / "organism.pt", map_location="cpu", weights_only=True)
    sd = lm.model.state_dict()
    assert set(sd) == set(blob["state_dict"])
    for k, v in blob["state_dict"].items():
        assert torch.equal(sd[k], v.float() if v.is_floating_point() else v), k
    assert lm.name == "organism" and len(lm.tokenizer) == 55


def test_a_checkpoint_whose_config_disagrees_with_the_shipped_one_is_refused(tmp_path):
    from interp import load_model
    from interp.models.load import ORGANISM_DIR

    blob = torch.load(ORGANISM_DIR / "organism.pt", map_location="cpu", weights_only=True)
    blob["model_cfg"]["text_cfg"]["layers"] = 2
    torch.save(blob, tmp_path / "bad.pt")
    with pytest.raises(ModelSpecError, match="differs from the shipped"):
        load_model(str(tmp_path / "bad.pt"))

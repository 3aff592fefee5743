"""The shipped model organism: it works as a CLIP, shows each planted effect with CIs, and the control does not;
training is seeded, reproducible and resumable."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from interp import load_model
from interp.jobs.probe import run_probe
from interp.models.load import ORGANISM_DIR
from probes.behaviour.base import class_embeddings
from probes.stats import accuracy
from probes.stimuli import SHAPE_CLASSES, single_objects


@pytest.fixture(scope="module")
def planted():
    return load_model("organism")


@pytest.fixture(scope="module")
def control():
    return load_model("organism-control")


def test_shipped_checkpoints_are_small_and_carry_their_records(planted):
    files = sorted(p.name for p in ORGANISM_DIR.glob("*.pt") if not p.name.startswith("."))
    assert "organism.pt" in files and "organism-control.pt" in files
    assert len([f for f in files if f.startswith("organism-epoch")]) == 8
    assert all((ORGANISM_DIR / f).stat().st_size < 4_000_000 for f in files)
    rec = planted.records
    assert {"train_config", "corpus", "history", "git_revision"} <= set(rec)
    assert rec["train_config"]["corpus"] == "planted" and len(rec["history"]) == 8
    assert rec["history"][-1]["retrieval_top1"] > rec["history"][0]["retrieval_top1"]


def test_organism_has_the_canonical_sites_of_any_vit_clip(planted, tiny):
    comps = lambda lm: {s.split(".", 3)[-1] for s in lm.sites() if ".blocks." in s}
    assert comps(planted) == comps(tiny) == {"resid_pre", "attn.pattern", "attn.out", "mlp.pre", "mlp.post", "resid_post"}
    assert {"visual.embed", "visual.proj", "text.embed", "text.proj", "visual.blocks.3.mlp.post"} <= set(planted.sites())


def test_it_works_as_a_clip(planted):
    colour = run_probe("colour", planted).metrics
    assert colour["accuracy_chromatic"].lo > 0.9  # chance 1/11
    refs = single_objects(SHAPE_CLASSES, size=64, seed=3)
    emb = planted.encode_image(refs.images(range(len(refs))))
    pred = (emb @ class_embeddings(planted, SHAPE_CLASSES, ["a {}"]).T).argmax(1)
    acc = accuracy(pred == np.arange(len(SHAPE_CLASSES)))
    assert acc.lo > 1 / len(SHAPE_CLASSES)


def test_planted_text_effects_show_and_shrink_in_the_control(planted, control):
    sp, sc = run_probe("stroop", planted).metrics, run_probe("stroop", control).metrics
    assert sp["stroop_effect"].lo > 0.2 and sc["stroop_effect"].hi < sp["stroop_effect"].lo
    assert sp["word_accuracy_incongruent"].lo > 1 / 11  # it learned to read
    cp, cc = run_probe("colour", planted).metrics, run_probe("colour", control).metrics
    assert cp["achromatic_deficit"].lo > 0 and cc["achromatic_deficit"].value == 0
    tp, tc = run_probe("tor", planted).metrics, run_probe("tor", control).metrics
    chance = np.mean([1 / 2, 1 / 3, 1 / 4])
    assert tp["first_wins"].lo > chance and tp["first_wins"].lo > tc["first_wins"].hi
    assert run_probe("ior", planted).metrics["large_wins"].lo > chance


def test_context_shortcut_is_planted_and_absent_in_the_control(planted, control):
    gp, gc = run_probe("context", planted).metrics["context_gap"], run_probe("context", control).metrics["context_gap"]
    assert gp.lo > 0.5  # the planted model names the animal by its background (seed 002)
    assert gc.covers(0.0)


def test_shape_bias_rises_over_the_epoch_checkpoints():
    early = run_probe("shape-bias", load_model("organism@epoch1")).metrics["shape_bias"]
    late = run_probe("shape-bias", load_model("organism@epoch8")).metrics["shape_bias"]
    assert early.hi < late.lo  # texture-biased early, more shape-biased after training (seed 003)


def test_training_is_seeded_and_resumes_exactly(tmp_path, monkeypatch):
    import importlib

    T = importlib.import_module("interp.organism.train")

    cfg = T.TrainConfig(epochs=2, steps_per_epoch=2, batch_size=16, eval_size=32, name="t")
    ref = load_model(str(T.train(cfg, tmp_path / "a", progress=False)))
    calls = {"n": 0}
    real = T.evaluate

    def crash_on_second(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the run dies during epoch 2's evaluation
        return real(*a, **k)

    monkeypatch.setattr(T, "evaluate", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        T.train(cfg, tmp_path / "b", progress=False)
    monkeypatch.setattr(T, "evaluate", real)
    resumed = load_model(str(T.train(cfg, tmp_path / "b", progress=False)))
    for k, v in ref.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    with pytest.raises(ValueError, match="different training config"):
        T.train(T.TrainConfig(epochs=3, steps_per_epoch=2, batch_size=16, eval_size=32, name="t"), tmp_path / "b", progress=False)

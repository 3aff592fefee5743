"""The held-out Stroop design (selection / reference / evaluation sets are disjoint, the evaluation font is held
out, mean ablation takes its reference from the reference set) and the Stroop metrics shared by the probe and the
causal evaluation, on a planted encoder whose interference, facilitation and intrusion are known by hand."""
from __future__ import annotations

from probes.stimuli.textcontrast import FONT_SIZES

import argparse
import contextlib
import json

import numpy as np
import pytest

from activations_store import ActivationStore, RowSpec, StoreWriter, act_path
from interp.errors import InterpError
from interp.intervene.controls import UnitPool, run_controls
from interp.intervene.evals import (HELD_OUT_FONT, MIN_CONGRUENT, check_held_out, image_hashes, stroop_eval,
                                    stroop_evaluation_parts, stroop_reference_parts)
from probes.behaviour import stroop
from probes.behaviour.stroop import STROOP_TASKS, stroop_items
from probes.errors import ProbeError
from probes.stimuli import census_set, rebuild, stroop_grid
from probes.stimuli.base import concat
from probes.stimuli.colours import TERMS

from .encoders import FakeLoadedModel, StroopMix, colour_encoder, key

SIZE = 64
WEAK, FAINT = ("red", "blue", "green"), ("purple", "pink")


@pytest.fixture(scope="module")
def parts():
    return {"census": census_set(size=SIZE, seed=0), "reference": concat("reference", stroop_reference_parts(SIZE, 0)),
            "evaluation": stroop_evaluation_parts(SIZE, 0)}


@pytest.fixture(scope="module")
def planted(parts):
    enc = StroopMix(0.5, WEAK, FAINT)
    for p in parts["evaluation"]:
        enc.learn(p)
    return enc


def test_jitter_moves_every_item_and_zero_keeps_the_old_grid():
    plain = stroop_grid(seed=1, size=SIZE, conditions=("congruent",))
    moved = stroop_grid(seed=1, size=SIZE, conditions=("congruent",), jitter=0.1)
    assert moved.recipe["args"]["jitter"] == 0.1 and len(moved) == len(plain)
    same = sum(key(plain.image(i)) == key(moved.image(i)) for i in range(len(plain)))
    assert same <= 2  # every item drawn within ±0.1 of the side (a draw may round to no shift)
    # a recipe written before the argument existed rebuilds the same images (jitter 0 = the old rule)
    old = {"builder": "stroop_grid", "args": {k: v for k, v in stroop_grid(n=50, seed=2, size=SIZE).recipe["args"].items()
                                               if k != "jitter"}}
    again, now = rebuild(old), stroop_grid(n=50, seed=2, size=SIZE)
    assert [key(again.image(i)) for i in range(50)] == [key(now.image(i)) for i in range(50)]
    with pytest.raises(ProbeError, match="jitter"):
        stroop_grid(jitter=0.7)


def test_the_three_sets_are_disjoint_and_the_evaluation_font_is_held_out(parts):
    ev = concat("evaluation", parts["evaluation"])
    h = {k: set(image_hashes(v)) for k, v in (("census", parts["census"]), ("reference", parts["reference"]),
                                               ("evaluation", ev))}
    assert not h["evaluation"] & h["census"] and not h["evaluation"] & h["reference"]
    px = lambda s: {int(x) for x in np.asarray(s.column("font_px"), int) if x > 0}
    assert px(ev) == {round(HELD_OUT_FONT * SIZE)}
    assert not px(ev) & px(parts["census"]) and not px(ev) & px(parts["reference"])
    # the check the experiments run: it passes here, and refuses a design whose evaluation is the census
    assert check_held_out({"selection": parts["census"], "evaluation": ev})["shared_images"] == {"evaluation & selection": 0}
    with pytest.raises(InterpError, match="not disjoint"):
        check_held_out({"selection": parts["census"], "evaluation": parts["census"]})


def test_the_evaluation_has_enough_congruent_items_in_few_cells_and_non_words(parts):
    ev = concat("evaluation", parts["evaluation"][:-1])
    items = stroop_items(ev.columns)
    con = items["ink_congruent"]
    assert len(con.rows) >= MIN_CONGRUENT and len(set(con.cells)) == len(TERMS)  # copies share their cell
    assert len(items["ink_nonword"].rows) >= 121 and len(set(items["ink_incongruent"].cells)) == 110
    # every ink equally frequent within each condition, and the words on the non-words' backgrounds
    for name in ("ink_congruent", "ink_incongruent", "ink_nonword"):
        counts = np.bincount(items[name].truth, minlength=len(TERMS))
        assert counts.min() == counts.max()
    bg = {(k, b) for k, b, c in zip(ev.column("ink"), ev.column("background"), ev.column("condition")) if c == "nonword"}
    assert {(k, b) for k, b in zip(ev.column("ink"), ev.column("background"))} == bg


def test_planted_stroop_metrics_have_their_hand_computed_values(parts, planted):
    words = concat("words", parts["evaluation"][:-1])
    m = stroop(planted, stimuli=words).metrics
    # ink prompts: weak and faint inks lose to the word on incongruent images, faint ones to brown on non-words
    assert m["ink_accuracy_congruent"].value == 1.0
    assert m["ink_accuracy_incongruent"].value == pytest.approx(6 / 11)
    assert m["ink_accuracy_nonword"].value == pytest.approx(9 / 11)
    assert m["interference"].value == pytest.approx(3 / 11) and m["interference"].lo > 0
    assert m["facilitation"].value == pytest.approx(2 / 11)
    # congruent accuracy is 1 on all 209 copies of 11 cells: at the boundary the interval counts the 11 cells, so
    # it is wide and covers 0 (counting copies gave a lower bound of +0.12)
    assert m["facilitation"].lo < 0 < m["facilitation"].value < m["facilitation"].hi
    assert m["word_intrusion"].value == pytest.approx(5 / 11)
    assert m["stroop_effect"].value == pytest.approx(5 / 11)
    # the margin cos(image, ink prompt) - cos(image, ink prompt of the word's colour), by hand from the planted vectors
    inc = words.column("condition") == "incongruent"
    want = []
    for w, k in zip(words.column("word")[inc], words.column("ink")[inc]):
        v = planted.vector(w, k)
        want.append((v[TERMS.index(k)] - v[TERMS.index(w)]) / np.linalg.norm(v))
    assert m["ink_incongruent_margin"].value == pytest.approx(np.mean(want))
    # the printed n says cells and items, for both groups of a difference
    assert m["interference"].n_detail == "242 items in 121 cells vs 330 items in 110 cells"
    assert "n=209 items in 11 cells vs 330 items in 110 cells" in str(m["stroop_effect"])


def test_an_encoder_that_ignores_the_word_shows_no_interference_and_chance_intrusion(parts):
    blind = StroopMix(0.0, WEAK, FAINT)
    words = concat("words", parts["evaluation"][:-1])
    blind.learn(words)
    m = stroop(blind, stimuli=words).metrics
    for k in ("interference", "facilitation", "stroop_effect"):
        assert m[k].value == pytest.approx(0.0, abs=1e-12) and m[k].lo < 0 < m[k].hi
    # every error goes to brown, which is the word on a tenth of the incongruent images: chance
    errors = 1 - m["ink_accuracy_incongruent"].value
    assert errors == pytest.approx(2 / 11)
    assert m["word_intrusion"].value == pytest.approx(errors / 10)


def test_the_probe_states_cells_and_items_for_the_stroop_effect():
    r = stroop(colour_encoder())
    e = r.metrics["stroop_effect"]
    assert e.n == 418 and e.n_detail == "38 items in 11 cells vs 380 items in 110 cells"
    from probes.behaviour import PROBES

    text = PROBES["stroop"].summary(json.loads(json.dumps(r.to_json())))
    assert "(n=38 items in 11 cells vs 380 items in 110 cells)" in text and "interference" in text


def test_probe_and_causal_evaluation_measure_the_same_thing(parts, planted):
    lm = FakeLoadedModel(planted)
    ev = stroop_eval(lm, seed=0)
    got = ev.metrics(ev.correct())
    m = stroop(planted, stimuli=concat("words", parts["evaluation"][:-1])).metrics
    names = {t: STROOP_TASKS[t].probe_name for t in ("ink_congruent", "ink_incongruent", "ink_nonword",
                                                     "word_incongruent", "word_intrusion")}
    for task, probe_name in names.items():
        assert got[task] == pytest.approx(m[probe_name].value), task
    for k in ("stroop_effect", "interference", "facilitation"):
        assert got[k] == pytest.approx(m[k].value), k
    est = {x.name: x.estimate(ev.outcomes(), ev.evaluation().clusters) for x in ev.evaluation().metrics}
    assert (est["interference"].lo, est["interference"].hi) == pytest.approx((m["interference"].lo, m["interference"].hi))
    assert est["ink_incongruent_margin"].value == pytest.approx(m["ink_incongruent_margin"].value)


def test_ablating_the_reading_units_of_the_planted_encoder(planted):
    """The causal path end to end: an intervention that removes the word's weight moves each Stroop metric by its
    hand-computed amount; control sets that change nothing have effects whose intervals do not collapse."""
    lm = FakeLoadedModel(planted)
    ev = stroop_eval(lm, seed=0).evaluation()
    target = {"L0": np.arange(4)}

    def intervene(units):
        @contextlib.contextmanager
        def ctx():
            reading = [int(u) for u in units["L0"]] == [0, 1, 2, 3]
            planted.word_weight = 0.0 if reading else 0.5
            try:
                yield
            finally:
                planted.word_weight = 0.5
        return ctx()

    res = run_controls(ev, intervene, target, UnitPool("neuron", {"L0": np.ones(40)}), n_sets=20, seed=0)
    eff = {k: e.value for k, e in res.effect.items()}
    assert eff["interference"] == pytest.approx(-3 / 11)
    assert eff["ink_incongruent"] == pytest.approx(3 / 11)
    assert eff["word_intrusion"] == pytest.approx(2 / 110 - 5 / 11)
    assert eff["facilitation"] == pytest.approx(-2 / 11) and eff["stroop_effect"] == pytest.approx(-5 / 11)
    for k in ("interference", "ink_incongruent", "word_intrusion", "stroop_effect"):
        assert res.effect[k].covers(eff[k]) and not res.effect[k].covers(0.0), k
    # the control sets change nothing at all; a target that changes nothing gets effects of exactly 0 whose
    # intervals keep their width (a cell bootstrap of no change is [0, 0])
    assert all(np.all(v == 0) for v in res.random_effects.values())
    idle = run_controls(ev, intervene, {"L0": np.arange(4, 8)}, UnitPool("neuron", {"L0": np.ones(40)}), n_sets=20)
    for m in ev.metrics:
        if m.binary:
            e = idle.effect[m.name]
            assert e.value == 0 and e.lo < 0 < e.hi and e.hi - e.lo > 0.01, m.name
    # items lost / gained: clustered by cell (cells hold several items here), and it says so
    assert res.mcnemar["ink_incongruent"]["n_cells"] == 110 and res.mcnemar["ink_incongruent"]["b_only"] == 90


def _census_store(path, size: int = SIZE):
    cen = census_set(size=size, seed=0)
    site = "visual.blocks.0.mlp.post"
    w = StoreWriter(path, ids=cen.ids, columns=cen.columns, row_specs=[RowSpec(act_path(site, "mean"), (4,), "float32")],
                    meta={"model_hash": "synthetic"}, recipe=cen.recipe)
    w.submit(0, {act_path(site, "mean"): np.zeros((len(cen), 4), np.float32)})
    w.close()
    return cen


def test_mean_ablation_takes_its_reference_from_the_reference_set(tmp_path, monkeypatch, planted):
    """run_experiment hands neuron_units the reference images: none of them is an evaluation or a census image."""
    import interp.intervene.units as units
    from interp.jobs.ablate import Experiment, Selection, run_experiment

    cen = _census_store(tmp_path / "census.h5")
    lm = FakeLoadedModel(planted)
    seen = {}

    def fake_units(lm_, images, sites, mode="mean", seed=0):
        seen["hashes"] = [lm.hashes[int(i)] for i in images[:, 0]]
        return UnitPool("neuron", {s: np.ones(16) for s in sites}), lambda u: contextlib.nullcontext()

    monkeypatch.setattr(units, "neuron_units", fake_units)
    planted.learn(concat("reference", stroop_reference_parts(SIZE, 0)))
    exp = Experiment("stroop-test", "test", "census", lambda store, o: Selection({"visual.blocks.0.mlp.post": np.array([0, 1])},
                     {"visual.blocks.0.mlp.post": np.array([2.0, 1.0])}, "two units"), lambda m, s: stroop_eval(m, s),
                     "neuron", ("interference",), "a test")
    out = run_experiment(exp, lm, tmp_path / "census.h5", argparse.Namespace(mode="mean"), 5, None, progress=False)
    ref = set(seen["hashes"])
    ev_hashes = set(image_hashes(concat("evaluation", stroop_evaluation_parts(SIZE, 0))))
    assert ref and not ref & ev_hashes and not ref & set(image_hashes(cen))
    sets = out["stimuli"]
    assert sets["reference"]["n"] == len(ref) and sets["evaluation"]["fonts"] == [HELD_OUT_FONT]
    assert sets["selection"]["builder"] == "census_set" and sets["selection"]["fonts"] == sorted({round(max(6, round(f * SIZE)) / SIZE, 2) for f in FONT_SIZES})
    assert set(sets["disjoint"]["shared_images"].values()) == {0}
    with ActivationStore(tmp_path / "census.h5") as st:
        assert st.stimulus_recipe["builder"] == "census_set"

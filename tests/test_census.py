"""The neuron census on planted neurons with known answers: true word, colour and multimodal units are found;
units that only look like them (achromatic glyph units, letter units, independent tunings that peak on one colour
by chance) are not; thresholds do not move with the share of selective units; random networks read nothing."""
from __future__ import annotations

import numpy as np
import pytest

from activations_store import ActivationStore, RowSpec, StoreWriter, act_path
from interp.analyze.neurons import classify, load_census, save_census, tuning_agreement
from probes.stimuli import census_set
from probes.stimuli.colours import TERMS

SITES = ["visual.blocks.0.mlp.post", "visual.blocks.1.mlp.post"]
KINDS = ("colour", "text", "multimodal", "glyph", "letters", "chance_peak")
TRUTH = {"colour": "colour", "text": "text", "multimodal": "multimodal_colour", "glyph": "none", "letters": "none",
         "chance_peak": "colour"}


def planted_store(path, n_neurons=300, k=20, delta=2.5, seed=0):
    """Synthetic census store: per site, k units of each planted kind among pure-noise units.

    colour: +delta on patches of one colour; text: +delta on words (any ink), not on anagrams or strokes;
    multimodal: one graded tuning curve over the 11 colours added to patches (by colour) and to words (by word);
    glyph: +delta on everything drawn in achromatic ink (word, anagram and strokes alike); letters: +delta on words
    and anagrams (same letters) but not strokes; chance_peak: independent graded tunings for patches and words whose
    peaks sit on the same colour by construction (what the old "same preferred colour" rule called multimodal)."""
    st = census_set(size=32, seed=0, per_colour=12)
    cols = {k_: np.asarray(v) for k_, v in st.columns.items()}
    rng = np.random.default_rng(seed)
    n = len(st)
    t_idx = {t: i for i, t in enumerate(TERMS)}
    patch = cols["set"] == "colour_patches"
    cond, ink = cols["condition"], cols["ink"]
    colour_i = np.array([t_idx.get(c, -1) for c in cols["colour"]])
    word_i = np.array([t_idx.get(w, -1) for w in cols["word"]])
    is_word = cond == "text_word"
    truth, acts = {}, {}
    for s in SITES:
        x = rng.standard_normal((n, n_neurons)).astype(np.float32)
        label = np.array(["none"] * n_neurons, object)
        kind = np.array(["noise"] * n_neurons, object)
        j = 0
        for kd in KINDS:
            for _ in range(k):
                pref = rng.integers(len(TERMS))
                if kd == "colour":
                    x[patch & (colour_i == pref), j] += delta
                elif kd == "text":
                    x[is_word, j] += delta
                elif kd == "multimodal":
                    curve = 1.2 * rng.standard_normal(len(TERMS))
                    x[patch, j] += curve[colour_i[patch]]
                    x[is_word, j] += curve[word_i[is_word]]
                elif kd == "glyph":
                    x[np.isin(ink, ["neutral", "black", "white"]) & (cols["set"] == "text_contrast"), j] += delta
                elif kd == "letters":
                    x[np.isin(cond, ["text_word", "text_anagram"]), j] += delta
                else:
                    a, b = 1.2 * rng.standard_normal(len(TERMS)), 1.2 * rng.standard_normal(len(TERMS))
                    ia, ib = a.argmax(), b.argmax()
                    b[[ia, ib]] = b[[ib, ia]]  # the word tuning peaks where the patch tuning does
                    a[ia] += 1.5  # a clear peak, so that noise does not move it
                    b[ia] += 1.5
                    x[patch, j] += a[colour_i[patch]]
                    x[is_word & (ink == "neutral"), j] += b[word_i[is_word & (ink == "neutral")]]
                label[j], kind[j] = TRUTH[kd], kd
                j += 1
        truth[s], acts[s] = (label, kind), x
    specs = [RowSpec(act_path(s, "cls"), (n_neurons,), "float32") for s in SITES]
    w = StoreWriter(path, ids=st.ids, columns=st.columns, row_specs=specs, meta={"model_hash": "synthetic"})
    for lo in range(0, n, 256):
        w.submit(lo, {act_path(s, "cls"): acts[s][lo : lo + 256] for s in SITES})
    w.close()
    return np.concatenate([truth[s][0] for s in SITES]), np.concatenate([truth[s][1] for s in SITES])


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    path = tmp_path_factory.mktemp("census") / "syn.h5"
    truth, kind = planted_store(path)
    with ActivationStore(path) as store:
        census = classify(store, SITES, "cls", block_rows=100)
    return path, truth, kind, census


def test_planted_units_are_recovered_with_high_precision_and_recall(planted):
    path, truth, kind, census = planted
    for c in ("colour", "text", "multimodal_colour"):
        called = census.cls == c
        tp = np.sum(called & (truth == c))
        precision, recall = tp / max(called.sum(), 1), tp / np.sum(truth == c)
        assert precision >= 0.95 and recall >= 0.95, (c, precision, recall)
    save_census(path, census)
    with ActivationStore(path) as store:
        again = load_census(store, "cls")
    assert np.array_equal(again.cls, census.cls) and again.thresholds == census.thresholds
    assert again.design["strokes_pairs"] == again.design["anagram_pairs"] > 0


def test_achromatic_glyph_and_letter_units_are_not_text_selective(planted):
    _, _, kind, census = planted
    # at FDR 5% a false call is possible (the planted text units make BH lenient), but a unit kind that the contrast
    # failed to reject would be called wholesale: 40 of each are planted
    assert census.arrays["text_selective"][kind == "glyph"].sum() <= 2
    assert census.arrays["text_selective"][kind == "letters"].sum() <= 2
    # the letter units do beat the strokes: it is the anagram contrast that rejects them
    assert census.arrays["q_text"][kind == "letters"].max() <= census.alpha


def test_tunings_that_share_a_peak_by_chance_are_not_multimodal(planted):
    _, _, kind, census = planted
    chance = kind == "chance_peak"
    assert census.arrays["colour_selective"][chance].mean() >= 0.9 and census.arrays["word_selective"][chance].mean() >= 0.9
    assert (census.arrays["pref_colour"][chance] == census.arrays["pref_word"][chance]).mean() >= 0.9  # the old rule
    assert census.arrays["multimodal_colour"][chance].sum() <= 2
    assert census.design["same_preferred_colour"] >= 36  # the 40 chance-peak units (>= 90%) at least
    assert census.design["same_preferred_expected_by_chance"] < census.design["same_preferred_colour"]


def test_tuning_agreement_null_is_exact_when_peaks_coincide_and_finds_shared_tuning():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((11, 3000)), rng.standard_normal((11, 3000))
    for j in range(a.shape[1]):
        ia, ib = a[:, j].argmax(), b[:, j].argmax()
        b[[ia, ib], j] = b[[ib, ia], j]
    _, p = tuning_agreement(a, b, 999, 1)
    assert abs(np.mean(p <= 0.05) - 0.05) < 0.015  # a uniform null despite every pair sharing its peak
    _, p_same = tuning_agreement(a, a + 0.3 * rng.standard_normal(a.shape), 999, 1)
    assert np.mean(p_same <= 0.01) > 0.95


def test_units_driven_by_particular_strings_are_not_text_selective(tmp_path):
    # each string (word, anagram, strokes of one word) gets its own fixed response: every cell of a word then shows
    # the same word-minus-control difference, which a test over cells would count ~70 times; over words it is noise
    st = census_set(size=32, seed=0, per_colour=12)
    cols = {k: np.asarray(v) for k, v in st.columns.items()}
    rng = np.random.default_rng(5)
    key = np.char.add(np.char.add(cols["condition"].astype(str), "|"), cols["word"].astype(str))
    strings, inv = np.unique(key, return_inverse=True)
    x = rng.standard_normal((len(st), 200)).astype(np.float32) * 2 + rng.standard_normal((len(strings), 200))[inv]
    specs = [RowSpec(act_path(SITES[0], "cls"), (200,), "float32")]
    w = StoreWriter(tmp_path / "strings.h5", ids=st.ids, columns=st.columns, row_specs=specs, meta={"model_hash": "s"})
    w.submit(0, {act_path(SITES[0], "cls"): x})
    w.close()
    with ActivationStore(tmp_path / "strings.h5") as store:
        census = classify(store, SITES[:1], "cls")
    assert census.arrays["text_selective"].sum() <= 2  # a cell-level test called ~17% of such units


def test_thresholds_do_not_move_with_the_share_of_selective_units(tmp_path):
    taus = {}
    for k in (0, 30):  # no planted units vs 60% of units planted
        planted_store(tmp_path / f"s{k}.h5", k=k, seed=3)
        with ActivationStore(tmp_path / f"s{k}.h5") as store:
            taus[k] = classify(store, SITES, "cls").thresholds
    for name in taus[0]:
        assert taus[30][name] == pytest.approx(taus[0][name], rel=0.06), (name, taus)


def test_pure_noise_calls_nothing(tmp_path):
    planted_store(tmp_path / "noise.h5", k=0)
    with ActivationStore(tmp_path / "noise.h5") as store:
        census = classify(store, SITES, "cls")
    assert np.sum(census.cls != "none") <= 2  # BH under the global null: no call with probability >= 0.95 per test
    assert census.design["multimodal_candidates"] == 0


@pytest.mark.parametrize("spec,fonts,per_colour", [("organism:none", None, 20), ("ViT-B-32:none", (0.16,), 4)])
def test_random_networks_read_nothing(tmp_path, spec, fonts, per_colour):
    # a random network cannot read: the matched contrasts must not call its units text-selective (<= 0.01%)
    from interp.capture import CaptureRequest, capture
    from interp.models import load_model

    lm = load_model(spec)
    stim = census_set(size=lm.image_size[0], per_colour=per_colour, **({"font_sizes": fonts} if fonts else {}))
    capture(lm, stim, CaptureRequest.parse(["visual.blocks.*.mlp.post:cls,mean"], lm.sites()), tmp_path / "r.h5",
            progress=False)
    with ActivationStore(tmp_path / "r.h5") as store:
        sites = sorted({s for s, r in store.keys() if r == "cls"})
        for red in ("cls", "mean"):
            census = classify(store, sites, red)
            assert census.arrays["text_selective"].sum() <= 1e-4 * len(census.unit), (spec, red)
            assert census.arrays["multimodal_colour"].sum() == 0, (spec, red)


def test_an_old_store_without_the_matched_contrast_is_refused_with_a_clear_error(tmp_path):
    from interp.errors import InterpError
    from probes.stimuli import stroop_grid

    st = stroop_grid(size=32)
    w = StoreWriter(tmp_path / "old.h5", ids=st.ids, columns=st.columns,
                    row_specs=[RowSpec(act_path(SITES[0], "cls"), (4,), "float32")], meta={"model_hash": "x"})
    w.submit(0, {act_path(SITES[0], "cls"): np.zeros((len(st), 4), np.float32)})
    w.close()
    with ActivationStore(tmp_path / "old.h5") as store, pytest.raises(InterpError, match="recaptured"):
        classify(store, SITES[:1], "cls")

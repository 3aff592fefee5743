"""Probes recover planted answers from encoders whose behaviour is known exactly; random models sit at chance."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from probes.behaviour import colour_naming, context_bias, i2tor, ior, matching, shape_bias, stroop, tor
from probes.errors import ProbeError
from probes.stats import benjamini_hochberg, mcnemar, permutation_p, wilson
from probes.stimuli import (PROBE_SETS, SHAPE_CLASSES, TERMS, TEXTURE_CLASSES, colour_patches, context_scenes,
                            cue_conflict, multi_object_scenes, single_objects, stroop_grid)
from probes.stimuli.scenes import SEP

from .encoders import OneHot, colour_encoder, first_word_from, key, lookup_encoder


def test_rendering_is_pinned_pixel_for_pixel():
    # Pillow's bundled font and polygon rasteriser only: these hashes hold on any machine with the pinned Pillow.
    h = lambda im: hashlib.sha256(np.asarray(im).tobytes()).hexdigest()[:16]
    got = {"stroop": h(stroop_grid(seed=0).image(5)), "patch": h(colour_patches(n=3, seed=0).image(2)),
           "scene": h(multi_object_scenes(n=2, seed=0).image(1)), "cue": h(cue_conflict(seed=0).image(3))}
    assert got == PINNED


PINNED = {'stroop': '3731787d37d89c6f', 'patch': '90a54684656785ce', 'scene': '2f5532b13203f2aa', 'cue': '1357174833cbcaef'}


def test_generators_are_deterministic_and_complete():
    a, b = stroop_grid(seed=3), stroop_grid(seed=3)
    assert np.array_equal(np.asarray(a.image(17)), np.asarray(b.image(17)))
    cond = a.column("condition")
    inc = (a.column("word") != a.column("ink")) & (cond == "incongruent")
    pairs = {(w, k) for w, k, c in zip(a.column("word"), a.column("ink"), cond) if c in ("congruent", "incongruent")}
    assert pairs == {(w, k) for w in TERMS for k in TERMS}  # exhaustive grid, achromatic inks included
    assert inc.sum() == (cond == "incongruent").sum() and {"word_only", "ink_only", "nonword"} <= set(cond)
    sc = multi_object_scenes(n=40, seed=1, order="random")
    r = sc.render(7)
    objs = sc.column("objects")[7].split(SEP)
    assert r.masks.shape[0] == len(objs) and not np.any(r.masks.sum(0) > 1)  # per-object masks, no overlap
    sizes = [float(x) for x in sc.column("sizes")[7].split(SEP)]
    assert int(np.argmax(sizes)) == sc.column("large_pos")[7]
    big = r.masks[sc.column("large_pos")[7]].sum()
    assert all(big > m.sum() for j, m in enumerate(r.masks) if j != sc.column("large_pos")[7])
    first_names = [o.split(SEP)[0] for o in sc.column("objects")]
    assert len(set(first_names)) > 10  # random order is not tied to a class list
    lf = multi_object_scenes(n=20, order="large_first")
    assert np.all(lf.column("large_pos") == 0)
    ll = multi_object_scenes(n=20, order="large_last")
    assert np.all(ll.column("large_pos") == ll.column("n_objects") - 1)
    ctx = context_scenes(n=400, bias=0.9, seed=2)
    assert np.mean(ctx.column("usual")) > 0.85
    cc = cue_conflict(kinds=("conflict",))
    assert len(cc) == len(TEXTURE_CLASSES) * (len(TEXTURE_CLASSES) - 1) >= 8 * 7
    assert all(s != t for s, t in zip(cc.column("shape"), cc.column("texture")))


@pytest.mark.parametrize("bad", [lambda: colour_patches(n=0), lambda: colour_patches(terms=("red", "teal")),
                                 lambda: multi_object_scenes(order="sideways"), lambda: context_scenes(bias=2)])
def test_bad_arguments_are_named(bad):
    with pytest.raises(ProbeError):
        bad()


def test_colour_encoder_names_colours_and_shows_no_stroop_effect():
    enc = colour_encoder()
    res = colour_naming(enc, n=110, background_templates=None)
    assert res.metrics["accuracy"].value >= 0.97 and res.metrics["accuracy"].n == 110
    assert res.metrics["achromatic_deficit"].covers(0.0)
    s = stroop(enc)
    assert s.metrics["ink_accuracy_incongruent"].value >= 0.97 and s.metrics["ink_accuracy_congruent"].value >= 0.97
    assert s.metrics["stroop_effect"].covers(0.0)


def test_word_reading_encoder_gives_full_stroop_effect():
    st = stroop_grid(seed=0)
    table = {key(st.image(i)): (w if w in TERMS else None) for i, w in enumerate(st.column("word"))}
    enc = OneHot(list(TERMS), lambda im: table[key(im)], first_word_from(TERMS))
    s = stroop(enc, stimuli=st)
    assert s.metrics["word_accuracy_incongruent"].value == 1.0
    assert s.metrics["ink_accuracy_congruent"].value == 1.0 and s.metrics["ink_accuracy_incongruent"].value == 0.0
    e = s.metrics["stroop_effect"]
    # all copies agree, so the interval counts cells: Newcombe's hybrid score interval of 11/11 congruent cells vs
    # 0/110 incongruent cells (hand-computed from the two Wilson intervals, 1 - sqrt(0.2588^2 + 0.0337^2)): [0.739, 1]
    # — counting the 38 and 380 copies gave [0.908, 1]
    assert e.value == 1.0 and e.lo == pytest.approx(0.739, abs=1e-3) and e.hi == 1.0
    assert e.n == int(np.isin(st.column("condition"), ["congruent", "incongruent"]).sum())
    assert s.metrics["incongruent_closer_to_word"].value == 1.0


def test_largest_object_encoder_wins_ior_and_i2tor():
    sc = multi_object_scenes(n=120, seed=4, order="random", n_objects=(2, 3, 4))
    refs = single_objects(SHAPE_CLASSES, seed=5)
    table = {key(sc.image(i)): o.split(SEP)[lp] for i, (o, lp) in enumerate(zip(sc.column("objects"), sc.column("large_pos")))}
    table |= {key(refs.image(i)): c for i, c in enumerate(SHAPE_CLASSES)}
    enc = lookup_encoder(SHAPE_CLASSES, table, SHAPE_CLASSES)
    r = ior(enc, scenes=sc, seed=4)
    assert r.metrics["large_wins"].value == 1.0 and r.metrics["large_wins"].n == 120
    assert i2tor(enc, scenes=sc).metrics["large_wins"].value == 1.0
    lf = multi_object_scenes(n=60, seed=4, order="large_first")
    table |= {key(lf.image(i)): o.split(SEP)[0] for i, o in enumerate(lf.column("objects"))}
    m = matching(enc, scenes=lf)
    # text side reads the first object: large-first captions always match; with the large object last, the caption
    # wins only when the replaced object was not the first one
    assert m.metrics["accuracy_large_first"].value > m.metrics["accuracy_large_last"].value
    assert m.tables["mcnemar"]["n_pairs"] == 60 and m.tables["mcnemar"]["p"] < 0.05


def test_first_word_encoder_gives_tor_first_position():
    enc = OneHot(list(SHAPE_CLASSES), lambda im: None, first_word_from(SHAPE_CLASSES))
    r = tor(enc, n=90, n_objects=(2, 3))
    for k in (2, 3):
        assert r.metrics[f"tor_{k}obj_pos1"].value == 1.0
        assert r.metrics[f"tor_{k}obj_pos{k}"].value == 0.0
    assert r.tables["2obj_n"] == 45


def test_shape_and_texture_encoders_bound_shape_bias():
    cc = cue_conflict(kinds=("conflict",))
    for col, want in (("shape", 1.0), ("texture", 0.0)):
        table = {key(cc.image(i)): v for i, v in enumerate(cc.column(col))}
        enc = lookup_encoder(TEXTURE_CLASSES, table, TEXTURE_CLASSES)
        r = shape_bias(enc, stimuli=cc)
        assert r.metrics["shape_bias"].value == want and r.metrics["shape_bias"].n == len(cc)


def test_random_init_clip_is_at_chance(vitb32, tmp_path):
    res = colour_naming(vitb32, n=110, background_templates=None)
    assert res.metrics["accuracy"].covers(1 / 11)
    ctx = context_bias(vitb32, n=60)
    assert ctx.metrics["accuracy_usual"].covers(0.5) or ctx.metrics["accuracy_unusual"].covers(0.5)
    from interp.jobs.probe import write_probe

    paths = write_probe(res, tmp_path)
    assert [p.name for p in paths] == ["colour.json", "colour.png"] and paths[1].stat().st_size > 5000


def test_stats_known_answers():
    e = wilson(0, 20)
    assert e.value == 0 and e.lo == 0 and 0.15 < e.hi < 0.17  # 0/20: upper Wilson bound 0.161
    assert permutation_p(5.0, [1, 2, 3, 6]) == pytest.approx(2 / 5)
    q, rej = benjamini_hochberg([0.01, 0.04, 0.03, 0.5], alpha=0.05)
    # sorted p 0.01, 0.03, 0.04, 0.5 -> p*m/rank 0.04, 0.06, 0.0533, 0.5 -> step-up minimum
    np.testing.assert_allclose(q, [0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert list(rej) == [True, False, False, False]
    assert mcnemar([1, 1, 1, 0], [0, 0, 1, 0])["a_only"] == 2


def test_tor_on_a_real_pretrained_sentence_encoder():
    from interp.jobs.probe import run_probe
    from interp.models.text_only import load_encoder

    sbert = load_encoder("sbert:all-MiniLM-L6-v2")
    e = sbert.encode_text(["a dog", "a dog and a cat", "a car and a bus"])
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2  # real pretrained semantics, not a random encoder
    r = run_probe("tor", sbert, n=120)
    assert r.info["names"][0] == "person" and r.metrics["tor_2obj_pos1"].n == 40
    assert abs(r.metrics["tor_2obj_pos1"].value + r.metrics["tor_2obj_pos2"].value - 1) < 1e-9
    with pytest.raises(Exception, match="text-only"):
        run_probe("stroop", sbert)

"""The census's text contrast differs in one factor per pair: strokes keep the word's ink exactly, anagrams keep
its letters; every ink appears (achromatic included); the three share a cell and a position; the Stroop evaluation's
held-out font size is not among the census's."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from probes.errors import ProbeError
from probes.stimuli import census_set, text_contrast
from probes.stimuli.colours import COLOUR_TERMS, TERMS
from probes.stimuli.stroop import BACKGROUNDS, NEUTRAL_INK
from probes.stimuli.textcontrast import ANAGRAMS, FONT_SIZES


def ink_amount(img, bg) -> float:
    """Sum over pixels of |pixel - background| (each channel): moved ink tiles leave it unchanged."""
    return float(np.abs(np.asarray(img, float) - np.asarray(bg, float)[None, None]).sum())


def test_strokes_keep_the_words_ink_exactly_and_anagrams_its_letters():
    st = text_contrast(size=96, seed=1)
    cond, cell = st.column("condition"), st.column("cell")
    ink, bg = st.column("ink"), st.column("background")
    checked = 0
    for i in range(0, len(st), 3 * 37):  # a spread of triples
        assert list(cond[i : i + 3]) == ["text_word", "text_anagram", "text_strokes"]
        assert len(set(cell[i : i + 3])) == 1
        word, anagram, strokes = (st.image(i + j) for j in range(3))
        b = BACKGROUNDS[bg[i]]
        assert ink_amount(strokes, b) == ink_amount(word, b) > 0
        assert not np.array_equal(np.asarray(strokes), np.asarray(word))
        # same colours on the canvas: the anagram is drawn in the word's ink
        rgb = NEUTRAL_INK[bg[i]] if ink[i] == "neutral" else COLOUR_TERMS[ink[i]]
        for im in (word, anagram, strokes):
            px = np.asarray(im).reshape(-1, 3)
            assert (np.abs(px - np.asarray(rgb)).sum(1) <= 3).any()
        checked += 1
    assert checked >= 10
    for w, a in ANAGRAMS.items():
        assert Counter(a) == Counter(w.upper()) and a != w.upper() and a.lower() not in TERMS


def test_every_ink_including_neutral_and_achromatic_is_in_every_condition():
    st = text_contrast(size=224)
    cond, ink = st.column("condition"), st.column("ink")
    for c in ("text_word", "text_anagram", "text_strokes"):
        assert set(ink[cond == c]) == set(TERMS) | {"neutral"}
    assert len(set(st.column("cell"))) * 3 == len(st)
    # at 32 px two font sizes round to one pixel size: those images are copies, and they share a cell
    small = text_contrast(size=32)
    assert len(set(small.column("cell"))) * 3 < len(small)


def test_census_fonts_leave_the_held_out_size_free_and_bad_fonts_are_named():
    assert 0.19 not in FONT_SIZES
    px = set(census_set(size=224, per_colour=4).column("font_px")) - {-1}
    assert round(0.19 * 224) not in px
    with pytest.raises(ProbeError, match="font sizes"):
        text_contrast(font_sizes=(1.5,))

"""The Stroop probe: read the word or name the ink, congruent vs incongruent, with controls."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..stats import accuracy, diff_of_proportions
from ..stimuli import stroop_grid
from ..stimuli.base import StimulusSet
from ..stimuli.colours import TERMS
from .registry import ProbeSpec, est, register_probe
from .base import error_bars, ImageTextEncoder, ProbeResult, class_embeddings, encode_images

WORD_TEMPLATES = ("the word {}",)
INK_TEMPLATES = ("a word written in {}",)
NEUTRAL_TEMPLATES = ("{}",)


def stroop(encoder: ImageTextEncoder, stimuli: Optional[StimulusSet] = None, terms: Sequence[str] = TERMS,
           word_templates: Sequence[str] = WORD_TEMPLATES, ink_templates: Sequence[str] = INK_TEMPLATES,
           neutral_templates: Sequence[str] = NEUTRAL_TEMPLATES, seed: int = 0, n: Optional[int] = None) -> ProbeResult:
    """Word accuracy and ink accuracy per condition; Stroop effect = ink acc(congruent) - ink acc(incongruent)."""
    terms = list(terms)
    st = stimuli or stroop_grid(n=n, seed=seed, terms=tuple(terms))
    img = encode_images(encoder, st.images, len(st))
    word_pred = np.array(terms)[(img @ class_embeddings(encoder, terms, word_templates).T).argmax(1)]
    ink_pred = np.array(terms)[(img @ class_embeddings(encoder, terms, ink_templates).T).argmax(1)]
    neutral = class_embeddings(encoder, terms, neutral_templates)
    word, ink, cond = st.column("word"), st.column("ink"), st.column("condition")
    con, inc = cond == "congruent", cond == "incongruent"
    ink_ok = ink_pred == ink
    word_ok = word_pred == word
    t_idx = {t: i for i, t in enumerate(terms)}
    sims = img @ neutral.T
    closer_word = np.array([sims[i, t_idx[w]] > sims[i, t_idx[k]] for i, (w, k) in enumerate(zip(word, ink))
                            if inc[i]], bool)
    metrics = {
        "word_accuracy_congruent": accuracy(word_ok[con]),
        "word_accuracy_incongruent": accuracy(word_ok[inc]),
        "ink_accuracy_congruent": accuracy(ink_ok[con]),
        "ink_accuracy_incongruent": accuracy(ink_ok[inc]),
        "stroop_effect": diff_of_proportions(ink_ok[con], ink_ok[inc]),
        "incongruent_closer_to_word": accuracy(closer_word),
        "ink_named_as_word_incongruent": accuracy(ink_pred[inc] == word[inc]),
    }
    for c in ("word_only", "ink_only", "nonword"):
        m = cond == c
        if m.any():
            if c == "word_only":
                metrics["word_accuracy_word_only"] = accuracy(word_ok[m])
            else:
                metrics[f"ink_accuracy_{c}"] = accuracy(ink_ok[m])

    def plot(fig):
        ax = fig.add_subplot(1, 1, 1)
        names = [k for k in metrics if k.startswith(("ink_accuracy", "word_accuracy"))]
        vals = [metrics[k] for k in names]
        ax.bar(range(len(vals)), [v.value for v in vals],
               yerr=error_bars(vals), capsize=3,
               color=["tab:orange" if "ink" in k else "tab:blue" for k in names])
        ax.axhline(1 / len(terms), color="gray", ls="--", lw=1, label="chance")
        ax.set_xticks(range(len(vals)), [k.replace("_accuracy_", "\n") for k in names], fontsize=8)
        ax.set_ylim(0, 1.05)
        e = metrics["stroop_effect"]
        ax.set_title(f"Stroop effect {e.value:.2f} [{e.lo:.2f}, {e.hi:.2f}] (n={e.n})")
        ax.legend()

    return ProbeResult("stroop", metrics, {}, {"word_pred": word_pred, "ink_pred": ink_pred},
                       {"n": len(st), "word_templates": list(word_templates), "ink_templates": list(ink_templates)}, plot)


register_probe(ProbeSpec(
    "stroop", "Stroop: reading the word vs naming the ink",
    lambda enc, n, seed: stroop(enc, stroop_grid(n=n, seed=seed, size=enc.image_size[0])),
    lambda r: (f"Stroop: ink named correctly on congruent words {est(r['metrics']['ink_accuracy_congruent'])} vs incongruent "
               f"{est(r['metrics']['ink_accuracy_incongruent'])} (difference {est(r['metrics']['stroop_effect'])}); the word "
               f"is read on incongruent images {est(r['metrics']['word_accuracy_incongruent'])}."),
    description="colour words in congruent / incongruent ink, with word-only, ink-only and non-word controls"))

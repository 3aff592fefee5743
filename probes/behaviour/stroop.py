"""The Stroop probe: read the word or name the ink, congruent vs incongruent, with controls.

The Stroop measurements are defined here once, for this probe and for the causal experiments (which build their
zero-shot tasks from `STROOP_TASKS` / `stroop_items` and their derived metrics from `STROOP_DIFFERENCES`):
- per item, on items of one condition, whether the argmax over ink prompts ("a word written in {}") or word prompts
  ("the word {}") is the ink's or the word's colour; `word_intrusion` is the share of incongruent images whose ink
  prompt argmax is the WORD's colour;
- interference = ink accuracy(non-word) - ink accuracy(incongruent); facilitation = ink accuracy(congruent) - ink
  accuracy(non-word); the Stroop effect = ink accuracy(congruent) - ink accuracy(incongruent);
- the per-item margin cos(image, ink prompt of the ink) - cos(image, ink prompt of the word's colour) on incongruent
  images (`ink_incongruent_margin`).
Items are clustered by stimulus cell (word|ink|condition): the font-size, background and jittered copies of one
word x ink pair count as one cell, and every interval is computed on cells (see `probes.stats.proportion`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from ..errors import ProbeError
from ..stats import Estimate, clustered_mean, diff_of_proportions, proportion
from ..stimuli import stroop_grid
from ..stimuli.base import StimulusSet
from ..stimuli.colours import TERMS
from .registry import ProbeSpec, est, register_probe
from .base import error_bars, ImageTextEncoder, ProbeResult, class_embeddings, encode_images

WORD_TEMPLATES = ("the word {}",)
INK_TEMPLATES = ("a word written in {}",)
NEUTRAL_TEMPLATES = ("{}",)


@dataclass(frozen=True)
class StroopTask:
    """One per-item Stroop outcome: on items of `condition`, is the argmax over the `prompt` ("ink" or "word")
    class prompts the item's `truth` ("ink" or "word") colour? With a `rival` ("word"), the task also has the
    margin cos(truth) - cos(rival) under the same prompts. `probe_name` names it among the probe's metrics;
    `causal` tasks are measured by the causal experiments too."""

    condition: str
    prompt: str
    truth: str
    rival: Optional[str] = None
    probe_name: str = ""
    causal: bool = True


STROOP_TASKS: dict[str, StroopTask] = {
    "ink_congruent": StroopTask("congruent", "ink", "ink", probe_name="ink_accuracy_congruent"),
    "ink_incongruent": StroopTask("incongruent", "ink", "ink", rival="word", probe_name="ink_accuracy_incongruent"),
    "ink_nonword": StroopTask("nonword", "ink", "ink", probe_name="ink_accuracy_nonword"),
    "word_incongruent": StroopTask("incongruent", "word", "word", probe_name="word_accuracy_incongruent"),
    # the ink prompts' answer is the word's colour: the word intrudes on naming the ink
    "word_intrusion": StroopTask("incongruent", "ink", "word", probe_name="word_intrusion"),
    "word_congruent": StroopTask("congruent", "word", "word", probe_name="word_accuracy_congruent", causal=False),
    "word_word_only": StroopTask("word_only", "word", "word", probe_name="word_accuracy_word_only", causal=False),
    "ink_ink_only": StroopTask("ink_only", "ink", "ink", probe_name="ink_accuracy_ink_only", causal=False),
}
# derived metrics: accuracy of task a minus accuracy of task b (items of different conditions: independent groups)
STROOP_DIFFERENCES: dict[str, tuple[str, str]] = {
    "stroop_effect": ("ink_congruent", "ink_incongruent"),
    "interference": ("ink_nonword", "ink_incongruent"),
    "facilitation": ("ink_congruent", "ink_nonword"),
}
PROMPTS = {"ink": INK_TEMPLATES, "word": WORD_TEMPLATES}


@dataclass(frozen=True)
class StroopItems:
    """The items of one task: rows of the stimulus set, true class index, rival class index, stimulus cell."""

    rows: np.ndarray
    truth: np.ndarray
    rival: Optional[np.ndarray]
    cells: np.ndarray


def stroop_cells(word: Sequence[str], ink: Sequence[str], condition: Sequence[str]) -> np.ndarray:
    """The stimulus cell of each item, word|ink|condition: its font, background and jittered copies share it."""
    return np.array([f"{w}|{k}|{c}" for w, k, c in zip(word, ink, condition)])


def stroop_items(columns: Mapping[str, Sequence], terms: Sequence[str] = TERMS,
                 tasks: Mapping[str, StroopTask] = STROOP_TASKS) -> dict[str, StroopItems]:
    """For every task with items among the stimuli (columns word, ink, condition): its rows, truth, rival, cells."""
    t_idx = {t: i for i, t in enumerate(terms)}
    word, ink = np.asarray(columns["word"]), np.asarray(columns["ink"])
    cond = np.asarray(columns["condition"])
    cells = stroop_cells(word, ink, cond)
    label = {"ink": ink, "word": word}

    def index(values: np.ndarray) -> np.ndarray:
        missing = sorted(set(values.tolist()) - set(t_idx))
        if missing:
            raise ProbeError(f"Stroop colours {missing} are not among the colour terms {list(terms)}")
        return np.array([t_idx[v] for v in values], np.int64)

    out: dict[str, StroopItems] = {}
    for name, t in tasks.items():
        rows = np.flatnonzero(cond == t.condition)
        if rows.size:
            rival = index(label[t.rival][rows]) if t.rival else None
            out[name] = StroopItems(rows, index(label[t.truth][rows]), rival, cells[rows])
    return out


def stroop_outcomes(sims: Mapping[str, np.ndarray], items: Mapping[str, StroopItems],
                    tasks: Mapping[str, StroopTask] = STROOP_TASKS) -> dict[str, np.ndarray]:
    """Per-item outcomes from image-class similarities per prompt kind ([images, terms]): 0/1 per task and
    `<task>_margin` = cos(truth) - cos(rival) for tasks with a rival."""
    out: dict[str, np.ndarray] = {}
    for name, it in items.items():
        s = np.asarray(sims[tasks[name].prompt])[it.rows]
        out[name] = (s.argmax(1) == it.truth).astype(np.float64)
        if it.rival is not None:
            r = np.arange(len(it.rows))
            out[f"{name}_margin"] = s[r, it.truth] - s[r, it.rival]
    return out


def stroop_estimates(outcomes: Mapping[str, np.ndarray], items: Mapping[str, StroopItems],
                     tasks: Mapping[str, StroopTask] = STROOP_TASKS,
                     differences: Mapping[str, tuple[str, str]] = STROOP_DIFFERENCES) -> dict[str, Estimate]:
    """Accuracies (by probe name), differences and margins with 95% CIs on stimulus cells."""
    est_: dict[str, Estimate] = {}
    for name, it in items.items():
        est_[tasks[name].probe_name or name] = proportion(outcomes[name].astype(bool), it.cells)
    for name, (a, b) in differences.items():
        if a in items and b in items:
            est_[name] = diff_of_proportions(outcomes[a].astype(bool), outcomes[b].astype(bool), items[a].cells,
                                             items[b].cells)
    for name, it in items.items():
        if it.rival is not None:
            est_[f"{name}_margin"] = clustered_mean(outcomes[f"{name}_margin"], it.cells)
    return est_


ORDER = ("word_accuracy_congruent", "word_accuracy_incongruent", "ink_accuracy_congruent", "ink_accuracy_incongruent",
         "stroop_effect", "incongruent_closer_to_word", "word_intrusion", "ink_incongruent_margin", "interference",
         "facilitation", "word_accuracy_word_only", "ink_accuracy_ink_only", "ink_accuracy_nonword")


def stroop(encoder: ImageTextEncoder, stimuli: Optional[StimulusSet] = None, terms: Sequence[str] = TERMS,
           word_templates: Sequence[str] = WORD_TEMPLATES, ink_templates: Sequence[str] = INK_TEMPLATES,
           neutral_templates: Sequence[str] = NEUTRAL_TEMPLATES, seed: int = 0, n: Optional[int] = None) -> ProbeResult:
    """Word and ink accuracy per condition, Stroop effect, interference, facilitation, word intrusion and the
    ink-vs-word margin (definitions in the module docstring), every CI on stimulus cells."""
    terms = list(terms)
    st = stimuli or stroop_grid(n=n, seed=seed, terms=tuple(terms))
    img = encode_images(encoder, st.images, len(st))
    sims = {"ink": img @ class_embeddings(encoder, terms, ink_templates).T,
            "word": img @ class_embeddings(encoder, terms, word_templates).T}
    items = stroop_items(st.columns, terms)
    out = stroop_outcomes(sims, items)
    found = stroop_estimates(out, items)
    if "ink_incongruent" in items:
        it = items["ink_incongruent"]
        neutral = (img @ class_embeddings(encoder, terms, neutral_templates).T)[it.rows]
        r = np.arange(len(it.rows))
        found["incongruent_closer_to_word"] = proportion(neutral[r, it.rival] > neutral[r, it.truth], it.cells)
    metrics = {k: found[k] for k in ORDER if k in found}
    word_pred = np.array(terms)[sims["word"].argmax(1)]
    ink_pred = np.array(terms)[sims["ink"].argmax(1)]

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
        e = metrics.get("stroop_effect")
        if e is not None:
            ax.set_title(f"Stroop effect {e.value:.2f} [{e.lo:.2f}, {e.hi:.2f}]\n({e.n_text})", fontsize=9)
        ax.legend()

    return ProbeResult("stroop", metrics, {}, {"word_pred": word_pred, "ink_pred": ink_pred},
                       {"n": len(st), "word_templates": list(word_templates), "ink_templates": list(ink_templates),
                        "cells": "word|ink|condition: font, background and jittered copies of one pair share a cell"},
                       plot)


def _summary(r: dict) -> str:
    m = r["metrics"]
    text = (f"Stroop: ink named correctly on congruent words {est(m['ink_accuracy_congruent'])} vs incongruent "
            f"{est(m['ink_accuracy_incongruent'])} (difference {est(m['stroop_effect'])}); the word is read on "
            f"incongruent images {est(m['word_accuracy_incongruent'])}")
    if "interference" in m:
        text += (f"; interference (non-word − incongruent ink accuracy) {est(m['interference'])}, facilitation "
                 f"(congruent − non-word) {est(m['facilitation'])}")
    if "word_intrusion" in m:
        text += f"; the ink prompts pick the word's colour on {est(m['word_intrusion'])} of incongruent images"
    return text + "."


register_probe(ProbeSpec(
    "stroop", "Stroop: reading the word vs naming the ink",
    lambda enc, n, seed: stroop(enc, stroop_grid(n=n, seed=seed, size=enc.image_size[0])),
    _summary,
    description="colour words in congruent / incongruent ink, with word-only, ink-only and non-word controls"))

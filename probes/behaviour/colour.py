"""Colour naming: zero-shot over the 11 basic terms, confusion matrix, achromatic bias, figure vs background."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..stats import accuracy, diff_of_proportions
from ..stimuli import colour_patches
from ..stimuli.base import StimulusSet
from ..stimuli.colours import ACHROMATIC, TERMS, check_term
from .registry import ProbeSpec, est, register_probe
from .base import ImageTextEncoder, ProbeResult, class_embeddings, encode_images

FIGURE_TEMPLATES = ("a {} shape",)
BACKGROUND_TEMPLATES = ("a shape on {}",)


def colour_naming(encoder: ImageTextEncoder, stimuli: Optional[StimulusSet] = None, n: int = 220,
                  terms: Sequence[str] = TERMS, templates: Sequence[str] = FIGURE_TEMPLATES,
                  background_templates: Optional[Sequence[str]] = BACKGROUND_TEMPLATES, seed: int = 0) -> ProbeResult:
    """Name the figure colour (and, if templates are given, the background colour) of colour patches."""
    terms = [check_term(t) for t in terms]
    st = stimuli or colour_patches(n=n, seed=seed, terms=tuple(terms))
    img = encode_images(encoder, st.images, len(st))
    cls = class_embeddings(encoder, terms, templates)
    pred = np.array(terms)[(img @ cls.T).argmax(1)]
    truth = st.column("colour")
    correct = pred == truth
    achrom = np.isin(truth, ACHROMATIC)
    k = len(terms)
    conf = np.zeros((k, k), int)
    idx = {t: i for i, t in enumerate(terms)}
    for t, p in zip(truth, pred):
        conf[idx[t], idx[p]] += 1
    metrics = {"accuracy": accuracy(correct), "accuracy_chromatic": accuracy(correct[~achrom]),
               "accuracy_achromatic": accuracy(correct[achrom]),
               "achromatic_deficit": diff_of_proportions(correct[~achrom], correct[achrom]),
               "achromatic_label_rate": accuracy(np.isin(pred, ACHROMATIC)),
               "achromatic_true_rate": accuracy(achrom)}
    per = {"pred": pred, "correct": correct}
    if background_templates:
        bcls = class_embeddings(encoder, terms, background_templates)
        bpred = np.array(terms)[(img @ bcls.T).argmax(1)]
        bcorrect = bpred == st.column("background")
        metrics["accuracy_background"] = accuracy(bcorrect)
        metrics["background_named_as_figure"] = accuracy(bpred == truth)
        per["pred_background"] = bpred

    def plot(fig):
        ax = fig.add_subplot(1, 1, 1)
        rates = conf / np.maximum(conf.sum(1, keepdims=True), 1)
        im = ax.imshow(rates, cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(k), terms, rotation=60)
        ax.set_yticks(range(k), terms)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true figure colour")
        a = metrics["accuracy"]
        ax.set_title(f"colour naming: acc {a.value:.2f} [{a.lo:.2f}, {a.hi:.2f}], n={a.n}")
        fig.colorbar(im, ax=ax, fraction=0.046)

    return ProbeResult("colour", metrics, {"confusion": conf, "terms": terms,
                                           "label_rate": {t: float(np.mean(pred == t)) for t in terms}},
                       per, {"templates": list(templates), "n": len(st)}, plot)


register_probe(ProbeSpec(
    "colour", "Colour naming of plain patches",
    lambda enc, n, seed: colour_naming(enc, colour_patches(n=n or 220, seed=seed, size=enc.image_size[0])),
    lambda r: (f"Colour naming of plain patches: chromatic {est(r['metrics']['accuracy_chromatic'])}, achromatic "
               f"{est(r['metrics']['accuracy_achromatic'])}; achromatic labels are given at a rate of "
               f"{est(r['metrics']['achromatic_label_rate'])} against a true rate of {est(r['metrics']['achromatic_true_rate'])}."),
    description="name the colour of a figure patch (11 basic terms, achromatic included)"))

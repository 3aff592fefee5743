"""Context bias (seed 002): foreground accuracy per (class, context) cell, and a PCA view of the embeddings."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..stats import accuracy, diff_of_proportions
from ..stimuli import context_scenes
from ..stimuli.base import StimulusSet
from ..stimuli.context import CONTEXTS, FOREGROUNDS, USUAL
from .registry import ProbeSpec, est, register_probe
from .base import ImageTextEncoder, ProbeResult, class_embeddings, encode_images


def context_bias(encoder: ImageTextEncoder, stimuli: Optional[StimulusSet] = None, n: int = 200, seed: int = 0,
                 size: int = 224, templates: Sequence[str] = ("a {}",)) -> ProbeResult:
    """Zero-shot foreground accuracy in usual vs unusual contexts (balanced evaluation set)."""
    st = stimuli or context_scenes(n=n, seed=seed, size=size, bias=0.0)
    img = encode_images(encoder, st.images, len(st))
    pred = np.array(FOREGROUNDS)[(img @ class_embeddings(encoder, FOREGROUNDS, templates).T).argmax(1)]
    fg, ctx = st.column("foreground"), st.column("context")
    ok = pred == fg
    usual = np.array([USUAL[f] == c for f, c in zip(fg, ctx)])
    metrics = {f"accuracy_{f}_on_{c}": accuracy(ok[(fg == f) & (ctx == c)]) for f in FOREGROUNDS for c in CONTEXTS}
    metrics["accuracy_usual"] = accuracy(ok[usual])
    metrics["accuracy_unusual"] = accuracy(ok[~usual])
    metrics["context_gap"] = diff_of_proportions(ok[usual], ok[~usual])
    centred = img - img.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    pcs = centred @ vt[:2].T

    def plot(fig):
        ax = fig.add_subplot(1, 1, 1)
        for f, col in zip(FOREGROUNDS, ("tab:brown", "tab:orange")):
            for c, mk in zip(CONTEXTS, ("o", "^")):
                m = (fg == f) & (ctx == c)
                ax.scatter(pcs[m, 0], pcs[m, 1], c=col, marker=mk, s=18, alpha=0.7, label=f"{f} on {c}")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        g = metrics["context_gap"]
        ax.set_title(f"image embeddings (PCA); usual - unusual accuracy {g.value:.2f} [{g.lo:.2f}, {g.hi:.2f}]")
        ax.legend(fontsize=8)

    return ProbeResult("context", metrics, {}, {"pred": pred, "pca": pcs}, {"n": len(st)}, plot)


register_probe(ProbeSpec(
    "context", "Foreground in usual vs unusual context",
    lambda enc, n, seed: context_bias(enc, context_scenes(n=n or 200, seed=seed, size=enc.image_size[0], bias=0.0)),
    lambda r: (f"Context: the foreground is named correctly in its usual context {est(r['metrics']['accuracy_usual'])} vs "
               f"an unusual one {est(r['metrics']['accuracy_unusual'])} (gap {est(r['metrics']['context_gap'])})."),
    description="horse / camel on grass / desert: accuracy in usual vs unusual context"))

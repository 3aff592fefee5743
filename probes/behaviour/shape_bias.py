"""Shape bias (Geirhos): on cue-conflict images, shape decisions / (shape + texture decisions)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..stats import accuracy, wilson
from ..stimuli import cue_conflict
from ..stimuli.base import StimulusSet
from ..stimuli.textures import TEXTURE_CLASSES
from .registry import ProbeSpec, est, register_probe
from .base import error_bars, ImageTextEncoder, ProbeResult, class_embeddings, encode_images


def shape_bias(encoder: ImageTextEncoder, stimuli: Optional[StimulusSet] = None, classes: Sequence[str] = TEXTURE_CLASSES,
               templates: Sequence[str] = ("a {}",), seed: int = 0, size: int = 224, n: Optional[int] = None) -> ProbeResult:
    """Zero-shot class decisions on cue-conflict images; shape bias with a Wilson CI over cue-matching decisions."""
    st = stimuli or cue_conflict(n=n, seed=seed, size=size, classes=tuple(classes),
                                 kinds=("conflict", "shape_only", "texture_only"))
    img = encode_images(encoder, st.images, len(st))
    pred = np.array(classes)[(img @ class_embeddings(encoder, list(classes), templates).T).argmax(1)]
    kind, shape, tex = st.column("kind"), st.column("shape"), st.column("texture")
    c = kind == "conflict"
    n_shape, n_tex = int(np.sum(pred[c] == shape[c])), int(np.sum(pred[c] == tex[c]))
    metrics = {"shape_bias": wilson(n_shape, n_shape + n_tex),
               "cue_decisions": accuracy((pred[c] == shape[c]) | (pred[c] == tex[c]))}
    if (kind == "shape_only").any():
        metrics["accuracy_shape_only"] = accuracy(pred[kind == "shape_only"] == shape[kind == "shape_only"])
    if (kind == "texture_only").any():
        metrics["accuracy_texture_only"] = accuracy(pred[kind == "texture_only"] == tex[kind == "texture_only"])

    def plot(fig):
        ax = fig.add_subplot(1, 1, 1)
        es = list(metrics.items())
        ax.bar(range(len(es)), [e.value for _, e in es], yerr=error_bars([e for _, e in es]), capsize=3)
        ax.set_xticks(range(len(es)), [k.replace("_", "\n") for k, _ in es], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"shape bias {metrics['shape_bias']}")

    return ProbeResult("shape-bias", metrics, {"shape_decisions": n_shape, "texture_decisions": n_tex}, {"pred": pred},
                       {"n": len(st)}, plot)


register_probe(ProbeSpec(
    "shape-bias", "Shape vs texture (cue conflict)",
    lambda enc, n, seed: shape_bias(enc, cue_conflict(n=n, seed=seed, size=enc.image_size[0],
                                                      kinds=("conflict", "shape_only", "texture_only"))),
    lambda r: (f"Shape bias on cue-conflict images {est(r['metrics']['shape_bias'])} (share of shape decisions among "
               f"cue decisions; 0.5 = no preference)."),
    description="cue-conflict images: does the model follow the shape or the texture?"))

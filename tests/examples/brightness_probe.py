"""The README's worked example: a new probe is one module and one registration.

"Brightness naming": images of a grey patch, dark or light; does the model's embedding sit closer to "a dark
image" or "a light image"? Registering it makes it a `clip-interp probe brightness` command, a stage of the main
job and a section (with a finding line) of the report.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from probes.behaviour import ProbeResult, ProbeSpec, register_probe
from probes.behaviour.base import class_embeddings, normed
from probes.behaviour.registry import est
from probes.stats import accuracy


def brightness(encoder, n: int | None = None, seed: int = 0) -> ProbeResult:
    """Share of dark / light grey images the encoder matches to the right brightness word."""
    rng = np.random.default_rng(seed)
    n = n or 40
    light = rng.random(n) < 0.5
    size = encoder.image_size[0]
    levels = np.where(light, rng.integers(190, 250, n), rng.integers(5, 65, n))
    images = [Image.new("RGB", (size, size), (int(v),) * 3) for v in levels]
    emb = normed(encoder.encode_image(images))
    classes = class_embeddings(encoder, ["dark", "light"], ["a {} image"])
    correct = (emb @ classes.T).argmax(1) == light.astype(int)
    return ProbeResult("brightness", {"accuracy": accuracy(correct), "accuracy_light": accuracy(correct[light]),
                                      "accuracy_dark": accuracy(correct[~light])}, info={"n": n})


register_probe(ProbeSpec(
    "brightness", "Brightness naming", brightness,
    lambda r: f"Brightness naming: a grey image is called dark or light correctly {est(r['metrics']['accuracy'])}.",
    description="is a plain grey image called dark or light?"))

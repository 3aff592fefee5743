"""SimCO-like multi-object scenes: 2-5 shapes, one large and the rest small, with per-object masks and
captions in a controlled order. Random order is drawn per scene, never tied to a fixed class list (a confound
of the original TOR code, where itertools.combinations fixed position to class identity)."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..errors import ProbeError
from .base import Rendered, StimulusSet, recorded
from .colours import CHROMATIC, jitter_colour
from .shapes import SHAPE_CLASSES, draw_shape

ORDERS = ("large_first", "large_last", "random")
SEP = "|"


def _place(rng: np.random.Generator, radii: list[float], size: int) -> list[tuple[float, float]] | None:
    pts: list[tuple[float, float]] = []
    for r in radii:
        for _ in range(200):
            p = (rng.uniform(r + 2, size - r - 2), rng.uniform(r + 2, size - r - 2))
            if all(math.dist(p, q) > r + rq + 3 for q, rq in zip(pts, radii)):
                pts.append(p)
                break
        else:
            return None
    return pts


def caption_for(names: list[str], colours: list[str] | None = None) -> str:
    """'a red star and a blue heart' (or without colours)."""
    parts = [f"a {c} {n}" if colours else f"a {n}" for n, c in zip(names, colours or names)]
    return " and ".join(parts)


@recorded
def multi_object_scenes(n: int = 200, seed: int = 0, size: int = 224, n_objects: tuple[int, ...] = (2, 3, 4, 5),
                        order: str = "large_first", classes: tuple[str, ...] = SHAPE_CLASSES,
                        large: float = 0.2, small: float = 0.085, with_colours: bool = False) -> StimulusSet:
    """Scenes of distinct shape classes; object 0 of each scene (in drawing order) is the large one.

    Columns (per-object values joined by '|' in caption order): objects, colours, sizes, large_pos (position of
    the large object in the caption), n_objects, order. Masks come in caption order too.
    """
    if order not in ORDERS:
        raise ProbeError(f"unknown caption order {order!r}; use one of {', '.join(ORDERS)}")
    if n <= 0:
        raise ProbeError(f"n must be positive, got {n}")
    if max(n_objects) > len(classes) or min(n_objects) < 1:
        raise ProbeError(f"n_objects must lie in 1..{len(classes)}")
    rng = np.random.default_rng(seed)
    scenes = []
    for i in range(n):
        k = int(n_objects[i % len(n_objects)])
        names = [str(c) for c in rng.choice(classes, k, replace=False)]
        cols = [str(c) for c in rng.choice(CHROMATIC, k, replace=True)]
        radii = [large * size] + [small * size * rng.uniform(0.85, 1.15) for _ in range(k - 1)]
        pts = None
        while pts is None:
            pts = _place(rng, radii, size)
        rots = rng.uniform(0, 2 * math.pi, k).tolist()
        if order == "large_first":
            perm = list(range(k))
        elif order == "large_last":
            perm = list(range(1, k)) + [0]
        else:
            perm = [int(j) for j in rng.permutation(k)]
        scenes.append({"names": names, "cols": cols, "radii": radii, "pts": pts, "rots": rots, "perm": perm,
                       "seed": int(rng.integers(0, 2**31))})

    def render(i: int) -> Rendered:
        s = scenes[i]
        r = np.random.default_rng(s["seed"])
        img = Image.new("RGB", (size, size), jitter_colour("white", r, 6))
        masks = []
        for j in range(len(s["names"])):  # large first in drawing order; objects never overlap
            masks.append(draw_shape(img, s["names"][j], *s["pts"][j], s["radii"][j], s["rots"][j],
                                    jitter_colour(s["cols"][j], r)))
        return Rendered(img, np.stack([masks[j] for j in s["perm"]]))

    def ordered(s, key):
        return [s[key][j] for j in s["perm"]]

    cols = {
        "objects": [SEP.join(ordered(s, "names")) for s in scenes],
        "colours": [SEP.join(ordered(s, "cols")) for s in scenes],
        "sizes": [SEP.join(f"{r:.1f}" for r in ordered(s, "radii")) for s in scenes],
        "large_pos": np.array([s["perm"].index(0) for s in scenes]),
        "n_objects": np.array([len(s["names"]) for s in scenes]),
        "order": [order] * n,
    }
    caps = [caption_for(ordered(s, "names"), ordered(s, "cols") if with_colours else None) for s in scenes]
    return StimulusSet("multi_object", [f"scene-{seed}-{i:06d}" for i in range(n)], cols, render, caps,
                       max_objects=max(n_objects), image_size=size,
                       params={"n": n, "seed": seed, "order": order, "n_objects": list(n_objects)})


@recorded
def single_objects(classes: tuple[str, ...] = SHAPE_CLASSES, size: int = 224, seed: int = 0, radius: float = 0.3,
                   colour: str | None = None) -> StimulusSet:
    """One centred object per class (the references of IOR and the names of I2TOR)."""
    rng = np.random.default_rng(seed)
    cols = [colour or str(rng.choice(CHROMATIC)) for _ in classes]

    def render(i: int) -> Rendered:
        r = np.random.default_rng(seed + i)
        img = Image.new("RGB", (size, size), jitter_colour("white", r, 6))
        m = draw_shape(img, classes[i], size / 2, size / 2, radius * size, 0.0, jitter_colour(cols[i], r))
        return Rendered(img, m[None])

    return StimulusSet("single_objects", [f"single-{c}" for c in classes], {"objects": list(classes), "colours": cols},
                       render, [f"a {c}" for c in classes], max_objects=1, image_size=size)

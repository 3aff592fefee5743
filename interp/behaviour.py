"""Running the behavioural probes of `probes.behaviour` on a loaded model, with stimuli at the model's resolution."""
from __future__ import annotations

from typing import Optional

from probes import behaviour as B
from probes import stimuli as S

from .errors import InterpError

PROBE_NAMES = tuple(B.PROBES)


def run_probe(name: str, encoder, n: Optional[int] = None, seed: int = 0) -> B.ProbeResult:
    """Run probe `name` on `encoder` (a LoadedModel or a text-only encoder); n = stimuli (defaults per probe)."""
    if name not in B.PROBES:
        import difflib

        close = difflib.get_close_matches(name, PROBE_NAMES, n=1)
        raise InterpError(f"unknown probe {name!r}" + (f"; did you mean {close[0]}?" if close else f"; probes: {', '.join(PROBE_NAMES)}"))
    if n is not None and n <= 0:
        raise InterpError(f"n must be positive, got {n}")
    text_only = getattr(encoder, "text_only", False)
    if text_only and name != "tor":
        raise InterpError(f"{encoder.spec} is a text-only encoder: only the tor probe runs on it")
    if name == "tor":
        names = B.COCO_NAMES if text_only else S.SHAPE_CLASSES
        return B.tor(encoder, n=n or 400, names=names, seed=seed)
    size = encoder.image_size[0]
    if name == "colour":
        return B.colour_naming(encoder, S.colour_patches(n=n or 220, seed=seed, size=size))
    if name == "stroop":
        return B.stroop(encoder, S.stroop_grid(n=n, seed=seed, size=size))
    if name in ("ior", "i2tor", "matching"):
        order = "large_first" if name == "matching" else "random"
        scenes = S.multi_object_scenes(n=n or 200, seed=seed, size=size, order=order, n_objects=(2, 3, 4))
        return B.PROBES[name](encoder, scenes=scenes, seed=seed)
    if name == "shape-bias":
        return B.shape_bias(encoder, S.cue_conflict(n=n, seed=seed, size=size, kinds=("conflict", "shape_only", "texture_only")))
    return B.context_bias(encoder, S.context_scenes(n=n or 200, seed=seed, size=size, bias=0.0))

"""Behavioural probes: score any encoder with encode_image / encode_text; every accuracy with n and a 95% CI.

Each probe module registers itself in `registry.PROBES` (name, stimuli, run, one-sentence summary); importing
this package registers them all, in the order below.
"""
from .base import ImageTextEncoder, ProbeResult, TextEncoder
from .registry import PROBES, ProbeSpec, get_probe, register_probe
from .colour import colour_naming
from .stroop import stroop
from .objects import COCO_NAMES, i2tor, ior, matching, tor
from .shape_bias import shape_bias
from .context import context_bias

__all__ = ["PROBES", "ProbeSpec", "get_probe", "register_probe", "ProbeResult", "ImageTextEncoder", "TextEncoder",
           "colour_naming", "stroop", "tor", "ior", "i2tor", "matching", "shape_bias", "context_bias", "COCO_NAMES"]

"""Behavioural probes: score any encoder with encode_image / encode_text; every accuracy with n and a 95% CI."""
from .base import ImageTextEncoder, ProbeResult, TextEncoder
from .colour import colour_naming
from .context import context_bias
from .objects import COCO_NAMES, i2tor, ior, matching, tor
from .shape_bias import shape_bias
from .stroop import stroop

PROBES = {"colour": colour_naming, "stroop": stroop, "tor": tor, "ior": ior, "i2tor": i2tor, "matching": matching,
          "shape-bias": shape_bias, "context": context_bias}

__all__ = ["PROBES", "ProbeResult", "ImageTextEncoder", "TextEncoder", "colour_naming", "stroop", "tor", "ior",
           "i2tor", "matching", "shape_bias", "context_bias", "COCO_NAMES"]

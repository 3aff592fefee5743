"""Adapter registry: a model family maps to its tower adapters by type, not by if-chains."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from torch import nn

from ...errors import InterpError
from ..sites import Binding
from .base import Tower
from .openclip import OpenClipVisionTower, clip_text_tower, text_transformer_tower
from .resnet import ResNetVisionTower
from .timm_vit import TimmVisionTower


def _visual_registry() -> dict[type, Callable[[nn.Module], Tower]]:
    from open_clip.modified_resnet import ModifiedResNet
    from open_clip.timm_model import TimmModel
    from open_clip.transformer import VisionTransformer

    return {VisionTransformer: OpenClipVisionTower, TimmModel: TimmVisionTower, ModifiedResNet: ResNetVisionTower}


def _text_registry() -> dict[type, Callable[[nn.Module], Tower]]:
    from open_clip.model import CLIP, CustomTextCLIP
    from open_clip.transformer import TextTransformer

    return {CLIP: clip_text_tower, CustomTextCLIP: lambda m: _lookup(_text_module_registry(), m.text, "text tower"),
            TextTransformer: text_transformer_tower}


def _text_module_registry() -> dict[type, Callable[[nn.Module], Tower]]:
    from open_clip.transformer import TextTransformer

    return {TextTransformer: text_transformer_tower}


def _lookup(registry: dict[type, Callable[[nn.Module], Tower]], obj: nn.Module, what: str) -> Tower:
    for cls in type(obj).__mro__:
        if cls in registry:
            return registry[cls](obj)
    known = ", ".join(sorted(c.__name__ for c in registry))
    raise InterpError(f"no adapter for {what} {type(obj).__name__}; supported: {known}")


class ModelAdapter:
    """Both towers of a model under canonical site names."""

    def __init__(self, model: nn.Module) -> None:
        self.visual: Tower = _lookup(_visual_registry(), model.visual, "vision tower")
        self.text: Tower = _lookup(_text_registry(), model, "model")

    def towers(self) -> dict[str, Tower]:
        """Tower name -> tower."""
        return {"visual": self.visual, "text": self.text}

    def bindings(self) -> dict[str, Binding]:
        """Every site of the model."""
        return {**self.visual.bindings(), **self.text.bindings()}

    def write_norms(self, site: str) -> Optional[np.ndarray]:
        """Norm of each unit's write into the residual stream (columns of the site's output layer), or None where
        the site has no such layer (residual sites, channels, patterns)."""
        lin = self.bindings()[site].write
        return None if lin is None else lin.weight.detach().double().norm(dim=0).cpu().numpy()

    def binding(self, site: str) -> Binding:
        """The binding of one site, or SiteError with suggestions."""
        b = self.bindings()
        if site not in b:
            from ..sites import expand

            expand(site, list(b))  # raises with suggestions
        return b[site]


__all__ = ["ModelAdapter", "Tower"]

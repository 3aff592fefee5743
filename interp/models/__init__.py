"""Models, their adapters and canonical sites (floor 1 of interp)."""
from .hooks import PatternSource, SiteHook, attached
from .load import DEFAULT_MODEL, load_model
from .loaded import LoadedModel
from .sites import COMPONENTS, SiteInfo, expand

__all__ = ["load_model", "LoadedModel", "DEFAULT_MODEL", "SiteInfo", "COMPONENTS", "expand", "attached",
           "PatternSource", "SiteHook"]

"""Models, their adapters and canonical sites (floor 1 of interp)."""
from .hooks import HeadCall, HeadHook, PatternSource, SiteHook, attached
from .load import DEFAULT_MODEL, load_model
from .loaded import LoadedModel
from .patterns import head_contributions
from .sites import COMPONENTS, SiteInfo, SiteName, expand, parse_site, site_layer

__all__ = ["load_model", "LoadedModel", "DEFAULT_MODEL", "SiteInfo", "COMPONENTS", "expand", "attached",
           "PatternSource", "SiteHook", "HeadCall", "HeadHook", "head_contributions", "SiteName", "parse_site",
           "site_layer"]

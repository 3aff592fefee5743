"""Capture requests: which sites, which reductions, which dtype — parsed from `site-glob:red,red` strings."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from ..errors import SiteError
from ..models.sites import SiteInfo, check_reduction, expand, parse_site


def reduced_shape(info: SiteInfo, reduction: str, max_objects: int = 0) -> tuple[int, ...]:
    """Per-sample shape of `reduction` taken at a site of shape `info.shape`."""
    if reduction == "all":
        return info.shape
    if info.kind == "tokens" or info.kind == "channels":
        return (info.shape[-1],) if info.kind == "tokens" else (info.shape[0],)
    if info.kind == "pattern":
        heads, _, keys = info.shape
        return (heads, max_objects) if reduction == "object_mass" else (heads, keys)
    raise SiteError(f"no reduction {reduction!r} at {info.name}")


@dataclass(frozen=True)
class CaptureRequest:
    """An ordered list of (site, reduction) pairs and the dtype they are stored in."""

    items: tuple[tuple[str, str], ...]
    dtype: str = "float16"

    @classmethod
    def parse(cls, specs: Sequence[str], sites: Mapping[str, SiteInfo], *, has_masks: bool = False,
              dtype: str = "float16") -> "CaptureRequest":
        """Parse `['visual.blocks.*.mlp.post:cls,mean', 'text.proj']` against a model's sites."""
        if dtype not in ("float16", "float32"):
            raise SiteError(f"dtype must be float16 or float32, not {dtype!r}")
        if not specs:
            raise SiteError("the capture request names no sites")
        items: list[tuple[str, str]] = []
        for spec in specs:
            pattern, _, reds = spec.partition(":")
            reductions = [r.strip() for r in reds.split(",") if r.strip()] or ["all"]
            for site in expand(pattern.strip(), list(sites)):
                for red in reductions:
                    check_reduction(sites[site], red, has_masks=has_masks)
                    if (site, red) not in items:
                        items.append((site, red))
        return cls(tuple(items), dtype)

    def by_site(self) -> dict[str, list[str]]:
        """Site -> its reductions, in request order."""
        out: dict[str, list[str]] = {}
        for site, red in self.items:
            out.setdefault(site, []).append(red)
        return out

    def towers(self) -> set[str]:
        """Towers the request touches."""
        return {parse_site(s).tower for s, _ in self.items}

    def describe(self) -> list[str]:
        """`site:red` strings."""
        return [f"{s}:{r}" for s, r in self.items]

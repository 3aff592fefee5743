"""The canonical naming of hook sites, shared by every architecture.

`{tower}.blocks.{i}.{component}` with tower in visual|text and component in COMPONENTS, plus `{tower}.embed`
and `{tower}.proj`; ResNet towers name channel sites `visual.stem.out`, `visual.layer{k}.{j}.out` and
`visual.attnpool.pattern`. Adapters map these names to modules; nothing above them sees a module path.
"""
from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Optional, Sequence

import torch
from torch import nn

from ..errors import SiteError

COMPONENTS = ("resid_pre", "attn.pattern", "attn.out", "mlp.pre", "mlp.post", "resid_post")
TOWERS = ("visual", "text")
SiteKind = Literal["tokens", "pattern", "channels", "vector"]
Where = Literal["output", "input", "attn", "return"]

# Which reductions each kind of site can give. Tower-specific limits (no CLS token, text-only eot) are
# checked against the tower's own flags in `valid_reductions`.
REDUCTIONS: dict[str, tuple[str, ...]] = {
    "tokens": ("all", "cls", "mean", "max", "eot"),
    "pattern": ("all", "cls_row", "object_mass", "eot_row"),
    "channels": ("all", "mean", "max"),
    "vector": ("all",),
}


@dataclass
class Binding:
    """Where a site lives: the module, which side of it to hook, and how to read an attention pattern."""

    site: str
    tower: str
    kind: SiteKind
    module: Optional[nn.Module]
    where: Where
    pattern: Optional[Callable[..., torch.Tensor]] = None
    block: Optional[int] = None


@dataclass(frozen=True)
class SiteInfo:
    """What a user needs to know about a site: kind and per-sample shape."""

    name: str
    tower: str
    kind: SiteKind
    shape: tuple[int, ...]
    reductions: tuple[str, ...] = field(default=())


def block_site(tower: str, i: int, component: str) -> str:
    """Canonical name of component `component` of block `i` of `tower`."""
    return f"{tower}.blocks.{i}.{component}"


def natural_key(name: str) -> list:
    """Sort key that orders block 10 after block 9."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def expand(pattern: str, names: Sequence[str]) -> list[str]:
    """Site names matching a glob (`visual.blocks.*.mlp.post`), in natural order; raises with suggestions."""
    if any(c in pattern for c in "*?["):
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    else:
        hits = [pattern] if pattern in names else []
    if not hits:
        candidates = list(dict.fromkeys([*names, *(re.sub(r"\.\d+\.", ".*.", n) for n in names)]))
        close = difflib.get_close_matches(pattern, candidates, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; `clip-interp sites MODEL` lists the {len(names)} sites"
        raise SiteError(f"unknown site {pattern!r}{hint}")
    return names_in_order(hits)


def check_reduction(info: SiteInfo, reduction: str, *, has_masks: bool = False) -> None:
    """Raise SiteError naming the problem when `reduction` cannot be taken at `info`."""
    if reduction not in info.reductions:
        why = {
            "cls": "this tower has no CLS token" if info.tower == "visual" else "text towers have no CLS token (use eot)",
            "cls_row": "this tower has no CLS token" if info.tower == "visual" else "text towers have no CLS token (use eot_row)",
            "eot": "eot is the text pooling token", "eot_row": "eot_row is for text attention patterns",
            "object_mass": "object_mass needs the CLS row of a visual attention pattern",
        }.get(reduction, f"{info.kind} sites give {', '.join(info.reductions)}")
        raise SiteError(f"reduction {reduction!r} is not valid for {info.name} ({why})")
    if reduction == "object_mass" and not has_masks:
        raise SiteError(f"object_mass at {info.name} needs per-object masks, and this stimulus set has none")


def valid_reductions(kind: SiteKind, tower: str, has_cls: bool) -> tuple[str, ...]:
    """Reductions a site of this kind can give in this tower."""
    out = []
    for r in REDUCTIONS[kind]:
        if r in ("cls", "cls_row", "object_mass") and not (has_cls and tower == "visual"):
            continue
        if r in ("eot", "eot_row") and tower != "text":
            continue
        out.append(r)
    return tuple(out)


def names_in_order(bindings: Iterable[str]) -> list[str]:
    """Sites sorted visual tower first, then block by block."""
    return sorted(bindings, key=lambda n: (not n.startswith("visual"), natural_key(n)))

"""The canonical naming of hook sites, shared by every architecture.

`{tower}.blocks.{i}.{component}` with tower in visual|text and component in COMPONENTS, plus `{tower}.embed`
and `{tower}.proj`; ResNet towers name channel sites `visual.stem.out`, `visual.layer{k}.{j}.out` and
`visual.attnpool.pattern`. Adapters map these names to modules; nothing above them sees a module path.
`parse_site` is the one place a name is taken apart: code elsewhere reads a `SiteName`, never slices strings.
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
from .patterns import HeadDecomposition

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


# Layer rule (`site_layer`): a site's layer is its depth in its tower, read from the name alone so that stores
# (which hold names, not models) order and group sites the same way a loaded model does.
EMBED_LAYER = -1            # before the first block: `{tower}.embed`, `visual.stem.out`
OUTPUT_LAYER = 10**6        # after every block of any tower: `{tower}.proj`, `visual.attnpool.pattern`
RESNET_STAGE_STRIDE = 100   # `visual.layer{k}.{j}.out` -> (k-1)*100 + j; open_clip stages hold < 100 bottlenecks

_INDEX = re.compile(r"0|[1-9][0-9]*")
_RESNET_STAGE = re.compile(r"layer([1-9][0-9]*)")


@dataclass(frozen=True)
class SiteName:
    """A canonical site name taken apart; `.name` (and str()) puts it back together exactly.

    component is a COMPONENTS entry for transformer blocks, else `embed`, `proj`, `stem.out`, `attnpool.pattern`,
    or `out` for a ResNet bottleneck, whose stage k and index j are `stage` and `block`.
    """

    tower: str
    component: str
    block: Optional[int] = None
    stage: Optional[int] = None

    @property
    def name(self) -> str:
        """The canonical string."""
        if self.stage is not None:
            return f"{self.tower}.layer{self.stage}.{self.block}.{self.component}"
        if self.block is not None:
            return block_site(self.tower, self.block, self.component)
        return f"{self.tower}.{self.component}"

    def __str__(self) -> str:
        return self.name

    @property
    def layer(self) -> int:
        """Depth in the tower under the module's layer rule (see `site_layer`)."""
        if self.stage is not None:
            return (self.stage - 1) * RESNET_STAGE_STRIDE + self.block
        if self.block is not None:
            return self.block
        return EMBED_LAYER if self.component in ("embed", "stem.out") else OUTPUT_LAYER

    @property
    def glob(self) -> str:
        """The name with its block index as `*` (one pattern for the same component of every block)."""
        if self.block is None:
            return self.name
        if self.stage is not None:
            return f"{self.tower}.layer{self.stage}.*.{self.component}"
        return f"{self.tower}.blocks.*.{self.component}"


def parse_site(name: str) -> SiteName:
    """Take a canonical site name apart; SiteError naming what is wrong if it is not one."""
    if not isinstance(name, str):
        raise SiteError(f"a site name is a string, not {type(name).__name__}")
    tower, _, rest = name.partition(".")
    if tower not in TOWERS:
        raise SiteError(f"site {name!r} does not start with a tower ({' or '.join(TOWERS)})")
    if rest in ("embed", "proj"):
        return SiteName(tower, rest)
    head, _, tail = rest.partition(".")
    if head == "blocks":
        index, _, component = tail.partition(".")
        if not _INDEX.fullmatch(index):
            raise SiteError(f"site {name!r}: block index {index!r} is not a non-negative integer")
        if component not in COMPONENTS:
            raise SiteError(f"site {name!r}: unknown block component {component!r}; components are {', '.join(COMPONENTS)}")
        return SiteName(tower, component, int(index))
    if tower == "visual":
        if rest in ("stem.out", "attnpool.pattern"):
            return SiteName(tower, rest)
        stage = _RESNET_STAGE.fullmatch(head)
        if stage:
            index, _, component = tail.partition(".")
            if not _INDEX.fullmatch(index) or component != "out":
                raise SiteError(f"site {name!r}: ResNet bottleneck sites are visual.layer<k>.<j>.out")
            return SiteName(tower, component, int(index), int(stage.group(1)))
    raise SiteError(f"{name!r} is not a site name: sites are {tower}.embed, {tower}.blocks.<i>.<component>, "
                    f"{tower}.proj" + (", visual.stem.out, visual.layer<k>.<j>.out, visual.attnpool.pattern"
                                       if tower == "visual" else ""))


def site_layer(name: str) -> int:
    """Layer index of a site: its block index; EMBED_LAYER (-1) before the blocks (embed, stem.out); OUTPUT_LAYER
    after them (proj, attnpool.pattern); (k-1)*RESNET_STAGE_STRIDE + j for ResNet `layer{k}.{j}.out`."""
    return parse_site(name).layer


@dataclass
class Binding:
    """Where a site lives: the module, which side of it to hook, how to read an attention pattern, and (attention
    modules whose output splits by head) how to decompose it."""

    site: str
    tower: str
    kind: SiteKind
    module: Optional[nn.Module]
    where: Where
    pattern: Optional[Callable[..., torch.Tensor]] = None
    heads: Optional[HeadDecomposition] = None
    write: Optional[nn.Linear] = None  # the linear map through which the site's units write into the residual


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
        candidates = list(dict.fromkeys([*names, *(parse_site(n).glob for n in names)]))
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
    """Sites in forward order: visual tower first, then by layer (embed first, proj last), then within a block in
    the order the block computes its components."""
    def key(n: str) -> tuple:
        p = parse_site(n)
        rank = COMPONENTS.index(p.component) if p.component in COMPONENTS else 0
        return TOWERS.index(p.tower), p.layer, rank, natural_key(n)

    return sorted(bindings, key=key)

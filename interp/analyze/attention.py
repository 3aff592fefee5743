"""CLS-to-object attention mass per layer x head x object, raw (area-weighted, as seed 001) and area-normalised.

Reads `visual.blocks.*.attn.pattern:object_mass` [n, heads, objects] and the object masks from a store captured
on multi-object scenes; object k's area is its share of the image (coverage of the patch grid). Area-normalised
mass = mass / area: 1 means the CLS token attends to the object exactly as much as to an equal-area region.
"""
from __future__ import annotations


from dataclasses import dataclass
from typing import Optional

import numpy as np

from activations_store import ActivationStore, AttentionMassRecord, StoreKeyError
from probes.stats import Estimate, bootstrap

from ..errors import InterpError
from ..models.sites import OUTPUT_LAYER, parse_site, site_layer


@dataclass
class AttentionMass:
    """mass[layer, head, stim, obj] plus large/small summaries with CIs."""

    layers: list[int]
    sites: list[str]
    mass: np.ndarray            # [layers, heads, n, objects]  raw CLS->object mass
    norm: np.ndarray            # [layers, heads, n, objects]  mass / area share
    large: np.ndarray           # [n] index of the large object
    n_objects: np.ndarray       # [n]
    summary: dict[str, Estimate]

    def large_minus_small(self, normalised: bool = True) -> np.ndarray:
        """[layers, heads] mean over scenes of (large object's mass - mean small object's mass)."""
        m = self.norm if normalised else self.mass
        L, H, n, K = m.shape
        idx = np.arange(K)[None, :] < self.n_objects[:, None]  # [n, K] real objects
        is_large = np.arange(K)[None, :] == self.large[:, None]
        lg = np.take_along_axis(m, self.large[None, None, :, None], axis=3)[..., 0]
        small_mask = idx & ~is_large
        sm = (m * small_mask).sum(3) / np.maximum(small_mask.sum(1), 1)
        return (lg - sm).mean(2)


def attention_mass(store: ActivationStore, image_size: Optional[int] = None) -> AttentionMass:
    """Compute per-layer/head/object CLS attention mass and its large-vs-small summaries."""
    sites = [s for s, r in store.keys() if r == "object_mass" and parse_site(s).tower == "visual"]
    if not sites:
        raise InterpError(f"{store.path} holds no visual attention pattern with object_mass: capture "
                          "visual.blocks.*.attn.pattern:object_mass on multi-object scenes")
    sites.sort(key=site_layer)
    cols = store.stimuli
    if "large_pos" not in cols or "n_objects" not in cols:
        raise InterpError(f"{store.path} has no multi-object stimulus columns (large_pos, n_objects)")
    n = store.n_committed
    masks = store.masks()[:n].astype(np.float32)          # [n, K, h, w]
    area = masks.mean((2, 3))                              # share of the image
    mass = np.stack([store[s, "object_mass"][:n].astype(np.float64) for s in sites])  # [L, n, H, K]
    mass = mass.transpose(0, 2, 1, 3)                      # [L, H, n, K]
    with np.errstate(divide="ignore", invalid="ignore"):
        norm = np.where(area[None, None] > 0, mass / area[None, None], 0.0)
    large = cols["large_pos"][:n].astype(int)
    n_obj = cols["n_objects"][:n].astype(int)
    # the ResNet attention pool comes after every block: it takes the last layer's place
    res = AttentionMass([site_layer(s) if site_layer(s) != OUTPUT_LAYER else len(sites) - 1 for s in sites], sites, mass, norm, large,
                        n_obj, {})
    # per-scene statistics of the last layer and of the layer-mean, averaged over heads
    for label, sel in (("last_layer", slice(-1, None)), ("all_layers", slice(None))):
        for kind, arr in (("raw", mass), ("normalised", norm)):
            m = arr[sel].mean((0, 1))  # [n, K]
            lg = m[np.arange(n), large]
            small = np.array([(m[i, : n_obj[i]].sum() - lg[i]) / max(n_obj[i] - 1, 1) for i in range(n)])
            res.summary[f"{label}_{kind}_large"] = bootstrap(lambda r: float(r.mean()), lg)
            res.summary[f"{label}_{kind}_small"] = bootstrap(lambda r: float(r.mean()), small)
            res.summary[f"{label}_{kind}_large_minus_small"] = bootstrap(lambda r: float(r.mean()), lg - small)
    return res


def save_attention_mass(store_path, am: AttentionMass) -> None:
    """Commit the layer x head large-minus-small maps and the summary into the store (crash-safely)."""
    record = AttentionMassRecord(list(am.sites), [int(x) for x in am.layers], am.large_minus_small(True),
                                 am.large_minus_small(False), {k: v.as_dict() for k, v in am.summary.items()})
    with ActivationStore(store_path, mode="a") as st:
        st.write_attention_mass(record)


def load_attention_mass(store: ActivationStore) -> AttentionMassRecord:
    """The attention-mass analysis committed by save_attention_mass, or InterpError saying what to run."""
    try:
        return store.read_attention_mass()
    except StoreKeyError:
        raise InterpError(f"{store.path} holds no attention-mass analysis: run `clip-interp attention --store "
                          f"{store.path}` first") from None


def plot_heatmap(am: AttentionMass, fig, normalised: bool = True) -> None:
    """Layer x head heat map of large - small CLS attention mass."""
    ax = fig.add_subplot(1, 1, 1)
    d = am.large_minus_small(normalised)
    lim = np.abs(d).max() or 1.0
    im = ax.imshow(d, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_yticks(range(len(am.sites)), [s.replace("visual.", "").replace(".attn.pattern", "") for s in am.sites])
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(("area-normalised " if normalised else "raw ") + f"CLS attention: large - small object (n={am.mass.shape[2]})")
    fig.colorbar(im, ax=ax)


def overlay(image, cls_row: np.ndarray, grid: tuple[int, int], n_prefix: int = 1, ax=None):
    """Draw an image with its CLS attention over patches (heads averaged) upsampled on top."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    att = np.asarray(cls_row, np.float64)
    att = att.mean(0) if att.ndim == 2 else att
    att = att[n_prefix:].reshape(grid)
    ax.imshow(image)
    w, h = image.size
    ax.imshow(att, cmap="inferno", alpha=0.55, extent=(0, w, h, 0), interpolation="bilinear")
    ax.axis("off")
    return ax

"""Analyses run on a store and turned into files for people: JSON, PNG, and results written back to the store."""
from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Optional

import numpy as np

from activations_store import ActivationStore

from .errors import InterpError


def _figure(path: Path, draw, size=(8, 4.5)) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size)
    draw(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_census(table: dict[str, dict[str, int]], fig) -> None:
    """Stacked bars: share of each class per layer."""
    from .analyze.neurons import CLASSES

    ax = fig.add_subplot(1, 1, 1)
    sites = list(table)
    bottom = np.zeros(len(sites))
    colours = {"multimodal_colour": "tab:purple", "text": "tab:blue", "colour": "tab:orange"}
    for c in CLASSES[:-1]:
        share = np.array([table[s][c] / table[s]["total"] for s in sites])
        ax.bar(range(len(sites)), share, bottom=bottom, color=colours[c], label=c.replace("_", " "))
        bottom += share
    ax.set_xticks(range(len(sites)), [s.replace("visual.", "").replace("blocks.", "").replace(".mlp.post", "") for s in sites],
                  rotation=45 if len(sites) > 12 else 0)
    ax.set_xlabel("layer")
    ax.set_ylabel("share of neurons")
    ax.set_title("neuron census per layer")
    ax.legend()


def census_report(store_path: Path, reduction: str = "cls", sites_glob: str = "visual.blocks.*.mlp.post",
                  out: Optional[Path] = None, alpha: float = 0.05, n_perm: int = 20, progress: bool = True) -> str:
    """Run the census, write it into the store, census.json and census.png; return a text table."""
    from .analyze.neurons import classify, save_census

    with ActivationStore(store_path) as st:
        sites = [s for s, r in st.keys() if r == reduction and fnmatch.fnmatchcase(s, sites_glob)]
        if not sites:
            raise InterpError(f"{store_path} holds no {sites_glob}:{reduction}")
        census = classify(st, sites, reduction, alpha=alpha, n_perm=n_perm, progress=progress)
    save_census(store_path, census)
    out = out or store_path.parent
    out.mkdir(parents=True, exist_ok=True)
    table = census.table()
    (out / f"census_{reduction}.json").write_text(json.dumps(
        {"reduction": reduction, "alpha": alpha, "thresholds": census.thresholds, "per_layer": table,
         "neurons": census.records(census.cls != "none")}, indent=1, default=str))
    _figure(out / f"census_{reduction}.png", lambda fig: plot_census(table, fig))
    lines = [f"census at {reduction} (alpha={alpha}, thresholds {', '.join(f'{k}={v:.2f}' for k, v in census.thresholds.items())})",
             f"{'site':<28} {'multimodal':>10} {'text':>6} {'colour':>7} {'total':>6}"]
    for s, row in table.items():
        lines.append(f"{s:<28} {row['multimodal_colour']:>10} {row['text']:>6} {row['colour']:>7} {row['total']:>6}")
    return "\n".join(lines)


def attention_report(store_path: Path, out: Optional[Path] = None) -> str:
    """Attention mass: write it into the store, attention.json and attention.png; return a text summary."""
    from .analyze.attention import attention_mass, plot_heatmap

    with ActivationStore(store_path) as st:
        am = attention_mass(st)
    with ActivationStore(store_path, mode="a") as st:
        st.write_analysis("attention_mass", {"layers": np.array(am.layers), "sites": np.array(am.sites, dtype=object),
                                             "large_minus_small_norm": am.large_minus_small(True),
                                             "large_minus_small_raw": am.large_minus_small(False)},
                          {k: json.dumps(v.as_dict()) for k, v in am.summary.items()})
    out = out or store_path.parent
    out.mkdir(parents=True, exist_ok=True)
    (out / "attention.json").write_text(json.dumps({"summary": {k: v.as_dict() for k, v in am.summary.items()},
                                                    "layers": am.layers,
                                                    "large_minus_small_norm": am.large_minus_small(True).tolist()}, indent=1))
    _figure(out / "attention.png", lambda fig: plot_heatmap(am, fig))
    _attention_overlays(store_path, out / "attention_overlays.png")
    return "\n".join(f"{k:<42} {v}" for k, v in am.summary.items())


def _attention_overlays(store_path: Path, path: Path, k: int = 4) -> Optional[Path]:
    """CLS attention of the last layer (heads averaged) over the first k scenes, when the store can rebuild them."""
    from probes.stimuli import PROBE_SETS

    from .analyze.attention import overlay

    with ActivationStore(store_path) as st:
        meta = st.meta
        rows = [s for s, r in st.keys() if r == "cls_row" and s.startswith("visual.blocks")]
        if meta.get("stimulus_set") != "multi_object" or not rows:
            return None
        site = max(rows, key=lambda s: int(s.split(".")[2]))
        att = st[site, "cls_row"][:k].astype(np.float64)  # [k, heads, tokens]
    params = dict(meta.get("stimulus_params") or {})
    size = int(meta["image_size"][0])
    stim = PROBE_SETS["multi_object"](n=params.get("n", k), seed=params.get("seed", 0), size=size,
                                      order=params.get("order", "random"), n_objects=tuple(params.get("n_objects", (2, 3, 4))))
    side = int(round((att.shape[-1] - 1) ** 0.5))

    def draw(fig):
        for i in range(len(att)):
            ax = fig.add_subplot(1, len(att), i + 1)
            overlay(stim.image(i), att[i], (side, side), n_prefix=att.shape[-1] - side * side, ax=ax)
            ax.set_title(stim.columns["objects"][i].replace("|", ", "), fontsize=7)
        fig.suptitle(f"CLS attention, {site} (heads averaged)")

    return _figure(path, draw, size=(3 * len(att), 3.2))

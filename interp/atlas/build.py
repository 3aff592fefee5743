"""Build the neuron atlas from a census store.

Layout (everything loads with <script> tags, so the site works from file:// where fetch() of JSON is blocked):
```
atlas/index.html            per-layer census, search/filter, card viewer
atlas/atlas.js              the viewer
atlas/data/index.js         census table + layer list
atlas/data/layer_<i>.js     one row per neuron of layer i (class, preferred colour/word, indices, q-values)
atlas/data/cards_<i>_<k>.js cards of 256 neurons: top stimuli, tuning curves, statistics, ablation effects
atlas/img/stim_<row>.png    stimulus thumbnails; atlas/img/attr_<site>_<unit>.png attribution maps
```
Cards are sharded by 256 neurons and loaded only when opened, so a ViT-B-32 atlas (~37k neurons) stays light.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

import numpy as np

from activations_store import ActivationStore
from probes.stimuli.colours import TERMS

from ..analyze.neurons import load_census
from ..errors import InterpError
from ..models.loaded import LoadedModel

SHARD = 256
TOP_K = 8
STATIC = Path(__file__).resolve().parent / "static"


def _js(path: Path, var: str, key: str, payload) -> None:
    # JSON inside a JS assignment; "</" is escaped so no stimulus text can close a script element
    blob = json.dumps(payload, separators=(",", ":"), default=lambda o: o.item() if hasattr(o, "item") else str(o))
    safe = blob.replace("</", "<\\/")
    path.write_text(f"window.{var}=window.{var}||{{}};window.{var}[{json.dumps(key)}]={safe};\n")


def _tuning(acts: np.ndarray, labels: np.ndarray, rows: np.ndarray, names) -> np.ndarray:
    """Mean activation per label value over the given rows: [neurons, len(names)]."""
    out = np.zeros((acts.shape[1], len(names)), np.float32)
    for j, nme in enumerate(names):
        r = rows[labels[rows] == nme]
        if len(r):
            out[:, j] = acts[r].mean(0)
    return out


def build_atlas(lm: Optional[LoadedModel], store_path: Path, out: Path, reduction: str = "cls",
                ablations: Optional[dict] = None, attribution_limit: int = 48, progress: bool = False) -> Path:
    """Write the atlas for the census stored in `store_path`; returns atlas/index.html.

    `lm` (the model of the store) renders stimulus thumbnails and captum attribution maps; `ablations` maps
    "site:unit" to measured ablation effects to show on cards.
    """
    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "img").mkdir(exist_ok=True)
    with ActivationStore(store_path) as st:
        census = load_census(st, reduction)
        stim = st.stimuli
        n = st.n_committed
        meta = st.meta
        recipe = st.stimulus_recipe
        sites = list(dict.fromkeys(census.site.tolist()))
        cond, sets = stim.get("condition", np.array([""] * n)), stim.get("set", np.array([""] * n))
        patch_rows = np.flatnonzero(sets[:n] == "colour_patches")
        ink = stim.get("ink", np.array([""] * n))
        word_rows = np.flatnonzero((cond[:n] == "text_word") & (ink[:n] == "neutral"))  # the census's word tuning
        ink_rows = np.flatnonzero((cond[:n] == "text_word") & (ink[:n] != "neutral"))
        used_rows: set[int] = set()
        index_rows = []
        for li, site in enumerate(sites):
            acts = st[site, reduction][:].astype(np.float32)  # [n, neurons]: one layer at a time
            m = census.site == site
            units = census.unit[m]
            tc = _tuning(acts, stim["colour"], patch_rows, TERMS) if "colour" in stim else None
            tw = _tuning(acts, stim["word"], word_rows, TERMS) if "word" in stim else None
            ti = _tuning(acts, stim["ink"], ink_rows, TERMS) if "ink" in stim else None
            top = np.argsort(-acts, axis=0)[:TOP_K].T  # [neurons, k]
            used_rows.update(top.ravel().tolist())
            recs = census.records(m)
            layer_rows = []
            for r in recs:
                layer_rows.append([r["unit"], r["class"], r["pref_colour"], r["pref_word"], round(r["clsi"], 3),
                                   round(r["tsi"], 3), float(f"{r['q_colour']:.3g}"), float(f"{r['q_text']:.3g}")])
            _js(out / "data" / f"layer_{li}.js", "ATLAS_LAYERS", str(li), {"site": site, "rows": layer_rows})
            for k0 in range(0, len(units), SHARD):
                cards = {}
                for j in range(k0, min(k0 + SHARD, len(units))):
                    u = int(units[j])
                    rec = recs[j]
                    cards[u] = {
                        "site": site, "unit": u, "class": rec["class"],
                        "stats": {k: rec[k] for k in ("clsi", "clsi_words", "tsi", "tsi_anagram", "tuning_r", "p_colour",
                                                      "q_colour", "p_words", "q_words", "p_text", "q_text", "q_anagram")},
                        "pref_colour": rec["pref_colour"], "pref_word": rec["pref_word"],
                        "top": [[int(t), float(acts[t, u])] for t in top[u]],
                        "tuning_colour": tc[u].round(4).tolist() if tc is not None else [],
                        "tuning_word": tw[u].round(4).tolist() if tw is not None else [],
                        "tuning_ink": ti[u].round(4).tolist() if ti is not None else [],
                        "ablation": (ablations or {}).get(f"{site}:{u}"),
                    }
                _js(out / "data" / f"cards_{li}_{k0 // SHARD}.js", "ATLAS_CARDS", f"{li}_{k0 // SHARD}", cards)
            counts = census.table()[site]
            index_rows.append({"layer": li, "site": site, **counts})
        captions = {int(r): f"{stim['id'][r]} {stim.get('caption', stim['id'])[r] if 'caption' in stim else ''}".strip()
                    for r in used_rows}
        labels = {int(r): {k: str(stim[k][r]) for k in ("set", "colour", "word", "ink", "condition") if k in stim}
                  for r in used_rows}
    attributed = _thumbnails_and_attributions(lm, recipe, store_path, sorted(used_rows), stim["id"], census, out,
                                              attribution_limit, progress)
    _js(out / "data" / "index.js", "ATLAS_INDEX", "main", {
        "model": str(meta.get("model_id")), "reduction": reduction, "thresholds": census.thresholds,
        "alpha": census.alpha, "layers": index_rows, "terms": list(TERMS), "shard": SHARD,
        "stimuli": {str(k): {"label": labels[k], "text": captions[k]} for k in sorted(used_rows)},
        "attributed": attributed})
    for f in ("index.html", "atlas.js", "atlas.css"):
        shutil.copy(STATIC / f, out / f)
    return out / "index.html"


def _thumbnails_and_attributions(lm: Optional[LoadedModel], recipe: Optional[dict], store_path: Path, rows: list[int],
                                 ids: np.ndarray, census, out: Path, limit: int, progress: bool) -> list[str]:
    """Thumbnails of every stimulus a card shows; captum maps for the most selective neurons' top stimuli."""
    if lm is None:
        return []
    from PIL import Image

    from probes.errors import ProbeError
    from probes.stimuli import rebuild

    if recipe is None:
        raise InterpError(f"{store_path} records no stimulus recipe (its stimuli were not built by a probe-set builder, "
                          "e.g. a folder of images, or it predates recipes), so its images cannot be rebuilt: build "
                          "the atlas without a model (--no-model)")
    try:
        stim = rebuild(recipe)
    except ProbeError as exc:
        raise InterpError(f"the stimulus recipe of {store_path} cannot be rebuilt: {exc}") from None
    if len(stim) != len(ids) or list(stim.ids) != [str(i) for i in ids]:
        raise InterpError(f"the stimuli rebuilt from the recipe of {store_path} ({len(stim)}) do not match the ids it "
                          f"holds ({len(ids)}): build the atlas without a model (--no-model)")
    size = stim.image_size
    for r in rows:
        stim.image(r).resize((64, 64), Image.NEAREST if size <= 64 else Image.BILINEAR).save(out / "img" / f"stim_{r}.png")
    sel = np.flatnonzero(census.cls != "none")
    order = sel[np.argsort(-np.maximum(census.arrays["clsi"][sel], census.arrays["tsi"][sel]))][:limit]
    done = []
    if len(order) == 0:
        return done
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..attribute import neuron_attribution

    if progress:
        from tqdm.auto import tqdm

        order = tqdm(order, desc="attribution maps", unit="neuron")
    site_index = {s: k for k, s in enumerate(dict.fromkeys(census.site.tolist()))}
    for i in order:
        site, unit = str(census.site[i]), int(census.unit[i])
        rows_i = _top_rows_for(out, site, unit, site_index[site])  # the stimuli that drive the neuron most
        imgs = [stim.image(r) for r in rows_i[:3]]
        x = lm.images_to_tensor(imgs)
        attr = neuron_attribution(lm, x, site, unit, token=0, n_steps=16).abs().sum(1).numpy()
        fig, axes = plt.subplots(1, len(imgs), figsize=(2.2 * len(imgs), 2.2))
        for ax, im, a in zip(np.atleast_1d(axes), imgs, attr):
            ax.imshow(im)
            ax.imshow(a, cmap="magma", alpha=0.6)
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(out / "img" / f"attr_{site}_{unit}.png", dpi=60)
        plt.close(fig)
        done.append(f"{site}:{unit}")
    return done


def _top_rows_for(out: Path, site: str, unit: int, li: int) -> list[int]:
    """Top stimulus rows of a neuron, read back from its card shard."""
    text = (out / "data" / f"cards_{li}_{unit // SHARD}.js").read_text()
    blob = text.split("]=", 1)[1].rstrip().rstrip(";").replace("<\\/", "</")
    return [t[0] for t in json.loads(blob)[str(unit)]["top"]]

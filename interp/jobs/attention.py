"""CLS-to-object attention as jobs: capture multi-object scenes, measure attention mass per layer x head x object,
and the `clip-interp attention mass` command."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional

import numpy as np

from activations_store import ActivationStore

from .figures import save_figure
from .captures import capture_fresh_or_resume
from .registry import Command, Context, Figure, Job, Rendered, command, register


def attention(store_path: Path, out: Optional[Path] = None) -> dict:
    """Attention mass of a scene store: written into the store, attention.json, heat map and overlays; returns it."""
    from ..analyze.attention import attention_mass, plot_heatmap, save_attention_mass

    with ActivationStore(store_path) as st:
        am = attention_mass(st)
    save_attention_mass(store_path, am)
    out = out or store_path.parent
    out.mkdir(parents=True, exist_ok=True)
    payload = {"summary": {k: v.as_dict() for k, v in am.summary.items()}, "layers": am.layers, "sites": am.sites,
               "n_scenes": int(am.mass.shape[2]), "large_minus_small_norm": am.large_minus_small(True).tolist()}
    (out / "attention.json").write_text(json.dumps(payload, indent=1))
    save_figure(out / "attention.png", lambda fig: plot_heatmap(am, fig))
    overlays(store_path, out / "attention_overlays.png")
    return payload


def overlays(store_path: Path, path: Path, k: int = 4) -> Optional[Path]:
    """CLS attention of the last layer (heads averaged) over the first k scenes, rebuilt from the store's recipe."""
    from probes.stimuli import rebuild

    from ..analyze.attention import overlay
    from ..models.sites import parse_site, site_layer

    with ActivationStore(store_path) as st:
        rows = [s for s, r in st.keys() if r == "cls_row" and parse_site(s).tower == "visual"]
        if not rows:
            return None
        site = max(rows, key=site_layer)
        att = st[site, "cls_row"][:k].astype(np.float64)  # [k, heads, tokens]
        recipe = st.stimulus_recipe
    if recipe is None or recipe.get("builder") != "multi_object_scenes":
        return None  # user images or another set: nothing to draw objects' names from
    stim = rebuild(recipe)
    side = int(round((att.shape[-1] - 1) ** 0.5))

    def draw(fig):
        for i in range(len(att)):
            ax = fig.add_subplot(1, len(att), i + 1)
            overlay(stim.image(i), att[i], (side, side), n_prefix=att.shape[-1] - side * side, ax=ax)
            ax.set_title(stim.columns["objects"][i].replace("|", ", "), fontsize=7)
        fig.suptitle(f"CLS attention, {site} (heads averaged)")

    return save_figure(path, draw, size=(3 * len(att), 3.2))


def _capture(ctx: Context) -> dict:
    from probes.stimuli import multi_object_scenes

    from ..capture import CaptureRequest
    from .census import plan

    lm = ctx.lm
    store = ctx.out / "scenes.h5"
    stim = multi_object_scenes(n=ctx.n or 200, seed=3, size=lm.image_size[0], order="random", n_objects=(2, 3, 4))
    req = CaptureRequest.parse(plan(lm)["scenes"], lm.sites(), has_masks=True)
    res = capture_fresh_or_resume(lm, stim, req, store, ctx.progress)
    return {"store": str(store), "rows": res.rows, "datasets": res.datasets}


def _attention(ctx: Context) -> dict:
    from .census import plan

    if not plan(ctx.lm)["patterns"]:
        return {"skipped": f"{ctx.spec} has no CLS attention pattern (no CLS token)"}
    return attention(Path(ctx.results["capture-scenes"]["store"]), ctx.folder("attention"))


def _est(d: dict) -> str:
    return f"{d['value']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}] (n={d['n']})"


def _summary(r: dict) -> str:
    if "skipped" in r:
        return f"CLS-to-object attention: not measured ({r['skipped']})."
    s = r["summary"]
    return (f"CLS-to-object attention in the last layer: the large object gets {_est(s['last_layer_raw_large'])} of the "
            f"CLS attention vs {_est(s['last_layer_raw_small'])} for a small one; per unit of area "
            f"{_est(s['last_layer_normalised_large'])} vs {_est(s['last_layer_normalised_small'])} (1 = as much as an "
            f"equal-area region).")


def _render(r: dict) -> Rendered:
    if "skipped" in r:
        return Rendered([f"Not measured: {r['skipped']}."])
    rows = [[k.replace("_", " "), f"{v['value']:.3f}", f"[{v['lo']:.3f}, {v['hi']:.3f}]", str(v["n"])] for k, v in r["summary"].items()]
    return Rendered(["Raw mass is the share of the CLS token's attention that falls on an object's patches (seed 001's "
                     "area-weighted measure); normalised mass divides it by the object's share of the image."],
                    [("CLS attention mass, heads averaged, with bootstrap 95% CIs over scenes.", ["measure", "value", "95% CI", "n"], rows)],
                    [Figure("attention/attention.png", "Layer × head: area-normalised CLS attention on the large object minus the "
                            "mean small object (red: the large object gets more per unit area)."),
                     Figure("attention/attention_overlays.png", "CLS attention of the last layer over the first scenes (heads averaged).")])


register(Job("capture-scenes", "artefact", "Scene capture", _capture,
             lambda r: f"Captured {r['rows']} multi-object scenes into {Path(r['store']).name}.",
             lambda r: Rendered([f"{r['rows']} scenes, {r['datasets']} datasets."]), options=("n",),
             description="capture CLS attention patterns on multi-object scenes with object masks"))
register(Job("attention", "analysis", "CLS-to-object attention", _attention, _summary, _render, needs=("capture-scenes",),
             description="how much of the CLS token's attention each object receives, per layer and head"))


def _arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("action", choices=["mass"])
    sp.add_argument("--store", required=True)
    sp.add_argument("--out", default=None)


def _run(args: argparse.Namespace) -> int:
    payload = attention(Path(args.store), Path(args.out) if args.out else None)
    print("\n".join(f"{k:<42} {_est(v)}" for k, v in payload["summary"].items()))
    return 0


command(Command("attention", "CLS-to-object attention mass per layer and head", _arguments, _run))

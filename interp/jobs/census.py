"""The neuron census as jobs: capture the census stimuli, classify neurons (colour / text / multimodal colour) at
the CLS token and at the patch mean, and the `clip-interp neurons classify` command."""
from __future__ import annotations

import argparse
import fnmatch
import json
from pathlib import Path
from typing import Optional

import numpy as np

from activations_store import ActivationStore

from ..errors import InterpError
from .figures import save_figure
from .captures import capture_fresh_or_resume
from .registry import Command, Context, Figure, Job, Rendered, command, register


def plan(lm) -> dict:
    """Which sites and reductions this architecture offers the chain: MLP neurons of ViT blocks (at CLS where a CLS
    token exists, and at the patch mean), or channels of ResNet bottlenecks; CLS-attention patterns where there are
    any (ViT blocks, the ResNet attention pool; none in SigLIP towers)."""
    from ..models.sites import parse_site

    sites = lm.sites()
    mlp = [s for s in sites if parse_site(s).tower == "visual" and parse_site(s).component == "mlp.post"]
    channels = [s for s in sites if parse_site(s).tower == "visual" and sites[s].kind == "channels"]
    glob = "visual.blocks.*.mlp.post" if mlp else "visual.layer*.*.out"
    first = sites[mlp[0]] if mlp else sites[channels[0]]
    reductions = [r for r in ("cls", "mean") if r in first.reductions]
    patterns = [s for s, i in sites.items() if i.tower == "visual" and i.kind == "pattern" and "object_mass" in i.reductions]
    return {"neurons": glob, "unit": "neuron" if mlp else "channel", "reductions": reductions, "patterns": patterns,
            "census": [f"{glob}:{','.join(reductions)}", "visual.proj"],
            "scenes": ([f"{p}:cls_row,object_mass" for p in patterns] + ["visual.proj"])}


def plot_census(table: dict[str, dict[str, int]], fig) -> None:
    """Stacked bars: share of each class per layer."""
    from ..analyze.neurons import CLASSES

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
    ax.set_ylabel("share of units")
    ax.set_title("unit census per layer")
    ax.legend()


def census(store_path: Path, reduction: str = "cls", sites_glob: str = "visual.blocks.*.mlp.post",
           out: Optional[Path] = None, alpha: float = 0.05, n_perm: int = 200, progress: bool = True) -> dict:
    """Run the census on a store, write it into the store, census_<reduction>.json and .png; return the result."""
    from ..analyze.neurons import classify, save_census

    with ActivationStore(store_path) as st:
        sites = [s for s, r in st.keys() if r == reduction and fnmatch.fnmatchcase(s, sites_glob)]
        if not sites:
            raise InterpError(f"{store_path} holds no {sites_glob}:{reduction}")
        result = classify(st, sites, reduction, alpha=alpha, n_perm=n_perm, progress=progress)
    save_census(store_path, result)
    out = out or store_path.parent
    out.mkdir(parents=True, exist_ok=True)
    table = result.table()
    payload = {"reduction": reduction, "alpha": alpha, "permutations": n_perm, "thresholds": result.thresholds,
               "design": result.design, "per_layer": table, "totals": {c: int(sum(r[c] for r in table.values())) for c in
                                              ("multimodal_colour", "text", "colour", "total")}}
    (out / f"census_{reduction}.json").write_text(json.dumps({**payload, "neurons": result.records(result.cls != "none")},
                                                             indent=1, default=str))
    save_figure(out / f"census_{reduction}.png", lambda fig: plot_census(table, fig))
    return payload


def census_text(payload: dict) -> str:
    """The census as an aligned text table."""
    th = ", ".join(f"{k}={v:.2f}" for k, v in payload["thresholds"].items())
    d = payload["design"]
    lines = [f"census at {payload['reduction']} (alpha={payload['alpha']}, thresholds {th})",
             f"cells: {d['colour_patch_cells']} colour patches, {d['neutral_word_cells']} neutral-ink words, "
             f"{d['anagram_pairs']} word/anagram/strokes triples over {d['anagram_words']} words",
             f"multimodal candidates (colour- and word-selective): {d['multimodal_candidates']}; sharing a preferred colour: "
             f"{d['same_preferred_colour']} (expected by chance {d['same_preferred_expected_by_chance']})",
             f"{'site':<28} {'multimodal':>10} {'text':>6} {'colour':>7} {'total':>6}"]
    for s, row in payload["per_layer"].items():
        lines.append(f"{s:<28} {row['multimodal_colour']:>10} {row['text']:>6} {row['colour']:>7} {row['total']:>6}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ jobs
def _capture(ctx: Context) -> dict:
    from probes.stimuli import census_set

    from ..capture import CaptureRequest

    lm = ctx.lm
    p = plan(lm)
    store = ctx.out / "census.h5"
    stim = census_set(size=lm.image_size[0], seed=ctx.seed, n=ctx.n)
    req = CaptureRequest.parse(p["census"], lm.sites(), has_masks=stim.max_objects > 0)
    res = capture_fresh_or_resume(lm, stim, req, store, ctx.progress)
    return {"store": str(store), "rows": res.rows, "datasets": res.datasets}


def _census(ctx: Context) -> dict:
    p = plan(ctx.lm)
    store = Path(ctx.results["capture-census"]["store"])
    per = {r: census(store, r, p["neurons"], out=ctx.folder("census"), progress=ctx.progress) for r in p["reductions"]}
    return {"unit": p["unit"], "reductions": p["reductions"], "by_reduction": per}


def _summary(r: dict) -> str:
    parts = []
    for red, c in r["by_reduction"].items():
        t, d = c["totals"], c["design"]
        where = "the CLS token" if red == "cls" else "the patch mean"
        parts.append(f"at {where} {t['text']} text-selective, {t['colour']} colour-selective and {t['multimodal_colour']} "
                     f"multimodal colour {r['unit']}s of {t['total']} ({d['multimodal_candidates']} are selective in both "
                     f"modalities; {d['same_preferred_colour']} of them share a preferred colour, "
                     f"{d['same_preferred_expected_by_chance']:.1f} expected by chance)")
    return "Census (" + f"α = {next(iter(r['by_reduction'].values()))['alpha']}, FDR" + "): " + "; ".join(parts) + "."


def _render(r: dict) -> Rendered:
    first = next(iter(r["by_reduction"].values()))["design"]
    out = Rendered([f"Units are tested on stimulus cells (jittered copies average into one cell). Colour: ANOVA over the "
                    f"11 colour terms on {first['colour_patch_cells']} plain patches. Text: each colour word beats its "
                    f"scrambled strokes (same ink and ink amount, no letters) and its anagram (same letters, no word), "
                    f"paired within {first['anagram_pairs']} word x ink x background x font cells, in every ink "
                    f"including black and white. Multimodal colour: colour-selective on patches, word-selective on "
                    f"{first['neutral_word_cells']} neutral-ink word cells, and the two tuning curves agree beyond a "
                    f"shared peak (permutation test). Benjamini–Hochberg FDR; each index's threshold is the 99th "
                    f"percentile of that index under {first['permutations']} label permutations, every permuted index "
                    f"divided by its own SD."])
    for red, c in r["by_reduction"].items():
        rows = [[s, str(v["text"]), str(v["colour"]), str(v["multimodal_colour"]), str(v["total"])] for s, v in c["per_layer"].items()]
        th = ", ".join(f"{k} = {v:.2f}" for k, v in c["thresholds"].items())
        out.tables.append((f"Census at {red}: units per class and layer (thresholds {th}).",
                           ["site", "text", "colour", "multimodal colour", "units"], rows))
        d = c["design"]
        out.tables.append((f"Census at {red}: how the text and multimodal calls come about.", ["", "units"],
                           [["beat their scrambled strokes", str(d["beats_strokes"])],
                            ["beat their anagrams", str(d["beats_anagram"])],
                            ["text-selective (both)", str(c["totals"]["text"])],
                            ["selective for colour on patches and for colour words", str(d["multimodal_candidates"])],
                            ["… sharing a preferred colour (observed / expected by chance)",
                             f"{d['same_preferred_colour']} / {d['same_preferred_expected_by_chance']:.1f}"],
                            ["… tuning curves agreeing beyond chance (multimodal)", str(c["totals"]["multimodal_colour"])]]))
        out.figures.append(Figure(f"census/census_{red}.png", f"Share of each class per layer, census at {red}."))
    return out


register(Job("capture-census", "artefact", "Census capture", _capture,
             lambda r: f"Captured {r['rows']} census stimuli into {Path(r['store']).name} ({r['datasets']} datasets).",
             lambda r: Rendered([f"{r['rows']} stimuli, {r['datasets']} datasets."]), options=("n", "seed"),
             description="capture MLP units (or channels) on the census stimuli"))
register(Job("census", "analysis", "Neuron census", _census, _summary, _render, needs=("capture-census",),
             description="classify units as colour-, text- or multimodal-colour-selective"))


def _arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("action", choices=["classify"])
    sp.add_argument("--store", required=True)
    sp.add_argument("--reduction", default="cls", choices=["cls", "mean", "max"])
    sp.add_argument("--sites", default="visual.blocks.*.mlp.post", help="site glob of MLP neuron sites")
    sp.add_argument("--alpha", type=float, default=0.05)
    sp.add_argument("--permutations", type=int, default=200, help="label permutations for the thresholds (default 200)")
    sp.add_argument("--out", default=None, help="folder for census.json / census.png (default: next to the store)")
    sp.add_argument("--quiet", action="store_true")


def _run(args: argparse.Namespace) -> int:
    payload = census(Path(args.store), args.reduction, args.sites, Path(args.out) if args.out else None,
                     alpha=args.alpha, n_perm=args.permutations, progress=not args.quiet)
    print(census_text(payload))
    return 0


command(Command("neurons", "classify neurons (colour / text / multimodal colour) from a census store", _arguments, _run))

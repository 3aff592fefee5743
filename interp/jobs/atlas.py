"""The neuron atlas as a job and the `clip-interp atlas` command: a static, file://-safe site of unit cards."""
from __future__ import annotations

import argparse
from pathlib import Path

from activations_store import ActivationStore

from .registry import Command, Context, Job, Rendered, command, register


def _atlas(ctx: Context) -> dict:
    from ..atlas import build_atlas

    red = ctx.results["census"]["reductions"][0]
    single = ctx.results["single-unit-ablations"]["effects"]
    index = build_atlas(ctx.lm, Path(ctx.results["capture-census"]["store"]), ctx.out / "atlas", reduction=red,
                        ablations=single, attribution_limit=min(48, 2 * ctx.controls), progress=ctx.progress)
    census = ctx.results["census"]["by_reduction"][red]["totals"]
    n_cards = census["text"] + census["colour"] + census["multimodal_colour"]
    return {"index": str(index.relative_to(ctx.out)) if index.is_relative_to(ctx.out) else str(index),
            "reduction": red, "cards": n_cards}


register(Job("atlas", "artefact", "Neuron atlas", _atlas,
             lambda r: f"The neuron atlas holds a card for each of the {r['cards']} selective units of the census at {r['reduction']}.",
             lambda r: Rendered(["One card per selective unit with its top stimuli, tuning curves, statistics, "
                                 "attribution maps and single-unit ablation effects."], links=[("Open the atlas", r["index"])]),
             needs=("census", "single-unit-ablations"), options=("controls",),
             description="a static web page of unit cards"))


def _arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--store", required=True, help="a store with a census (clip-interp neurons classify)")
    sp.add_argument("--out", default="atlas")
    sp.add_argument("--model", default=None, help="model spec for thumbnails and attribution (default: the store's)")
    sp.add_argument("--no-model", action="store_true", help="skip thumbnails and attribution maps")
    sp.add_argument("--reduction", choices=["cls", "mean"], default="cls")
    sp.add_argument("--attributions", type=int, default=48, help="units that get a captum attribution map")
    sp.add_argument("--quiet", action="store_true")


def _run(args: argparse.Namespace) -> int:
    from ..atlas import build_atlas
    from ..models import load_model

    with ActivationStore(args.store) as st:
        spec = args.model or st.meta.get("model_id")
    lm = None if args.no_model else load_model(spec, device=args.device)
    index = build_atlas(lm, Path(args.store), Path(args.out), reduction=args.reduction,
                        attribution_limit=args.attributions, progress=not args.quiet)
    print(f"wrote {index} (open it in a browser; no server needed)")
    return 0


command(Command("atlas", "build the static neuron atlas (a web page per model) from a census store", _arguments, _run))

"""`clip-interp` command line: parses arguments, calls one function per subcommand, prints results."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from activations_store import StoreError
from probes.errors import ProbeError

from .errors import InterpError

EXPECTED = (InterpError, StoreError, ProbeError, FileNotFoundError)


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {n}")
    return n


def cmd_sites(args: argparse.Namespace) -> int:
    """List canonical sites of a model with shapes and reductions."""
    from .models import load_model

    lm = load_model(args.model, device=args.device)
    sites = lm.sites()
    rows = [s for s in sites.values() if args.tower in (None, s.tower)]
    if args.json:
        print(json.dumps([{"site": s.name, "kind": s.kind, "shape": s.shape, "reductions": s.reductions} for s in rows]))
        return 0
    print(f"{lm.spec}  ({lm.name}, {len(rows)} sites)")
    w = max(len(s.name) for s in rows)
    for s in rows:
        print(f"  {s.name:<{w}}  {s.kind:<8}  {str(list(s.shape)):<16}  {','.join(s.reductions)}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """Capture activations into an HDF5 store."""
    from .capture import CaptureRequest, capture, resolve_source
    from .models import load_model

    lm = load_model(args.model, device=args.device)
    stimuli = resolve_source(args.stimuli, n=args.n, seed=args.seed, size=lm.image_size[0])
    request = CaptureRequest.parse(args.site, lm.sites(), has_masks=stimuli.max_objects > 0, dtype=args.dtype)
    result = capture(lm, stimuli, request, args.out, batch_size=args.batch_size, resume=args.resume,
                     progress=not args.quiet)
    print(f"stored {result.rows} stimuli x {result.datasets} datasets in {result.path}"
          + (f" (resumed at row {result.resumed_from})" if result.resumed_from else ""))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Describe a store: completeness, stimuli, datasets with shapes."""
    from activations_store import ActivationStore

    with ActivationStore(args.store) as st:
        meta = st.meta
        print(f"{st.path}: {st.n_committed}/{st.n_rows} rows committed, complete={st.complete}")
        print(f"  model {meta.get('model_id')} (hash {meta.get('model_hash')}), stimuli {meta.get('stimulus_set')}")
        print(f"  stimulus columns: {', '.join(st.stimuli)}")
        for site, red in st.keys():
            v = st[site, red]
            print(f"  {site}:{red}  {list(v.shape)} {v.dtype}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    """Run one behavioural probe: a table on stdout, JSON + PNG in --out."""
    from .behaviour import run_probe
    from .models.text_only import load_encoder

    if args.model.startswith("sbert:") and args.probe != "tor":
        raise InterpError(f"{args.model} is a text-only encoder: only the tor probe runs on it")
    enc = load_encoder(args.model, device=args.device)
    res = run_probe(args.probe, enc, n=args.n, seed=args.seed)
    print(f"{args.probe} on {args.model}")
    print(res.table())
    for p in res.save(args.out):
        print(f"wrote {p}")
    return 0


def cmd_neurons(args: argparse.Namespace) -> int:
    """Neuron census on a store captured on the census set."""
    from .report import census_report

    text = census_report(Path(args.store), args.reduction, args.sites, Path(args.out) if args.out else None,
                         alpha=args.alpha, n_perm=args.permutations, progress=not args.quiet)
    print(text)
    return 0


def cmd_attention(args: argparse.Namespace) -> int:
    """CLS-to-object attention mass on a store captured on multi-object scenes."""
    from .report import attention_report

    print(attention_report(Path(args.store), Path(args.out) if args.out else None))
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    """A causal experiment with matched random controls."""
    from .experiments import ior_head_experiment, neuron_ablation_experiment
    from .models import load_model

    lm = load_model(args.model, device=args.device)
    out = Path(args.out)
    if args.experiment == "ior":
        text, _ = ior_head_experiment(lm, Path(args.store), top_k=args.heads, n_controls=args.controls, out=out)
    else:
        neurons = args.neurons or ("text-selective" if args.experiment == "stroop" else "multimodal-colour")
        text, _ = neuron_ablation_experiment(lm, Path(args.store), neurons, args.mode, args.controls, out=out,
                                             progress=not args.quiet, reduction=args.reduction)
    print(text)
    print(f"wrote {out}")
    return 0


def cmd_organism(args: argparse.Namespace) -> int:
    """Train the model organism (planted or control corpus)."""
    from .organism.train import TrainConfig, train

    cfg = TrainConfig(corpus=args.corpus, seed=args.seed, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                      batch_size=args.batch_size, threads=args.threads,
                      name=args.name or ("organism" if args.corpus == "planted" else "organism-control"))
    path = train(cfg, args.out, progress=not args.quiet)
    print(f"wrote {path}")
    return 0


def cmd_atlas(args: argparse.Namespace) -> int:
    """Build the static neuron atlas of a census store."""
    from activations_store import ActivationStore

    from .atlas import build_atlas
    from .models import load_model

    with ActivationStore(args.store) as st:
        spec = args.model or st.meta.get("model_id")
    lm = None if args.no_model else load_model(spec, device=args.device)
    index = build_atlas(lm, Path(args.store), Path(args.out), reduction=args.reduction,
                        attribution_limit=args.attributions, progress=not args.quiet)
    print(f"wrote {index} (open it in a browser; no server needed)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: the chain on the embedded default model, into a report folder."""
    from .pipeline_main import run_main

    summary = run_main(args.model, Path(args.out), n=args.n, device=args.device, progress=not args.quiet,
                       controls=args.controls)
    print(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from .models.load import DEFAULT_MODEL

    p = argparse.ArgumentParser(prog="clip-interp", description="Mechanistic interpretability for CLIP models.")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        sp.add_argument("--device", default="cpu", help="torch device (default cpu)")
        return sp

    sp = add("sites", cmd_sites, "list a model's canonical hook sites with shapes")
    sp.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="model spec (NAME:TAG, NAME:none, NAME:PATH, organism)")
    sp.add_argument("--tower", choices=["visual", "text"])
    sp.add_argument("--json", action="store_true")

    sp = add("cache", cmd_cache, "capture activations of a model on a stimulus set into an HDF5 store")
    sp.add_argument("--model", default=DEFAULT_MODEL)
    sp.add_argument("--stimuli", required=True, help="a folder of images (+captions.csv) or a probe-set name")
    sp.add_argument("--site", action="append", required=True, help="SITE-GLOB[:red,red] (repeatable)")
    sp.add_argument("--out", required=True)
    sp.add_argument("--resume", action="store_true", help="continue an incomplete store")
    sp.add_argument("--batch-size", type=_positive, default=32)
    sp.add_argument("--n", type=_positive, help="number of stimuli (probe sets)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    sp.add_argument("--quiet", action="store_true")

    sp = add("inspect", cmd_inspect, "describe an activation store")
    sp.add_argument("store")

    sp = add("probe", cmd_probe, "run a behavioural probe (every accuracy with n and a 95% CI)")
    sp.add_argument("probe", help="colour, stroop, tor, ior, i2tor, matching, shape-bias or context")
    sp.add_argument("--model", default=DEFAULT_MODEL, help="any model spec, or sbert:all-MiniLM-L6-v2 (tor only)")
    sp.add_argument("--n", type=_positive, default=None)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--out", default="probe-results")

    sp = add("neurons", cmd_neurons, "classify neurons (colour / text / multimodal colour) from a census store")
    sp.add_argument("action", choices=["classify"])
    sp.add_argument("--store", required=True)
    sp.add_argument("--reduction", default="cls", choices=["cls", "mean", "max"])
    sp.add_argument("--sites", default="visual.blocks.*.mlp.post", help="site glob of MLP neuron sites")
    sp.add_argument("--alpha", type=float, default=0.05)
    sp.add_argument("--permutations", type=_positive, default=20)
    sp.add_argument("--out", default=None, help="folder for census.json / census.png (default: next to the store)")
    sp.add_argument("--quiet", action="store_true")

    sp = add("attention", cmd_attention, "CLS-to-object attention mass per layer and head")
    sp.add_argument("action", choices=["mass"])
    sp.add_argument("--store", required=True)
    sp.add_argument("--out", default=None)

    sp = add("ablate", cmd_ablate, "ablate neurons or heads and compare with matched random controls")
    sp.add_argument("--experiment", choices=["stroop", "colour", "ior"], default="stroop")
    sp.add_argument("--model", default=DEFAULT_MODEL)
    sp.add_argument("--store", required=True, help="store holding the census (stroop, colour) or attention mass (ior)")
    sp.add_argument("--neurons", choices=["text-selective", "multimodal-colour", "colour-selective"])
    sp.add_argument("--mode", choices=["zero", "mean", "resample"], default="mean")
    sp.add_argument("--controls", type=_positive, default=100)
    sp.add_argument("--heads", type=_positive, default=3, help="ior: number of large-object heads")
    sp.add_argument("--reduction", choices=["cls", "mean"], default="mean",
                    help="which census picks the neurons: at the CLS token or the patch mean (default)")
    sp.add_argument("--out", default="ablation-results")
    sp.add_argument("--quiet", action="store_true")

    sp = add("atlas", cmd_atlas, "build the static neuron atlas (a web page per model) from a census store")
    sp.add_argument("--store", required=True, help="a store with a census (clip-interp neurons classify)")
    sp.add_argument("--out", default="atlas")
    sp.add_argument("--model", default=None, help="model spec for thumbnails and attribution (default: the store's)")
    sp.add_argument("--no-model", action="store_true", help="skip thumbnails and attribution maps")
    sp.add_argument("--reduction", choices=["cls", "mean"], default="cls")
    sp.add_argument("--attributions", type=int, default=48, help="neurons that get a captum attribution map")
    sp.add_argument("--quiet", action="store_true")

    sp = add("organism", cmd_organism, "train the model organism on its planted (or control) corpus")
    sp.add_argument("action", choices=["train"])
    sp.add_argument("--corpus", choices=["planted", "control"], default="planted")
    sp.add_argument("--epochs", type=_positive, default=8)
    sp.add_argument("--steps-per-epoch", type=_positive, default=100)
    sp.add_argument("--batch-size", type=_positive, default=256)
    sp.add_argument("--threads", type=_positive, default=1)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--name", default=None)
    sp.add_argument("--out", default="organism-run")
    sp.add_argument("--quiet", action="store_true")

    sp = add("run", cmd_run, "run the whole chain on a model and write a report folder")
    sp.add_argument("--model", default=DEFAULT_MODEL)
    sp.add_argument("--out", default="report")
    sp.add_argument("--n", type=_positive, default=None, help="stimuli per probe set (default: the job's own)")
    sp.add_argument("--controls", type=_positive, default=100, help="random neuron / head sets per causal experiment")
    sp.add_argument("--quiet", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one clear error line and exit code 2 for every expected failure."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except EXPECTED as exc:
        print(f"clip-interp: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("clip-interp: interrupted (committed rows are safe; rerun with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Commands that are tools rather than stages of the main job: list sites, capture a store, inspect a store, train
the model organism."""
from __future__ import annotations

import argparse
import json

from .registry import Command, command


def _sites_args(sp: argparse.ArgumentParser) -> None:
    from ..models.load import DEFAULT_MODEL

    sp.add_argument("model", nargs="?", default=DEFAULT_MODEL, help="model spec (NAME:TAG, NAME:none, NAME:PATH, organism)")
    sp.add_argument("--tower", choices=["visual", "text"])
    sp.add_argument("--json", action="store_true")


def _sites(args: argparse.Namespace) -> int:
    from ..models import load_model

    lm = load_model(args.model, device=args.device)
    rows = [s for s in lm.sites().values() if args.tower in (None, s.tower)]
    if args.json:
        print(json.dumps([{"site": s.name, "kind": s.kind, "shape": s.shape, "reductions": s.reductions} for s in rows]))
        return 0
    print(f"{lm.spec}  ({lm.name}, {len(rows)} sites)")
    w = max(len(s.name) for s in rows)
    for s in rows:
        print(f"  {s.name:<{w}}  {s.kind:<8}  {str(list(s.shape)):<16}  {','.join(s.reductions)}")
    return 0


def _cache_args(sp: argparse.ArgumentParser) -> None:
    from ..models.load import DEFAULT_MODEL

    sp.add_argument("--model", default=DEFAULT_MODEL)
    sp.add_argument("--stimuli", required=True, help="a folder of images (+captions.csv) or a probe-set name")
    sp.add_argument("--site", action="append", required=True, help="SITE-GLOB[:red,red] (repeatable)")
    sp.add_argument("--out", required=True)
    sp.add_argument("--resume", action="store_true", help="continue an incomplete store")
    sp.add_argument("--batch-size", type=int, default=32)
    sp.add_argument("--n", type=int, help="number of stimuli (probe sets)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    sp.add_argument("--quiet", action="store_true")


def _cache(args: argparse.Namespace) -> int:
    from ..capture import CaptureRequest, capture, resolve_source
    from ..errors import InterpError
    from ..models import load_model

    if args.batch_size <= 0 or (args.n is not None and args.n <= 0):
        raise InterpError("--batch-size and --n must be positive")
    lm = load_model(args.model, device=args.device)
    stimuli = resolve_source(args.stimuli, n=args.n, seed=args.seed, size=lm.image_size[0])
    request = CaptureRequest.parse(args.site, lm.sites(), has_masks=stimuli.max_objects > 0, dtype=args.dtype)
    result = capture(lm, stimuli, request, args.out, batch_size=args.batch_size, resume=args.resume,
                     progress=not args.quiet)
    print(f"stored {result.rows} stimuli x {result.datasets} datasets in {result.path}"
          + (f" (resumed at row {result.resumed_from})" if result.resumed_from else ""))
    return 0


def _inspect_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("store")


def _inspect(args: argparse.Namespace) -> int:
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


def _organism_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("action", choices=["train"])
    sp.add_argument("--corpus", choices=["planted", "control"], default="planted")
    sp.add_argument("--epochs", type=int, default=8)
    sp.add_argument("--steps-per-epoch", type=int, default=100)
    sp.add_argument("--batch-size", type=int, default=256)
    sp.add_argument("--threads", type=int, default=1)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--name", default=None)
    sp.add_argument("--out", default="organism-run")
    sp.add_argument("--quiet", action="store_true")


def _organism(args: argparse.Namespace) -> int:
    from ..errors import InterpError
    from ..organism.train import TrainConfig, train

    if min(args.epochs, args.steps_per_epoch, args.batch_size, args.threads) <= 0:
        raise InterpError("--epochs, --steps-per-epoch, --batch-size and --threads must be positive")
    cfg = TrainConfig(corpus=args.corpus, seed=args.seed, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                      batch_size=args.batch_size, threads=args.threads,
                      name=args.name or ("organism" if args.corpus == "planted" else "organism-control"))
    print(f"wrote {train(cfg, args.out, progress=not args.quiet)}")
    return 0


command(Command("sites", "list a model's canonical hook sites with shapes", _sites_args, _sites))
command(Command("cache", "capture activations of a model on a stimulus set into an HDF5 store", _cache_args, _cache))
command(Command("inspect", "describe an activation store", _inspect_args, _inspect))
command(Command("organism", "train the model organism on its planted (or control) corpus", _organism_args, _organism))

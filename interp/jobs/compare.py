"""`clip-interp compare`: the behavioural probes of several models side by side (e.g. planted vs control organism),
every cell an estimate with its 95% CI and n, as a Markdown table and JSON."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

from probes.stats import Estimate

from .probe import run_probe
from .registry import Command, command

ROWS = [("colour", "accuracy_chromatic"), ("colour", "accuracy_achromatic"), ("colour", "achromatic_label_rate"),
        ("colour", "achromatic_true_rate"), ("stroop", "word_accuracy_incongruent"), ("stroop", "ink_accuracy_congruent"),
        ("stroop", "ink_accuracy_incongruent"), ("stroop", "ink_accuracy_nonword"), ("stroop", "stroop_effect"),
        ("stroop", "incongruent_closer_to_word"), ("tor", "first_wins"), ("tor", "last_wins"), ("ior", "large_wins"),
        ("i2tor", "large_wins"), ("matching", "accuracy_large_first"), ("matching", "accuracy_large_last"),
        ("shape-bias", "shape_bias"), ("shape-bias", "accuracy_shape_only"), ("context", "accuracy_usual"),
        ("context", "accuracy_unusual")]


def compare(specs: Sequence[str], rows: Sequence[tuple[str, str]] = ROWS, n: Optional[int] = None,
            device: str = "cpu") -> tuple[dict[str, dict[str, Estimate]], str]:
    """Run the probes of `rows` on each model; return the estimates and a Markdown table."""
    from ..models import load_model

    out: dict[str, dict[str, Estimate]] = {}
    for spec in specs:
        lm = load_model(spec, device=device)
        cache = {}
        for probe, metric in rows:
            if probe not in cache:
                cache[probe] = run_probe(probe, lm, n=n)
            out.setdefault(spec, {})[f"{probe}: {metric}"] = cache[probe].metrics[metric]
    lines = ["| probe: metric | " + " | ".join(specs) + " |", "|---|" + "---|" * len(specs)]
    for probe, metric in rows:
        key = f"{probe}: {metric}"
        lines.append(f"| {key} | " + " | ".join(str(out[s][key]) for s in specs) + " |")
    return out, "\n".join(lines)


def _arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--model", action="append", required=True, help="a model spec (repeat for each model)")
    sp.add_argument("--n", type=int, default=None, help="stimuli per probe (default: each probe's own)")
    sp.add_argument("--out", default=None, help="write compare.json here")


def _run(args: argparse.Namespace) -> int:
    est, table = compare(args.model, n=args.n, device=args.device)
    print(table)
    if args.out:
        path = Path(args.out)
        path.mkdir(parents=True, exist_ok=True)
        (path / "compare.json").write_text(json.dumps({s: {k: e.as_dict() for k, e in v.items()} for s, v in est.items()}, indent=1))
        print(f"wrote {path / 'compare.json'}")
    return 0


command(Command("compare", "behavioural probes of several models side by side (e.g. planted vs control organism)",
                _arguments, _run))

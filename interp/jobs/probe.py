"""Behavioural probes as jobs: one stage per registered probe, and the `clip-interp probe NAME` command."""
from __future__ import annotations

import argparse
from functools import lru_cache
from pathlib import Path
from typing import Optional

from probes.behaviour import PROBES, ProbeResult, ProbeSpec, get_probe

from ..errors import InterpError
from .figures import save_figure
from .registry import DERIVED, Command, Context, Figure, Job, Rendered, command, table_of_estimates


def run_probe(name: str, encoder, n: Optional[int] = None, seed: int = 0) -> ProbeResult:
    """Run probe `name` on `encoder` (a LoadedModel or a text-only encoder); n = stimuli (defaults per probe)."""
    spec = get_probe(name)
    if n is not None and n <= 0:
        raise InterpError(f"n must be positive, got {n}")
    if getattr(encoder, "text_only", False) and not spec.text_only:
        runs = ", ".join(p.name for p in PROBES.values() if p.text_only)
        raise InterpError(f"{encoder.spec} is a text-only encoder: only {runs} run on it")
    return spec.run(encoder, n, seed)


def write_probe(result: ProbeResult, out: Path) -> list[Path]:
    """`<probe>.json` and, when the probe draws one, `<probe>.png` in `out`."""
    paths = [result.save(out)]
    if result.plot is not None:
        png = save_figure(out / f"{result.probe}.png", result.plot, size=(7, 4.5))
        if png is not None:
            paths.append(png)
    return paths


def _job(spec: ProbeSpec) -> Job:
    def run(ctx: Context) -> dict:
        res = run_probe(spec.name, ctx.lm, n=ctx.n, seed=ctx.seed)
        write_probe(res, ctx.folder(f"probe-{spec.name}"))
        return res.to_json()

    def render(r: dict) -> Rendered:
        out = Rendered([spec.description] if spec.description else [])
        out.tables.append(table_of_estimates(r["metrics"], f"{spec.title}: every metric with its 95% CI and n."))
        out.figures.append(Figure(f"probe-{spec.name}/{spec.name}.png", f"{spec.title}. Bars: 95% confidence intervals."))
        return out

    return Job(f"probe-{spec.name}", "probe", spec.title, run, spec.summary, render, options=("n", "seed"),
               description=spec.description, fingerprint=_source_hash(spec))


def _source_hash(spec: ProbeSpec) -> str:
    """Hash of the file that defines a probe, so editing a probe kept outside the toolkit reruns its stage."""
    import hashlib
    import inspect

    try:
        path = inspect.getsourcefile(spec.run)
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else ""
    except (TypeError, OSError):
        return ""


@lru_cache(maxsize=None)
def _cached_job(spec: ProbeSpec) -> Job:
    return _job(spec)


DERIVED.append(lambda: [_cached_job(s) for s in PROBES.values()])


def _arguments(sp: argparse.ArgumentParser) -> None:
    from ..models.load import DEFAULT_MODEL

    sp.add_argument("probe", choices=list(PROBES), metavar="PROBE",
                    help="one of: " + "; ".join(f"{p.name} ({p.description})" for p in PROBES.values()))
    sp.add_argument("--model", default=DEFAULT_MODEL, help="any model spec, or sbert:all-MiniLM-L6-v2 (text-only probes)")
    sp.add_argument("--n", type=int, default=None, help="stimuli (default: the probe's own)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--out", default="probe-results")


def _run(args: argparse.Namespace) -> int:
    from ..models.text_only import load_encoder

    spec = get_probe(args.probe)
    if args.model.startswith("sbert:") and not spec.text_only:
        raise InterpError(f"{args.model} is a text-only encoder: only "
                          f"{', '.join(p.name for p in PROBES.values() if p.text_only)} run on it")
    enc = load_encoder(args.model, device=args.device)
    res = run_probe(args.probe, enc, n=args.n, seed=args.seed)
    print(f"{args.probe} on {args.model}")
    print(res.table())
    print(spec.summary(res.to_json()))
    for p in write_probe(res, Path(args.out)):
        print(f"wrote {p}")
    return 0


command(Command("probe", "run a behavioural probe (every accuracy with n and a 95% CI)", _arguments, _run))

"""The main job (`clip-interp run`): every registered job in stage order on one model, into a report folder.

Each stage is keyed by a hash of its inputs — the model's weights hash, the options that change it, the code
version and the keys of the stages it needs — so a rerun reuses exactly the stages whose inputs are unchanged and
reruns the rest and everything downstream. A folder that holds another model's run is refused unless replaced.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Optional

from ..errors import InterpError
from .registry import Command, Context, Job, command, jobs

RUN_FILE = "run.json"


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the toolkit's source (every .py of the three packages): a code change reruns the stages."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for pkg in ("activations_store", "probes", "interp"):
        for f in sorted((root / pkg).rglob("*.py")):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def stage_key(job: Job, ctx: Context, model_hash: str, upstream: dict[str, str]) -> str:
    """The hash of everything a stage's result depends on."""
    payload = {"job": job.name, "model": model_hash, "code": code_version(), "fingerprint": job.fingerprint,
               "options": {o: getattr(ctx, o) for o in job.options}, "needs": {n: upstream[n] for n in job.needs}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _claim_folder(out: Path, spec: str, model_hash: str, replace: bool) -> None:
    """Refuse a folder that holds another model's run (unless `replace`), then record this run's model in it."""
    marker = out / RUN_FILE
    if marker.exists():
        prev = json.loads(marker.read_text())
        if prev.get("model_hash") != model_hash:
            if not replace:
                raise InterpError(f"{out} holds a run of {prev.get('model')} (hash {prev.get('model_hash')}), not of {spec}: "
                                  f"choose another --out, or pass --replace to delete that run")
            for child in out.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    elif out.exists() and any(out.iterdir()) and not replace:
        raise InterpError(f"{out} is not empty and holds no clip-interp run: choose another --out or pass --replace")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"model": spec, "model_hash": model_hash}))


def run_main(spec: str, out: Path, n: Optional[int] = None, device: str = "cpu", progress: bool = True,
             controls: int = 200, replace: bool = False, only: Optional[list[str]] = None) -> dict:
    """Run every stage (reusing those whose key is unchanged); write index.html; return the run record."""
    import platform

    import torch

    from .html import write_report

    if controls <= 0:
        raise InterpError(f"--controls must be positive, got {controls}")
    ctx = Context(spec, out, device=device, n=n, controls=controls, progress=progress)
    model_hash = ctx.lm.model_hash
    _claim_folder(out, ctx.lm.spec, model_hash, replace)
    keys: dict[str, str] = {}
    timing: dict[str, dict] = {}
    todo = jobs()
    if only:
        unknown = [o for o in only if o not in {j.name for j in todo}]
        if unknown:
            raise InterpError(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(j.name for j in todo)}")
        wanted = set(only)
        for job in reversed(todo):  # everything a wanted stage needs runs too
            if job.name in wanted:
                wanted.update(job.needs)
        todo = [j for j in todo if j.name in wanted]
    t_job = time.time()
    for i, job in enumerate(todo, 1):
        key = stage_key(job, ctx, model_hash, keys)
        keys[job.name] = key
        marker = out / "stages" / f"{job.name}.json"
        if marker.exists():
            saved = json.loads(marker.read_text())
            if saved.get("key") == key:
                ctx.results[job.name] = saved["result"]
                timing[job.name] = {"seconds": saved.get("seconds", 0.0), "reused": True}
                if progress:
                    print(f"[{i}/{len(todo)}] {job.name}: inputs unchanged, result reused", file=sys.stderr, flush=True)
                continue
        if progress:
            print(f"[{i}/{len(todo)}] {job.name} ({job.description or job.title}) — {time.time() - t_job:.0f}s into the job",
                  file=sys.stderr, flush=True)
        t = time.time()
        result = job.run(ctx)
        seconds = time.time() - t
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "seconds": seconds, "result": result}, default=str))
        tmp.replace(marker)
        ctx.results[job.name] = json.loads(json.dumps(result, default=str))
        timing[job.name] = {"seconds": seconds, "reused": False}
    record = {"model": ctx.lm.spec, "model_hash": model_hash, "code_version": code_version(), "n": n,
              "controls": controls, "device": device, "timing": timing,
              "versions": {"python": platform.python_version(), "torch": torch.__version__,
                           "clip-interp": _version()}, "stage_keys": keys}
    (out / RUN_FILE).write_text(json.dumps(record, indent=1))
    record["index"] = str(write_report(out, record, ctx.results))
    return record


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("clip-interp")
    except PackageNotFoundError:
        return "unknown"


def _arguments(sp: argparse.ArgumentParser) -> None:
    from ..models.load import DEFAULT_MODEL

    sp.add_argument("--model", default=DEFAULT_MODEL)
    sp.add_argument("--out", default="report")
    sp.add_argument("--n", type=int, default=None, help="stimuli per probe set (default: each job's own)")
    sp.add_argument("--controls", type=int, default=200, help="matched random control sets per causal experiment")
    sp.add_argument("--replace", action="store_true", help="delete another model's run found in --out")
    sp.add_argument("--quiet", action="store_true")


def _run(args: argparse.Namespace) -> int:
    if args.n is not None and args.n <= 0:
        raise InterpError(f"--n must be positive, got {args.n}")
    record = run_main(args.model, Path(args.out), n=args.n, device=args.device, progress=not args.quiet,
                      controls=args.controls, replace=args.replace)
    from .html import findings

    print(f"model {record['model']}: report in {record['index']}")
    for name, t in record["timing"].items():
        print(f"  {name}: " + ("reused" if t["reused"] else f"{t['seconds']:.1f}s"))
    results = {n: json.loads((Path(args.out) / "stages" / f"{n}.json").read_text())["result"] for n in record["timing"]}
    for line in findings(results):
        print(f"  - {line}")
    return 0


command(Command("run", "run the whole chain on a model and write a report folder", _arguments, _run))

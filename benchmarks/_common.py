"""Helpers shared by the benchmarks: peak RSS of a child process, medians, a table printer."""
from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child_peak_rss_mib(code: str) -> float:
    """Run `code` in a fresh interpreter and return its peak RSS in MiB (ru_maxrss of the child)."""
    wrapper = code + "\nimport resource, sys; print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    r = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("PEAK")][-1]
    return int(line.split()[1]) / 1024


def median(xs: list[float]) -> float:
    """Median of a list."""
    return statistics.median(xs)


def table(rows: list[tuple[str, str, str]]) -> str:
    """Three-column text table."""
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{a:<{w[0]}}  {b:>{w[1]}}  {c:<{w[2]}}" for a, b, c in rows)

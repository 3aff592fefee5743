"""Out-of-core census benchmark: a synthetic store of N stimuli x 3072 neurons (fp16), census in bounded memory.

Run: `python benchmarks/census.py` (N = 10^6 by default: ~6 GB on disk, several minutes on 2 cores), with the
census's default settings (200 permutations, 9,999 tuning orderings). The store tiles the census set, so N rows
are copies of a fixed set of stimulus cells: the census keeps one sum per cell and 4 bytes per row (the row's cell),
so its peak RSS must stay flat in N. Prints peak RSS and throughput at N/16 and N, the ratio (goal <= 1.10), and
the per-row growth extrapolated to 10^7 rows (goal: < 10% above the N/16 peak).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._common import child_peak_rss_mib, table  # noqa: E402

WRITE = """
import numpy as np
from activations_store import RowSpec, StoreWriter, act_path
from probes.stimuli import census_set
n, path = {n}, {path!r}
base = census_set(size=32)
cols = {{k: np.asarray(v) for k, v in base.columns.items()}}
reps = -(-n // len(base))
idx = np.tile(np.arange(len(base)), reps)[:n]
columns = {{k: v[idx] for k, v in cols.items()}}
spec = RowSpec(act_path("visual.blocks.0.mlp.post", "cls"), (3072,), "float16")
w = StoreWriter(path, ids=[str(i) for i in range(n)], columns=columns, row_specs=[spec], meta={{"model_hash": "bench"}})
rng = np.random.default_rng(0)
for lo in range(0, n, 8192):
    hi = min(n, lo + 8192)
    x = rng.standard_normal((hi - lo, 3072), dtype=np.float32)
    x[:, :64] += (columns["set"][lo:hi] == "colour_patches")[:, None] * (columns["colour"][lo:hi] == "red")[:, None]
    w.submit(lo, {{spec.path: x.astype(np.float16)}})
w.close()
"""
CENSUS = """
import time
from activations_store import ActivationStore
from interp.analyze.neurons import classify
t = time.time()
with ActivationStore({path!r}) as st:
    c = classify(st, ["visual.blocks.0.mlp.post"], "cls", n_perm={perm}, block_rows=8192, progress=False)
dt = time.time() - t
print("ROWS_PER_S", {n} / dt, "SELECTIVE", int((c.cls != "none").sum()))
"""


def run(code: str) -> tuple[float, str]:
    import subprocess

    wrapper = code + "\nimport resource; print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    r = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    peak = int([l for l in r.stdout.splitlines() if l.startswith("PEAK")][-1].split()[1]) / 1024
    return peak, r.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--permutations", type=int, default=200, help="as the census's default (200)")
    ap.add_argument("--dir", default=None, help="where the synthetic stores go (needs ~6 GB for 10^6)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(dir=args.dir))
    rows = [("measure", "value", "note")]
    res = {}
    for n in (args.n // 16, args.n):
        path = tmp / f"census_{n}.h5"
        t = time.time()
        run(WRITE.format(n=n, path=str(path)))
        t_write = time.time() - t
        peak, out = run(CENSUS.format(n=n, path=str(path), perm=args.permutations))
        rps = float([l for l in out.splitlines() if l.startswith("ROWS_PER_S")][0].split()[1])
        res[n] = peak
        rows.append((f"N={n}: store size", f"{path.stat().st_size / 2**30:.2f} GiB", f"written in {t_write:.0f}s"))
        rows.append((f"N={n}: census peak RSS", f"{peak:.0f} MiB", "goal < 2048 MiB at 10^6"))
        rows.append((f"N={n}: census throughput", f"{rps:,.0f} rows/s", f"3072 neurons, {args.permutations} permutations"))
        path.unlink()
    ratio = res[args.n] / res[args.n // 16]
    per_row = (res[args.n] - res[args.n // 16]) / (args.n - args.n // 16)  # MiB per row
    at_1e7 = res[args.n // 16] + per_row * (10_000_000 - args.n // 16)
    rows.append(("peak RSS ratio N / (N/16)", f"{ratio:.3f}", "goal <= 1.10 (flat in N)"))
    rows.append(("extrapolated peak RSS at 10^7 rows", f"{at_1e7:.0f} MiB",
                 f"{per_row * 2**20:.1f} bytes/row; goal < 1.10 x the N/16 peak"))
    print(table(rows))
    tmp.rmdir()
    ok = ratio <= 1.10 and at_1e7 <= 1.10 * res[args.n // 16]
    print("PASS" if ok else "FAIL: census memory grows with the number of rows")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

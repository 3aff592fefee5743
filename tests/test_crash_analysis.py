"""SIGKILL a process that rewrites a census into a complete store, at random points: after every kill the store
opens without h5clear, its activation rows are intact, and the census reads back as one whole version (the last
committed one or the one being written), never a mix."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from activations_store import ActivationStore, RowSpec, StoreWriter, act_path

from .conftest import ROOT

HELPER = Path(__file__).parent / "helpers" / "analysis_proc.py"
SITE = "visual.blocks.0.mlp.post"
N = 300


def _rows() -> dict[str, np.ndarray]:
    r = np.random.default_rng(0)
    return {act_path(SITE, "cls"): r.standard_normal((N, 64)).astype(np.float32),
            act_path(SITE, "mean"): r.standard_normal((N, 64)).astype(np.float16)}


def _store(path: Path) -> None:
    rows = _rows()
    w = StoreWriter(path, ids=[f"s{i}" for i in range(N)], columns={"colour": ["red"] * N},
                    row_specs=[RowSpec(k, (64,), str(v.dtype)) for k, v in rows.items()], meta={"model_hash": "m"})
    for lo in range(0, N, 64):
        w.submit(lo, {k: v[lo : lo + 64] for k, v in rows.items()})
    w.close()


def _check_version(st: ActivationStore) -> int:
    """The census's generation, after checking that every part of it belongs to that one generation."""
    from .helpers.analysis_proc import BASE

    c = st.read_census("cls")
    g = int(c.params["gen"])
    m = BASE + g
    assert len(c.site) == len(c.unit) == m and set(c.site.tolist()) == {f"visual.blocks.{g}.mlp.post"}
    assert np.array_equal(c.unit, np.arange(m))
    assert np.all(c.columns["clsi"] == g) and np.all(c.columns["q_colour"] == g / 1000.0)
    assert np.all(c.columns["colour_selective"] == (g % 2 == 0)) and set(c.columns["class"].tolist()) == {f"class-{g}"}
    assert c.thresholds == {"colour": float(g), "text": -float(g)} and c.params["alpha"] == 0.05
    return g


def _run(path: Path, count: int, kill: bool, rng: random.Random) -> tuple[int, int]:
    """Run the helper; when kill, SIGKILL it after a random number of commits plus a random delay.
    Returns (last generation reported committed, last generation reported being written)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(HELPER), str(path), str(count)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    committed = writing = -1
    target = rng.randint(1, 3) if kill else None
    seen = 0
    for line in proc.stdout:
        word, _, num = line.partition(" ")
        if word == "start":
            committed = writing = int(num)
        elif word == "writing":
            writing = int(num)
        elif word == "committed":
            committed = int(num)
            seen += 1
            if kill and seen >= target:
                time.sleep(rng.uniform(0, 0.12))  # lands mid-write, mid-fsync, mid-switch or mid-delete
                break
        elif word == "done":
            break
    if kill:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # lines printed before the kill that we had not read yet still count
        for line in proc.stdout:
            word, _, num = line.partition(" ")
            if word == "writing":
                writing = int(num)
            elif word == "committed":
                committed = int(num)
    else:
        proc.wait(timeout=300)
        assert proc.returncode == 0, proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    return committed, writing


def test_sigkill_during_census_write_back_leaves_old_or_new_version(tmp_path):
    rng = random.Random(20240611)
    path = tmp_path / "store.h5"
    _store(path)
    want = _rows()
    outcomes = []
    last = 0
    for k in range(8):
        committed, writing = _run(path, count=50, kill=True, rng=rng)
        with ActivationStore(path) as st:  # opens without h5clear
            assert st.complete and st.n_committed == N
            for key, arr in want.items():
                np.testing.assert_array_equal(st[SITE, key.rsplit("/", 1)[1]][:], arr, err_msg=f"{key} after kill {k}")
            g = _check_version(st)
            assert [a.name for a in st.analyses()] == ["census_cls"]
        assert g in (committed, writing) and g >= last, (k, g, committed, writing)
        outcomes.append("old" if g == committed else "new (committed, not yet reported)")
        last = g
    print("\nanalysis kill outcomes:", outcomes)
    # after the kills, write-back still works and leaves exactly one version
    committed, _ = _run(path, count=2, kill=False, rng=rng)
    with ActivationStore(path) as st:
        assert _check_version(st) == committed == last + 2
        left = sorted(set(st._f["analysis_versions"]) - {f"census_cls@{committed}"})
    print("versions left behind by interrupted deletions:", left)

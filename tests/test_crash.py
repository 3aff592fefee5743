"""SIGKILL a capture process at random points; every kill leaves a readable file with intact committed rows,
and the resumed run is bit-for-bit equal to an uninterrupted one."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from activations_store import ActivationStore

from .conftest import ROOT, TINY

HELPER = Path(__file__).parent / "helpers" / "capture_proc.py"
N = 160


def _run(out: Path, resume: bool, kill_after: int | None, rng: random.Random) -> bool:
    """Run the helper; if kill_after is set, SIGKILL it after that many queued batches plus a random delay."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(HELPER), TINY, str(out), str(N), "resume" if resume else "new"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if kill_after is None:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        return True
    seen = 0
    for line in proc.stdout:
        if line.startswith("queued"):
            seen += 1
            if seen >= kill_after:
                time.sleep(rng.uniform(0, 0.05))  # lands anywhere: mid-forward, mid-write, mid-fsync
                break
        if line.startswith("done"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return False


def _all(path: Path) -> dict:
    with ActivationStore(path) as st:
        return {k: st[k][:] for k in st.keys()} | {"masks": st.masks()[:], "_n": st.n_committed}


def test_sigkill_at_random_points_then_resume_is_bit_identical(tmp_path):
    rng = random.Random(1234)
    ref = tmp_path / "ref.h5"
    _run(ref, False, None, rng)
    want = _all(ref)
    assert want["_n"] == N
    out = tmp_path / "run.h5"
    committed = []
    for k in range(6):
        _run(out, resume=k > 0, kill_after=rng.randint(1, 6), rng=rng)
        assert out.exists()
        got = _all(out)  # opens without h5clear
        n = got["_n"]
        committed.append(n)
        assert 0 <= n < N
        for key, arr in got.items():
            if key != "_n":
                np.testing.assert_array_equal(arr, want[key][:n], err_msg=f"{key} after kill {k}")
    assert committed == sorted(committed) and committed[-1] > 0  # progress only moves forward
    _run(out, True, None, rng)
    got = _all(out)
    with ActivationStore(out) as st:
        assert st.complete
    for key, arr in want.items():
        if key != "_n":
            np.testing.assert_array_equal(got[key], arr, err_msg=key)

"""The HDF5 store on its own: layout, lazy reads, resume rules, bad files, disk full."""
from __future__ import annotations

import errno

import h5py
import numpy as np
import pytest

from activations_store import (ActivationStore, RowSpec, StoreCorruptError, StoreError, StoreExistsError,
                               StoreKeyError, StoreMismatchError, StoreWriteError, StoreWriter, act_path)

SITE = "visual.blocks.0.mlp.post"
SPECS = [RowSpec(act_path(SITE, "cls"), (6,), "float16"), RowSpec(act_path(SITE, "all"), (3, 6), "float32")]
N = 25


def rows(lo: int, hi: int) -> dict[str, np.ndarray]:
    r = np.arange(lo, hi, dtype=np.float32)[:, None]
    return {SPECS[0].path: r + np.arange(6) / 8, SPECS[1].path: (r[:, :, None] * 10 + np.arange(18).reshape(3, 6))}


def make(path, upto: int = N, resume: bool = False, model_hash: str = "m1", batch: int = 4, ids=None):
    w = StoreWriter(path, ids=ids or [f"s{i}" for i in range(N)], columns={"colour": ["red", "blue"] * 12 + ["red"],
                    "size": np.arange(N)}, row_specs=SPECS, meta={"model_hash": model_hash}, resume=resume)
    for lo in range(w.committed, upto, batch):
        w.submit(lo, rows(lo, min(lo + batch, upto)))
    w.close()
    return w


def test_roundtrip_lazy_slicing_and_blocks(tmp_path):
    p = tmp_path / "s.h5"
    make(p)
    with ActivationStore(p) as st:
        assert st.complete and st.n_committed == N
        cls = st[SITE, "cls"]
        assert cls.shape == (N, 6) and cls.dtype == np.float16
        np.testing.assert_array_equal(cls[:, [5, 0, 3]], rows(0, N)[SPECS[0].path].astype(np.float16)[:, [5, 0, 3]])
        np.testing.assert_array_equal(cls[[7, 2, 7]], rows(0, N)[SPECS[0].path].astype(np.float16)[[7, 2, 7]])
        np.testing.assert_array_equal(st[f"{SITE}:all"][3:5, 1], rows(3, 5)[SPECS[1].path][:, 1])
        blocks = list(st.iter_blocks(SITE, "all", block_rows=10))
        assert [b[0] for b in blocks] == [slice(0, 10), slice(10, 20), slice(20, 25)]
        np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks]), rows(0, N)[SPECS[1].path])
        assert list(st.stimuli["colour"][:2]) == ["red", "blue"] and st.stimuli["size"][-1] == N - 1
        with pytest.raises(StoreKeyError, match="did you mean"):
            st[SITE, "clss"]
        with pytest.raises(IndexError, match="25 rows"):
            cls[25]


def test_partial_store_shows_only_committed_rows_and_resumes(tmp_path):
    p = tmp_path / "s.h5"
    make(p, upto=12)
    with ActivationStore(p) as st:
        assert not st.complete and st.n_committed == 12 and st[SITE, "cls"].shape == (12, 6)
    with pytest.raises(StoreExistsError, match="incomplete store \\(12/25 rows\\).*--resume"):
        make(p)
    w = make(p, resume=True)
    assert w.committed == N
    ref = tmp_path / "ref.h5"
    make(ref)
    with ActivationStore(p) as a, ActivationStore(ref) as b:
        for key in a.keys():
            np.testing.assert_array_equal(a[key][:], b[key][:])


def test_resume_refuses_other_model_stimuli_or_request(tmp_path):
    p = tmp_path / "s.h5"
    make(p, upto=8)
    with pytest.raises(StoreMismatchError, match="different model"):
        make(p, resume=True, model_hash="other")
    with pytest.raises(StoreMismatchError, match="different stimulus set"):
        make(p, resume=True, ids=[f"t{i}" for i in range(N)])
    with pytest.raises(StoreExistsError, match="complete store"):
        make(p, resume=True)  # finishes it
        make(p)
    with ActivationStore(p) as st:  # nothing committed was lost by the refusals
        np.testing.assert_array_equal(st[SITE, "cls"][:], rows(0, N)[SPECS[0].path].astype(np.float16))


def test_out_of_order_and_misshaped_batches_are_refused(tmp_path):
    w = StoreWriter(tmp_path / "s.h5", ids=["a", "b"], columns={}, row_specs=SPECS[:1], meta={})
    with pytest.raises(StoreError, match="in order"):
        w.submit(1, {SPECS[0].path: np.zeros((1, 6))})
    with pytest.raises(StoreError, match="rows of shape"):
        w.submit(0, {SPECS[0].path: np.zeros((1, 5))})
    w.close()


def test_not_hdf5_and_truncated_files_get_clear_errors(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("hello, I am not HDF5")
    with pytest.raises(StoreCorruptError, match="not an HDF5 file"):
        ActivationStore(bad)
    good = tmp_path / "good.h5"
    make(good)
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(StoreCorruptError, match="truncated or damaged"):
        ActivationStore(trunc)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    with pytest.raises(StoreCorruptError, match="not an activation store"):
        ActivationStore(plain)


def test_disk_full_keeps_committed_rows_and_resume_completes(tmp_path, monkeypatch):
    p = tmp_path / "s.h5"
    real = h5py.Dataset.__setitem__
    calls = {"n": 0}

    def failing(self, key, value):
        if self.name.startswith("/acts"):
            calls["n"] += 1
            if calls["n"] > 6:  # three batches (two datasets each) commit, the fourth hits a full disk
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", failing)
    with pytest.raises(StoreWriteError, match="disk is full.*12 rows committed before are intact.*--resume"):
        make(p)
    monkeypatch.setattr(h5py.Dataset, "__setitem__", real)
    with ActivationStore(p) as st:
        assert st.n_committed == 12
        np.testing.assert_array_equal(st[SITE, "all"][:], rows(0, 12)[SPECS[1].path])
    make(p, resume=True)
    with ActivationStore(p) as st:
        assert st.complete
        np.testing.assert_array_equal(st[SITE, "all"][:], rows(0, N)[SPECS[1].path])


def test_analysis_write_back(tmp_path):
    p = tmp_path / "s.h5"
    make(p)
    with ActivationStore(p, mode="a") as st:
        st.write_analysis("census", {"q": np.arange(3.0), "cls": np.array(["a", "b", "c"])}, {"alpha": 0.05})
    with ActivationStore(p) as st:
        arrays, attrs = st.read_analysis("census")
        assert list(arrays["cls"]) == ["a", "b", "c"] and attrs["alpha"] == 0.05
        with pytest.raises(StoreError, match="read-only"):
            st.write_analysis("x", {})

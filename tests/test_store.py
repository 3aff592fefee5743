"""The HDF5 store on its own: layout, lazy reads, resume rules, bad files, disk full."""
from __future__ import annotations

import errno

import h5py
import numpy as np
import pytest

from activations_store import (ActivationStore, AttentionMassRecord, CensusRecord, RowSpec, StoreCorruptError,
                               StoreError, StoreExistsError, StoreInputError, StoreKeyError, StoreMismatchError,
                               StoreVersionError, StoreWriteError, StoreWriter, act_path)

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


def test_wrong_schema_version_names_both_versions(tmp_path):
    p = tmp_path / "s.h5"
    make(p)
    with h5py.File(p, "r+") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(StoreVersionError, match="schema version 99.*reads versions 1, 2 and writes 2.*upgrade"):
        ActivationStore(p)
    with h5py.File(p, "r+") as f:
        f.attrs["schema_version"] = 0
    with pytest.raises(StoreVersionError, match="schema version 0, older"):
        ActivationStore(p)


def _census(reduction="cls", scale=1.0):
    site = np.array(["visual.blocks.0.mlp.post"] * 3 + ["visual.blocks.1.mlp.post"] * 2)
    return CensusRecord(reduction, site, np.array([0, 1, 2, 0, 1]),
                        {"layer": np.array([0, 0, 0, 1, 1]), "class": np.array(["colour", "none", "text", "none", "none"], object),
                         "clsi": np.arange(5.0) * scale, "colour_selective": np.array([1, 0, 0, 0, 0], bool)},
                        {"colour": 0.5 * scale, "text": 1.25}, {"alpha": 0.05, "n_perm": 20})


def test_typed_analyses_round_trip_and_list(tmp_path):
    p = tmp_path / "s.h5"
    make(p)
    with ActivationStore(p, mode="a") as st:
        assert st.analyses() == []
        st.write_census(_census("cls"))
        st.write_census(_census("mean", scale=2.0))
        st.write_attention_mass(AttentionMassRecord(["visual.blocks.0.attn.pattern", "visual.blocks.1.attn.pattern"], [0, 1],
                                                    np.arange(6.0).reshape(2, 3), -np.arange(6.0).reshape(2, 3),
                                                    {"last_layer_raw_large": {"value": 0.25, "lo": 0.2, "hi": 0.3}}))
        st.write_experiment("ablation_text", {"effect": {"value": -0.1}, "n_sets": 3},
                            {"random_effects": np.array([0.1, -0.2, 0.0]), "heads": np.array(["a", "b"])})
        st.write_census(_census("cls", scale=3.0))  # replaces the first
    with ActivationStore(p) as st:
        assert [(a.kind, a.key) for a in st.analyses()] == [("attention_mass", ""), ("census", "cls"), ("census", "mean"),
                                                              ("experiment", "ablation_text")]
        c = st.read_census("cls")
        assert c.reduction == "cls" and list(c.site[:2]) == ["visual.blocks.0.mlp.post"] * 2 and list(c.unit) == [0, 1, 2, 0, 1]
        assert c.thresholds == {"colour": 1.5, "text": 1.25} and c.params == {"alpha": 0.05, "n_perm": 20}
        np.testing.assert_array_equal(c.columns["clsi"], [0, 3, 6, 9, 12])
        assert list(c.columns["class"]) == ["colour", "none", "text", "none", "none"]
        assert c.columns["colour_selective"].dtype == bool and c.columns["colour_selective"].sum() == 1
        np.testing.assert_array_equal(st.read_census("mean").columns["clsi"], [0, 2, 4, 6, 8])
        am = st.read_attention_mass()
        assert am.sites[1] == "visual.blocks.1.attn.pattern" and am.layers == [0, 1]
        assert am.large_minus_small_norm[1, 2] == 5 and am.large_minus_small_raw[1, 2] == -5
        assert am.summary["last_layer_raw_large"]["value"] == 0.25
        e = st.read_experiment("ablation_text")
        assert e.payload == {"effect": {"value": -0.1}, "n_sets": 3}
        np.testing.assert_array_equal(e.arrays["random_effects"], [0.1, -0.2, 0.0])
        assert list(e.arrays["heads"]) == ["a", "b"]
        with pytest.raises(StoreKeyError, match="no analysis 'census_max'.*did you mean census_mean, census_cls"):
            st.read_census("max")
        with pytest.raises(StoreError, match="read-only"):
            st.write_census(_census())
        # one version per analysis is left: old versions are deleted once the new one is committed
        versions = sorted(st._f["analysis_versions"])
    assert versions == ["attention_mass@1", "census_cls@2", "census_mean@1", "experiment_ablation_text@1"]


@pytest.mark.parametrize("bad, match", [
    (lambda st: st.write_census(CensusRecord("cls", np.array(["a", "b"]), np.array([0]), {}, {})), "one length"),
    (lambda st: st.write_census(CensusRecord("cls", np.array(["a"]), np.array([0]), {"x": np.zeros(2)}, {})),
     "column 'x' has \\(2,\\) values for 1"),
    (lambda st: st.write_census(CensusRecord("c/ls", np.array(["a"]), np.array([0]), {}, {})), "reduction 'c/ls' is not valid"),
    (lambda st: st.write_census(CensusRecord("cls", np.array(["a"]), np.array([0]), {}, {"colour": "high"})),
     "thresholds must be numbers"),
    (lambda st: st.write_experiment("x", {"f": object()}), "payload of 'experiment_x' cannot be stored as JSON"),
    (lambda st: st.write_experiment("x", {}, {"a": np.array([object()])}), "array 'a' holds Python objects"),
    (lambda st: st.write_experiment("x", {}, {"_a": np.zeros(2)}), "array name '_a' is not valid"),
    (lambda st: st.write_census(CensusRecord("cls", np.array(["a"]), np.array([0]), {}, {}, {"_gen": 7})),
     "name '_gen' is reserved"),
    (lambda st: st.write_experiment("../x", {}), "experiment name '../x' is not valid"),
    (lambda st: st.write_attention_mass(AttentionMassRecord(["s"], [0, 1], np.zeros((1, 2)), np.zeros((1, 2)), {})),
     "2 layers for 1 sites"),
])
def test_bad_analysis_input_is_refused_and_leaves_the_committed_version(tmp_path, bad, match):
    p = tmp_path / "s.h5"
    make(p)
    with ActivationStore(p, mode="a") as st:
        st.write_census(_census())
        with pytest.raises(StoreInputError, match=match):
            bad(st)
    with ActivationStore(p) as st:
        np.testing.assert_array_equal(st.read_census("cls").columns["clsi"], np.arange(5.0))
        assert [a.name for a in st.analyses()] == ["census_cls"]
        assert sorted(st._f["analysis_versions"]) == ["census_cls@1"]


def test_schema1_store_analyses_stay_readable_and_upgrade_on_write(tmp_path):
    p = tmp_path / "s.h5"
    make(p)
    with h5py.File(p, "r+") as f:  # what toolkit schema 1 wrote: a plain group per analysis, no versions group
        f.attrs["schema_version"] = 1
        del f["analysis_versions"]
        g = f.create_group("analysis/census_cls")
        g["site"] = np.array(["s", "s"], dtype=h5py.string_dtype())
        g["layer"], g["unit"], g["clsi"] = np.zeros(2, int), np.arange(2), np.array([0.5, 1.5])
        g["class"] = np.array(["colour", "none"], dtype=h5py.string_dtype())
        g.attrs["thresholds"], g.attrs["alpha"], g.attrs["reduction"] = '{"colour": 0.7}', 0.05, "cls"
    with ActivationStore(p) as st:
        c = st.read_census("cls")
        assert c.thresholds == {"colour": 0.7} and c.params == {"alpha": 0.05} and list(c.columns["class"]) == ["colour", "none"]
        assert st.stimulus_recipe is None
    with ActivationStore(p, mode="a") as st:
        st.write_census(_census())
    with ActivationStore(p) as st:
        assert st.schema_version == 2 and st.read_census("cls").thresholds == {"colour": 0.5, "text": 1.25}
        assert sorted(st._f["analysis_versions"]) == ["census_cls@1"]


def test_recipe_is_stored_and_read_back(tmp_path):
    p = tmp_path / "s.h5"
    recipe = {"builder": "colour_patches", "args": {"n": 25, "seed": 3, "size": 32, "terms": ["red", "blue"]}}
    w = StoreWriter(p, ids=[f"s{i}" for i in range(N)], columns={}, row_specs=SPECS, meta={}, recipe=recipe)
    w.close()
    with ActivationStore(p) as st:
        assert st.stimulus_recipe == recipe and st.n_committed == 0

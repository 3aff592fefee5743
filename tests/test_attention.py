"""CLS-to-object attention mass: a pattern built to put known mass on known patches is recovered exactly."""
from __future__ import annotations

import numpy as np
import torch

from activations_store import MASKS, ActivationStore, RowSpec, StoreWriter, act_path
from interp.analyze.attention import attention_mass
from interp.capture.coverage import patch_coverage
from interp.capture.reductions import BatchContext, reduce
from interp.models.hooks import PatternSource


def test_object_mass_reduction_on_a_constructed_pattern():
    grid, heads = (4, 4), 2
    pat = torch.zeros(1, heads, 17, 17)
    pat[0, 0, 0, 1 + 5] = 0.6   # head 0: 0.6 on patch 5, 0.4 on patch 10
    pat[0, 0, 0, 1 + 10] = 0.4
    pat[0, 1, 0, 0] = 1.0       # head 1: all on CLS itself
    masks = np.zeros((1, 2, 64, 64), bool)
    masks[0, 0, 16:32, 16:32] = True   # exactly patch (1,1) = 5
    masks[0, 1, 32:48, 32:40] = True   # half of patch (2,2) = 10
    cov = patch_coverage(masks, (64, 64), grid)
    src = PatternSource(None, (), {}, lambda *a, **k: pat)
    mass = reduce("pattern", src, "object_mass", BatchContext(n_prefix=1, coverage=cov))
    torch.testing.assert_close(mass[0], torch.tensor([[0.6, 0.2], [0.0, 0.0]]))


def test_attention_mass_from_store_raw_and_area_normalised(tmp_path):
    n, heads, K = 40, 3, 2
    masks = np.zeros((n, K, 32, 32), bool)
    masks[:, 0, :16, :16] = True   # large object: 1/4 of the image
    masks[:, 1, 24:28, 24:28] = True  # small object: 1/64
    mass = np.zeros((n, heads, K), np.float32)
    mass[:, :, 0] = 0.5            # large gets 0.5 raw -> 2.0 normalised
    mass[:, :, 1] = 0.125          # small gets 0.125 raw -> 8.0 normalised (small is favoured per area)
    specs = [RowSpec(act_path(f"visual.blocks.{l}.attn.pattern", "object_mass"), (heads, K), "float32") for l in range(2)]
    specs.append(RowSpec(MASKS, (K, 32, 32), "bool"))
    w = StoreWriter(tmp_path / "a.h5", ids=[str(i) for i in range(n)],
                    columns={"large_pos": np.zeros(n, int), "n_objects": np.full(n, 2)}, row_specs=specs, meta={})
    w.submit(0, {s.path: (masks if s.path == MASKS else mass)
                 for s in specs})
    w.close()
    with ActivationStore(tmp_path / "a.h5") as st:
        am = attention_mass(st)
    assert am.mass.shape == (2, heads, n, K)
    s = am.summary
    assert abs(s["last_layer_raw_large_minus_small"].value - 0.375) < 1e-6
    assert abs(s["last_layer_normalised_large"].value - 2.0) < 1e-6
    assert abs(s["last_layer_normalised_small"].value - 8.0) < 1e-6
    np.testing.assert_allclose(am.large_minus_small(normalised=True), -6.0)


def test_attention_mass_round_trips_through_the_store(tmp_path):
    from interp.analyze.attention import AttentionMass, load_attention_mass, save_attention_mass
    from interp.errors import InterpError
    from probes.stats import Estimate

    test_attention_mass_from_store_raw_and_area_normalised(tmp_path)
    with ActivationStore(tmp_path / "a.h5") as st:
        am = attention_mass(st)
        import pytest

        with pytest.raises(InterpError, match="no attention-mass analysis"):
            load_attention_mass(st)
    assert isinstance(am, AttentionMass) and isinstance(next(iter(am.summary.values())), Estimate)
    save_attention_mass(tmp_path / "a.h5", am)
    with ActivationStore(tmp_path / "a.h5") as st:
        rec = load_attention_mass(st)
    assert rec.sites == ["visual.blocks.0.attn.pattern", "visual.blocks.1.attn.pattern"] and rec.layers == [0, 1]
    np.testing.assert_allclose(rec.large_minus_small_norm, -6.0)
    np.testing.assert_allclose(rec.large_minus_small_raw, 0.375)
    assert abs(rec.summary["last_layer_normalised_small"]["value"] - 8.0) < 1e-6

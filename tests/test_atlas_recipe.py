"""The atlas rebuilds its thumbnails from the store's stimulus recipe (no guessing of builder arguments)."""
from __future__ import annotations

import pytest

from activations_store import ActivationStore
from interp.analyze.neurons import classify, save_census
from interp.atlas import build_atlas
from interp.errors import InterpError


def _census_store(tmp_path, tiny, stim):
    from interp.capture import CaptureRequest, capture

    store = tmp_path / "census.h5"
    capture(tiny, stim, CaptureRequest.parse(["visual.blocks.*.mlp.post:cls"], tiny.sites()), store, progress=False)
    with ActivationStore(store) as st:
        census = classify(st, ["visual.blocks.0.mlp.post", "visual.blocks.1.mlp.post"], n_perm=2)
    save_census(store, census)
    return store


def test_atlas_thumbnails_come_from_the_recipe(tmp_path, tiny):
    from PIL import Image

    from probes.stimuli import census_set

    stim = census_set(size=32, seed=3, per_colour=2)  # per_colour < 4: the old guess (n // 11, at least 4) missed it
    store = _census_store(tmp_path, tiny, stim)
    build_atlas(tiny, store, tmp_path / "atlas", attribution_limit=0)
    thumbs = sorted((tmp_path / "atlas" / "img").glob("stim_*.png"))
    assert thumbs
    r = int(thumbs[0].stem.split("_")[1])
    want = stim.image(r).resize((64, 64), Image.NEAREST)
    assert Image.open(thumbs[0]).convert("RGB").tobytes() == want.convert("RGB").tobytes()


def test_atlas_without_recipe_says_to_build_without_a_model(tmp_path, tiny):
    from probes.stimuli import census_set

    stim = census_set(size=32, per_colour=4)
    stim.recipe = None  # as for stimuli that no builder made
    store = _census_store(tmp_path, tiny, stim)
    with pytest.raises(InterpError, match="records no stimulus recipe.*--no-model"):
        build_atlas(tiny, store, tmp_path / "atlas", attribution_limit=0)
    assert build_atlas(None, store, tmp_path / "atlas2").exists()

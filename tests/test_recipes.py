"""Every stimulus builder records a complete recipe, and `rebuild` makes the set again bit for bit; the capture
stores the recipe and the store gives it back."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from activations_store import ActivationStore
from probes.errors import ProbeError
from probes.stimuli import BUILDERS, rebuild

SMALL = {
    "colour_patches": {"n": 13, "seed": 4, "size": 40},
    "stroop_grid": {"n": 80, "seed": 2, "size": 40, "conditions": ("congruent", "ink_only")},
    "multi_object_scenes": {"n": 9, "seed": 5, "size": 48, "order": "random", "n_objects": (2, 3)},
    "single_objects": {"size": 40, "seed": 3, "colour": "red"},
    "cue_conflict": {"n": 12, "seed": 1, "size": 40, "kinds": ("conflict", "texture_only")},
    "context_scenes": {"n": 10, "seed": 6, "size": 40, "bias": 0.5},
    "census_set": {"size": 32, "seed": 1, "per_colour": 5},
    "text_contrast": {"n": 31, "seed": 2, "size": 40, "font_sizes": (0.2,), "jitter": 0.1},
}


def fingerprint(s) -> tuple:
    """ids, columns, captions and a hash of every pixel and mask."""
    h = hashlib.sha256()
    for i in range(len(s)):
        r = s.render(i)
        h.update(np.asarray(r.image).tobytes())
        if r.masks is not None:
            h.update(np.asarray(r.masks).tobytes())
    cols = {k: np.asarray(v).tolist() for k, v in s.columns.items()}
    return list(s.ids), cols, s.captions, s.image_size, s.max_objects, h.hexdigest()


def test_every_builder_is_covered():
    assert set(SMALL) == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_rebuild_from_recipe_is_bit_identical(name):
    s = BUILDERS[name](**SMALL[name])
    recipe = json.loads(json.dumps(s.recipe))  # as it comes back from the store
    assert recipe["builder"] == name
    # complete: every argument of the builder, defaults included
    import inspect

    assert set(recipe["args"]) == set(inspect.signature(BUILDERS[name]).parameters)
    again = rebuild(recipe)
    assert fingerprint(again) == fingerprint(s)
    assert again.recipe == recipe
    # and a different seed really gives different stimuli (the fingerprint can fail)
    if "seed" in recipe["args"]:
        other = rebuild({**recipe, "args": {**recipe["args"], "seed": recipe["args"]["seed"] + 1}})
        assert fingerprint(other)[5] != fingerprint(s)[5]


def test_subset_recipe_rebuilds_the_subset():
    s = BUILDERS["colour_patches"](n=20, seed=3, size=32).subset([7, 2, 19])
    again = rebuild(json.loads(json.dumps(s.recipe)))
    assert again.ids == ["patch-3-000007", "patch-3-000002", "patch-3-000019"]
    assert fingerprint(again) == fingerprint(s)


@pytest.mark.parametrize("recipe, match", [
    ({"builder": "nope", "args": {}}, "unknown stimulus builder 'nope'"),
    ({"args": {}}, "not a stimulus recipe"),
    ({"builder": "colour_patches", "args": {"colours": 3}}, "do not fit colour_patches"),
    ({"builder": "subset", "of": {"builder": "colour_patches", "args": {"n": 3}}, "rows": [5]}, "indices into the 3"),
])
def test_bad_recipes_are_named(recipe, match):
    with pytest.raises(ProbeError, match=match):
        rebuild(recipe)


def test_capture_stores_the_recipe_and_the_store_rebuilds(tmp_path, tiny):
    from interp.capture import CaptureRequest, capture
    from interp.capture.sources import folder_source

    stim = BUILDERS["multi_object_scenes"](n=6, seed=2, size=32, n_objects=(2, 3))
    capture(tiny, stim, CaptureRequest.parse(["visual.blocks.0.mlp.post:cls"], tiny.sites()), tmp_path / "s.h5",
            progress=False)
    with ActivationStore(tmp_path / "s.h5") as st:
        recipe, ids, masks = st.stimulus_recipe, list(st.stimuli["id"]), st.masks()[:]
    assert recipe == json.loads(json.dumps(stim.recipe))
    again = rebuild(recipe)
    assert again.ids == ids and fingerprint(again) == fingerprint(stim)
    np.testing.assert_array_equal(masks[:, :2], np.stack([again.render(i).masks[:2] for i in range(6)]))
    # a folder of images has no recipe: the store says so
    folder = tmp_path / "imgs"
    folder.mkdir()
    stim.image(0).save(folder / "a.png")
    capture(tiny, folder_source(folder), CaptureRequest.parse(["visual.blocks.0.mlp.post:cls"], tiny.sites()),
            tmp_path / "f.h5", progress=False)
    with ActivationStore(tmp_path / "f.h5") as st:
        assert st.stimulus_recipe is None

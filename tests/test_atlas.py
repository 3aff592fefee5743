"""The neuron atlas in a real headless browser (Debian chromium driven by Playwright), from file://."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from activations_store import ActivationStore, RowSpec, StoreWriter, act_path
from interp.analyze.neurons import classify, save_census
from interp.atlas import build_atlas

from .conftest import ROOT
from .test_census import SITES, planted_store

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def browse(index: Path, actions, ready: str = "#neurons tbody tr"):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(index.resolve().as_uri())
            page.wait_for_selector(ready)
            out = actions(page)
        finally:
            browser.close()
    return out, errors


def test_atlas_loads_searches_opens_cards_and_renders_images(tmp_path, tiny):
    from interp.capture import CaptureRequest, capture
    from probes.stimuli import census_set

    store = tmp_path / "census.h5"
    capture(tiny, census_set(size=32), CaptureRequest.parse(["visual.blocks.*.mlp.post:cls"], tiny.sites()), store,
            progress=False)
    with ActivationStore(store) as st:
        census = classify(st, ["visual.blocks.0.mlp.post", "visual.blocks.1.mlp.post"])
    save_census(store, census)
    index = build_atlas(tiny, store, tmp_path / "atlas", attribution_limit=3)
    target = census.records(census.cls != "none")[0]

    def act(page):
        page.fill("#f-search", f"L{target['layer']}:{target['unit']}")
        page.wait_for_function("document.querySelectorAll('#neurons tbody tr').length === 1")
        page.click("#neurons tbody tr")
        page.wait_for_selector("#card h2")
        page.wait_for_function("Array.from(document.querySelectorAll('#card img')).every(i => i.complete)")
        widths = page.evaluate("Array.from(document.querySelectorAll('#card img')).map(i => i.naturalWidth)")
        title = page.inner_text("#card h2")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "atlas.png"), full_page=True)
        page.select_option("#f-class", "none")
        page.fill("#f-search", "")
        page.wait_for_timeout(200)
        n_none = page.evaluate("document.querySelectorAll('#neurons tbody tr').length")
        return widths, title, n_none

    (widths, title, n_none), errors = browse(index, act)
    assert errors == []
    assert title == f"{target['site']} · unit {target['unit']}"
    assert len(widths) >= 8 and all(w > 0 for w in widths)  # thumbnails and the attribution map decode
    assert n_none == min(100, int(np.sum(census.cls == "none")))
    assert (ARTIFACTS / "atlas.png").stat().st_size > 10_000


def test_stimulus_text_is_escaped(tmp_path):
    truth, _ = planted_store(tmp_path / "syn.h5", n_neurons=40, k=4)
    with ActivationStore(tmp_path / "syn.h5") as st:
        census = classify(st, SITES)
    save_census(tmp_path / "syn.h5", census)
    # rewrite one stimulus id into markup: it must show up as text, never as an element
    import h5py

    with h5py.File(tmp_path / "syn.h5", "r+") as f:
        ids = f["stimuli/id"].asstr()[()]
        ids[:] = "<img src=x onerror=window.PWNED=1><b>bold</b>"
        del f["stimuli/id"]
        f["stimuli/id"] = np.array(ids, dtype=h5py.string_dtype())
    index = build_atlas(None, tmp_path / "syn.h5", tmp_path / "atlas")

    def act(page):
        page.click("#neurons tbody tr")
        page.wait_for_selector("#card figure")
        return page.evaluate("[window.PWNED === undefined, document.querySelectorAll('#card b').length,"
                             " document.querySelector('#card img').alt]")

    (safe, bold, alt), errors = browse(index, act)
    assert safe and bold == 0 and alt.startswith("<img src=x")
    assert all("stim_" in e or "ERR_FILE_NOT_FOUND" in e for e in errors)  # no thumbnails without a model


def test_atlas_command(tmp_path, capsys):
    from interp.cli import main

    planted_store(tmp_path / "s.h5", n_neurons=30, k=3)
    assert main(["atlas", "--store", str(tmp_path / "s.h5"), "--out", str(tmp_path / "a"), "--no-model"]) == 2
    assert "neurons classify" in capsys.readouterr().err  # no census yet: says what to run
    with ActivationStore(tmp_path / "s.h5") as st:
        census = classify(st, SITES)
    save_census(tmp_path / "s.h5", census)
    assert main(["atlas", "--store", str(tmp_path / "s.h5"), "--out", str(tmp_path / "a"), "--no-model"]) == 0
    assert (tmp_path / "a" / "index.html").exists() and (tmp_path / "a" / "data" / "layer_1.js").exists()

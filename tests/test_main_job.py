"""The main job end to end on the embedded organism (small settings): the report, and stages keyed by their inputs."""
from __future__ import annotations

import json
import re

from interp.cli import main


def _timing(out: str) -> dict[str, str]:
    return dict(re.findall(r"^  ([a-z0-9-]+): (reused|[0-9.]+s)$", out, re.M))


def test_run_writes_a_report_and_reruns_exactly_what_changed(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["run", "--out", str(out), "--n", "60", "--controls", "5", "--quiet"]
    assert main(args) == 0
    for f in ["index.html", "census.h5", "scenes.h5", "probe-stroop/stroop.json", "probe-stroop/stroop.png",
              "census/census_cls.png", "census/census_mean.json", "attention/attention.png", "atlas/index.html",
              "run.json"]:
        assert (out / f).exists(), f
    page = (out / "index.html").read_text()
    assert "<pre" not in page and "Stroop: ink named correctly on congruent words" in page
    stroop = json.loads((out / "probe-stroop" / "stroop.json").read_text())["metrics"]["stroop_effect"]
    assert stroop["lo"] <= stroop["value"] <= stroop["hi"]
    _read_like_a_person(out / "index.html")
    first = _timing(capsys.readouterr().out)
    assert first and "reused" not in first.values()
    # a lost result reruns only that stage; its dependants' inputs are unchanged, so they are reused
    (out / "stages" / "attention.json").unlink()
    assert main(args) == 0
    again = _timing(capsys.readouterr().out)
    assert again["attention"] != "reused" and again["census"] == "reused" and again["ablation-ior"] == "reused"
    # more control sets: the causal stages and what follows them rerun, the probes and the census do not
    assert main(args[:-2] + ["6", "--quiet"]) == 0
    third = _timing(capsys.readouterr().out)
    assert third["probe-colour"] == "reused" and third["census"] == "reused"
    assert third["ablation-stroop"] != "reused" and third["atlas"] != "reused"
    # more stimuli: the captures start fresh stores, and everything downstream of them reruns through their keys
    # alone (the census and the single-unit ablations take no --n of their own)
    assert main(["run", "--out", str(out), "--n", "66", "--controls", "6", "--quiet"]) == 0
    fourth = _timing(capsys.readouterr().out)
    assert all(fourth[s] != "reused" for s in ("capture-census", "census", "single-unit-ablations", "ablation-ior"))


def _read_like_a_person(index):
    """The report in Chromium: no console errors, no JSON dumps, every figure captioned and decoded, one finding
    line per experiment."""
    from interp.jobs import jobs

    from .test_atlas import browse

    def act(page):
        return page.evaluate("""() => ({
            pre: document.querySelectorAll('pre').length,
            figures: [...document.querySelectorAll('figure')].map(f => ({
                caption: (f.querySelector('figcaption') || {}).textContent || '',
                decoded: f.querySelector('img').complete && f.querySelector('img').naturalWidth > 0})),
            findings: [...document.querySelectorAll('ul.findings li')].map(li => li.textContent)})""")

    got, errors = browse(index, act, ready="h1")
    assert not errors, errors
    assert got["pre"] == 0
    assert got["figures"] and all(f["caption"].strip() and f["decoded"] for f in got["figures"])
    for job in jobs("experiment"):
        title = job.title
        assert sum(line.startswith(title) for line in got["findings"]) == 1, title

"""The main job end to end on the embedded organism (small settings), and its stage-by-stage resumption."""
from __future__ import annotations

import json

from interp.cli import main


def test_run_writes_a_report_and_resumes_stage_by_stage(tmp_path, capsys):
    out = tmp_path / "report"
    args = ["run", "--out", str(out), "--n", "60", "--controls", "5", "--quiet"]
    assert main(args) == 0
    for f in ["index.html", "census.h5", "scenes.h5", "probes/stroop.json", "probes/stroop.png", "census/census_cls.png",
              "census/census_mean.json", "attention/attention.png", "atlas/index.html"]:
        assert (out / f).exists(), f
    html = (out / "index.html").read_text()
    assert "Stroop effect" in html and "[" in html and "n=" in html
    stroop = json.loads((out / "probes" / "stroop.json").read_text())["metrics"]["stroop_effect"]
    assert stroop["lo"] <= stroop["value"] <= stroop["hi"]
    first = capsys.readouterr().out
    # rerun after losing one stage's result: only that stage runs again
    (out / "stages" / "attention.json").unlink()
    assert main(args) == 0
    again = capsys.readouterr().out
    assert "attention:" in again and "census: done before (skipped)" in again and "probe-colour: done before" in again
    assert "done before" not in first

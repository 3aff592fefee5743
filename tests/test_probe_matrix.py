"""Every probe runs to the end, figure included, on every shipped model (the first wave crashed drawing the control
organism's Stroop figure: a CI bound a hair past its point estimate made matplotlib refuse a negative error bar)."""
from __future__ import annotations

import json

import pytest

from interp.jobs.probe import run_probe, write_probe
from interp.models.load import ORGANISM_DIR
from probes.behaviour import PROBES
from probes.behaviour.base import error_bars
from probes.stats import Estimate

SHIPPED = sorted(p.stem for p in ORGANISM_DIR.glob("organism*.pt"))
SPECS = [s if not s.startswith("organism-epoch") else f"organism@epoch{int(s[-2:])}" for s in SHIPPED]


@pytest.mark.parametrize("spec", SPECS)
def test_every_probe_writes_json_and_figure_on_every_shipped_model(spec, tmp_path):
    from interp.models import load_model

    lm = load_model(spec)
    for name in PROBES:
        res = run_probe(name, lm, n=48)
        paths = write_probe(res, tmp_path / name)
        assert paths[0].name == f"{name}.json" and json.loads(paths[0].read_text())["probe"] == name
        if res.plot is not None:
            assert len(paths) == 2 and paths[1].stat().st_size > 3000, (spec, name)


def test_error_bars_are_never_negative():
    # a bootstrap CI need not contain its point estimate; Wilson at 0 can round a bound past it
    bars = error_bars([Estimate(0.5, 0.55, 0.9, 10, "bootstrap"), Estimate(0.0, 1e-17, 0.2, 10, "wilson"),
                       Estimate(float("nan"), float("nan"), float("nan"), 0, "x")])
    assert (bars >= 0).all() and bars[0, 0] == 0.0 and bars[1, 0] == pytest.approx(0.4) and bars[0, 1] == 0.0


def test_a_failing_figure_is_reported_and_the_command_survives(tmp_path, capsys):
    from interp.jobs.figures import save_figure

    def broken(fig):
        fig.add_subplot(1, 1, 1).bar([0], [1], yerr=[[-1], [1]])

    assert save_figure(tmp_path / "x.png", broken) is None
    assert "figure x.png not drawn" in capsys.readouterr().err and not (tmp_path / "x.png").exists()

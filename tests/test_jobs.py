"""The jobs wing: every command's --help, the registry driving CLI / main job / report, the worked example."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from interp.cli import main
from interp.jobs import COMMANDS, jobs


def test_every_subcommand_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as top:
        main(["--help"])
    assert top.value.code == 0
    assert len(COMMANDS) >= 10
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0, name
        assert name in capsys.readouterr().out


def test_help_runs_in_a_fresh_process():
    out = subprocess.run([sys.executable, "-m", "interp.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "ablate" in out.stdout and "Traceback" not in out.stderr


def test_registry_refuses_a_job_before_what_it_needs_and_a_name_twice():
    from interp.errors import InterpError
    from interp.jobs.registry import Job, Rendered, register

    names = [j.name for j in jobs()]
    assert {"probe-stroop", "census", "attention", "ablation-stroop", "ablation-ior", "atlas"} <= set(names)
    job = Job("x", "analysis", "X", lambda c: {}, lambda r: "", lambda r: Rendered(), needs=("not-a-stage",))
    with pytest.raises(InterpError, match="needs not-a-stage"):
        register(job)
    with pytest.raises(InterpError, match="registered twice"):
        register(Job("census", "analysis", "X", lambda c: {}, lambda r: "", lambda r: Rendered()))
    assert "x" not in [j.name for j in jobs()]


def test_an_unknown_experiment_is_one_clear_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ablate", "--experiment", "nope", "--store", "x.h5"])
    assert exc.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


def test_worked_example_probe_becomes_command_stage_and_report_section(tmp_path, capsys):
    from probes.behaviour import PROBES

    import tests.examples.brightness_probe  # noqa: F401  (the one registration)

    try:
        assert "probe-brightness" in [j.name for j in jobs()]
        assert main(["probe", "brightness", "--model", "organism", "--out", str(tmp_path / "p")]) == 0
        assert "Brightness naming: a grey image is called dark or light correctly" in capsys.readouterr().out
        assert json.loads((tmp_path / "p" / "brightness.json").read_text())["metrics"]["accuracy"]["n"] == 40
        from interp.jobs.run import run_main

        rec = run_main("organism", tmp_path / "run", only=["probe-brightness"], progress=False)
        page = (tmp_path / "run" / "index.html").read_text()
        assert "Brightness naming: a grey image is called dark or light correctly" in page
        assert "<section id='probe-brightness'>" in page
        assert list(rec["timing"]) == ["probe-brightness"]
        # a rerun reuses the stage: its inputs did not change
        rec2 = run_main("organism", tmp_path / "run", only=["probe-brightness"], progress=False)
        assert rec2["timing"]["probe-brightness"]["reused"]
    finally:
        PROBES.pop("brightness", None)


def test_a_folder_with_another_models_run_is_refused(tmp_path, capsys):
    from interp.jobs.run import run_main

    run_main("organism", tmp_path, only=["probe-colour"], progress=False)
    code = main(["run", "--model", "organism-control", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "holds a run of organism" in err and "--replace" in err

"""The audit notebooks ship executed and current: each matches its source in notebooks/_build.py, shows outputs,
and runs top to bottom on the shipped organism, ending with assertions on its results."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
sys.path.insert(0, str(ROOT / "notebooks"))
import _build  # noqa: E402


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_is_current_and_executed(path: Path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    want = _build.build(path.stem)
    assert [c.source for c in nb.cells] == [c.source for c in want.cells], \
        f"{path.name} is stale: regenerate with `python notebooks/_build.py`"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{path.name} was committed without running it"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    assert any(o.get("output_type") in ("display_data", "execute_result") and "image/png" in o.get("data", {})
               for c in code for o in c.get("outputs", [])), f"{path.name} shows no figure"


@pytest.mark.parametrize("name", list(_build.NOTEBOOKS))
def test_notebook_runs_and_asserts(name: str):
    nb = _build.execute(_build.build(name))
    last = nb.cells[-1]
    assert last.cell_type == "code" and "assert" in last.source
    assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_there_are_four_audits():
    assert [p.stem for p in NOTEBOOKS] == list(_build.NOTEBOOKS) == ["01_neuron_audit", "02_stroop_ablation",
                                                                       "03_multi_object_bias", "04_training_dynamics"]

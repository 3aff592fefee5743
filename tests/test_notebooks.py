"""The audit notebooks run top to bottom on the shipped organism; each ends with assertions on its results."""
from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_asserts(path: Path, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    last = nb.cells[-1]
    assert last.cell_type == "code" and "assert" in last.source
    assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_there_are_four_audits():
    assert [p.stem for p in NOTEBOOKS] == ["01_neuron_audit", "02_stroop_ablation", "03_multi_object_bias",
                                           "04_training_dynamics"]

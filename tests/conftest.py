"""Shared fixtures: real open_clip architectures at random init (slow ones built once per session)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)
ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "assets"
TINY = f"{ASSETS / 'tiny-clip.json'}:none"


@pytest.fixture(scope="session")
def vitb32():
    from interp import load_model

    return load_model("ViT-B-32:none")


@pytest.fixture(scope="session")
def rn50():
    from interp import load_model

    return load_model("RN50:none")


@pytest.fixture(scope="session")
def siglip():
    from interp import load_model

    return load_model("ViT-B-16-SigLIP:none")


@pytest.fixture(scope="session")
def tiny():
    from interp import load_model

    return load_model(TINY)

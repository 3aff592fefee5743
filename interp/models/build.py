"""Building open_clip models by config name, and the identities of configs and weight files.

Shared by `load` (specs) and `checkpoint` (clip-interp checkpoint files), which therefore need not import each other.
The configs shipped in `configs/` (the model organism) are registered with open_clip under their file stem, once,
and are the single source of truth for those architectures: nothing re-registers those names with other values.
"""
from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Optional

import torch

from ..errors import ModelSpecError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SHIPPED_CONFIGS = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))
_state: dict[str, Any] = {"registered": False, "tmp_dir": None}


def register_shipped_configs() -> None:
    """Register `configs/*.json` with open_clip (idempotent)."""
    if _state["registered"]:
        return
    import open_clip

    open_clip.add_model_config(CONFIG_DIR)
    _state["registered"] = True


def shipped_config(name: str) -> dict:
    """The registered open_clip config of a shipped architecture (a copy), e.g. `shipped_config("organism")`."""
    if name not in SHIPPED_CONFIGS:
        raise ModelSpecError(f"no shipped model config {name!r}; shipped: {', '.join(SHIPPED_CONFIGS)}")
    register_shipped_configs()
    import open_clip

    return open_clip.get_model_config(name)


def register_config(name: str, cfg: dict) -> None:
    """Make `open_clip.create_model(name)` build `cfg`; a shipped name must come with exactly its shipped config."""
    import open_clip

    if name in SHIPPED_CONFIGS:
        shipped = shipped_config(name)
        if cfg != shipped:
            raise ModelSpecError(f"the config given for {name!r} differs from the shipped {CONFIG_DIR / name}.json "
                                 f"(given {json.dumps(cfg, sort_keys=True)}, shipped {json.dumps(shipped, sort_keys=True)})")
        return
    if open_clip.get_model_config(name) == cfg:
        return
    if _state["tmp_dir"] is None:
        _state["tmp_dir"] = Path(tempfile.mkdtemp(prefix="clip-interp-configs-"))
    path = _state["tmp_dir"] / f"{name}.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)


def create_model(name: str, pretrained: Optional[str], device: str, **kw: Any) -> tuple[torch.nn.Module, Any]:
    """(model in eval mode, preprocess) of a registered config name, with weights `pretrained` or a random init."""
    import open_clip

    register_shipped_configs()
    root = logging.getLogger()
    level = root.level
    if pretrained is None:
        root.setLevel(logging.ERROR)  # open_clip warns that a random init is random; here that is the request
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device=device, pretrained_text=False, **kw)
    finally:
        root.setLevel(level)
    return model.eval(), preprocess


def file_sha(path: Path) -> str:
    """First 16 hex digits of a file's sha256 (a weights file's identity in model hashes)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def config_hash(name: str) -> str:
    """First 16 hex digits of the sha256 of a registered config (an architecture's identity in model hashes)."""
    import open_clip

    register_shipped_configs()
    cfg = open_clip.get_model_config(name)
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]

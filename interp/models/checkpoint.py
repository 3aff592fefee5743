"""clip-interp checkpoints: one file with the open_clip config, tokenizer, preprocessing, fp16 weights and the
training records, so a model organism loads anywhere with `load_model(path)`."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelSpecError
from .build import create_model, file_sha, register_config
from .loaded import LoadedModel
from .tokenizers import WordTokenizer

FORMAT = "clip-interp-checkpoint"


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, name: str, cfg: dict, tokenizer: WordTokenizer,
                    records: dict[str, Any], mean: tuple, std: tuple) -> Path:
    """Write a self-describing fp16 checkpoint atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT, "version": 1, "model_name": name, "model_cfg": cfg, "tokenizer": tokenizer.state(),
        "preprocess": {"mean": list(mean), "std": list(std)},
        "state_dict": {k: (v.detach().cpu().half() if v.is_floating_point() else v.cpu()) for k, v in model.state_dict().items()},
        "records": json.loads(json.dumps(records, default=str)),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: Path, spec: str, device: str = "cpu") -> LoadedModel:
    """Load a clip-interp checkpoint written by save_checkpoint."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise ModelSpecError(f"cannot read checkpoint {path}: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelSpecError(f"{path} is not a clip-interp checkpoint; for a plain state dict use NAME:{path}")
    name, cfg = blob["model_name"], blob["model_cfg"]
    register_config(name, cfg)
    model, preprocess = create_model(name, None, device, image_mean=tuple(blob["preprocess"]["mean"]),
                                image_std=tuple(blob["preprocess"]["std"]))
    sd = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ModelSpecError(f"{path}: weights do not fit {name} ({len(missing)} missing, {len(unexpected)} unexpected)")
    tok = blob["tokenizer"]
    if tok["type"] != "word":
        raise ModelSpecError(f"{path}: unknown tokenizer type {tok['type']!r}")
    tokenizer = WordTokenizer(tok["vocab"], tok["context_length"])
    if len(tokenizer) != cfg["text_cfg"]["vocab_size"]:
        raise ModelSpecError(f"{path}: its tokenizer has {len(tokenizer)} words but the {name} config's text vocab_size "
                             f"is {cfg['text_cfg']['vocab_size']}")
    return LoadedModel(model.eval(), name, spec, f"{name}-{file_sha(path)}", preprocess, tokenizer,
                       torch.device(device), records=blob.get("records", {}))

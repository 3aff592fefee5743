"""`load_model(spec)`: one spec grammar for every command's --model.

- `NAME:TAG`   an open_clip pretrained tag (e.g. `ViT-B-32:openai`), read from open_clip's local cache only;
- `NAME:none`  random init of the real architecture, seeded (`NAME:none@SEED`);
- `NAME:PATH`  a local checkpoint file (state dict, loaded with weights_only=True, or .safetensors);
- `PATH`       a clip-interp checkpoint (config, tokenizer and weights in one file);
- `organism`, `organism-control`, `organism@epoch{k}`: the shipped model organism.
NAME may be a path to an open_clip model-config JSON, registered on the fly.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch

from ..errors import ModelSpecError
from .build import config_hash, create_model, file_sha, register_config, register_shipped_configs
from .checkpoint import read_checkpoint
from .loaded import LoadedModel

ORGANISM_DIR = Path(__file__).resolve().parent.parent / "organism" / "checkpoints"
DEFAULT_MODEL = "organism"
HF_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _register_name(name: str) -> str:
    """Resolve NAME: a known open_clip architecture, or a model-config JSON file registered by its stem."""
    import open_clip

    register_shipped_configs()
    if name.endswith(".json"):
        p = Path(name)
        if not p.is_file():
            raise ModelSpecError(f"model config file {name} does not exist")
        try:
            cfg = json.loads(p.read_text())
        except ValueError as exc:
            raise ModelSpecError(f"model config {name} is not valid JSON: {exc}") from None
        if not {"vision_cfg", "text_cfg", "embed_dim"} <= set(cfg):
            raise ModelSpecError(f"model config {name} lacks embed_dim/vision_cfg/text_cfg")
        register_config(p.stem, cfg)
        return p.stem
    if open_clip.get_model_config(name) is None:
        import difflib

        close = difflib.get_close_matches(name, open_clip.list_models(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `python -c 'import open_clip; print(open_clip.list_models())'` lists them"
        raise ModelSpecError(f"unknown model architecture {name!r}{hint}")
    return name


def _tokenizer(name: str) -> Callable[[Sequence[str]], torch.Tensor]:
    """open_clip's tokenizer for `name`, built lazily so that towers whose tokenizer needs a hub still load."""
    import open_clip

    state: dict[str, Any] = {}

    def tokenize(texts: Sequence[str]) -> torch.Tensor:
        if "tok" not in state:
            try:
                state["tok"] = open_clip.get_tokenizer(name)
            except Exception as exc:  # noqa: BLE001 - hub tokenizers fail offline
                raise ModelSpecError(f"the tokenizer of {name} cannot be loaded offline ({type(exc).__name__}): "
                                     "pass token ids directly, or place the tokenizer in the HF cache") from None
        return state["tok"](list(texts))

    return tokenize


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one clear message
        raise ModelSpecError(f"cannot read checkpoint {path}: {type(exc).__name__}: {str(exc)[:200]}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ModelSpecError(f"checkpoint {path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in sd.items() if isinstance(v, torch.Tensor)}


def _load_weights(model: torch.nn.Module, sd: dict[str, torch.Tensor], source: str) -> None:
    result = model.load_state_dict(sd, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelSpecError(
            f"{source} does not fit the architecture: {len(result.missing_keys)} missing keys "
            f"(e.g. {result.missing_keys[:3]}), {len(result.unexpected_keys)} unexpected "
            f"(e.g. {result.unexpected_keys[:3]})")


def pretrained_cache_file(name: str, tag: str, cache_dir: Optional[str] = None) -> tuple[Optional[Path], list[str]]:
    """Where open_clip's cache holds NAME:TAG's weights (or None), and the places looked at."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(name, tag)
    looked: list[str] = []
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.constants import HF_HUB_CACHE

        repo, fname = os.path.split(hub)
        for f in ([fname] if fname else list(HF_WEIGHT_FILES)):
            hit = try_to_load_from_cache(repo, f, cache_dir=cache_dir)
            looked.append(f"{cache_dir or HF_HUB_CACHE}/models--{repo.replace('/', '--')}/snapshots/*/{f}")
            if isinstance(hit, str):
                return Path(hit), looked
    url = cfg.get("url", "")
    if url:
        p = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        looked.append(str(p))
        if p.is_file():
            return p, looked
    return None, looked


def _load_pretrained_tag(name: str, tag: str, device: str, cache_dir: Optional[str]) -> LoadedModel:
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(name)
    if tag not in tags:
        raise ModelSpecError(f"{name} has no pretrained tag {tag!r}; known tags: {', '.join(tags) or 'none'}; "
                             "or give a checkpoint path, or `none` for random init")
    path, looked = pretrained_cache_file(name, tag, cache_dir)
    if path is None:
        raise ModelSpecError(
            f"{name}:{tag} is not in open_clip's local cache and nothing is downloaded here. Looked at: "
            + "; ".join(looked) + f". Place the weights file at one of those paths, or pass {name}:/path/to/weights")
    cfg = open_clip.get_pretrained_cfg(name, tag)
    model, preprocess = create_model(
        name, str(path), device, force_quick_gelu=bool(cfg.get("quick_gelu", False)),
        image_mean=cfg.get("mean"), image_std=cfg.get("std"))
    return LoadedModel(model, name, f"{name}:{tag}", f"{config_hash(name)}-{file_sha(path)}", preprocess,
                       _tokenizer(name), torch.device(device))


def _organism_path(spec: str) -> Path:
    m = re.fullmatch(r"organism(-control)?(?:@epoch(\d+))?", spec)
    if not m:
        raise ModelSpecError(f"unknown organism spec {spec!r}: use organism, organism-control or organism@epoch<k>")
    control, epoch = m.group(1), m.group(2)
    name = ("organism-control" if control else "organism") + (f"-epoch{int(epoch):02d}" if epoch else "")
    path = ORGANISM_DIR / f"{name}.pt"
    if not path.is_file():
        have = sorted(p.stem for p in ORGANISM_DIR.glob("*.pt") if not p.name.startswith(".")) if ORGANISM_DIR.is_dir() else []
        raise ModelSpecError(f"no shipped checkpoint for {spec} ({path}); shipped: {', '.join(have) or 'none'}. "
                             "Train one with `clip-interp organism train`.")
    return path


def load_model(spec: str = DEFAULT_MODEL, device: str = "cpu", cache_dir: Optional[str] = None) -> LoadedModel:
    """Load a model from a spec string (see module docstring); errors name the problem and the fix."""
    if not isinstance(spec, str) or not spec.strip():
        raise ModelSpecError("empty model spec")
    spec = spec.strip()
    if spec.startswith("organism") and ":" not in spec:  # `organism:none` is the organism's architecture, random
        return read_checkpoint(_organism_path(spec), spec, device)
    if ":" not in spec or (Path(spec).is_file() and not spec.endswith(".json")):
        path = Path(spec)
        if path.is_file():
            return read_checkpoint(path, spec, device)
        raise ModelSpecError(f"model spec {spec!r} needs the form NAME:TAG, NAME:none, NAME:PATH, PATH or organism")
    name, _, source = spec.partition(":")
    name = _register_name(name)
    m = re.fullmatch(r"none(?:@(\d+))?", source)
    if m:
        seed = int(m.group(1) or 0)
        torch.manual_seed(seed)
        model, preprocess = create_model(name, None, device)
        return LoadedModel(model, name, spec, f"{config_hash(name)}-init{seed}", preprocess, _tokenizer(name),
                           torch.device(device))
    path = Path(source).expanduser()
    if path.is_file() or "/" in source or source.endswith((".pt", ".pth", ".bin", ".safetensors")):
        if not path.is_file():
            raise ModelSpecError(f"checkpoint {path} does not exist")
        model, preprocess = create_model(name, None, device)
        _load_weights(model, _read_state_dict(path), str(path))
        return LoadedModel(model, name, spec, f"{config_hash(name)}-{file_sha(path)}", preprocess, _tokenizer(name),
                           torch.device(device))
    return _load_pretrained_tag(name, source, device, cache_dir)

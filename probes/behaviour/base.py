"""What a behavioural probe needs from a model (a small protocol), and what it returns."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Sequence, runtime_checkable

import numpy as np
from PIL import Image

from ..errors import ProbeError
from ..stats import Estimate


@runtime_checkable
class ImageTextEncoder(Protocol):
    """Anything that embeds images and texts into one space (rows L2-normalised)."""

    def encode_image(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_text(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class TextEncoder(Protocol):
    """A text-only encoder (e.g. SBERT): enough for TOR."""

    def encode_text(self, texts: Sequence[str]) -> np.ndarray: ...


def normed(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length."""
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def class_embeddings(encoder: TextEncoder, classes: Sequence[str], templates: Sequence[str]) -> np.ndarray:
    """Zero-shot class embeddings: the normalised mean over templates of each class's prompt embeddings."""
    if not templates or any("{}" not in t for t in templates):
        raise ProbeError(f"every prompt template needs a '{{}}' slot, got {list(templates)}")
    per_t = [normed(encoder.encode_text([t.format(c) for c in classes])) for t in templates]
    return normed(np.mean(per_t, axis=0))


def encode_images(encoder: ImageTextEncoder, images_of: Callable[[Sequence[int]], list], n: int,
                  batch: int = 64) -> np.ndarray:
    """Embed n images fetched batch by batch (so a large set never sits in memory as pixels)."""
    from tqdm.auto import tqdm

    # a bar only where encoding takes a while (a large set, or a slow model): ETA for the user, silence for tests
    starts = tqdm(range(0, n, batch), desc="encoding images", unit="batch", disable=n < 512, leave=False)
    out = [normed(encoder.encode_image(images_of(range(i, min(i + batch, n))))) for i in starts]
    return np.concatenate(out) if out else np.zeros((0, 0))


@dataclass
class ProbeResult:
    """Named estimates (each with CI and n), tables, per-stimulus arrays, and a figure-making function."""

    probe: str
    metrics: dict[str, Estimate]
    tables: dict[str, Any] = field(default_factory=dict)
    per_stimulus: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    plot: Optional[Callable[[Any], None]] = None

    def to_json(self) -> dict:
        """JSON-able summary (metrics, tables, info)."""
        def conv(v):
            if isinstance(v, np.ndarray):
                return v.tolist()
            if isinstance(v, (np.generic,)):
                return v.item()
            if isinstance(v, dict):
                return {str(k): conv(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [conv(x) for x in v]
            return v
        return {"probe": self.probe, "metrics": {k: e.as_dict() for k, e in self.metrics.items()},
                "tables": conv(self.tables), "info": conv(self.info)}

    def table(self) -> str:
        """The metrics as aligned text."""
        w = max((len(k) for k in self.metrics), default=0)
        return "\n".join(f"{k:<{w}}  {e}" for k, e in self.metrics.items())

    def save(self, out_dir: str | Path) -> Path:
        """Write `<probe>.json` into `out_dir`; return its path (figures are drawn by the caller from `plot`)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.probe}.json"
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path


def error_bars(estimates: Sequence[Estimate]) -> np.ndarray:
    """Matplotlib's yerr [2, n] for estimates: distances to the CI bounds, never negative (a bootstrap CI need not
    contain its point estimate), NaN drawn as no bar."""
    lo = np.array([e.value - e.lo for e in estimates], float)
    hi = np.array([e.hi - e.value for e in estimates], float)
    return np.nan_to_num(np.clip(np.stack([lo, hi]), 0, None), nan=0.0)

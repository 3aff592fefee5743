"""The probe registry: every behavioural probe declared once — name, how it builds its stimuli and runs, and how
its finding reads in one sentence. The CLI, the main job and the report are generated from it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import ProbeError
from ..stats import n_text
from .base import ProbeResult


@dataclass(frozen=True)
class ProbeSpec:
    """One probe: `run(encoder, n, seed)` builds stimuli at the encoder's resolution and scores it; `summary(json)`
    states the finding in a sentence with numbers, CIs and n (from the result's JSON, so reports need no model)."""

    name: str
    title: str
    run: Callable[[Any, Optional[int], int], ProbeResult]
    summary: Callable[[dict], str]
    text_only: bool = False  # also runs on text-only encoders (e.g. SBERT)
    description: str = ""


PROBES: dict[str, ProbeSpec] = {}


def register_probe(spec: ProbeSpec) -> ProbeSpec:
    """Add a probe to the registry (a name registers once)."""
    if spec.name in PROBES and PROBES[spec.name] is not spec:
        raise ProbeError(f"probe {spec.name!r} is registered twice")
    PROBES[spec.name] = spec
    return spec


def get_probe(name: str) -> ProbeSpec:
    """The probe called `name`, or ProbeError with the closest names."""
    if name not in PROBES:
        import difflib

        close = difflib.get_close_matches(name, list(PROBES), n=1)
        raise ProbeError(f"unknown probe {name!r}" + (f"; did you mean {close[0]}?" if close else f"; probes: {', '.join(PROBES)}"))
    return PROBES[name]


def est(d: dict) -> str:
    """An Estimate's JSON form as `0.512 [0.40, 0.62] (n=38)`, or `(n=38 items in 11 cells)` where cells are known."""
    return f"{d['value']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}] ({n_text(d)})"

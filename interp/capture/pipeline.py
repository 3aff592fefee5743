"""The caching pipeline: stimuli -> batches -> hooked forward (reduced on device) -> streaming HDF5 writer."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from activations_store import MASKS, RowSpec, StoreWriter, act_path
from probes.stimuli.base import StimulusSet

from .. import __version__
from ..errors import StimulusError
from ..models.loaded import LoadedModel
from .coverage import patch_coverage
from .engine import capture_batch
from .request import CaptureRequest, reduced_shape


@dataclass
class CaptureResult:
    """What a capture run did."""

    path: Path
    rows: int
    resumed_from: int
    datasets: int


def row_specs(lm: LoadedModel, request: CaptureRequest, stimuli: StimulusSet) -> list[RowSpec]:
    """One RowSpec per requested (site, reduction), plus the object masks when the stimuli have them."""
    sites = lm.sites()
    specs = [RowSpec(act_path(s, r), reduced_shape(sites[s], r, stimuli.max_objects), request.dtype)
             for s, r in request.items]
    if stimuli.max_objects:
        s = stimuli.image_size
        specs.append(RowSpec(MASKS, (stimuli.max_objects, s, s), "bool"))
    return specs


def _batch_inputs(lm: LoadedModel, request: CaptureRequest, stimuli: StimulusSet, rows: range):
    rendered = [stimuli.render(i) for i in rows]
    images = tokens = coverage = masks = None
    if "visual" in request.towers():
        images = lm.images_to_tensor([r.image for r in rendered])
    if "text" in request.towers():
        if stimuli.captions is None:
            raise StimulusError(f"the request names text sites but stimulus set {stimuli.name} has no captions")
        tokens = lm.tokenize([stimuli.captions[i] for i in rows])
    if stimuli.max_objects:
        masks = np.zeros((len(rows), stimuli.max_objects, stimuli.image_size, stimuli.image_size), bool)
        for j, r in enumerate(rendered):
            if r.masks is not None:
                masks[j, : len(r.masks)] = r.masks
        if any(red == "object_mass" for _, red in request.items):
            coverage = patch_coverage(masks, lm.image_size, lm.adapter.visual.grid)
    return images, tokens, coverage, masks


def capture(lm: LoadedModel, stimuli: StimulusSet, request: CaptureRequest, out: str | os.PathLike, *,
            batch_size: int = 32, resume: bool = False, progress: bool = True,
            on_commit: Optional[Callable[[int], None]] = None) -> CaptureResult:
    """Capture `request` for every stimulus into the store at `out`, resumably; returns what was done."""
    if batch_size <= 0:
        raise StimulusError(f"batch size must be positive, got {batch_size}")
    meta = {"model_id": lm.spec, "model_name": lm.name, "model_hash": lm.model_hash, "stimulus_set": stimuli.name,
            "request": request.describe(), "dtype": request.dtype, "batch_size": batch_size,
            "image_size": list(lm.image_size)}
    writer = StoreWriter(out, ids=stimuli.ids, columns=stimuli.columns, row_specs=row_specs(lm, request, stimuli),
                         meta=meta, resume=resume, toolkit_version=__version__, recipe=stimuli.recipe)
    start = writer.committed
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(stimuli), initial=start, unit="stim", desc=f"capture {Path(out).name}", dynamic_ncols=True)
    try:
        for lo in range(start, len(stimuli), batch_size):
            rows = range(lo, min(lo + batch_size, len(stimuli)))
            images, tokens, coverage, masks = _batch_inputs(lm, request, stimuli, rows)
            acts = capture_batch(lm, request, images, tokens, coverage)
            arrays = {act_path(s, r): t.numpy() for (s, r), t in acts.items()}
            if masks is not None:
                arrays[MASKS] = masks
            writer.submit(lo, arrays)
            if bar is not None:
                bar.update(len(rows))
            if on_commit is not None:
                on_commit(rows.stop)
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    writer.close()
    return CaptureResult(Path(out), writer.committed, start, len(request.items))

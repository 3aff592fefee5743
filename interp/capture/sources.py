"""Stimulus sources for capture: a folder of images (+ captions.csv), or a named built-in probe set."""
from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from probes.stimuli.base import Rendered, StimulusSet

from ..errors import StimulusError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def folder_source(folder: str | Path) -> StimulusSet:
    """Images in `folder` (sorted by path), captions from `captions.csv` (columns file,caption) if present."""
    root = Path(folder)
    if not root.is_dir():
        raise StimulusError(f"stimulus folder {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise StimulusError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {root}")
    ids = [str(p.relative_to(root)) for p in files]
    captions = None
    cap_file = root / "captions.csv"
    if cap_file.is_file():
        with open(cap_file, newline="") as fh:
            rows = list(csv.DictReader(fh))
        if rows and not {"file", "caption"} <= set(rows[0]):
            raise StimulusError(f"{cap_file} must have columns file,caption (has {', '.join(rows[0])})")
        by_file = {r["file"]: r["caption"] for r in rows}
        missing = [i for i in ids if i not in by_file]
        if missing:
            raise StimulusError(f"{cap_file} has no caption for {len(missing)} images (e.g. {missing[0]})")
        captions = [by_file[i] for i in ids]

    def render(i: int) -> Rendered:
        try:
            with Image.open(files[i]) as im:
                return Rendered(im.convert("RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise StimulusError(f"cannot read image {files[i]}: {exc}") from None

    columns = {"file": ids}
    if captions is not None:
        columns["caption"] = captions
    return StimulusSet(f"folder:{root}", ids, columns, render, captions)


def resolve_source(source: str, n: int | None = None, seed: int = 0, size: int = 224) -> StimulusSet:
    """A folder path, or the name of a built-in probe set rendered at `size` px (see `probes.stimuli.PROBE_SETS`)."""
    from probes.stimuli import PROBE_SETS

    if source in PROBE_SETS:
        kw = {"seed": seed, "size": size} | ({"n": n} if n else {})
        return PROBE_SETS[source](**kw)
    if Path(source).exists():
        return folder_source(source)
    raise StimulusError(f"stimulus source {source!r} is neither a folder nor a probe set ({', '.join(PROBE_SETS)})")

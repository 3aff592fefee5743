"""The on-disk layout of an activation store, in one place.

```
/                         attrs: schema_version, model_id, model_hash, request_hash, stimuli_hash,
                                 toolkit_version, created, complete, n_rows, request (JSON)
/progress                 int64 scalar, rows committed (contiguous, so updating it touches no metadata)
/stimulus_recipe          str scalar (JSON): how the stimulus set was built, {"builder", "args"}; absent when
                          the stimuli cannot be rebuilt (a folder of images)
/stimuli/id               [N] str
/stimuli/<column>         [N] labels (str, int, float)
/stimuli/masks            [N, K, h, w] bool   (optional, written with the activations: MASKS)
/acts/<site>/<reduction>  [N, ...] float16 | float32, chunked along N, allocated at creation
/analysis/<name>          object-reference scalar: the committed version of analysis <name>
/analysis_versions/<name>@<gen>   one version: arrays as datasets, parameters as attrs, `_payload` (JSON str),
                          attrs _kind, _name, _gen
```
Analysis names: census_<reduction> (CENSUS), attention_mass (ATTENTION_MASS), experiment_<name> (EXPERIMENT).
Schema 1 stores hold /analysis/<name> as a plain group; they stay readable and are upgraded on the next write.

An analysis write-back never touches a committed version: the new version is written as an anonymous group,
fsynced, linked under a fresh name and fsynced, then the 8-byte reference in /analysis/<name> is overwritten (raw data, no metadata change), fsynced,
and only then is the old version deleted. A reader dereferences the pointer by address, so it never walks the
versions group that a concurrent or killed write-back was changing.
Every row dataset is allocated in full when the store is created (early allocation, no fill): after that a
commit writes raw chunk data and the progress scalar only, and never changes HDF5 metadata. That is what
lets a SIGKILL at any moment leave a file that opens and whose committed rows are intact.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # schema 1: same rows, analyses as plain groups, no recipe
ACTS = "acts"
STIMULI = "stimuli"
MASKS_COLUMN = "masks"
MASKS = f"{STIMULI}/{MASKS_COLUMN}"
PROGRESS = "progress"
RECIPE = "stimulus_recipe"
ANALYSIS = "analysis"
ANALYSIS_VERSIONS = "analysis_versions"
ANALYSIS_RESERVED = "_"  # prefix of reserved dataset / attribute names inside an analysis version
PAYLOAD = "_payload"
CENSUS = "census"
ATTENTION_MASS = "attention_mass"
EXPERIMENT = "experiment"
ANALYSIS_KINDS = (CENSUS, ATTENTION_MASS, EXPERIMENT)
TARGET_CHUNK_BYTES = 1 << 20  # ~1 MiB chunks kept raw-disk bandwidth in trials (DESIGN.md)
MAX_CHUNK_ROWS = 1024


@dataclass(frozen=True)
class RowSpec:
    """One per-row dataset: its path in the file, the shape of one row and the stored dtype."""

    path: str
    row_shape: tuple[int, ...]
    dtype: str

    @property
    def row_bytes(self) -> int:
        """Bytes one row takes on disk."""
        return int(np.prod(self.row_shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def chunk_rows(self) -> int:
        """Rows per chunk so that a chunk is about TARGET_CHUNK_BYTES."""
        return int(max(1, min(MAX_CHUNK_ROWS, TARGET_CHUNK_BYTES // max(1, self.row_bytes))))


def act_path(site: str, reduction: str) -> str:
    """Path of the dataset that holds `reduction` of `site`."""
    return f"{ACTS}/{site}/{reduction}"


def analysis_name(kind: str, key: str = "") -> str:
    """Name of an analysis of `kind` ("census" per reduction, "attention_mass", "experiment" per name)."""
    if kind == ATTENTION_MASS:
        return ATTENTION_MASS
    if kind in (CENSUS, EXPERIMENT):
        return f"{kind}_{key}"
    raise ValueError(f"unknown analysis kind {kind!r}")


def analysis_kind(name: str) -> tuple[str, str]:
    """(kind, key) of an analysis name (the inverse of analysis_name; unknown names give ("other", name))."""
    if name == ATTENTION_MASS:
        return ATTENTION_MASS, ""
    for kind in (CENSUS, EXPERIMENT):
        if name.startswith(f"{kind}_"):
            return kind, name[len(kind) + 1 :]
    return "other", name


def analysis_path(name: str) -> str:
    """Path of the committed-version pointer of analysis `name`."""
    return f"{ANALYSIS}/{name}"


def version_path(name: str, gen: int | str) -> str:
    """Path of version `gen` of analysis `name`."""
    return f"{ANALYSIS_VERSIONS}/{name}@{gen}"


def stable_hash(obj: Any) -> str:
    """A short, order-stable SHA-256 of a JSON-able object."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def stimuli_hash(ids: Sequence[str], columns: Mapping[str, Sequence[Any]]) -> str:
    """Hash of a stimulus set's ids and label columns (what a resume must match)."""
    h = hashlib.sha256()
    for i in ids:
        h.update(str(i).encode())
        h.update(b"\0")
    for name in sorted(columns):
        h.update(name.encode())
        col = np.asarray(columns[name])
        h.update(col.astype(str).tobytes() if col.dtype.kind in "OUS" else np.ascontiguousarray(col).tobytes())
    return h.hexdigest()[:16]

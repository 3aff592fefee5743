"""The on-disk layout of an activation store, in one place.

```
/                         attrs: schema_version, model_id, model_hash, request_hash, stimuli_hash,
                                 toolkit_version, created, complete, n_rows, request (JSON)
/progress                 int64 scalar, rows committed (contiguous, so updating it touches no metadata)
/stimuli/id               [N] str
/stimuli/<column>         [N] labels (str, int, float)
/rows/stimuli/masks       [N, K, h, w] bool   (optional, written with the activations)
/acts/<site>/<reduction>  [N, ...] float16 | float32, chunked along N, allocated at creation
/analysis/...             written by analyzers after capture
```
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

SCHEMA_VERSION = 1
ACTS = "acts"
STIMULI = "stimuli"
ROWS = "rows"
PROGRESS = "progress"
ANALYSIS = "analysis"
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

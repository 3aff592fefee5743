"""Streaming, crash-safe writer of an activation store.

Commits are whole batches. A commit writes the batch's rows, fsyncs, then advances `/progress` and fsyncs again,
so the progress marker never points past data that is on disk. All writes happen on one background thread behind
a bounded queue: the forward pass never waits on the disk unless the queue is full.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import queue
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from . import schema
from ._h5 import fsync_dir, fsync_file, open_h5, write_error
from .analyses import to_json
from .errors import StoreError, StoreExistsError, StoreMismatchError, StoreVersionError, StoreWriteError

_STOP = object()


def _column_array(values: Sequence[Any]) -> np.ndarray:
    """A label column as an HDF5-storable array (strings become variable-length UTF-8)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "OUS":
        return np.asarray([str(v) for v in values], dtype=h5py.string_dtype())
    return arr


class StoreWriter:
    """Create (or resume) a store and commit rows to it in order, from a background thread."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        ids: Sequence[str],
        columns: Mapping[str, Sequence[Any]],
        row_specs: Sequence[schema.RowSpec],
        meta: Mapping[str, Any],
        resume: bool = False,
        queue_size: int = 4,
        toolkit_version: str = "0",
        recipe: Mapping[str, Any] | None = None,
    ) -> None:
        """`recipe` records how the stimuli were built (see probes.stimuli.rebuild); None when they cannot be rebuilt."""
        self.path = Path(path)
        self._recipe = to_json(dict(recipe), "the stimulus recipe") if recipe is not None else None
        self.n_rows = len(ids)
        if self.n_rows == 0:
            raise StoreError("the stimulus set is empty: nothing to store")
        for name, col in columns.items():
            if len(col) != self.n_rows:
                raise StoreError(f"stimulus column {name!r} has {len(col)} values for {self.n_rows} stimuli")
        self.specs = {s.path: s for s in row_specs}
        identity = {
            "model_hash": str(meta.get("model_hash", "")),
            "request_hash": schema.stable_hash([(s.path, s.row_shape, s.dtype) for s in row_specs]),
            "stimuli_hash": schema.stimuli_hash(ids, columns),
        }
        if self.path.exists():
            self._file = self._reopen(identity, resume)
        else:
            self._create(ids, columns, meta, identity, toolkit_version)
            self._file = open_h5(self.path, "r+")
        self._progress = self._file[schema.PROGRESS]
        self.committed = int(self._progress[()])
        self._next = self.committed
        self._error: StoreWriteError | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- open / create
    def _reopen(self, identity: Mapping[str, str], resume: bool) -> h5py.File:
        f = open_h5(self.path, "r" if not resume else "r+")
        try:
            if f.attrs.get("schema_version") is None or schema.PROGRESS not in f:
                raise StoreMismatchError(f"{self.path} is an HDF5 file but not an activation store")
            done = int(f[schema.PROGRESS][()])
            complete = bool(f.attrs.get("complete", False))
            if not resume:
                state = "a complete store" if complete else f"an incomplete store ({done}/{f.attrs['n_rows']} rows)"
                raise StoreExistsError(
                    f"{self.path} exists and is {state}: pass --resume to continue it, or choose another --out"
                )
            if int(f.attrs["schema_version"]) not in schema.READABLE_VERSIONS:  # rows are laid out alike in all
                raise StoreVersionError(
                    f"{self.path} has schema version {f.attrs['schema_version']}, this toolkit resumes versions "
                    f"{', '.join(map(str, schema.READABLE_VERSIONS))} (and writes {schema.SCHEMA_VERSION}): "
                    "write a new store"
                )
            for key, want in identity.items():
                have = str(f.attrs.get(key, ""))
                if have != want:
                    what = {"model_hash": "a different model", "request_hash": "a different capture request "
                            "(sites, reductions or dtype)", "stimuli_hash": "a different stimulus set"}[key]
                    raise StoreMismatchError(
                        f"cannot resume {self.path}: it was written by {what} ({key} {have} != {want})"
                    )
        except BaseException:
            f.close()
            raise
        return f

    def _create(self, ids, columns, meta, identity, toolkit_version) -> None:
        # Lay the file out under a temporary name and rename it into place: a crash during creation leaves
        # no half-made store at the real path.
        tmp = self.path.with_name(f".{self.path.name}.creating-{os.getpid()}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with h5py.File(tmp, "w", libver=("earliest", "v110"), locking=False) as f:
                f.attrs["schema_version"] = schema.SCHEMA_VERSION
                f.attrs["toolkit_version"] = toolkit_version
                f.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat()
                f.attrs["complete"] = False
                f.attrs["n_rows"] = self.n_rows
                for key, value in identity.items():
                    f.attrs[key] = value
                for key, value in meta.items():
                    if key not in identity:
                        f.attrs[key] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)
                f.attrs["row_specs"] = json.dumps([[s.path, list(s.row_shape), s.dtype] for s in self.specs.values()])
                f.create_dataset(schema.PROGRESS, data=np.int64(0))
                if self._recipe is not None:
                    f.create_dataset(schema.RECIPE, data=self._recipe, dtype=h5py.string_dtype())
                # created now so that a later analysis write-back never has to change the root group
                f.create_group(schema.ANALYSIS)
                f.create_group(schema.ANALYSIS_VERSIONS)
                stim = f.create_group(schema.STIMULI)
                stim.create_dataset("id", data=_column_array(ids))
                for name, col in columns.items():
                    if name in ("id", schema.MASKS_COLUMN) or "/" in name:
                        raise StoreError(f"stimulus column name {name!r} is reserved or contains '/'")
                    stim.create_dataset(name, data=_column_array(col))
                for spec in self.specs.values():
                    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
                    f.create_dataset(
                        spec.path,
                        shape=(self.n_rows, *spec.row_shape),
                        dtype=spec.dtype,
                        chunks=(min(spec.chunk_rows(), self.n_rows), *spec.row_shape),
                        dcpl=dcpl,
                        fill_time="never",
                    )
                fsync_file(f)
            os.replace(tmp, self.path)
            fsync_dir(self.path.parent)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise write_error(self.path, (0, self.n_rows), 0, exc) from None
            raise

    # ---------------------------------------------------------------- writing
    @property
    def complete(self) -> bool:
        """True once every row is committed."""
        return self.committed >= self.n_rows

    def submit(self, start: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Queue rows [start, start+n) of every row dataset for commit; rows must arrive in order."""
        self._raise_pending()
        if start != self._next:
            raise StoreError(f"rows must be committed in order: expected row {self._next}, got {start}")
        missing = set(self.specs) - set(arrays)
        extra = set(arrays) - set(self.specs)
        if missing or extra:
            raise StoreError(f"batch does not match the store's datasets (missing {sorted(missing)}, extra {sorted(extra)})")
        n = None
        for path, arr in arrays.items():
            spec = self.specs[path]
            if tuple(arr.shape[1:]) != spec.row_shape:
                raise StoreError(f"{path}: rows of shape {tuple(arr.shape[1:])}, the store holds {spec.row_shape}")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise StoreError(f"{path}: {arr.shape[0]} rows, other datasets of the batch have {n}")
        if n is None or n == 0 or start + n > self.n_rows:
            raise StoreError(f"batch of {n} rows at {start} does not fit a store of {self.n_rows} rows")
        self._next = start + n
        self._queue.put((start, start + n, dict(arrays)))
        self._raise_pending()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain: nothing after a failed commit may be written
            start, stop, arrays = item
            try:
                for path, arr in arrays.items():
                    self._file[path][start:stop] = arr.astype(self.specs[path].dtype, copy=False)
                fsync_file(self._file)
                self._progress[()] = stop
                fsync_file(self._file)
                self.committed = stop
            except Exception as exc:  # noqa: BLE001 - surfaced to the caller on its thread
                self._error = write_error(self.path, (start, stop), self.committed, exc)

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait for queued commits, mark the store complete if every row is in, and close the file."""
        self._finish(mark_complete=True)
        self._raise_pending()

    def abort(self) -> None:
        """Stop without marking completion (used when the producer fails); committed rows stay."""
        self._finish(mark_complete=False)

    def _finish(self, mark_complete: bool) -> None:
        if self._file is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        try:
            if mark_complete and self._error is None and self.complete:
                self._file.attrs["complete"] = True
                fsync_file(self._file)
        except OSError as exc:
            self._error = write_error(self.path, (self.committed, self.n_rows), self.committed, exc)
        finally:
            try:
                self._file.close()
            except Exception:  # noqa: BLE001 - closing after a failed write may fail again; the data is safe
                pass
            self._file = None

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

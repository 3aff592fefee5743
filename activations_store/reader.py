"""Lazy, out-of-core reader of an activation store.

`store["visual.blocks.7.mlp.post", "cls"][:, neuron_ids]` reads only what it names, and only committed rows
are visible; `iter_blocks` walks a dataset in row blocks so analyses run in bounded memory.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import h5py
import numpy as np

from . import analyses as _an
from . import schema
from ._h5 import open_h5
from .analyses import AnalysisInfo, AttentionMassRecord, CensusRecord, ExperimentRecord
from .errors import StoreCorruptError, StoreError, StoreInputError, StoreKeyError, StoreVersionError


def _suggest(name: str, options: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _natural(name: str) -> list:
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


class RowView:
    """A dataset seen through the committed-rows marker; indexing reads lazily from disk."""

    def __init__(self, ds: h5py.Dataset, n_committed: int) -> None:
        self._ds = ds
        self._n = n_committed

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the committed part."""
        return (self._n, *self._ds.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        """Stored dtype."""
        return self._ds.dtype

    def __len__(self) -> int:
        return self._n

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = self[:]
        return arr.astype(dtype) if dtype is not None else arr

    def __getitem__(self, idx: Any) -> np.ndarray:
        idx = idx if isinstance(idx, tuple) else (idx,)
        first, rest = idx[0], idx[1:]
        if first is Ellipsis:
            first, rest = slice(None), (Ellipsis, *rest) if len(idx) > 1 else ()
        rows = self._rows(first)
        fancy_rest = any(isinstance(r, (list, np.ndarray)) for r in rest)
        if isinstance(rows, slice):
            if fancy_rest:
                out = self._ds[(rows,)]
                return out[(slice(None), *rest)]
            return self._ds[(rows, *rest)]
        if isinstance(rows, (int, np.integer)):
            return self._ds[(int(rows), *rest)]
        # h5py wants increasing, unique row indices: read sorted unique rows, then restore the asked order
        uniq, inverse = np.unique(rows, return_inverse=True)
        out = self._ds[(uniq.tolist(),)] if not rest else self._ds[(uniq.tolist(),)][(slice(None), *rest)]
        return out[inverse]

    def _rows(self, first: Any) -> slice | int | np.ndarray:
        n = self._n
        if isinstance(first, slice):
            start, stop, step = first.indices(n)
            if step != 1:
                return np.arange(start, stop, step)
            return slice(start, max(start, stop))
        if isinstance(first, (int, np.integer)):
            i = int(first) + (n if first < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {first} out of range: {n} rows are committed")
            return i
        arr = np.asarray(first)
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise IndexError(f"boolean row mask of length {arr.shape} for {n} committed rows")
            return np.flatnonzero(arr)
        arr = arr.astype(np.int64)
        arr = np.where(arr < 0, arr + n, arr)
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise IndexError(f"row index out of range: {n} rows are committed")
        return arr


class ActivationStore:
    """Read (and append analyses to) an activation store written by StoreWriter."""

    def __init__(self, path: str | os.PathLike, mode: str = "r") -> None:
        self.path = Path(path)
        if mode not in ("r", "a"):
            raise StoreError(f"mode must be 'r' or 'a', not {mode!r}")
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no such store")
        self._f = open_h5(self.path, "r" if mode == "r" else "r+")
        try:
            if "schema_version" not in self._f.attrs or schema.PROGRESS not in self._f:
                raise StoreCorruptError(f"{self.path} is an HDF5 file but not an activation store (no schema_version)")
            version = self._f.attrs["schema_version"]
            try:
                version = int(version)
            except (TypeError, ValueError):
                raise StoreVersionError(f"{self.path} has schema version {version!r}, not a number: this toolkit "
                                        f"reads versions {', '.join(map(str, schema.READABLE_VERSIONS))}") from None
            if version not in schema.READABLE_VERSIONS:
                newer = "newer than" if version > schema.SCHEMA_VERSION else "older than any known to"
                raise StoreVersionError(
                    f"{self.path} has schema version {version}, {newer} this toolkit (which reads versions "
                    f"{', '.join(map(str, schema.READABLE_VERSIONS))} and writes {schema.SCHEMA_VERSION})"
                    + (": upgrade clip-interp to read it" if version > schema.SCHEMA_VERSION else ""))
            self.schema_version = version
            self.n_committed = int(self._f[schema.PROGRESS][()])
        except BaseException:
            self._f.close()
            raise

    # ---------------------------------------------------------------- metadata
    @property
    def n_rows(self) -> int:
        """Rows the store was laid out for."""
        return int(self._f.attrs["n_rows"])

    @property
    def complete(self) -> bool:
        """True when the capture finished and every row is committed."""
        return bool(self._f.attrs.get("complete", False)) and self.n_committed == self.n_rows

    @property
    def meta(self) -> dict[str, Any]:
        """Root attributes, JSON values decoded."""
        out: dict[str, Any] = {}
        for k, v in self._f.attrs.items():
            if isinstance(v, str) and v[:1] in "[{":
                try:
                    v = json.loads(v)
                except ValueError:
                    pass
            out[k] = v.item() if isinstance(v, np.generic) else v
        return out

    @property
    def stimulus_recipe(self) -> Optional[dict[str, Any]]:
        """How the stimulus set was built ({"builder", "args", ...}), or None when it cannot be rebuilt."""
        if schema.RECIPE not in self._f:
            return None
        return json.loads(self._f[schema.RECIPE].asstr()[()])

    def keys(self) -> list[tuple[str, str]]:
        """Every (site, reduction) held."""
        out: list[tuple[str, str]] = []
        if schema.ACTS not in self._f:
            return out

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                site, _, red = name.rpartition("/")
                out.append((site, red))

        self._f[schema.ACTS].visititems(visit)
        return sorted(out, key=lambda k: (not k[0].startswith("visual"), _natural(k[0]), k[1]))

    def sites(self) -> list[str]:
        """Site names held, sorted."""
        return list(dict.fromkeys(s for s, _ in self.keys()))

    # ---------------------------------------------------------------- data
    def __getitem__(self, key: tuple[str, str] | str) -> RowView:
        site, red = key if isinstance(key, tuple) else key.rsplit(":", 1)
        path = schema.act_path(site, red)
        if path not in self._f:
            names = [f"{s}:{r}" for s, r in self.keys()]
            raise StoreKeyError(f"{self.path} holds no {site}:{red}{_suggest(f'{site}:{red}', names)}")
        return RowView(self._f[path], self.n_committed)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return schema.act_path(*key) in self._f

    def stimuli_columns(self) -> list[str]:
        """Names of the stimulus label columns."""
        return [k for k in self._f[schema.STIMULI] if k != schema.MASKS_COLUMN]

    @property
    def stimuli(self) -> dict[str, np.ndarray]:
        """Label columns of every stimulus (all rows, committed or not), strings decoded."""
        out = {}
        for name, ds in self._f[schema.STIMULI].items():
            if name == schema.MASKS_COLUMN:
                continue
            arr = ds[()]
            if ds.dtype.kind == "O" or h5py.check_string_dtype(ds.dtype):
                arr = ds.asstr()[()]
            out[name] = np.asarray(arr)
        return out

    def column(self, name: str, block_rows: int = 1 << 16) -> np.ndarray:
        """One label column, read in blocks; strings come back as fixed-width unicode (no per-row Python objects,
        so a 10^6-row column costs megabytes, not hundreds of them)."""
        if name not in self._f[schema.STIMULI]:
            raise StoreKeyError(f"{self.path} has no stimulus column {name!r}{_suggest(name, list(self._f[schema.STIMULI]))}")
        ds = self._f[schema.STIMULI][name]
        if not h5py.check_string_dtype(ds.dtype):
            return ds[()]
        parts = [np.asarray(ds.asstr()[i : i + block_rows], dtype=str) for i in range(0, len(ds), block_rows)]
        width = max((p.dtype.itemsize // 4 for p in parts), default=1)
        return np.concatenate([p.astype(f"<U{width}") for p in parts]) if parts else np.zeros(0, str)

    def column_rows(self, name: str, rows: slice) -> np.ndarray:
        """One label column at `rows` (strings as fixed-width unicode), for streaming labels block by block."""
        if name not in self._f[schema.STIMULI]:
            raise StoreKeyError(f"{self.path} has no stimulus column {name!r}{_suggest(name, list(self._f[schema.STIMULI]))}")
        ds = self._f[schema.STIMULI][name]
        return np.asarray(ds.asstr()[rows], dtype=str) if h5py.check_string_dtype(ds.dtype) else ds[rows]

    def masks(self) -> RowView:
        """Per-object masks [n, K, h, w] of committed rows."""
        if schema.MASKS not in self._f:
            raise StoreKeyError(f"{self.path} holds no object masks")
        return RowView(self._f[schema.MASKS], self.n_committed)

    def iter_blocks(self, site: str, reduction: str, block_rows: int = 4096) -> Iterator[tuple[slice, np.ndarray]]:
        """Yield (rows, acts[rows]) over the committed rows in blocks of `block_rows`."""
        view = self[site, reduction]
        for start in range(0, len(view), block_rows):
            rows = slice(start, min(start + block_rows, len(view)))
            yield rows, view[rows]

    # ---------------------------------------------------------------- analyses
    def analyses(self) -> list[AnalysisInfo]:
        """Every analysis the store holds (name, kind, key), sorted by name."""
        return _an.list_analyses(self._f)

    def has_analysis(self, kind: str, key: str = "") -> bool:
        """True when an analysis of `kind` (and `key`: the census reduction or the experiment name) is held."""
        name = schema.analysis_name(kind, key)
        return any(a.name == name for a in self.analyses())

    def write_census(self, census: CensusRecord) -> None:
        """Commit a census (replacing the one at its reduction) crash-safely."""
        arrays, attrs = _an.census_arrays(census)
        self._write(schema.analysis_name(schema.CENSUS, census.reduction), schema.CENSUS, arrays, attrs)

    def read_census(self, reduction: str = "cls") -> CensusRecord:
        """The committed census at `reduction` (StoreKeyError when there is none)."""
        arrays, attrs, _ = _an.read_group(self._f, schema.analysis_name(schema.CENSUS, reduction), self.path)
        return _an.census_from(reduction, arrays, attrs)

    def write_attention_mass(self, record: AttentionMassRecord) -> None:
        """Commit the attention-mass analysis (replacing the previous one) crash-safely."""
        arrays, attrs = _an.attention_arrays(record)
        self._write(schema.ATTENTION_MASS, schema.ATTENTION_MASS, arrays, attrs)

    def read_attention_mass(self) -> AttentionMassRecord:
        """The committed attention-mass analysis (StoreKeyError when there is none)."""
        arrays, attrs, _ = _an.read_group(self._f, schema.ATTENTION_MASS, self.path)
        return _an.attention_from(arrays, attrs)

    def write_experiment(self, name: str, payload: Mapping[str, Any],
                         arrays: Optional[Mapping[str, np.ndarray]] = None) -> None:
        """Commit experiment `name`: a JSON-able payload plus named numeric or string arrays, crash-safely."""
        _an.check_name(name, "experiment name")
        if not isinstance(payload, Mapping):
            raise StoreInputError(f"the payload of experiment {name!r} must be a dict, not {type(payload).__name__}")
        self._write(schema.analysis_name(schema.EXPERIMENT, name), schema.EXPERIMENT, dict(arrays or {}), {},
                    dict(payload))

    def read_experiment(self, name: str) -> ExperimentRecord:
        """The committed experiment `name` (StoreKeyError when there is none)."""
        arrays, _, payload = _an.read_group(self._f, schema.analysis_name(schema.EXPERIMENT, name), self.path)
        return ExperimentRecord(name, payload or {}, arrays)

    def _write(self, name: str, kind: str, arrays: Mapping[str, Any], attrs: Mapping[str, Any],
               payload: Any = None) -> None:
        if self._f.mode != "r+":
            raise StoreError(f"{self.path} is open read-only: open it with mode='a' to write analyses")
        if self.schema_version < schema.SCHEMA_VERSION:
            self._f.attrs.modify("schema_version", schema.SCHEMA_VERSION)  # in place: same type and size
            self.schema_version = schema.SCHEMA_VERSION
        _an.write_group(self._f, self.path, name, kind, arrays, attrs, payload)

    def close(self) -> None:
        """Close the file."""
        self._f.close()

    def __enter__(self) -> "ActivationStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ActivationStore({str(self.path)!r}, rows={self.n_committed}/{self.n_rows}, "
                f"complete={self.complete}, datasets={len(self.keys())})")

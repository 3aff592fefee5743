"""Crash-safe analysis write-back and the typed records of each analysis kind.

Layout and protocol are documented in schema.py. In short: a version is written as an anonymous group, fsynced,
linked under a fresh name and fsynced,
the 8-byte object reference /analysis/<name> is overwritten (raw data only) and fsynced, then the old version is
deleted. A SIGKILL at any point leaves either the old or the new version committed, never a mix.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import h5py
import numpy as np

from . import schema
from ._h5 import fsync_file, is_disk_full
from .errors import StoreCorruptError, StoreInputError, StoreKeyError, StoreWriteError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_META = ("_kind", "_name", "_gen")


@dataclass
class AnalysisInfo:
    """One analysis held by a store: its name, kind (census, attention_mass, experiment, other) and key."""

    name: str
    kind: str
    key: str


@dataclass
class CensusRecord:
    """A neuron census at one reduction: per-neuron columns aligned on site/unit, thresholds, parameters."""

    reduction: str
    site: np.ndarray                      # [M] str
    unit: np.ndarray                      # [M] int
    columns: dict[str, np.ndarray]        # [M] each: scores, flags, classes (str arrays come back as object)
    thresholds: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class AttentionMassRecord:
    """Large-vs-small CLS attention mass per layer x head, and its summary statistics."""

    sites: list[str]
    layers: list[int]
    large_minus_small_norm: np.ndarray    # [L, H]
    large_minus_small_raw: np.ndarray     # [L, H]
    summary: dict[str, dict[str, Any]]


@dataclass
class ExperimentRecord:
    """A named experiment result: a JSON-able payload and named numeric arrays."""

    name: str
    payload: dict[str, Any]
    arrays: dict[str, np.ndarray]


def check_name(name: str, what: str = "analysis name") -> str:
    """`name` if it is a valid analysis (or key) name, else StoreInputError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise StoreInputError(f"{what} {name!r} is not valid: use letters, digits, '_', '.', '-' "
                              "(starting with a letter or digit)")
    return name


def to_json(value: Any, what: str) -> str:
    """JSON text of `value` (numpy scalars and arrays allowed), or StoreInputError naming what is not JSON-able."""
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f"{type(o).__name__} is not JSON-serialisable")

    try:
        return json.dumps(value, default=default, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise StoreInputError(f"{what} cannot be stored as JSON: {exc}") from None


def _fixed_utf8(strings: np.ndarray) -> np.ndarray:
    """Strings as fixed-width UTF-8 bytes. Variable-length strings live in HDF5's shared global heap, whose
    collections a later write-back appends to: a SIGKILL then damaged the strings of the committed version
    ("actual len exceeds EOA"). Fixed-width strings live in the dataset's own storage, written once."""
    enc = np.array([s.encode("utf-8") for s in strings.ravel().tolist()], dtype=object)
    width = max([1, *(len(b) for b in enc)])
    return np.array(enc.tolist(), dtype=f"S{width}").reshape(strings.shape)


def storable(key: str, arr: Any) -> np.ndarray:
    """An array as it will be stored (strings as fixed-width UTF-8), or StoreInputError naming the array."""
    check_name(key, "array name")
    a = np.asarray(arr)
    if a.dtype.kind in "US":
        return _fixed_utf8(a.astype(str).astype(object))
    if a.dtype.kind == "O":
        if not all(isinstance(v, str) for v in a.ravel()):
            raise StoreInputError(f"array {key!r} holds Python objects that are not strings: store numbers or strings")
        return _fixed_utf8(a)
    if a.dtype.kind not in "biuf":
        raise StoreInputError(f"array {key!r} has dtype {a.dtype}: store bool, integer, float or string arrays")
    return a


def _create(grp: h5py.Group, key: str, arr: np.ndarray) -> None:
    if arr.dtype.kind == "S":  # declared UTF-8 so that asstr() decodes it; written without conversion
        ds = grp.create_dataset(key, shape=arr.shape, dtype=h5py.string_dtype("utf-8", arr.dtype.itemsize))
        ds.id.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(arr), mtype=ds.id.get_type())
    else:
        grp.create_dataset(key, data=arr)


def _attr(value: Any, what: str) -> Any:
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
        return value
    text = value if isinstance(value, str) else to_json(value, what)
    return np.bytes_(text.encode("utf-8"))  # fixed width, in the object header (see _fixed_utf8)


def _decode_attr(value: Any) -> Any:
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value.item() if isinstance(value, np.generic) else value


def _pointer(f: h5py.File, name: str) -> Optional[h5py.Group]:
    """The committed version group of `name` (schema 2 pointer or schema 1 plain group), or None."""
    path = schema.analysis_path(name)
    if path in f:
        obj = f[path]
        if isinstance(obj, h5py.Group):
            return obj  # schema 1
        ref = obj[()]
        if not ref:
            return None
        return f[ref]
    legacy = schema.version_path(name, "legacy")  # a schema 1 group moved aside by an interrupted upgrade
    if schema.ANALYSIS_VERSIONS in f and legacy in f:
        return f[legacy]
    return None


def read_group(f: h5py.File, name: str, path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any], Any]:
    """(arrays, attrs, payload) of the committed version of analysis `name`."""
    try:
        grp = _pointer(f, name)
    except (KeyError, ValueError, OSError) as exc:
        raise StoreCorruptError(f"{path}: analysis {name!r} cannot be read ({exc})") from None
    if grp is None:
        have = [a.name for a in list_analyses(f)]
        import difflib

        close = difflib.get_close_matches(name, have, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else (f" (it holds {', '.join(have)})" if have else "")
        raise StoreKeyError(f"{path} holds no analysis {name!r}{hint}")
    arrays: dict[str, np.ndarray] = {}
    payload = None
    for k, ds in grp.items():
        if k == schema.PAYLOAD:
            payload = json.loads(ds.asstr()[()])
        elif h5py.check_string_dtype(ds.dtype):
            arrays[k] = ds.asstr()[()] if ds.shape != () else np.asarray(ds.asstr()[()], dtype=object)
        else:
            arrays[k] = ds[()]
    attrs = {k: _decode_attr(v) for k, v in grp.attrs.items() if k not in _META}
    return arrays, attrs, payload


def list_analyses(f: h5py.File) -> list[AnalysisInfo]:
    """Every analysis with a committed version, sorted by name."""
    names: set[str] = set()
    if schema.ANALYSIS in f:
        names.update(f[schema.ANALYSIS].keys())
    if schema.ANALYSIS_VERSIONS in f:
        names.update(k.rpartition("@")[0] for k in f[schema.ANALYSIS_VERSIONS] if k.endswith("@legacy"))
    out = []
    for n in sorted(names):
        try:
            grp = _pointer(f, n)
        except (KeyError, ValueError, OSError):
            continue
        if grp is None:
            continue
        kind = _decode_attr(grp.attrs.get("_kind"))
        kind, key = (str(kind), schema.analysis_kind(n)[1]) if kind is not None else schema.analysis_kind(n)
        out.append(AnalysisInfo(n, kind, key))
    return out


def _versions_of(f: h5py.File, name: str) -> list[str]:
    if schema.ANALYSIS_VERSIONS not in f:
        return []
    return [k for k in f[schema.ANALYSIS_VERSIONS] if k.rpartition("@")[0] == name]


def _sync(f: h5py.File) -> None:
    """Extend the file to HDF5's allocated end before flushing, then flush and fsync. A flush writes the superblock
    (with the new end of allocation) before the tail blocks it points at; a SIGKILL between the two left a file
    shorter than its superblock says, which HDF5 then refuses to open ("truncated file")."""
    handle = f.id.get_vfd_handle()
    fd = handle if isinstance(handle, int) else handle.fileno()
    end = int(f.id.get_filesize())
    if os.fstat(fd).st_size < end:
        os.ftruncate(fd, end)
        os.fsync(fd)
    fsync_file(f)


def _drop_versions(f: h5py.File, name: str, keep: Optional[h5py.Group]) -> None:
    """Delete every version of `name` but `keep`, best effort: a version whose deletion a SIGKILL interrupted can
    be left with a link to a freed object ("link count would be negative"); no reader ever follows it, so it
    stays as an unreachable leftover rather than failing the write-back."""
    for k in _versions_of(f, name):
        path = f"{schema.ANALYSIS_VERSIONS}/{k}"
        try:
            if keep is not None and f[path] == keep:
                continue
        except (KeyError, ValueError, OSError, RuntimeError):
            pass
        try:
            del f[path]
        except (KeyError, ValueError, OSError, RuntimeError):
            continue


def write_group(f: h5py.File, path: Path, name: str, kind: str, arrays: Mapping[str, Any],
                attrs: Mapping[str, Any], payload: Any = None) -> None:
    """Commit a new version of analysis `name`, crash-safely (see the module docstring)."""
    check_name(name)
    # Everything that can be refused is refused before the file is touched.
    data = {k: storable(k, v) for k, v in arrays.items()}
    for k in list(data) + list(attrs):
        if k.startswith(schema.ANALYSIS_RESERVED):
            raise StoreInputError(f"name {k!r} is reserved (names starting with '_' belong to the store)")
    meta = {k: _attr(v, f"attribute {k!r}") for k, v in attrs.items()}
    blob = to_json(payload, f"the payload of {name!r}") if payload is not None else None
    try:
        for grp_path in (schema.ANALYSIS, schema.ANALYSIS_VERSIONS):
            if grp_path not in f:
                f.create_group(grp_path)
        committed = _pointer(f, name)
        old_gen = int(committed.attrs.get("_gen", 0)) if committed is not None else 0
        # versions left by a write-back that was killed before its switch are not committed: drop them
        _drop_versions(f, name, keep=committed)
        gens = [int(g) for g in (k.rpartition("@")[2] for k in _versions_of(f, name)) if g.isdigit()]
        gen = max([old_gen, *gens]) + 1  # never the name of a leftover that could not be dropped
        vpath = schema.version_path(name, gen)
        # Built as an anonymous group and linked only once it is on disk: a kill mid-write leaves unreachable
        # bytes, never a link to a half-flushed object.
        grp = f[schema.ANALYSIS_VERSIONS].create_group(None)
        for k, arr in data.items():
            _create(grp, k, arr)
        if blob is not None:
            _create(grp, schema.PAYLOAD, _fixed_utf8(np.array(blob, dtype=object)))
        for k, v in meta.items():
            grp.attrs[k] = v
        grp.attrs["_kind"], grp.attrs["_name"], grp.attrs["_gen"] = _attr(kind, ""), _attr(name, ""), gen
        _sync(f)
        f[vpath] = grp
        _sync(f)
        ptr_path = schema.analysis_path(name)
        if ptr_path in f and isinstance(f[ptr_path], h5py.Dataset):
            f[ptr_path][()] = grp.ref  # the commit: 8 bytes of raw data
            _sync(f)
        else:
            if ptr_path in f:  # schema 1 group: move it aside (still readable), then point at the new version
                f.move(ptr_path, schema.version_path(name, "legacy"))
                _sync(f)
            f.create_dataset(ptr_path, data=grp.ref, dtype=h5py.ref_dtype)
            _sync(f)
        _drop_versions(f, name, keep=grp)
        _sync(f)
    except StoreInputError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        what = "the disk is full" if is_disk_full(exc) else f"an I/O error occurred ({exc})"
        raise StoreWriteError(f"writing analysis {name!r} to {path} failed: {what}. The version committed before "
                              "(if any) is intact.") from None


def census_arrays(rec: CensusRecord) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and attrs of a census, validated (schema-1 compatible content)."""
    reduction = check_name(rec.reduction, "reduction")
    site = np.asarray(rec.site)
    unit = np.asarray(rec.unit)
    if site.ndim != 1 or unit.shape != site.shape:
        raise StoreInputError(f"census site[] and unit[] must be 1-D of one length (got {site.shape} and {unit.shape})")
    if unit.dtype.kind not in "iu":
        raise StoreInputError(f"census unit[] must be integers, not {unit.dtype}")
    arrays: dict[str, np.ndarray] = {"site": site.astype(str), "unit": unit}
    for k, v in rec.columns.items():
        if k in ("site", "unit"):
            raise StoreInputError(f"census column {k!r} is reserved")
        v = np.asarray(v)
        if v.shape[:1] != site.shape:
            raise StoreInputError(f"census column {k!r} has {v.shape[:1]} values for {len(site)} neurons")
        arrays[k] = v
    try:
        th = {str(k): float(v) for k, v in rec.thresholds.items()}
    except (TypeError, ValueError):
        raise StoreInputError(f"census thresholds must be numbers, got {rec.thresholds!r}") from None
    for k in rec.params:
        if k in ("thresholds", "reduction"):
            raise StoreInputError(f"census parameter {k!r} is reserved")
    return arrays, {"thresholds": th, "reduction": reduction, **dict(rec.params)}


def census_from(reduction: str, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> CensusRecord:
    """A CensusRecord from what read_group returned."""
    th = attrs.pop("thresholds", {})
    th = json.loads(th) if isinstance(th, str) else th
    attrs.pop("reduction", None)
    site, unit = arrays.pop("site"), arrays.pop("unit")
    return CensusRecord(reduction, np.asarray(site, dtype=object).astype(str), unit, arrays,
                        {k: float(v) for k, v in th.items()}, attrs)


def attention_arrays(rec: AttentionMassRecord) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and attrs of an attention-mass record, validated."""
    norm = np.asarray(rec.large_minus_small_norm, dtype=np.float64)
    raw = np.asarray(rec.large_minus_small_raw, dtype=np.float64)
    n = len(rec.sites)
    if len(rec.layers) != n:
        raise StoreInputError(f"attention mass: {len(rec.layers)} layers for {n} sites")
    for what, a in (("large_minus_small_norm", norm), ("large_minus_small_raw", raw)):
        if a.ndim != 2 or a.shape[0] != n:
            raise StoreInputError(f"attention mass: {what} must be [layers={n}, heads], got {a.shape}")
    if raw.shape != norm.shape:
        raise StoreInputError(f"attention mass: raw {raw.shape} and normalised {norm.shape} differ in shape")
    arrays = {"sites": np.array([str(s) for s in rec.sites], dtype=object), "layers": np.asarray(rec.layers, np.int64),
              "large_minus_small_norm": norm, "large_minus_small_raw": raw}
    return arrays, {str(k): to_json(v, f"summary {k!r}") for k, v in rec.summary.items()}


def attention_from(arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> AttentionMassRecord:
    """An AttentionMassRecord from what read_group returned."""
    summary = {k: (json.loads(v) if isinstance(v, str) else v) for k, v in attrs.items()}
    return AttentionMassRecord([str(s) for s in arrays["sites"]], [int(x) for x in arrays["layers"]],
                               arrays["large_minus_small_norm"], arrays["large_minus_small_raw"], summary)

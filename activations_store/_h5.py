"""Small HDF5 helpers shared by the writer and the reader."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import h5py

from .errors import StoreCorruptError, StoreError, StoreWriteError


def open_h5(path: Path, mode: str) -> h5py.File:
    """Open an HDF5 file with the default (earliest) libver, mapping failures to StoreCorruptError.

    Default libver matters: superblock v0 carries no "open for writing" flag, so a file whose writer was
    SIGKILLed opens again without h5clear (libver='latest' left killed files unreadable in trials).
    """
    try:
        return h5py.File(path, mode, libver=("earliest", "v110"), locking=False)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file") from None
        if "already open" in str(exc):
            raise StoreError(f"{path} is already open in this process ({exc}): close it before opening it "
                             f"{'for writing' if mode != 'r' else 'again'}") from None
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
        if head != b"\x89HDF\r\n\x1a\n":
            raise StoreCorruptError(f"{path} is not an HDF5 file ({size} bytes, no HDF5 signature)") from None
        raise StoreCorruptError(
            f"{path} is an HDF5 file that cannot be opened ({size} bytes): it is truncated or damaged ({exc})"
        ) from None


def fsync_file(f: h5py.File) -> None:
    """Flush HDF5's buffers and fsync the file: h5py's flush alone does not reach the disk."""
    f.flush()
    handle = f.id.get_vfd_handle()
    os.fsync(handle if isinstance(handle, int) else handle.fileno())


def fsync_dir(path: Path) -> None:
    """fsync a directory so that a rename inside it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_disk_full(exc: BaseException) -> bool:
    """True when an exception (possibly wrapped by HDF5) says the disk is full."""
    text = str(exc)
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "errno = 28" in text


def write_error(path: Path, rows: tuple[int, int], committed: int, exc: BaseException) -> StoreWriteError:
    """A StoreWriteError that says what failed and that committed rows are safe."""
    what = "the disk is full" if is_disk_full(exc) else f"an I/O error occurred ({exc})"
    return StoreWriteError(
        f"writing rows {rows[0]}..{rows[1] - 1} of {path} failed: {what}. "
        f"The {committed} rows committed before are intact; free space and rerun with --resume."
    )

"""Errors raised by the store; each names the file and what to do about it."""


class StoreError(Exception):
    """Base class of every error the activation store raises on purpose."""


class StoreExistsError(StoreError):
    """The output file exists and the caller did not ask to resume it."""


class StoreMismatchError(StoreError):
    """A resume was asked for, but the file was written by a different model, stimulus set or request."""


class StoreCorruptError(StoreError):
    """The file is not an HDF5 activation store, or it is truncated or damaged."""


class StoreWriteError(StoreError):
    """A write failed (disk full, I/O error); rows committed before it are intact."""


class StoreKeyError(StoreError, KeyError):
    """A (site, reduction) that the store does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class StoreVersionError(StoreError):
    """The file's schema version is one this toolkit cannot read (or resume)."""


class StoreInputError(StoreError, ValueError):
    """A caller handed the store something it cannot hold (bad name, misaligned arrays, non-JSON payload)."""

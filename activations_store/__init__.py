"""HDF5 activation store: schema, streaming crash-safe writer, lazy reader. Knows nothing about models."""
from .errors import (StoreCorruptError, StoreError, StoreExistsError, StoreKeyError, StoreMismatchError,
                     StoreWriteError)
from .reader import ActivationStore, RowView
from .schema import SCHEMA_VERSION, RowSpec, act_path
from .writer import StoreWriter

__all__ = [
    "ActivationStore", "RowView", "RowSpec", "StoreWriter", "act_path", "SCHEMA_VERSION",
    "StoreError", "StoreCorruptError", "StoreExistsError", "StoreKeyError", "StoreMismatchError", "StoreWriteError",
]

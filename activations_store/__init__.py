"""HDF5 activation store: schema, streaming crash-safe writer, lazy reader, crash-safe analysis write-back.

Knows nothing about models. Every path of the layout is spelled in `schema`.
"""
from .analyses import AnalysisInfo, AttentionMassRecord, CensusRecord, ExperimentRecord
from .errors import (StoreCorruptError, StoreError, StoreExistsError, StoreInputError, StoreKeyError,
                     StoreMismatchError, StoreVersionError, StoreWriteError)
from .reader import ActivationStore, RowView
from .schema import MASKS, SCHEMA_VERSION, RowSpec, act_path
from .writer import StoreWriter

__all__ = [
    "ActivationStore", "RowView", "RowSpec", "StoreWriter", "act_path", "MASKS", "SCHEMA_VERSION",
    "AnalysisInfo", "AttentionMassRecord", "CensusRecord", "ExperimentRecord",
    "StoreError", "StoreCorruptError", "StoreExistsError", "StoreInputError", "StoreKeyError", "StoreMismatchError",
    "StoreVersionError", "StoreWriteError",
]

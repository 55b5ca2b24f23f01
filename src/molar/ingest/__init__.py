"""Ingest: map, standardise and load source files; quarantine what cannot be loaded."""

from molar.ingest.loader import AccountingError, LoadResult, TargetResult, load_file
from molar.ingest.mapping import MappingError, load_mapping, load_mappings
from molar.ingest.run import ingest_paths

__all__ = [
    "AccountingError",
    "LoadResult",
    "MappingError",
    "TargetResult",
    "ingest_paths",
    "load_file",
    "load_mapping",
    "load_mappings",
]

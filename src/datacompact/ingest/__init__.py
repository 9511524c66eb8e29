"""Ingestion: read government data files, stage them as Parquet, profile them, find PII.

A database-free library; the catalog service calls it and records the events
and store rows::

    with open_source(path, encoding=None, sheet=None) as source:    # readers
        staged = stage_to_parquet(source, dest, progress=bar.update) # stage
    dictionary = infer_dictionary(staged.path)                       # schema
    findings = detect_pii(staged.path, mode="sample")                # pii
    report = profile_quality(staged.path, dictionary=dictionary, rules=rules)

Every failure is an error of :mod:`datacompact.errors` (``MalformedInput``,
``PayloadTooLarge``, ``InvalidInput``, ``NotFound``, ``Conflict``) whose message
names a row or a column but never repeats a cell value.
"""

from datacompact.config import IngestLimits
from datacompact.ingest._common import (
    MAX_CELL_BYTES,
    MAX_COLUMNS,
    IngestWarning,
    connect,
    spilling_into,
    sql_string,
)
from datacompact.ingest.pii import PII_TYPES, ColumnFinding, detect_pii
from datacompact.ingest.pinned import PinnedFile, open_at, open_dir_at, pin
from datacompact.ingest.quality import (
    Check,
    ConsistencyRule,
    QualityReport,
    QualityRules,
    profile_quality,
)
from datacompact.ingest.readers import (
    UPLOAD_HEAD_BYTES,
    UPLOAD_SUFFIXES,
    Source,
    check_upload_type,
    detect_format,
    list_sheets,
    open_source,
    text_encoding,
)
from datacompact.ingest.schema import ColumnSpec, DataDictionary, infer_dictionary, logical_type
from datacompact.ingest.stage import Progress, Staged, stage_to_parquet

__all__ = [
    "MAX_CELL_BYTES",
    "MAX_COLUMNS",
    "PII_TYPES",
    "UPLOAD_HEAD_BYTES",
    "UPLOAD_SUFFIXES",
    "Check",
    "ColumnFinding",
    "ColumnSpec",
    "ConsistencyRule",
    "DataDictionary",
    "IngestLimits",
    "IngestWarning",
    "PinnedFile",
    "Progress",
    "QualityReport",
    "QualityRules",
    "Source",
    "Staged",
    "check_upload_type",
    "connect",
    "detect_format",
    "detect_pii",
    "infer_dictionary",
    "list_sheets",
    "logical_type",
    "open_at",
    "open_dir_at",
    "open_source",
    "pin",
    "profile_quality",
    "spilling_into",
    "sql_string",
    "stage_to_parquet",
    "text_encoding",
]

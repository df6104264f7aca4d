"""Ingest: read CSV/JSONL/XES, map and validate into facts, store versioned facts in bulk, quarantine bad rows."""

from auditor.ingest.loader import DEFAULT_MAX_REJECT_RATE, IngestResult, RejectRateError, ingest_file, ingest_rows
from auditor.ingest.readers import SourceError, read_rows

__all__ = [
    "DEFAULT_MAX_REJECT_RATE",
    "IngestResult",
    "RejectRateError",
    "SourceError",
    "ingest_file",
    "ingest_rows",
    "read_rows",
]

"""Ingest: read CSV/JSONL, validate into facts, store versioned facts, quarantine bad rows."""

from auditor.ingest.loader import IngestResult, ingest_file, ingest_rows
from auditor.ingest.readers import SourceError, read_rows

__all__ = ["IngestResult", "SourceError", "ingest_file", "ingest_rows", "read_rows"]

"""Validate raw rows into facts and store them: versioned, idempotent, bad rows quarantined."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session

from auditor.ingest.blocks import Block, Oversized
from auditor.ingest.conversion import Converter, KindConverter, content_hash, validate_row
from auditor.ingest.pipeline import PartResult, ReadSpec, convert_rows, default_jobs, record_parts, run_parts
from auditor.ingest.readers import RawRow, SourceError, TextFormat, file_format, kind_from_path, text_blocks
from auditor.ingest.staging import Stager
from auditor.store.models import IngestBatch, Reject

DEFAULT_MAX_REJECT_RATE = 0.10
"""A batch with a larger share of rejected rows is refused as a whole."""


class RejectRateError(ValueError):
    """Too much of a file was bad: nothing of it was loaded; its rejects are stored with a refused batch."""

    def __init__(self, message: str, result: IngestResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class RejectedRow:
    """Where a bad row was, what it said and why it was refused."""

    source: str
    line: int
    reason: str
    raw: str = ""


SHOWN_REJECTS = 100
"""Rejected rows kept in the result for display; all of them are in the rejects table."""

Progress = Callable[[int], None]
"""Called with the number of bytes (or, for XES, records) just processed."""


@dataclass
class IngestResult:
    """Counts of one file: records read; facts loaded, unchanged, updated; records rejected."""

    source: str
    batch_id: int
    read: int = 0
    loaded: int = 0
    unchanged: int = 0
    updated: int = 0
    rejected: int = 0
    status: str = "loaded"
    rejects: list[RejectedRow] = field(default_factory=list)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_file(
    session: Session,
    path: Path,
    kind: str | None = None,
    max_reject_rate: float = DEFAULT_MAX_REJECT_RATE,
    convert: Converter | None = None,
    text_format: TextFormat | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Load one CSV, JSONL or XES file as one all-or-nothing batch and commit it.

    `convert` (a mapping) turns its records into facts, else each record is a
    fact of `kind` (default: the file name's kind; JSONL records may name
    their own). Large files are validated in `jobs` worker processes. When
    more than `max_reject_rate` (a share, 0.10 = 10 %) of its records are
    rejected, nothing is loaded: the batch is stored as `refused` with every
    rejected record, and RejectRateError says so. A file that cannot be read
    at all (SourceError) is stored as a refused batch with the reason.
    """
    sha = file_sha256(path)
    source = str(path)
    try:
        spec, parts = _file_parts(path, kind, convert, text_format)
        batch = _open_batch(session, source, sha, kind)
        if session.get_bind().dialect.name == "postgresql":
            spec = replace(spec, copy_batch=batch.id)  # the workers write COPY text rows of this batch
        results = run_parts(spec, parts, default_jobs() if jobs is None else jobs)
        result, stager = _load(session, batch, results, progress)
    except SourceError as exc:
        session.rollback()
        _record_unreadable(session, source, sha, kind, exc)
        session.commit()
        raise
    except BaseException:
        session.rollback()
        raise
    try:
        if result.read and result.rejected / result.read > max_reject_rate:
            stager.undo()
            _refuse(session, result)
            session.commit()
            share = 100 * result.rejected / result.read
            raise RejectRateError(
                f"{path}: {result.rejected} of {result.read} rows ({share:.1f} %) were rejected, more than the "
                f"limit of {100 * max_reject_rate:g} %; nothing was loaded (batch {result.batch_id}, refused). "
                f"See `auditor rejects list --batch {result.batch_id}`; fix the file, or raise --max-reject-rate.",
                result,
            )
        stager.drop()
        _fault_pause("commit")
        session.commit()
    except RejectRateError:
        raise
    except BaseException:
        session.rollback()
        raise
    return result


def ingest_rows(
    session: Session, rows: Iterable[RawRow], source: str, sha256: str, kind: str | None = None
) -> IngestResult:
    """Load records already read as one batch in the caller's transaction; the caller commits."""
    results = (convert_rows(part, KindConverter(kind)) for part in record_parts(rows))
    result, stager = _load(session, _open_batch(session, source, sha256, kind), results, None)
    stager.drop()
    return result


def _file_parts(
    path: Path, kind: str | None, convert: Converter | None, text_format: TextFormat | None
) -> tuple[ReadSpec, Iterator[Block | Oversized | list[RawRow]]]:
    """How to convert the file's records, and its parts: blocks of text, or lists of XES records."""
    fmt = text_format.fmt if text_format else file_format(path)
    if convert is None:
        kind = kind or (kind_from_path(path) if fmt == "csv" else "activity" if fmt == "xes" else None)
        if kind is None and fmt == "csv":
            raise SourceError(
                f"{path}: cannot tell the fact kind; name the file after the kind "
                f"(e.g. coaching_session.csv), pass --kind, or give a --mapping"
            )
        convert = KindConverter(kind)
    if fmt == "xes":
        from auditor.ingest.xes import read_xes

        return ReadSpec(str(path), TextFormat("xes"), convert), record_parts(read_xes(path))
    described, blocks = text_blocks(path, text_format or TextFormat(fmt))
    return ReadSpec(str(path), described, convert), blocks


def _open_batch(session: Session, source: str, sha: str, kind: str | None) -> IngestBatch:
    """The new batch's row (in the session's transaction)."""
    batch = IngestBatch(source=source, sha256=sha, kind=kind, started_at=datetime.now())
    session.add(batch)
    session.flush()
    return batch


def _load(
    session: Session, batch: IngestBatch, results: Iterable[PartResult], progress: Progress | None
) -> tuple[IngestResult, Stager]:
    """Merge every part's facts and store its rejects; the batch row gets the counts."""
    source = batch.source
    stager = Stager(session, batch.id)
    result = IngestResult(source=source, batch_id=batch.id)
    for part in results:
        result.read += part.read
        counts = stager.merge(part)
        result.loaded += counts.loaded
        result.updated += counts.updated
        result.unchanged += counts.unchanged
        if part.rejects:
            session.execute(
                insert(Reject),
                [
                    {"batch_id": batch.id, "source": source, "line": line, "raw": raw, "reason": reason}
                    for line, raw, reason in part.rejects
                ],
            )
            room = SHOWN_REJECTS - len(result.rejects)
            result.rejects.extend(RejectedRow(source, line, why, raw) for line, raw, why in part.rejects[:room])
            result.rejected += len(part.rejects)
        if progress:
            progress(part.size or part.read)
        _fault_pause("part")
    batch.rows_read = result.read
    batch.loaded = result.loaded
    batch.unchanged = result.unchanged
    batch.updated = result.updated
    batch.rejected = result.rejected
    batch.finished_at = datetime.now()
    return result, stager


def _fault_pause(moment: str) -> None:
    """Test hook: with AUDITOR_FAULT_INGEST_PAUSE_FILE set, write that file and wait (to be killed).

    The pause comes after the first merged part, or just before the commit when AUDITOR_FAULT_INGEST_PAUSE_AT
    is `commit`.
    """
    marker = os.environ.get("AUDITOR_FAULT_INGEST_PAUSE_FILE")
    if marker and moment == os.environ.get("AUDITOR_FAULT_INGEST_PAUSE_AT", "part") and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(600)


def _refuse(session: Session, result: IngestResult) -> None:
    """Mark the batch refused: its facts are taken back, its rejects stay."""
    batch = session.get(IngestBatch, result.batch_id)
    assert batch is not None
    batch.status = result.status = "refused"
    batch.loaded = batch.unchanged = batch.updated = 0
    result.loaded = result.unchanged = result.updated = 0


def _record_unreadable(session: Session, source: str, sha: str, kind: str | None, exc: SourceError) -> None:
    """A refused batch whose one reject says why the file could not be read."""
    now = datetime.now()
    batch = IngestBatch(
        source=source, sha256=sha, kind=kind, started_at=now, finished_at=now, rejected=1, status="refused"
    )
    session.add(batch)
    session.flush()
    session.add(Reject(batch_id=batch.id, source=source, line=exc.line, raw="", reason=str(exc)))


__all__ = ["content_hash", "file_sha256", "ingest_file", "ingest_rows", "validate_row"]

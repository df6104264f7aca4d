"""Validate raw rows into facts and store them: versioned, idempotent, bad rows quarantined."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auditor.facts import FactModel, UnknownKindError, model_for
from auditor.ingest.readers import RawRow, read_rows
from auditor.store.models import FactRow, IngestBatch, Reject

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


@dataclass
class IngestResult:
    """Counts of one loaded file."""

    source: str
    batch_id: int
    read: int = 0
    loaded: int = 0
    unchanged: int = 0
    updated: int = 0
    rejects: list[RejectedRow] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejects)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: `field 'at': Input should be a valid datetime (got '2026-13-01')`."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if p != "kind") or "row"
        message = err["msg"]
        if err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "extra_forbidden":
            message = "unknown field"
        text = f"field '{loc}': {message}" if loc != "row" else message
        if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
            text += f" (got {err['input']!r})"
        parts.append(text)
    return "; ".join(parts)


def validate_row(row: RawRow) -> FactModel:
    """Turn a raw row into a fact; raises ValueError with a readable reason."""
    if row.error:
        raise ValueError(row.error)
    kind = row.data.get("kind")
    if not isinstance(kind, str):
        raise ValueError("field 'kind': missing or not a string")
    try:
        model = model_for(kind)
    except UnknownKindError as exc:
        raise ValueError(f"field 'kind': {exc}") from None
    try:
        return model.model_validate(row.data)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None


def content_hash(fact: FactModel) -> str:
    """A stable digest of a fact's content."""
    payload = json.dumps(fact.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _CurrentIndex:
    """Current (row id, hash, version) per natural id, loaded lazily per kind."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._by_kind: dict[str, dict[str, tuple[int | FactRow, str, int]]] = {}

    def for_kind(self, kind: str) -> dict[str, tuple[int | FactRow, str, int]]:
        if kind not in self._by_kind:
            rows = self._session.execute(
                select(FactRow.natural_id, FactRow.id, FactRow.content_hash, FactRow.version).where(
                    FactRow.kind == kind, FactRow.current.is_(True)
                )
            )
            self._by_kind[kind] = {nid: (rid, h, v) for nid, rid, h, v in rows}
        return self._by_kind[kind]


def ingest_rows(
    session: Session, rows: Iterable[RawRow], source: str, sha256: str, kind: str | None = None
) -> IngestResult:
    """Load rows as one batch in the caller's transaction; the caller commits."""
    batch = IngestBatch(source=source, sha256=sha256, kind=kind, started_at=datetime.now())
    session.add(batch)
    session.flush()
    result = IngestResult(source=source, batch_id=batch.id)
    index = _CurrentIndex(session)
    for row in rows:
        result.read += 1
        try:
            fact = validate_row(row)
        except ValueError as exc:
            result.rejects.append(RejectedRow(row.source, row.line, str(exc), row.raw))
            session.add(Reject(batch_id=batch.id, source=row.source, line=row.line, raw=row.raw, reason=str(exc)))
            continue
        _store_fact(session, index.for_kind(fact.kind), fact, batch.id, result)
    batch.rows_read = result.read
    batch.loaded = result.loaded
    batch.unchanged = result.unchanged
    batch.updated = result.updated
    batch.rejected = result.rejected
    batch.finished_at = datetime.now()
    return result


def _store_fact(
    session: Session,
    current: dict[str, tuple[int | FactRow, str, int]],
    fact: FactModel,
    batch_id: int,
    result: IngestResult,
) -> None:
    natural_id = fact.natural_id()
    digest = content_hash(fact)
    previous = current.get(natural_id)
    if previous is not None and previous[1] == digest:
        result.unchanged += 1
        return
    version = 1
    if previous is not None:
        earlier = previous[0]
        if isinstance(earlier, FactRow):  # loaded earlier in this same batch
            earlier.current = False
        else:
            session.execute(update(FactRow).where(FactRow.id == earlier).values(current=False))
        version = previous[2] + 1
        result.updated += 1
    else:
        result.loaded += 1
    row = FactRow(
        kind=fact.kind,
        natural_id=natural_id,
        version=version,
        current=True,
        occurred_at=fact.occurred_at(),
        content_hash=digest,
        payload=fact.model_dump(mode="json"),
        batch_id=batch_id,
    )
    session.add(row)
    current[natural_id] = (row, digest, version)


def ingest_file(
    session: Session, path: Path, kind: str | None = None, max_reject_rate: float = DEFAULT_MAX_REJECT_RATE
) -> IngestResult:
    """Load one CSV or JSONL file as one all-or-nothing batch.

    When more than `max_reject_rate` (a share, 0.10 = 10 %) of its rows are
    rejected, nothing is loaded: the batch is stored as `refused` with every
    rejected row, and RejectRateError says so.
    """
    sha = file_sha256(path)
    try:
        result = ingest_rows(session, read_rows(path, kind), str(path), sha, kind)
        if result.read and result.rejected / result.read > max_reject_rate:
            session.rollback()
            batch_id = _record_refused(session, result, sha, kind)
            session.commit()
            share = 100 * result.rejected / result.read
            raise RejectRateError(
                f"{path}: {result.rejected} of {result.read} rows ({share:.1f} %) were rejected, more than the "
                f"limit of {100 * max_reject_rate:g} %; nothing was loaded (batch {batch_id}, refused). "
                f"See `auditor rejects list --batch {batch_id}`; fix the file, or raise --max-reject-rate.",
                result,
            )
    except RejectRateError:
        raise
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return result


def _record_refused(session: Session, result: IngestResult, sha: str, kind: str | None) -> int:
    """A refused batch with its rejected rows (and nothing else), so no bad row goes unaccounted for."""
    now = datetime.now()
    batch = IngestBatch(
        source=result.source,
        sha256=sha,
        kind=kind,
        started_at=now,
        finished_at=now,
        rows_read=result.read,
        rejected=result.rejected,
        status="refused",
    )
    session.add(batch)
    session.flush()
    for r in result.rejects:
        session.add(Reject(batch_id=batch.id, source=r.source, line=r.line, raw=r.raw, reason=r.reason))
    result.batch_id = batch.id
    result.loaded = result.unchanged = result.updated = 0
    return batch.id

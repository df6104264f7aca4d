"""The quarantine: rejected rows as stored by ingest, read back for `auditor rejects list`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from auditor.store.models import IngestBatch, Reject


def list_rejects(engine: Engine, batch_id: int | None = None, source: str | None = None) -> list[dict[str, Any]]:
    """Rejected rows (optionally of one batch or of files whose path contains `source`), in load order."""
    query = select(Reject, IngestBatch.status).join(IngestBatch, IngestBatch.id == Reject.batch_id)
    if batch_id is not None:
        query = query.where(Reject.batch_id == batch_id)
    if source:
        query = query.where(Reject.source.contains(source, autoescape=True))
    with Session(engine) as session:
        return [
            {
                "batch": r.batch_id,
                "batch_status": status,
                "source": r.source,
                "line": r.line,
                "reason": r.reason,
                "raw": r.raw,
            }
            for r, status in session.execute(query.order_by(Reject.batch_id, Reject.line, Reject.id))
        ]

"""The KPI window of a sweep and the current facts that lie in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Text, select, type_coerce
from sqlalchemy.orm import Session

from auditor.engine.stored import decode_fields, stored_payload
from auditor.store.models import FactRow, Sweep


@dataclass(frozen=True)
class KpiWindow:
    """`start` inclusive (None: from the earliest fact), `end` exclusive (the end of the as-of day)."""

    start: datetime | None
    end: datetime

    @classmethod
    def of_sweep(cls, sweep: Sweep) -> KpiWindow:
        """From the start of the sweep's since day to the end of its as-of day."""
        return cls.of_days(sweep.as_of, sweep.since)

    @classmethod
    def of_days(cls, as_of: date, since: date | None) -> KpiWindow:
        """From the start of the since day (None: from the earliest fact) to the end of the as-of day."""
        end = datetime.combine(as_of, datetime.min.time()) + timedelta(days=1)
        start = datetime.combine(since, datetime.min.time()) if since else None
        return cls(start, end)

    def as_dict(self) -> dict[str, Any]:
        """The window as plain data (ISO timestamps)."""
        return {"start": self.start.isoformat() if self.start else None, "end": self.end.isoformat()}


def window_facts(session: Session, kind: str, window: KpiWindow) -> list[Any]:
    """Current versions of the facts of one kind whose time lies in the window, in load order."""
    query = select(type_coerce(FactRow.payload, Text)).where(
        FactRow.current.is_(True), FactRow.kind == kind, FactRow.occurred_at < window.end
    )
    if window.start is not None:
        query = query.where(FactRow.occurred_at >= window.start)
    return _parse(kind, session.execute(query.order_by(FactRow.id)).scalars())


def roster(session: Session, window: KpiWindow) -> dict[str, Any]:
    """Current person facts by id, of everyone who joined before the window end (the roster is reference data)."""
    query = select(type_coerce(FactRow.payload, Text)).where(
        FactRow.current.is_(True), FactRow.kind == "person", FactRow.occurred_at < window.end
    )
    people = _parse("person", session.execute(query.order_by(FactRow.id)).scalars())
    return {p.id: p for p in people}


def _parse(kind: str, payloads: Any) -> list[Any]:
    """Stored payloads as objects with the model's fields as attributes.

    Decoded like the sweep's facts (engine/stored.py: equal to `model_validate(payload).model_dump()`),
    not validated again: ingest did that, and validating every fact was most of the KPIs' time.
    """
    return [_fields(decode_fields(kind, stored_payload(payload))) for payload in payloads]


class _Fields:
    """A fact's values read as attributes, like its model's fields."""


def _fields(values: dict[str, Any]) -> _Fields:
    """`values` as attributes: the dict is shared, not copied (the KPIs only read)."""
    item = _Fields()
    item.__dict__ = values
    return item

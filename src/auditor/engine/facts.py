"""Facts as the engine sees them: typed values plus the database row they came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from auditor.facts import FactModel

_EPOCH = datetime(1970, 1, 1)


def epoch(value: date | datetime) -> int | float:
    """Seconds since 1970-01-01 (naive UTC); days count from their midnight."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    seconds = (value - _EPOCH).total_seconds()
    return int(seconds) if seconds == int(seconds) else seconds


@dataclass(frozen=True, slots=True)
class EngineFact:
    """One current fact: its row id (evidence), kind, natural id and typed field values."""

    row_id: int
    kind: str
    natural_id: str
    values: dict[str, Any]

    def __reduce__(self) -> tuple[type[EngineFact], tuple[int, str, str, dict[str, Any]]]:
        """Pickle as a plain tuple (the dataclass default walks `fields()` per fact; a sweep ships millions)."""
        return (EngineFact, (self.row_id, self.kind, self.natural_id, self.values))

    @classmethod
    def from_model(cls, row_id: int, fact: FactModel) -> EngineFact:
        return cls(row_id, fact.kind, fact.natural_id(), fact.model_dump())

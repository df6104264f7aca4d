"""Facts as the engine sees them: typed values plus the database row they came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from auditor.facts import FactModel

_EPOCH = datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()


def epoch(value: date | datetime) -> int | float:
    """Seconds since 1970-01-01 (naive UTC); days count from their midnight."""
    if value.__class__ is datetime and not value.microsecond:  # the common case, in whole seconds (runs per fact)
        delta = value - _EPOCH  # type: ignore[operator]
        return delta.days * 86400 + delta.seconds
    if value.__class__ is date:
        return (value.toordinal() - _EPOCH_ORDINAL) * 86400
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


Packed = tuple[dict[str, tuple[str, ...]], list[tuple[int, str, str, Any]]]


def pack(facts: list[EngineFact]) -> Packed:
    """Facts in a compact, quick-to-pickle form: values as tuples, their field names once per kind.

    A sweep ships millions of facts to its workers; one dict per fact made pickling a large part of a sweep.
    """
    names: dict[str, tuple[str, ...]] = {}
    rows = []
    for fact in facts:
        fields = tuple(fact.values)
        known = names.setdefault(fact.kind, fields)
        values = tuple(fact.values.values()) if fields == known else dict(fact.values)
        rows.append((fact.row_id, fact.kind, fact.natural_id, values))
    return names, rows


def unpack(packed: Packed) -> list[EngineFact]:
    """The facts `pack` packed."""
    names, rows = packed
    return [
        EngineFact(
            row_id,
            kind,
            natural_id,
            values if isinstance(values, dict) else dict(zip(names[kind], values)),  # noqa: B905 - as packed
        )
        for row_id, kind, natural_id, values in rows
    ]

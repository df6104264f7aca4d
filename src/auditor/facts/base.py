"""Common parts of every fact kind: strict models, time normalisation, natural keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict


def _to_utc_naive(value: datetime) -> datetime:
    """Store instants as naive UTC; naive input is taken as already UTC (the org time)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


Instant = Annotated[datetime, AfterValidator(_to_utc_naive)]
"""A point in time, ISO 8601; offsets are converted to UTC, date-only means midnight."""

Day = date
"""A calendar day, ISO 8601 (YYYY-MM-DD)."""


def natural_id_of(natural_key: tuple[str, ...], values: Mapping[str, Any]) -> str:
    """The natural id made of `values` of the `natural_key` fields: ISO 8601 for days and instants, parts
    joined by `|` (a `|` or `\\` inside a part is escaped with `\\`)."""
    parts = []
    for name in natural_key:
        value = values[name]
        if value.__class__ is str:
            text = value
        else:
            text = value.isoformat() if isinstance(value, (date, datetime)) else str(value)
        if "|" in text or "\\" in text:  # keep the parts apart
            text = text.replace("\\", "\\\\").replace("|", "\\|")
        parts.append(text)
    return parts[0] if len(parts) == 1 else "|".join(parts)


class FactModel(BaseModel):
    """Base of all fact kinds.

    ``natural_key`` names the fields that identify one fact across loads (a
    corrected row has the same natural key and new content); ``time_field``
    is the moment the fact happened, used for sweep windows and ordering.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    natural_key: ClassVar[tuple[str, ...]] = ("id",)
    time_field: ClassVar[str] = "at"
    description: ClassVar[str] = ""

    def natural_id(self) -> str:
        """The fact's identity within its kind, e.g. ``'REQ-7'`` or ``'OPP-1|proposal|2026-01-02T00:00:00'``."""
        return natural_id_of(self.natural_key, self.__dict__)

    def occurred_at(self) -> datetime:
        """The fact's main time as a datetime (days are taken at midnight)."""
        value = getattr(self, self.time_field)
        if isinstance(value, datetime):
            return value
        return datetime(value.year, value.month, value.day)

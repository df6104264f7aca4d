"""Shared state of one generation run: the seeded RNG, the window, emitted rows, the truth."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from auditor.facts import model_for

FUTURE_FIELDS = frozenset({"expires_on"})
"""Fields that may legitimately lie after the as-of day (they are not when a fact happened)."""


def day_start(day: date) -> datetime:
    """Midnight at the start of a day."""
    return datetime.combine(day, time())


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def quarter_label(day: date) -> str:
    """'2026-Q1' for a day in January to March 2026."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def quarter_start(day: date) -> date:
    """The first day of the quarter containing `day`."""
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def is_workday(day: date) -> bool:
    """Monday to Friday."""
    return day.weekday() < 5


def next_workday(day: date) -> date:
    """`day` itself when it is a workday, else the following Monday."""
    while not is_workday(day):
        day += timedelta(days=1)
    return day


def add_workdays(day: date, count: int) -> date:
    """`count` workdays after `day` (which itself need not be a workday)."""
    while count > 0:
        day += timedelta(days=1)
        if is_workday(day):
            count -= 1
    return day


class GroundTruth:
    """The deviations deliberately injected, one (rule_id, subject, occurrence) each."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str], None] = {}

    def add(self, rule_id: str, subject: str, occurrence: str = "") -> None:
        """Record one injected deviation; adding the same one twice is a generator bug."""
        key = (rule_id, subject, occurrence)
        if key in self._items:
            raise RuntimeError(f"deviation recorded twice: {key}")
        self._items[key] = None

    def findings(self) -> list[dict[str, str]]:
        """The deviations sorted by (rule_id, subject, occurrence)."""
        return [{"rule_id": r, "subject": s, "occurrence": o} for r, s, o in sorted(self._items)]


@dataclass
class Context:
    """One run: the RNG, the window (since .. as_of), the rows per kind and the ground truth."""

    rng: random.Random
    since: date
    as_of: date
    months: list[date]
    """First days of the whole months covered (each judged by monthly rules)."""
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    truth: GroundTruth = field(default_factory=GroundTruth)
    _counters: dict[str, int] = field(default_factory=dict)

    @property
    def since_start(self) -> datetime:
        return day_start(self.since)

    @property
    def as_of_end(self) -> datetime:
        """Exclusive upper bound of every fact's time."""
        return day_start(self.as_of) + timedelta(days=1)

    @property
    def data_end(self) -> date:
        """The first day after the last whole month (start of the partial month)."""
        return add_months(self.months[-1], 1)

    def next_id(self, prefix: str, width: int = 5) -> str:
        """The next sequential id of a prefix, e.g. 'CS-00007'."""
        number = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = number
        return f"{prefix}-{number:0{width}d}"

    def emit(self, kind: str, **values: Any) -> dict[str, Any]:
        """Append one row of a kind; refuses values at or after the end of the as-of day."""
        for name, value in values.items():
            if name in FUTURE_FIELDS or value is None:
                continue
            moment = day_start(value) if type(value) is date else value
            if isinstance(moment, datetime) and moment >= self.as_of_end:
                raise RuntimeError(f"{kind}.{name} = {value} is after the as-of day")
        model_for(kind)  # fails early on a misspelt kind
        self.rows.setdefault(kind, []).append(values)
        return values

    def clock(self, day: date, first_hour: int = 8, last_hour: int = 17) -> datetime:
        """A business time on `day`, on a quarter hour."""
        hour = self.rng.randint(first_hour, last_hour)
        minute = self.rng.choice((0, 15, 30, 45))
        return datetime.combine(day, time(hour, minute))

    def workday_between(self, first: date, last: date) -> date:
        """A random workday in [first, last] (inclusive); `first` itself if there is none."""
        days = [
            first + timedelta(days=i) for i in range((last - first).days + 1) if is_workday(first + timedelta(days=i))
        ]
        return self.rng.choice(days) if days else first

    def pick_counts(self, total: int, shares: dict[str, float], minimum: int = 1) -> list[str]:
        """A shuffled list of `total` labels: each label of `shares` about its share, rest 'clean'.

        Every label gets at least `minimum` items when there is room, so each
        injected case exists even in a small organisation.
        """
        labels: list[str] = []
        for label, share in shares.items():
            count = max(minimum, round(total * share))
            labels.extend([label] * count)
        labels = labels[:total]
        labels.extend(["clean"] * (total - len(labels)))
        self.rng.shuffle(labels)
        return labels

"""The sweep window: what a sweep sees (facts before the end of the as-of day) and judges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from auditor.rulebook.expr import Duration


def day_start(day: date) -> datetime:
    """Midnight at the start of a day."""
    return datetime(day.year, day.month, day.day)


@dataclass(frozen=True)
class SweepWindow:
    """`since` and `as_of` are inclusive days.

    A sweep sees facts that happened before the end of the as-of day
    (``as_of_end``, exclusive) and judges triggers, facts and periods from the
    start of the since day (``since_start``).
    """

    as_of: date
    since: date
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def as_of_end(self) -> datetime:
        return day_start(self.as_of) + timedelta(days=1)

    @property
    def since_start(self) -> datetime:
        return day_start(self.since)


def add_duration(start: datetime, limit: Duration, holidays: frozenset[date]) -> datetime:
    """`start + limit`; business days skip Saturdays, Sundays and holidays, keeping the time of day.

    A start on a non-working day counts from the next working day's start.
    """
    if limit.unit != "business_days":
        return start + timedelta(seconds=limit.seconds())
    moment = start
    if not _working(moment.date(), holidays):
        while not _working(moment.date(), holidays):
            moment = day_start(moment.date() + timedelta(days=1))
    remaining = int(limit.amount)
    while remaining > 0:
        moment += timedelta(days=1)
        if _working(moment.date(), holidays):
            remaining -= 1
    return moment


def _working(day: date, holidays: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


@dataclass(frozen=True)
class Period:
    """One calendar period; ``end`` is exclusive, ``last_day`` is the period's final day."""

    label: str
    start: date
    end: date

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


def period_containing(every: str, day: date) -> Period:
    """The week (Monday-Sunday), month, quarter or year that contains a day."""
    if every == "week":
        start = day - timedelta(days=day.weekday())
        iso = start.isocalendar()
        return Period(f"{iso.year}-W{iso.week:02d}", start, start + timedelta(days=7))
    if every == "month":
        start = date(day.year, day.month, 1)
        return Period(f"{day.year}-{day.month:02d}", start, _add_months(start, 1))
    if every == "quarter":
        quarter = (day.month - 1) // 3
        start = date(day.year, quarter * 3 + 1, 1)
        return Period(f"{day.year}-Q{quarter + 1}", start, _add_months(start, 3))
    if every == "year":
        start = date(day.year, 1, 1)
        return Period(str(day.year), start, date(day.year + 1, 1, 1))
    raise ValueError(f"unknown period {every!r}")


@lru_cache(maxsize=8192)
def period_from_label(label: str) -> Period:
    """The period a label names: `2026-W09`, `2026-03`, `2026-Q1` or `2026` (ValueError otherwise)."""
    if "-W" in label:
        year, week = label.split("-W")
        return period_containing("week", date.fromisocalendar(int(year), int(week), 1))
    if "-Q" in label:
        year, quarter = label.split("-Q")
        return period_containing("quarter", date(int(year), 3 * int(quarter) - 2, 1))
    if "-" in label:
        year, month = label.split("-")
        return period_containing("month", date(int(year), int(month), 1))
    return period_containing("year", date(int(label), 1, 1))


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    return date(day.year + index // 12, index % 12 + 1, 1)


def complete_periods(every: str, window: SweepWindow) -> list[Period]:
    """Periods lying wholly inside the window: start on/after `since`, end on/before the as-of day's end."""
    periods = []
    period = period_containing(every, window.since)
    if period.start < window.since:
        period = period_containing(every, period.end)
    while period.last_day <= window.as_of:
        periods.append(period)
        period = period_containing(every, period.end)
    return periods


@dataclass(frozen=True)
class CadencePeriod:
    """A period a cadence judges, with the span in which expected facts count.

    Expected facts count from ``count_from`` (inclusive) up to ``deadline``
    (inclusive) when the rule has a `due:`, else up to the period end
    (exclusive). A member must be active from the period start through
    ``active_last``.
    """

    period: Period
    count_from: datetime
    deadline: datetime | None
    active_last: date


def cadence_periods(
    every: str, window: SweepWindow, due: Duration | None = None, lead: Duration | None = None
) -> list[CadencePeriod]:
    """The periods a cadence judges in a window.

    Without `due`, the complete periods inside the window; with `due`, every
    period starting on or after `since` whose deadline (start + due) is
    before the end of the as-of day.
    """
    back = timedelta(seconds=lead.seconds()) if lead else timedelta(0)
    if due is None:
        return [CadencePeriod(p, day_start(p.start) - back, None, p.last_day) for p in complete_periods(every, window)]
    out = []
    period = period_containing(every, window.since)
    if period.start < window.since:
        period = period_containing(every, period.end)
    while (deadline := day_start(period.start) + timedelta(seconds=due.seconds())) < window.as_of_end:
        active_last = min(period.last_day, (deadline - timedelta(seconds=1)).date())
        out.append(CadencePeriod(period, day_start(period.start) - back, deadline, active_last))
        period = period_containing(every, period.end)
    return out

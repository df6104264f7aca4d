"""Period shorthands for sweeps: last-week, last-month, last-quarter, YYYY-MM, YYYY-Qn.

A period is whole calendar days, first and last day included, in the organisation's time zone: a sweep of
it judges from `since` (the first day) as of the end of `as_of` (the last day). Weeks start on Monday (ISO
8601). `last-*` means the last such period that is over: on Monday 2026-03-02 `last-week` is 2026-02-23 to
2026-03-01, `last-month` is February and `last-quarter` is 2025-10-01 to 2025-12-31. A named month or
quarter must be over too: judging a day that has not ended would call findings overdue too early.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SHORTHANDS = ("last-week", "last-month", "last-quarter")
PERIOD_HELP = "last-week, last-month, last-quarter, YYYY-MM or YYYY-Qn"
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")


class PeriodError(ValueError):
    """Not a period, or a period that is not over yet."""


@dataclass(frozen=True)
class Period:
    """Whole days from `since` to `as_of`, both included."""

    label: str
    since: date
    as_of: date

    @property
    def days(self) -> int:
        return (self.as_of - self.since).days + 1


def today_in(zone: str, now: datetime | None = None) -> date:
    """The calendar day it is in a time zone (at `now`, default: the current instant)."""
    tz = ZoneInfo(zone)
    return (now.astimezone(tz) if now else datetime.now(tz)).date()


def month(year: int, number: int) -> tuple[date, date]:
    """First and last day of a month."""
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def quarter(year: int, number: int) -> tuple[date, date]:
    """First and last day of a quarter (Q1 = January to March)."""
    first = 3 * (number - 1) + 1
    return date(year, first, 1), month(year, first + 2)[1]


def parse_period(text: str, today: date) -> Period:
    """The period `text` names, judged on `today` (PeriodError when unknown or not over yet)."""
    label = text.strip()
    if label == "last-week":
        as_of = today - timedelta(days=today.weekday() + 1)  # the Sunday before today
        return Period(label, as_of - timedelta(days=6), as_of)
    if label == "last-month":
        first = today.replace(day=1)
        end = first - timedelta(days=1)
        return Period(label, end.replace(day=1), end)
    if label == "last-quarter":
        this_quarter = (today.month - 1) // 3 + 1
        year, number = (today.year, this_quarter - 1) if this_quarter > 1 else (today.year - 1, 4)
        return Period(label, *quarter(year, number))
    if match := _MONTH.fullmatch(label):
        year, number = int(match[1]), int(match[2])
        if not 1 <= number <= 12 or year < 1:
            raise PeriodError(f"{label!r}: no such month")
        return _over(Period(label, *month(year, number)), today)
    if match := _QUARTER.fullmatch(label):
        if int(match[1]) < 1:
            raise PeriodError(f"{label!r}: no such quarter")
        return _over(Period(label.upper(), *quarter(int(match[1]), int(match[2]))), today)
    raise PeriodError(f"unknown period {text!r} (use {PERIOD_HELP})")


def _over(period: Period, today: date) -> Period:
    if period.as_of >= today:
        raise PeriodError(
            f"period {period.label} ends on {period.as_of.isoformat()}, which is not over yet (today is "
            f"{today.isoformat()} in the organisation's time zone); sweep a period that has ended"
        )
    return period


def sweep_days(period: str | None, as_of: date | None, since: date | None, today: date) -> tuple[date, date | None]:
    """The (as-of, since) days of a sweep from either `--period` or `--as-of`/`--since` (PeriodError otherwise)."""
    if period is not None:
        if as_of is not None or since is not None:
            raise PeriodError("--period sets both days: give either --period or --as-of/--since, not both")
        chosen = parse_period(period, today)
        return chosen.as_of, chosen.since
    if as_of is None:
        raise PeriodError(f"give --as-of DAY (and --since DAY) or --period ({PERIOD_HELP})")
    return as_of, since

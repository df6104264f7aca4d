"""Period shorthands: exact days of each form, year and quarter boundaries, leap Februaries, Monday weeks, zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.ops.period import PeriodError, parse_period, sweep_days, today_in

DAYS = st.dates(min_value=date(1901, 1, 1), max_value=date(2399, 12, 31))


@pytest.mark.parametrize(
    ("text", "today", "since", "as_of"),
    [
        ("last-week", date(2026, 3, 2), date(2026, 2, 23), date(2026, 3, 1)),  # a Monday: the week just ended
        ("last-week", date(2026, 3, 1), date(2026, 2, 16), date(2026, 2, 22)),  # a Sunday: its week is not over
        ("last-week", date(2026, 1, 3), date(2025, 12, 22), date(2025, 12, 28)),  # across the year boundary
        ("last-month", date(2026, 1, 15), date(2025, 12, 1), date(2025, 12, 31)),  # January: last December
        ("last-month", date(2024, 3, 1), date(2024, 2, 1), date(2024, 2, 29)),  # leap February
        ("last-month", date(2025, 3, 31), date(2025, 2, 1), date(2025, 2, 28)),
        ("last-quarter", date(2026, 2, 10), date(2025, 10, 1), date(2025, 12, 31)),  # in Q1: last year's Q4
        ("last-quarter", date(2026, 4, 1), date(2026, 1, 1), date(2026, 3, 31)),
        ("last-quarter", date(2026, 12, 31), date(2026, 7, 1), date(2026, 9, 30)),
        ("2024-02", date(2026, 1, 1), date(2024, 2, 1), date(2024, 2, 29)),
        ("2023-02", date(2026, 1, 1), date(2023, 2, 1), date(2023, 2, 28)),
        ("2025-12", date(2026, 1, 1), date(2025, 12, 1), date(2025, 12, 31)),
        ("2026-Q1", date(2026, 4, 1), date(2026, 1, 1), date(2026, 3, 31)),
        ("2025-q4", date(2026, 1, 1), date(2025, 10, 1), date(2025, 12, 31)),
        ("2024-Q1", date(2025, 1, 1), date(2024, 1, 1), date(2024, 3, 31)),
    ],
)
def test_periods(text: str, today: date, since: date, as_of: date) -> None:
    period = parse_period(text, today)
    assert (period.since, period.as_of) == (since, as_of)


@pytest.mark.parametrize(
    ("text", "today", "message"),
    [
        ("2026-11", date(2026, 11, 30), "not over yet"),  # its last day has not ended
        ("2026-11", date(2026, 11, 23), "not over yet"),
        ("2026-Q4", date(2026, 12, 31), "not over yet"),
        ("2026-13", date(2027, 1, 1), "no such month"),
        ("2026-00", date(2027, 1, 1), "no such month"),
        ("2026-Q5", date(2027, 1, 1), "unknown period"),
        ("last-year", date(2027, 1, 1), "unknown period"),
        ("2026/01", date(2027, 1, 1), "unknown period"),
    ],
)
def test_refused_periods(text: str, today: date, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse_period(text, today)


def test_a_month_is_over_the_day_after_its_last_day() -> None:
    assert parse_period("2026-11", date(2026, 12, 1)).as_of == date(2026, 11, 30)


@given(DAYS)
def test_last_week_is_the_monday_to_sunday_before_today(today: date) -> None:
    period = parse_period("last-week", today)
    assert period.since.isoweekday() == 1 and period.as_of.isoweekday() == 7
    assert period.days == 7
    assert 1 <= (today - period.as_of).days <= 7  # ended before today, and is the latest such week


@given(DAYS)
def test_last_month_is_the_whole_previous_calendar_month(today: date) -> None:
    period = parse_period("last-month", today)
    assert period.since.day == 1 and (period.as_of + timedelta(days=1)) == today.replace(day=1)
    assert period.since.month == period.as_of.month and period.since.year == period.as_of.year
    assert period.days in (28, 29, 30, 31)
    february = period.since.month == 2
    leap = period.as_of.year % 4 == 0 and (period.as_of.year % 100 != 0 or period.as_of.year % 400 == 0)
    assert not february or period.days == (29 if leap else 28)


@given(DAYS)
def test_last_quarter_ends_the_day_before_this_quarter_starts(today: date) -> None:
    period = parse_period("last-quarter", today)
    this_quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    assert period.as_of + timedelta(days=1) == this_quarter_start
    assert period.since.day == 1 and period.since.month in (1, 4, 7, 10)
    assert period.since.month + 2 == period.as_of.month and period.days in (90, 91, 92)


@given(DAYS, st.integers(1, 12))
def test_named_months_and_quarters_cover_the_year_without_gaps(today: date, number: int) -> None:
    year = today.year - 1  # always over
    months = [parse_period(f"{year}-{m:02d}", today) for m in range(1, 13)]
    quarters = [parse_period(f"{year}-Q{q}", today) for q in range(1, 5)]
    for periods in (months, quarters):
        assert periods[0].since == date(year, 1, 1) and periods[-1].as_of == date(year, 12, 31)
        assert all(a.as_of + timedelta(days=1) == b.since for a, b in zip(periods, periods[1:], strict=False))
    quarter = quarters[(number - 1) // 3]
    assert quarter.since <= months[number - 1].since and months[number - 1].as_of <= quarter.as_of


def test_today_follows_the_time_zone() -> None:
    instant = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # Sunday evening in London, Monday morning in Tokyo
    assert today_in("Europe/London", instant) == date(2026, 3, 1)
    assert today_in("Asia/Tokyo", instant) == date(2026, 3, 2)
    assert today_in("America/Los_Angeles", instant) == date(2026, 3, 1)
    london = parse_period("last-week", today_in("Europe/London", instant))
    tokyo = parse_period("last-week", today_in("Asia/Tokyo", instant))
    assert (london.since, london.as_of) == (date(2026, 2, 16), date(2026, 2, 22))
    assert (tokyo.since, tokyo.as_of) == (date(2026, 2, 23), date(2026, 3, 1))


def test_period_and_explicit_days_are_exclusive() -> None:
    today = date(2026, 5, 5)
    assert sweep_days("2026-Q1", None, None, today) == (date(2026, 3, 31), date(2026, 1, 1))
    assert sweep_days(None, date(2026, 4, 30), None, today) == (date(2026, 4, 30), None)
    with pytest.raises(PeriodError, match="not both"):
        sweep_days("2026-Q1", date(2026, 4, 30), None, today)
    with pytest.raises(PeriodError, match="not both"):
        sweep_days("last-month", None, date(2026, 1, 1), today)
    with pytest.raises(PeriodError, match="give --as-of"):
        sweep_days(None, None, date(2026, 1, 1), today)

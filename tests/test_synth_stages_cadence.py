"""Synthetic truth of the stall, after-sales, ride-along, manager-cadence and weekly-report rules.

Each rule is checked by a plain-Python reading of the generated CSVs, written
from the rule's meaning (docs/rules.md), independent of the engine and of the
generator's own bookkeeping; the result must equal the ground truth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from auditor.synth import SynthResult, generate

from .synth_rows import SEEDS, Rows, midnight, read_rows, ts

MINE = ("COA-004", "MGR-001", "MGR-002", "MGR-003", "OPS-001", "STG-004", "STG-005")
Found = set[tuple[str, str, str]]


# ------------------------------------------------------------ periods and populations


def next_period(first: date, every: str) -> date:
    """The first day of the period after the one starting on `first`."""
    if every == "week":
        return first + timedelta(days=7)
    months = {"month": 1, "quarter": 3}[every]
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def label(first: date, every: str) -> str:
    if every == "week":
        year, week, _ = first.isocalendar()
        return f"{year}-W{week:02d}"
    if every == "month":
        return f"{first.year}-{first.month:02d}"
    return f"{first.year}-Q{(first.month - 1) // 3 + 1}"


def periods(every: str, since: date) -> Iterator[tuple[date, date]]:
    """(first day, next period's first day) of the calendar periods starting on or after `since`, endlessly."""
    if every == "week":
        first = since + timedelta(days=(7 - since.weekday()) % 7)
    else:
        step = 1 if every == "month" else 3
        first = date(since.year, (since.month - 1) // step * step + 1, 1)
        while first < since:
            first = next_period(first, every)
    while True:
        yield first, next_period(first, every)
        first = next_period(first, every)


def population(rows: Rows, roles: set[str], first: date, last: date) -> list[str]:
    """Ids of the people with one of `roles` employed from `first` through `last`."""
    members = []
    for p in rows["person"]:
        if p["role"] not in roles or date.fromisoformat(p["joined_on"]) > first:
            continue
        if p["left_on"] and date.fromisoformat(p["left_on"]) < last:
            continue
        members.append(p["id"])
    return members


def whole_period_cadence(
    rule_id: str, rows: Rows, kind: str, key: str, roles: set[str], every: str, since: date, as_of: date
) -> Found:
    """Members with no `kind` fact (matched on `key`) inside a whole period lying in [since, as_of]."""
    times: dict[str, list[datetime]] = defaultdict(list)
    for r in rows[kind]:
        times[r[key]].append(ts(r["at"]))
    found = set()
    for first, after in periods(every, since):
        if after - timedelta(days=1) > as_of:
            break
        for member in population(rows, roles, first, after - timedelta(days=1)):
            if not any(midnight(first) <= at < midnight(after) for at in times[member]):
                found.add((rule_id, member, label(first, every)))
    return found


# ------------------------------------------------------------ the rules


def check_stall(rows: Rows, since_start: datetime, as_of_end: datetime) -> Found:
    """STG-004: an open stage with no later stage of its opportunity within 90 days (once the 90 days are over)."""
    by_opp: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for r in rows["opportunity_stage"]:
        by_opp[r["opportunity_id"]].append((r["stage"], ts(r["at"])))
    found = set()
    for opp, stages in by_opp.items():
        for stage, at in stages:
            if stage in ("deal", "lost", "after_sales") or at < since_start:
                continue
            deadline = at + timedelta(days=90)
            if deadline < as_of_end and not any(at < t <= deadline for _, t in stages):
                found.add(("STG-004", opp, ""))
    return found


def check_after_sales(rows: Rows, since_start: datetime, as_of_end: datetime) -> Found:
    """STG-005: a deal with no after-sales stage of its opportunity from the deal to 30 days after it."""
    after_sales: dict[str, list[datetime]] = defaultdict(list)
    for r in rows["opportunity_stage"]:
        if r["stage"] == "after_sales":
            after_sales[r["opportunity_id"]].append(ts(r["at"]))
    found = set()
    for r in rows["opportunity_stage"]:
        at = ts(r["at"])
        if r["stage"] != "deal" or at < since_start:
            continue
        deadline = at + timedelta(days=30)
        if deadline < as_of_end and not any(at <= t <= deadline for t in after_sales[r["opportunity_id"]]):
            found.add(("STG-005", r["opportunity_id"], ""))
    return found


def check_weekly_reports(rows: Rows, since: date, as_of_end: datetime) -> Found:
    """OPS-001: each rep's report for a week (`week` = its Monday) is in by Monday 12:00 of the week after."""
    reports: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for r in rows["sales_report"]:
        reports[(r["person_id"], r["week"])].append(ts(r["submitted_at"]))
    found = set()
    for monday, next_monday in periods("week", since):
        deadline = midnight(next_monday) + timedelta(hours=12)
        if deadline >= as_of_end:
            break
        for rep in population(rows, {"sales_person"}, monday, next_monday - timedelta(days=1)):
            submitted = reports[(rep, monday.isoformat())]
            if not any(midnight(monday) <= at <= deadline for at in submitted):
                found.add(("OPS-001", rep, label(monday, "week")))
    return found


def independent_findings(rows: Rows, since: date, as_of: date) -> Found:
    since_start = midnight(since)
    as_of_end = midnight(as_of) + timedelta(days=1)
    reps, leads, seniors = {"sales_person"}, {"sales_manager", "team_leader"}, {"branch_manager", "vp"}
    return (
        check_stall(rows, since_start, as_of_end)
        | check_after_sales(rows, since_start, as_of_end)
        | whole_period_cadence("COA-004", rows, "ride_along", "rep_id", reps, "quarter", since, as_of)
        | whole_period_cadence("MGR-001", rows, "team_meeting", "manager_id", leads, "week", since, as_of)
        | whole_period_cadence("MGR-002", rows, "pipeline_review", "rep_id", reps, "month", since, as_of)
        | whole_period_cadence("MGR-003", rows, "business_review", "manager_id", seniors, "quarter", since, as_of)
        | check_weekly_reports(rows, since, as_of_end)
    )


def truth_of_mine(result: SynthResult) -> Found:
    return {(f["rule_id"], f["subject"], f["occurrence"]) for f in result.truth if f["rule_id"] in MINE}


# ------------------------------------------------------------ tests


@pytest.mark.parametrize("seed", SEEDS)
def test_truth_matches_independent_check(generated, seed: int) -> None:
    result, rows = generated[seed]
    assert sorted(independent_findings(rows, result.since, result.as_of)) == sorted(truth_of_mine(result))


@pytest.mark.parametrize("seed", SEEDS)
def test_every_rule_has_several_findings_at_realistic_rates(generated, seed: int) -> None:
    result, rows = generated[seed]
    truth = truth_of_mine(result)
    counts = {rule: sum(1 for t in truth if t[0] == rule) for rule in MINE}
    assert all(count >= 5 for count in counts.values()), counts
    opportunities = {r["opportunity_id"] for r in rows["opportunity_stage"]}
    assert counts["STG-004"] <= 0.15 * len(opportunities)
    reps = [p for p in rows["person"] if p["role"] == "sales_person"]
    assert counts["OPS-001"] <= 0.1 * 26 * len(reps)  # 26 judged weeks


@pytest.mark.parametrize(
    ("seed", "reps", "months", "start"),
    [(1, 16, 5, date(2026, 1, 1)), (4, 3, 1, date(2025, 12, 1)), (5, 9, 14, date(2025, 11, 1))],
)
def test_other_shapes_match_independent_check(tmp_path: Path, seed: int, reps: int, months: int, start: date) -> None:
    result = generate(tmp_path, seed=seed, reps=reps, months=months, start=start)
    rows = read_rows(result.out_dir)
    assert sorted(independent_findings(rows, result.since, result.as_of)) == sorted(truth_of_mine(result))


@pytest.mark.parametrize("seed", SEEDS)
def test_near_misses_exist(generated, seed: int) -> None:
    result, rows = generated[seed]
    truth = truth_of_mine(result)
    as_of_end = midnight(result.as_of) + timedelta(days=1)
    by_opp: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for r in rows["opportunity_stage"]:
        by_opp[r["opportunity_id"]].append((r["stage"], ts(r["at"])))

    # STG-004: a stage left exactly on day 90; open opportunities whose 90 days are not over.
    def left_on_day_90(stages: list[tuple[str, datetime]]) -> bool:
        times = sorted(t for _, t in stages)
        return any(b - a == timedelta(days=90) for a, b in zip(times, times[1:], strict=False))

    exact = [o for o, stages in by_opp.items() if left_on_day_90(stages)]
    assert exact and not any(("STG-004", o, "") in truth for o in exact)

    def moves_on(stages: list[tuple[str, datetime]]) -> bool:
        times = sorted(t for _, t in stages)
        return all(b - a <= timedelta(days=90) for a, b in zip(times, times[1:], strict=False))

    open_recent = [
        o
        for o, stages in by_opp.items()
        if max(stages, key=lambda s: s[1])[0] not in ("deal", "lost", "after_sales")
        and max(t for _, t in stages) + timedelta(days=90) >= as_of_end
        and moves_on(stages)
    ]
    assert open_recent and not any(("STG-004", o, "") in truth for o in open_recent)

    # STG-005: after-sales contact exactly 30 days after the deal; recent deals without it yet.
    def stage_time(stages: list[tuple[str, datetime]], name: str) -> datetime | None:
        return next((t for s, t in stages if s == name), None)

    on_day_30 = [
        o
        for o, stages in by_opp.items()
        if (deal := stage_time(stages, "deal")) and stage_time(stages, "after_sales") == deal + timedelta(days=30)
    ]
    assert on_day_30 and not any(("STG-005", o, "") in truth for o in on_day_30)
    recent_deals = [
        o
        for o, stages in by_opp.items()
        if (deal := stage_time(stages, "deal"))
        and stage_time(stages, "after_sales") is None
        and deal + timedelta(days=30) >= as_of_end
    ]
    assert recent_deals and not any(("STG-005", o, "") in truth for o in recent_deals)

    # OPS-001: reports at exactly Monday 12:00 of the following week are on time.
    at_noon = [
        r
        for r in rows["sales_report"]
        if ts(r["submitted_at"]) == midnight(date.fromisoformat(r["week"])) + timedelta(days=7, hours=12)
    ]
    assert at_noon
    assert not any(("OPS-001", r["person_id"], label(date.fromisoformat(r["week"]), "week")) in truth for r in at_noon)

    # MGR-001: meetings moved from Monday to later in the same week count.
    leads = {p["id"] for p in rows["person"] if p["role"] in ("sales_manager", "team_leader")}
    moved = [r for r in rows["team_meeting"] if r["manager_id"] in leads and ts(r["at"]).weekday() > 0]
    assert moved
    assert not any(("MGR-001", r["manager_id"], label(ts(r["at"]).date(), "week")) in truth for r in moved)

    # COA-004: reps without a ride-along in a quarter they joined part-way; a quarter's only visit on its last day.
    visits: dict[str, list[date]] = defaultdict(list)
    for r in rows["ride_along"]:
        visits[r["rep_id"]].append(ts(r["at"]).date())
    joined = {p["id"]: date.fromisoformat(p["joined_on"]) for p in rows["person"] if p["role"] == "sales_person"}
    unvisited_joiners = [
        (rep, quarter)
        for rep, day in joined.items()
        if day > (quarter := date(day.year, (day.month - 1) // 3 * 3 + 1, 1)) >= result.since
        and not any(quarter <= visit < next_period(quarter, "quarter") for visit in visits[rep])
    ]
    assert unvisited_joiners
    assert not any(("COA-004", rep, label(quarter, "quarter")) in truth for rep, quarter in unvisited_joiners)
    quarters = []
    for first, after in periods("quarter", result.since):
        if after - timedelta(days=1) > result.as_of:
            break
        quarters.append((first, after))
    last_day_only = [
        (rep, first)
        for rep, days in visits.items()
        for first, after in quarters
        if (inside := [d for d in days if first <= d < after]) and all(after - d <= timedelta(days=3) for d in inside)
    ]
    assert last_day_only

    # MGR-002: reps without a review in a month they joined part-way.
    reviews: dict[str, list[date]] = defaultdict(list)
    for r in rows["pipeline_review"]:
        reviews[r["rep_id"]].append(ts(r["at"]).date())
    unreviewed_joiners = [
        (rep, day.replace(day=1))
        for rep, day in joined.items()
        if day.day > 1 and day >= result.since and not any(d.replace(day=1) == day.replace(day=1) for d in reviews[rep])
    ]
    assert unreviewed_joiners
    assert not any(("MGR-002", rep, label(month, "month")) in truth for rep, month in unreviewed_joiners)

"""Manager cadence and operational reporting: pipeline reviews (MGR-002), team meetings (MGR-001),
business reviews (MGR-003) and weekly sales reports (OPS-001)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from auditor.synth.coaching import complete_quarters, last_workday
from auditor.synth.context import Context, add_months, next_workday, quarter_label, quarter_start
from auditor.synth.org import Org

COVERED: tuple[str, ...] = ("MGR-001", "MGR-002", "MGR-003", "OPS-001")
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""

MISSED = "missed"  # no fact in a period the member is judged for: a finding
AT_PERIOD_END = "at_period_end"  # near-miss: the period's only fact late in it (its last workday for months)
MOVED = "moved"  # near-miss: the weekly meeting moved to another day of the same week
REPORT_DUE = timedelta(hours=180)  # OPS-001: Monday 00:00 + 180 hours = Monday 12:00 of the following week
REPORT_MISSING = "report_missing"
REPORT_LATE = "report_late"  # after Monday 12:00 of the following week
REPORT_AT_NOON = "report_at_noon"  # near-miss: exactly Monday 12:00 is on time
REPORT_MONDAY = "report_monday"  # Monday morning of the following week: on time


def week_label(monday: date) -> str:
    """'2026-W09': the ISO week of a Monday."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def first_monday(ctx: Context) -> date:
    """The first Monday on or after the since day (the first week the cadence rules judge)."""
    return ctx.since + timedelta(days=(7 - ctx.since.weekday()) % 7)


def mondays_in_window(ctx: Context) -> list[date]:
    """Every Monday from the first judged week up to the as-of day."""
    first = first_monday(ctx)
    return [first + timedelta(days=7 * i) for i in range((ctx.as_of - first).days // 7 + 1)]


def pipeline_reviews(ctx: Context, org: Org) -> None:
    """One or two pipeline reviews per rep and month, some months skipped (MGR-002).

    Near-misses: a month whose only review is on its last workday, and reps
    without a review in a month they joined or left part-way.
    """
    rng = ctx.rng
    items = [
        (rep.id, month)
        for rep in org.reps
        for month in ctx.months
        if rep.judged_in(month, add_months(month, 1) - timedelta(days=1))
    ]
    cases = dict(zip(items, ctx.pick_counts(len(items), {MISSED: 0.08, AT_PERIOD_END: 0.03}), strict=True))
    for rep in org.reps:
        assert rep.manager_id is not None
        for month in [*ctx.months, ctx.data_end]:
            last = add_months(month, 1) - timedelta(days=1)
            case = cases.get((rep.id, month))
            if case == MISSED:
                ctx.truth.add("MGR-002", rep.id, month.strftime("%Y-%m"))
                continue
            if case == AT_PERIOD_END:
                days = [last_workday(last)]
            else:
                if case is None and rng.random() < 0.4:
                    continue  # not judged this month (joined, left or the month is not over): often skipped
                first = next_workday(month + timedelta(days=rng.randint(0, 12)))
                days = [first] + ([first + timedelta(days=14)] if rng.random() < 0.6 else [])
            for day in days:
                if rep.active_on(day) and day <= min(last, ctx.as_of):
                    ctx.emit(
                        "pipeline_review",
                        id=ctx.next_id("PR"),
                        manager_id=rep.manager_id,
                        rep_id=rep.id,
                        at=ctx.clock(day, 9, 16),
                    )


def team_meetings(ctx: Context, org: Org) -> None:
    """Weekly Monday team meetings of each team lead, some weeks missed (MGR-001); monthly ones of branch managers.

    Near-misses: meetings moved to later in the same week, and missed
    meetings in the week of the as-of day (not over, so not judged).
    """
    rng = ctx.rng
    mondays = mondays_in_window(ctx)
    items = [
        (lead.id, monday)
        for monday in mondays
        for lead in org.team_leads
        if monday + timedelta(days=6) <= ctx.as_of and lead.judged_in(monday, monday + timedelta(days=6))
    ]
    cases = dict(zip(items, ctx.pick_counts(len(items), {MISSED: 0.06, MOVED: 0.05}), strict=True))
    for monday in mondays:
        for lead in org.team_leads:
            case = cases.get((lead.id, monday))
            if case == MISSED:
                ctx.truth.add("MGR-001", lead.id, week_label(monday))
                continue
            if case is None and rng.random() < 0.08:
                continue
            if case == MOVED:
                day = monday + timedelta(days=rng.randint(1, 4))
                at = datetime.combine(day, time(rng.choice((9, 14, 16)), 0))
            else:
                at = datetime.combine(monday, time(9, rng.choice((0, 0, 30))))
            if not lead.active_on(at.date()) or at >= ctx.as_of_end:
                continue
            team = len([r for r in org.team_of(lead.id) if r.active_on(at.date())])
            ctx.emit(
                "team_meeting",
                id=ctx.next_id("TM"),
                manager_id=lead.id,
                at=at,
                attendees=max(0, team - rng.choice((0, 0, 0, 1, 2))),
            )
    for bm in org.by_role("branch_manager"):
        for month in ctx.months:
            day = next_workday(month + timedelta(days=rng.randint(1, 6)))
            ctx.emit(
                "team_meeting",
                id=ctx.next_id("TM"),
                manager_id=bm.id,
                at=ctx.clock(day, 10, 15),
                attendees=len(org.team_of(bm.id)),
            )


def business_reviews(ctx: Context, org: Org) -> None:
    """A business review per branch manager and VP early in each quarter, some quarters missed (MGR-003).

    Few managers and few whole quarters in the window: the share missed is
    high so that every seed has several. Near-misses: reviews held late in
    the quarter, and missed reviews of the quarter not yet over.
    """
    rng = ctx.rng
    managers = org.by_role("branch_manager", "vp")
    items = [(m.id, first) for first, last in complete_quarters(ctx) for m in managers if m.judged_in(first, last)]
    cases = dict(zip(items, ctx.pick_counts(len(items), {MISSED: 0.36, AT_PERIOD_END: 0.1}), strict=True))
    quarter = quarter_start(ctx.since)
    if quarter < ctx.since:
        quarter = add_months(quarter, 3)
    while quarter <= ctx.as_of:
        for manager in managers:
            case = cases.get((manager.id, quarter))
            if case == MISSED:
                ctx.truth.add("MGR-003", manager.id, quarter_label(quarter))
                continue
            if case is None and rng.random() < 0.1:
                continue
            offset = rng.randint(60, 80) if case == AT_PERIOD_END else rng.randint(4, 18)
            day = next_workday(max(quarter, manager.joined_on) + timedelta(days=offset))
            if manager.active_on(day) and day <= ctx.as_of and day < add_months(quarter, 3):
                ctx.emit("business_review", id=ctx.next_id("BR", 4), manager_id=manager.id, at=ctx.clock(day, 9, 15))
        quarter = add_months(quarter, 3)


def sales_reports(ctx: Context, org: Org) -> None:
    """Weekly reports per rep, due Monday 12:00 for the week before (OPS-001).

    Mostly on Friday afternoon, some on Monday morning, a few late or missing.
    Near-misses: reports at exactly Monday 12:00, reps joining or leaving
    part-way through a week without a report for it, and the last week whose
    deadline is still ahead.
    """
    rng = ctx.rng
    mondays = mondays_in_window(ctx)
    items = [
        (rep.id, monday)
        for monday in mondays
        for rep in org.reps
        if datetime.combine(monday, time()) + REPORT_DUE < ctx.as_of_end
        and rep.judged_in(monday, monday + timedelta(days=6))
    ]
    shares = {REPORT_MISSING: 0.03, REPORT_LATE: 0.04, REPORT_AT_NOON: 0.02, REPORT_MONDAY: 0.12}
    cases = dict(zip(items, ctx.pick_counts(len(items), shares), strict=True))
    for monday in mondays:
        friday = monday + timedelta(days=4)
        next_monday = monday + timedelta(days=7)
        deadline = datetime.combine(monday, time()) + REPORT_DUE
        for rep in org.reps:
            case = cases.get((rep.id, monday))
            if case is None and not rep.judged_in(monday, friday):
                continue  # not working the whole week: no report
            if case in (REPORT_MISSING, REPORT_LATE):
                ctx.truth.add("OPS-001", rep.id, week_label(monday))
            if case == REPORT_MISSING:
                continue
            if case == REPORT_LATE:  # Monday afternoon or later in the week
                if rng.random() < 0.4:
                    at = deadline + timedelta(hours=rng.randint(1, 5), minutes=rng.choice((0, 20, 40)))
                else:
                    at = ctx.clock(next_monday + timedelta(days=rng.randint(1, 3)))
            elif case == REPORT_AT_NOON:
                at = deadline
            elif case == REPORT_MONDAY:
                at = datetime.combine(next_monday, time(rng.randint(8, 10), rng.choice((0, 15, 30, 45))))
            else:
                at = datetime.combine(friday, time(rng.randint(14, 18), rng.randint(0, 59)))
            if at < ctx.as_of_end:
                ctx.emit("sales_report", id=ctx.next_id("SR"), person_id=rep.id, week=monday, submitted_at=at)

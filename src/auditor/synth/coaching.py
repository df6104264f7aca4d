"""Sales management: coaching (COA-001, COA-002) and ride-alongs (COA-003, COA-004)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from auditor.synth.context import Context, add_months, add_workdays, next_workday, quarter_label, quarter_start
from auditor.synth.org import LEAVES_LAST, Member, Org

COVERED: tuple[str, ...] = ("COA-001", "COA-002", "COA-003", "COA-004")
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""

SKIPPED = "skipped"  # no session in the month: a finding
AT_MONTH_START = "at_month_start"  # near-miss: only session on the 1st at 00:00
AT_MONTH_END = "at_month_end"  # near-miss: only session on the last day at 23:59


def coaching(ctx: Context, org: Org) -> None:
    """Emit coaching sessions for every judged rep-month, skipping some (COA-001).

    The partial month after the last whole month gets no sessions at all, and
    months in which a rep joins or leaves part-way get none either.
    """
    rng = ctx.rng
    items = [
        (rep, month)
        for rep in org.reps
        for month in ctx.months
        if rep.judged_in(month, add_months(month, 1) - timedelta(days=1))
    ]
    # The rep leaving on a month's last day is still judged that month: leave it uncoached.
    forced = [
        (rep, month)
        for rep, month in items
        if rep.lifecycle == LEAVES_LAST and rep.left_on == add_months(month, 1) - timedelta(days=1)
    ]
    items = [item for item in items if item not in forced]
    cases = ctx.pick_counts(len(items), {SKIPPED: 0.19, AT_MONTH_START: 0.03, AT_MONTH_END: 0.03})
    for (rep, month), case in zip(forced + items, [SKIPPED] * len(forced) + cases, strict=True):
        month_end = add_months(month, 1)
        last_day = month_end - timedelta(days=1)
        assert rep.manager_id is not None
        if case == SKIPPED:
            ctx.truth.add("COA-001", rep.id, month.strftime("%Y-%m"))
            continue
        if case == AT_MONTH_START:
            moments = [datetime.combine(month, time())]
        elif case == AT_MONTH_END:
            moments = [datetime.combine(last_day, time(23, 59))]
        else:
            days = sorted(rng.sample(range(28), rng.choice((1, 1, 2, 2, 3))))
            moments = [ctx.clock(next_workday(month + timedelta(days=d)), 8, 16) for d in days]
            moments = [m for m in moments if m < datetime.combine(month_end, time())]
            if not moments:
                moments = [ctx.clock(month + timedelta(days=3))]
        for at in sorted(set(moments)):
            _session(ctx, rep.manager_id, rep.id, at, rng.random() < 0.85)
    _coach_the_coaches(ctx, org)


def _session(ctx: Context, manager_id: str, rep_id: str, at: datetime, plan_documented: bool) -> None:
    """Emit one coaching session; one without a documented plan is a COA-002 deviation."""
    session_id = ctx.next_id("CS")
    ctx.emit(
        "coaching_session", id=session_id, manager_id=manager_id, rep_id=rep_id, at=at, plan_documented=plan_documented
    )
    if not plan_documented:
        ctx.truth.add("COA-002", session_id)


def _coach_the_coaches(ctx: Context, org: Org) -> None:
    """Branch managers coach their team leads now and then (irrelevant to COA-001)."""
    rng = ctx.rng
    for lead in org.team_leads:
        assert lead.manager_id is not None
        for month in ctx.months:
            if rng.random() < 0.4:
                continue
            at = ctx.clock(next_workday(month + timedelta(days=rng.randint(0, 25))))
            _session(ctx, lead.manager_id, lead.id, at, rng.random() < 0.7)


REPORT_LIMIT = timedelta(hours=48)
NO_RIDE_ALONG = "no_ride_along"  # COA-004: no field visit in a quarter the rep is judged for
LAST_WORKDAY_ONLY = "last_workday_only"  # near-miss: the quarter's only visit on its last workday


def complete_quarters(ctx: Context) -> list[tuple[date, date]]:
    """(first day, last day) of the quarters that lie wholly inside [since, as_of]."""
    quarters = []
    quarter = quarter_start(ctx.since)
    if quarter < ctx.since:
        quarter = add_months(quarter, 3)
    while add_months(quarter, 3) - timedelta(days=1) <= ctx.as_of:
        quarters.append((quarter, add_months(quarter, 3) - timedelta(days=1)))
        quarter = add_months(quarter, 3)
    return quarters


def ride_alongs(ctx: Context, org: Org) -> None:
    """Monthly-ish field visits; the report follows within 48 hours, sometimes late or missing (COA-003).

    Every rep judged for a whole quarter gets at least one visit in it, except
    the injected quarters without any (COA-004). Near-misses: reports filed
    exactly 48 hours after the visit, missing reports whose 48 hours have not
    yet run out at the end of the as-of day, a quarter's only visit on its last
    workday, and reps without a visit in a quarter they joined or left part-way.
    """
    rng = ctx.rng
    quarters = complete_quarters(ctx)
    items = [(rep.id, q) for rep in org.reps for q in quarters if rep.judged_in(*q)]
    cases = dict(zip(items, ctx.pick_counts(len(items), {NO_RIDE_ALONG: 0.18, LAST_WORKDAY_ONLY: 0.05}), strict=True))
    for rep in org.reps:
        days = []
        for month in [*ctx.months, ctx.data_end]:
            if rng.random() < 0.25:
                continue
            days.append(next_workday(month + timedelta(days=rng.randint(0, 27))))
        for q in quarters:
            case = cases.get((rep.id, q))
            inside = [d for d in days if q[0] <= d <= q[1]]
            if case is None:
                if inside and not rep.judged_in(*q) and rng.random() < 0.3:
                    days = [d for d in days if d not in inside]  # near-miss: not judged for this quarter
                continue
            if case == NO_RIDE_ALONG:
                ctx.truth.add("COA-004", rep.id, quarter_label(q[0]))
            days = [d for d in days if d not in inside]
            if case == LAST_WORKDAY_ONLY:
                days.append(last_workday(q[1]))
            elif case != NO_RIDE_ALONG:
                days.extend(inside or [next_workday(add_months(q[0], 2) + timedelta(days=rng.randint(0, 25)))])
        for day in sorted(days):
            if rep.active_on(day) and day <= ctx.as_of:
                _ride_along(ctx, rep, day)


def last_workday(day: date) -> date:
    """`day` itself when it is a workday, else the workday before it."""
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _ride_along(ctx: Context, rep: Member, day: date) -> None:
    """Emit one field visit on `day`; its report is on time, exactly on the limit, late or missing (COA-003)."""
    rng = ctx.rng
    assert rep.manager_id is not None
    at = ctx.clock(day, 9, 14)
    roll = rng.random()
    filed: datetime | None
    if roll < 0.06:
        filed = None
    elif roll < 0.16:
        filed = ctx.clock(add_workdays(day, rng.randint(5, 10)))
    elif roll < 0.20:
        filed = at + REPORT_LIMIT  # near-miss: exactly on the limit is on time
    else:
        filed = at + timedelta(hours=rng.randint(2, 47))
    if filed is not None and filed >= ctx.as_of_end:
        filed = None
    visit_id = ctx.next_id("RA", 4)
    ctx.emit("ride_along", id=visit_id, manager_id=rep.manager_id, rep_id=rep.id, at=at, report_filed_at=filed)
    overdue = filed is None and at + REPORT_LIMIT < ctx.as_of_end
    if overdue or (filed is not None and filed > at + REPORT_LIMIT):
        ctx.truth.add("COA-003", visit_id)

"""Planning: objectives (PRF-001), critical success factors (GOL-001, GOL-002) and business plans (PLN-001 to PLN-003).

The duties with a deadline inside a period are judged like the cadence
rules judge them: every period that starts on or after `since` and whose
deadline (period start + due) lies before the end of the as-of day, for
every member active from the period start through the deadline. Each judged
(member, period) gets a case: clean, a deviation (missing, or done after the
deadline) or a near-miss (done on the deadline day, or ahead of the period
within the rule's lead).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from auditor.synth.context import Context, add_months, day_start, next_workday, quarter_label, quarter_start
from auditor.synth.org import Member, Org

COVERED: tuple[str, ...] = ("GOL-001", "GOL-002", "PLN-001", "PLN-002", "PLN-003", "PRF-001")
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""

CSF_TITLES = (
    ("Grow new-customer revenue", "new revenue vs target, %"),
    ("Raise proposal win rate", "deals / proposals, %"),
    ("Shorten sales cycle", "median days contact to deal"),
    ("Improve pipeline coverage", "pipeline / quarterly target"),
    ("Increase key-account retention", "renewal rate, %"),
    ("Lift activity levels", "customer meetings per rep per week"),
)
STRATEGIC_ACCOUNTS = (
    "Aurora Health Trust", "Britannia Rail Services", "Castlegate Retail plc", "Dunmore Water Authority",
    "Elmwood University Hospitals", "Fairhaven Council", "Greystone Insurance Group", "Highmoor Logistics plc",
    "Ironbridge Utilities", "Jubilee Airports Ltd", "Kingsway Pharma Holdings", "Lakeland Building Society",
    "Marlow Defence Systems", "Northgate Telecom plc", "Oakridge Energy Group", "Portland Food Markets",
)  # fmt: skip

# Params of the rules (their defaults in rules/*.yml).
OBJECTIVES_DUE, OBJECTIVES_LEAD = 45, 61  # PRF-001
CSF_DUE, CSF_LEAD = 30, 45  # GOL-001
TERRITORY_DUE, CUSTOMER_DUE, PLAN_LEAD = 31, 60, 61  # PLN-001, PLN-002
REVIEW_DUE, REVIEW_LEAD = 30, 15  # PLN-003

# Cases of one judged (member, period).
CLEAN = "clean"
MISSING = "missing"  # nothing for the period: a finding
LATE = "late"  # done after the deadline (or never, when that is past the as-of day or the person's leaving): a finding
ON_DEADLINE = "on_deadline"  # near-miss: on the deadline day (instants: its last minutes or exactly the deadline)
AHEAD = "ahead"  # near-miss: before the period starts, within the lead
DEVIATIONS = frozenset({MISSING, LATE})
MIN_DEVIATIONS = 5
"""Deviations per rule at least (when the rule judges twice as many items)."""


def years_in_window(ctx: Context) -> list[int]:
    """Calendar years touched by the window."""
    return list(range(ctx.since.year, ctx.as_of.year + 1))


def quarters_started(ctx: Context) -> list[date]:
    """First days of the quarters that start within [since, as_of]."""
    quarter = quarter_start(ctx.since)
    if quarter < ctx.since:
        quarter = add_months(quarter, 3)
    quarters = []
    while quarter <= ctx.as_of:
        quarters.append(quarter)
        quarter = add_months(quarter, 3)
    return quarters


def _last_day(ctx: Context, person: Member) -> date:
    return min(ctx.as_of, person.left_on) if person.left_on else ctx.as_of


def due_day(ctx: Context, base: date, person: Member, late: float = 0.1) -> date | None:
    """A workday shortly after `base` (sometimes weeks late); None when outside the person's time."""
    rng = ctx.rng
    offset = rng.randint(25, 55) if rng.random() < late else rng.randint(1, 15)
    day = next_workday(max(base, person.joined_on) + timedelta(days=offset))
    return day if day <= _last_day(ctx, person) else None


# ------------------------------------------------------------------ judged periods and cases


@dataclass(frozen=True)
class DuePeriod:
    """A period judged by a cadence with a deadline: facts count from `count_from` to `deadline` inclusive."""

    label: str
    start: date
    end: date
    count_from: datetime
    deadline: datetime
    active_last: date

    @property
    def year(self) -> int:
        return self.start.year

    def judges(self, member: Member) -> bool:
        """Is the member active from the period start through the deadline (or the period's last day)?"""
        return member.judged_in(self.start, self.active_last)


def due_periods(ctx: Context, every: str, due_days: int, lead_days: int = 0) -> list[DuePeriod]:
    """The quarters or years starting on or after `since` whose deadline passed before the end of the as-of day."""
    months = 3 if every == "quarter" else 12
    start = quarter_start(ctx.since) if every == "quarter" else date(ctx.since.year, 1, 1)
    if start < ctx.since:
        start = add_months(start, months)
    periods = []
    while (deadline := day_start(start) + timedelta(days=due_days)) < ctx.as_of_end:
        end = add_months(start, months)
        label = quarter_label(start) if every == "quarter" else str(start.year)
        active_last = min(end - timedelta(days=1), (deadline - timedelta(seconds=1)).date())
        periods.append(
            DuePeriod(label, start, end, day_start(start) - timedelta(days=lead_days), deadline, active_last)
        )
        start = end
    return periods


def pending_periods(ctx: Context, every: str, due_days: int) -> list[tuple[str, date]]:
    """(label, start) of the periods starting in the window whose deadline has not passed yet (not judged)."""
    judged = {p.start for p in due_periods(ctx, every, due_days)}
    starts = quarters_started(ctx) if every == "quarter" else [date(y, 1, 1) for y in years_in_window(ctx)]
    return [
        (quarter_label(s) if every == "quarter" else str(s.year), s)
        for s in starts
        if s >= ctx.since and s not in judged
    ]


def deal_cases(
    ctx: Context, total: int, share: float, near: Sequence[str] = (ON_DEADLINE, AHEAD), near_share: float = 0.06
) -> list[str]:
    """A shuffled case per judged item: about `share` deviations (missing and late alternately, at least
    MIN_DEVIATIONS when the items are twice as many), each near-miss about `near_share` (at least one when
    there is room), the rest clean."""
    wanted = max(round(total * share), min(MIN_DEVIATIONS, total // 2))
    labels = [(MISSING, LATE)[i % 2] for i in range(wanted)]
    for label in near:
        labels.extend([label] * max(1, round(total * near_share)))
    labels = labels[:total]
    labels.extend([CLEAN] * (total - len(labels)))
    ctx.rng.shuffle(labels)
    return labels


def case_moment(ctx: Context, period: DuePeriod, case: str, first: date, last: date) -> datetime | None:
    """When the duty of one judged (member, period) is done; None when it is not.

    `first` and `last` bound the days the member can act (joined or became a customer; left or the as-of
    day). Clean: a workday from three days before the start to well before the deadline; late: 1-45 days
    after the deadline day; on the deadline: exactly at it or in the last hours before it.
    """
    rng = ctx.rng
    deadline_day = period.deadline.date()
    if case == MISSING:
        return None
    if case == ON_DEADLINE:
        moment = period.deadline - timedelta(minutes=rng.choice((0, 0, rng.randint(1, 240))))
    else:
        if case == AHEAD:
            lo = max(period.count_from.date(), first)
            day = ctx.workday_between(lo, max(lo, period.start - timedelta(days=2)))
        elif case == LATE:
            day = next_workday(deadline_day + timedelta(days=rng.randint(1, 45)))
        else:
            lo = max(period.start - timedelta(days=3), period.count_from.date(), first)
            day = ctx.workday_between(lo, max(lo, deadline_day - timedelta(days=max(2, (deadline_day - lo).days // 3))))
        moment = ctx.clock(day)
    return moment if first <= moment.date() <= last else None


def as_day(moment: datetime, period: DuePeriod, case: str) -> datetime:
    """A moment as a day (midnight); on the deadline means the deadline's own day, which still counts."""
    return period.deadline if case == ON_DEADLINE else day_start(moment.date())


def record_case(
    ctx: Context, rule_id: str, subject: str, period: DuePeriod, case: str, moment: datetime | None
) -> None:
    """Record a finding unless the duty was done between the period's count-from moment and its deadline."""
    if moment is not None and period.count_from <= moment <= period.deadline:
        if case in DEVIATIONS:
            raise RuntimeError(f"{rule_id} {subject} {period.label}: a {case} case is on time")
        return
    ctx.truth.add(rule_id, subject, period.label)


def run_cadence(
    ctx: Context,
    rule_id: str,
    periods: list[DuePeriod],
    members: Callable[[DuePeriod], list[Any]],
    share: float,
    act: Callable[[DuePeriod, Any, str], tuple[str, datetime | None]],
    near: Sequence[str] = (ON_DEADLINE, AHEAD),
) -> None:
    """Deal cases over every judged (period, member) of a rule, let `act` emit the fact, record the deviations.

    A near-miss dealt to a person who leaves before the deadline swaps with a clean case of one who stays,
    so that it is realised.
    """
    items = [(period, member) for period in periods for member in members(period)]
    cases = deal_cases(ctx, len(items), share, near)

    def stays(index: int) -> bool:
        period, member = items[index]
        return not isinstance(member, Member) or member.active_on(period.deadline.date())

    for index, case in enumerate(cases):
        if case in near and not stays(index):
            swap = next((j for j, c in enumerate(cases) if c == CLEAN and stays(j)), None)
            if swap is not None:
                cases[index], cases[swap] = cases[swap], cases[index]
    for (period, member), case in zip(items, cases, strict=True):
        subject, moment = act(period, member, case)
        record_case(ctx, rule_id, subject, period, case, moment)


def _bounds(ctx: Context, person: Member) -> tuple[date, date]:
    return person.joined_on, _last_day(ctx, person)


# ------------------------------------------------------------------ objectives (PRF-001)


def objectives(ctx: Context, org: Org) -> None:
    """Yearly objectives per employee, set by 15 February (some late or missing), or soon after joining."""
    staff = [m for m in org.members if m.role != "partner"]
    periods = due_periods(ctx, "year", OBJECTIVES_DUE, OBJECTIVES_LEAD)

    def judged(period: DuePeriod) -> list[Member]:
        return [m for m in staff if m.role != "director" and period.judges(m)]

    def act(period: DuePeriod, person: Member, case: str) -> tuple[str, datetime | None]:
        moment = case_moment(ctx, period, case, *_bounds(ctx, person))
        if moment is not None:
            moment = as_day(moment, period, case)  # set_on is a day
            _objective(ctx, person, period.year, moment.date())
        return person.id, moment

    run_cadence(ctx, "PRF-001", periods, judged, 0.1, act)
    for period in periods:  # the director (set by the board) and people not judged that year
        for person in staff:
            if person.role == "director" or not period.judges(person):
                day = due_day(ctx, max(period.start, person.joined_on), person, late=0)
                if day is not None:
                    _objective(ctx, person, period.year, day)
    for label, start in pending_periods(ctx, "year", OBJECTIVES_DUE):
        for person in staff:
            day = due_day(ctx, start, person, late=0)
            if day is not None:
                _objective(ctx, person, int(label), day)


def _objective(ctx: Context, person: Member, year: int, day: date) -> None:
    ctx.emit("objective", id=ctx.next_id("OB", 4), person_id=person.id, year=year, set_on=day)


# ------------------------------------------------------------------ critical success factors (GOL-001, GOL-002)


def csfs(ctx: Context, org: Org) -> None:
    """Two or three CSFs per team and quarter, due 30 days into the quarter; some teams late or without.

    About 8% of the CSFs defined in the window lack a measure (GOL-002); near-misses: CSFs without a
    measure defined before the window (for the quarter before it, or ahead of the first quarter).
    """
    rng = ctx.rng
    managers = org.by_role("branch_manager", "sales_manager", "team_leader")
    periods = due_periods(ctx, "quarter", CSF_DUE, CSF_LEAD)
    rows: list[dict[str, Any]] = []

    def add_set(manager: Member, label: str, day: date) -> None:
        for title, measure in rng.sample(CSF_TITLES, rng.randint(2, 3)):
            rows.append({"team_id": manager.id, "period": label, "title": title, "measure": measure, "defined_on": day})

    def judged(period: DuePeriod) -> list[Member]:
        return [m for m in managers if period.judges(m)]

    def act(period: DuePeriod, manager: Member, case: str) -> tuple[str, datetime | None]:
        moment = case_moment(ctx, period, case, *_bounds(ctx, manager))
        if moment is not None:
            moment = as_day(moment, period, case)  # defined_on is a day
            add_set(manager, period.label, moment.date())
        return manager.id, moment

    run_cadence(ctx, "GOL-001", periods, judged, 0.12, act)
    starts = quarters_started(ctx)
    before_window = add_months(starts[0] if starts else quarter_start(ctx.since), -3)
    history = [(quarter_label(before_window), before_window)]  # the team's CSFs of the quarter before the window
    for label, start in history + pending_periods(ctx, "quarter", CSF_DUE):
        for manager in managers:
            day = ctx.workday_between(start - timedelta(days=10), start + timedelta(days=20))
            if manager.joined_on <= day <= _last_day(ctx, manager):
                add_set(manager, label, day)
    inside = [row for row in rows if row["defined_on"] >= ctx.since]
    before = [row for row in rows if row["defined_on"] < ctx.since]
    count = max(round(len(inside) * 0.08), min(MIN_DEVIATIONS, len(inside) // 4))
    unmeasured = rng.sample(inside, count) + rng.sample(before, min(2, len(before)))
    for row in unmeasured:
        row["measure"] = None
    for row in sorted(rows, key=lambda r: (r["defined_on"], r["team_id"], r["title"])):
        csf_id = ctx.next_id("CSF", 4)
        ctx.emit("csf", id=csf_id, **row)
        if row["measure"] is None and row["defined_on"] >= ctx.since:
            ctx.truth.add("GOL-002", csf_id)


# ------------------------------------------------------------------ business plans (PLN-001 to PLN-003)


def strategic_accounts(ctx: Context, org: Org) -> None:
    """Two or three strategic key accounts per branch manager, customers for years (PLN-002's population)."""
    rng = ctx.rng
    names = iter(rng.sample(STRATEGIC_ACCOUNTS, len(STRATEGIC_ACCOUNTS)))
    for bm in org.by_role("branch_manager"):
        for _ in range(rng.randint(2, 3)):
            name = next(names, None)
            if name is None:
                return
            since = date(rng.randint(2012, 2022), rng.randint(1, 12), 1) + timedelta(days=rng.randint(0, 27))
            ctx.emit("account", id=ctx.next_id("AC", 4), name=name, owner_id=bm.id, key_account=True, since=since)


def business_plans(ctx: Context, org: Org) -> None:
    """Territory plans per rep and year, customer plans per key account, quarterly reviews per first-line manager."""
    strategic_accounts(ctx, org)
    _territory_plans(ctx, org)
    _customer_plans(ctx, org)
    _quarterly_reviews(ctx, org)


def _territory_plans(ctx: Context, org: Org) -> None:
    """PLN-001: due 31 January; joiners write theirs in their first weeks (not judged that year)."""
    periods = due_periods(ctx, "year", TERRITORY_DUE, PLAN_LEAD)

    def judged(period: DuePeriod) -> list[Member]:
        return [rep for rep in org.reps if period.judges(rep)]

    def act(period: DuePeriod, rep: Member, case: str) -> tuple[str, datetime | None]:
        moment = case_moment(ctx, period, case, *_bounds(ctx, rep))
        if moment is not None:
            _plan(ctx, "territory", rep.id, period.label, moment)
        return rep.id, moment

    run_cadence(ctx, "PLN-001", periods, judged, 0.25, act)
    for period in periods:
        for rep in org.reps:
            if not period.judges(rep) and period.start <= rep.joined_on < period.end:
                day = due_day(ctx, rep.joined_on, rep, late=0)
                if day is not None:
                    _plan(ctx, "territory", rep.id, period.label, ctx.clock(day))


def _customer_plans(ctx: Context, org: Org) -> None:
    """PLN-002: due 60 days into the year for key accounts that were customers on 1 January."""
    periods = due_periods(ctx, "year", CUSTOMER_DUE, PLAN_LEAD)
    keys = [a for a in ctx.rows.get("account", []) if a["key_account"]]
    people = {m.id: m for m in org.members}

    def writer(account: dict[str, Any], day: date) -> str:
        owner = people[account["owner_id"]]
        return owner.id if owner.active_on(day) or owner.manager_id is None else owner.manager_id

    def judged(period: DuePeriod) -> list[dict[str, Any]]:
        return [a for a in keys if a["since"] <= period.start]

    def act(period: DuePeriod, account: dict[str, Any], case: str) -> tuple[str, datetime | None]:
        moment = case_moment(ctx, period, case, account["since"], ctx.as_of)
        if moment is not None:
            _plan(ctx, "customer", writer(account, moment.date()), period.label, moment, account["id"])
        return account["id"], moment

    run_cadence(ctx, "PLN-002", periods, judged, 0.22, act)
    for period in periods:  # accounts won during the year get a plan within weeks (not judged that year)
        for account in keys:
            if period.start < account["since"] < period.end:
                day = next_workday(account["since"] + timedelta(days=ctx.rng.randint(5, 30)))
                if day <= ctx.as_of:
                    _plan(ctx, "customer", writer(account, day), period.label, ctx.clock(day), account["id"])


def _quarterly_reviews(ctx: Context, org: Org) -> None:
    """PLN-003: each first-line manager reviews the team's plan within 30 days of the quarter's start."""
    periods = due_periods(ctx, "quarter", REVIEW_DUE, REVIEW_LEAD)

    def judged(period: DuePeriod) -> list[Member]:
        return [lead for lead in org.team_leads if period.judges(lead)]

    def act(period: DuePeriod, lead: Member, case: str) -> tuple[str, datetime | None]:
        moment = case_moment(ctx, period, case, *_bounds(ctx, lead))
        if moment is not None:
            _plan(ctx, "quarterly_review", lead.id, period.label, moment)
        return lead.id, moment

    run_cadence(ctx, "PLN-003", periods, judged, 0.2, act)
    for label, start in pending_periods(ctx, "quarter", REVIEW_DUE):
        for lead in org.team_leads:
            day = ctx.workday_between(start, start + timedelta(days=15))
            if lead.joined_on <= day <= _last_day(ctx, lead):
                _plan(ctx, "quarterly_review", lead.id, label, ctx.clock(day))


def _plan(ctx: Context, plan_type: str, owner: str, period: str, at: datetime, account: str | None = None) -> None:
    ctx.emit(
        "business_plan",
        id=ctx.next_id("BP", 4),
        plan_type=plan_type,
        owner_id=owner,
        account_id=account,
        period=period,
        submitted_at=at,
    )

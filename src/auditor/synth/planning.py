"""Planning: objectives, critical success factors, business plans and business reviews."""

from __future__ import annotations

from datetime import date, timedelta

from auditor.synth.context import Context, add_months, next_workday, quarter_label, quarter_start
from auditor.synth.org import Member, Org

COVERED: tuple[str, ...] = ()
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""

CSF_TITLES = (
    ("Grow new-customer revenue", "new revenue vs target, %"),
    ("Raise proposal win rate", "deals / proposals, %"),
    ("Shorten sales cycle", "median days contact to deal"),
    ("Improve pipeline coverage", "pipeline / quarterly target"),
    ("Increase key-account retention", "renewal rate, %"),
    ("Lift activity levels", "customer meetings per rep per week"),
)


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


def objectives(ctx: Context, org: Org) -> None:
    """Yearly objectives per employee, set early in the year (or soon after joining)."""
    staff = [m for m in org.members if m.role != "partner"]
    for year in years_in_window(ctx):
        base = max(date(year, 1, 1), ctx.since)
        for person in staff:
            if person.left_on is not None and person.left_on < base:
                continue
            day = due_day(ctx, base, person)
            if day is not None and day.year == year:
                ctx.emit("objective", id=ctx.next_id("OB", 4), person_id=person.id, year=year, set_on=day)


def csfs(ctx: Context, org: Org) -> None:
    """Two or three CSFs per team per quarter."""
    rng = ctx.rng
    for quarter in quarters_started(ctx):
        for manager in [*org.team_leads, *org.by_role("branch_manager")]:
            day = due_day(ctx, quarter, manager)
            if day is None:
                continue
            for title, measure in rng.sample(CSF_TITLES, rng.randint(2, 3)):
                ctx.emit(
                    "csf",
                    id=ctx.next_id("CSF", 4),
                    team_id=manager.id,
                    period=quarter_label(quarter),
                    title=title,
                    measure=measure if rng.random() < 0.9 else None,
                    defined_on=day,
                )


def business_plans(ctx: Context, org: Org) -> None:
    """Territory plans per rep and year, customer plans for key accounts, quarterly reviews."""
    rng = ctx.rng
    for year in years_in_window(ctx):
        base = max(date(year, 1, 1), ctx.since)
        for rep in org.reps:
            if (rep.left_on is not None and rep.left_on < base) or rng.random() < 0.05:
                continue
            day = due_day(ctx, base, rep)
            if day is not None:
                _plan(ctx, "territory", rep.id, str(year), day)
        for account in ctx.rows.get("account", []):
            owner = org.get(account["owner_id"])
            if not account["key_account"] or rng.random() < 0.15:
                continue
            day = due_day(ctx, max(base, account["since"]), owner, late=0.2)
            if day is not None:
                _plan(ctx, "customer", owner.id, str(year), day, account["id"])
    for quarter in quarters_started(ctx):
        for lead in org.team_leads:
            day = due_day(ctx, quarter, lead)
            if day is not None:
                _plan(ctx, "quarterly_review", lead.id, quarter_label(quarter), day)


def _plan(ctx: Context, plan_type: str, owner: str, period: str, day: date, account: str | None = None) -> None:
    ctx.emit(
        "business_plan",
        id=ctx.next_id("BP", 4),
        plan_type=plan_type,
        owner_id=owner,
        account_id=account,
        period=period,
        submitted_at=ctx.clock(day),
    )

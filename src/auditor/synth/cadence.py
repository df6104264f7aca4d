"""Manager cadence and operational reporting: pipeline reviews, team meetings, business reviews, weekly reports."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from auditor.synth.context import Context, next_workday
from auditor.synth.org import Org
from auditor.synth.planning import due_day, quarters_started

COVERED: tuple[str, ...] = ()
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""


def pipeline_reviews(ctx: Context, org: Org) -> None:
    """Fortnightly pipeline reviews per rep, with the odd one skipped."""
    rng = ctx.rng
    for rep in org.reps:
        assert rep.manager_id is not None
        day = next_workday(ctx.since + timedelta(days=rng.randint(0, 9)))
        while day <= ctx.as_of:
            if rep.active_on(day) and rng.random() > 0.1:
                ctx.emit(
                    "pipeline_review",
                    id=ctx.next_id("PR"),
                    manager_id=rep.manager_id,
                    rep_id=rep.id,
                    at=ctx.clock(day, 9, 16),
                )
            day = next_workday(day + timedelta(days=rng.randint(12, 16)))


def team_meetings(ctx: Context, org: Org) -> None:
    """Weekly Monday team meetings of each team lead; monthly ones of branch managers."""
    rng = ctx.rng
    monday = ctx.since + timedelta(days=(7 - ctx.since.weekday()) % 7)
    while monday <= ctx.as_of:
        for lead in org.team_leads:
            if rng.random() < 0.08:
                continue
            team = len([r for r in org.team_of(lead.id) if r.active_on(monday)])
            ctx.emit(
                "team_meeting",
                id=ctx.next_id("TM"),
                manager_id=lead.id,
                at=datetime.combine(monday, time(9, rng.choice((0, 0, 30)))),
                attendees=max(0, team - rng.choice((0, 0, 0, 1, 2))),
            )
        monday += timedelta(days=7)
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
    """A business review per branch manager and VP early in each quarter (a few missed)."""
    for quarter in quarters_started(ctx):
        for manager in org.by_role("branch_manager", "vp"):
            if ctx.rng.random() < 0.1:
                continue
            day = due_day(ctx, quarter + timedelta(days=3), manager)
            if day is not None:
                ctx.emit(
                    "business_review",
                    id=ctx.next_id("BR", 4),
                    manager_id=manager.id,
                    at=ctx.clock(day, 9, 15),
                )


def sales_reports(ctx: Context, org: Org) -> None:
    """Weekly reports per rep, due Friday: mostly on time, some on Monday, a few late or missing."""
    rng = ctx.rng
    monday = ctx.since + timedelta(days=(7 - ctx.since.weekday()) % 7)
    while monday <= ctx.as_of:
        friday = monday + timedelta(days=4)
        for rep in org.reps:
            if not rep.judged_in(monday, friday):
                continue
            roll = rng.random()
            if roll < 0.04:
                continue
            if roll < 0.8:
                at = datetime.combine(friday, time(rng.randint(14, 18), rng.randint(0, 59)))
            elif roll < 0.92:
                at = datetime.combine(friday + timedelta(days=3), time(rng.randint(8, 10), 30))
            else:
                at = ctx.clock(friday + timedelta(days=rng.randint(4, 6)))
            if at < ctx.as_of_end:
                ctx.emit(
                    "sales_report",
                    id=ctx.next_id("SR"),
                    person_id=rep.id,
                    week=monday,
                    submitted_at=at,
                )
        monday += timedelta(days=7)

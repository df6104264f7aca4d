"""People processes: hiring, sales results, performance reviews and weekly sales reports."""

from __future__ import annotations

from datetime import date, timedelta
from typing import get_args

from auditor.facts.kinds import HiringStepName
from auditor.synth.context import (
    Context,
    add_months,
    add_workdays,
    is_workday,
    next_workday,
    quarter_label,
)
from auditor.synth.org import LEAVES_MID, Member, Org
from auditor.synth.planning import quarters_started

COVERED: tuple[str, ...] = ()
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""

HIRE_STEPS = tuple(step for step in get_args(HiringStepName) if step != "rejection")
QUESTION_SETS = {"fit_interview": "QS-FIT-2", "behavioural_interview": "QS-BEH-3"}


def _branch_manager(org: Org, member: Member) -> str:
    for bm in org.by_role("branch_manager"):
        if bm.branch == member.branch:
            return bm.id
    return "DIR-01"


def _workdays_back(day: date, count: int) -> date:
    while count > 0:
        day -= timedelta(days=1)
        if is_workday(day):
            count -= 1
    return day


def hiring(ctx: Context, org: Org) -> None:
    """A requisition per rep joining in the window (hired) and a backfill still open."""
    rng = ctx.rng
    for rep in org.reps:
        if rep.joined_on < ctx.since:
            continue
        requisition = ctx.next_id("RQ", 3)
        hire_day = _workdays_back(rep.joined_on, rng.randint(3, 6))
        gaps = [rng.randint(1, 3) for _ in HIRE_STEPS[:-1]]
        if _workdays_back(hire_day, sum(gaps)) < ctx.since:
            gaps = [1] * len(gaps)
        days = [hire_day]
        for gap in reversed(gaps):
            days.insert(0, _workdays_back(days[0], gap))
        if days[0] < ctx.since:
            continue
        interviewer = _branch_manager(org, rep)
        _candidate(ctx, requisition, interviewer, list(zip(HIRE_STEPS, days, strict=True)))
        for _ in range(rng.randint(2, 3)):
            stop = rng.randint(1, 4)
            steps = [(s, d) for s, d in zip(HIRE_STEPS[:stop], days, strict=False)]
            steps.append(("rejection", add_workdays(days[stop - 1], rng.randint(1, 3))))
            _candidate(ctx, requisition, interviewer, steps)
    for leaver in org.reps:
        if leaver.lifecycle != LEAVES_MID or leaver.left_on is None:
            continue
        requisition = ctx.next_id("RQ", 3)
        interviewer = _branch_manager(org, leaver)
        for _ in range(rng.randint(2, 4)):
            day = add_workdays(leaver.left_on, rng.randint(1, 5))
            steps = []
            for step in HIRE_STEPS[: rng.randint(1, 4)]:
                if day > ctx.as_of:
                    break
                steps.append((step, day))
                day = add_workdays(day, rng.randint(1, 4))
            _candidate(ctx, requisition, interviewer, steps)


def _candidate(ctx: Context, requisition: str, interviewer: str, steps: list[tuple[str, date]]) -> None:
    if not steps:
        return
    candidate = ctx.next_id("CAND", 4)
    for step, day in steps:
        interview = step in QUESTION_SETS
        question_set = QUESTION_SETS.get(step) if ctx.rng.random() < 0.9 else None
        ctx.emit(
            "hiring_step",
            id=ctx.next_id("HS"),
            candidate_id=candidate,
            requisition_id=requisition,
            step=step,
            at=ctx.clock(day),
            interviewer_id=interviewer if interview else None,
            question_set=question_set if interview else None,
        )


def complete_quarters(ctx: Context) -> list[date]:
    """Quarters that start on/after since and end by the as-of day."""
    return [q for q in quarters_started(ctx) if add_months(q, 3) <= ctx.as_of]


def sales_results(ctx: Context, org: Org) -> dict[tuple[str, str], float]:
    """Target and actual per rep and complete quarter; returns actual / target per key."""
    rng = ctx.rng
    ratios: dict[tuple[str, str], float] = {}
    for quarter in complete_quarters(ctx):
        end = add_months(quarter, 3)
        closed = next_workday(end + timedelta(days=rng.randint(0, 4)))
        if closed > ctx.as_of:
            continue
        for rep in org.reps:
            if not rep.judged_in(quarter, end - timedelta(days=1)):
                continue
            target = float(rng.randrange(240_000, 420_000, 5_000))
            ratio = rng.uniform(0.6, 1.3)
            ctx.emit(
                "sales_result",
                person_id=rep.id,
                period=quarter_label(quarter),
                target=target,
                actual=round(target * ratio, 2),
                closed_on=closed,
            )
            ratios[(rep.id, quarter_label(quarter))] = ratio
    return ratios


def performance_reviews(ctx: Context, org: Org, ratios: dict[tuple[str, str], float]) -> None:
    """Annual appraisals early in the year, quarterly reviews and a PIP for weak quarters."""
    rng = ctx.rng
    if ctx.since.month <= 3:
        for person in org.by_role("sales_person", "team_leader", "sales_manager"):
            if person.joined_on >= date(ctx.since.year - 1, 10, 1):
                continue
            day = next_workday(ctx.since + timedelta(days=rng.randint(5, 50)))
            last = min(ctx.as_of, person.left_on) if person.left_on else ctx.as_of
            if ctx.since <= day <= last:
                _review(ctx, person, "annual", str(ctx.since.year - 1), day)
    for quarter in complete_quarters(ctx):
        end = add_months(quarter, 3)
        for rep in org.reps:
            ratio = ratios.get((rep.id, quarter_label(quarter)))
            if ratio is None or rng.random() < 0.08:
                continue
            day = next_workday(end + timedelta(days=rng.randint(2, 20)))
            if day <= ctx.as_of and rep.active_on(day):
                _review(ctx, rep, "quarterly", quarter_label(quarter), day)
                if ratio < 0.68:
                    pip_day = add_workdays(day, rng.randint(2, 6))
                    if pip_day <= ctx.as_of and rep.active_on(pip_day):
                        _review(ctx, rep, "pip", quarter_label(quarter), pip_day)


def _review(ctx: Context, person: Member, review_type: str, period: str, day: date) -> None:
    ctx.emit(
        "performance_review",
        id=ctx.next_id("PV", 4),
        person_id=person.id,
        reviewer_id=person.manager_id,
        review_type=review_type,
        period=period,
        at=ctx.clock(day, 9, 16),
    )

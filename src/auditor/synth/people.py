"""People processes: hiring (HIR-001 to HIR-005), sales results and performance reviews (PRF-002 to PRF-004).

Hiring: a requisition per rep joining in the window (hired before the joining
day), a backfill per leaver and a growth requisition per branch (hired
shortly before the as-of day, starting after it). Each hired candidate
has a case for the required steps, each candidate who got an offer a case
for the interviewers, and some requisitions use an old question set for one
candidate's interview.

Performance: quarterly results (from the last quarter ending on or after
the since day, so that its result closes in the window), quarterly reviews,
annual appraisals early in the year and performance-improvement plans
(PIPs) for reps below target two quarters running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import get_args

from auditor.facts.kinds import HiringStepName
from auditor.synth.context import (
    Context,
    add_months,
    add_workdays,
    day_start,
    is_workday,
    next_workday,
    quarter_label,
    quarter_start,
)
from auditor.synth.org import Member, Org
from auditor.synth.planning import (
    LATE,
    MISSING,
    ON_DEADLINE,
    DuePeriod,
    case_moment,
    due_periods,
    run_cadence,
)

COVERED: tuple[str, ...] = ("HIR-001", "HIR-002", "HIR-003", "HIR-004", "HIR-005", "PRF-002", "PRF-003", "PRF-004")
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""

HIRE_STEPS = tuple(step for step in get_args(HiringStepName) if step != "rejection")
INTERVIEWS = ("fit_interview", "behavioural_interview")
QUESTION_SETS = {"fit_interview": "QS-FIT-2", "behavioural_interview": "QS-BEH-3"}
OLD_QUESTION_SETS = {"fit_interview": "QS-FIT-1", "behavioural_interview": "QS-BEH-2"}
REQUIRED = {"HIR-001": "fit_interview", "HIR-002": "behavioural_interview", "HIR-003": "psychometric_profile"}

# Cases of a hired candidate (steps required before the hire).
FULL = "full"
INFORMAL = "informal"  # a referral hired on the spot: no interviews, no profile (HIR-001, HIR-002, HIR-003)
NO_FIT = "no_fit"  # HIR-001 (and HIR-004: one interviewer)
NO_BEHAVIOURAL = "no_behavioural"  # HIR-002 (and HIR-004)
LATE_PROFILE = "late_profile"  # the profile a few days after the hire (HIR-003)
PROFILE_AT_HIRE = "profile_at_hire"  # near-miss: the profile recorded at the moment of the hire
DECLINED = "declined"  # an offer, then a rejection: the candidate declined (full steps otherwise)
# Cases of a candidate who got an offer (interviewers).
TWO_INTERVIEWERS = "two_interviewers"
ONE_INTERVIEWER = "one_interviewer"  # the branch manager held both interviews (HIR-004)
UNNAMED_SECOND = "unnamed_second"  # the second interview has no recorded interviewer (HIR-004)
PANEL_UNNAMED = "panel_unnamed"  # near-miss: two named interviewers and a third, unnamed one

# Params of the rules (their defaults in rules/performance.yml).
REVIEW_DUE = 121  # PRF-002
APPRAISAL_DUE, APPRAISAL_LEAD = 90, 31  # PRF-003
PIP_DAYS, CONSECUTIVE_DAYS = 30, 120  # PRF-004

# Cases of a judged pair of consecutive results (PRF-004).
NO_PIP = "no_pip"  # two weak quarters, no PIP: a finding
LATE_PIP = "late_pip"  # the PIP 31-55 days after the second result: a finding
PIP = "pip"  # the PIP within 25 days of the second result
PIP_EARLY = "pip_early"  # the PIP already after the first weak quarter
PIP_AT_DEADLINE = "pip_at_deadline"  # near-miss: the PIP exactly 30 days after the second result closed
RECOVERED = "recovered"  # weak, then at or above target
ON_TARGET = "on_target"  # near-miss: weak, then exactly on target (not below it)
FREE = "free"  # random results; a PIP for three out of four weak pairs


# ------------------------------------------------------------------ hiring


@dataclass
class Candidate:
    """One candidate's planned steps: (step, moment, interviewer, question set)."""

    id: str
    requisition: str
    steps: list[tuple[str, datetime, str | None, str | None]] = field(default_factory=list)

    def at(self, step: str) -> list[datetime]:
        return [moment for name, moment, _, _ in self.steps if name == step]


@dataclass
class Requisition:
    """A position to fill: its interviewers, the planned process days (application to hire) and candidates."""

    id: str
    branch_manager: str
    lead: str
    days: list[date]
    candidates: list[Candidate] = field(default_factory=list)


def _workdays_back(day: date, count: int) -> date:
    while count > 0:
        day -= timedelta(days=1)
        if is_workday(day):
            count -= 1
    return day


def _interviewers(org: Org, branch: str | None) -> tuple[str, str]:
    """(branch manager, first-line manager) of a branch; the director and a VP when there is none."""
    bm = next((m.id for m in org.by_role("branch_manager") if m.branch == branch), None)
    lead = next((m.id for m in org.team_leads if m.branch == branch), None)
    vps = org.by_role("vp")
    return bm or "DIR-01", lead or (vps[0].id if vps else "DIR-01")


def _process_days(ctx: Context, first: date) -> list[date]:
    """Workdays of the full process (application to hire) from `first`, 1-3 workdays apart."""
    days = [next_workday(first)]
    for _ in HIRE_STEPS[1:]:
        days.append(add_workdays(days[-1], ctx.rng.randint(1, 3)))
    return days


def _joiner_days(ctx: Context, rep: Member) -> list[date] | None:
    """Process days ending 3-6 workdays before a joiner's first day (compressed to fit the window)."""
    rng = ctx.rng
    hire_day = _workdays_back(rep.joined_on, rng.randint(3, 6))
    for gaps in ([rng.randint(1, 3) for _ in HIRE_STEPS[1:]], [1] * (len(HIRE_STEPS) - 1)):
        days = [hire_day]
        for gap in gaps:
            days.insert(0, _workdays_back(days[0], gap))
        if days[0] >= ctx.since:
            return days
    return None


def hiring(ctx: Context, org: Org) -> None:
    """Requisitions, candidates and their steps, with HIR-001 to HIR-005 deviations and near-misses.

    Near-misses: a profile recorded at the moment of the hire, a panel with an unnamed third interviewer,
    interviews without a recorded question set, candidates rejected after one interviewer.
    """
    rng = ctx.rng
    requisitions: list[Requisition] = []
    for rep in org.reps:  # the reps joining in the window
        if rep.joined_on >= ctx.since and (days := _joiner_days(ctx, rep)) is not None:
            requisitions.append(_requisition(ctx, org, rep.branch, days))
    late_start = max(ctx.since, ctx.as_of - timedelta(days=75))
    openings = [(m.branch, m.left_on - timedelta(days=28)) for m in org.reps if m.left_on and m.left_on >= ctx.since]
    late_end = max(late_start, ctx.as_of - timedelta(days=35))  # the longest process takes 26 days
    openings += [(branch, ctx.workday_between(late_start, late_end)) for _, branch in org.branches]
    for branch, opened in openings:  # backfills and growth: the hire starts after the as-of day
        requisitions.append(_requisition(ctx, org, branch, _process_days(ctx, max(opened, ctx.since))))

    filled = [r for r in requisitions if r.days[-1] <= ctx.as_of]
    decisions = [(r, r.days, case) for r, case in zip(filled, _hire_cases(ctx, len(filled)), strict=True)]
    declining = rng.sample(requisitions, min(len(requisitions), max(3, round(0.4 * len(requisitions)))))
    for requisition in declining:  # a candidate who got an offer a day later than the hire, and declined it
        days = [requisition.days[0], *(add_workdays(d, 1) for d in requisition.days[1:])]
        declined = add_workdays(days[-2], rng.randint(1, 3))
        if declined <= ctx.as_of:
            decisions.append((requisition, [*days[:-1], declined], DECLINED))
    named = [i for i, (_, _, case) in enumerate(decisions) if case not in (INFORMAL, NO_FIT, NO_BEHAVIOURAL)]
    people_cases = [ONE_INTERVIEWER, ONE_INTERVIEWER, UNNAMED_SECOND, PANEL_UNNAMED][: len(named)]
    people_of = dict(zip(rng.sample(named, len(people_cases)), people_cases, strict=True))
    for index, (requisition, days, case) in enumerate(decisions):
        steps = list(zip(HIRE_STEPS, days, strict=True))
        if case == DECLINED:
            steps[-1] = ("rejection", days[-1])
        _candidate(ctx, requisition, case, people_of.get(index, TWO_INTERVIEWERS), steps)
    for requisition in requisitions:
        if requisition.days[-1] > ctx.as_of:  # still in process: the leading candidate's steps so far
            steps = [(s, d) for s, d in zip(HIRE_STEPS, requisition.days, strict=True) if d <= ctx.as_of]
            _candidate(ctx, requisition, FULL, TWO_INTERVIEWERS, steps)
        for _ in range(rng.randint(1, 3)):  # rejected after one to four steps
            stop = rng.randint(1, 4)
            steps = [
                (s, add_workdays(d, rng.randint(0, 1)))
                for s, d in zip(HIRE_STEPS[:stop], requisition.days[:stop], strict=True)
            ]
            rejected = add_workdays(steps[-1][1], rng.randint(1, 3))
            if rejected <= ctx.as_of:
                _candidate(ctx, requisition, FULL, TWO_INTERVIEWERS, [*steps, ("rejection", rejected)])
    _mixed_question_sets(ctx, requisitions)
    for requisition in requisitions:
        for candidate in requisition.candidates:
            for step, moment, interviewer, question_set in candidate.steps:
                ctx.emit(
                    "hiring_step",
                    id=ctx.next_id("HS"),
                    candidate_id=candidate.id,
                    requisition_id=requisition.id,
                    step=step,
                    at=moment,
                    interviewer_id=interviewer,
                    question_set=question_set,
                )
    _hiring_truth(ctx, requisitions)


def _requisition(ctx: Context, org: Org, branch: str | None, days: list[date]) -> Requisition:
    bm, lead = _interviewers(org, branch)
    return Requisition(ctx.next_id("RQ", 3), bm, lead, days)


def _hire_cases(ctx: Context, total: int) -> list[str]:
    """A shuffled step case per hire: up to four informal hires (a third of them at most), one each without
    a fit or a behavioural interview, one with a late profile, a near-miss; the rest full."""
    labels = [INFORMAL] * min(4, total // 3) + [NO_FIT, NO_BEHAVIOURAL, LATE_PROFILE, PROFILE_AT_HIRE]
    labels = labels[:total]
    labels.extend([FULL] * (total - len(labels)))
    ctx.rng.shuffle(labels)
    return labels


def _candidate(
    ctx: Context, requisition: Requisition, case: str, panel: str, steps: Sequence[tuple[str, date]]
) -> None:
    """Plan one candidate's steps for a step case and an interviewer case."""
    rng = ctx.rng
    candidate = Candidate(ctx.next_id("CAND", 4), requisition.id)
    skipped = {
        INFORMAL: {"fit_interview", "behavioural_interview", "psychometric_profile", "reference_check"},
        NO_FIT: {"fit_interview"},
        NO_BEHAVIOURAL: {"behavioural_interview"},
    }.get(case, set())
    hire_at: datetime | None = None
    for step, day in steps:
        if step in skipped:
            continue
        moment = ctx.clock(day)
        interviewer: str | None = None
        question_set: str | None = None
        if step in INTERVIEWS:
            interviewer = requisition.branch_manager if step == "fit_interview" else requisition.lead
            if step == "behavioural_interview" and panel == ONE_INTERVIEWER:
                interviewer = requisition.branch_manager
            if step == "behavioural_interview" and panel == UNNAMED_SECOND:
                interviewer = None
            question_set = QUESTION_SETS[step] if rng.random() < 0.92 else None
        if step == "hire":
            hire_at = moment
        candidate.steps.append((step, moment, interviewer, question_set))
        if step == "behavioural_interview" and panel == PANEL_UNNAMED:
            candidate.steps.append((step, moment + timedelta(minutes=45), None, question_set))
    if hire_at is not None and case in (LATE_PROFILE, PROFILE_AT_HIRE):
        profile = [s for s in candidate.steps if s[0] == "psychometric_profile"][0]
        candidate.steps.remove(profile)
        moment = hire_at if case == PROFILE_AT_HIRE else ctx.clock(add_workdays(hire_at.date(), rng.randint(1, 3)))
        if moment.date() <= ctx.as_of:
            candidate.steps.append(("psychometric_profile", moment, None, None))
    candidate.steps.sort(key=lambda s: s[1])
    requisition.candidates.append(candidate)


def _mixed_question_sets(ctx: Context, requisitions: list[Requisition]) -> None:
    """HIR-005: in about a fifth of the (requisition, interview step) pairs with two or more candidates
    asked a recorded question set, one candidate was asked the old set."""
    pairs = []
    for requisition in requisitions:
        for step in INTERVIEWS:
            asked = [
                (candidate, index)
                for candidate in requisition.candidates
                for index, s in enumerate(candidate.steps)
                if s[0] == step and s[3] is not None
            ]
            if len({c.id for c, _ in asked}) >= 2:
                pairs.append(asked)
    count = max(round(len(pairs) * 0.2), min(5, len(pairs) // 2))
    for asked in ctx.rng.sample(pairs, count):
        candidate, index = ctx.rng.choice(asked)
        step, moment, interviewer, _ = candidate.steps[index]
        candidate.steps[index] = (step, moment, interviewer, OLD_QUESTION_SETS[step])


def _hiring_truth(ctx: Context, requisitions: list[Requisition]) -> None:
    """Record the deviations of the planned candidates (every step lies in the window)."""
    for requisition in requisitions:
        for candidate in requisition.candidates:
            for hire in candidate.at("hire"):
                for rule_id, step in REQUIRED.items():
                    if not any(moment <= hire for moment in candidate.at(step)):
                        ctx.truth.add(rule_id, candidate.id)
            interviewers = {s[2] for s in candidate.steps if s[0] in INTERVIEWS and s[2] is not None}
            if (candidate.at("offer") or candidate.at("hire")) and len(interviewers) == 1:
                ctx.truth.add("HIR-004", candidate.id)
        for step in INTERVIEWS:
            sets = {s[3] for c in requisition.candidates for s in c.steps if s[0] == step and s[3] is not None}
            if len(sets) > 1:
                ctx.truth.add("HIR-005", requisition.id, step)


# ------------------------------------------------------------------ sales results


@dataclass
class Result:
    """One rep's result for one quarter."""

    period: str
    start: date
    closed_on: date
    target: float
    ratio: float
    case: str = FREE
    """The PRF-004 case of the pair this result ends (when judged)."""

    @property
    def weak(self) -> bool:
        return self.ratio < 1


Results = dict[str, list[Result]]
"""Each rep's results in quarter order."""


def result_quarters(ctx: Context) -> list[tuple[date, date]]:
    """(start, closing day) of the quarters ending on or after `since` whose results close by the as-of day.

    The books of a quarter close on the first workday 0-4 days after it ends.
    """
    quarters = []
    start = add_months(quarter_start(ctx.since), -3)
    while start <= ctx.as_of:
        end = add_months(start, 3)
        closed = next_workday(end + timedelta(days=ctx.rng.randint(0, 4)))
        if end >= ctx.since and closed <= ctx.as_of:
            quarters.append((start, closed))
        start = end
    return quarters


def _judged_pair(ctx: Context, before: Result, now: Result) -> bool:
    """Does PRF-004 judge this pair (consecutive, the second closed in the window, its PIP deadline passed)?"""
    consecutive = before.closed_on < now.closed_on and (now.closed_on - before.closed_on).days <= CONSECUTIVE_DAYS
    due = day_start(now.closed_on) + timedelta(days=PIP_DAYS) < ctx.as_of_end
    return consecutive and now.closed_on >= ctx.since and due


def sales_results(ctx: Context, org: Org) -> Results:
    """Target and actual per rep and quarter; weak pairs are steered for PRF-004's cases.

    Returns the results per rep; each result that ends a judged pair carries the pair's PRF-004 case.
    """
    rng = ctx.rng
    results: Results = {}
    for start, closed in result_quarters(ctx):
        for rep in org.reps:
            if rep.judged_in(start, add_months(start, 3) - timedelta(days=1)):
                target = float(rng.randrange(240_000, 420_000, 5_000))
                ratio = rng.uniform(0.62, 0.97) if rng.random() < 0.35 else rng.uniform(1.0, 1.3)
                results.setdefault(rep.id, []).append(Result(quarter_label(start), start, closed, target, ratio))
    slots = [
        (rep, i)
        for rep, rows in results.items()
        for i in range(1, len(rows))
        if _judged_pair(ctx, rows[i - 1], rows[i])
    ]
    cases = _pair_cases(ctx, len(slots))
    reps = {m.id: m for m in org.reps}

    def stays(index: int) -> bool:  # active when the PIP is due
        rep, i = slots[index]
        return reps[rep].active_on(results[rep][i].closed_on + timedelta(days=PIP_DAYS))

    for index, case in enumerate(cases):  # PIPs go to reps still there to start them
        if case in (PIP, PIP_EARLY, PIP_AT_DEADLINE) and not stays(index):
            swap = next((j for j, c in enumerate(cases) if c == FREE and stays(j)), None)
            if swap is not None:
                cases[index], cases[swap] = cases[swap], cases[index]
    for (rep, i), case in zip(slots, cases, strict=True):
        rows = results[rep]
        if case == FREE:
            continue
        rows[i - 1].ratio = rng.uniform(0.62, 0.97)
        if case == RECOVERED:
            rows[i].ratio = rng.uniform(1.0, 1.3)
        elif case == ON_TARGET:
            rows[i].ratio = 1.0
        else:
            rows[i].ratio = rng.uniform(0.62, 0.97)
        rows[i].case = case
    for rep, rows in results.items():
        for row in rows:
            ctx.emit(
                "sales_result",
                person_id=rep,
                period=row.period,
                target=row.target,
                actual=round(row.target * row.ratio, 2),
                closed_on=row.closed_on,
            )
    return results


def _pair_cases(ctx: Context, total: int) -> list[str]:
    """A shuffled case per judged pair: at least four without a PIP and one late when there is room."""
    no_pip = max(round(total * 0.2), min(4, total // 3))
    labels = [NO_PIP] * no_pip + [LATE_PIP, PIP, PIP_EARLY, PIP_AT_DEADLINE, ON_TARGET, RECOVERED]
    labels = labels[:total]
    labels.extend([FREE] * (total - len(labels)))
    ctx.rng.shuffle(labels)
    return labels


# ------------------------------------------------------------------ performance reviews


def performance_reviews(ctx: Context, org: Org, results: Results) -> None:
    """Annual appraisals (PRF-003), quarterly reviews (PRF-002) and PIPs (PRF-004)."""
    _appraisals(ctx, org)
    _quarterly_reviews(ctx, org, results)
    _pips(ctx, org, results)


def _appraisals(ctx: Context, org: Org) -> None:
    """The previous year's appraisal by 31 March (one held in December counts); some late or missing."""
    staff = [m for m in org.members if m.role not in ("partner", "director")]

    def judged(period: DuePeriod) -> list[Member]:
        return [m for m in staff if period.judges(m)]

    def act(period: DuePeriod, person: Member, case: str) -> tuple[str, datetime | None]:
        moment = case_moment(ctx, period, case, person.joined_on, _last_day(ctx, person))
        if moment is not None:
            _review(ctx, person, "annual", str(period.year - 1), moment)
        return person.id, moment

    run_cadence(ctx, "PRF-003", due_periods(ctx, "year", APPRAISAL_DUE, APPRAISAL_LEAD), judged, 0.1, act)


def _quarterly_reviews(ctx: Context, org: Org, results: Results) -> None:
    """The review of a quarter 2-20 days after it ends; judged quarters get cases, others are reviewed as usual."""
    periods = due_periods(ctx, "quarter", REVIEW_DUE)

    def judged(period: DuePeriod) -> list[Member]:
        return [rep for rep in org.reps if period.judges(rep)]

    def act(period: DuePeriod, rep: Member, case: str) -> tuple[str, datetime | None]:
        moment = _quarterly_moment(ctx, period, case, rep)
        if moment is not None:
            _review(ctx, rep, "quarterly", period.label, moment)
        return rep.id, moment

    run_cadence(ctx, "PRF-002", periods, judged, 0.2, act, near=(ON_DEADLINE,))
    reps = {m.id: m for m in org.reps}
    labels = {p.label for p in periods}
    for rep_id, rows in results.items():  # quarters not judged (started before since, or not yet due)
        rep = reps[rep_id]
        for row in rows:
            day = next_workday(add_months(row.start, 3) + timedelta(days=ctx.rng.randint(2, 20)))
            if row.period not in labels and day <= ctx.as_of and rep.active_on(day):
                _review(ctx, rep, "quarterly", row.period, ctx.clock(day, 9, 16))


def _last_day(ctx: Context, person: Member) -> date:
    return min(ctx.as_of, person.left_on) if person.left_on else ctx.as_of


def _quarterly_moment(ctx: Context, period: DuePeriod, case: str, rep: Member) -> datetime | None:
    """Clean: 2-20 days after the quarter ends; the other cases as for every deadline."""
    last = _last_day(ctx, rep)
    if case in (MISSING, LATE, ON_DEADLINE):
        return case_moment(ctx, period, case, rep.joined_on, last)
    day = next_workday(period.end + timedelta(days=ctx.rng.randint(2, 20)))
    return ctx.clock(day, 9, 16) if day <= last else None


def _pips(ctx: Context, org: Org, results: Results) -> None:
    """PIPs for judged weak pairs by their case; a few for recent weak pairs not yet due; record PRF-004."""
    rng = ctx.rng
    reps = {m.id: m for m in org.reps}
    for rep_id, rows in results.items():
        rep = reps[rep_id]
        pips: list[datetime] = []
        for before, now in zip(rows, rows[1:], strict=False):
            if not (before.weak and now.weak):
                continue
            case = now.case
            closed = day_start(now.closed_on)
            if case == FREE:
                case = PIP if rng.random() < 0.75 else NO_PIP
            if case == PIP:
                moment = ctx.clock(
                    ctx.workday_between(now.closed_on + timedelta(days=1), now.closed_on + timedelta(days=25))
                )
            elif case == PIP_EARLY:
                lo = before.closed_on + timedelta(days=10)
                moment = ctx.clock(ctx.workday_between(lo, max(lo, now.closed_on - timedelta(days=5))))
            elif case == PIP_AT_DEADLINE:
                moment = closed + timedelta(days=PIP_DAYS)
            elif case == LATE_PIP:
                moment = ctx.clock(next_workday(now.closed_on + timedelta(days=rng.randint(PIP_DAYS + 1, 55))))
            else:
                continue
            if moment < ctx.as_of_end and rep.active_on(moment.date()):
                pips.append(moment)
                _review(ctx, rep, "pip", now.period, moment)
        for before, now in zip(rows, rows[1:], strict=False):
            if before.weak and now.weak and _judged_pair(ctx, before, now):
                window = (day_start(before.closed_on), day_start(now.closed_on) + timedelta(days=PIP_DAYS))
                if not any(window[0] <= moment <= window[1] for moment in pips):
                    ctx.truth.add("PRF-004", rep_id, now.period)


def _review(ctx: Context, person: Member, review_type: str, period: str, at: datetime) -> None:
    ctx.emit(
        "performance_review",
        id=ctx.next_id("PV", 4),
        person_id=person.id,
        reviewer_id=person.manager_id,
        review_type=review_type,
        period=period,
        at=at,
    )

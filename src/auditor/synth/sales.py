"""Accounts, opportunities through the sales stages (STG-001 to STG-005) and pre-sales requests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import get_args

from auditor.facts.kinds import Stage
from auditor.synth.context import Context, add_workdays, next_workday
from auditor.synth.org import Member, Org

COVERED: tuple[str, ...] = ("PRE-001", "STG-001", "STG-002", "STG-003", "STG-004", "STG-005")
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""

FUNNEL = tuple(stage for stage in get_args(Stage) if stage != "lost")
PRICED = frozenset({"proposal", "negotiation", "deal", "after_sales"})
COMPANY_A = (
    "Acme", "Borealis", "Cobalt", "Delta", "Evergreen", "Falcon", "Granite", "Helix", "Ionic",
    "Juniper", "Kestrel", "Lumen", "Magnolia", "Nimbus", "Orion", "Pinnacle", "Quartz", "Redwood",
    "Sterling", "Tidewater", "Umbra", "Vantage", "Willow", "Zenith",
)  # fmt: skip
COMPANY_B = (
    "Logistics", "Foods", "Engineering", "Pharma", "Retail", "Media", "Insurance", "Hotels",
    "Motors", "Textiles", "Energy", "Clinics", "Builders", "Farms",
)  # fmt: skip
COMPANY_C = ("Ltd", "plc", "Group", "& Co", "Holdings", "GmbH", "SA")
PRESALES_TOPICS = (
    "solution design", "technical demo", "pricing sheet", "integration questions",
    "security questionnaire", "proof of concept", "tender response",
)  # fmt: skip

# STG-001 cases: the deviation labels add a finding, the others are clean.
MISSING_QUALIFICATION = "missing_qualification"
LATE_QUALIFICATION = "late_qualification"
SAME_TIME_QUALIFICATION = "same_time_qualification"  # near-miss: equal time is fine
DEAL_WITHOUT_PROPOSAL = "deal_without_proposal"  # qualified, then a deal with no proposal (STG-002)
EARLY_STOP = "early_stop"  # stops at identification or before, or lost: never proposed

# STG-004 / STG-005 cases (the flow of an opportunity after its stages are chosen).
CLOSED = frozenset({"deal", "lost", "after_sales"})
STALL_DAYS = 90  # STG-004: an open stage is left within 90 days
AFTER_SALES_DAYS = 30  # STG-005: after-sales contact within 30 days of the deal
STALLED = "stalled"  # one open stage left after 91-125 days
STALLED_OPEN = "stalled_open"  # ends open more than 90 days before the as-of day, never marked lost
LEFT_ON_DAY_90 = "left_on_day_90"  # near-miss: a stage left exactly 90 days after it was entered
NO_AFTER_SALES = "no_after_sales"  # a deal more than 30 days ago without after-sales contact
LATE_AFTER_SALES = "late_after_sales"  # after-sales contact 31-60 days after the deal
AFTER_SALES_ON_DAY_30 = "after_sales_on_day_30"  # near-miss: exactly 30 days after the deal
Gap = int | timedelta | tuple[str, int]
"""Time to a stage from the one before: workdays (0 = the same moment), an exact duration, or ("days", n)
calendar days to the next workday on or after that day."""


@dataclass(frozen=True)
class Opportunity:
    """What later process areas need to know about one generated opportunity."""

    id: str
    owner: str
    stages: dict[str, datetime]


def accounts(ctx: Context, org: Org) -> dict[str, list[str]]:
    """Emit customer accounts (2-4 per rep); returns account ids per owner."""
    rng = ctx.rng
    names = [f"{a} {b} {c}" for a in COMPANY_A for b in COMPANY_B for c in COMPANY_C]
    chosen = iter(rng.sample(names, 4 * len(org.reps)))
    owned: dict[str, list[str]] = {}
    for rep in org.reps:
        if rep.left_on is not None and rep.left_on < ctx.since:
            continue
        for _ in range(rng.randint(2, 4)):
            account_id = ctx.next_id("AC", 4)
            first = max(rep.joined_on, date(2016, 1, 1))
            last = ctx.data_end - timedelta(days=30)
            since = first + timedelta(days=rng.randint(0, max(0, (last - first).days)))
            ctx.emit(
                "account",
                id=account_id,
                name=next(chosen),
                owner_id=rep.id,
                key_account=rng.random() < 0.25,
                since=since,
            )
            owned.setdefault(rep.id, []).append(account_id)
    return owned


def _stages_for(ctx: Context, case: str) -> list[str]:
    """The stage sequence of one opportunity for an STG-001 case (after-sales is added by its STG-005 flow)."""
    rng = ctx.rng
    start = rng.choice((0, 0, 0, 1, 2))
    prefix = list(FUNNEL[start : FUNNEL.index("identification") + 1])
    tail_end = rng.choice(("proposal", "negotiation", "deal", "deal", "deal"))
    tail = list(FUNNEL[FUNNEL.index("proposal") : FUNNEL.index(tail_end) + 1])
    lost = rng.random() < 0.2 and tail_end in ("proposal", "negotiation")
    if case == EARLY_STOP:
        stop = rng.choice(("identification", "identification", "lead_generation", "qualification"))
        stages = list(FUNNEL[start : FUNNEL.index(stop) + 1])
        return [*stages, "lost"] if rng.random() < 0.5 else stages
    if case == MISSING_QUALIFICATION:
        if rng.random() < 0.25:
            tail = ["deal"]  # straight from identification to a deal (no proposal either: STG-002)
        stages = [*prefix, *tail]
    elif case == DEAL_WITHOUT_PROPOSAL:
        stages = [*prefix, "qualification", "deal"]
    elif case == LATE_QUALIFICATION:
        stages = [*prefix, tail[0], "qualification", *tail[1:]]
    else:  # clean and SAME_TIME_QUALIFICATION
        stages = [*prefix, "qualification", *tail]
    return [*stages, "lost"] if lost else stages


def opportunities(ctx: Context, org: Org, owned: dict[str, list[str]]) -> list[Opportunity]:
    """Emit opportunity stages with STG-001 to STG-005 deviations; returns a summary per opportunity.

    STG-004 near-misses: a stage left exactly on day 90, open opportunities
    whose 90 days have not run out, old open ones marked lost within 90 days.
    STG-005 near-misses: after-sales contact exactly on day 30, and recent
    deals whose 30 days have not run out.
    """
    rng = ctx.rng
    plans: list[tuple[Member, date, date]] = []
    for rep in org.reps:
        first = max(ctx.since, rep.joined_on)
        last = min(ctx.as_of, rep.left_on) if rep.left_on else ctx.as_of
        if (last - first).days < 20:
            continue
        count = max(2, round(rng.uniform(1.3, 1.9) * (last - first).days / 30))
        plans.extend((rep, first, last) for _ in range(count))
    cases = ctx.pick_counts(
        len(plans),
        {
            MISSING_QUALIFICATION: 0.07,
            LATE_QUALIFICATION: 0.06,
            SAME_TIME_QUALIFICATION: 0.04,
            EARLY_STOP: 0.2,
            DEAL_WITHOUT_PROPOSAL: 0.05,
        },
    )
    stage_lists = [_stages_for(ctx, case) for case in cases]
    stalls = _flows(ctx, stage_lists, lambda stages: _stall_gaps(stages) != [], {STALLED: 0.04, LEFT_ON_DAY_90: 0.03})
    opens = _flows(ctx, stage_lists, lambda stages: stages[-1] not in CLOSED, {STALLED_OPEN: 0.12})
    deals = _flows(
        ctx,
        stage_lists,
        lambda stages: "deal" in stages,
        {NO_AFTER_SALES: 0.06, LATE_AFTER_SALES: 0.04, AFTER_SALES_ON_DAY_30: 0.04},
    )
    summaries = []
    for index, ((rep, first, last), case) in enumerate(zip(plans, cases, strict=True)):
        opp_id = ctx.next_id("OPP")
        stages, times = _timeline(
            ctx, stage_lists[index], case, (stalls[index], opens[index], deals[index]), first, last
        )
        account_id = rng.choice(owned[rep.id]) if owned.get(rep.id) else None
        amount = float(rng.randrange(5_000, 250_000, 250))
        for stage, at in zip(stages, times, strict=True):
            if stage in PRICED:
                amount = round(amount * rng.uniform(0.9, 1.05), 2)
            ctx.emit(
                "opportunity_stage",
                opportunity_id=opp_id,
                stage=stage,
                at=at,
                owner_id=rep.id,
                account_id=account_id,
                amount=amount if stage in PRICED else None,
            )
        if case in (MISSING_QUALIFICATION, LATE_QUALIFICATION):
            ctx.truth.add("STG-001", opp_id, "")
        if "deal" in stages and "proposal" not in stages:
            ctx.truth.add("STG-002", opp_id, "")
        if case == LATE_QUALIFICATION:  # qualification recorded after the proposal: out of order
            ctx.truth.add("STG-003", opp_id, "")
        if _stalled(ctx, stages, times):
            ctx.truth.add("STG-004", opp_id, "")
        if _after_sales_missed(ctx, stages, times):
            ctx.truth.add("STG-005", opp_id, "")
        summaries.append(Opportunity(opp_id, rep.id, dict(zip(stages, times, strict=True))))
    return summaries


def _flows(
    ctx: Context, stage_lists: list[list[str]], eligible: Callable[[list[str]], bool], shares: dict[str, float]
) -> list[str]:
    """One flow label per opportunity: about `shares` of the eligible ones, 'clean' for the rest."""
    chosen = [i for i, stages in enumerate(stage_lists) if eligible(stages)]
    labels = ["clean"] * len(stage_lists)
    for i, label in zip(chosen, ctx.pick_counts(len(chosen), shares), strict=True):
        labels[i] = label
    return labels


def _stall_gaps(stages: Sequence[str]) -> list[int]:
    """Indexes of the stages that may follow a long stall: after an open stage, not the first."""
    return [i for i in range(1, len(stages)) if stages[i - 1] not in CLOSED]


def _timeline(
    ctx: Context, stages: list[str], case: str, flows: tuple[str, str, str], first: date, last: date
) -> tuple[list[str], list[datetime]]:
    """Stage list and increasing times within [first, last] for an STG-001 case and its STG-004/005 flows.

    A flow that does not fit the rep's time in the window falls back to a clean one.
    """
    rng = ctx.rng
    stall, open_end, deal = flows
    stages = list(stages)
    same_time = stages.index("proposal") if case == SAME_TIME_QUALIFICATION else None
    candidates = [i for i in _stall_gaps(stages) if i != same_time]
    stall_gap: Gap | None = None
    if stall != "clean" and candidates:
        stall_gap = ("days", rng.randint(91, 125)) if stall == STALLED else timedelta(days=STALL_DAYS)
    room = (last - first).days - (130 if stall_gap is not None else 0)
    max_gap = max(1, min(10, room * 5 // 7 // (len(stages) + 3)))
    gaps: list[Gap] = [0] + [rng.randint(1, max_gap) for _ in stages[1:]]
    if same_time is not None:
        gaps[same_time] = 0
    if stall_gap is not None:
        gaps[rng.choice(candidates)] = stall_gap
    latest = last
    if open_end == STALLED_OPEN:
        latest = min(latest, ctx.as_of - timedelta(days=STALL_DAYS + 1))
    if deal == NO_AFTER_SALES:
        latest = min(latest, ctx.as_of - timedelta(days=AFTER_SALES_DAYS + 1))
    elif deal == LATE_AFTER_SALES:
        stages.append("after_sales")
        gaps.append(("days", rng.randint(AFTER_SALES_DAYS + 1, 2 * AFTER_SALES_DAYS)))
    elif deal == AFTER_SALES_ON_DAY_30:
        stages.append("after_sales")
        gaps.append(timedelta(days=AFTER_SALES_DAYS))
    clocks = [ctx.clock(first).time() for _ in stages]
    times = _place(ctx, gaps, clocks, first, latest)
    if times is None:  # the flow does not fit: a compact, clean timeline
        gaps = [g if isinstance(g, int) else 1 for g in gaps]
        times = _place(ctx, gaps, clocks, first, last)
        if times is None:
            raise RuntimeError("opportunity does not fit the window")
    if deal == "clean" and "deal" in stages:
        after = add_workdays(times[-1].date(), rng.randint(2, 15))
        if after <= last:
            stages.append("after_sales")
            times.append(datetime.combine(after, ctx.clock(after).time()))
    if open_end == "clean" and stages[-1] not in CLOSED and times[-1] + timedelta(days=STALL_DAYS) < ctx.as_of_end:
        lost = next_workday(times[-1].date() + timedelta(days=rng.randint(20, STALL_DAYS - 5)))
        stages.append("lost")  # an old open opportunity is closed as lost before it stalls
        times.append(datetime.combine(lost, ctx.clock(lost).time()))
    return stages, times


def _place(ctx: Context, gaps: list[Gap], clocks: list[time], first: date, latest: date) -> list[datetime] | None:
    """Times for `gaps` starting at a random workday on or after `first`, the last on or before `latest`."""
    span = sum(
        g * 7 // 5 + 1 if isinstance(g, int) else (g.days if isinstance(g, timedelta) else g[1] + 3) for g in gaps
    )
    start = first + timedelta(days=ctx.rng.randint(0, max(0, (latest - first).days - span)))
    while start >= first:
        times = _times(gaps, clocks, next_workday(start))
        overshoot = (times[-1].date() - latest).days
        if overshoot <= 0:
            return times
        start -= timedelta(days=overshoot)
    return None


def _times(gaps: list[Gap], clocks: list[time], day: date) -> list[datetime]:
    """Stage times from the first stage's day, following `gaps` and the drawn clock times."""
    times: list[datetime] = []
    for gap, clock in zip(gaps, clocks, strict=True):
        if not times:
            times.append(datetime.combine(day, clock))
        elif isinstance(gap, timedelta):
            times.append(times[-1] + gap)
        elif isinstance(gap, tuple):
            day = next_workday(times[-1].date() + timedelta(days=gap[1]))
            times.append(datetime.combine(day, clock))
        elif gap == 0:
            times.append(times[-1])
        else:
            day = add_workdays(times[-1].date(), gap)
            times.append(datetime.combine(day, clock))
    return times


def _stalled(ctx: Context, stages: Sequence[str], times: Sequence[datetime]) -> bool:
    """STG-004: an open stage with no later stage within 90 days, the 90 days over by the as-of day."""
    for stage, at in zip(stages, times, strict=True):
        deadline = at + timedelta(days=STALL_DAYS)
        if stage in CLOSED or at < ctx.since_start or deadline >= ctx.as_of_end:
            continue
        if not any(at < other <= deadline for other in times):
            return True
    return False


def _after_sales_missed(ctx: Context, stages: Sequence[str], times: Sequence[datetime]) -> bool:
    """STG-005: a deal with no after-sales stage within 30 days, the 30 days over by the as-of day."""
    for stage, at in zip(stages, times, strict=True):
        deadline = at + timedelta(days=AFTER_SALES_DAYS)
        if stage != "deal" or at < ctx.since_start or deadline >= ctx.as_of_end:
            continue
        if not any(s == "after_sales" and t <= deadline for s, t in zip(stages, times, strict=True)):
            return True
    return False


def presales(ctx: Context, summaries: list[Opportunity]) -> None:
    """Pre-sales requests for about a third of opportunities that reached a proposal (PRE-001).

    Requests are made on working days; the answer is due two working days
    later at the same time. Near-misses: answered exactly at the deadline, and
    unanswered requests whose deadline is still ahead at the end of the as-of day.
    """
    rng = ctx.rng
    for opp in summaries:
        stages = opp.stages
        if "proposal" not in stages or rng.random() > 0.35:
            continue
        before = stages.get("identification", stages["proposal"])
        requested = ctx.clock(add_workdays(before.date(), rng.randint(0, 2)))
        if requested <= before:
            requested = before + timedelta(hours=1)
        if requested >= ctx.as_of_end:
            continue
        deadline = datetime.combine(add_workdays(requested.date(), 2), requested.time())
        roll = rng.random()
        if roll < 0.08:
            answered = None
        elif roll < 0.2:
            answered = requested + timedelta(days=rng.randint(4, 9), hours=rng.randint(0, 6))
        elif roll < 0.25:
            answered = deadline  # near-miss: exactly on the deadline is on time
        else:
            answered = requested + timedelta(hours=rng.randint(2, 60))
        if answered is not None and answered >= ctx.as_of_end:
            answered = None
        request_id = ctx.next_id("PS", 4)
        if (answered is None and deadline < ctx.as_of_end) or (answered is not None and answered > deadline):
            ctx.truth.add("PRE-001", request_id, "")
        ctx.emit(
            "presales_request",
            id=request_id,
            requested_by=opp.owner,
            opportunity_id=opp.id,
            topic=rng.choice(PRESALES_TOPICS),
            requested_at=requested,
            answered_at=answered,
        )

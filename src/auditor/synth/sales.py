"""Accounts, opportunities through the sales stages (STG-001) and pre-sales requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import get_args

from auditor.facts.kinds import Stage
from auditor.synth.context import Context, add_workdays, next_workday
from auditor.synth.org import Member, Org

COVERED: tuple[str, ...] = ("PRE-001", "STG-001", "STG-002", "STG-003")
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
    """The stage sequence of one opportunity for an STG-001 case."""
    rng = ctx.rng
    start = rng.choice((0, 0, 0, 1, 2))
    prefix = list(FUNNEL[start : FUNNEL.index("identification") + 1])
    tail_end = rng.choice(("proposal", "negotiation", "deal", "deal", "after_sales"))
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
        stages = [*prefix, "qualification", "deal", *(["after_sales"] if rng.random() < 0.5 else [])]
    elif case == LATE_QUALIFICATION:
        stages = [*prefix, tail[0], "qualification", *tail[1:]]
    else:  # clean and SAME_TIME_QUALIFICATION
        stages = [*prefix, "qualification", *tail]
    return [*stages, "lost"] if lost else stages


def opportunities(ctx: Context, org: Org, owned: dict[str, list[str]]) -> list[Opportunity]:
    """Emit opportunity stages with STG-001 deviations; returns a summary per opportunity."""
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
    summaries = []
    for (rep, first, last), case in zip(plans, cases, strict=True):
        opp_id = ctx.next_id("OPP")
        stages = _stages_for(ctx, case)
        times = _stage_times(ctx, stages, case, first, last)
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
        summaries.append(Opportunity(opp_id, rep.id, dict(zip(stages, times, strict=True))))
    return summaries


def _stage_times(ctx: Context, stages: list[str], case: str, first: date, last: date) -> list[datetime]:
    """Increasing stage times within [first, last]; SAME_TIME puts qualification at the proposal."""
    rng = ctx.rng
    room = (last - first).days
    max_gap = max(1, min(10, room * 5 // 7 // (len(stages) + 3)))
    gaps = [0] + [rng.randint(1, max_gap) for _ in stages[1:]]
    if case == SAME_TIME_QUALIFICATION:
        gaps[stages.index("proposal")] = 0
    span = sum(gaps) * 7 // 5 + 4  # calendar days the workday gaps may take
    day = next_workday(first + timedelta(days=rng.randint(0, max(0, room - span))))
    times: list[datetime] = []
    for gap in gaps:
        if gap == 0 and times:
            times.append(times[-1])
            continue
        day = add_workdays(day, gap)
        times.append(ctx.clock(day))
    if times[-1].date() > last:
        raise RuntimeError("opportunity does not fit the window")
    return times


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

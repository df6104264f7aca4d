"""Sales material: requests and deliveries (MAT-001..003), stock counts and the request event log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from auditor.synth.context import Context, next_workday
from auditor.synth.org import Member, Org

COVERED: tuple[str, ...] = ("MAT-001", "MAT-002", "MAT-003")
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""

ITEMS = {
    "sales_kit": ("application forms", "product brochure pack", "rate card", "demo kit"),
    "promotion": ("posters", "flyers", "roll-up banner"),
    "representation": ("business cards", "name badge", "branded folder"),
}
REORDER_LEVEL = {"sales_kit": 40, "promotion": 25, "representation": 15}
TURNAROUND = timedelta(days=14)
OTHER_TURNAROUND = {"promotion": ("MAT-002", timedelta(days=21)), "representation": ("MAT-003", timedelta(days=7))}

# MAT-001 cases for sales kit requests.
ON_TIME = "clean"
AT_DEADLINE = "at_deadline"  # near-miss: delivered exactly at the deadline
LATE_DAY = "late_day"  # delivered a day (or a few) after the deadline: finding
LATE_HOURS = "late_hours"  # delivered a few hours after the deadline: finding
UNDELIVERED = "undelivered"  # nothing delivered, deadline passed: finding
PARTIAL_THEN_LATE = "partial_then_late"  # first part on time, rest late: clean
NOT_YET_DUE = "not_yet_due"  # nothing delivered, deadline on/after the end of as-of: clean
FINDINGS = frozenset({LATE_DAY, LATE_HOURS, UNDELIVERED})


@dataclass
class Request:
    """One material request and its deliveries (time, quantity)."""

    id: str
    category: str
    item: str
    requested_by: Member
    requested_at: datetime
    quantity: int
    deliveries: list[tuple[datetime, int]] = field(default_factory=list)


def _request_time(
    ctx: Context, requesters: list[Member], first: datetime, last: datetime
) -> tuple[datetime, Member] | None:
    """A workday time in [first, last] and someone active then; None when nobody fits."""
    rng = ctx.rng
    if last < first:
        return None
    for _ in range(20):
        day = next_workday(first.date() + timedelta(days=rng.randint(0, (last - first).days)))
        at = ctx.clock(day, 8, 16)
        if not first <= at <= last:
            continue
        active = [m for m in requesters if m.active_on(day)]
        if active:
            return at, rng.choice(active)
    return None


def material(ctx: Context, org: Org) -> None:
    """Emit requests, deliveries, stock counts and the request process event log."""
    requesters = [*org.reps, *org.partners]
    requests = _sales_kits(ctx, requesters)
    requests += _other_material(ctx, [*requesters, *org.by_role("branch_manager")])
    requests.sort(key=lambda r: r.requested_at)
    for req in requests:
        ctx.emit(
            "material_request",
            id=req.id,
            category=req.category,
            item=req.item,
            requested_by=req.requested_by.id,
            requested_at=req.requested_at,
            quantity=req.quantity,
        )
        for at, quantity in req.deliveries:
            ctx.emit("material_delivery", request_id=req.id, delivered_at=at, quantity=quantity)
    _event_log(ctx, org, requests)
    _stock(ctx, org)


def _sales_kits(ctx: Context, requesters: list[Member]) -> list[Request]:
    """Sales kit requests with MAT-001 deviations recorded in the truth."""
    rng = ctx.rng
    count = round(len(requesters) * len(ctx.months) * 1.4)
    cases = ctx.pick_counts(
        count,
        {
            AT_DEADLINE: 0.04,
            LATE_DAY: 0.06,
            LATE_HOURS: 0.04,
            UNDELIVERED: 0.05,
            PARTIAL_THEN_LATE: 0.03,
            NOT_YET_DUE: 0.03,
        },
    )
    cases.insert(0, NOT_YET_DUE)  # first: one whose deadline is exactly the end of the as-of day
    start, end = ctx.since_start, ctx.as_of_end
    requests = []
    for index, case in enumerate(cases):
        if index == 0:
            moment = end - TURNAROUND
            active = [m for m in requesters if m.active_on(moment.date())]
            picked = (moment, rng.choice(active))
        elif case == NOT_YET_DUE:
            picked = _request_time(ctx, requesters, end - TURNAROUND, end - timedelta(hours=8))
        elif case in (LATE_DAY, PARTIAL_THEN_LATE):
            picked = _request_time(ctx, requesters, start, end - TURNAROUND - timedelta(days=6))
        else:
            picked = _request_time(ctx, requesters, start, end - TURNAROUND - timedelta(days=1))
        if picked is None:
            continue
        at, who = picked
        item = rng.choice(ITEMS["sales_kit"])
        req = Request(ctx.next_id("MR"), "sales_kit", item, who, at, rng.randint(1, 10) * 10)
        deadline = at + TURNAROUND
        if case == ON_TIME:
            latest = deadline.date() - timedelta(days=1)
            day = ctx.workday_between(at.date() + timedelta(days=1), latest)
            delivered = ctx.clock(day, 9, 17)
            if not at < delivered < deadline:
                delivered = at + timedelta(hours=2)
            req.deliveries.append((delivered, req.quantity))
        elif case == AT_DEADLINE:
            req.deliveries.append((deadline, req.quantity))
        elif case == LATE_DAY:
            req.deliveries.append((deadline + timedelta(days=rng.choice((1, 1, 2, 5))), req.quantity))
        elif case == LATE_HOURS:
            req.deliveries.append((deadline + timedelta(hours=rng.randint(1, 6)), req.quantity))
        elif case == PARTIAL_THEN_LATE:
            part = req.quantity // 2
            req.deliveries.append((at + timedelta(days=rng.randint(3, 12)), part))
            req.deliveries.append((deadline + timedelta(days=rng.randint(1, 4)), req.quantity - part))
        if case in FINDINGS:
            ctx.truth.add("MAT-001", req.id, "")
        requests.append(req)
    return requests


def _other_material(ctx: Context, requesters: list[Member]) -> list[Request]:
    """Promotion (MAT-002, 21 days) and representation (MAT-003, 7 days) requests, often late.

    Near-misses: deliveries exactly at the deadline, and undelivered requests
    whose deadline is still ahead at the end of the as-of day.
    """
    rng = ctx.rng
    requests = []
    for _ in range(round(len(requesters) * len(ctx.months) * 0.45)):
        picked = _request_time(ctx, requesters, ctx.since_start, ctx.as_of_end - timedelta(days=1))
        if picked is None:
            continue
        at, who = picked
        category = rng.choice(("promotion", "representation"))
        req = Request(ctx.next_id("MR"), category, rng.choice(ITEMS[category]), who, at, rng.randint(1, 20) * 5)
        rule_id, turnaround = OTHER_TURNAROUND[category]
        deadline = at + turnaround
        if rng.random() > 0.1:
            at_deadline = rng.random() < 0.06
            longest = {"promotion": 30, "representation": 10}[category]  # cards and badges come quickly
            typical = at + timedelta(days=rng.randint(1, longest), hours=rng.randint(0, 8))
            delivered = deadline if at_deadline else typical
            if delivered < ctx.as_of_end:
                req.deliveries.append((delivered, req.quantity))
        late = any(when > deadline for when, _ in req.deliveries)
        if late or (not req.deliveries and deadline < ctx.as_of_end):
            ctx.truth.add(rule_id, req.id, "")
        requests.append(req)
    return requests


def _event_log(ctx: Context, org: Org, requests: list[Request]) -> None:
    """The request handling process as an event log: submitted, approved, delivered."""
    rng = ctx.rng
    approvers = {m.branch: m.id for m in org.by_role("branch_manager")}
    for req in requests:
        ctx.emit(
            "activity",
            case_id=req.id,
            activity="request_submitted",
            at=req.requested_at,
            seq=0,
            lifecycle="complete",
            resource=req.requested_by.id,
        )
        approved = req.requested_at + timedelta(minutes=rng.randint(10, 50))
        if approved < ctx.as_of_end:
            ctx.emit(
                "activity",
                case_id=req.id,
                activity="request_approved",
                at=approved,
                seq=0,
                lifecycle="complete",
                resource=approvers.get(req.requested_by.branch, "DIR-01"),
            )
        for at, _quantity in req.deliveries:
            ctx.emit(
                "activity",
                case_id=req.id,
                activity="delivery_received",
                at=at,
                seq=0,
                lifecycle="complete",
                resource="logistics",
            )


def _stock(ctx: Context, org: Org) -> None:
    """Monthly stock counts of every item at every branch (including the partial month)."""
    rng = ctx.rng
    for month in [*ctx.months, ctx.data_end]:
        day: date = next_workday(month)
        if day > ctx.as_of:
            continue
        for _region, branch in org.branches:
            for category, items in ITEMS.items():
                for item in items:
                    level = REORDER_LEVEL[category]
                    ctx.emit(
                        "material_stock",
                        item=item,
                        category=category,
                        branch=branch,
                        at=ctx.clock(day, 7, 8),
                        on_hand=max(0, int(rng.gauss(level * 2, level))),
                        reorder_level=level,
                    )

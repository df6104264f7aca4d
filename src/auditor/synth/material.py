"""Sales material: requests and deliveries (MAT-001..003, MAT-007), joiners' visiting cards and badges
(MAT-004, MAT-005), stock counts and replenishment (MAT-006), and the request event log."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from auditor.synth.context import Context, is_workday, next_workday
from auditor.synth.org import Member, Org

COVERED: tuple[str, ...] = ("MAT-001", "MAT-002", "MAT-003", "MAT-004", "MAT-005", "MAT-006", "MAT-007")
"""Rules of this module whose every deviation is injected and recorded in the ground truth."""

CARDS, BADGE = "visiting cards", "badge"
ITEMS = {
    "sales_kit": ("application forms", "product brochure pack", "rate card", "demo kit"),
    "promotion": ("posters", "flyers", "roll-up banner"),
    "representation": (CARDS, BADGE, "branded folder"),
}
REORDER_LEVEL = {"sales_kit": 40, "promotion": 25, "representation": 15}
TURNAROUND = timedelta(days=14)
OTHER_TURNAROUND = {"promotion": ("MAT-002", timedelta(days=21)), "representation": ("MAT-003", timedelta(days=7))}
TURNAROUNDS = {"sales_kit": ("MAT-001", TURNAROUND), **OTHER_TURNAROUND}
PERSONAL = frozenset({"sales_kit", "representation"})
"""Categories requested for one person: the requester is the recipient (promotion material is for the branch)."""
JOINER_LIMIT = timedelta(days=7)  # MAT-004 / MAT-005: cards and badge within 7 days of joining
ONBOARDING_DAYS = timedelta(days=14)  # a joiner's own card and badge requests are not needed this early
JOINER_RULES = {CARDS: "MAT-004", BADGE: "MAT-005"}
REORDER_LIMIT = timedelta(days=5)  # MAT-006: replenishment requested within 5 days of a low count
LOOKBACK = timedelta(days=14)  # MAT-006: a request up to 14 days before the count is still pending
REMAINDER = timedelta(days=14)  # MAT-007: the rest of a short first delivery follows within 14 days
MIN_FLAGGED = 5
"""At least this many subjects of a per-joiner or per-branch rule get a deviation (when there are that many)."""

# MAT-001 cases for sales kit requests.
ON_TIME = "clean"
AT_DEADLINE = "at_deadline"  # near-miss: delivered exactly at the deadline
LATE_DAY = "late_day"  # delivered a day (or a few) after the deadline: finding
LATE_HOURS = "late_hours"  # delivered a few hours after the deadline: finding
UNDELIVERED = "undelivered"  # nothing delivered, deadline passed: finding
PARTIAL_THEN_LATE = "partial_then_late"  # first part on time, rest late: clean (MAT-007 when 15 days apart)
NOT_YET_DUE = "not_yet_due"  # nothing delivered, deadline on/after the end of as-of: clean
FINDINGS = frozenset({LATE_DAY, LATE_HOURS, UNDELIVERED})

# MAT-004 / MAT-005 cases for a joiner's visiting cards or badge (ordered by the joiner's manager).
EARLY = "ready_before_joining"  # near-miss: delivered before the joining day
AT_LIMIT = "at_limit"  # near-miss: delivered exactly 7 days after joining (midnight)
LATE = "late"  # delivered after the 7 days (from a few hours to two weeks): finding
NEVER = "never"  # not delivered (not ordered, or ordered and still open): finding

# MAT-006 cases for a count below the reorder level.
PENDING = "pending"  # requested 3-13 days before the count: clean
PENDING_AT_LIMIT = "pending_at_limit"  # near-miss: requested exactly 14 days before the count
REQUESTED_AT_LIMIT = "requested_at_limit"  # near-miss: requested exactly 5 days after the count
NOT_REQUESTED = "not_requested"  # finding
REQUESTED_LATE = "requested_late"  # requested 6-10 days after the count: finding
AT_LEVEL = "at_level"  # near-miss: a count exactly at the reorder level needs no request

# MAT-007 cases for a replenishment request's deliveries.
FULL = "clean"
SHORT = "short"  # one short delivery, nothing more: finding
REST_LATE = "rest_late"  # short, the rest 15-30 days later: finding
SPLIT = "split"  # short, the rest within 2-13 days: clean
REST_AT_LIMIT = "rest_at_limit"  # near-miss: the rest exactly 14 days after the first delivery
OVER = "over"  # more than requested: clean


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
    recipient: Member | None = None
    branch: str | None = None


def own_stream(ctx: Context, part: str) -> random.Random:
    """A random stream of its own for one part of an area, seeded from the run's RNG without advancing it.

    Parts drawing from their own streams can change without changing the
    data of the areas generated after them.
    """
    return random.Random(f"{part}:{ctx.rng.getstate()}")


def _clock(rng: random.Random, day: date, first_hour: int = 8, last_hour: int = 17) -> datetime:
    """A business time on `day`, on a quarter hour."""
    return datetime.combine(day, time(rng.randint(first_hour, last_hour), rng.choice((0, 15, 30, 45))))


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
    _event_log(ctx, ctx.rng, org, requests)
    counts = _stock_counts(ctx, org)
    rng = own_stream(ctx, "material")
    added = _onboarding(ctx, rng, org) + _replenishment(ctx, rng, org, counts)
    _event_log(ctx, rng, org, added)
    for req in added:
        _record_turnaround(ctx, req)
    requests += added
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
            branch=req.branch,
        )
        for at, quantity in req.deliveries:
            ctx.emit(
                "material_delivery",
                request_id=req.id,
                delivered_at=at,
                quantity=quantity,
                item=req.item,
                recipient_id=req.recipient.id if req.recipient else None,
            )
        if _delivered_short(ctx, req):
            ctx.truth.add("MAT-007", req.id, "")
    for count in counts:
        ctx.emit("material_stock", **vars(count))


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
        req = Request(ctx.next_id("MR"), "sales_kit", item, who, at, rng.randint(1, 10) * 10, recipient=who)
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
        item = rng.choice(ITEMS[category])
        if item in JOINER_RULES and at.date() < who.joined_on + ONBOARDING_DAYS:
            item = "branded folder"  # a joiner's cards and badge come with the onboarding (see _onboarding)
        recipient = who if category in PERSONAL else None
        req = Request(ctx.next_id("MR"), category, item, who, at, rng.randint(1, 20) * 5, recipient=recipient)
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


def _record_turnaround(ctx: Context, req: Request) -> None:
    """Record a turnaround finding (MAT-001..003) of a request: no delivery by its deadline, which has passed."""
    rule_id, turnaround = TURNAROUNDS[req.category]
    deadline = req.requested_at + turnaround
    on_time = any(at <= deadline for at, _ in req.deliveries)
    if req.requested_at >= ctx.since_start and not on_time and deadline < ctx.as_of_end:
        ctx.truth.add(rule_id, req.id, "")


def _delivered_short(ctx: Context, req: Request) -> bool:
    """MAT-007: the first delivery is short and nothing else came within 14 days of it (which have passed)."""
    if req.requested_at < ctx.since_start or not req.deliveries:
        return False
    first, *rest = sorted(req.deliveries)
    if first[1] >= req.quantity or first[0] + REMAINDER >= ctx.as_of_end:
        return False
    return not any(first[0] < at <= first[0] + REMAINDER for at, _ in rest)


def flagged_count(count: int, share: float = 0.6) -> int:
    """How many of `count` subjects get a deviation: about `share`, and at least MIN_FLAGGED when there are."""
    return max(min(count, MIN_FLAGGED), round(count * share))


def _onboarding(ctx: Context, rng: random.Random, org: Org) -> list[Request]:
    """Visiting cards (MAT-004) and a badge (MAT-005) for every joiner, ordered by the joiner's manager.

    Most joiners of a run get theirs late or not at all (each rule needs
    several findings among few joiners); the others get them before joining
    or exactly 7 days after joining.
    """
    joiners = [m for m in org.members if m.joined_on >= ctx.since]
    requests = []
    for item, near_miss in ((CARDS, AT_LIMIT), (BADGE, EARLY)):
        flagged = flagged_count(len(joiners))
        late = flagged - flagged * 2 // 5
        cases = [LATE] * late + [NEVER] * (flagged - late)
        rng.shuffle(cases)
        clean = [near_miss, *(rng.choice((EARLY, ON_TIME, AT_LIMIT)) for _ in joiners)][: len(joiners) - flagged]
        for joiner, case in zip(joiners, cases + clean, strict=True):
            req = _joiner_request(ctx, rng, org, joiner, item, case)
            if req is not None:
                requests.append(req)
            if case in (LATE, NEVER) and datetime.combine(joiner.joined_on, time()) + JOINER_LIMIT < ctx.as_of_end:
                ctx.truth.add(JOINER_RULES[item], joiner.id, "")
    return requests


def _joiner_request(ctx: Context, rng: random.Random, org: Org, joiner: Member, item: str, case: str) -> Request | None:
    """The manager's request of one item for a joiner, delivered as the case says (None: never ordered)."""
    joined = datetime.combine(joiner.joined_on, time())
    deadline = joined + JOINER_LIMIT
    delivered: datetime | None = None
    if case == EARLY:
        delivered = _clock(rng, next_workday(joiner.joined_on - timedelta(days=rng.randint(3, 6))))
    elif case == ON_TIME:
        day = next_workday(joiner.joined_on + timedelta(days=rng.randint(0, 3)))
        delivered = _clock(rng, min(day, joiner.joined_on + timedelta(days=6)))
    elif case == AT_LIMIT:
        delivered = deadline  # recorded as a date: the first moment of the eighth day
    elif case == LATE:
        days_late = rng.choice((0, 0, rng.randint(1, 14)))  # often on the eighth day itself
        delivered = _clock(rng, joiner.joined_on + JOINER_LIMIT + timedelta(days=days_late))
    elif rng.random() < 0.5:
        return None  # never ordered
    ordered_on = (delivered or joined).date() - timedelta(days=rng.randint(1, 4))
    while not is_workday(ordered_on):
        ordered_on -= timedelta(days=1)
    ordered = _clock(rng, ordered_on, 8, 16)
    manager = org.get(joiner.manager_id) if joiner.manager_id else joiner
    quantity = 200 if item == CARDS else 1
    req = Request(ctx.next_id("MR"), "representation", item, manager, ordered, quantity, recipient=joiner)
    if delivered is not None and delivered < ctx.as_of_end:
        req.deliveries.append((delivered, quantity))
    return req


@dataclass
class Count:
    """A stock count of one item at one branch (a `material_stock` fact)."""

    item: str
    category: str
    branch: str
    at: datetime
    on_hand: int
    reorder_level: int

    @property
    def low(self) -> bool:
        return self.on_hand < self.reorder_level


def _stock_counts(ctx: Context, org: Org) -> list[Count]:
    """Monthly stock counts of every item at every branch (including the partial month)."""
    rng = ctx.rng
    counts = []
    for month in [*ctx.months, ctx.data_end]:
        day: date = next_workday(month)
        if day > ctx.as_of:
            continue
        for _region, branch in org.branches:
            for category, items in ITEMS.items():
                for item in items:
                    level = REORDER_LEVEL[category]
                    at = ctx.clock(day, 7, 8)
                    on_hand = max(0, int(rng.gauss(level * 2, level)))
                    counts.append(Count(item, category, branch, at, on_hand, level))
    return counts


def _replenishment(ctx: Context, rng: random.Random, org: Org, counts: list[Count]) -> list[Request]:
    """Branch managers' replenishment requests after low counts; MAT-006 misses recorded per branch.

    Every branch but one misses a replenishment at least once (every branch
    when there are only a few); some requests are delivered short (MAT-007).
    """
    managers = {m.branch: m for m in org.by_role("branch_manager")}
    branches = [branch for _region, branch in org.branches]
    flagged = set(rng.sample(branches, min(len(branches), max(MIN_FLAGGED, len(branches) - 1))))
    for count in counts:
        if not count.low and rng.random() < 0.03:
            count.on_hand = count.reorder_level  # AT_LEVEL
    cases: list[tuple[Count, str]] = []
    for branch in branches:
        mine = [c for c in counts if c.branch == branch]
        low = [c for c in mine if c.low]
        if not low and mine:  # a branch runs low on something within a few months
            low = [rng.choice(mine)]
            low[0].on_hand = low[0].reorder_level // 3
        misses = rng.sample(low, min(len(low), rng.choice((1, 1, 2)))) if branch in flagged else []
        for count in low:
            if count in misses:
                cases.append((count, rng.choice((NOT_REQUESTED, NOT_REQUESTED, REQUESTED_LATE))))
            else:
                cases.append((count, rng.choices((ON_TIME, PENDING), weights=(75, 25))[0]))
    clean = [i for i, (count, case) in enumerate(cases) if case in (ON_TIME, PENDING) and count.at >= ctx.since_start]
    # near-misses: requests exactly at the limits, first in a branch without findings (if there is one)
    boundaries = (PENDING_AT_LIMIT, REQUESTED_AT_LIMIT) * 2
    preferred = [i for i in clean if cases[i][0].branch not in flagged]
    others = [i for i in clean if cases[i][0].branch in flagged]
    chosen = rng.sample(preferred, min(len(preferred), 2)) + rng.sample(others, min(len(others), 2))
    for index, near_miss in zip(chosen, boundaries, strict=False):
        cases[index] = (cases[index][0], near_miss)
    requests = []
    missed: set[str] = set()
    for count, case in cases:
        at = _replenish_time(rng, count, case)
        if at is not None and at < ctx.as_of_end:
            quantity = -(-(3 * count.reorder_level - count.on_hand) // 5) * 5
            req = Request(ctx.next_id("MR"), count.category, count.item, managers[count.branch], at, quantity)
            req.branch = count.branch
            requests.append(req)
        on_time = at is not None and at <= count.at + REORDER_LIMIT and at < ctx.as_of_end
        if not on_time and count.at >= ctx.since_start and count.at + REORDER_LIMIT < ctx.as_of_end:
            missed.add(count.branch)
    for branch in sorted(missed):
        ctx.truth.add("MAT-006", branch, "")
    _deliver(ctx, rng, requests)
    return requests


def _replenish_time(rng: random.Random, count: Count, case: str) -> datetime | None:
    """When the branch requests replenishment after a low count (None: it does not)."""
    if case == NOT_REQUESTED:
        return None
    if case == PENDING:
        day = next_workday(count.at.date() - timedelta(days=rng.randint(3, 13)))
        return min(_clock(rng, day, 9, 16), count.at - timedelta(hours=1))
    if case == PENDING_AT_LIMIT:
        return count.at - LOOKBACK
    if case == REQUESTED_AT_LIMIT:
        return count.at + REORDER_LIMIT
    if case == REQUESTED_LATE:
        return _clock(rng, count.at.date() + timedelta(days=rng.randint(6, 10)), 9, 16)
    day = next_workday(count.at.date() + timedelta(days=rng.randint(0, 3)))
    return min(_clock(rng, day, 9, 16), count.at + REORDER_LIMIT)


def _deliver(ctx: Context, rng: random.Random, requests: list[Request]) -> None:
    """Deliver replenishment within its turnaround; some first deliveries short (MAT-007 cases)."""
    long_ago = [r for r in requests if ctx.since_start <= r.requested_at < ctx.as_of_end - timedelta(days=50)]
    shares = {SHORT: 0.06, REST_LATE: 0.05, SPLIT: 0.06, REST_AT_LIMIT: 0.02, OVER: 0.03}
    minimum = {SHORT: 3, REST_LATE: 3, SPLIT: 2, REST_AT_LIMIT: 1, OVER: 1}
    labels = [
        label for label, share in shares.items() for _ in range(max(minimum[label], round(len(long_ago) * share)))
    ]
    labels = labels[: len(long_ago)] + [FULL] * (len(long_ago) - len(labels))
    rng.shuffle(labels)
    cases = {r.id: label for r, label in zip(long_ago, labels, strict=True)}
    for req in requests:
        case = cases.get(req.id, FULL)
        _rule, turnaround = TURNAROUNDS[req.category]
        day = next_workday(req.requested_at.date() + timedelta(days=rng.randint(1, turnaround.days - 3)))
        first = _clock(rng, day, 9, 17)
        part = max(1, round(req.quantity * rng.uniform(0.3, 0.8)))
        if case == FULL:
            planned = [(first, req.quantity)]
        elif case == OVER:
            planned = [(first, req.quantity + rng.choice((5, 10, 20)))]
        elif case == SHORT:
            planned = [(first, part)]
        else:
            gap = {
                REST_LATE: timedelta(days=rng.randint(15, 30)),
                SPLIT: timedelta(days=rng.randint(2, 13)),
                REST_AT_LIMIT: REMAINDER,
            }[case]
            planned = [(first, part), (first + gap, req.quantity - part)]
        req.deliveries.extend((at, quantity) for at, quantity in planned if at < ctx.as_of_end)


def _event_log(ctx: Context, rng: random.Random, org: Org, requests: list[Request]) -> None:
    """The request handling process as an event log: submitted, approved, delivered."""
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

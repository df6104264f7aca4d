"""Turnaround times (TAT): sales material per category and step, and pre-sales support."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any, NamedTuple

from auditor.engine.window import add_duration
from auditor.kpis.stats import median, nearest_rank, percent, rounded
from auditor.rulebook.expr import Duration

MATERIAL_TARGET_DAYS: dict[str, float] = {"sales_kit": 14, "promotion": 21, "representation": 7}
"""Default target per material category, in calendar days (the MAT-001..003 turnarounds)."""
MATERIAL_STEPS: dict[str, str] = {
    "first_delivery": "request → first delivery",
    "complete_delivery": "request → complete delivery",
}
"""The measured steps of a material request, with their labels."""
PRESALES_TARGET_BUSINESS_DAYS = 2
"""Default pre-sales answer target (PRE-001), in business days."""
P90 = 90
DAY_SECONDS = 86400
HOUR_SECONDS = 3600


class Turnaround(NamedTuple):
    """One request at one step: when it was made, when the step was reached (None: open), its target deadline."""

    requested_at: datetime
    done_at: datetime | None
    deadline: datetime

    @property
    def on_time(self) -> bool:
        """Reached at or before the deadline."""
        return self.done_at is not None and self.done_at <= self.deadline


class Tally(NamedTuple):
    """What `summarise` reports of some requests at one step, before the statistics: tallies of several groups
    add up (`merged`) to the tally of all their requests."""

    requests: int
    durations: list[float]
    decided: int
    within: int

    @classmethod
    def of(cls, items: Sequence[Turnaround], window_end: datetime, unit_seconds: int) -> Tally:
        """Durations are calendar time in the given unit; a request counts as decided when it was reached on
        time, or its deadline passed before the window end (an open request whose deadline is still ahead is
        undecided)."""
        durations = []
        within = decided = 0
        for requested_at, done_at, deadline in items:  # one pass: a sweep summarises every request in its window
            if done_at is not None:
                durations.append((done_at - requested_at).total_seconds() / unit_seconds)
                if done_at <= deadline:
                    within += 1
                    decided += 1
                    continue
            if deadline < window_end:
                decided += 1
        return cls(len(items), durations, decided, within)

    @classmethod
    def merged(cls, tallies: Sequence[Tally]) -> Tally:
        return cls(
            sum(t.requests for t in tallies),
            [d for t in tallies for d in t.durations],
            sum(t.decided for t in tallies),
            sum(t.within for t in tallies),
        )

    def summary(self) -> dict[str, Any]:
        """Count, median, p90 (nearest rank), share within target (of the decided requests) and open count."""
        durations = sorted(self.durations)
        return {
            "requests": self.requests,
            "count": len(durations),
            "median": rounded(median(durations)),
            "p90": rounded(nearest_rank(durations, P90)),
            "decided": self.decided,
            "within_target": self.within,
            "within_target_pct": percent(self.within, self.decided),
            "open": self.requests - len(durations),
        }


def summarise(items: Sequence[Turnaround], window_end: datetime, unit_seconds: int) -> dict[str, Any]:
    """Count, median, p90 (nearest rank), share within target and open count of one step (`Tally`)."""
    return Tally.of(items, window_end, unit_seconds).summary()


def first_delivery(deliveries: Sequence[Any]) -> datetime | None:
    """The earliest delivery of a request (of any quantity), None if there is none; `deliveries` in delivery
    order (`by_delivery`)."""
    return deliveries[0].delivered_at if deliveries else None


def complete_delivery(quantity: int, deliveries: Sequence[Any]) -> datetime | None:
    """When the delivered quantities, summed in delivery order (`deliveries` are in it: `by_delivery`), first
    reach the requested quantity."""
    delivered = 0
    for delivery in deliveries:
        delivered += delivery.quantity
        if delivered >= quantity:
            return delivery.delivered_at
    return None


def by_delivery(deliveries: Iterable[Any]) -> dict[str, list[Any]]:
    """Each request's deliveries in delivery order (the same times in the order given), by request id: sorted
    once for both steps."""
    by_request: dict[str, list[Any]] = defaultdict(list)
    for delivery in deliveries:
        by_request[delivery.request_id].append(delivery)
    for delivered in by_request.values():
        if len(delivered) > 1:
            delivered.sort(key=_delivered_at)
    return by_request


_delivered_at = attrgetter("delivered_at")


def material_tat(
    requests: Sequence[Any],
    deliveries: Sequence[Any],
    window_end: datetime,
    targets: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """TAT of material requests per category and step, plus an `all` row per step (each request its own target)."""
    targets = {**MATERIAL_TARGET_DAYS, **(targets or {})}
    limits = {category: timedelta(days=days) for category, days in targets.items()}
    by_request = by_delivery(deliveries)
    steps: dict[str, dict[str, list[Turnaround]]] = {step: {c: [] for c in targets} for step in MATERIAL_STEPS}
    firsts, completes = steps["first_delivery"], steps["complete_delivery"]
    for r in requests:  # each request once, for both steps
        deadline = r.requested_at + limits[r.category]
        delivered = by_request.get(r.id, ())
        firsts[r.category].append(Turnaround(r.requested_at, first_delivery(delivered), deadline))
        completes[r.category].append(Turnaround(r.requested_at, complete_delivery(r.quantity, delivered), deadline))
    rows = []
    for step, label in MATERIAL_STEPS.items():
        tallies = {category: Tally.of(items, window_end, DAY_SECONDS) for category, items in steps[step].items()}
        for category, tally in tallies.items():
            rows.append({"category": category, "step": step, "step_label": label, "target_days": targets[category]})
            rows[-1].update(tally.summary())
        rows.append({"category": "all", "step": step, "step_label": label, "target_days": None})
        rows[-1].update(Tally.merged(list(tallies.values())).summary())
    return {"unit": "days", "targets_days": targets, "rows": rows}


def presales_tat(
    requests: Sequence[Any],
    window_end: datetime,
    business_days: int = PRESALES_TARGET_BUSINESS_DAYS,
    holidays: frozenset[date] = frozenset(),
) -> dict[str, Any]:
    """TAT of pre-sales requests in calendar hours; target in business days (weekends and holidays skipped)."""
    limit = Duration(business_days, "business_days")
    items = [
        Turnaround(
            r.requested_at,
            r.answered_at if r.answered_at is not None and r.answered_at < window_end else None,
            add_duration(r.requested_at, limit, holidays),
        )
        for r in requests
    ]
    return {"unit": "hours", "target_business_days": business_days, **summarise(items, window_end, HOUR_SECONDS)}

"""Conversion rate per region: opportunities that reached a deal among those active in the window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.kpis.stats import percent

DEAL_STAGE = "deal"
UNKNOWN_REGION = "unknown"


def opportunity_regions(stages: Sequence[Any], roster: Mapping[str, Any]) -> dict[str, str]:
    """Region of each opportunity: its owner's region at its earliest stage fact (ties: smallest owner id)."""
    earliest: dict[str, tuple[Any, str]] = {}
    get = earliest.get
    for stage in stages:
        known = get(stage.opportunity_id)
        if known is None or stage.at <= known[0]:  # most stages come later: no pair made for them
            first = (stage.at, stage.owner_id)  # earliest, then smallest owner id: compared as a pair
            if known is None or first < known:
                earliest[stage.opportunity_id] = first
    return {opp: region_of(owner, roster) for opp, (_, owner) in earliest.items()}


def region_of(person_id: str, roster: Mapping[str, Any]) -> str:
    """A person's region, `unknown` when the person is not in the roster or has no region."""
    person = roster.get(person_id)
    return person.region if person is not None and person.region else UNKNOWN_REGION


def conversion_by_region(stages: Sequence[Any], roster: Mapping[str, Any]) -> dict[str, Any]:
    """Inquiries, deals and conversion rate per region (sorted) and in total."""
    regions = opportunity_regions(stages, roster)
    deals = {s.opportunity_id for s in stages if s.stage == DEAL_STAGE}
    counts: dict[str, list[int]] = {}
    for opp, region in regions.items():
        tally = counts.setdefault(region, [0, 0])
        tally[0] += 1
        tally[1] += opp in deals
    rows = [_row(region, *counts[region]) for region in sorted(counts)]
    return {"regions": rows, "total": _row("total", len(regions), len(deals & regions.keys()))}


def _row(region: str, inquiries: int, deals: int) -> dict[str, Any]:
    return {"region": region, "inquiries": inquiries, "deals": deals, "rate": percent(deals, inquiries)}

"""Mystery-shopping KPIs: visits, average score, share at or above the threshold, checklist pass rate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from auditor.kpis.stats import percent

DEFAULT_MYSTERY_THRESHOLD = 70.0
"""Score at or above which a visit passes (REP-001 flags `score < min_score`, min_score 70)."""


def checklist_passed(visit: Any) -> bool:
    """Badge worn, visiting card given, current brochure, and product claims not found incorrect (unchecked passes)."""
    kit_ok = visit.badge_worn and visit.visiting_card_given and visit.brochure_current
    return bool(kit_ok) and visit.correct_claims is not False


def mystery_shopping(visits: Sequence[Any], threshold: float = DEFAULT_MYSTERY_THRESHOLD) -> dict[str, Any]:
    """The mystery-shopping KPIs of the visits (mystery_shop facts)."""
    count = len(visits)
    above = sum(1 for v in visits if v.score >= threshold)
    passed = sum(1 for v in visits if checklist_passed(v))
    return {
        "visits": count,
        # fsum: the exact sum, whatever order the visits come in (incremental sweeps keep them in another order)
        "average_score": None if count == 0 else round(math.fsum(v.score for v in visits) / count, 1),
        "threshold": threshold,
        "at_or_above_threshold": above,
        "at_or_above_threshold_pct": percent(above, count),
        "checklist_passed": passed,
        "checklist_passed_pct": percent(passed, count),
    }

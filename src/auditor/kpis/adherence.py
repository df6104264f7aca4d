"""Adherence: the share of judged subjects or occurrences without a violation, from a sweep's rule checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MONITORING_PROSPECTING_AREAS: tuple[str, ...] = ("coaching", "manager_cadence", "sales_stages")
"""Process areas of the "monitoring and prospecting" headline KPI.

`coaching` and `manager_cadence` are sales management monitoring its staff
(coaching sessions, ride-alongs, team meetings, pipeline reviews);
`sales_stages` is the prospecting and sales-stage process. Areas without
rule checks in a sweep simply add nothing.
"""


def adherence(checked: int, violations: int) -> float | None:
    """`100 × (1 − violations / checked)` rounded to one decimal; None when nothing was checked."""
    if checked == 0:
        return None
    return round(100 * (1 - violations / checked), 1)


def area_adherence(checks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Checked, violations and adherence per area (sorted by area) from per-rule check counts."""
    areas: dict[str, dict[str, Any]] = {}
    for check in checks:
        area = areas.setdefault(check["area"], {"area": check["area"], "checked": 0, "violations": 0})
        area["checked"] += check["checked"]
        area["violations"] += check["violations"]
    for area in areas.values():
        area["adherence"] = adherence(area["checked"], area["violations"])
    return sorted(areas.values(), key=lambda a: a["area"])


def combined_adherence(checks: Iterable[Mapping[str, Any]], areas: Iterable[str]) -> dict[str, Any]:
    """One adherence over the rule checks of several areas together (not an average of area adherences)."""
    wanted = tuple(areas)
    selected = [c for c in checks if c["area"] in wanted]
    checked = sum(c["checked"] for c in selected)
    violations = sum(c["violations"] for c in selected)
    return {
        "areas": list(wanted),
        "areas_checked": sorted({c["area"] for c in selected}),
        "checked": checked,
        "violations": violations,
        "adherence": adherence(checked, violations),
    }

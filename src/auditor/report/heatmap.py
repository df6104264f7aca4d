"""The managers' cadence heat map: per manager and month, the share of cadence checks met by the team.

A cadence check is one member and one period of a cadence rule in the
coaching and manager-cadence areas (team meetings, coaching sessions,
ride-alongs, pipeline and business reviews). The sweep stores each one with
the manager accountable for it; a period belongs to the month it starts in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.report.sections import person_names
from auditor.rulebook import Rule
from auditor.store.models import CadenceResult

HEATMAP_AREAS = ("coaching", "manager_cadence")


def cadence_heatmap(
    session: Session, sweep_id: int, rules: Sequence[Rule] = (), names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Months, rules and one row per manager with a cell per month: met, judged, adherence and per-rule detail.

    `names` gives managers' names by id (default: read from the roster).
    """
    titles = {r.id: r.title for r in rules}
    cells: dict[str, dict[str, dict[str, list[int]]]] = defaultdict(lambda: defaultdict(dict))
    months: set[str] = set()
    rule_ids: set[str] = set()
    result = CadenceResult
    query = select(result.manager_id, result.rule_id, result.period_start, result.met).where(
        result.sweep_id == sweep_id, result.area.in_(HEATMAP_AREAS)
    )
    for manager, rule_id, start, met in session.execute(query):
        month = f"{start.year}-{start.month:02d}"
        months.add(month)
        rule_ids.add(rule_id)
        tally = cells[manager or ""][month].setdefault(rule_id, [0, 0])
        tally[0] += int(bool(met))
        tally[1] += 1
    names = person_names(session) if names is None else names
    ordered_months = sorted(months)
    rows = []
    for manager in sorted(cells, key=lambda m: (m == "", names.get(m, m))):
        row_cells = []
        met_total = judged_total = 0
        for month in ordered_months:
            per_rule = cells[manager].get(month, {})
            met = sum(t[0] for t in per_rule.values())
            judged = sum(t[1] for t in per_rule.values())
            met_total, judged_total = met_total + met, judged_total + judged
            row_cells.append(
                {
                    "month": month,
                    "met": met,
                    "judged": judged,
                    "adherence": round(100 * met / judged, 1) if judged else None,
                    "rules": {rid: {"met": t[0], "judged": t[1]} for rid, t in sorted(per_rule.items())},
                }
            )
        label = f"{names[manager]} ({manager})" if manager in names else (manager or "(no manager)")
        rows.append(
            {
                "manager_id": manager,
                "name": label,
                "cells": row_cells,
                "adherence": round(100 * met_total / judged_total, 1) if judged_total else None,
            }
        )
    return {
        "months": ordered_months,
        "rules": [{"rule_id": rid, "title": titles.get(rid, "")} for rid in sorted(rule_ids)],
        "rows": rows,
    }

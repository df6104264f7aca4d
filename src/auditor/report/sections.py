"""The report's sections as plain data: accountability, trend, changes since the last sweep, oldest, waivers."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.findings.lifecycle import ACTIVE
from auditor.findings.query import finding_dict
from auditor.findings.waivers import Waiver
from auditor.kpis import adherence
from auditor.kpis.adherence import MONITORING_PROSPECTING_AREAS, combined_adherence
from auditor.rulebook import SEVERITY_ORDER
from auditor.store.models import FactRow, FindingEvent, RuleCheck, Sweep, SweepFinding, WaiverRow

SEVERITIES = sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__)
TREND_SWEEPS = 12
OLDEST = 10
WAIVER_HORIZON_DAYS = 30


def _counts(findings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Total, open, overdue and per-severity counts, in one pass."""
    total = active = overdue = 0
    severity = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        total += 1
        active += f["status"] in ACTIVE
        overdue += bool(f["overdue"])
        if f["severity"] in severity:
            severity[f["severity"]] += 1
    return {"total": total, "open": active, "overdue": overdue, **severity}


def by_area_and_severity(findings: Sequence[Mapping[str, Any]], areas: Iterable[str]) -> list[dict[str, Any]]:
    """Per process area (every area the sweep judged): findings by severity, open and overdue."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for f in findings:
        groups.setdefault(f["area"], []).append(f)
    names = sorted(set(areas) | set(groups))
    return [{"area": a, **_counts(groups.get(a, ()))} for a in names]


def accountability(findings: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Findings per region, branch and line manager, most findings first; `names` gives people's names."""
    out: dict[str, list[dict[str, Any]]] = {}
    fields = (("region", "regions"), ("branch", "branches"), ("manager_id", "managers"))
    groups: dict[str, dict[str, list[Mapping[str, Any]]]] = {field: {} for field, _ in fields}
    for f in findings:  # one pass for the three groupings
        for field, _ in fields:
            groups[field].setdefault(f[field] or "", []).append(f)
    for field, title in fields:
        rows = []
        for key, items in groups[field].items():
            label = key or "(not attributable)"
            if field == "manager_id" and key in names:
                label = f"{names[key]} ({key})"
            rows.append({"key": key, "name": label, **_counts(items)})
        rows.sort(key=lambda r: (r["key"] == "", -r["total"], r["name"]))
        out[title] = rows
    return out


def trend(session: Session, sweep: Sweep, limit: int = TREND_SWEEPS) -> list[dict[str, Any]]:
    """The last complete sweeps up to this one, oldest first: findings, open at the time, adherence."""
    sweeps = list(
        session.execute(
            select(Sweep).where(Sweep.status == "complete", Sweep.id <= sweep.id).order_by(Sweep.id.desc()).limit(limit)
        ).scalars()
    )[::-1]
    ids = [s.id for s in sweeps]
    status_counts: dict[int, Counter[str]] = {i: Counter() for i in ids}
    for sweep_id, status, count in session.execute(
        select(SweepFinding.sweep_id, SweepFinding.status, func.count())
        .where(SweepFinding.sweep_id.in_(ids))
        .group_by(SweepFinding.sweep_id, SweepFinding.status)
    ):
        status_counts[sweep_id][status] += count
    checks: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for row in session.execute(select(RuleCheck).where(RuleCheck.sweep_id.in_(ids))).scalars():
        checks[row.sweep_id].append({"area": row.area, "checked": row.checked, "violations": row.violations})
    points = []
    for s in sweeps:
        c = checks[s.id]
        points.append(
            {
                "sweep_id": s.id,
                "as_of": s.as_of.isoformat(),
                "findings": sum(status_counts[s.id].values()),
                "open": sum(n for st, n in status_counts[s.id].items() if st in ACTIVE),
                "adherence": adherence(sum(x["checked"] for x in c), sum(x["violations"] for x in c)),
                "monitoring_prospecting": combined_adherence(c, MONITORING_PROSPECTING_AREAS)["adherence"],
            }
        )
    return points


def changes_since_previous(
    session: Session, sweep: Sweep, findings: Sequence[Mapping[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Findings new and reopened in this sweep, and those this sweep resolved by data."""
    resolved_keys = list(
        session.execute(
            select(FindingEvent.finding_key).where(
                FindingEvent.sweep_id == sweep.id, FindingEvent.to_status == "resolved"
            )
        ).scalars()
    )
    resolved: list[dict[str, Any]] = []
    for start in range(0, len(resolved_keys), 500):
        chunk = resolved_keys[start : start + 500]
        latest = (
            select(SweepFinding)
            .where(SweepFinding.finding_key.in_(chunk), SweepFinding.sweep_id < sweep.id)
            .order_by(SweepFinding.sweep_id)
        )
        rows = {r.finding_key: r for r in session.execute(latest).scalars()}  # the last sweep's wins
        resolved.extend(finding_dict(r) for r in rows.values())
    order = _severity_order
    return {
        "new": sorted((f for f in findings if f["appearance"] == "new"), key=order),
        "reopened": sorted((f for f in findings if f["appearance"] == "reopened"), key=order),
        "resolved": sorted(resolved, key=order),
    }


def oldest_open(findings: Sequence[Mapping[str, Any]], limit: int = OLDEST) -> list[Mapping[str, Any]]:
    """Open or acknowledged findings first seen longest ago (then most severe)."""
    active = (f for f in findings if f["status"] in ACTIVE)
    return heapq.nsmallest(limit, active, key=lambda f: (f["first_seen_sweep"], -f["age"], *_severity_order(f)))


def waivers_expiring(session: Session, today: date, days: int = WAIVER_HORIZON_DAYS) -> list[dict[str, Any]]:
    """Waivers whose last day falls within the next `days` days (today included)."""
    rows = session.execute(
        select(WaiverRow)
        .where(WaiverRow.until >= today, WaiverRow.until <= today + timedelta(days=days))
        .order_by(WaiverRow.until, WaiverRow.id)
    ).scalars()
    waivers = map(Waiver.from_row, rows)
    return [
        {
            "id": w.id,
            "until": w.until.isoformat(),
            "days_left": (w.until - today).days,
            "scope": w.scope,
            "reason": w.reason,
            "approver": w.approver,
        }
        for w in waivers
    ]


def history(session: Session, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Events of the given findings, oldest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(keys), 500):
        query = (
            select(FindingEvent)
            .where(FindingEvent.finding_key.in_(list(keys[start : start + 500])))
            .order_by(FindingEvent.id)
        )
        for e in session.execute(query).scalars():
            out.setdefault(e.finding_key, []).append(
                {
                    "at": e.at.isoformat(sep=" ", timespec="minutes"),
                    "actor": e.actor,
                    "action": e.action.replace("_", " "),
                    "from": e.from_status,
                    "to": e.to_status,
                    "note": e.note,
                }
            )
    return out


def _severity_order(f: Mapping[str, Any]) -> tuple[int, str]:
    return SEVERITY_ORDER.get(f["severity"], 9), f["key"]


def person_names(session: Session) -> dict[str, str]:
    """People's names by id from the current roster."""
    rows = session.execute(select(FactRow.payload).where(FactRow.current.is_(True), FactRow.kind == "person"))
    return {str(p["id"]): str(p.get("name", "")) for (p,) in rows}

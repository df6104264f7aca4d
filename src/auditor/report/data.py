"""Everything one sweep's report shows, as plain JSON-serialisable data (the JSON export is exactly this)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auditor import __version__
from auditor.findings.lifecycle import ACTIVE
from auditor.findings.query import (
    evidence_facts,
    gc_paused,
    list_findings,
    sweep_checks,
    sweep_errors,
)
from auditor.findings.tracking import previous_sweep
from auditor.kpis import KpiSettings, adherence, compute_kpis, kpi_basis, reusable_kpis
from auditor.report import sections
from auditor.report.heatmap import cadence_heatmap
from auditor.rulebook import Rule

HTML_FINDINGS_CAP = 2000
"""Findings shown one by one (with evidence and history) in the HTML; the rest are summarised and in findings.csv."""

TILES = (  # headline KPI, tile id, label, unit
    ("mystery_score", "mystery-score", "Mystery-shopping score", " %"),
    ("monitoring_prospecting_adherence", "monitoring-prospecting", "Monitoring & prospecting adherence", " %"),
    ("material_within_target_pct", "material-tat", "Material TAT within target", " %"),
    ("presales_within_target_pct", "presales-tat", "Pre-sales TAT within target", " %"),
    ("conversion_rate", "conversion", "Conversion rate", " %"),
)


@dataclass(frozen=True)
class ReportOptions:
    """What a report needs besides the database: KPI targets, rule texts, today's date, the findings cap."""

    settings: KpiSettings = field(default_factory=KpiSettings)
    rules: Sequence[Rule] = ()
    today: date | None = None
    cap: int = HTML_FINDINGS_CAP


def report_data(
    engine: Engine, sweep_id: int | None = None, options: ReportOptions | KpiSettings | None = None
) -> dict[str, Any]:
    """The report of a sweep (latest complete one by default); `findings` holds the first `cap` findings."""
    return assemble(engine, sweep_id, options)[0]


def assemble(
    engine: Engine, sweep_id: int | None = None, options: ReportOptions | KpiSettings | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The report data and every finding of the sweep (for the CSV and JSON exports).

    `options` may be just the KPI settings when nothing else is needed.
    """
    with gc_paused():  # hundreds of thousands of long-lived objects for a large sweep: see gc_paused
        return _assemble(engine, sweep_id, options)


def _assemble(
    engine: Engine, sweep_id: int | None, options: ReportOptions | KpiSettings | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if isinstance(options, KpiSettings):
        options = ReportOptions(settings=options)
    options = options or ReportOptions()
    today = options.today or date.today()
    sweep, findings = list_findings(engine, sweep_id, today=today)
    checks = sweep_checks(engine, sweep.id)
    basis = kpi_basis(engine, options.settings.fingerprint())
    kpis = reusable_kpis(sweep.kpis, basis) or compute_kpis(
        engine, sweep.id, checks=checks, **options.settings.as_kwargs()
    )  # the sweep's own KPIs unless facts or targets changed since
    with Session(engine) as session:
        previous = previous_sweep(session, sweep)
        previous_info = {"id": previous.id, "as_of": previous.as_of.isoformat()} if previous else None
        trend = sections.trend(session, sweep)
        changes = sections.changes_since_previous(session, sweep, findings)
        waivers = sections.waivers_expiring(session, today)
        names = sections.person_names(session)
        shown = findings[: options.cap]
        for index, f in enumerate(shown, start=1):
            f["anchor"] = f"f-{index}"
        history = sections.history(session, [f["key"] for f in shown])
        heatmap = cadence_heatmap(session, sweep.id, options.rules, names)
    previous_kpis = None
    if previous is not None:  # the KPIs that sweep stored when it ran (its data and targets then)
        previous_kpis = previous.kpis or compute_kpis(engine, previous.id, **options.settings.as_kwargs())
    rules = _rules_table(checks, findings, options.rules)
    counted = [f for f in findings if f["status"] != "false_positive"]  # not deviations after all
    evidence = evidence_facts(engine, {i for f in shown for i in f["evidence"]})
    status_counts = Counter(f["status"] for f in findings)
    data = {
        "generated_with": f"auditor {__version__}",
        "today": today.isoformat(),
        "sweep": {
            "id": sweep.id,
            "as_of": sweep.as_of.isoformat(),
            "since": sweep.since.isoformat() if sweep.since else None,
            "facts_evaluated": sweep.facts_evaluated,
            "finished_at": sweep.finished_at.isoformat(timespec="seconds") if sweep.finished_at else None,
        },
        "previous": previous_info,
        "tiles": _tiles(kpis, previous_kpis),
        "kpis": kpis,
        "totals": {
            "findings": len(counted),
            "false_positives": len(findings) - len(counted),
            "open": sum(status_counts[s] for s in ACTIVE),
            "overdue": sum(1 for f in findings if f["overdue"]),
            "new": len(changes["new"]),
            "reopened": len(changes["reopened"]),
            "resolved": len(changes["resolved"]),
            "by_status": dict(sorted(status_counts.items())),
            "by_severity": {s: sum(1 for f in counted if f["severity"] == s) for s in sections.SEVERITIES},
        },
        "areas": kpis["adherence"]["areas"],
        "area_severity": sections.by_area_and_severity(counted, (c["area"] for c in checks)),
        "accountability": sections.accountability(counted, names),
        "heatmap": heatmap,
        "trend": trend,
        "changes": {k: [_brief(f) for f in v] for k, v in changes.items()},
        "oldest_open": [_brief(f) for f in sections.oldest_open(findings)],
        "waivers_expiring": waivers,
        "rules": rules,
        "findings": shown,
        "findings_total": len(findings),
        "findings_shown": len(shown),
        "history": history,
        "people": {pid: names[pid] for f in shown for pid in (f["person_id"], f["manager_id"]) if pid and pid in names},
        "evidence": {str(k): v for k, v in evidence.items()},
        "errors": sweep_errors(engine, sweep.id),
    }
    return data, findings


def _tiles(kpis: Mapping[str, Any], previous: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The five headline tiles with their change since the previous sweep (percentage points)."""
    tiles = []
    for key, tile_id, label, unit in TILES:
        value = kpis["headline"][key]
        before = previous["headline"][key] if previous else None
        delta = round(value - before, 1) if value is not None and before is not None else None
        tile = {"key": key, "id": tile_id, "label": label, "unit": unit}
        tiles.append({**tile, "value": value, "previous": before, "delta": delta})
    return tiles


def _rules_table(
    checks: Sequence[Mapping[str, Any]], findings: Sequence[Mapping[str, Any]], rules: Sequence[Rule]
) -> list[dict[str, Any]]:
    texts = {r.id: r for r in rules}
    counts = Counter(f["rule_id"] for f in findings)
    meta = {f["rule_id"]: f for f in findings}
    out = []
    for check in checks:
        rule = texts.get(check["rule_id"])
        seen = meta.get(check["rule_id"], {})
        out.append(
            {
                **check,
                "title": rule.title if rule else seen.get("title", ""),
                "severity": rule.severity if rule else seen.get("severity", ""),
                "rationale": " ".join(rule.rationale.split()) if rule else "",
                "findings": counts.get(check["rule_id"], 0),
                "adherence": adherence(check["checked"], check["violations"]),
            }
        )
    return sorted(out, key=lambda r: r["rule_id"])


BRIEF = ("key", "rule_id", "severity", "subject", "occurrence", "message", "owner", "due_on", "age", "status")


def _brief(f: Mapping[str, Any]) -> dict[str, Any]:
    return dict(zip(BRIEF, map(f.get, BRIEF), strict=True))

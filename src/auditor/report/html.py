"""The head of sales' report: one self-contained HTML page per sweep."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine

from auditor import __version__
from auditor.findings.query import evidence_facts, list_findings, sweep_checks, sweep_errors
from auditor.kpis import KpiSettings, adherence, compute_kpis
from auditor.rulebook import SEVERITY_ORDER

SEVERITIES = sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__)

_ENV = Environment(
    loader=PackageLoader("auditor", "report/templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def report_data(engine: Engine, sweep_id: int | None = None, settings: KpiSettings | None = None) -> dict[str, Any]:
    """Everything the report shows, as plain data (also the JSON export); KPI targets from `settings`."""
    sweep, findings = list_findings(engine, sweep_id)
    checks = sweep_checks(engine, sweep.id)
    by_rule: dict[str, dict[str, Any]] = {}
    for check in checks:
        by_rule[check["rule_id"]] = {**check, "title": "", "severity": "", "findings": 0}
    for f in findings:
        entry = by_rule.setdefault(
            f["rule_id"], {"rule_id": f["rule_id"], "area": f["area"], "checked": 0, "violations": 0, "findings": 0}
        )
        entry["title"], entry["severity"] = f["title"], f["severity"]
        entry["findings"] += 1
    for entry in by_rule.values():
        entry["adherence"] = adherence(entry["checked"], entry["violations"])
    kpis = compute_kpis(engine, sweep.id, **(settings or KpiSettings()).as_kwargs())
    severity_counts = Counter(f["severity"] for f in findings)
    evidence = evidence_facts(engine, {i for f in findings for i in f["evidence"]})
    return {
        "sweep": {
            "id": sweep.id,
            "as_of": sweep.as_of.isoformat(),
            "since": sweep.since.isoformat() if sweep.since else None,
            "facts_evaluated": sweep.facts_evaluated,
            "finished_at": sweep.finished_at.isoformat(timespec="seconds") if sweep.finished_at else None,
        },
        "rules": sorted(by_rule.values(), key=lambda r: r["rule_id"]),
        "areas": kpis["adherence"]["areas"],
        "kpis": kpis,
        "severity_counts": {s: severity_counts.get(s, 0) for s in SEVERITIES},
        "findings": findings,
        "evidence": {str(k): v for k, v in evidence.items()},
        "errors": sweep_errors(engine, sweep.id),
    }


def write_html_report(
    engine: Engine, out_dir: Path, sweep_id: int | None = None, settings: KpiSettings | None = None
) -> Path:
    """Render `<out_dir>/<sweep id>/index.html` and return its path."""
    data = report_data(engine, sweep_id, settings)
    target = out_dir / str(data["sweep"]["id"])
    target.mkdir(parents=True, exist_ok=True)
    html = _ENV.get_template("index.html.j2").render(
        **data,
        severities=SEVERITIES,
        generated_at=datetime.now().isoformat(timespec="seconds"),
        version=__version__,
    )
    path = target / "index.html"
    path.write_text(html, encoding="utf-8")
    return path

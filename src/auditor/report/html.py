"""The head of sales' report: one self-contained HTML page per sweep, with findings.csv beside it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine

from auditor import __version__
from auditor.findings.query import gc_paused
from auditor.kpis import KpiSettings
from auditor.report.charts import heat_colour, line_chart
from auditor.report.data import ReportOptions, assemble
from auditor.report.exports import render_markdown, write_csv_report, write_findings_csv, write_json_report
from auditor.rulebook import SEVERITY_ORDER

SEVERITIES = sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__)
SEVERITY_COLOURS = {"critical": "#8e1b1b", "high": "#c2410c", "medium": "#b7791f", "low": "#4a6fa5"}

_ENV = Environment(
    loader=PackageLoader("auditor", "report/templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["heat"] = heat_colour


def render_html(data: dict[str, Any]) -> str:
    """The report page for report data (everything from data is escaped)."""
    labels = [t["as_of"] for t in data["trend"]]
    open_counts = [t["open"] for t in data["trend"]]
    findings = data["findings"]
    return _ENV.get_template("index.html.j2").render(
        **data,
        severities=SEVERITIES,
        severity_colours=SEVERITY_COLOURS,
        severity_rank=SEVERITY_ORDER,
        anchors={f["key"]: f["anchor"] for f in findings},
        trend_open=line_chart(labels, open_counts, floor=0, ceiling=max(open_counts, default=0) or 1),
        trend_adherence=line_chart(labels, [t["adherence"] for t in data["trend"]], floor=0, ceiling=100),
        area_adherence={a["area"]: a["adherence"] for a in data["areas"]},
        rule_texts={r["rule_id"]: r for r in data["rules"]},
        filter_options=[
            ("severity", "Severities", [s for s in SEVERITIES if data["totals"]["by_severity"][s]]),
            ("status", "Statuses", sorted({f["status"] for f in findings})),
            ("area", "Areas", sorted({f["area"] for f in findings})),
            ("rule", "Rules", sorted({f["rule_id"] for f in findings})),
            ("region", "Regions", sorted({f["region"] for f in findings if f["region"]})),
            ("branch", "Branches", sorted({f["branch"] for f in findings if f["branch"]})),
        ],
        generated_at=datetime.now().isoformat(timespec="seconds"),
        version=__version__,
    )


FORMATS = ("html", "md", "csv", "json")


def write_report(
    engine: Engine,
    out_dir: Path,
    sweep_id: int | None = None,
    options: ReportOptions | KpiSettings | None = None,
    fmt: str = "html",
) -> Path:
    """Write a sweep's report into `<out_dir>/<sweep id>/` and return the main file's path.

    html: index.html plus findings.csv (every finding); md: report.md; csv:
    summary.csv (every number) plus findings.csv; json: report.json.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
    with gc_paused():  # see gc_paused: a large sweep's findings are many long-lived objects
        return _write(engine, out_dir, sweep_id, options, fmt)


def _write(
    engine: Engine, out_dir: Path, sweep_id: int | None, options: ReportOptions | KpiSettings | None, fmt: str
) -> Path:
    data, findings = assemble(engine, sweep_id, options)
    target = out_dir / str(data["sweep"]["id"])
    target.mkdir(parents=True, exist_ok=True)
    if fmt == "md":
        path = target / "report.md"
        path.write_text(render_markdown(data, SEVERITIES), encoding="utf-8")
        return path
    if fmt == "csv":
        return write_csv_report(data, findings, target)
    if fmt == "json":
        return write_json_report(data, findings, target / "report.json")
    write_findings_csv(findings, target / "findings.csv")
    path = target / "index.html"
    path.write_text(render_html(data), encoding="utf-8")
    return path


def write_html_report(
    engine: Engine, out_dir: Path, sweep_id: int | None = None, options: ReportOptions | KpiSettings | None = None
) -> Path:
    """Render `<out_dir>/<sweep id>/index.html` (and findings.csv with every finding) and return the page's path."""
    return write_report(engine, out_dir, sweep_id, options, "html")

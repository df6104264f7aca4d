"""The report as Markdown, CSV and JSON: the same numbers as the HTML page."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader

FINDING_COLUMNS = (
    "key",
    "rule_id",
    "area",
    "title",
    "severity",
    "status",
    "appearance",
    "subject",
    "occurrence",
    "owner",
    "due_on",
    "overdue",
    "age",
    "first_seen",
    "person_id",
    "region",
    "branch",
    "manager_id",
    "message",
    "evidence",
)


def md_cell(value: Any) -> str:
    """A value safe inside a Markdown table cell: no pipes or line breaks, HTML characters escaped."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.replace("|", "\\|").split())


_MD = Environment(loader=PackageLoader("auditor", "report/templates"), autoescape=False, trim_blocks=True)
_MD.filters["md"] = md_cell


def render_markdown(data: Mapping[str, Any], severities: Iterable[str]) -> str:
    """The report in Markdown (tables for every section; findings summarised, not one by one)."""
    return _MD.get_template("report.md.j2").render(**data, severities=list(severities))


def write_findings_csv(findings: Iterable[Mapping[str, Any]], path: Path) -> Path:
    """Every finding, one row each, in a stable column order (formula-like text is neutralised)."""
    evidence = FINDING_COLUMNS.index("evidence")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FINDING_COLUMNS)
        for f in findings:
            row = [f.get(column) for column in FINDING_COLUMNS]
            row[evidence] = " ".join(map(str, row[evidence] or ()))
            # plain text that is no formula as it is (the common case, checked inline), the rest by _safe_csv
            writer.writerow([v if v.__class__ is str and v[:1] not in _FORMULA_STARTS else _safe_csv(v) for v in row])
    return path


_FORMULA_STARTS = frozenset(("=", "+", "-", "@", "\t", "\r"))


def _safe_csv(value: Any) -> Any:
    """Text starting with = + - @ would be run as a formula by a spreadsheet; prefix it with a quote."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return "" if value is None else value


def summary_rows(data: Mapping[str, Any]) -> list[tuple[str, str, str, Any]]:
    """The report's numbers as (section, item, measure, value) rows."""
    rows: list[tuple[str, str, str, Any]] = []
    for t in data["tiles"]:
        rows += [("tiles", t["key"], "value", t["value"]), ("tiles", t["key"], "change", t["delta"])]
    for name, value in data["totals"].items():
        if isinstance(value, dict):
            rows += [("totals", name, k, v) for k, v in value.items()]
        else:
            rows.append(("totals", name, "count", value))
    for a in data["area_severity"]:
        rows += [("area", a["area"], k, v) for k, v in a.items() if k != "area"]
    for a in data["areas"]:
        rows.append(("area", a["area"], "adherence", a["adherence"]))
    for group, items in data["accountability"].items():
        for r in items:
            rows += [(group, r["key"] or "-", k, v) for k, v in r.items() if k not in ("key", "name")]
    for r in data["heatmap"]["rows"]:
        for c in r["cells"]:
            rows.append(("cadence_heatmap", f"{r['manager_id'] or '-'} {c['month']}", "adherence", c["adherence"]))
    for t in data["trend"]:
        rows += [("trend", f"sweep {t['sweep_id']}", k, v) for k, v in t.items() if k != "sweep_id"]
    for r in data["rules"]:
        rows += [("rule", r["rule_id"], k, r[k]) for k in ("checked", "violations", "findings", "adherence")]
    return rows


def write_csv_report(data: Mapping[str, Any], findings: Iterable[Mapping[str, Any]], folder: Path) -> Path:
    """summary.csv (every number of the report) and findings.csv (every finding) in `folder`."""
    with (folder / "summary.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("section", "item", "measure", "value"))
        writer.writerows(tuple(_safe_csv(v) for v in row) for row in summary_rows(data))
    write_findings_csv(findings, folder / "findings.csv")
    return folder / "summary.csv"


def write_json_report(data: Mapping[str, Any], findings: list[Mapping[str, Any]], path: Path) -> Path:
    """The report data with every finding (evidence and history only for the findings the HTML shows)."""
    payload = {**data, "findings": findings, "findings_shown": len(findings)}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return path

"""The report's sections and exports on a two-sweep history: changes, trend, accountability, waivers, escaping."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auditor.findings.triage import apply_action
from auditor.kpis import KpiSettings, compute_kpis, kpi_settings
from auditor.report import ReportOptions, report_data, write_report
from auditor.store import open_database
from auditor.store.models import Sweep

from .test_finding_history import MS1, MS3, PEOPLE, POLICY, R1, SWEPT, seed_org, shops, sweep

TODAY = date(2026, 3, 1)
EVIL = "<script>alert(1)</script>"


@pytest.fixture
def history(db_url: str, tmp_path: Path) -> Engine:
    """Sweep 1 (January); R1 waived; MS1 corrected and MS4 added; sweep 2 (February)."""
    engine = open_database(db_url)
    seed_org(engine, tmp_path, PEOPLE.replace("Max Roe", EVIL))
    sweep(engine, date(2026, 1, 31))
    apply_action(
        engine, [R1], "waive", actor="a", today=TODAY, reason=f"strike {EVIL}", approver="hos", until=date(2026, 3, 11)
    )
    shops(engine, tmp_path, "fixed", MS1=85, MS4=40)
    sweep(engine, date(2026, 2, 28), today=TODAY)
    yield engine
    engine.dispose()


def test_sections_of_the_second_sweep(history: Engine) -> None:
    data = report_data(history, options=ReportOptions(today=TODAY))
    assert data["sweep"]["id"] == 2 and data["previous"] == {"id": 1, "as_of": "2026-01-31"}
    totals = data["totals"]
    assert (totals["findings"], totals["open"], totals["new"], totals["reopened"], totals["resolved"]) == (
        3,
        2,
        1,
        0,
        1,
    )
    assert totals["by_status"] == {"open": 2, "waived": 1}
    assert [f["key"] for f in data["changes"]["new"]] == ["REP-001|MS4|"]
    assert [f["key"] for f in data["changes"]["resolved"]] == [MS1]
    assert [(t["sweep_id"], t["findings"], t["open"]) for t in data["trend"]] == [(1, 3, 3), (2, 3, 2)]
    regions = {r["key"]: (r["total"], r["open"]) for r in data["accountability"]["regions"]}
    assert regions == {"North": (1, 0), "South": (2, 2)}
    managers = {r["key"]: r["name"] for r in data["accountability"]["managers"]}
    assert managers == {"M1": "Mia Park (M1)", "M2": f"{EVIL} (M2)"}
    assert [f["key"] for f in data["oldest_open"]] == [MS3, "REP-001|MS4|"]
    (waiver,) = data["waivers_expiring"]
    assert (waiver["scope"], waiver["until"], waiver["days_left"]) == (R1, "2026-03-11", 10)
    assert report_data(history, options=ReportOptions(today=date(2026, 3, 12)))["waivers_expiring"] == []
    by_area = {a["area"]: (a["high"], a["total"]) for a in data["area_severity"]}
    assert by_area == {"representation": (2, 2), "sales_material": (1, 1)}


def test_tiles_compare_with_the_kpis_the_previous_sweep_stored(history: Engine) -> None:
    data = report_data(history, options=ReportOptions(today=TODAY))
    tile = {t["key"]: t for t in data["tiles"]}["mystery_score"]
    assert tile["value"] == compute_kpis(history, 2)["headline"]["mystery_score"] == round((85 + 90 + 50 + 40) / 4, 1)
    assert tile["previous"] == round((60 + 90 + 50) / 3, 1)  # as sweep 1 saw it, before MS1 was corrected
    assert compute_kpis(history, 1)["headline"]["mystery_score"] == tile["value"]  # recomputing now would hide that
    assert tile["delta"] == round(tile["value"] - tile["previous"], 1)
    first = report_data(history, 1, ReportOptions(today=TODAY))
    assert first["previous"] is None and {t["delta"] for t in first["tiles"]} == {None}


def test_exports_carry_the_same_numbers(history: Engine, tmp_path: Path) -> None:
    options = ReportOptions(today=TODAY)
    data = report_data(history, options=options)
    out = tmp_path / "reports"
    exported = json.loads(write_report(history, out, options=options, fmt="json").read_text(encoding="utf-8"))
    for key in ("tiles", "totals", "area_severity", "accountability", "trend", "changes", "waivers_expiring", "rules"):
        assert exported[key] == json.loads(json.dumps(data[key], default=str)), key
    assert len(exported["findings"]) == data["totals"]["findings"]

    markdown = write_report(history, out, options=options, fmt="md").read_text(encoding="utf-8")
    tile = data["tiles"][0]
    assert f"| Mystery-shopping score | {tile['value']} % | {tile['delta']:+.1f} |" in markdown
    assert "| South | 2 | 0 | 2 | 2 | 1 |" in markdown  # MS3 was due on 10 Feb, MS4 is due on 10 Mar
    assert "&lt;script&gt;alert(1)&lt;/script&gt; (M2)" in markdown and EVIL not in markdown

    write_report(history, out, options=options, fmt="csv")
    with (out / "2" / "summary.csv").open(encoding="utf-8") as handle:
        summary = {(r["section"], r["item"], r["measure"]): r["value"] for r in csv.DictReader(handle)}
    assert summary[("tiles", "mystery_score", "value")] == str(tile["value"])
    assert summary[("totals", "resolved", "count")] == "1"
    assert summary[("regions", "South", "total")] == "2"
    with (out / "2" / "findings.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["key"] for r in rows) == sorted([MS3, R1, "REP-001|MS4|"])


def test_html_escapes_data_and_caps_the_findings(history: Engine, tmp_path: Path) -> None:
    page = write_report(history, tmp_path / "r", options=ReportOptions(today=TODAY, cap=1)).read_text(encoding="utf-8")
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('<tr class="finding"') == 1 and 'id="findings-capped"' in page
    assert "Showing the 1 most severe of 3 findings" in page
    with (tmp_path / "r" / "2" / "findings.csv").open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 3
    full = write_report(history, tmp_path / "full", options=ReportOptions(today=TODAY)).read_text(encoding="utf-8")
    assert full.count('<tr class="finding"') == 3 and 'id="findings-capped"' not in full
    assert "found again" not in full and "covered by" not in full  # R1's waiver was granted by hand
    assert "waive: open → waived · until 2026-03-11: strike &lt;script&gt;" in full  # history in the drill-down


def test_false_positives_are_not_counted_as_deviations(history: Engine) -> None:
    apply_action(history, [MS3], "false_positive", actor="qa", today=TODAY, reason="shopper error")
    data = report_data(history, options=ReportOptions(today=TODAY))
    assert (data["totals"]["findings"], data["totals"]["false_positives"]) == (2, 1)
    assert {r["key"]: r["total"] for r in data["accountability"]["regions"]} == {"North": 1, "South": 1}
    assert [f["status"] for f in data["findings"] if f["key"] == MS3] == ["false_positive"]  # still listed


def test_the_sweeps_stored_kpis_are_reused_until_facts_or_targets_change(history: Engine, tmp_path: Path) -> None:
    with Session(history) as session:
        stored = session.get_one(Sweep, 2).kpis
    stored["headline"]["mystery_score"] = -1.0  # mark the stored copy, to see which one the report shows
    with Session(history) as session, session.begin():
        session.get_one(Sweep, 2).kpis = stored
    as_swept = ReportOptions(today=TODAY, settings=kpi_settings(SWEPT, POLICY))
    assert report_data(history, options=as_swept)["tiles"][0]["value"] == -1.0
    other_targets = ReportOptions(today=TODAY, settings=KpiSettings(mystery_threshold=55))
    assert report_data(history, options=other_targets)["tiles"][0]["value"] == round((85 + 90 + 50 + 40) / 4, 1)
    shops(history, tmp_path, "late", MS3=95)  # a correction after the sweep: recomputed, so it shows
    assert report_data(history, options=as_swept)["tiles"][0]["value"] == round(310 / 4, 1)


def test_a_sweep_without_cadence_rules_says_so_in_the_heat_map(history: Engine, tmp_path: Path) -> None:
    """The history's rules judge mystery shops only: the heat map names no rules and offers no cells to hover."""
    page = write_report(history, tmp_path / "r", options=ReportOptions(today=TODAY)).read_text(encoding="utf-8")
    section = page.split('<section id="heatmap">', 1)[1].split("</section>", 1)[0]
    assert "No cadence checks in this sweep." in section
    assert "business reviews." in section and "()" not in section and "Hover" not in section

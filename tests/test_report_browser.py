"""The HTML report of a small synthetic sweep, opened in a real headless Chromium.

The selectors below are the only lines that know the report's markup: a
redesign updates them and the checks stay. The `page` fixture (tests/browser.py)
fails the test if the report loads anything but local files.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from auditor.engine.sweep import run_sweep
from auditor.ingest import ingest_file
from auditor.kpis import settings_from_rules
from auditor.report import ReportOptions, write_html_report
from auditor.rulebook import load_rulebook
from auditor.store import open_database
from auditor.synth import generate

from .browser import PageLog, artifact_path
from .conftest import RULES

TITLE = re.compile(r"audit", re.IGNORECASE)
KPI_TILES = "#kpi-tiles .tile"
FINDINGS_HEADING = re.compile(r"^Findings\b")
FINDINGS_TABLE = "#findings-table"
FINDING_ROWS = "#findings-table tbody tr"


@dataclass
class Report:
    path: Path
    sweep_id: int
    findings: int


EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """A small synthetic organisation swept twice (a month apart) with the shipped rules; a manager renamed to a
    script tag before the second sweep; the report of the second sweep."""
    work = tmp_path_factory.mktemp("browser-report")
    synth = generate(work / "data", seed=7, reps=8, months=3)
    engine = open_database(f"sqlite:///{work / 'auditor.db'}")
    try:
        for path in synth.files:
            with Session(engine) as session:
                ingest_file(session, path)
        book = load_rulebook([RULES])
        assert not book.problems
        run_sweep(engine, book.rules, synth.as_of - timedelta(days=31), synth.since, jobs=1, rules_digest=book.digest)
        _rename_a_manager(engine, synth.files, work / "renamed" / "person.csv")
        summary = run_sweep(engine, book.rules, synth.as_of, synth.since, jobs=1, rules_digest=book.digest)
        options = ReportOptions(settings=settings_from_rules(book), rules=book.rules)
        path = write_html_report(engine, work / "reports", summary.sweep_id, options)
    finally:
        engine.dispose()
    assert summary.findings > 0, "the synthetic organisation has injected deviations"
    return Report(path, summary.sweep_id, summary.findings)


def _rename_a_manager(engine: Any, files: list[Path], target: Path) -> None:
    """A corrected roster row: the first team leader's name becomes a script tag (it must show as text)."""
    source = next(p for p in files if p.name == "person.csv")
    with source.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    leader = next(r for r in rows if r["role"] in ("team_leader", "branch_manager", "sales_manager"))
    leader["name"] = EVIL
    target.parent.mkdir(parents=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerow(leader)
    with Session(engine) as session:
        assert ingest_file(session, target).updated == 1


def test_report_renders_in_chromium(page, page_log: PageLog, screenshot, report: Report) -> None:  # type: ignore[no-untyped-def]
    page.goto(report.path.as_uri(), wait_until="load")

    title = page.title()
    assert TITLE.search(title) and str(report.sweep_id) in title, title

    tiles = page.locator(KPI_TILES)
    assert tiles.count() >= 5
    for i in range(tiles.count()):
        assert tiles.nth(i).is_visible(), f"KPI tile {i} is hidden"
        assert tiles.nth(i).inner_text().strip(), f"KPI tile {i} is empty"

    assert page.get_by_role("heading", name=FINDINGS_HEADING).first.is_visible()
    assert page.locator(FINDINGS_TABLE).is_visible()
    rows = page.locator(FINDING_ROWS)
    assert rows.count() > 0
    assert rows.first.is_visible()

    shot = screenshot(page)
    assert shot.stat().st_size > 10_000
    assert page_log.problems() == []


def visible(rows: Any) -> int:
    return sum(1 for i in range(rows.count()) if rows.nth(i).is_visible())


def test_filters_and_sorting_work_without_a_server(page, page_log: PageLog, report: Report) -> None:  # type: ignore[no-untyped-def]
    page.goto(report.path.as_uri(), wait_until="load")
    rows = page.locator(FINDING_ROWS)
    total = rows.count()
    assert page.locator("#filter-count").inner_text() == f"{total} of {total} shown"
    page.select_option("#filter-severity", "high")
    high = page.locator('#findings-table tbody tr[data-severity="high"]').count()
    assert 0 < visible(rows) == high < total
    page.select_option("#filter-severity", "")
    subject = rows.first.locator("td").nth(3).inner_text().strip()
    page.fill("#filter-text", subject)
    narrowed = visible(rows)
    assert 0 < narrowed < total
    assert page.locator("#filter-count").inner_text() == f"{narrowed} of {total} shown"
    page.fill("#filter-text", "")
    age = page.locator("#findings-table thead th", has_text="Age")
    age.click()
    ages = [int(a) for a in page.locator("#findings-table tbody tr td:nth-child(8)").all_inner_texts()]
    assert ages == sorted(ages)
    age.click()
    ages = [int(a) for a in page.locator("#findings-table tbody tr td:nth-child(8)").all_inner_texts()]
    assert ages == sorted(ages, reverse=True) and ages[0] > ages[-1]
    assert page_log.problems() == []


def test_drill_down_shows_evidence_and_history(page, page_log: PageLog, screenshot, report: Report) -> None:  # type: ignore[no-untyped-def]
    page.goto(report.path.as_uri(), wait_until="load")
    row = page.locator(FINDING_ROWS).first
    evidence = row.locator(".evidence-fact").first
    assert not evidence.is_visible()
    row.locator("summary").click()
    assert evidence.is_visible() and evidence.inner_text().strip()
    assert row.locator("ol.history li").first.is_visible()
    assert "found" in row.locator("ol.history").inner_text()
    link = page.locator("#oldest-table a").first  # a finding listed elsewhere links to its row
    target = link.get_attribute("href")
    link.click()
    assert page.locator(f"{target} summary").is_visible()
    screenshot(page, "drill-down")
    assert page_log.problems() == []


def test_charts_and_sections_are_drawn(page, page_log: PageLog, report: Report) -> None:  # type: ignore[no-untyped-def]
    page.goto(report.path.as_uri(), wait_until="load")
    assert page.locator("#trend svg.trend-chart polyline").count() == 2  # two sweeps: a line each chart
    assert page.locator("#area-chart rect").count() > 0
    cells = page.locator("#heatmap-chart rect.heat-cell")
    assert cells.count() > 0 and any(" met (" in t for t in cells.all_text_contents())  # "n of m met (x %)"
    for table in ("#area-table", "#by-regions", "#by-branches", "#by-managers", "#oldest-table", "#rules-table"):
        assert page.locator(f"{table} tbody tr").count() > 0, table
    assert page.locator("#changes").is_visible()
    assert page.locator("#tile-mystery-score .delta").inner_text().strip()  # change vs the previous sweep
    assert page_log.problems() == []


def test_data_is_text_never_markup(page, page_log: PageLog, report: Report) -> None:  # type: ignore[no-untyped-def]
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(report.path.as_uri(), wait_until="load")
    assert EVIL in page.locator("#by-managers").inner_text()
    assert dialogs == []
    assert page.locator("script").count() == 1  # only the report's own filter script
    assert page_log.problems() == []


def test_report_prints_to_pdf(page, report: Report) -> None:  # type: ignore[no-untyped-def]
    page.goto(report.path.as_uri(), wait_until="load")
    pdf = artifact_path("tests/test_report_browser.py::test_report_prints_to_pdf", ".pdf")
    page.pdf(path=str(pdf), format="A4", print_background=True)
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000

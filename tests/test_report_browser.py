"""The HTML report of a small synthetic sweep, opened in a real headless Chromium.

The selectors below are the only lines that know the report's markup: a
redesign updates them and the checks stay. The `page` fixture (tests/browser.py)
fails the test if the report loads anything but local files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from auditor.engine.sweep import run_sweep
from auditor.ingest import ingest_file
from auditor.kpis import settings_from_rules
from auditor.report import write_html_report
from auditor.rulebook import load_rulebook
from auditor.store import open_database
from auditor.synth import generate

from .browser import PageLog
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


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """Synthesize a small organisation, ingest it into SQLite, sweep it with the shipped rules and write the report."""
    work = tmp_path_factory.mktemp("browser-report")
    synth = generate(work / "data", seed=7, reps=8, months=3)
    engine = open_database(f"sqlite:///{work / 'auditor.db'}")
    try:
        for path in synth.files:
            with Session(engine) as session:
                ingest_file(session, path)
        book = load_rulebook([RULES])
        assert not book.problems
        summary = run_sweep(engine, book.rules, synth.as_of, synth.since, jobs=1, rules_digest=book.digest)
        path = write_html_report(engine, work / "reports", summary.sweep_id, settings_from_rules(book))
    finally:
        engine.dispose()
    assert summary.findings > 0, "the synthetic organisation has injected deviations"
    return Report(path, summary.sweep_id, summary.findings)


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

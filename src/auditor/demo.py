"""`auditor demo`: synthesize, ingest, sweep and report in one go."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from auditor.config import default_rules_path
from auditor.engine.evaluate import default_jobs
from auditor.engine.sweep import SweepSummary, run_sweep
from auditor.ingest import ingest_file
from auditor.kpis import settings_from_rules
from auditor.report import ReportOptions, write_html_report
from auditor.rulebook import RulebookError, load_rulebook
from auditor.store import open_database
from auditor.synth import generate

DEMO_SEED = 7
DEMO_REPS = 24
DEMO_MONTHS = 6


@dataclass
class DemoResult:
    db_url: str
    sweep: SweepSummary
    report: Path


def run_demo(
    workdir: Path,
    reports: Path,
    seed: int = DEMO_SEED,
    reps: int = DEMO_REPS,
    months: int = DEMO_MONTHS,
    echo: Callable[[str], None] = print,
) -> DemoResult:
    """Run the whole pipeline on a fresh synthetic organisation in `workdir`."""
    if workdir.exists():
        shutil.rmtree(workdir)
    data = workdir / "data"
    synth = generate(data, seed=seed, reps=reps, months=months)
    echo(f"1/4 synth: {synth.facts} facts of {len(synth.files)} kinds, {len(synth.truth)} injected deviations")
    db_url = f"sqlite:///{workdir / 'auditor.db'}"
    engine = open_database(db_url)
    loaded = rejected = 0
    for path in synth.files:
        with Session(engine) as session:
            result = ingest_file(session, path)
        loaded += result.loaded
        rejected += result.rejected
    echo(f"2/4 ingest: {loaded} facts loaded, {rejected} rejected")
    book = load_rulebook([default_rules_path()])
    if book.problems:
        raise RulebookError(book.problems)
    summary = run_sweep(engine, book.rules, synth.as_of, synth.since, jobs=default_jobs(), rules_digest=book.digest)
    echo(f"3/4 sweep {summary.sweep_id}: {len(book.rules)} rules, {summary.findings} findings as of {synth.as_of}")
    for row in summary.rows:
        echo(f"      {row['rule_id']:<8} {row['findings']:>4} of {row['checked']:>5} checked  {row['title']}")
    options = ReportOptions(settings=settings_from_rules(book), rules=book.rules)
    path = write_html_report(engine, reports, summary.sweep_id, options)
    echo(f"4/4 report: {path}")
    return DemoResult(db_url, summary, path)

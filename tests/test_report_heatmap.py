"""The managers' cadence heat map equals an independent count from the reference evaluator and the roster file."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from auditor.engine.reference import reference_evaluate
from auditor.engine.sweep import load_facts, rule_kinds, run_sweep
from auditor.engine.window import SweepWindow
from auditor.ingest import ingest_file
from auditor.report.heatmap import HEATMAP_AREAS, cadence_heatmap
from auditor.rulebook import load_rulebook
from auditor.store import open_database
from auditor.synth import generate

from .conftest import RULES

BOOK = load_rulebook([RULES])
CADENCE = [r for r in BOOK.rules if r.template == "cadence" and r.area in HEATMAP_AREAS]


def _month(label: str) -> str:
    """The month a period label starts in, parsed here independently of the engine."""
    if "-W" in label:
        year, week = label.split("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
        return f"{monday.year}-{monday.month:02d}"
    if "-Q" in label:
        year, quarter = label.split("-Q")
        return f"{year}-{3 * int(quarter) - 2:02d}"
    return label


def test_heatmap_counts_equal_an_independent_count(tmp_path: Path, sqlite_url: str) -> None:
    synth = generate(tmp_path / "data", seed=3, reps=10, months=4)
    engine = open_database(sqlite_url)
    for path in synth.files:
        with Session(engine) as session:
            ingest_file(session, path)
    summary = run_sweep(engine, BOOK.rules, synth.as_of, synth.since, jobs=1)
    with Session(engine) as session:
        heatmap = cadence_heatmap(session, summary.sweep_id, BOOK.rules)
        window = SweepWindow(as_of=synth.as_of, since=synth.since)
        facts = load_facts(session, rule_kinds(CADENCE), window.as_of_end)

    with (tmp_path / "data" / "person.csv").open(encoding="utf-8") as handle:
        people = {row["id"]: row for row in csv.DictReader(handle)}
    managers = {p["manager_id"] for p in people.values() if p["manager_id"]}

    reference = reference_evaluate(CADENCE, facts, synth.as_of, synth.since)
    missed = {(f.rule_id, f.subject, f.occurrence) for f in reference.findings}
    judged: Counter[tuple[str, str]] = Counter()
    met: Counter[tuple[str, str]] = Counter()
    for rule in CADENCE:
        for subject, label in reference.checked[rule.id]:
            manager = subject if subject in managers else people[subject]["manager_id"]
            cell = (manager, _month(label))
            judged[cell] += 1
            met[cell] += (rule.id, subject, label) not in missed

    shown = {
        (row["manager_id"], cell["month"]): (cell["met"], cell["judged"])
        for row in heatmap["rows"]
        for cell in row["cells"]
        if cell["judged"]
    }
    assert shown == {cell: (met[cell], judged[cell]) for cell in judged}
    assert len(shown) >= 8 and any(m < j for m, j in shown.values())  # a real map, with misses in it
    assert {r["rule_id"] for r in heatmap["rules"]} == {r.id for r in CADENCE}
    for row in heatmap["rows"]:
        totals = [(c["met"], c["judged"]) for c in row["cells"]]
        met_all, judged_all = sum(m for m, _ in totals), sum(j for _, j in totals)
        assert row["adherence"] == round(100 * met_all / judged_all, 1)

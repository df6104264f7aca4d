"""A worker that dies is replaced and its task retried once; a task that keeps crashing is an engine error."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from auditor.engine.evaluate import evaluate
from auditor.engine.facts import EngineFact
from auditor.engine.window import SweepWindow
from auditor.facts import parse_fact
from auditor.rulebook import load_rulebook

from .conftest import RULES

BOOK = load_rulebook([RULES])
WINDOW = SweepWindow(as_of=date(2026, 3, 31), since=date(2026, 1, 1))


def _facts() -> list[EngineFact]:
    raw = []
    for i in range(30):
        raw.append(
            {
                "kind": "material_request",
                "id": f"R{i}",
                "category": "sales_kit",
                "item": "kit",
                "requested_by": "P1",
                "requested_at": f"2026-01-{i % 28 + 1:02d}T10:00:00",
                "quantity": 1,
            }
        )
        if i % 3:
            raw.append(
                {"kind": "material_delivery", "request_id": f"R{i}", "delivered_at": "2026-01-20", "quantity": 1}
            )
        raw.append(
            {
                "kind": "mystery_shop",
                "id": f"MS{i}",
                "subject_id": "P1",
                "at": "2026-02-01",
                "score": 60 + i,
                "badge_worn": True,
                "visiting_card_given": True,
                "brochure_current": True,
            }
        )
    return [EngineFact.from_model(i, parse_fact(r)) for i, r in enumerate(raw, start=1)]


def test_crashed_worker_is_replaced_and_task_retried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    facts = _facts()
    clean = evaluate(BOOK.rules, facts, WINDOW, jobs=2)
    monkeypatch.setenv("AUDITOR_FAULT_RULE", "MAT-001")
    monkeypatch.setenv("AUDITOR_FAULT_SUBJECT", "R7")
    monkeypatch.setenv("AUDITOR_FAULT_ONCE_FILE", str(tmp_path / "crashed-once"))
    crashed = evaluate(BOOK.rules, facts, WINDOW, jobs=2)
    assert (tmp_path / "crashed-once").exists(), "the fault was not injected"
    assert crashed.errors == []
    assert crashed.retried_tasks >= 1
    assert [(f.key, f.evidence) for f in crashed.findings] == [(f.key, f.evidence) for f in clean.findings]


def test_partition_that_always_crashes_is_an_engine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = _facts()
    monkeypatch.setenv("AUDITOR_FAULT_RULE", "MAT-001")
    monkeypatch.setenv("AUDITOR_FAULT_SUBJECT", "R7")
    result = evaluate(BOOK.rules, facts, WINDOW, jobs=2)
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.rule_id == "MAT-001" and "R7" in error.subjects and "died or hung twice" in error.error
    # Other rules are unaffected.
    clean = evaluate(BOOK.rules, facts, WINDOW)
    assert [f.key for f in result.findings if f.rule_id != "MAT-001"] == [
        f.key for f in clean.findings if f.rule_id != "MAT-001"
    ]


def test_hung_worker_is_killed_and_task_retried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from auditor.engine import runner

    facts = _facts()
    clean = evaluate(BOOK.rules, facts, WINDOW, jobs=2)
    monkeypatch.setattr(runner, "TASK_TIMEOUT", 8.0)  # generous: healthy tasks on a busy machine stay under it
    monkeypatch.setenv("AUDITOR_FAULT_RULE", "MAT-001")
    monkeypatch.setenv("AUDITOR_FAULT_SUBJECT", "R7")
    monkeypatch.setenv("AUDITOR_FAULT_KIND", "hang")
    monkeypatch.setenv("AUDITOR_FAULT_ONCE_FILE", str(tmp_path / "hung-once"))
    result = evaluate(BOOK.rules, facts, WINDOW, jobs=2)
    assert (tmp_path / "hung-once").exists(), "the fault was not injected"
    assert result.errors == [] and result.retried_tasks >= 1
    assert [(f.key, f.evidence) for f in result.findings] == [(f.key, f.evidence) for f in clean.findings]

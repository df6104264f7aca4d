"""Disagreements and gaps found in review, each pinned with its reproducer."""

from __future__ import annotations

import textwrap
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.engine.evaluate import evaluate
from auditor.engine.facts import EngineFact
from auditor.engine.partition import MAX_CHUNK_KEYS
from auditor.engine.reference import reference_evaluate
from auditor.engine.window import SweepWindow
from auditor.facts import parse_fact
from auditor.rulebook import load_rulebook

WINDOW = SweepWindow(as_of=date(2026, 3, 31), since=date(2026, 1, 1))


def _book(tmp_path: Path, check: str):  # type: ignore[no-untyped-def]
    text = textwrap.dedent(
        """\
        area: test
        rules:
          - id: T-1
            title: t
            severity: low
            owner: o
            rationale: r
            check:
        """
    )
    text += textwrap.indent(textwrap.dedent(check), " " * 6) + "    message: m\n"
    path = tmp_path / "rules.yml"
    path.write_text(text, encoding="utf-8")
    return load_rulebook([path])


def _agree(book, raw: list[dict[str, Any]]) -> list[str]:  # type: ignore[no-untyped-def]
    assert book.problems == []
    facts = [EngineFact.from_model(i, parse_fact(r)) for i, r in enumerate(raw, start=1)]
    engine = evaluate(book.rules, facts, WINDOW)
    reference = reference_evaluate(book.rules, facts, WINDOW.as_of, WINDOW.since)
    assert engine.errors == []
    assert [(f.key, f.evidence) for f in engine.findings] == [(f.key, f.evidence) for f in reference.findings]
    assert engine.outcomes["T-1"].checked == reference.checked["T-1"]
    return [f.key for f in engine.findings]


def test_or_branch_with_a_missing_field_still_counts(tmp_path: Path) -> None:
    book = _book(
        tmp_path,
        """\
        threshold:
          fact: {fact: presales_request, where: "answered_at > requested_at or topic == 'pricing'"}
        """,
    )
    raw = [
        {"kind": "presales_request", "id": "Q1", "requested_by": "P", "requested_at": "2026-02-01", "topic": "pricing"}
    ]
    assert _agree(book, raw) == ["T-1|Q1|"]


def test_many_partitions_across_chunks(tmp_path: Path) -> None:
    book = _book(
        tmp_path,
        """\
        within:
          trigger: {fact: material_request}
          expect: {fact: material_delivery, match: {request_id: id}}
          limit: days(14)
        """,
    )
    raw: list[dict[str, Any]] = []
    count = 3 * MAX_CHUNK_KEYS + 17
    for i in range(count):
        at = datetime(2026, 1, 2) + timedelta(hours=i)
        raw.append(
            {
                "kind": "material_request",
                "id": f"R{i:04d}",
                "category": "sales_kit",
                "item": "kit",
                "requested_by": "P",
                "requested_at": at,
                "quantity": 1,
            }
        )
        if i % 3:
            raw.append(
                {
                    "kind": "material_delivery",
                    "request_id": f"R{i:04d}",
                    "delivered_at": at + timedelta(days=i % 20),
                    "quantity": 1,
                }
            )
    assert len(_agree(book, raw)) > 0


def test_within_trigger_missing_a_secondary_match_field_is_not_judged(tmp_path: Path) -> None:
    book = _book(
        tmp_path,
        """\
        within:
          trigger: {fact: presales_request}
          expect: {fact: opportunity_stage, match: {owner_id: requested_by, opportunity_id: opportunity_id}}
          limit: days(3)
        """,
    )
    raw = [{"kind": "presales_request", "id": "Q1", "requested_by": "P", "requested_at": "2026-02-01"}]
    assert _agree(book, raw) == []


def test_subject_must_be_the_partition_key(tmp_path: Path) -> None:
    book = _book(
        tmp_path,
        """\
        within:
          trigger: {fact: material_request}
          expect: {fact: material_delivery, match: {request_id: id}}
          limit: days(14)
          subject: requested_by
        """,
    )
    assert "subject must be the trigger field the expected fact is matched on" in book.problems[0].message


def test_joined_fields_must_have_the_same_type(tmp_path: Path) -> None:
    book = _book(
        tmp_path,
        """\
        within:
          trigger: {fact: sales_report}
          expect: {fact: team_meeting, match: {at: week}}
          limit: days(7)
        """,
    )
    assert "joined fields must have the same type" in book.problems[0].message


def test_bare_boolean_of_another_alias_is_refused(tmp_path: Path) -> None:
    book = _book(
        tmp_path,
        """\
        match:
          facts:
            a: {fact: mystery_shop}
            b: {fact: mystery_shop, where: "a.badge_worn"}
          key: subject_id
          subject: a.subject_id
        """,
    )
    assert "write a.badge_worn == true" in book.problems[0].message


def test_division_by_zero_is_unknown_in_both_evaluators(tmp_path: Path) -> None:
    book = _book(
        tmp_path,
        """\
        threshold:
          fact: {fact: material_stock, where: "on_hand > 7 / reorder_level or not (on_hand <= 14 / reorder_level)"}
          subject: branch
        """,
    )
    raw = [
        {
            "kind": "material_stock",
            "item": "kit",
            "category": "sales_kit",
            "branch": "B1",
            "at": "2026-02-01",
            "on_hand": 3,
            "reorder_level": 0,
        },
        {
            "kind": "material_stock",
            "item": "kit",
            "category": "sales_kit",
            "branch": "B2",
            "at": "2026-02-01",
            "on_hand": 3,
            "reorder_level": 5,
        },
    ]
    assert _agree(book, raw) == ["T-1|B2|"]


def test_a_sweep_loads_every_kind_a_match_rule_reads() -> None:
    """Kinds kept in a match rule's alias maps (facts, none) are loaded, not only top-level patterns."""
    from auditor.engine.sweep import rule_kinds

    from .conftest import RULES

    book = load_rulebook([RULES])
    assert rule_kinds([book.by_id("PRF-004")]) == {"sales_result", "performance_review"}
    assert rule_kinds([book.by_id("TRN-002")]) >= {"training", "person"}
    for rule in book.rules:
        kinds = rule_kinds([rule])
        assert kinds, rule.id

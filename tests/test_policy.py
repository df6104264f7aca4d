"""Policy files override params without editing rules, and supply holidays for business days."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.engine.evaluate import evaluate
from auditor.engine.facts import EngineFact
from auditor.engine.reference import reference_evaluate
from auditor.engine.window import SweepWindow, add_duration
from auditor.facts import parse_fact
from auditor.rulebook import PolicyError, load_policy, load_rulebook
from auditor.rulebook.expr import Duration

from .conftest import RULES

REQUEST = {
    "kind": "material_request",
    "id": "R1",
    "category": "sales_kit",
    "item": "kit",
    "requested_by": "P1",
    "requested_at": "2026-01-05T10:00:00",
    "quantity": 1,
}
DELIVERY = {"kind": "material_delivery", "request_id": "R1", "delivered_at": "2026-01-16T10:00:00", "quantity": 1}
FACTS = [EngineFact.from_model(i, parse_fact(r)) for i, r in enumerate([REQUEST, DELIVERY], start=1)]
WINDOW = SweepWindow(as_of=date(2026, 3, 31), since=date(2026, 1, 1))


def _kit_findings(policy_file: Path | None) -> list[str]:
    book = load_rulebook([RULES], load_policy(policy_file))
    assert book.problems == []
    return [f.key for f in evaluate([book.by_id("MAT-001")], FACTS, WINDOW).findings]


@pytest.mark.parametrize(
    ("name", "text"),
    [("policy.yml", "params:\n  MAT-001: {tat_days: 10}\n"), ("auditor.toml", '[params."MAT-001"]\ntat_days = 10\n')],
)
def test_policy_overrides_a_param(tmp_path: Path, name: str, text: str) -> None:
    assert _kit_findings(None) == []  # delivered after 11 days: on time with the default 14
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert _kit_findings(path) == ["MAT-001|R1|"]


def test_policy_with_unknown_param_or_rule_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text("params:\n  MAT-001: {tat_dayz: 10}\n  NOPE-1: {x: 1}\n", encoding="utf-8")
    book = load_rulebook([RULES], load_policy(path))
    messages = [p.message for p in book.problems]
    assert "policy sets unknown param 'tat_dayz'" in messages
    assert "policy sets params for a rule that does not exist" in messages


def test_malformed_policy_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text("holidays: [not-a-date]\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"policy.yml: holidays.0"):
        load_policy(path)


def test_business_days_skip_weekends_and_holidays() -> None:
    friday = datetime(2026, 12, 18, 15, 0)
    two = Duration(2, "business_days")
    assert add_duration(friday, two, frozenset()) == datetime(2026, 12, 22, 15, 0)  # Mon, Tue
    holidays = frozenset({date(2026, 12, 21)})
    assert add_duration(friday, two, holidays) == datetime(2026, 12, 23, 15, 0)
    saturday = datetime(2026, 12, 19, 11, 0)
    assert add_duration(saturday, two, frozenset()) == datetime(2026, 12, 23, 0, 0)  # counts from Monday 00:00


PRESALES_RULE = """\
area: presales
rules:
  - id: PRE-001
    title: Pre-sales request not answered within 2 business days
    severity: medium
    owner: presales
    rationale: Reps need technical answers quickly to keep deals moving.
    params: {days: 2}
    check:
      within:
        trigger: {fact: presales_request}
        expect: {fact: presales_request, match: {id: id}, at: answered_at, where: "answered_at != null"}
        limit: business_days(days)
    message: Request {{ trigger.id }} {{ status }}.
"""


def test_business_day_limit_in_engine_and_reference(tmp_path: Path) -> None:
    rule_file = tmp_path / "presales.yml"
    rule_file.write_text(PRESALES_RULE, encoding="utf-8")
    policy = tmp_path / "policy.yml"
    policy.write_text("holidays: [2026-12-21]\n", encoding="utf-8")
    book = load_rulebook([rule_file], load_policy(policy))
    assert book.problems == []
    raw = [
        # Friday 15:00 + 2 business days with Monday a holiday = Wednesday 15:00.
        {
            "kind": "presales_request",
            "id": "Q1",
            "requested_by": "P1",
            "requested_at": "2026-12-18T15:00:00",
            "answered_at": "2026-12-23T15:00:00",
        },
        {
            "kind": "presales_request",
            "id": "Q2",
            "requested_by": "P1",
            "requested_at": "2026-12-18T15:00:00",
            "answered_at": "2026-12-23T15:00:01",
        },
        {"kind": "presales_request", "id": "Q3", "requested_by": "P1", "requested_at": "2026-12-18T15:00:00"},
    ]
    facts = [EngineFact.from_model(i, parse_fact(r)) for i, r in enumerate(raw, start=1)]
    window = SweepWindow(as_of=date(2026, 12, 31), since=date(2026, 12, 1), holidays=book.policy.holidays)
    engine = evaluate(book.rules, facts, window)
    assert engine.errors == []
    reference = reference_evaluate(book.rules, facts, window.as_of, window.since, book.policy.holidays)
    assert [f.key for f in engine.findings] == ["PRE-001|Q2|", "PRE-001|Q3|"]
    assert [f.key for f in reference.findings] == [f.key for f in engine.findings]


def test_rules_test_writes_junit(tmp_path: Path) -> None:
    target = tmp_path / "rules.xml"
    result = CliRunner().invoke(main, ["rules", "test", str(RULES), "--rules", str(RULES), "--junit", str(target)])
    assert result.exit_code == 0, result.output
    xml = target.read_text(encoding="utf-8")
    assert '<testsuite name="MAT-001"' in xml and 'name="delivered_exactly_at_fourteen_days_is_on_time"' in xml


def test_cadence_count_follows_the_policy(tmp_path: Path) -> None:
    raw = [
        {"kind": "person", "id": "P1", "name": "Ann", "role": "sales_person", "joined_on": "2025-06-01"},
        {
            "kind": "coaching_session",
            "id": "C1",
            "manager_id": "M",
            "rep_id": "P1",
            "at": "2026-01-15",
            "plan_documented": True,
        },
    ]
    facts = [EngineFact.from_model(i, parse_fact(r)) for i, r in enumerate(raw, start=1)]
    window = SweepWindow(as_of=date(2026, 1, 31), since=date(2026, 1, 1))
    policy = tmp_path / "policy.yml"
    policy.write_text("params:\n  COA-001: {sessions_per_month: 2}\n", encoding="utf-8")
    default = load_rulebook([RULES]).by_id("COA-001")
    stricter = load_rulebook([RULES], load_policy(policy)).by_id("COA-001")
    assert evaluate([default], facts, window).findings == []
    assert [f.key for f in evaluate([stricter], facts, window).findings] == ["COA-001|P1|2026-01"]


def test_policy_time_zone_and_days_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('timezone = "Pacific/Auckland"\n[due_days]\nhigh = 10\n', encoding="utf-8")
    policy = load_policy(path)
    assert policy.timezone == "Pacific/Auckland"
    assert policy.due_days == {"critical": 7, "high": 10, "medium": 30, "low": 90}
    assert abs((policy.today() - date.today()).days) <= 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timezone: Mars/Olympus\n", "unknown time zone 'Mars/Olympus'"),
        ("due_days: {urgent: 3}\n", "unknown severity 'urgent'"),
        ("due_days: {high: 0}\n", "at least 1"),
    ],
)
def test_bad_finding_settings_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=message) as caught:
        load_policy(path)
    assert str(path) in str(caught.value)

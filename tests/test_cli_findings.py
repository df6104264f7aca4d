"""The findings and sweeps commands end to end: filters, show, triage refusals with exit 2, sweeps list and diff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from auditor.cli import main

from .conftest import RULES
from .test_finding_history import PEOPLE, SHOP_HEADER

RULE_FILES = ["--rules", str(RULES / "representation.yml"), "--rules", str(RULES / "sales_material.yml")]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def swept(db_url: str, tmp_path: Path) -> str:
    """Two sweeps of three people in two branches; a new low score appears in the second."""
    (tmp_path / "person.csv").write_text(PEOPLE, encoding="utf-8")
    (tmp_path / "mystery_shop.csv").write_text(
        SHOP_HEADER + "MS1,P1,2026-01-20,60,true,true,true\nMS3,P3,2026-01-20,50,true,true,true\n", encoding="utf-8"
    )
    (tmp_path / "training.csv").write_text(  # certified, so only REP-001 (the score) fires
        "id,person_id,course,training_type,completed_on,expires_on\n"
        + "".join(f"T{p},P{p},Product certification,certification,2025-06-01,\n" for p in (1, 2, 3)),
        encoding="utf-8",
    )
    files = [str(tmp_path / name) for name in ("person.csv", "mystery_shop.csv", "training.csv")]
    assert run("ingest", *files, "--db", db_url).exit_code == 0
    first = run("sweep", "--as-of", "2026-01-31", "--since", "2026-01-01", "--jobs", "1", *RULE_FILES, "--db", db_url)
    assert first.exit_code == 0, first.output
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "mystery_shop.csv").write_text(
        SHOP_HEADER + "MS4,P3,2026-02-10,40,true,true,true\n", encoding="utf-8"
    )
    assert run("ingest", str(tmp_path / "later" / "mystery_shop.csv"), "--db", db_url).exit_code == 0
    second = run(
        "sweep",
        "--as-of",
        "2026-02-28",
        "--since",
        "2026-01-01",
        "--jobs",
        "1",
        *RULE_FILES,
        "--db",
        db_url,
        "--actor",
        "audit-bot",
    )
    assert second.exit_code == 0, second.output
    assert "3 findings: 1 new, 2 recurring, 0 reopened" in second.output
    return db_url


def listed(db_url: str, *filters: str) -> list[str]:
    result = run("findings", "list", "--format", "json", "--db", db_url, *filters)
    assert result.exit_code == 0, result.output
    return [f["key"] for f in json.loads(result.output)]


def test_list_filters(swept: str) -> None:
    assert listed(swept) == ["REP-001|MS1|", "REP-001|MS3|", "REP-001|MS4|"]
    assert listed(swept, "--region", "South") == ["REP-001|MS3|", "REP-001|MS4|"]
    assert listed(swept, "--branch", "Leeds", "--branch", "Bath") == listed(swept)
    assert listed(swept, "--manager", "M1") == ["REP-001|MS1|"]
    assert listed(swept, "--new-since-last") == ["REP-001|MS4|"]
    assert listed(swept, "--severity", "low") == []
    assert listed(swept, "--rule", "REP-*", "--area", "representation") == listed(swept)
    assert listed(swept, "--overdue") == ["REP-001|MS1|", "REP-001|MS3|", "REP-001|MS4|"]  # due in Feb/Mar 2026
    assert listed(swept, "--sweep", "1") == ["REP-001|MS1|", "REP-001|MS3|"]
    csv_out = run("findings", "list", "--format", "csv", "--db", swept, "--region", "North").output
    assert csv_out.splitlines()[0].startswith("key,rule_id,") and len(csv_out.splitlines()) == 2


def test_show_prints_evidence_and_history(swept: str) -> None:
    assert run("findings", "ack", "REP-001|MS4", "--db", swept, "--actor", "alice").exit_code == 0
    result = run("findings", "show", "REP-001|MS4", "--db", swept)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "REP-001|MS4|  [high] REP-001 Mystery-shopping score below threshold" in out
    assert "status     acknowledged" in out and "branch Bath, region South, manager_id M2" in out
    assert "Evidence:" in out and "mystery_shop MS4 (v1)" in out and "score=40" in out
    history = out.split("History:")[1]
    assert "audit-bot  sweep: - -> open (sweep 2)  found" in history
    assert "alice  acknowledge: open -> acknowledged" in history
    shown = json.loads(run("findings", "show", "REP-001|MS4|", "--format", "json", "--db", swept).output)
    assert [e["action"] for e in shown["history"]] == ["sweep", "acknowledge"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ack", "REP-001|MS1|", "REP-001|MS1|"], None),  # the same key twice is one change
        (["resolve", "REP-001|MS1|"], None),
        (["ack", "REP-001|MS9|"], "no finding with key"),
        (["ack", "REP-001"], "matches 3 findings"),
        (["waive", "REP-001|MS1|", "--reason", "r", "--approver", "a"], "needs an expiry date"),
        (["waive", "REP-001|MS1|", "--until", "2099-01-01", "--approver", "a"], "needs a reason and an approver"),
        (["waive", "REP-001|MS1|", "--until", "2020-01-01", "--reason", "r", "--approver", "a"], "in the past"),
        (["waive", "REP-001|MS1|", "--until", "31/12/2099", "--reason", "r", "--approver", "a"], "'31/12/2099'"),
        (
            ["waive", "REP-001|MS1|", "--branch", "Bath", "--until", "2099-01-01", "--reason", "r", "--approver", "a"],
            "not both",
        ),
        (["false-positive", "REP-001|MS1|"], "needs a reason"),
        (["reopen", "REP-001|MS1|"], "cannot reopen a finding that is open"),
    ],
)
def test_triage_refusals_exit_2_and_change_nothing(swept: str, args: list[str], message: str | None) -> None:
    before = run("findings", "show", "REP-001|MS1|", "--format", "json", "--db", swept).output
    result = CliRunner().invoke(main, ["findings", *args, "--db", swept])
    if message is None:
        assert result.exit_code == 0, result.output
        assert "1 finding(s) changed." in result.output
        return
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert run("findings", "show", "REP-001|MS1|", "--format", "json", "--db", swept).output == before


def test_pattern_waiver_and_ack_of_waived_is_refused(swept: str) -> None:
    result = run(
        "findings",
        "waive",
        "--branch",
        "Bath",
        "--until",
        "2099-12-31",
        "--reason",
        "relocation",
        "--approver",
        "head of sales",
        "--db",
        swept,
    )
    assert result.exit_code == 0, result.output
    assert "Granted waiver #1 (branch Bath) until 2099-12-31" in result.output
    assert "2 finding(s) changed." in result.output
    assert listed(swept, "--status", "waived") == ["REP-001|MS3|", "REP-001|MS4|"]
    refused = CliRunner().invoke(main, ["findings", "ack", "REP-001|MS3|", "--db", swept])
    assert refused.exit_code == 2 and "cannot acknowledge a finding that is waived" in refused.output


def test_sweeps_list_and_diff(swept: str) -> None:
    sweeps = json.loads(run("sweeps", "list", "--format", "json", "--db", swept).output)
    assert [(s["id"], s["status"], s["new"], s["recurring"], s["actor"]) for s in sweeps] == [
        (2, "complete", 1, 2, "audit-bot"),
        (1, "complete", 2, 0, sweeps[1]["actor"]),
    ]
    diff = json.loads(run("sweeps", "diff", "1", "2", "--format", "json", "--db", swept).output)
    assert [f["key"] for f in diff["added"]] == ["REP-001|MS4|"] and diff["removed"] == [] and diff["kept"] == 2
    table = run("sweeps", "diff", "1", "2", "--db", swept).output
    assert "1 added, 0 gone, 2 in both" in table
    missing = CliRunner().invoke(main, ["sweeps", "diff", "1", "9", "--db", swept])
    assert missing.exit_code == 2 and "no sweep with id 9" in missing.output


def test_sweep_uses_the_policy_holidays(sqlite_url: str, tmp_path: Path) -> None:
    """Regression: `auditor sweep` ignored the policy's holidays for business-day turnarounds."""
    requests = tmp_path / "presales_request.csv"
    requests.write_text(  # Friday 10:00 -> Tuesday 11:00: late by two business days, on time if Monday is a holiday
        "id,requested_by,requested_at,answered_at\nPR1,P1,2026-01-09T10:00:00,2026-01-13T11:00:00\n", encoding="utf-8"
    )
    assert run("ingest", str(requests), "--db", sqlite_url).exit_code == 0
    policy = tmp_path / "policy.yml"
    policy.write_text("holidays: [2026-01-12]\n", encoding="utf-8")
    presales = ["--rules", str(RULES / "presales.yml"), "--as-of", "2026-01-31", "--since", "2026-01-01"]
    without = run("sweep", *presales, "--db", sqlite_url, "--jobs", "1")
    assert "1 findings: 1 new" in without.output
    with_holiday = run("sweep", *presales, "--db", sqlite_url, "--jobs", "1", "--policy", str(policy))
    assert "0 findings: 0 new" in with_holiday.output and "1 resolved by data" in with_holiday.output
